//! `stackctl up`: creates the tutorial stack, converges changes with the fewest writes, keeps what it
//! does not own.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{BillingMode, KeyType, TableStatus};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn up_on_an_empty_account_creates_everything_the_tutorial_checks() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let run = project.stackctl(&["up"]);
    run.ok();
    assert!(run.stdout.contains("up: 5 created"), "{}", run.stdout);
    let aws = emulator.clients().await;

    // describe-table: ACTIVE, composite key, on-demand.
    let table = aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.table_status(), Some(&TableStatus::Active));
    let keys: Vec<(String, KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_string(), k.key_type().clone()))
        .collect();
    assert_eq!(
        keys,
        vec![
            ("userId".to_string(), KeyType::Hash),
            ("itemId".to_string(), KeyType::Range)
        ]
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    let tags = aws
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(table.table_arn().unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "stackctl:stack" && t.value() == "my-frontend-app"));

    // list-attached-role-policies: the basic execution role and the stack's policy.
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    let mut names: Vec<&str> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_name())
        .collect();
    names.sort();
    assert_eq!(names, vec!["AWSLambdaBasicExecutionRole", POLICY]);

    // The policy names only the table's ARN, with exactly the handler's actions.
    let policy = aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    let version = aws
        .iam
        .get_policy_version()
        .policy_arn(policy_arn())
        .version_id(policy.default_version_id().unwrap())
        .send()
        .await
        .unwrap();
    let raw = version.policy_version().unwrap().document().unwrap();
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .unwrap();
    let document: serde_json::Value = serde_json::from_str(raw)
        .or_else(|_| serde_json::from_str(&decoded))
        .unwrap();
    let statements = document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Resource"], table.table_arn().unwrap());
    let mut actions: Vec<&str> = statements[0]["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem"
        ]
    );

    // The function: TABLE_NAME set, the local zip's CodeSha256, tagged.
    let function = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let config = function.configuration().unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("TABLE_NAME").map(String::as_str), Some(TABLE));
    assert_eq!(config.runtime(), Some(&Runtime::Nodejs24x));
    assert_eq!(config.role(), Some(role_arn().as_str()));
    let local = local_code_sha256(&project);
    assert_eq!(config.code_sha256(), Some(local.as_str()));
    assert_eq!(
        function
            .tags()
            .unwrap()
            .get("stackctl:stack")
            .map(String::as_str),
        Some("my-frontend-app")
    );
}

/// CodeSha256 of the artifact dir as stackctl zips it, read back through `status --output json`.
fn local_code_sha256(project: &Project) -> String {
    let status = project.stackctl(&["status", "--output", "json"]);
    let json = status.json();
    let function = json["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "function")
        .unwrap()
        .clone();
    function["state"]["local_code_sha256"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_up_makes_no_write_call_and_says_so() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();
    let run = project.stackctl(&["up"]);
    run.ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let reads = emulator.requests_since(mark).len();
    assert!(
        // table + its tags, role + its attachments, policy + its default version, function, log group + its
        // tags (the owners of the table and the group matter even when nothing would change)
        reads <= 9,
        "a no-op up should read at most 9 times, read {reads}"
    );
    assert!(run.stdout.contains("nothing to change"), "{}", run.stdout);
    assert!(run.stdout.contains("0 writes"), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_edit_updates_only_the_code() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let before = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let before_sha = before
        .configuration()
        .unwrap()
        .code_sha256()
        .unwrap()
        .to_string();

    project.edit(
        "lambda/src/handler.ts",
        "Method not allowed",
        "Method not allowed here",
    );
    let mark = emulator.mark();
    let run = project.stackctl(&["up"]);
    run.ok();
    assert_eq!(emulator.writes_since(mark), vec!["UpdateFunctionCode"]);
    assert!(run.stdout.contains("updated code"), "{}", run.stdout);
    let after = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let after_sha = after
        .configuration()
        .unwrap()
        .code_sha256()
        .unwrap()
        .to_string();
    assert_ne!(before_sha, after_sha);
    assert_eq!(after_sha, local_code_sha256(&project));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_variable_someone_else_set_survives_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    // Someone adds LOG_LEVEL and changes TABLE_NAME by hand.
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            Environment::builder()
                .variables("LOG_LEVEL", "debug")
                .variables("TABLE_NAME", "somebody-else")
                .build(),
        )
        .send()
        .await
        .unwrap();

    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ environment.TABLE_NAME: somebody-else -> my-frontend-app-data"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains("= environment.LOG_LEVEL: (kept, value hidden)"),
        "{}",
        plan.stdout
    );
    assert!(
        !plan.stdout.contains("debug"),
        "a kept value must not be printed: {}",
        plan.stdout
    );

    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(
        emulator.writes_since(mark),
        vec!["UpdateFunctionConfiguration"]
    );
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("LOG_LEVEL").map(String::as_str), Some("debug"));
    assert_eq!(env.get("TABLE_NAME").map(String::as_str), Some(TABLE));
}

/// A role and a function that existed before stackctl (untagged): used, not replaced, and after down
/// the function keeps its own variables and the role its own attachments.
#[tokio::test(flavor = "multi_thread")]
async fn a_preexisting_role_and_function_are_adopted_and_survive_down() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.moto_clients().await;
    let role = aws
        .iam
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap();
    let role_arn = role.role().unwrap().arn().to_string();
    aws.lambda
        .create_function()
        .function_name(FUNCTION)
        .role(&role_arn)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .environment(
            Environment::builder()
                .set_variables(Some(HashMap::from([(
                    "LOG_LEVEL".to_string(),
                    "info".to_string(),
                )])))
                .build(),
        )
        .send()
        .await
        .unwrap();

    let run = project.stackctl(&["up"]);
    run.ok();
    assert!(
        run.stdout.contains("up: 3 created, 1 updated, 1 unchanged"),
        "{}",
        run.stdout
    );
    let again = aws.iam.get_role().role_name(ROLE).send().await.unwrap();
    assert_eq!(
        again.role().unwrap().arn(),
        role_arn,
        "the role was replaced"
    );
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("LOG_LEVEL").map(String::as_str), Some("info"));
    assert_eq!(env.get("TABLE_NAME").map(String::as_str), Some(TABLE));
    assert_eq!(config.handler(), Some("handler.handler"));

    project.stackctl(&["down", "--confirm"]).ok();
    // The function is still there, with its own variable and without stackctl's.
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let env = config.environment().unwrap().variables().unwrap();
    assert_eq!(env.get("LOG_LEVEL").map(String::as_str), Some("info"));
    assert_eq!(env.get("TABLE_NAME"), None);
    // The role is still there, without the stack's policy; the policy and the table are gone.
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    assert!(attached
        .attached_policies()
        .iter()
        .all(|p| p.policy_name() != Some(POLICY)));
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_err());
    assert!(aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn six_policy_changes_in_a_row_stay_within_five_versions() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let actions = [
        "dynamodb:Scan",
        "dynamodb:BatchGetItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetRecords",
    ];
    for (i, action) in actions.iter().enumerate() {
        project.edit(
            "policies/lambda-dynamodb-policy.json",
            "\"dynamodb:UpdateItem\"",
            &format!("\"dynamodb:UpdateItem\", \"{action}\""),
        );
        let mark = emulator.mark();
        let run = project.stackctl(&["up"]);
        run.ok();
        let writes = emulator.writes_since(mark);
        assert!(
            writes.contains(&"CreatePolicyVersion".to_string()),
            "change {i}: {writes:?}"
        );
        if i >= 4 {
            assert!(
                writes.contains(&"DeletePolicyVersion".to_string()),
                "change {i} should make room: {writes:?}"
            );
        }
        let versions = aws
            .iam
            .list_policy_versions()
            .policy_arn(policy_arn())
            .send()
            .await
            .unwrap();
        assert!(versions.versions().len() <= 5);
        let default = versions
            .versions()
            .iter()
            .find(|v| v.is_default_version())
            .unwrap();
        let version = aws
            .iam
            .get_policy_version()
            .policy_arn(policy_arn())
            .version_id(default.version_id().unwrap())
            .send()
            .await
            .unwrap();
        let document = decode_document(version.policy_version().unwrap().document().unwrap());
        assert!(
            document.to_string().contains(action),
            "default version lacks {action}"
        );
    }
    // And the next up is a no-op again.
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert!(emulator.writes_since(mark).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_with_another_key_schema_is_never_replaced() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.moto_clients().await;
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement, ScalarAttributeType};
    aws.dynamodb
        .create_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::N)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let run = project.stackctl(&["up"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("key schema cannot change in place"),
        "{}",
        run.stderr
    );
    assert!(
        emulator.writes_since(mark).is_empty(),
        "nothing may be written when the plan is blocked"
    );
    let table = aws
        .dynamodb
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.key_schema()[0].attribute_name(), "id");
}

/// Tags added to [stack] later reach every owned resource on the next up, in one tag call each.
#[tokio::test(flavor = "multi_thread")]
async fn new_stack_tags_are_applied_by_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    project.edit(
        "stack.toml",
        "region = \"us-east-1\"",
        "region = \"us-east-1\"\ntags = { team = \"web\" }",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert_eq!(
        plan.stdout.matches("+ tags.team: web").count(),
        5,
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let mut writes = emulator.writes_since(mark);
    writes.sort();
    assert_eq!(
        writes,
        // table and function (TagResource of DynamoDB and Lambda), the log group (TagResource of Logs)
        vec![
            "TagPolicy",
            "TagResource",
            "TagResource",
            "TagResource",
            "TagRole"
        ]
    );
    let aws = emulator.clients().await;
    let role = aws.iam.get_role().role_name(ROLE).send().await.unwrap();
    assert!(role
        .role()
        .unwrap()
        .tags()
        .iter()
        .any(|t| t.key() == "team" && t.value() == "web"));
    let function = aws
        .lambda
        .get_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(
        function.tags().unwrap().get("team").map(String::as_str),
        Some("web")
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert!(emulator.writes_since(mark).is_empty());
}
