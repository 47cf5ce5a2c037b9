//! Warm local runtimes for `stackctl dev`: several long-lived Node.js workers over one build of the handler,
//! each serving one request at a time (one Lambda execution environment each, module scope kept between
//! requests), started on demand up to a limit. A worker Lambda would discard (a crash, a timeout) is
//! replaced by `Local` itself before its next request. A rebuild makes a new pool; the old one is retired:
//! its in-flight requests finish on the old code, then its workers stop. Every pool of one server takes its
//! places from the same [`Slots`], so the requests a retired pool still runs count against `--workers`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{AcquireError, Semaphore, SemaphorePermit};

use super::event::InvokeError;
use super::local::{Local, RawAnswer, RunnerSpec};
use crate::progress::Progress;

/// How many requests may run at once (`--workers`), shared by the current pool and the retired ones still
/// finishing requests: a reload never lets more than that run together.
pub struct Slots {
    /// One permit per request that may run.
    permits: Semaphore,
    workers: usize,
    /// Requests waiting for a permit; the first to wait says so on stderr.
    waiting: AtomicUsize,
}

impl Slots {
    pub fn new(workers: usize) -> Arc<Slots> {
        Arc::new(Slots {
            permits: Semaphore::new(workers.max(1)),
            workers: workers.max(1),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A place to run one request, waiting for one when every worker is busy (said once per stretch of
    /// waiting, so that a slow answer is not a mystery).
    async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let _waiting = Waiting::start(self);
        self.permits.acquire().await
    }
}

/// One request waiting for a place (also when its client goes away while it waits).
struct Waiting<'a>(&'a Slots);

impl<'a> Waiting<'a> {
    fn start(slots: &'a Slots) -> Waiting<'a> {
        if slots.waiting.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "dev: every worker is busy (--workers {}): requests wait for one to be free",
                slots.workers
            );
        }
        Waiting(slots)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

pub struct Pool {
    spec: RunnerSpec,
    idle: Mutex<Vec<Local>>,
    /// The server's places to run requests (shared with the pools before and after this one).
    slots: Arc<Slots>,
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
        slots: Arc<Slots>,
        code: tempfile::TempDir,
        code_sha256: String,
        progress: Progress,
    ) -> anyhow::Result<Pool> {
        let first = Local::start(spec.clone(), progress.clone()).await?;
        Ok(Pool {
            spec,
            idle: Mutex::new(vec![first]),
            slots,
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

    /// Runs one event on an idle worker (waiting for a place when `--workers` requests are running, in this
    /// pool or a retired one; starting a worker when none is idle), and returns the function's raw answer.
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
