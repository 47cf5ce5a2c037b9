//! `logs --since`'s value parser: `<N>s|m|h|d`, or an RFC 3339 time (the `Since` it makes is in since.rs).

use std::time::Duration;

use crate::dates::parse_rfc3339;
pub use crate::since::Since;

/// `--since` when none is given (README: "stackctl logs").
pub const DEFAULT_SINCE: &str = "10m";
/// What `--since` accepts, for the usage error.
pub const SINCE_FORMS: &str =
    "a duration such as 30s, 10m, 1h or 2d, or an RFC 3339 time such as 2026-12-02T10:00:00Z";

/// `--since`'s parser: `<N>s|m|h|d`, or an RFC 3339 time (`Z` or an offset, optional fraction).
pub fn parse_since(value: &str) -> Result<Since, String> {
    let value = value.trim();
    if let Some(ago) = parse_ago(value) {
        return Ok(Since::Ago(ago));
    }
    if let Some(ms) = parse_rfc3339(value) {
        return Ok(Since::At(ms));
    }
    Err(format!("expected {SINCE_FORMS}"))
}

fn parse_ago(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let seconds: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = &value[..value.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(seconds).map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_durations_and_rfc_3339() {
        assert_eq!(parse_since("10m"), Ok(Since::Ago(Duration::from_secs(600))));
        assert_eq!(parse_since("30s"), Ok(Since::Ago(Duration::from_secs(30))));
        assert_eq!(parse_since("1h"), Ok(Since::Ago(Duration::from_secs(3600))));
        assert_eq!(
            parse_since("2d"),
            Ok(Since::Ago(Duration::from_secs(172_800)))
        );
        assert_eq!(
            parse_since("2026-12-02T10:00:00Z"),
            Ok(Since::At(1_796_205_600_000))
        );
        assert_eq!(
            parse_since("2026-12-02T11:00:00.25+01:00"),
            Ok(Since::At(1_796_205_600_250))
        );
        assert_eq!(parse_since("1970-01-01T00:00:00.000Z"), Ok(Since::At(0)));
        assert_eq!(
            parse_since("2024-02-29t23:59:60z"),
            parse_since("2024-02-29T23:59:59Z")
        );
    }

    #[test]
    fn since_refuses_everything_else_and_says_what_it_takes() {
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "-5m",
            "1.5h",
            "10 m",
            "1h30m",
            "2026-12-02",
            "2026-12-02T10:00:00",
            "2026-13-02T10:00:00Z",
            "2026-02-30T10:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:00:00+1:00",
            "2026-12-02T10:00:00.Z",
            "99999999999999999999d",
        ] {
            let err = parse_since(bad).expect_err(bad);
            assert!(
                err.contains("30s, 10m, 1h or 2d") && err.contains("RFC 3339"),
                "{err}"
            );
        }
    }
}
