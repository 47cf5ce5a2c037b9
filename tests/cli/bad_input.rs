//! Bad stack.toml: one clear error naming file, line, field and fix; exit 64; no AWS request at all.

use crate::support::*;

fn refused(edit: impl Fn(&Project), expected: &[&str]) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    edit(&project);
    for command in [&["up"][..], &["status"], &["down", "--confirm"], &["plan"]] {
        let run = project.stackctl(command);
        run.expect_code(64);
        for part in expected {
            assert!(
                run.stderr.contains(part),
                "{command:?}: stderr lacks `{part}`:\n{}",
                run.stderr
            );
        }
        assert!(
            run.stdout.is_empty(),
            "nothing on stdout for an error: {}",
            run.stdout
        );
    }
    assert_eq!(
        emulator.requests().len(),
        0,
        "no AWS request may be sent for a bad stack file"
    );
}

#[test]
fn an_unknown_key() {
    refused(
        |p| {
            p.edit(
                "stack.toml",
                "[table]\n",
                "[table]\nbiling_mode = \"PROVISIONED\"\n",
            )
        },
        &["stack.toml:9:1", "unknown field `biling_mode`", "fix:"],
    );
}

#[test]
fn a_bad_key_type() {
    refused(
        |p| {
            p.edit(
                "stack.toml",
                r#"sort_key = { name = "itemId", type = "S" }"#,
                r#"sort_key = { name = "itemId", type = "BOOL" }"#,
            )
        },
        &[
            "stack.toml:11:",
            "`table.sort_key.type`",
            "`BOOL` is not a DynamoDB key attribute type",
            "use \"S\" (string), \"N\" (number) or \"B\" (binary)",
        ],
    );
}

#[test]
fn an_invalid_table_name() {
    refused(
        |p| {
            p.edit(
                "stack.toml",
                "name = \"my-frontend-app-data\"",
                "name = \"my table!\"",
            )
        },
        &["stack.toml:9:", "`table.name`", "contains ` `"],
    );
}

#[test]
fn a_wrong_type() {
    refused(
        |p| p.edit("stack.toml", "memory_mb = 128", "memory_mb = \"lots\""),
        &["stack.toml:31:", "invalid type"],
    );
}

#[test]
fn a_reserved_environment_variable() {
    refused(
        |p| p.edit("stack.toml", "TABLE_NAME = ", "AWS_REGION = "),
        &[
            "`function.environment.AWS_REGION`",
            "reserved by the Lambda runtime",
        ],
    );
}

#[test]
fn a_runtime_aws_no_longer_accepts() {
    refused(
        |p| p.edit("stack.toml", "nodejs24.x", "nodejs20.x"),
        &[
            "`function.runtime`",
            "AWS no longer accepts new functions on `nodejs20.x` (blocked since 2026-08-31)",
            "use \"nodejs24.x\"",
        ],
    );
}

#[test]
fn a_policy_template_with_an_unknown_placeholder() {
    refused(
        |p| {
            p.edit(
                "policies/lambda-dynamodb-policy.json",
                "${table.arn}",
                "${table.ARN}",
            )
        },
        &[
            "lambda-dynamodb-policy.json",
            "unknown placeholder `${table.ARN}`",
        ],
    );
}

#[test]
fn a_missing_stack_file_is_a_usage_error() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let run = project.stackctl(&["-f", "nope.toml", "status"]);
    run.expect_code(64);
    assert!(
        run.stderr.contains("nope.toml: cannot read the stack file"),
        "{}",
        run.stderr
    );
    let usage = project.stackctl(&["frobnicate"]);
    usage.expect_code(64);
    assert_eq!(emulator.requests().len(), 0);
}
