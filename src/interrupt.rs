//! Ctrl-C / SIGTERM during up or down: the first one stops new steps from starting and abandons waits
//! (waiting changes nothing), the step in flight finishes its AWS call; a second one stops at once. Local
//! files are always written atomically, so neither leaves a half-written build cache or zip.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use tokio::sync::Notify;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// A command that only reads (`logs --follow`) stops at the first interrupt as its normal end, so it says
/// nothing then.
static QUIET: AtomicBool = AtomicBool::new(false);

fn notify() -> &'static Notify {
    static NOTIFY: OnceLock<Notify> = OnceLock::new();
    NOTIFY.get_or_init(Notify::new)
}

/// The run was interrupted before `what` could start or finish.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "interrupted before {}; every step marked ✓ above is done, nothing else was started. \
             Run the same command again to converge",
            self.0
        )
    }
}

impl std::error::Error for Interrupted {}

/// Starts listening for SIGINT and SIGTERM. Call once, inside the runtime.
pub fn install() {
    tokio::spawn(async {
        loop {
            wait_for_signal().await;
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("second interrupt: stopping now");
                kill_groups();
                std::process::exit(130);
            }
            if !QUIET.load(Ordering::SeqCst) {
                eprintln!("interrupt: finishing the AWS call in flight and starting nothing new (interrupt again to stop at once)");
            }
            notify().notify_waiters();
        }
    });
}

/// Process groups of local Node.js runners (`--local`, `dev`'s workers), killed by a second interrupt before it
/// exits: `process::exit` runs no destructor, so their `kill_on_drop` never would, and a runner whose handler
/// blocks the event loop never notices its stdin closing. A group is tracked from its leader's start until
/// [`end_group`], which the runner's code calls before it reaps the leader: while the leader is not reaped its
/// PID (= the group's id) cannot be reused, so every id here is a group stackctl made and still owns.
static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn track_group(pid: u32) {
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
}

/// Kills every process of the group `pid` leads (the handler's subprocesses too, as Lambda ends an execution
/// environment) and stops tracking it. Call only before the leader is reaped (`wait`, `try_wait` that saw its
/// end): after that the id may belong to someone else.
pub fn end_group(pid: u32) {
    let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    kill_group(pid);
    groups.retain(|p| *p != pid);
}

fn kill_group(pid: u32) {
    #[cfg(unix)]
    if let Ok(pgid) = libc::pid_t::try_from(pid) {
        if pgid > 1 {
            // SAFETY: killpg has no memory effects; the group is one this process created (see GROUPS).
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// Held while signalling, so no group is reaped (see `end_group`) between the look-up and the signal.
fn kill_groups() {
    let groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
    for pid in groups.iter() {
        kill_group(*pid);
    }
}

/// The first interrupt is the command's normal end (it has nothing in flight worth finishing): no note.
pub fn quiet_first_interrupt() {
    QUIET.store(true, Ordering::SeqCst);
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Fails with `Interrupted` if an interrupt arrived; call before starting a step that writes.
pub fn check(what: &str) -> Result<(), Interrupted> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Interrupted(what.to_string()))
    } else {
        Ok(())
    }
}

/// Resolves when an interrupt arrives (at once if one already did): for abandoning waits.
pub async fn interrupted() {
    loop {
        let notified = notify().notified();
        if INTERRUPTED.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }
}
