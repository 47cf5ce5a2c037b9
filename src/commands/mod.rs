//! One module per command that reads or changes the stack.

pub mod down;
pub mod status;
pub mod up;
