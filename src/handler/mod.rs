//! What ships or runs the handler (its build is `crate::build`): the local
//! Node.js runner and the warm worker pool of `dev`, the API Gateway HTTP API (payload v2) event / response
//! codec, and the function URL's side of it (its event, its reading of answers, its CORS).

pub mod cors;
pub mod event;
pub mod local;
pub mod local_env;
pub mod pool;
pub mod remote;
pub mod runner;
pub mod transport;
pub mod url;
pub mod url_codec;

/// 16 random hex digits, from the one random source.
pub use crate::random::random_hex;
