//! stackctl under real AWS's behaviour and worse: seeded throttling, 5xx, slow answers and dropped
//! connections; SIGKILL at seeded points of up and down; up racing down and up racing up; and one test per
//! strict behaviour that fails if stackctl mishandles it. A failing seed replays with
//! STACKCTL_STRICT_SEED=<seed>.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::strict;
use crate::support::*;

/// Everything the stack could have left behind, read from moto directly.
async fn leftovers(emulator: &Emulator) -> Vec<String> {
    let aws = emulator.moto_clients().await;
    let mut left = Vec::new();
    let tables = aws.dynamodb.list_tables().send().await.unwrap();
    left.extend(tables.table_names().iter().map(|t| format!("table {t}")));
    let functions = aws.lambda.list_functions().send().await.unwrap();
    left.extend(
        functions
            .functions()
            .iter()
            .filter_map(|f| f.function_name())
            .map(|f| format!("function {f}")),
    );
    let roles = aws.iam.list_roles().send().await.unwrap();
    left.extend(
        roles
            .roles()
            .iter()
            .map(|r| r.role_name())
            .filter(|n| *n == ROLE)
            .map(|n| format!("role {n}")),
    );
    let policies = aws
        .iam
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .send()
        .await
        .unwrap();
    left.extend(
        policies
            .policies()
            .iter()
            .filter_map(|p| p.policy_name())
            .map(|p| format!("policy {p}")),
    );
    left
}

fn faults(seed: u64) -> serde_json::Value {
    strict::merge(
        strict::faulty(0.10, 0.05),
        json!({"seed": seed, "slow_rate": 0.02, "slow_ms": 300, "drop_rate": 0.02}),
    )
}

async fn up_then_down_converge_under_faults(seeds: std::ops::Range<u64>) {
    let emulator = Emulator::start_with(faults(seeds.start), seeds.start);
    let project = Project::new(&emulator);
    for seed in seeds {
        emulator.strict().set(json!({"seed": seed}));
        let up = project.stackctl(&["up"]);
        assert_eq!(up.code, 0, "seed {seed}: up failed:\n{}", up.stderr);
        let down = project.stackctl(&["down", "--confirm"]);
        assert_eq!(down.code, 0, "seed {seed}: down failed:\n{}", down.stderr);
        assert_eq!(
            leftovers(&emulator).await,
            Vec::<String>::new(),
            "seed {seed}: left behind"
        );
    }
    assert!(
        emulator.strict().injected_count("ThrottlingException")
            + emulator.strict().injected_count("Throttling")
            > 0,
        "the proxy injected no throttling: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_converge_under_throttling_and_5xx_seeds_0_to_9() {
    up_then_down_converge_under_faults(0..10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn up_and_down_converge_under_throttling_and_5xx_seeds_10_to_19() {
    up_then_down_converge_under_faults(10..20).await;
}

/// Starts `stackctl args` and SIGKILLs it once the proxy has received `after` requests from it (or lets
/// it finish if it makes fewer).
fn kill_after_requests(
    project: &Project,
    emulator: &Emulator,
    args: &[&str],
    after: usize,
) -> bool {
    let before = emulator.strict().requests().len();
    let mut child = project
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting stackctl");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("polling stackctl").is_some() {
            return false;
        }
        if emulator.strict().requests().len() >= before + after {
            child.kill().expect("SIGKILL");
            child.wait().expect("reaping");
            return true;
        }
        assert!(
            Instant::now() < deadline,
            "stackctl {args:?} neither finished nor reached {after} requests"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `count` kill points spread evenly over a run that makes `total` requests: after the 1st, ..., the last.
fn kill_points(count: usize, total: usize) -> Vec<usize> {
    (0..count)
        .map(|i| 1 + i * total.saturating_sub(1) / count.max(1))
        .collect()
}

/// How many requests a run makes through the proxy (from a clean proxy log).
fn requests_of(emulator: &Emulator, project: &Project, args: &[&str]) -> usize {
    emulator.strict().reset();
    project.stackctl(args).ok();
    emulator.strict().requests().len()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_up_is_finished_by_the_next_up_at_20_points() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // Warm the build cache and measure a whole up from empty; then start from empty each time.
    let total = requests_of(&emulator, &project, &["up"]);
    project.stackctl(&["down", "--confirm"]).ok();
    let mut killed = 0;
    for (i, after) in kill_points(20, total).into_iter().enumerate() {
        emulator.strict().reset();
        killed += kill_after_requests(&project, &emulator, &["up"], after) as usize;
        let up = project.stackctl(&["up"]);
        assert_eq!(
            up.code, 0,
            "point {i} (after {after} requests): the next up failed:\n{}",
            up.stderr
        );
        project.stackctl(&["status"]).expect_code(0);
        let down = project.stackctl(&["down", "--confirm"]);
        assert_eq!(
            down.code, 0,
            "point {i}: down after the recovery failed:\n{}",
            down.stderr
        );
        assert_eq!(
            leftovers(&emulator).await,
            Vec::<String>::new(),
            "point {i}: orphans"
        );
    }
    assert!(
        killed >= 15,
        "only {killed} of 20 runs were killed mid-way: the kill points miss the run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_down_is_finished_by_the_next_down_at_20_points() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let total = requests_of(&emulator, &project, &["down", "--confirm"]);
    let mut killed = 0;
    for (i, after) in kill_points(20, total).into_iter().enumerate() {
        project.stackctl(&["up"]).ok();
        emulator.strict().reset();
        killed += kill_after_requests(&project, &emulator, &["down", "--confirm"], after) as usize;
        let down = project.stackctl(&["down", "--confirm"]);
        assert_eq!(
            down.code, 0,
            "point {i} (after {after} requests): the next down failed:\n{}",
            down.stderr
        );
        assert_eq!(
            leftovers(&emulator).await,
            Vec::<String>::new(),
            "point {i}: orphans"
        );
    }
    assert!(killed >= 15, "only {killed} of 20 runs were killed mid-way");
}

/// Two runs at once, the second started `offset` after the first; both must end with a clear result
/// (0, or 1 with an error message: never a panic), and a following up must converge.
fn race(project: &Project, first: &[&str], second: &[&str], offset: Duration) -> (i32, i32) {
    let spawn = |args: &[&str]| {
        project
            .command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting stackctl")
    };
    let a = spawn(first);
    std::thread::sleep(offset);
    let b = spawn(second);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (args, out) in [(first, &a), (second, &b)] {
        let code = out.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            code == 0 || (code == 1 && stderr.contains("error:")),
            "{args:?} ended with {code}:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    }
    (a.status.code().unwrap_or(-1), b.status.code().unwrap_or(-1))
}

#[tokio::test(flavor = "multi_thread")]
async fn up_racing_down_and_up_racing_up_end_consistent() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    for seed in 0..10u64 {
        let offset = Duration::from_millis((seed * 137) % 900);
        race(
            &project,
            &["up"],
            &["down", "--confirm", "--delete-data"],
            offset,
        );
        let up = project.stackctl(&["up"]);
        assert_eq!(
            up.code, 0,
            "run {seed}: up after up/down race failed:\n{}",
            up.stderr
        );
        project.stackctl(&["status"]).expect_code(0);
    }
    project.stackctl(&["down", "--confirm"]).ok();
    for seed in 0..10u64 {
        let offset = Duration::from_millis((seed * 89) % 600);
        let (a, b) = race(&project, &["up"], &["up"], offset);
        let up = project.stackctl(&["up"]);
        assert_eq!(
            up.code, 0,
            "run {seed}: up after two racing ups ({a}, {b}) failed:\n{}",
            up.stderr
        );
        project.stackctl(&["status"]).expect_code(0);
        project.stackctl(&["down", "--confirm"]).ok();
        assert_eq!(
            leftovers(&emulator).await,
            Vec::<String>::new(),
            "run {seed}"
        );
    }
}

/// Configuration, then code: stackctl waits for each update to finish instead of provoking Lambda's 409.
#[tokio::test(flavor = "multi_thread")]
async fn configuration_and_code_updates_wait_for_each_other() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let state = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(
        state.state().map(|s| s.as_str()),
        Some("Active"),
        "up must wait for Active after creating"
    );
    project.edit("stack.toml", "memory_mb = 128", "memory_mb = 256");
    project.edit(
        "lambda/src/handler.ts",
        "Method not allowed",
        "Method not allowed here",
    );
    emulator.strict().clear_log();
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(
        emulator.writes_since(mark),
        vec!["UpdateFunctionConfiguration", "UpdateFunctionCode"]
    );
    assert_eq!(
        emulator
            .strict()
            .injected_count("ResourceConflictException"),
        0,
        "an update was sent while another was in progress: {:?}",
        emulator.strict().injected()
    );
    let after = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.last_update_status().map(|s| s.as_str()),
        Some("Successful")
    );
}

/// A Lambda update that ends Failed is an error carrying AWS's reason, and the next up recovers.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_update_is_an_error_with_the_reason_and_the_next_up_retries() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    emulator.strict().set(json!({"fail_next_update": {
        "function": FUNCTION, "reason": "The KMS key is not accessible", "reason_code": "KMSKeyAccessDenied"}}));
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 20");
    let failed = project.stackctl(&["up"]);
    failed.expect_code(1);
    assert!(
        failed.stderr.contains("The KMS key is not accessible"),
        "{}",
        failed.stderr
    );
    assert!(
        failed.stderr.contains("KMSKeyAccessDenied"),
        "{}",
        failed.stderr
    );
    project.stackctl(&["status"]).expect_code(2);
    project.stackctl(&["up"]).ok();
    project.stackctl(&["status"]).expect_code(0);
}

/// A table still CREATING (an up killed while waiting) is waited out by down, then deleted.
#[tokio::test(flavor = "multi_thread")]
async fn down_waits_out_a_table_that_is_still_creating() {
    // (Without the one-off ResourceNotFound right after CreateTable: down would rightly see no table then.)
    let config = json!({"table_creating_ms": 2500, "describe_not_found_after_create": false});
    let emulator = Emulator::start_with(strict::merge(strict::realistic(), config), 1);
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    project.stackctl(&["down", "--confirm"]).ok();
    // Recreate the table as a killed up would have left it: tagged, and CREATING for the next 2.5 s.
    let aws = emulator.clients().await;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Tag,
    };
    aws.dynamodb
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("userId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("itemId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("userId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("itemId")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .tags(
            Tag::builder()
                .key("stackctl:stack")
                .value("my-frontend-app")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    emulator.strict().clear_log();
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert!(
        emulator.strict().injected_count("TableStatus=CREATING") > 0,
        "down never saw the table CREATING: the test proves nothing"
    );
    // It waited for ACTIVE instead of provoking DynamoDB's refusal to delete a CREATING table.
    assert_eq!(
        emulator.strict().injected_count("ResourceInUseException"),
        0
    );
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

/// A timeout names the resource, what it waited for, how long, and the last state seen.
#[tokio::test(flavor = "multi_thread")]
async fn a_wait_that_times_out_says_what_it_waited_for() {
    let emulator = Emulator::start_with(
        strict::merge(strict::realistic(), json!({"table_creating_ms": 60_000})),
        2,
    );
    let project = Project::new(&emulator);
    let run = project.stackctl(&["up", "--wait-timeout", "3"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("waiting for table `my-frontend-app-data` to become ACTIVE"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("(last seen: CREATING)"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("limit 3s"), "{}", run.stderr);
}

/// Ctrl-C (SIGINT) during a wait: stackctl stops, says so, exits 130; the next up converges.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupt_stops_cleanly_and_the_next_up_converges() {
    let emulator = Emulator::start_with(
        strict::merge(strict::realistic(), json!({"table_creating_ms": 4000})),
        3,
    );
    let project = Project::new(&emulator);
    let child = project
        .command(&["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the table is being waited on.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !emulator
        .strict()
        .requests()
        .iter()
        .any(|r| r.operation == "CreateTable")
    {
        assert!(Instant::now() < deadline, "up never created the table");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted before"), "{stderr}");
    assert!(stderr.contains("Run the same command again"), "{stderr}");
    let up = project.stackctl(&["up"]);
    up.ok();
    project.stackctl(&["status"]).expect_code(0);
}
