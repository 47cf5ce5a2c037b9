//! The function's pure diffs: configuration (merging environment variables, never dropping one), code,
//! reserved concurrency against the account's pool, and the plan shown.

use super::*;

/// The configuration to send: the desired fields, and the live environment with the desired variables
/// merged in. Lambda replaces the whole variable map on update, so dropping the live ones would destroy
/// variables someone else set. The one exception: `[auth]`'s variables (`AUTH_VARIABLES`), stackctl's own
/// and reserved in the stack file, go when the stack no longer sets them (auth removed from stack.toml).
pub fn merged(desired: &FunctionConfig, live: &FunctionConfig) -> FunctionConfig {
    let mut environment = live.environment.clone();
    environment.retain(|k, _| {
        desired.environment.contains_key(k) || !AUTH_VARIABLES.contains(&k.as_str())
    });
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

pub(crate) fn env_changes(
    live: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (key, value) in target {
        let field = format!("environment.{key}");
        match live.get(key) {
            None => changes.push(Change::add(field, value)),
            Some(old) if old != value => changes.push(Change::modify(field, old, value)),
            Some(_) => {}
        }
    }
    for (key, value) in live.iter().filter(|(k, _)| !target.contains_key(*k)) {
        // stackctl's own (`[auth]`'s, removed with the section) are shown like the ones it sets.
        let shown = if AUTH_VARIABLES.contains(&key.as_str()) {
            value.as_str()
        } else {
            "(value hidden)"
        };
        changes.push(Change::remove(format!("environment.{key}"), shown));
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
pub(crate) fn give_back(live: &LiveFunction) -> ConcurrencyWork {
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

/// Lambda refuses more than 4 KB of environment variables in total. The variables someone else set on
/// the function count too, because stackctl keeps them.
pub(crate) fn env_over_limit(target: &FunctionConfig, desired: &FunctionConfig) -> Option<String> {
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
    for key in
        live.config.environment.keys().filter(|k| {
            !desired.environment.contains_key(*k) && target.environment.contains_key(*k)
        })
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
