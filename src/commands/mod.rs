//! One file per command (see docs/ARCHITECTURE.md); more move here as the house plan goes.

pub mod logs;
