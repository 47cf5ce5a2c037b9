//! `restore --snapshot` and `backups`: DynamoDB's own backups of the stack's table. The backups are made here
//! with the SDK (CreateBackup through the proxy), as a user or `down --snapshot` would have made them.

use aws_sdk_dynamodb::types::BillingMode;

use crate::support::*;

const OTHER_STAGE_TABLE: &str = "my-frontend-app-data-pr-1";

/// The table `name` with the stack's key schema, tagged as `stage`'s of the stack (None: unstaged), ACTIVE.
async fn make_table(aws: &Clients, name: &str, stage: Option<&str>) {
    let mut request = tagged_stack_table(&aws.dynamodb, "my-frontend-app").table_name(name);
    if let Some(stage) = stage {
        request = request.tags(table_tag("stackctl:stage", stage));
    }
    request.send().await.unwrap();
    wait_for_table(aws, name).await;
}

/// Until DescribeTable says ACTIVE (the proxy answers CREATING for a while; a deadline only stops a hung run).
async fn wait_for_table(aws: &Clients, name: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .ok()
            .and_then(|o| o.table().and_then(|t| t.table_status().cloned()));
        if status.as_ref().is_some_and(|s| s.as_str() == "ACTIVE") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{name}: {status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// CreateBackup through the proxy, as a user (or `down --snapshot`) would, then DescribeBackup until it is
/// AVAILABLE (AWS answers CREATING for a while; a deadline only stops a hung run): the backup's ARN.
async fn backup(aws: &Clients, table: &str, name: &str) -> String {
    let arn = aws
        .dynamodb
        .create_backup()
        .table_name(table)
        .backup_name(name)
        .send()
        .await
        .unwrap()
        .backup_details()
        .unwrap()
        .backup_arn()
        .to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let described = aws
            .dynamodb
            .describe_backup()
            .backup_arn(&arn)
            .send()
            .await
            .unwrap();
        let status = described
            .backup_description()
            .and_then(|d| d.backup_details())
            .map(|d| d.backup_status().as_str().to_string());
        if status.as_deref() == Some("AVAILABLE") {
            return arn;
        }
        assert!(std::time::Instant::now() < deadline, "{arn}: {status:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Deletes `table` through the proxy (as `down` would have, earlier) and waits until it is gone (a deadline
/// only stops a hung run): the backups stay.
async fn drop_table(emulator: &Emulator, table: &str) {
    let aws = emulator.clients().await;
    aws.dynamodb
        .delete_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while table_exists(&aws, table).await {
        assert!(std::time::Instant::now() < deadline, "{table} not deleted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn sorted(mut keys: Vec<(String, String)>) -> Vec<(String, String)> {
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_restored_by_arn_or_name_brings_the_items_and_the_stacks_tags_back_and_up_adopts_nothing(
) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    put_items(&aws, TABLE, 3, 0).await;
    let before = sorted(item_keys(&aws.dynamodb, TABLE).await);
    let stack_tags = table_tags(&aws, TABLE).await;
    let arn = backup(&aws, TABLE, "nightly").await;
    drop_table(&emulator, TABLE).await;

    let restore = project.stackctl(&["restore", "--snapshot", &arn, "--output", "json"]);
    restore.ok();
    let json = restore.json();
    assert_eq!(json["command"], "restore");
    assert_eq!(json["table"], TABLE);
    assert_eq!(
        json["table_arn"],
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}")
    );
    assert_eq!(json["backup"]["arn"], arn.as_str());
    assert_eq!(json["backup"]["name"], "nightly");
    assert_eq!(json["backup"]["table"], TABLE);
    assert_eq!(json["backup"]["type"], "USER");
    assert_eq!(json["backup"]["status"], "AVAILABLE");
    assert_eq!(json["items"], 3);
    assert_eq!(
        json["not_restored"],
        serde_json::json!([
            "deletion_protection",
            "point_in_time_recovery",
            "time_to_live"
        ])
    );
    assert!(json["duration_ms"].is_u64());
    assert_eq!(sorted(item_keys(&aws.dynamodb, TABLE).await), before);
    assert_eq!(
        table_tags(&aws, TABLE).await,
        stack_tags,
        "the stack's tags, again"
    );

    // `up` finds the stack's own table: nothing to adopt, nothing to change.
    // The table has stack.toml's billing mode (BillingModeOverride; the strict proxy applies it, as AWS does).
    let described = aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described
            .table()
            .and_then(|t| t.billing_mode_summary())
            .and_then(|b| b.billing_mode().cloned()),
        Some(BillingMode::PayPerRequest)
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let table = up.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "table")
        .cloned()
        .unwrap();
    assert_eq!(table["action"], "no_op", "{table}");
    let dynamodb_writes: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.service == "dynamodb" && r.write)
        .map(|r| r.operation)
        .collect();
    assert!(dynamodb_writes.is_empty(), "{dynamodb_writes:?}");

    // By its name, in text.
    drop_table(&emulator, TABLE).await;
    let restore = project.stackctl(&["restore", "--snapshot", "nightly"]);
    restore.ok();
    assert!(
        restore.stdout.contains(&format!(
            "table {TABLE} restored from backup nightly ({arn})"
        )),
        "{}",
        restore.stdout
    );
    assert!(
        restore.stdout.contains("run `stackctl up` to set them"),
        "{}",
        restore.stdout
    );
    assert_eq!(sorted(item_keys(&aws.dynamodb, TABLE).await), before);
    assert_eq!(table_tags(&aws, TABLE).await, stack_tags);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_is_not_restored_over_an_existing_table_and_nothing_changes() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    make_table(&aws, TABLE, None).await;
    put_items(&aws, TABLE, 2, 0).await;
    let arn = backup(&aws, TABLE, "before-change").await;
    put_items(&aws, TABLE, 4, 0).await;

    let mark = emulator.mark();
    let run = project.stackctl(&["restore", "--snapshot", &arn]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("table `{TABLE}` exists (ACTIVE)")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("down --confirm"), "{}", run.stderr);
    assert!(run.stderr.contains("--stage"), "{}", run.stderr);
    // Only the read that found the table: no backup call, no write.
    let ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert_eq!(ops, ["DescribeTable"]);
    assert_eq!(item_keys(&aws.dynamodb, TABLE).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn another_stages_backup_is_restored_only_with_allow_other_source() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    make_table(&aws, OTHER_STAGE_TABLE, Some("pr-1")).await;
    put_items(&aws, OTHER_STAGE_TABLE, 2, 0).await;
    let arn = backup(&aws, OTHER_STAGE_TABLE, "pr-1-nightly").await;

    // By ARN: refused from the ARN alone, before anything is sent.
    let mark = emulator.mark();
    let run = project.stackctl(&["restore", "--snapshot", &arn]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "the backup was taken from table `{OTHER_STAGE_TABLE}`, not from this stack's table `{TABLE}`"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--allow-other-source"),
        "{}",
        run.stderr
    );
    assert!(emulator.requests_since(mark).is_empty());
    // By name: this stage's table has no backup of that name.
    let run = project.stackctl(&["restore", "--snapshot", "pr-1-nightly"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(&format!(
            "table `{TABLE}` has no backup named `pr-1-nightly`"
        )),
        "{}",
        run.stderr
    );
    assert!(emulator.writes_since(mark).is_empty());

    // Asked for: restored into this stack's table name, tagged as this (unstaged) deployment's.
    let run = project.stackctl(&[
        "restore",
        "--snapshot",
        &arn,
        "--allow-other-source",
        "--output",
        "json",
    ]);
    run.ok();
    assert_eq!(run.json()["backup"]["table"], OTHER_STAGE_TABLE);
    assert_eq!(item_keys(&aws.dynamodb, TABLE).await.len(), 2);
    let tags = table_tags(&aws, TABLE).await;
    assert_eq!(tags["stackctl:stack"], "my-frontend-app");
    assert!(!tags.contains_key("stackctl:stage"), "{tags:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_name_two_backups_share_is_refused_with_both_arns_and_a_wrong_region_sends_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    make_table(&aws, TABLE, None).await;
    let first = backup(&aws, TABLE, "weekly").await;
    let second = backup(&aws, TABLE, "weekly").await;
    drop_table(&emulator, TABLE).await;

    let mark = emulator.mark();
    let run = project.stackctl(&["restore", "--snapshot", "weekly"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains(&format!("2 backups of table `{TABLE}` are named `weekly`")),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(&first), "{}", run.stderr);
    assert!(run.stderr.contains(&second), "{}", run.stderr);
    assert!(emulator.writes_since(mark).is_empty());

    // A backup of another region: said, and nothing sent.
    let mark = emulator.mark();
    let elsewhere = first.replace(":us-east-1:", ":eu-west-1:");
    let run = project.stackctl(&["restore", "--snapshot", &elsewhere]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("is in region eu-west-1, the stack is in us-east-1"),
        "{}",
        run.stderr
    );
    assert!(emulator.requests_since(mark).is_empty());

    // Neither a name nor an ARN, or FILE with --snapshot: usage errors, nothing sent.
    for args in [
        &["restore", "--snapshot", "a b"][..],
        &["restore", "--snapshot", "arn:aws:s3:::bucket"][..],
        &["restore", "items.jsonl", "--snapshot", "weekly"][..],
        &["restore", "--snapshot", "weekly", "--overwrite"][..],
        &["restore"][..],
    ] {
        project.stackctl(args).expect_code(64);
    }
    assert!(emulator.requests_since(mark).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn backups_lists_this_stages_backups_newest_first_in_text_and_json() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;

    // None yet, and no table: exit 0, said.
    let none = project.stackctl(&["backups"]);
    none.ok();
    assert!(
        none.stdout
            .contains(&format!("no backups of table {TABLE}")),
        "{}",
        none.stdout
    );
    let none = project.stackctl(&["backups", "--output", "json"]);
    none.ok();
    assert_eq!(none.json()["backups"], serde_json::json!([]));
    assert_eq!(none.json()["table"], TABLE);

    make_table(&aws, TABLE, None).await;
    make_table(&aws, OTHER_STAGE_TABLE, Some("pr-1")).await;
    let older = backup(&aws, TABLE, "first").await;
    // Creation times are kept to the millisecond: make the second one later.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let newer = backup(&aws, TABLE, "second").await;
    backup(&aws, OTHER_STAGE_TABLE, "other-stage").await;
    // Backups outlive the table.
    drop_table(&emulator, TABLE).await;

    let json = project.stackctl(&["backups", "--output", "json"]);
    json.ok();
    let json = json.json();
    assert_eq!(json["command"], "backups");
    let rows = json["backups"].as_array().unwrap();
    let arns: Vec<&str> = rows.iter().map(|r| r["arn"].as_str().unwrap()).collect();
    assert_eq!(arns, [newer.as_str(), older.as_str()]);
    for row in rows {
        assert_eq!(row["table"], TABLE);
        assert_eq!(row["type"], "USER");
        assert_eq!(row["status"], "AVAILABLE");
        assert!(row["size_bytes"].is_i64(), "{row}");
        assert!(row["created"].as_str().unwrap().ends_with('Z'), "{row}");
        assert!(row["expires"].is_null(), "{row}");
    }
    let text = project.stackctl(&["backups"]);
    text.ok();
    assert!(
        text.stdout.contains(&format!("backups of table {TABLE}")),
        "{}",
        text.stdout
    );
    let second = text.stdout.find(&newer).unwrap();
    let first = text.stdout.find(&older).unwrap();
    assert!(second < first, "newest first:\n{}", text.stdout);
    assert!(!text.stdout.contains("other-stage"), "{}", text.stdout);

    // The other stage sees its own.
    let other = project.stackctl(&["--stage", "pr-1", "backups", "--output", "json"]);
    other.ok();
    let other = other.json();
    let names: Vec<&str> = other["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["other-stage"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_needs_restore_table_from_backup_on_the_backup_and_the_item_actions_on_the_table()
{
    // AWS authorizes RestoreTableFromBackup on the backup and the new table, and requires read and write
    // item actions on the new table (backuprestore_IAM.html); the emulator's IAM enforcement asks the same, so
    // a policy missing either is refused exactly that, and nothing is made.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    make_table(&aws, TABLE, None).await;
    let arn = backup(&aws, TABLE, "nightly").await;
    drop_table(&emulator, TABLE).await;
    let table_arn = format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}");
    for (user, action, resource) in [
        (
            "no-restore",
            "dynamodb:RestoreTableFromBackup",
            arn.as_str(),
        ),
        ("no-put-item", "dynamodb:PutItem", table_arn.as_str()),
    ] {
        let keys = emulator.user(user, &[operator_policy_without(action)]);
        let run = project.run_as(&keys, &["restore", "--snapshot", &arn]);
        run.expect_code(1);
        assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);
        let denied = emulator.denials_of(&keys);
        assert_eq!(denied.len(), 1, "{denied:#?}");
        assert_eq!(denied[0]["action"], action);
        assert_eq!(denied[0]["resource"], resource);
        assert!(
            !table_exists(&aws, TABLE).await,
            "{user}: the table was made"
        );
    }
    // The operator policy itself restores it.
    project.stackctl(&["restore", "--snapshot", &arn]).ok();
}

/// Review finding (fixa27): backups are found by their table's name, which anyone who can make a table of
/// that name can also back up, so the help recommends the ARN `down --snapshot` printed, never `.backups[0]`.
#[test]
fn the_help_recommends_restoring_the_arn_down_printed_not_the_newest_backup() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    for command in ["backups", "restore"] {
        let help = project.stackctl(&[command, "--help"]);
        help.expect_code(0);
        assert!(!help.stdout.contains(".backups[0]"), "{}", help.stdout);
        assert!(help.stdout.contains("the ARN"), "{}", help.stdout);
        assert!(help.stdout.contains("found by"), "{}", help.stdout);
    }
}
