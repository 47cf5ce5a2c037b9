//! The function URL (`[function.url]`): created with the two statements a public URL needs, shown in
//! `outputs.url`, its CORS changed in place, its public statements removed for `aws_iam`, everything removed
//! with the section and by `down`; an adopted function's own URL and statements of others left alone;
//! reserved concurrency set, changed, removed, and drift.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, FunctionUrlAuthType, Runtime};

use crate::support::*;

const FUNCTION: &str = "my-frontend-app-api";
const SID_URL: &str = "stackctl-my-frontend-app-public-url";
const SID_INVOKE: &str = "stackctl-my-frontend-app-public-url-invoke";

const PUBLIC_WITH_CORS: &str = "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
    allow_origins = [\"https://app.example.com\"]\nallow_methods = [\"GET\", \"POST\", \"PATCH\", \"DELETE\"]\n\
    allow_headers = [\"content-type\"]\nmax_age = 300\n";

/// stack.toml with `section` added after `[function]`'s keys (before `[function.environment]`).
fn with_section(project: &Project, section: &str) {
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n{section}\n"),
    );
}

/// The function's resource policy as AWS would answer it (through the strict proxy), or None.
async fn policy(emulator: &Emulator) -> Option<serde_json::Value> {
    let aws = emulator.clients().await;
    match aws.lambda.get_policy().function_name(FUNCTION).send().await {
        Ok(out) => Some(serde_json::from_str(out.policy().unwrap()).unwrap()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(err) => panic!("GetPolicy: {err:?}"),
    }
}

/// The Sids in the function's resource policy.
async fn sids(emulator: &Emulator) -> Vec<String> {
    let Some(policy) = policy(emulator).await else {
        return Vec::new();
    };
    let mut sids: Vec<String> = policy["Statement"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["Sid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    sids.sort();
    sids
}

/// AuthType and URL of the live URL config, or None.
async fn url_config(emulator: &Emulator) -> Option<(String, String, Option<i32>)> {
    let aws = emulator.clients().await;
    match aws
        .lambda
        .get_function_url_config()
        .function_name(FUNCTION)
        .send()
        .await
    {
        Ok(out) => Some((
            out.auth_type().as_str().to_string(),
            out.function_url().to_string(),
            out.cors().and_then(|c| c.max_age()),
        )),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(err) => panic!("GetFunctionUrlConfig: {err:?}"),
    }
}

fn url_json(json: &serde_json::Value) -> serde_json::Value {
    json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "function_url")
        .unwrap_or_else(|| panic!("no function_url resource in {json}"))
        .clone()
}

fn sorted(mut ops: Vec<String>) -> Vec<String> {
    ops.sort();
    ops
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_url_gets_both_statements_its_cors_and_is_in_outputs() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(&project, PUBLIC_WITH_CORS);

    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("+ function_url {FUNCTION}: create")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!("    + permission.{SID_URL}: lambda:InvokeFunctionUrl for anyone, when lambda:FunctionUrlAuthType = NONE")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!("    + permission.{SID_INVOKE}: lambda:InvokeFunction for anyone, when lambda:InvokedViaFunctionUrl = true")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("warning: `function.url.auth = \"none\"`: anyone on the internet can call this API. The handler takes `userId` from the query string without authentication, so any caller can read, change and delete any user's items. set `function.reserved_concurrency`"),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains('\x1b'),
        "no colour when not a terminal"
    );

    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let json = up.json();
    let url = json["outputs"]["url"]
        .as_str()
        .expect("outputs.url")
        .to_string();
    assert!(url.starts_with("https://"), "{url}");
    assert!(
        json["outputs"]["function_arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":function:{FUNCTION}")),
        "{json}"
    );
    assert!(json["outputs"]["table_arn"]
        .as_str()
        .unwrap()
        .ends_with(":table/my-frontend-app-data"));
    assert!(json["outputs"]["role_arn"]
        .as_str()
        .unwrap()
        .ends_with(":role/stackctl/my-frontend-app/my-frontend-app-lambda-role"));
    assert!(
        json["warnings"][0]
            .as_str()
            .unwrap()
            .contains("anyone on the internet"),
        "{json}"
    );
    assert!(
        up.stderr
            .contains("warning: `function.url.auth = \"none\"`"),
        "{}",
        up.stderr
    );

    let (auth, live_url, max_age) = url_config(&emulator).await.expect("a URL config");
    assert_eq!(
        (auth.as_str(), live_url.as_str(), max_age),
        ("NONE", url.as_str(), Some(300))
    );
    assert_eq!(
        sids(&emulator).await,
        vec![SID_URL.to_string(), SID_INVOKE.to_string()]
    );
    let policy = policy(&emulator).await.unwrap();
    let statement = |sid: &str| {
        policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap()
            .clone()
    };
    assert_eq!(
        statement(SID_URL)["Condition"]["StringEquals"]["lambda:FunctionUrlAuthType"],
        "NONE"
    );
    assert_eq!(statement(SID_URL)["Action"], "lambda:InvokeFunctionUrl");
    assert_eq!(
        statement(SID_INVOKE)["Condition"]["Bool"]["lambda:InvokedViaFunctionUrl"],
        "true"
    );
    assert_eq!(statement(SID_INVOKE)["Action"], "lambda:InvokeFunction");
    // The URL sends the CORS headers, so the handler must not.
    assert_eq!(
        function_variables(&emulator)
            .await
            .get("STACKCTL_CORS")
            .map(String::as_str),
        Some("function-url")
    );

    // In sync: no write, and status shows the URL.
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let status = project.stackctl(&["status", "--output", "json"]);
    status.ok();
    let status = status.json();
    assert_eq!(status["outputs"]["url"], url.as_str());
    assert_eq!(url_json(&status)["state"]["url"], url.as_str());
    assert_eq!(url_json(&status)["state"]["auth"], "NONE");
    let text = project.stackctl(&["status"]);
    assert!(
        text.stdout.contains(&format!("url: {url}")),
        "{}",
        text.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_changes_in_place_and_aws_iam_removes_both_public_statements() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(&project, PUBLIC_WITH_CORS);
    project.stackctl(&["up"]).ok();
    let (_, url, _) = url_config(&emulator).await.unwrap();

    project.edit("stack.toml", "max_age = 300", "max_age = 600");
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("~ function_url {FUNCTION}: update")),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("max_age 300 -> "), "{}", plan.stdout);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["UpdateFunctionUrlConfig"]);
    assert_eq!(
        url_config(&emulator).await,
        Some(("NONE".into(), url.clone(), Some(600)))
    );

    project.edit(
        "stack.toml",
        "auth = \"none\"\nallow_anonymous = true",
        "auth = \"aws_iam\"",
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.ok();
    assert!(
        !up.stdout.contains("anyone on the internet"),
        "{}",
        up.stdout
    );
    assert_eq!(
        sorted(emulator.writes_since(mark)),
        vec![
            "RemovePermission",
            "RemovePermission",
            "UpdateFunctionUrlConfig"
        ]
    );
    assert_eq!(url_config(&emulator).await.unwrap().0, "AWS_IAM");
    assert_eq!(
        url_config(&emulator).await.unwrap().1,
        url,
        "the URL stays the same"
    );
    assert_eq!(sids(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn removing_the_section_deletes_the_url_and_its_statements_but_not_others() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(
        &project,
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(
        function_variables(&emulator)
            .await
            .get("STACKCTL_CORS")
            .map(String::as_str),
        Some("handler")
    );
    // Someone else's statement on the stack's function.
    let aws = emulator.clients().await;
    aws.lambda
        .add_permission()
        .function_name(FUNCTION)
        .statement_id("team-scheduler")
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .send()
        .await
        .unwrap();

    project.edit(
        "stack.toml",
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
        "",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("- function_url {FUNCTION}: delete")),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.ok();
    assert!(up.stdout.contains("1 deleted"), "{}", up.stdout);
    let writes = emulator.writes_since(mark);
    assert_eq!(
        sorted(writes.clone()),
        vec![
            "DeleteFunctionUrlConfig",
            "RemovePermission",
            "RemovePermission",
            "UntagResource"
        ],
        "{writes:?}"
    );
    assert_eq!(url_config(&emulator).await, None);
    assert_eq!(sids(&emulator).await, vec!["team-scheduler".to_string()]);
    assert_eq!(
        function_variables(&emulator)
            .await
            .get("STACKCTL_CORS")
            .map(String::as_str),
        Some("handler")
    );

    // Gone from the stack: not read, not shown, nothing to do.
    let mark = emulator.mark();
    let again = project.stackctl(&["up"]);
    again.ok();
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert!(!again.stdout.contains("function_url"), "{}", again.stdout);
    let lambda_reads: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.service == "lambda")
        .map(|r| r.operation)
        .collect();
    assert_eq!(
        lambda_reads,
        vec!["GetFunction"],
        "no URL read without [function.url]"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_the_url_and_its_statements_before_the_function() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(&project, PUBLIC_WITH_CORS);
    project.stackctl(&["up"]).ok();

    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    assert!(
        preview
            .stdout
            .contains(&format!("- function_url {FUNCTION}: delete")),
        "{}",
        preview.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    let writes = emulator.writes_since(mark);
    let at = |op: &str| {
        writes
            .iter()
            .position(|w| w == op)
            .unwrap_or_else(|| panic!("{op}: {writes:?}"))
    };
    assert!(
        at("DeleteFunctionUrlConfig") < at("DeleteFunction"),
        "{writes:?}"
    );
    assert!(at("RemovePermission") < at("DeleteFunction"), "{writes:?}");
    assert!(
        !writes.iter().any(|w| w == "UntagResource"),
        "the function's tags go with it: {writes:?}"
    );
    assert_eq!(url_config(&emulator).await, None);
    assert_eq!(policy(&emulator).await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_adopted_functions_own_url_is_never_changed_and_a_url_made_for_it_is_removed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A function of someone else's (with a role of theirs), with its own AWS_IAM URL.
    let moto = emulator.moto_clients().await;
    let role = moto
        .iam
        .create_role()
        .role_name("someone-elses-role")
        .assume_role_policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#)
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let aws = emulator.clients().await;
    aws.lambda
        .create_function()
        .function_name(FUNCTION)
        .role(&role)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let theirs = aws
        .lambda
        .create_function_url_config()
        .function_name(FUNCTION)
        .auth_type(FunctionUrlAuthType::AwsIam)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_string();

    with_section(
        &project,
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    let up = project.stackctl(&["up"]);
    up.ok();
    assert!(
        up.stdout
            .contains("the function's own URL (not created by this stack)"),
        "{}",
        up.stdout
    );
    assert_eq!(
        url_config(&emulator).await.map(|c| (c.0, c.1)),
        Some(("AWS_IAM".into(), theirs.clone()))
    );
    assert_eq!(
        sids(&emulator).await,
        Vec::<String>::new(),
        "no public statement on their URL"
    );
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(
        url_config(&emulator).await.map(|c| c.1),
        Some(theirs),
        "their URL survives down"
    );

    // Without a URL of its own, the stack makes one there, and down removes it (and only it).
    aws.lambda
        .delete_function_url_config()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    project.stackctl(&["up"]).ok();
    assert_eq!(url_config(&emulator).await.unwrap().0, "NONE");
    assert_eq!(
        sids(&emulator).await,
        vec![SID_URL.to_string(), SID_INVOKE.to_string()]
    );
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(url_config(&emulator).await, None);
    assert_eq!(sids(&emulator).await, Vec::<String>::new());
    let function = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert!(
        !function
            .tags()
            .is_some_and(|t| t.contains_key("stackctl:url")),
        "the marker is taken off with the URL: {:?}",
        function.tags()
    );
    // Nothing of the stack's is left on their function; the stack's log group and role stay while the function
    // that uses them does (README: down).
    assert_eq!(
        leftovers(&emulator).await,
        vec![
            format!("function {FUNCTION}"),
            format!("log_group /aws/lambda/{FUNCTION}"),
            format!("log_group /aws/lambda/{FUNCTION} tag stackctl:stack=my-frontend-app"),
            format!("role {ROLE}"),
            format!("role {ROLE} tag stackctl:region=us-east-1"),
            format!("role {ROLE} tag stackctl:stack=my-frontend-app"),
            "role someone-elses-role".to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reserved_concurrency_is_set_changed_removed_and_drift() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    let reserved = || async {
        aws.lambda
            .get_function()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap()
            .concurrency()
            .and_then(|c| c.reserved_concurrent_executions())
    };
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\nreserved_concurrency = 5\n",
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(reserved().await, Some(5));

    project.edit(
        "stack.toml",
        "reserved_concurrency = 5",
        "reserved_concurrency = 3",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("    ~ reserved_concurrency: 5 -> 3"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), vec!["PutFunctionConcurrency"]);
    assert_eq!(reserved().await, Some(3));

    aws.lambda
        .put_function_concurrency()
        .function_name(FUNCTION)
        .reserved_concurrent_executions(50)
        .send()
        .await
        .unwrap();
    let status = project.stackctl(&["status"]);
    status.expect_code(2);
    assert!(
        status
            .stdout
            .contains("    ~ reserved_concurrency: 50 -> 3"),
        "{}",
        status.stdout
    );

    project.edit("stack.toml", "reserved_concurrency = 3\n", "");
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(
        emulator.writes_since(mark),
        vec!["DeleteFunctionConcurrency"]
    );
    assert_eq!(reserved().await, None);
}

/// AddPermission whose answer was lost is retried by the SDK and then answered 409 (the Sid is already
/// there): stackctl reads the policy again, finds its statement as it writes it, and carries on.
#[tokio::test(flavor = "multi_thread")]
async fn a_conflict_whose_statement_is_already_there_is_success() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(
        &project,
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    // Every first AddPermission is applied, its answer dropped; the retry finds the Sid taken (409).
    emulator.strict().set(serde_json::json!({
        "drop_rate": 1.0, "drop_after_forward": 1.0, "fault_operations": ["AddPermission"],
        "max_consecutive_faults": 1
    }));
    let up = project.stackctl(&["up"]);
    up.ok();
    assert!(
        emulator
            .strict()
            .injected_by("AddPermission", "ResourceConflictException")
            >= 1,
        "no AddPermission was answered 409"
    );
    assert_eq!(
        sids(&emulator).await,
        vec![SID_URL.to_string(), SID_INVOKE.to_string()]
    );
    emulator.strict().set(serde_json::json!({"drop_rate": 0.0}));
    project.stackctl(&["plan"]).expect_code(0);
}

/// A statement of the stack's that no longer grants what it should is replaced without a moment with
/// none: the new one goes in under a new Sid before the old one is removed, so the URL never answers 403
/// in between; the next up is in sync, and down removes it.
#[tokio::test(flavor = "multi_thread")]
async fn a_changed_statement_is_added_under_a_new_sid_before_the_old_one_is_removed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(
        &project,
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    // Someone rewrites the stack's InvokeFunction statement without its condition.
    let moto = emulator.moto_clients().await;
    moto.lambda
        .remove_permission()
        .function_name(FUNCTION)
        .statement_id(SID_INVOKE)
        .send()
        .await
        .unwrap();
    moto.lambda
        .add_permission()
        .function_name(FUNCTION)
        .statement_id(SID_INVOKE)
        .action("lambda:InvokeFunction")
        .principal("*")
        .send()
        .await
        .unwrap();
    project.stackctl(&["plan"]).expect_code(2);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let permission_calls: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .filter(|op| op.ends_with("Permission"))
        .collect();
    assert_eq!(permission_calls, vec!["AddPermission", "RemovePermission"]);
    let now = sids(&emulator).await;
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.contains(&SID_URL.to_string())
            && !now.contains(&SID_INVOKE.to_string())
            && now.iter().any(|s| s.starts_with(&format!("{SID_INVOKE}-"))),
        "{now:?}"
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(sids(&emulator).await, Vec::<String>::new());
}

/// Lambda's resource policies are eventually consistent: AddPermission right after another write of the
/// policy can answer 409 with the statement not there. stackctl reads the policy, finds it missing, and
/// tries again until it is in.
#[tokio::test(flavor = "multi_thread")]
async fn add_permission_right_after_another_policy_write_is_retried() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_section(
        &project,
        "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    // The policy stays busy until the test says it has settled: after two refused AddPermission.
    emulator
        .strict()
        .set(serde_json::json!({"permission_write_conflict_ms": 600_000}));
    let mut up = project
        .command(&["up"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running stackctl up");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while emulator
        .strict()
        .injected_by("AddPermission", "ResourceConflictException")
        < 2
    {
        if let Some(status) = up.try_wait().unwrap() {
            let out = Run::from(up.wait_with_output().unwrap());
            panic!(
                "stackctl ended ({status}) first:\n{}\n{}",
                out.stdout, out.stderr
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second AddPermission was never answered 409 twice: {:?}",
            emulator.strict().injected()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    emulator
        .strict()
        .set(serde_json::json!({"permission_write_conflict_ms": 0}));
    Run::from(up.wait_with_output().unwrap()).ok();
    assert_eq!(
        sids(&emulator).await,
        vec![SID_URL.to_string(), SID_INVOKE.to_string()]
    );
}
