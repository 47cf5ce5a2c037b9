//! Runs the resource graph (`resources::graph`, built from the resolved stack) for every command, after
//! Terraform's graph walker: a node runs as soon as the nodes it depends on are done, and destroy walks the
//! reversed graph. Reads go in one concurrent round (a read waits only for the reads it names), and plan,
//! status, up and down all plan from the same reads. Ownership, retagging and "another region's IAM" are
//! decided here, once for every kind. Every map is keyed by the instance's [`Address`].

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
pub(super) mod walk;
use walk::{walk, walk_tainting, OnError};

use crate::aws::{Account, Clients};
use crate::config::Stack;
use crate::plan::{missing_tags, Action, Kind, ResourcePlan};
use crate::progress::Task;
use crate::report::ResourceReport;
use crate::resources::erased::{AnyValue, AnyWork};
use crate::resources::{self, Address, Dep, Node, Planned, Purpose, ReadCx};

pub use crate::resources::{DataPolicy, Done, Reads, Snapshot, World};

/// Reads every resource: each as soon as the reads it waits for are done, all others at once.
pub async fn read(
    clients: &Clients,
    stack: &Stack,
    purpose: Purpose,
    progress: &Task,
) -> Result<Snapshot> {
    let graph = resources::graph(stack);
    let all: Vec<Address> = graph.nodes.iter().map(|n| n.address().clone()).collect();
    snapshot(clients, stack, purpose, &all, progress).await
}

/// `read_some` with the account (what `World::new` takes): a command that shows what part of the graph
/// gives (an outputs command: the kinds' `Resource::outputs`, ARNs known in advance for what it did not
/// read) reads only that part and still resolves the world.
pub async fn snapshot(
    clients: &Clients,
    stack: &Stack,
    purpose: Purpose,
    wanted: &[Address],
    progress: &Task,
) -> Result<Snapshot> {
    // A use's reads leave out tags and ownership (a function read for a use has no tags): a world made of
    // them would take an owned resource for an untagged one, which may be adopted. Only converge, status
    // and teardown reads make a world.
    if let Purpose::Use(how) = purpose {
        anyhow::bail!(
            "internal error: a read for {how:?} has no tags, so it cannot make the stack's state (read for status instead)"
        );
    }
    let reads = read_some(clients, stack, purpose, wanted, progress).await?;
    // The account from any ARN seen (no extra call when something exists), else from STS.
    let account = match &reads.account {
        Some(account) => account.clone(),
        None => {
            let seen = reads
                .live
                .iter()
                .filter_map(|(at, l)| node_in(&reads.graph, at).arn(l))
                .find_map(Account::from_arn);
            match seen {
                Some(account) => account,
                None => Account::from_sts(&clients.sts).await?,
            }
        }
    };
    Ok(Snapshot { account, reads })
}

/// Reads only the chosen instances of the stack's graph (`address_of` finds the one a command uses), and the ones
/// their reads wait for (`Resource::read_after`, followed to the end), for `purpose`: a command that needs
/// part of the live account (an outputs command reads only what it prints) reads it through the same
/// kinds' reads, not-found handling and ownership as every other, and gets their typed live states
/// (`Reads::live_of`). No account is asked for beyond what the reads themselves ask.
pub async fn read_some(
    clients: &Clients,
    stack: &Stack,
    purpose: Purpose,
    wanted: &[Address],
    progress: &Task,
) -> Result<Reads> {
    let graph = resources::graph(stack);
    let addresses = with_read_after(&graph, purpose, stack, wanted);

    let account = tokio::sync::OnceCell::new();
    type Read = (Option<AnyValue>, Option<AnyValue>);
    let found = walk(
        addresses,
        OnError::Stop,
        |at| node_in(&graph, at).read_after(purpose, stack),
        |at, done: &BTreeMap<Address, Read>| {
            let node = node_in(&graph, at);
            let earlier = node
                .read_after(purpose, stack)
                .into_iter()
                .filter_map(|a| {
                    let live = done.get(&a)?.0.clone()?;
                    Some((a, live))
                })
                .collect();
            let account = &account;
            async move {
                let cx = ReadCx {
                    clients,
                    stack,
                    purpose,
                    progress,
                    earlier,
                    account,
                };
                node.read(&cx).await
            }
        },
    )
    .await
    .into_result()?;
    let mut live = BTreeMap::new();
    let mut aside = BTreeMap::new();
    for (at, (l, a)) in found {
        if let Some(l) = l {
            live.insert(at.clone(), l);
        }
        if let Some(a) = a {
            aside.insert(at, a);
        }
    }
    Ok(Reads {
        graph,
        live,
        aside,
        account: account.into_inner(),
    })
}

/// The instance of `kind` a command that uses one resource reads with `read_some`: of the kinds that belong
/// to a function (the function, its log group, its URL: named after their function's instance), the chosen
/// function's (`Stack::chosen_function`); of the others, the stack's only one.
pub fn address_of(stack: &Stack, kind: Kind) -> Result<Address> {
    let graph = resources::graph(stack);
    let chosen = stack.chosen_function().instance;
    let of_kind: Vec<&Address> = graph
        .nodes
        .iter()
        .map(|n| n.address())
        .filter(|a| a.kind == kind)
        .collect();
    of_kind
        .iter()
        .find(|a| a.name == chosen)
        .or(of_kind.first())
        .map(|a| (*a).clone())
        .with_context(|| {
            format!(
                "internal error: the resource graph has no {}",
                kind.as_str()
            )
        })
}

/// `wanted` with every instance their reads wait for, transitively, in graph order. An address not in
/// the graph is left out.
fn with_read_after(
    graph: &resources::Graph,
    purpose: Purpose,
    stack: &Stack,
    wanted: &[Address],
) -> Vec<Address> {
    let mut needed: Vec<Address> = Vec::new();
    let mut next: Vec<Address> = wanted.to_vec();
    while let Some(at) = next.pop() {
        let Some(node) = graph.node(&at) else {
            continue;
        };
        if !needed.contains(&at) {
            next.extend(node.read_after(purpose, stack));
            needed.push(at);
        }
    }
    graph
        .nodes
        .iter()
        .map(|n| n.address().clone())
        .filter(|a| needed.contains(a))
        .collect()
}

fn node_in<'g>(graph: &'g resources::Graph, at: &Address) -> &'g dyn Node {
    graph
        .node(at)
        .unwrap_or_else(|| panic!("{at} is not in the resource graph"))
}

/// Whether a live resource with these tags is this stack's (in this region, for IAM).
fn owns(world: &World, node: &dyn Node, tags: &BTreeMap<String, String>) -> bool {
    if node.is_iam() {
        world.stack.owns_iam(tags)
    } else {
        world.stack.owns(tags)
    }
}

/// The tags the stack puts on a resource of this kind.
fn wanted_tags(world: &World, node: &dyn Node) -> BTreeMap<String, String> {
    if node.is_iam() {
        world.stack.iam_resource_tags()
    } else {
        world.stack.resource_tags()
    }
}

/// Whether a node is planned: stack.toml asks for it, or it exists (and may be the stack's to delete).
fn wanted_or_live(world: &World, node: &dyn Node) -> bool {
    node.in_stack(world.stack) || world.exists(node.address())
}

/// Why a resource another deployment owns is left alone: the owner its tags name (for a function URL, its
/// function's tags) and the fix. None: untagged (it may be adopted) or this deployment's own.
fn other_owner_note(world: &World, node: &dyn Node) -> Option<String> {
    let owner_at = node.owned_with().unwrap_or(node.address());
    let owner = world.node(owner_at)?;
    let tags = owner.tags(world.live_value(owner_at)?)?;
    let (stack, stage) = world.stack.other_owner(tags)?;
    Some(
        world
            .stack
            .other_owner_note(node.name_field(), stack, stage),
    )
}

/// Why a live resource is not this deployment's to show as its own (`outputs`): the note plan would give
/// for another deployment's resource (another stack's or stage's tags, through `owned_with` for a kind
/// without tags) or another region's IAM. None: this deployment's, or untagged (used as it is, as up
/// adopts it), or it does not exist.
pub fn not_this_deployments(world: &World, node: &dyn Node) -> Option<String> {
    let live = world.live_value(node.address())?;
    other_owner_note(world, node).or_else(|| other_region_note(world, node, live))
}

/// Why this region leaves a role or policy of this stack alone, and the fix: its region tag names another
/// region, or it has none and was last used in another region. None: not such a resource.
fn other_region_note(world: &World, node: &dyn Node, live: &AnyValue) -> Option<String> {
    let tags = node.tags(live).filter(|_| node.is_iam())?;
    let kind = node.address().kind.as_str();
    if let Some(other) = world.stack.iam_owner_region(tags) {
        return Some(world.stack.other_region_note(kind, other));
    }
    if !world.stack.owns(tags) || tags.contains_key(crate::config::REGION_TAG) {
        return None;
    }
    let (what, region) = node
        .last_used_in(live)
        .into_iter()
        .find(|(_, region)| *region != world.stack.region)?;
    Some(world.stack.used_in_other_region_note(kind, &what, &region))
}

/// One resource's plan, with what the engine adds to it.
pub struct Step<'w> {
    pub node: &'w dyn Node,
    pub planned: Planned<AnyWork>,
    /// The stack's tags are missing on this owned resource: apply puts them on.
    retag: bool,
}

impl Step<'_> {
    pub fn plan(&self) -> &ResourcePlan {
        &self.planned.plan
    }

    /// down --confirm, before anything is deleted: secures what deleting this resource would lose.
    pub async fn secure(&mut self, world: &World<'_>) -> Result<()> {
        self.node.secure(world, &mut self.planned.work).await
    }

    /// status: the live state worth showing, with whether it exists.
    pub fn state(&self, world: &World) -> BTreeMap<String, String> {
        let mut state = self.node.state(world);
        state.insert(
            "exists".into(),
            world.exists(self.node.address()).to_string(),
        );
        state
    }
}

/// The instances that depend on `at` in any way: down destroys them first.
fn dependents(graph: &resources::Graph, at: &Address) -> Vec<Address> {
    graph
        .nodes
        .iter()
        .filter(|n| n.depends_on().iter().any(|d| d.address() == at))
        .map(|n| n.address().clone())
        .collect()
}

/// up / plan / status: every resource's plan. Another deployment's resource (another stack's or stage's
/// tags) is blocked, whatever its own plan: never written, and nothing of the stack is pointed at or attached
/// to it. So is another region's IAM resource. An owned resource that lacks some of the stack's tags gets
/// them (as a change of its own).
pub fn plan_up<'w>(world: &'w World) -> Result<Vec<Step<'w>>> {
    world
        .graph
        .nodes
        .iter()
        .map(|n| &**n)
        .filter(|node| wanted_or_live(world, *node))
        .map(|node| {
            let mut planned = node.plan_up(world)?;
            let mut retag = false;
            let live = world.live_value(node.address());
            let tags = live.and_then(|l| node.tags(l));
            let plan = &mut planned.plan;
            let other_region = || other_region_note(world, node, live?);
            if let Some(note) = other_owner_note(world, node).or_else(other_region) {
                plan.action = Action::Blocked;
                plan.note = Some(note);
            }
            if let Some(tags) = tags.filter(|t| owns(world, node, t)) {
                let changes = missing_tags(tags, &wanted_tags(world, node));
                if !changes.is_empty() && !matches!(plan.action, Action::Blocked | Action::Create) {
                    retag = true;
                    if plan.action == Action::NoOp {
                        plan.action = Action::Update;
                    }
                    plan.changes.extend(changes);
                }
            }
            Ok(Step {
                node,
                planned,
                retag,
            })
        })
        .collect()
}

/// up: applies every step, each as soon as the ones it depends on (`Dep::Applied`) are done.
pub async fn apply(world: &World<'_>, steps: Vec<Step<'_>>) -> Result<Vec<ResourceReport>> {
    let by_address: BTreeMap<Address, &Step> = steps
        .iter()
        .map(|s| (s.node.address().clone(), s))
        .collect();
    let depends_on = |at: &Address| -> Vec<Address> {
        by_address[at]
            .node
            .depends_on()
            .into_iter()
            .filter_map(|d| match d {
                Dep::Applied(a) => Some(a),
                Dep::Refers(_) | Dep::Recreates(_) => None,
            })
            .collect()
    };
    // A step that refers to one that failed (the function to its table or policy) does not wait for it,
    // but is not started once it has failed, nor is what depends on it (the public URL).
    let tainted_by = |at: &Address| -> Vec<Address> {
        by_address[at]
            .node
            .depends_on()
            .into_iter()
            .filter_map(|d| match d {
                Dep::Applied(a) | Dep::Refers(a) => Some(a),
                Dep::Recreates(_) => None,
            })
            .filter(|a| by_address.contains_key(a))
            .collect()
    };
    let walked = walk_tainting(
        by_address.keys().cloned().collect(),
        OnError::Continue,
        &depends_on,
        &tainted_by,
        |at, _: &BTreeMap<Address, Done>| {
            let step = by_address[at];
            async move {
                let node = step.node;
                let mut done = node.apply(world, &step.planned.work).await?;
                if step.retag && world.exists(node.address()) {
                    node.tag(world, &wanted_tags(world, node)).await?;
                    if done.is_none() {
                        done = Some(("tags updated", Duration::ZERO));
                    }
                }
                Ok(done)
            }
        },
    )
    .await;
    let writes = |at: &Address| {
        let step = by_address[at];
        step.retag || step.plan().action != Action::NoOp
    };
    report_skipped(world, &walked.skipped, writes);
    let done = walked.into_result()?;
    Ok(reports(steps, done, Some("in sync")))
}

/// down: every resource's teardown plan. What does not exist, another deployment's resource and another
/// region's IAM are kept.
pub fn plan_down<'w>(world: &'w World) -> Vec<Step<'w>> {
    world
        .graph
        .nodes
        .iter()
        .map(|n| &**n)
        .filter(|node| wanted_or_live(world, *node))
        .map(|node| {
            let name = node.name(world.stack);
            let keep = |note: String, arn: Option<&str>| {
                let plan = ResourcePlan::new(node.address().kind, &name, Action::Keep)
                    .note(note)
                    .arn(arn);
                Planned::new(plan, Box::new(()) as AnyWork)
            };
            let planned = match world.live_value(node.address()) {
                None => keep("does not exist".into(), None),
                Some(live) => {
                    let note = other_owner_note(world, node)
                        .or_else(|| other_region_note(world, node, live));
                    match note {
                        Some(note) => keep(note, node.arn(live)),
                        None => node
                            .plan_down(world)
                            .unwrap_or_else(|| keep("does not exist".into(), None)),
                    }
                }
            };
            Step {
                node,
                planned,
                retag: false,
            }
        })
        .collect()
}

/// down --confirm: destroys every step that deletes or updates, each once everything that depends on it
/// (in any way) is destroyed.
pub async fn destroy(world: &World<'_>, steps: Vec<Step<'_>>) -> Result<Vec<ResourceReport>> {
    let by_address: BTreeMap<Address, &Step> = steps
        .iter()
        .map(|s| (s.node.address().clone(), s))
        .collect();
    let walked = walk(
        by_address.keys().cloned().collect(),
        OnError::Continue,
        |at| dependents(&world.graph, at),
        |at, _: &BTreeMap<Address, Done>| {
            let step = by_address[at];
            async move {
                match step.plan().action {
                    Action::Delete | Action::Update => {
                        step.node.destroy(world, &step.planned.work).await
                    }
                    _ => Ok(None),
                }
            }
        },
    )
    .await;
    let writes = |at: &Address| {
        matches!(
            by_address[at].plan().action,
            Action::Delete | Action::Update
        )
    };
    report_skipped(world, &walked.skipped, writes);
    let done = walked.into_result()?;
    Ok(reports(steps, done, None))
}

/// The steps as reported, in graph order, with what was done; `idle` is the result of a step that had
/// nothing to do (None: no result shown).
pub fn reports(
    steps: Vec<Step>,
    mut done: BTreeMap<Address, Done>,
    idle: Option<&str>,
) -> Vec<ResourceReport> {
    steps
        .into_iter()
        .map(|step| {
            let report = ResourceReport::planned(step.planned.plan);
            match (done.remove(step.node.address()).flatten(), idle) {
                (Some((result, took)), _) => report.done(result, (!took.is_zero()).then_some(took)),
                (None, Some(idle)) => report.done(idle, None),
                (None, None) => report,
            }
        })
        .collect()
}

/// Says on the progress line of each step that had work to do (`writes`) that it was not started because a
/// step it needs failed.
fn report_skipped(
    world: &World,
    skipped: &[(Address, Address)],
    writes: impl Fn(&Address) -> bool,
) {
    let label = |at: &Address| match world.node(at) {
        Some(node) => format!("{} {}", at.kind.as_str(), node.name(world.stack)),
        None => at.to_string(),
    };
    for (at, cause) in skipped.iter().filter(|(at, _)| writes(at)) {
        world
            .progress
            .task(label(at))
            .fail(&format!("not started: {} failed", label(cause)));
    }
}

#[cfg(test)]
mod tests;
