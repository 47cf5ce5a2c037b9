//! Each integration test's wall time, for the slowest-tests list `make test` prints at the end
//! (scripts/test.sh). When `STACKCTL_TEST_TIMINGS` names a file, the first emulator a test thread starts
//! begins a timer, and the end of the test's thread (libtest runs each test on a thread named after it, and
//! joins it) appends one line `<test name>\t<seconds>` to that file. One `write` of the whole line on a
//! file opened with O_APPEND, so lines from tests running at once never interleave. Never asserted on.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

struct Timer {
    test: String,
    started: Instant,
    file: PathBuf,
}

impl Drop for Timer {
    fn drop(&mut self) {
        let line = format!(
            "{}\t{:.3}\n",
            self.test,
            self.started.elapsed().as_secs_f64()
        );
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
        {
            // A regular file takes a short write whole; write_all makes no second call.
            let _ = file.write_all(line.as_bytes());
        }
    }
}

thread_local! {
    static TIMER: RefCell<Option<Timer>> = const { RefCell::new(None) };
}

/// Starts this test's timer, once per test thread (a test that starts several emulators is timed from the
/// first). Nothing happens without `STACKCTL_TEST_TIMINGS`, or off a test's own thread.
pub fn start() {
    let Some(file) = std::env::var_os("STACKCTL_TEST_TIMINGS") else {
        return;
    };
    let current = std::thread::current();
    let Some(test) = current.name().filter(|n| *n != "main") else {
        return;
    };
    let test = test.to_string();
    TIMER.with(|timer| {
        let mut timer = timer.borrow_mut();
        if timer.is_none() {
            *timer = Some(Timer {
                test,
                started: Instant::now(),
                file: PathBuf::from(file),
            });
        }
    });
}
