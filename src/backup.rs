//! Table data around teardown: count items, export them all to a JSON Lines file (DynamoDB's typed JSON, so
//! every attribute type survives) written atomically, and restore such a file into the table.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde_json::{json, Value};

use crate::progress::Task;

type Item = HashMap<String, AttributeValue>;

/// Counts the table's items with a paginated, strongly consistent COUNT scan (DescribeTable's ItemCount
/// is only refreshed every few hours).
pub async fn count_items(client: &Client, table: &str) -> Result<u64> {
    let mut total = 0u64;
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("counting the items of DynamoDB table `{table}`"))?;
        total += page.count() as u64;
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// Writes every item to `file` (one JSON object per line), then checks the file holds `expected` items.
/// The file appears only when complete: it is written next to its destination and renamed.
pub async fn export(
    client: &Client,
    table: &str,
    file: &Path,
    expected: u64,
    task: &Task,
) -> Result<u64> {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating the backup next to `{}`", file.display()))?;
    let mut written = 0u64;
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
        for item in page.items() {
            serde_json::to_writer(&mut out, &item_to_json(item))?;
            out.write_all(b"\n")?;
            written += 1;
        }
        task.set(&format!("backing up ({written} items)"));
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    out.as_file().sync_all()?;
    if written != expected {
        bail!(
            "the backup holds {written} items but the table held {expected} when counted (is something still writing to it?); \
             the table was not deleted and no backup file was written"
        );
    }
    out.persist(file)
        .with_context(|| format!("writing the backup `{}`", file.display()))?;
    Ok(written)
}

/// Puts every item of a backup file into `table` (25 per BatchWriteItem, retrying unprocessed items).
pub async fn restore(client: &Client, table: &str, file: &Path, task: &Task) -> Result<u64> {
    let reader = std::io::BufReader::new(
        std::fs::File::open(file)
            .with_context(|| format!("opening the backup `{}`", file.display()))?,
    );
    let mut items = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("reading `{}`", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a JSON object", file.display(), number + 1))?;
        items.push(
            item_from_json(&value).with_context(|| format!("{}:{}", file.display(), number + 1))?,
        );
    }
    let total = items.len() as u64;
    let mut restored = 0u64;
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, _>>()?;
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        while !pending.is_empty() {
            tries += 1;
            if tries > 12 {
                bail!("DynamoDB kept {} items unprocessed after 12 tries; {restored} of {total} items were restored, run restore again", pending.len());
            }
            crate::interrupt::check("the next batch of items")?;
            let out = client
                .batch_write_item()
                .request_items(table, pending.clone())
                .send()
                .await
                .with_context(|| format!("writing items into DynamoDB table `{table}`"))?;
            let left = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            restored += (pending.len() - left.len()) as u64;
            if !left.is_empty() {
                // Throttled: back off, as DynamoDB asks, before sending the rest again.
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            pending = left;
        }
        task.set(&format!("restored {restored} of {total} items"));
    }
    Ok(restored)
}

/// DynamoDB's typed JSON, as the AWS CLI prints it: `{"userId": {"S": "u1"}, "n": {"N": "1.5"}}`.
pub fn item_to_json(item: &Item) -> Value {
    let mut keys: Vec<&String> = item.keys().collect();
    keys.sort();
    Value::Object(
        keys.into_iter()
            .map(|k| (k.clone(), value_to_json(&item[k])))
            .collect(),
    )
}

fn b64(blob: &Blob) -> String {
    base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
}

fn value_to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => json!({ "BS": list.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(list) => {
            json!({ "L": list.iter().map(value_to_json).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": item_to_json(map) }),
        // A type newer than this SDK: keep what we can see rather than dropping the attribute silently.
        other => json!({ "UNKNOWN": format!("{other:?}") }),
    }
}

pub fn item_from_json(value: &Value) -> Result<Item> {
    let Value::Object(map) = value else {
        bail!("an item must be a JSON object")
    };
    map.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                value_from_json(v).with_context(|| format!("attribute `{k}`"))?,
            ))
        })
        .collect()
}

fn value_from_json(value: &Value) -> Result<AttributeValue> {
    let Some((kind, inner)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        bail!("expected one type key such as {{\"S\": ...}}, got {value}");
    };
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .with_context(|| format!("{kind} needs a string"))
    };
    let strings = |v: &Value| -> Result<Vec<String>> {
        v.as_array()
            .with_context(|| format!("{kind} needs a list"))?
            .iter()
            .map(string)
            .collect()
    };
    let blob = |v: &Value| -> Result<Blob> {
        Ok(Blob::new(
            base64::engine::general_purpose::STANDARD
                .decode(string(v)?)
                .context("binary values are base64")?,
        ))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(string(inner)?),
        "N" => AttributeValue::N(string(inner)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().context("BOOL needs true or false")?),
        "NULL" => AttributeValue::Null(inner.as_bool().unwrap_or(true)),
        "SS" => AttributeValue::Ss(strings(inner)?),
        "NS" => AttributeValue::Ns(strings(inner)?),
        "BS" => AttributeValue::Bs(
            inner
                .as_array()
                .context("BS needs a list")?
                .iter()
                .map(blob)
                .collect::<Result<_>>()?,
        ),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .context("L needs a list")?
                .iter()
                .map(value_from_json)
                .collect::<Result<_>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(inner)?),
        other => bail!("unknown DynamoDB type `{other}`"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_type_round_trips() {
        let item: Item = HashMap::from([
            ("s".to_string(), AttributeValue::S("text ✓".into())),
            ("n".to_string(), AttributeValue::N("-1.5e10".into())),
            (
                "b".to_string(),
                AttributeValue::B(Blob::new(vec![0, 255, 7])),
            ),
            ("t".to_string(), AttributeValue::Bool(true)),
            ("z".to_string(), AttributeValue::Null(true)),
            (
                "ss".to_string(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            (
                "ns".to_string(),
                AttributeValue::Ns(vec!["1".into(), "2".into()]),
            ),
            (
                "bs".to_string(),
                AttributeValue::Bs(vec![Blob::new(vec![1]), Blob::new(vec![2, 3])]),
            ),
            (
                "l".to_string(),
                AttributeValue::L(vec![
                    AttributeValue::S("x".into()),
                    AttributeValue::M(HashMap::from([(
                        "k".to_string(),
                        AttributeValue::N("3".into()),
                    )])),
                ]),
            ),
            (
                "m".to_string(),
                AttributeValue::M(HashMap::from([(
                    "inner".to_string(),
                    AttributeValue::Bool(false),
                )])),
            ),
        ]);
        let json = item_to_json(&item);
        let line = serde_json::to_string(&json).unwrap();
        let back = item_from_json(&serde_json::from_str(&line).unwrap()).unwrap();
        assert_eq!(back, item);
        assert_eq!(json["b"]["B"], "AP8H");
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(item_from_json(&json!({"a": {"S": 1}})).is_err());
        assert!(item_from_json(&json!({"a": {"X": "1"}})).is_err());
        assert!(item_from_json(&json!([1])).is_err());
    }
}
