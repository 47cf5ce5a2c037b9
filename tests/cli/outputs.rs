//! `stackctl outputs` (issue 26, item 2): the stack's outputs for CI and frontend builds. Before up: exit 2,
//! `deployed: false`, every value missing; after up (URL, alias and managed pool): exit 0 and the values
//! status's `.outputs` gives, from fewer calls, exactly these; env lines that parse; a stage's own values;
//! another deployment's table or function (under the stack's names) never printed as the stack's;
//! `--output env` refused for every other command, before anything is sent.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::support::*;

const SECTIONS: &str = "\n[function.url]\nauth = \"none\"\n\n[function.deploy]\nalias = \"live\"\nverify = \"none\"\n\n[auth]\ncognito = true\n";

/// The project with a URL on the alias `live` and the managed pool.
fn full_project(emulator: &Emulator) -> Project {
    let project = Project::new(emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n{SECTIONS}"),
    );
    project
}

/// The operations sent since `mark`, sorted.
fn operations_since(emulator: &Emulator, mark: u64) -> Vec<String> {
    let mut ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .map(|r| r.operation)
        .collect();
    ops.sort();
    ops
}

/// `KEY=value` lines as a map (a line without `=` fails the test).
fn env_lines(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=value");
            (key.to_string(), value.to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn outputs_are_statuss_from_fewer_calls_and_missing_before_up() {
    let emulator = Emulator::start();
    emulator.strict().set(json!({"lambda_versions": true}));
    let project = full_project(&emulator);

    // Nothing deployed: exit 2, every resource's value null and named in `missing`, nothing written.
    let mark = emulator.mark();
    let before = project.stackctl(&["outputs", "--output", "json"]);
    before.expect_code(2);
    let doc = before.json();
    crate::contract::assert_envelope(&doc, "outputs", None);
    assert_eq!(doc["deployed"], false);
    assert_eq!(doc["outputs"]["url"], Value::Null);
    assert_eq!(doc["outputs"]["table_arn"], Value::Null);
    assert_eq!(doc["outputs"]["region"], "us-east-1");
    let missing: Vec<&str> = doc["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for key in [
        "url",
        "table_arn",
        "function_arn",
        "role_arn",
        "alias",
        "alias_version",
        "auth_user_pool_id",
        "auth_client_id",
        "auth_issuer",
        "auth_jwks_url",
        "table_name",
        "function_name",
    ] {
        assert!(missing.contains(&key), "{key} not in {missing:?}");
    }
    assert!(!missing.contains(&"stage") && !missing.contains(&"region"));
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let text = project.stackctl(&["outputs"]);
    text.expect_code(2);
    assert_eq!(text.stdout.trim(), "region: us-east-1");
    assert!(text.stderr.contains("run `stackctl up`"), "{}", text.stderr);
    assert!(text.stderr.contains("does not exist"), "{}", text.stderr);
    let env = project.stackctl(&["outputs", "--output", "env"]);
    env.expect_code(2);
    assert_eq!(env.stdout, "REGION=us-east-1\n");

    project.stackctl(&["up"]).ok();

    let status = project.stackctl(&["status", "--output", "json"]).json();
    let mark = emulator.mark();
    let after = project.stackctl(&["outputs", "--output", "json"]);
    let calls = operations_since(&emulator, mark);
    after.ok();
    let doc = after.json();
    assert_eq!(doc["deployed"], true);
    assert_eq!(doc["missing"], json!([]));
    // Every key of status's outputs, with status's value; then the names, the region and the stage.
    let outputs = doc["outputs"].as_object().unwrap();
    let theirs = status["outputs"].as_object().unwrap();
    assert!(theirs.len() >= 10, "{theirs:?}");
    for (key, value) in theirs {
        assert!(!value.is_null(), "status's {key} is null");
        assert_eq!(outputs.get(key), Some(value), "{key}");
    }
    let keys: Vec<&String> = outputs.keys().collect();
    assert_eq!(
        &keys[theirs.len()..],
        ["table_name", "function_name", "region", "stage"]
    );
    assert_eq!(outputs["table_name"], TABLE);
    assert_eq!(outputs["function_name"], FUNCTION);
    assert_eq!(outputs["stage"], Value::Null);
    assert_eq!(outputs["alias"], "live");

    // Exactly the reads that give each value and say whose it is: no policy, log group, permissions,
    // versions, attached policies, users, account settings or STS; fewer than status's.
    assert_eq!(
        calls,
        [
            "DescribeTable",
            "DescribeUserPool",
            "DescribeUserPoolClient",
            "GetAlias",
            "GetFunction",
            "GetFunctionUrlConfig",
            "GetRole",
            "ListTagsOfResource",
            "ListUserPoolClients",
            "ListUserPools",
        ]
    );
    let mark = emulator.mark();
    project.stackctl(&["status"]).ok();
    let status_calls = operations_since(&emulator, mark);
    assert!(
        calls.len() < status_calls.len(),
        "{calls:?} vs {status_calls:?}"
    );

    // Env lines: one per value that is there, upper-cased (with --prefix: prefixed), parsing back to the
    // JSON's values.
    let env = project.stackctl(&["outputs", "--output", "env", "--prefix", "VITE_"]);
    env.ok();
    let lines = env_lines(&env.stdout);
    let expected: BTreeMap<String, String> = outputs
        .iter()
        .filter_map(|(k, v)| {
            Some((
                format!("VITE_{}", k.to_uppercase()),
                v.as_str()?.to_string(),
            ))
        })
        .collect();
    assert_eq!(lines, expected);
    assert!(lines.contains_key("VITE_URL") && lines.contains_key("VITE_AUTH_CLIENT_ID"));
    assert!(!lines.contains_key("VITE_STAGE"));
    // Text: `key: value` lines, nothing else on stdout.
    let text = project.stackctl(&["outputs"]);
    text.ok();
    assert_eq!(text.stdout.lines().count(), expected.len());
    assert!(
        text.stdout
            .contains(&format!("function_name: {FUNCTION}\n")),
        "{}",
        text.stdout
    );

    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    project.stackctl(&["outputs"]).expect_code(2);
}

/// A stage prints its own values (its names carry the stage); the unstaged stack is not deployed for it;
/// a table and a function under another stage's names but tagged by someone else are never printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_stage_prints_its_own_and_never_another_deployments() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["--stage", "pr-2", "up"]).ok();

    let staged = project.stackctl(&["--stage", "pr-2", "outputs", "--output", "json"]);
    staged.ok();
    let doc = staged.json();
    crate::contract::assert_envelope(&doc, "outputs", Some("pr-2"));
    assert_eq!(doc["outputs"]["stage"], "pr-2");
    assert_eq!(doc["outputs"]["table_name"], format!("{TABLE}-pr-2"));
    assert_eq!(doc["outputs"]["function_name"], format!("{FUNCTION}-pr-2"));
    assert_eq!(doc["outputs"]["url"], Value::Null);
    assert_eq!(doc["missing"], json!([]));
    project.stackctl(&["outputs"]).expect_code(2);

    // Stage pr-4's names, taken by someone else's table and function (their tags name stack
    // `someone-else`): exit 2, their values null, the owner named; nothing written.
    let aws = emulator.moto_clients().await;
    let tags = [
        ("stackctl:stack", "someone-else"),
        ("stackctl:stage", "pr-4"),
    ];
    let mut table = create_stack_table(&aws.dynamodb)
        .table_name(format!("{TABLE}-pr-4"))
        .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest);
    for (k, v) in tags {
        let tag = aws_sdk_dynamodb::types::Tag::builder().key(k).value(v);
        table = table.tags(tag.build().unwrap());
    }
    table.send().await.unwrap();
    let role = aws
        .iam
        .create_role()
        .role_name("their-role-pr-4")
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap();
    aws.lambda
        .create_function()
        .function_name(format!("{FUNCTION}-pr-4"))
        .role(role.role().unwrap().arn())
        .runtime(aws_sdk_lambda::types::Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(aws_sdk_lambda::primitives::Blob::new(tiny_zip(
                    "exports.handler = async () => 1;",
                )))
                .build(),
        )
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let foreign = project.stackctl(&["--stage", "pr-4", "outputs", "--output", "json"]);
    foreign.expect_code(2);
    let doc = foreign.json();
    for key in ["table_arn", "table_name", "function_arn", "function_name"] {
        assert_eq!(doc["outputs"][key], Value::Null, "{key}");
        assert!(
            doc["missing"].as_array().unwrap().contains(&json!(key)),
            "{key}"
        );
    }
    assert!(
        foreign.stderr.contains("owned by stack `someone-else`"),
        "{}",
        foreign.stderr
    );
    let env = project.stackctl(&["--stage", "pr-4", "outputs", "--output", "env"]);
    env.expect_code(2);
    // Only what is the stage's own (its role does not exist either).
    assert_eq!(env.stdout, "REGION=us-east-1\nSTAGE=pr-4\n");
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    project
        .stackctl(&["--stage", "pr-2", "down", "--confirm"])
        .ok();
}

/// `--output env` is `outputs`' alone, `--prefix` is for env lines and a variable name's start: exit 64
/// before any request.
#[tokio::test(flavor = "multi_thread")]
async fn env_output_elsewhere_and_bad_prefixes_are_refused_before_any_request() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    for args in [
        &["status", "--output", "env"][..],
        &["plan", "--output", "env"][..],
        &["outputs", "--prefix", "VITE_"][..],
        &["outputs", "--output", "env", "--prefix", "vite_"][..],
        &["outputs", "--output", "env", "--prefix", "A$B"][..],
    ] {
        let run = project.stackctl(args);
        run.expect_code(64);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(run.stderr.contains("error"), "{args:?}: {}", run.stderr);
    }
    let env = project.stackctl_with(&["status"], &[("STACKCTL_OUTPUT", "env")]);
    env.expect_code(64);
    assert!(env.stderr.contains("STACKCTL_OUTPUT"), "{}", env.stderr);
    assert!(emulator.requests_since(mark).is_empty());
}

/// An alias under `[function.deploy]`'s name that the stack did not make (no `stackctl:alias` marker naming
/// it, not stackctl's description) is not the stack's: its name and version are null and missing, exit 2,
/// while the function's own values are printed.
#[tokio::test(flavor = "multi_thread")]
async fn an_alias_the_stack_did_not_make_is_not_printed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.moto_clients().await;
    publish_and_alias(&aws.lambda, FUNCTION, "live", None).await;
    deploy_to_alias_live(&project);
    let run = project.stackctl(&["outputs", "--output", "json"]);
    run.expect_code(2);
    let doc = run.json();
    assert_eq!(doc["outputs"]["alias"], Value::Null);
    assert_eq!(doc["outputs"]["alias_version"], Value::Null);
    assert_eq!(doc["missing"], json!(["alias", "alias_version"]));
    assert_eq!(doc["outputs"]["function_name"], FUNCTION);
    assert!(
        run.stderr.contains("an alias this stack did not create"),
        "{}",
        run.stderr
    );
}

/// An alias someone else made under `[function.deploy]`'s name can carry a URL of its own (AWS keeps a URL
/// config per qualifier: the strict proxy's `url_qualifiers`): that URL is theirs, not the stack's, and is
/// printed by neither `outputs` nor `status`.
#[tokio::test(flavor = "multi_thread")]
async fn the_url_of_an_alias_the_stack_did_not_make_is_not_printed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    publish_and_alias(&aws.lambda, FUNCTION, "live", None).await;
    let theirs = aws
        .lambda
        .create_function_url_config()
        .function_name(FUNCTION)
        .qualifier("live")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_string();
    deploy_to_alias_live(&project);

    let run = project.stackctl(&["outputs", "--output", "json"]);
    run.expect_code(2);
    let doc = run.json();
    assert_eq!(doc["outputs"]["url"], Value::Null, "{doc:#}");
    assert_eq!(doc["missing"], json!(["url", "alias", "alias_version"]));
    assert!(run.stderr.contains("not the stack's URL"), "{}", run.stderr);
    let env = project.stackctl(&["outputs", "--output", "env"]);
    env.expect_code(2);
    assert!(!env.stdout.contains(&theirs), "{}", env.stdout);
    assert!(!env.stdout.contains("URL="), "{}", env.stdout);
}

/// `status` agrees with `outputs` (trust27, item 1): the URL on an alias the stack did not make is not the
/// stack's output, neither in the JSON (`.outputs.url` null) nor as text (which says why); exit 2 as before.
/// `plan` neither: its outputs and its function URL line show no URL of theirs.
#[tokio::test(flavor = "multi_thread")]
async fn status_does_not_show_the_url_of_an_alias_the_stack_did_not_make() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    publish_and_alias(&aws.lambda, FUNCTION, "live", None).await;
    let theirs = aws
        .lambda
        .create_function_url_config()
        .function_name(FUNCTION)
        .qualifier("live")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_string();
    deploy_to_alias_live(&project);

    let json = project.stackctl(&["status", "--output", "json"]);
    json.expect_code(2);
    let doc = json.json();
    assert_eq!(doc["outputs"]["url"], Value::Null, "{doc:#}");
    // Nor their alias as the stack's: status agrees with `outputs` (all three missing).
    assert_eq!(doc["outputs"]["alias"], Value::Null, "{doc:#}");
    assert_eq!(doc["outputs"]["alias_version"], Value::Null, "{doc:#}");
    assert!(!json.stdout.contains(&theirs), "{}", json.stdout);
    let text = project.stackctl(&["status"]);
    text.expect_code(2);
    assert!(!text.stdout.contains(&theirs), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("url: not the stack's: alias `live` was not made by stackctl"),
        "{}",
        text.stdout
    );
    // plan, with the same outputs, says the same.
    let plan = project.stackctl(&["plan", "--output", "json"]);
    plan.expect_code(2);
    assert_eq!(
        plan.json()["outputs"]["url"],
        Value::Null,
        "{}",
        plan.stdout
    );
    assert_eq!(
        plan.json()["outputs"]["alias"],
        Value::Null,
        "{}",
        plan.stdout
    );
    assert_eq!(
        plan.json()["outputs"]["alias_version"],
        Value::Null,
        "{}",
        plan.stdout
    );
    assert!(!plan.stdout.contains(&theirs), "{}", plan.stdout);
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(!plan.stdout.contains(&theirs), "{}", plan.stdout);
}

/// Review finding (fixa27): down neither previews nor deletes the URL of an alias the stack did not make.
#[tokio::test(flavor = "multi_thread")]
async fn down_neither_shows_nor_deletes_the_url_of_an_alias_the_stack_did_not_make() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    publish_and_alias(&aws.lambda, FUNCTION, "live", None).await;
    let theirs = aws
        .lambda
        .create_function_url_config()
        .function_name(FUNCTION)
        .qualifier("live")
        .auth_type(aws_sdk_lambda::types::FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url()
        .to_string();
    deploy_to_alias_live(&project);

    let preview = project.stackctl(&["down"]);
    assert!(!preview.stdout.contains(&theirs), "{}", preview.stdout);
    let from = last_request(&emulator);
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let deleted: Vec<Value> = emulator
        .strict()
        .requests_json()
        .into_iter()
        .filter(|r| r["seq"].as_u64().is_some_and(|s| s > from) && r["from_rust"] == true)
        .filter(|r| r["op"] == "DeleteFunctionUrlConfig" && r["qualifier"] == "live")
        .collect();
    assert_eq!(deleted, Vec::<Value>::new());
}

/// The proxy's last request number.
fn last_request(emulator: &Emulator) -> u64 {
    emulator
        .strict()
        .requests_json()
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

/// `[function.deploy]` with the alias `live` (no verification: these tests deploy nothing after it).
fn deploy_to_alias_live(project: &Project) {
    project.edit(
        "stack.toml",
        "[function.environment]",
        "[function.deploy]\nalias = \"live\"\nverify = \"none\"\n\n[function.environment]",
    );
}
