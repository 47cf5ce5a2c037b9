//! `up` (and `plan`): read the live account while the handler builds, plan every resource against
//! stack.toml, then converge over the resource graph (engine.rs): each resource as soon as what it depends
//! on is done, independent ones at once.

use std::time::Instant;

use anyhow::{bail, Result};

use crate::aws::Clients;
use crate::build::cache::Cache;
use crate::build::package::{self, Package};
use crate::config::Stack;
use crate::engine::{self, Snapshot, World};
use crate::outcome::{ExitStatus, Outcome};
use crate::plan::Action;
use crate::progress::Progress;
use crate::report::{Report, ResourceReport};
use crate::resources::function::Function;
use crate::resources::function_url;
use crate::resources::Purpose;

/// `up --dry-run` / `plan`: read, build, diff; no write.
pub async fn preview(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let (snapshot, package) = read_and_build(clients, stack, rebuild, progress).await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.code = Some(package.local_code());
    let reports = engine::plan_up(&world)?
        .into_iter()
        .map(|step| ResourceReport::planned(step.planned.plan))
        .collect();
    let report = Report::new(
        "plan",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    )
    .with_outputs(world.outputs())
    .with_warnings(warnings(stack));
    let status = ExitStatus::pending_unless(report.in_sync);
    Ok(Outcome::result(report, status))
}

pub async fn up(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let (snapshot, package) = read_and_build(clients, stack, rebuild, progress).await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.code = Some(package.local_code());
    world.package = Some(&package);
    let steps = engine::plan_up(&world)?;
    let blocked: Vec<String> = steps
        .iter()
        .map(|s| s.plan())
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
    let reports = if steps.iter().all(|s| s.plan().action == Action::NoOp) {
        engine::reports(steps, Default::default(), Some("in sync"))
    } else {
        engine::apply(&world, steps).await?
    };
    let report = Report::new(
        "up",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    )
    .with_outputs(world.outputs())
    .with_warnings(warnings(stack));
    Ok(Outcome::result(report, ExitStatus::Ok))
}

/// What plan and up warn of.
fn warnings(stack: &Stack) -> Vec<String> {
    function_url::public_warning(stack).into_iter().collect()
}

async fn read_and_build(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<(Snapshot, Package)> {
    let cache = Cache::for_stack_file(&stack.file);
    let build_task = progress.task("build");
    let reading = progress.task("live state");
    reading.set("reading");
    let read = async {
        let live = engine::read(clients, stack, Purpose::Converge, &reading).await;
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
    let (snapshot, mut package) = tokio::try_join!(read, build)?;
    if !package.native_modules.is_empty() {
        progress.warn(&package::native_modules_warning(
            &package.native_modules,
            &stack.function.architecture,
        ));
    }
    // Say which sources changed since the deployed build, when this machine built it.
    if let (Some(function), Some(inputs)) = (
        snapshot
            .address_of(crate::plan::Kind::Function)
            .and_then(|at| snapshot.live_of::<Function>(at)),
        &package.inputs,
    ) {
        if function.code_sha256 != package.code_sha256 {
            package.changed_files = cache.changed_since(&function.code_sha256, inputs);
        }
    }
    Ok((snapshot, package))
}
