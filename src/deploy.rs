//! `up` (and `plan`): diff the stack against the live account, then converge it in dependency order,
//! running independent branches at once:
//!
//! ```text
//!   read live state ‖ build + zip
//!     ├─▶ table (create, wait ACTIVE) ─────────────────────────────────────────┐
//!     └─▶ role (create, attach basic) ─┬─▶ policy (create / new version, attach) ├─▶ done
//!                                      └─▶ function (create / config → code) ───┘
//! ```
//! The policy needs the table's ARN, which is known before the table exists; the function needs the role.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::aws::Clients;
use crate::config::Stack;
use crate::handler::build_cache::Cache;
use crate::handler::package::{self, LocalCode, Package};
use crate::live::{self, Desired, Live, Purpose};
use crate::plan::{Action, Kind, ResourcePlan};
use crate::progress::{format_duration, Progress, Task};
use crate::report::{Report, ResourceReport};
use crate::resources::function::{self, FunctionDiff};
use crate::resources::policy::{self, PolicyDiff};
use crate::resources::role;
use crate::resources::table::{self, TableDiff};

/// Everything `up` would do, decided before any write.
pub struct UpPlan {
    pub desired: Desired,
    pub table: TableDiff,
    pub role_owned: bool,
    pub policy: PolicyDiff,
    pub policy_attached: bool,
    pub function: FunctionDiff,
    pub resources: Vec<ResourcePlan>,
    /// Per resource (table, role, policy, function): its tags need updating.
    pub retag: [bool; 4],
}

impl UpPlan {
    pub fn is_noop(&self) -> bool {
        self.resources.iter().all(|r| r.action == Action::NoOp)
    }
}

/// The pure diff. `package` is None when there is no local build to compare the code with (status).
pub fn plan(stack: &Stack, live: &Live, package: Option<LocalCode<'_>>) -> Result<UpPlan> {
    let desired = live::desired(stack, live)?;
    let table_diff = table::diff(&stack.table, live.table.as_ref());
    let role_owned = live.role.as_ref().is_none_or(|r| stack.owns_iam(&r.tags));
    let policy_diff = policy::diff(&desired.policy_document, live.policy.as_ref());
    let policy_attached = live
        .role
        .as_ref()
        .is_some_and(|r| r.attached.contains(&desired.policy_arn));
    let live_sha = live
        .function
        .as_ref()
        .map(|f| f.code_sha256.as_str())
        .unwrap_or_default();
    let mut function_diff = function::diff(
        &desired.function,
        package.map_or(live_sha, |p| p.code_sha256),
        live.function.as_ref(),
    );
    if let Some(files) = package
        .and_then(|p| p.changed_files)
        .filter(|f| !f.is_empty())
    {
        if let Some(code) = function_diff.changes.iter_mut().find(|c| c.field == "code") {
            // Named from the stack file's directory, as the user sees them: lambda/src/handler.ts.
            let source_dir = project_relative(stack, &stack.function.source_dir);
            let files: Vec<String> = files
                .iter()
                .map(|f| source_dir.join(f).display().to_string())
                .collect();
            let after = code.after.take().unwrap_or_default();
            code.after = Some(format!("{after} ({} changed)", files.join(", ")));
        }
    }
    let function_owned = live.function.as_ref().is_none_or(|f| stack.owns(&f.tags));

    let mut function_plan = function::plan(
        &stack.function.name,
        live.function.as_ref(),
        &function_diff,
        function_owned,
    );
    if package.is_none() && live.function.is_some() {
        function_plan = function_plan.note(
            "no local build in the artifact dir: code not compared (run `stackctl up` to build)",
        );
    }
    let mut resources = vec![
        table::plan(&stack.table, live.table.as_ref(), &table_diff),
        role::plan(&stack.role, live.role.as_ref(), role_owned),
        policy::plan(
            &stack.policy.name,
            &desired.policy_document,
            live.policy.as_ref(),
            &stack.role.name,
            policy_attached,
        )
        .arn(Some(&desired.policy_arn)),
        function_plan,
    ];
    block_changes_to_what_is_not_ours(stack, live, &table_diff, &policy_diff, &mut resources);
    // Owned resources get the stack's tags (stack.tags changed since they were created; IAM resources made
    // before their region was recorded get it).
    let (wanted, wanted_iam) = (stack.resource_tags(), stack.iam_resource_tags());
    let live_tags = [
        live.table_tags.as_ref().filter(|t| stack.owns(t)),
        live.role
            .as_ref()
            .map(|r| &r.tags)
            .filter(|t| stack.owns_iam(t)),
        live.policy
            .as_ref()
            .map(|p| &p.tags)
            .filter(|t| stack.owns_iam(t)),
        live.function
            .as_ref()
            .map(|f| &f.tags)
            .filter(|t| stack.owns(t)),
    ];
    let mut retag = [false; 4];
    for (i, tags) in live_tags.into_iter().enumerate() {
        let Some(tags) = tags else { continue };
        let wanted = if i == 1 || i == 2 {
            &wanted_iam
        } else {
            &wanted
        };
        if resources[i].action == Action::Blocked {
            continue;
        }
        let changes = crate::plan::missing_tags(tags, wanted);
        if changes.is_empty() || resources[i].action == Action::Create {
            continue;
        }
        retag[i] = true;
        if resources[i].action == Action::NoOp {
            resources[i].action = Action::Update;
        }
        resources[i].changes.extend(changes);
    }
    Ok(UpPlan {
        retag,
        desired,
        table: table_diff,
        role_owned,
        policy: policy_diff,
        policy_attached,
        function: function_diff,
        resources,
    })
}

/// Nothing is changed on a resource the stack does not own, except the documented adoption changes: the
/// stack's policy attached to an adopted role, and an adopted function deployed with its variables merged.
/// IAM resources owned by this stack's deployment in another region are never touched (IAM is global).
fn block_changes_to_what_is_not_ours(
    stack: &Stack,
    live: &Live,
    table_diff: &TableDiff,
    policy_diff: &PolicyDiff,
    resources: &mut [ResourcePlan],
) {
    let table_foreign = live.table_tags.as_ref().is_some_and(|t| !stack.owns(t));
    if let (TableDiff::Update { .. }, true) = (table_diff, table_foreign) {
        resources[0].action = Action::Blocked;
        resources[0].note = Some(
            "not created by this stack (no `stackctl:stack` tag with its name), so stackctl does not change \
             it: make the [table] settings in the stack file match the table, or use another table name"
                .into(),
        );
    }
    if let Some(other) = live
        .role
        .as_ref()
        .and_then(|r| stack.iam_owner_region(&r.tags))
    {
        resources[1].action = Action::Blocked;
        resources[1].note = Some(stack.other_region_note("role", other));
    }
    if let Some(p) = &live.policy {
        if let Some(other) = stack.iam_owner_region(&p.tags) {
            resources[2].action = Action::Blocked;
            resources[2].note = Some(stack.other_region_note("policy", other));
        } else if !stack.owns(&p.tags) && *policy_diff == PolicyDiff::Document {
            resources[2].action = Action::Blocked;
            resources[2].note = Some(
                "not created by this stack (no `stackctl:stack` tag with its name), so stackctl does not \
                 write a new version of it: make the policy template match it, or use another policy name"
                    .into(),
            );
        }
    }
}

/// `path` relative to the directory of the stack file (paths in a resolved Stack are absolute).
fn project_relative(stack: &Stack, path: &std::path::Path) -> std::path::PathBuf {
    let base = stack
        .file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
    path.strip_prefix(&base).unwrap_or(path).to_path_buf()
}

/// `up --dry-run` / `plan`: read, build, diff; no write.
pub async fn preview(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<Report> {
    let started = Instant::now();
    let (live, package) = read_and_build(clients, stack, rebuild, progress).await?;
    let plan = plan(stack, &live, Some(package.local_code()))?;
    let reports = plan
        .resources
        .into_iter()
        .map(ResourceReport::planned)
        .collect();
    Ok(Report::new(
        "plan",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    ))
}

async fn read_and_build(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<(Live, Package)> {
    let cache = Cache::for_stack_file(&stack.file);
    let build_task = progress.task("build");
    let reading = progress.task("live state");
    reading.set("reading");
    let read = async {
        let live = live::read(clients, stack, Purpose::Converge).await;
        match &live {
            Ok(_) => reading.finish("read"),
            Err(_) => reading.fail("failed"),
        }
        live
    };
    let build = async {
        let package = package::build(&stack.function, &cache, rebuild, &build_task).await;
        if package.is_err() {
            build_task.fail("failed");
        }
        package
    };
    let (live, mut package) = tokio::try_join!(read, build)?;
    if !package.native_modules.is_empty() {
        progress.warn(&package::native_modules_warning(
            &package.native_modules,
            &stack.function.architecture,
        ));
    }
    // Say which sources changed since the deployed build, when this machine built it.
    if let (Some(function), Some(inputs)) = (&live.function, &package.inputs) {
        if function.code_sha256 != package.code_sha256 {
            package.changed_files = cache.changed_since(&function.code_sha256, inputs);
        }
    }
    Ok((live, package))
}

pub async fn up(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<Report> {
    let started = Instant::now();
    let (live, package) = read_and_build(clients, stack, rebuild, progress).await?;
    let plan = plan(stack, &live, Some(package.local_code()))?;
    let blocked: Vec<String> = plan
        .resources
        .iter()
        .filter(|r| r.action == Action::Blocked)
        .map(|r| {
            format!(
                "{} `{}`: {}",
                r.kind.as_str(),
                r.name,
                r.note.clone().unwrap_or_default()
            )
        })
        .collect();
    if !blocked.is_empty() {
        bail!("nothing was changed, because:\n  {}", blocked.join("\n  "));
    }
    if plan.is_noop() {
        let reports = plan
            .resources
            .into_iter()
            .map(|r| ResourceReport::planned(r).done("in sync", None))
            .collect();
        return Ok(Report::new(
            "up",
            stack,
            reports,
            clients.calls.snapshot(),
            started.elapsed(),
        ));
    }

    let apply = Apply {
        clients,
        stack,
        plan: &plan,
        progress,
        live: &live,
        package: &package,
    };
    // Nothing else needs the table to exist: the policy names its ARN, which is known in advance, and the
    // function only its name. So the table's wait overlaps everything else.
    let after_role = async {
        let role = apply.role().await?;
        let (policy, function) = tokio::try_join!(apply.policy(), apply.function())?;
        anyhow::Ok((role, policy, function))
    };
    let (
        (table_result, table_time),
        ((role_result, role_time), (policy_result, policy_time), (function_result, function_time)),
    ) = tokio::try_join!(apply.table(), after_role)?;

    let mut results = [
        (table_result, table_time),
        (role_result, role_time),
        (policy_result, policy_time),
        (function_result, function_time),
    ];
    apply.retag(&mut results).await?;
    let reports = plan
        .resources
        .into_iter()
        .zip(results)
        .map(|(r, (result, time))| ResourceReport::planned(r).done(result, time))
        .collect();
    Ok(Report::new(
        "up",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    ))
}

struct Apply<'a> {
    clients: &'a Clients,
    stack: &'a Stack,
    plan: &'a UpPlan,
    progress: &'a Progress,
    live: &'a Live,
    package: &'a Package,
}

type StepResult = Result<(&'static str, Option<Duration>)>;

impl Apply<'_> {
    /// Puts the stack's tags on owned resources that lack them, all at once.
    async fn retag(&self, results: &mut [(&'static str, Option<Duration>); 4]) -> Result<()> {
        let (tags, iam_tags) = (self.stack.resource_tags(), self.stack.iam_resource_tags());
        let (plan, live, clients) = (self.plan, self.live, self.clients);
        let table = async {
            match (&live.table, plan.retag[0]) {
                (Some(t), true) => table::tag(&clients.dynamodb, &t.arn, &tags)
                    .await
                    .map(|_| true),
                _ => Ok(false),
            }
        };
        let role = async {
            match plan.retag[1] {
                true => role::tag(&clients.iam, &self.stack.role.name, &iam_tags)
                    .await
                    .map(|_| true),
                false => Ok(false),
            }
        };
        let policy = async {
            match plan.retag[2] {
                true => policy::tag(&clients.iam, &plan.desired.policy_arn, &iam_tags)
                    .await
                    .map(|_| true),
                false => Ok(false),
            }
        };
        let function = async {
            match (&live.function, plan.retag[3]) {
                (Some(f), true) => function::tag(&clients.lambda, &f.arn, &tags)
                    .await
                    .map(|_| true),
                _ => Ok(false),
            }
        };
        let done = tokio::try_join!(table, role, policy, function)?;
        for (i, tagged) in [done.0, done.1, done.2, done.3].into_iter().enumerate() {
            if tagged && results[i].0 == "in sync" {
                results[i].0 = "tags updated";
            }
        }
        Ok(())
    }

    /// The progress line of a step that is about to write; refuses to start after an interrupt.
    fn task(&self, kind: Kind, name: &str) -> Result<Task> {
        let label = format!("{} {name}", kind.as_str());
        crate::interrupt::check(&label)?;
        Ok(self.progress.task(label))
    }

    fn finish(task: &Task, result: &'static str) -> StepResult {
        task.finish(result);
        Ok((result, Some(task.elapsed())))
    }

    async fn table(&self) -> StepResult {
        let spec = &self.stack.table;
        let timeout = Duration::from_secs(self.stack.timeouts.table_secs);
        let task = self.task(Kind::Table, &spec.name)?;
        let result = match &self.plan.table {
            TableDiff::InSync => return Ok(("in sync", None)),
            TableDiff::Create => table::create(
                &self.clients.dynamodb,
                spec,
                &self.stack.resource_tags(),
                timeout,
                &task,
            )
            .await
            .map(|_| "created"),
            TableDiff::Update {
                billing_mode,
                deletion_protection,
            } => table::update(
                &self.clients.dynamodb,
                spec,
                billing_mode.is_some(),
                deletion_protection.is_some(),
                timeout,
                &task,
            )
            .await
            .map(|_| "updated"),
            TableDiff::NotReady(_) => {
                // Once ACTIVE, settings that differ can be changed (DynamoDB refuses it before).
                let dynamodb = &self.clients.dynamodb;
                match table::wait_active(dynamodb, &spec.name, timeout, &task).await {
                    Ok(live) => match table::diff(spec, Some(&live)) {
                        TableDiff::Update {
                            billing_mode,
                            deletion_protection,
                        } => table::update(
                            dynamodb,
                            spec,
                            billing_mode.is_some(),
                            deletion_protection.is_some(),
                            timeout,
                            &task,
                        )
                        .await
                        .map(|_| "updated"),
                        _ => Ok("ready"),
                    },
                    Err(err) => Err(err),
                }
            }
            TableDiff::KeyConflict { .. } | TableDiff::Deleting => {
                bail!("table `{}` is blocked", spec.name)
            }
        };
        finish_or_fail(&task, result)
    }

    async fn role(&self) -> StepResult {
        let spec = &self.stack.role;
        let task = self.task(Kind::Role, &spec.name)?;
        let result = match &self.live.role {
            None => role::create(
                &self.clients.iam,
                spec,
                &self.stack.iam_resource_tags(),
                &task,
            )
            .await
            .map(|_| "created"),
            Some(live) if self.plan.role_owned => {
                let missing = role::missing_attachments(spec, live);
                if missing.is_empty() {
                    return Ok(("in sync", None));
                }
                let mut outcome = Ok("updated");
                for arn in missing {
                    if let Err(err) = role::attach(&self.clients.iam, &spec.name, arn, &task).await
                    {
                        outcome = Err(err);
                        break;
                    }
                }
                outcome
            }
            Some(_) => return Ok(("in sync", None)),
        };
        finish_or_fail(&task, result)
    }

    async fn policy(&self) -> StepResult {
        let name = &self.stack.policy.name;
        if self.plan.policy == PolicyDiff::InSync && self.plan.policy_attached {
            return Ok(("in sync", None));
        }
        let task = self.task(Kind::Policy, name)?;
        let result = async {
            let document = &self.plan.desired.policy_document;
            let arn = &self.plan.desired.policy_arn;
            let done = match self.plan.policy {
                PolicyDiff::Create => {
                    policy::create(
                        &self.clients.iam,
                        arn,
                        name,
                        document,
                        &self.stack.iam_resource_tags(),
                        &task,
                    )
                    .await?;
                    "created"
                }
                PolicyDiff::Document => {
                    policy::set_document(&self.clients.iam, arn, document, &task).await?;
                    "updated"
                }
                PolicyDiff::InSync => "attached",
            };
            if !self.plan.policy_attached {
                role::attach(&self.clients.iam, &self.stack.role.name, arn, &task).await?;
            }
            Ok(done)
        }
        .await;
        finish_or_fail(&task, result)
    }

    async fn function(&self) -> StepResult {
        let spec = &self.stack.function;
        if self.plan.function.is_noop() {
            return Ok(("in sync", None));
        }
        let task = self.task(Kind::Function, &spec.name)?;
        let timeouts = function::Timeouts {
            ready: Duration::from_secs(self.stack.timeouts.function_secs),
            role_propagation: Duration::from_secs(self.stack.timeouts.role_propagation_secs),
        };
        let lambda = &self.clients.lambda;
        let desired = &self.plan.desired.function;
        let result = async {
            let mut diff = self.plan.function.clone();
            // The read a moment ago saw the function idle (Active, last update Successful): no need to ask
            // again before the first update.
            let mut idle = self
                .live
                .function
                .as_ref()
                .is_some_and(|f| f.state == "Active" && f.last_update_status == "Successful");
            if diff.create || diff.recreate {
                // A function whose creation failed: delete it, wait until it is gone, create it again
                // (with the variables someone else set on it, which `diff.config` keeps).
                let config = match &diff.config {
                    Some(config) if diff.recreate => {
                        function::delete_and_wait_gone(lambda, &spec.name, timeouts.ready, &task)
                            .await?;
                        config
                    }
                    _ => desired,
                };
                let tags = self.stack.resource_tags();
                let zip = &self.package.zip;
                match function::create(lambda, &spec.name, config, zip, &tags, &timeouts, &task)
                    .await?
                {
                    function::Created::New if diff.recreate => return Ok("recreated"),
                    function::Created::New => return Ok("created"),
                    // Another run created it since our read: converge it like any existing function.
                    function::Created::Existing => {
                        let live = function::read(lambda, &spec.name)
                            .await?
                            .with_context(|| format!("Lambda function `{}` vanished", spec.name))?;
                        diff = function::diff(desired, &self.package.code_sha256, Some(&live));
                        if diff.recreate {
                            bail!(
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
                function::wait_active(lambda, &spec.name, timeouts.ready, &task).await?;
            }
            // Configuration first, then code: each waits for the previous update to finish, because Lambda
            // refuses an update while another is in progress (after a configuration update, its own wait
            // already saw the function idle).
            if let Some(config) = &diff.config {
                function::update_config(
                    lambda, &spec.name, desired, config, &timeouts, &task, idle,
                )
                .await?;
            }
            if diff.code {
                let idle = idle || diff.config.is_some();
                function::update_code(
                    lambda,
                    &spec.name,
                    &self.package.zip,
                    diff.architecture.as_deref(),
                    &timeouts,
                    &task,
                    idle,
                )
                .await?;
            }
            Ok(match (diff.config.is_some(), diff.code) {
                (true, true) => "updated configuration and code",
                (true, false) => "updated configuration",
                (false, true) => "updated code",
                (false, false) => "ready",
            })
        }
        .await;
        finish_or_fail(&task, result)
    }
}

fn finish_or_fail(task: &Task, result: Result<&'static str>) -> StepResult {
    match result {
        Ok(done) => Apply::finish(task, done),
        Err(err) => {
            task.fail(&format!("failed after {}", format_duration(task.elapsed())));
            Err(err)
        }
    }
}
