//! The function's CloudWatch Logs group (`/aws/lambda/<function>`): created before the function with the
//! stack's tag and retention, its retention converged from stack.toml and checked for drift, an adopted
//! group used as it is and never deleted, an owned one deleted after the function (or kept with
//! `--keep-logs`).

use std::collections::HashMap;

use serde_json::json;

use crate::support::strict;
use crate::support::*;

/// How long the proxy holds its answer to the operations an ordering test slows down: longer than the
/// rest of the step takes (the role's propagation is 1.5 s), so that a step that does not wait for the
/// slowed one sends its request before the slowed answer is out.
const SLOW_MS: u64 = 3000;

/// `realistic()` with every answer to `operations` held for `SLOW_MS` (after it took effect upstream).
fn slowed(operations: &[&str]) -> serde_json::Value {
    strict::merge(
        strict::realistic(),
        json!({"slow_rate": 1.0, "slow_ms": SLOW_MS, "fault_operations": operations}),
    )
}

/// The arrival time (ms since the proxy started) of the first `op` after `mark` in the proxy's record.
fn arrival_ms(emulator: &Emulator, mark: u64, op: &str) -> u64 {
    emulator
        .strict()
        .requests_json()
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap_or(0) > mark)
        .filter(|r| r["op"] == op)
        .filter_map(|r| r["t_ms"].as_u64())
        .min()
        .unwrap_or_else(|| panic!("{op} not sent after request {mark}"))
}

const GROUP: &str = "/aws/lambda/my-frontend-app-api";

/// The group's ARN as TagResource and ListTagsForResource take it: without DescribeLogGroups' `:*`.
fn group_arn() -> String {
    format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{GROUP}")
}

/// The group's retention (None: never expire), or None for the outer Option when there is no such group.
async fn retention(logs: &aws_sdk_cloudwatchlogs::Client) -> Option<Option<i32>> {
    let out = logs
        .describe_log_groups()
        .log_group_name_prefix(GROUP)
        .send()
        .await
        .unwrap();
    out.log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(GROUP))
        .map(|g| g.retention_in_days())
}

async fn tags(logs: &aws_sdk_cloudwatchlogs::Client) -> HashMap<String, String> {
    logs.list_tags_for_resource()
        .resource_arn(group_arn())
        .send()
        .await
        .unwrap()
        .tags()
        .cloned()
        .unwrap_or_default()
}

/// Writes `retention_days = <days>` into stack.toml's `[function.logs]` (added after `[function]`'s keys).
fn write_retention(project: &Project, days: i32) {
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n\n[function.logs]\nretention_days = {days}\n"),
    );
}

/// The text block of the log group in a report: its line and the indented lines under it.
fn log_group_block(stdout: &str) -> String {
    let mut lines = stdout.lines();
    let header = format!("log_group {GROUP}: ");
    let Some(first) = lines.by_ref().find(|l| l.contains(&header)) else {
        panic!("no log_group line in:\n{stdout}");
    };
    std::iter::once(first)
        .chain(lines.take_while(|l| l.starts_with("    ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The log group's entry in a JSON report.
fn log_group_json(json: &serde_json::Value) -> serde_json::Value {
    json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "log_group")
        .unwrap_or_else(|| panic!("no log_group resource in {json}"))
        .clone()
}

fn position(ops: &[String], op: &str) -> usize {
    ops.iter()
        .position(|o| o == op)
        .unwrap_or_else(|| panic!("{op} not sent: {ops:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_the_group_before_the_function_with_retention_30_and_the_stack_tag() {
    // The group's writes answered slowly: a function that did not wait for its group would be created
    // while they are still under way.
    let emulator = Emulator::start_with(slowed(&["CreateLogGroup", "PutRetentionPolicy"]), 1);
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();

    let ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert!(
        position(&ops, "CreateLogGroup") < position(&ops, "CreateFunction"),
        "the function was created before its log group: {ops:?}"
    );
    assert!(
        position(&ops, "PutRetentionPolicy") < position(&ops, "CreateFunction"),
        "the function was created before its log group had its retention: {ops:?}"
    );
    let (retention_set, function_created) = (
        arrival_ms(&emulator, mark, "PutRetentionPolicy"),
        arrival_ms(&emulator, mark, "CreateFunction"),
    );
    assert!(
        function_created >= retention_set + SLOW_MS,
        "CreateFunction at {function_created} ms, before the answer to PutRetentionPolicy (sent at \
         {retention_set} ms, answered {SLOW_MS} ms later)"
    );

    let aws = emulator.clients().await;
    assert_eq!(retention(&aws.logs).await, Some(Some(30)));
    let tags = tags(&aws.logs).await;
    assert_eq!(
        tags.get("stackctl:stack").map(String::as_str),
        Some("my-frontend-app"),
        "{tags:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_from_stack_toml_is_set_on_create_and_converged_with_one_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    write_retention(&project, 90);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    assert_eq!(retention(&aws.logs).await, Some(Some(90)));

    project.edit("stack.toml", "retention_days = 90", "retention_days = 14");
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    let block = log_group_block(&plan.stdout);
    assert!(
        block.starts_with(&format!("~ log_group {GROUP}: update")),
        "{}",
        plan.stdout
    );
    assert!(
        block.contains("    ~ retention_days: 90 -> 14"),
        "{}",
        plan.stdout
    );
    assert!(
        block.contains("CloudWatch Logs will delete the events older than 14 days"),
        "{}",
        plan.stdout
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["PutRetentionPolicy"]);
    assert_eq!(retention(&aws.logs).await, Some(Some(14)));

    let mark = emulator.mark();
    let again = project.stackctl(&["up"]);
    again.ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retention_changed_out_of_band_is_drift() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    project.stackctl(&["status"]).ok();

    let aws = emulator.clients().await;
    aws.logs
        .put_retention_policy()
        .log_group_name(GROUP)
        .retention_in_days(365)
        .send()
        .await
        .unwrap();

    let mark = emulator.mark();
    let status = project.stackctl(&["status"]);
    status.expect_code(2);
    let block = log_group_block(&status.stdout);
    assert!(
        block.starts_with(&format!("~ log_group {GROUP}: drifted")),
        "{}",
        status.stdout
    );
    assert!(
        block.contains("~ retention_days: 365 -> 30"),
        "{}",
        status.stdout
    );
    assert!(status.stdout.contains("1 drifted"), "{}", status.stdout);

    let plan = project.stackctl(&["plan", "--output", "json"]);
    plan.expect_code(2);
    let group = log_group_json(&plan.json());
    assert_eq!(group["action"], "update", "{group}");
    assert_eq!(group["name"], GROUP);
    let change = group["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "retention_days")
        .unwrap_or_else(|| panic!("no retention_days change: {group}"));
    assert_eq!(
        (change["before"].as_str(), change["after"].as_str()),
        (Some("365"), Some("30"))
    );
    // Only the log group drifted.
    for resource in plan.json()["resources"].as_array().unwrap() {
        if resource["kind"] != "log_group" {
            assert_eq!(resource["action"], "no_op", "{resource}");
        }
    }
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_group_keeps_its_retention_unless_the_file_sets_one_and_is_never_deleted() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    aws.logs
        .create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    aws.logs
        .put_retention_policy()
        .log_group_name(GROUP)
        .retention_in_days(7)
        .send()
        .await
        .unwrap();

    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2); // the other resources are missing
    let block = log_group_block(&plan.stdout);
    assert!(
        block.starts_with(&format!("= log_group {GROUP}: no-op")),
        "{}",
        plan.stdout
    );
    assert!(
        block.contains(
            "    = retention_days: 7 (a group stackctl did not create keeps its retention"
        ),
        "{}",
        plan.stdout
    );
    assert!(
        block.contains("not created by this stack"),
        "{}",
        plan.stdout
    );

    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w.contains("LogGroup")
            || w == "PutRetentionPolicy"
            || w == "TagResource"
            || w == "TagLogGroup"),
        "up wrote to the adopted group: {writes:?}"
    );
    assert_eq!(retention(&aws.logs).await, Some(Some(7)));
    assert!(
        !tags(&aws.logs).await.contains_key("stackctl:stack"),
        "up tagged a group it did not create as the stack's"
    );

    let status = project.stackctl(&["status"]);
    status.ok();
    let block = log_group_block(&status.stdout);
    assert!(block.contains("    retention_days: 7"), "{}", status.stdout);
    assert!(
        block.contains("    owner: not this stack (left alone by down)"),
        "{}",
        status.stdout
    );

    // The file writes a retention: the adopted group gets it (and still not the stack's tag).
    write_retention(&project, 90);
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        log_group_block(&plan.stdout).contains("    ~ retention_days: 7 -> 90"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["PutRetentionPolicy"]);
    assert_eq!(retention(&aws.logs).await, Some(Some(90)));
    assert!(!tags(&aws.logs).await.contains_key("stackctl:stack"));

    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w == "DeleteLogGroup"),
        "down deleted the adopted group: {writes:?}"
    );
    let block = log_group_block(&down.stdout);
    assert!(
        block.starts_with(&format!("= log_group {GROUP}: ")),
        "{}",
        down.stdout
    );
    assert!(block.contains("left alone"), "{}", down.stdout);
    assert!(down.stdout.contains("4 deleted"), "{}", down.stdout);
    assert_eq!(retention(&aws.logs).await, Some(Some(90)));
    assert!(aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn down_deletes_the_owned_group_after_the_function() {
    // DeleteFunction answered slowly: a group deleted without waiting for the function would go meanwhile.
    let emulator = Emulator::start_with(slowed(&["DeleteFunction"]), 1);
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    assert!(
        preview
            .stdout
            .contains(&format!("- log_group {GROUP}: delete")),
        "{}",
        preview.stdout
    );

    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert!(down.stdout.contains("down: 5 deleted"), "{}", down.stdout);
    let ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert!(
        position(&ops, "DeleteFunction") < position(&ops, "DeleteLogGroup"),
        "the log group was deleted before the function: {ops:?}"
    );
    let (function_deleted, group_deleted) = (
        arrival_ms(&emulator, mark, "DeleteFunction"),
        arrival_ms(&emulator, mark, "DeleteLogGroup"),
    );
    assert!(
        group_deleted >= function_deleted + SLOW_MS,
        "DeleteLogGroup at {group_deleted} ms, before the answer to DeleteFunction (sent at \
         {function_deleted} ms, answered {SLOW_MS} ms later)"
    );
    let aws = emulator.clients().await;
    assert_eq!(retention(&aws.logs).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_logs_keeps_the_owned_group_until_a_later_down() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm", "--keep-logs"]);
    down.ok();
    let writes = emulator.writes_since(mark);
    assert!(writes.iter().any(|w| w == "DeleteFunction"), "{writes:?}");
    assert!(
        !writes.iter().any(|w| w == "DeleteLogGroup"),
        "--keep-logs deleted the group: {writes:?}"
    );
    let block = log_group_block(&down.stdout);
    assert!(
        block.starts_with(&format!("= log_group {GROUP}: ")),
        "{}",
        down.stdout
    );
    assert!(block.contains("kept (--keep-logs)"), "{}", down.stdout);
    assert!(down.stdout.contains("down: 4 deleted"), "{}", down.stdout);
    let aws = emulator.clients().await;
    assert_eq!(retention(&aws.logs).await, Some(Some(30)));
    assert_eq!(
        tags(&aws.logs)
            .await
            .get("stackctl:stack")
            .map(String::as_str),
        Some("my-frontend-app")
    );

    let mark = emulator.mark();
    let later = project.stackctl(&["down", "--confirm"]);
    later.ok();
    assert_eq!(emulator.writes_since(mark), vec!["DeleteLogGroup"]);
    assert!(later.stdout.contains("down: 1 deleted"), "{}", later.stdout);
    assert_eq!(retention(&aws.logs).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_the_groups_retention_and_owner() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let status = project.stackctl(&["status"]);
    status.ok();
    let block = log_group_block(&status.stdout);
    assert!(
        block.starts_with(&format!("= log_group {GROUP}: in sync")),
        "{}",
        status.stdout
    );
    assert!(
        block.contains("    retention_days: 30"),
        "{}",
        status.stdout
    );
    assert!(block.contains("    owner: this stack"), "{}", status.stdout);

    let json = project.stackctl(&["status", "--output", "json"]);
    json.ok();
    let group = log_group_json(&json.json());
    assert_eq!(group["state"]["retention_days"], "30", "{group}");
    assert_eq!(group["state"]["owner"], "this stack", "{group}");
}

/// The stack's role made beforehand, untagged, straight in moto: `up` adopts it and `down` keeps it.
async fn adopted_role(emulator: &Emulator) -> String {
    emulator
        .moto_clients()
        .await
        .iam
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string()
}

/// The stack's function made beforehand, untagged, through the proxy (so that it keeps `log_group` as
/// LoggingConfig's group, when one is given): `up` adopts it and `down` keeps it.
async fn adopted_function(emulator: &Emulator, role: &str, log_group: Option<&str>) {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{FunctionCode, LogFormat, LoggingConfig, Runtime};
    emulator
        .clients()
        .await
        .lambda
        .create_function()
        .function_name(FUNCTION)
        .role(role)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .set_logging_config(log_group.map(|group| {
            LoggingConfig::builder()
                .log_format(LogFormat::Text)
                .log_group(group)
                .build()
        }))
        .send()
        .await
        .unwrap();
}

async fn group_exists(logs: &aws_sdk_cloudwatchlogs::Client, name: &str) -> bool {
    logs.describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .unwrap()
        .log_groups()
        .iter()
        .any(|g| g.log_group_name() == Some(name))
}

#[tokio::test(flavor = "multi_thread")]
async fn down_keeps_the_group_of_an_adopted_function_it_keeps() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = adopted_role(&emulator).await;
    adopted_function(&emulator, &role, None).await;
    // The function was never invoked, so up makes its group (with the stack's tag and retention).
    project.stackctl(&["up"]).ok();
    let aws = emulator.moto_clients().await;
    assert_eq!(retention(&aws.logs).await, Some(Some(30)));

    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    let block = log_group_block(&preview.stdout);
    assert!(
        block.starts_with(&format!("= log_group {GROUP}: keep")),
        "{}",
        preview.stdout
    );
    assert!(
        block.contains(&format!("Lambda function `{FUNCTION}` stays")),
        "{}",
        preview.stdout
    );

    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w == "DeleteLogGroup"),
        "down deleted the group of a function that keeps running: {writes:?}"
    );
    // Still the stack's group, with its retention: not one Lambda would make again untagged.
    assert_eq!(retention(&aws.logs).await, Some(Some(30)));
    assert_eq!(
        tags(&aws.logs)
            .await
            .get("stackctl:stack")
            .map(String::as_str),
        Some("my-frontend-app")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_log_write_after_down_leaves_no_group_behind() {
    // An invocation still in flight when the function is deleted flushes its logs within the function's
    // timeout; Lambda makes the group again while the role still exists.
    let emulator = Emulator::start_with(
        strict::merge(strict::realistic(), json!({"logs_late_write": true})),
        1,
    );
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    let ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .collect();
    assert!(
        position(&ops, "DeleteRole") < position(&ops, "DeleteLogGroup"),
        "the group was deleted while the role could still write to it: {ops:?}"
    );
    let aws = emulator.moto_clients().await;
    assert!(
        !group_exists(&aws.logs, GROUP).await,
        "a late log write left the group behind"
    );
    assert_eq!(emulator.strict().injected_count("late write"), 0);
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_a_late_write_brings_back_is_deleted_again_and_said() {
    // The role is adopted, so down keeps it: a late write can make the group again after its deletion.
    let emulator = Emulator::start_with(
        strict::merge(strict::realistic(), json!({"logs_late_write": true})),
        1,
    );
    let project = Project::new(&emulator);
    adopted_role(&emulator).await;
    project.stackctl(&["up"]).ok();

    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert_eq!(emulator.strict().injected_count("late write"), 1);
    let aws = emulator.moto_clients().await;
    assert!(
        !group_exists(&aws.logs, GROUP).await,
        "the group a late write made again was left behind"
    );
    // Only the adopted role is left, without a mark of the stack's.
    assert_eq!(leftovers(&emulator).await, vec![format!("role {ROLE}")]);
    let block = log_group_block(&down.stdout);
    assert!(
        block.contains("made again by a late log write; deleted again"),
        "{}",
        down.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_group_blocks_down_before_any_write() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    aws.logs
        .put_log_group_deletion_protection()
        .log_group_identifier(GROUP)
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();

    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    let block = log_group_block(&preview.stdout);
    assert!(
        block.starts_with(&format!("! log_group {GROUP}: blocked")),
        "{}",
        preview.stdout
    );

    let mark = emulator.mark();
    let refused = project.stackctl(&["down", "--confirm"]);
    refused.expect_code(1);
    for fix in [
        "deletion protection is on",
        "aws logs put-log-group-deletion-protection --log-group-identifier /aws/lambda/my-frontend-app-api --no-deletion-protection-enabled",
        "--keep-logs",
    ] {
        assert!(refused.stderr.contains(fix), "{fix}: {}", refused.stderr);
    }
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    // Keeping the logs is the other way out: everything else goes, the group stays.
    project.stackctl(&["down", "--confirm", "--keep-logs"]).ok();
    let moto = emulator.moto_clients().await;
    assert!(group_exists(&moto.logs, GROUP).await);
    assert!(moto
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aborted_delete_of_the_group_is_tried_again() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    emulator.strict().set(json!({"logs_delete_aborted": 1}));
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(
        emulator
            .strict()
            .injected_count("OperationAbortedException"),
        1
    );
    let aws = emulator.moto_clients().await;
    assert!(!group_exists(&aws.logs, GROUP).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_function_logging_elsewhere_gets_no_second_group_and_logs_reads_its_own() {
    const CUSTOM: &str = "/custom/group";
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let role = adopted_role(&emulator).await;
    adopted_function(&emulator, &role, Some(CUSTOM)).await;
    let moto = emulator.moto_clients().await;
    moto.logs
        .create_log_group()
        .log_group_name(CUSTOM)
        .send()
        .await
        .unwrap();
    moto.logs
        .create_log_stream()
        .log_group_name(CUSTOM)
        .log_stream_name("2026/12/04/[$LATEST]cccccccc0123456789abcdef01234567")
        .send()
        .await
        .unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    moto.logs
        .put_log_events()
        .log_group_name(CUSTOM)
        .log_stream_name("2026/12/04/[$LATEST]cccccccc0123456789abcdef01234567")
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(now_ms - 1000)
                .message("written to the custom group")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(&format!("log_group {CUSTOM}: no-op")),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w == "CreateLogGroup"),
        "up made a second group: {writes:?}"
    );
    assert!(!group_exists(&moto.logs, GROUP).await);

    let status = project.stackctl(&["status"]);
    assert!(
        status.stdout.contains(&format!("log_group {CUSTOM}: ")),
        "{}",
        status.stdout
    );

    // README: `logs` reading a group outside /aws/lambda/ needs logs:FilterLogEvents on that group too.
    emulator.grant(
        OPERATOR_USER,
        &serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Action": "logs:FilterLogEvents",
            "Resource": format!("arn:aws:logs:*:*:log-group:{CUSTOM}:*")}]})
        .to_string(),
    );
    let logs = project.stackctl(&["logs", "--since", "1h"]);
    logs.ok();
    assert!(
        logs.stdout.contains("written to the custom group"),
        "{}",
        logs.stdout
    );

    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(
        !emulator
            .writes_since(mark)
            .iter()
            .any(|w| w == "DeleteLogGroup"),
        "down deleted a group it does not own"
    );
    assert!(group_exists(&moto.logs, CUSTOM).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_group_logging_config_names_is_never_written_or_created() {
    // Lambda lets several functions log to one group (LoggingConfig.LogGroup): a group the adopted function
    // shares with another stack is that stack's, whatever stack.toml's `retention_days` says.
    const SHARED: &str = "/shared/app";
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    write_retention(&project, 30);
    let role = adopted_role(&emulator).await;
    adopted_function(&emulator, &role, Some(SHARED)).await;
    let moto = emulator.moto_clients().await;
    moto.logs
        .create_log_group()
        .log_group_name(SHARED)
        .tags("stackctl:stack", "someone-else")
        .send()
        .await
        .unwrap();
    moto.logs
        .put_retention_policy()
        .log_group_name(SHARED)
        .retention_in_days(7)
        .send()
        .await
        .unwrap();
    let retention_of = |name: &'static str| {
        let logs = moto.logs.clone();
        async move {
            logs.describe_log_groups()
                .log_group_name_prefix(name)
                .send()
                .await
                .unwrap()
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name))
                .map(|g| g.retention_in_days())
        }
    };

    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes
            .iter()
            .any(|w| w.contains("LogGroup") || w.contains("Retention")),
        "up wrote to a group the function shares with another stack: {writes:?}"
    );
    assert_eq!(retention_of(SHARED).await, Some(Some(7)));

    // A LoggingConfig group that does not exist yet is Lambda's to make: up makes neither it nor a second one.
    const MISSING: &str = "/shared/not-yet";
    emulator
        .clients()
        .await
        .lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .logging_config(
            aws_sdk_lambda::types::LoggingConfig::builder()
                .log_format(aws_sdk_lambda::types::LogFormat::Text)
                .log_group(MISSING)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w.contains("LogGroup")),
        "up made a group LoggingConfig names: {writes:?}"
    );
    assert!(!group_exists(&moto.logs, MISSING).await);
    assert!(!group_exists(&moto.logs, GROUP).await);
}
