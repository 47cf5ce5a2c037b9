//! `down`: delete what this stack owns (its tag), in an order real AWS accepts, and revert only stackctl's
//! own changes on resources it found. Without --confirm it is a preview and touches nothing.
//!
//! ```text
//!   function (delete, or remove TABLE_NAME) ─▶ policy (detach everywhere, old versions, delete) ─▶ role
//!   table (delete, wait until gone)  ── at the same time
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::aws::Clients;
use crate::backup;
use crate::config::Stack;
use crate::live::{self, Live, Purpose};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::progress::{Progress, Task};
use crate::report::{Report, ResourceReport};
use crate::resources::{function, policy, role, table};

pub struct DownPlan {
    pub resources: Vec<ResourcePlan>,
    /// Variables to remove from a function stackctl did not create, with the values stackctl set.
    pub remove_variables: BTreeMap<String, String>,
}

impl DownPlan {
    pub fn has_work(&self) -> bool {
        self.resources.iter().any(|r| r.action.writes())
    }
}

const NOT_OURS: &str =
    "not created by this stack (no `stackctl:stack` tag with its name): left alone";

/// What the user allowed `down` to do with the table's data.
#[derive(Debug, Clone, Default)]
pub struct DataPolicy {
    pub delete_data: bool,
    pub backup: Option<std::path::PathBuf>,
}

/// The teardown plan. `items` is the table's item count, when the table is about to be deleted.
pub fn plan(stack: &Stack, live: &Live, items: Option<u64>, data: &DataPolicy) -> DownPlan {
    let gone =
        |kind, name: &str| ResourcePlan::new(kind, name, Action::Keep).note("does not exist");

    let table = match &live.table {
        None => gone(Kind::Table, &stack.table.name),
        // Already on its way out (an interrupted down): waiting until it is gone is all there is to do.
        Some(t) if t.status == "DELETING" => ResourcePlan::new(Kind::Table, &stack.table.name, Action::Delete)
            .arn(Some(&t.arn))
            .changes(vec![Change::remove("table", "being deleted; waiting until it is gone")]),
        Some(t) if !live.table_tags.as_ref().is_some_and(|tags| stack.owns(tags)) => {
            ResourcePlan::new(Kind::Table, &stack.table.name, Action::Keep).arn(Some(&t.arn)).note(NOT_OURS)
        }
        Some(t) if t.deletion_protection => ResourcePlan::new(Kind::Table, &stack.table.name, Action::Blocked)
            .arn(Some(&t.arn))
            .note(format!(
                "deletion protection is on; turn it off first: aws dynamodb update-table --table-name {} --no-deletion-protection-enabled",
                stack.table.name
            )),
        // Never delete a table whose content is unknown.
        Some(t) if items.is_none() => ResourcePlan::new(Kind::Table, &stack.table.name, Action::Blocked)
            .arn(Some(&t.arn))
            .note("its items could not be counted, so it is not deleted"),
        Some(t) => {
            let items = items.unwrap_or_default();
            let base = ResourcePlan::new(Kind::Table, &stack.table.name, Action::Delete).arn(Some(&t.arn));
            let what = format!("{} with its {items} item{}", stack.table.name, if items == 1 { "" } else { "s" });
            match &data.backup {
                _ if items == 0 => base.changes(vec![Change::remove("table", what)]),
                Some(file) => base.changes(vec![
                    Change::add("backup", format!("{items} items to {}", file.display())),
                    Change::remove("table", what),
                ]),
                None if data.delete_data => base.changes(vec![Change::remove("table", what)]),
                None => ResourcePlan { action: Action::Blocked, ..base }.note(format!(
                    "the table holds {items} item{}: pass --backup <file> to export them first (restore with \
                     `stackctl restore <file>`), or --delete-data to delete them with the table",
                    if items == 1 { "" } else { "s" }
                )),
            }
        }
    };

    let policy_arn = policy::arn(
        &live.account.partition,
        &live.account.id,
        &stack.policy.name,
    );
    let policy = match &live.policy {
        None => gone(Kind::Policy, &stack.policy.name),
        Some(p) if stack.iam_owner_region(&p.tags).is_some() => {
            let other = stack.iam_owner_region(&p.tags).unwrap_or_default();
            ResourcePlan::new(Kind::Policy, &stack.policy.name, Action::Keep)
                .arn(Some(&p.arn))
                .note(stack.other_region_note("policy", other))
        }
        Some(p) if !stack.owns(&p.tags) => {
            ResourcePlan::new(Kind::Policy, &stack.policy.name, Action::Keep)
                .arn(Some(&p.arn))
                .note(NOT_OURS)
        }
        Some(p) => {
            let mut changes = Vec::new();
            if live
                .role
                .as_ref()
                .is_some_and(|r| r.attached.contains(&policy_arn))
            {
                changes.push(Change::remove(
                    "attachment",
                    format!("detach from {}", stack.role.name),
                ));
            }
            changes.push(Change::remove("policy", &stack.policy.name));
            ResourcePlan::new(Kind::Policy, &stack.policy.name, Action::Delete)
                .arn(Some(&p.arn))
                .changes(changes)
        }
    };

    let role = match &live.role {
        None => gone(Kind::Role, &stack.role.name),
        Some(r) if stack.iam_owner_region(&r.tags).is_some() => {
            let other = stack.iam_owner_region(&r.tags).unwrap_or_default();
            ResourcePlan::new(Kind::Role, &stack.role.name, Action::Keep)
                .arn(Some(&r.arn))
                .note(stack.other_region_note("role", other))
        }
        Some(r) if !stack.owns(&r.tags) => {
            let note = if policy.action == Action::Delete && r.attached.contains(&policy_arn) {
                "not created by this stack: only loses the attachment of the stack's policy"
            } else {
                NOT_OURS
            };
            ResourcePlan::new(Kind::Role, &stack.role.name, Action::Keep)
                .arn(Some(&r.arn))
                .note(note)
        }
        // A function down keeps (not created by this stack) but that `up` pointed at this role would be
        // left unable to run: the role stays, only the stack's policy leaves it.
        Some(r)
            if live
                .function
                .as_ref()
                .is_some_and(|f| !stack.owns(&f.tags) && f.config.role_arn == r.arn) =>
        {
            ResourcePlan::new(Kind::Role, &stack.role.name, Action::Keep)
                .arn(Some(&r.arn))
                .note("still the role of the function, which was not created by this stack: left in place")
        }
        Some(r) => {
            let changes = r
                .attached
                .iter()
                .map(|a| {
                    Change::remove(
                        "attachment",
                        format!("detach {}", role::short_policy_name(a)),
                    )
                })
                .collect();
            let mut changes: Vec<Change> = changes;
            changes.push(Change::remove("role", &stack.role.name));
            ResourcePlan::new(Kind::Role, &stack.role.name, Action::Delete)
                .arn(Some(&r.arn))
                .changes(changes)
        }
    };

    let mut remove_variables = BTreeMap::new();
    let function = match &live.function {
        None => gone(Kind::Function, &stack.function.name),
        Some(f) if stack.owns(&f.tags) => {
            ResourcePlan::new(Kind::Function, &stack.function.name, Action::Delete)
                .arn(Some(&f.arn))
                .changes(vec![Change::remove("function", &stack.function.name)])
        }
        Some(f) => {
            // Only the variables stackctl set, and only while they still hold what it set: a value someone
            // changed since is theirs now.
            let desired = live::desired(stack, live)
                .map(|d| d.function.environment)
                .unwrap_or_default();
            remove_variables = desired
                .iter()
                .filter(|(k, v)| f.config.environment.get(*k) == Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let base = ResourcePlan::new(Kind::Function, &stack.function.name, Action::Update)
                .arn(Some(&f.arn));
            if remove_variables.is_empty() {
                ResourcePlan {
                    action: Action::Keep,
                    ..base
                }
                .note(NOT_OURS)
            } else {
                let mut changes: Vec<Change> = remove_variables
                    .iter()
                    .map(|(k, v)| Change::remove(format!("environment.{k}"), v))
                    .collect();
                changes.extend(
                    f.config
                        .environment
                        .keys()
                        .filter(|k| !remove_variables.contains_key(*k))
                        .map(|k| Change::keep(format!("environment.{k}"), "(kept, value hidden)")),
                );
                base.changes(changes)
                    .note("not created by this stack: only the variables stackctl set are removed")
            }
        }
    };
    DownPlan {
        resources: vec![table, role, policy, function],
        remove_variables,
    }
}

pub async fn down(
    clients: &Clients,
    stack: &Stack,
    confirm: bool,
    data: &DataPolicy,
    progress: &Progress,
) -> Result<(Report, bool)> {
    let started = Instant::now();
    let reading = progress.task("live state");
    reading.set("reading");
    let live = live::read(clients, stack, Purpose::Ownership).await?;
    // Only a table that down would delete is counted: a scan costs read capacity.
    let items = match (&live.table, &live.table_tags) {
        (Some(t), Some(tags))
            if stack.owns(tags) && !t.deletion_protection && t.status != "DELETING" =>
        {
            if t.status != "ACTIVE" {
                // A table still CREATING or UPDATING cannot be scanned, nor deleted, yet.
                let timeout = Duration::from_secs(stack.timeouts.table_secs);
                table::wait_active(&clients.dynamodb, &stack.table.name, timeout, &reading).await?;
            }
            reading.set("counting the table's items");
            Some(backup::count_items(&clients.dynamodb, &stack.table.name).await?)
        }
        _ => None,
    };
    reading.finish("read");
    let plan = plan(stack, &live, items, data);
    let has_work = plan.has_work();
    if !confirm || !has_work {
        let reports = plan
            .resources
            .into_iter()
            .map(ResourceReport::planned)
            .collect();
        return Ok((
            Report::new(
                "down",
                stack,
                reports,
                clients.calls.snapshot(),
                started.elapsed(),
            ),
            has_work,
        ));
    }
    let blocked: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| r.action == Action::Blocked)
        .collect();
    if let Some(b) = blocked.first() {
        anyhow::bail!(
            "nothing was deleted: {} `{}`: {}",
            b.kind.as_str(),
            b.name,
            b.note.clone().unwrap_or_default()
        );
    }

    let action = |kind: Kind| {
        plan.resources
            .iter()
            .find(|r| r.kind == kind)
            .map_or(Action::Keep, |r| r.action)
    };
    let timeouts = function::Timeouts {
        ready: Duration::from_secs(stack.timeouts.function_secs),
        role_propagation: Duration::from_secs(stack.timeouts.role_propagation_secs),
    };
    let task = |kind: Kind, name: &str| -> Result<Task> {
        let label = format!("{} {name}", kind.as_str());
        crate::interrupt::check(&label)?;
        Ok(progress.task(label))
    };

    // The function goes first: while it exists it may still write to the table, and the table's items are
    // counted (and backed up) again once nothing can write to them any more.
    let mut results = Vec::new();
    let t = task(Kind::Function, &stack.function.name)?;
    let r = match (action(Kind::Function), &live.function) {
        (Action::Delete, _) => function::delete(&clients.lambda, &stack.function.name, &t)
            .await
            .map(|_| Some("deleted")),
        (Action::Update, Some(f)) => {
            function::remove_variables(&clients.lambda, f, &plan.remove_variables, &timeouts, &t)
                .await
                .map(|_| Some("variables removed"))
        }
        _ => Ok(None),
    };
    results.push((Kind::Function, finish(&t, r)?));

    let mut backed_up = false;
    if action(Kind::Table) == Action::Delete && items.is_some() {
        let t = task(Kind::Table, &stack.table.name)?;
        t.set("counting the items again");
        let now = backup::count_items(&clients.dynamodb, &stack.table.name).await?;
        match &data.backup {
            Some(file) if now > 0 => {
                match backup::export(&clients.dynamodb, &stack.table.name, file, now, &t).await {
                    Ok(_) => backed_up = true,
                    Err(err) => {
                        t.fail("backup failed; the table was not deleted");
                        return Err(err);
                    }
                }
            }
            None if now > 0 && !data.delete_data => {
                t.fail("not deleted");
                anyhow::bail!(
                    "table `{}` now holds {now} items, written after it was counted; it was not deleted: pass \
                     --backup <file> or --delete-data",
                    stack.table.name
                );
            }
            _ => {}
        }
    }

    let iam = async {
        let mut results = Vec::new();
        let t = task(Kind::Policy, &stack.policy.name)?;
        let r = match (action(Kind::Policy), &live.policy) {
            (Action::Delete, Some(p)) => policy::delete(&clients.iam, &p.arn, &t)
                .await
                .map(|_| Some("deleted")),
            _ => Ok(None),
        };
        results.push((Kind::Policy, finish(&t, r)?));

        let t = task(Kind::Role, &stack.role.name)?;
        let r = match action(Kind::Role) {
            Action::Delete => role::delete(
                &clients.iam,
                &stack.role.name,
                timeouts.role_propagation,
                &t,
            )
            .await
            .map(|_| Some("deleted")),
            _ => Ok(None),
        };
        results.push((Kind::Role, finish(&t, r)?));
        anyhow::Ok(results)
    };
    let table_branch = async {
        let t = task(Kind::Table, &stack.table.name)?;
        let r = match action(Kind::Table) {
            Action::Delete => table::delete(
                &clients.dynamodb,
                &stack.table.name,
                Duration::from_secs(stack.timeouts.table_secs),
                &t,
            )
            .await
            .map(|_| {
                Some(if backed_up {
                    "backed up and deleted"
                } else {
                    "deleted"
                })
            }),
            _ => Ok(None),
        };
        anyhow::Ok(vec![(Kind::Table, finish(&t, r)?)])
    };
    let (iam_results, table_results) = tokio::try_join!(iam, table_branch)?;
    results.extend(iam_results);
    results.extend(table_results);

    let reports = plan
        .resources
        .into_iter()
        .map(|r| {
            let done = results
                .iter()
                .find(|(k, _)| *k == r.kind)
                .and_then(|(_, d)| *d);
            let report = ResourceReport::planned(r);
            match done {
                Some((result, time)) => report.done(result, Some(time)),
                None => report,
            }
        })
        .collect();
    Ok((
        Report::new(
            "down",
            stack,
            reports,
            clients.calls.snapshot(),
            started.elapsed(),
        ),
        true,
    ))
}

/// Ends a step's progress line; a step that had nothing to do prints nothing.
fn finish(
    task: &Task,
    result: Result<Option<&'static str>>,
) -> Result<Option<(&'static str, Duration)>> {
    match result {
        Ok(Some(done)) => {
            task.finish(done);
            Ok(Some((done, task.elapsed())))
        }
        Ok(None) => Ok(None),
        Err(err) => {
            task.fail("failed");
            Err(err)
        }
    }
}
