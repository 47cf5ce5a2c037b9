//! The log group's CloudWatch Logs calls: find it by exact name, read its tags, create, set the retention,
//! tag, delete (and check it stayed gone).

use super::*;

/// `group_name` for commands that have not read the function (`logs`): GetFunctionConfiguration's
/// `LoggingConfig.LogGroup`; the stack file's group when the function does not exist (yet).
pub async fn function_group(
    lambda: &aws_sdk_lambda::Client,
    function: &StackFunction,
) -> Result<String> {
    let (spec, function) = (&function.log_group, &function.spec.name);
    match lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .logging_config()
            .and_then(|l| l.log_group())
            .filter(|g| !g.is_empty())
            .unwrap_or(&spec.name)
            .to_string()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(spec.name.clone())
        }
        Err(err) => Err(err).with_context(|| {
            format!(
                "reading where Lambda function `{function}` writes its logs (its LoggingConfig)"
            )
        }),
    }
}

/// The group named exactly `name`, or None. DescribeLogGroups only searches by prefix (and
/// `/aws/lambda/api` is a prefix of `/aws/lambda/api-v2`), so every page is looked through for the exact
/// name.
#[cfg(test)] // the engine reads in two steps (the tags only when needed); the tests read both
pub async fn read(client: &Client, name: &str) -> Result<Option<LiveLogGroup>> {
    let Some(described) = describe(client, name).await? else {
        return Ok(None);
    };
    Ok(read_tags(client, &described.arn)
        .await?
        .map(|tags| LiveLogGroup { tags, ..described }))
}

/// The group named exactly `name` without its tags (`tags` left empty), or None.
pub async fn describe(client: &Client, name: &str) -> Result<Option<LiveLogGroup>> {
    let mut next: Option<String> = None;
    let group = loop {
        let out = client
            .describe_log_groups()
            .log_group_name_prefix(name)
            .set_next_token(next.clone())
            .send()
            .await
            .with_context(|| format!("reading CloudWatch Logs group `{name}`"))?;
        if let Some(group) = out
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(name))
        {
            break group.clone();
        }
        match out.next_token() {
            // The same token again would loop forever; it means there is nothing more.
            Some(token) if next.as_deref() != Some(token) => next = Some(token.to_string()),
            _ => return Ok(None),
        }
    };
    let arn = group_arn(&group)
        .with_context(|| format!("CloudWatch Logs described group `{name}` without an ARN"))?;
    Ok(Some(LiveLogGroup {
        arn,
        retention_days: group.retention_in_days(),
        tags: BTreeMap::new(),
        deletion_protection: group.deletion_protection_enabled().unwrap_or(false),
    }))
}

/// The group's tags; None when the group is gone (deleted since it was described).
pub async fn read_tags(client: &Client, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
    match client
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
    {
        Ok(out) => Ok(Some(
            out.tags()
                .map(|tags| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        )),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => {
            Err(err).with_context(|| format!("reading the tags of CloudWatch Logs group `{arn}`"))
        }
    }
}

/// `logGroupArn` when the answer has it (it has no `:*`), else `arn` without its `:*`.
fn group_arn(group: &SdkLogGroup) -> Option<String> {
    group
        .log_group_arn()
        .or_else(|| group.arn())
        .map(|arn| without_wildcard(arn).to_string())
}

fn without_wildcard(arn: &str) -> &str {
    arn.strip_suffix(":*").unwrap_or(arn)
}

/// Whether `create` made the group, or found it made meanwhile (by Lambda's first invoke or someone
/// else): then it has neither this stack's tags nor its retention, and the caller reads it and converges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// Creates the group with its tags, then gives it `retention_days` (CreateLogGroup takes no retention).
/// A group that exists already is left as it is (`Created::Existing`).
pub async fn create(
    client: &Client,
    name: &str,
    retention_days: i32,
    tags: &BTreeMap<String, String>,
    task: &Task,
) -> Result<Created> {
    task.set("creating");
    let created = client
        .create_log_group()
        .log_group_name(name)
        .set_tags(tag_map(tags))
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()) =>
        {
            task.set("appeared meanwhile; reading it");
            return Ok(Created::Existing);
        }
        Err(err) => {
            return Err(err).with_context(|| format!("creating CloudWatch Logs group `{name}`"))
        }
    }
    task.set(&format!("setting retention to {retention_days} days"));
    set_retention(client, name, retention_days).await?;
    Ok(Created::New)
}

/// PutRetentionPolicy. `days` must be one CloudWatch allows (the config checked it; moto accepts any).
pub async fn set_retention(client: &Client, name: &str, days: i32) -> Result<()> {
    client
        .put_retention_policy()
        .log_group_name(name)
        .retention_in_days(days)
        .send()
        .await
        .with_context(|| {
            format!("setting the retention of CloudWatch Logs group `{name}` to {days} days")
        })?;
    Ok(())
}

/// Adds or updates tags (TagResource replaces the value of an existing key); no tags, no request. Takes
/// the ARN with or without the `:*` DescribeLogGroups puts on it; sends it without.
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let arn = without_wildcard(arn);
    if tags.is_empty() {
        return Ok(());
    }
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(tag_map(tags))
        .send()
        .await
        .with_context(|| format!("tagging CloudWatch Logs group `{arn}`"))?;
    Ok(())
}

/// The tags in the SDK's shape; None for none (CloudWatch takes at least one tag when `tags` is sent).
fn tag_map(tags: &BTreeMap<String, String>) -> Option<std::collections::HashMap<String, String>> {
    (!tags.is_empty()).then(|| tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// How long DeleteLogGroup is tried again while CloudWatch answers OperationAbortedException (a concurrent
/// change of the same group: "try again").
const ABORTED_BUDGET: Duration = Duration::from_secs(60);

/// How many times a group that came back right after its deletion (a late log write) is deleted again.
pub(super) const DELETE_AGAIN: usize = 3;

/// Deletes the group and its events. Already gone is success; an aborted delete (OperationAbortedException,
/// a concurrent change of the group) is tried again on the house cadence (`aws::retry_while`).
pub async fn delete(client: &Client, name: &str, task: &Task) -> Result<()> {
    retry_while(
        ABORTED_BUDGET,
        || async {
            match client.delete_log_group().log_group_name(name).send().await {
                Ok(_) => Ok(()),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    Ok(())
                }
                Err(err) => Err(aws_sdk_cloudwatchlogs::Error::from(err))
                    .with_context(|| format!("deleting CloudWatch Logs group `{name}`")),
            }
        },
        aborted,
        |_| task.set("aborted by a concurrent change of the group; trying again"),
    )
    .await
}

fn aborted(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<aws_sdk_cloudwatchlogs::Error>()
            .is_some_and(|e| {
                matches!(
                    e,
                    aws_sdk_cloudwatchlogs::Error::OperationAbortedException(_)
                )
            })
    })
}

/// How the delete ended: gone at once, or made again (by an invocation still in flight whose role may
/// `logs:CreateLogGroup`) and deleted again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Gone,
    DeletedAgain,
}

/// Deletes the group, then checks it stayed gone: a group of that name found right after is one Lambda made
/// again for a late log write (untagged) or one of the stack's, and is deleted again, at most `DELETE_AGAIN`
/// times. A group someone else tagged meanwhile is left alone and is an error that says so.
pub async fn delete_and_check(
    client: &Client,
    name: &str,
    owns: impl Fn(&BTreeMap<String, String>) -> bool,
    task: &Task,
) -> Result<Deleted> {
    task.set("deleting");
    delete(client, name, task).await?;
    let mut outcome = Deleted::Gone;
    for _ in 0..DELETE_AGAIN {
        let Some(back) = describe(client, name).await? else {
            return Ok(outcome);
        };
        let tags = read_tags(client, &back.arn).await?.unwrap_or_default();
        if !tags.is_empty() && !owns(&tags) {
            anyhow::bail!(
                "CloudWatch Logs group `{name}` was made again right after it was deleted, by someone else \
                 (tags {tags:?}): left alone"
            );
        }
        task.set("made again by a late log write; deleting it again");
        delete(client, name, task).await?;
        outcome = Deleted::DeletedAgain;
    }
    match describe(client, name).await? {
        None => Ok(outcome),
        Some(_) => anyhow::bail!(
            "CloudWatch Logs group `{name}` keeps coming back after {DELETE_AGAIN} deletions: an invocation of \
             the function is still writing logs and its role may `logs:CreateLogGroup`; delete it once they have \
             ended: aws logs delete-log-group --log-group-name {name}"
        ),
    }
}
