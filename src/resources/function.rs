//! The Lambda function: read, diff configuration (merging environment variables, never dropping one) and
//! code (by CodeSha256), create, update in the order Lambda accepts, recreate one whose creation failed,
//! and delete.

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
use crate::config::{Stack, CORS_VARIABLE};
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
    pub config: FunctionConfig,
    pub code_sha256: String,
    pub tags: BTreeMap<String, String>,
    /// ReservedConcurrentExecutions (GetFunction's `Concurrency`); None: unreserved.
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

pub const DEFAULT_ARCHITECTURE: &str = "x86_64";

/// The function as it is, with its tags. GetFunction leaves the tags out when the caller may not
/// `lambda:ListTags` (and says why in TagsError); then ListTags is asked directly, and its failure is an
/// error: without the tags, whether this stack owns the function is unknown, and guessing "not ours" would
/// make down leave it behind and up treat it as adopted.
pub async fn read(client: &Client, name: &str) -> Result<Option<LiveFunction>> {
    read_with(client, name, true).await
}

/// The function's configuration and state, for re-reads that need no tags.
async fn read_config(client: &Client, name: &str) -> Result<Option<LiveFunction>> {
    read_with(client, name, false).await
}

async fn read_with(client: &Client, name: &str, tags: bool) -> Result<Option<LiveFunction>> {
    let out = match client.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err).with_context(|| format!("reading Lambda function `{name}`")),
    };
    let c = out
        .configuration()
        .with_context(|| format!("Lambda returned no configuration for `{name}`"))?;
    let arn = c.function_arn().unwrap_or_default().to_string();
    let tags = match (out.tags_error(), tags) {
        (Some(hidden), true) => list_tags(client, name, &arn, hidden).await?,
        _ => out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    };
    let state_reason = match (c.state_reason_code(), c.state_reason()) {
        (Some(code), Some(reason)) => Some(format!("{}: {reason}", code.as_str())),
        (None, Some(reason)) => Some(reason.to_string()),
        (Some(code), None) => Some(code.as_str().to_string()),
        (None, None) => None,
    };
    Ok(Some(LiveFunction {
        arn,
        state: c.state().map_or("Active", State::as_str).to_string(),
        state_reason,
        last_update_status: c
            .last_update_status()
            .map_or("Successful", LastUpdateStatus::as_str)
            .to_string(),
        config: FunctionConfig {
            role_arn: c.role().unwrap_or_default().to_string(),
            runtime: c
                .runtime()
                .map(|r| r.as_str().to_string())
                .unwrap_or_default(),
            handler: c.handler().unwrap_or_default().to_string(),
            memory_mb: c.memory_size().unwrap_or(128),
            timeout_secs: c.timeout().unwrap_or(3),
            environment: c
                .environment()
                .and_then(|e| e.variables())
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            architecture: c
                .architectures()
                .first()
                .map_or(DEFAULT_ARCHITECTURE, Architecture::as_str)
                .to_string(),
        },
        code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        tags,
        reserved_concurrency: out
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions()),
        log_group: c
            .logging_config()
            .and_then(|l| l.log_group())
            .map(str::to_string),
    }))
}

async fn list_tags(
    client: &Client,
    name: &str,
    arn: &str,
    hidden: &aws_sdk_lambda::types::TagsError,
) -> Result<BTreeMap<String, String>> {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    let out = client.list_tags().resource(arn).send().await.map_err(|err| {
        anyhow::anyhow!(
            "cannot read the tags of Lambda function `{name}`, so whether this stack owns it is unknown: \
             GetFunction left them out ({}), and ListTags answered {}: {}; allow `lambda:ListTags` on it to \
             the identity running stackctl (see policies/stackctl-operator-policy.json)",
            hidden.error_code(),
            err.code().unwrap_or("an error"),
            err.message().map_or_else(|| format!("{err:#}"), str::to_string)
        )
    })?;
    Ok(out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// The configuration to send: the desired fields, and the live environment with the desired variables
/// merged in. Lambda replaces the whole variable map on update, so dropping the live ones would destroy
/// variables someone else set.
pub fn merged(desired: &FunctionConfig, live: &FunctionConfig) -> FunctionConfig {
    let mut environment = live.environment.clone();
    environment.extend(
        desired
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    FunctionConfig {
        environment,
        ..desired.clone()
    }
}

/// Field-level changes from `live` to `target`. Variables only on the live side are shown as kept, with
/// their value hidden (stackctl did not set them, and they may be secrets).
pub fn config_changes(live: &FunctionConfig, target: &FunctionConfig) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut field = |name: &str, before: String, after: String| {
        if before != after {
            changes.push(Change::modify(name, before, after));
        }
    };
    field("role", live.role_arn.clone(), target.role_arn.clone());
    field("runtime", live.runtime.clone(), target.runtime.clone());
    field("handler", live.handler.clone(), target.handler.clone());
    field(
        "memory_mb",
        live.memory_mb.to_string(),
        target.memory_mb.to_string(),
    );
    field(
        "timeout_secs",
        live.timeout_secs.to_string(),
        target.timeout_secs.to_string(),
    );
    field(
        "architecture",
        live.architecture.clone(),
        target.architecture.clone(),
    );
    changes.extend(env_changes(&live.environment, &target.environment));
    changes
}

fn env_changes(live: &BTreeMap<String, String>, target: &BTreeMap<String, String>) -> Vec<Change> {
    let mut changes = Vec::new();
    for (key, value) in target {
        let field = format!("environment.{key}");
        match live.get(key) {
            None => changes.push(Change::add(field, value)),
            Some(old) if old != value => changes.push(Change::modify(field, old, value)),
            Some(_) => {}
        }
    }
    for key in live.keys().filter(|k| !target.contains_key(*k)) {
        changes.push(Change::remove(
            format!("environment.{key}"),
            "(value hidden)",
        ));
    }
    changes
}

/// What `up` does to the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDiff {
    pub create: bool,
    /// State Failed (its creation failed): Lambda cannot repair it by updates, so it is deleted and created
    /// again (only when this stack owns it; `plan` blocks an adopted one).
    pub recreate: bool,
    /// Still Pending (just created by someone, or an interrupted up): wait for Active first.
    pub wait_active: bool,
    /// The full configuration to send, when it differs from the live one (for a recreate: what to create).
    pub config: Option<FunctionConfig>,
    pub code: bool,
    /// The architecture to send with the code, when the live one differs.
    pub architecture: Option<String>,
    pub changes: Vec<Change>,
    /// Why `up` must not touch the function (a limit the result would break), with the numbers.
    pub blocked: Option<String>,
    /// The reserved concurrency to set or remove (`function.reserved_concurrency`).
    pub concurrency: Option<ConcurrencyWork>,
}

/// PutFunctionConcurrency or DeleteFunctionConcurrency; on a function this stack did not create, with the
/// `stackctl:concurrency` marker put on before the reservation or taken off after its removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyWork {
    Reserve(i32),
    /// A reservation on a function stackctl did not create, which had none: marked first, so that down
    /// (or a later up without the key) knows the reservation is the stack's to remove.
    ReserveMarked(i32),
    Unreserve,
    /// The stack's reservation on a function it did not create: removed, then the marker taken off.
    UnreserveMarked,
    /// A reservation someone else set on a function this stack did not create, changed to the first value:
    /// marked first with the second (`CONCURRENCY_BEFORE_TAG`), so that down (or a later up without the
    /// key) gives it back as it was.
    ReserveMarkedOver(i32, i32),
    /// The reservation a marked change replaced, put back; then the markers taken off.
    RestoreMarked(i32),
}

/// The reservation someone else had set on a function this stack did not create, before up changed it
/// (beside `CONCURRENCY_TAG`): what down puts back.
pub const CONCURRENCY_BEFORE_TAG: &str = "stackctl:concurrency-before";

/// What giving back the stack's marked reservation on a function it did not create means: the reservation
/// it replaced put back (`CONCURRENCY_BEFORE_TAG`), else no reservation.
fn give_back(live: &LiveFunction) -> ConcurrencyWork {
    match live
        .tags
        .get(CONCURRENCY_BEFORE_TAG)
        .and_then(|b| b.parse::<i32>().ok())
    {
        Some(before) => ConcurrencyWork::RestoreMarked(before),
        None => ConcurrencyWork::UnreserveMarked,
    }
}

/// The function tag that marks a reservation stackctl made on a function it did not create (its value: the
/// stack's name). Reserved concurrency comes out of the account's pool, so down gives it back.
pub const CONCURRENCY_TAG: &str = "stackctl:concurrency";

/// The account's regional concurrency pool (GetAccountSettings' `AccountLimit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConcurrencyPool {
    /// ConcurrentExecutions: the account's total in this region.
    pub limit: i32,
    /// UnreservedConcurrentExecutions: what no function has reserved.
    pub unreserved: i32,
}

impl ConcurrencyPool {
    /// What Lambda keeps unreserved: 100, or the whole limit of an account whose limit is smaller (new
    /// accounts often have 10, and cannot reserve any).
    pub fn minimum(&self) -> i32 {
        self.limit.min(100)
    }
}

/// Whether `up` needs the account's pool: a reservation that grows (a smaller one only gives back).
pub fn needs_pool(wanted: Option<i32>, live: Option<&LiveFunction>) -> bool {
    let current = live.and_then(|f| f.reserved_concurrency).unwrap_or(0);
    wanted.is_some_and(|n| n > current)
}

/// The pool before and after reserving `wanted` (the function's `current` reservation goes back to the pool
/// first), and why up must not send it: the pool would keep less than Lambda's minimum unreserved.
pub fn pool_check(
    wanted: i32,
    current: Option<i32>,
    pool: ConcurrencyPool,
    region: &str,
) -> (Change, Option<String>) {
    let current = current.unwrap_or(0);
    let after = pool.unreserved + current - wanted;
    let minimum = pool.minimum();
    let change = Change::modify(
        "account_unreserved_concurrency",
        format!("{} of {} in {region}", pool.unreserved, pool.limit),
        format!("{after} (Lambda keeps at least {minimum} unreserved)"),
    );
    if after >= minimum || wanted <= current {
        return (change, None);
    }
    let most = pool.unreserved + current - minimum;
    let fix = if most > 0 {
        format!("reserve at most {most} (`function.reserved_concurrency = {most}`), remove the key")
    } else {
        "remove `function.reserved_concurrency` (this account has nothing left to reserve)"
            .to_string()
    };
    let own = if current > 0 {
        format!(", this function's {current} included")
    } else {
        String::new()
    };
    (
        change,
        Some(format!(
            "reserving {wanted} would leave the account's unreserved concurrency in {region} at {after}, below \
             Lambda's minimum of {minimum} (account limit {}, {} unreserved now{own}); Lambda would refuse it \
             after the first write: {fix}, or ask AWS for a higher \"Concurrent executions\" quota (Service \
             Quotas)",
            pool.limit, pool.unreserved
        )),
    )
}

/// GetAccountSettings: the account's concurrency pool in the client's region.
pub async fn read_pool(client: &Client) -> Result<ConcurrencyPool> {
    let out = client.get_account_settings().send().await.context(
        "reading the account's Lambda concurrency (GetAccountSettings), needed to reserve concurrency; allow \
         `lambda:GetAccountSettings` to the identity running stackctl (see policies/stackctl-operator-policy.json)",
    )?;
    let limit = out
        .account_limit()
        .context("Lambda's GetAccountSettings answered no AccountLimit")?;
    Ok(ConcurrencyPool {
        limit: limit.concurrent_executions(),
        unreserved: limit.unreserved_concurrent_executions().unwrap_or(0),
    })
}

impl FunctionDiff {
    pub fn is_noop(&self) -> bool {
        !self.create
            && !self.recreate
            && !self.wait_active
            && self.config.is_none()
            && !self.code
            && self.concurrency.is_none()
    }
}

/// The reserved concurrency's change (pure). A function this stack owns converges to the file (no key:
/// unreserved); one it did not create keeps a reservation someone else made unless the file sets one, and
/// a reservation stackctl made there (marked) is the stack's to remove.
pub fn concurrency_diff(
    wanted: Option<i32>,
    live: Option<&LiveFunction>,
    owned: bool,
    stack: &str,
) -> (Option<Change>, Option<ConcurrencyWork>) {
    const FIELD: &str = "reserved_concurrency";
    let Some(live) = live else {
        return match wanted {
            Some(n) => (
                Some(Change::add(FIELD, n.to_string())),
                Some(ConcurrencyWork::Reserve(n)),
            ),
            None => (None, None),
        };
    };
    let marked = !owned && live.tags.get(CONCURRENCY_TAG).map(String::as_str) == Some(stack);
    match (live.reserved_concurrency, wanted) {
        (before, after) if before == after => (None, None),
        (before, Some(n)) => (
            Some(match before {
                Some(b) => Change::modify(FIELD, b.to_string(), n.to_string()),
                None => Change::add(FIELD, n.to_string()),
            }),
            // On a function the stack did not create, what stackctl adds is marked, and what it changes is
            // marked with the value it replaced (given back by down).
            Some(match before {
                _ if owned || marked => ConcurrencyWork::Reserve(n),
                None => ConcurrencyWork::ReserveMarked(n),
                Some(b) => ConcurrencyWork::ReserveMarkedOver(n, b),
            }),
        ),
        (Some(b), None) if owned => (
            Some(Change::remove(FIELD, b.to_string())),
            Some(ConcurrencyWork::Unreserve),
        ),
        (Some(b), None) if marked => match give_back(live) {
            ConcurrencyWork::RestoreMarked(r) => (
                Some(Change::modify(FIELD, b.to_string(), r.to_string())),
                Some(ConcurrencyWork::RestoreMarked(r)),
            ),
            work => (Some(Change::remove(FIELD, b.to_string())), Some(work)),
        },
        (Some(b), None) => (
            Some(Change::keep(
                FIELD,
                format!("{b} (set outside stack.toml on a function stackctl did not create: kept)"),
            )),
            None,
        ),
        (None, None) => (None, None),
    }
}

/// PutFunctionConcurrency / DeleteFunctionConcurrency, with the marker on an adopted function (`arn`)
/// put on before the reservation and taken off after its removal.
pub async fn set_concurrency(
    client: &Client,
    name: &str,
    arn: &str,
    stack: &str,
    work: ConcurrencyWork,
) -> Result<()> {
    let marker = || format!("updating the `{CONCURRENCY_TAG}` tag of Lambda function `{name}`");
    let mut tags = BTreeMap::from([(CONCURRENCY_TAG.to_string(), stack.to_string())]);
    match work {
        ConcurrencyWork::ReserveMarked(_) => tag(client, arn, &tags).await.with_context(marker)?,
        ConcurrencyWork::ReserveMarkedOver(_, before) => {
            tags.insert(CONCURRENCY_BEFORE_TAG.to_string(), before.to_string());
            tag(client, arn, &tags).await.with_context(marker)?;
        }
        _ => {}
    }
    match work {
        ConcurrencyWork::Reserve(n)
        | ConcurrencyWork::ReserveMarked(n)
        | ConcurrencyWork::ReserveMarkedOver(n, _)
        | ConcurrencyWork::RestoreMarked(n) => {
            client
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(n)
                .send()
                .await
                .with_context(|| {
                    format!("setting the reserved concurrency of Lambda function `{name}` to {n}")
                })?;
        }
        ConcurrencyWork::Unreserve | ConcurrencyWork::UnreserveMarked => {
            client
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .with_context(|| {
                    format!("removing the reserved concurrency of Lambda function `{name}`")
                })?;
        }
    }
    if matches!(
        work,
        ConcurrencyWork::UnreserveMarked | ConcurrencyWork::RestoreMarked(_)
    ) {
        client
            .untag_resource()
            .resource(arn)
            .tag_keys(CONCURRENCY_TAG)
            .tag_keys(CONCURRENCY_BEFORE_TAG)
            .send()
            .await
            .with_context(marker)?;
    }
    Ok(())
}

/// Lambda refuses more than 4 KB of environment variables in total. The variables someone else set on
/// the function count too, because stackctl keeps them.
fn env_over_limit(target: &FunctionConfig, desired: &FunctionConfig) -> Option<String> {
    let total = limits::env_bytes(&target.environment);
    if total <= limits::ENV_BYTES {
        return None;
    }
    let ours = limits::env_bytes(&desired.environment);
    let foreign: Vec<&String> = target
        .environment
        .keys()
        .filter(|k| !desired.environment.contains_key(*k))
        .collect();
    let origin = if foreign.is_empty() {
        format!("all {ours} from the stack file")
    } else {
        format!(
            "{ours} from the stack file and {} from variables set outside it ({}), which stackctl keeps",
            total - ours,
            foreign
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Some(format!(
        "its environment variables would total {total} bytes (keys and values), over Lambda's limit of {} \
         bytes (4 KB): {origin}; shorten or remove variables (large settings belong in SSM Parameter Store or \
         S3, read at init)",
        limits::ENV_BYTES
    ))
}

pub fn diff(
    desired: &FunctionConfig,
    code_sha256: &str,
    live: Option<&LiveFunction>,
) -> FunctionDiff {
    let Some(live) = live else {
        let mut changes = vec![
            Change::add("runtime", &desired.runtime),
            Change::add("handler", &desired.handler),
            Change::add("architecture", &desired.architecture),
            Change::add("code", format!("CodeSha256 {}", short_sha(code_sha256))),
        ];
        changes.extend(
            desired
                .environment
                .iter()
                .map(|(k, v)| Change::add(format!("environment.{k}"), v)),
        );
        return FunctionDiff {
            create: true,
            recreate: false,
            wait_active: false,
            config: None,
            code: true,
            architecture: None,
            changes,
            blocked: env_over_limit(desired, desired),
            concurrency: None,
        };
    };
    let target = merged(desired, &live.config);
    let mut changes = Vec::new();
    // A function whose creation failed (State Failed) cannot be repaired by updates: AWS's answer is to
    // delete it and create it again, keeping the variables someone else set on it.
    let recreate = live.state == "Failed";
    if recreate {
        changes.push(Change::modify(
            "state",
            "Failed",
            "recreate (delete + create)",
        ));
        changes.push(Change::keep(
            "state_reason",
            live.state_reason.as_deref().unwrap_or("none given"),
        ));
    }
    changes.extend(config_changes(&live.config, &target));
    for key in live
        .config
        .environment
        .keys()
        .filter(|k| !desired.environment.contains_key(*k))
    {
        changes.push(Change::keep(
            format!("environment.{key}"),
            "(kept, value hidden)",
        ));
    }
    // After a failed update, Lambda keeps the function as it was before it; sending the configuration and
    // the code again is how it recovers, so a failed last update is never "in sync".
    let failed = !recreate && live.last_update_status == "Failed";
    let wait_active = !recreate && live.state == "Pending";
    if wait_active {
        changes.push(Change::modify(
            "state",
            "Pending",
            "Active (up waits for it)",
        ));
    }
    if failed {
        changes.push(Change::modify(
            "last_update_status",
            "Failed",
            "retry the update",
        ));
    }
    let new_code = failed || live.code_sha256 != code_sha256;
    if new_code {
        changes.push(Change::modify(
            "code",
            format!("CodeSha256 {}", short_sha(&live.code_sha256)),
            format!("CodeSha256 {}", short_sha(code_sha256)),
        ));
    }
    // Lambda takes the architecture with the code (UpdateFunctionCode), not with the configuration.
    let architecture =
        (live.config.architecture != target.architecture).then(|| target.architecture.clone());
    let code = !recreate && (new_code || architecture.is_some());
    let blocked = env_over_limit(&target, desired);
    let config = (recreate || failed || target.settings_differ(&live.config)).then_some(target);
    FunctionDiff {
        create: false,
        recreate,
        wait_active,
        config,
        code,
        architecture: architecture.filter(|_| !recreate),
        changes,
        blocked,
        concurrency: None,
    }
}

pub fn short_sha(sha: &str) -> String {
    sha.chars().take(12).collect::<String>() + if sha.chars().count() > 12 { "…" } else { "" }
}

pub fn plan(
    name: &str,
    live: Option<&LiveFunction>,
    diff: &FunctionDiff,
    owned: bool,
) -> ResourcePlan {
    let action = if diff.create {
        Action::Create
    } else if diff.recreate || diff.config.is_some() || diff.code || diff.concurrency.is_some() {
        Action::Update
    } else {
        Action::NoOp
    };
    let mut plan = ResourcePlan::new(Kind::Function, name, action)
        .arn(live.map(|l| l.arn.as_str()))
        .changes(diff.changes.clone());
    if let Some(blocked) = &diff.blocked {
        return ResourcePlan {
            action: Action::Blocked,
            ..plan
        }
        .note(blocked);
    }
    if diff.recreate && !owned {
        let reason = live
            .and_then(|l| l.state_reason.as_deref())
            .unwrap_or("no reason given");
        return ResourcePlan {
            action: Action::Blocked,
            ..plan
        }
        .note(format!(
            "its creation failed (State Failed: {reason}) and Lambda cannot repair it by updates; it was not \
             created by this stack, so stackctl does not delete it: delete it yourself \
             (`aws lambda delete-function --function-name {name}`), then run `stackctl up` again"
        ));
    }
    if diff.recreate {
        plan = plan.note(
            "its creation failed, and Lambda cannot repair that by updates: up deletes it and creates it again",
        );
    } else if live.is_some() && !owned {
        plan = plan.note("not created by this stack: only its configuration and code are updated");
    }
    plan
}

fn environment(vars: &BTreeMap<String, String>) -> Environment {
    Environment::builder()
        .set_variables(Some(
            vars.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .build()
}

/// Lambda refuses a role it cannot assume yet (IAM is eventually consistent: a new role takes seconds to
/// propagate). Only that error is retried, not other invalid parameters. AWS gives it no distinct error
/// code, so the message is the only way to tell; Terraform and the AWS SAM CLI match it the same way.
fn role_not_yet_assumable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<aws_sdk_lambda::Error>()
            .is_some_and(|e| {
                matches!(e, aws_sdk_lambda::Error::InvalidParameterValueException(inner)
                if inner.message().is_some_and(|m| m.contains("cannot be assumed")))
            })
    })
}

pub struct Timeouts {
    pub ready: Duration,
    pub role_propagation: Duration,
}

pub async fn create(
    client: &Client,
    name: &str,
    config: &FunctionConfig,
    zip: &[u8],
    tags: &BTreeMap<String, String>,
    timeouts: &Timeouts,
    task: &Task,
) -> Result<Created> {
    task.set("creating");
    let send = || async {
        client
            .create_function()
            .function_name(name)
            .role(&config.role_arn)
            .runtime(Runtime::from(config.runtime.as_str()))
            .handler(&config.handler)
            .memory_size(config.memory_mb)
            .timeout(config.timeout_secs)
            .environment(environment(&config.environment))
            .architectures(Architecture::from(config.architecture.as_str()))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip.to_vec()))
                    .build(),
            )
            .set_tags(Some(
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("creating Lambda function `{name}`"))
    };
    let created = match retry_while(
        timeouts.role_propagation,
        send,
        role_not_yet_assumable,
        |_| task.set("waiting for the new role to become assumable by Lambda"),
    )
    .await
    {
        Ok(_) => Created::New,
        Err(err) if exists_error(&err) => {
            // Someone (another up?) created it since it was read: the caller converges it.
            task.set("appeared meanwhile; reading it");
            Created::Existing
        }
        Err(err) => return Err(err),
    };
    wait_active(client, name, timeouts.ready, task).await?;
    Ok(created)
}

/// Whether `create` made the function, or found it made by someone else in the meantime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

fn exists_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<aws_sdk_lambda::Error>()
            .is_some_and(|e| matches!(e, aws_sdk_lambda::Error::ResourceConflictException(_)))
    })
}

/// Sends the full configuration (the merged environment included), then waits for the update to finish.
/// `first` is what the plan computed from its read; a retry (after a 409: someone else was updating the
/// function, perhaps setting a variable) reads the live variables again and merges `desired` into those, so
/// a concurrent change is never overwritten with a stale copy.
pub async fn update_config(
    client: &Client,
    name: &str,
    desired: &FunctionConfig,
    first: &FunctionConfig,
    timeouts: &Timeouts,
    task: &Task,
    known_ready: bool,
) -> Result<()> {
    // The first attempt skips the wait when the caller just saw the function idle; a retry always waits.
    let skip_wait = std::sync::atomic::AtomicBool::new(known_ready);
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let send = || async {
        if !skip_wait.swap(false, std::sync::atomic::Ordering::SeqCst) {
            wait_ready_for_update(client, name, timeouts.ready, task).await?;
        }
        let config = if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            let live = read_config(client, name)
                .await?
                .with_context(|| format!("Lambda function `{name}` disappeared"))?;
            merged(desired, &live.config)
        };
        task.set("updating configuration");
        client
            .update_function_configuration()
            .function_name(name)
            .role(&config.role_arn)
            .runtime(Runtime::from(config.runtime.as_str()))
            .handler(&config.handler)
            .memory_size(config.memory_mb)
            .timeout(config.timeout_secs)
            .environment(environment(&config.environment))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("updating the configuration of Lambda function `{name}`"))
    };
    retry_while(
        timeouts.role_propagation,
        send,
        |e| role_not_yet_assumable(e) || update_in_progress(e),
        |_| task.set("waiting to retry the configuration update"),
    )
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// Uploads the code; `architecture`, when given, changes the function's architecture with it (Lambda
/// takes Architectures only here, not in UpdateFunctionConfiguration).
#[allow(clippy::too_many_arguments)]
pub async fn update_code(
    client: &Client,
    name: &str,
    zip: &[u8],
    architecture: Option<&str>,
    timeouts: &Timeouts,
    task: &Task,
    known_ready: bool,
) -> Result<()> {
    // The first attempt skips the wait when the caller just saw the function idle; a retry after a 409
    // always waits.
    let skip_wait = std::sync::atomic::AtomicBool::new(known_ready);
    let send = || async {
        if !skip_wait.swap(false, std::sync::atomic::Ordering::SeqCst) {
            wait_ready_for_update(client, name, timeouts.ready, task).await?;
        }
        task.set("uploading code");
        client
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip.to_vec()))
            .set_architectures(architecture.map(|a| vec![Architecture::from(a)]))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("updating the code of Lambda function `{name}`"))
    };
    retry_while(timeouts.ready, send, update_in_progress, |_| {
        task.set("another update is in progress; waiting")
    })
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// Another update (ours, or someone else's) still running: Lambda answers 409 ResourceConflict.
fn update_in_progress(err: &anyhow::Error) -> bool {
    exists_error(err)
}

pub async fn wait_active(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    let not_found = NotFound::new("function");
    wait_for(
        &format!("function `{name}` to become Active"),
        timeout,
        || {
            client
                .get_function_configuration()
                .function_name(name)
                .send()
        },
        |result| match result {
            Ok(c) => match c.state() {
                Some(State::Active) | None => Poll::Done,
                Some(State::Failed) => {
                    Poll::Failed(c.state_reason().unwrap_or("no reason given").to_string())
                }
                Some(state) => {
                    not_found.seen();
                    Poll::Pending(state.as_str().to_string())
                }
            },
            Err(e) if e.is_resource_not_found_exception() => not_found.poll(),
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for Active ({state})")),
    )
    .await
    .map(|_| ())
}

/// Waits until LastUpdateStatus is Successful. Failed is an error carrying AWS's reason, never success.
pub async fn wait_updated(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    wait_for_update(client, name, timeout, task, false).await
}

/// Waits until the function accepts another update: the last one is over, whether it succeeded or failed
/// (after a failed update, the fix is simply a new update).
async fn wait_ready_for_update(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    wait_for_update(client, name, timeout, task, true).await
}

async fn wait_for_update(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
    failed_is_over: bool,
) -> Result<()> {
    wait_for(
        &format!("the update of function `{name}`"),
        timeout,
        || {
            client
                .get_function_configuration()
                .function_name(name)
                .send()
        },
        |result| match result {
            Ok(c) => match c.last_update_status() {
                Some(LastUpdateStatus::Successful) | None => Poll::Done,
                Some(LastUpdateStatus::Failed) if failed_is_over => Poll::Done,
                Some(LastUpdateStatus::Failed) => Poll::Failed(format!(
                    "{} ({})",
                    c.last_update_status_reason().unwrap_or("no reason given"),
                    c.last_update_status_reason_code()
                        .map_or("no reason code", |r| r.as_str())
                )),
                Some(status) => Poll::Pending(status.as_str().to_string()),
            },
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for the update ({state})")),
    )
    .await
    .map(|_| ())
}

/// Adds or updates tags on the function.
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    client
        .tag_resource()
        .resource(arn)
        .set_tags(Some(
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
        .send()
        .await
        .with_context(|| format!("tagging Lambda function `{arn}`"))?;
    Ok(())
}

pub async fn delete(client: &Client, name: &str, task: &Task) -> Result<()> {
    task.set("deleting");
    match client.delete_function().function_name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("deleting Lambda function `{name}`")),
    }
}

/// Deletes the function and waits until Lambda no longer knows it, so that a CreateFunction of the same
/// name can follow (a function whose creation failed is replaced this way).
pub async fn delete_and_wait_gone(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    delete(client, name, task).await?;
    task.set("waiting until it is gone");
    wait_for(
        &format!("function `{name}` to be deleted"),
        timeout,
        || client.get_function().function_name(name).send(),
        |result| match result {
            Ok(out) => Poll::Pending(
                out.configuration()
                    .and_then(|c| c.state())
                    .map_or("still there", State::as_str)
                    .to_string(),
            ),
            Err(e) if e.is_resource_not_found_exception() => Poll::Done,
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting until it is gone ({state})")),
    )
    .await
    .map(|_| ())
}

/// For a function stackctl did not create: remove only the variables it set, keeping every other one.
/// `ours` maps each variable to the value stackctl set; a variable whose value changed since is someone
/// else's now and stays. The live variables are read right before sending, never taken from an old read.
pub async fn remove_variables(
    client: &Client,
    live: &LiveFunction,
    ours: &BTreeMap<String, String>,
    timeouts: &Timeouts,
    task: &Task,
) -> Result<()> {
    let name = live.arn.rsplit(':').next().unwrap_or(&live.arn);
    let send = || async {
        wait_ready_for_update(client, name, timeouts.ready, task).await?;
        let Some(now) = read_config(client, name).await? else {
            return Ok(());
        };
        let mut variables = now.config.environment.clone();
        variables.retain(|k, v| ours.get(k) != Some(v));
        if variables == now.config.environment {
            return Ok(());
        }
        task.set(&format!(
            "removing {}",
            ours.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        client
            .update_function_configuration()
            .function_name(&live.arn)
            .environment(environment(&variables))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("removing stackctl's variables from Lambda function `{name}`"))
            .map(|_| ())
    };
    retry_while(timeouts.ready, send, update_in_progress, |_| {
        task.set("another update is in progress; waiting")
    })
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// The function's resource kind.
pub struct Function {
    pub(crate) at: Address,
    pub(crate) role: Address,
    pub(crate) log_group: Address,
    pub(crate) policy: Address,
    pub(crate) table: Address,
}

/// `CORS_VARIABLE`'s value: set whenever the stack has a URL, and put back to `handler` when the URL goes
/// (a live value left at `function-url` would keep the handler silent).
fn cors_variable(stack: &Stack, live: Option<&BTreeMap<String, String>>) -> Option<&'static str> {
    match &stack.url {
        Some(url) if url.cors.is_some() => Some("function-url"),
        Some(_) => Some("handler"),
        None => live
            .and_then(|env| env.get(CORS_VARIABLE))
            .filter(|v| v.as_str() != "handler")
            .map(|_| "handler"),
    }
}

/// The function's variables as up deploys them: stack.toml's, with their placeholders resolved, and
/// stackctl's own (`CORS_VARIABLE`); `live` is the live function's, when it exists.
fn wanted_environment(
    stack: &Stack,
    values: &template::Values,
    live: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>> {
    let mut environment = stack
        .function
        .environment
        .iter()
        .map(|(k, v)| Ok((k.clone(), template::render(v, values)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    if let Some(cors) = cors_variable(stack, live) {
        environment.insert(CORS_VARIABLE.to_string(), cors.to_string());
    }
    Ok(environment)
}

/// The function's ARN, known before it exists.
pub fn arn_in_advance(stack: &Stack, account: &Account) -> String {
    let Account { partition, id } = account;
    format!(
        "arn:{partition}:lambda:{}:{id}:function:{}",
        stack.region, stack.function.name
    )
}

/// For a local run (dev, invoke --local), with no graph walked: the variables up would deploy, with the
/// placeholders resolved for `account` (`table_arn`: the live table's, else the one known in advance).
pub fn declared_environment(
    stack: &Stack,
    account: &Account,
    table_arn: Option<&str>,
    live: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>> {
    let graph = crate::resources::graph(stack);
    let values = crate::resources::world::placeholders(stack, account, &graph, |at| {
        (at.kind == Kind::Table).then(|| table_arn.map(str::to_string))?
    });
    wanted_environment(stack, &values, live)
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

    async fn converge(&self, world: &World<'_>, planned: &FunctionDiff) -> Result<Done> {
        let (stack, lambda) = (world.stack, &world.clients.lambda);
        let spec = &stack.function;
        if planned.is_noop() {
            return Ok(None);
        }
        let package = world
            .package
            .context("no package was built for the function")?;
        let task = world.task(Kind::Function, &spec.name)?;
        let timeouts = Self::timeouts(stack);
        let desired = self.wanted(world)?;
        let live = world.live_of::<Function>(&self.at);
        // A function created by this very up: its ARN is known in advance.
        let arn = world.arn_of(&self.at).unwrap_or_default();
        let result = async {
            let mut diff = planned.clone();
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
        vec![
            Dep::Applied(self.role.clone()),
            Dep::Applied(self.log_group.clone()),
            Dep::Refers(self.policy.clone()),
            Dep::Refers(self.table.clone()),
        ]
    }

    fn name_field(&self) -> &'static str {
        "function.name"
    }

    fn arn_in_advance(&self, stack: &Stack, account: &Account) -> Option<String> {
        Some(arn_in_advance(stack, account))
    }

    /// The configuration up deploys: the spec, its role's ARN, and the variables with their placeholders
    /// resolved (and `CORS_VARIABLE`, which depends on the live value).
    fn desired(&self, world: &World) -> Result<FunctionConfig> {
        let spec = &world.stack.function;
        let live = world.live_of::<Function>(&self.at);
        Ok(FunctionConfig {
            role_arn: world.arn_of(&self.role).unwrap_or_default().to_string(),
            runtime: spec.runtime.clone(),
            handler: spec.handler.clone(),
            memory_mb: spec.memory_mb,
            timeout_secs: spec.timeout_secs,
            environment: wanted_environment(
                world.stack,
                world.placeholders(),
                live.map(|f| &f.config.environment),
            )?,
            architecture: spec.architecture.clone(),
        })
    }

    fn outputs(&self, world: &World) -> Vec<Output> {
        vec![Output {
            key: "function_arn",
            position: 2,
            value: world.arn_of(&self.at).map(str::to_string),
        }]
    }

    fn name(&self, stack: &crate::config::Stack) -> String {
        stack.function.name.clone()
    }

    fn read<'a>(
        &'a self,
        cx: &'a ReadCx<'a>,
    ) -> BoxFuture<'a, Result<Found<LiveFunction, ConcurrencyPool>>> {
        Box::pin(async move {
            let live = read(&cx.clients.lambda, &cx.stack.function.name).await?;
            let wanted = cx.stack.function.reserved_concurrency;
            let mut aside = None;
            if cx.purpose != crate::resources::Purpose::Teardown
                && needs_pool(wanted, live.as_ref())
            {
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
        let code = world.code.as_ref();
        let mut diff = self::diff(
            self.wanted(world)?,
            code.map_or(live_sha, |c| c.code_sha256),
            live,
        );
        if let Some(files) = code.and_then(|c| c.changed_files).filter(|f| !f.is_empty()) {
            if let Some(change) = diff.changes.iter_mut().find(|c| c.field == "code") {
                // Named from the stack file's directory, as the user sees them: lambda/src/handler.ts.
                let source_dir = stack.project_relative(&stack.function.source_dir);
                let files: Vec<String> = files
                    .iter()
                    .map(|f| source_dir.join(f).display().to_string())
                    .collect();
                let after = change.after.take().unwrap_or_default();
                change.after = Some(format!("{after} ({} changed)", files.join(", ")));
            }
        }
        let owned = live.is_none_or(|f| stack.owns(&f.tags));
        let wanted = stack.function.reserved_concurrency;
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
        let mut plan = plan(&stack.function.name, live, &diff, owned);
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
        let stack = world.stack;
        let base = |action| {
            ResourcePlan::new(Kind::Function, &stack.function.name, action).arn(Some(&f.arn))
        };
        if stack.owns(&f.tags) {
            let plan = base(Action::Delete)
                .changes(vec![Change::remove("function", &stack.function.name)]);
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
            let task = world.task(Kind::Function, &stack.function.name)?;
            let result = if stack.owns(&live.tags) {
                delete(lambda, &stack.function.name, &task)
                    .await
                    .map(|_| "deleted")
            } else {
                let (ours, reserved) = (work.0.clone(), work.1);
                async {
                    if !ours.is_empty() {
                        remove_variables(lambda, live, &ours, &Self::timeouts(stack), &task)
                            .await?;
                    }
                    if let Some(work) = reserved {
                        task.set("removing reserved concurrency");
                        let name = &stack.function.name;
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
        let stack = world.stack;
        let local = world.code.as_ref().map(|c| c.code_sha256.to_string());
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
            let shown = if stack.function.environment.contains_key(key) {
                value.clone()
            } else {
                "(value hidden)".into()
            };
            state.insert(format!("environment.{key}"), shown);
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Op;

    fn config(env: &[(&str, &str)]) -> FunctionConfig {
        FunctionConfig {
            role_arn: "arn:aws:iam::1:role/r".into(),
            runtime: "nodejs24.x".into(),
            handler: "handler.handler".into(),
            memory_mb: 128,
            timeout_secs: 10,
            architecture: "x86_64".into(),
            environment: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn live(env: &[(&str, &str)], sha: &str) -> LiveFunction {
        LiveFunction {
            arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
            state: "Active".into(),
            state_reason: None,
            last_update_status: "Successful".into(),
            config: config(env),
            code_sha256: sha.into(),
            tags: BTreeMap::new(),
            reserved_concurrency: None,
            log_group: None,
        }
    }

    #[test]
    fn reserved_concurrency_converges_on_owned_functions_and_is_kept_on_adopted_ones() {
        let with = |n: Option<i32>| LiveFunction {
            reserved_concurrency: n,
            ..live(&[], "sha")
        };
        assert_eq!(concurrency_diff(None, None, true, "s"), (None, None));
        assert_eq!(
            concurrency_diff(Some(5), None, true, "s"),
            (
                Some(Change::add("reserved_concurrency", "5")),
                Some(ConcurrencyWork::Reserve(5))
            )
        );
        assert_eq!(
            concurrency_diff(Some(5), Some(&with(Some(5))), true, "s"),
            (None, None)
        );
        assert_eq!(
            concurrency_diff(Some(0), Some(&with(Some(5))), false, "s"),
            (
                Some(Change::modify("reserved_concurrency", "5", "0")),
                Some(ConcurrencyWork::ReserveMarkedOver(0, 5))
            )
        );
        assert_eq!(
            concurrency_diff(None, Some(&with(Some(5))), true, "s"),
            (
                Some(Change::remove("reserved_concurrency", "5")),
                Some(ConcurrencyWork::Unreserve)
            )
        );
        let (kept, work) = concurrency_diff(None, Some(&with(Some(5))), false, "s");
        assert_eq!(
            (kept.map(|c| c.op), work),
            (Some(crate::plan::Op::Keep), None)
        );
        // A reservation stackctl adds to an adopted function is marked, and removed when the key goes.
        assert_eq!(
            concurrency_diff(Some(5), Some(&with(None)), false, "s").1,
            Some(ConcurrencyWork::ReserveMarked(5))
        );
        let mut marked = with(Some(5));
        marked.tags.insert(CONCURRENCY_TAG.into(), "s".into());
        assert_eq!(
            concurrency_diff(Some(7), Some(&marked), false, "s").1,
            Some(ConcurrencyWork::Reserve(7))
        );
        assert_eq!(
            concurrency_diff(None, Some(&marked), false, "s").1,
            Some(ConcurrencyWork::UnreserveMarked)
        );
        assert_eq!(
            concurrency_diff(None, Some(&marked), false, "other").1,
            None,
            "another stack's marker is not this stack's"
        );
        // Someone else's reservation changed: marked with theirs, which goes back when the key goes.
        assert_eq!(
            concurrency_diff(Some(9), Some(&with(Some(7))), false, "s").1,
            Some(ConcurrencyWork::ReserveMarkedOver(9, 7))
        );
        marked
            .tags
            .insert(CONCURRENCY_BEFORE_TAG.into(), "7".into());
        assert_eq!(
            concurrency_diff(None, Some(&marked), false, "s"),
            (
                Some(Change::modify("reserved_concurrency", "5", "7")),
                Some(ConcurrencyWork::RestoreMarked(7))
            )
        );
        assert_eq!(
            concurrency_diff(Some(3), Some(&marked), false, "s").1,
            Some(ConcurrencyWork::Reserve(3)),
            "marked already: the value it replaced stays recorded"
        );
    }

    #[test]
    fn a_reservation_must_leave_the_pools_minimum_unreserved() {
        let pool = ConcurrencyPool {
            limit: 1000,
            unreserved: 120,
        };
        let (change, blocked) = pool_check(20, None, pool, "us-east-1");
        assert_eq!(
            change,
            Change::modify(
                "account_unreserved_concurrency",
                "120 of 1000 in us-east-1",
                "100 (Lambda keeps at least 100 unreserved)"
            )
        );
        assert_eq!(blocked, None);
        let blocked = pool_check(21, None, pool, "us-east-1").1.expect("blocked");
        assert!(
            blocked.contains("at 99, below Lambda's minimum of 100")
                && blocked.contains("reserve at most 20"),
            "{blocked}"
        );
        // The function's own reservation goes back to the pool first.
        assert_eq!(pool_check(30, Some(10), pool, "r").1, None);
        let (_, blocked) = pool_check(31, Some(10), pool, "r");
        assert!(blocked.unwrap().contains("this function's 10 included"));
        // A new account (limit 10) keeps all 10: nothing to reserve, but 0 is fine.
        let small = ConcurrencyPool {
            limit: 10,
            unreserved: 10,
        };
        assert!(pool_check(1, None, small, "r")
            .1
            .unwrap()
            .contains("remove `function.reserved_concurrency`"));
        assert_eq!(pool_check(0, None, small, "r").1, None);
        assert!(!needs_pool(Some(0), None) && needs_pool(Some(1), None));
        let with = |n| LiveFunction {
            reserved_concurrency: n,
            ..live(&[], "sha")
        };
        assert!(
            !needs_pool(Some(3), Some(&with(Some(5)))) && needs_pool(Some(6), Some(&with(Some(5))))
        );
        assert!(!needs_pool(None, Some(&with(None))));
    }

    #[test]
    fn live_variables_are_kept_and_shown_hidden() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let d = diff(
            &desired,
            "sha",
            Some(&live(
                &[("LOG_LEVEL", "debug"), ("TABLE_NAME", "old")],
                "sha",
            )),
        );
        let sent = d.config.unwrap();
        assert_eq!(sent.environment["LOG_LEVEL"], "debug");
        assert_eq!(sent.environment["TABLE_NAME"], "t");
        assert!(!d.code);
        let table = d
            .changes
            .iter()
            .find(|c| c.field == "environment.TABLE_NAME")
            .unwrap();
        assert_eq!(
            (table.op, table.before.as_deref(), table.after.as_deref()),
            (Op::Change, Some("old"), Some("t"))
        );
        let kept = d
            .changes
            .iter()
            .find(|c| c.field == "environment.LOG_LEVEL")
            .unwrap();
        assert_eq!(kept.op, Op::Keep);
        assert!(
            !kept.before.as_deref().unwrap().contains("debug"),
            "a kept value must not be shown"
        );
    }

    #[test]
    fn nothing_differs_means_nothing_to_send() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let d = diff(
            &desired,
            "sha",
            Some(&live(&[("TABLE_NAME", "t"), ("OTHER", "x")], "sha")),
        );
        assert!(d.is_noop(), "{d:?}");
    }

    #[test]
    fn a_function_whose_creation_failed_is_recreated_when_owned_and_blocks_up_when_adopted() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let mut failed = live(&[("TABLE_NAME", "t"), ("OTHER", "x")], "sha");
        failed.state = "Failed".into();
        failed.last_update_status = "Failed".into();
        failed.state_reason = Some("InvalidSubnet: subnet-1 is gone".into());
        let d = diff(&desired, "sha", Some(&failed));
        assert!(d.recreate && !d.code && !d.create, "{d:?}");
        // Created again with the variables someone else set.
        assert_eq!(d.config.as_ref().unwrap().environment["OTHER"], "x");
        let state = d.changes.iter().find(|c| c.field == "state").unwrap();
        assert_eq!(
            (state.before.as_deref(), state.after.as_deref()),
            (Some("Failed"), Some("recreate (delete + create)"))
        );
        let reason = d
            .changes
            .iter()
            .find(|c| c.field == "state_reason")
            .unwrap();
        assert_eq!(
            reason.before.as_deref(),
            Some("InvalidSubnet: subnet-1 is gone")
        );
        assert!(!d.changes.iter().any(|c| c.field == "last_update_status"));

        let owned = plan("f", Some(&failed), &d, true);
        assert_eq!(owned.action, Action::Update);
        assert!(owned
            .note
            .unwrap()
            .contains("deletes it and creates it again"));
        let adopted = plan("f", Some(&failed), &d, false);
        assert_eq!(adopted.action, Action::Blocked);
        let note = adopted.note.unwrap();
        assert!(
            note.contains("subnet-1 is gone") && note.contains("delete-function"),
            "{note}"
        );
    }

    #[test]
    fn a_failed_update_of_an_active_function_is_retried_as_an_update() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let mut f = live(&[("TABLE_NAME", "t")], "sha");
        f.last_update_status = "Failed".into();
        let d = diff(&desired, "sha", Some(&f));
        assert!(!d.recreate && d.code && d.config.is_some(), "{d:?}");
    }

    #[test]
    fn the_architecture_goes_with_the_code_not_the_configuration() {
        let mut desired = config(&[("TABLE_NAME", "t")]);
        desired.architecture = "arm64".into();
        let d = diff(&desired, "sha", Some(&live(&[("TABLE_NAME", "t")], "sha")));
        assert!(d.config.is_none() && d.code, "{d:?}");
        assert_eq!(d.architecture.as_deref(), Some("arm64"));
        let change = d
            .changes
            .iter()
            .find(|c| c.field == "architecture")
            .unwrap();
        assert_eq!(
            (change.before.as_deref(), change.after.as_deref()),
            (Some("x86_64"), Some("arm64"))
        );
        assert!(
            !d.changes.iter().any(|c| c.field == "code"),
            "{:?}",
            d.changes
        );
        let created = diff(&desired, "sha", None);
        assert!(created
            .changes
            .iter()
            .any(|c| c.field == "architecture" && c.after.as_deref() == Some("arm64")));
    }

    #[test]
    fn environment_over_4_kb_with_the_variables_kept_blocks_the_function() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let big = "x".repeat(4090);
        let d = diff(
            &desired,
            "sha",
            Some(&live(&[("TABLE_NAME", "t"), ("BIG", &big)], "sha")),
        );
        let blocked = d.blocked.clone().expect("over the limit");
        assert!(
            blocked.contains("4104 bytes")
                && blocked.contains("4096")
                && blocked.contains("11 from the stack file")
                && blocked.contains("4093 from variables set outside it (`BIG`)"),
            "{blocked}"
        );
        assert_eq!(plan("f", None, &d, false).action, Action::Blocked);
        let fits = "x".repeat(4096 - 3 - 11);
        let d = diff(
            &desired,
            "sha",
            Some(&live(&[("TABLE_NAME", "t"), ("BIG", &fits)], "sha")),
        );
        assert_eq!(d.blocked, None);
    }

    #[test]
    fn only_the_code_differs() {
        let desired = config(&[("TABLE_NAME", "t")]);
        let d = diff(
            &desired,
            "new-sha",
            Some(&live(&[("TABLE_NAME", "t")], "old-sha")),
        );
        assert!(d.config.is_none() && d.code && !d.create);
    }
}
