//! Every resource kind of the stack, each in its own module implementing [`Resource`] (read the live state,
//! plan it against stack.toml as a pure diff, apply, destroy, show its state), and [`REGISTRY`]: the
//! dependency graph, declared once. engine.rs walks it for every command.

use std::any::Any;
use std::collections::BTreeMap;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::config::Stack;
use crate::engine::{Done, ReadCx, World};
use crate::plan::{Kind, ResourcePlan};

pub mod function;
pub mod function_url;
pub mod log_group;
pub mod policy;
pub mod role;
pub mod table;

/// One resource's live state, as its own module reads it (downcast by that module, and by the few others
/// that look at it: the policy's plan checks the role's attachments, for instance).
pub type Live = Box<dyn Any + Send + Sync>;

/// A live state as the type its own module stored. Every kind reads and stores exactly one type, so any
/// other type here is a programming error, not something AWS or a user can cause.
pub fn live_as<T: 'static>(live: &Live) -> &T {
    live.downcast_ref().unwrap_or_else(|| {
        unreachable!("a live state that is not a {}", std::any::type_name::<T>())
    })
}

/// down's note on a resource without this stack's `stackctl:stack` tag.
pub const NOT_OURS: &str =
    "not created by this stack (no `stackctl:stack` tag with its name): left alone";

/// What a plan decided that its apply or destroy carries out (the module's own diff type).
pub type Work = Box<dyn Any + Send + Sync>;

/// A plan for one resource: what is shown, and what is then done.
pub struct Planned {
    pub plan: ResourcePlan,
    pub work: Work,
}

impl Planned {
    pub fn new(plan: ResourcePlan, work: impl Any + Send + Sync) -> Planned {
        Planned {
            plan,
            work: Box::new(work),
        }
    }
    /// A plan whose apply or destroy has nothing to carry over from the plan.
    pub fn only(plan: ResourcePlan) -> Planned {
        Planned::new(plan, ())
    }
}

/// What reading the live account is for: each kind reads only what its purpose needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// up / plan: what is needed to converge (ownership only where a change depends on it).
    Converge,
    /// status: also who owns what.
    Status,
    /// down: who owns what, and what deleting would lose (the table's item count).
    Teardown,
}

/// The shape every resource kind has. A new kind is one module implementing this, plus one entry in
/// [`REGISTRY`]. Ownership (the `stackctl:stack` tag, IAM's region tag), retagging, "does not exist" on
/// down, blocking when a resource is another region's, ordering and concurrency are the engine's, once
/// for all kinds.
pub trait Resource: Sync {
    fn kind(&self) -> Kind;

    /// The physical name, as shown in plans and reports.
    fn name(&self, stack: &Stack) -> String;

    /// IAM resources are global to the account: they carry the region that owns them, and another
    /// region's deployment never changes or deletes them.
    fn is_iam(&self) -> bool {
        false
    }

    /// The kind whose tags say who owns this one, when it has none of its own (a function URL: its
    /// function's). None: its own tags.
    fn owned_with(&self) -> Option<Kind> {
        None
    }

    /// IAM: where the live resource was last used, as (what was used, region): a role's RoleLastUsed, a
    /// policy's through the roles it is attached to (read only for a policy with the stack's tags and no
    /// region). Decides whether a role or policy with no region tag may be claimed by this region.
    fn last_used_in(&self, _live: &Live) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Whether stack.toml asks for this resource. One it does not ask for is planned only when it exists
    /// (to delete what the stack made); otherwise it is left out of plans and reports.
    fn in_stack(&self, _stack: &Stack) -> bool {
        true
    }

    /// Reads that must be done before this one starts (the policy's ARN needs the account, which the
    /// role's ARN gives on up). Everything else is read at once.
    fn read_after(&self, _purpose: Purpose, _stack: &Stack) -> &'static [Kind] {
        &[]
    }

    /// The live state, or None when the resource does not exist.
    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Option<Live>>>;

    /// The live resource's ARN.
    fn arn<'l>(&self, live: &'l Live) -> Option<&'l str>;

    /// The live resource's tags, when they were read (a table's are read only when needed).
    fn tags<'l>(&self, live: &'l Live) -> Option<&'l BTreeMap<String, String>>;

    /// up / plan / status: what converging would do. Pure: no AWS call.
    fn plan_up(&self, world: &World) -> Result<Planned>;

    /// Carries out `plan_up`'s work. None: there was nothing to do.
    fn apply<'a>(&'a self, world: &'a World<'a>, work: &'a Work) -> BoxFuture<'a, Result<Done>>;

    /// Puts `tags` on the live resource (the stack's tags on one it owns that lacks some).
    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        live: &'a Live,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>>;

    /// down: what deleting would do to this live resource, which is not another region's. Pure.
    fn plan_down(&self, world: &World, live: &Live) -> Planned;

    /// down --confirm, before anything is deleted (only for a Delete plan): secures what deleting this
    /// resource would lose, and records it in its work (the table's backup). An error stops down with
    /// nothing deleted.
    fn secure<'a>(
        &'a self,
        _world: &'a World<'a>,
        _work: &'a mut Work,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Carries out `plan_down`'s work (only for a Delete or Update plan).
    fn destroy<'a>(&'a self, world: &'a World<'a>, work: &'a Work) -> BoxFuture<'a, Result<Done>>;

    /// status: the live state worth showing, field by field.
    fn state(&self, world: &World, live: &Live) -> BTreeMap<String, String>;
}

/// An edge of the graph: what a kind needs from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dep {
    /// up applies the other first (this one needs it to exist); down destroys this one first.
    Applied(Kind),
    /// Only refers to the other (by a name or an ARN known in advance): up does not wait for it, down still
    /// destroys this one first, so nothing is left pointing at a deleted resource.
    Refers(Kind),
    /// While this one exists, the other can be made again behind down's back (the function's role may
    /// `logs:CreateLogGroup`, and an invocation still in flight after DeleteFunction uses it): down destroys
    /// this one first; up does not wait for either.
    Recreates(Kind),
}

impl Dep {
    pub fn kind(self) -> Kind {
        match self {
            Dep::Applied(kind) | Dep::Refers(kind) | Dep::Recreates(kind) => kind,
        }
    }
}

pub struct Node {
    pub resource: &'static dyn Resource,
    pub depends_on: &'static [Dep],
}

/// The stack's resources in report order, with what each depends on. The table is needed by nothing at
/// create time (the policy names its ARN, which is known in advance; the function only its name), so its
/// wait for ACTIVE overlaps everything else. The log group comes before the function, or Lambda would
/// create a never-expiring one on the first invoke; it goes after the function for the same reason, and
/// after the role and its policy too (an invocation still in flight after DeleteFunction may make it again
/// while the role may `logs:CreateLogGroup`). The policy names the table's ARN but does not need the table:
/// neither waits for the other either way.
pub static REGISTRY: &[Node] = &[
    Node {
        resource: &table::Table,
        depends_on: &[],
    },
    Node {
        resource: &role::Role,
        depends_on: &[Dep::Recreates(Kind::LogGroup)],
    },
    Node {
        resource: &policy::Policy,
        depends_on: &[Dep::Applied(Kind::Role), Dep::Recreates(Kind::LogGroup)],
    },
    Node {
        resource: &function::Function,
        depends_on: &[
            Dep::Applied(Kind::Role),
            Dep::Applied(Kind::LogGroup),
            Dep::Refers(Kind::Policy),
            Dep::Refers(Kind::Table),
        ],
    },
    Node {
        resource: &log_group::LogGroup,
        depends_on: &[],
    },
    Node {
        resource: &function_url::FunctionUrl,
        depends_on: &[Dep::Applied(Kind::Function)],
    },
];

/// The stack's tags in IAM's shape (roles and policies take the same `Tag`).
pub(crate) fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    Ok(tags
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test harness's orphan check lists what exists of every kind in `Kind::ALL` (and matches every
    /// `Kind`): a kind in the graph but not in that list would be an orphan nothing looks for.
    #[test]
    fn every_kind_in_the_graph_is_in_kind_all_once() {
        let graph: Vec<Kind> = REGISTRY.iter().map(|n| n.resource.kind()).collect();
        assert_eq!(graph, Kind::ALL.to_vec());
    }
}
