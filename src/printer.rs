//! The one place a command's result reaches stdout: as text, or as one JSON document (outcome.rs's envelope
//! around the command's fields); its notes go to stderr. A closed stdout (`stackctl ... | head` after head
//! exited) ends the output quietly: the reader has what it wanted, and the exit status stays the command's.

use std::fmt;
use std::io::{self, Write};

use anyhow::{Context, Result};

use crate::cli::Output;
use crate::outcome::{self, ExitStatus, Outcome, Shown};

/// stdout went away: the reader has what it wanted, so this is a normal end, not an error.
#[derive(Debug)]
pub struct StdoutClosed;

impl fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stdout was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Whether `err` is a closed stdout (anywhere in its chain).
pub fn is_closed(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|c| c.downcast_ref::<StdoutClosed>().is_some())
}

/// Writes `lines` to stdout, each with a newline, and flushes: for streams (logs' events), which write as
/// they read. A closed stdout is `StdoutClosed`; any other write error says it was stdout.
pub fn stream<I>(lines: I) -> Result<()>
where
    I: IntoIterator,
    I::Item: fmt::Display,
{
    let mut out = io::BufWriter::new(io::stdout().lock());
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"));
    closed_or(written.and_then(|()| out.flush()))
}

fn closed_or(written: io::Result<()>) -> Result<()> {
    match written {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => other.context("writing to stdout"),
    }
}

/// Renders outcomes for one run: `--output`, `--quiet` and whether stdout is a colour terminal.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    output: Output,
    quiet: bool,
    color: bool,
}

impl Printer {
    pub fn new(output: Output, quiet: bool) -> Printer {
        let color =
            io::IsTerminal::is_terminal(&io::stdout()) && std::env::var_os("NO_COLOR").is_none();
        Printer {
            output,
            quiet,
            color,
        }
    }

    pub fn output(&self) -> Output {
        self.output
    }

    /// Prints the outcome (stderr notes around it) and gives its exit status. A closed stdout is not an
    /// error; another write error on stdout is.
    pub fn print(&self, outcome: &Outcome) -> Result<ExitStatus> {
        let status = outcome.status();
        match outcome {
            Outcome::Streamed(_) => {}
            Outcome::Plain { text } => self.quietly(closed_or(write_all(text)))?,
            Outcome::Result { body, status } => {
                let notes = body.notes(Shown {
                    output: self.output,
                    quiet: self.quiet,
                    status: *status,
                });
                for line in &notes.before {
                    eprintln!("{line}");
                }
                let text = match self.output {
                    Output::Json => serde_json::to_string_pretty(&outcome::document(&**body)?)?,
                    Output::Text => body.text(self.color),
                    Output::Env => body.env().with_context(|| {
                        format!(
                            "`--output env` is not an output of `{}`",
                            body.envelope().command
                        )
                    })?,
                };
                // No env lines (nothing deployed) is nothing at all: not an empty line in $GITHUB_OUTPUT.
                if !(text.is_empty() && self.output == Output::Env) {
                    self.quietly(stream([text]))?;
                }
                for line in &notes.after {
                    eprintln!("{line}");
                }
            }
        }
        Ok(status)
    }

    /// A closed stdout ends the output quietly; other errors stay errors.
    fn quietly(&self, written: Result<()>) -> Result<()> {
        match written {
            Err(err) if is_closed(&err) => Ok(()),
            other => other,
        }
    }
}

fn write_all(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}
