//! The one date parser/formatter. The calendar (days in a month, leap years, days since the epoch) is the
//! `time` crate's (0.3, already compiled for the SDK: aws-sigv4, aws-config and aws-smithy-types use it);
//! the formats are written here, byte for byte what the callers have always printed. Durations (`--wait-
//! timeout 90s`) stay with `humantime`, which parses them.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// The calendar fields of a UTC instant, clamped into what four-digit years can show (0000-9999).
fn utc(since_epoch_ms: i64) -> OffsetDateTime {
    const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    let ms = since_epoch_ms.clamp(-62_167_219_200_000, MAX_MS); // 0000-01-01T00:00:00Z
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn millis(at: SystemTime) -> i64 {
    match at.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn date_part(t: &OffsetDateTime) -> String {
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

fn time_part(t: &OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-02T10:00:00.123Z`.
pub fn rfc3339_millis(at: SystemTime) -> String {
    rfc3339_millis_since_epoch(millis(at))
}

/// RFC 3339 in UTC with milliseconds, from milliseconds since the Unix epoch (clamped into 0000-9999).
pub fn rfc3339_millis_since_epoch(ms: i64) -> String {
    let t = utc(ms);
    format!(
        "{}T{}.{:03}Z",
        date_part(&t),
        time_part(&t),
        t.millisecond()
    )
}

/// RFC 3339 in UTC to the second, e.g. `2026-12-02T10:00:00Z`.
pub fn rfc3339_seconds(at: SystemTime) -> String {
    let t = utc(millis(at));
    format!("{}T{}Z", date_part(&t), time_part(&t))
}

/// Today's date in UTC as YYYY-MM-DD.
pub fn today() -> String {
    date_part(&utc(millis(SystemTime::now())))
}

/// `26/Nov/2025:15:48:00 +0000`: the common log format's time, API Gateway's requestContext.time.
pub fn clf(epoch_secs: u64) -> String {
    let ms = i64::try_from(epoch_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let t = utc(ms);
    let month = t.month().to_string();
    format!(
        "{:02}/{}/{}:{} +0000",
        t.day(),
        &month[..3],
        t.year(),
        time_part(&t)
    )
}

/// RFC 3339 (`2026-12-02T10:00:00Z`, `2026-12-02T11:00:00.5+01:00`; `T`, `t` or a space between date and
/// time, `Z` or `z`, a fraction of any length of which milliseconds count) to milliseconds since the Unix
/// epoch. A leap second counts as the last second of its minute. `None` for anything else.
pub fn parse_rfc3339(value: &str) -> Option<i64> {
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
    if second > 60 {
        return None;
    }
    // The calendar checks the month, the day in its month and the time of day.
    let date = Date::from_calendar_date(
        i32::try_from(year).ok()?,
        Month::try_from(u8::try_from(month).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    // A leap second counts as the last second of its minute.
    let time = Time::from_hms(
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second.min(59)).ok()?,
    )
    .ok()?;
    let seconds = PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp()
        - offset_minutes * 60;
    Some(seconds * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn from_epoch_millis(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn clf_is_api_gateways_request_time() {
        assert_eq!(clf(1_764_172_080), "26/Nov/2025:15:48:00 +0000");
        assert_eq!(clf(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(clf(1_796_423_156), "04/Dec/2026:22:25:56 +0000");
        assert_eq!(clf(1_789_081_199), "10/Sep/2026:22:59:59 +0000");
    }

    #[test]
    fn rfc3339_with_millis_or_seconds_in_utc() {
        assert_eq!(
            rfc3339_millis_since_epoch(1_796_205_600_123),
            "2026-12-02T10:00:00.123Z"
        );
        assert_eq!(rfc3339_millis_since_epoch(-5), "1969-12-31T23:59:59.995Z");
        assert_eq!(
            rfc3339_millis(from_epoch_millis(1_796_205_600_123)),
            "2026-12-02T10:00:00.123Z"
        );
        assert_eq!(
            rfc3339_seconds(from_epoch_millis(1_796_205_600_999)),
            "2026-12-02T10:00:00Z"
        );
        assert_eq!(
            rfc3339_millis_since_epoch(i64::MAX),
            "9999-12-31T23:59:59.999Z"
        );
        // What humantime, used before, printed for the same instants.
        for ms in [
            0u64,
            1,
            999,
            1_000,
            951_782_400_000,
            1_796_205_600_123,
            4_102_444_800_000,
        ] {
            let at = from_epoch_millis(ms);
            assert_eq!(
                rfc3339_millis(at),
                humantime::format_rfc3339_millis(at).to_string()
            );
            assert_eq!(
                rfc3339_seconds(at),
                humantime::format_rfc3339_seconds(at).to_string()
            );
        }
    }

    #[test]
    fn today_is_an_iso_date() {
        let t = today();
        assert_eq!(t.len(), 10);
        assert_eq!(&t[4..5], "-");
        assert_eq!(
            t,
            humantime::format_rfc3339(SystemTime::now()).to_string()[..10]
        );
    }

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        assert_eq!(
            parse_rfc3339("2026-12-02T10:00:00Z"),
            Some(1_796_205_600_000)
        );
        assert_eq!(
            parse_rfc3339("2026-12-02T11:00:00.25+01:00"),
            Some(1_796_205_600_250)
        );
        assert_eq!(
            parse_rfc3339("2026-12-02 09:30:00.123456-00:30"),
            Some(1_796_205_600_123)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29t23:59:60z"),
            parse_rfc3339("2024-02-29T23:59:59Z")
        );
        assert_eq!(
            parse_rfc3339("0000-01-01T00:00:00Z"),
            Some(-62_167_219_200_000)
        );
        for bad in [
            "2026-02-30T10:00:00Z",
            "2023-02-29T00:00:00Z",
            "2026-13-02T10:00:00Z",
            "2026-00-02T10:00:00Z",
            "2026-12-00T10:00:00Z",
            "2026-12-02T24:00:00Z",
            "2026-12-02T10:60:00Z",
            "2026-12-02T10:00:61Z",
            "2026-12-02T10:00:00+24:00",
            "2026-12-02T10:00:00",
            "2026-12-02T10:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }
}
