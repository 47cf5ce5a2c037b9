//! `stackctl invoke [--local] <event.json | ->`: one API Gateway HTTP API (v2) event to the deployed function
//! or, with `--local`, to the built handler in the local Node.js (handler/transport.rs), and its response or
//! failure as text or one JSON document.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Clients;
use crate::cli::Output;
use crate::config::{ConfigError, Stack};
use crate::escape;
use crate::handler::event::{InvokeError, Response};
use crate::handler::transport::{Transport, Via};
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Notes, Outcome, Shown};
use crate::progress::{format_duration, Progress};

/// The result of `stackctl invoke`, as text or as one JSON document.
#[derive(Debug, Serialize)]
pub struct InvokeReport {
    #[serde(skip)]
    pub envelope: Envelope,
    pub function: String,
    /// `remote` (Lambda Invoke), `local` (the built handler in the local Node.js) or `url` (HTTP requests
    /// to the function URL).
    pub transport: &'static str,
    /// With `url`: the base URL the requests went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The invocation worked (whatever the statusCode).
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    /// `function_error` (the function failed) or `bad_payload` (its answer is not a usable response).
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl fmt::Display for InvokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let took = format_duration(Duration::from_millis(self.envelope.duration_ms));
        match (&self.response, &self.error) {
            (Some(r), _) => {
                writeln!(f, "{} ({took})", r.status_code)?;
                for (name, value) in &r.headers {
                    writeln!(f, "{name}: {}", value.as_str().unwrap_or_default())?;
                }
                for cookie in &r.cookies {
                    writeln!(f, "set-cookie: {cookie}")?;
                }
                if r.inferred {
                    writeln!(f, "(no statusCode in the function's result: API Gateway answers 200 with it as the body)")?;
                }
                writeln!(f)?;
                match &r.body {
                    Value::Null => write!(f, "(no body)"),
                    Value::String(text) if !r.body_is_json => write!(f, "{text}"),
                    body => write!(
                        f,
                        "{}",
                        serde_json::to_string_pretty(body).unwrap_or_default()
                    ),
                }
            }
            (None, Some(e)) => {
                match &e.function_error {
                    Some(kind) => writeln!(f, "FunctionError {kind} ({took})")?,
                    None => writeln!(f, "unusable response ({took})")?,
                }
                if let Some(t) = &e.error_type {
                    writeln!(f, "errorType: {t}")?;
                }
                write!(f, "errorMessage: {}", e.message)
            }
            (None, None) => write!(f, "no response ({took})"),
        }
    }
}

impl Body for InvokeReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// The function's answer is its text: control characters are shown escaped, not obeyed.
    fn text(&self, _color: bool) -> String {
        escape::terminal(&self.to_string()).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }

    fn notes(&self, shown: Shown) -> Notes {
        let mut notes = Notes::default();
        let logs = self
            .response
            .as_ref()
            .and_then(|r| r.logs.as_deref())
            .or_else(|| self.error.as_ref().and_then(|e| e.logs.as_deref()));
        // The function's log goes with the progress, on stderr (it is in the JSON document already).
        if let (Output::Text, false, Some(logs)) = (shown.output, shown.quiet, logs) {
            notes
                .after
                .push(format!("function log:\n{}", escape::terminal(logs)));
        }
        if let Some(error) = &self.error {
            notes
                .after
                .push(format!("error: {}", escape::terminal(&error.message)));
        }
        notes
    }
}

/// Reads the event: a file, or stdin for `-`. A missing or non-JSON event is a usage error (exit 64).
fn read_event(source: &Path) -> Result<Value, ConfigError> {
    const FIX: &str =
        "pass an API Gateway HTTP API (v2) event as JSON (e.g. lambda/events/list-items.json), or -";
    let stdin = source == Path::new("-");
    let file = if stdin {
        PathBuf::from("<stdin>")
    } else {
        source.to_path_buf()
    };
    let usage = |message: String, position: Option<(usize, usize)>| ConfigError {
        file: file.clone(),
        position,
        field: None,
        message,
        fix: Some(FIX.into()),
    };
    let text = if stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| usage(format!("cannot read the event from stdin: {err}"), None))?;
        text
    } else {
        std::fs::read_to_string(source)
            .map_err(|err| usage(format!("cannot read the event file: {err}"), None))?
    };
    serde_json::from_str(&text).map_err(|err| {
        usage(
            format!("the event is not JSON: {err}"),
            Some((err.line(), err.column())),
        )
    })
}

/// `stackctl invoke [--local] <event.json | ->`: exit 0 when the invocation worked (any statusCode), 1 when
/// the function failed or did not answer usably.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    via: &Via,
    event: &Path,
    profile: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    let source = event;
    let event = read_event(source)?;
    if let Via::Url { .. } = via {
        // Bad input, refused before anything is sent: a path that would change the URL's host or query.
        if let Err((field, why)) = crate::handler::url::event_path(&event) {
            return Err(ConfigError {
                file: if source == Path::new("-") {
                    PathBuf::from("<stdin>")
                } else {
                    source.to_path_buf()
                },
                position: None,
                field: Some(field.into()),
                message: why,
                fix: Some(
                    "give the path from the URL's root, starting with `/` (e.g. \"/items\"), and the query in \
                     `rawQueryString`"
                        .into(),
                ),
            }
            .into());
        }
    }
    let started = Instant::now();
    let task = progress.task(format!("invoke {}", stack.chosen_function().spec.name));
    task.set(match via {
        Via::Local => "starting the local handler",
        Via::Url { .. } => "reading the URL",
        Via::Invoke => "invoking",
    });
    let mut transport = Transport::open(clients, stack, via, profile, progress).await?;
    task.set(&format!("invoking via {}", transport.describe()));
    let url = transport.base_url();
    let cors = crate::handler::event::CorsCheck::for_run(stack, &transport);
    let outcome = transport.invoke(&event).await;
    if let (Ok(response), Some(_)) = (&outcome, transport.origin()) {
        if let Err(problem) = cors.check(response) {
            progress.warn(&escape::terminal(&format!("CORS: {problem}")));
        }
    }
    let kind = transport.kind();
    transport.close().await;
    let (response, error) = match outcome {
        Ok(response) => {
            task.finish(&format!("{}", response.status_code));
            (Some(response), None)
        }
        Err(InvokeError::Transport(err)) => {
            task.fail("no answer");
            return Err(err);
        }
        Err(err) => {
            task.fail("failed");
            let report = match &err {
                InvokeError::Function {
                    kind,
                    error_type,
                    message,
                    logs,
                } => ErrorReport {
                    kind: "function_error",
                    function_error: Some(kind.clone()),
                    error_type: error_type.clone(),
                    message: message.clone(),
                    logs: logs.clone(),
                },
                other => ErrorReport {
                    kind: "bad_payload",
                    function_error: None,
                    error_type: None,
                    message: other.to_string(),
                    logs: other.logs().map(str::to_string),
                },
            };
            (None, Some(report))
        }
    };
    let report = InvokeReport {
        envelope: Envelope::new("invoke", stack, clients.calls.snapshot(), started.elapsed()),
        function: stack.chosen_function().spec.name,
        transport: kind,
        url,
        ok: error.is_none(),
        response,
        error,
    };
    let status = if report.ok {
        ExitStatus::Ok
    } else {
        ExitStatus::Error
    };
    Ok(Outcome::result(report, status))
}
