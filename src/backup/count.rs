//! Counting a table's items: whether it holds any (one read of at most one item), or exactly, with strongly
//! consistent COUNT scans in parallel segments; never DescribeTable's estimate (refreshed every six hours).

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::Select;
use aws_sdk_dynamodb::Client;
use futures::future::try_join_all;

use super::item_json::Item;

/// The default number of parallel segments (`--segments`) for an exact count and for `--backup`.
pub const DEFAULT_SEGMENTS: u32 = 8;
/// The most `--segments` accepts: each segment is one request in flight at a time (DynamoDB takes up to
/// 1,000,000; more than a thousand connections from one machine helps no table).
pub const MAX_SEGMENTS: u32 = 1000;

/// The exact number of the table's items: `segments` paginated, strongly consistent COUNT scans run at once
/// (Segment/TotalSegments), summed. A COUNT scan still reads (and bills) every byte of the table, so only
/// `down --count` and `down --backup` ask for it.
pub async fn count_items(client: &Client, table: &str, segments: u32) -> Result<u64> {
    let segments = segments.clamp(1, MAX_SEGMENTS);
    let counts =
        try_join_all((0..segments).map(|segment| count_segment(client, table, segment, segments)))
            .await?;
    Ok(counts.iter().sum())
}

async fn count_segment(client: &Client, table: &str, segment: u32, segments: u32) -> Result<u64> {
    let mut total = 0u64;
    let mut start: Option<Item> = None;
    loop {
        crate::interrupt::check("the next page of the count")?;
        let page = in_segment(client.scan(), segment, segments)
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("counting the items of DynamoDB table `{table}`"))?;
        total += page.count().max(0) as u64;
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// The scan limited to one segment of `segments`; a single segment sends neither parameter (the request is
/// then the plain scan it always was).
pub(super) fn in_segment(
    scan: aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder,
    segment: u32,
    segments: u32,
) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
    if segments <= 1 {
        return scan;
    }
    scan.segment(segment as i32).total_segments(segments as i32)
}

/// Whether the table holds any item: one strongly consistent COUNT scan of at most one item (it returns no
/// item's content). A page that evaluated nothing but says there is more (DynamoDB may end a page early) is
/// followed, so "empty" is only ever said of a table read to its end.
pub async fn is_empty(client: &Client, table: &str) -> Result<bool> {
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .limit(1)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
        if page.count() > 0 {
            return Ok(false);
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(true);
        }
    }
}
