//! What a resource's read, plan, apply and destroy may look at: [`ReadCx`] while reading, then the
//! [`World`] (the live account as read, what the stack wants of each instance, the local build). Both are
//! keyed by [`Address`]; a kind reads another's state typed, through `live_of::<Kind>(address)`.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;

use crate::aws::{Account, Clients};
use crate::build::package::{LocalCode, Package};
use crate::config::Stack;
use crate::plan::Kind;
use crate::progress::{format_duration, Progress, Task};
use crate::resources::erased::{recover, AnyValue};
use crate::resources::{Address, Graph, Node, Resource};

/// What a step did (shown as the resource's result, with how long it took), or None: nothing to do.
pub type Done = Option<(&'static str, Duration)>;

/// What down may do with what deleting loses (the table's data, the function's log events).
#[derive(Debug, Clone)]
pub struct DataPolicy {
    pub delete_data: bool,
    /// Keep the function's log group (and its events) that down would delete.
    pub keep_logs: bool,
    pub backup: Option<std::path::PathBuf>,
    /// down --snapshot: a DynamoDB on-demand backup of the table, AVAILABLE before anything is deleted.
    pub snapshot: bool,
    /// down --count: count the table's items exactly (a full scan) rather than show DynamoDB's estimate.
    pub count: bool,
    /// Parallel segments of an exact count and of --backup's export (`--segments`).
    pub segments: u32,
    /// The table's exact item count, when --count asked for it: down counts after the read, before it
    /// plans (None: not counted).
    pub exact_items: Option<u64>,
}

impl Default for DataPolicy {
    fn default() -> DataPolicy {
        DataPolicy {
            delete_data: false,
            keep_logs: false,
            backup: None,
            snapshot: false,
            count: false,
            segments: crate::backup::DEFAULT_SEGMENTS,
            exact_items: None,
        }
    }
}

/// What one resource's read sees: the clients, the stack, the purpose, and the reads it waited for.
pub struct ReadCx<'a> {
    pub clients: &'a Clients,
    pub stack: &'a Stack,
    pub purpose: Purpose,
    /// The "live state" progress line, for reads that wait or count.
    pub progress: &'a Task,
    pub(crate) earlier: BTreeMap<Address, AnyValue>,
    pub(crate) account: &'a tokio::sync::OnceCell<Account>,
}

use crate::resources::Purpose;

impl ReadCx<'_> {
    /// The live state of an instance this read waits for (`Resource::read_after`), if it exists.
    pub fn live_of<R: Resource>(&self, at: &Address) -> Option<&R::Live> {
        recover(self.earlier.get(at)?)
    }

    /// The account the credentials belong to, from STS, asked at most once per run.
    pub async fn account(&self) -> Result<Account> {
        self.account
            .get_or_try_init(|| Account::from_sts(&self.clients.sts))
            .await
            .cloned()
    }
}

/// The live account, as read for one purpose (every instance), with the graph it was read for.
pub struct Snapshot {
    pub account: Account,
    pub reads: Reads,
}

impl Snapshot {
    /// The live state of an instance, if it exists.
    pub fn live_of<R: Resource>(&self, at: &Address) -> Option<&R::Live> {
        self.reads.live_of::<R>(at)
    }
}

/// Part of the live account, as read for one purpose (`engine::read_some`): the chosen instances and
/// those their reads waited for.
pub struct Reads {
    pub graph: Graph,
    pub(crate) live: BTreeMap<Address, AnyValue>,
    pub(crate) aside: BTreeMap<Address, AnyValue>,
    /// The account, when a read asked STS for it (`ReadCx::account`).
    pub account: Option<Account>,
}

impl Reads {
    /// The live state of an instance that was read, if it exists.
    pub fn live_of<R: Resource>(&self, at: &Address) -> Option<&R::Live> {
        recover(self.live.get(at)?)
    }
}

/// Everything a plan, an apply or a destroy may look at.
pub struct World<'a> {
    pub clients: &'a Clients,
    pub stack: &'a Stack,
    pub graph: Graph,
    live: BTreeMap<Address, AnyValue>,
    aside: BTreeMap<Address, AnyValue>,
    /// Every instance's ARN: the live one, else the one known in advance.
    arns: BTreeMap<Address, String>,
    /// The placeholders of the policy template and the function's environment.
    placeholders: crate::template::Values,
    /// What the stack wants of each instance (`Resource::desired`).
    desired: BTreeMap<Address, AnyValue>,
    /// Each function's local build to compare the deployed code with, by the function's address (none:
    /// status without a build).
    pub code: BTreeMap<Address, LocalCode<'a>>,
    /// Each function's package to deploy, by the function's address (up only).
    pub packages: BTreeMap<Address, &'a Package>,
    pub data: DataPolicy,
    /// What up runs against a new version before its alias moves (`verify = "smoke"`; up only).
    pub verifier: Option<&'a dyn crate::resources::alias::Verifier>,
    pub progress: &'a Progress,
    /// Outputs learnt while applying (`set_output`), by instance and output.
    learnt: std::sync::Mutex<BTreeMap<(Address, &'static str), String>>,
}

impl<'a> World<'a> {
    /// Resolves what the stack wants of every instance against the account, in graph order: ARNs first
    /// (live, else known in advance), then the placeholders the kinds contribute, then each desired state.
    pub fn new(
        clients: &'a Clients,
        stack: &'a Stack,
        snapshot: Snapshot,
        progress: &'a Progress,
    ) -> Result<World<'a>> {
        let Snapshot {
            account,
            reads: Reads {
                graph, live, aside, ..
            },
        } = snapshot;
        let arns: BTreeMap<Address, String> = graph
            .nodes
            .iter()
            .filter_map(|n| {
                let arn = live
                    .get(n.address())
                    .and_then(|l| n.arn(l))
                    .map(str::to_string)
                    .or_else(|| n.arn_in_advance(stack, &account))?;
                Some((n.address().clone(), arn))
            })
            .collect();
        let placeholders = placeholders(stack, &account, &graph, |at| arns.get(at).cloned());
        let mut world = World {
            clients,
            stack,
            graph,
            live,
            aside,
            arns,
            placeholders,
            desired: BTreeMap::new(),
            code: BTreeMap::new(),
            packages: BTreeMap::new(),
            data: DataPolicy::default(),
            verifier: None,
            progress,
            learnt: Default::default(),
        };
        let mut desired = BTreeMap::new();
        for node in &world.graph.nodes {
            desired.insert(node.address().clone(), node.desired(&world)?);
        }
        world.desired = desired;
        Ok(world)
    }

    /// The live state of an instance, if it exists.
    pub fn live_of<R: Resource>(&self, at: &Address) -> Option<&R::Live> {
        recover(self.live.get(at)?)
    }

    /// What an instance's read kept aside (`Found::aside`), if anything.
    pub fn aside_of<R: Resource>(&self, at: &Address) -> Option<&R::Aside> {
        recover(self.aside.get(at)?)
    }

    /// What the stack wants of an instance (`Resource::desired`).
    pub fn desired_of<R: Resource>(&self, at: &Address) -> Option<&R::Desired> {
        recover(self.desired.get(at)?)
    }

    /// An instance's ARN: the live one, else the one known in advance.
    pub fn arn_of(&self, at: &Address) -> Option<&str> {
        self.arns.get(at).map(String::as_str)
    }

    /// The placeholders of the policy template and the function's environment.
    pub fn placeholders(&self) -> &crate::template::Values {
        &self.placeholders
    }

    /// The live state of an instance, erased (for the engine).
    pub fn live_value(&self, at: &Address) -> Option<&AnyValue> {
        self.live.get(at)
    }

    pub fn exists(&self, at: &Address) -> bool {
        self.live.contains_key(at)
    }

    /// The instance at `at`.
    pub fn node(&self, at: &Address) -> Option<&dyn Node> {
        self.graph.node(at)
    }

    /// Records a value an instance learnt while applying, for its outputs (the URL just created).
    pub fn set_output(&self, at: &Address, what: &'static str, value: String) {
        if let Ok(mut learnt) = self.learnt.lock() {
            learnt.insert((at.clone(), what), value);
        }
    }

    /// What an instance learnt while applying (`set_output`).
    pub fn learnt(&self, at: &Address, what: &'static str) -> Option<String> {
        self.learnt.lock().ok()?.get(&(at.clone(), what)).cloned()
    }

    /// The stack's outputs, as the kinds contribute them, in their published order.
    pub fn outputs(&self) -> crate::report::Outputs {
        let mut outputs: Vec<_> = self
            .graph
            .nodes
            .iter()
            .flat_map(|n| n.outputs(self))
            .collect();
        outputs.sort_by_key(|o| o.position);
        // `[auth]`'s issuer, last: only with the section, so a stack without it keeps its outputs.
        // The managed pool's own outputs come from its nodes.
        if let Some(auth) = self.stack.auth.as_ref().filter(|a| a.managed.is_none()) {
            outputs.push(crate::report::Output {
                in_text: true,
                ..crate::report::Output::new("auth_issuer", u8::MAX, Some(auth.issuer.clone()))
            });
        }
        crate::report::Outputs(outputs)
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

/// The placeholders every kind contributes (`Resource::PLACEHOLDERS`), with the stack's own; `arn` gives
/// an instance's ARN (live, or known in advance).
pub fn placeholders(
    stack: &Stack,
    account: &Account,
    graph: &Graph,
    arn: impl Fn(&Address) -> Option<String>,
) -> crate::template::Values {
    use crate::config::placeholders::{values, Known, STACK};
    let known = |arn| Known {
        stack,
        account_id: &account.id,
        arn,
    };
    let mut all: crate::template::Values = values(STACK, &known(None)).into_iter().collect();
    for node in &graph.nodes {
        let arn = arn(node.address()).or_else(|| node.arn_in_advance(stack, account));
        let mine = Known {
            arn: arn.as_deref(),
            ..known(None)
        };
        all.extend(values(node.placeholders(), &mine));
    }
    all
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the stack file's checks accept (config's `PLACEHOLDERS`) are exactly the names the graph
    /// renders: a kind contributing a name config does not declare (which no stack file could use), or a
    /// declared name nothing renders (which a stack file could use and `up` would leave unresolved), fails.
    #[test]
    fn the_graph_renders_every_declared_placeholder_and_nothing_else() {
        let stack = crate::resources::shipped_stack();
        let account = Account::from_arn("arn:aws:iam::123456789012:role/r").unwrap();
        let graph = crate::resources::graph(&stack);
        // Before anything exists: only what is known in advance.
        let values = placeholders(&stack, &account, &graph, |_| None);
        let rendered: Vec<&str> = values.keys().copied().collect();
        let mut declared: Vec<&str> = crate::resources::contributed()
            .placeholders()
            .map(|p| p.name)
            .collect();
        declared.sort_unstable();
        assert_eq!(rendered, declared);
        assert!(values.values().all(|v| !v.is_empty()), "{values:?}");
        // With every instance live (an ARN each), still the same names.
        let live = placeholders(&stack, &account, &graph, |at| {
            Some(format!("arn:aws:test:us-east-1:123456789012:{at}"))
        });
        assert_eq!(live.keys().copied().collect::<Vec<_>>(), declared);
    }
}
