//! Sending API Gateway HTTP API (payload v2) events to the function, and reading its answers the way API
//! Gateway does. Two transports share everything after the invocation itself:
//!
//! - `Remote`: the deployed function, through Lambda Invoke (RequestResponse, with the log tail);
//! - `Local`: the built handler in the local Node.js, with the deployed function's environment and the same
//!   AWS endpoint settings, through a small embedded runner (`node_runner.mjs`) that answers JSON lines.
//!
//! Both produce Lambda's raw answer (the FunctionError header, if any, and the payload bytes), so one
//! function, `interpret`, decides what is a response and what is a failure. Also `stackctl invoke`.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use aws_sdk_lambda::operation::invoke::InvokeError as InvokeOpError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LastUpdateStatus, LogType, State};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::aws::{wait_for, Clients, Poll};
use crate::cli::{Global, Output};
use crate::config::{ConfigError, Stack};
use crate::progress::{format_duration, Progress};
use crate::report::SCHEMA_VERSION;
use crate::runtimes;

/// The runner script, written to a temp file and run with `node`.
const NODE_RUNNER: &str = include_str!("../handler/node_runner.mjs");

/// What the function answered, as API Gateway (HTTP API, payload v2) would turn it into an HTTP response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub status_code: u16,
    pub headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// The body parsed as JSON when it is JSON, else the text as a string; null when there is none.
    pub body: Value,
    pub body_is_json: bool,
    /// The function returned JSON without a `statusCode`: API Gateway answers 200 with that JSON as body.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
    /// The log tail (remote: the last 4 KB Lambda returns; local: what the handler printed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl Response {
    /// A header by name, case-insensitively (HTTP header names are).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}

/// An invocation that produced no usable response.
#[derive(Debug)]
pub enum InvokeError {
    /// The function failed (Lambda's FunctionError: an unhandled exception, a timeout, an init error).
    Function {
        /// The X-Amz-Function-Error value: `Unhandled` or `Handled`.
        kind: String,
        error_type: Option<String>,
        message: String,
        logs: Option<String>,
    },
    /// The function answered something API Gateway cannot turn into a response.
    BadPayload {
        message: String,
        logs: Option<String>,
    },
    /// The invocation did not happen or got no answer (an AWS error, the local Node.js process failed).
    Transport(anyhow::Error),
}

impl InvokeError {
    pub fn logs(&self) -> Option<&str> {
        match self {
            InvokeError::Function { logs, .. } | InvokeError::BadPayload { logs, .. } => {
                logs.as_deref()
            }
            InvokeError::Transport(_) => None,
        }
    }
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::Function {
                kind,
                error_type,
                message,
                ..
            } => {
                write!(f, "the function failed ({kind} FunctionError): ")?;
                match error_type {
                    Some(t) => write!(f, "{t}: {message}"),
                    None => write!(f, "{message}"),
                }
            }
            InvokeError::BadPayload { message, .. } => write!(f, "{message}"),
            InvokeError::Transport(err) => write!(f, "{err:#}"),
        }
    }
}

/// At most `max` characters of `text`, on one line, marked when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Reads Lambda's answer (the X-Amz-Function-Error header and the payload) as API Gateway would: a
/// FunctionError is a failure carrying the function's errorMessage, never a response; a payload that is not
/// JSON, or not a response API Gateway accepts, is a failure saying why.
pub fn interpret(
    function_error: Option<&str>,
    payload: &[u8],
    logs: Option<String>,
) -> Result<Response, InvokeError> {
    if let Some(kind) = function_error {
        let parsed: Option<Value> = serde_json::from_slice(payload).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = field("errorMessage").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(payload);
            if text.trim().is_empty() {
                "(no error message)".to_string()
            } else {
                excerpt(&text, 500)
            }
        });
        return Err(InvokeError::Function {
            kind: kind.to_string(),
            error_type: field("errorType"),
            message,
            logs,
        });
    }
    let bad = |message: String, logs: Option<String>| InvokeError::BadPayload { message, logs };
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(bad(
            "the function's response is not UTF-8 text, so not JSON".into(),
            logs,
        ));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            let shown = if text.trim().is_empty() {
                "(empty)".to_string()
            } else {
                format!("`{}`", excerpt(text, 200))
            };
            return Err(bad(
                format!("the function's response is not JSON ({err}): {shown}"),
                logs,
            ));
        }
    };
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        // API Gateway's rule for payload v2: valid JSON without a statusCode is a 200 with that JSON as body.
        let mut headers = Map::new();
        headers.insert("content-type".into(), "application/json".into());
        return Ok(Response {
            status_code: 200,
            headers,
            cookies: Vec::new(),
            body: value,
            body_is_json: true,
            inferred: true,
            logs,
        });
    };
    let status_code = match object.get("statusCode").and_then(Value::as_u64) {
        Some(code @ 100..=599) => code as u16,
        _ => {
            return Err(bad(
                format!(
                    "the function's response has statusCode {}, not an HTTP status code",
                    object["statusCode"]
                ),
                logs,
            ))
        }
    };
    let mut headers = Map::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    other => {
                        return Err(bad(
                            format!(
                                "the function's response header `{name}` is {other}, not a string"
                            ),
                            logs,
                        ))
                    }
                };
                headers.insert(name.clone(), Value::String(value));
            }
        }
        Some(other) => {
            return Err(bad(
                format!("the function's response `headers` is {other}, not an object"),
                logs,
            ))
        }
    }
    let cookies = object
        .get("cookies")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (body, body_is_json) = match object.get("body") {
        None | Some(Value::Null) => (Value::Null, false),
        Some(Value::String(raw)) => {
            let text = if base64 {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|err| {
                        bad(
                            format!("the function's response says isBase64Encoded but its body is not base64: {err}"),
                            logs.clone(),
                        )
                    })?;
                match String::from_utf8(bytes) {
                    Ok(text) => text,
                    // Binary: keep it as the function sent it.
                    Err(_) => raw.clone(),
                }
            } else {
                raw.clone()
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(parsed) if !text.trim().is_empty() => (parsed, true),
                _ => (Value::String(text), false),
            }
        }
        Some(other) => {
            return Err(bad(
                format!(
                    "the function's response `body` is {}, not a string (API Gateway needs the body serialized)",
                    excerpt(&other.to_string(), 200)
                ),
                logs,
            ))
        }
    };
    Ok(Response {
        status_code,
        headers,
        cookies,
        body,
        body_is_json,
        inferred: false,
        logs,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Transports

/// Where events go: the deployed function, or the built handler in the local Node.js.
pub enum Transport {
    Remote(Remote),
    Local(Box<Local>),
    /// Unit tests: a handler written in Rust, answering Lambda's raw (FunctionError, payload).
    #[cfg(test)]
    Fake(Box<FakeHandler>),
}

/// A test double for the function: an event in, Lambda's raw (FunctionError, payload) out.
#[cfg(test)]
pub type FakeHandler = dyn FnMut(&Value) -> (Option<String>, Vec<u8>) + Send;

/// What the live function looks like, read once before invoking.
#[derive(Debug)]
struct LiveConfig {
    arn: String,
    runtime: String,
    environment: BTreeMap<String, String>,
    timeout_secs: u64,
    memory_mb: i32,
    code_sha256: String,
}

impl LiveConfig {
    fn from_output(config: &GetFunctionConfigurationOutput, stack: &Stack) -> LiveConfig {
        LiveConfig {
            arn: config.function_arn().unwrap_or_default().to_string(),
            runtime: config.runtime().map_or_else(
                || stack.function.runtime.clone(),
                |r| r.as_str().to_string(),
            ),
            environment: config
                .environment()
                .and_then(|e| e.variables())
                .map(|vars| vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            timeout_secs: config
                .timeout()
                .map_or(stack.function.timeout_secs as u64, |t| t.max(1) as u64),
            memory_mb: config.memory_size().unwrap_or(stack.function.memory_mb),
            code_sha256: config.code_sha256().unwrap_or_default().to_string(),
        }
    }
}

async fn read_config(
    client: &aws_sdk_lambda::Client,
    stack: &Stack,
) -> Result<GetFunctionConfigurationOutput> {
    let name = &stack.function.name;
    match client
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(config) => Ok(config),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            bail!(
                "Lambda function `{name}` does not exist in {}: run `stackctl up` first",
                stack.region
            )
        }
        Err(err) => Err(err).with_context(|| format!("reading Lambda function `{name}`")),
    }
}

/// Whether Invoke reaches the deployed code now: a Pending function answers 409, and while an update is
/// InProgress the previous code (and configuration) still answers.
fn invocable(config: &GetFunctionConfigurationOutput) -> Poll {
    match config.state() {
        Some(State::Pending) => Poll::Pending("State Pending".into()),
        Some(State::Failed) => Poll::Failed(format!(
            "its State is Failed ({}): run `stackctl up` to repair it",
            config.state_reason().unwrap_or("no reason given")
        )),
        _ => match config.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {
                Poll::Pending("LastUpdateStatus InProgress".into())
            }
            _ => Poll::Done,
        },
    }
}

/// Reads the function and, when it is not ready to run its deployed code, waits (the SDK's waiter engine,
/// bounded by `timeouts.function_secs`) until it is State Active with its last update over.
async fn wait_invocable(
    client: &aws_sdk_lambda::Client,
    stack: &Stack,
    progress: &Progress,
) -> Result<LiveConfig> {
    let name = &stack.function.name;
    let mut config = read_config(client, stack).await?;
    match invocable(&config) {
        Poll::Failed(reason) => bail!("Lambda function `{name}` cannot be invoked: {reason}"),
        Poll::Done | Poll::Unexpected => {}
        Poll::Pending(state) => {
            let task = progress.task(format!("function {name}"));
            task.set(&format!("waiting before invoking ({state})"));
            let last = wait_for(
                &format!("function `{name}` to be Active with its last update done"),
                Duration::from_secs(stack.timeouts.function_secs),
                || {
                    client
                        .get_function_configuration()
                        .function_name(name)
                        .send()
                },
                |result| match result {
                    Ok(c) => invocable(c),
                    Err(_) => Poll::Unexpected,
                },
                |state| task.set(&format!("waiting before invoking ({state})")),
            )
            .await;
            match last {
                Ok(Some(latest)) => {
                    task.finish("ready");
                    config = latest;
                }
                Ok(None) => {
                    task.finish("ready");
                    config = read_config(client, stack).await?;
                }
                Err(err) => {
                    task.fail("not ready");
                    return Err(err.context(format!("Lambda function `{name}` is not ready")));
                }
            }
        }
    }
    if config.last_update_status() == Some(&LastUpdateStatus::Failed) {
        progress.warn(&format!(
            "the last update of function `{name}` failed ({}): it still runs its previous code and configuration",
            config
                .last_update_status_reason()
                .unwrap_or("no reason given")
        ));
    }
    Ok(LiveConfig::from_output(&config, stack))
}

impl Transport {
    /// Checks the function is deployed (and, for `Remote`, ready to run its deployed code), then opens the
    /// transport (for `Local`: starts Node.js with the built handler and the function's live environment).
    pub async fn open(
        clients: &Clients,
        stack: &Stack,
        local: bool,
        profile: Option<&str>,
        progress: &Progress,
    ) -> Result<Transport> {
        if !local {
            wait_invocable(&clients.lambda, stack, progress).await?;
            return Ok(Transport::Remote(Remote::new(
                clients.lambda.clone(),
                &stack.function.name,
            )));
        }
        let live = LiveConfig::from_output(&read_config(&clients.lambda, stack).await?, stack);
        let file = handler_file(stack)?;
        if let Ok(package) = crate::handler::package::pack(&stack.function.artifact_dir) {
            if !live.code_sha256.is_empty() && package.code_sha256 != live.code_sha256 {
                progress.warn(&format!(
                    "the local build in `{}` differs from the deployed code (CodeSha256 {} here, {} deployed): --local runs the local build; `stackctl up` deploys it",
                    display_path(&stack.function.artifact_dir),
                    package.code_sha256,
                    live.code_sha256
                ));
            }
        }
        // The same credential chain stackctl's own clients use (the client config does not expose it).
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(stack.region.clone()));
        if let Some(profile) = profile {
            loader = loader.profile_name(profile);
        }
        let credentials = match loader.load().await.credentials_provider() {
            Some(provider) => match provider.provide_credentials().await {
                Ok(creds) => Some(creds),
                Err(err) => {
                    progress.warn(&format!(
                        "could not resolve AWS credentials for the local handler ({err}); it uses its own credential chain"
                    ));
                    None
                }
            },
            None => None,
        };
        let env = child_env(
            std::env::vars_os(),
            &ChildSettings {
                stack,
                live: &live,
                credentials: credentials.as_ref(),
                log_stream: log_stream_name(),
            },
        );
        let spec = RunnerSpec {
            task_root: stack.function.artifact_dir.clone(),
            handler: stack.function.handler.clone(),
            handler_file: file,
            timeout_secs: live.timeout_secs,
            memory_mb: live.memory_mb,
            refuse_callbacks: runtimes::refuses_callback_handlers(&live.runtime),
            env,
        };
        let local = Local::start(spec, progress.clone()).await?;
        for note in local_notes(&local.node_version, &live.runtime, &live.arn) {
            progress.warn(&note);
        }
        Ok(Transport::Local(Box::new(local)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Remote(_) => "remote",
            Transport::Local(_) => "local",
            #[cfg(test)]
            Transport::Fake(_) => "fake",
        }
    }

    /// Whether an invocation in flight can be abandoned: a local one is stopped with its runner (and a fresh
    /// runner serves the next request); a remote one keeps running on AWS whatever stackctl does.
    pub fn can_abandon(&self) -> bool {
        !matches!(self, Transport::Remote(_))
    }

    /// For people: how events are delivered.
    pub fn describe(&self) -> String {
        match self {
            Transport::Remote(_) => "Lambda Invoke".to_string(),
            Transport::Local(local) => format!(
                "local Node.js {} running {}",
                local.node_version,
                display_path(&local.spec.handler_file)
            ),
            #[cfg(test)]
            Transport::Fake(_) => "a fake".to_string(),
        }
    }

    /// Sends one event and reads the answer.
    pub async fn invoke(&mut self, event: &Value) -> Result<Response, InvokeError> {
        match self {
            Transport::Remote(remote) => remote.invoke(event).await,
            Transport::Local(local) => local.invoke(event).await,
            #[cfg(test)]
            Transport::Fake(handler) => {
                let (error, payload) = handler(event);
                interpret(error.as_deref(), &payload, None)
            }
        }
    }

    /// Stops the local Node.js process, if any.
    pub async fn close(self) {
        if let Transport::Local(local) = self {
            local.close().await;
        }
    }
}

/// What `--local` says about itself on stderr: the local Node.js is not the runtime's (when the majors
/// differ), and the handler runs with the caller's credentials, not the function's execution role.
fn local_notes(node_version: &str, runtime: &str, arn: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let local_major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if let (Some(local), Some(wanted)) = (local_major, runtimes::node_major(runtime)) {
        if local != wanted {
            notes.push(format!(
                "the local Node.js is {node_version} but the function runs {runtime} (Node.js {wanted}): language features, built-in modules and the bundled AWS SDK may differ"
            ));
        }
    }
    let role = arn.rsplit(':').next().unwrap_or(arn);
    notes.push(format!(
        "--local runs the handler with your AWS credentials, not the execution role of `{role}`: a call its role may not make can still succeed here"
    ));
    notes
}

/// The deployed function, through Lambda Invoke.
pub struct Remote {
    pub client: aws_sdk_lambda::Client,
    pub function: String,
    /// The first delay before retrying a throttled or Pending invocation (doubles each time).
    pub retry_delay: Duration,
}

/// Attempts of one Invoke when Lambda throttles it (429) or the function is still Pending (409).
const INVOKE_ATTEMPTS: u32 = 8;
const INVOKE_MAX_DELAY: Duration = Duration::from_secs(5);

impl Remote {
    pub fn new(client: aws_sdk_lambda::Client, function: &str) -> Remote {
        Remote {
            client,
            function: function.to_string(),
            retry_delay: Duration::from_millis(250),
        }
    }

    /// One Invoke. It is not idempotent (a POST retried after a 5xx or a dropped connection may run the
    /// function twice), so the SDK's automatic retries are off for it, and only the answers that say the
    /// function did not run are retried: 429 TooManyRequests (throttled) and 409 ResourceConflict (Pending).
    async fn invoke(&self, event: &Value) -> Result<Response, InvokeError> {
        let payload = serde_json::to_vec(event)
            .map_err(|err| InvokeError::Transport(anyhow!("serializing the event: {err}")))?;
        let mut delay = self.retry_delay;
        let mut attempt = 1;
        let out = loop {
            let sent = self
                .client
                .invoke()
                .function_name(&self.function)
                .invocation_type(InvocationType::RequestResponse)
                .log_type(LogType::Tail)
                .payload(Blob::new(payload.clone()))
                .customize()
                .config_override(
                    aws_sdk_lambda::config::Builder::default()
                        .retry_config(RetryConfig::standard().with_max_attempts(1)),
                )
                .send()
                .await;
            let err = match sent {
                Ok(out) => break out,
                Err(err) => err,
            };
            let service = err.as_service_error();
            let retry_after = match service {
                Some(e) if e.is_too_many_requests_exception() => match e {
                    InvokeOpError::TooManyRequestsException(t) => Some(
                        t.retry_after_seconds()
                            .and_then(|s| s.parse::<u64>().ok())
                            .map(Duration::from_secs),
                    ),
                    _ => Some(None),
                },
                Some(e) if e.is_resource_conflict_exception() => Some(None),
                _ => None,
            };
            match retry_after {
                Some(after) if attempt < INVOKE_ATTEMPTS => {
                    let wait = after.unwrap_or(delay).min(INVOKE_MAX_DELAY);
                    tracing::debug!(
                        "Invoke of `{}` not run ({}); retrying in {}ms",
                        self.function,
                        service.and_then(|e| e.meta().code()).unwrap_or("?"),
                        wait.as_millis()
                    );
                    tokio::time::sleep(jitter(wait)).await;
                    delay = (delay * 2).min(INVOKE_MAX_DELAY);
                    attempt += 1;
                }
                _ => return Err(self.invoke_error(err, attempt)),
            }
        };
        let logs = out
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).trim_end().to_string())
            .filter(|text| !text.is_empty());
        interpret(
            out.function_error(),
            out.payload().map(|p| p.as_ref()).unwrap_or_default(),
            logs,
        )
    }

    fn invoke_error(
        &self,
        err: aws_sdk_lambda::error::SdkError<InvokeOpError>,
        attempts: u32,
    ) -> InvokeError {
        let service = err.as_service_error();
        let not_found = service.is_some_and(|e| e.is_resource_not_found_exception());
        let gave_up = service.is_some_and(|e| {
            e.is_too_many_requests_exception() || e.is_resource_conflict_exception()
        });
        // A 5xx or no answer at all: the function may have run. Say so rather than guess.
        let unknown = match &err {
            aws_sdk_lambda::error::SdkError::ServiceError(e) => e.raw().status().is_server_error(),
            aws_sdk_lambda::error::SdkError::DispatchFailure(_)
            | aws_sdk_lambda::error::SdkError::TimeoutError(_)
            | aws_sdk_lambda::error::SdkError::ResponseError(_) => true,
            _ => false,
        };
        let err = anyhow::Error::new(err);
        let function = &self.function;
        InvokeError::Transport(if not_found {
            err.context(format!(
                "Lambda function `{function}` does not exist: run `stackctl up` first"
            ))
        } else if gave_up {
            err.context(format!(
                "invoking Lambda function `{function}`: still refused after {attempts} attempts"
            ))
        } else if unknown {
            err.context(format!(
                "invoking Lambda function `{function}`: no usable answer, and the function may or may not have run (Invoke is not retried: it is not idempotent)"
            ))
        } else {
            err.context(format!("invoking Lambda function `{function}`"))
        })
    }
}

/// Between half and all of `delay` (so that clients throttled together do not retry together).
fn jitter(delay: Duration) -> Duration {
    let random = u64::from_str_radix(&crate::commands::smoke::random_hex()[..8], 16).unwrap_or(0);
    let fraction = 0.5 + (random as f64 / u32::MAX as f64) * 0.5;
    delay.mul_f64(fraction)
}

/// Lambda's reading of a handler string: the module ends at the first dot after the last `/`, the rest is
/// the export path (`dist/app.handlers.main`: module `dist/app`, export `handlers.main`).
fn split_handler(handler: &str) -> Option<(&str, &str)> {
    let start = handler.rfind('/').map_or(0, |slash| slash + 1);
    let dot = start + handler[start..].find('.')?;
    Some((&handler[..dot], &handler[dot + 1..]))
}

/// Finds the built module `function.handler` names, relative to the artifact dir (Lambda's task root),
/// with the extensions the Lambda Node.js runtime tries, in its order.
fn handler_file(stack: &Stack) -> Result<PathBuf> {
    let spec = &stack.function;
    let (module, _) = split_handler(&spec.handler).ok_or_else(|| {
        anyhow!(
            "`function.handler` `{}` is not <file>.<export>",
            spec.handler
        )
    })?;
    let base = spec.artifact_dir.join(module);
    for ext in ["", ".js", ".mjs", ".cjs"] {
        let candidate = PathBuf::from(format!("{}{ext}", base.display()));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "the built handler `{}.js` is missing: run `stackctl up` (which builds it) or `{}` in `{}` first",
        display_path(&base),
        spec.build_command,
        display_path(&spec.source_dir)
    )
}

/// A path relative to the current directory when it is below it.
fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// A log stream name as Lambda makes them: `2026/11/26/[$LATEST]<32 hex digits>`.
fn log_stream_name() -> String {
    let today = crate::runtimes::today().replace('-', "/");
    format!(
        "{today}/[$LATEST]{}{}",
        crate::commands::smoke::random_hex(),
        crate::commands::smoke::random_hex()
    )
}

struct ChildSettings<'a> {
    stack: &'a Stack,
    live: &'a LiveConfig,
    credentials: Option<&'a aws_sdk_lambda::config::Credentials>,
    log_stream: String,
}

/// The local handler's environment, as close to Lambda's as makes sense: nothing from the shell except
/// what Node.js and the AWS SDK need to run and reach the same endpoint (PATH, HOME, proxies, CA bundles,
/// AWS_* settings such as AWS_ENDPOINT_URL), then the credentials stackctl itself resolved, the stack's
/// region, the variables Lambda sets, and the function's live environment variables.
fn child_env(
    inherited: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    s: &ChildSettings<'_>,
) -> BTreeMap<String, String> {
    const KEEP: &[&str] = &[
        "PATH",
        "HOME",
        "TMPDIR",
        "TMP",
        "TEMP",
        "LANG",
        "LC_ALL",
        "SYSTEMROOT",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    ];
    const CREDENTIALS: &[&str] = &[
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ];
    let mut env = BTreeMap::new();
    for (key, value) in inherited {
        let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) else {
            continue;
        };
        let keep = KEEP.iter().any(|k| k.eq_ignore_ascii_case(&key))
            || (key.starts_with("AWS_")
                && !(s.credentials.is_some() && CREDENTIALS.contains(&key.as_str())));
        if keep {
            env.insert(key, value);
        }
    }
    if let Some(creds) = s.credentials {
        env.insert("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().into());
        env.insert(
            "AWS_SECRET_ACCESS_KEY".into(),
            creds.secret_access_key().into(),
        );
        if let Some(token) = creds.session_token() {
            env.insert("AWS_SESSION_TOKEN".into(), token.into());
        }
    }
    let function = &s.stack.function;
    // What Lambda sets in every Node.js execution environment (its reserved variables; the function's own
    // variables can never name them).
    for (key, value) in [
        ("AWS_REGION", s.stack.region.clone()),
        ("AWS_DEFAULT_REGION", s.stack.region.clone()),
        (
            "AWS_EXECUTION_ENV",
            runtimes::execution_env(&s.live.runtime),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            s.live.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", s.log_stream.clone()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", function.handler.clone()),
        (
            "LAMBDA_TASK_ROOT",
            function.artifact_dir.display().to_string(),
        ),
        ("STACKCTL_FUNCTION_ARN", s.live.arn.clone()),
        ("TZ", "UTC".into()),
    ] {
        env.insert(key.to_string(), value);
    }
    for (key, value) in &s.live.environment {
        env.insert(key.clone(), value.clone());
    }
    env
}

/// Lambda's payload limits for a synchronous invocation: the request (the event) and the response (the
/// function's serialized result). The response limit really is 100 bytes above 6 MiB.
pub const MAX_REQUEST_BYTES: usize = 6_291_456;
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Everything needed to start (and restart) the local runner.
pub struct RunnerSpec {
    /// Lambda's task root (/var/task): the artifact dir. The runner's working directory.
    pub task_root: PathBuf,
    /// `function.handler`, resolved by the runner as the Lambda Node.js runtime does.
    pub handler: String,
    /// The module it names (found before starting, for messages).
    pub handler_file: PathBuf,
    pub timeout_secs: u64,
    pub memory_mb: i32,
    /// The runtime refuses callback-style handlers at init (Node.js 24 and later).
    pub refuse_callbacks: bool,
    pub env: BTreeMap<String, String>,
}

impl RunnerSpec {
    /// V8's heap limits as the Lambda Node.js runtime's bootstrap sets them from the function's memory:
    /// a tenth for the young generation (half of it per semi-space), the rest for the old generation.
    fn node_memory_args(&self) -> [String; 2] {
        let memory = self.memory_mb.max(128);
        let new_space = memory / 10;
        [
            format!("--max-semi-space-size={}", (new_space / 2).max(1)),
            format!("--max-old-space-size={}", memory - new_space),
        ]
    }
}

/// The built handler in a local Node.js process that serves the invocations of a run, one at a time, like
/// one Lambda execution environment. When Lambda would discard that environment (a timeout, an uncaught
/// exception, an unhandled rejection, `process.exit`, an init error), the process is stopped and a fresh
/// one serves the next request, so nothing the old one still does (a late throw, its logs, its writes)
/// reaches a later request.
pub struct Local {
    spec: RunnerSpec,
    runner: Option<Runner>,
    progress: Progress,
    marker: String,
    next_id: u64,
    /// How many runner processes were started (the first one included).
    pub starts: u32,
    pub node_version: String,
    /// Holds the runner script.
    dir: tempfile::TempDir,
}

/// One runner process.
struct Runner {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    /// A request was written and its answer not read yet (an invocation abandoned midway leaves this set:
    /// that process may still be running it, so it is never reused).
    in_flight: bool,
}

/// One line from the runner.
#[derive(Debug, Default, serde::Deserialize)]
struct Reply {
    #[serde(rename = "functionError")]
    function_error: Option<String>,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    logs: String,
    #[serde(default)]
    node: Option<String>,
    /// This runtime must not serve another invocation.
    #[serde(default)]
    reset: bool,
    /// The handler ended the process with this exit code.
    #[serde(default)]
    exit: Option<i64>,
    #[serde(default, rename = "requestId")]
    request_id: Option<String>,
    /// The process ended between invocations, and why.
    #[serde(default)]
    discarded: Option<String>,
}

/// Parses a runner line: Some((id, reply)) when it carries this run's marker; anything else the handler
/// managed to print is not protocol.
fn parse_reply(line: &str, marker: &str) -> Option<(Option<u64>, Reply)> {
    let value: Value = serde_json::from_str(line).ok()?;
    let id = value.get(marker)?;
    let id = id.as_u64();
    let reply = serde_json::from_value(value).ok()?;
    Some((id, reply))
}

const STDERR_KEEP: usize = 8 * 1024;

/// Lambda's answer when the runtime process ends during an invocation.
fn exit_error(request_id: &str, how: &str) -> Vec<u8> {
    let message = if how == "exit status 0" {
        format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
    } else {
        format!("RequestId: {request_id} Error: Runtime exited with error: {how}")
    };
    json!({ "errorType": "Runtime.ExitError", "errorMessage": message })
        .to_string()
        .into_bytes()
}

/// `exit status 3`, `signal: killed`: how Lambda words a runtime's end.
fn describe_exit(status: Option<std::process::ExitStatus>) -> String {
    let Some(status) = status else {
        return "signal: killed".to_string();
    };
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => "aborted".to_string(),
                9 => "killed".to_string(),
                11 => "segmentation fault".to_string(),
                15 => "terminated".to_string(),
                other => format!("signal {other}"),
            };
            return format!("signal: {name}");
        }
    }
    "signal: killed".to_string()
}

/// The last lines of a runner's stderr.
fn stderr_tail(stderr: &Mutex<String>) -> String {
    let text = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// How one attempt to deliver an event ended.
enum Delivery {
    Answered(Result<Response, InvokeError>),
    /// The runner ended between invocations before it read the request: nothing ran, send it again.
    NotStarted(String),
}

impl Local {
    /// Writes the runner script and starts the first runner (so a handler that cannot even start fails
    /// here, before any request).
    pub async fn start(spec: RunnerSpec, progress: Progress) -> Result<Local> {
        let dir = tempfile::Builder::new()
            .prefix("stackctl-local-")
            .tempdir()
            .context("creating a temp dir for the local runner")?;
        std::fs::write(dir.path().join("runner.mjs"), NODE_RUNNER)
            .context("writing the local runner script")?;
        let mut local = Local {
            spec,
            runner: None,
            progress,
            marker: format!("stackctl-{}", crate::commands::smoke::random_hex()),
            next_id: 0,
            starts: 0,
            node_version: String::new(),
            dir,
        };
        local.spawn().await.context("starting the local handler")?;
        Ok(local)
    }

    async fn spawn(&mut self) -> Result<()> {
        let node = std::env::var("STACKCTL_NODE").unwrap_or_else(|_| "node".to_string());
        let spec = &self.spec;
        let mut command = tokio::process::Command::new(&node);
        command
            .args(spec.node_memory_args())
            .arg(self.dir.path().join("runner.mjs"))
            .arg(&spec.task_root)
            .arg(&spec.handler)
            .arg(spec.timeout_secs.to_string())
            .arg(&self.marker)
            .arg(if spec.refuse_callbacks {
                "refuse"
            } else {
                "allow"
            })
            .env_clear()
            .envs(&spec.env)
            // Lambda runs the handler with the package root (/var/task) as the working directory.
            .current_dir(&spec.task_root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own process group: a Ctrl-C at the terminal reaches stackctl, which cleans up through this
        // process, instead of killing it too.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().with_context(|| {
            format!("starting `{node}` (--local needs Node.js 20 or later on PATH)")
        })?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("node stdout")?).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    if text.len() > STDERR_KEEP * 2 {
                        let cut = text.len() - STDERR_KEEP;
                        let cut = (cut..text.len())
                            .find(|i| text.is_char_boundary(*i))
                            .unwrap_or(0);
                        text.drain(..cut);
                    }
                }
            });
        }
        let mut runner = Runner {
            child,
            stdin,
            stdout,
            stderr,
            in_flight: false,
        };
        self.starts += 1;
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match runner.stdout.next_line().await {
                    Ok(Some(line)) => match parse_reply(&line, &self.marker) {
                        Some((Some(0), reply)) if reply.node.is_some() => return Ok(reply),
                        Some((None, reply)) if reply.discarded.is_some() => {
                            return Err(reply.discarded.unwrap_or_default())
                        }
                        _ => continue,
                    },
                    Ok(None) => return Err("the process exited".to_string()),
                    Err(err) => return Err(format!("reading from it: {err}")),
                }
            }
        })
        .await;
        let ready = match ready {
            Ok(Ok(reply)) => reply,
            Ok(Err(why)) => {
                let status = stop(&mut runner).await;
                let tail = stderr_tail(&runner.stderr);
                bail!(
                    "the local Node.js runner did not start: {why} ({}){}",
                    describe_exit(status),
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(":\n{tail}")
                    }
                );
            }
            Err(_) => {
                stop(&mut runner).await;
                bail!("the local Node.js runner did not start within 60s");
            }
        };
        self.node_version = ready.node.unwrap_or_else(|| "(unknown version)".into());
        self.runner = Some(runner);
        Ok(())
    }

    /// Stops the current runner, if any; the next invocation starts a fresh one.
    async fn discard(&mut self) {
        if let Some(mut runner) = self.runner.take() {
            stop(&mut runner).await;
        }
    }

    async fn invoke(&mut self, event: &Value) -> Result<Response, InvokeError> {
        // Lambda refuses the request before running anything.
        if event.to_string().len() > MAX_REQUEST_BYTES {
            return Err(InvokeError::Transport(anyhow!(
                "RequestEntityTooLargeException: Request must be smaller than {MAX_REQUEST_BYTES} bytes for the InvokeFunction operation"
            )));
        }
        // A runner ended between invocations is noticed once, and replaced; a second time is an answer.
        let mut retried = false;
        loop {
            match self.deliver(event).await {
                Delivery::Answered(outcome) => return outcome,
                Delivery::NotStarted(why) if !retried => {
                    self.progress.warn(&format!(
                        "the local runtime ended ({}); a fresh one serves the next request",
                        excerpt(&why, 300)
                    ));
                    retried = true;
                }
                Delivery::NotStarted(why) => {
                    return Err(InvokeError::Transport(anyhow!(
                        "the local runtime keeps ending before it reads a request: {why}"
                    )))
                }
            }
        }
    }

    async fn deliver(&mut self, event: &Value) -> Delivery {
        // Never reuse a runner that was left mid-invocation or has ended.
        let reusable = match self.runner.as_mut() {
            Some(runner) => match runner.child.try_wait() {
                Ok(None) => !runner.in_flight,
                Ok(Some(status)) if !runner.in_flight => {
                    let why = ended_why(runner, &self.marker).await;
                    self.progress.warn(&format!(
                        "the local runtime ended ({}); a fresh one serves the next request",
                        excerpt(
                            &why.unwrap_or_else(|| format!(
                                "{} between invocations",
                                describe_exit(Some(status))
                            )),
                            300
                        )
                    ));
                    false
                }
                _ => false,
            },
            None => false,
        };
        if !reusable {
            self.discard().await;
            if let Err(err) = self.spawn().await {
                return Delivery::Answered(Err(InvokeError::Transport(err)));
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        let timeout = Duration::from_secs(self.spec.timeout_secs);
        let marker = self.marker.clone();
        let Some(runner) = self.runner.as_mut() else {
            return Delivery::Answered(Err(InvokeError::Transport(anyhow!(
                "the local runner is not running"
            ))));
        };
        let mut line = json!({ "id": id, "event": event }).to_string();
        line.push('\n');
        runner.in_flight = true;
        let written = match runner.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .await
                .and(stdin.flush().await),
            None => Err(std::io::Error::other("stdin closed")),
        };
        // A write that fails means the process is gone: what it says on stdout tells why.
        if let Err(err) = written {
            tracing::debug!("writing to the local runner: {err}");
        }
        // The runner enforces the timeout itself; this catches a handler that blocks its event loop (a
        // busy loop never lets the runner's timer fire), which Lambda also ends as a timeout.
        let limit = timeout + Duration::from_secs(2);
        let read = tokio::time::timeout(limit, async {
            loop {
                match runner.stdout.next_line().await {
                    Ok(Some(text)) => match parse_reply(&text, &marker) {
                        Some((Some(got), reply)) if got == id => return Some(reply),
                        Some((None, reply))
                            if reply.discarded.is_some() || reply.exit.is_none() =>
                        {
                            return Some(reply)
                        }
                        _ => continue,
                    },
                    Ok(None) | Err(_) => return None,
                }
            }
        })
        .await;
        let request_id = format!("local-{}", crate::commands::smoke::random_hex());
        let reply = match read {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                // No answer and no word: killed (out of memory, a signal). Lambda reports the runtime's end.
                let status = stop_after(runner, Duration::from_secs(2)).await;
                let logs = Some(stderr_tail(&runner.stderr)).filter(|t| !t.trim().is_empty());
                self.runner = None;
                return Delivery::Answered(interpret(
                    Some("Unhandled"),
                    &exit_error(&request_id, &describe_exit(status)),
                    logs,
                ));
            }
            Err(_) => {
                stop(runner).await;
                self.runner = None;
                let payload = json!({
                    "errorType": "Sandbox.Timedout",
                    "errorMessage": format!(
                        "RequestId: {request_id} Error: Task timed out after {}.00 seconds",
                        timeout.as_secs()
                    ),
                });
                return Delivery::Answered(interpret(
                    Some("Unhandled"),
                    payload.to_string().as_bytes(),
                    None,
                ));
            }
        };
        runner.in_flight = false;
        if let Some(why) = reply.discarded {
            stop(runner).await;
            self.runner = None;
            return Delivery::NotStarted(why);
        }
        let logs = Some(reply.logs).filter(|l| !l.trim().is_empty());
        if let Some(code) = reply.exit {
            stop(runner).await;
            self.runner = None;
            let request_id = reply.request_id.unwrap_or(request_id);
            return Delivery::Answered(interpret(
                Some("Unhandled"),
                &exit_error(&request_id, &format!("exit status {code}")),
                logs,
            ));
        }
        if reply.reset {
            // Stop it now: whatever it still runs (timers, a late throw, writes) must not go on.
            stop(runner).await;
            self.runner = None;
        }
        if reply.function_error.is_none() && reply.payload.len() > MAX_RESPONSE_BYTES {
            let payload = json!({
                "errorType": "Function.ResponseSizeTooLarge",
                "errorMessage": format!("Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
            });
            return Delivery::Answered(interpret(
                Some("Unhandled"),
                payload.to_string().as_bytes(),
                logs,
            ));
        }
        Delivery::Answered(interpret(
            reply.function_error.as_deref(),
            reply.payload.as_bytes(),
            logs,
        ))
    }

    async fn close(mut self) {
        if let Some(mut runner) = self.runner.take() {
            // Closing stdin ends the runner's loop; it exits without waiting for the handler's open sockets.
            drop(runner.stdin.take());
            if tokio::time::timeout(Duration::from_secs(5), runner.child.wait())
                .await
                .is_err()
            {
                let _ = runner.child.kill().await;
            }
        }
    }
}

/// What an ended runner said about its end (its `discarded` line), if it said anything.
async fn ended_why(runner: &mut Runner, marker: &str) -> Option<String> {
    let read = async {
        while let Ok(Some(line)) = runner.stdout.next_line().await {
            if let Some((None, reply)) = parse_reply(&line, marker) {
                if reply.discarded.is_some() {
                    return reply.discarded;
                }
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_millis(500), read)
        .await
        .ok()
        .flatten()
}

/// Kills a runner and waits (briefly) for it, so its stderr is complete; returns how it ended.
async fn stop(runner: &mut Runner) -> Option<std::process::ExitStatus> {
    stop_after(runner, Duration::ZERO).await
}

/// The same, first giving a process that is ending by itself `grace` to finish (to learn its real status).
async fn stop_after(runner: &mut Runner, grace: Duration) -> Option<std::process::ExitStatus> {
    drop(runner.stdin.take());
    if !grace.is_zero() {
        if let Ok(Ok(status)) = tokio::time::timeout(grace, runner.child.wait()).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
            return Some(status);
        }
    }
    let status = match runner.child.try_wait() {
        Ok(Some(status)) => Some(status),
        _ => {
            let _ = runner.child.start_kill();
            tokio::time::timeout(Duration::from_secs(5), runner.child.wait())
                .await
                .ok()
                .and_then(Result::ok)
        }
    };
    // Give the stderr reader a moment to drain.
    tokio::time::sleep(Duration::from_millis(20)).await;
    status
}

// ---------------------------------------------------------------------------------------------------------
// `stackctl invoke`

/// The result of `stackctl invoke`, as text or as one JSON document.
#[derive(Debug, Serialize)]
pub struct InvokeReport {
    pub schema_version: u32,
    pub command: &'static str,
    pub stack: String,
    pub region: String,
    pub function: String,
    /// `remote` (Lambda Invoke) or `local` (the built handler in the local Node.js).
    pub transport: &'static str,
    /// The invocation worked (whatever the statusCode).
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    pub duration_ms: u64,
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
        let took = format_duration(Duration::from_millis(self.duration_ms));
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
    local: bool,
    event: &Path,
    global: &Global,
    progress: &Progress,
) -> Result<u8> {
    let (output, quiet) = (global.output, global.quiet);
    let event = read_event(event)?;
    let started = Instant::now();
    let task = progress.task(format!("invoke {}", stack.function.name));
    task.set(if local {
        "starting the local handler"
    } else {
        "invoking"
    });
    let mut transport =
        Transport::open(clients, stack, local, global.profile.as_deref(), progress).await?;
    task.set(&format!("invoking via {}", transport.describe()));
    let outcome = transport.invoke(&event).await;
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
        schema_version: SCHEMA_VERSION,
        command: "invoke",
        stack: stack.name.clone(),
        region: stack.region.clone(),
        function: stack.function.name.clone(),
        transport: kind,
        ok: error.is_none(),
        response,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let logs = report
        .response
        .as_ref()
        .and_then(|r| r.logs.as_deref())
        .or_else(|| report.error.as_ref().and_then(|e| e.logs.as_deref()));
    {
        let mut stdout = std::io::stdout().lock();
        match output {
            Output::Json => writeln!(
                stdout,
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            )?,
            Output::Text => writeln!(stdout, "{report}")?,
        }
    }
    // The function's log goes with the progress, on stderr (it is in the JSON document already).
    if let (Output::Text, false, Some(logs)) = (output, quiet, logs) {
        eprintln!("function log:\n{logs}");
    }
    if let Some(error) = &report.error {
        eprintln!("error: {}", error.message);
        return Ok(crate::exit::ERROR);
    }
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request as HttpRequest, Response as HttpResponse};
    use aws_smithy_types::body::SdkBody;

    fn lambda_answer(function_error: Option<&str>, payload: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            200.try_into().expect("status"),
            SdkBody::from(payload.to_string()),
        );
        response
            .headers_mut()
            .insert("Content-Type", "application/json");
        response
            .headers_mut()
            .insert("X-Amz-Executed-Version", "$LATEST");
        // "START RequestId ... END": what LogType=Tail returns, base64.
        response.headers_mut().insert(
            "X-Amz-Log-Result",
            base64::engine::general_purpose::STANDARD
                .encode("START RequestId: 1\nERROR boom\nEND RequestId: 1\n"),
        );
        if let Some(kind) = function_error {
            response
                .headers_mut()
                .insert("X-Amz-Function-Error", kind.to_string());
        }
        response
    }

    /// A Lambda client that answers with `answers`, in order, and records what it was sent.
    fn replay(answers: Vec<HttpResponse>) -> (StaticReplayClient, aws_sdk_lambda::Client) {
        let events = answers
            .into_iter()
            .map(|answer| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), answer))
            .collect();
        let http = StaticReplayClient::new(events);
        // Retries as stackctl's own clients have them (aws::connect), so that what Invoke turns off shows.
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http.clone())
            .build();
        (http, aws_sdk_lambda::Client::from_conf(config))
    }

    async fn invoke_remote(
        answer: HttpResponse,
    ) -> (StaticReplayClient, Result<Response, InvokeError>) {
        let (http, client) = replay(vec![answer]);
        let mut transport = Transport::Remote(Remote::new(client, "my-frontend-app-api"));
        let outcome = transport
            .invoke(&json!({"version": "2.0", "requestContext": {"http": {"method": "GET"}}}))
            .await;
        (http, outcome)
    }

    #[tokio::test]
    async fn remote_unhandled_function_error_is_a_failure_with_the_error_message() {
        let (http, outcome) = invoke_remote(lambda_answer(
            Some("Unhandled"),
            r#"{"errorType":"TypeError","errorMessage":"Cannot read properties of undefined (reading 'http')","trace":["TypeError: ...","    at handler (/var/task/handler.js:1:1)"]}"#,
        ))
        .await;
        let err = outcome.expect_err("a FunctionError is never a response");
        match &err {
            InvokeError::Function {
                kind,
                error_type,
                message,
                logs,
            } => {
                assert_eq!(kind, "Unhandled");
                assert_eq!(error_type.as_deref(), Some("TypeError"));
                assert_eq!(
                    message,
                    "Cannot read properties of undefined (reading 'http')"
                );
                assert!(
                    logs.as_deref().is_some_and(|l| l.contains("ERROR boom")),
                    "{logs:?}"
                );
            }
            other => panic!("expected a function error, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "the function failed (Unhandled FunctionError): TypeError: Cannot read properties of undefined (reading 'http')"
        );
        // What was sent: Invoke, RequestResponse, with the log tail, the event as the payload.
        let sent: Vec<_> = http.actual_requests().collect();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0]
                .uri()
                .ends_with("/2015-03-31/functions/my-frontend-app-api/invocations"),
            "{}",
            sent[0].uri()
        );
        assert_eq!(
            sent[0].headers().get("x-amz-invocation-type"),
            Some("RequestResponse")
        );
        assert_eq!(sent[0].headers().get("x-amz-log-type"), Some("Tail"));
        let body: Value =
            serde_json::from_slice(sent[0].body().bytes().expect("body")).expect("json");
        assert_eq!(body["version"], "2.0");
    }

    #[tokio::test]
    async fn remote_timeout_is_a_failure_even_without_an_error_type() {
        let (_, outcome) = invoke_remote(lambda_answer(
            Some("Unhandled"),
            r#"{"errorMessage":"2026-11-26T16:04:42.614Z 1b2c Task timed out after 10.01 seconds"}"#,
        ))
        .await;
        let err = outcome.expect_err("a timeout is a failure");
        assert!(
            err.to_string()
                .contains("Task timed out after 10.01 seconds"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn remote_5xx_status_code_in_the_payload_is_read_as_that_response() {
        let (_, outcome) = invoke_remote(lambda_answer(
            None,
            r#"{"statusCode":500,"headers":{"Content-Type":"application/json","Access-Control-Allow-Origin":"*"},"body":"{\"error\":\"Internal server error\"}"}"#,
        ))
        .await;
        let response = outcome.expect("a 500 is still a response; the smoke checks fail it");
        assert_eq!(response.status_code, 500);
        assert_eq!(response.body, json!({"error": "Internal server error"}));
        // And smoke fails it, with the body in the message.
        let failure = crate::commands::smoke::check_common(&response).expect_err("5xx fails");
        assert!(failure.contains("500"), "{failure}");
        assert!(failure.contains("Internal server error"), "{failure}");
    }

    #[tokio::test]
    async fn remote_payload_that_is_not_json_is_a_clear_failure() {
        let (_, outcome) = invoke_remote(lambda_answer(None, "<html>Bad Gateway</html>")).await;
        let err = outcome.expect_err("not JSON");
        assert!(matches!(err, InvokeError::BadPayload { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("the function's response is not JSON"),
            "{message}"
        );
        assert!(message.contains("<html>Bad Gateway</html>"), "{message}");
    }

    #[tokio::test]
    async fn remote_good_200_is_parsed() {
        let (_, outcome) = invoke_remote(lambda_answer(
            None,
            r#"{"statusCode":200,"headers":{"Content-Type":"application/json","Access-Control-Allow-Origin":"*"},"body":"{\"items\":[]}"}"#,
        ))
        .await;
        let response = outcome.expect("a good answer");
        assert_eq!(response.status_code, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("ACCESS-CONTROL-ALLOW-ORIGIN"), Some("*"));
        assert_eq!(response.body, json!({"items": []}));
        assert!(response.body_is_json);
        assert!(!response.inferred);
        assert!(response.logs.is_some());
        assert!(crate::commands::smoke::check_common(&response).is_ok());
    }

    #[tokio::test]
    async fn remote_aws_error_is_a_transport_failure() {
        let mut answer = HttpResponse::new(
            404.try_into().expect("status"),
            SdkBody::from(
                r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api"}"#,
            ),
        );
        answer
            .headers_mut()
            .insert("X-Amzn-Errortype", "ResourceNotFoundException");
        let (_, outcome) = invoke_remote(answer).await;
        let err = outcome.expect_err("not found");
        assert!(matches!(err, InvokeError::Transport(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("does not exist: run `stackctl up` first"),
            "{err}"
        );
    }

    #[test]
    fn interpret_follows_api_gateway_v2_rules() {
        // No statusCode: 200 with the JSON as the body.
        let r = interpret(None, br#"{"hello":"world"}"#, None).unwrap();
        assert_eq!((r.status_code, r.inferred), (200, true));
        assert_eq!(r.body, json!({"hello": "world"}));
        // A text body stays text; base64 bodies are decoded; numbers in headers become strings.
        let r = interpret(
            None,
            br#"{"statusCode":404,"headers":{"X-Count":3},"body":"not found"}"#,
            None,
        )
        .unwrap();
        assert_eq!(r.body, json!("not found"));
        assert!(!r.body_is_json);
        assert_eq!(r.header("x-count"), Some("3"));
        let r = interpret(
            None,
            br#"{"statusCode":200,"isBase64Encoded":true,"body":"eyJvayI6dHJ1ZX0="}"#,
            None,
        )
        .unwrap();
        assert_eq!(r.body, json!({"ok": true}));
        // No body at all.
        let r = interpret(None, br#"{"statusCode":204}"#, None).unwrap();
        assert_eq!((r.body.clone(), r.body_is_json), (Value::Null, false));
        // Not usable by API Gateway.
        for (payload, says) in [
            (&br#"{"statusCode":"200"}"#[..], "not an HTTP status code"),
            (br#"{"statusCode":1000}"#, "not an HTTP status code"),
            (br#"{"statusCode":200,"body":{"a":1}}"#, "not a string"),
            (br#"{"statusCode":200,"headers":[1]}"#, "not an object"),
            (b"", "not JSON"),
            (b"\xff\xfe", "not UTF-8"),
        ] {
            let err = interpret(None, payload, None).expect_err(says);
            assert!(err.to_string().contains(says), "{err} should say {says}");
        }
        // A FunctionError without a JSON payload still carries what was sent.
        let err = interpret(Some("Handled"), b"plain failure", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the function failed (Handled FunctionError): plain failure"
        );
    }

    #[test]
    fn runner_replies_are_recognised_by_their_marker_only() {
        let marker = "stackctl-abc";
        let (id, reply) = parse_reply(
            r#"{"stackctl-abc":3,"functionError":null,"payload":"{\"statusCode\":200}","logs":"x"}"#,
            marker,
        )
        .unwrap();
        assert_eq!(id, Some(3));
        assert_eq!(reply.payload, r#"{"statusCode":200}"#);
        assert!(reply.function_error.is_none());
        assert!(parse_reply(r#"{"statusCode":200}"#, marker).is_none());
        assert!(parse_reply("hello from the handler", marker).is_none());
        assert!(parse_reply(r#"{"stackctl-other":3,"payload":""}"#, marker).is_none());
    }

    #[test]
    fn the_local_environment_is_lambdas_plus_the_endpoint_and_stackctls_credentials() {
        let stack = crate::config::parse(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")),
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")).unwrap(),
            "2026-01-01",
        )
        .expect("the shipped stack.toml");
        let live = LiveConfig {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api".into(),
            runtime: "nodejs24.x".into(),
            environment: [
                ("TABLE_NAME".to_string(), "live-table".to_string()),
                ("LOG_LEVEL".to_string(), "debug".to_string()),
            ]
            .into(),
            timeout_secs: 10,
            memory_mb: 256,
            code_sha256: String::new(),
        };
        let creds = Credentials::new("AKIDRESOLVED", "secret", Some("token".into()), None, "test");
        let inherited = [
            ("PATH", "/usr/bin"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_PROFILE", "someone"),
            ("AWS_ACCESS_KEY_ID", "AKIDFROMSHELL"),
            ("AWS_REGION", "eu-west-1"),
            ("TABLE_NAME", "from-the-shell"),
            ("SECRET_OF_THE_SHELL", "x"),
            ("https_proxy", "http://proxy:3128"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()));
        let env = child_env(
            inherited,
            &ChildSettings {
                stack: &stack,
                live: &live,
                credentials: Some(&creds),
                log_stream: "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef".into(),
            },
        );
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("TABLE_NAME"), Some("live-table"));
        assert_eq!(get("LOG_LEVEL"), Some("debug"));
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKIDRESOLVED"));
        assert_eq!(get("AWS_SESSION_TOKEN"), Some("token"));
        assert_eq!(
            get("AWS_PROFILE"),
            None,
            "the JS SDK would skip env credentials"
        );
        assert_eq!(get("AWS_REGION"), Some("us-east-1"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("my-frontend-app-api"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get("AWS_EXECUTION_ENV"), Some("AWS_Lambda_nodejs24.x"));
        assert_eq!(
            get("AWS_LAMBDA_LOG_GROUP_NAME"),
            Some("/aws/lambda/my-frontend-app-api")
        );
        assert_eq!(
            get("AWS_LAMBDA_LOG_STREAM_NAME"),
            Some("2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef")
        );
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(get("https_proxy"), Some("http://proxy:3128"));
        assert_eq!(get("SECRET_OF_THE_SHELL"), None);
    }

    // ---- the local runner, on the handlers in tests/fixtures/runner -------------------------------------

    fn fixtures() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/runner"
        ))
    }

    async fn runner_with(handler: &str, timeout_secs: u64, refuse_callbacks: bool) -> Local {
        let env = [
            (
                "PATH".to_string(),
                std::env::var("PATH").unwrap_or_default(),
            ),
            (
                "AWS_LAMBDA_FUNCTION_NAME".to_string(),
                "fixture".to_string(),
            ),
        ]
        .into();
        Local::start(
            RunnerSpec {
                task_root: fixtures(),
                handler: handler.into(),
                handler_file: fixtures().join(handler),
                timeout_secs,
                memory_mb: 128,
                refuse_callbacks,
                env,
            },
            Progress::new(crate::progress::Mode::Quiet),
        )
        .await
        .expect("the runner starts")
    }

    async fn runner(timeout_secs: u64) -> Local {
        runner_with("lifecycle.handler", timeout_secs, true).await
    }

    async fn call(local: &mut Local, mode: &str) -> Result<Response, InvokeError> {
        local.invoke(&json!({ "mode": mode })).await
    }

    /// The handler's `invocations` counter: 1 on a fresh runtime.
    async fn count(local: &mut Local, mode: &str) -> (u64, Option<String>) {
        let r = call(local, mode).await.expect("a healthy request answers");
        (r.body["invocations"].as_u64().expect("a count"), r.logs)
    }

    #[track_caller]
    fn function_error(outcome: Result<Response, InvokeError>) -> (String, String, Option<String>) {
        match outcome {
            Err(InvokeError::Function {
                kind,
                error_type,
                message,
                logs,
            }) => {
                assert_eq!(kind, "Unhandled");
                (error_type.unwrap_or_default(), message, logs)
            }
            other => panic!("expected a FunctionError, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn module_state_survives_successful_invocations_and_an_uncaught_exception_ends_the_runtime(
    ) {
        let mut local = runner(10).await;
        assert_eq!(count(&mut local, "count").await.0, 1);
        assert_eq!(count(&mut local, "count").await.0, 2);
        let (error_type, message, _) = function_error(call(&mut local, "uncaught").await);
        assert_eq!(
            (error_type.as_str(), message.as_str()),
            ("Error", "thrown from a timer")
        );
        // The timer that keeps throwing died with the old runtime: a fresh one answers, with fresh state.
        let (invocations, logs) = count(&mut local, "slow").await;
        assert_eq!(invocations, 1);
        assert!(logs.is_none(), "{logs:?}");
        assert_eq!(local.starts, 2);
        local.close().await;
    }

    #[tokio::test]
    async fn a_timeout_ends_the_runtime_and_its_late_throw_never_reaches_the_next_request() {
        let mut local = runner(1).await;
        let (error_type, message, _) = function_error(call(&mut local, "hang").await);
        assert_eq!(error_type, "Sandbox.Timedout");
        assert!(
            message.ends_with("Task timed out after 1.00 seconds"),
            "{message}"
        );
        // The hung invocation throws 300ms after its timeout, while this one runs: not here.
        let (invocations, logs) = count(&mut local, "slow").await;
        assert_eq!(invocations, 1);
        assert!(logs.is_none(), "{logs:?}");
        local.close().await;
    }

    #[tokio::test]
    async fn a_busy_loop_is_a_timeout_too() {
        let mut local = runner(1).await;
        let (error_type, _, _) = function_error(call(&mut local, "busy").await);
        assert_eq!(error_type, "Sandbox.Timedout");
        assert_eq!(count(&mut local, "count").await.0, 1);
        local.close().await;
    }

    #[tokio::test]
    async fn an_unhandled_rejection_ends_the_runtime() {
        let mut local = runner(10).await;
        let (error_type, message, _) = function_error(call(&mut local, "rejection").await);
        assert_eq!(error_type, "Runtime.UnhandledPromiseRejection");
        assert_eq!(message, "Error: nobody awaits me");
        assert_eq!(count(&mut local, "slow").await.0, 1);
        local.close().await;
    }

    #[tokio::test]
    async fn process_exit_is_a_runtime_exit_error_and_a_fresh_runtime_serves_the_next_request() {
        let mut local = runner(10).await;
        assert_eq!(count(&mut local, "count").await.0, 1);
        let (error_type, message, logs) = function_error(call(&mut local, "exit").await);
        assert_eq!(error_type, "Runtime.ExitError");
        assert!(
            message.starts_with("RequestId: ")
                && message.ends_with("Error: Runtime exited with error: exit status 3"),
            "{message}"
        );
        assert!(logs.is_some_and(|l| l.contains("exiting")));
        assert_eq!(count(&mut local, "count").await.0, 1);
        local.close().await;
    }

    #[tokio::test]
    async fn a_throw_between_invocations_replaces_the_runtime_before_the_next_request() {
        let mut local = runner(10).await;
        assert_eq!(count(&mut local, "late-idle").await.0, 1);
        // The timer the last invocation left throws now, while nothing runs.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (invocations, logs) = count(&mut local, "count").await;
        assert_eq!(invocations, 1);
        assert!(logs.is_none(), "{logs:?}");
        local.close().await;
    }

    #[tokio::test]
    async fn callback_handlers_are_refused_at_init_where_the_runtime_refuses_them() {
        let mut refused = runner_with("callback.handler", 10, true).await;
        let (error_type, message, _) = function_error(refused.invoke(&json!({})).await);
        assert_eq!(error_type, "Runtime.CallbackHandlerDeprecated");
        assert!(
            message.starts_with("ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24."),
            "{message}"
        );
        refused.close().await;
        let mut allowed = runner_with("callback.handler", 10, false).await;
        let r = allowed
            .invoke(&json!({}))
            .await
            .expect("nodejs22.x runs it");
        assert_eq!(r.body, json!({"ok": true}));
        allowed.close().await;
    }

    #[tokio::test]
    async fn init_errors_are_classified_as_the_runtime_does() {
        for (handler, want_type, want_message) in [
            (
                "syntax.handler",
                "Runtime.UserCodeSyntaxError",
                "SyntaxError: ",
            ),
            (
                "missing-module.handler",
                "Runtime.ImportModuleError",
                "Error: Cannot find module './not-bundled'",
            ),
            ("init-throws.handler", "TypeError", "no config at init"),
            (
                "lifecycle.nope",
                "Runtime.HandlerNotFound",
                "lifecycle.nope is undefined or not exported",
            ),
            ("lifecycle", "Runtime.MalformedHandlerName", "Bad handler"),
        ] {
            let mut local = runner_with(handler, 10, true).await;
            let (error_type, message, _) = function_error(local.invoke(&json!({})).await);
            assert_eq!(error_type, want_type, "{handler}: {message}");
            assert!(message.starts_with(want_message), "{handler}: {message}");
            local.close().await;
        }
        // The module ends at the first dot after the last `/`; the rest is an export path.
        let mut local = runner_with("nested/app.handlers.main", 10, true).await;
        let r = local.invoke(&json!({})).await.expect("a nested export");
        assert_eq!(r.body, json!({"nested": true}));
        local.close().await;
    }

    #[test]
    fn log_streams_are_named_as_lambda_names_them() {
        let name = log_stream_name();
        let (date, rest) = name.split_once("/[$LATEST]").expect("a [$LATEST] stream");
        assert_eq!(date, crate::runtimes::today().replace('-', "/"));
        assert_eq!(rest.len(), 32);
        assert!(rest.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }

    #[test]
    fn handler_strings_split_where_lambda_splits_them() {
        assert_eq!(
            split_handler("handler.handler"),
            Some(("handler", "handler"))
        );
        assert_eq!(
            split_handler("dist/app.handlers.main"),
            Some(("dist/app", "handlers.main"))
        );
        assert_eq!(split_handler("v1.2/app.main"), Some(("v1.2/app", "main")));
        assert_eq!(split_handler("dist/app"), None);
    }

    #[tokio::test]
    async fn payloads_over_lambdas_6_mb_limits_fail_as_on_lambda() {
        let mut local = runner(10).await;
        let (error_type, message, _) = function_error(call(&mut local, "big").await);
        assert_eq!(error_type, "Function.ResponseSizeTooLarge");
        assert_eq!(
            message,
            "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
        );
        let big = json!({ "mode": "count", "body": "A".repeat(MAX_REQUEST_BYTES) });
        match local.invoke(&big).await {
            Err(InvokeError::Transport(err)) => assert_eq!(
                err.to_string(),
                "RequestEntityTooLargeException: Request must be smaller than 6291456 bytes for the InvokeFunction operation"
            ),
            other => panic!("expected Lambda's 413, got {other:?}"),
        }
        // Neither ran anything, and the runtime is as it was.
        assert_eq!(count(&mut local, "count").await.0, 2);
        local.close().await;
    }

    #[tokio::test]
    async fn the_functions_memory_bounds_the_heap() {
        let mut local = runner(10).await;
        let r = call(&mut local, "heap").await.expect("answers");
        let limit = r.body["heapLimitMb"].as_u64().expect("a number");
        // 128 MB: 116 MB of old space plus the young generation (Node's own default is 2 GB or more).
        assert!((100..=160).contains(&limit), "heap limit {limit} MB");
        local.close().await;
    }

    #[test]
    fn local_notes_name_the_node_version_gap_and_the_credentials() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api";
        let notes = local_notes("v20.20.2", "nodejs24.x", arn);
        assert_eq!(notes.len(), 2);
        assert!(
            notes[0].starts_with(
                "the local Node.js is v20.20.2 but the function runs nodejs24.x (Node.js 24)"
            ),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].contains(
                "with your AWS credentials, not the execution role of `my-frontend-app-api`"
            ),
            "{}",
            notes[1]
        );
        assert_eq!(local_notes("v24.1.0", "nodejs24.x", arn).len(), 1);
    }

    // ---- remote: waiting for the function, and what is retried ------------------------------------------

    fn error_answer(status: u16, error_type: &str, message: &str) -> HttpResponse {
        let mut answer = HttpResponse::new(
            status.try_into().expect("status"),
            SdkBody::from(json!({"Type": "Service", "message": message}).to_string()),
        );
        answer
            .headers_mut()
            .insert("X-Amzn-Errortype", error_type.to_string());
        answer
            .headers_mut()
            .insert("Content-Type", "application/json");
        answer
    }

    async fn invoke_with(answers: Vec<HttpResponse>) -> (usize, Result<Response, InvokeError>) {
        let (http, client) = replay(answers);
        let mut transport = Transport::Remote(Remote {
            retry_delay: Duration::from_millis(5),
            ..Remote::new(client, "my-frontend-app-api")
        });
        let outcome = transport.invoke(&json!({"version": "2.0"})).await;
        (http.actual_requests().count(), outcome)
    }

    #[tokio::test]
    async fn a_5xx_from_invoke_is_sent_once_never_retried() {
        let (sent, outcome) = invoke_with(vec![
            error_answer(500, "ServiceException", "internal failure"),
            lambda_answer(None, r#"{"statusCode":200}"#),
        ])
        .await;
        assert_eq!(sent, 1, "a retried Invoke may run the function twice");
        let err = outcome.expect_err("a 500 is no answer");
        assert!(
            err.to_string()
                .contains("the function may or may not have run"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_throttled_or_pending_invoke_is_retried_as_it_did_not_run() {
        let (sent, outcome) = invoke_with(vec![
            error_answer(429, "TooManyRequestsException", "Rate Exceeded."),
            error_answer(
                409,
                "ResourceConflictException",
                "The operation cannot be performed at this time. The function is currently in the following state: Pending",
            ),
            lambda_answer(None, r#"{"statusCode":200,"headers":{},"body":"{}"}"#),
        ])
        .await;
        assert_eq!(sent, 3);
        assert_eq!(outcome.expect("the third attempt answers").status_code, 200);

        let throttled = (0..INVOKE_ATTEMPTS)
            .map(|_| error_answer(429, "TooManyRequestsException", "Rate Exceeded."))
            .collect();
        let (sent, outcome) = invoke_with(throttled).await;
        assert_eq!(sent, INVOKE_ATTEMPTS as usize, "bounded");
        let err = outcome.expect_err("still throttled");
        assert!(
            err.to_string().contains("still refused after 8 attempts"),
            "{err}"
        );
    }

    fn config_answer(state: &str, last_update: &str, memory: i32) -> HttpResponse {
        let mut answer = HttpResponse::new(
            200.try_into().expect("status"),
            SdkBody::from(
                json!({
                    "FunctionName": "my-frontend-app-api",
                    "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api",
                    "Runtime": "nodejs24.x",
                    "State": state,
                    "LastUpdateStatus": last_update,
                    "MemorySize": memory,
                    "Timeout": 10,
                })
                .to_string(),
            ),
        );
        answer
            .headers_mut()
            .insert("Content-Type", "application/json");
        answer
    }

    #[tokio::test]
    async fn invoking_waits_for_active_and_for_the_last_update_to_finish() {
        let stack = shipped_stack();
        let (http, client) = replay(vec![
            config_answer("Pending", "InProgress", 128),
            config_answer("Active", "InProgress", 128),
            config_answer("Active", "Successful", 256),
        ]);
        let progress = Progress::new(crate::progress::Mode::Quiet);
        let live = wait_invocable(&client, &stack, &progress)
            .await
            .expect("ready");
        assert_eq!(http.actual_requests().count(), 3);
        // What the function is once the update is over, not what it was while it ran.
        assert_eq!(live.memory_mb, 256);

        let (http, client) = replay(vec![config_answer("Active", "Successful", 128)]);
        wait_invocable(&client, &stack, &progress)
            .await
            .expect("ready at once");
        assert_eq!(http.actual_requests().count(), 1, "no wait when ready");

        let (_, client) = replay(vec![config_answer("Failed", "Failed", 128)]);
        let err = wait_invocable(&client, &stack, &progress)
            .await
            .expect_err("a Failed function cannot run");
        assert!(err.to_string().contains("State is Failed"), "{err}");
    }

    fn shipped_stack() -> Stack {
        crate::config::parse(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")),
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")).unwrap(),
            "2026-01-01",
        )
        .expect("the shipped stack.toml")
    }
}
