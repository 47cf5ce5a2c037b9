//! The table's protection settings as `plan`, `status` and `up` see them: `[table] point_in_time_recovery`
//! (set at create, drift found and fixed, its period changed, turned off; no call at all without the key),
//! deletion protection drifting both ways, and `[stages.<name>] protected = true` refusing `down --confirm`
//! with nothing sent.

use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{PointInTimeRecoverySpecification, PointInTimeRecoveryStatus};

use crate::support::*;

const BILLING: &str = "billing_mode = \"PAY_PER_REQUEST\"";

/// The table's point-in-time recovery as DynamoDB reports it: None when off, else its period.
async fn recovery_of(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Option<i32> {
    let out = dynamodb
        .describe_continuous_backups()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let pitr = out
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .unwrap();
    (pitr.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled))
        .then(|| pitr.recovery_period_in_days().unwrap_or(35))
}

async fn protection_of(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Option<bool> {
    let out = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap();
    out.table().unwrap().deletion_protection_enabled()
}

/// Every DynamoDB continuous-backups call since `mark`.
fn backup_calls(emulator: &Emulator, mark: u64) -> Vec<String> {
    emulator
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.operation.contains("ContinuousBackups"))
        .map(|r| r.operation)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn point_in_time_recovery_is_set_at_create_its_drift_found_and_fixed_and_its_period_changed()
{
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        BILLING,
        &format!("{BILLING}\npoint_in_time_recovery = 35"),
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("+ point_in_time_recovery: 35 days"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, Some(35));
    let mark = emulator.mark();
    project.stackctl(&["status"]).ok();
    assert_eq!(
        backup_calls(&emulator, mark),
        ["DescribeContinuousBackups"],
        "status reads it once"
    );

    // Someone turns it off behind the stack's back: status and plan say so, up turns it back on.
    aws.dynamodb
        .update_continuous_backups()
        .table_name(TABLE)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(false)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let status = project.stackctl(&["status"]);
    status.expect_code(2);
    assert!(
        status
            .stdout
            .contains("~ point_in_time_recovery: off -> 35 days"),
        "{}",
        status.stdout
    );
    let json = project.stackctl(&["status", "--output", "json"]).json();
    let table = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "table")
        .unwrap()
        .clone();
    assert_eq!(table["state"]["point_in_time_recovery"], "off", "{table}");
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateContinuousBackups"]);
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, Some(35));
    project.stackctl(&["status"]).ok();

    // A shorter period is a change of its own (no UpdateTable: nothing else differs).
    project.edit(
        "stack.toml",
        "\npoint_in_time_recovery = 35",
        "\npoint_in_time_recovery = 7",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ point_in_time_recovery: 35 days -> 7 days"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateContinuousBackups"]);
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, Some(7));

    // `false` turns it off; then a second up changes nothing.
    project.edit(
        "stack.toml",
        "\npoint_in_time_recovery = 7",
        "\npoint_in_time_recovery = false",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ point_in_time_recovery: 7 days -> off"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, None);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    project.stackctl(&["down", "--confirm"]).ok();
}

/// Without the key, point-in-time recovery is not stackctl's: plan, up, status and down never ask for it,
/// and what the table has is left as it is.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_key_no_continuous_backups_call_is_made() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    project.stackctl(&["plan"]).expect_code(2);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    aws.dynamodb
        .update_continuous_backups()
        .table_name(TABLE)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .recovery_period_in_days(3)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let after_test_call = emulator.mark();
    project.stackctl(&["status"]).ok();
    project.stackctl(&["up"]).ok();
    project.stackctl(&["down"]).expect_code(3);
    assert_eq!(
        backup_calls(&emulator, mark),
        ["UpdateContinuousBackups"],
        "only the test's own call"
    );
    assert_eq!(
        backup_calls(&emulator, after_test_call),
        Vec::<String>::new()
    );
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, Some(3));
}

/// Deletion protection is compared both ways: turned on behind the stack's back while the file says false,
/// and turned off while the file says true; status exits 2 and up puts it back with one UpdateTable.
#[tokio::test(flavor = "multi_thread")]
async fn deletion_protection_drift_is_found_and_fixed_both_ways() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let set = |on: bool| {
        let dynamodb = aws.dynamodb.clone();
        async move {
            dynamodb
                .update_table()
                .table_name(TABLE)
                .deletion_protection_enabled(on)
                .send()
                .await
                .unwrap();
            // Drift is what stays: the table ACTIVE again (while UPDATING, up only waits).
            dynamodb
                .wait_until_table_exists()
                .table_name(TABLE)
                .wait(std::time::Duration::from_secs(60))
                .await
                .unwrap();
        }
    };
    let drift = |from: &str, to: &str| {
        let status = project.stackctl(&["status"]);
        status.expect_code(2);
        let line = format!("~ deletion_protection: {from} -> {to}");
        assert!(status.stdout.contains(&line), "{}", status.stdout);
        let plan = project.stackctl(&["plan"]);
        plan.expect_code(2);
        assert!(plan.stdout.contains(&line), "{}", plan.stdout);
    };

    set(true).await;
    drift("true", "false");
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateTable"]);
    assert_eq!(protection_of(&aws.dynamodb, TABLE).await, Some(false));
    project.stackctl(&["status"]).ok();

    project.edit(
        "stack.toml",
        BILLING,
        &format!("{BILLING}\ndeletion_protection = true"),
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(protection_of(&aws.dynamodb, TABLE).await, Some(true));
    set(false).await;
    drift("false", "true");
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateTable"]);
    assert_eq!(protection_of(&aws.dynamodb, TABLE).await, Some(true));
    project.stackctl(&["status"]).ok();
}

/// A table the stack did not create, with another recovery period than the file's: up changes nothing on it.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_tables_recovery_is_never_changed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    create_stack_table(&aws.dynamodb)
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    aws.dynamodb
        .wait_until_table_exists()
        .table_name(TABLE)
        .wait(std::time::Duration::from_secs(60))
        .await
        .unwrap();
    project.edit(
        "stack.toml",
        BILLING,
        &format!("{BILLING}\npoint_in_time_recovery = 35"),
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ point_in_time_recovery: off -> 35 days")
            && plan.stdout.contains("not created by this stack"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).expect_code(1);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(recovery_of(&aws.dynamodb, TABLE).await, None);
}

/// The shipped `prod` stage turns deletion protection and 35 days of recovery on. Declared `protected`, its
/// `down --confirm` is refused before any request (exit 64, the file's line, the key and the fix), while
/// `down` still previews, with the note, and the other commands run.
#[tokio::test(flavor = "multi_thread")]
async fn a_protected_stage_refuses_down_confirm_with_nothing_sent() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["--stage", "prod", "up"]).ok();
    let aws = emulator.clients().await;
    let table = format!("{TABLE}-prod");
    assert_eq!(recovery_of(&aws.dynamodb, &table).await, Some(35));
    assert_eq!(protection_of(&aws.dynamodb, &table).await, Some(true));

    project.edit(
        "stack.toml",
        "stages.prod = { ",
        "stages.prod = { protected = true, ",
    );
    let mark = emulator.mark();
    let refused = project.stackctl(&["--stage", "prod", "down", "--confirm", "--delete-data"]);
    refused.expect_code(64);
    assert_eq!(refused.stdout, "");
    for part in [
        "stack.toml:3:",
        "`stages.prod.protected`",
        "stage `prod` is protected",
        "fix: remove `protected = true` from [stages.prod] (or set it false) to tear this stage down",
    ] {
        assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
    }
    assert_eq!(
        emulator.requests_since(mark).len(),
        0,
        "{:?}",
        emulator.requests_since(mark)
    );

    let preview = project.stackctl(&["--stage", "prod", "down"]);
    preview.expect_code(3);
    assert!(
        preview
            .stderr
            .contains("this stage is protected (`stages.prod.protected` at stack.toml:3:29): `down --confirm` refuses it"),
        "{}",
        preview.stderr
    );
    assert!(preview.stdout.contains(&table), "{}", preview.stdout);
    project.stackctl(&["--stage", "prod", "status"]).ok();
    // Another stage of the same file is not protected.
    project
        .stackctl(&["--stage", "pr-1", "down", "--confirm"])
        .ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}
