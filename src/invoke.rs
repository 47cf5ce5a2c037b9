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
use aws_sdk_lambda::config::ProvideCredentials;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::aws::Clients;
use crate::cli::{Global, Output};
use crate::config::{ConfigError, Stack};
use crate::progress::{format_duration, Progress};
use crate::report::SCHEMA_VERSION;

/// The runner script, written to a temp file and run with `node`.
const NODE_RUNNER: &str = include_str!("node_runner.mjs");

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
struct LiveConfig {
    arn: String,
    environment: BTreeMap<String, String>,
    timeout_secs: u64,
    memory_mb: i32,
    code_sha256: String,
}

async fn live_config(clients: &Clients, stack: &Stack) -> Result<LiveConfig> {
    let name = &stack.function.name;
    let config = match clients
        .lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(config) => config,
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
        Err(err) => {
            return Err(err).with_context(|| format!("reading Lambda function `{name}`"));
        }
    };
    Ok(LiveConfig {
        arn: config.function_arn().unwrap_or_default().to_string(),
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
    })
}

impl Transport {
    /// Checks the function is deployed, then opens the transport (for `Local`: starts Node.js with the
    /// built handler and the function's live environment).
    pub async fn open(
        clients: &Clients,
        stack: &Stack,
        local: bool,
        profile: Option<&str>,
        progress: &Progress,
    ) -> Result<Transport> {
        let live = live_config(clients, stack).await?;
        if !local {
            return Ok(Transport::Remote(Remote {
                client: clients.lambda.clone(),
                function: stack.function.name.clone(),
            }));
        }
        let (file, export) = handler_file(stack)?;
        if let Ok(package) = crate::package::pack(&stack.function.artifact_dir) {
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
            },
        );
        let local = Local::start(
            &file,
            &export,
            &stack.function.artifact_dir,
            live.timeout_secs,
            env,
        )
        .await?;
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

    /// For people: how events are delivered.
    pub fn describe(&self) -> String {
        match self {
            Transport::Remote(_) => "Lambda Invoke".to_string(),
            Transport::Local(local) => format!(
                "local Node.js {} running {}",
                local.node_version,
                display_path(&local.handler_file)
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

/// The deployed function, through Lambda Invoke.
pub struct Remote {
    pub client: aws_sdk_lambda::Client,
    pub function: String,
}

impl Remote {
    async fn invoke(&self, event: &Value) -> Result<Response, InvokeError> {
        let payload = serde_json::to_vec(event)
            .map_err(|err| InvokeError::Transport(anyhow!("serializing the event: {err}")))?;
        let out = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            .log_type(LogType::Tail)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|err| {
                let not_found = err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception());
                let err = anyhow::Error::new(err);
                InvokeError::Transport(if not_found {
                    err.context(format!(
                        "Lambda function `{}` does not exist: run `stackctl up` first",
                        self.function
                    ))
                } else {
                    err.context(format!("invoking Lambda function `{}`", self.function))
                })
            })?;
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
}

/// Finds the built handler file for `function.handler` (`<file>.<export>`, the file relative to the
/// artifact dir, with the extensions the Lambda Node.js runtime tries).
fn handler_file(stack: &Stack) -> Result<(PathBuf, String)> {
    let spec = &stack.function;
    let (module, export) = spec.handler.rsplit_once('.').ok_or_else(|| {
        anyhow!(
            "`function.handler` `{}` is not <file>.<export>",
            spec.handler
        )
    })?;
    let base = spec.artifact_dir.join(module);
    for ext in ["js", "mjs", "cjs"] {
        let candidate = base.with_file_name(format!(
            "{}.{ext}",
            base.file_name().unwrap_or_default().to_string_lossy()
        ));
        if candidate.is_file() {
            return Ok((candidate, export.to_string()));
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

struct ChildSettings<'a> {
    stack: &'a Stack,
    live: &'a LiveConfig,
    credentials: Option<&'a aws_sdk_lambda::config::Credentials>,
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
    for (key, value) in [
        ("AWS_REGION", s.stack.region.clone()),
        ("AWS_DEFAULT_REGION", s.stack.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            s.live.memory_mb.to_string(),
        ),
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

/// The built handler in one local Node.js process that serves every invocation of a run, one at a time.
pub struct Local {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    marker: String,
    next_id: u64,
    timeout: Duration,
    /// Set once the process is unusable (died, hung); every later invocation fails with it.
    broken: Option<String>,
    pub node_version: String,
    pub handler_file: PathBuf,
    /// Holds the runner script.
    _dir: tempfile::TempDir,
}

/// One line from the runner.
#[derive(Debug, serde::Deserialize)]
struct Reply {
    #[serde(rename = "functionError")]
    function_error: Option<String>,
    #[serde(default)]
    payload: String,
    #[serde(default)]
    logs: String,
    #[serde(default)]
    node: Option<String>,
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

impl Local {
    async fn start(
        file: &Path,
        export: &str,
        task_root: &Path,
        timeout_secs: u64,
        env: BTreeMap<String, String>,
    ) -> Result<Local> {
        let dir = tempfile::Builder::new()
            .prefix("stackctl-local-")
            .tempdir()
            .context("creating a temp dir for the local runner")?;
        let script = dir.path().join("runner.mjs");
        std::fs::write(&script, NODE_RUNNER).context("writing the local runner script")?;
        let marker = format!("stackctl-{}", crate::smoke::random_hex());
        let node = std::env::var("STACKCTL_NODE").unwrap_or_else(|_| "node".to_string());
        let mut child = tokio::process::Command::new(&node)
            .arg(&script)
            .arg(file)
            .arg(export)
            .arg(timeout_secs.to_string())
            .arg(&marker)
            .env_clear()
            .envs(&env)
            // Lambda runs the handler with the package root (/var/task) as the working directory.
            .current_dir(task_root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
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
        let mut local = Local {
            child,
            stdin,
            stdout,
            stderr,
            marker,
            next_id: 0,
            timeout: Duration::from_secs(timeout_secs),
            broken: None,
            node_version: String::new(),
            handler_file: file.to_path_buf(),
            _dir: dir,
        };
        let ready = tokio::time::timeout(Duration::from_secs(60), local.read_reply(Some(0)))
            .await
            .map_err(|_| anyhow!("the local Node.js runner did not start within 60s"))
            .and_then(|r| r.map_err(|e| anyhow!("{e}")))
            .context("starting the local handler")?;
        local.node_version = ready.node.unwrap_or_else(|| "(unknown version)".into());
        Ok(local)
    }

    async fn invoke(&mut self, event: &Value) -> Result<Response, InvokeError> {
        if let Some(reason) = &self.broken {
            return Err(InvokeError::Transport(anyhow!("{reason}")));
        }
        self.next_id += 1;
        let id = self.next_id;
        let mut line = json!({ "id": id, "event": event }).to_string();
        line.push('\n');
        let written = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .await
                .and(stdin.flush().await),
            None => Err(std::io::Error::other("stdin closed")),
        };
        if let Err(err) = written {
            return Err(self
                .fail(format!(
                    "cannot send the event to the local Node.js process ({err})"
                ))
                .await);
        }
        // The runner enforces the function's timeout itself; this only catches a process that hangs.
        let limit = self.timeout + Duration::from_secs(10);
        let reply = match tokio::time::timeout(limit, self.read_reply(Some(id))).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(self
                    .fail(format!(
                        "the local Node.js process did not answer within {}s (function timeout {}s + 10s)",
                        limit.as_secs(),
                        self.timeout.as_secs()
                    ))
                    .await)
            }
        };
        let logs = Some(reply.logs).filter(|l| !l.trim().is_empty());
        interpret(
            reply.function_error.as_deref(),
            reply.payload.as_bytes(),
            logs,
        )
    }

    /// Reads runner lines until the reply with `id`; other output is not protocol and is skipped.
    async fn read_reply(&mut self, id: Option<u64>) -> Result<Reply, InvokeError> {
        loop {
            match self.stdout.next_line().await {
                Ok(Some(line)) => match parse_reply(&line, &self.marker) {
                    Some((got, reply)) if got == id || got.is_none() => return Ok(reply),
                    _ => continue,
                },
                Ok(None) => {
                    return Err(self
                        .fail("the local Node.js process exited".to_string())
                        .await)
                }
                Err(err) => {
                    return Err(self
                        .fail(format!("reading from the local Node.js process: {err}"))
                        .await)
                }
            }
        }
    }

    /// Marks the process unusable, stops it, and explains with the tail of its stderr.
    async fn fail(&mut self, what: String) -> InvokeError {
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        // Give the stderr reader a moment to drain.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stderr = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut message = what;
        if let Some(status) = status {
            message.push_str(&format!(" ({status})"));
        }
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        if !tail.is_empty() {
            message.push_str(":\n");
            message.push_str(&tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        }
        self.broken = Some(message.clone());
        InvokeError::Transport(anyhow!(message))
    }

    async fn close(mut self) {
        // Closing stdin ends the runner's loop; it exits without waiting for the handler's open sockets.
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
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
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
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
        let mut transport = Transport::Remote(Remote {
            client,
            function: "my-frontend-app-api".into(),
        });
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
        let failure = crate::smoke::check_common(&response).expect_err("5xx fails");
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
        assert!(crate::smoke::check_common(&response).is_ok());
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
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(get("https_proxy"), Some("http://proxy:3128"));
        assert_eq!(get("SECRET_OF_THE_SHELL"), None);
    }
}
