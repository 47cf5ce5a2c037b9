//! restore: a checked backup file's items put into the table, streamed, 25 a BatchWriteItem.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::file::{Line, Reader};
use super::item_json::Item;
use crate::backoff::{Backoff, Limit, Tries};
use crate::progress::Task;

/// BatchWriteItem takes at most 25 items.
const BATCH: usize = 25;

/// Puts every item of a checked backup file into `table`: read line by line, 25 items per
/// BatchWriteItem, unprocessed items sent again with backoff. `expected` is the number `check_file` read.
pub async fn restore(
    client: &Client,
    table: &str,
    file: &Path,
    expected: u64,
    task: &Task,
) -> Result<u64> {
    let mut reader = Reader::open(file)?;
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut restored = 0u64;
    loop {
        let done = match reader.next()? {
            Some((_, Line::Item(item))) => {
                batch.push(item);
                false
            }
            Some(_) => continue,
            None => true,
        };
        if batch.len() == BATCH || (done && !batch.is_empty()) {
            restored += write_batch(
                client,
                table,
                std::mem::take(&mut batch),
                restored,
                expected,
            )
            .await?;
            task.set(&format!("restored {restored} of {expected} items"));
        }
        if done {
            break;
        }
    }
    if restored != expected {
        bail!(
            "`{}` changed while it was restored: {restored} items were written, {expected} were read before",
            file.display()
        );
    }
    Ok(restored)
}

/// One BatchWriteItem of at most 25 items, retrying what DynamoDB leaves unprocessed (throttled).
async fn write_batch(
    client: &Client,
    table: &str,
    items: Vec<Item>,
    before: u64,
    total: u64,
) -> Result<u64> {
    let mut pending: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, _>>()?;
    let mut written = 0u64;
    // Unprocessed items (throttled) are sent again after a pause that doubles from 0.1 s up to 5 s.
    const UNPROCESSED: Backoff =
        Backoff::exponential(Duration::from_millis(100), 2, Duration::from_secs(5));
    let mut tries = Tries::new(UNPROCESSED, Limit::attempts(12));
    while !pending.is_empty() {
        crate::interrupt::check("the next batch of items")?;
        let out = client
            .batch_write_item()
            .request_items(table, pending.clone())
            .send()
            .await
            .with_context(|| {
                format!(
                    "writing items into DynamoDB table `{table}` ({} of {total} restored so far: run restore \
                     again with --overwrite)",
                    before + written
                )
            })?;
        let left = out
            .unprocessed_items()
            .and_then(|u| u.get(table))
            .cloned()
            .unwrap_or_default();
        written += (pending.len() - left.len()) as u64;
        if !left.is_empty() {
            // Throttled: back off, as DynamoDB asks, before sending the rest again.
            let Some(delay) = tries.next() else {
                bail!(
                    "DynamoDB kept {} items unprocessed after 12 tries; {} of {total} items were restored: run \
                     restore again with --overwrite",
                    left.len(),
                    before + written
                );
            };
            tokio::time::sleep(delay).await;
        }
        pending = left;
    }
    Ok(written)
}
