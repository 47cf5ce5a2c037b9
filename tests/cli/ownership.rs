//! Ownership where the emulator cannot tell: IAM is global (one role serves every region), a same-named
//! resource the stack did not create is never changed beyond the documented adoption changes, and a table
//! whose tags are not found while it is CREATING is still recognised as the stack's.

use serde_json::json;

use crate::support::strict;
use crate::support::*;

async fn role_and_policy_exist(emulator: &Emulator) -> (bool, bool) {
    let aws = emulator.moto_clients().await;
    let role = aws.iam.get_role().role_name(ROLE).send().await.is_ok();
    let policy = aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_ok();
    (role, policy)
}

/// The same stack file run with `--region us-west-2` finds the us-east-1 deployment's role and policy (IAM
/// is global, the tags are the same): it never changes or deletes them, plan says why and how to fix it,
/// and with region-specific IAM names both regions live side by side and go down independently.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_region_never_takes_over_the_first_regions_iam() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    let plan = project.stackctl(&["plan", "--region", "us-west-2"]);
    assert!(
        plan.stdout
            .contains("role my-frontend-app-lambda-role: blocked"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("owned by this stack's deployment in region `us-east-1`"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("role.name = \"my-frontend-app-lambda-role-us-west-2\""),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--region", "us-west-2"]);
    up.expect_code(1);
    assert!(up.stderr.contains("nothing was changed"), "{}", up.stderr);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    let down = project.stackctl(&["down", "--confirm", "--region", "us-west-2"]);
    down.ok();
    assert_eq!(
        emulator.writes_since(mark),
        Vec::<String>::new(),
        "down in us-west-2 touched the us-east-1 deployment's IAM"
    );
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));
    project.stackctl(&["status"]).expect_code(0);

    // The fix plan names: a second deployment with its own IAM names.
    let west = Project::new(&emulator);
    west.edit(
        "stack.toml",
        "name = \"my-frontend-app-lambda-role\"",
        "name = \"my-frontend-app-lambda-role-us-west-2\"",
    );
    west.edit(
        "stack.toml",
        "name = \"MyFrontendAppLambdaDynamoDB\"",
        "name = \"MyFrontendAppLambdaDynamoDB-us-west-2\"",
    );
    west.stackctl(&["up", "--region", "us-west-2"]).ok();
    west.stackctl(&["status", "--region", "us-west-2"])
        .expect_code(0);
    project.stackctl(&["status"]).expect_code(0);
    west.stackctl(&["down", "--confirm", "--region", "us-west-2"])
        .ok();
    project.stackctl(&["status"]).expect_code(0);
    assert_eq!(role_and_policy_exist(&emulator).await, (true, true));
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(role_and_policy_exist(&emulator).await, (false, false));
}

/// A same-named table the stack did not create, with other settings (provisioned, deletion protection on):
/// `up` does not switch it to on-demand nor turn its protection off; it stops before any write and says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_table_with_other_settings_is_never_updated() {
    use aws_sdk_dynamodb::types::{BillingMode, ProvisionedThroughput};
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    create_stack_table(&moto.dynamodb)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains("table my-frontend-app-data: blocked"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("not created by this stack"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let table = moto
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled(), Some(true));
    // Still provisioned (a BillingModeSummary, when there is one, says PROVISIONED).
    assert!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .is_none_or(|b| b.as_str() == "PROVISIONED"),
        "{table:?}"
    );
    assert_eq!(
        table
            .provisioned_throughput()
            .and_then(|p| p.read_capacity_units()),
        Some(5)
    );
}

/// A same-named managed policy the stack did not create, with another document: `up` writes no new
/// default version (which would also delete its oldest one at five) and says why.
#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_policy_with_another_document_gets_no_new_version() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let moto = emulator.moto_clients().await;
    let document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::theirs/*"}]});
    moto.iam
        .create_policy()
        .policy_name(POLICY)
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains("does not write a new version"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let versions = moto
        .iam
        .list_policy_versions()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), 1);
}

/// `down` after an up killed while the table was CREATING, on an AWS whose ListTagsOfResource answers
/// ResourceNotFound for a CREATING table: the table is still recognised as the stack's (down waits for
/// ACTIVE and reads the tags again) and deleted, not kept as someone else's.
#[tokio::test(flavor = "multi_thread")]
async fn down_recognises_its_creating_table_whose_tags_are_not_found_yet() {
    let config = json!({"table_creating_ms": 3000, "describe_not_found_after_create": false,
                        "tags_not_found_while_creating": true});
    let emulator = Emulator::start_with(strict::merge(strict::realistic(), config), 8);
    let project = Project::new(&emulator);
    let up = project
        .command(&["up"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the up once the table has been created (it is CREATING for the next 3 s).
    let mut up = up;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !emulator
        .strict()
        .requests()
        .iter()
        .any(|r| r.operation == "CreateTable")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "up never created the table"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    up.kill().unwrap();
    up.wait().unwrap();
    emulator.strict().clear_log();
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert!(
        emulator
            .strict()
            .injected_by("ListTagsOfResource", "ResourceNotFoundException")
            > 0,
        "the tags were never 'not found': the test proves nothing"
    );
    let moto = emulator.moto_clients().await;
    let tables = moto.dynamodb.list_tables().send().await.unwrap();
    assert!(
        tables.table_names().is_empty(),
        "down kept its own table: {:?}\n{}",
        tables.table_names(),
        down.stdout
    );
}
