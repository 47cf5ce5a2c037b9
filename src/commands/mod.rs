//! One module per command: what it reads, what it changes, what it prints.

pub mod dev;
pub mod down;
pub mod invoke;
pub mod logs;
pub mod ls;
pub mod restore;
pub mod smoke;
pub mod status;
pub mod up;
