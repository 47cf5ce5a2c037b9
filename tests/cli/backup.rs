//! `down --backup` and `restore`: the backup is secured (a new file, a complete export, the items counted
//! again) before anything is deleted, and a backup is restored only where it came from, into an empty table,
//! and only when the file is complete.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as V;
use serde_json::{json, Value};

use crate::support::*;

const LOG_GROUP: &str = "/aws/lambda/my-frontend-app-api";

async fn count(aws: &Clients) -> i32 {
    aws.dynamodb
        .scan()
        .table_name(TABLE)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count()
}

/// Every resource `up` made is still there, and the table still holds `items` items.
async fn assert_nothing_deleted(aws: &Clients, items: i32) {
    assert_eq!(count(aws).await, items, "the table's items");
    assert!(
        aws.lambda
            .get_function()
            .function_name(FUNCTION)
            .send()
            .await
            .is_ok(),
        "the function was deleted"
    );
    assert!(
        aws.lambda
            .get_function_url_config()
            .function_name(FUNCTION)
            .send()
            .await
            .is_ok(),
        "the function URL was deleted"
    );
    assert!(
        aws.iam.get_role().role_name(ROLE).send().await.is_ok(),
        "the role was deleted"
    );
    assert!(
        aws.iam
            .get_policy()
            .policy_arn(policy_arn())
            .send()
            .await
            .is_ok(),
        "the policy was deleted"
    );
    let groups = aws
        .logs
        .describe_log_groups()
        .log_group_name_prefix(LOG_GROUP)
        .send()
        .await
        .unwrap();
    assert!(
        groups
            .log_groups()
            .iter()
            .any(|g| g.log_group_name() == Some(LOG_GROUP)),
        "the log group was deleted"
    );
}

/// `stackctl <args>` refused: exit 1, each of `parts` on stderr, and no write to AWS.
fn refused(emulator: &Emulator, project: &Project, args: &[&str], parts: &[&str]) {
    let mark = emulator.mark();
    let run = project.stackctl(args);
    run.expect_code(1);
    for part in parts {
        assert!(
            run.stderr.contains(part),
            "{args:?}: {part}: {}",
            run.stderr
        );
    }
    assert!(
        emulator.writes_since(mark).is_empty(),
        "{args:?}: {:?}",
        emulator.writes_since(mark)
    );
}

/// A project deployed with `up` and a URL (so that every kind of resource exists), its table holding
/// `items` items.
async fn deployed(emulator: &Emulator, items: usize) -> (Project, Clients) {
    let project = Project::new(emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    put_items(&aws, TABLE, items, 0).await;
    assert_nothing_deleted(&aws, items as i32).await;
    (project, aws)
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// Item 5: reusing a backup's name must never destroy the only copy of a deleted table.
#[tokio::test(flavor = "multi_thread")]
async fn down_never_overwrites_an_existing_backup_file() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;
    project.write("items.jsonl", "the only copy of another table\n");

    let preview = project.stackctl(&["down", "--backup", "items.jsonl"]);
    assert!(
        preview
            .stdout
            .contains("table my-frontend-app-data: blocked")
            && preview.stdout.contains("already exists"),
        "{}",
        preview.stdout
    );

    refused(
        &emulator,
        &project,
        &["down", "--confirm", "--backup", "items.jsonl"],
        &[
            "nothing was deleted",
            "`items.jsonl` already exists",
            "new file",
        ],
    );
    assert_eq!(
        project.read("items.jsonl"),
        "the only copy of another table\n"
    );
    assert_nothing_deleted(&aws, 3).await;
}

/// Item 6: a destination that cannot be written is found before the function, its URL, its log group
/// (with its events) or IAM are deleted.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_path_in_a_missing_directory_is_refused_before_anything_is_deleted() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;

    refused(
        &emulator,
        &project,
        &["down", "--confirm", "--backup", "/nonexistent/dir/x.jsonl"],
        &[
            "nothing was deleted",
            "`/nonexistent/dir` does not exist",
            "mkdir -p /nonexistent/dir",
        ],
    );
    assert_nothing_deleted(&aws, 3).await;
}

/// Item 7: an attribute of a type this stackctl's SDK does not know (a type newer than it) cannot be
/// backed up: down names the item and the attribute and deletes nothing, and leaves no backup file.
#[tokio::test(flavor = "multi_thread")]
async fn an_attribute_type_the_exporter_does_not_know_stops_down_before_anything_is_deleted() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;
    emulator.strict().set(json!({"scan_extra_attribute": {
        "table": TABLE, "attribute": "embedding", "value": {"VECTOR": [0.5, 1.5]}
    }}));

    refused(
        &emulator,
        &project,
        &["down", "--confirm", "--backup", "items.jsonl"],
        &[
            "nothing was deleted",
            "attribute `embedding`",
            "userId = \"user-",
            "does not know",
        ],
    );
    // Rewritten once per page holding items: one page per segment that holds any (8 segments by default).
    assert!(emulator.strict().injected_count("Items") >= 1);
    assert!(
        !project.path("items.jsonl").exists(),
        "a failed backup leaves no file"
    );
    emulator.strict().set(json!({"scan_extra_attribute": null}));
    assert_nothing_deleted(&aws, 3).await;
}

/// Item 7: a scan is not a snapshot. An item written, or deleted, while down pages through the table is
/// caught by counting again after the export: down refuses and deletes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_written_or_deleted_during_the_export_stops_down_before_anything_is_deleted() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;

    // Written right after the export's (only) page was read: the file holds 3 items, the table 4. One
    // segment, so that the page the write follows is the export's last (segments answer in any order).
    emulator.strict().set(json!({"scan_side_write": {
        "table": TABLE, "page": 1, "op": "PutItem",
        "request": {"Item": {"userId": {"S": "late"}, "itemId": {"S": "late"}}}
    }}));
    refused(
        &emulator,
        &project,
        &[
            "down",
            "--confirm",
            "--backup",
            "items.jsonl",
            "--segments",
            "1",
        ],
        &[
            "nothing was deleted",
            "now holds 4 items",
            "3 were backed up",
        ],
    );
    assert_eq!(emulator.strict().injected_count("side PutItem"), 1);
    assert!(!project.path("items.jsonl").exists());
    assert_nothing_deleted(&aws, 4).await;

    // Deleted during the export: the count is back to 3 only after the scan read the item.
    emulator.strict().set(json!({"scan_side_write": {
        "table": TABLE, "page": 1, "op": "DeleteItem",
        "request": {"Key": {"userId": {"S": "late"}, "itemId": {"S": "late"}}}
    }}));
    refused(
        &emulator,
        &project,
        &[
            "down",
            "--confirm",
            "--backup",
            "items.jsonl",
            "--segments",
            "1",
        ],
        &["now holds 3 items", "4 were backed up"],
    );
    assert_nothing_deleted(&aws, 3).await;
}

/// Item 7: the function still runs while the backup is made, so the items are counted once more right
/// before DeleteTable (once the function is gone): an item written after the backup keeps the table, and
/// the backup, which holds what the table held when it was made, is kept.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_written_after_the_backup_keeps_the_table() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;
    // COUNT scans (one segment): down's read (1, one item at most), the header's count (2), the recount
    // after the export (3), the one before DeleteTable (4). Written after the recount, so the recount agrees
    // with the file and only the last count sees it.
    emulator.strict().set(json!({"scan_side_write": {
        "table": TABLE, "select": "COUNT", "page": 3, "op": "PutItem",
        "request": {"Item": {"userId": {"S": "late"}, "itemId": {"S": "late"}}}
    }}));
    let mark = emulator.mark();
    let run = project.stackctl(&[
        "down",
        "--confirm",
        "--backup",
        "items.jsonl",
        "--segments",
        "1",
    ]);
    run.expect_code(1);
    assert_eq!(emulator.strict().injected_count("side PutItem"), 1);
    for part in [
        "now holds 4 items but 3 were backed up to `items.jsonl`",
        "the table was not deleted (the backup is kept)",
        "new --backup file",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    assert!(!emulator
        .writes_since(mark)
        .contains(&"DeleteTable".to_string()));
    assert_eq!(count(&aws).await, 4);
    let file = lines(&project.read("items.jsonl"));
    assert_eq!(file.len(), 5, "header, 3 items, end line");
    assert_eq!(
        file[4],
        json!({"format": "stackctl-backup-end", "items": 3})
    );
}

/// Item 8: down --backup writes a header (where the items came from) and an end line; up and restore bring
/// every item back; a second restore into the now non-empty table needs --overwrite.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_round_trips_through_down_up_and_restore() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 5).await;
    let mut before = aws
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec();

    let run = project.stackctl(&["down", "--confirm", "--backup", "items.jsonl"]);
    run.ok();
    assert!(
        run.stdout.contains("backed up and deleted"),
        "{}",
        run.stdout
    );
    let file = lines(&project.read("items.jsonl"));
    assert_eq!(file.len(), 7, "header, 5 items, end line");
    let header = &file[0];
    assert_eq!(header["format"], "stackctl-backup");
    assert_eq!(header["version"], 1);
    assert_eq!(header["stack"], "my-frontend-app");
    assert_eq!(header["stage"], Value::Null);
    assert_eq!(header["table"], TABLE);
    assert_eq!(header["region"], "us-east-1");
    assert_eq!(header["account"], ACCOUNT);
    assert_eq!(
        header["key_schema"],
        json!([{"name": "userId", "type": "S", "role": "HASH"}, {"name": "itemId", "type": "S", "role": "RANGE"}])
    );
    assert_eq!(header["items"], 5);
    assert!(
        humantime::parse_rfc3339(header["time"].as_str().unwrap()).is_ok(),
        "{header}"
    );
    assert_eq!(
        file[6],
        json!({"format": "stackctl-backup-end", "items": 5})
    );

    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();
    let restored = project.stackctl(&["restore", "items.jsonl"]);
    restored.ok();
    assert!(
        restored
            .stdout
            .contains("restore: 5 items into table my-frontend-app-data"),
        "{}",
        restored.stdout
    );
    assert_eq!(
        emulator
            .writes_since(mark)
            .iter()
            .filter(|op| *op == "BatchWriteItem")
            .count(),
        1
    );
    let mut after = aws
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec();
    let key = |i: &HashMap<String, V>| format!("{:?}", i["itemId"]);
    before.sort_by_key(key);
    after.sort_by_key(key);
    assert_eq!(after, before);

    refused(
        &emulator,
        &project,
        &["restore", "items.jsonl"],
        &["already holds items", "--overwrite"],
    );
    project
        .stackctl(&["restore", "items.jsonl", "--overwrite", "--output", "json"])
        .ok();
    assert_eq!(count(&aws).await, 5);
}

fn header(overrides: Value) -> Value {
    let mut header = json!({
        "format": "stackctl-backup", "version": 1, "stack": "my-frontend-app", "stage": null,
        "table": TABLE, "region": "us-east-1", "account": ACCOUNT,
        "key_schema": [{"name": "userId", "type": "S", "role": "HASH"}, {"name": "itemId", "type": "S", "role": "RANGE"}],
        "items": 2, "time": "2026-12-04T10:00:00Z"
    });
    for (k, v) in overrides.as_object().unwrap() {
        header[k] = v.clone();
    }
    header
}

const ITEMS: [&str; 2] = [
    r#"{"itemId":{"S":"a"},"userId":{"S":"u"}}"#,
    r#"{"itemId":{"S":"b"},"title":{"S":"t"},"userId":{"S":"u"}}"#,
];
const END: &str = r#"{"format":"stackctl-backup-end","items":2}"#;

fn file(header: &Value, end: Option<&str>) -> String {
    let mut text = format!("{header}\n{}\n{}\n", ITEMS[0], ITEMS[1]);
    if let Some(end) = end {
        text.push_str(end);
        text.push('\n');
    }
    text
}

/// Item 8: restore refuses, before writing anything, a backup of another table, stage, region or account
/// (unless --allow-other-source), one whose keys do not fit the table (always), an incomplete one, and an
/// old file without a header (unless --headerless).
#[tokio::test(flavor = "multi_thread")]
async fn restore_checks_where_a_backup_came_from_and_that_it_is_complete() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    create_stack_table(&moto.dynamodb)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let aws = emulator.clients().await;

    let refused = |name: &str, text: String, flags: &[&str], parts: &[&str]| {
        project.write(name, &text);
        let mut args = vec!["restore", name];
        args.extend_from_slice(flags);
        refused(&emulator, &project, &args, parts);
    };

    refused(
        "stage.jsonl",
        file(&header(json!({"stage": "prod"})), Some(END)),
        &[],
        &[
            "stage `prod`",
            "--allow-other-source",
            "nothing was restored",
        ],
    );
    refused(
        "table.jsonl",
        file(&header(json!({"table": "someone-elses"})), Some(END)),
        &[],
        &["table `someone-elses`", "--allow-other-source"],
    );
    refused(
        "account.jsonl",
        file(
            &header(json!({"account": "999999999999", "region": "eu-west-1"})),
            Some(END),
        ),
        &[],
        &[
            "account 999999999999",
            "region eu-west-1",
            "--allow-other-source",
        ],
    );
    refused(
        "keys.jsonl",
        file(
            &header(json!({"key_schema": [{"name": "id", "type": "N", "role": "HASH"}]})),
            Some(END),
        ),
        &["--allow-other-source"],
        &[
            "key schema",
            "id (N, HASH)",
            "userId (S, HASH), itemId (S, RANGE)",
        ],
    );
    refused(
        "truncated.jsonl",
        file(&header(json!({})), None),
        &[],
        &["incomplete", "no end line"],
    );
    refused(
        "short.jsonl",
        file(
            &header(json!({})),
            Some(r#"{"format":"stackctl-backup-end","items":3}"#),
        ),
        &[],
        &["end line says 3 items", "holds 2"],
    );
    refused(
        "newer.jsonl",
        file(&header(json!({"version": 2})), Some(END)),
        &[],
        &["format version 2", "upgrade stackctl"],
    );
    refused(
        "old.jsonl",
        format!("{}\n{}\n", ITEMS[0], ITEMS[1]),
        &[],
        &["no header", "--headerless"],
    );
    refused(
        "nokey.jsonl",
        format!(
            "{}\n{}\n{}\n{END}\n",
            header(json!({})),
            ITEMS[0],
            r#"{"title":{"S":"t"},"userId":{"S":"u"}}"#
        ),
        &[],
        &["nokey.jsonl:3", "`itemId`"],
    );
    assert_eq!(count(&aws).await, 0);

    // The same files restore with the flag that says so.
    project
        .stackctl(&["restore", "stage.jsonl", "--allow-other-source"])
        .ok();
    assert_eq!(count(&aws).await, 2);
    moto.dynamodb
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    create_stack_table(&moto.dynamodb)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let old = project.stackctl(&["restore", "old.jsonl", "--headerless"]);
    old.ok();
    assert!(old.stdout.contains("restore: 2 items"), "{}", old.stdout);
    assert_eq!(count(&aws).await, 2);
}

/// restore streams the file: a backup larger than one batch goes in batches of 25.
#[tokio::test(flavor = "multi_thread")]
async fn restore_writes_in_batches_of_25() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    create_stack_table(&moto.dynamodb)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let mut text = format!("{}\n", header(json!({"items": 60})));
    for i in 0..60 {
        text.push_str(&format!(
            "{{\"itemId\":{{\"S\":\"i{i}\"}},\"userId\":{{\"S\":\"u\"}}}}\n"
        ));
    }
    text.push_str(r#"{"format":"stackctl-backup-end","items":60}"#);
    text.push('\n');
    project.write("big.jsonl", &text);
    let mark = emulator.mark();
    project.stackctl(&["restore", "big.jsonl"]).ok();
    let batches = emulator
        .writes_since(mark)
        .into_iter()
        .filter(|op| op == "BatchWriteItem")
        .count();
    assert_eq!(batches, 3);
    assert_eq!(count(&emulator.clients().await).await, 60);
}

/// Items DynamoDB refuses in a BatchWriteItem (two puts of one key in a batch, a number of more than 38
/// digits, NULL false, an empty set, an empty key value, an item above 400 KB) are refused before anything is written, never half-way through.
#[tokio::test(flavor = "multi_thread")]
async fn restore_refuses_items_dynamodb_would_refuse_before_writing_anything() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    create_stack_table(&moto.dynamodb)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let aws = emulator.clients().await;
    let big = format!(
        r#"{{"itemId":{{"S":"n"}},"userId":{{"S":"u"}},"x":{{"S":"{}"}}}}"#,
        "x".repeat(400 * 1024)
    );
    let cases: [(&str, &str, &str); 6] = [
        ("big", &big, "big.jsonl:3"),
        (
            "dup",
            r#"{"itemId":{"S":"a"},"userId":{"S":"u"}}"#,
            "dup.jsonl:3",
        ),
        (
            "num",
            r#"{"itemId":{"S":"n"},"userId":{"S":"u"},"x":{"N":"1234567890123456789012345678901234567890"}}"#,
            "num.jsonl:3",
        ),
        (
            "null",
            r#"{"itemId":{"S":"n"},"userId":{"S":"u"},"x":{"NULL":false}}"#,
            "null.jsonl:3",
        ),
        (
            "set",
            r#"{"itemId":{"S":"n"},"userId":{"S":"u"},"x":{"SS":[]}}"#,
            "set.jsonl:3",
        ),
        (
            "emptykey",
            r#"{"itemId":{"S":""},"userId":{"S":"u"}}"#,
            "emptykey.jsonl:3",
        ),
    ];
    for (name, second, at) in cases {
        let file = format!("{name}.jsonl");
        project.write(
            &file,
            &format!("{}\n{}\n{second}\n{END}\n", header(json!({})), ITEMS[0]),
        );
        refused(&emulator, &project, &["restore", &file], &[at]);
        assert_eq!(count(&aws).await, 0, "{name}");
    }
}

/// A `down --confirm` that cannot delete the table (its backup file exists, or it holds items and neither
/// --backup nor --delete-data was given) exits 1 and says so, even when the table is all that is left of the
/// stack (e.g. after a down that kept the table because it changed after its backup): never exit 0 with a
/// preview, as if it had been done.
#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_table_fails_down_even_when_it_is_all_that_is_left() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    tagged_stack_table(&moto.dynamodb, "my-frontend-app")
        .send()
        .await
        .unwrap();
    put_items(&moto, TABLE, 3, 0).await;
    let aws = emulator.clients().await;
    project.write("items.jsonl", "the only copy\n");
    for (args, part) in [
        (
            &["down", "--confirm", "--backup", "items.jsonl"][..],
            "already exists",
        ),
        (&["down", "--confirm"][..], "--backup"),
    ] {
        refused(&emulator, &project, args, &["nothing was deleted", part]);
        assert_eq!(count(&aws).await, 3);
    }
    assert_eq!(project.read("items.jsonl"), "the only copy\n");
}

/// An item written between down's first count (the header's) and the export: the export and the count
/// after it agree (4), but the header says 3, so such a backup would be refused by restore. down stops,
/// deleting nothing and leaving no file.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_written_between_the_first_count_and_the_export_stops_down() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3).await;
    // COUNT scans (one segment): down's read (1), the header's count (2): written right after it.
    emulator.strict().set(json!({"scan_side_write": {
        "table": TABLE, "select": "COUNT", "page": 2, "op": "PutItem",
        "request": {"Item": {"userId": {"S": "late"}, "itemId": {"S": "late"}}}
    }}));
    refused(
        &emulator,
        &project,
        &[
            "down",
            "--confirm",
            "--backup",
            "items.jsonl",
            "--segments",
            "1",
        ],
        &["held 3 items when counted but 4 were read"],
    );
    assert_eq!(emulator.strict().injected_count("side PutItem"), 1);
    assert!(!project.path("items.jsonl").exists());
    assert_nothing_deleted(&aws, 4).await;
}
