//! down --snapshot: DynamoDB's own on-demand backups of the stack's table (CreateBackup, waited until
//! AVAILABLE; both the first and the final one are kept). A backup takes seconds whatever the table's size,
//! reads no capacity and outlives the table; `stackctl restore --snapshot` brings it back.

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::BackupStatus;
use aws_sdk_dynamodb::Client;
use serde::Serialize;

use crate::aws::{wait_for, NotFound, Poll};
use crate::progress::Task;

/// BackupName's limits (DynamoDB API reference, CreateBackup: 3-255 of `[a-zA-Z0-9_.-]`).
const NAME_MAX: usize = 255;

/// One on-demand backup of the stack's table. Its identity is its name (stack, stage, time) and its
/// source table (the ARN holds the table's name): DynamoDB's TagResource takes no backup ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub arn: String,
    pub name: String,
    pub table: String,
}

/// `stackctl-<stack>[-<stage>]-<YYYYMMDDTHHMMSSZ>`: who took it and when, within BackupName's rules (any
/// other character becomes `-`; at most 255 characters, the time always kept).
pub fn snapshot_name(stack: &crate::config::Stack, now: SystemTime) -> String {
    let time: String = crate::dates::rfc3339_seconds(now)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let owner = match &stack.stage {
        Some(stage) => format!("stackctl-{}-{stage}", stack.name),
        None => format!("stackctl-{}", stack.name),
    };
    let owner: String = owner
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(NAME_MAX - time.len() - 1)
        .collect();
    format!("{owner}-{time}")
}

/// Takes an on-demand backup of `table` named [`snapshot_name`] and waits until it is AVAILABLE (within
/// `timeout`). A backup that ends DELETED, or never becomes AVAILABLE, is an error: the caller deletes
/// nothing then.
pub async fn take(
    client: &Client,
    stack: &crate::config::Stack,
    table: &str,
    timeout: Duration,
    task: &Task,
) -> Result<Snapshot> {
    let name = snapshot_name(stack, SystemTime::now());
    task.set("taking a snapshot");
    // CreateBackup answers ContinuousBackupsUnavailableException while a new (or just restored) table's
    // backups are being turned on: AWS lifts it by itself, so it is retried within the table's timeout.
    let send = || async {
        client
            .create_backup()
            .table_name(table)
            .backup_name(&name)
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)
            .with_context(|| format!("creating the backup `{name}` of DynamoDB table `{table}`"))
    };
    let created = crate::aws::retry_while(timeout, send, backups_unavailable, |_| {
        task.set("waiting for the table's backups to be available")
    })
    .await?;
    let arn = created
        .backup_details()
        .map(|d| d.backup_arn().to_string())
        .filter(|arn| !arn.is_empty())
        .with_context(|| format!("DynamoDB created the backup `{name}` without an ARN"))?;
    let snapshot = Snapshot {
        arn,
        name,
        table: table.to_string(),
    };
    let already = created
        .backup_details()
        .is_some_and(|d| *d.backup_status() == BackupStatus::Available);
    if !already {
        wait_available(client, &snapshot, timeout, task).await?;
    }
    Ok(snapshot)
}

/// ContinuousBackupsUnavailableException: "Backups have not yet been enabled for this table" (CreateBackup).
fn backups_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<aws_sdk_dynamodb::Error>(),
            Some(aws_sdk_dynamodb::Error::ContinuousBackupsUnavailableException(_))
        )
    })
}

async fn wait_available(
    client: &Client,
    snapshot: &Snapshot,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    let not_found = NotFound::new("backup");
    wait_for(
        &format!("the backup `{}` to become AVAILABLE", snapshot.name),
        timeout,
        || client.describe_backup().backup_arn(&snapshot.arn).send(),
        |result| match result {
            // Right after CreateBackup the backup may not be visible yet.
            Err(e) if e.is_backup_not_found_exception() => not_found.poll(),
            Err(_) => Poll::Unexpected,
            Ok(out) => match out
                .backup_description()
                .and_then(|d| d.backup_details())
                .map(|d| d.backup_status())
            {
                Some(BackupStatus::Available) => Poll::Done,
                Some(BackupStatus::Deleted) => {
                    Poll::Failed("the backup was deleted before it became AVAILABLE".into())
                }
                Some(status) => {
                    not_found.seen();
                    Poll::Pending(status.as_str().to_string())
                }
                None => Poll::Pending("no status yet".into()),
            },
        },
        |state| task.set(&format!("waiting for the snapshot ({state})")),
    )
    .await?;
    Ok(())
}

/// The command that restores `snapshot` into the stack's table (once the table is gone).
pub fn restore_command(stack: &crate::config::Stack, snapshot: &Snapshot) -> String {
    match &stack.stage {
        Some(stage) => format!(
            "stackctl --stage {stage} restore --snapshot {}",
            snapshot.arn
        ),
        None => format!("stackctl restore --snapshot {}", snapshot.arn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(name: &str, stage: Option<&str>) -> crate::config::Stack {
        let mut stack = crate::resources::shipped_stack();
        stack.name = name.into();
        stack.stage = stage.map(str::to_string);
        stack
    }

    #[test]
    fn a_snapshot_is_named_after_the_stack_stage_and_time_within_dynamodbs_rules() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_463_379);
        let time = "20261205T093619Z";
        assert_eq!(
            snapshot_name(&stack("app", None), at),
            format!("stackctl-app-{time}")
        );
        assert_eq!(
            snapshot_name(&stack("my_app", Some("pr-7")), at),
            format!("stackctl-my_app-pr-7-{time}")
        );
        let long = snapshot_name(&stack(&"x".repeat(400), Some("prod")), at);
        assert_eq!(long.len(), NAME_MAX);
        assert!(long.ends_with(time), "{long}");
        let odd = snapshot_name(&stack("a b/c", None), at);
        assert!(
            odd.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)),
            "{odd}"
        );
    }
}
