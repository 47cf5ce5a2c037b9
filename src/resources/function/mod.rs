//! The Lambda function: read, diff configuration (merging environment variables, never dropping one) and
//! code (by CodeSha256), create, update in the order Lambda accepts, recreate one whose creation failed,
//! and delete.

mod api;
mod diff;
#[cfg(test)]
mod tests;
mod uses;

pub use api::*;
pub use diff::*;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{
    Architecture, Environment, FunctionCode, LastUpdateStatus, Runtime, State,
};
use aws_sdk_lambda::Client;

use futures::future::BoxFuture;

use crate::aws::{retry_while, wait_for, Account, NotFound, Poll};
use crate::config::{Stack, StackFunction, UrlSpec, AUTH_VARIABLES, CORS_VARIABLE};
use crate::limits;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::Task;
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Output, Planned, Resource, NOT_OURS};
use crate::template;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFunction {
    pub arn: String,
    pub state: String,
    /// Why the function is in its State (StateReasonCode: StateReason), when Lambda says.
    pub state_reason: Option<String>,
    pub last_update_status: String,
    /// Why the last update is in its status (LastUpdateStatusReason), when Lambda says.
    pub last_update_reason: Option<String>,
    pub config: FunctionConfig,
    pub code_sha256: String,
    /// Empty when read for a `Purpose::Use` (GetFunctionConfiguration has none): a use decides no ownership.
    pub tags: BTreeMap<String, String>,
    /// ReservedConcurrentExecutions (GetFunction's `Concurrency`); None: unreserved (or read for a use).
    pub reserved_concurrency: Option<i32>,
    /// `LoggingConfig.LogGroup`: where Lambda writes the function's logs (`/aws/lambda/<name>` unless set).
    pub log_group: Option<String>,
}

/// The configuration fields stackctl manages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionConfig {
    pub role_arn: String,
    pub runtime: String,
    pub handler: String,
    pub memory_mb: i32,
    pub timeout_secs: i32,
    pub environment: BTreeMap<String, String>,
    /// `x86_64` or `arm64`. Lambda changes it only together with the code (UpdateFunctionCode), not with
    /// the other fields.
    pub architecture: String,
}

impl FunctionConfig {
    /// Whether the fields UpdateFunctionConfiguration sets differ (everything but the architecture).
    fn settings_differ(&self, other: &FunctionConfig) -> bool {
        let same_arch = FunctionConfig {
            architecture: other.architecture.clone(),
            ..self.clone()
        };
        same_arch != *other
    }
}

/// The function's resource kind.
pub struct Function {
    pub(crate) at: Address,
    /// Its spec, with its URL's settings (`[function]`).
    pub(crate) spec: std::sync::Arc<StackFunction>,
    pub(crate) role: Address,
    pub(crate) log_group: Address,
    pub(crate) policy: Address,
    pub(crate) table: Address,
    /// `[auth] cognito = true`: the user pool and its app client, whose ids its variables carry.
    pub(crate) auth: Option<(Address, Address)>,
}

/// `CORS_VARIABLE`'s value: set whenever the stack has a URL, and put back to `handler` when the URL goes
/// (a live value left at `function-url` would keep the handler silent).
fn cors_variable(
    url: Option<&UrlSpec>,
    live: Option<&BTreeMap<String, String>>,
) -> Option<&'static str> {
    match url {
        Some(url) if url.cors.is_some() => Some("function-url"),
        Some(_) => Some("handler"),
        None => live
            .and_then(|env| env.get(CORS_VARIABLE))
            .filter(|v| v.as_str() != "handler")
            .map(|_| "handler"),
    }
}

/// The function's variables as up deploys them: stack.toml's, with their placeholders resolved, and
/// stackctl's own (`CORS_VARIABLE`, and `[auth]`'s `AUTH_VARIABLES`); `live` is the live function's, when it exists.
fn wanted_environment(
    function: &StackFunction,
    values: &template::Values,
    live: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>> {
    let mut environment = function
        .spec
        .environment
        .iter()
        .map(|(k, v)| Ok((k.clone(), template::render(v, values)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    if let Some(cors) = cors_variable(function.url.as_ref(), live) {
        environment.insert(CORS_VARIABLE.to_string(), cors.to_string());
    }
    // `[auth]`'s (config/auth.rs); without it none, and the live ones go (diff::merged).
    for (name, value) in function.auth.iter().flat_map(|a| a.variables()) {
        environment.insert(name.to_string(), value);
    }
    Ok(environment)
}

/// A function's ARN, known before it exists.
pub fn arn_in_advance(stack: &Stack, function: &StackFunction, account: &Account) -> String {
    let Account { partition, id } = account;
    format!(
        "arn:{partition}:lambda:{}:{id}:function:{}",
        stack.region, function.spec.name
    )
}

/// For a local run (dev, invoke --local), with no graph walked: the variables up would deploy, with the
/// placeholders resolved for `account` (`table_arn`: the live table's, else the one known in advance), but
/// without the managed pool's (`[auth] cognito = true`): those are the deployed pool's and client's ids, which
/// only a read of them gives; every caller adds them (`handler::local_env::managed_auth_environment`), so no
/// local run serves without verifying tokens.
pub fn declared_environment_without_managed_auth(
    stack: &Stack,
    function: &StackFunction,
    account: &Account,
    table_arn: Option<&str>,
    live: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>> {
    let graph = crate::resources::graph(stack);
    let values = crate::resources::world::placeholders(stack, account, &graph, |at| {
        (at.kind == Kind::Table).then(|| table_arn.map(str::to_string))?
    });
    wanted_environment(function, &values, live)
}

/// down on a function stackctl did not create: the variables it set, with the values it set, and the
/// reservation it made there (marked), to give back to the account's pool.
pub struct RemoveVariables(BTreeMap<String, String>, Option<ConcurrencyWork>);

impl Function {
    fn timeouts(stack: &crate::config::Stack) -> Timeouts {
        Timeouts {
            ready: Duration::from_secs(stack.timeouts.function_secs),
            role_propagation: Duration::from_secs(stack.timeouts.role_propagation_secs),
        }
    }

    /// What the stack wants of it (`Resource::desired`).
    fn wanted<'w>(&self, world: &'w World) -> Result<&'w FunctionConfig> {
        world
            .desired_of::<Function>(&self.at)
            .context("internal error: the function's configuration was not resolved")
    }

    /// The managed pool's variables, from the pool and client as read, or as this up created them.
    fn managed_auth(&self, world: &World) -> Vec<(&'static str, String)> {
        let Some((pool, client)) = &self.auth else {
            return Vec::new();
        };
        let pool_id = world
            .live_of::<crate::resources::user_pool::UserPool>(pool)
            .map(|p| p.id.clone())
            .or_else(|| world.learnt(pool, "pool_id"));
        let client_id = world
            .live_of::<crate::resources::user_pool_client::UserPoolClient>(client)
            .map(|c| c.id.clone())
            .or_else(|| world.learnt(client, "client_id"));
        crate::resources::user_pool_client::managed_variables(
            world.clients,
            &world.stack.region,
            pool_id.as_deref(),
            client_id.as_deref(),
        )
    }

    /// The configuration with the managed pool's variables as known now (after the pool and client were
    /// created by this up, their ids are): an error if one is still unknown.
    fn with_managed_auth(&self, world: &World, config: &FunctionConfig) -> Result<FunctionConfig> {
        let mut config = config.clone();
        for (name, value) in self.managed_auth(world) {
            if value == crate::resources::user_pool_client::KNOWN_AFTER_UP {
                anyhow::bail!(
                    "`{name}` is not known: the user pool or its app client was not created"
                );
            }
            config.environment.insert(name.to_string(), value);
        }
        Ok(config)
    }

    async fn converge(&self, world: &World<'_>, planned: &FunctionDiff) -> Result<Done> {
        let (stack, lambda) = (world.stack, &world.clients.lambda);
        let spec = &self.spec.spec;
        if planned.is_noop() {
            return Ok(None);
        }
        let package = *world
            .packages
            .get(&self.at)
            .context("no package was built for the function")?;
        let task = world.task(Kind::Function, &spec.name)?;
        let timeouts = Self::timeouts(stack);
        let desired = &self.with_managed_auth(world, self.wanted(world)?)?;
        let live = world.live_of::<Function>(&self.at);
        // A function created by this very up: its ARN is known in advance.
        let arn = world.arn_of(&self.at).unwrap_or_default();
        let result = async {
            let mut diff = planned.clone();
            if let Some(config) = &mut diff.config {
                *config = self.with_managed_auth(world, config)?;
            }
            // The read a moment ago saw the function idle (Active, last update Successful): no need to ask
            // again before the first update.
            let mut idle =
                live.is_some_and(|f| f.state == "Active" && f.last_update_status == "Successful");
            if diff.create || diff.recreate {
                // A function whose creation failed: delete it, wait until it is gone, create it again (with
                // the variables someone else set on it, which `diff.config` keeps).
                let config = match &diff.config {
                    Some(config) if diff.recreate => {
                        delete_and_wait_gone(lambda, &spec.name, timeouts.ready, &task).await?;
                        config
                    }
                    _ => desired,
                };
                let tags = stack.resource_tags();
                match create(lambda, &spec.name, config, &package.zip, &tags, &timeouts, &task).await? {
                    Created::New => {
                        if let Some(work) = planned.concurrency {
                            task.set("setting reserved concurrency");
                            set_concurrency(lambda, &spec.name, arn, &stack.name, work).await?;
                        }
                        return Ok(if diff.recreate { "recreated" } else { "created" });
                    }
                    // Another run created it since our read: converge it like any existing function.
                    Created::Existing => {
                        let now = read(lambda, &spec.name)
                            .await?
                            .with_context(|| format!("Lambda function `{}` vanished", spec.name))?;
                        diff = FunctionDiff {
                            concurrency: planned.concurrency,
                            ..self::diff(desired, &package.code_sha256, Some(&now))
                        };
                        if diff.recreate {
                            anyhow::bail!(
                                "Lambda function `{}` was created again by someone else meanwhile, and its \
                                 creation failed too; run `stackctl up` again",
                                spec.name
                            );
                        }
                        idle = true; // create waited for Active
                    }
                }
            }
            if diff.wait_active {
                task.set("waiting for Active");
                wait_active(lambda, &spec.name, timeouts.ready, &task).await?;
            }
            // Configuration first, then code: each waits for the previous update to finish, because Lambda
            // refuses an update while another is in progress (after a configuration update, its own wait
            // already saw the function idle).
            if let Some(config) = &diff.config {
                update_config(lambda, &spec.name, desired, config, &timeouts, &task, idle).await?;
            }
            if diff.code {
                let idle = idle || diff.config.is_some();
                let architecture = diff.architecture.as_deref();
                update_code(lambda, &spec.name, &package.zip, architecture, &timeouts, &task, idle)
                    .await?;
            }
            // Not an update of the function's configuration: Lambda takes it while one is in progress.
            if let Some(work) = diff.concurrency {
                task.set("setting reserved concurrency");
                set_concurrency(lambda, &spec.name, arn, &stack.name, work).await?;
            }
            Ok(match (diff.config.is_some(), diff.code, diff.concurrency.is_some()) {
                (true, true, _) => "updated configuration and code",
                (true, false, _) => "updated configuration",
                (false, true, _) => "updated code",
                (false, false, true) => "updated reserved concurrency",
                (false, false, false) => "ready",
            })
        }
        .await;
        finish(&task, result)
    }
}

impl Resource for Function {
    type Live = LiveFunction;
    type Work = FunctionDiff;
    type Teardown = RemoveVariables;
    type Aside = ConcurrencyPool;
    type Desired = FunctionConfig;

    fn address(&self) -> &Address {
        &self.at
    }

    fn depends_on(&self) -> Vec<Dep> {
        let mut deps = vec![
            Dep::Applied(self.role.clone()),
            Dep::Applied(self.log_group.clone()),
            Dep::Refers(self.policy.clone()),
            Dep::Refers(self.table.clone()),
        ];
        // Its variables name the pool's and the client's ids, known once they exist.
        if let Some((pool, client)) = &self.auth {
            deps.push(Dep::Applied(pool.clone()));
            deps.push(Dep::Applied(client.clone()));
        }
        deps
    }

    fn listed(&self) -> crate::resources::Listed {
        crate::resources::Listed::Tagged("lambda:function")
    }

    fn name_field(&self) -> &str {
        &self.spec.name_field
    }

    fn arn_in_advance(&self, stack: &Stack, account: &Account) -> Option<String> {
        Some(arn_in_advance(stack, &self.spec, account))
    }

    /// The configuration up deploys: the spec, its role's ARN, and the variables with their placeholders
    /// resolved (and `CORS_VARIABLE`, which depends on the live value).
    fn desired(&self, world: &World) -> Result<FunctionConfig> {
        let spec = &self.spec.spec;
        let live = world.live_of::<Function>(&self.at);
        let mut environment = wanted_environment(
            &self.spec,
            world.placeholders(),
            live.map(|f| &f.config.environment),
        )?;
        // The managed pool's (`KNOWN_AFTER_UP` until this up creates them).
        for (name, value) in self.managed_auth(world) {
            environment.insert(name.to_string(), value);
        }
        Ok(FunctionConfig {
            role_arn: world.arn_of(&self.role).unwrap_or_default().to_string(),
            runtime: spec.runtime.clone(),
            handler: spec.handler.clone(),
            memory_mb: spec.memory_mb,
            timeout_secs: spec.timeout_secs,
            environment,
            architecture: spec.architecture.clone(),
        })
    }

    fn outputs(&self, world: &World) -> Vec<Output> {
        vec![Output::new(
            crate::resources::instance_key(&self.spec.instance, "function_arn"),
            2,
            world.arn_of(&self.at).map(str::to_string),
        )]
    }

    fn name(&self, _: &Stack) -> String {
        self.spec.spec.name.clone()
    }

    fn read<'a>(
        &'a self,
        cx: &'a ReadCx<'a>,
    ) -> BoxFuture<'a, Result<Found<LiveFunction, ConcurrencyPool>>> {
        Box::pin(async move {
            if let crate::resources::Purpose::Use(how) = cx.purpose {
                return Ok(uses::read(cx, &self.spec.spec.name, how).await?.into());
            }
            let live = read(&cx.clients.lambda, &self.spec.spec.name).await?;
            let wanted = self.spec.spec.reserved_concurrency;
            let mut aside = None;
            // The account's pool matters to a plan that reserves: down and outputs plan none.
            let plans = !matches!(
                cx.purpose,
                crate::resources::Purpose::Teardown | crate::resources::Purpose::Outputs
            );
            if plans && needs_pool(wanted, live.as_ref()) {
                aside = Some(read_pool(&cx.clients.lambda).await?);
            }
            Ok(Found { live, aside })
        })
    }

    fn arn<'l>(&self, live: &'l LiveFunction) -> Option<&'l str> {
        Some(&live.arn)
    }

    fn tags<'l>(&self, live: &'l LiveFunction) -> Option<&'l BTreeMap<String, String>> {
        Some(&live.tags)
    }

    fn plan_up(&self, world: &World) -> Result<Planned<FunctionDiff>> {
        let stack = world.stack;
        let live = world.live_of::<Function>(&self.at);
        let live_sha = live.map(|f| f.code_sha256.as_str()).unwrap_or_default();
        let code = world.code.get(&self.at);
        let mut diff = self::diff(
            self.wanted(world)?,
            code.map_or(live_sha, |c| c.code_sha256),
            live,
        );
        if let Some(files) = code.and_then(|c| c.changed_files).filter(|f| !f.is_empty()) {
            if let Some(change) = diff.changes.iter_mut().find(|c| c.field == "code") {
                // Named from the stack file's directory, as the user sees them: lambda/src/handler.ts.
                let source_dir = stack.project_relative(&self.spec.spec.source_dir);
                let files: Vec<String> = files
                    .iter()
                    .map(|f| source_dir.join(f).display().to_string())
                    .collect();
                let after = change.after.take().unwrap_or_default();
                change.after = Some(format!("{after} ({} changed)", files.join(", ")));
            }
        }
        let owned = live.is_none_or(|f| stack.owns(&f.tags));
        let wanted = self.spec.spec.reserved_concurrency;
        let (change, work) = concurrency_diff(wanted, live, owned, &stack.name);
        diff.changes.extend(change);
        diff.concurrency = work;
        // A growing reservation comes out of the account's pool: shown before and after, and blocked before
        // any write when Lambda would refuse it.
        if let (Some(n), true) = (wanted, needs_pool(wanted, live)) {
            let current = live.and_then(|f| f.reserved_concurrency);
            match world.aside_of::<Function>(&self.at) {
                Some(pool) => {
                    let (change, blocked) = pool_check(n, current, *pool, &stack.region);
                    diff.changes.push(change);
                    if diff.blocked.is_none() {
                        diff.blocked = blocked;
                    }
                }
                None => anyhow::bail!("the account's concurrency pool was not read"),
            }
        }
        let mut plan = plan(&self.spec.spec.name, live, &diff, owned);
        if code.is_none() && live.is_some() {
            plan = plan.note(
                "no local build in the artifact dir: code not compared (run `stackctl up` to build)",
            );
        }
        Ok(Planned::new(plan, diff))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a FunctionDiff,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.converge(world, work))
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        live: &'a LiveFunction,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(tag(&world.clients.lambda, &live.arn, tags))
    }

    fn plan_down(&self, world: &World, f: &LiveFunction) -> Planned<RemoveVariables> {
        let (stack, name) = (world.stack, &self.spec.spec.name);
        let base = |action| ResourcePlan::new(Kind::Function, name, action).arn(Some(&f.arn));
        if stack.owns(&f.tags) {
            let plan = base(Action::Delete).changes(vec![Change::remove("function", name)]);
            return Planned::new(plan, RemoveVariables(BTreeMap::new(), None));
        }
        // Only the variables stackctl set, and only while they still hold what it set: a value someone
        // changed since is theirs now.
        let ours: BTreeMap<String, String> = world
            .desired_of::<Function>(&self.at)
            .map(|d| &d.environment)
            .into_iter()
            .flatten()
            .filter(|(k, v)| f.config.environment.get(*k) == Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let reserved = (f.tags.get(CONCURRENCY_TAG) == Some(&stack.name)).then(|| give_back(f));
        let plan = if ours.is_empty() && reserved.is_none() {
            base(Action::Keep).note(NOT_OURS)
        } else {
            let mut changes: Vec<Change> = ours
                .iter()
                .map(|(k, v)| Change::remove(format!("environment.{k}"), v))
                .collect();
            if let Some(work) = reserved {
                let before = f
                    .reserved_concurrency
                    .map_or("none".into(), |n| n.to_string());
                changes.push(match work {
                    ConcurrencyWork::RestoreMarked(r) => {
                        Change::modify("reserved_concurrency", before, r.to_string())
                    }
                    _ => Change::remove("reserved_concurrency", before),
                });
            }
            changes.extend(
                f.config
                    .environment
                    .keys()
                    .filter(|k| !ours.contains_key(*k))
                    .map(|k| Change::keep(format!("environment.{k}"), "(kept, value hidden)")),
            );
            base(Action::Update).changes(changes).note(if reserved.is_some() {
                "not created by this stack: only the variables and the reserved concurrency stackctl set \
                 are removed"
            } else {
                "not created by this stack: only the variables stackctl set are removed"
            })
        };
        Planned::new(plan, RemoveVariables(ours, reserved))
    }

    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a RemoveVariables,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let (stack, lambda) = (world.stack, &world.clients.lambda);
            let Some(live) = world.live_of::<Function>(&self.at) else {
                return Ok(None);
            };
            let name = &self.spec.spec.name;
            let task = world.task(Kind::Function, name)?;
            let result = if stack.owns(&live.tags) {
                delete(lambda, name, &task).await.map(|_| "deleted")
            } else {
                let (ours, reserved) = (work.0.clone(), work.1);
                async {
                    if !ours.is_empty() {
                        remove_variables(lambda, live, &ours, &Self::timeouts(stack), &task)
                            .await?;
                    }
                    if let Some(work) = reserved {
                        task.set("removing reserved concurrency");
                        set_concurrency(lambda, name, &live.arn, &stack.name, work).await?;
                    }
                    Ok(match (ours.is_empty(), reserved.is_some()) {
                        (false, true) => "variables and reserved concurrency removed",
                        (true, true) => "reserved concurrency removed",
                        _ => "variables removed",
                    })
                }
                .await
            };
            finish(&task, result)
        })
    }

    fn state(&self, world: &World, f: &LiveFunction) -> BTreeMap<String, String> {
        let local = world.code.get(&self.at).map(|c| c.code_sha256.to_string());
        let mut state = BTreeMap::from([
            ("state".into(), f.state.clone()),
            ("last_update_status".into(), f.last_update_status.clone()),
            ("architecture".into(), f.config.architecture.clone()),
            ("code_sha256".into(), f.code_sha256.clone()),
            (
                "local_code_sha256".into(),
                local.unwrap_or_else(|| "(no local build)".to_string()),
            ),
            ("owner".into(), world.owner_text(Some(&f.tags))),
            (
                "reserved_concurrency".into(),
                f.reserved_concurrency
                    .map_or_else(|| "none (unreserved)".to_string(), |n| n.to_string()),
            ),
        ]);
        if let Some(reason) = f.state_reason.as_ref().filter(|_| f.state != "Active") {
            state.insert("state_reason".into(), reason.clone());
        }
        for (key, value) in &f.config.environment {
            // Only the variables stackctl sets are shown with their value; others may be secrets.
            let shown = if self.spec.spec.environment.contains_key(key) {
                value.clone()
            } else {
                "(value hidden)".into()
            };
            state.insert(format!("environment.{key}"), shown);
        }
        state
    }

    /// ls: GetFunction (Lambda keeps no creation time).
    fn confirm_tagged<'a>(
        &'a self,
        clients: &'a crate::aws::Clients,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Option<crate::resources::Confirmed>>> {
        Box::pin(async move {
            use crate::resources::{arn_resource, Confirmed};
            let resource = arn_resource(arn);
            let name = resource.strip_prefix("function:").unwrap_or(resource);
            match clients
                .lambda
                .get_function()
                .function_name(name)
                .send()
                .await
            {
                // Its role: how ls finds a role (and policy) made before IAM paths.
                Ok(out) => Ok(Confirmed::new(name, None).map(|c| Confirmed {
                    role_arn: out
                        .configuration()
                        .and_then(|c| c.role())
                        .map(str::to_string),
                    ..c
                })),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    Ok(None)
                }
                Err(err) => Err(err).with_context(|| format!("reading function `{name}`")),
            }
        })
    }
}
