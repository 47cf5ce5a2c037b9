//! `outputs`: the stack's outputs (the URL, the ARNs, the alias, the pool's ids and issuer) for scripts, CI
//! and frontend builds, from the fewest reads (`Purpose::Outputs`), each value only from a resource that
//! exists and is this deployment's; as text, one JSON document or `KEY=value` lines (`render.rs`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::aws::Clients;
use crate::cli::Output as Format;
use crate::config::Stack;
use crate::engine::{self, World};
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Notes, Outcome, Shown};
use crate::plan::Kind;
use crate::progress::Progress;
use crate::report::Output;
use crate::resources::alias::{api::is_stacks_alias, Alias};
use crate::resources::function::Function;
use crate::resources::{self, Address, FunctionAddresses, Node, Purpose};

mod render;

/// How the outputs are shown: `--output` and, for env lines, `--prefix`.
#[derive(Debug, Clone)]
pub struct Shape {
    pub output: Format,
    pub prefix: String,
}

/// The kinds that contribute outputs (`Resource::outputs`): only these are read. The policy and the log
/// group give none.
const BEARING: [Kind; 7] = [
    Kind::Table,
    Kind::Role,
    Kind::Function,
    Kind::Alias,
    Kind::FunctionUrl,
    Kind::UserPool,
    Kind::UserPoolClient,
];

pub async fn run(
    clients: &Clients,
    stack: &Stack,
    shape: &Shape,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let task = progress.task("outputs");
    task.set("reading");
    // Only what stack.toml asks for: an alias without [function.deploy] or a URL without [function.url]
    // gives no output (status's `url` is then null too).
    let wanted: Vec<Address> = resources::graph(stack)
        .nodes
        .iter()
        .filter(|n| BEARING.contains(&n.address().kind) && n.in_stack(stack))
        .map(|n| n.address().clone())
        .collect();
    let snapshot = engine::snapshot(clients, stack, Purpose::Outputs, &wanted, &task).await?;
    task.finish("read");
    let world = World::new(clients, stack, snapshot, progress)?;
    let body = OutputsBody::of(&world, &wanted, shape, clients, started)?;
    let status = if body.deployed {
        ExitStatus::Ok
    } else {
        ExitStatus::Pending
    };
    Ok(Outcome::result(body, status))
}

/// Why a wanted instance gives no value: it does not exist, or it is not this deployment's. None: its
/// outputs are the stack's.
fn not_the_stacks(world: &World, node: &dyn Node) -> Option<String> {
    let at = node.address();
    if !world.exists(at) {
        return Some("does not exist".to_string());
    }
    if let Some(note) = engine::not_this_deployments(world, node) {
        return Some(note);
    }
    match at.kind {
        // An alias is the stack's only when its function's marker names it and stackctl wrote it (up
        // blocks any other): its version is not what the stack serves.
        Kind::Alias => {
            let function = world.stack.functions().into_iter().find_map(|f| {
                let of = FunctionAddresses::of(&f);
                (of.alias == *at).then_some(of.function)
            })?;
            (!is_the_stacks_alias(world, at, &function))
                .then(|| "an alias this stack did not create".to_string())
        }
        // Under `[function.deploy]` the URL is the alias's (GetFunctionUrlConfig with its qualifier): an
        // alias someone else made under the stack's alias name may carry a URL of its own, which is theirs,
        // whoever owns the function.
        Kind::FunctionUrl => {
            let (alias, function) = world.stack.functions().into_iter().find_map(|f| {
                let of = FunctionAddresses::of(&f);
                (of.url == *at && f.deploy.is_some()).then_some((of.alias, of.function))
            })?;
            (!is_the_stacks_alias(world, &alias, &function)).then(|| {
                "the URL of an alias this stack did not create (not the stack's URL)".to_string()
            })
        }
        // A pool is never adopted: an untagged one is not the stack's (its outputs are then null).
        Kind::UserPool | Kind::UserPoolClient => node
            .outputs(world)
            .iter()
            .all(|o| o.value.is_none())
            .then(|| {
                "not this stack's (the pool has no tags naming this stack and stage)".to_string()
            }),
        _ => None,
    }
}

/// `status`: the `url`, `alias` and `alias_version` keys of each function whose alias (of the stack's alias
/// name) stackctl did not make, with why. Under `[function.deploy]` the URL is the alias's, so that URL and
/// that alias are whoever made the alias's, never the stack's outputs (the same rule as `not_the_stacks`'s,
/// for status, which nulls nothing else; `outputs` lists all three as missing).
pub fn urls_on_foreign_aliases(world: &World) -> Vec<(String, String)> {
    world
        .stack
        .functions()
        .into_iter()
        .filter_map(|f| {
            let alias = &f.deploy.as_ref()?.alias;
            let of = FunctionAddresses::of(&f);
            if !crate::resources::alias::someone_elses(world, &of.alias, &of.function) {
                return None;
            }
            let why = format!("alias `{alias}` was not made by stackctl");
            let keys = f.url.is_some().then_some("url").into_iter();
            let keys = keys.chain(["alias", "alias_version"]);
            Some(
                keys.map(|k| (resources::instance_key(&f.instance, k), why.clone()))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// plan and status: the stack's outputs as `World::outputs` gives them, with each `urls_on_foreign_aliases` key
/// nulled, and those keys with why (the text's `url: not the stack's: ...` line).
pub fn shown_outputs(world: &World) -> (crate::report::Outputs, Vec<(String, String)>) {
    let withheld = urls_on_foreign_aliases(world);
    let mut outputs = world.outputs();
    for output in outputs.0.iter_mut() {
        if withheld.iter().any(|(key, _)| *key == output.key) {
            output.value = None;
        }
    }
    (outputs, withheld)
}

/// The alias at `alias` exists and is the one stackctl made for the function at `function`.
fn is_the_stacks_alias(world: &World, alias: &Address, function: &Address) -> bool {
    match (
        world.live_of::<Alias>(alias),
        world.live_of::<Function>(function),
    ) {
        (Some(alias), Some(f)) => is_stacks_alias(&f.tags, &alias.alias),
        _ => false,
    }
}

/// The result: the outputs (status's keys, values nulled where the resource is not there or not the
/// stack's, then the names, region and stage), which ones are missing and why.
#[derive(Serialize)]
pub struct OutputsBody {
    #[serde(skip)]
    envelope: Envelope,
    /// Every output-bearing resource exists and is this deployment's.
    deployed: bool,
    outputs: crate::report::Outputs,
    /// The keys that are null because their resource is not there or not the stack's, in output order.
    missing: Vec<String>,
    /// Per resource, why it gives nothing (stderr).
    #[serde(skip)]
    reasons: Vec<String>,
    #[serde(skip)]
    shape: Shape,
}

impl OutputsBody {
    fn of(
        world: &World,
        wanted: &[Address],
        shape: &Shape,
        clients: &Clients,
        started: Instant,
    ) -> Result<OutputsBody> {
        let stack = world.stack;
        let mut nulled: BTreeMap<String, ()> = BTreeMap::new();
        let mut expected: Vec<String> = Vec::new();
        let mut reasons = Vec::new();
        for node in world.graph.nodes.iter().map(|n| &**n) {
            if !wanted.contains(node.address()) {
                continue;
            }
            let keys: Vec<String> = node.outputs(world).into_iter().map(|o| o.key).collect();
            if let Some(reason) = not_the_stacks(world, node) {
                let kind = node.address().kind.as_str();
                reasons.push(format!("{kind} {}: {reason}", node.name(stack)));
                nulled.extend(keys.iter().map(|k| (k.clone(), ())));
            }
            expected.extend(keys);
        }
        let mut outputs = world.outputs().0;
        for output in outputs.iter_mut() {
            if nulled.contains_key(&output.key) {
                output.value = None;
            }
        }
        // What a build needs besides: the names (only beside their ARN: a name whose resource is not the
        // stack's is not the stack's either), the region and the stage.
        let arn_of = |key: &str| {
            outputs
                .iter()
                .find(|o| o.key == key)
                .and_then(|o| o.value.clone())
        };
        let mut extra = vec![Output::new(
            "table_name",
            0,
            arn_of("table_arn").map(|_| stack.table.name.clone()),
        )];
        expected.push("table_name".into());
        for function in stack.functions() {
            let key = |k: &str| resources::instance_key(&function.instance, k);
            let name = arn_of(&key("function_arn")).map(|_| function.spec.name.clone());
            extra.push(Output::new(key("function_name"), 0, name));
            expected.push(key("function_name"));
        }
        extra.push(Output::new("region", 0, Some(stack.region.clone())));
        extra.push(Output::new("stage", 0, stack.stage.clone()));
        outputs.extend(extra);
        let missing: Vec<String> = outputs
            .iter()
            .filter(|o| o.value.is_none() && expected.contains(&o.key))
            .map(|o| o.key.clone())
            .collect();
        let body = OutputsBody {
            envelope: Envelope::new(
                "outputs",
                stack,
                clients.calls.snapshot(),
                started.elapsed(),
            ),
            deployed: missing.is_empty(),
            outputs: crate::report::Outputs(outputs),
            missing,
            reasons,
            shape: shape.clone(),
        };
        // Refused before anything is printed: a value that would inject a line (or be expanded) is never
        // half-written into $GITHUB_OUTPUT.
        render::check(&body.outputs.0, shape)?;
        Ok(body)
    }
}

impl Body for OutputsBody {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        render::text(&self.outputs.0)
    }

    fn env(&self) -> Option<String> {
        Some(render::env(&self.outputs.0, &self.shape.prefix))
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }

    fn notes(&self, shown: Shown) -> Notes {
        let mut notes = Notes::default();
        if shown.quiet || self.missing.is_empty() {
            return notes;
        }
        let missing: Vec<String> = self.missing.iter().map(|k| format!("`{k}`")).collect();
        notes.after.push(format!(
            "not deployed: no {} for stack `{}`{}: run `stackctl up`",
            missing.join(", "),
            self.envelope.stack.as_deref().unwrap_or_default(),
            self.envelope
                .stage
                .as_ref()
                .map(|s| format!(" stage `{s}`"))
                .unwrap_or_default()
        ));
        notes
            .after
            .extend(self.reasons.iter().map(|r| format!("  {r}")));
        notes
    }
}
