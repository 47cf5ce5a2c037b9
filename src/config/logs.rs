//! `[function.logs]`: the function's log group (`/aws/lambda/<function.name>`, the group Lambda writes to)
//! and how many days it keeps events.

use toml::Spanned;

use super::names::NameRule;
use super::raw::RawFunction;
use super::resolve::Checker;
use super::{ConfigError, LogGroupSpec};

/// The retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days, ascending.
pub const LOG_RETENTION_DAYS: [i32; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// `function.logs.retention_days` when the file does not say.
pub const DEFAULT_LOG_RETENTION_DAYS: i32 = 30;

impl Checker<'_> {
    /// The log group of the function named `function_name` (already checked), from `[<section>.logs]`
    /// (`section`: the function's, `function`).
    pub(super) fn log_group(
        &self,
        raw: &RawFunction,
        section: &str,
        function_name: &str,
    ) -> Result<LogGroupSpec, ConfigError> {
        let name = format!("/aws/lambda/{function_name}");
        if let Some((message, _)) = NameRule::LOG_GROUP.problem(&name) {
            return Err(self.error(
                raw.name.span(),
                &format!("{section}.name"),
                format!("the function's log group name {message}"),
                format!(
                    "shorten `{section}.name` (its log group is `/aws/lambda/<{section}.name>`)"
                ),
            ));
        }
        let written = raw.logs.as_ref().and_then(|l| l.retention_days.as_ref());
        let retention_days = match written {
            None => DEFAULT_LOG_RETENTION_DAYS,
            Some(value) => self.retention_days(value, &format!("{section}.logs.retention_days"))?,
        };
        Ok(LogGroupSpec {
            name,
            retention_days,
            retention_explicit: written.is_some(),
        })
    }

    /// `field`: where the file writes it (`function.logs.retention_days`).
    fn retention_days(
        &self,
        value: &Spanned<toml::Value>,
        field: &str,
    ) -> Result<i32, ConfigError> {
        let allowed = |days: f64| LOG_RETENTION_DAYS.iter().any(|d| f64::from(*d) == days);
        // What is wrong, the number the user probably meant (to name the allowed values around it), and
        // how to write it.
        let (message, meant, how) = match value.get_ref() {
            toml::Value::Integer(n) => {
                if let Some(days) = i32::try_from(*n).ok().filter(|d| allowed(f64::from(*d))) {
                    return Ok(days);
                }
                (
                    format!("{n} days is not a retention period CloudWatch Logs offers"),
                    Some(*n as f64),
                    "",
                )
            }
            toml::Value::Float(f) => (
                format!("`{f}` is not a whole number of days"),
                Some(*f).filter(|f| f.is_finite()),
                "write a whole number: ",
            ),
            toml::Value::String(s) => (
                format!(
                    "expected a whole number of days, found the string \"{}\"",
                    s.escape_debug()
                ),
                s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
                "write the number without quotes: ",
            ),
            other => (
                format!(
                    "expected a whole number of days, found {}",
                    match other {
                        toml::Value::Boolean(_) => "a boolean",
                        toml::Value::Datetime(_) => "a date",
                        toml::Value::Array(_) => "an array",
                        _ => "a table",
                    }
                ),
                None,
                "",
            ),
        };
        let fix = match meant {
            Some(days) => format!("{how}use {}", nearest_allowed(days)),
            None => "write a number of days, e.g. `retention_days = 30`".to_string(),
        };
        Err(self.error(
            value.span(),
            field,
            message,
            format!(
                "{fix} (CloudWatch Logs keeps events for {} days)",
                allowed_list()
            ),
        ))
    }
}

/// The allowed value equal to `days`, or the allowed values on either side of it ("30 or 60"), or the
/// end of the list it is beyond.
fn nearest_allowed(days: f64) -> String {
    let as_f64 = |d: &&i32| f64::from(**d);
    if let Some(equal) = LOG_RETENTION_DAYS.iter().find(|d| as_f64(d) == days) {
        return equal.to_string();
    }
    let below = LOG_RETENTION_DAYS.iter().rev().find(|d| as_f64(d) < days);
    let above = LOG_RETENTION_DAYS.iter().find(|d| as_f64(d) > days);
    match (below, above) {
        (Some(below), Some(above)) => format!("{below} or {above}"),
        (Some(only), None) | (None, Some(only)) => only.to_string(),
        (None, None) => DEFAULT_LOG_RETENTION_DAYS.to_string(),
    }
}

/// "1, 3, 5, ..., 3288 or 3653".
fn allowed_list() -> String {
    let (last, rest) = LOG_RETENTION_DAYS
        .split_last()
        .expect("the list is not empty");
    let rest: Vec<String> = rest.iter().map(i32::to_string).collect();
    format!("{} or {last}", rest.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error_of, parse_with, project};

    /// Where the file writes the retention.
    const FIELD: &str = "function.logs.retention_days";

    fn with_logs(section: &str) -> impl Fn(String) -> String {
        let section = section.to_string();
        move |t: String| format!("{t}\n[function.logs]\n{section}\n")
    }

    #[test]
    fn retention_defaults_to_30_days_and_remembers_whether_it_was_written() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(
            stack.log_group,
            LogGroupSpec {
                name: "/aws/lambda/my-frontend-app-api".into(),
                retention_days: 30,
                retention_explicit: false,
            }
        );
        let stack = parse_with(dir.path(), with_logs("")).unwrap();
        assert_eq!(
            (
                stack.log_group.retention_days,
                stack.log_group.retention_explicit
            ),
            (30, false)
        );
        let stack = parse_with(dir.path(), with_logs("retention_days = 30")).unwrap();
        assert_eq!(
            (
                stack.log_group.retention_days,
                stack.log_group.retention_explicit
            ),
            (30, true)
        );
        for days in LOG_RETENTION_DAYS {
            let stack =
                parse_with(dir.path(), with_logs(&format!("retention_days = {days}"))).unwrap();
            assert_eq!(stack.log_group.retention_days, days);
        }
        // The inline form is the same key.
        let stack = parse_with(dir.path(), |t| {
            t.replace(
                "timeout_secs = 10\n",
                "timeout_secs = 10\nlogs = { retention_days = 7 }\n",
            )
        })
        .unwrap();
        assert_eq!(stack.log_group.retention_days, 7);
    }

    #[test]
    fn a_retention_cloudwatch_does_not_offer_names_the_allowed_values_around_it() {
        let err = error_of(with_logs("retention_days = 45"));
        assert_eq!(err.field.as_deref(), Some(FIELD));
        assert_eq!(err.position, Some((38, 18)));
        assert_eq!(
            err.message,
            "45 days is not a retention period CloudWatch Logs offers"
        );
        assert!(
            err.fix.as_deref().unwrap().starts_with("use 30 or 60 ("),
            "{err}"
        );
        let fix = |text: &str| error_of(with_logs(text)).fix.unwrap();
        assert!(fix("retention_days = 0").starts_with("use 1 ("));
        assert!(fix("retention_days = -7").starts_with("use 1 ("));
        assert!(fix("retention_days = 2").starts_with("use 1 or 3 ("));
        assert!(fix("retention_days = 3654").starts_with("use 3653 ("));
        assert!(fix("retention_days = 99999999999").starts_with("use 3653 ("));
        assert!(fix("retention_days = 7.5").starts_with("write a whole number: use 7 or 14 ("));
        assert!(fix("retention_days = 30.0").starts_with("write a whole number: use 30 ("));
        assert!(
            fix("retention_days = \"30\"").starts_with("write the number without quotes: use 30 (")
        );
        assert!(fix("retention_days = \"45\"").contains("use 30 or 60 ("));
        assert!(fix("retention_days = \"a month\"").starts_with("write a number of days"));
        assert!(fix("retention_days = nan").starts_with("write a number of days"));
        assert!(fix("retention_days = true").starts_with("write a number of days"));
        assert!(fix("retention_days = [30]").starts_with("write a number of days"));
        assert!(
            fix("retention_days = 45").ends_with("(CloudWatch Logs keeps events for 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653 days)"),
        );
        let err = error_of(with_logs("retention_days = 1979-05-27"));
        assert_eq!(err.message, "expected a whole number of days, found a date");
        let err = error_of(with_logs("retention_days = \"a\\tb\""));
        assert_eq!(
            err.message,
            "expected a whole number of days, found the string \"a\\tb\""
        );
    }

    #[test]
    fn unknown_keys_in_the_section_are_refused_with_a_suggestion() {
        let err = error_of(with_logs("retension_days = 30"));
        assert_eq!(
            err.field.as_deref(),
            Some("function.logs.retension_days"),
            "{err}"
        );
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("did you mean `retention_days`?"),
            "{err}"
        );
        let err = error_of(|t| t.replace("timeout_secs = 10\n", "timeout_secs = 10\nlogs = 30\n"));
        assert_eq!(err.field.as_deref(), Some("function.logs"), "{err}");
        assert!(err.message.contains("expected a table"), "{err}");
    }

    #[test]
    fn nearest_allowed_values() {
        assert_eq!(nearest_allowed(45.0), "30 or 60");
        assert_eq!(nearest_allowed(365.0), "365");
        assert_eq!(nearest_allowed(3652.5), "3288 or 3653");
        assert_eq!(nearest_allowed(-1e300), "1");
        assert_eq!(nearest_allowed(f64::NAN), "30");
    }
}
