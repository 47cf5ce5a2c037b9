//! `up` (and `plan`): read the live account while the handler builds, plan every resource against
//! stack.toml, then converge over the resource graph (engine.rs): each resource as soon as what it depends
//! on is done, independent ones at once.

use std::time::Instant;

use anyhow::{bail, Result};

use crate::aws::Clients;
use crate::build::cache::Cache;
use crate::build::package::{self, Package};
use crate::config::{Stack, StackFunction};
use crate::engine::{self, Snapshot, World};
use crate::outcome::{ExitStatus, Outcome};
use crate::plan::Action;
use crate::progress::Progress;
use crate::report::{Report, ResourceReport};
use crate::resources::function::Function;
use crate::resources::function_url;
use crate::resources::{Address, FunctionAddresses, Purpose};

/// `up --dry-run` / `plan`: read, build, diff; no write.
pub async fn preview(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let (snapshot, packages) = read_and_build(clients, stack, rebuild, progress).await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.code = local_code(&packages);
    let reports = engine::plan_up(&world)?
        .into_iter()
        .map(|step| ResourceReport::planned(step.planned.plan))
        .collect();
    // The URL of an alias someone else made under the stack's alias name is theirs (as in status).
    let (outputs, withheld) = crate::commands::outputs::shown_outputs(&world);
    let report = Report::new(
        "plan",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    )
    .with_outputs(outputs)
    .with_withheld(withheld)
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
    let (snapshot, packages) = read_and_build(clients, stack, rebuild, progress).await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.code = local_code(&packages);
    world.packages = packages.iter().map(|(at, p)| (at.clone(), p)).collect();
    let check = crate::commands::smoke::VersionCheck {
        clients,
        stack,
        progress,
    };
    world.verifier = Some(&check);
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

/// What plan and up warn of: each function's public URL.
fn warnings(stack: &Stack) -> Vec<String> {
    stack
        .functions()
        .iter()
        .filter_map(function_url::public_warning)
        .collect()
}

/// Each function's local build, by the function's address.
fn local_code(
    packages: &[(Address, Package)],
) -> std::collections::BTreeMap<Address, package::LocalCode<'_>> {
    packages
        .iter()
        .map(|(at, p)| (at.clone(), p.local_code()))
        .collect()
}

/// The progress line of a function's build: `build` for the function `[function]` describes.
fn build_label(function: &StackFunction) -> String {
    if function.instance == crate::config::FUNCTION {
        "build".to_string()
    } else {
        format!("build {}", function.instance)
    }
}

async fn read_and_build(
    clients: &Clients,
    stack: &Stack,
    rebuild: bool,
    progress: &Progress,
) -> Result<(Snapshot, Vec<(Address, Package)>)> {
    let functions = stack.functions();
    // The build lines first, as before the read's.
    let builds: Vec<_> = functions
        .iter()
        .map(|f| (f, progress.task(build_label(f))))
        .collect();
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
    let build = futures::future::try_join_all(builds.iter().map(|(function, task)| async move {
        let cache = Cache::for_function(&stack.file, function);
        let package = package::build(&function.spec, &cache, rebuild, task).await;
        if package.is_err() {
            task.fail("failed");
        }
        Ok::<_, anyhow::Error>((cache, package?))
    }));
    let (snapshot, built) = tokio::try_join!(read, build)?;
    let mut packages = Vec::new();
    for (function, (cache, mut package)) in functions.iter().zip(built) {
        if !package.native_modules.is_empty() {
            progress.warn(&package::native_modules_warning(
                &package.native_modules,
                &function.spec.architecture,
            ));
        }
        // Say which sources changed since the deployed build, when this machine built it.
        let at = FunctionAddresses::of(function).function;
        if let (Some(live), Some(inputs)) = (snapshot.live_of::<Function>(&at), &package.inputs) {
            if live.code_sha256 != package.code_sha256 {
                package.changed_files = cache.changed_since(&live.code_sha256, inputs);
            }
        }
        packages.push((at, package));
    }
    Ok((snapshot, packages))
}
