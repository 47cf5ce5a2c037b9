//! The built handler in a local Node.js process, as one Lambda execution environment would run it: the
//! variables stack.toml declares (never the deployed function's: they are configuration to compare, not code
//! to run next to the developer's credentials), the variables Lambda sets and the same AWS endpoint settings,
//! through a small embedded runner (`node_runner.mjs`) that answers JSON lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use super::event::{excerpt, interpret, InvokeError, Response};
use super::random_hex;
use crate::config::Stack;
use crate::progress::Progress;
use crate::runtimes;

/// The runner script, written to a temp file and run with `node`.
const NODE_RUNNER: &str = include_str!("../handler/node_runner.mjs");

/// What the live function looks like, read once before invoking.
#[derive(Debug)]
pub(super) struct LiveConfig {
    pub(super) arn: String,
    pub(super) runtime: String,
    /// The live function's variables: compared with what stack.toml declares, never passed to a local run.
    pub(super) environment: BTreeMap<String, String>,
    pub(super) timeout_secs: u64,
    pub(super) memory_mb: i32,
    pub(super) code_sha256: String,
}

impl LiveConfig {
    pub(super) fn from_output(
        config: &GetFunctionConfigurationOutput,
        stack: &Stack,
    ) -> LiveConfig {
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

/// The function's own variables for a local run: those stack.toml's `[function.environment]` declares, with
/// their placeholders resolved for the live function's account (`${table.arn}`, `${account_id}`), and
/// stackctl's own (`STACKCTL_CORS`), exactly as `up` would deploy them and as `dev` runs them. Never the live
/// function's: anyone allowed `lambda:UpdateFunctionConfiguration` can set `NODE_OPTIONS`, `AWS_ENDPOINT_URL*`,
/// a proxy, `PATH` or `LD_PRELOAD` there, and a local run holds the developer's credentials.
pub(super) fn declared_environment(
    stack: &Stack,
    live: &LiveConfig,
) -> Result<BTreeMap<String, String>> {
    let account = crate::aws::Account::from_arn(&live.arn).ok_or_else(|| {
        anyhow!(
            "Lambda answered a function ARN without an account: `{}`",
            live.arn
        )
    })?;
    crate::resources::function::declared_environment(stack, &account, None, Some(&live.environment))
}

/// Says which of the live function's variables a local run leaves out or gives another value (names only:
/// values can be secrets), and how to have them locally.
pub(super) fn environment_note(
    live: &BTreeMap<String, String>,
    declared: &BTreeMap<String, String>,
) -> Option<String> {
    let names = |names: Vec<&String>| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let left_out: Vec<&String> = live.keys().filter(|k| !declared.contains_key(*k)).collect();
    let differ: Vec<&String> = live
        .iter()
        .filter(|(k, v)| declared.get(*k).is_some_and(|d| d != *v))
        .map(|(k, _)| k)
        .collect();
    let mut parts = Vec::new();
    if !left_out.is_empty() {
        parts.push(format!(
            "the deployed function also has {}, which stack.toml does not declare: not passed",
            names(left_out)
        ));
    }
    if !differ.is_empty() {
        parts.push(format!(
            "{} differ{} from the deployed function's: stack.toml's value is used",
            names(differ.clone()),
            if differ.len() == 1 { "s" } else { "" }
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "--local passes only the variables stack.toml declares ([function.environment]) and those Lambda \
             sets; {} (declare a variable in stack.toml to have it locally; `stackctl up` deploys it)",
            parts.join("; ")
        )
    })
}

/// What `--local` says about itself on stderr: the local Node.js is not the runtime's (when the majors
/// differ), and the handler runs with the caller's credentials, not the function's execution role.
pub(super) fn local_notes(node_version: &str, runtime: &str, arn: &str) -> Vec<String> {
    let mut notes: Vec<String> = node_version_note(node_version, runtime)
        .into_iter()
        .collect();
    let role = arn.rsplit(':').next().unwrap_or(arn);
    notes.push(format!(
        "--local runs the handler with your AWS credentials, not the execution role of `{role}`: a call its role may not make can still succeed here"
    ));
    notes
}

/// The local Node.js major version is not the runtime's: said by `--local` and by `dev`.
pub fn node_version_note(node_version: &str, runtime: &str) -> Option<String> {
    let local_major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if let (Some(local), Some(wanted)) = (local_major, runtimes::node_major(runtime)) {
        if local != wanted {
            return Some(format!(
                "the local Node.js is {node_version} but the function runs {runtime} (Node.js {wanted}): language features, built-in modules and the bundled AWS SDK may differ"
            ));
        }
    }
    None
}

/// Lambda's reading of a handler string: the module ends at the first dot after the last `/`, the rest is
/// the export path (`dist/app.handlers.main`: module `dist/app`, export `handlers.main`).
fn split_handler(handler: &str) -> Option<(&str, &str)> {
    let start = handler.rfind('/').map_or(0, |slash| slash + 1);
    let dot = start + handler[start..].find('.')?;
    Some((&handler[..dot], &handler[dot + 1..]))
}

/// The module part of `function.handler` (`handler` of `handler.handler`).
fn handler_module(handler: &str) -> Result<&str> {
    split_handler(handler)
        .map(|(module, _)| module)
        .ok_or_else(|| anyhow!("`function.handler` `{handler}` is not <file>.<export>"))
}

/// Finds the built module `function.handler` names, relative to the artifact dir (Lambda's task root),
/// with the extensions the Lambda Node.js runtime tries, in its order.
pub(super) fn handler_file(stack: &Stack) -> Result<PathBuf> {
    let spec = &stack.function;
    let module = handler_module(&spec.handler)?;
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
pub(super) fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// The runner `stackctl dev` starts: the function as the stack file describes it (not as deployed), with
/// its resolved `environment`, running the package unzipped in `task_root` (Lambda's /var/task).
pub fn dev_spec(
    stack: &Stack,
    function_arn: &str,
    environment: BTreeMap<String, String>,
    task_root: &Path,
    credentials: Option<&aws_sdk_lambda::config::Credentials>,
) -> Result<RunnerSpec> {
    let spec = &stack.function;
    let module = handler_module(&spec.handler)?;
    let live = LiveConfig {
        arn: function_arn.to_string(),
        runtime: spec.runtime.clone(),
        environment,
        timeout_secs: spec.timeout_secs.max(1) as u64,
        memory_mb: spec.memory_mb,
        code_sha256: String::new(),
    };
    let env = child_env(
        std::env::vars_os(),
        &ChildSettings {
            stack,
            live: &live,
            environment: &live.environment,
            credentials,
            log_stream: log_stream_name(),
        },
    );
    Ok(RunnerSpec {
        task_root: task_root.to_path_buf(),
        handler: spec.handler.clone(),
        handler_file: spec.artifact_dir.join(format!("{module}.js")),
        timeout_secs: live.timeout_secs,
        memory_mb: live.memory_mb,
        refuse_callbacks: runtimes::refuses_callback_handlers(&live.runtime),
        env,
    })
}

/// A log stream name as Lambda makes them: `2026/11/26/[$LATEST]<32 hex digits>`.
pub(super) fn log_stream_name() -> String {
    let today = crate::runtimes::today().replace('-', "/");
    format!("{today}/[$LATEST]{}{}", random_hex(), random_hex())
}

pub(super) struct ChildSettings<'a> {
    pub(super) stack: &'a Stack,
    pub(super) live: &'a LiveConfig,
    /// The function's own variables: `declared_environment` (dev: the same, from its own resolve).
    pub(super) environment: &'a BTreeMap<String, String>,
    pub(super) credentials: Option<&'a aws_sdk_lambda::config::Credentials>,
    pub(super) log_stream: String,
}

/// The local handler's environment, as close to Lambda's as makes sense: nothing from the shell except
/// what Node.js and the AWS SDK need to run and reach the same endpoint (PATH, HOME, proxies, CA bundles,
/// AWS_* settings such as AWS_ENDPOINT_URL), then the credentials stackctl itself resolved, the stack's
/// region, the variables Lambda sets, and the function's own variables as stack.toml declares them (never the
/// live function's).
pub(super) fn child_env(
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
    for (key, value) in s.environment {
        env.insert(key.clone(), value.clone());
    }
    env
}

/// Lambda's payload limits for a synchronous invocation: the request (the event) and the response (the
/// function's serialized result). The response limit really is 100 bytes above 6 MiB.
pub const MAX_REQUEST_BYTES: usize = 6_291_456;
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

/// Everything needed to start (and restart) the local runner.
#[derive(Debug, Clone)]
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
    pub(super) spec: RunnerSpec,
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
    /// Its process (group) id while the process is not reaped (`interrupt::track_group`): killed with its
    /// whole group by [`end_group`] before anything reaps it, and by a second Ctrl-C until then.
    pid: Option<u32>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // `kill_on_drop` ends the runner only; its group holds what the handler started.
        end_group(self);
    }
}

/// Kills the runner's whole process group (the handler's subprocesses too, as Lambda ends an environment) and
/// stops tracking it. Must run before the runner is reaped, while its PID still names our group.
fn end_group(runner: &mut Runner) {
    if let Some(pid) = runner.pid.take() {
        crate::interrupt::end_group(pid);
    }
}

/// Whether the runner has ended, without reaping it (its group id stays ours until `end_group`).
fn has_exited(runner: &mut Runner) -> bool {
    #[cfg(unix)]
    if let Some(pid) = runner.pid {
        let pid: libc::id_t = pid;
        // SAFETY: waitid writes only into `info`, which is zeroed; WNOWAIT leaves the child unreaped.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let rc = libc::waitid(
                libc::P_PID,
                pid,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            );
            return rc != 0 || info.si_pid() != 0;
        }
    }
    !matches!(runner.child.try_wait(), Ok(None))
}

/// Waits up to `limit` for the runner to end by itself, without reaping it.
async fn wait_exited(runner: &mut Runner, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if has_exited(runner) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

/// What the function answered, before anyone reads it as HTTP: Lambda's FunctionError (`Unhandled` for a
/// thrown error, a timeout or a runtime's end) and the payload, with what the handler printed.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub function_error: Option<String>,
    pub payload: Vec<u8>,
    pub logs: Option<String>,
}

fn raw_answer(
    function_error: Option<&str>,
    payload: &[u8],
    logs: Option<String>,
) -> Result<RawAnswer, InvokeError> {
    Ok(RawAnswer {
        function_error: function_error.map(str::to_string),
        payload: payload.to_vec(),
        logs,
    })
}

/// How one attempt to deliver an event ended.
enum Delivery {
    Answered(Result<RawAnswer, InvokeError>),
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
            marker: format!("stackctl-{}", random_hex()),
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
        let pid = child.id();
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
            pid,
        };
        if let Some(pid) = pid {
            crate::interrupt::track_group(pid);
        }
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

    /// Sends one event and reads the answer as API Gateway would (smoke, invoke).
    pub(super) async fn invoke(&mut self, event: &Value) -> Result<Response, InvokeError> {
        let raw = self.invoke_raw(event).await?;
        interpret(raw.function_error.as_deref(), &raw.payload, raw.logs)
    }

    /// Sends one event and returns the function's raw answer (dev reads it as a function URL does).
    pub async fn invoke_raw(&mut self, event: &Value) -> Result<RawAnswer, InvokeError> {
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
            Some(runner) => match has_exited(runner) {
                false => !runner.in_flight,
                true if !runner.in_flight => {
                    end_group(runner);
                    let status = runner.child.try_wait().ok().flatten();
                    let why = ended_why(runner, &self.marker).await;
                    self.progress.warn(&format!(
                        "the local runtime ended ({}); a fresh one serves the next request",
                        excerpt(
                            &why.unwrap_or_else(|| format!(
                                "{} between invocations",
                                describe_exit(status)
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
        let request_id = format!("local-{}", random_hex());
        let reply = match read {
            Ok(Some(reply)) => reply,
            Ok(None) => {
                // No answer and no word: killed (out of memory, a signal). Lambda reports the runtime's end.
                let status = stop_after(runner, Duration::from_secs(2)).await;
                let logs = Some(stderr_tail(&runner.stderr)).filter(|t| !t.trim().is_empty());
                self.runner = None;
                return Delivery::Answered(raw_answer(
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
                return Delivery::Answered(raw_answer(
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
            return Delivery::Answered(raw_answer(
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
            return Delivery::Answered(raw_answer(
                Some("Unhandled"),
                payload.to_string().as_bytes(),
                logs,
            ));
        }
        Delivery::Answered(raw_answer(
            reply.function_error.as_deref(),
            reply.payload.as_bytes(),
            logs,
        ))
    }

    pub async fn close(mut self) {
        if let Some(mut runner) = self.runner.take() {
            // Closing stdin ends the runner's loop; it exits without waiting for the handler's open sockets.
            drop(runner.stdin.take());
            wait_exited(&mut runner, Duration::from_secs(5)).await;
            // Whatever the handler left running in its group ends with it; only then is it reaped.
            end_group(&mut runner);
            let _ = runner.child.kill().await;
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
        wait_exited(runner, grace).await;
    }
    // Its group first (a runner that already ended keeps its own status), then reap it.
    end_group(runner);
    let _ = runner.child.start_kill();
    let status = tokio::time::timeout(Duration::from_secs(5), runner.child.wait())
        .await
        .ok()
        .and_then(Result::ok);
    // Give the stderr reader a moment to drain.
    tokio::time::sleep(Duration::from_millis(20)).await;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::config::Credentials;

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

    fn shipped_stack(extra: &str) -> Stack {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
        let text = std::fs::read_to_string(path).unwrap() + extra;
        crate::config::parse(Path::new(path), &text, "2026-01-01").expect("the shipped stack.toml")
    }

    #[test]
    fn the_local_environment_is_lambdas_plus_the_endpoint_and_stackctls_credentials() {
        let stack = shipped_stack("");
        // What someone allowed UpdateFunctionConfiguration could put on the deployed function.
        let live = LiveConfig {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api".into(),
            runtime: "nodejs24.x".into(),
            environment: [
                ("TABLE_NAME", "live-table"),
                ("LOG_LEVEL", "debug"),
                ("NODE_OPTIONS", "--require /tmp/x.js"),
                ("AWS_ENDPOINT_URL", "http://attacker.example"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://attacker.example"),
                ("HTTPS_PROXY", "http://attacker.example"),
                ("PATH", "/attacker/bin"),
                ("HOME", "/attacker"),
                ("LD_PRELOAD", "/attacker/x.so"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            timeout_secs: 10,
            memory_mb: 256,
            code_sha256: String::new(),
        };
        let declared = declared_environment(&stack, &live).unwrap();
        assert_eq!(
            declared,
            [("TABLE_NAME".to_string(), "my-frontend-app-data".to_string())].into()
        );
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
                environment: &declared,
                credentials: Some(&creds),
                log_stream: "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef".into(),
            },
        );
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("TABLE_NAME"), Some("my-frontend-app-data"));
        assert_eq!(get("LOG_LEVEL"), None);
        assert_eq!(get("NODE_OPTIONS"), None);
        assert_eq!(get("AWS_ENDPOINT_URL_DYNAMODB"), None);
        assert_eq!(get("HTTPS_PROXY"), None);
        assert_eq!(get("HOME"), None);
        assert_eq!(get("LD_PRELOAD"), None);
        assert!(env.values().all(|v| !v.contains("attacker")), "{env:?}");
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

        // The names left out or changed are said, never their values.
        let note = environment_note(&live.environment, &declared).expect("a note");
        assert!(
            note.contains("also has `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `HOME`, `HTTPS_PROXY`, `LD_PRELOAD`, `LOG_LEVEL`, `NODE_OPTIONS`, `PATH`, which stack.toml does not declare: not passed")
                && note.contains("`TABLE_NAME` differs from the deployed function's: stack.toml's value is used")
                && !note.contains("attacker")
                && !note.contains("live-table"),
            "{note}"
        );
        assert!(!note.contains("  "), "{note}");
        assert_eq!(environment_note(&declared, &declared), None);
    }

    #[test]
    fn declared_variables_resolve_their_placeholders_and_stackctls_own_are_added() {
        let stack = shipped_stack(
            "ARN = \"${table.arn}\"\nACCOUNT = \"${account_id}\"\n\n[function.url]\nauth = \"none\"\n",
        );
        let live = LiveConfig {
            arn: "arn:aws-cn:lambda:us-east-1:210987654321:function:my-frontend-app-api".into(),
            runtime: "nodejs24.x".into(),
            environment: BTreeMap::new(),
            timeout_secs: 10,
            memory_mb: 128,
            code_sha256: String::new(),
        };
        let declared = declared_environment(&stack, &live).unwrap();
        let get = |k: &str| declared.get(k).map(String::as_str);
        assert_eq!(
            get("ARN"),
            Some("arn:aws-cn:dynamodb:us-east-1:210987654321:table/my-frontend-app-data")
        );
        assert_eq!(get("ACCOUNT"), Some("210987654321"));
        assert_eq!(get("STACKCTL_CORS"), Some("handler"));
        let no_account = LiveConfig {
            arn: String::new(),
            ..live
        };
        assert!(declared_environment(&stack, &no_account).is_err());
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
}
