//! The function's CloudWatch Logs group (`/aws/lambda/<function>`, or the group the function's
//! `LoggingConfig.LogGroup` names): read, diff, create with its tags and retention, change the retention,
//! tag, delete. Made before the function, so that Lambda's first invoke does not create it first with
//! retention "never expire" and no tags. Deleted last (after the role, so that no invocation still in
//! flight can make it again), checked to stay gone, and kept while a function stackctl does not own still
//! writes to it.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::types::LogGroup as SdkLogGroup;
use aws_sdk_cloudwatchlogs::Client;

use futures::future::BoxFuture;

use crate::aws::retry_while;
use crate::config::{LogGroupSpec, Stack};
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

/// The group the function's logs go to: the one its `LoggingConfig.LogGroup` names when the live function
/// has one (an adopted function may log elsewhere), else `/aws/lambda/<function>` from the stack file.
pub fn group_name(stack: &Stack, function: Option<&LiveFunction>) -> String {
    function
        .and_then(|f| f.log_group.as_deref())
        .filter(|g| !g.is_empty())
        .unwrap_or(&stack.log_group.name)
        .to_string()
}

/// `group_name` for commands that have not read the function (`logs`): GetFunctionConfiguration's
/// `LoggingConfig.LogGroup`; the stack file's group when the function does not exist (yet).
pub async fn function_group(lambda: &aws_sdk_lambda::Client, stack: &Stack) -> Result<String> {
    let function = &stack.function.name;
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
            .unwrap_or(&stack.log_group.name)
            .to_string()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(stack.log_group.name.clone())
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

/// Why the plan's group is not `/aws/lambda/<function>`.
fn logging_config_note(default: &str) -> String {
    format!("where the function's LoggingConfig sends its logs (no `{default}` group is made)")
}

/// Why a group the function's LoggingConfig names is never written: Lambda lets several functions share one
/// group, and stackctl only ever makes `/aws/lambda/<function>`, so such a group is someone else's choice.
const LOGGING_CONFIG_GROUP: &str = "named by the function's LoggingConfig (a group several functions may \
     share): used as it is; stackctl never creates it, changes its retention or tags, or deletes it";

/// A retention as plan shows it: the number of days, or "never expire".
pub fn describe_retention(days: Option<i32>) -> String {
    days.map_or_else(|| "never expire".to_string(), |d| d.to_string())
}

/// Field-level changes from `live` to `spec` (pure). None live: the group is created with
/// `spec.retention_days`. A group this stack owns always converges to `spec.retention_days`; an adopted
/// one (Lambda's first invoke made it, or someone else did) only when the file wrote `retention_days`,
/// otherwise its own retention is shown as kept (`Op::Keep`, which never needs a write). Tags are the
/// engine's business, as for every kind.
pub fn diff(spec: &LogGroupSpec, live: Option<&LiveLogGroup>, owned: bool) -> Vec<Change> {
    let Some(live) = live else {
        return vec![Change::add(
            "retention_days",
            describe_retention(Some(spec.retention_days)),
        )];
    };
    if live.retention_days == Some(spec.retention_days) {
        return Vec::new();
    }
    if owned || spec.retention_explicit {
        vec![Change::modify(
            "retention_days",
            describe_retention(live.retention_days),
            describe_retention(Some(spec.retention_days)),
        )]
    } else {
        vec![Change::keep(
            "retention_days",
            format!(
                "{} (a group stackctl did not create keeps its retention unless \
                 `function.logs.retention_days` is set)",
                describe_retention(live.retention_days)
            ),
        )]
    }
}

/// The warning for a retention change that deletes events (a shorter period, or a period where there was
/// none); None when nothing is lost.
pub fn shortening_note(before: Option<i32>, after: i32) -> Option<String> {
    let shorter = before.is_none_or(|before| after < before);
    shorter.then(|| {
        format!(
            "retention goes from {} to {after} days: CloudWatch Logs will delete the events older than \
             {after} days",
            match before {
                Some(days) => format!("{days} days"),
                None => "never expire".to_string(),
            }
        )
    })
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
const DELETE_AGAIN: usize = 3;

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
        group_name(world.stack, world.live_of::<Function>(&self.function))
    }

    async fn read_state(&self, cx: &ReadCx<'_>) -> Result<Option<LogGroupState>> {
        let logs = &cx.clients.logs;
        let name = group_name(cx.stack, cx.live_of::<Function>(&self.function));
        let Some(group) = describe(logs, &name).await? else {
            return Ok(None);
        };
        // Its tags, for every purpose, even when nothing would change: a group another stack or stage
        // tagged is never used (the engine blocks it). LoggingConfig's group is never the stack's
        // (LOGGING_CONFIG_GROUP): its tags do not matter (and may not be readable: the operator policy
        // allows tag reads under /aws/lambda/ only).
        if name != cx.stack.log_group.name {
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
        let (logs, spec) = (&world.clients.logs, &world.stack.log_group);
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

    /// The group is `/aws/lambda/<function.name>`.
    fn name_field(&self) -> &'static str {
        "function.name"
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn name(&self, stack: &crate::config::Stack) -> String {
        stack.log_group.name.clone()
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
        let spec = &world.stack.log_group;
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
        let plan = if name != stack.log_group.name {
            base(Action::Keep).note(LOGGING_CONFIG_GROUP)
        } else if !stack.owns(&state.group.tags) {
            base(Action::Keep).note(NOT_OURS)
        } else if function_stays {
            base(Action::Keep).note(format!(
                "kept while Lambda function `{}` stays (down does not delete a function this stack did not \
                 create): deleting the group would lose its events, and Lambda would make it again without \
                 tags and with retention \"never expire\"",
                stack.function.name
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Op;
    use crate::progress::{Mode, Progress};
    use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request as HttpRequest, Response as HttpResponse};
    use aws_smithy_types::body::SdkBody;
    use serde_json::{json, Value};

    const NAME: &str = "/aws/lambda/api";
    const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/api";

    fn answer(status: u16, body: Value) -> HttpResponse {
        let mut response = HttpResponse::new(
            status.try_into().expect("status"),
            SdkBody::from(body.to_string()),
        );
        response
            .headers_mut()
            .insert("Content-Type", "application/x-amz-json-1.1");
        response
    }

    fn error(kind: &str) -> HttpResponse {
        answer(400, json!({"__type": kind, "message": "from the test"}))
    }

    /// A CloudWatch Logs client that answers with `answers`, in order, and records what it was sent.
    fn replay(answers: Vec<HttpResponse>) -> (StaticReplayClient, Client) {
        let http = StaticReplayClient::new(
            answers
                .into_iter()
                .map(|a| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), a))
                .collect(),
        );
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http.clone())
            .build();
        (http, Client::from_conf(config))
    }

    /// The JSON bodies that were sent, with the operation each was for.
    fn sent(http: &StaticReplayClient) -> Vec<(String, Value)> {
        http.actual_requests()
            .map(|r| {
                let target = r.headers().get("x-amz-target").unwrap_or_default();
                let operation = target.rsplit('.').next().unwrap_or_default().to_string();
                let body = serde_json::from_slice(r.body().bytes().unwrap_or_default())
                    .unwrap_or(Value::Null);
                (operation, body)
            })
            .collect()
    }

    fn task() -> Task {
        Progress::new(Mode::Quiet).task("log group")
    }

    #[tokio::test]
    async fn read_follows_pages_to_the_exact_name_and_reads_tags_on_the_arn_without_wildcard() {
        let (http, client) = replay(vec![
            answer(
                200,
                json!({
                    "logGroups": [{"logGroupName": "/aws/lambda/api-v2", "arn": format!("{ARN}-v2:*")}],
                    "nextToken": "page-2"
                }),
            ),
            answer(
                200,
                json!({"logGroups": [
                    {"logGroupName": "/aws/lambda/api-old", "arn": format!("{ARN}-old:*")},
                    {"logGroupName": NAME, "arn": format!("{ARN}:*"), "retentionInDays": 14}
                ], "nextToken": "page-3"}),
            ),
            answer(200, json!({"tags": {"stackctl:stack": "s", "team": "web"}})),
        ]);
        let live = read(&client, NAME).await.unwrap().expect("found on page 2");
        assert_eq!(
            live,
            LiveLogGroup {
                arn: ARN.into(),
                retention_days: Some(14),
                tags: [("stackctl:stack", "s"), ("team", "web")]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                deletion_protection: false,
            }
        );
        let sent = sent(&http);
        assert_eq!(
            sent,
            vec![
                (
                    "DescribeLogGroups".to_string(),
                    json!({"logGroupNamePrefix": NAME})
                ),
                (
                    "DescribeLogGroups".to_string(),
                    json!({"logGroupNamePrefix": NAME, "nextToken": "page-2"})
                ),
                (
                    "ListTagsForResource".to_string(),
                    json!({"resourceArn": ARN})
                ),
            ],
            "no third page once the name is found"
        );
    }

    #[tokio::test]
    async fn read_prefers_log_group_arn_and_finds_nothing_without_an_exact_match() {
        let (http, client) = replay(vec![
            answer(
                200,
                json!({"logGroups": [{
                    "logGroupName": NAME,
                    "arn": "arn:aws:logs:us-east-1:1:log-group:from-arn:*",
                    "logGroupArn": ARN
                }]}),
            ),
            answer(200, json!({"tags": {}})),
        ]);
        let live = read(&client, NAME).await.unwrap().unwrap();
        assert_eq!((live.arn.as_str(), live.retention_days), (ARN, None));
        assert_eq!(sent(&http)[1].1, json!({"resourceArn": ARN}));

        let (http, client) = replay(vec![
            answer(
                200,
                json!({"logGroups": [{"logGroupName": "/aws/lambda/api-v2"}], "nextToken": "t"}),
            ),
            // The same token again: the end, not a loop.
            answer(200, json!({"logGroups": [], "nextToken": "t"})),
        ]);
        assert_eq!(read(&client, NAME).await.unwrap(), None);
        assert_eq!(http.actual_requests().count(), 2);

        let (_, client) = replay(vec![error("ServiceUnavailableException")]);
        let err = read(&client, NAME).await.unwrap_err();
        assert!(format!("{err:#}").contains("`/aws/lambda/api`"), "{err:#}");
    }

    #[tokio::test]
    async fn create_tags_then_sets_retention_and_reports_a_group_made_meanwhile() {
        let (http, client) = replay(vec![answer(200, json!({})), answer(200, json!({}))]);
        let tags = BTreeMap::from([("stackctl:stack".to_string(), "s".to_string())]);
        let created = create(&client, NAME, 30, &tags, &task()).await.unwrap();
        assert_eq!(created, Created::New);
        assert_eq!(
            sent(&http),
            vec![
                (
                    "CreateLogGroup".to_string(),
                    json!({"logGroupName": NAME, "tags": {"stackctl:stack": "s"}})
                ),
                (
                    "PutRetentionPolicy".to_string(),
                    json!({"logGroupName": NAME, "retentionInDays": 30})
                ),
            ]
        );

        // Lambda's first invoke (or someone else) made it: nothing more is sent, the caller converges it.
        let (http, client) = replay(vec![error("ResourceAlreadyExistsException")]);
        let created = create(&client, NAME, 30, &tags, &task()).await.unwrap();
        assert_eq!(created, Created::Existing);
        assert_eq!(http.actual_requests().count(), 1);

        let (_, client) = replay(vec![error("LimitExceededException")]);
        let err = create(&client, NAME, 30, &tags, &task()).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("creating CloudWatch Logs group `/aws/lambda/api`"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn delete_treats_a_missing_group_as_deleted() {
        let (http, client) = replay(vec![error("ResourceNotFoundException")]);
        delete(&client, NAME, &task()).await.unwrap();
        assert_eq!(
            sent(&http),
            vec![("DeleteLogGroup".to_string(), json!({"logGroupName": NAME}))]
        );
        let (_, client) = replay(vec![error("InvalidParameterException")]);
        let err = delete(&client, NAME, &task()).await.unwrap_err();
        assert!(
            format!("{err:#}").contains("deleting CloudWatch Logs group `/aws/lambda/api`"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn an_aborted_delete_is_tried_again_and_a_refused_one_is_not() {
        let (http, client) = replay(vec![
            error("OperationAbortedException"),
            error("OperationAbortedException"),
            answer(200, json!({})),
        ]);
        delete(&client, NAME, &task()).await.unwrap();
        assert_eq!(http.actual_requests().count(), 3);

        // Deletion protection (ValidationException) is not something to wait out.
        let (http, client) = replay(vec![error("ValidationException")]);
        let err = delete(&client, NAME, &task()).await.unwrap_err();
        assert_eq!(http.actual_requests().count(), 1);
        assert!(
            format!("{err:#}").contains("deleting CloudWatch Logs group"),
            "{err:#}"
        );
    }

    #[tokio::test]
    async fn a_group_made_again_right_after_its_deletion_is_deleted_again_unless_someone_elses() {
        let gone = || answer(200, json!({"logGroups": []}));
        let back = || {
            answer(
                200,
                json!({"logGroups": [{"logGroupName": NAME, "arn": format!("{ARN}:*")}]}),
            )
        };
        let ours =
            |tags: &BTreeMap<String, String>| tags.get("stackctl:stack").is_some_and(|s| s == "s");

        let (http, client) = replay(vec![answer(200, json!({})), gone()]);
        assert_eq!(
            delete_and_check(&client, NAME, ours, &task())
                .await
                .unwrap(),
            Deleted::Gone
        );
        assert_eq!(http.actual_requests().count(), 2);

        // Lambda made it again (no tags): deleted again, and said.
        let (http, client) = replay(vec![
            answer(200, json!({})),
            back(),
            answer(200, json!({"tags": {}})),
            answer(200, json!({})),
            gone(),
        ]);
        assert_eq!(
            delete_and_check(&client, NAME, ours, &task())
                .await
                .unwrap(),
            Deleted::DeletedAgain
        );
        let ops: Vec<String> = sent(&http).into_iter().map(|(op, _)| op).collect();
        assert_eq!(
            ops,
            [
                "DeleteLogGroup",
                "DescribeLogGroups",
                "ListTagsForResource",
                "DeleteLogGroup",
                "DescribeLogGroups"
            ]
        );

        // Someone else's now: left alone, and an error that says so.
        let (http, client) = replay(vec![
            answer(200, json!({})),
            back(),
            answer(200, json!({"tags": {"stackctl:stack": "other"}})),
        ]);
        let err = delete_and_check(&client, NAME, ours, &task())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("by someone else"), "{err:#}");
        assert_eq!(http.actual_requests().count(), 3);

        // It keeps coming back: bounded, and the error says what to do.
        let mut answers = vec![answer(200, json!({}))];
        for _ in 0..DELETE_AGAIN {
            answers.extend([
                back(),
                answer(200, json!({"tags": {}})),
                answer(200, json!({})),
            ]);
        }
        answers.push(back());
        let (http, client) = replay(answers);
        let err = delete_and_check(&client, NAME, ours, &task())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("keeps coming back"), "{err:#}");
        assert_eq!(http.actual_requests().count(), 2 + 3 * DELETE_AGAIN);
    }

    #[test]
    fn the_group_is_the_one_logging_config_names_else_the_functions_own() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
        let stack = crate::config::parse(
            std::path::Path::new(path),
            &std::fs::read_to_string(path).unwrap(),
            "2026-01-01",
        )
        .expect("the shipped stack.toml");
        let function = |log_group: Option<&str>| LiveFunction {
            arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            state: "Active".into(),
            state_reason: None,
            last_update_status: "Successful".into(),
            config: crate::resources::function::FunctionConfig {
                role_arn: String::new(),
                runtime: String::new(),
                handler: String::new(),
                memory_mb: 128,
                timeout_secs: 3,
                environment: BTreeMap::new(),
                architecture: "x86_64".into(),
            },
            code_sha256: String::new(),
            tags: BTreeMap::new(),
            reserved_concurrency: None,
            log_group: log_group.map(str::to_string),
        };
        let own = "/aws/lambda/my-frontend-app-api";
        assert_eq!(group_name(&stack, None), own);
        assert_eq!(group_name(&stack, Some(&function(None))), own);
        assert_eq!(group_name(&stack, Some(&function(Some("")))), own);
        assert_eq!(group_name(&stack, Some(&function(Some(own)))), own);
        assert_eq!(
            group_name(&stack, Some(&function(Some("/custom/group")))),
            "/custom/group"
        );
    }

    #[tokio::test]
    async fn tag_and_set_retention_send_what_cloudwatch_takes() {
        let (http, client) = replay(vec![answer(200, json!({})), answer(200, json!({}))]);
        let tags = BTreeMap::from([("team".to_string(), "web".to_string())]);
        tag(&client, &format!("{ARN}:*"), &tags).await.unwrap();
        set_retention(&client, NAME, 7).await.unwrap();
        assert_eq!(
            sent(&http),
            vec![
                (
                    "TagResource".to_string(),
                    json!({"resourceArn": ARN, "tags": {"team": "web"}})
                ),
                (
                    "PutRetentionPolicy".to_string(),
                    json!({"logGroupName": NAME, "retentionInDays": 7})
                ),
            ]
        );
    }

    fn spec(retention_days: i32, retention_explicit: bool) -> LogGroupSpec {
        LogGroupSpec {
            name: NAME.into(),
            retention_days,
            retention_explicit,
        }
    }

    fn live(retention_days: Option<i32>) -> LiveLogGroup {
        LiveLogGroup {
            arn: ARN.into(),
            retention_days,
            tags: BTreeMap::new(),
            deletion_protection: false,
        }
    }

    #[test]
    fn diff_converges_owned_groups_and_adopted_ones_only_when_the_file_asks() {
        assert_eq!(
            diff(&spec(30, false), None, false),
            vec![Change::add("retention_days", "30")]
        );
        // In sync: nothing, owned or not.
        assert_eq!(diff(&spec(30, false), Some(&live(Some(30))), true), vec![]);
        assert_eq!(diff(&spec(30, true), Some(&live(Some(30))), false), vec![]);
        // Owned: always converged, explicit or the default.
        assert_eq!(
            diff(&spec(30, false), Some(&live(None)), true),
            vec![Change::modify("retention_days", "never expire", "30")]
        );
        assert_eq!(
            diff(&spec(7, true), Some(&live(Some(14))), true),
            vec![Change::modify("retention_days", "14", "7")]
        );
        // Adopted: changed only when the file writes retention_days; otherwise kept, and shown as kept.
        assert_eq!(
            diff(&spec(90, true), Some(&live(None)), false),
            vec![Change::modify("retention_days", "never expire", "90")]
        );
        let kept = diff(&spec(30, false), Some(&live(None)), false);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].op, Op::Keep);
        assert!(
            kept[0]
                .before
                .as_deref()
                .unwrap()
                .starts_with("never expire ("),
            "{kept:?}"
        );
    }

    #[test]
    fn only_a_shorter_retention_warns_of_deleted_events() {
        assert_eq!(
            shortening_note(Some(90), 30).as_deref(),
            Some(
                "retention goes from 90 days to 30 days: CloudWatch Logs will delete the events older \
                 than 30 days"
            )
        );
        assert!(shortening_note(None, 3653)
            .unwrap()
            .starts_with("retention goes from never expire to 3653 days"));
        assert_eq!(shortening_note(Some(30), 30), None);
        assert_eq!(shortening_note(Some(30), 60), None);
    }
}
