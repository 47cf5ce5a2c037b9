//! One module per resource kind, each with the same shape: read the live state, diff it against the
//! desired state (pure), apply, and delete.

pub mod function;
pub mod policy;
pub mod role;
pub mod table;
