//! `stackctl smoke` and `stackctl invoke` without `--local`: Lambda Invoke of the deployed function, as a CI
//! user runs them. The strict proxy's `lambda_invoke_node` runs the deployed package in Node.js with the
//! function's live configuration (moto's own Invoke needs Docker), so the handler really answers, against the
//! emulator's DynamoDB.

use crate::support::*;

/// Every item in `table`, by (userId, itemId), read past the proxy's record.
async fn items_in(emulator: &Emulator, table: &str) -> Vec<(String, String)> {
    item_keys(&emulator.moto_clients().await.dynamodb, table).await
}

fn copy_events(project: &Project) {
    for entry in std::fs::read_dir(std::path::Path::new(REPO).join("lambda/events")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        project.write(
            &format!("lambda/events/{name}"),
            &std::fs::read_to_string(&path).unwrap(),
        );
    }
}

/// The deployed handler, edited in the project's source: it logs every request, throws on PATCH and never
/// answers an OPTIONS request (so it runs into the function's timeout).
fn break_the_handler(project: &Project) {
    project.edit(
        "lambda/src/handler.ts",
        "export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {\n",
        "export const handler = async (event: APIGatewayProxyEventV2): Promise<Result> => {\n\
         \x20 const method = (event as any)?.requestContext?.http?.method;\n\
         \x20 console.log(`handling ${method}`);\n\
         \x20 if (method === \"PATCH\") throw new TypeError(\"patch is broken\");\n\
         \x20 if (method === \"OPTIONS\") await new Promise(() => {});\n",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_invokes_the_deployed_function_passes_and_leaves_no_items() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();

    let run = project.stackctl(&["smoke", "--output", "json"]);
    run.ok();
    let json = run.json();
    assert_eq!(json["transport"], "remote");
    assert_eq!(json["target"], "Lambda Invoke");
    assert_eq!(json["passed"], true, "{json:#}");
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(
        steps.len(),
        15,
        "the sequence without the tutorial's events"
    );
    for step in steps {
        assert_eq!(step["result"], "pass", "{step}");
        assert_eq!(step["status_code"], step["expected_status"], "{step}");
    }
    assert_eq!(json["cleanup"]["deleted"].as_array().unwrap().len(), 2);
    assert!(
        json["cleanup"].get("deleted_directly").is_none(),
        "{json:#}"
    );
    assert!(
        items_in(&emulator, TABLE).await.is_empty(),
        "smoke left items"
    );

    // What went where: stackctl read the function and invoked it; the handler (its JavaScript SDK, inside
    // the deployed package) did the item calls; stackctl itself wrote no item.
    let requests = emulator.requests_since(mark);
    let rust_lambda: Vec<&str> = requests
        .iter()
        .filter(|r| r.from_rust && r.service == "lambda")
        .map(|r| r.operation.as_str())
        .collect();
    assert_eq!(
        rust_lambda[0], "GetFunctionConfiguration",
        "{rust_lambda:?}"
    );
    assert!(
        rust_lambda[1..].iter().all(|op| *op == "Invoke") && rust_lambda.len() > 15,
        "{rust_lambda:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.from_rust && r.service == "dynamodb"),
        "{requests:?}"
    );
    let handler_ops: Vec<&str> = requests
        .iter()
        .filter(|r| !r.from_rust && r.service == "dynamodb")
        .map(|r| r.operation.as_str())
        .collect();
    for op in ["PutItem", "Query", "DeleteItem", "UpdateItem", "GetItem"] {
        assert!(handler_ops.contains(&op), "{op} not in {handler_ops:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_prints_the_deployed_functions_response_for_the_sample_events() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    copy_events(&project);

    let run = project.stackctl(&["invoke", "lambda/events/create-item.json"]);
    run.ok();
    assert!(run.stdout.starts_with("201 ("), "{}", run.stdout);
    assert!(
        run.stdout.contains("Content-Type: application/json")
            && run.stdout.contains("Access-Control-Allow-Origin: *")
            && run.stdout.contains(r#""title": "Buy milk""#),
        "{}",
        run.stdout
    );
    // The function's log (Invoke's log tail) goes to stderr.
    assert!(
        run.stderr.contains("function log:\nSTART RequestId: ")
            && run.stderr.contains("END RequestId: ")
            && run.stderr.contains("REPORT RequestId: "),
        "{}",
        run.stderr
    );
    let stored = items_in(&emulator, TABLE).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].0, "user-123");

    let run = project.stackctl(&[
        "invoke",
        "lambda/events/list-items.json",
        "--output",
        "json",
    ]);
    run.ok();
    let json = run.json();
    assert_eq!(json["command"], "invoke");
    assert_eq!(json["transport"], "remote");
    assert_eq!(json["ok"], true);
    let response = &json["response"];
    assert_eq!(response["status_code"], 200);
    let listed = response["body"]["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["itemId"], stored[0].1.as_str());
    assert!(
        response["logs"]
            .as_str()
            .is_some_and(|l| l.starts_with("START RequestId: ")),
        "{json:#}"
    );

    // Any statusCode is an answer (exit 0); the tutorial's hand-written events work remotely too.
    for (event, status, says) in [
        (
            "missing-userid",
            "400",
            r#""error": "Missing userId parameter""#,
        ),
        ("tutorial-get-item", "404", r#""error": "Item not found""#),
        (
            "tutorial-put-not-allowed",
            "405",
            r#""error": "Method not allowed""#,
        ),
    ] {
        let run = project.stackctl(&["invoke", &format!("lambda/events/{event}.json")]);
        run.ok();
        assert!(
            run.stdout.starts_with(&format!("{status} (")) && run.stdout.contains(says),
            "{event}: {}",
            run.stdout
        );
    }
    // The item made above, deleted through the function.
    let delete = project
        .read("lambda/events/delete-item.json")
        .replace("item-1764172080000-3f9a1c2b7d4e", &stored[0].1);
    project.write("lambda/events/this-delete.json", &delete);
    let run = project.stackctl(&["invoke", "lambda/events/this-delete.json"]);
    run.ok();
    assert!(run.stdout.contains(r#""deleted": true"#), "{}", run.stdout);
    assert!(items_in(&emulator, TABLE).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_handler_that_throws_or_times_out_fails_invoke_and_smoke_with_its_error_and_log()
{
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    break_the_handler(&project);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 2");
    project.stackctl(&["up"]).ok();
    copy_events(&project);

    // invoke: exit 1, the function error on stdout, the message and the function's log on stderr.
    let run = project.stackctl(&["invoke", "lambda/events/patch-item.json"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("FunctionError Unhandled")
            && run.stdout.contains("errorType: TypeError")
            && run.stdout.contains("errorMessage: patch is broken"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("error: patch is broken"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\tINFO\thandling PATCH")
            && run.stderr.contains("\tERROR\tInvoke Error \t"),
        "{}",
        run.stderr
    );
    let run = project.stackctl(&[
        "invoke",
        "lambda/events/patch-item.json",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["transport"], "remote");
    assert_eq!(json["error"]["kind"], "function_error");
    assert_eq!(json["error"]["function_error"], "Unhandled");
    assert_eq!(json["error"]["error_type"], "TypeError");
    assert_eq!(json["error"]["message"], "patch is broken");
    assert!(json["error"]["logs"]
        .as_str()
        .is_some_and(|l| l.contains("handling PATCH")));

    // A handler that never answers runs into the function's timeout (2 s here): Lambda's timeout error.
    let options = project
        .read("lambda/events/list-items.json")
        .replace("\"GET\"", "\"OPTIONS\"");
    project.write("lambda/events/options.json", &options);
    let run = project.stackctl(&["invoke", "lambda/events/options.json"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("errorType: Sandbox.Timedout")
            && run.stdout.contains("Task timed out after 2.00 seconds"),
        "{}",
        run.stdout
    );

    // smoke: the PATCH step fails with the function's error and the tail of its log; the step that needs it
    // is skipped; the others pass; the cleanup still deletes every item; exit 1.
    let run = project.stackctl(&["smoke"]);
    run.expect_code(1);
    let row = |step: &str| {
        run.stdout
            .lines()
            .find(|l| l.get(4..).is_some_and(|rest| rest.starts_with(step)))
            .unwrap_or_else(|| panic!("no row for `{step}`:\n{}", run.stdout))
            .trim_end()
            .to_string()
    };
    assert!(row("update status").ends_with("FAIL"), "{}", run.stdout);
    assert!(row("get updated item").ends_with("SKIP"), "{}", run.stdout);
    assert!(row("create first item").ends_with("PASS"), "{}", run.stdout);
    assert!(row("list after delete").ends_with("PASS"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("the function failed (Unhandled FunctionError): TypeError: patch is broken"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("log: END RequestId: "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cleanup: 2 items deleted"),
        "{}",
        run.stdout
    );
    assert!(items_in(&emulator, TABLE).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handler_writes_to_the_table_its_live_configuration_names() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    copy_events(&project);
    // A new table name: up makes the table and points the function's TABLE_NAME at it.
    project.edit(
        "stack.toml",
        "name = \"my-frontend-app-data\"",
        "name = \"my-frontend-app-moved\"",
    );
    // The new name is outside the repo file's names: the operator gets the policy generated for this file too.
    emulator.grant(OPERATOR_USER, &project.generated_policy(&[]));
    project.stackctl(&["up"]).ok();

    project
        .stackctl(&["invoke", "lambda/events/create-item.json"])
        .ok();
    assert_eq!(items_in(&emulator, "my-frontend-app-moved").await.len(), 1);
    assert!(items_in(&emulator, TABLE).await.is_empty());

    // The variable as deployed, not as the stack file says: someone points it back at the old table (and lets
    // the role write there: stackctl's policy names only the stack's table, and the handler runs as the role).
    emulator
        .moto_clients()
        .await
        .iam
        .put_role_policy()
        .role_name("my-frontend-app-lambda-role")
        .policy_name("old-table")
        .policy_document(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"dynamodb:PutItem","Resource":"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}"}}]}}"#
        ))
        .send()
        .await
        .expect("letting the role write to the old table");
    emulator
        .moto_clients()
        .await
        .lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .variables("TABLE_NAME", TABLE)
                .build(),
        )
        .send()
        .await
        .expect("changing TABLE_NAME");
    project
        .stackctl(&["invoke", "lambda/events/create-item.json"])
        .ok();
    assert_eq!(items_in(&emulator, TABLE).await.len(), 1);
    assert_eq!(items_in(&emulator, "my-frontend-app-moved").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_waits_until_the_functions_update_is_over_before_invoking() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let strict = emulator.strict();
    // An update that stays in progress until the test ends it (a reset forgets the proxy's timers).
    strict.set(serde_json::json!({"function_update_ms": 600_000}));
    emulator
        .clients()
        .await
        .lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .memory_size(256)
        .send()
        .await
        .expect("starting an update");
    strict.clear_log();
    let mark = emulator.mark();
    let child = project
        .command(&["smoke"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting smoke");

    // smoke reads the function, sees the update in progress and keeps asking; it invokes nothing meanwhile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let so_far = emulator.requests_since(mark);
        assert!(
            !so_far.iter().any(|r| r.operation == "Invoke"),
            "invoked while the update was in progress: {so_far:?}"
        );
        if strict.injected_by("GetFunctionConfiguration", "LastUpdateStatus=InProgress") >= 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "smoke never read the function twice while its update was in progress: {:?}",
            strict.injected()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    project.assert_operator_policy_allows("stackctl smoke");

    // The update ends; smoke then runs every step.
    strict.reset();
    let run = Run::from(child.wait_with_output().expect("smoke"));
    run.ok();
    assert!(
        run.stderr
            .contains("waiting before invoking (LastUpdateStatus InProgress)"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("all 15 steps passed"), "{}", run.stdout);
    assert!(items_in(&emulator, TABLE).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_invoke_is_retried_when_throttled_and_never_after_a_5xx() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    copy_events(&project);
    let strict = emulator.strict();
    let invokes = |mark: u64| {
        emulator
            .requests_since(mark)
            .iter()
            .filter(|r| r.operation == "Invoke")
            .count()
    };

    // Throttled twice (429: the function did not run), then answered.
    strict.set(
        serde_json::json!({"throttle_rate": 1.0, "fault_operations": ["Invoke"],
                                  "max_consecutive_faults": 2}),
    );
    let mark = emulator.mark();
    let run = project.stackctl(&["invoke", "lambda/events/create-item.json"]);
    run.ok();
    assert!(run.stdout.starts_with("201 ("), "{}", run.stdout);
    assert_eq!(invokes(mark), 3);
    assert_eq!(items_in(&emulator, TABLE).await.len(), 1);

    // A 5xx: the function may have run; one attempt, and an error that says so.
    strict.set(
        serde_json::json!({"throttle_rate": 0.0, "error_5xx_rate": 1.0,
                                  "max_consecutive_faults": null}),
    );
    let mark = emulator.mark();
    let run = project.stackctl(&["invoke", "lambda/events/create-item.json"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("the function may or may not have run"),
        "{}",
        run.stderr
    );
    assert_eq!(invokes(mark), 1, "a 5xx Invoke is never sent again");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_handler_runs_with_its_execution_roles_permissions() {
    // In Lambda the handler's SDK signs with the execution role's temporary credentials, so a role whose
    // policy does not allow the handler's call is refused. The emulation must not run it with more.
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    copy_events(&project);
    // The role loses stackctl's policy (the table's CRUD), past the proxy's record.
    let iam = emulator.moto_clients().await.iam;
    let role = emulator
        .moto_clients()
        .await
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .expect("reading the function's role")
        .role()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let attached = iam
        .list_attached_role_policies()
        .role_name(&role)
        .send()
        .await
        .expect("listing the role's policies");
    for policy in attached.attached_policies() {
        iam.detach_role_policy()
            .role_name(&role)
            .policy_arn(policy.policy_arn().unwrap())
            .send()
            .await
            .expect("detaching");
    }

    let run = project
        .command(&["invoke", "lambda/events/create-item.json"])
        .output()
        .unwrap();
    let run = Run::from(run);
    let refused: Vec<_> = emulator
        .denials()
        .into_iter()
        .filter(|d| {
            d["user"]
                .as_str()
                .unwrap_or_default()
                .contains(":assumed-role/")
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}\n{run:?}");
    assert_eq!(refused[0]["action"], "dynamodb:PutItem");
    assert_eq!(
        refused[0]["resource"],
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{TABLE}")
    );
    assert!(
        refused[0]["user"]
            .as_str()
            .unwrap()
            .contains(&format!(":assumed-role/{role}/")),
        "{refused:#?}"
    );
    assert!(items_in(&emulator, TABLE).await.is_empty());
    // This refusal is the test's own doing: forget it before the project's check on drop.
    std::fs::write(emulator.denials_path(), "").unwrap();
}
