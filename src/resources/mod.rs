//! Every resource kind of the stack, each in its own module implementing [`Resource`] with its own typed
//! live state and work (read the live state, plan it against stack.toml as a pure diff, apply, destroy,
//! show its state), and [`graph`]: the resource instances the resolved stack asks for, each with an
//! [`Address`] and the addresses it depends on. engine.rs walks that graph for every command, through the
//! one adapter that erases a kind's types ([`erased::Erased`]).

use std::collections::BTreeMap;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::aws::{Account, Clients};
use crate::config::placeholders::{Contributed, PlaceholderDecl};
use crate::config::Stack;
use crate::plan::{Kind, ResourcePlan};

pub mod alias;
pub mod erased;
pub mod function;
pub mod function_url;
pub mod iam_path;
pub mod log_group;
pub mod policy;
pub mod role;
pub mod table;
pub mod user_pool;
pub mod user_pool_client;
pub mod world;

pub use crate::report::Output;
pub use erased::{Erased, Node};
pub use world::{finish, DataPolicy, Done, ReadCx, Reads, Snapshot, World};

/// down's note on a resource without this stack's `stackctl:stack` tag.
pub const NOT_OURS: &str =
    "not created by this stack (no `stackctl:stack` tag with its name): left alone";

/// A node of the graph: one resource instance, by its kind and its logical name in the stack (today one
/// instance per kind, named after the stack file's section that describes it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    pub kind: Kind,
    pub name: String,
}

impl Address {
    pub fn new(kind: Kind, name: impl Into<String>) -> Address {
        Address {
            kind,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.kind.as_str(), self.name)
    }
}

/// A plan for one resource: what is shown, and what is then done (the kind's own work type).
pub struct Planned<W> {
    pub plan: ResourcePlan,
    pub work: W,
}

impl<W> Planned<W> {
    pub fn new(plan: ResourcePlan, work: W) -> Planned<W> {
        Planned { plan, work }
    }
}

impl Planned<()> {
    /// A plan whose apply or destroy has nothing to carry over from the plan.
    pub fn only(plan: ResourcePlan) -> Planned<()> {
        Planned::new(plan, ())
    }
}

/// What a read found: the live resource (None: it does not exist), and what the read learnt besides it,
/// whether or not it exists (the function's: the account's concurrency pool).
pub struct Found<L, A> {
    pub live: Option<L>,
    pub aside: Option<A>,
}

impl<L, A> From<Option<L>> for Found<L, A> {
    fn from(live: Option<L>) -> Self {
        Found { live, aside: None }
    }
}

/// The key of an output of a function's instance (its function, log group or URL): the function
/// `[function]` describes (`config::FUNCTION`) keeps the plain key (`function_arn`, `url`), so a stack
/// with one function publishes what it always did; another function's is `<instance>_<key>`.
pub fn instance_key(instance: &str, key: &str) -> String {
    if instance == crate::config::FUNCTION {
        key.to_string()
    } else {
        format!("{instance}_{key}")
    }
}

/// How `ls` finds a kind's resources across the account (its deployments, by the stack's tags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    /// Through the Resource Groups Tagging API, by this resource type (as AWS spells it: `logs:log-group`).
    Tagged(&'static str),
    /// Through IAM's own listing (IAM resources are not in the Tagging API).
    Iam,
    /// Not listed: not every deployment has one (a function URL is found with its function).
    Not,
}

/// A resource `ls` found through the Tagging API, confirmed to still exist (`Resource::confirm_tagged`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmed {
    pub name: String,
    /// When AWS says it was created, in seconds since the epoch (None: AWS keeps no creation time).
    pub created_secs: Option<i64>,
    /// The IAM role it runs with (a function's), which ls follows to a role made before IAM paths.
    pub role_arn: Option<String>,
}

impl Confirmed {
    pub fn new(name: &str, created_secs: Option<i64>) -> Option<Confirmed> {
        Some(Confirmed {
            name: name.to_string(),
            created_secs,
            role_arn: None,
        })
    }
}

/// The resource part of an ARN (after `arn:<partition>:<service>:<region>:<account>:`): `table/<name>`,
/// `function:<name>`, `log-group:<name>:*`.
pub fn arn_resource(arn: &str) -> &str {
    arn.splitn(6, ':').nth(5).unwrap_or_default()
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
    /// A command that uses the deployed stack without changing it (`Use` says which): only the calls that
    /// use needs, no tags and no ownership (it never writes). The kind's read still decides what "does not
    /// exist" is (None); the command says what that means for it. A kind no use reads reads as for status.
    Use(Use),
    /// `outputs`: each output-bearing kind's one read that gives its value and its tags (whose it is), and
    /// nothing else: no policy document, no attached policies, no permissions, no account pool, no
    /// point-in-time recovery, no users, no published versions. Its world plans nothing.
    Outputs,
}

/// What a command that uses the deployed stack reads, each kind's read making exactly that use's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    /// `logs`: where the function writes its logs (GetFunctionConfiguration's `LoggingConfig`).
    Logs,
    /// invoke / smoke through Lambda Invoke: the function once it runs its deployed code
    /// (GetFunctionConfiguration, asked again while it is Pending or an update is in progress).
    Invoke,
    /// invoke / smoke `--local`: the deployed function's configuration (GetFunctionConfiguration).
    Local,
    /// `dev`: the table the local handler uses (DescribeTable, without its tags).
    Dev,
    /// `--url`: the deployed URL and its auth type (GetFunctionUrlConfig, without the permissions).
    Url,
    /// The managed user pool and its app client (`identity::managed`): ListUserPools and DescribeUserPool,
    /// ListUserPoolClients and DescribeUserPoolClient.
    Auth,
}

/// The shape every resource kind has, with its own types. A new kind is one module implementing this, plus
/// one line in [`graph`]. Ownership (the `stackctl:stack` tag, IAM's region tag), retagging, "does not
/// exist" on down, blocking when a resource is another region's, ordering and concurrency are the
/// engine's, once for all kinds.
pub trait Resource: Send + Sync + 'static {
    /// The live state, as read.
    type Live: Send + Sync + 'static;
    /// What up's plan decided that apply carries out.
    type Work: Send + Sync + 'static;
    /// What down's plan decided that `secure` and `destroy` carry out.
    type Teardown: Send + Sync + 'static;
    /// What the read learnt besides the resource itself (`Found::aside`).
    type Aside: Send + Sync + 'static;
    /// What the stack wants of it, resolved against the account (`desired`).
    type Desired: Send + Sync + 'static;

    /// The placeholders it contributes to the policy template and the function's environment
    /// (`${table.arn}`), each declared once: its name, what it stands for, its value (from the stack and
    /// this instance's ARN, live or known in advance), and whether a policy may grant on it. The stack
    /// file's checks take them from [`contributed`], the values `up` renders from the graph.
    const PLACEHOLDERS: &'static [PlaceholderDecl] = &[];

    /// This instance's place in the graph.
    fn address(&self) -> &Address;

    /// The edges: what this instance needs from others.
    fn depends_on(&self) -> Vec<Dep> {
        Vec::new()
    }

    /// The physical name, as shown in plans and reports.
    fn name(&self, stack: &Stack) -> String;

    /// The stack file's key that names it (what a blocked plan's fix tells to change).
    fn name_field(&self) -> &str;

    /// IAM resources are global to the account: they carry the region that owns them, and another
    /// region's deployment never changes or deletes them.
    fn is_iam(&self) -> bool {
        false
    }

    /// The instance whose tags say who owns this one, when it has none of its own (a function URL: its
    /// function's). None: its own tags.
    fn owned_with(&self) -> Option<&Address> {
        None
    }

    /// IAM: where the live resource was last used, as (what was used, region). Decides whether a role or
    /// policy with no region tag may be claimed by this region.
    fn last_used_in(&self, _live: &Self::Live) -> Vec<(String, String)> {
        Vec::new()
    }

    /// How `ls` finds this kind's resources; a kind that is listed is one every deployment has (a stage
    /// without it is partial).
    fn listed(&self) -> Listed {
        Listed::Not
    }

    /// ls, for a kind `Listed::Tagged`: a Tagging API hit of this kind (its ARN), if the resource still
    /// exists (AWS keeps listing deleted ones for minutes), with its name and when it was created.
    fn confirm_tagged<'a>(
        &'a self,
        _clients: &'a Clients,
        _arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<Confirmed>>> {
        Box::pin(async { Ok(None) })
    }

    /// Whether stack.toml asks for this resource. One it does not ask for is planned only when it exists
    /// (to delete what the stack made); otherwise it is left out of plans and reports.
    fn in_stack(&self, _stack: &Stack) -> bool {
        true
    }

    /// Reads that must be done before this one starts. Everything else is read at once.
    fn read_after(&self, _purpose: Purpose, _stack: &Stack) -> Vec<Address> {
        Vec::new()
    }

    /// The live state (None when the resource does not exist), and what was learnt besides.
    fn read<'a>(
        &'a self,
        cx: &'a ReadCx<'a>,
    ) -> BoxFuture<'a, Result<Found<Self::Live, Self::Aside>>>;

    /// The live resource's ARN.
    fn arn<'l>(&self, live: &'l Self::Live) -> Option<&'l str>;

    /// The ARN before the resource exists, when it is fully determined by the account and the stack.
    fn arn_in_advance(&self, _stack: &Stack, _account: &Account) -> Option<String> {
        None
    }

    /// The live resource's tags, when they were read (a table's are read only when needed).
    fn tags<'l>(&self, live: &'l Self::Live) -> Option<&'l BTreeMap<String, String>>;

    /// What the stack wants of it, from its spec and its dependencies' ARNs (`World::arn_of`) and the
    /// placeholders (`World::placeholders`). Resolved once, before any plan.
    fn desired(&self, world: &World) -> Result<Self::Desired>;

    /// The stack's outputs it contributes (`World::outputs`).
    fn outputs(&self, _world: &World) -> Vec<Output> {
        Vec::new()
    }

    /// up / plan / status: what converging would do. Pure: no AWS call.
    fn plan_up(&self, world: &World) -> Result<Planned<Self::Work>>;

    /// Carries out `plan_up`'s work. None: there was nothing to do.
    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a Self::Work,
    ) -> BoxFuture<'a, Result<Done>>;

    /// Puts `tags` on the live resource (the stack's tags on one it owns that lacks some).
    fn tag<'a>(
        &'a self,
        _world: &'a World<'a>,
        _live: &'a Self::Live,
        _tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// down: what deleting would do to this live resource, which is not another region's. Pure.
    fn plan_down(&self, world: &World, live: &Self::Live) -> Planned<Self::Teardown>;

    /// down --confirm, before anything is deleted (only for a Delete plan): secures what deleting this
    /// resource would lose, and records it in its work (the table's backup). An error stops down with
    /// nothing deleted.
    fn secure<'a>(
        &'a self,
        _world: &'a World<'a>,
        _work: &'a mut Self::Teardown,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Carries out `plan_down`'s work (only for a Delete or Update plan).
    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a Self::Teardown,
    ) -> BoxFuture<'a, Result<Done>>;

    /// status: the live state worth showing, field by field.
    fn state(&self, world: &World, live: &Self::Live) -> BTreeMap<String, String>;
}

/// An edge of the graph: what an instance needs from another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dep {
    /// up applies the other first (this one needs it to exist); down destroys this one first.
    Applied(Address),
    /// Only refers to the other (by a name or an ARN known in advance): up does not wait for it, down still
    /// destroys this one first, so nothing is left pointing at a deleted resource.
    Refers(Address),
    /// While this one exists, the other can be made again behind down's back (the function's role may
    /// `logs:CreateLogGroup`, and an invocation still in flight after DeleteFunction uses it): down destroys
    /// this one first; up does not wait for either.
    Recreates(Address),
}

impl Dep {
    pub fn address(&self) -> &Address {
        match self {
            Dep::Applied(a) | Dep::Refers(a) | Dep::Recreates(a) => a,
        }
    }
}

/// The resource instances of a stack, in report order.
pub struct Graph {
    pub nodes: Vec<Box<dyn Node>>,
}

impl Graph {
    pub fn node(&self, at: &Address) -> Option<&dyn Node> {
        self.nodes.iter().find(|n| n.address() == at).map(|n| &**n)
    }
}

/// The addresses of a function's instances: the function, its log group and its URL, each named after the
/// function's instance name (`function.function`, `log_group.function`, `function_url.function`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionAddresses {
    pub function: Address,
    pub log_group: Address,
    pub alias: Address,
    pub url: Address,
}

impl FunctionAddresses {
    pub fn of(function: &crate::config::StackFunction) -> FunctionAddresses {
        let at = |kind| Address::new(kind, function.instance.as_str());
        FunctionAddresses {
            function: at(Kind::Function),
            log_group: at(Kind::LogGroup),
            alias: at(Kind::Alias),
            url: at(Kind::FunctionUrl),
        }
    }
}

/// The graph of the resolved stack. The table is needed by nothing at create time (the policy names its
/// ARN, which is known in advance; the function only its name), so its wait for ACTIVE overlaps everything
/// else. The log group comes before the function, or Lambda would create a never-expiring one on the first
/// invoke; it goes after the function for the same reason, and after the role and its policy too (an
/// invocation still in flight after DeleteFunction may make it again while the role may
/// `logs:CreateLogGroup`). The policy names the table's ARN but does not need the table: neither waits for
/// the other either way.
pub fn graph(stack: &Stack) -> Graph {
    // One table, role and policy, named after the stack file's sections; each function with its log group
    // and URL, named after the function's instance (`function` for `[function]`), each holding the
    // function's spec (its nodes need nothing else of the stack file about it).
    let table = Address::new(Kind::Table, "table");
    let role = Address::new(Kind::Role, "role");
    let policy = Address::new(Kind::Policy, "policy");
    let functions: Vec<(
        std::sync::Arc<crate::config::StackFunction>,
        FunctionAddresses,
    )> = stack
        .functions()
        .into_iter()
        .map(|f| {
            let at = FunctionAddresses::of(&f);
            (std::sync::Arc::new(f), at)
        })
        .collect();
    // `[auth] cognito = true`: the pool, then its client; the functions wait for the client (their
    // variables name both). Without it, neither is in the graph: a stack without the managed pool makes
    // no Cognito call.
    let managed = stack.auth.as_ref().is_some_and(|a| a.managed.is_some());
    let pool = Address::new(Kind::UserPool, "auth");
    let pool_client = Address::new(Kind::UserPoolClient, "auth");
    let auth = managed.then(|| (pool.clone(), pool_client.clone()));
    let every = |pick: fn(&FunctionAddresses) -> &Address| {
        functions
            .iter()
            .map(|(_, at)| pick(at).clone())
            .collect::<Vec<_>>()
    };
    let mut nodes = vec![
        Erased::node(table::Table { at: table.clone() }),
        Erased::node(role::Role {
            at: role.clone(),
            policy: policy.clone(),
            functions: every(|at| &at.function),
            log_groups: every(|at| &at.log_group),
        }),
        Erased::node(policy::Policy {
            at: policy.clone(),
            role: role.clone(),
            log_groups: every(|at| &at.log_group),
        }),
    ];
    for (spec, at) in functions {
        nodes.push(Erased::node(function::Function {
            at: at.function.clone(),
            spec: spec.clone(),
            role: role.clone(),
            log_group: at.log_group.clone(),
            policy: policy.clone(),
            table: table.clone(),
            auth: auth.clone(),
        }));
        nodes.push(Erased::node(log_group::LogGroup {
            at: at.log_group,
            function: at.function.clone(),
            spec: spec.clone(),
        }));
        nodes.push(Erased::node(alias::Alias {
            at: at.alias.clone(),
            function: at.function.clone(),
            spec: spec.clone(),
        }));
        nodes.push(Erased::node(function_url::FunctionUrl {
            at: at.url,
            function: at.function,
            alias: at.alias,
            spec,
        }));
    }
    if managed {
        nodes.push(Erased::node(user_pool::UserPool { at: pool.clone() }));
        nodes.push(Erased::node(user_pool_client::UserPoolClient {
            at: pool_client,
            pool,
        }));
    }
    Graph { nodes }
}

/// What the kinds contribute to the stack file's checks (config cannot name them): every kind's
/// placeholders, in graph order (a test holds this list to the graph's), and their values before anything
/// is deployed, as `up` renders them, in an example account: the account id always has 12 digits, and ARNs
/// known in advance are counted in the `aws` partition.
pub fn contributed() -> Contributed {
    Contributed::new(&[table::Table::PLACEHOLDERS], |stack| {
        let account = Account {
            partition: "aws".to_string(),
            id: "123456789012".to_string(),
        };
        world::placeholders(stack, &account, &graph(stack), |_| None)
    })
}

/// The stack's tags in IAM's shape (roles and policies take the same `Tag`).
pub(crate) fn iam_tags(tags: &BTreeMap<String, String>) -> Result<Vec<aws_sdk_iam::types::Tag>> {
    Ok(tags
        .iter()
        .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()?)
}

/// Why an IAM role or policy that appeared under the stack's name after the read (CreateRole's or
/// CreatePolicy's EntityAlreadyExists: a race, or a read that did not see it) is not this deployment's, by
/// the rule the read path uses (`Stack::owns_iam`), naming whose it looks like and the fix (`field`: the
/// stack file's key that names it). None: it is this deployment's (another run made it), and up goes on.
pub(crate) fn appeared_not_ours(
    stack: &Stack,
    field: &str,
    tags: &BTreeMap<String, String>,
) -> Option<String> {
    use crate::config::{OWNER_TAG, REGION_TAG};
    if stack.owns_iam(tags) {
        return None;
    }
    if let Some(region) = stack.iam_owner_region(tags) {
        return Some(format!(
            "it belongs to this stack's deployment in region `{region}` (its `{REGION_TAG}` tag): IAM names \
             are global, so put the region into `{field}` in stack.toml"
        ));
    }
    Some(match stack.other_owner(tags) {
        Some((owner, stage)) => stack.other_owner_note(field, owner, stage),
        None => format!(
            "it is untagged (no `{OWNER_TAG}` tag), so stackctl did not make it for this stack: stackctl \
             never attaches to, writes or deploys with it; give the stack's one another name in stack.toml \
             (`{field}`), or delete that one if it is yours and nothing uses it"
        ),
    })
}

#[cfg(test)]
pub(crate) fn shipped_stack() -> Stack {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
    crate::config::parse(
        std::path::Path::new(file),
        &std::fs::read_to_string(file).unwrap(),
        "2026-01-01",
    )
    .expect("the shipped stack.toml")
}

/// The shipped stack with `[auth] cognito = true`.
#[cfg(test)]
pub(crate) fn managed_stack() -> Stack {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
    let text = std::fs::read_to_string(file).unwrap() + "\n[auth]\ncognito = true\n";
    crate::config::parse(std::path::Path::new(file), &text, "2026-01-01").expect("managed stack")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A role or policy that appeared after the read is used only when the read path would own it: this
    /// stack and stage (and region, when tagged with one); the refusal names whose it looks like.
    #[test]
    fn what_appeared_after_the_read_is_used_only_when_the_read_would_own_it() {
        let stack = shipped_stack();
        let ours = stack.iam_resource_tags();
        assert_eq!(appeared_not_ours(&stack, "role.name", &ours), None);
        let untagged = appeared_not_ours(&stack, "role.name", &BTreeMap::new()).unwrap_or_default();
        assert!(
            untagged.contains("it is untagged") && untagged.contains("`role.name`"),
            "{untagged}"
        );
        let mut theirs = ours.clone();
        theirs.insert(crate::config::OWNER_TAG.into(), "someone-else".into());
        let other = appeared_not_ours(&stack, "policy.name", &theirs).unwrap_or_default();
        assert!(other.contains("owned by stack `someone-else`"), "{other}");
        let mut elsewhere = ours;
        elsewhere.insert(crate::config::REGION_TAG.into(), "eu-west-3".into());
        let region = appeared_not_ours(&stack, "role.name", &elsewhere).unwrap_or_default();
        assert!(region.contains("region `eu-west-3`"), "{region}");
    }

    /// The function `[function]` describes keeps the plain output keys; another would prefix its own.
    #[test]
    fn output_keys_are_per_function_instance() {
        assert_eq!(instance_key(crate::config::FUNCTION, "url"), "url");
        assert_eq!(instance_key("api", "function_arn"), "api_function_arn");
    }

    /// Each function's nodes are named after its instance and hold its spec; the role and the policy name
    /// every function's log group.
    #[test]
    fn the_functions_nodes_are_named_after_it() {
        let stack = shipped_stack();
        let graph = graph(&stack);
        let names: Vec<String> = graph
            .nodes
            .iter()
            .map(|n| n.address().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "table.table",
                "role.role",
                "policy.policy",
                "function.function",
                "log_group.function",
                "alias.function",
                "function_url.function"
            ]
        );
        let role = graph.node(&Address::new(Kind::Role, "role")).unwrap();
        assert_eq!(
            role.depends_on(),
            vec![Dep::Recreates(Address::new(Kind::LogGroup, "function"))]
        );
        let function = graph
            .node(&Address::new(Kind::Function, "function"))
            .unwrap();
        assert_eq!(function.name(&stack), stack.function.name);
        assert_eq!(function.name_field(), "function.name");
    }

    /// The test harness's orphan check lists what exists of every kind in `Kind::ALL` (and matches every
    /// `Kind`): a kind in the graph but not in that list would be an orphan nothing looks for.
    #[test]
    fn every_kind_in_the_graph_is_in_kind_all_once() {
        let stack = managed_stack();
        let kinds: Vec<Kind> = graph(&stack)
            .nodes
            .iter()
            .map(|n| n.address().kind)
            .collect();
        assert_eq!(kinds, Kind::ALL.to_vec());
    }

    /// The stack file's checks accept exactly the placeholders the graph's kinds declare (and the
    /// stack's own): a kind left out of `contributed` would render names no stack file could use.
    #[test]
    fn the_checks_know_every_placeholder_the_graph_declares() {
        let stack = shipped_stack();
        let declared: Vec<&str> = graph(&stack)
            .nodes
            .iter()
            .flat_map(|n| n.placeholders())
            .chain(crate::config::placeholders::STACK)
            .map(|p| p.name)
            .collect();
        let checked: Vec<&str> = contributed().placeholders().map(|p| p.name).collect();
        assert_eq!(checked, declared);
    }
}
