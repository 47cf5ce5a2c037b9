//! What builds, ships or runs the handler: the deterministic package and its build cache, the local
//! Node.js runner, and the API Gateway HTTP API (payload v2) event / response codec.

pub mod build_cache;
pub mod package;
