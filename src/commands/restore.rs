//! `stackctl restore <backup>`: loads a backup written by `down --backup` into the stack's table, after
//! checking, before any write, that the file is complete, that it came from this table, stage, region and
//! account (and has its key schema), and that the table is empty (the file format is in backup.rs).
//! `stackctl restore --snapshot <ARN|NAME>`: DynamoDB restores one of its own backups into the stack's
//! table name, which must not exist (snapshot.rs).

mod snapshot;
pub use snapshot::run as run_snapshot;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::aws::Clients;
use crate::backup::{self, Origin};
use crate::config::Stack;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use crate::resources::table;

/// What restore may do beyond the default (an empty table of the backup's own origin, a complete file).
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub overwrite: bool,
    pub allow_other_source: bool,
    pub headerless: bool,
}

/// What restore wrote (the envelope around it: outcome.rs).
#[derive(Debug, Serialize)]
pub struct Restored {
    #[serde(skip)]
    envelope: Envelope,
    table: String,
    items: u64,
    /// The backup's header (null for a headerless backup).
    source: Option<backup::Header>,
}

impl Body for Restored {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        let from = self.source.as_ref().map_or(String::new(), |h| {
            format!(", backed up from table {} at {}", h.origin.table, h.time)
        });
        format!(
            "restore: {} items into table {} ({} writes{from})",
            self.items, self.table, self.envelope.aws_calls.writes
        )
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// Restores `file` into the table: what was written; exit 0.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    file: &Path,
    options: &Options,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let name = &stack.table.name;
    let task = progress.task(format!("table {name}"));
    let checked = check(clients, stack, file, options, &task)
        .await
        .context("nothing was restored");
    let (header, items) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            task.fail("not restored");
            return Err(err);
        }
    };
    let restored = backup::restore(&clients.dynamodb, name, file, items, &task).await?;
    task.finish(&format!("restored {restored} items"));
    let envelope = Envelope::new(
        "restore",
        stack,
        clients.calls.snapshot(),
        started.elapsed(),
    );
    let restored = Restored {
        envelope,
        table: name.clone(),
        items: restored,
        source: header,
    };
    Ok(Outcome::result(restored, ExitStatus::Ok))
}

/// Everything that must hold before the first write: the table exists, the file is a complete backup of
/// this table (or the flags say otherwise) whose keys fit it, and the table is empty (or --overwrite).
async fn check(
    clients: &Clients,
    stack: &Stack,
    file: &Path,
    options: &Options,
    task: &crate::progress::Task,
) -> Result<(Option<backup::Header>, u64)> {
    let (dynamodb, name) = (&clients.dynamodb, &stack.table.name);
    task.set("reading the backup's header");
    let header = backup::read_header(file, options.headerless)?;
    task.set("reading the table");
    let live = match table::read(dynamodb, name).await? {
        None => bail!("table `{name}` does not exist: run `stackctl up` first"),
        Some(live) if live.status == "ACTIVE" => live,
        Some(_) => {
            let timeout = std::time::Duration::from_secs(stack.timeouts.table_secs);
            table::wait_active(dynamodb, name, timeout, task).await?
        }
    };
    let here = Origin::new(stack, name, &live.arn, &live.key_schema);
    if let Some(header) = &header {
        backup::check_origin(&header.origin, &here, options.allow_other_source)?;
    }
    task.set("checking every line of the backup");
    let items = backup::check_file(file, &here.key_schema, header.is_some())?;
    if !options.overwrite && !backup::is_empty(dynamodb, name).await? {
        bail!(
            "table `{name}` already holds items, and a restore would replace those with the same key and mix \
             in the rest: restore into an empty table (e.g. after `stackctl down --confirm --delete-data` and \
             `stackctl up`), or pass --overwrite"
        );
    }
    Ok((header, items))
}
