//! `logs --since`'s value parser: `<N>s|m|h|d`, or an RFC 3339 time (the `Since` it makes is in since.rs).

use std::time::Duration;

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

/// RFC 3339 (`2026-12-02T10:00:00Z`, `2026-12-02T11:00:00.5+01:00`) to milliseconds since the Unix epoch.
fn parse_rfc3339(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    let number = |from: usize, to: usize| -> Option<i64> {
        let digits = value.get(from..to)?;
        if !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    };
    let at = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 7)?, number(8, 10)?);
    let (hour, minute, second) = (number(11, 13)?, number(14, 16)?, number(17, 19)?);
    let mut i = 19;
    let mut millis = 0;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while at(i, b"0123456789") {
            i += 1;
        }
        if i == start {
            return None;
        }
        let fraction = format!("{:0<3}", &value[start..i.min(start + 3)]);
        millis = fraction.parse::<i64>().ok()?;
    }
    let offset_minutes = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && at(i + 3, b":") => {
            let (h, m) = (number(i + 1, i + 3)?, number(i + 4, i + 6)?);
            if h > 23 || m > 59 {
                return None;
            }
            (h * 60 + m) * if *sign == b'+' { 1 } else { -1 }
        }
        _ => return None,
    };
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // A leap second counts as the last second of its minute.
    let second = second.min(59);
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second
        - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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
