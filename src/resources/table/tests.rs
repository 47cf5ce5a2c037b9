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
    assert_eq!(diff(&s, None), TableDiff::Create);
    assert_eq!(
        diff(
            &s,
            Some(&live("ACTIVE", desired_keys(&s), "PAY_PER_REQUEST"))
        ),
        TableDiff::InSync
    );
    assert_eq!(
        diff(
            &s,
            Some(&live("CREATING", desired_keys(&s), "PAY_PER_REQUEST"))
        ),
        TableDiff::NotReady("CREATING".into())
    );
    assert_eq!(
        diff(&s, Some(&live("ACTIVE", desired_keys(&s), "PROVISIONED"))),
        TableDiff::Update {
            billing_mode: Some("PROVISIONED".into()),
            deletion_protection: None
        }
    );
    let other_keys = vec![KeyAttribute {
        name: "id".into(),
        key_type: KeyType::N,
    }];
    assert!(matches!(
        diff(&s, Some(&live("ACTIVE", other_keys, "PAY_PER_REQUEST"))),
        TableDiff::KeyConflict { .. }
    ));
    // A sort key of another type is a conflict too.
    let mut keys = desired_keys(&s);
    keys[1].key_type = KeyType::N;
    assert!(matches!(
        diff(&s, Some(&live("ACTIVE", keys, "PAY_PER_REQUEST"))),
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
