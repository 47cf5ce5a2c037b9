//! A backup's header: the format's names and version, where its items came from (`Origin`, with the
//! table's key schema), and whether a backup may go into a table (`check_origin`).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::config::KeyAttribute;

/// The header's `format`; the end line's is [`END`]. Items never have a string-valued field, so neither line
/// can be mistaken for an item.
pub const FORMAT: &str = "stackctl-backup";
pub const END: &str = "stackctl-backup-end";
/// The file format this stackctl writes and the newest it reads.
pub const VERSION: u64 = 1;

/// Where a backup's items came from (its header), or where a restore would put them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub stack: String,
    pub stage: Option<String>,
    pub table: String,
    pub region: String,
    pub account: String,
    pub key_schema: Vec<KeyField>,
}

/// One attribute of the key schema, partition key first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyField {
    pub name: String,
    /// S, N or B.
    #[serde(rename = "type")]
    pub key_type: String,
    /// HASH or RANGE.
    pub role: String,
}

impl Origin {
    /// The origin of a table: its stack and stage, and the region and account from its ARN
    /// (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
    pub fn new(
        stack: &crate::config::Stack,
        table: &str,
        arn: &str,
        keys: &[KeyAttribute],
    ) -> Origin {
        let (region, account) = region_and_account(arn);
        Origin {
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            table: table.to_string(),
            region: region.unwrap_or(&stack.region).to_string(),
            account: account.unwrap_or_default().to_string(),
            key_schema: key_fields(keys),
        }
    }

    fn stage_text(&self) -> String {
        match &self.stage {
            Some(stage) => format!("stage `{stage}`"),
            None => "no stage".to_string(),
        }
    }
}

/// The region and account of an ARN (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
fn region_and_account(arn: &str) -> (Option<&str>, Option<&str>) {
    let parts: Vec<&str> = arn.split(':').collect();
    let part = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
    (part(3), part(4))
}

fn key_fields(keys: &[KeyAttribute]) -> Vec<KeyField> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| KeyField {
            name: k.name.clone(),
            key_type: k.key_type.as_str().to_string(),
            role: if i == 0 { "HASH" } else { "RANGE" }.to_string(),
        })
        .collect()
}

/// The key schema as plans show it: `userId (S, HASH), itemId (S, RANGE)`.
pub fn describe_keys(keys: &[KeyField]) -> String {
    keys.iter()
        .map(|k| format!("{} ({}, {})", k.name, k.key_type, k.role))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u64,
    #[serde(flatten)]
    pub origin: Origin,
    /// The items counted before the export (the end line holds the number written).
    pub items: u64,
    /// When the export started (RFC 3339, UTC).
    pub time: String,
}

impl Header {
    pub fn new(origin: Origin, items: u64) -> Header {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            origin,
            items,
            time: crate::dates::rfc3339_seconds(std::time::SystemTime::now()),
        }
    }
}

/// Refuses a restore of a backup from `from` into `to`: always when the key schemas differ (the items
/// would not fit), and when the table, stage, region or account differ unless `allow_other_source`.
pub fn check_origin(from: &Origin, to: &Origin, allow_other_source: bool) -> Result<()> {
    if from.key_schema != to.key_schema {
        bail!(
            "the backup's key schema is {} but table `{}` has {}: its items cannot go into this table \
             (a key schema never changes); restore it into a table with the backup's keys",
            describe_keys(&from.key_schema),
            to.table,
            describe_keys(&to.key_schema)
        );
    }
    let mut other = Vec::new();
    if from.table != to.table {
        other.push(format!("table `{}` (here: `{}`)", from.table, to.table));
    }
    if from.stage != to.stage {
        other.push(format!("{} (here: {})", from.stage_text(), to.stage_text()));
    }
    if from.region != to.region {
        other.push(format!("region {} (here: {})", from.region, to.region));
    }
    if from.account != to.account {
        other.push(format!("account {} (here: {})", from.account, to.account));
    }
    if other.is_empty() || allow_other_source {
        return Ok(());
    }
    bail!(
        "the backup comes from {}: pass --allow-other-source to restore it here anyway",
        other.join(", ")
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(in crate::backup) fn keys() -> Vec<KeyField> {
        vec![
            KeyField {
                name: "userId".into(),
                key_type: "S".into(),
                role: "HASH".into(),
            },
            KeyField {
                name: "itemId".into(),
                key_type: "S".into(),
                role: "RANGE".into(),
            },
        ]
    }

    pub(in crate::backup) fn origin() -> Origin {
        Origin {
            stack: "app".into(),
            stage: None,
            table: "app-data".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            key_schema: keys(),
        }
    }

    #[test]
    fn a_backup_goes_back_only_where_it_came_from_unless_the_flag_says_so() {
        let here = origin();
        assert!(check_origin(&origin(), &here, false).is_ok());
        let mut other = origin();
        other.stage = Some("prod".into());
        other.account = "999999999999".into();
        let err = check_origin(&other, &here, false).unwrap_err().to_string();
        assert!(
            err.contains(
                "stage `prod` (here: no stage), account 999999999999 (here: 123456789012)"
            ) && err.contains("--allow-other-source"),
            "{err}"
        );
        assert!(check_origin(&other, &here, true).is_ok());
        // Keys that do not fit: never, whatever the flag.
        let mut keys = origin();
        keys.key_schema.pop();
        let err = check_origin(&keys, &here, true).unwrap_err().to_string();
        assert!(
            err.contains("key schema is userId (S, HASH) but table `app-data` has userId (S, HASH), itemId (S, RANGE)"),
            "{err}"
        );
    }

    #[test]
    fn origin_takes_region_and_account_from_the_tables_arn() {
        assert_eq!(
            region_and_account("arn:aws:dynamodb:eu-west-1:111122223333:table/t"),
            (Some("eu-west-1"), Some("111122223333"))
        );
        assert_eq!(region_and_account("garbage"), (None, None));
        let keys = key_fields(&[KeyAttribute {
            name: "id".into(),
            key_type: crate::config::KeyType::N,
        }]);
        assert_eq!(describe_keys(&keys), "id (N, HASH)");
    }
}
