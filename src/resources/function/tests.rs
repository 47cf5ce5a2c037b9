use super::*;
use crate::plan::Op;

fn config(env: &[(&str, &str)]) -> FunctionConfig {
    FunctionConfig {
        role_arn: "arn:aws:iam::1:role/r".into(),
        runtime: "nodejs24.x".into(),
        handler: "handler.handler".into(),
        memory_mb: 128,
        timeout_secs: 10,
        architecture: "x86_64".into(),
        environment: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn live(env: &[(&str, &str)], sha: &str) -> LiveFunction {
    LiveFunction {
        arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
        state: "Active".into(),
        state_reason: None,
        last_update_status: "Successful".into(),
        last_update_reason: None,
        config: config(env),
        code_sha256: sha.into(),
        tags: BTreeMap::new(),
        reserved_concurrency: None,
        log_group: None,
    }
}

#[test]
fn reserved_concurrency_converges_on_owned_functions_and_is_kept_on_adopted_ones() {
    let with = |n: Option<i32>| LiveFunction {
        reserved_concurrency: n,
        ..live(&[], "sha")
    };
    assert_eq!(concurrency_diff(None, None, true, "s"), (None, None));
    assert_eq!(
        concurrency_diff(Some(5), None, true, "s"),
        (
            Some(Change::add("reserved_concurrency", "5")),
            Some(ConcurrencyWork::Reserve(5))
        )
    );
    assert_eq!(
        concurrency_diff(Some(5), Some(&with(Some(5))), true, "s"),
        (None, None)
    );
    assert_eq!(
        concurrency_diff(Some(0), Some(&with(Some(5))), false, "s"),
        (
            Some(Change::modify("reserved_concurrency", "5", "0")),
            Some(ConcurrencyWork::ReserveMarkedOver(0, 5))
        )
    );
    assert_eq!(
        concurrency_diff(None, Some(&with(Some(5))), true, "s"),
        (
            Some(Change::remove("reserved_concurrency", "5")),
            Some(ConcurrencyWork::Unreserve)
        )
    );
    let (kept, work) = concurrency_diff(None, Some(&with(Some(5))), false, "s");
    assert_eq!(
        (kept.map(|c| c.op), work),
        (Some(crate::plan::Op::Keep), None)
    );
    // A reservation stackctl adds to an adopted function is marked, and removed when the key goes.
    assert_eq!(
        concurrency_diff(Some(5), Some(&with(None)), false, "s").1,
        Some(ConcurrencyWork::ReserveMarked(5))
    );
    let mut marked = with(Some(5));
    marked.tags.insert(CONCURRENCY_TAG.into(), "s".into());
    assert_eq!(
        concurrency_diff(Some(7), Some(&marked), false, "s").1,
        Some(ConcurrencyWork::Reserve(7))
    );
    assert_eq!(
        concurrency_diff(None, Some(&marked), false, "s").1,
        Some(ConcurrencyWork::UnreserveMarked)
    );
    assert_eq!(
        concurrency_diff(None, Some(&marked), false, "other").1,
        None,
        "another stack's marker is not this stack's"
    );
    // Someone else's reservation changed: marked with theirs, which goes back when the key goes.
    assert_eq!(
        concurrency_diff(Some(9), Some(&with(Some(7))), false, "s").1,
        Some(ConcurrencyWork::ReserveMarkedOver(9, 7))
    );
    marked
        .tags
        .insert(CONCURRENCY_BEFORE_TAG.into(), "7".into());
    assert_eq!(
        concurrency_diff(None, Some(&marked), false, "s"),
        (
            Some(Change::modify("reserved_concurrency", "5", "7")),
            Some(ConcurrencyWork::RestoreMarked(7))
        )
    );
    assert_eq!(
        concurrency_diff(Some(3), Some(&marked), false, "s").1,
        Some(ConcurrencyWork::Reserve(3)),
        "marked already: the value it replaced stays recorded"
    );
}

#[test]
fn a_reservation_must_leave_the_pools_minimum_unreserved() {
    let pool = ConcurrencyPool {
        limit: 1000,
        unreserved: 120,
    };
    let (change, blocked) = pool_check(20, None, pool, "us-east-1");
    assert_eq!(
        change,
        Change::modify(
            "account_unreserved_concurrency",
            "120 of 1000 in us-east-1",
            "100 (Lambda keeps at least 100 unreserved)"
        )
    );
    assert_eq!(blocked, None);
    let blocked = pool_check(21, None, pool, "us-east-1").1.expect("blocked");
    assert!(
        blocked.contains("at 99, below Lambda's minimum of 100")
            && blocked.contains("reserve at most 20"),
        "{blocked}"
    );
    // The function's own reservation goes back to the pool first.
    assert_eq!(pool_check(30, Some(10), pool, "r").1, None);
    let (_, blocked) = pool_check(31, Some(10), pool, "r");
    assert!(blocked.unwrap().contains("this function's 10 included"));
    // A new account (limit 10) keeps all 10: nothing to reserve, but 0 is fine.
    let small = ConcurrencyPool {
        limit: 10,
        unreserved: 10,
    };
    assert!(pool_check(1, None, small, "r")
        .1
        .unwrap()
        .contains("remove `function.reserved_concurrency`"));
    assert_eq!(pool_check(0, None, small, "r").1, None);
    assert!(!needs_pool(Some(0), None) && needs_pool(Some(1), None));
    let with = |n| LiveFunction {
        reserved_concurrency: n,
        ..live(&[], "sha")
    };
    assert!(
        !needs_pool(Some(3), Some(&with(Some(5)))) && needs_pool(Some(6), Some(&with(Some(5))))
    );
    assert!(!needs_pool(None, Some(&with(None))));
}

#[test]
fn live_variables_are_kept_and_shown_hidden() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let d = diff(
        &desired,
        "sha",
        Some(&live(
            &[("LOG_LEVEL", "debug"), ("TABLE_NAME", "old")],
            "sha",
        )),
    );
    let sent = d.config.unwrap();
    assert_eq!(sent.environment["LOG_LEVEL"], "debug");
    assert_eq!(sent.environment["TABLE_NAME"], "t");
    assert!(!d.code);
    let table = d
        .changes
        .iter()
        .find(|c| c.field == "environment.TABLE_NAME")
        .unwrap();
    assert_eq!(
        (table.op, table.before.as_deref(), table.after.as_deref()),
        (Op::Change, Some("old"), Some("t"))
    );
    let kept = d
        .changes
        .iter()
        .find(|c| c.field == "environment.LOG_LEVEL")
        .unwrap();
    assert_eq!(kept.op, Op::Keep);
    assert!(
        !kept.before.as_deref().unwrap().contains("debug"),
        "a kept value must not be shown"
    );
}

#[test]
fn nothing_differs_means_nothing_to_send() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let d = diff(
        &desired,
        "sha",
        Some(&live(&[("TABLE_NAME", "t"), ("OTHER", "x")], "sha")),
    );
    assert!(d.is_noop(), "{d:?}");
}

#[test]
fn a_function_whose_creation_failed_is_recreated_when_owned_and_blocks_up_when_adopted() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let mut failed = live(&[("TABLE_NAME", "t"), ("OTHER", "x")], "sha");
    failed.state = "Failed".into();
    failed.last_update_status = "Failed".into();
    failed.state_reason = Some("InvalidSubnet: subnet-1 is gone".into());
    let d = diff(&desired, "sha", Some(&failed));
    assert!(d.recreate && !d.code && !d.create, "{d:?}");
    // Created again with the variables someone else set.
    assert_eq!(d.config.as_ref().unwrap().environment["OTHER"], "x");
    let state = d.changes.iter().find(|c| c.field == "state").unwrap();
    assert_eq!(
        (state.before.as_deref(), state.after.as_deref()),
        (Some("Failed"), Some("recreate (delete + create)"))
    );
    let reason = d
        .changes
        .iter()
        .find(|c| c.field == "state_reason")
        .unwrap();
    assert_eq!(
        reason.before.as_deref(),
        Some("InvalidSubnet: subnet-1 is gone")
    );
    assert!(!d.changes.iter().any(|c| c.field == "last_update_status"));

    let owned = plan("f", Some(&failed), &d, true);
    assert_eq!(owned.action, Action::Update);
    assert!(owned
        .note
        .unwrap()
        .contains("deletes it and creates it again"));
    let adopted = plan("f", Some(&failed), &d, false);
    assert_eq!(adopted.action, Action::Blocked);
    let note = adopted.note.unwrap();
    assert!(
        note.contains("subnet-1 is gone") && note.contains("delete-function"),
        "{note}"
    );
}

#[test]
fn a_failed_update_of_an_active_function_is_retried_as_an_update() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let mut f = live(&[("TABLE_NAME", "t")], "sha");
    f.last_update_status = "Failed".into();
    let d = diff(&desired, "sha", Some(&f));
    assert!(!d.recreate && d.code && d.config.is_some(), "{d:?}");
}

#[test]
fn the_architecture_goes_with_the_code_not_the_configuration() {
    let mut desired = config(&[("TABLE_NAME", "t")]);
    desired.architecture = "arm64".into();
    let d = diff(&desired, "sha", Some(&live(&[("TABLE_NAME", "t")], "sha")));
    assert!(d.config.is_none() && d.code, "{d:?}");
    assert_eq!(d.architecture.as_deref(), Some("arm64"));
    let change = d
        .changes
        .iter()
        .find(|c| c.field == "architecture")
        .unwrap();
    assert_eq!(
        (change.before.as_deref(), change.after.as_deref()),
        (Some("x86_64"), Some("arm64"))
    );
    assert!(
        !d.changes.iter().any(|c| c.field == "code"),
        "{:?}",
        d.changes
    );
    let created = diff(&desired, "sha", None);
    assert!(created
        .changes
        .iter()
        .any(|c| c.field == "architecture" && c.after.as_deref() == Some("arm64")));
}

#[test]
fn environment_over_4_kb_with_the_variables_kept_blocks_the_function() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let big = "x".repeat(4090);
    let d = diff(
        &desired,
        "sha",
        Some(&live(&[("TABLE_NAME", "t"), ("BIG", &big)], "sha")),
    );
    let blocked = d.blocked.clone().expect("over the limit");
    assert!(
        blocked.contains("4104 bytes")
            && blocked.contains("4096")
            && blocked.contains("11 from the stack file")
            && blocked.contains("4093 from variables set outside it (`BIG`)"),
        "{blocked}"
    );
    assert_eq!(plan("f", None, &d, false).action, Action::Blocked);
    let fits = "x".repeat(4096 - 3 - 11);
    let d = diff(
        &desired,
        "sha",
        Some(&live(&[("TABLE_NAME", "t"), ("BIG", &fits)], "sha")),
    );
    assert_eq!(d.blocked, None);
}

#[test]
fn only_the_code_differs() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let d = diff(
        &desired,
        "new-sha",
        Some(&live(&[("TABLE_NAME", "t")], "old-sha")),
    );
    assert!(d.config.is_none() && d.code && !d.create);
}

/// `[auth]` removed from stack.toml: its variables go at the next up, and only they (the ones someone else
/// set stay).
#[test]
fn auth_variables_go_with_the_section_and_nothing_else_does() {
    let desired = config(&[("TABLE_NAME", "t")]);
    let before = live(
        &[
            ("TABLE_NAME", "t"),
            ("THEIRS", "x"),
            ("STACKCTL_AUTH_ISSUER", "https://i.example"),
            ("STACKCTL_AUTH_AUDIENCE", "api"),
        ],
        "sha",
    );
    let d = diff(&desired, "sha", Some(&before));
    let sent = d.config.expect("the variables change");
    assert_eq!(
        sent.environment.keys().collect::<Vec<_>>(),
        ["TABLE_NAME", "THEIRS"]
    );
    let removed: Vec<&str> = d
        .changes
        .iter()
        .filter(|c| c.op == Op::Remove)
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(
        removed,
        [
            "environment.STACKCTL_AUTH_AUDIENCE",
            "environment.STACKCTL_AUTH_ISSUER"
        ]
    );
    // stackctl's own: shown with the value it had set.
    assert!(d
        .changes
        .iter()
        .any(|c| c.field == "environment.STACKCTL_AUTH_ISSUER"
            && c.before.as_deref() == Some("https://i.example")));
    // Still wanted: kept as they are, nothing to send.
    let wanted = config(&[
        ("TABLE_NAME", "t"),
        ("STACKCTL_AUTH_ISSUER", "https://i.example"),
        ("STACKCTL_AUTH_AUDIENCE", "api"),
    ]);
    let d = diff(&wanted, "sha", Some(&before));
    assert!(d.config.is_none(), "{:?}", d.changes);
}

/// `[auth] cognito = true`: the declared environment leaves the managed pool's variables to the caller, who
/// reads them from the deployed pool (dev, invoke/smoke --local: tests/cli/cognito_users.rs).
#[test]
fn the_declared_environment_leaves_the_managed_pools_variables_to_the_live_read() {
    let stack = crate::resources::managed_stack();
    let account = Account::from_arn("arn:aws:iam::123456789012:role/r").unwrap();
    let function = stack.chosen_function();
    let without =
        declared_environment_without_managed_auth(&stack, &function, &account, None, None).unwrap();
    assert!(!without.keys().any(|k| k.starts_with("STACKCTL_AUTH_")));
}
