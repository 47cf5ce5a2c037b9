//! The table's teardown: what deleting it would lose (whether it holds items, DynamoDB's estimate or, with
//! --count, an exact count), what secures them first (a snapshot or a backup file), and the delete itself,
//! after the items are checked once more (nothing of the stack writes to them any more by then).

use anyhow::{bail, Result};

use super::{delete, Table, TableState};
use crate::backup::{snapshot, Snapshot};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::report::{ItemsReport, SnapshotRef, SnapshotReport};
use crate::resources::{finish, Address, Done, Planned, World, NOT_OURS};

/// What down does to the table: whether it held items when read (None: not read, e.g. already DELETING),
/// how many went into the backup file and which snapshot was taken (set by `secure`, before anything is
/// deleted). Right before DeleteTable the table is read again.
pub struct TableDown {
    held: Option<bool>,
    backed_up: Option<u64>,
    first: Option<Snapshot>,
}

/// DynamoDB refreshes DescribeTable's ItemCount about every six hours: the plan says so beside it.
const ESTIMATE: &str = "by DynamoDB's estimate, refreshed about every six hours";

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// How many items the table holds, as far as down knows: `Some((n, exact))` from --count (exact) or
/// DescribeTable's ItemCount (an estimate), None when neither is known or the table holds none.
fn known_count(world: &World, state: &TableState) -> Option<(u64, bool)> {
    match (world.data.exact_items, state.table.item_count) {
        (Some(exact), _) => Some((exact, true)),
        // An estimate of 0 for a table read to hold items says only that DynamoDB has not counted it yet
        // (a table under six hours old): no number then, rather than "about 0".
        (None, Some(estimate)) if estimate > 0 => Some((estimate, false)),
        (None, Some(_)) => None,
        (None, None) => None,
    }
}

/// "30 items" or "items (about 30 by DynamoDB's estimate, ...)".
fn items_text(count: Option<(u64, bool)>) -> String {
    match count {
        Some((n, true)) => format!("{n} item{}", plural(n)),
        Some((n, false)) => format!("items (about {n} {ESTIMATE})"),
        None => "items".to_string(),
    }
}

/// What the JSON says of the table's items (the `items` field of its resource).
pub fn items_report(world: &World, at: &Address) -> Option<ItemsReport> {
    if at.kind != Kind::Table {
        return None;
    }
    let state = world.live_of::<Table>(at)?;
    let holds_items = state.holds_items?;
    // Read empty is exactly none, whatever DynamoDB's (older) estimate says.
    let count = if holds_items {
        known_count(world, state)
    } else {
        Some((0, true))
    };
    Some(ItemsReport {
        holds_items,
        count: count.map(|(n, _)| n),
        exact: count.is_some_and(|(_, exact)| exact),
    })
}

/// The snapshot down --snapshot kept of the table, if it took one (JSON `snapshot`, and two text lines).
pub fn snapshot_report(world: &World, at: &Address) -> Option<SnapshotReport> {
    if at.kind != Kind::Table {
        return None;
    }
    let arn = world.learnt(at, "snapshot_arn")?;
    let name = world.learnt(at, "snapshot_name")?;
    let kept = Snapshot {
        arn,
        name,
        table: world.stack.table.name.clone(),
    };
    let first = match (
        world.learnt(at, "snapshot_first_arn"),
        world.learnt(at, "snapshot_first_name"),
    ) {
        (Some(arn), Some(name)) if arn != kept.arn => Some(SnapshotRef { arn, name }),
        _ => None,
    };
    Some(SnapshotReport {
        restore: snapshot::restore_command(world.stack, &kept),
        arn: kept.arn,
        name: kept.name,
        first,
    })
}

/// "NAME (ARN)" of the snapshot down took of the table before anything was deleted, if it took one.
pub fn first_snapshot(world: &World, at: &Address) -> Option<String> {
    if at.kind != Kind::Table {
        return None;
    }
    let arn = world.learnt(at, "snapshot_first_arn")?;
    let name = world.learnt(at, "snapshot_first_name")?;
    Some(format!("{name} ({arn})"))
}

/// down --count: the table's exact item count (a full scan in `--segments` parallel segments), counted
/// only when the read found items (an empty table is 0 without another read). None: no table to count.
pub async fn count_exactly(world: &World<'_>, task: &crate::progress::Task) -> Result<Option<u64>> {
    for node in &world.graph.nodes {
        let at = node.address();
        if at.kind != Kind::Table {
            continue;
        }
        match world.live_of::<Table>(at).and_then(|s| s.holds_items) {
            Some(true) => {
                task.set("counting the table's items");
                let name = &world.stack.table.name;
                let n =
                    crate::backup::count_items(&world.clients.dynamodb, name, world.data.segments)
                        .await?;
                return Ok(Some(n));
            }
            Some(false) => return Ok(Some(0)),
            None => {}
        }
    }
    Ok(None)
}

impl Table {
    pub(super) fn teardown_plan(&self, world: &World, state: &TableState) -> Planned<TableDown> {
        let stack = world.stack;
        let t = &state.table;
        let name = &stack.table.name;
        let base = |action| ResourcePlan::new(Kind::Table, name, action).arn(Some(&t.arn));
        let data = &world.data;
        let plan = match state.holds_items {
            // Already on its way out (an interrupted down): waiting until it is gone is all there is to do.
            _ if t.status == "DELETING" => base(Action::Delete).changes(vec![Change::remove(
                "table",
                "being deleted; waiting until it is gone",
            )]),
            _ if !state.tags.as_ref().is_some_and(|tags| stack.owns(tags)) => {
                base(Action::Keep).note(NOT_OURS)
            }
            _ if t.deletion_protection => base(Action::Blocked).note(format!(
                "deletion protection is on; turn it off first: aws dynamodb update-table --table-name {name} \
                 --no-deletion-protection-enabled"
            )),
            // Never delete a table whose content is unknown.
            None => base(Action::Blocked)
                .note("whether it holds items could not be read, so it is not deleted"),
            Some(false) => match &data.backup {
                Some(file) => match crate::backup::destination_problem(file) {
                    Some(problem) => base(Action::Blocked).note(problem),
                    None => base(Action::Delete).changes(vec![
                        Change::add("backup", format!("no items to {}", file.display())),
                        Change::remove("table", format!("{name}, which holds no items")),
                    ]),
                },
                None => base(Action::Delete).changes(vec![Change::remove(
                    "table",
                    format!("{name}, which holds no items"),
                )]),
            },
            Some(true) => {
                let count = known_count(world, state);
                let what = format!("{name} with its {}", items_text(count));
                match &data.backup {
                    // A backup goes to a new file only: refused here, before anything is deleted.
                    Some(file) => match crate::backup::destination_problem(file) {
                        Some(problem) => base(Action::Blocked).note(problem),
                        None => base(Action::Delete).changes(vec![
                            Change::add(
                                "backup",
                                format!(
                                    "every item to {} (counted exactly, in {} parallel segment{})",
                                    file.display(),
                                    data.segments,
                                    plural(u64::from(data.segments))
                                ),
                            ),
                            Change::remove("table", what),
                        ]),
                    },
                    None if data.snapshot => base(Action::Delete).changes(vec![
                        Change::add(
                            "snapshot",
                            format!(
                                "a DynamoDB backup named {}-<time> before anything is deleted, and a \
                                 final one right before the table is deleted (both kept)",
                                snapshot_prefix(stack)
                            ),
                        ),
                        Change::remove("table", what),
                    ]),
                    None if data.delete_data => {
                        base(Action::Delete).changes(vec![Change::remove("table", what)])
                    }
                    None => base(Action::Blocked).note(format!(
                        "the table holds {}: pass --snapshot to keep a DynamoDB backup of them first \
                         (restore with `stackctl restore --snapshot <ARN>`), --backup <file> to export them \
                         to a file (restore with `stackctl restore <file>`), or --delete-data to delete them \
                         with the table",
                        items_text(count)
                    )),
                }
            }
        };
        Planned::new(
            plan,
            TableDown {
                held: state.holds_items,
                backed_up: None,
                first: None,
            },
        )
    }

    /// down --confirm, before anything is deleted: the backup file written in full and checked (see
    /// `backup::back_up`), or a snapshot of a table holding items taken and AVAILABLE.
    pub(super) async fn secure_data(&self, world: &World<'_>, down: &mut TableDown) -> Result<()> {
        if down.held.is_none() {
            return Ok(());
        }
        if world.data.backup.is_some() {
            return self.back_up(world, down).await;
        }
        if world.data.snapshot && down.held == Some(true) {
            let name = &world.stack.table.name;
            let task = world.task(Kind::Table, name)?;
            return match snapshot::take(
                &world.clients.dynamodb,
                world.stack,
                name,
                Self::timeout(world.stack),
                &task,
            )
            .await
            {
                Ok(taken) => {
                    task.finish(&format!("snapshot {} taken ({})", taken.name, taken.arn));
                    // Recorded at once: a failure later in the walk names it (down.rs).
                    world.set_output(&self.at, "snapshot_first_arn", taken.arn.clone());
                    world.set_output(&self.at, "snapshot_first_name", taken.name.clone());
                    down.first = Some(taken);
                    Ok(())
                }
                Err(err) => {
                    task.fail("snapshot failed; nothing was deleted");
                    Err(err)
                }
            };
        }
        Ok(())
    }

    async fn back_up(&self, world: &World<'_>, down: &mut TableDown) -> Result<()> {
        let Some(file) = &world.data.backup else {
            return Ok(());
        };
        let Some(state) = world.live_of::<Table>(&self.at) else {
            return Ok(());
        };
        let stack = world.stack;
        let name = &stack.table.name;
        let origin =
            crate::backup::Origin::new(stack, name, &state.table.arn, &state.table.key_schema);
        let task = world.task(Kind::Table, name)?;
        task.set(&format!("backing up to {}", file.display()));
        let segments = world.data.segments;
        match crate::backup::back_up(&world.clients.dynamodb, origin, file, segments, &task).await {
            Ok(items) => {
                down.backed_up = Some(items);
                task.finish(&format!("{items} items backed up to {}", file.display()));
                Ok(())
            }
            Err(err) => {
                task.fail("backup failed; nothing was deleted");
                Err(err)
            }
        }
    }

    /// Right before DeleteTable, once nothing of the stack writes to the table: a backup file must still
    /// hold every item (an exact count); a snapshot is taken again if the table holds items (the final
    /// one, which supersedes the first); without either, the table must still be empty.
    pub(super) async fn delete_checked(&self, world: &World<'_>, down: &TableDown) -> Result<Done> {
        let (stack, dynamodb) = (world.stack, &world.clients.dynamodb);
        let name = &stack.table.name;
        let task = world.task(Kind::Table, name)?;
        let data = &world.data;
        let mut result = "deleted";
        if down.held.is_some() {
            if let (Some(file), Some(backed_up)) = (&data.backup, down.backed_up) {
                task.set("counting the items again");
                let now = match crate::backup::count_items(dynamodb, name, data.segments).await {
                    Ok(now) => now,
                    Err(err) => return finish(&task, Err(err)),
                };
                if now != backed_up {
                    task.fail("not deleted");
                    bail!(
                        "table `{name}` now holds {now} items but {backed_up} were backed up to `{}`: items \
                         were written or deleted after the backup; the table was not deleted (the backup is \
                         kept): run down again with a new --backup file",
                        file.display()
                    );
                }
                result = "backed up and deleted";
            } else if data.snapshot {
                result = match self.final_snapshot(world, down, &task).await {
                    Ok(result) => result,
                    Err(err) => {
                        task.fail("not deleted");
                        return Err(err);
                    }
                };
            } else if !data.delete_data {
                task.set("checking that the table is still empty");
                let empty = match crate::backup::is_empty(dynamodb, name).await {
                    Ok(empty) => empty,
                    Err(err) => return finish(&task, Err(err)),
                };
                if !empty {
                    task.fail("not deleted");
                    bail!(
                        "table `{name}` now holds items, written after it was found empty; it was not \
                         deleted: pass --snapshot, --backup <file> or --delete-data"
                    );
                }
            }
        }
        let deleted = delete(dynamodb, name, Self::timeout(stack), &task)
            .await
            .map(|_| result);
        finish(&task, deleted)
    }

    /// down --snapshot, right before DeleteTable: when the table holds items now, a final snapshot, requested
    /// only once DynamoDB guarantees it holds the stack's last write: CreateBackup holds what was committed up
    /// to a minute before the request (API_CreateBackup), and an invocation in flight at DeleteFunction may
    /// still write for the function's timeout. So the request waits the longest function timeout plus
    /// `timeouts.snapshot_settle_secs` (60). The first snapshot is kept too: deletes made between the two
    /// would make the final one hold less than the first. Both are recorded for the result.
    async fn final_snapshot(
        &self,
        world: &World<'_>,
        down: &TableDown,
        task: &crate::progress::Task,
    ) -> Result<&'static str> {
        let (stack, dynamodb) = (world.stack, &world.clients.dynamodb);
        let name = &stack.table.name;
        task.set("reading whether the table holds items");
        let kept_note = |first: &Option<Snapshot>| match first {
            Some(first) => format!(
                "; the first snapshot `{}` is kept ({})",
                first.name, first.arn
            ),
            None => String::new(),
        };
        let empty = crate::backup::is_empty(dynamodb, name)
            .await
            .map_err(|err| {
                err.context(format!(
                    "table `{name}` was not deleted{}",
                    kept_note(&down.first)
                ))
            })?;
        let last = if empty {
            // Nothing left to keep but what the first snapshot holds (if the table held items then).
            None
        } else {
            let settle = settle_time(stack);
            task.set(&format!(
                "waiting {}s before the final snapshot (a DynamoDB backup holds what was committed a minute                  before it is requested; the function's last invocation may still be writing)",
                settle.as_secs()
            ));
            crate::backoff::pause(settle, || {
                crate::interrupt::Interrupted(format!(
                    "the final snapshot of table `{name}` (the table was not deleted{})",
                    kept_note(&down.first)
                ))
            })
            .await?;
            Some(
                snapshot::take(dynamodb, stack, name, Self::timeout(stack), task)
                    .await
                    .map_err(|err| {
                        err.context(format!(
                            "the final snapshot of table `{name}` failed, so the table was not deleted{}",
                            kept_note(&down.first)
                        ))
                    })?,
            )
        };
        // The first is recorded by `secure` (the report leaves it out when it is the one kept).
        let kept = last.or_else(|| down.first.clone());
        Ok(match kept {
            Some(kept) => {
                world.set_output(&self.at, "snapshot_arn", kept.arn);
                world.set_output(&self.at, "snapshot_name", kept.name);
                "snapshot taken and deleted"
            }
            None => "deleted (it held no items: no snapshot taken)",
        })
    }
}

/// How long the final snapshot waits after the stack's writers are gone: the longest function timeout (an
/// invocation in flight at DeleteFunction runs to its end) plus `timeouts.snapshot_settle_secs`.
fn settle_time(stack: &crate::config::Stack) -> std::time::Duration {
    let longest = stack
        .functions()
        .iter()
        .map(|f| f.spec.timeout_secs.max(0) as u64)
        .max()
        .unwrap_or(0);
    std::time::Duration::from_secs(longest + stack.timeouts.snapshot_settle_secs)
}

/// `stackctl-<stack>[-<stage>]`, the start of every snapshot name of the stack.
fn snapshot_prefix(stack: &crate::config::Stack) -> String {
    let name = snapshot::snapshot_name(stack, std::time::SystemTime::UNIX_EPOCH);
    name.trim_end_matches("-19700101T000000Z").to_string()
}
