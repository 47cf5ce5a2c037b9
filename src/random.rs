//! The one random source: `fastrand` (already compiled for the SDK), for ids (`random_hex`) and the
//! backoff's jitter. Nothing here needs to be unpredictable to an attacker: ids only need to differ between
//! runs and processes, jitter only needs concurrent loops to drift apart.

/// 16 random lowercase hex digits.
pub fn random_hex() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// A sample from [0, 1).
pub fn unit() -> f64 {
    fastrand::f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_16_hex_digits_and_varies() {
        let a = random_hex();
        assert_eq!(a.len(), 16);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, random_hex());
    }

    #[test]
    fn unit_samples_are_in_range_and_vary() {
        let samples: Vec<f64> = (0..64).map(|_| unit()).collect();
        assert!(samples.iter().all(|s| (0.0..1.0).contains(s)));
        assert!(samples.iter().any(|s| *s != samples[0]));
    }
}
