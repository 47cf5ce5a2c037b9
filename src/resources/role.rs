//! The function's IAM role: read (with its attached managed policies), create with the Lambda trust policy,
//! attach and detach policies, delete.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_iam::Client;

use futures::future::BoxFuture;

use crate::aws::errors::{class_of_code, ErrorClass};
use crate::backoff::{pause, Backoff, Limit, Tries};
use crate::config::RoleSpec;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::Task;
use crate::resources::function::Function;
use crate::resources::iam_path;
use crate::resources::policy::Policy;
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Planned, Resource, NOT_OURS};

mod trust;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRole {
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// ARNs of the attached managed policies, sorted.
    pub attached: Vec<String>,
    /// Where IAM says the role was last assumed (`RoleLastUsed.Region`; Lambda assumes a function's role
    /// in the function's region). None: never, or not in IAM's tracking window.
    pub last_used_region: Option<String>,
    /// Its trust policy (AssumeRolePolicyDocument, URL-decoded); None when IAM gave none or it is not
    /// JSON (an adopted role is then not used: who may assume it is unknown).
    pub trust_policy: Option<serde_json::Value>,
}

/// IAM's "no such entity" (NoSuchEntity), by the one classifier. Its NotFound codes add Lambda's and
/// DynamoDB's ResourceNotFoundException, which IAM never answers: the same result for every IAM answer.
fn not_found<E: aws_sdk_iam::error::ProvideErrorMetadata>(err: &E) -> bool {
    class_of_code(err.code()) == ErrorClass::NotFound
}

/// The outcome of a removal for which "already gone" is success: NoSuchEntity becomes Ok.
fn gone_is_fine<O, E, R>(
    result: Result<O, aws_sdk_iam::error::SdkError<E, R>>,
) -> Result<(), aws_sdk_iam::error::SdkError<E, R>>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    match result {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => Err(err),
    }
}

pub async fn read(client: &Client, name: &str) -> Result<Option<LiveRole>> {
    read_with(client, name, true).await
}

/// The role; its attached policies only when `attached` (`outputs` needs its ARN and tags, GetRole alone:
/// `attached` is then left empty, and nothing plans from it).
async fn read_with(client: &Client, name: &str, attached: bool) -> Result<Option<LiveRole>> {
    // Both reads are keyed by the name alone, so they go out together.
    let list = async {
        match attached {
            true => attached_policies(client, name).await,
            false => Ok(Vec::new()),
        }
    };
    let (role, attached) = tokio::join!(client.get_role().role_name(name).send(), list);
    let role = match role {
        Ok(out) => out
            .role
            .with_context(|| format!("IAM returned no role for `{name}`"))?,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err).with_context(|| format!("reading IAM role `{name}`")),
    };
    let attached = match attached {
        Ok(list) => list,
        // Deleted between the two reads: treat as missing.
        Err(err)
            if err
                .downcast_ref::<aws_sdk_iam::Error>()
                .is_some_and(not_found) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err),
    };
    Ok(Some(LiveRole {
        arn: role.arn().to_string(),
        tags: role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        attached,
        last_used_region: role
            .role_last_used()
            .and_then(|u| u.region())
            .map(str::to_string),
        trust_policy: role
            .assume_role_policy_document()
            .and_then(|raw| crate::resources::policy::decode_document(raw).ok()),
    }))
}

/// The ARNs of the managed policies attached to the role, sorted (ls follows them too).
pub(crate) async fn attached_policies(client: &Client, name: &str) -> Result<Vec<String>> {
    let mut arns = Vec::new();
    let mut marker = None;
    loop {
        let out = client
            .list_attached_role_policies()
            .role_name(name)
            .set_marker(marker)
            .send()
            .await
            .map_err(aws_sdk_iam::Error::from)
            .with_context(|| format!("listing the policies attached to IAM role `{name}`"))?;
        arns.extend(
            out.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        marker = out.marker().map(str::to_string);
        if !out.is_truncated() || marker.is_none() {
            arns.sort();
            return Ok(arns);
        }
    }
}

/// Managed policies the spec wants attached that are not. Only for a role stackctl owns: a role it found
/// is used as it is.
pub fn missing_attachments<'a>(spec: &'a RoleSpec, live: &LiveRole) -> Vec<&'a str> {
    spec.managed_policy_arns
        .iter()
        .filter(|arn| !live.attached.contains(arn))
        .map(String::as_str)
        .collect()
}

pub fn plan(spec: &RoleSpec, live: Option<&LiveRole>, owned: bool) -> ResourcePlan {
    match live {
        None => {
            let mut changes = vec![Change::add(
                "trust_policy",
                "lambda.amazonaws.com may assume it",
            )];
            changes.extend(
                spec.managed_policy_arns
                    .iter()
                    .map(|arn| Change::add("attach", arn)),
            );
            ResourcePlan::new(Kind::Role, &spec.name, Action::Create).changes(changes)
        }
        Some(live) if owned => {
            let missing = missing_attachments(spec, live);
            let action = if missing.is_empty() {
                Action::NoOp
            } else {
                Action::Update
            };
            ResourcePlan::new(Kind::Role, &spec.name, action)
                .arn(Some(&live.arn))
                .changes(
                    missing
                        .into_iter()
                        .map(|arn| Change::add("attach", arn))
                        .collect(),
                )
        }
        Some(live) => ResourcePlan::new(Kind::Role, &spec.name, Action::NoOp)
            .arn(Some(&live.arn))
            .note("not created by this stack: used as it is"),
    }
}

/// Creates the role under `path` (`iam_path::of_stack`) with the trust policy and the stack's tags, then
/// attaches the managed policies. A role that appeared meanwhile is read, and used only when it is this
/// deployment's (`appeared_not_ours`); otherwise an error, with nothing attached to it.
pub async fn create(
    client: &Client,
    stack: &crate::config::Stack,
    path: &str,
    task: &Task,
) -> Result<LiveRole> {
    let (spec, tags) = (&stack.role, &stack.iam_resource_tags());
    task.set("creating");
    let mut request = client
        .create_role()
        .role_name(&spec.name)
        .path(path)
        .assume_role_policy_document(spec.trust_policy.to_string())
        .description("Execution role for a Lambda function deployed by stackctl");
    request = request.set_tags(Some(super::iam_tags(tags)?));
    let arn = match request.send().await {
        Ok(out) => out
            .role
            .map(|r| r.arn)
            .with_context(|| format!("IAM created role `{}` but returned no ARN", spec.name))?,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            // Someone made a role with this name since the read (or the read did not see it): the read
            // path's ownership rule decides, before anything is attached, put on or deployed with it.
            task.set("already exists; checking whose it is");
            let found = read(client, &spec.name)
                .await?
                .with_context(|| format!("IAM role `{}` exists but cannot be read", spec.name))?;
            if let Some(why) = super::appeared_not_ours(stack, "role.name", &found.tags) {
                anyhow::bail!(
                    "creating IAM role `{}`: a role with this name appeared since this run read the account \
                     (IAM answered EntityAlreadyExists), and it is not this stack's: {why}. Nothing was \
                     attached to it, put on it or deployed with it",
                    spec.name
                );
            }
            found.arn
        }
        Err(err) => return Err(err).with_context(|| format!("creating IAM role `{}`", spec.name)),
    };
    let mut live = LiveRole {
        arn,
        tags: tags.clone(),
        attached: Vec::new(),
        last_used_region: None,
        trust_policy: Some(spec.trust_policy.clone()),
    };
    for policy_arn in &spec.managed_policy_arns {
        attach(client, &spec.name, policy_arn, task).await?;
        live.attached.push(policy_arn.clone());
    }
    live.attached.sort();
    Ok(live)
}

pub async fn attach(client: &Client, role: &str, policy_arn: &str, task: &Task) -> Result<()> {
    task.set(&format!("attaching {}", short_policy_name(policy_arn)));
    client
        .attach_role_policy()
        .role_name(role)
        .policy_arn(policy_arn)
        .send()
        .await
        .with_context(|| format!("attaching `{policy_arn}` to IAM role `{role}`"))?;
    Ok(())
}

/// Adds or updates tags on the role.
pub async fn tag(client: &Client, name: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let tags = super::iam_tags(tags)?;
    client
        .tag_role()
        .role_name(name)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("tagging IAM role `{name}`"))?;
    Ok(())
}

/// Detaches a policy; already detached (or role gone) is fine.
pub async fn detach(client: &Client, role: &str, policy_arn: &str) -> Result<()> {
    gone_is_fine(
        client
            .detach_role_policy()
            .role_name(role)
            .policy_arn(policy_arn)
            .send()
            .await,
    )
    .with_context(|| format!("detaching `{policy_arn}` from IAM role `{role}`"))
}

/// How often DeleteRole is tried again while IAM still answers DeleteConflict.
const DELETE_POLL: Backoff = Backoff::steady(Duration::from_secs(1));

/// Deletes a role stackctl owns. IAM refuses DeleteRole (DeleteConflict) while the role is in an instance
/// profile or has managed or inline policies, and also for a while after the last of them is gone, while
/// that change propagates. So: remove the role from its instance profiles, detach its managed policies,
/// delete its inline ones, then DeleteRole; on DeleteConflict all of it again about once a second (so
/// whatever someone attached meanwhile goes too), for at most `budget`. Already gone is success.
pub async fn delete(client: &Client, name: &str, budget: Duration, task: &Task) -> Result<()> {
    let mut tries = Tries::new(DELETE_POLL, Limit::deadline(budget));
    loop {
        if !release(client, name, task).await? {
            return Ok(());
        }
        task.set("deleting");
        let err = match client.delete_role().role_name(name).send().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let service = err.as_service_error();
        if service.is_some_and(|e| e.is_no_such_entity_exception()) {
            return Ok(());
        }
        let conflict = service.is_some_and(|e| e.is_delete_conflict_exception());
        let message = service
            .and_then(|e| aws_sdk_iam::error::ProvideErrorMetadata::message(e))
            .unwrap_or("DeleteConflict")
            .to_string();
        let next = if conflict { tries.next() } else { None };
        let Some(delay) = next else {
            let context = if conflict {
                format!(
                    "deleting IAM role `{name}`: still refused after {} attempts in {:.0}s (limit {}s); \
                     raise timeouts.role_propagation_secs in stack.toml or use --wait-timeout",
                    tries.tries(),
                    tries.elapsed().as_secs_f64(),
                    budget.as_secs()
                )
            } else {
                format!("deleting IAM role `{name}`")
            };
            return Err(err).with_context(|| context);
        };
        task.set(&format!("IAM still refuses ({message}); trying again"));
        if let Err(interrupted) = pause(delay, || {
            crate::interrupt::Interrupted("deleting the role".into())
        })
        .await
        {
            return Err(anyhow::Error::new(interrupted).context(message));
        }
        crate::interrupt::check("the next attempt to delete the role")?;
    }
}

/// Takes away what keeps IAM from deleting the role: its instance profiles, its managed and its inline
/// policies. False when the role is gone.
async fn release(client: &Client, name: &str, task: &Task) -> Result<bool> {
    task.set("detaching policies");
    // All three are keyed by the role's name alone, so they go out together.
    let (profiles, attached, inline) = tokio::join!(
        instance_profiles(client, name),
        attached_policies(client, name),
        inline_policies(client, name)
    );
    if role_gone(&profiles) || role_gone(&attached) || role_gone(&inline) {
        return Ok(false);
    }
    let (profiles, attached, inline) = (profiles?, attached?, inline?);
    for profile in &profiles {
        remove_from_instance_profile(client, name, profile, task).await?;
    }
    for arn in &attached {
        detach(client, name, arn).await?;
    }
    for policy in &inline {
        delete_inline(client, name, policy).await?;
    }
    Ok(true)
}

fn role_gone<T>(result: &Result<T>) -> bool {
    result.as_ref().is_err_and(|err| {
        err.downcast_ref::<aws_sdk_iam::Error>()
            .is_some_and(not_found)
    })
}

/// The names of the instance profiles the role is in, every page.
async fn instance_profiles(client: &Client, name: &str) -> Result<Vec<String>> {
    let profiles = client
        .list_instance_profiles_for_role()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(aws_sdk_iam::Error::from)
        .with_context(|| format!("listing the instance profiles of IAM role `{name}`"))?;
    Ok(profiles
        .iter()
        .map(|p| p.instance_profile_name().to_string())
        .collect())
}

/// The names of the role's inline policies, every page.
async fn inline_policies(client: &Client, name: &str) -> Result<Vec<String>> {
    client
        .list_role_policies()
        .role_name(name)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(aws_sdk_iam::Error::from)
        .with_context(|| format!("listing inline policies of IAM role `{name}`"))
}

/// Takes the role out of an instance profile (the profile itself is not the stack's and stays); already
/// out (or profile gone) is fine.
async fn remove_from_instance_profile(
    client: &Client,
    role: &str,
    profile: &str,
    task: &Task,
) -> Result<()> {
    task.set(&format!("removing it from instance profile {profile}"));
    gone_is_fine(
        client
            .remove_role_from_instance_profile()
            .instance_profile_name(profile)
            .role_name(role)
            .send()
            .await,
    )
    .with_context(|| format!("removing IAM role `{role}` from instance profile `{profile}`"))
}

/// Deletes an inline policy; already gone is fine.
async fn delete_inline(client: &Client, role: &str, policy: &str) -> Result<()> {
    gone_is_fine(
        client
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await,
    )
    .with_context(|| format!("deleting inline policy `{policy}` of IAM role `{role}`"))
}

pub fn short_policy_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The path of a role the stack owns that is not under the stack's path (made before stackctl used
/// paths): it stays where it is (IAM cannot move a role), and plan says so.
fn elsewhere<'l>(stack: &crate::config::Stack, live: &'l LiveRole, owned: bool) -> Option<&'l str> {
    let path = iam_path::of_arn(&live.arn)?;
    (owned && path != iam_path::of_stack(&stack.name)).then_some(path)
}

/// Why an adopted role (not created by this stack, used as it is) must not get the stack's policy: its trust
/// policy lets principals other than the Lambda service assume it, so they would get the stack's table.
/// stackctl does not rewrite a role it did not create, so the fix is the user's.
fn trusts_others(live: &LiveRole) -> Option<String> {
    let name = live.arn.rsplit('/').next().unwrap_or(&live.arn);
    let extra = match &live.trust_policy {
        Some(doc) => trust::extra_principals(doc),
        None => vec!["(its trust policy could not be read)".into()],
    };
    (!extra.is_empty()).then(|| {
        format!(
            "role `{name}` was not created by this stack (used as it is), and its trust policy lets {} \
             assume it besides lambda.amazonaws.com: the stack's policy would give them its data. Remove \
             them from the role's trust policy, or set `role.name` to another role",
            extra.join(", ")
        )
    })
}

/// The role's resource kind.
pub struct Role {
    pub(crate) at: Address,
    pub(crate) policy: Address,
    /// The functions that run with it (down keeps it while one it did not create still uses it).
    pub(crate) functions: Vec<Address>,
    /// Their log groups (it lets an invocation still in flight make them again).
    pub(crate) log_groups: Vec<Address>,
}

impl Role {
    async fn converge(&self, world: &World<'_>) -> Result<Done> {
        let (spec, iam) = (&world.stack.role, &world.clients.iam);
        let live = world.live_of::<Role>(&self.at);
        let missing = match live {
            Some(live) if world.stack.owns_iam(&live.tags) => missing_attachments(spec, live),
            // A role it found is used as it is.
            Some(_) => return Ok(None),
            None => Vec::new(),
        };
        if live.is_some() && missing.is_empty() {
            return Ok(None);
        }
        let task = world.task(Kind::Role, &spec.name)?;
        let result = async {
            if live.is_none() {
                let path = iam_path::of_stack(&world.stack.name);
                create(iam, world.stack, &path, &task).await?;
                return Ok("created");
            }
            for arn in missing {
                attach(iam, &spec.name, arn, &task).await?;
            }
            Ok("updated")
        }
        .await;
        finish(&task, result)
    }
}

impl Resource for Role {
    type Live = LiveRole;
    type Work = ();
    type Teardown = ();
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    fn depends_on(&self) -> Vec<Dep> {
        self.log_groups
            .iter()
            .cloned()
            .map(Dep::Recreates)
            .collect()
    }

    fn listed(&self) -> crate::resources::Listed {
        crate::resources::Listed::Iam
    }

    fn name_field(&self) -> &str {
        "role.name"
    }

    fn arn_in_advance(
        &self,
        stack: &crate::config::Stack,
        account: &crate::aws::Account,
    ) -> Option<String> {
        let crate::aws::Account { partition, id } = account;
        // New roles are created under the stack's path; GetRole finds one at any path by its name, and the
        // live ARN (World::arn_of) wins over this one when the role exists.
        Some(format!(
            "arn:{partition}:iam::{id}:role{}{}",
            iam_path::of_stack(&stack.name),
            stack.role.name
        ))
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn outputs(&self, world: &World) -> Vec<crate::resources::Output> {
        vec![crate::resources::Output::new(
            "role_arn",
            3,
            world.arn_of(&self.at).map(str::to_string),
        )]
    }

    fn name(&self, stack: &crate::config::Stack) -> String {
        stack.role.name.clone()
    }

    fn is_iam(&self) -> bool {
        true
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<LiveRole, ()>>> {
        Box::pin(async move {
            let attached = cx.purpose != crate::resources::Purpose::Outputs;
            Ok(read_with(&cx.clients.iam, &cx.stack.role.name, attached)
                .await?
                .into())
        })
    }

    fn arn<'l>(&self, live: &'l LiveRole) -> Option<&'l str> {
        Some(&live.arn)
    }

    fn tags<'l>(&self, live: &'l LiveRole) -> Option<&'l BTreeMap<String, String>> {
        Some(&live.tags)
    }

    fn last_used_in(&self, r: &LiveRole) -> Vec<(String, String)> {
        let name = r.arn.rsplit('/').next().unwrap_or(&r.arn);
        r.last_used_region
            .iter()
            .map(|region| {
                (
                    format!(
                        "role `{name}` was last used in region `{region}` (IAM's RoleLastUsed)"
                    ),
                    region.clone(),
                )
            })
            .collect()
    }

    fn plan_up(&self, world: &World) -> Result<Planned<()>> {
        let live = world.live_of::<Role>(&self.at);
        let owned = live.is_none_or(|r| world.stack.owns_iam(&r.tags));
        let mut plan = plan(&world.stack.role, live, owned);
        if let Some(path) = live.and_then(|r| elsewhere(world.stack, r, owned)) {
            plan.note = Some(iam_path::elsewhere_note(path));
        }
        if let Some(why) = live.filter(|_| !owned).and_then(trusts_others) {
            plan.action = Action::Blocked;
            plan.note = Some(why);
        }
        Ok(Planned::only(plan))
    }

    fn apply<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.converge(world))
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        _: &'a LiveRole,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(tag(&world.clients.iam, &world.stack.role.name, tags))
    }

    fn plan_down(&self, world: &World, r: &LiveRole) -> Planned<()> {
        let stack = world.stack;
        let base =
            |action| ResourcePlan::new(Kind::Role, &stack.role.name, action).arn(Some(&r.arn));
        let policy_arn = &world.arn_of(&self.policy).unwrap_or_default().to_string();
        let policy_goes = world
            .live_of::<Policy>(&self.policy)
            .is_some_and(|p| stack.owns_iam(&p.tags));
        // A function down keeps (not created by this stack) but that `up` pointed at this role would be left
        // unable to run: the role stays, only the stack's policy leaves it.
        let adopted_function_uses_it = self.functions.iter().any(|at| {
            world
                .live_of::<Function>(at)
                .is_some_and(|f| !stack.owns(&f.tags) && f.config.role_arn == r.arn)
        });
        let plan = if !stack.owns(&r.tags) {
            base(Action::Keep).note(if policy_goes && r.attached.contains(policy_arn) {
                "not created by this stack: only loses the attachment of the stack's policy"
            } else {
                NOT_OURS
            })
        } else if adopted_function_uses_it {
            base(Action::Keep).note(
                "still the role of the function, which was not created by this stack: left in place",
            )
        } else {
            let mut changes: Vec<Change> = r
                .attached
                .iter()
                .map(|a| Change::remove("attachment", format!("detach {}", short_policy_name(a))))
                .collect();
            changes.push(Change::remove("role", &stack.role.name));
            base(Action::Delete).changes(changes)
        };
        Planned::only(plan)
    }

    fn destroy<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let stack = world.stack;
            let task = world.task(Kind::Role, &stack.role.name)?;
            let budget = Duration::from_secs(stack.timeouts.role_propagation_secs);
            let result = delete(&world.clients.iam, &stack.role.name, budget, &task)
                .await
                .map(|_| "deleted");
            finish(&task, result)
        })
    }

    fn state(&self, world: &World, r: &LiveRole) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "attached".into(),
                r.attached
                    .iter()
                    .map(|a| short_policy_name(a))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("owner".into(), world.owner_text(Some(&r.tags))),
        ])
    }
}
