//! The least-privilege managed policy: read its default version, diff documents by value, create it or a
//! new default version (within IAM's 5-version limit), and tear it down in the order IAM accepts.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_iam::types::PolicyVersion;
use aws_sdk_iam::Client;
use serde_json::Value;

use futures::future::BoxFuture;

use crate::aws::Account;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::Task;
use crate::resources::role::Role;
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Planned, Purpose, Resource, NOT_OURS};

/// IAM keeps at most this many versions of a managed policy.
const MAX_VERSIONS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct LivePolicy {
    pub arn: String,
    pub default_version: String,
    pub document: Value,
    pub tags: BTreeMap<String, String>,
    /// The roles it is attached to, as (what ties it to a region, region) for each region the role's
    /// `stackctl:region` tag or IAM's RoleLastUsed names. Read only for a policy with the stack's tags and no `stackctl:region`
    /// (`Policy::read`); empty otherwise.
    pub used_by: Vec<(String, String)>,
    /// down: the roles besides the stack's it is attached to, each with its tags (deleting the policy
    /// detaches it from them). Read only for down of a policy the stack owns; empty otherwise.
    pub also_attached: Vec<(String, BTreeMap<String, String>)>,
}

pub fn arn(partition: &str, account: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy/{name}")
}

/// IAM returns documents URL-encoded (RFC 3986); some emulators return them raw. A URL-encoded document is
/// never valid JSON (it starts with `%7B`), so raw JSON is taken as it is and anything else is decoded.
pub fn decode_document(raw: &str) -> Result<Value> {
    if let Ok(value) = serde_json::from_str(raw) {
        return Ok(value);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .context("policy document is not UTF-8")?;
    serde_json::from_str(&decoded).context("policy document is not JSON")
}

pub async fn read(client: &Client, arn: &str) -> Result<Option<LivePolicy>> {
    let policy = match client.get_policy().policy_arn(arn).send().await {
        Ok(out) => out
            .policy
            .with_context(|| format!("IAM returned no policy for `{arn}`"))?,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err).with_context(|| format!("reading IAM policy `{arn}`")),
    };
    let default_version = policy.default_version_id().unwrap_or("v1").to_string();
    let version = match client
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&default_version)
        .send()
        .await
    {
        Ok(out) => out.policy_version,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("reading the default version of IAM policy `{arn}`"))
        }
    };
    let raw = version.as_ref().and_then(|v| v.document()).unwrap_or("{}");
    Ok(Some(LivePolicy {
        arn: arn.to_string(),
        default_version,
        document: decode_document(raw)
            .with_context(|| format!("reading the document of IAM policy `{arn}`"))?,
        tags: policy
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        used_by: Vec::new(),
        also_attached: Vec::new(),
    }))
}

/// The roles the policy is attached to (every page), read with GetRole (tags and RoleLastUsed). A role
/// deleted meanwhile is left out.
async fn attached_roles(client: &Client, arn: &str) -> Result<Vec<aws_sdk_iam::types::Role>> {
    let mut names = Vec::new();
    let mut pages = client
        .list_entities_for_policy()
        .policy_arn(arn)
        .entity_filter(aws_sdk_iam::types::EntityType::Role)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(aws_sdk_iam::Error::from)
            .with_context(|| format!("listing the roles IAM policy `{arn}` is attached to"))?;
        names.extend(
            page.policy_roles()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_string)),
        );
    }
    let mut roles = Vec::new();
    for name in names {
        match client.get_role().role_name(&name).send().await {
            Ok(out) => roles.extend(out.role),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) => {}
            Err(err) => return Err(err).with_context(|| format!("reading IAM role `{name}`")),
        }
    }
    Ok(roles)
}

fn role_tags(role: &aws_sdk_iam::types::Role) -> BTreeMap<String, String> {
    role.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// For each role the policy is attached to, the region its `stackctl:region` tag names and the region IAM
/// says it was last used in, when there are, as (what ties the policy to the region, region).
fn roles_last_used(roles: &[aws_sdk_iam::types::Role]) -> Vec<(String, String)> {
    let mut used = Vec::new();
    for role in roles {
        let name = role.role_name();
        // A role another region's deployment tagged is used there, whether or not IAM saw it used yet
        // (RoleLastUsed is empty until the first assume, and lags hours behind).
        let tagged = role_tags(role).remove(crate::config::REGION_TAG);
        let last = role.role_last_used().and_then(|u| u.region());
        used.extend(tagged.map(|region| {
            let what = format!(
                "role `{name}`, which it is attached to, is tagged `{}` = `{region}`",
                crate::config::REGION_TAG
            );
            (what, region)
        }));
        used.extend(last.map(|region| {
            let what = format!(
                "role `{name}`, which it is attached to, was last used in region `{region}` (IAM's \
                 RoleLastUsed)"
            );
            (what, region.to_string())
        }));
    }
    used
}

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyDiff {
    Create,
    InSync,
    Document,
}

pub fn diff(desired: &Value, live: Option<&LivePolicy>) -> PolicyDiff {
    match live {
        None => PolicyDiff::Create,
        // serde_json compares objects by key/value, not by key order or whitespace.
        Some(live) if live.document == *desired => PolicyDiff::InSync,
        Some(_) => PolicyDiff::Document,
    }
}

/// The plan for the policy, including its attachment to the role (`attached` is false when the role does
/// not exist yet or lacks it).
pub fn plan(
    name: &str,
    desired: &Value,
    live: Option<&LivePolicy>,
    role: &str,
    attached: bool,
) -> ResourcePlan {
    let attach = (!attached).then(|| Change::add("attachment", format!("attach {name} to {role}")));
    let (action, mut changes) = match diff(desired, live) {
        PolicyDiff::Create => (Action::Create, document_lines(None, desired)),
        PolicyDiff::InSync if attach.is_none() => (Action::NoOp, Vec::new()),
        PolicyDiff::InSync => (Action::Update, Vec::new()),
        PolicyDiff::Document => (
            Action::Update,
            document_lines(live.map(|l| &l.document), desired),
        ),
    };
    changes.extend(attach);
    ResourcePlan::new(Kind::Policy, name, action)
        .arn(live.map(|l| l.arn.as_str()))
        .changes(changes)
}

/// A readable diff of two policy documents: statements by Sid (or position); inside a statement that
/// exists on both sides, list-valued fields (Action, Resource) item by item, other fields as before -> after.
fn document_lines(before: Option<&Value>, after: &Value) -> Vec<Change> {
    let statements = |doc: Option<&Value>| -> Vec<(String, Value)> {
        let list = match doc.and_then(|d| d.get("Statement")) {
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
            None => Vec::new(),
        };
        list.into_iter()
            .enumerate()
            .map(|(i, s)| {
                let key = s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .map_or(format!("statement[{i}]"), |sid| format!("statement.{sid}"));
                (key, s)
            })
            .collect()
    };
    let (old, new) = (statements(before), statements(Some(after)));
    let mut changes = Vec::new();
    for (key, statement) in &new {
        match old.iter().find(|(k, _)| k == key) {
            None => changes.push(Change::add(key, summarize(statement))),
            Some((_, previous)) => changes.extend(statement_changes(key, previous, statement)),
        }
    }
    for (key, statement) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            changes.push(Change::remove(key, summarize(statement)));
        }
    }
    for field in ["Version", "Id"] {
        let (b, a) = (before.and_then(|d| d.get(field)), after.get(field));
        if before.is_some() && b != a {
            changes.push(Change::modify(field, compact(b), compact(a)));
        }
    }
    changes
}

/// One line for a whole statement: `Allow dynamodb:GetItem, dynamodb:Query on arn:...`.
fn summarize(statement: &Value) -> String {
    let list = |field: &str| items(statement.get(field)).join(", ");
    let effect = match statement.get("Effect") {
        Some(effect) => compact(Some(effect)),
        None => "(no Effect)".to_string(),
    };
    let mut line = format!("{effect} {}", list("Action"));
    match list("Resource") {
        resources if resources.is_empty() => {
            if statement.get("NotResource").is_none() {
                line.push_str(" (no Resource)");
            }
        }
        resources => line.push_str(&format!(" on {resources}")),
    }
    for extra in ["NotAction", "NotResource", "Principal", "Condition"] {
        if let Some(value) = statement.get(extra) {
            line.push_str(&format!(" {extra} {value}"));
        }
    }
    line
}

fn statement_changes(key: &str, before: &Value, after: &Value) -> Vec<Change> {
    let mut fields: Vec<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|o| o.keys())
        .collect();
    fields.sort();
    fields.dedup();
    let mut changes = Vec::new();
    for field in fields {
        let (b, a) = (before.get(field), after.get(field));
        if b == a {
            continue;
        }
        let name = format!("{key}.{field}");
        let is_list =
            |v: Option<&Value>| matches!(v, None | Some(Value::String(_)) | Some(Value::Array(_)));
        if matches!(
            field.as_str(),
            "Action" | "NotAction" | "Resource" | "NotResource"
        ) && is_list(b)
            && is_list(a)
        {
            let (old, new) = (items(b), items(a));
            changes.extend(
                new.iter()
                    .filter(|i| !old.contains(i))
                    .map(|i| Change::add(&name, i)),
            );
            changes.extend(
                old.iter()
                    .filter(|i| !new.contains(i))
                    .map(|i| Change::remove(&name, i)),
            );
        } else {
            changes.push(Change::modify(name, compact(b), compact(a)));
        }
    }
    changes
}

/// A string or a list of strings (IAM accepts both) as a list.
fn items(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

fn compact(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "(none)".to_string(),
    }
}

/// Creates the policy. If it appeared since it was read (another run), its document is brought up to date
/// instead.
pub async fn create(
    client: &Client,
    arn: &str,
    name: &str,
    document: &Value,
    tags: &BTreeMap<String, String>,
    task: &Task,
) -> Result<()> {
    task.set("creating");
    let mut request = client
        .create_policy()
        .policy_name(name)
        .policy_document(document.to_string())
        .description("Least-privilege access to one DynamoDB table, managed by stackctl");
    request = request.set_tags(Some(super::iam_tags(tags)?));
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            task.set("already exists; comparing its document");
            match read(client, arn).await? {
                Some(live) if live.document == *document => Ok(()),
                _ => set_document(client, arn, document, task).await,
            }
        }
        Err(err) => Err(err).with_context(|| format!("creating IAM policy `{name}`")),
    }
}

/// Adds or updates tags on the policy.
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let tags = super::iam_tags(tags)?;
    client
        .tag_policy()
        .policy_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("tagging IAM policy `{arn}`"))?;
    Ok(())
}

/// Makes `document` the default version, first deleting the oldest non-default version when IAM's limit
/// of five is reached.
pub async fn set_document(client: &Client, arn: &str, document: &Value, task: &Task) -> Result<()> {
    task.set("creating a new default version");
    let versions = versions(client, arn).await?;
    let mut old: Vec<_> = versions
        .iter()
        .filter(|v| !v.is_default_version())
        .collect();
    if versions.len() >= MAX_VERSIONS {
        old.sort_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
        if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
            task.set(&format!(
                "deleting version {oldest} (IAM keeps at most {MAX_VERSIONS})"
            ));
            delete_version(client, arn, oldest).await?;
        }
    }
    client
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document.to_string())
        .set_as_default(true)
        .send()
        .await
        .with_context(|| format!("creating a new default version of IAM policy `{arn}`"))?;
    Ok(())
}

/// Every version of the policy, every page.
async fn versions(client: &Client, arn: &str) -> Result<Vec<PolicyVersion>> {
    client
        .list_policy_versions()
        .policy_arn(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(aws_sdk_iam::Error::from)
        .with_context(|| format!("listing versions of IAM policy `{arn}`"))
}

async fn delete_version(client: &Client, arn: &str, version: &str) -> Result<()> {
    match client
        .delete_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(())
        }
        Err(err) => {
            Err(err).with_context(|| format!("deleting version {version} of IAM policy `{arn}`"))
        }
    }
}

/// Deletes the policy in the order IAM accepts: detach it everywhere, delete non-default versions, then the
/// policy. Already gone is success.
pub async fn delete(client: &Client, arn: &str, task: &Task) -> Result<()> {
    task.set("detaching");
    let (mut roles, mut users, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    let mut pages = client
        .list_entities_for_policy()
        .policy_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                return Ok(())
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("listing what IAM policy `{arn}` is attached to"))
            }
        };
        roles.extend(
            page.policy_roles()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_string)),
        );
        users.extend(
            page.policy_users()
                .iter()
                .filter_map(|u| u.user_name().map(str::to_string)),
        );
        groups.extend(
            page.policy_groups()
                .iter()
                .filter_map(|g| g.group_name().map(str::to_string)),
        );
    }
    for name in &roles {
        super::role::detach(client, name, arn).await?;
    }
    for name in &users {
        client
            .detach_user_policy()
            .user_name(name)
            .policy_arn(arn)
            .send()
            .await
            .with_context(|| format!("detaching IAM policy `{arn}` from user `{name}`"))?;
    }
    for name in &groups {
        client
            .detach_group_policy()
            .group_name(name)
            .policy_arn(arn)
            .send()
            .await
            .with_context(|| format!("detaching IAM policy `{arn}` from group `{name}`"))?;
    }
    task.set("deleting old versions");
    for version in versions(client, arn)
        .await?
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = version.version_id() {
            delete_version(client, arn, id).await?;
        }
    }
    task.set("deleting");
    match client.delete_policy().policy_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("deleting IAM policy `{arn}`")),
    }
}

/// The policy's resource kind.
pub struct Policy {
    pub(crate) at: Address,
    pub(crate) role: Address,
    pub(crate) log_group: Address,
}

/// A document while none was resolved (never: `World::new` resolves every instance's).
static NO_DOCUMENT: Value = Value::Null;

impl Policy {
    /// Whether the role (as read) has the stack's policy attached.
    fn attached(&self, world: &World) -> bool {
        let arn = self.arn(world);
        world
            .live_of::<Role>(&self.role)
            .is_some_and(|r| r.attached.iter().any(|a| a == arn))
    }

    /// Its ARN, known in advance.
    fn arn<'w>(&self, world: &'w World) -> &'w str {
        world.arn_of(&self.at).unwrap_or_default()
    }

    /// The document rendered from the template (`Resource::desired`).
    fn document<'w>(&self, world: &'w World) -> &'w Value {
        world.desired_of::<Policy>(&self.at).unwrap_or(&NO_DOCUMENT)
    }

    async fn converge(&self, world: &World<'_>, diff: &PolicyDiff) -> Result<Done> {
        let (stack, iam) = (world.stack, &world.clients.iam);
        let is_attached = self.attached(world);
        if *diff == PolicyDiff::InSync && is_attached {
            return Ok(None);
        }
        let name = &stack.policy.name;
        let task = world.task(Kind::Policy, name)?;
        let result = async {
            let (document, arn) = (self.document(world), self.arn(world));
            let done = match diff {
                PolicyDiff::Create => {
                    let tags = stack.iam_resource_tags();
                    create(iam, arn, name, document, &tags, &task).await?;
                    "created"
                }
                PolicyDiff::Document => {
                    set_document(iam, arn, document, &task).await?;
                    "updated"
                }
                PolicyDiff::InSync => "attached",
            };
            if !is_attached {
                super::role::attach(iam, &stack.role.name, arn, &task).await?;
            }
            Ok(done)
        }
        .await;
        finish(&task, result)
    }
}

impl Resource for Policy {
    type Live = LivePolicy;
    type Work = PolicyDiff;
    type Teardown = ();
    type Aside = ();
    type Desired = Value;

    fn address(&self) -> &Address {
        &self.at
    }

    fn depends_on(&self) -> Vec<Dep> {
        vec![
            Dep::Applied(self.role.clone()),
            Dep::Recreates(self.log_group.clone()),
        ]
    }

    fn name_field(&self) -> &'static str {
        "policy.name"
    }

    fn arn_in_advance(&self, stack: &crate::config::Stack, account: &Account) -> Option<String> {
        Some(arn(&account.partition, &account.id, &stack.policy.name))
    }

    /// The template rendered with the placeholders every kind contributes.
    fn desired(&self, world: &World) -> Result<Value> {
        crate::template::render_json(&world.stack.policy.template, world.placeholders())
    }

    fn name(&self, stack: &crate::config::Stack) -> String {
        stack.policy.name.clone()
    }

    fn is_iam(&self) -> bool {
        true
    }

    /// Its ARN needs the account id. up and status take it from the role's ARN (no extra call when the
    /// role exists); down asks STS at once, so that all of its reads go in one round.
    fn read_after(&self, purpose: Purpose, _stack: &crate::config::Stack) -> Vec<Address> {
        match purpose {
            Purpose::Teardown => Vec::new(),
            Purpose::Converge | Purpose::Status => vec![self.role.clone()],
        }
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<LivePolicy, ()>>> {
        Box::pin(async move {
            let from_role = cx
                .live_of::<Role>(&self.role)
                .and_then(|r| Account::from_arn(&r.arn));
            let account = match from_role {
                Some(account) => account,
                None => cx.account().await?,
            };
            let arn = arn(&account.partition, &account.id, &cx.stack.policy.name);
            let Some(mut live) = read(&cx.clients.iam, &arn).await? else {
                return Ok(None.into());
            };
            // The stack's, made before regions were recorded: whether another region's function uses it
            // (through a role it is attached to) decides whether this region may claim it.
            let untagged_region = !live.tags.contains_key(crate::config::REGION_TAG);
            let teardown = cx.purpose == Purpose::Teardown;
            if cx.stack.owns(&live.tags) && (untagged_region || teardown) {
                let roles = attached_roles(&cx.clients.iam, &arn).await?;
                if untagged_region {
                    live.used_by = roles_last_used(&roles);
                }
                // Deleting it detaches it from every role: down must know whose they are.
                if teardown {
                    live.also_attached = roles
                        .iter()
                        .filter(|r| r.role_name() != cx.stack.role.name)
                        .map(|r| (r.role_name().to_string(), role_tags(r)))
                        .collect();
                }
            }
            Ok(Some(live).into())
        })
    }

    fn arn<'l>(&self, live: &'l LivePolicy) -> Option<&'l str> {
        Some(&live.arn)
    }

    fn tags<'l>(&self, live: &'l LivePolicy) -> Option<&'l BTreeMap<String, String>> {
        Some(&live.tags)
    }

    fn last_used_in(&self, live: &LivePolicy) -> Vec<(String, String)> {
        live.used_by.clone()
    }

    fn plan_up(&self, world: &World) -> Result<Planned<PolicyDiff>> {
        let stack = world.stack;
        let document = self.document(world);
        let live = world.live_of::<Policy>(&self.at);
        let diff = diff(document, live);
        let mut plan = plan(
            &stack.policy.name,
            document,
            live,
            &stack.role.name,
            self.attached(world),
        )
        .arn(Some(self.arn(world)));
        if live.is_some_and(|p| !stack.owns(&p.tags)) && diff == PolicyDiff::Document {
            plan.action = Action::Blocked;
            plan.note = Some(
                "not created by this stack (no `stackctl:stack` tag with its name), so stackctl does not \
                 write a new version of it: make the policy template match it, or use another policy name"
                    .into(),
            );
        }
        Ok(Planned::new(plan, diff))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a PolicyDiff,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.converge(world, work))
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        _: &'a LivePolicy,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(tag(&world.clients.iam, self.arn(world), tags))
    }

    fn plan_down(&self, world: &World, p: &LivePolicy) -> Planned<()> {
        let stack = world.stack;
        let base =
            |action| ResourcePlan::new(Kind::Policy, &stack.policy.name, action).arn(Some(&p.arn));
        if !stack.owns(&p.tags) {
            return Planned::only(base(Action::Keep).note(NOT_OURS));
        }
        // Deleting it would detach it from another deployment's role too, and leave that deployment's
        // function without the permissions it was given.
        let theirs = p.also_attached.iter().find_map(|(role, tags)| {
            let other = stack.other_owner(tags).map(|(owner, stage)| {
                let stage = stage.map(|s| format!(", stage `{s}`")).unwrap_or_default();
                format!("stack `{owner}`{stage}")
            });
            let other = other.or_else(|| {
                stack
                    .iam_owner_region(tags)
                    .map(|region| format!("this stack's deployment in region `{region}`"))
            })?;
            Some((role, other))
        });
        if let Some((role, owner)) = theirs {
            return Planned::only(base(Action::Blocked).note(format!(
                "also attached to role `{role}`, owned by {owner}: deleting the policy would detach it from that \
                 role (stackctl never changes another deployment's resources) and leave its function without \
                 these permissions; detach it from that role first (its owner removes it from \
                 `role.managed_policy_arns`, or `aws iam detach-role-policy`), then run down again"
            )));
        }
        let mut changes = Vec::new();
        if self.attached(world) {
            changes.push(Change::remove(
                "attachment",
                format!("detach from {}", stack.role.name),
            ));
        }
        changes.push(Change::remove("policy", &stack.policy.name));
        Planned::only(base(Action::Delete).changes(changes))
    }

    fn destroy<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let Some(live) = world.live_of::<Policy>(&self.at) else {
                return Ok(None);
            };
            let task = world.task(Kind::Policy, &world.stack.policy.name)?;
            let result = delete(&world.clients.iam, &live.arn, &task)
                .await
                .map(|_| "deleted");
            finish(&task, result)
        })
    }

    fn state(&self, world: &World, p: &LivePolicy) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("default_version".into(), p.default_version.clone()),
            (
                "document_matches".into(),
                (p.document == *self.document(world)).to_string(),
            ),
            ("attached_to_role".into(), self.attached(world).to_string()),
            ("owner".into(), world.owner_text(Some(&p.tags))),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_decode_whether_url_encoded_or_raw() {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:us-east-1:1:table/t%x"}]});
        let raw = doc.to_string();
        let encoded: String =
            percent_encoding::utf8_percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(decode_document(&raw).unwrap(), doc);
        assert_eq!(decode_document(&encoded).unwrap(), doc);
    }

    #[test]
    fn key_order_and_whitespace_do_not_count_as_a_change() {
        let a: Value = serde_json::from_str(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"x","Resource":"r"}]}"#).unwrap();
        // The live side as IAM sends it: the document as its author wrote it (other key order, whitespace),
        // URL-encoded, through the same decoder `read` uses.
        let written = "{ \"Statement\": [ {\"Resource\": \"r\", \"Action\": \"x\", \"Effect\": \"Allow\"} ],\n \"Version\": \"2012-10-17\" }";
        let from_iam: String =
            percent_encoding::utf8_percent_encode(written, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_ne!(from_iam, written);
        let live = LivePolicy {
            arn: "a".into(),
            default_version: "v1".into(),
            document: decode_document(&from_iam).unwrap(),
            tags: BTreeMap::new(),
            used_by: Vec::new(),
            also_attached: Vec::new(),
        };
        assert_eq!(diff(&a, Some(&live)), PolicyDiff::InSync);
        assert_eq!(plan("p", &a, Some(&live), "r", true).action, Action::NoOp);
        let p = plan("p", &a, Some(&live), "r", false);
        assert_eq!(p.action, Action::Update);
        assert_eq!(p.changes[0].after.as_deref(), Some("attach p to r"));
    }

    #[test]
    fn a_changed_statement_shows_before_and_after() {
        let old = json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem"]}]});
        let new = json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem", "dynamodb:Query"]}]});
        let lines = document_lines(Some(&old), &new);
        assert_eq!(
            lines,
            vec![Change::add("statement.Crud.Action", "dynamodb:Query")]
        );
        let widened =
            json!({"Statement": [{"Sid": "Crud", "Action": "dynamodb:GetItem", "Resource": "*"}]});
        let narrowed = json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem"], "Resource": "arn:t"}]});
        let lines = document_lines(Some(&widened), &narrowed);
        assert_eq!(
            lines,
            vec![
                Change::add("statement.Crud.Resource", "arn:t"),
                Change::remove("statement.Crud.Resource", "*")
            ]
        );
        let created = document_lines(
            None,
            &json!({"Statement": [{"Sid": "Crud", "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "arn:t"}]}),
        );
        assert_eq!(
            created[0].after.as_deref(),
            Some("Allow dynamodb:GetItem, dynamodb:Query on arn:t")
        );
        // A statement without Effect or Resource says so instead of printing an empty value.
        let bare = document_lines(None, &new);
        assert_eq!(
            bare[0].after.as_deref(),
            Some("(no Effect) dynamodb:GetItem, dynamodb:Query (no Resource)")
        );
    }
}
