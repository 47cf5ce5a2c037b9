//! The function's alias (`[function.deploy]`): what serves a verified version. `up` converges `$LATEST` as
//! always (the function node); this node then publishes a version of it (guarded by the CodeSha256 and
//! RevisionId just read, and only when `$LATEST` differs from the version the alias serves), runs the
//! verifier against that version (smoke's checks through a version-qualified Invoke, handed in by `up`
//! since resources may not use commands), and only then creates or moves the alias, recording in its
//! Description the version it replaced (what `rollback` returns to, with no state file). After a move it
//! prunes the stack's oldest versions.
//!
//! A function carrying the stack's alias is marked with the `stackctl:alias` tag (api.rs): a stack whose
//! `[function.deploy]` was removed still finds and deletes its alias, and a stack that never had one reads
//! nothing more than before.

pub mod api;

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{bail, Result};
use futures::future::BoxFuture;

use crate::config::{Stack, StackFunction, Verify};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::resources::function::{self, Function, LiveFunction};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Output, Planned, Resource};
pub use api::{LiveAlias, Version, ALIAS_TAG};

/// What runs against a newly published version before the alias moves to it (`verify = "smoke"`): `up`
/// builds it from smoke's sequence. Ok(None): every check passed; Ok(Some(why)): a check failed (the
/// first failed check and what it got); Err: the verification could not run.
pub trait Verifier: Send + Sync {
    fn verify<'a>(
        &'a self,
        function: &'a StackFunction,
        version: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;
}

/// Whether the alias at `at` exists and is not the stack's (`api::is_stacks_alias`): someone else made an alias
/// under the stack's alias name. What hangs on it (its URL) is theirs: never shown nor planned as the stack's.
pub fn someone_elses(world: &World, at: &Address, function: &Address) -> bool {
    match (
        world.live_of::<Alias>(at),
        world.live_of::<Function>(function),
    ) {
        (Some(alias), Some(f)) => !api::is_stacks_alias(&f.tags, &alias.alias),
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// The alias's live state: the alias, and the version it serves as GetFunctionConfiguration with that
/// Qualifier answers it (code and configuration frozen at publish; None: the version is gone); after a
/// `rollback`, the version it left, read the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasState {
    pub alias: LiveAlias,
    pub serving: Option<LiveFunction>,
    pub rolled_back_from: Option<LiveFunction>,
}

/// What up or down does to the alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasWork {
    /// Publish `$LATEST`, verify the version, then create the alias (None) or move it from the version it
    /// serves (its RevisionId as read guards the move).
    Deploy {
        from: Option<(String, Option<String>)>,
    },
    /// Delete the alias (down, or `[function.deploy]` removed), then take the marker off the function
    /// (`unmark`: only when the function stays).
    Delete {
        unmark: bool,
    },
    /// Take the `stackctl:alias` marker off the function, leaving the alias it names (not the stack's).
    Unmark,
    Nothing,
}

/// The alias's resource kind.
pub struct Alias {
    pub(crate) at: Address,
    pub(crate) function: Address,
    pub(crate) spec: Arc<StackFunction>,
}

impl Alias {
    /// The alias name stack.toml asks for, else the one the function's marker names (a stack whose
    /// `[function.deploy]` was removed).
    fn alias_name(&self, function: Option<&LiveFunction>) -> Option<String> {
        match &self.spec.deploy {
            Some(deploy) => Some(deploy.alias.clone()),
            None => function.and_then(|f| f.tags.get(ALIAS_TAG).cloned()),
        }
    }

    fn marked<'f>(&self, function: Option<&'f LiveFunction>) -> Option<&'f str> {
        function.and_then(|f| f.tags.get(ALIAS_TAG).map(String::as_str))
    }

    /// Whether the live alias is the stack's: the function's marker names it AND its Description is
    /// stackctl's. The marker alone is not enough: a first up that failed before CreateAlias leaves it, and
    /// an alias someone makes later under that name is theirs.
    fn ours(&self, function: Option<&LiveFunction>, state: &AliasState) -> bool {
        function.is_some_and(|f| api::is_stacks_alias(&f.tags, &state.alias))
    }

    async fn read_state(&self, cx: &ReadCx<'_>) -> Result<Option<AliasState>> {
        let function = cx.live_of::<Function>(&self.function);
        let name = match &self.spec.deploy {
            Some(deploy) => deploy.alias.clone(),
            None => match self.alias_name(function) {
                Some(name) => name,
                None => return Ok(None),
            },
        };
        let lambda = &cx.clients.lambda;
        let function_name = &self.spec.spec.name;
        let Some(alias) = api::read_alias(lambda, function_name, &name).await? else {
            return Ok(None);
        };
        // `outputs` needs the alias's name and version (GetAlias), not the versions behind them.
        if cx.purpose == crate::resources::Purpose::Outputs {
            return Ok(Some(AliasState {
                alias,
                serving: None,
                rolled_back_from: None,
            }));
        }
        let serving = function::read_version(lambda, function_name, &alias.version).await?;
        let rolled_back_from = match &alias.rolled_back_from {
            Some(left) => function::read_version(lambda, function_name, left).await?,
            None => None,
        };
        Ok(Some(AliasState {
            alias,
            serving,
            rolled_back_from,
        }))
    }

    /// Whether `$LATEST` differs from the version the alias serves in what a version freezes: the code
    /// and the configuration stackctl manages.
    fn latest_differs(latest: &LiveFunction, serving: Option<&LiveFunction>) -> bool {
        serving.is_none_or(|s| s.code_sha256 != latest.code_sha256 || s.config != latest.config)
    }

    /// Whether this up writes `$LATEST` (the function node's own diff, recomputed: pure).
    fn function_changes(&self, world: &World) -> bool {
        let live = world.live_of::<Function>(&self.function);
        let Some(live) = live else {
            return true;
        };
        let Some(desired) = world.desired_of::<Function>(&self.function) else {
            return false;
        };
        let sha = world
            .code
            .get(&self.function)
            .map_or(live.code_sha256.as_str(), |c| c.code_sha256);
        let diff = function::diff(desired, sha, Some(live));
        diff.create || diff.recreate || diff.config.is_some() || diff.code
    }

    async fn deploy(
        &self,
        world: &World<'_>,
        from: Option<&(String, Option<String>)>,
        task: &crate::progress::Task,
    ) -> Result<&'static str> {
        let Some(deploy) = &self.spec.deploy else {
            bail!("internal error: a deploy planned without [function.deploy]");
        };
        let lambda = &world.clients.lambda;
        let name = &self.spec.spec.name;
        let alias = &deploy.alias;
        let function_arn = world.arn_of(&self.function).unwrap_or_default().to_string();
        let live_function = world.live_of::<Function>(&self.function);
        // The marker goes on before the alias exists, so that a run killed right after still finds it.
        if self.marked(live_function) != Some(alias.as_str()) {
            task.set("marking the function");
            api::set_marker(lambda, &function_arn, alias, true).await?;
        }
        // What is published is exactly what this up deployed: `$LATEST`'s code must be the build's, and
        // PublishVersion is refused if `$LATEST` changes after this read (RevisionId).
        task.set("publishing");
        let (sha, revision) = api::latest_revision(lambda, name).await?;
        if let Some(built) = world.code.get(&self.function) {
            if built.code_sha256 != sha {
                bail!(
                    "`$LATEST` of `{name}` runs code {} but this up deployed {}: someone else deployed \
                     meanwhile; nothing was published and alias `{alias}` was not moved; run up again",
                    function::short_sha(&sha),
                    function::short_sha(built.code_sha256)
                );
            }
        }
        let version =
            api::publish(lambda, name, &world.stack.name, &sha, revision.as_deref()).await?;
        world.set_output(&self.at, "version", version.clone());
        let current = from.map(|(v, _)| v.as_str());
        if current == Some(version.as_str()) {
            // Lambda answered the version already served: `$LATEST` did not change since it was published.
            return Ok("in sync");
        }
        if deploy.verify == Verify::Smoke {
            let Some(verifier) = world.verifier else {
                bail!("internal error: no verifier was given for `verify = \"smoke\"`");
            };
            let timeout = std::time::Duration::from_secs(world.stack.timeouts.function_secs);
            api::wait_version_active(lambda, name, &version, timeout, task).await?;
            task.set(&format!("verifying version {version}"));
            if let Some(why) = verifier.verify(&self.spec, &version).await? {
                let serving = match current {
                    Some(old) => format!("alias `{alias}` still serves version {old}, unchanged"),
                    // The first deploy: callers of the unqualified function, and a URL still on `$LATEST`
                    // (a stack moving to versioned deploys), get `$LATEST`, which is this code.
                    None => format!(
                        "alias `{alias}` was not created (callers of the unqualified function, and a URL \
                         still on `$LATEST`, get `$LATEST`, which is this code)"
                    ),
                };
                // It never served: not data. Deleted so that it is never a rollback target nor counted
                // by pruning (kept when an alias points to it, e.g. Lambda answered an older version).
                let deleted = self.discard(world, &version).await;
                bail!(
                    "version {version} of `{name}` failed verification{deleted}: {why}; {serving}; fix the handler \
                     (`stackctl smoke --local` runs the same checks on the local build) and run up again"
                );
            }
        }
        match from {
            None => {
                task.set(&format!("creating alias {alias} → {version}"));
                api::create_alias(lambda, name, alias, &version).await?;
            }
            Some((old, revision)) => {
                task.set(&format!("moving alias {alias} {old} → {version}"));
                api::move_alias(
                    lambda,
                    name,
                    alias,
                    &version,
                    Some(old),
                    revision.as_deref(),
                )
                .await?;
            }
        }
        world.set_output(&self.at, "moved", "yes".to_string());
        self.prune(world, &version, current, task).await?;
        Ok(if from.is_none() {
            "published, verified, alias created"
        } else {
            "published, verified, alias moved"
        })
    }

    /// A version that failed verification, deleted unless an alias points to it: " (deleted)" or "" for the
    /// message (a failure to delete is said, never hides the verification's).
    async fn discard(&self, world: &World<'_>, version: &str) -> String {
        let lambda = &world.clients.lambda;
        let name = &self.spec.spec.name;
        let result = async {
            let aliases = api::list_aliases(lambda, name).await?;
            if aliases.iter().any(|(_, v)| v == version) {
                return Ok(false);
            }
            api::delete_version(lambda, name, version).await?;
            Ok::<_, anyhow::Error>(true)
        }
        .await;
        match result {
            Ok(true) => " (deleted)".to_string(),
            Ok(false) => String::new(),
            Err(err) => format!(" (not deleted: {err:#})"),
        }
    }

    /// After a move: deletes the stack's versions beyond the newest `keep_versions`, never one an alias
    /// points to, never the version just moved to or the one it replaced.
    async fn prune(
        &self,
        world: &World<'_>,
        version: &str,
        replaced: Option<&str>,
        task: &crate::progress::Task,
    ) -> Result<()> {
        let Some(deploy) = &self.spec.deploy else {
            return Ok(());
        };
        let lambda = &world.clients.lambda;
        let name = &self.spec.spec.name;
        let (versions, aliases) = tokio::try_join!(
            api::list_versions(lambda, name),
            api::list_aliases(lambda, name)
        )?;
        let aliased: Vec<String> = aliases.into_iter().map(|(_, v)| v).collect();
        let mut protect = vec![version];
        protect.extend(replaced);
        let doomed = api::prunable(
            &versions,
            &world.stack.name,
            deploy.keep_versions as usize,
            &aliased,
            &protect,
        );
        for old in &doomed {
            task.set(&format!("pruning version {old}"));
            api::delete_version(lambda, name, old).await?;
        }
        Ok(())
    }

    async fn carry_out(&self, world: &World<'_>, work: &AliasWork) -> Result<Done> {
        let name = self.spec.spec.name.clone();
        let task = world.task(Kind::Alias, &name)?;
        let result = async {
            match work {
                AliasWork::Nothing => Ok("in sync"),
                AliasWork::Unmark => {
                    let arn = world.arn_of(&self.function).unwrap_or_default();
                    api::set_marker(&world.clients.lambda, arn, "", false).await?;
                    Ok("marker removed")
                }
                AliasWork::Deploy { from } => self.deploy(world, from.as_ref(), &task).await,
                AliasWork::Delete { unmark } => {
                    let lambda = &world.clients.lambda;
                    let live = world.live_of::<Alias>(&self.at);
                    if let Some(state) = live {
                        task.set(&format!("deleting alias {}", state.alias.name));
                        api::delete_alias(lambda, &name, &state.alias.name).await?;
                    }
                    if *unmark {
                        let arn = world.arn_of(&self.function).unwrap_or_default();
                        api::set_marker(lambda, arn, "", false).await?;
                    }
                    Ok("deleted")
                }
            }
        }
        .await;
        finish(&task, result)
    }
}

/// Why an alias the stack did not make blocks up, and the fix.
fn foreign_alias_note(alias: &str, section: &str) -> String {
    format!(
        "the function already has an alias `{alias}` that this stack did not create (the function has no \
         `{ALIAS_TAG}` tag naming it): stackctl never moves an alias it did not make; choose another name \
         (`alias = \"...\"` in [{section}.deploy]) or delete that alias"
    )
}

impl Resource for Alias {
    type Live = AliasState;
    type Work = AliasWork;
    type Teardown = AliasWork;
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    /// Published from the function once up converged it; down deletes the alias before the function.
    fn depends_on(&self) -> Vec<Dep> {
        vec![Dep::Applied(self.function.clone())]
    }

    fn name(&self, _: &Stack) -> String {
        self.spec.spec.name.clone()
    }

    fn name_field(&self) -> &str {
        &self.spec.name_field
    }

    fn owned_with(&self) -> Option<&Address> {
        Some(&self.function)
    }

    fn in_stack(&self, _: &Stack) -> bool {
        self.spec.deploy.is_some()
    }

    /// With `[function.deploy]`, read at once; without it, only the function's marker says whether there
    /// is an alias of the stack's to delete.
    fn read_after(&self, _: crate::resources::Purpose, _: &Stack) -> Vec<Address> {
        if self.spec.deploy.is_some() {
            Vec::new()
        } else {
            vec![self.function.clone()]
        }
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<AliasState, ()>>> {
        Box::pin(async move { Ok(self.read_state(cx).await?.into()) })
    }

    fn arn<'l>(&self, live: &'l AliasState) -> Option<&'l str> {
        Some(&live.alias.arn)
    }

    fn tags<'l>(&self, _: &'l AliasState) -> Option<&'l BTreeMap<String, String>> {
        None // an alias has none of its own; ownership follows the function
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    /// The alias's name and the version it serves (the one this up moved it to, else the live one).
    fn outputs(&self, world: &World) -> Vec<Output> {
        let Some(deploy) = &self.spec.deploy else {
            return Vec::new();
        };
        let live = world.live_of::<Alias>(&self.at);
        let version = world
            .learnt(&self.at, "version")
            .filter(|_| world.learnt(&self.at, "moved").is_some())
            .or_else(|| live.map(|s| s.alias.version.clone()));
        let key = |k: &str| crate::resources::instance_key(&self.spec.instance, k);
        vec![
            Output::new(key("alias"), 3, Some(deploy.alias.clone())),
            Output::new(key("alias_version"), 4, version),
        ]
    }

    fn plan_up(&self, world: &World) -> Result<Planned<AliasWork>> {
        let name = &self.spec.spec.name;
        let live = world.live_of::<Alias>(&self.at);
        let function = world.live_of::<Function>(&self.function);
        let Some(deploy) = &self.spec.deploy else {
            // `[function.deploy]` removed: the stack's alias goes (the URL moves back to `$LATEST` first).
            let Some(state) = live else {
                return Ok(Planned::new(
                    ResourcePlan::new(Kind::Alias, name, Action::NoOp),
                    AliasWork::Nothing,
                ));
            };
            if !self.ours(function, state) {
                // The marker names an alias the stack did not make: only the marker is the stack's.
                let plan = ResourcePlan::new(Kind::Alias, name, Action::Update)
                    .changes(vec![Change::remove(
                        format!("tag.{ALIAS_TAG}"),
                        &state.alias.name,
                    )])
                    .note(format!(
                        "alias `{}` was not created by this stack: left alone",
                        state.alias.name
                    ));
                return Ok(Planned::new(plan, AliasWork::Unmark));
            }
            let plan = ResourcePlan::new(Kind::Alias, name, Action::Delete)
                .arn(Some(&state.alias.arn))
                .changes(vec![Change::remove(
                    format!("alias.{}", state.alias.name),
                    format!("version {}", state.alias.version),
                )])
                .note("[function.deploy] was removed: up updates `$LATEST` in place again");
            return Ok(Planned::new(plan, AliasWork::Delete { unmark: true }));
        };
        let alias = &deploy.alias;
        // An alias of that name the stack did not make (no `stackctl:alias` marker naming it on the
        // function): someone else's traffic goes through it, so it is never moved.
        if let Some(state) = live.filter(|state| !self.ours(function, state)) {
            let plan = ResourcePlan::new(Kind::Alias, name, Action::Blocked)
                .arn(Some(&state.alias.arn))
                .changes(vec![Change::keep(
                    format!("alias.{alias}"),
                    format!("version {}", state.alias.version),
                )])
                .note(foreign_alias_note(alias, &self.spec.section));
            return Ok(Planned::new(plan, AliasWork::Nothing));
        }
        let function_changes = self.function_changes(world);
        let how = match deploy.verify {
            Verify::Smoke => "publish, run smoke's checks against the version, then",
            Verify::None => "publish, then",
        };
        let (action, changes, work) = match (live, function) {
            (None, _) => (
                Action::Create,
                vec![Change::add(
                    format!("alias.{alias}"),
                    format!("a new version ({how} create)"),
                )],
                AliasWork::Deploy { from: None },
            ),
            // After a rollback, `$LATEST` is still the version rolled back from: up does not move forward
            // to it again (a no-op up never undoes a rollback); a change of `$LATEST` does.
            (Some(state), Some(latest))
                if !function_changes
                    && state.alias.rolled_back_from.is_some()
                    && !Self::latest_differs(latest, state.rolled_back_from.as_ref()) =>
            {
                (
                    Action::NoOp,
                    vec![Change::keep(
                        format!("alias.{alias}"),
                        format!(
                            "version {} (rolled back from {}; up publishes again when `$LATEST` changes)",
                            state.alias.version,
                            state.alias.rolled_back_from.as_deref().unwrap_or_default()
                        ),
                    )],
                    AliasWork::Nothing,
                )
            }
            (Some(state), Some(latest))
                if function_changes || Self::latest_differs(latest, state.serving.as_ref()) =>
            {
                let why = if function_changes {
                    "this up changes `$LATEST`"
                } else {
                    "`$LATEST` differs from it"
                };
                (
                    Action::Update,
                    vec![Change::modify(
                        format!("alias.{alias}"),
                        format!("version {} ({why})", state.alias.version),
                        format!("a new version ({how} move)"),
                    )],
                    AliasWork::Deploy {
                        from: Some((state.alias.version.clone(), state.alias.revision_id.clone())),
                    },
                )
            }
            (Some(state), _) => (
                Action::NoOp,
                vec![Change::keep(
                    format!("alias.{alias}"),
                    format!("version {}", state.alias.version),
                )],
                AliasWork::Nothing,
            ),
        };
        let plan = ResourcePlan::new(Kind::Alias, name, action)
            .arn(live.map(|s| s.alias.arn.as_str()))
            .changes(changes);
        Ok(Planned::new(plan, work))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a AliasWork,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.carry_out(world, work))
    }

    /// down: the alias goes before the function (which takes every version with it: DeleteFunction
    /// without a Qualifier).
    fn plan_down(&self, world: &World, state: &AliasState) -> Planned<AliasWork> {
        let function = world.live_of::<Function>(&self.function);
        let name = &self.spec.spec.name;
        let owned_function = function.is_some_and(|f| world.stack.owns(&f.tags));
        if !self.ours(function, state) {
            let plan = ResourcePlan::new(Kind::Alias, name, Action::Keep)
                .arn(Some(&state.alias.arn))
                .note(format!(
                    "alias `{}`: {}",
                    state.alias.name,
                    crate::resources::NOT_OURS
                ));
            return Planned::new(plan, AliasWork::Nothing);
        }
        let changes = vec![Change::remove(
            format!("alias.{}", state.alias.name),
            format!("version {}", state.alias.version),
        )];
        // The versions an alias serves are data: their code may be an older build that stack.toml cannot
        // make again. Deleting the function deletes them all, so down needs --delete-data.
        if owned_function && !world.data.delete_data {
            let plan = ResourcePlan::new(Kind::Alias, name, Action::Blocked)
                .arn(Some(&state.alias.arn))
                .changes(changes)
                .note(format!(
                    "alias `{}` serves version {}: deleting the function deletes every published version, whose \
                     code stack.toml may not make again; run `stackctl down --confirm --delete-data` to delete \
                     them",
                    state.alias.name, state.alias.version
                ));
            return Planned::new(plan, AliasWork::Nothing);
        }
        // The function stays when it is not the stack's: its marker comes off with the alias.
        let plan = ResourcePlan::new(Kind::Alias, name, Action::Delete)
            .arn(Some(&state.alias.arn))
            .changes(changes);
        Planned::new(
            plan,
            AliasWork::Delete {
                unmark: !owned_function,
            },
        )
    }

    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a AliasWork,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.carry_out(world, work))
    }

    fn state(&self, world: &World, state: &AliasState) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::new();
        shown.insert("alias".into(), state.alias.name.clone());
        shown.insert("version".into(), state.alias.version.clone());
        if let Some(replaced) = &state.alias.replaced {
            shown.insert("replaced".into(), replaced.clone());
        }
        if let Some(latest) = world.live_of::<Function>(&self.function) {
            let rolled_back = state.alias.rolled_back_from.is_some()
                && !Self::latest_differs(latest, state.rolled_back_from.as_ref());
            let shown_latest = if rolled_back {
                "the version rolled back from (up leaves the rollback in place until `$LATEST` changes)"
            } else if Self::latest_differs(latest, state.serving.as_ref()) {
                "differs from the served version (up publishes it)"
            } else {
                "same as the served version"
            };
            shown.insert("latest".into(), shown_latest.into());
        }
        shown
    }
}
