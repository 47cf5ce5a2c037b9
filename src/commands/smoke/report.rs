//! The result of `stackctl smoke`: every step's verdict and the cleanup, as text (a step table) or as one
//! JSON document (the envelope around these fields).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::cleanup::Cleanup;
pub use super::users::TestUserReport;
use crate::handler::event::Request;
use crate::outcome::{fields_of, Body, Envelope};
use crate::progress::format_duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub name: &'static str,
    pub request: Request,
    /// With `[auth]`: who sent it (`first user`, `second user`, `no token`, `tampered token`); the token
    /// itself is never shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<&'static str>,
    pub expected_status: u16,
    /// What the step checks, for people.
    pub expect: &'static str,
    pub result: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StepSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The result of `stackctl smoke`, as text or as one JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeReport {
    #[serde(skip)]
    pub envelope: Envelope,
    pub function: String,
    /// `remote` (Lambda Invoke), `local` (the built handler in the local Node.js) or `url` (HTTP requests
    /// to the function URL).
    pub transport: &'static str,
    /// With `url`: the base URL the requests went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How events were delivered, for people.
    pub target: String,
    /// The throwaway userId every request used.
    pub user_id: String,
    /// Every step passed and the cleanup deleted everything.
    pub passed: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub summary: StepSummary,
    pub steps: Vec<StepResult>,
    pub cleanup: Cleanup,
    /// With `[auth]`: the two test users (the first one's `sub` is `user_id`), deleted after the cleanup.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_users: Vec<TestUserReport>,
}

impl Body for SmokeReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Step messages quote the function's answers and logs: control characters shown escaped.
    fn text(&self, _color: bool) -> String {
        crate::escape::terminal(&self.to_string()).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, Value>> {
        fields_of(self)
    }
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "smoke {} ({}) via {}, userId {}",
            self.function, self.envelope.region, self.target, self.user_id
        )?;
        let name_width = self
            .steps
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let request_width = self
            .steps
            .iter()
            .map(|s| s.request.short().len())
            .max()
            .unwrap_or(7)
            .max(7);
        writeln!(
            f,
            " #  {:name_width$}  {:request_width$}  expect  got  {:>6}  result",
            "step", "request", "time"
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            let got = step
                .status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into());
            let took = if step.result == Verdict::Skip {
                "-".to_string()
            } else {
                format_duration(Duration::from_millis(step.duration_ms))
            };
            writeln!(
                f,
                "{:>2}  {:name_width$}  {:request_width$}  {:<6}  {:<3}  {:>6}  {}",
                i + 1,
                step.name,
                step.request.short(),
                step.expected_status,
                got,
                took,
                step.result.as_str()
            )?;
            if step.result != Verdict::Pass {
                if let Some(message) = &step.message {
                    for line in message.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        if self.interrupted {
            writeln!(f, "interrupted after {} steps", self.steps.len())?;
        }
        let c = &self.cleanup;
        if c.failed.is_empty() {
            writeln!(
                f,
                "cleanup: {} item{} deleted{}",
                c.deleted.len(),
                if c.deleted.len() == 1 { "" } else { "s" },
                if c.deleted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.deleted.join(", "))
                }
            )?;
        } else {
            writeln!(
                f,
                "cleanup: FAILED, {} item{} left under userId {}:",
                c.failed.len(),
                if c.failed.len() == 1 { "" } else { "s" },
                self.user_id
            )?;
            for failure in &c.failed {
                writeln!(f, "      {}: {}", failure.item_id, failure.message)?;
            }
        }
        if !c.deleted_directly.is_empty() {
            writeln!(
                f,
                "      the function did not delete {}; deleted with DynamoDB DeleteItem",
                c.deleted_directly.join(", ")
            )?;
        }
        if !self.test_users.is_empty() {
            let names: Vec<&str> = self.test_users.iter().map(|u| u.name.as_str()).collect();
            match self.test_users.iter().find(|u| !u.deleted) {
                None => writeln!(f, "test users: {} deleted", names.join(", "))?,
                Some(_) => {
                    writeln!(f, "test users: FAILED to delete:")?;
                    for user in self.test_users.iter().filter(|u| !u.deleted) {
                        writeln!(
                            f,
                            "      {} ({}): {}",
                            user.name,
                            user.sub,
                            user.error.as_deref().unwrap_or("not deleted")
                        )?;
                    }
                }
            }
        }
        let s = &self.summary;
        let took = format_duration(Duration::from_millis(self.envelope.duration_ms));
        if self.passed {
            write!(f, "smoke: PASS, all {} steps passed ({took})", s.passed)
        } else {
            write!(
                f,
                "smoke: FAIL, {} passed, {} failed, {} skipped{} ({took})",
                s.passed,
                s.failed,
                s.skipped,
                if !c.failed.is_empty() {
                    ", cleanup incomplete"
                } else if self.test_users.iter().any(|u| !u.deleted) {
                    ", test users left"
                } else {
                    ""
                }
            )
        }
    }
}
