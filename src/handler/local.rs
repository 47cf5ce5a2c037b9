//! The built handler in a local Node.js process, as one Lambda execution environment would run it, through a
//! small embedded runner (`node_runner.mjs`) that answers JSON lines: one invocation at a time, Lambda's
//! answers for a timeout, a runtime's end, an oversized payload, and a fresh process where Lambda would
//! discard the environment. The variables it runs with are local_env.rs's; the process itself, its group
//! and its end, runner.rs's.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::event::{excerpt, interpret, InvokeError, Response};
use super::random_hex;
use super::runner::{end_group, has_exited, stderr_tail, stop, stop_after, wait_exited, Runner};
use crate::progress::Progress;

// Kept at this path for their users (dev, the pool, transport).
pub use super::local_env::{dev_spec, node_version_note};
pub use super::runner::RunnerSpec;

/// The runner script, written to a temp file and run with `node`.
const NODE_RUNNER: &str = include_str!("../handler/node_runner.mjs");

/// Lambda's payload limits for a synchronous invocation: the request (the event) and the response (the
/// function's serialized result). The response limit really is 100 bytes above 6 MiB.
pub const MAX_REQUEST_BYTES: usize = 6_291_456;
pub const MAX_RESPONSE_BYTES: usize = 6_291_556;

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
        let mut runner = Runner::start(
            &self.spec,
            &self.dir.path().join("runner.mjs"),
            &self.marker,
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

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
}
