//! `plan`, the exit-code contract and the output channels: snapshots of plan text and JSON in each state,
//! exit codes of every command in every state, one JSON document on stdout, progress on stderr, no escape
//! codes off a terminal, and the build cache.

use aws_sdk_lambda::types::Environment;

use crate::support::*;

/// Durations vary from run to run; everything else in a plan is deterministic.
fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[duration]");
    settings.add_filter(r#""duration_ms": \d+"#, r#""duration_ms": "[ms]""#);
    settings.set_prepend_module_to_snapshot(false);
    settings
}

fn plan_snapshots(project: &Project, name: &str, expected_code: i32) {
    let text = project.stackctl(&["plan"]);
    text.expect_code(expected_code);
    let json = project.stackctl(&["plan", "--output", "json"]);
    json.expect_code(expected_code);
    json.json(); // one JSON document, nothing else
    snapshot_settings().bind(|| {
        insta::assert_snapshot!(format!("plan_{name}_text"), text.stdout);
        insta::assert_snapshot!(format!("plan_{name}_json"), json.stdout);
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_text_and_json_in_each_state() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    plan_snapshots(&project, "empty_account", 2);

    project.stackctl(&["up"]).ok();
    let in_sync = emulator.mark();
    plan_snapshots(&project, "in_sync", 0);
    assert!(
        emulator.writes_since(in_sync).is_empty(),
        "plan must not write"
    );

    let aws = emulator.clients().await;
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", "old")
                .variables("LOG_LEVEL", "debug")
                .build(),
        )
        .send()
        .await
        .unwrap();
    plan_snapshots(&project, "env_drift", 2);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();

    let mark_code = emulator.mark();
    project.edit(
        "lambda/src/handler.ts",
        "Method not allowed",
        "Method not allowed here",
    );
    plan_snapshots(&project, "code_change", 2);
    assert!(
        emulator.writes_since(mark_code).is_empty(),
        "plan must not write"
    );
    project.stackctl(&["up"]).ok();

    project.edit(
        "policies/lambda-dynamodb-policy.json",
        "\"dynamodb:UpdateItem\"",
        "\"dynamodb:UpdateItem\", \"dynamodb:Scan\"",
    );
    plan_snapshots(&project, "policy_change", 2);

    let writes: Vec<String> = emulator.writes_since(mark);
    // Since the drift, only the two `up`s wrote: the environment fix, then the code.
    assert_eq!(
        writes,
        vec!["UpdateFunctionConfiguration", "UpdateFunctionCode"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_keeps_the_exit_code_contract_in_every_state() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // Empty account.
    project.stackctl(&["plan"]).expect_code(2);
    project.stackctl(&["up", "--dry-run"]).expect_code(2);
    project.stackctl(&["status"]).expect_code(2);
    project.stackctl(&["down"]).expect_code(0);
    project.stackctl(&["down", "--confirm"]).expect_code(0);
    // Created: in sync.
    project.stackctl(&["up"]).expect_code(0);
    project.stackctl(&["up"]).expect_code(0);
    project.stackctl(&["plan"]).expect_code(0);
    project.stackctl(&["status"]).expect_code(0);
    project.stackctl(&["down"]).expect_code(3);
    // Drifted.
    let aws = emulator.clients().await;
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("TABLE_NAME", "other")
                .build(),
        )
        .send()
        .await
        .unwrap();
    project.stackctl(&["plan"]).expect_code(2);
    project.stackctl(&["status"]).expect_code(2);
    project.stackctl(&["up"]).expect_code(0);
    project.stackctl(&["status"]).expect_code(0);
    // AWS unreachable: an error, 1, for every command, never 2.
    let unreachable = [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    for args in [
        &["plan"][..],
        &["status"],
        &["up"],
        &["down"],
        &["down", "--confirm"],
    ] {
        let run = project.stackctl_with(args, &unreachable);
        run.expect_code(1);
        assert!(run.stderr.contains("error:"), "{args:?}: {}", run.stderr);
        assert!(
            run.stdout.is_empty(),
            "{args:?}: an error prints no result: {}",
            run.stdout
        );
    }
    // Usage errors are 64, never clap's default 2.
    project.stackctl(&["up", "--no-such-flag"]).expect_code(64);
    project
        .stackctl(&["--output", "yaml", "status"])
        .expect_code(64);
    project.stackctl(&["--help"]).expect_code(0);
    // Torn down.
    project.stackctl(&["down", "--confirm"]).expect_code(0);
    project.stackctl(&["status"]).expect_code(2);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_goes_to_stdout_alone_and_progress_to_stderr_without_escape_codes() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    for args in [
        &["up"][..],
        &["plan"],
        &["status"],
        &["down"],
        &["down", "--confirm"],
    ] {
        let mut full = args.to_vec();
        full.extend(["--output", "json"]);
        let run = project.stackctl(&full);
        let json = run.json();
        assert_eq!(json["schema_version"], 1, "{args:?}");
        assert!(json["aws_calls"]["reads"].as_u64().unwrap() > 0, "{args:?}");
        assert!(
            run.stderr.contains("live state"),
            "{args:?}: progress belongs on stderr: {}",
            run.stderr
        );
        for (name, stream) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(
                !stream.contains('\u{1b}'),
                "{args:?}: escape codes on {name} off a terminal"
            );
        }
    }
    // STACKCTL_OUTPUT=json is the same as --output json; --quiet leaves only the result.
    let run = project.stackctl_with(&["status", "--quiet"], &[("STACKCTL_OUTPUT", "json")]);
    assert_eq!(run.json()["command"], "status");
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);
    // -v logs each AWS call on stderr, never a credential.
    let verbose = project.stackctl(&["status", "-v"]);
    assert!(
        verbose.stderr.contains("DynamoDB.DescribeTable"),
        "{}",
        verbose.stderr
    );
    assert!(
        !verbose.stderr.contains("testing"),
        "credentials leaked at -v"
    );
}

/// The build cache: a no-op up starts no npm process at all; a source change rebuilds; --rebuild forces.
#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_handler_is_not_rebuilt() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    // A PATH whose npm always fails (node is the same binary, so the build inputs are unchanged).
    let path = project.path_with_failing_npm("npm must not run");
    let no_npm = [("PATH", path.as_str())];

    let run = project.stackctl_with(&["up"], &no_npm);
    run.ok();
    assert!(
        run.stderr.contains("unchanged since the last build"),
        "{}",
        run.stderr
    );
    // The stub is really in the way: forcing a build fails on it.
    let forced = project.stackctl_with(&["up", "--rebuild"], &no_npm);
    forced.expect_code(1);
    assert!(
        forced.stderr.contains("npm must not run"),
        "{}",
        forced.stderr
    );
    // A source change rebuilds (with the real npm) and names the file that changed.
    project.edit(
        "lambda/src/handler.ts",
        "Method not allowed",
        "Method not allowed here",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("(lambda/src/handler.ts changed)"),
        "{}",
        plan.stdout
    );
}

/// The same handler sources give a byte-identical zip in two checkouts made at different times, with
/// different file modes and umask.
#[tokio::test(flavor = "multi_thread")]
async fn two_checkouts_build_byte_identical_zips() {
    use std::os::unix::fs::PermissionsExt;
    let emulator = Emulator::start();
    let first = Project::new(&emulator);
    let second = Project::new(&emulator);
    // A later checkout: every source file a day newer (set, not waited for).
    for file in [
        "stack.toml",
        "lambda/src/handler.ts",
        "lambda/tsconfig.json",
        "lambda/package.json",
    ] {
        let path = second.path(file);
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified + std::time::Duration::from_secs(86_400))
            .unwrap();
    }
    let handler = second.path("lambda/src/handler.ts");
    std::fs::set_permissions(&handler, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The second builds under a restrictive umask: its dist/handler.js is mode 0600, the first's 0644.
    second.edit(
        "stack.toml",
        "build = \"npm run build\"",
        "build = \"umask 077 && npm run build\"",
    );
    first.stackctl(&["plan"]).expect_code(2);
    second.stackctl(&["plan"]).expect_code(2);
    let mode = |p: &Project| {
        std::fs::metadata(p.path("lambda/dist/handler.js"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_ne!(
        mode(&first),
        mode(&second),
        "the umask should have changed the built file's mode"
    );
    let zip =
        |p: &Project| std::fs::read(p.path(".stackctl/package.zip")).expect("the build's zip");
    assert_eq!(zip(&first), zip(&second), "the two checkouts' zips differ");
    let built = |p: &Project| {
        std::fs::metadata(p.path("lambda/dist/handler.js"))
            .unwrap()
            .modified()
            .unwrap()
    };
    assert_ne!(
        built(&first),
        built(&second),
        "the builds should have happened at different times"
    );
}
