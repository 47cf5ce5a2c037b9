//! The check behind every integration test: each run uses a user holding only the operator policy, and moto
//! enforces IAM with resources as AWS does (tests/support/moto_iam.py). These tests prove that the check can
//! fail: a policy scoped to other names, or one missing an action, is denied.

use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// The operator policy with each resource scoped to names starting `other-` instead of the stack's.
fn scoped_to_other_names() -> String {
    let policy = operator_policy();
    for (from, _) in RESCOPED {
        assert!(policy.contains(from), "the operator policy has no {from}");
    }
    RESCOPED
        .iter()
        .fold(policy, |policy, (from, to)| policy.replace(from, to))
}

/// The operator policy is generated (`stackctl policy`): its resources name the stack's own names, which
/// these rename.
const RESCOPED: [(&str, &str); 3] = [
    ("table/my-frontend-app-data", "table/other-data"),
    ("function:my-frontend-app-api", "function:other-api"),
    (
        "log-group:/aws/lambda/my-frontend-app-api",
        "log-group:/aws/lambda/other-api",
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn up_with_the_policy_scoped_to_other_names_is_denied_and_creates_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // Point-in-time recovery too: its Describe/UpdateContinuousBackups are table actions like the others.
    project.edit(
        "stack.toml",
        "billing_mode = \"PAY_PER_REQUEST\"",
        "billing_mode = \"PAY_PER_REQUEST\"\npoint_in_time_recovery = 7",
    );
    let scoped = emulator.user("scoped-to-others", &[scoped_to_other_names()]);

    let mark = emulator.mark();
    let run = project.run_as(&scoped, &["up"]);
    run.expect_code(1);
    let denied = emulator.denials_of(&scoped);
    assert!(!denied.is_empty(), "nothing was denied: {run:?}");
    for d in &denied {
        assert_eq!(d["error"], "AccessDenied", "{d}");
        let resource = d["resource"].as_str().unwrap();
        assert!(
            resource.contains(":table/my-frontend-app-")
                || resource.contains(":function:my-frontend-app-")
                || resource.contains(":log-group:/aws/lambda/my-frontend-app-"),
            "denied on a resource the stack does not name: {d}"
        );
    }
    // stackctl names what AWS refused: the error code and the action.
    assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);
    assert!(
        denied
            .iter()
            .any(|d| run.stderr.contains(d["action"].as_str().unwrap())),
        "no denied action named in:\n{}\ndenied: {denied:#?}",
        run.stderr
    );
    // Nothing was created: no write reached the emulator.
    let writes = emulator.writes_since(mark);
    assert!(writes.is_empty(), "{writes:?}");

    // The same run with the operator policy itself passes (and is checked by the harness as every run is).
    project.stackctl(&["up"]).ok();
    assert!(emulator.denials_of(&emulator.operator).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_missing_one_action_is_denied_that_action() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let no_status = emulator.user(
        "no-list-tags",
        &[
            operator_policy_without("lambda:ListTags"),
            operator_policy_without("lambda:InvokeFunction"),
        ],
    );
    // Two inline policies: each allows what the other lacks, so together they allow everything.
    project.run_as(&no_status, &["status"]).ok();
    assert!(emulator.denials_of(&no_status).is_empty());

    let no_invoke = emulator.user(
        "no-invoke",
        &[operator_policy_without("lambda:InvokeFunction")],
    );
    let event =
        std::fs::read_to_string(format!("{REPO}/lambda/events/tutorial-create-item.json")).unwrap();
    project.write("event.json", &event);
    let run = project.run_as(&no_invoke, &["invoke", "event.json"]);
    run.expect_code(1);
    let denied = emulator.denials_of(&no_invoke);
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["action"], "lambda:InvokeFunction");
    assert_eq!(
        denied[0]["resource"],
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}")
    );
    assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_iam_refusal_is_named_with_its_code_action_and_fix() {
    // IAM answers in the query protocol's XML, unlike the JSON services: the refusal must still reach the
    // user as AccessDenied with AWS's message, not as an error with no code.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let no_iam_list = emulator.user(
        "no-iam-list",
        &[operator_policy_without("iam:ListAttachedRolePolicies")],
    );
    let run = project.run_as(&no_iam_list, &["status"]);
    run.expect_code(1);
    let denied = emulator.denials_of(&no_iam_list);
    assert!(
        denied
            .iter()
            .all(|d| d["action"] == "iam:ListAttachedRolePolicies"),
        "{denied:#?}"
    );
    run.assert_names_refusal(&["iam:ListAttachedRolePolicies"]);
}

#[test]
fn the_evaluator_derives_a_resource_for_every_scoped_operation_of_the_operator_policy() {
    // Every action a statement of the operator policy scopes to ARNs must be authorized on the resource AWS
    // uses: moto's default resource ("*") would be denied by every scoped statement.
    let python = std::path::Path::new(
        &std::env::var("STACKCTL_MOTO_SERVER")
            .unwrap_or_else(|_| format!("{REPO}/.venv/bin/moto_server")),
    )
    .with_file_name("python");
    let output = Command::new(python)
        .arg(format!("{REPO}/tests/support/moto_iam.py"))
        .arg("--self-test")
        .arg(format!("{REPO}/policies/stackctl-operator-policy.json"))
        .output()
        .expect("running moto_iam.py --self-test");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_client_cannot_claim_the_proxys_marks_to_skip_the_signature_check() {
    // The proxy's own marks make moto_iam.py skip the SigV4 check (side reads, rewritten bodies, requests it
    // answers itself); the proxy strips them from every client request. A forged signature with each mark
    // must still be refused.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let addr = emulator.url.trim_start_matches("http://").to_string();
    for mark in [
        "X-Strict-Proxy-Side-Request: 1",
        "X-Strict-Proxy-Rewritten: 1",
        "X-Strict-Proxy-Authorize: DescribeTable",
    ] {
        let body = format!(r#"{{"TableName":"{TABLE}"}}"#);
        let request = format!(
            "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
             X-Amz-Target: DynamoDB_20120810.DescribeTable\r\nX-Amz-Date: 20240101T000000Z\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential={}/20240101/us-east-1/dynamodb/aws4_request, \
             SignedHeaders=host;x-amz-date;x-amz-target, Signature=forged\r\n{mark}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            project.operator.id,
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
        assert!(answer.contains("SignatureDoesNotMatch"), "{mark}: {answer}");
    }
    let refused = emulator.denials_of(&emulator.operator);
    assert_eq!(refused.len(), 3, "{refused:#?}");
    // These refusals are this test's own doing, not a run's: forget them before the project's check on drop.
    std::fs::write(emulator.denials_path(), "").unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_the_proxy_answers_itself_is_authorized_too() {
    // GetAccountSettings never reaches moto (the proxy answers Lambda's pool): it is authorized first.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\nreserved_concurrency = 5\n",
    );
    let mut policy: Value = serde_json::from_str(&operator_policy()).unwrap();
    let statements = policy["Statement"].as_array_mut().unwrap();
    let before = statements.len();
    statements.retain(|s| s["Sid"] != "LambdaConcurrencyPool");
    assert_eq!(statements.len(), before - 1);
    let no_pool = emulator.user("no-pool", &[policy.to_string()]);

    project.run_as(&no_pool, &["plan"]);
    let denied = emulator.denials_of(&no_pool);
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["action"], "lambda:GetAccountSettings");
    assert_eq!(denied[0]["resource"], "*");

    // The operator policy allows it (the harness checks this run as every run).
    project.stackctl(&["plan"]).expect_code(2);
}

#[test]
fn a_refusal_is_not_lost_when_the_emulator_goes_before_the_project() {
    // The project's check on drop reads moto_iam.py's log, which lives in the emulator's directory: once the
    // emulator is gone, "no log" must not read as "nothing refused".
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A run refused by the emulator: the operator's key with a wrong secret.
    let run = Run::from(
        project
            .command(&["status"])
            .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
            .output()
            .unwrap(),
    );
    run.expect_code(1);
    assert!(!emulator.denials_of(&emulator.operator).is_empty());
    drop(emulator);
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(project)));
    assert!(
        checked.is_err(),
        "the project's check passed without its emulator's log"
    );
}

#[test]
fn an_unsigned_request_is_refused_as_aws_does_and_counted() {
    // AWS refuses a request without a signature (MissingAuthenticationToken); moto's enforcement crashed on it
    // (500) and logged nothing, so a run that sent one and shrugged off the error would pass.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let addr = emulator.url.trim_start_matches("http://").to_string();
    let body = format!(r#"{{"TableName":"{TABLE}"}}"#);
    let request = format!(
        "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         X-Amz-Target: DynamoDB_20120810.DescribeTable\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 400") || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(
        answer.contains("MissingAuthenticationTokenException"),
        "{answer}"
    );
    let refused: Vec<_> = emulator
        .denials()
        .into_iter()
        .filter(|d| d["error"] == "MissingAuthenticationToken")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    // The project's check counts it (no client of the emulator may send one).
    let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(project)));
    assert!(
        checked.is_err(),
        "the project's check passed over an unsigned request"
    );
}

/// The operator policy allows the user-admin and delete actions on pools with a `stackctl:stack` tag only
/// (`Null` on `aws:ResourceTag/stackctl:stack`, which moto_iam.py resolves from the pool's tags): a token
/// minted as the operator for a user of an untagged pool is denied (the calls `stackctl token` makes), the
/// same calls on the stack's own pool are allowed.
#[tokio::test(flavor = "multi_thread")]
async fn the_operator_cannot_administer_users_of_an_untagged_pool() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write(
        "stack.toml",
        &(project.read("stack.toml") + "\n[auth]\ncognito = true\n"),
    );
    project.stackctl(&["up"]).ok();
    let root = emulator.moto_clients().await.cognito;
    let untagged = root
        .create_user_pool()
        .pool_name("someone-elses-users")
        .send()
        .await
        .unwrap()
        .user_pool()
        .unwrap()
        .id()
        .unwrap()
        .to_string();
    let ours = root
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap()
        .user_pools()
        .iter()
        .find(|p| p.name() == Some("my-frontend-app-users"))
        .and_then(|p| p.id())
        .unwrap()
        .to_string();
    // A user holding the operator policy (its denials are this test's, not the harness's check's).
    let keys = emulator.user("operator-copy", &[operator_policy()]);
    let config = emulator.sdk_config_as(&keys).await;
    let operator = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let create = |pool: String| {
        operator
            .admin_create_user()
            .user_pool_id(pool)
            .username("x")
            .send()
    };
    let denied = create(untagged.clone()).await.unwrap_err();
    assert_eq!(
        denied.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException"),
        "{denied:?}"
    );
    let refused: Vec<Value> = emulator.denials_of(&keys);
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert_eq!(refused[0]["action"], "cognito-idp:AdminCreateUser");
    assert_eq!(
        refused[0]["resource"],
        format!("arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/{untagged}")
    );
    create(ours).await.unwrap();
    assert_eq!(emulator.denials_of(&keys).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_versioned_deploy_needs_only_the_operator_policy_and_each_of_its_actions() {
    // `[function.deploy]` with verify = "none": up publishes a version and points the alias at it, down takes
    // both away; the operator policy allows every call (the harness fails any run it denies), and the same up
    // under the policy without lambda:PublishVersion is refused exactly that.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "[function.environment]",
        "[function.deploy]\nverify = \"none\"\n\n[function.environment]",
    );
    let no_publish = emulator.user(
        "no-publish",
        &[operator_policy_without("lambda:PublishVersion")],
    );
    let run = project.run_as(&no_publish, &["up"]);
    run.expect_code(1);
    let denied = emulator.denials_of(&no_publish);
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["action"], "lambda:PublishVersion");
    assert_eq!(
        denied[0]["resource"],
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}")
    );
    assert!(run.stderr.contains("AccessDenied"), "{}", run.stderr);

    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let sent = emulator.sent_since(mark);
    for op in ["PublishVersion", "CreateAlias", "DeleteAlias"] {
        assert!(sent.iter().any(|s| s == op), "{op} not sent: {sent:?}");
    }
    assert!(emulator.denials_of(&emulator.operator).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn down_snapshot_needs_only_the_operator_policy_and_without_create_backup_deletes_nothing() {
    // CreateBackup is authorized on the table, DescribeBackup on the backup's ARN (table/NAME/backup/ID):
    // both snapshots taken and waited for under the operator policy (the harness fails any run it denies);
    // without dynamodb:CreateBackup, down is refused exactly that and deletes nothing.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    quick_snapshot_settle(&project);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    aws.dynamodb
        .put_item()
        .table_name(TABLE)
        .item(
            "userId",
            aws_sdk_dynamodb::types::AttributeValue::S("u".into()),
        )
        .item(
            "itemId",
            aws_sdk_dynamodb::types::AttributeValue::S("i".into()),
        )
        .send()
        .await
        .unwrap();
    let no_backup = emulator.user(
        "no-backup",
        &[operator_policy_without("dynamodb:CreateBackup")],
    );
    let mark = emulator.mark();
    let run = project.run_as(&no_backup, &["down", "--confirm", "--snapshot"]);
    run.expect_code(1);
    assert!(run.stderr.contains("nothing was deleted"), "{}", run.stderr);
    let denied = emulator.denials_of(&no_backup);
    assert_eq!(denied.len(), 1, "{denied:#?}");
    assert_eq!(denied[0]["action"], "dynamodb:CreateBackup");
    assert_eq!(
        denied[0]["resource"],
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}")
    );
    assert_eq!(emulator.writes_since(mark), vec!["CreateBackup"]);

    project.stackctl(&["down", "--confirm", "--snapshot"]).ok();
    let sent = emulator.sent_since(mark);
    for op in ["CreateBackup", "DescribeBackup", "DeleteTable"] {
        assert!(sent.iter().any(|s| s == op), "{op} not sent: {sent:?}");
    }
    assert!(emulator.denials_of(&emulator.operator).is_empty());
}
