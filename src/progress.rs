//! Progress on stderr, never stdout: a spinner per resource on a terminal, plain timestamped lines otherwise
//! (CI logs, pipes), nothing with --quiet.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Spinners,
    Lines,
    Quiet,
}

impl Mode {
    /// Spinners only for a person at a terminal; CI=anything or a pipe gets plain lines.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && std::env::var_os("CI").is_none() {
            Mode::Spinners
        } else {
            Mode::Lines
        }
    }
}

#[derive(Clone)]
pub struct Progress {
    mode: Mode,
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(mode: Mode) -> Progress {
        let multi = (mode == Mode::Spinners)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { mode, multi }
    }

    /// A line of its own (warnings, notes); shown even in quiet mode when it is a warning.
    pub fn warn(&self, message: &str) {
        self.line(&format!("warning: {message}"));
    }

    /// A note for the person running the command (not a warning): nothing in quiet mode.
    pub fn note(&self, message: &str) {
        if self.mode != Mode::Quiet {
            self.line(&format!("note: {message}"));
        }
    }

    fn line(&self, message: &str) {
        match (&self.multi, self.mode) {
            (Some(multi), _) => {
                let _ = multi.println(message);
            }
            (None, Mode::Lines) => {
                let _ = writeln!(std::io::stderr(), "{} {message}", timestamp());
            }
            (None, _) => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
        }
    }

    /// One line of progress for one resource (or the build).
    pub fn task(&self, label: impl Into<String>) -> Task {
        Task {
            label: label.into(),
            mode: self.mode,
            multi: self.multi.clone(),
            bar: Arc::new(OnceLock::new()),
            started: Instant::now(),
            last: Arc::new(Mutex::new(String::new())),
        }
    }
}

/// Progress of one resource. Cheap to clone into a waiter's callback.
#[derive(Clone)]
pub struct Task {
    label: String,
    mode: Mode,
    multi: Option<MultiProgress>,
    /// Created on first use, so a step with nothing to do leaves no line behind.
    bar: Arc<OnceLock<ProgressBar>>,
    started: Instant,
    last: Arc<Mutex<String>>,
}

impl Task {
    /// The spinner line, created (with its first message, so it never shows an empty one) on first use.
    fn bar(&self, message: &str) -> Option<&ProgressBar> {
        let multi = self.multi.as_ref()?;
        Some(self.bar.get_or_init(|| {
            let style = ProgressStyle::with_template("{spinner} {prefix}: {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(self.label.clone())
                .with_message(message.to_string())
                .with_elapsed(self.started.elapsed());
            let bar = multi.add(bar);
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    /// What the resource is doing now, e.g. "waiting for ACTIVE (CREATING)". Repeats are not re-printed.
    pub fn set(&self, message: &str) {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last == message {
            return;
        }
        *last = message.to_string();
        match (self.bar(message), self.mode) {
            (Some(bar), _) => bar.set_message(message.to_string()),
            (None, Mode::Lines) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "{} {}: {message}",
                    timestamp(),
                    self.label
                );
            }
            _ => {}
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The resource is finished; prints a tick and the duration.
    pub fn finish(&self, message: &str) {
        let line = format!(
            "{}: {message} ({})",
            self.label,
            format_duration(self.elapsed())
        );
        match (self.bar(&line), self.mode) {
            (Some(bar), _) => {
                bar.set_style(
                    ProgressStyle::with_template("✓ {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(line);
            }
            (None, Mode::Lines) => {
                let _ = writeln!(std::io::stderr(), "{} ✓ {line}", timestamp());
            }
            _ => {}
        }
    }

    pub fn fail(&self, message: &str) {
        let line = format!(
            "{}: {message} ({})",
            self.label,
            format_duration(self.elapsed())
        );
        match (self.bar(&line), self.mode) {
            (Some(bar), _) => {
                bar.set_style(
                    ProgressStyle::with_template("✗ {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.abandon_with_message(line);
            }
            (None, Mode::Lines) => {
                let _ = writeln!(std::io::stderr(), "{} ✗ {line}", timestamp());
            }
            _ => {}
        }
    }
}

fn timestamp() -> String {
    crate::dates::rfc3339_millis(SystemTime::now())
}

pub fn format_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
