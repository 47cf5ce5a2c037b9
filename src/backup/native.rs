//! DynamoDB's own (native) backups of the stack's table: list them (every page), describe one, find one by
//! name or ARN, and start a restore of one into a table name (the command waits for ACTIVE and tags it).

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{BackupDescription, BackupSummary, BackupTypeFilter, BillingMode};
use aws_sdk_dynamodb::Client;
use serde::Serialize;

use crate::config::KeyAttribute;

/// One backup as `backups` shows it and `restore --snapshot` checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupRow {
    pub name: String,
    pub arn: String,
    /// The table it was taken from (its name then: a backup outlives its table).
    pub table: String,
    /// USER (on-demand: `down --snapshot`, the console, the CLI), SYSTEM (kept by DynamoDB after a table with
    /// point-in-time recovery was deleted) or AWS_BACKUP.
    #[serde(rename = "type")]
    pub kind: String,
    /// CREATING, AVAILABLE or DELETED.
    pub status: String,
    /// BackupSizeBytes; null when DynamoDB does not say (yet).
    pub size_bytes: Option<i64>,
    /// When it was requested, RFC 3339 UTC.
    pub created: String,
    /// When DynamoDB deletes it (SYSTEM backups: 35 days after the table's deletion); null: kept until deleted.
    pub expires: Option<String>,
}

/// What DescribeBackup says beside the row: the source table as it was when the backup was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub row: BackupRow,
    /// SourceTableDetails' key schema: names and roles only (partition key first); DynamoDB does not say the
    /// attributes' types before the restore.
    pub key_names: Vec<String>,
    /// SourceTableDetails' ItemCount, when given.
    pub items: Option<i64>,
}

/// What `restore --snapshot` was given: a backup ARN, or a backup's name (resolved among the stack's table's
/// backups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    Arn(BackupArn),
    Name(String),
}

/// The parts of a backup ARN: `arn:<partition>:dynamodb:<region>:<account>:table/<table>/backup/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupArn {
    pub arn: String,
    pub region: String,
    pub table: String,
}

impl Wanted {
    /// An ARN (it starts with `arn:`) must be a DynamoDB backup's; anything else is a backup name: 3-255 of
    /// `[a-zA-Z0-9_.-]` as the API reference says, and `$`, which the SYSTEM backups DynamoDB names itself
    /// carry (`<table>$DeletedTableBackup`). Checked before anything is sent.
    pub fn parse(value: &str) -> Result<Wanted> {
        if value.starts_with("arn:") {
            return parse_arn(value).map(Wanted::Arn);
        }
        let ok = (3..=255).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '$'));
        if !ok {
            bail!(
                "`--snapshot {}` is neither a backup ARN (arn:aws:dynamodb:<region>:<account>:table/<table>/\
                 backup/<id>) nor a backup name (3-255 of a-z A-Z 0-9 _ . - $): `stackctl backups` lists the \
                 stack's backups with both",
                crate::escape::terminal(value)
            );
        }
        Ok(Wanted::Name(value.to_string()))
    }
}

fn parse_arn(value: &str) -> Result<BackupArn> {
    let bad = || {
        anyhow::anyhow!(
            "`{}` is not a DynamoDB backup ARN (arn:aws:dynamodb:<region>:<account>:table/<table>/backup/\
             <id>): `stackctl backups` lists the stack's backups with their ARNs",
            crate::escape::terminal(value)
        )
    };
    // Printable ASCII only: an ARN never holds anything else, and the value is echoed in messages.
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad());
    }
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [_, _partition, service, region, _account, resource] = parts.as_slice() else {
        return Err(bad());
    };
    let segments: Vec<&str> = resource.split('/').collect();
    match (*service, segments.as_slice()) {
        ("dynamodb", ["table", table, "backup", id])
            if !region.is_empty() && !table.is_empty() && !id.is_empty() =>
        {
            Ok(BackupArn {
                arn: value.to_string(),
                region: region.to_string(),
                table: table.to_string(),
            })
        }
        _ => Err(bad()),
    }
}

/// Every backup of `table` (by its name; USER, SYSTEM and AWS_BACKUP), every page, newest first.
pub async fn list_backups(client: &Client, table: &str) -> Result<Vec<BackupRow>> {
    let mut rows = Vec::new();
    let mut start: Option<String> = None;
    loop {
        crate::interrupt::check("the next page of backups")?;
        let out = client
            .list_backups()
            .table_name(table)
            .backup_type(BackupTypeFilter::All)
            .set_exclusive_start_backup_arn(start.clone())
            .send()
            .await
            .with_context(|| format!("listing the backups of DynamoDB table `{table}`"))?;
        rows.extend(out.backup_summaries().iter().map(row_of_summary));
        match out.last_evaluated_backup_arn() {
            // A page that hands back where it started would loop for ever: DynamoDB's contract is a new
            // position each page, so a repeat is an error, not the end.
            Some(next) if start.as_deref() == Some(next) => bail!(
                "DynamoDB answered the same page of backups of `{table}` twice (LastEvaluatedBackupArn {next})"
            ),
            Some(next) => start = Some(next.to_string()),
            None => break,
        }
    }
    newest_first(&mut rows);
    Ok(rows)
}

/// Newest first; backups made in the same millisecond by name, so the order is stable.
pub fn newest_first(rows: &mut [BackupRow]) {
    rows.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
}

fn time(at: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    at.and_then(|t| t.to_millis().ok())
        .map(crate::dates::rfc3339_millis_since_epoch)
}

fn row_of_summary(s: &BackupSummary) -> BackupRow {
    BackupRow {
        name: s.backup_name().unwrap_or_default().to_string(),
        arn: s.backup_arn().unwrap_or_default().to_string(),
        table: s.table_name().unwrap_or_default().to_string(),
        kind: s
            .backup_type()
            .map_or("unknown", |t| t.as_str())
            .to_string(),
        status: s
            .backup_status()
            .map_or("unknown", |t| t.as_str())
            .to_string(),
        size_bytes: s.backup_size_bytes(),
        created: time(s.backup_creation_date_time()).unwrap_or_default(),
        expires: time(s.backup_expiry_date_time()),
    }
}

fn described(description: &BackupDescription, arn: &str) -> Result<Described> {
    let details = description
        .backup_details()
        .with_context(|| format!("DynamoDB described backup `{arn}` without its details"))?;
    let source = description.source_table_details();
    let mut keys: Vec<_> = source.map(|s| s.key_schema().to_vec()).unwrap_or_default();
    keys.sort_by_key(|k| *k.key_type() != aws_sdk_dynamodb::types::KeyType::Hash);
    Ok(Described {
        row: BackupRow {
            name: details.backup_name().to_string(),
            arn: details.backup_arn().to_string(),
            table: source
                .map(|s| s.table_name())
                .unwrap_or_default()
                .to_string(),
            kind: details.backup_type().as_str().to_string(),
            status: details.backup_status().as_str().to_string(),
            size_bytes: details.backup_size_bytes(),
            created: time(Some(details.backup_creation_date_time())).unwrap_or_default(),
            expires: time(details.backup_expiry_date_time()),
        },
        key_names: keys
            .iter()
            .map(|k| k.attribute_name().to_string())
            .collect(),
        items: source.and_then(|s| s.item_count()),
    })
}

/// DescribeBackup; None when DynamoDB has no such backup (BackupNotFoundException).
pub async fn describe_backup(client: &Client, arn: &str) -> Result<Option<Described>> {
    match client.describe_backup().backup_arn(arn).send().await {
        Ok(out) => match out.backup_description() {
            Some(description) => described(description, arn).map(Some),
            None => bail!("DynamoDB described backup `{arn}` without a description"),
        },
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_backup_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("describing DynamoDB backup `{arn}`")),
    }
}

/// The backup `wanted` names: an ARN is described; a name is looked up among `table`'s backups (every page)
/// and must name exactly one of them (two backups may share a name: then their ARNs are listed).
pub async fn resolve_backup(client: &Client, table: &str, wanted: &Wanted) -> Result<Described> {
    let arn = match wanted {
        Wanted::Arn(arn) => arn.arn.clone(),
        Wanted::Name(name) => {
            let rows = list_backups(client, table).await?;
            one_named(&rows, name, table)?.arn.clone()
        }
    };
    describe_backup(client, &arn).await?.with_context(|| {
        format!("DynamoDB has no backup `{arn}` (deleted?): `stackctl backups` lists the stack's backups")
    })
}

/// The one row named `name`; an error naming the fix when there is none or more than one. Pure.
pub fn one_named<'r>(rows: &'r [BackupRow], name: &str, table: &str) -> Result<&'r BackupRow> {
    let named: Vec<&BackupRow> = rows.iter().filter(|r| r.name == name).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => bail!(
            "table `{table}` has no backup named `{name}`: `stackctl backups` lists its backups (another stage's \
             backup: pass its ARN with --allow-other-source)"
        ),
        many => bail!(
            "{} backups of table `{table}` are named `{name}`: pass the ARN of the one to restore:\n  {}",
            many.len(),
            many.iter()
                .map(|r| format!("{} (created {}, {})", r.arn, r.created, r.status))
                .collect::<Vec<_>>()
                .join("\n  ")
        ),
    }
}

/// Whether a backup may be restored: only an AVAILABLE one (DynamoDB refuses the others); the error says
/// why and what to do. Pure.
pub fn check_restorable(row: &BackupRow) -> Result<()> {
    match row.status.as_str() {
        "AVAILABLE" => Ok(()),
        "CREATING" => bail!(
            "backup `{}` is still CREATING: run restore again once `stackctl backups` shows it AVAILABLE",
            row.arn
        ),
        "DELETED" => bail!(
            "backup `{}` is DELETED: choose another one (`stackctl backups`)",
            row.arn
        ),
        other => bail!(
            "backup `{}` is {other}, not AVAILABLE: only an AVAILABLE backup can be restored",
            row.arn
        ),
    }
}

/// Whether the backup's key schema (names and roles: partition key first) is stack.toml's. Pure.
pub fn keys_match(key_names: &[String], wanted: &[KeyAttribute]) -> bool {
    key_names.len() == wanted.len() && key_names.iter().zip(wanted).all(|(n, w)| *n == w.name)
}

/// Why the restore was refused by DynamoDB in a way the command answers itself.
#[derive(Debug)]
pub enum Refused {
    /// TableAlreadyExistsException: the target name was taken between the check and the restore.
    TableExists,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DynamoDB: a table with this name already exists")
    }
}

impl std::error::Error for Refused {}

/// RestoreTableFromBackup of `arn` into a new table `target`, billed as `billing_mode` (stack.toml's): the
/// table then starts CREATING (the caller waits for ACTIVE and tags it: DynamoDB restores no tags). A table
/// of that name made meanwhile is `Refused::TableExists`.
pub async fn start_restore(
    client: &Client,
    arn: &str,
    target: &str,
    billing_mode: &str,
) -> Result<()> {
    let result = client
        .restore_table_from_backup()
        .target_table_name(target)
        .backup_arn(arn)
        .billing_mode_override(BillingMode::from(billing_mode))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_table_already_exists_exception()) =>
        {
            Err(Refused::TableExists.into())
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_backup_in_use_exception()) =>
        {
            Err(err).with_context(|| {
                format!(
                    "restoring backup `{arn}`: DynamoDB says it is in use (another operation on it is running): \
                     run restore again in a minute"
                )
            })
        }
        Err(err) => Err(err).with_context(|| {
            format!("restoring DynamoDB backup `{arn}` into table `{target}`")
        }),
    }
}

#[cfg(test)]
mod tests;
