//! The table's pure diff (key schema, billing, settings) and its plan.

use super::*;

pub fn describe_keys(keys: &[KeyAttribute]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "{} ({}, {})",
                k.name,
                k.key_type.as_str(),
                if i == 0 { "HASH" } else { "RANGE" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn desired_keys(spec: &TableSpec) -> Vec<KeyAttribute> {
    std::iter::once(spec.partition_key.clone())
        .chain(spec.sort_key.clone())
        .collect()
}

/// What `up` has to do to the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableDiff {
    Create,
    InSync,
    /// Still CREATING or UPDATING: nothing to change, but `up` waits for ACTIVE.
    NotReady(String),
    /// Settings that can change in place: the live values of those that differ.
    Update {
        billing_mode: Option<String>,
        deletion_protection: Option<bool>,
        /// `[table] point_in_time_recovery`, when the file manages it (UpdateContinuousBackups).
        point_in_time_recovery: Option<PointInTimeRecovery>,
    },
    /// Key schemas cannot change in place; stackctl never deletes and recreates a table.
    KeyConflict {
        live: String,
        desired: String,
    },
    /// DELETING: a `down` is in progress.
    Deleting,
}

/// `recovery`: the live point-in-time recovery, when it was read (only for a file that manages it).
pub fn diff(
    spec: &TableSpec,
    live: Option<&LiveTable>,
    recovery: Option<PointInTimeRecovery>,
) -> TableDiff {
    let Some(live) = live else {
        return TableDiff::Create;
    };
    let desired = desired_keys(spec);
    if live.key_schema != desired {
        return TableDiff::KeyConflict {
            live: describe_keys(&live.key_schema),
            desired: describe_keys(&desired),
        };
    }
    match live.status.as_str() {
        "DELETING" => return TableDiff::Deleting,
        // CREATING / UPDATING: DynamoDB refuses an UpdateTable now; up waits, then looks again.
        "ACTIVE" => {}
        other => return TableDiff::NotReady(other.to_string()),
    }
    let recovery = match (spec.point_in_time_recovery, recovery) {
        (Some(want), Some(have)) if want != have => Some(have),
        _ => None,
    };
    let update = TableDiff::Update {
        billing_mode: (live.billing_mode != spec.billing_mode).then(|| live.billing_mode.clone()),
        deletion_protection: (live.deletion_protection != spec.deletion_protection)
            .then_some(live.deletion_protection),
        point_in_time_recovery: recovery,
    };
    // UpdateTable's settings, then UpdateContinuousBackups' (each sent only when it differs).
    if live.billing_mode != spec.billing_mode
        || live.deletion_protection != spec.deletion_protection
    {
        return update;
    }
    match recovery {
        Some(_) => update,
        None => TableDiff::InSync,
    }
}

pub fn plan(spec: &TableSpec, live: Option<&LiveTable>, diff: &TableDiff) -> ResourcePlan {
    let arn = live.map(|l| l.arn.as_str());
    let base = |action| ResourcePlan::new(Kind::Table, &spec.name, action).arn(arn);
    match diff {
        TableDiff::Create => {
            let mut changes = vec![
                Change::add("key_schema", describe_keys(&desired_keys(spec))),
                Change::add("billing_mode", &spec.billing_mode),
            ];
            if spec.deletion_protection {
                changes.push(Change::add("deletion_protection", "true"));
            }
            // Off is what a new table has: only a period is a change.
            if let Some(days @ PointInTimeRecovery::Days(_)) = spec.point_in_time_recovery {
                changes.push(Change::add("point_in_time_recovery", days.to_string()));
            }
            base(Action::Create).changes(changes)
        }
        TableDiff::InSync => base(Action::NoOp),
        TableDiff::NotReady(status) => base(Action::NoOp).note(format!("{status}; up waits for ACTIVE")),
        TableDiff::Update { billing_mode, deletion_protection, point_in_time_recovery } => {
            let mut changes = Vec::new();
            if let Some(live) = billing_mode {
                changes.push(Change::modify("billing_mode", live, &spec.billing_mode));
            }
            if let Some(live) = deletion_protection {
                changes.push(Change::modify(
                    "deletion_protection",
                    live.to_string(),
                    spec.deletion_protection.to_string(),
                ));
            }
            if let (Some(live), Some(want)) = (point_in_time_recovery, spec.point_in_time_recovery) {
                changes.push(Change::modify(
                    "point_in_time_recovery",
                    live.to_string(),
                    want.to_string(),
                ));
            }
            base(Action::Update).changes(changes)
        }
        TableDiff::KeyConflict { live, desired } => base(Action::Blocked)
            .changes(vec![Change::modify("key_schema", live, desired)])
            .note(
                "a table's key schema cannot change in place; stackctl never deletes a table to recreate it: \
                 migrate the data to a new table name, or delete this table yourself",
            ),
        TableDiff::Deleting => base(Action::Blocked).note("the table is being deleted; run up again once it is gone"),
    }
}
