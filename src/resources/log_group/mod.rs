//! The function's CloudWatch Logs group (`/aws/lambda/<function>`, or the group the function's
//! `LoggingConfig.LogGroup` names): read, diff, create with its tags and retention, change the retention,
//! tag, delete. Made before the function, so that Lambda's first invoke does not create it first with
//! retention "never expire" and no tags. Deleted last (after the role, so that no invocation still in
//! flight can make it again), checked to stay gone, and kept while a function stackctl does not own still
//! writes to it.

mod api;
mod diff;
#[cfg(test)]
mod tests;

pub use api::*;
pub use diff::*;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::types::LogGroup as SdkLogGroup;
use aws_sdk_cloudwatchlogs::Client;

use futures::future::BoxFuture;

use crate::aws::retry_while;
use crate::config::{LogGroupSpec, Stack, StackFunction};
use crate::plan::{Action, Change, Kind, Op, ResourcePlan};
use crate::progress::Task;
use crate::resources::function::{Function, LiveFunction};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Found, Planned, Purpose, Resource, NOT_OURS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveLogGroup {
    /// The group's ARN without the trailing `:*` that DescribeLogGroups' `arn` carries: the form
    /// TagResource and ListTagsForResource take.
    pub arn: String,
    /// None: the events never expire (CloudWatch's default, and what Lambda's own group gets).
    pub retention_days: Option<i32>,
    pub tags: BTreeMap<String, String>,
    /// DescribeLogGroups' `deletionProtectionEnabled`: DeleteLogGroup is refused while it is on.
    pub deletion_protection: bool,
}

/// The log group as the engine keeps it: `tags_read` false when up did not need them (a group whose
/// retention already matches, with no user tags to bring up to date, costs one read).
#[derive(Debug, Clone)]
pub struct LogGroupState {
    pub group: LiveLogGroup,
    pub tags_read: bool,
}

/// The log group's resource kind.
pub struct LogGroup {
    pub(crate) at: Address,
    pub(crate) function: Address,
    /// Its function's spec, with the group's settings (`[function.logs]`).
    pub(crate) spec: std::sync::Arc<StackFunction>,
}

/// What up does to the group: create it, or set its retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogGroupWork {
    InSync,
    Create,
    Retention(i32),
}

impl LogGroup {
    /// The group the function writes to, as the world read it.
    fn group(&self, world: &World) -> String {
        group_name(
            &self.spec.log_group,
            world.live_of::<Function>(&self.function),
        )
    }

    async fn read_state(&self, cx: &ReadCx<'_>) -> Result<Option<LogGroupState>> {
        let logs = &cx.clients.logs;
        let name = group_name(&self.spec.log_group, cx.live_of::<Function>(&self.function));
        let Some(group) = describe(logs, &name).await? else {
            return Ok(None);
        };
        // Its tags, for every purpose, even when nothing would change: a group another stack or stage
        // tagged is never used (the engine blocks it). LoggingConfig's group is never the stack's
        // (LOGGING_CONFIG_GROUP): its tags do not matter (and may not be readable: the operator policy
        // allows tag reads under /aws/lambda/ only).
        if name != self.spec.log_group.name {
            return Ok(Some(LogGroupState {
                group,
                tags_read: false,
            }));
        }
        Ok(read_tags(logs, &group.arn)
            .await?
            .map(|tags| LogGroupState {
                group: LiveLogGroup { tags, ..group },
                tags_read: true,
            }))
    }

    async fn converge(&self, world: &World<'_>, work: &LogGroupWork) -> Result<Done> {
        let (logs, spec) = (&world.clients.logs, &self.spec.log_group);
        if *work == LogGroupWork::InSync {
            return Ok(None);
        }
        let name = &self.group(world);
        let task = world.task(Kind::LogGroup, name)?;
        let result = async {
            match work {
                LogGroupWork::InSync => Ok("in sync"),
                LogGroupWork::Create => {
                    let tags = world.stack.resource_tags();
                    match create(logs, name, spec.retention_days, &tags, &task).await? {
                        Created::New => Ok("created"),
                        // Lambda's first invoke (or someone) made it since the read: it is not the
                        // stack's, so it gets the retention only if the file asks for one.
                        Created::Existing if spec.retention_explicit => {
                            set_retention(logs, name, spec.retention_days).await?;
                            Ok("found; retention set")
                        }
                        Created::Existing => Ok("found; used as it is"),
                    }
                }
                LogGroupWork::Retention(days) => {
                    task.set(&format!("setting retention to {days} days"));
                    set_retention(logs, name, *days).await?;
                    Ok("updated")
                }
            }
        }
        .await;
        finish(&task, result)
    }
}

impl Resource for LogGroup {
    type Live = LogGroupState;
    type Work = LogGroupWork;
    type Teardown = ();
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    fn listed(&self) -> crate::resources::Listed {
        crate::resources::Listed::Tagged("logs:log-group")
    }

    /// The group is `/aws/lambda/<function.name>`.
    fn name_field(&self) -> &str {
        &self.spec.name_field
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn name(&self, _: &Stack) -> String {
        self.spec.log_group.name.clone()
    }

    /// Where the function's logs go depends on its `LoggingConfig`, so the function is read first.
    fn read_after(&self, _: Purpose, _: &Stack) -> Vec<Address> {
        vec![self.function.clone()]
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<LogGroupState, ()>>> {
        Box::pin(async move { Ok(self.read_state(cx).await?.into()) })
    }

    fn arn<'l>(&self, live: &'l LogGroupState) -> Option<&'l str> {
        Some(&live.group.arn)
    }

    fn tags<'l>(&self, state: &'l LogGroupState) -> Option<&'l BTreeMap<String, String>> {
        state.tags_read.then_some(&state.group.tags)
    }

    fn plan_up(&self, world: &World) -> Result<Planned<LogGroupWork>> {
        let spec = &self.spec.log_group;
        let name = self.group(world);
        let state = world.live_of::<LogGroup>(&self.at);
        let live = state.map(|s| &s.group);
        let owned = state.is_some_and(|s| s.tags_read && world.stack.owns(&s.group.tags));
        let base = |action| {
            ResourcePlan::new(Kind::LogGroup, &name, action).arn(live.map(|l| l.arn.as_str()))
        };
        if name != spec.name {
            // Used as it is: not created (Lambda makes it on the first invoke), its retention kept.
            let mut changes = vec![Change::keep("log_group", logging_config_note(&spec.name))];
            if let Some(l) = live {
                changes.push(Change::keep(
                    "retention_days",
                    describe_retention(l.retention_days),
                ));
            }
            let plan = base(Action::NoOp)
                .changes(changes)
                .note(LOGGING_CONFIG_GROUP);
            return Ok(Planned::new(plan, LogGroupWork::InSync));
        }
        let changes = diff(spec, live, owned);
        let writes = changes.iter().any(|c| c.op != Op::Keep);
        let (plan, work) = match live {
            None => (base(Action::Create).changes(changes), LogGroupWork::Create),
            Some(_) if !writes => {
                let mut plan = base(Action::NoOp).changes(changes);
                // Tags unread (nothing to change, so ownership did not matter): nothing to say.
                if state.is_some_and(|s| s.tags_read) && !owned {
                    plan = plan.note("not created by this stack: used as it is, never deleted");
                }
                (plan, LogGroupWork::InSync)
            }
            Some(l) => {
                let mut plan = base(Action::Update).changes(changes);
                if let Some(note) = shortening_note(l.retention_days, spec.retention_days) {
                    plan = plan.note(note);
                }
                (plan, LogGroupWork::Retention(spec.retention_days))
            }
        };
        Ok(Planned::new(plan, work))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a LogGroupWork,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.converge(world, work))
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        live: &'a LogGroupState,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(tag(&world.clients.logs, &live.group.arn, tags))
    }

    fn plan_down(&self, world: &World, state: &LogGroupState) -> Planned<()> {
        let stack = world.stack;
        let name = self.group(world);
        let base =
            |action| ResourcePlan::new(Kind::LogGroup, &name, action).arn(Some(&state.group.arn));
        // A function down does not delete (not this stack's) keeps writing here: without its group, its
        // events would be lost and Lambda would make the group again, untagged and never expiring.
        let function_stays = world
            .live_of::<Function>(&self.function)
            .is_some_and(|f| !stack.owns(&f.tags));
        let plan = if name != self.spec.log_group.name {
            base(Action::Keep).note(LOGGING_CONFIG_GROUP)
        } else if !stack.owns(&state.group.tags) {
            base(Action::Keep).note(NOT_OURS)
        } else if function_stays {
            base(Action::Keep).note(format!(
                "kept while Lambda function `{}` stays (down does not delete a function this stack did not \
                 create): deleting the group would lose its events, and Lambda would make it again without \
                 tags and with retention \"never expire\"",
                self.spec.spec.name
            ))
        } else if world.data.keep_logs {
            base(Action::Keep)
                .note("kept (--keep-logs); delete it later with `stackctl down --confirm`")
        } else if state.group.deletion_protection {
            base(Action::Blocked).note(format!(
                "deletion protection is on; turn it off first: aws logs put-log-group-deletion-protection \
                 --log-group-identifier {name} --no-deletion-protection-enabled, or keep the group and its \
                 events with --keep-logs"
            ))
        } else {
            base(Action::Delete).changes(vec![Change::remove(
                "log_group",
                format!("{name} with its events"),
            )])
        };
        Planned::only(plan)
    }

    fn destroy<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let name = &self.group(world);
            let task = world.task(Kind::LogGroup, name)?;
            let owns = |tags: &BTreeMap<String, String>| world.stack.owns(tags);
            let result = delete_and_check(&world.clients.logs, name, owns, &task)
                .await
                .map(|deleted| match deleted {
                    Deleted::Gone => "deleted",
                    Deleted::DeletedAgain => {
                        "deleted (made again by a late log write; deleted again)"
                    }
                });
            finish(&task, result)
        })
    }

    fn state(&self, world: &World, state: &LogGroupState) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::from([
            (
                "retention_days".into(),
                describe_retention(state.group.retention_days),
            ),
            ("owner".into(), world.owner_text(Some(&state.group.tags))),
        ]);
        if state.group.deletion_protection {
            shown.insert("deletion_protection".into(), "on".into());
        }
        shown
    }

    /// ls: DescribeLogGroups by the group's name as a prefix (the ARN ends in `:*`).
    fn confirm_tagged<'a>(
        &'a self,
        clients: &'a crate::aws::Clients,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<crate::resources::Confirmed>>> {
        Box::pin(async move {
            let resource = crate::resources::arn_resource(arn);
            let name = resource.strip_prefix("log-group:").unwrap_or(resource);
            let name = name.strip_suffix(":*").unwrap_or(name);
            let out = clients
                .logs
                .describe_log_groups()
                .log_group_name_prefix(name)
                .send()
                .await
                .with_context(|| format!("describing log group `{name}`"))?;
            let group = out
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name));
            Ok(group.and_then(|g| {
                crate::resources::Confirmed::new(name, g.creation_time().map(|ms| ms / 1000))
            }))
        })
    }
}
