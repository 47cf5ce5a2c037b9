//! Runs the resource graph (`resources::REGISTRY`) for every command, after Terraform's graph walker: a
//! node runs as soon as the nodes it depends on are done, and destroy walks the reversed graph. Reads go
//! in one concurrent round (a read waits only for the reads it names), and plan, status, up and down all
//! plan from the same reads. Ownership, retagging and "another region's IAM" are decided here, once for
//! every kind.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::stream::{FuturesUnordered, StreamExt};

use crate::aws::{Account, Clients};
use crate::config::Stack;
use crate::desired::{self, Desired};
use crate::handler::package::{LocalCode, Package};
use crate::plan::{missing_tags, Action, Kind, ResourcePlan};
use crate::progress::{format_duration, Progress, Task};
use crate::report::ResourceReport;
use crate::resources::{Dep, Live, Node, Planned, Purpose, Resource, REGISTRY};

/// What a step did (shown as the resource's result, with how long it took), or None: nothing to do.
pub type Done = Option<(&'static str, Duration)>;

/// What down may do with the table's data.
#[derive(Debug, Clone, Default)]
pub struct DataPolicy {
    pub delete_data: bool,
    /// Keep the function's log group (and its events) that down would delete.
    pub keep_logs: bool,
    pub backup: Option<std::path::PathBuf>,
}

/// What one resource's read sees: the clients, the stack, the purpose, and the reads it waited for.
pub struct ReadCx<'a> {
    pub clients: &'a Clients,
    pub stack: &'a Stack,
    pub purpose: Purpose,
    /// The "live state" progress line, for reads that wait or count.
    pub progress: &'a Task,
    earlier: BTreeMap<Kind, Option<Arc<Live>>>,
    account: &'a tokio::sync::OnceCell<Account>,
    aside: &'a std::sync::Mutex<BTreeMap<Kind, Arc<Live>>>,
}

impl ReadCx<'_> {
    /// The live state of a kind this read waits for (`Resource::read_after`).
    pub fn live<T: 'static>(&self, kind: Kind) -> Option<&T> {
        self.earlier.get(&kind)?.as_ref()?.downcast_ref()
    }

    /// The account the credentials belong to, from STS, asked at most once per run.
    pub async fn account(&self) -> Result<Account> {
        self.account
            .get_or_try_init(|| Account::from_sts(&self.clients.sts))
            .await
            .cloned()
    }

    /// Keeps what this kind's read learnt besides the resource itself, whether or not it exists (the
    /// function's: the account's concurrency pool); plans find it with `World::aside`.
    pub fn keep_aside(&self, kind: Kind, value: Live) {
        if let Ok(mut aside) = self.aside.lock() {
            aside.insert(kind, Arc::new(value));
        }
    }
}

/// The live account, as read for one purpose.
pub struct Snapshot {
    pub account: Account,
    live: BTreeMap<Kind, Arc<Live>>,
    aside: BTreeMap<Kind, Arc<Live>>,
}

impl Snapshot {
    /// The live state of `kind`, if it exists.
    pub fn live<T: 'static>(&self, kind: Kind) -> Option<&T> {
        self.live.get(&kind)?.downcast_ref()
    }
}

/// Reads every resource: each as soon as the reads it waits for are done, all others at once.
pub async fn read(
    clients: &Clients,
    stack: &Stack,
    purpose: Purpose,
    progress: &Task,
) -> Result<Snapshot> {
    let account = tokio::sync::OnceCell::new();
    let aside = std::sync::Mutex::new(BTreeMap::new());
    let found = walk(
        REGISTRY.iter().map(|n| n.resource.kind()).collect(),
        |kind| node(kind).resource.read_after(purpose, stack).to_vec(),
        |kind, done: &BTreeMap<Kind, Option<Arc<Live>>>| {
            let resource = node(kind).resource;
            let earlier = resource
                .read_after(purpose, stack)
                .iter()
                .map(|k| (*k, done.get(k).cloned().flatten()))
                .collect();
            let (account, aside) = (&account, &aside);
            async move {
                let cx = ReadCx {
                    clients,
                    stack,
                    purpose,
                    progress,
                    earlier,
                    account,
                    aside,
                };
                Ok(resource.read(&cx).await?.map(Arc::new))
            }
        },
    )
    .await?;
    let live: BTreeMap<Kind, Arc<Live>> = found
        .into_iter()
        .filter_map(|(kind, live)| Some((kind, live?)))
        .collect();
    // The account from any ARN seen (no extra call when something exists), else from STS.
    let account = match account.get() {
        Some(account) => account.clone(),
        None => {
            let seen = live
                .iter()
                .filter_map(|(kind, l)| node(*kind).resource.arn(l))
                .find_map(Account::from_arn);
            match seen {
                Some(account) => account,
                None => Account::from_sts(&clients.sts).await?,
            }
        }
    };
    let aside = aside.into_inner().unwrap_or_default();
    Ok(Snapshot {
        account,
        live,
        aside,
    })
}

/// Everything a plan, an apply or a destroy may look at.
pub struct World<'a> {
    pub clients: &'a Clients,
    pub stack: &'a Stack,
    /// What the stack wants, with every reference resolved against the live account.
    pub desired: Desired,
    live: BTreeMap<Kind, Arc<Live>>,
    aside: BTreeMap<Kind, Arc<Live>>,
    /// The local build to compare the deployed code with (None: status without a build).
    pub code: Option<LocalCode<'a>>,
    /// The package to deploy (up only).
    pub package: Option<&'a Package>,
    pub data: DataPolicy,
    pub progress: &'a Progress,
    /// Outputs learnt while applying (`set_output`).
    outputs: std::sync::Mutex<BTreeMap<&'static str, String>>,
}

impl<'a> World<'a> {
    pub fn new(
        clients: &'a Clients,
        stack: &'a Stack,
        snapshot: Snapshot,
        progress: &'a Progress,
    ) -> Result<World<'a>> {
        let Snapshot {
            account,
            live,
            aside,
        } = snapshot;
        let arn_of = |kind: Kind| {
            live.get(&kind)
                .and_then(|l| node(kind).resource.arn(l))
                .map(str::to_string)
        };
        let desired = desired::resolve(
            stack,
            &account,
            arn_of(Kind::Table).as_deref(),
            arn_of(Kind::Role).as_deref(),
            live.get(&Kind::Function)
                .and_then(|l| l.downcast_ref::<crate::resources::function::LiveFunction>())
                .map(|f| &f.config.environment),
        )?;
        Ok(World {
            clients,
            stack,
            desired,
            live,
            aside,
            code: None,
            package: None,
            data: DataPolicy::default(),
            progress,
            outputs: Default::default(),
        })
    }

    /// The live state of `kind`, if it exists.
    pub fn live<T: 'static>(&self, kind: Kind) -> Option<&T> {
        self.live.get(&kind)?.downcast_ref()
    }

    /// What `kind`'s read kept aside (`ReadCx::keep_aside`), if anything.
    pub fn aside<T: 'static>(&self, kind: Kind) -> Option<&T> {
        self.aside.get(&kind)?.downcast_ref()
    }

    /// The live state of `kind` as its module keeps it, if it exists.
    pub fn live_box(&self, kind: Kind) -> Option<&Live> {
        self.live.get(&kind).map(|l| &**l)
    }

    pub fn exists(&self, kind: Kind) -> bool {
        self.live.contains_key(&kind)
    }

    /// Whether a node is planned: stack.toml asks for it, or it exists (and may be the stack's to delete).
    fn wanted_or_live(&self, node: &Node) -> bool {
        node.resource.in_stack(self.stack) || self.exists(node.resource.kind())
    }

    /// Records a value of the stack's `outputs` learnt while applying (a URL just created).
    pub fn set_output(&self, key: &'static str, value: String) {
        if let Ok(mut outputs) = self.outputs.lock() {
            outputs.insert(key, value);
        }
    }

    /// The stack's outputs: the URL and the ARNs, live ones first, then what applying learnt, then the
    /// ARNs known in advance.
    pub fn outputs(&self) -> crate::report::Outputs {
        let learnt = self.outputs.lock().map(|o| o.clone()).unwrap_or_default();
        let url = learnt.get("url").cloned().or_else(|| {
            self.live::<crate::resources::function_url::UrlState>(Kind::FunctionUrl)
                .and_then(|s| s.config.as_ref())
                .map(|c| c.url.clone())
        });
        let arn = |kind: Kind| {
            self.live_box(kind)
                .and_then(|l| node(kind).resource.arn(l))
                .map(str::to_string)
        };
        crate::report::Outputs {
            url: url.filter(|_| self.stack.url.is_some()),
            table_arn: arn(Kind::Table).unwrap_or_else(|| self.desired.table_arn.clone()),
            role_arn: arn(Kind::Role).unwrap_or_else(|| self.desired.role_arn.clone()),
            function_arn: arn(Kind::Function).unwrap_or_else(|| self.desired.function_arn.clone()),
        }
    }

    /// Whether a live resource with these tags is this stack's (in this region, for IAM).
    pub fn owns(&self, resource: &dyn Resource, tags: &BTreeMap<String, String>) -> bool {
        if resource.is_iam() {
            self.stack.owns_iam(tags)
        } else {
            self.stack.owns(tags)
        }
    }

    /// Why a resource another deployment owns is left alone: the owner its tags name (for a function
    /// URL, its function's tags) and the fix. None: untagged (it may be adopted) or this deployment's own.
    fn other_owner_note(&self, resource: &dyn Resource) -> Option<String> {
        let kind = resource.owned_with().unwrap_or(resource.kind());
        let tags = node(kind).resource.tags(self.live.get(&kind)?)?;
        let (stack, stage) = self.stack.other_owner(tags)?;
        Some(
            self.stack
                .other_owner_note(name_field(resource.kind()), stack, stage),
        )
    }

    /// Why this region leaves a role or policy of this stack alone, and the fix: its region tag names another
    /// region, or it has none and was last used in another region. None: not such a resource.
    fn other_region_note(&self, resource: &dyn Resource, live: &Live) -> Option<String> {
        let tags = resource.tags(live).filter(|_| resource.is_iam())?;
        if let Some(other) = self.stack.iam_owner_region(tags) {
            return Some(
                self.stack
                    .other_region_note(resource.kind().as_str(), other),
            );
        }
        if !self.stack.owns(tags) || tags.contains_key(crate::config::REGION_TAG) {
            return None;
        }
        let (what, region) = resource
            .last_used_in(live)
            .into_iter()
            .find(|(_, region)| *region != self.stack.region)?;
        Some(
            self.stack
                .used_in_other_region_note(resource.kind().as_str(), &what, &region),
        )
    }

    /// The tags the stack puts on a resource of this kind.
    pub fn wanted_tags(&self, resource: &dyn Resource) -> BTreeMap<String, String> {
        if resource.is_iam() {
            self.stack.iam_resource_tags()
        } else {
            self.stack.resource_tags()
        }
    }

    /// status's "owner" line.
    pub fn owner_text(&self, tags: Option<&BTreeMap<String, String>>) -> String {
        if tags.is_some_and(|t| self.stack.owns(t)) {
            "this stack"
        } else {
            "not this stack (left alone by down)"
        }
        .to_string()
    }

    /// The progress line of a step that is about to write; refuses to start after an interrupt.
    pub fn task(&self, kind: Kind, name: &str) -> Result<Task> {
        let label = format!("{} {name}", kind.as_str());
        crate::interrupt::check(&label)?;
        Ok(self.progress.task(label))
    }
}

/// Ends a step's progress line with its result, or with how long it ran before failing.
pub fn finish(task: &Task, result: Result<&'static str>) -> Result<Done> {
    match result {
        Ok(done) => {
            task.finish(done);
            Ok(Some((done, task.elapsed())))
        }
        Err(err) => {
            task.fail(&format!("failed after {}", format_duration(task.elapsed())));
            Err(err)
        }
    }
}

/// One resource's plan, with what the engine adds to it.
pub struct Step {
    pub node: &'static Node,
    pub planned: Planned,
    /// The stack's tags are missing on this owned resource: apply puts them on.
    retag: bool,
}

impl Step {
    pub fn plan(&self) -> &ResourcePlan {
        &self.planned.plan
    }
}

/// The kinds that depend on `kind` in any way: down destroys them first.
fn dependents(kind: Kind) -> Vec<Kind> {
    REGISTRY
        .iter()
        .filter(|n| n.depends_on.iter().any(|d| d.kind() == kind))
        .map(|n| n.resource.kind())
        .collect()
}

/// The stack file's key that names a resource of this kind (what a blocked plan's fix tells to change).
fn name_field(kind: Kind) -> &'static str {
    match kind {
        Kind::Table => "table.name",
        Kind::Role => "role.name",
        Kind::Policy => "policy.name",
        // The log group is `/aws/lambda/<function.name>`; the URL is the function's.
        Kind::Function | Kind::LogGroup | Kind::FunctionUrl => "function.name",
    }
}

fn node(kind: Kind) -> &'static Node {
    REGISTRY
        .iter()
        .find(|n| n.resource.kind() == kind)
        .unwrap_or_else(|| panic!("{} is not in resources::REGISTRY", kind.as_str()))
}

/// up / plan / status: every resource's plan. Another deployment's resource (another stack's or stage's
/// tags) is blocked, whatever its own plan: never written, and nothing of the stack is pointed at or attached
/// to it. So is another region's IAM resource. An owned resource that lacks some of the stack's tags gets
/// them (as a change of its own).
pub fn plan_up(world: &World) -> Result<Vec<Step>> {
    REGISTRY
        .iter()
        .filter(|node| world.wanted_or_live(node))
        .map(|node| {
            let resource = node.resource;
            let mut planned = resource.plan_up(world)?;
            let mut retag = false;
            let tags = world
                .live
                .get(&resource.kind())
                .and_then(|l| resource.tags(l));
            let plan = &mut planned.plan;
            let live = world.live.get(&resource.kind());
            let other_region = || world.other_region_note(resource, live?);
            if let Some(note) = world.other_owner_note(resource).or_else(other_region) {
                plan.action = Action::Blocked;
                plan.note = Some(note);
            }
            if let Some(tags) = tags.filter(|t| world.owns(resource, t)) {
                let changes = missing_tags(tags, &world.wanted_tags(resource));
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
pub async fn apply(world: &World<'_>, steps: Vec<Step>) -> Result<Vec<ResourceReport>> {
    let by_kind: BTreeMap<Kind, &Step> =
        steps.iter().map(|s| (s.node.resource.kind(), s)).collect();
    let done = walk(
        by_kind.keys().copied().collect(),
        |kind| {
            node(kind)
                .depends_on
                .iter()
                .filter_map(|d| match d {
                    Dep::Applied(k) => Some(*k),
                    Dep::Refers(_) | Dep::Recreates(_) => None,
                })
                .collect()
        },
        |kind, _: &BTreeMap<Kind, Done>| {
            let step = by_kind[&kind];
            async move {
                let resource = step.node.resource;
                let mut done = resource.apply(world, &step.planned.work).await?;
                if step.retag {
                    if let Some(live) = world.live.get(&kind) {
                        resource
                            .tag(world, live, &world.wanted_tags(resource))
                            .await?;
                        if done.is_none() {
                            done = Some(("tags updated", Duration::ZERO));
                        }
                    }
                }
                Ok(done)
            }
        },
    )
    .await?;
    Ok(reports(steps, done, Some("in sync")))
}

/// down: every resource's teardown plan. What does not exist, another deployment's resource and another
/// region's IAM are kept.
pub fn plan_down(world: &World) -> Vec<Step> {
    REGISTRY
        .iter()
        .filter(|node| world.wanted_or_live(node))
        .map(|node| {
            let resource = node.resource;
            let name = resource.name(world.stack);
            let keep = |note: String| {
                Planned::only(ResourcePlan::new(resource.kind(), &name, Action::Keep).note(note))
            };
            let planned = match world.live.get(&resource.kind()) {
                None => keep("does not exist".into()),
                Some(live) => {
                    let note = world
                        .other_owner_note(resource)
                        .or_else(|| world.other_region_note(resource, live));
                    match note {
                        Some(note) => {
                            let mut kept = keep(note);
                            kept.plan.arn = resource.arn(live).map(str::to_string);
                            kept
                        }
                        None => resource.plan_down(world, live),
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
pub async fn destroy(world: &World<'_>, steps: Vec<Step>) -> Result<Vec<ResourceReport>> {
    let by_kind: BTreeMap<Kind, &Step> =
        steps.iter().map(|s| (s.node.resource.kind(), s)).collect();
    let done = walk(
        by_kind.keys().copied().collect(),
        dependents,
        |kind, _: &BTreeMap<Kind, Done>| {
            let step = by_kind[&kind];
            async move {
                match step.plan().action {
                    Action::Delete | Action::Update => {
                        step.node.resource.destroy(world, &step.planned.work).await
                    }
                    _ => Ok(None),
                }
            }
        },
    )
    .await?;
    Ok(reports(steps, done, None))
}

/// The steps as reported, in registry order, with what was done; `idle` is the result of a step that
/// had nothing to do (None: no result shown).
pub fn reports(
    steps: Vec<Step>,
    mut done: BTreeMap<Kind, Done>,
    idle: Option<&str>,
) -> Vec<ResourceReport> {
    steps
        .into_iter()
        .map(|step| {
            let kind = step.node.resource.kind();
            let report = ResourceReport::planned(step.planned.plan);
            match (done.remove(&kind).flatten(), idle) {
                (Some((result, took)), _) => report.done(result, (!took.is_zero()).then_some(took)),
                (None, Some(idle)) => report.done(idle, None),
                (None, None) => report,
            }
        })
        .collect()
}

/// The graph walk: starts every node whose dependencies are done, as soon as they are, and collects the
/// results. The first error ends the walk (the steps still running are dropped, as an interrupt would).
/// `start` sees the results so far and must take what it needs from them (the future may not borrow them).
async fn walk<T, Fut>(
    nodes: Vec<Kind>,
    depends_on: impl Fn(Kind) -> Vec<Kind>,
    mut start: impl FnMut(Kind, &BTreeMap<Kind, T>) -> Fut,
) -> Result<BTreeMap<Kind, T>>
where
    Fut: Future<Output = Result<T>>,
{
    let mut done: BTreeMap<Kind, T> = BTreeMap::new();
    let mut waiting = nodes.clone();
    let mut running = FuturesUnordered::new();
    loop {
        let (ready, rest): (Vec<Kind>, Vec<Kind>) = waiting.into_iter().partition(|kind| {
            depends_on(*kind)
                .iter()
                .all(|d| done.contains_key(d) || !nodes.contains(d))
        });
        waiting = rest;
        for kind in ready {
            let future = start(kind, &done);
            running.push(async move { (kind, future.await) });
        }
        match running.next().await {
            Some((kind, result)) => {
                done.insert(kind, result?);
            }
            None if waiting.is_empty() => return Ok(done),
            None => anyhow::bail!(
                "the resource graph has a cycle through {}",
                waiting
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds() -> Vec<Kind> {
        REGISTRY.iter().map(|n| n.resource.kind()).collect()
    }

    #[test]
    fn every_dependency_is_in_the_registry_and_there_is_no_cycle() {
        let all = kinds();
        for n in REGISTRY {
            for d in n.depends_on {
                assert!(all.contains(&d.kind()), "{:?}", d);
            }
        }
        let order = futures::executor::block_on(walk(
            all.clone(),
            |k| node(k).depends_on.iter().map(|d| d.kind()).collect(),
            |k, _: &BTreeMap<Kind, ()>| async move {
                let _ = k;
                Ok(())
            },
        ))
        .unwrap();
        assert_eq!(order.len(), all.len());
    }

    #[test]
    fn the_walk_starts_a_node_only_after_its_dependencies_and_reports_cycles() {
        let started = std::sync::Mutex::new(Vec::new());
        let deps = |k: Kind| match k {
            Kind::Function => vec![Kind::Role, Kind::LogGroup],
            Kind::Policy => vec![Kind::Role],
            _ => vec![],
        };
        futures::executor::block_on(walk(kinds(), deps, |k, done: &BTreeMap<Kind, ()>| {
            for d in deps(k) {
                assert!(done.contains_key(&d), "{k:?} started before {d:?}");
            }
            started.lock().unwrap().push(k);
            async { Ok(()) }
        }))
        .unwrap();
        assert_eq!(started.lock().unwrap().len(), kinds().len());

        let cycle = |k: Kind| match k {
            Kind::Role => vec![Kind::Policy],
            Kind::Policy => vec![Kind::Role],
            _ => vec![],
        };
        let err =
            futures::executor::block_on(walk(kinds(), cycle, |_, _: &BTreeMap<Kind, ()>| async {
                Ok(())
            }))
            .unwrap_err();
        assert!(
            err.to_string().contains("cycle through role, policy"),
            "{err}"
        );
    }

    #[test]
    fn down_destroys_the_function_before_what_it_uses_and_the_log_group_after_the_role() {
        assert!(dependents(Kind::Role).contains(&Kind::Function));
        assert!(dependents(Kind::Role).contains(&Kind::Policy));
        // The log group goes last: after the function and after the role and policy that could let an
        // invocation still in flight make it again.
        assert_eq!(
            dependents(Kind::LogGroup),
            vec![Kind::Role, Kind::Policy, Kind::Function]
        );
        assert_eq!(dependents(Kind::Table), vec![Kind::Function]);
        // The URL (config and permissions) goes before the function it belongs to.
        assert_eq!(dependents(Kind::Function), vec![Kind::FunctionUrl]);
        assert!(dependents(Kind::FunctionUrl).is_empty());
    }
}
