//! `down`: delete what this stack owns (its tag), walking the resource graph in reverse (the function
//! first, so nothing writes to the table; the log group after the role, so nothing recreates it), and revert only
//! stackctl's own changes on resources it found. Without --confirm it is a preview and touches nothing.
//! Before the walk deletes anything, each resource secures what deleting it would lose (the table's snapshot
//! or backup file).

use std::time::Instant;

use anyhow::{Context, Result};

use crate::aws::Clients;
use crate::config::Stack;
use crate::engine::{self, DataPolicy, World};
use crate::outcome::{ExitStatus, Outcome};
use crate::plan::Action;
use crate::progress::Progress;
use crate::report::{Report, ResourceReport};
use crate::resources::{table, Address, Purpose};

/// The report; without --confirm, `NeedsConfirm` when there was anything to delete or change.
pub async fn down(
    clients: &Clients,
    stack: &Stack,
    confirm: bool,
    data: &DataPolicy,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let reading = progress.task("live state");
    reading.set("reading");
    let snapshot = engine::read(clients, stack, Purpose::Teardown, &reading).await?;
    let mut world = World::new(clients, stack, snapshot, progress)?;
    world.data = data.clone();
    if data.count {
        reading.set("counting the table's items");
        world.data.exact_items = table::count_exactly(&world, &reading).await?;
    }
    reading.finish("read");
    let steps = engine::plan_down(&world);
    let found = steps.iter().filter(|s| s.plan().action.writes()).count();
    let has_work = found > 0;
    let report = |reports| {
        Report::new(
            "down",
            stack,
            reports,
            clients.calls.snapshot(),
            started.elapsed(),
        )
        .with_found(found)
    };
    // A blocked resource fails a confirmed down even when it is all that is left (nothing else to delete):
    // exit 0 would say the stack is gone.
    let blocked = steps
        .iter()
        .map(|s| s.plan())
        .find(|r| r.action == Action::Blocked);
    if !confirm || (!has_work && blocked.is_none()) {
        let reports = steps
            .into_iter()
            .map(|s| {
                let at = s.node.address().clone();
                with_data(&world, &at, ResourceReport::planned(s.planned.plan))
            })
            .collect();
        let status = if !confirm && has_work {
            ExitStatus::NeedsConfirm
        } else {
            ExitStatus::Ok
        };
        return Ok(Outcome::result(report(reports), status));
    }
    if let Some(b) = blocked {
        anyhow::bail!(
            "nothing was deleted: {} `{}`: {}",
            b.kind.as_str(),
            b.name,
            b.note.clone().unwrap_or_default()
        );
    }
    // Everything deleting would lose is secured (the table's backup written and checked) before the walk
    // deletes anything.
    let mut steps = steps;
    for step in steps.iter_mut() {
        if step.plan().action == Action::Delete {
            let (kind, name) = (step.plan().kind, step.plan().name.clone());
            step.secure(&world)
                .await
                .with_context(|| format!("nothing was deleted: {} `{name}`", kind.as_str()))?;
        }
    }
    let addresses: Vec<Address> = steps.iter().map(|s| s.node.address().clone()).collect();
    // A snapshot taken before anything was deleted is kept whatever happens next: a failed walk names it
    // (a rerun takes a new one; this one is billed until deleted).
    let kept_first = addresses
        .iter()
        .find_map(|at| table::first_snapshot(&world, at));
    let reports = engine::destroy(&world, steps)
        .await
        .map_err(|err| match &kept_first {
            Some(kept) => err.context(format!(
                "the snapshot taken before anything was deleted is kept: {kept}"
            )),
            None => err,
        })?
        .into_iter()
        .zip(&addresses)
        .map(|(report, at)| with_data(&world, at, report))
        .collect();
    Ok(Outcome::result(report(reports), ExitStatus::Ok))
}

/// The table's report with what down knows of its items and the snapshot it kept (other kinds: as is).
fn with_data(world: &World, at: &Address, mut report: ResourceReport) -> ResourceReport {
    report.items = table::items_report(world, at);
    report.snapshot = table::snapshot_report(world, at);
    report
}
