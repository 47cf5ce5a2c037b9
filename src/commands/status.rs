//! `status`: per resource, does it exist, its live state, and is it in sync with stack.toml (and with the
//! local build). Read-only: the same reads and plans as `up`, shown with each resource's state.

use std::time::Instant;

use anyhow::Result;

use crate::aws::Clients;
use crate::build::cache::Cache;
use crate::build::package::{self, LocalCode};
use crate::commands::outputs::shown_outputs;
use crate::config::Stack;
use crate::engine::{self, World};
use crate::outcome::{ExitStatus, Outcome};
use crate::progress::Progress;
use crate::report::{Report, ResourceReport};
use crate::resources::{FunctionAddresses, Purpose};

pub async fn status(clients: &Clients, stack: &Stack, progress: &Progress) -> Result<Outcome> {
    let started = Instant::now();
    let task = progress.task("live state");
    task.set("reading");
    // Each function's local CodeSha256 is worked out while the reads are in flight.
    let local = stack.functions().into_iter().map(|function| {
        let at = FunctionAddresses::of(&function).function;
        let cache = Cache::for_function(&stack.file, &function);
        let sha = tokio::task::spawn_blocking(move || {
            package::existing_code_sha256(&function.spec, &cache)
        });
        async move { Ok::<_, anyhow::Error>((at, sha.await??)) }
    });
    let local = futures::future::try_join_all(local);
    let snapshot = engine::read(clients, stack, Purpose::Status, &task).await?;
    task.finish("read");
    let local_sha = local.await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.code = local_sha
        .iter()
        .filter_map(|(at, sha)| {
            let code = LocalCode {
                code_sha256: sha.as_deref()?,
                changed_files: None,
            };
            Some((at.clone(), code))
        })
        .collect();
    let reports = engine::plan_up(&world)?
        .into_iter()
        .map(|step| {
            let state = step.state(&world);
            ResourceReport::planned(step.planned.plan).state(state)
        })
        .collect();
    // A URL on an alias someone else made under the stack's alias name is theirs: null, and the text says why.
    let (outputs, withheld) = shown_outputs(&world);
    let report = Report::new(
        "status",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    )
    .with_outputs(outputs)
    .with_withheld(withheld);
    let status = ExitStatus::pending_unless(report.in_sync);
    Ok(Outcome::result(report, status))
}
