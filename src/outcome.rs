//! What every command returns: its exit status (the README's "Exit codes") and its result, which one place
//! (printer.rs) renders as text or as one JSON document. Commands never print their result and never pick a
//! number: they say what happened, and `ExitStatus` maps it to the contract.

use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws::Calls;
use crate::cli::Output;

/// Bumped whenever a field is renamed or removed; adding fields keeps it.
pub const SCHEMA_VERSION: u32 = 1;

/// The exit-code contract (README: "Exit codes"), the only place that knows the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: success; plan / status: in sync.
    Ok,
    /// 1: an error (or a failed smoke step, a failed invocation).
    Error,
    /// 2: plan / status: changes pending or drift.
    Pending,
    /// 3: down without --confirm found something to delete.
    NeedsConfirm,
    /// 64: a usage error or an invalid stack file.
    Usage,
    /// 130: interrupted (Ctrl-C, SIGTERM); the normal end of `logs --follow` and `dev`.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::Error => 1,
            ExitStatus::Pending => 2,
            ExitStatus::NeedsConfirm => 3,
            ExitStatus::Usage => 64,
            ExitStatus::Interrupted => 130,
        }
    }

    /// plan / status: 0 in sync, 2 otherwise.
    pub fn pending_unless(in_sync: bool) -> ExitStatus {
        if in_sync {
            ExitStatus::Ok
        } else {
            ExitStatus::Pending
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

/// The fields every command's JSON document carries, in this order: `schema_version`, `command`, `stack`,
/// `stage` (absent without one), `region`, then the command's own fields, then `aws_calls` and `duration_ms`
/// (last, where the first documents had them).
#[derive(Debug, Clone, Serialize)]
pub struct Envelope {
    pub schema_version: u32,
    pub command: &'static str,
    /// The stack; null only for `ls --all` (every stack).
    pub stack: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub region: String,
    /// AWS operations this run sent.
    pub aws_calls: Calls,
    pub duration_ms: u64,
}

impl Envelope {
    pub fn new(
        command: &'static str,
        stack: &crate::config::Stack,
        aws_calls: Calls,
        elapsed: std::time::Duration,
    ) -> Envelope {
        Envelope {
            schema_version: SCHEMA_VERSION,
            command,
            stack: Some(stack.name.clone()),
            stage: stack.stage.clone(),
            region: stack.region.clone(),
            aws_calls,
            duration_ms: elapsed.as_millis() as u64,
        }
    }
}

/// Lines for stderr beside the result (a person may watch stderr while a script reads stdout).
#[derive(Debug, Default)]
pub struct Notes {
    /// Before the result (plan's warnings under --output json).
    pub before: Vec<String>,
    /// After it (invoke's function log and error line, down's "nothing was deleted").
    pub after: Vec<String>,
}

/// How the result is being shown, for a command's stderr notes.
#[derive(Debug, Clone, Copy)]
pub struct Shown {
    pub output: Output,
    pub quiet: bool,
    pub status: ExitStatus,
}

/// A command's own result: its text and its JSON fields come from the same value, so they never disagree.
pub trait Body {
    /// The envelope (the text rendering uses it too: the stack, the calls, the time).
    fn envelope(&self) -> &Envelope;
    /// The text for people, without the trailing newline; `color` only on a terminal without NO_COLOR.
    fn text(&self, color: bool) -> String;
    /// The command's own JSON fields, in order (the envelope's are added around them).
    fn fields(&self) -> serde_json::Result<Map<String, Value>>;
    fn notes(&self, _shown: Shown) -> Notes {
        Notes::default()
    }
    /// `KEY=value` lines without the trailing newline (`--output env`); None: the command has none (main
    /// refuses `--output env` for every command but `outputs` before it runs).
    fn env(&self) -> Option<String> {
        None
    }
}

/// A serializable struct's fields, for `Body::fields` (an envelope field in it is skipped with
/// `#[serde(skip)]`).
pub fn fields_of(body: &impl Serialize) -> serde_json::Result<Map<String, Value>> {
    match serde_json::to_value(body)? {
        Value::Object(map) => Ok(map),
        other => {
            let mut map = Map::new();
            map.insert("value".into(), other);
            Ok(map)
        }
    }
}

/// One command's outcome.
pub enum Outcome {
    /// A result: its text, or one JSON document (the envelope around the command's fields).
    Result {
        body: Box<dyn Body>,
        status: ExitStatus,
    },
    /// Plain text whatever `--output` says (`stage-name`'s value for `$(...)`, `completions`' script).
    Plain { text: String },
    /// Already streamed to stdout as it happened (`logs`' events; `dev` writes only to stderr): the stream
    /// is the result, and there is nothing left to render.
    Streamed(ExitStatus),
}

impl Outcome {
    pub fn result(body: impl Body + 'static, status: ExitStatus) -> Outcome {
        Outcome::Result {
            body: Box::new(body),
            status,
        }
    }

    pub fn status(&self) -> ExitStatus {
        match self {
            Outcome::Result { status, .. } | Outcome::Streamed(status) => *status,
            Outcome::Plain { .. } => ExitStatus::Ok,
        }
    }
}

/// The JSON document: the envelope's head, the command's fields, the envelope's tail.
pub fn document(body: &dyn Body) -> serde_json::Result<Value> {
    let envelope = fields_of(body.envelope())?;
    let (mut head, mut tail) = (Map::new(), Map::new());
    for (key, value) in envelope {
        if key == "aws_calls" || key == "duration_ms" {
            tail.insert(key, value);
        } else {
            head.insert(key, value);
        }
    }
    head.extend(body.fields()?);
    head.extend(tail);
    Ok(Value::Object(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Own {
        #[serde(skip)]
        envelope: Envelope,
        items: u64,
    }

    impl Body for Own {
        fn envelope(&self) -> &Envelope {
            &self.envelope
        }
        fn text(&self, _color: bool) -> String {
            format!("{} items", self.items)
        }
        fn fields(&self) -> serde_json::Result<Map<String, Value>> {
            fields_of(self)
        }
    }

    #[test]
    fn the_envelope_wraps_the_commands_fields_in_order() {
        let own = Own {
            envelope: Envelope {
                schema_version: SCHEMA_VERSION,
                command: "restore",
                stack: Some("s".into()),
                stage: None,
                region: "us-east-1".into(),
                aws_calls: Calls::default(),
                duration_ms: 5,
            },
            items: 3,
        };
        let document = document(&own).unwrap();
        let keys: Vec<&str> = document
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "schema_version",
                "command",
                "stack",
                "region",
                "items",
                "aws_calls",
                "duration_ms"
            ]
        );
    }

    #[test]
    fn exit_codes_are_the_readmes() {
        let codes: Vec<u8> = [
            ExitStatus::Ok,
            ExitStatus::Error,
            ExitStatus::Pending,
            ExitStatus::NeedsConfirm,
            ExitStatus::Usage,
            ExitStatus::Interrupted,
        ]
        .map(ExitStatus::code)
        .to_vec();
        assert_eq!(codes, [0, 1, 2, 3, 64, 130]);
    }
}
