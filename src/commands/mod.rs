//! One module per command that renders its own result (a `pub async fn run(...) -> Result<u8>` each).

pub mod invoke;
pub mod restore;
pub mod smoke;
