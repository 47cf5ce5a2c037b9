//! The table's DynamoDB calls: read it and its tags, create, update, tag, delete, and wait for ACTIVE or gone;
//! read and set its point-in-time recovery.

use super::*;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;

pub async fn read(client: &Client, name: &str) -> Result<Option<LiveTable>> {
    match client.describe_table().table_name(name).send().await {
        Ok(out) => Ok(out.table().map(LiveTable::from_description)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("reading DynamoDB table `{name}`")),
    }
}

/// The table's tags; None when DynamoDB answers ResourceNotFound, which it does both for a table that is
/// gone and (reported on AWS) for one still CREATING: the caller asks DescribeTable which it is.
pub async fn read_tags(client: &Client, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
    let mut tags = BTreeMap::new();
    let mut next = None;
    loop {
        let out = match client
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(err) => return Err(err).with_context(|| format!("reading the tags of `{arn}`")),
        };
        for tag in out.tags() {
            tags.insert(tag.key().to_string(), tag.value().to_string());
        }
        next = out.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(Some(tags));
        }
    }
}

/// Creates the table (tagged) and waits until it is ACTIVE. A table that appeared meanwhile is used as long
/// as its key schema matches.
pub async fn create(
    client: &Client,
    spec: &TableSpec,
    tags: &BTreeMap<String, String>,
    timeout: Duration,
    task: &Task,
) -> Result<LiveTable> {
    task.set("creating");
    let mut request = client
        .create_table()
        .table_name(&spec.name)
        .billing_mode(BillingMode::PayPerRequest)
        .deletion_protection_enabled(spec.deletion_protection);
    for (i, key) in desired_keys(spec).iter().enumerate() {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(&key.name)
                    .attribute_type(ScalarAttributeType::from(key.key_type.as_str()))
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(&key.name)
                    .key_type(if i == 0 {
                        KeyRole::Hash
                    } else {
                        KeyRole::Range
                    })
                    .build()?,
            );
    }
    for (key, value) in tags {
        request = request.tags(Tag::builder().key(key).value(value).build()?);
    }
    match request.send().await {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            // Someone (another up?) created it between our read and now: fine if it is the same table.
            task.set("already exists; checking its key schema");
        }
        Err(err) => {
            return Err(err).with_context(|| format!("creating DynamoDB table `{}`", spec.name))
        }
    }
    let live = wait_active(client, &spec.name, timeout, task).await?;
    if let TableDiff::KeyConflict { live, desired } = diff(spec, Some(&live), None) {
        bail!(
            "table `{}` exists with key schema {live}, not {desired}",
            spec.name
        );
    }
    Ok(live)
}

/// Changes what can change in place, in one UpdateTable (AWS refuses an UpdateTable that changes nothing,
/// so only the differing settings are sent), then waits for ACTIVE.
pub async fn update(
    client: &Client,
    spec: &TableSpec,
    billing_mode: bool,
    deletion_protection: bool,
    timeout: Duration,
    task: &Task,
) -> Result<LiveTable> {
    task.set("updating");
    let mut request = client.update_table().table_name(&spec.name);
    if billing_mode {
        request = request.billing_mode(BillingMode::PayPerRequest);
    }
    if deletion_protection {
        request = request.deletion_protection_enabled(spec.deletion_protection);
    }
    request
        .send()
        .await
        .with_context(|| format!("updating DynamoDB table `{}`", spec.name))?;
    wait_active(client, &spec.name, timeout, task).await
}

/// Adds or updates tags (TagResource replaces the value of an existing key).
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?;
    client
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("tagging `{arn}`"))?;
    Ok(())
}

/// Waits until the table is ACTIVE. Right after CreateTable, DescribeTable may briefly answer
/// ResourceNotFound (eventual consistency): that is "not yet", not an error.
pub async fn wait_active(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<LiveTable> {
    let what = format!("table `{name}` to become ACTIVE");
    let not_found = NotFound::new("table");
    let out = wait_for(
        &what,
        timeout,
        || client.describe_table().table_name(name).send(),
        |result| match result {
            Err(e) if e.is_resource_not_found_exception() => not_found.poll(),
            Ok(out) => match out.table().and_then(|t| t.table_status()) {
                Some(TableStatus::Active) => Poll::Done,
                Some(TableStatus::Deleting) => Poll::Failed("the table is being deleted".into()),
                Some(status) => {
                    not_found.seen();
                    Poll::Pending(status.as_str().to_string())
                }
                None => Poll::Pending("no status yet".into()),
            },
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for ACTIVE ({state})")),
    )
    .await?;
    out.and_then(|o| o.table().map(LiveTable::from_description))
        .with_context(|| format!("DynamoDB described table `{name}` without a description"))
}

/// Deletes the table and waits until it is gone. Already gone is success; CREATING/UPDATING is waited out
/// first, because DeleteTable refuses those.
pub async fn delete(client: &Client, name: &str, timeout: Duration, task: &Task) -> Result<()> {
    task.set("deleting");
    let started = std::time::Instant::now();
    loop {
        match client.delete_table().table_name(name).send().await {
            Ok(_) => break,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                return Ok(())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                // CREATING or UPDATING: wait until it settles (bounded by the same timeout overall). If
                // someone else's delete got there first, it is now DELETING: just wait until it is gone.
                if started.elapsed() > timeout {
                    return Err(err).with_context(|| {
                        format!(
                            "deleting DynamoDB table `{name}` (still in use after {}s)",
                            timeout.as_secs()
                        )
                    });
                }
                task.set("waiting for ACTIVE before deleting");
                match read(client, name).await? {
                    None => return Ok(()),
                    Some(live) if live.status == "DELETING" => break,
                    Some(_) => {
                        wait_active(client, name, timeout, task).await?;
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
            Err(err) => {
                return Err(err).with_context(|| format!("deleting DynamoDB table `{name}`"))
            }
        }
    }
    wait_gone(client, name, timeout, task).await
}

async fn wait_gone(client: &Client, name: &str, timeout: Duration, task: &Task) -> Result<()> {
    wait_for(
        &format!("table `{name}` to be deleted"),
        timeout,
        || client.describe_table().table_name(name).send(),
        |result| match result {
            Err(e) if e.is_resource_not_found_exception() => Poll::Done,
            Err(_) => Poll::Unexpected,
            Ok(out) => Poll::Pending(
                out.table()
                    .and_then(|t| t.table_status())
                    .map_or("unknown".into(), |s| s.as_str().to_string()),
            ),
        },
        |state| task.set(&format!("waiting until gone ({state})")),
    )
    .await
    .map(|_| ())
}

/// The table's point-in-time recovery (DescribeContinuousBackups): `Days` when ENABLED (AWS leaves
/// `RecoveryPeriodInDays` out for tables enabled before periods existed: those keep 35), else `Off`. None:
/// the table is gone (TableNotFoundException).
pub async fn read_recovery(client: &Client, name: &str) -> Result<Option<PointInTimeRecovery>> {
    let out = match client
        .describe_continuous_backups()
        .table_name(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_table_not_found_exception()) =>
        {
            return Ok(None)
        }
        // Not among DescribeContinuousBackups' documented errors, but its meaning ("backups have not yet
        // been enabled for this table", a table just created) is unambiguous: recovery is not on yet.
        Err(err)
            if err.as_service_error().and_then(|e| e.code())
                == Some("ContinuousBackupsUnavailableException") =>
        {
            return Ok(Some(PointInTimeRecovery::Off))
        }
        Err(err) => {
            return Err(err).with_context(|| {
                format!("reading the point-in-time recovery of DynamoDB table `{name}`")
            })
        }
    };
    let recovery = out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .filter(|p| p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled))
        .map_or(PointInTimeRecovery::Off, |p| {
            PointInTimeRecovery::Days(p.recovery_period_in_days().unwrap_or(MAX_RECOVERY_DAYS))
        });
    Ok(Some(recovery))
}

/// Sets the table's point-in-time recovery (UpdateContinuousBackups: on with its period, or off, which takes
/// no period). Right after CreateTable AWS answers ContinuousBackupsUnavailableException while it turns on
/// the table's continuous backups: that is retried with the repo's backoff, within the table's timeout.
pub async fn set_recovery(
    client: &Client,
    name: &str,
    want: PointInTimeRecovery,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    task.set(&format!("setting point-in-time recovery to {want}"));
    let spec = match want {
        PointInTimeRecovery::Off => PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(false)
            .build()?,
        PointInTimeRecovery::Days(days) => PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .recovery_period_in_days(days)
            .build()?,
    };
    let send = || async {
        client
            .update_continuous_backups()
            .table_name(name)
            .point_in_time_recovery_specification(spec.clone())
            .send()
            .await
            .map_err(aws_sdk_dynamodb::Error::from)
            .with_context(|| {
                format!("setting the point-in-time recovery of DynamoDB table `{name}` to {want}")
            })
    };
    crate::aws::retry_while(timeout, send, backups_unavailable, |_| {
        task.set("waiting for the table's continuous backups to be available")
    })
    .await?;
    Ok(())
}

/// ContinuousBackupsUnavailableException: the table's backups are still being turned on (a new table).
pub(super) fn backups_unavailable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<aws_sdk_dynamodb::Error>(),
            Some(aws_sdk_dynamodb::Error::ContinuousBackupsUnavailableException(_))
        )
    })
}
