//! Warm local runtimes for `stackctl dev`: several long-lived Node.js workers over one build of the handler,
//! each serving one request at a time (one Lambda execution environment each, module scope kept between
//! requests), started on demand up to a limit. A worker Lambda would discard (a crash, a timeout) is
//! replaced by `Local` itself before its next request. A rebuild makes a new pool; the old one is retired:
//! its in-flight requests finish on the old code, then its workers stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::Semaphore;

use super::event::InvokeError;
use super::local::{Local, RawAnswer, RunnerSpec};
use crate::progress::Progress;

pub struct Pool {
    spec: RunnerSpec,
    idle: Mutex<Vec<Local>>,
    /// One permit per worker that may run at once.
    slots: Semaphore,
    retired: AtomicBool,
    progress: Progress,
    /// The build this pool runs (CodeSha256 of its package).
    pub code_sha256: String,
    /// The unzipped package the workers run (their task root); removed with the pool.
    _code: tempfile::TempDir,
}

impl Pool {
    /// Starts the first worker at once, so the first request is answered warm and a handler that cannot
    /// even start is reported before anything is served.
    pub async fn start(
        spec: RunnerSpec,
        workers: usize,
        code: tempfile::TempDir,
        code_sha256: String,
        progress: Progress,
    ) -> anyhow::Result<Pool> {
        let first = Local::start(spec.clone(), progress.clone()).await?;
        Ok(Pool {
            spec,
            idle: Mutex::new(vec![first]),
            slots: Semaphore::new(workers.max(1)),
            retired: AtomicBool::new(false),
            progress,
            code_sha256,
            _code: code,
        })
    }

    /// The Node.js version the workers run.
    pub fn node_version(&self) -> String {
        self.lock_idle()
            .first()
            .map(|w| w.node_version.clone())
            .unwrap_or_default()
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Local>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one event on an idle worker (waiting for one when all are busy, starting one when fewer than the
    /// limit exist), and returns the function's raw answer.
    pub async fn invoke(&self, event: &Value) -> Result<RawAnswer, InvokeError> {
        let _slot = self.slots.acquire().await.map_err(|err| {
            InvokeError::Transport(anyhow::anyhow!("the worker pool closed: {err}"))
        })?;
        let idle = self.lock_idle().pop();
        let mut worker = match idle {
            Some(worker) => worker,
            None => Local::start(self.spec.clone(), self.progress.clone())
                .await
                .map_err(InvokeError::Transport)?,
        };
        let answer = worker.invoke_raw(event).await;
        if self.retired.load(Ordering::SeqCst) {
            worker.close().await;
        } else {
            self.lock_idle().push(worker);
        }
        answer
    }

    /// No more requests start here: idle workers stop now, busy ones when their request is answered.
    pub async fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        let idle: Vec<Local> = std::mem::take(&mut *self.lock_idle());
        for worker in idle {
            worker.close().await;
        }
    }
}
