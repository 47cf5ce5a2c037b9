//! Counting a table's items: strongly consistent scans, never DescribeTable's estimate.

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::Select;
use aws_sdk_dynamodb::Client;

use super::item_json::Item;

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

/// Whether the table holds any item: one strongly consistent read of at most one item.
pub async fn is_empty(client: &Client, table: &str) -> Result<bool> {
    let page = client
        .scan()
        .table_name(table)
        .limit(1)
        .consistent_read(true)
        .send()
        .await
        .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
    Ok(page.count() == 0 && page.last_evaluated_key().is_none())
}
