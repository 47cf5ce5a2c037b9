//! `stackctl down`: a preview without --confirm, a complete teardown with it, idempotent.

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn down_without_confirm_changes_nothing_and_down_confirm_leaves_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    assert!(emulator.writes_since(mark).is_empty());
    for name in [TABLE, ROLE, POLICY, FUNCTION] {
        assert!(
            preview.stdout.contains(&format!("{name}: delete")),
            "{name} missing from preview:\n{}",
            preview.stdout
        );
    }
    assert!(
        preview.stderr.contains("down --confirm"),
        "{}",
        preview.stderr
    );

    emulator.strict().clear_log();
    let run = project.stackctl(&["down", "--confirm"]);
    run.ok();
    assert!(run.stdout.contains("down: 5 deleted"), "{}", run.stdout);
    // Order is the point: no delete was sent before what it depends on was gone (a refused one would be
    // in the proxy's record of requests, and in its injection log).
    assert_eq!(
        emulator.strict().injected_count("DeleteConflict"),
        0,
        "{:?}",
        emulator.strict().injected()
    );

    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
    let aws = emulator.clients().await;
    // AWS-managed policies are never touched.
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(BASIC_EXECUTION)
        .send()
        .await
        .is_ok());

    // The teardown followed the order real AWS requires (moto would accept any order).
    let ops: Vec<String> = emulator.writes_since(mark);
    let position = |op: &str| {
        ops.iter()
            .position(|o| o == op)
            .unwrap_or_else(|| panic!("{op} not called: {ops:?}"))
    };
    assert!(position("DetachRolePolicy") < position("DeletePolicy"));
    assert!(position("DeletePolicy") < position("DeleteRole"));

    let again = project.stackctl(&["down", "--confirm"]);
    again.ok();
    assert!(
        again.stdout.contains("nothing to delete"),
        "{}",
        again.stdout
    );
    let preview_of_nothing = project.stackctl(&["down"]);
    preview_of_nothing.ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn down_deletes_old_policy_versions_before_the_policy() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    project.edit(
        "policies/lambda-dynamodb-policy.json",
        "\"dynamodb:UpdateItem\"",
        "\"dynamodb:UpdateItem\", \"dynamodb:Scan\"",
    );
    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();
    emulator.strict().clear_log();
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(
        emulator.strict().injected_count("DeleteConflict"),
        0,
        "{:?}",
        emulator.strict().injected()
    );
    let ops = emulator.writes_since(mark);
    let version = ops
        .iter()
        .position(|o| o == "DeletePolicyVersion")
        .expect("DeletePolicyVersion");
    let policy = ops
        .iter()
        .position(|o| o == "DeletePolicy")
        .expect("DeletePolicy");
    assert!(version < policy, "{ops:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_not_created_by_the_stack_is_left_alone() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let arn = aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    aws.dynamodb
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("stackctl:stack")
        .send()
        .await
        .unwrap();
    let run = project.stackctl(&["down", "--confirm"]);
    run.ok();
    assert!(
        run.stdout.contains("not created by this stack"),
        "{}",
        run.stdout
    );
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(TABLE)
            .send()
            .await
            .is_ok(),
        "the table was deleted"
    );
}

/// A table with data is never deleted by surprise: down refuses, --backup exports every item (all types)
/// before deleting, restore brings them back, --delete-data deletes without a backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_items_needs_backup_or_delete_data() {
    use aws_sdk_dynamodb::primitives::Blob;
    use aws_sdk_dynamodb::types::AttributeValue as V;
    use std::collections::HashMap;

    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let mut originals = Vec::new();
    for i in 0..30 {
        let item = HashMap::from([
            ("userId".to_string(), V::S(format!("user-{}", i % 3))),
            ("itemId".to_string(), V::S(format!("item-{i:03}"))),
            ("n".to_string(), V::N(format!("{i}.5"))),
            ("b".to_string(), V::B(Blob::new(vec![0, i as u8, 255]))),
            ("tags".to_string(), V::Ss(vec!["a".into(), format!("t{i}")])),
            (
                "nested".to_string(),
                V::M(HashMap::from([
                    ("ok".to_string(), V::Bool(i % 2 == 0)),
                    ("none".to_string(), V::Null(true)),
                ])),
            ),
            (
                "list".to_string(),
                V::L(vec![V::N("1".into()), V::S("two".into())]),
            ),
        ]);
        aws.dynamodb
            .put_item()
            .table_name(TABLE)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
        originals.push(item);
    }

    let mark = emulator.mark();
    let refused = project.stackctl(&["down", "--confirm"]);
    refused.expect_code(1);
    // One read of at most one item says it holds items; how many is DynamoDB's estimate (moto's is exact).
    assert!(
        refused.stderr.contains(
            "the table holds items (about 30 by DynamoDB's estimate, refreshed about every six hours)"
        ),
        "{}",
        refused.stderr
    );
    // The snapshot is offered first, then the file, then deleting the items.
    let offer = |flag: &str| {
        refused
            .stderr
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} not offered: {}", refused.stderr))
    };
    assert!(offer("--snapshot") < offer("--backup <file>"));
    assert!(offer("--backup <file>") < offer("--delete-data"));
    assert!(
        emulator.writes_since(mark).is_empty(),
        "nothing may be deleted: {:?}",
        emulator.writes_since(mark)
    );
    let preview = project.stackctl(&["down"]);
    assert!(
        preview
            .stdout
            .contains("table my-frontend-app-data: blocked"),
        "{}",
        preview.stdout
    );

    let backup = project.path("items.jsonl");
    let run = project.stackctl(&["down", "--confirm", "--backup", "items.jsonl"]);
    run.ok();
    assert!(
        run.stdout.contains("backed up and deleted"),
        "{}",
        run.stdout
    );
    let lines = std::fs::read_to_string(&backup).unwrap();
    assert_eq!(
        lines.lines().count(),
        32,
        "a header, 30 items and an end line"
    );
    assert!(
        aws.dynamodb
            .describe_table()
            .table_name(TABLE)
            .send()
            .await
            .is_err(),
        "table should be gone"
    );

    project.stackctl(&["up"]).ok();
    let restored = project.stackctl(&["restore", "items.jsonl"]);
    restored.ok();
    assert!(
        restored.stdout.contains("restore: 30 items"),
        "{}",
        restored.stdout
    );
    let mut scanned = aws
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec();
    scanned.sort_by_key(|i| format!("{:?}", i["itemId"]));
    assert_eq!(
        scanned, originals,
        "every attribute of every item must come back as it was"
    );

    let deleted = project.stackctl(&["down", "--confirm", "--delete-data"]);
    deleted.ok();
    assert!(
        deleted
            .stdout
            .contains("with its items (about 30 by DynamoDB's estimate"),
        "{}",
        deleted.stdout
    );
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

/// `deletion_protection = true` turns DynamoDB's protection on; down then refuses and says how to turn it
/// off; turning it off in stack.toml is an update like any other.
#[tokio::test(flavor = "multi_thread")]
async fn deletion_protection_is_applied_and_honoured() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "billing_mode = \"PAY_PER_REQUEST\"",
        "billing_mode = \"PAY_PER_REQUEST\"\ndeletion_protection = true",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let table = aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled(), Some(true));

    let mark = emulator.mark();
    let refused = project.stackctl(&["down", "--confirm"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("deletion protection is on"),
        "{}",
        refused.stderr
    );
    assert!(emulator.writes_since(mark).is_empty());

    project.edit(
        "stack.toml",
        "billing_mode = \"PAY_PER_REQUEST\"\ndeletion_protection = true",
        "billing_mode = \"PAY_PER_REQUEST\"\ndeletion_protection = false",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("~ deletion_protection: true -> false"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["UpdateTable"]);
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}
