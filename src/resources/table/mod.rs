//! The DynamoDB table: read, diff, create and wait for ACTIVE, delete and wait until gone (after reading
//! whether it holds items and, if asked, securing them: `teardown`).

mod api;
mod diff;
mod teardown;
#[cfg(test)]
mod tests;

pub use api::*;
pub use diff::*;
pub use teardown::{count_exactly, first_snapshot, items_report, snapshot_report, TableDown};

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType as KeyRole,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, ScalarAttributeType,
    TableDescription, TableStatus, Tag,
};
use aws_sdk_dynamodb::Client;

use futures::future::BoxFuture;

use crate::aws::{wait_for, NotFound, Poll};
use crate::config::placeholders::{Grant, PlaceholderDecl};
use crate::config::{KeyAttribute, KeyType, PointInTimeRecovery, TableSpec, MAX_RECOVERY_DAYS};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::Task;
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Found, Planned, Purpose, Resource};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    pub arn: String,
    pub status: String,
    /// Partition key first, then the sort key if any.
    pub key_schema: Vec<KeyAttribute>,
    pub billing_mode: String,
    pub deletion_protection: bool,
    /// DescribeTable's ItemCount: DynamoDB's estimate, refreshed about every six hours (None: not given).
    pub item_count: Option<u64>,
}

impl LiveTable {
    fn from_description(table: &TableDescription) -> LiveTable {
        let attribute_type = |name: &str| {
            table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(|d| match d.attribute_type() {
                    ScalarAttributeType::N => KeyType::N,
                    ScalarAttributeType::B => KeyType::B,
                    _ => KeyType::S,
                })
        };
        let mut keys: Vec<&KeySchemaElement> = table.key_schema().iter().collect();
        keys.sort_by_key(|k| *k.key_type() != KeyRole::Hash);
        LiveTable {
            arn: table.table_arn().unwrap_or_default().to_string(),
            status: table
                .table_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            key_schema: keys
                .iter()
                .map(|k| KeyAttribute {
                    name: k.attribute_name().to_string(),
                    key_type: attribute_type(k.attribute_name()).unwrap_or(KeyType::S),
                })
                .collect(),
            // A table created on-demand reports its mode; one that never had a summary is provisioned.
            billing_mode: table
                .billing_mode_summary()
                .and_then(|b| b.billing_mode())
                .map_or("PROVISIONED".to_string(), |m| m.as_str().to_string()),
            deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
            item_count: table.item_count().map(|n| n.max(0) as u64),
        }
    }
}

/// The table as the engine keeps it: its description, its tags when they were read, and (for down) whether
/// it holds items.
#[derive(Debug, Clone)]
pub struct TableState {
    pub table: LiveTable,
    /// None for a table being deleted (it has no owner to tell any more), or read for a `Purpose::Use`.
    pub tags: Option<BTreeMap<String, String>>,
    /// down only, and only for a table down would delete: one strongly consistent read of at most one item
    /// (a full count costs a read of the whole table: `down --count`).
    pub holds_items: Option<bool>,
    /// Its point-in-time recovery, read (DescribeContinuousBackups) only for up / plan / status of a file
    /// with `[table] point_in_time_recovery`: a file without the key makes no such call.
    pub pitr: Option<PointInTimeRecovery>,
}

/// The table's resource kind.
pub struct Table {
    pub(crate) at: Address,
}

impl Table {
    fn timeout(stack: &crate::config::Stack) -> Duration {
        Duration::from_secs(stack.timeouts.table_secs)
    }

    /// The table with its tags. ListTagsOfResource answers ResourceNotFound for a table that is gone, and
    /// (reported on AWS) for one still CREATING: "not found" means gone only when DescribeTable agrees; a
    /// table still being created is waited for, then its tags are read again.
    async fn with_tags(
        cx: &ReadCx<'_>,
        described: LiveTable,
    ) -> Result<Option<(LiveTable, Option<BTreeMap<String, String>>)>> {
        let (dynamodb, name) = (&cx.clients.dynamodb, &cx.stack.table.name);
        if let Some(tags) = read_tags(dynamodb, &described.arn).await? {
            return Ok(Some((described, Some(tags))));
        }
        let Some(again) = read(dynamodb, name).await? else {
            return Ok(None);
        };
        let settled = match again.status.as_str() {
            "ACTIVE" => again,
            // Being deleted: it has no owner to tell any more; down and up handle DELETING themselves.
            "DELETING" => return Ok(Some((again, None))),
            _ => {
                let quiet =
                    crate::progress::Progress::new(crate::progress::Mode::Quiet).task("table");
                wait_active(dynamodb, name, Self::timeout(cx.stack), &quiet).await?
            }
        };
        let tags = read_tags(dynamodb, &settled.arn).await?.with_context(|| {
            format!(
                "DynamoDB describes table `{name}` as {} but answers ResourceNotFound for its tags",
                settled.status
            )
        })?;
        Ok(Some((settled, Some(tags))))
    }

    async fn read_state(cx: &ReadCx<'_>) -> Result<Option<TableState>> {
        let (stack, dynamodb) = (cx.stack, &cx.clients.dynamodb);
        let Some(table) = read(dynamodb, &stack.table.name).await? else {
            return Ok(None);
        };
        // A use (dev) needs the table as it is, not whose it is.
        if let Purpose::Use(_) = cx.purpose {
            return Ok(Some(TableState {
                table,
                tags: None,
                holds_items: None,
                pitr: None,
            }));
        }
        // Its tags, for every purpose, even when nothing would change: a table another stack or stage
        // tagged is never used (the engine blocks it), and only a table the stack owns is changed.
        let Some((mut table, tags)) = Self::with_tags(cx, table).await? else {
            return Ok(None);
        };
        let mut holds_items = None;
        let deletable = tags.as_ref().is_some_and(|t| stack.owns(t))
            && !table.deletion_protection
            && table.status != "DELETING";
        if cx.purpose == Purpose::Teardown && deletable {
            if table.status != "ACTIVE" {
                // A table still CREATING or UPDATING cannot be scanned, nor deleted, yet.
                table = wait_active(
                    dynamodb,
                    &stack.table.name,
                    Self::timeout(stack),
                    cx.progress,
                )
                .await?;
            }
            cx.progress.set("reading whether the table holds items");
            holds_items = Some(!crate::backup::is_empty(dynamodb, &stack.table.name).await?);
        }
        // Only an ACTIVE table's: one still CREATING or UPDATING is waited for by up, which reads it then
        // (`settle`).
        let converging = matches!(cx.purpose, Purpose::Converge | Purpose::Status);
        let pitr = match stack.table.point_in_time_recovery {
            Some(_) if converging && table.status == "ACTIVE" => {
                read_recovery(dynamodb, &stack.table.name).await?
            }
            _ => None,
        };
        Ok(Some(TableState {
            table,
            tags,
            holds_items,
            pitr,
        }))
    }

    /// The settings that differ, changed: UpdateTable for billing and deletion protection (only what
    /// differs: AWS refuses an UpdateTable that changes nothing), then UpdateContinuousBackups for
    /// point-in-time recovery (on an ACTIVE table: `update` waits for it).
    async fn update_settings(world: &World<'_>, planned: &TableDiff, task: &Task) -> Result<()> {
        let TableDiff::Update {
            billing_mode,
            deletion_protection,
            point_in_time_recovery,
        } = planned
        else {
            return Ok(());
        };
        let (spec, dynamodb) = (&world.stack.table, &world.clients.dynamodb);
        let timeout = Self::timeout(world.stack);
        if billing_mode.is_some() || deletion_protection.is_some() {
            update(
                dynamodb,
                spec,
                billing_mode.is_some(),
                deletion_protection.is_some(),
                timeout,
                task,
            )
            .await?;
        }
        if let (Some(_), Some(want)) = (point_in_time_recovery, spec.point_in_time_recovery) {
            set_recovery(dynamodb, &spec.name, want, timeout, task).await?;
        }
        Ok(())
    }

    async fn apply_diff(world: &World<'_>, planned: &TableDiff) -> Result<Done> {
        let spec = &world.stack.table;
        let dynamodb = &world.clients.dynamodb;
        let timeout = Self::timeout(world.stack);
        if *planned == TableDiff::InSync {
            return Ok(None);
        }
        let task = world.task(Kind::Table, &spec.name)?;
        let result = match planned {
            TableDiff::InSync => Ok("in sync"),
            TableDiff::Create => {
                let created =
                    create(dynamodb, spec, &world.stack.resource_tags(), timeout, &task).await;
                match (created, spec.point_in_time_recovery) {
                    // A new table's recovery is off: only a period needs a call.
                    (Ok(_), Some(days @ PointInTimeRecovery::Days(_))) => {
                        set_recovery(dynamodb, &spec.name, days, timeout, &task)
                            .await
                            .map(|_| "created")
                    }
                    (created, _) => created.map(|_| "created"),
                }
            }
            TableDiff::Update { .. } => Self::update_settings(world, planned, &task)
                .await
                .map(|_| "updated"),
            // Once ACTIVE, settings that differ can be changed (DynamoDB refuses it before).
            TableDiff::NotReady(_) => match Self::settle(world, &task).await {
                Ok(settled @ TableDiff::Update { .. }) => {
                    Self::update_settings(world, &settled, &task)
                        .await
                        .map(|_| "updated")
                }
                Ok(_) => Ok("ready"),
                Err(err) => Err(err),
            },
            TableDiff::KeyConflict { .. } | TableDiff::Deleting => {
                Err(anyhow::anyhow!("table `{}` is blocked", spec.name))
            }
        };
        finish(&task, result)
    }

    /// A table that was CREATING or UPDATING when read, waited for until ACTIVE and diffed again (its
    /// point-in-time recovery read again too, when the file manages it).
    async fn settle(world: &World<'_>, task: &Task) -> Result<TableDiff> {
        let (spec, dynamodb) = (&world.stack.table, &world.clients.dynamodb);
        let live = wait_active(dynamodb, &spec.name, Self::timeout(world.stack), task).await?;
        let recovery = match spec.point_in_time_recovery {
            Some(_) => read_recovery(dynamodb, &spec.name).await?,
            None => None,
        };
        Ok(diff(spec, Some(&live), recovery))
    }
}

impl Resource for Table {
    type Live = TableState;
    type Work = TableDiff;
    type Teardown = TableDown;
    type Aside = ();
    type Desired = ();

    /// The policy grants on the table, its indexes and its streams (and on nothing else without
    /// `policy.allow_wildcards`).
    const PLACEHOLDERS: &'static [PlaceholderDecl] = &[
        PlaceholderDecl {
            name: "table.name",
            description: "the table's name, with the stage put in",
            value: |k| Some(k.stack.table.name.clone()),
            grant: None,
        },
        PlaceholderDecl {
            name: "table.arn",
            description: "the table's ARN (known before the table exists)",
            value: |k| k.arn.map(str::to_string),
            grant: Some(Grant {
                sub_resources: &["/index/", "/stream/"],
                what: "the stack's table (`${table.arn}`) or one of its indexes",
                fix: "\"${table.arn}\" (and \"${table.arn}/index/*\" for its indexes)",
            }),
        },
    ];

    fn address(&self) -> &Address {
        &self.at
    }

    fn listed(&self) -> crate::resources::Listed {
        crate::resources::Listed::Tagged("dynamodb:table")
    }

    fn name_field(&self) -> &str {
        "table.name"
    }

    /// Known before the table exists: it is fully determined by region, account and name.
    fn arn_in_advance(
        &self,
        stack: &crate::config::Stack,
        account: &crate::aws::Account,
    ) -> Option<String> {
        let crate::aws::Account { partition, id } = account;
        Some(format!(
            "arn:{partition}:dynamodb:{}:{id}:table/{}",
            stack.region, stack.table.name
        ))
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn outputs(&self, world: &World) -> Vec<crate::resources::Output> {
        vec![crate::resources::Output::new(
            "table_arn",
            1,
            world.arn_of(&self.at).map(str::to_string),
        )]
    }

    fn name(&self, stack: &crate::config::Stack) -> String {
        stack.table.name.clone()
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<TableState, ()>>> {
        Box::pin(async move { Ok(Self::read_state(cx).await?.into()) })
    }

    fn arn<'l>(&self, live: &'l TableState) -> Option<&'l str> {
        Some(&live.table.arn)
    }

    fn tags<'l>(&self, live: &'l TableState) -> Option<&'l BTreeMap<String, String>> {
        live.tags.as_ref()
    }

    fn plan_up(&self, world: &World) -> Result<Planned<TableDiff>> {
        let spec = &world.stack.table;
        let state = world.live_of::<Table>(&self.at);
        let live = state.map(|s| &s.table);
        let diff = diff(spec, live, state.and_then(|s| s.pitr));
        let mut plan = plan(spec, live, &diff);
        let foreign = state
            .and_then(|s| s.tags.as_ref())
            .is_some_and(|t| !world.stack.owns(t));
        if matches!(diff, TableDiff::Update { .. }) && foreign {
            plan.action = Action::Blocked;
            plan.note = Some(
                "not created by this stack (no `stackctl:stack` tag with its name), so stackctl does not \
                 change it: make the [table] settings in the stack file match the table, or use another \
                 table name"
                    .into(),
            );
        }
        Ok(Planned::new(plan, diff))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a TableDiff,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(Self::apply_diff(world, work))
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        live: &'a TableState,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(tag(&world.clients.dynamodb, &live.table.arn, tags))
    }

    fn plan_down(&self, world: &World, state: &TableState) -> Planned<TableDown> {
        self.teardown_plan(world, state)
    }

    fn secure<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a mut TableDown,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.secure_data(world, work))
    }

    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a TableDown,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.delete_checked(world, work))
    }

    fn state(&self, world: &World, state: &TableState) -> BTreeMap<String, String> {
        let t = &state.table;
        BTreeMap::from([
            ("status".into(), t.status.clone()),
            ("key_schema".into(), describe_keys(&t.key_schema)),
            ("billing_mode".into(), t.billing_mode.clone()),
            (
                "deletion_protection".into(),
                t.deletion_protection.to_string(),
            ),
            ("owner".into(), world.owner_text(state.tags.as_ref())),
        ])
        .into_iter()
        // Only a file that manages it reads it: other stacks' status stays as it was.
        .chain(
            state
                .pitr
                .map(|p| ("point_in_time_recovery".to_string(), p.to_string())),
        )
        .collect()
    }

    /// ls: DescribeTable; a table being deleted is on its way out, not a resource of the stage any more.
    fn confirm_tagged<'a>(
        &'a self,
        clients: &'a crate::aws::Clients,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<crate::resources::Confirmed>>> {
        Box::pin(async move {
            use crate::resources::{arn_resource, Confirmed};
            let resource = arn_resource(arn);
            let name = resource.strip_prefix("table/").unwrap_or(resource);
            match clients
                .dynamodb
                .describe_table()
                .table_name(name)
                .send()
                .await
            {
                Ok(out) => {
                    let table = out.table();
                    let deleting = table
                        .and_then(|t| t.table_status())
                        .is_some_and(|s| *s == TableStatus::Deleting);
                    let created = table.and_then(|t| t.creation_date_time()).map(|d| d.secs());
                    Ok(if deleting {
                        None
                    } else {
                        Confirmed::new(name, created)
                    })
                }
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    Ok(None)
                }
                Err(err) => Err(err).with_context(|| format!("describing table `{name}`")),
            }
        })
    }
}
