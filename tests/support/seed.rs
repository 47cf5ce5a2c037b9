//! State a test puts in AWS itself, as a user or a colleague would (items, an alias of their own), and the
//! reads that check what stackctl left (the table, its backups).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, Tag};

use super::{create_stack_table, Clients, ACCOUNT};

/// `n` items in `table` with the stack's key schema: `userId` `user-{i % 4}` (four partition keys, so that
/// parallel scans have more than one to split), `itemId` `item-{i:04}`, and a `body` that differs per item
/// (a restore that mixed attributes up would show), padded with `x` to at least `body_bytes`.
pub async fn put_items(aws: &Clients, table: &str, n: usize, body_bytes: usize) {
    for i in 0..n {
        let mut body = format!("body {i} ");
        let pad = body_bytes.saturating_sub(body.len());
        body.push_str(&"x".repeat(pad));
        aws.dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(HashMap::from([
                (
                    "userId".to_string(),
                    AttributeValue::S(format!("user-{}", i % 4)),
                ),
                (
                    "itemId".to_string(),
                    AttributeValue::S(format!("item-{i:04}")),
                ),
                ("body".to_string(), AttributeValue::S(body)),
            ])))
            .send()
            .await
            .unwrap();
    }
}

/// `create_stack_table` (the stack's name and key schema) on demand and tagged `stackctl:stack` = `stack`, as
/// up makes it: the caller may rename it and add tags before sending.
pub fn tagged_stack_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    stack: &str,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    create_stack_table(dynamodb)
        .billing_mode(BillingMode::PayPerRequest)
        .tags(table_tag("stackctl:stack", stack))
}

/// One DynamoDB tag.
pub fn table_tag(key: &str, value: &str) -> Tag {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .expect("a tag with a key and a value")
}

/// Whether DescribeTable finds `table` (any status).
pub async fn table_exists(aws: &Clients, table: &str) -> bool {
    aws.dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .is_ok()
}

/// `table`'s tags (ListTagsOfResource on its ARN in us-east-1), by key.
pub async fn table_tags(aws: &Clients, table: &str) -> BTreeMap<String, String> {
    let arn = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table}");
    aws.dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// `table`'s backups, as (name, ARN, status).
pub async fn backups(aws: &Clients, table: &str) -> Vec<(String, String, String)> {
    let listed = aws
        .dynamodb
        .list_backups()
        .table_name(table)
        .send()
        .await
        .unwrap();
    listed
        .backup_summaries()
        .iter()
        .map(|b| {
            (
                b.backup_name().unwrap_or_default().to_string(),
                b.backup_arn().unwrap_or_default().to_string(),
                b.backup_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Publishes `function`'s `$LATEST` and points the alias `alias` at that version (with `description`, if
/// any), as someone other than stackctl would: the version published.
pub async fn publish_and_alias(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    alias: &str,
    description: Option<&str>,
) -> String {
    let version = lambda
        .publish_version()
        .function_name(function)
        .send()
        .await
        .unwrap()
        .version()
        .unwrap()
        .to_string();
    lambda
        .create_alias()
        .function_name(function)
        .name(alias)
        .function_version(&version)
        .set_description(description.map(str::to_string))
        .send()
        .await
        .unwrap();
    version
}
