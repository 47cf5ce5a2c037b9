//! The least-privilege managed policy: read its default version, diff documents by value, create it or a
//! new default version (within IAM's 5-version limit), and tear it down in the order IAM accepts.

mod api;
mod diff;
#[cfg(test)]
mod tests;

pub use api::*;
pub use diff::*;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_iam::types::PolicyVersion;
use aws_sdk_iam::Client;
use serde_json::Value;

use futures::future::BoxFuture;

use crate::aws::Account;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::Task;
use crate::resources::iam_path;
use crate::resources::role::{self, Role};
// api.rs calls these as `super::`, as it did when it was this module.
use crate::resources::iam_tags;
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Planned, Purpose, Resource, NOT_OURS};

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

/// The policy's resource kind.
pub struct Policy {
    pub(crate) at: Address,
    pub(crate) role: Address,
    /// The log groups of the functions its role runs (it may let them be made again).
    pub(crate) log_groups: Vec<Address>,
}

/// The stack's policy: at the stack's path (where it is created), else at `/` (made before stackctl used
/// paths; IAM cannot move it). The second GetPolicy is sent only when the first finds nothing (a first
/// `up`, or a stack made before paths), and goes first when the role names the `/` one among its attached
/// policies, so a stack made before paths costs no extra call once its role is read.
async fn read_at_either_path(
    cx: &ReadCx<'_>,
    account: &Account,
    policy: &Policy,
) -> Result<Option<LivePolicy>> {
    let name = &cx.stack.policy.name;
    let at_path = arn(
        &account.partition,
        &account.id,
        &iam_path::of_stack(&cx.stack.name),
        name,
    );
    let at_root = arn(&account.partition, &account.id, "/", name);
    let root_attached = cx
        .live_of::<Role>(&policy.role)
        .is_some_and(|r| r.attached.contains(&at_root));
    let order = if root_attached {
        [at_root, at_path]
    } else {
        [at_path, at_root]
    };
    for candidate in &order {
        if let Some(live) = read(&cx.clients.iam, candidate).await? {
            return Ok(Some(live));
        }
    }
    Ok(None)
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
                    let path = iam_path::of_stack(&stack.name);
                    create(iam, arn, &path, name, document, stack, &task).await?;
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
        let recreates = self.log_groups.iter().cloned().map(Dep::Recreates);
        std::iter::once(Dep::Applied(self.role.clone()))
            .chain(recreates)
            .collect()
    }

    fn listed(&self) -> crate::resources::Listed {
        crate::resources::Listed::Iam
    }

    fn name_field(&self) -> &str {
        "policy.name"
    }

    /// Under the stack's path, where new policies are created; the live ARN (World::arn_of) wins over it
    /// when the policy exists (one made before paths is at `/`).
    fn arn_in_advance(&self, stack: &crate::config::Stack, account: &Account) -> Option<String> {
        let path = iam_path::of_stack(&stack.name);
        Some(arn(
            &account.partition,
            &account.id,
            &path,
            &stack.policy.name,
        ))
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
            Purpose::Converge | Purpose::Status | Purpose::Use(_) | Purpose::Outputs => {
                vec![self.role.clone()]
            }
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
            let Some(mut live) = read_at_either_path(cx, &account, self).await? else {
                return Ok(None.into());
            };
            let arn = live.arn.clone();
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
        let elsewhere = live
            .filter(|p| stack.owns_iam(&p.tags))
            .and_then(|p| iam_path::of_arn(&p.arn))
            .filter(|path| *path != iam_path::of_stack(&stack.name));
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
        } else if let Some(path) = elsewhere {
            plan.note = Some(iam_path::elsewhere_note(path));
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
