//! What builds, ships or runs the handler: the deterministic package and its build cache, the local
//! Node.js runner and the warm worker pool of `dev`, the API Gateway HTTP API (payload v2) event / response
//! codec, and the function URL's side of it (its event, its reading of answers, its CORS).

pub mod build_cache;
pub mod cors;
pub mod event;
pub mod local;
pub mod local_env;
pub mod package;
pub mod pool;
pub mod remote;
pub mod runner;
pub mod transport;
pub mod url;
pub mod url_codec;

use std::time::{SystemTime, UNIX_EPOCH};

/// 16 random hex digits (the std hasher's per-process random keys, the clock and the pid).
pub fn random_hex() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_16_hex_digits_and_varies() {
        let a = random_hex();
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, random_hex());
    }
}
