//! `stackctl backups`: DynamoDB's own backups of the stack's table for this stage (on-demand ones, and the
//! SYSTEM ones DynamoDB keeps after deleting a table with point-in-time recovery on), newest first. Needs no
//! table: backups outlive it. Read-only: ListBackups, every page.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::aws::Clients;
use crate::backup::{self, BackupRow};
use crate::config::Stack;
use crate::escape;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::Progress;

/// The result of `stackctl backups`.
#[derive(Debug, Serialize)]
pub struct BackupsReport {
    #[serde(skip)]
    envelope: Envelope,
    /// The table name whose backups these are (this stage's).
    table: String,
    /// Newest first.
    backups: Vec<BackupRow>,
}

/// A size for people: bytes up to 1 KiB, then KiB, MiB, GiB with one decimal.
fn size(bytes: Option<i64>) -> String {
    let Some(bytes) = bytes else {
        return "-".to_string();
    };
    let mut value = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB", "TiB"] {
        if value < 1024.0 || unit == "TiB" {
            return if unit == "B" {
                format!("{bytes} B")
            } else {
                format!("{value:.1} {unit}")
            };
        }
        value /= 1024.0;
    }
    format!("{bytes} B")
}

impl Body for BackupsReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        let mut out = String::new();
        if self.backups.is_empty() {
            let _ = write!(
                out,
                "no backups of table {}: `stackctl down --confirm --snapshot` takes one before deleting it",
                self.table
            );
            return escape::terminal(&out).into_owned();
        }
        let _ = write!(out, "backups of table {}, newest first", self.table);
        let _ = write!(
            out,
            "\n{:<24} {:<6} {:<9} {:>10}  {:<24} name / arn",
            "created", "type", "status", "size", "expires"
        );
        for b in &self.backups {
            let _ = write!(
                out,
                "\n{:<24} {:<6} {:<9} {:>10}  {:<24} {}\n  {}",
                b.created,
                b.kind,
                b.status,
                size(b.size_bytes),
                b.expires.as_deref().unwrap_or("-"),
                b.name,
                b.arn
            );
        }
        escape::terminal(&out).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// `stackctl backups`: exit 0 with the list (also when it is empty); 1 when ListBackups fails.
pub async fn run(clients: &Clients, stack: &Stack, progress: &Progress) -> Result<Outcome> {
    let started = Instant::now();
    let table = stack.table.name.clone();
    let task = progress.task(format!("backups of {table}"));
    task.set("listing");
    let backups = match backup::list_backups(&clients.dynamodb, &table).await {
        Ok(rows) => rows,
        Err(err) => {
            task.fail("failed");
            return Err(err);
        }
    };
    task.finish(&format!("{} backups", backups.len()));
    let envelope = Envelope::new(
        "backups",
        stack,
        clients.calls.snapshot(),
        started.elapsed(),
    );
    Ok(Outcome::result(
        BackupsReport {
            envelope,
            table,
            backups,
        },
        ExitStatus::Ok,
    ))
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(None), "-");
        assert_eq!(size(Some(0)), "0 B");
        assert_eq!(size(Some(1023)), "1023 B");
        assert_eq!(size(Some(1536)), "1.5 KiB");
        assert_eq!(size(Some(10 * 1024 * 1024 * 1024)), "10.0 GiB");
    }
}
