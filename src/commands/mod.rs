//! One module per command: what it reads, what it changes, and the outcome it returns (outcome.rs); none
//! prints its result or picks an exit code (printer.rs and `outcome::ExitStatus` do).

pub mod backups;
pub mod completions;
pub mod dev;
pub mod down;
pub mod init;
pub mod invoke;
pub mod logs;
pub mod ls;
pub mod outputs;
pub mod policy;
pub mod restore;
pub mod rollback;
pub mod smoke;
pub mod status;
pub mod token;
pub mod up;
pub mod versions;
