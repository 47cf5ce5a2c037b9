use super::*;

fn spec() -> TableSpec {
    TableSpec {
        deletion_protection: false,
        name: "t".into(),
        partition_key: KeyAttribute {
            name: "userId".into(),
            key_type: KeyType::S,
        },
        sort_key: Some(KeyAttribute {
            name: "itemId".into(),
            key_type: KeyType::S,
        }),
        billing_mode: "PAY_PER_REQUEST".into(),
        point_in_time_recovery: None,
    }
}

fn live(status: &str, keys: Vec<KeyAttribute>, billing: &str) -> LiveTable {
    LiveTable {
        arn: "arn:aws:dynamodb:us-east-1:1:table/t".into(),
        status: status.into(),
        key_schema: keys,
        billing_mode: billing.into(),
        deletion_protection: false,
        item_count: None,
    }
}

#[test]
fn diff_covers_every_live_state() {
    let s = spec();
    assert_eq!(diff(&s, None, None), TableDiff::Create);
    assert_eq!(
        diff(
            &s,
            Some(&live("ACTIVE", desired_keys(&s), "PAY_PER_REQUEST")),
            None
        ),
        TableDiff::InSync
    );
    assert_eq!(
        diff(
            &s,
            Some(&live("CREATING", desired_keys(&s), "PAY_PER_REQUEST")),
            None
        ),
        TableDiff::NotReady("CREATING".into())
    );
    assert_eq!(
        diff(
            &s,
            Some(&live("ACTIVE", desired_keys(&s), "PROVISIONED")),
            None
        ),
        TableDiff::Update {
            billing_mode: Some("PROVISIONED".into()),
            deletion_protection: None,
            point_in_time_recovery: None,
        }
    );
    let other_keys = vec![KeyAttribute {
        name: "id".into(),
        key_type: KeyType::N,
    }];
    assert!(matches!(
        diff(
            &s,
            Some(&live("ACTIVE", other_keys, "PAY_PER_REQUEST")),
            None
        ),
        TableDiff::KeyConflict { .. }
    ));
    // A sort key of another type is a conflict too.
    let mut keys = desired_keys(&s);
    keys[1].key_type = KeyType::N;
    assert!(matches!(
        diff(&s, Some(&live("ACTIVE", keys, "PAY_PER_REQUEST")), None),
        TableDiff::KeyConflict { .. }
    ));
}

#[test]
fn key_conflicts_are_blocked_never_recreated() {
    let s = spec();
    let d = TableDiff::KeyConflict {
        live: "id (N, HASH)".into(),
        desired: describe_keys(&desired_keys(&s)),
    };
    let p = plan(&s, None, &d);
    assert_eq!(p.action, Action::Blocked);
    assert!(p.note.unwrap().contains("never deletes"));
}

/// `[table] point_in_time_recovery`: compared only when the file manages it and it was read; a period
/// change, on and off are updates; a new table shows only a period.
#[test]
fn point_in_time_recovery_is_diffed_only_when_managed() {
    let mut s = spec();
    let active = live("ACTIVE", desired_keys(&s), "PAY_PER_REQUEST");
    // Not managed: whatever the table has is left alone.
    assert_eq!(
        diff(&s, Some(&active), Some(PointInTimeRecovery::Days(7))),
        TableDiff::InSync
    );
    s.point_in_time_recovery = Some(PointInTimeRecovery::Days(35));
    assert_eq!(
        diff(&s, Some(&active), Some(PointInTimeRecovery::Days(35))),
        TableDiff::InSync
    );
    let off = diff(&s, Some(&active), Some(PointInTimeRecovery::Off));
    assert_eq!(
        off,
        TableDiff::Update {
            billing_mode: None,
            deletion_protection: None,
            point_in_time_recovery: Some(PointInTimeRecovery::Off),
        }
    );
    let p = plan(&s, Some(&active), &off);
    assert_eq!(p.action, Action::Update);
    assert_eq!(
        p.changes,
        vec![Change::modify("point_in_time_recovery", "off", "35 days")]
    );
    s.point_in_time_recovery = Some(PointInTimeRecovery::Off);
    let on = diff(&s, Some(&active), Some(PointInTimeRecovery::Days(7)));
    assert_eq!(
        plan(&s, Some(&active), &on).changes,
        vec![Change::modify("point_in_time_recovery", "7 days", "off")]
    );
    // Not read (a table that was not ACTIVE): nothing to compare yet.
    assert_eq!(diff(&s, Some(&active), None), TableDiff::InSync);
    // On create: only a period is a change (a new table's recovery is off).
    assert!(!plan(&s, None, &TableDiff::Create)
        .changes
        .iter()
        .any(|c| c.field == "point_in_time_recovery"));
    s.point_in_time_recovery = Some(PointInTimeRecovery::Days(1));
    assert!(plan(&s, None, &TableDiff::Create)
        .changes
        .contains(&Change::add("point_in_time_recovery", "1 day")));
}

#[test]
fn deletion_protection_drift_is_an_update_both_ways() {
    let mut s = spec();
    let mut protected = live("ACTIVE", desired_keys(&s), "PAY_PER_REQUEST");
    protected.deletion_protection = true;
    let d = diff(&s, Some(&protected), None);
    assert_eq!(
        plan(&s, Some(&protected), &d).changes,
        vec![Change::modify("deletion_protection", "true", "false")]
    );
    s.deletion_protection = true;
    let open = live("ACTIVE", desired_keys(&s), "PAY_PER_REQUEST");
    let d = diff(&s, Some(&open), None);
    assert_eq!(
        plan(&s, Some(&open), &d).changes,
        vec![Change::modify("deletion_protection", "false", "true")]
    );
}

#[test]
fn only_continuous_backups_unavailable_is_retried() {
    use aws_sdk_dynamodb::types::error::ContinuousBackupsUnavailableException;
    let unavailable = anyhow::Error::new(
        aws_sdk_dynamodb::Error::ContinuousBackupsUnavailableException(
            ContinuousBackupsUnavailableException::builder()
                .message("Backups are being enabled for the table")
                .build(),
        ),
    )
    .context("setting the point-in-time recovery");
    assert!(backups_unavailable(&unavailable));
    assert!(!backups_unavailable(&anyhow::anyhow!(
        "ValidationException"
    )));
}
