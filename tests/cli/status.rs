//! `stackctl status` and `plan`: read-only, exit 0 when in sync and 2 on drift or pending changes.

use aws_sdk_lambda::types::Environment;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn status_reports_missing_in_sync_and_drift_with_exit_codes() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);

    let missing = project.stackctl(&["status"]);
    missing.expect_code(2);
    assert!(
        missing
            .stdout
            .contains("table my-frontend-app-data: missing"),
        "{}",
        missing.stdout
    );

    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();
    let in_sync = project.stackctl(&["status"]);
    in_sync.ok();
    assert!(
        in_sync.stdout.contains("status: in sync"),
        "{}",
        in_sync.stdout
    );
    assert!(
        in_sync.stdout.contains("status: ACTIVE"),
        "{}",
        in_sync.stdout
    );
    let plan = project.stackctl(&["plan"]);
    plan.ok();
    assert!(
        emulator.writes_since(mark).is_empty(),
        "status and plan must not write"
    );

    let aws = emulator.clients().await;
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", "elsewhere")
                .variables("SECRET", "hunter2")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let drift = project.stackctl(&["status", "--output", "json"]);
    drift.expect_code(2);
    let json = drift.json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["in_sync"], false);
    let function = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "function")
        .unwrap();
    assert_eq!(function["action"], "update");
    assert_eq!(function["state"]["environment.SECRET"], "(value hidden)");
    assert!(
        !drift.stdout.contains("hunter2"),
        "a variable stackctl does not set must not be printed"
    );
    let change = function["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "environment.TABLE_NAME")
        .unwrap();
    assert_eq!(
        (change["before"].as_str(), change["after"].as_str()),
        (Some("elsewhere"), Some(TABLE))
    );
}
