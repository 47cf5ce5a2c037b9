//! `stackctl restore --snapshot <ARN|NAME>`: one of DynamoDB's own backups of the stack's table restored into
//! the stack's table name, which must not exist; waited ACTIVE and tagged as the stack's (DynamoDB restores
//! no tags), so `up` finds its own table and adopts nothing.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::aws::Clients;
use crate::backup::{self, BackupRow, Refused, Wanted};
use crate::config::{KeyAttribute, Stack};
use crate::escape;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::{Progress, Task};
use crate::resources::table;

/// What DynamoDB does not restore from a backup; `stackctl up` sets each from stack.toml.
const NOT_RESTORED: [&str; 3] = [
    "deletion_protection",
    "point_in_time_recovery",
    "time_to_live",
];

/// What `restore --snapshot` did (the envelope around it: outcome.rs).
#[derive(Debug, Serialize)]
pub struct RestoredSnapshot {
    #[serde(skip)]
    envelope: Envelope,
    /// The table made from the backup (the stack's table name for this stage).
    table: String,
    table_arn: String,
    /// The backup restored, as `stackctl backups` lists it.
    backup: BackupRow,
    /// The source table's item count when the backup was taken (DescribeBackup's SourceTableDetails); null
    /// when DynamoDB does not say.
    items: Option<i64>,
    /// Settings DynamoDB does not restore: `stackctl up` sets them from stack.toml.
    not_restored: Vec<&'static str>,
}

impl Body for RestoredSnapshot {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        let items = self
            .items
            .map_or(String::new(), |n| format!(", {n} items when it was taken"));
        let text = format!(
            "restore: table {} restored from backup {} ({}), taken from table {} at {}{items}; tagged as the \
             stack's\nnot restored by DynamoDB: deletion protection, point-in-time recovery, time to live: run \
             `stackctl up` to set them from stack.toml",
            self.table, self.backup.name, self.backup.arn, self.backup.table, self.backup.created
        );
        escape::terminal(&text).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// The refusal for a table name that is taken (read first, or answered by RestoreTableFromBackup in a race).
fn table_exists(stack: &Stack, status: &str) -> anyhow::Error {
    if status == "DELETING" {
        return anyhow::anyhow!(
            "table `{}` is still being deleted (DELETING): run restore again once it is gone",
            stack.table.name
        );
    }
    let stage = stack
        .stage
        .as_deref()
        .map_or(String::new(), |s| format!(" --stage {s}"));
    anyhow::anyhow!(
        "table `{}` exists ({status}), and a restore from a backup makes a NEW table: delete it first with \
         `stackctl{stage} down --confirm` (with --snapshot if its items matter), or restore under another \
         stage (`stackctl --stage <name> restore --snapshot ...`)",
        stack.table.name
    )
}

/// The stack file's key schema, partition key first.
fn stack_keys(stack: &Stack) -> Vec<KeyAttribute> {
    std::iter::once(stack.table.partition_key.clone())
        .chain(stack.table.sort_key.clone())
        .collect()
}

/// Everything checked before RestoreTableFromBackup is sent: the ARN's region (nothing sent), the table
/// name free, the backup found, AVAILABLE, of this stack's table (or --allow-other-source) and with
/// stack.toml's key schema.
async fn check(
    clients: &Clients,
    stack: &Stack,
    wanted: &Wanted,
    allow_other_source: bool,
    task: &Task,
) -> Result<backup::Described> {
    let (dynamodb, name) = (&clients.dynamodb, &stack.table.name);
    let other_source = |source: &str| {
        anyhow::anyhow!(
            "the backup was taken from table `{source}`, not from this stack's table `{name}` (stage {}, region \
             {}): pass --allow-other-source to restore it anyway (its key schema must be stack.toml's)",
            stack.stage.as_deref().unwrap_or("none"),
            stack.region
        )
    };
    if let Wanted::Arn(arn) = wanted {
        if arn.region != stack.region {
            bail!(
                "backup `{}` is in region {}, the stack is in {}: DynamoDB restores a backup in its own region \
                 only (run with --region {} to restore it there)",
                arn.arn,
                arn.region,
                stack.region,
                arn.region
            );
        }
        if arn.table != *name && !allow_other_source {
            return Err(other_source(&arn.table));
        }
    }
    task.set("reading the table");
    if let Some(live) = table::read(dynamodb, name).await? {
        return Err(table_exists(stack, &live.status));
    }
    task.set("finding the backup");
    let described = backup::resolve_backup(dynamodb, name, wanted).await?;
    backup::check_restorable(&described.row)?;
    if described.row.table != *name && !allow_other_source {
        return Err(other_source(&described.row.table));
    }
    let keys = stack_keys(stack);
    if !backup::keys_match(&described.key_names, &keys) {
        bail!(
            "backup `{}` has the key schema ({}), stack.toml's table has ({}): a table restored from it would \
             not be the stack's; restore it by hand under another name (aws dynamodb restore-table-from-backup)",
            described.row.arn,
            described.key_names.join(", "),
            keys.iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(described)
}

/// Restores the backup `wanted` (an ARN or a name) into the stack's missing table: exit 0 with what was
/// restored; 1 when refused (nothing sent after the refusal) or when a call fails.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    wanted: &Wanted,
    allow_other_source: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let (dynamodb, name) = (&clients.dynamodb, &stack.table.name);
    let task = progress.task(format!("table {name}"));
    let result = async {
        let described = check(clients, stack, wanted, allow_other_source, &task).await?;
        task.set("restoring");
        match backup::start_restore(dynamodb, &described.row.arn, name, &stack.table.billing_mode)
            .await
        {
            Err(err) if matches!(err.downcast_ref::<Refused>(), Some(Refused::TableExists)) => {
                return Err(table_exists(stack, "made meanwhile"));
            }
            other => other?,
        }
        // From here on the table exists: a failure leaves it to `up`, which adopts and tags it.
        let started_note = || {
            format!(
                "the restore into `{name}` was started: once the table is ACTIVE, `stackctl up` tags it as the \
                 stack's"
            )
        };
        let timeout = Duration::from_secs(stack.timeouts.table_secs);
        let live = table::wait_active(dynamodb, name, timeout, &task)
            .await
            .with_context(started_note)?;
        // DynamoDB restores no tags: without the stack's, `up` would adopt the table, and ls would not see it.
        task.set("tagging");
        table::tag(dynamodb, &live.arn, &stack.resource_tags())
            .await
            .with_context(started_note)?;
        // The backup's key schema said names and roles only; the types are known now.
        let keys = stack_keys(stack);
        if live.key_schema != keys {
            bail!(
                "the restored table `{name}` has the key schema {}, stack.toml's is {}: `stackctl up` will refuse \
                 it; the backup is kept",
                table::describe_keys(&live.key_schema),
                table::describe_keys(&keys)
            );
        }
        Ok((described, live))
    }
    .await;
    let (described, live) = match result {
        Ok(done) => done,
        Err(err) => {
            task.fail("not restored");
            return Err(err);
        }
    };
    task.finish(&format!("restored from {}", described.row.name));
    let envelope = Envelope::new(
        "restore",
        stack,
        clients.calls.snapshot(),
        started.elapsed(),
    );
    Ok(Outcome::result(
        RestoredSnapshot {
            envelope,
            table: name.clone(),
            table_arn: live.arn,
            backup: described.row,
            items: described.items,
            not_restored: NOT_RESTORED.to_vec(),
        },
        ExitStatus::Ok,
    ))
}
