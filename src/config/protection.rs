//! What keeps a deployment's data safe from its own operators: `[table] point_in_time_recovery` (DynamoDB's
//! continuous backups, 1-35 days, or `false`) and `[stages.<name>] protected = true` (`down --confirm` refuses
//! the stage outright, before any AWS call, until the file says otherwise).

use std::fmt;

use toml::Spanned;

use super::raw::RawFile;
use super::resolve::Checker;
use super::{ConfigError, Stack};

/// DynamoDB's longest (and default) recovery period (UpdateContinuousBackups `RecoveryPeriodInDays`: "any value
/// between 1 and 35 days").
pub const MAX_RECOVERY_DAYS: i32 = 35;

/// `[table] point_in_time_recovery`: what the table's point-in-time recovery must be. Absent from the file:
/// not managed (stackctl neither reads nor changes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInTimeRecovery {
    /// `false`: explicitly off.
    Off,
    /// On, restorable to any second of the last `n` days (1..=35).
    Days(i32),
}

impl fmt::Display for PointInTimeRecovery {
    /// How plan and status show it: `off`, `1 day`, `35 days`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PointInTimeRecovery::Off => write!(f, "off"),
            PointInTimeRecovery::Days(1) => write!(f, "1 day"),
            PointInTimeRecovery::Days(n) => write!(f, "{n} days"),
        }
    }
}

impl Stack {
    /// `down --confirm` of a stage the file declares `protected = true`: the error that names the key and the
    /// way out (main answers it before any AWS call; `down` without --confirm still previews).
    pub fn refuse_protected_down(&self) -> Result<(), ConfigError> {
        match &self.protected_stage {
            Some(refusal) => Err(refusal.clone()),
            None => Ok(()),
        }
    }
}

impl Stack {
    /// What `down` without --confirm says of a protected stage (it still previews): where the key is and
    /// the way out.
    pub fn protected_note(&self) -> Option<String> {
        let refusal = self.protected_stage.as_ref()?;
        let mut at = refusal.file.display().to_string();
        if let Some((line, column)) = refusal.position {
            at.push_str(&format!(":{line}:{column}"));
        }
        Some(format!(
            "this stage is protected (`{}` at {at}): `down --confirm` refuses it; {}",
            refusal.field.as_deref().unwrap_or("protected"),
            refusal.fix.as_deref().unwrap_or_default()
        ))
    }
}

impl Checker<'_> {
    /// `[table] point_in_time_recovery`: a whole number of days 1..=35, or `false`. `true` is refused: it
    /// does not say how long, and DynamoDB's default (35) should be written where it is meant.
    pub(super) fn point_in_time_recovery(
        &self,
        value: Option<&Spanned<toml::Value>>,
    ) -> Result<Option<PointInTimeRecovery>, ConfigError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let fix = format!(
            "write a number of days, 1-{MAX_RECOVERY_DAYS}; {MAX_RECOVERY_DAYS} is the most, e.g. \
             `point_in_time_recovery = {MAX_RECOVERY_DAYS}` (or `point_in_time_recovery = false` to turn it off)"
        );
        let message = match value.get_ref() {
            toml::Value::Boolean(false) => return Ok(Some(PointInTimeRecovery::Off)),
            toml::Value::Integer(n) if (1..=i64::from(MAX_RECOVERY_DAYS)).contains(n) => {
                // In range, so it fits an i32.
                return Ok(Some(PointInTimeRecovery::Days(*n as i32)));
            }
            toml::Value::Boolean(true) => {
                "`true` does not say for how long the table can be restored".to_string()
            }
            toml::Value::Integer(n) => format!(
                "{n} days is outside DynamoDB's recovery period of 1 to {MAX_RECOVERY_DAYS} days"
            ),
            toml::Value::String(s) => format!(
                "expected a number of days or `false`, found the string \"{}\"",
                s.escape_debug()
            ),
            other => format!(
                "expected a number of days or `false`, found {}",
                match other {
                    toml::Value::Float(_) => "a float",
                    toml::Value::Datetime(_) => "a date",
                    toml::Value::Array(_) => "an array",
                    _ => "a table",
                }
            ),
        };
        Err(self.error(value.span(), "table.point_in_time_recovery", message, fix))
    }

    /// `protected` is a stage's key: the base file is every stage's (and the unstaged stack's), so it is
    /// refused there with where it goes.
    pub(super) fn protected_in_base(&self, raw: &RawFile) -> Result<(), ConfigError> {
        match &raw.protected {
            None => Ok(()),
            Some(value) => Err(self.error(
                value.span(),
                "protected",
                "`protected` protects one stage, and the top of the file is every stage's",
                "write it in the stage's table, e.g. `[stages.prod]` with `protected = true` (or \
                 `stages.prod = { protected = true, ... }`)",
            )),
        }
    }

    /// The refusal `down --confirm` answers for this stage, when the merged file (the stage's overlay)
    /// says `protected = true`.
    pub(super) fn protected_stage(&self, value: Option<&Spanned<bool>>) -> Option<ConfigError> {
        let (stage, value) = (self.stage?, value?);
        if !*value.get_ref() {
            return None;
        }
        Some(self.error(
            value.span(),
            &format!("stages.{stage}.protected"),
            format!(
                "stage `{stage}` is protected: `down --confirm` deletes nothing of it (nothing was sent to AWS)"
            ),
            format!(
                "remove `protected = true` from [stages.{stage}] (or set it false) to tear this stage down"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error_of, parse_with, project, TODAY};
    use crate::config::{parse_selected, Selection};

    fn with_pitr(value: &str) -> impl Fn(String) -> String {
        let line =
            format!("billing_mode = \"PAY_PER_REQUEST\"\npoint_in_time_recovery = {value}\n");
        move |t: String| t.replace("billing_mode = \"PAY_PER_REQUEST\"\n", &line)
    }

    fn staged(edit: impl Fn(String) -> String, stage: Option<&str>) -> Result<Stack, ConfigError> {
        let dir = project();
        let path = dir.path().join("stack.toml");
        let text = edit(std::fs::read_to_string(&path).unwrap());
        std::fs::write(&path, &text).unwrap();
        let selection = Selection {
            stage,
            region: None,
        };
        parse_selected(
            &path,
            &text,
            TODAY,
            selection,
            &crate::resources::contributed(),
        )
    }

    #[test]
    fn point_in_time_recovery_is_unmanaged_unless_written() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(stack.table.point_in_time_recovery, None);
        let stack = parse_with(dir.path(), with_pitr("35")).unwrap();
        assert_eq!(
            stack.table.point_in_time_recovery,
            Some(PointInTimeRecovery::Days(35))
        );
        let stack = parse_with(dir.path(), with_pitr("1")).unwrap();
        assert_eq!(
            stack.table.point_in_time_recovery,
            Some(PointInTimeRecovery::Days(1))
        );
        let stack = parse_with(dir.path(), with_pitr("false")).unwrap();
        assert_eq!(
            stack.table.point_in_time_recovery,
            Some(PointInTimeRecovery::Off)
        );
        assert_eq!(PointInTimeRecovery::Days(7).to_string(), "7 days");
        assert_eq!(PointInTimeRecovery::Days(1).to_string(), "1 day");
        assert_eq!(PointInTimeRecovery::Off.to_string(), "off");
    }

    #[test]
    fn point_in_time_recovery_refuses_true_and_what_is_not_1_to_35_days() {
        for (value, says) in [
            ("true", "does not say for how long"),
            ("0", "0 days is outside"),
            ("36", "36 days is outside"),
            ("-1", "-1 days is outside"),
            ("\"35\"", "found the string \"35\""),
            ("3.5", "found a float"),
        ] {
            let err = error_of(with_pitr(value));
            assert_eq!(
                err.field.as_deref(),
                Some("table.point_in_time_recovery"),
                "{err}"
            );
            assert_eq!(err.position.map(|p| p.0), Some(13), "{err}");
            assert!(err.message.contains(says), "{value}: {err}");
            assert!(
                err.fix
                    .as_deref()
                    .unwrap()
                    .starts_with("write a number of days, 1-35; 35 is the most"),
                "{err}"
            );
        }
    }

    #[test]
    fn a_stage_overlays_point_in_time_recovery() {
        let edit = |t: String| t + "\n[stages.live]\ntable.point_in_time_recovery = 7\n";
        let live = staged(edit, Some("live")).unwrap();
        assert_eq!(
            live.table.point_in_time_recovery,
            Some(PointInTimeRecovery::Days(7))
        );
        assert_eq!(
            staged(edit, None).unwrap().table.point_in_time_recovery,
            None
        );
        let edit = |t: String| t + "\n[stages.live]\ntable.point_in_time_recovery = 99\n";
        staged(edit, Some("dev")).unwrap();
        let err = staged(edit, Some("live")).unwrap_err();
        assert_eq!(
            err.field.as_deref(),
            Some("table.point_in_time_recovery"),
            "{err}"
        );
        assert_eq!(err.position.map(|p| p.0), Some(38), "{err}");
    }

    #[test]
    fn a_protected_stage_refuses_down_and_only_that_stage() {
        let edit = |t: String| {
            t + "\n[stages.live]\nprotected = true\n\n[stages.off]\nprotected = false\n"
        };
        let live = staged(edit, Some("live")).unwrap();
        let refusal = live.refuse_protected_down().unwrap_err();
        assert_eq!(refusal.field.as_deref(), Some("stages.live.protected"));
        assert_eq!(refusal.position.map(|p| p.0), Some(38), "{refusal}");
        assert!(
            refusal.message.contains("stage `live` is protected"),
            "{refusal}"
        );
        assert_eq!(
            refusal.fix.as_deref(),
            Some(
                "remove `protected = true` from [stages.live] (or set it false) to tear this stage down"
            )
        );
        let note = live.protected_note().unwrap();
        assert!(
            note.starts_with("this stage is protected (`stages.live.protected` at ")
                && note.contains(
                    "stack.toml:38:13): `down --confirm` refuses it; remove `protected = true`"
                ),
            "{note}"
        );
        staged(edit, Some("off"))
            .unwrap()
            .refuse_protected_down()
            .unwrap();
        assert_eq!(staged(edit, Some("off")).unwrap().protected_note(), None);
        staged(edit, Some("dev"))
            .unwrap()
            .refuse_protected_down()
            .unwrap();
        staged(edit, None).unwrap().refuse_protected_down().unwrap();
        // The inline form of the shipped file's line 3 works too.
        let inline =
            |t: String| t.replace("stages.prod = { ", "stages.prod = { protected = true, ");
        assert!(staged(inline, Some("prod"))
            .unwrap()
            .refuse_protected_down()
            .is_err());
    }

    #[test]
    fn protected_is_a_stage_key_only() {
        let err = error_of(|t| format!("protected = true\n{t}"));
        assert_eq!(err.field.as_deref(), Some("protected"), "{err}");
        assert_eq!(err.position.map(|p| p.0), Some(1), "{err}");
        assert!(
            err.fix.as_deref().unwrap().contains("[stages.prod]"),
            "{err}"
        );
        let err = error_of(|t| t + "\n[stages.live]\nprotected = \"yes\"\n");
        assert_eq!(err.field.as_deref(), Some("stages.live.protected"), "{err}");
        assert!(
            err.fix.as_deref().unwrap().contains("protected = true"),
            "{err}"
        );
    }
}
