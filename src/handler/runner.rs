//! One runner process (`node` on `node_runner.mjs`) and its supervision: started in its own process group
//! with only the environment it is given, its stderr kept (the tail), whether it has ended (without reaping
//! it), and its end: its whole group killed (the handler's subprocesses too) before it is reaped. What the
//! process is asked and answers (the JSON-lines protocol, Lambda's errors) is local.rs's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::backoff::Backoff;

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

/// One runner process.
pub(super) struct Runner {
    pub(super) child: Child,
    pub(super) stdin: Option<ChildStdin>,
    pub(super) stdout: Lines<BufReader<ChildStdout>>,
    pub(super) stderr: Arc<Mutex<String>>,
    /// A request was written and its answer not read yet (an invocation abandoned midway leaves this set:
    /// that process may still be running it, so it is never reused).
    pub(super) in_flight: bool,
    /// Its process (group) id while the process is not reaped (`interrupt::track_group`): killed with its
    /// whole group by [`end_group`] before anything reaps it, and by a second Ctrl-C until then.
    pub(super) pid: Option<u32>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        // `kill_on_drop` ends the runner only; its group holds what the handler started.
        end_group(self);
    }
}

impl Runner {
    /// Starts `node` on the runner `script` with the handler `spec` names, in its own process group, tracked
    /// (`interrupt::track_group`) until its end; its stderr is kept as it arrives. `marker` tags the
    /// protocol's lines.
    pub(super) fn start(spec: &RunnerSpec, script: &Path, marker: &str) -> Result<Runner> {
        let node = std::env::var("STACKCTL_NODE").unwrap_or_else(|_| "node".to_string());
        let mut command = tokio::process::Command::new(&node);
        command
            .args(spec.node_memory_args())
            .arg(script)
            .arg(&spec.task_root)
            .arg(&spec.handler)
            .arg(spec.timeout_secs.to_string())
            .arg(marker)
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
        let runner = Runner {
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
        Ok(runner)
    }
}

/// Kills the runner's whole process group (the handler's subprocesses too, as Lambda ends an environment) and
/// stops tracking it. Must run before the runner is reaped, while its PID still names our group.
pub(super) fn end_group(runner: &mut Runner) {
    if let Some(pid) = runner.pid.take() {
        crate::interrupt::end_group(pid);
    }
}

/// Whether the runner has ended, without reaping it (its group id stays ours until `end_group`).
pub(super) fn has_exited(runner: &mut Runner) -> bool {
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
pub(super) async fn wait_exited(runner: &mut Runner, limit: Duration) -> bool {
    const EXIT_POLL: Backoff = Backoff::steady(Duration::from_millis(10));
    crate::backoff::poll_until(EXIT_POLL, limit, || has_exited(runner)).await
}

const STDERR_KEEP: usize = 8 * 1024;

/// The last lines of a runner's stderr.
pub(super) fn stderr_tail(stderr: &Mutex<String>) -> String {
    let text = stderr.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let tail: Vec<&str> = text.lines().rev().take(20).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Kills a runner and waits (briefly) for it, so its stderr is complete; returns how it ended.
pub(super) async fn stop(runner: &mut Runner) -> Option<std::process::ExitStatus> {
    stop_after(runner, Duration::ZERO).await
}

/// The same, first giving a process that is ending by itself `grace` to finish (to learn its real status).
pub(super) async fn stop_after(
    runner: &mut Runner,
    grace: Duration,
) -> Option<std::process::ExitStatus> {
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
