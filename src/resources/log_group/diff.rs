//! Which group the function logs to, and the log group's pure diff (retention) and plan notes.

use super::*;

/// The group the function's logs go to: the one its `LoggingConfig.LogGroup` names when the live function
/// has one (an adopted function may log elsewhere), else `/aws/lambda/<function>` from the stack file.
pub fn group_name(spec: &LogGroupSpec, function: Option<&LiveFunction>) -> String {
    function
        .and_then(|f| f.log_group.as_deref())
        .filter(|g| !g.is_empty())
        .unwrap_or(&spec.name)
        .to_string()
}

/// Why the plan's group is not `/aws/lambda/<function>`.
pub(super) fn logging_config_note(default: &str) -> String {
    format!("where the function's LoggingConfig sends its logs (no `{default}` group is made)")
}

/// Why a group the function's LoggingConfig names is never written: Lambda lets several functions share one
/// group, and stackctl only ever makes `/aws/lambda/<function>`, so such a group is someone else's choice.
pub(super) const LOGGING_CONFIG_GROUP: &str = "named by the function's LoggingConfig (a group several functions may \
     share): used as it is; stackctl never creates it, changes its retention or tags, or deletes it";

/// A retention as plan shows it: the number of days, or "never expire".
pub fn describe_retention(days: Option<i32>) -> String {
    days.map_or_else(|| "never expire".to_string(), |d| d.to_string())
}

/// Field-level changes from `live` to `spec` (pure). None live: the group is created with
/// `spec.retention_days`. A group this stack owns always converges to `spec.retention_days`; an adopted
/// one (Lambda's first invoke made it, or someone else did) only when the file wrote `retention_days`,
/// otherwise its own retention is shown as kept (`Op::Keep`, which never needs a write). Tags are the
/// engine's business, as for every kind.
pub fn diff(spec: &LogGroupSpec, live: Option<&LiveLogGroup>, owned: bool) -> Vec<Change> {
    let Some(live) = live else {
        return vec![Change::add(
            "retention_days",
            describe_retention(Some(spec.retention_days)),
        )];
    };
    if live.retention_days == Some(spec.retention_days) {
        return Vec::new();
    }
    if owned || spec.retention_explicit {
        vec![Change::modify(
            "retention_days",
            describe_retention(live.retention_days),
            describe_retention(Some(spec.retention_days)),
        )]
    } else {
        vec![Change::keep(
            "retention_days",
            format!(
                "{} (a group stackctl did not create keeps its retention unless \
                 `function.logs.retention_days` is set)",
                describe_retention(live.retention_days)
            ),
        )]
    }
}

/// The warning for a retention change that deletes events (a shorter period, or a period where there was
/// none); None when nothing is lost.
pub fn shortening_note(before: Option<i32>, after: i32) -> Option<String> {
    let shorter = before.is_none_or(|before| after < before);
    shorter.then(|| {
        format!(
            "retention goes from {} to {after} days: CloudWatch Logs will delete the events older than \
             {after} days",
            match before {
                Some(days) => format!("{days} days"),
                None => "never expire".to_string(),
            }
        )
    })
}
