//! The handler's build, below both `handler` and `resources`: the deterministic package (install + build
//! with an allowlisted environment, zip) and its build cache (`code_sha256`, Lambda's CodeSha256 of a zip).
//! The world compares the deployed code with it and up ships it; dev runs it.

pub mod cache;
pub mod package;
