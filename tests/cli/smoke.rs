//! `stackctl smoke --local` and `stackctl invoke --local`: the built handler in the local Node.js, with the
//! deployed function's environment, against the emulator's DynamoDB (moto cannot run Lambda code).

use std::io::Write;
use std::process::Stdio;

use crate::support::*;

const STEPS: [&str; 11] = [
    "create first item",
    "create second item",
    "list both items",
    "delete first item",
    "list after delete",
    "missing userId",
    "unsupported method",
    "update status",
    "get updated item",
    "get missing item",
    "body not JSON",
];

/// Every item in the table, by (userId, itemId).
async fn items(emulator: &Emulator) -> Vec<(String, String)> {
    let out = emulator
        .clients()
        .await
        .dynamodb
        .scan()
        .table_name(TABLE)
        .send()
        .await
        .expect("scan");
    out.items()
        .iter()
        .map(|item| {
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            (text("userId"), text("itemId"))
        })
        .collect()
}

/// The result row of a step in the text table.
fn row<'a>(stdout: &'a str, step: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.get(4..).is_some_and(|rest| rest.starts_with(step)))
        .unwrap_or_else(|| panic!("no row for `{step}` in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_local_passes_after_up_and_leaves_no_items() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let mark = emulator.mark();

    let run = project.stackctl(&["smoke", "--local"]);
    run.ok();
    for step in STEPS {
        assert!(
            row(&run.stdout, step).trim_end().ends_with("PASS"),
            "{step}:\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout.contains("cleanup: 2 items deleted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("smoke: PASS, all 11 steps passed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("via local Node.js v"), "{}", run.stdout);
    assert!(
        items(&emulator).await.is_empty(),
        "the smoke run left items"
    );

    // The handler really ran against the emulator's DynamoDB, through the function's TABLE_NAME; stackctl
    // itself only read the function's configuration (no Invoke: moto cannot run it).
    let requests = emulator.requests_since(mark);
    let ops = |service: &str| -> Vec<String> {
        requests
            .iter()
            .filter(|r| r.service == service)
            .map(|r| r.operation.clone())
            .collect()
    };
    assert_eq!(ops("lambda"), vec!["GetFunctionConfiguration"]);
    let dynamodb = ops("dynamodb");
    for op in ["PutItem", "Query", "DeleteItem", "UpdateItem", "GetItem"] {
        assert!(dynamodb.iter().any(|o| o == op), "{op} not in {dynamodb:?}");
    }

    // The same as one JSON document on stdout; progress on stderr only.
    let run = project.stackctl(&["smoke", "--local", "--output", "json"]);
    run.ok();
    let json = run.json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["command"], "smoke");
    assert_eq!(json["function"], FUNCTION);
    assert_eq!(json["transport"], "local");
    assert_eq!(json["passed"], true);
    let user = json["user_id"].as_str().unwrap();
    assert!(user.starts_with("smoke-"), "{user}");
    assert_eq!(json["steps"][3]["request"]["method"], "DELETE");
    assert_eq!(json["steps"][3]["request"]["query"]["userId"], user);
    assert!(json["steps"][3]["request"]["query"]["itemId"]
        .as_str()
        .unwrap()
        .starts_with("item-"));
    let steps = json["steps"].as_array().unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect::<Vec<_>>(),
        STEPS
    );
    for step in steps {
        assert_eq!(step["result"], "pass", "{step}");
        assert_eq!(step["status_code"], step["expected_status"], "{step}");
        assert!(step["duration_ms"].is_u64(), "{step}");
    }
    assert_eq!(json["summary"]["passed"], 11);
    assert_eq!(json["cleanup"]["deleted"].as_array().unwrap().len(), 2);
    assert!(json["cleanup"]["failed"].as_array().unwrap().is_empty());
    assert!(
        run.stderr.contains("smoke 1/11 create first item"),
        "{}",
        run.stderr
    );
    assert!(items(&emulator).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_local_with_a_broken_handler_fails_with_a_message_per_step_and_still_cleans_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // A regression: lists always come back empty.
    project.edit(
        "lambda/src/handler.ts",
        "return json(200, { items });",
        "return json(200, { items: items.slice(0, 0) });",
    );
    project.stackctl(&["up"]).ok();

    let run = project.stackctl(&["smoke", "--local"]);
    run.expect_code(1);
    for step in ["list both items", "list after delete"] {
        assert!(
            row(&run.stdout, step).trim_end().ends_with("FAIL"),
            "{step}:\n{}",
            run.stdout
        );
    }
    for step in ["create first item", "delete first item", "update status"] {
        assert!(
            row(&run.stdout, step).trim_end().ends_with("PASS"),
            "{step}:\n{}",
            run.stdout
        );
    }
    // Under the failed row: what was expected and what came back.
    let lines: Vec<&str> = run.stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains("list both items"))
        .unwrap();
    assert!(
        lines[at + 1]
            .trim_start()
            .starts_with("expected 2 items [item-")
            && lines[at + 1].ends_with("got 0 []"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("smoke: FAIL, 9 passed, 2 failed, 0 skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cleanup: 2 items deleted"),
        "{}",
        run.stdout
    );
    assert!(
        items(&emulator).await.is_empty(),
        "a failed run must still delete its items"
    );

    let run = project.stackctl(&["smoke", "--local", "--output", "json"]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["passed"], false);
    let failed: Vec<&serde_json::Value> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == "fail")
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["name"], "list both items");
    assert!(failed[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("expected 2 items"));
    assert!(items(&emulator).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_that_throws_is_a_failure_with_its_error_message_never_a_pass() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // The deployed code is fine; the local build now throws (as an unhandled exception on Lambda would).
    project.write(
        "lambda/dist/handler.js",
        "exports.handler = async () => { throw new TypeError(`no table ${process.env.TABLE_NAME}`); };\n",
    );

    let run = project.stackctl(&["smoke", "--local"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("differs from the deployed code"),
        "{}",
        run.stderr
    );
    // The function's live environment reached the handler: TABLE_NAME is in its error message.
    let expected =
        format!("the function failed (Unhandled FunctionError): TypeError: no table {TABLE}");
    assert!(run.stdout.contains(&expected), "{expected}\n{}", run.stdout);
    assert!(row(&run.stdout, "create first item").ends_with("FAIL"));
    assert!(row(&run.stdout, "list both items").ends_with("SKIP"));
    assert!(!run.stdout.contains("PASS"), "{}", run.stdout);

    let run = project.stackctl(&["invoke", "--local", "-", "--output", "json"]);
    // No stdin given: an empty event is not JSON, a usage error before anything runs.
    run.expect_code(64);

    copy_events(&project);
    let run = project.stackctl(&["invoke", "--local", "lambda/events/list-items.json"]);
    run.expect_code(1);
    assert!(
        run.stdout.contains("FunctionError Unhandled"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains(&format!("errorMessage: no table {TABLE}")),
        "{}",
        run.stdout
    );
    let run = project.stackctl(&[
        "invoke",
        "--local",
        "lambda/events/list-items.json",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["error"]["kind"], "function_error");
    assert_eq!(json["error"]["function_error"], "Unhandled");
    assert_eq!(json["error"]["error_type"], "TypeError");
    assert_eq!(json["error"]["message"], format!("no table {TABLE}"));
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

/// `stackctl <args>` with `input` on stdin (Project::stackctl gives none).
fn stackctl_with_stdin(project: &Project, args: &[&str], input: &str) -> Run {
    let mut child = project
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running stackctl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    Run::from(output)
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_local_prints_the_response_for_the_sample_events() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    copy_events(&project);

    let run = project.stackctl(&["invoke", "--local", "lambda/events/create-item.json"]);
    run.ok();
    assert!(run.stdout.starts_with("201 ("), "{}", run.stdout);
    assert!(
        run.stdout.contains("Content-Type: application/json")
            && run.stdout.contains("Access-Control-Allow-Origin: *"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(r#""title": "Buy milk""#),
        "{}",
        run.stdout
    );

    let run = project.stackctl(&[
        "invoke",
        "--local",
        "lambda/events/list-items.json",
        "--output",
        "json",
    ]);
    run.ok();
    let json = run.json();
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["command"], "invoke");
    assert_eq!(json["transport"], "local");
    assert_eq!(json["ok"], true);
    let response = &json["response"];
    assert_eq!(response["status_code"], 200);
    assert_eq!(response["headers"]["Access-Control-Allow-Origin"], "*");
    assert_eq!(response["body_is_json"], true);
    let listed = response["body"]["items"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["userId"], "user-123");
    assert_eq!(listed[0]["title"], "Buy milk");

    // Any statusCode is a successful invocation; the body is shown as it came.
    let run = project.stackctl(&["invoke", "--local", "lambda/events/missing-userid.json"]);
    run.ok();
    assert!(run.stdout.starts_with("400 ("), "{}", run.stdout);
    assert!(
        run.stdout
            .contains(r#""error": "Missing userId parameter""#),
        "{}",
        run.stdout
    );
    let run = project.stackctl(&["invoke", "--local", "lambda/events/invalid-json-body.json"]);
    run.ok();
    assert!(run.stdout.starts_with("400 ("), "{}", run.stdout);

    // The event from stdin.
    let event =
        std::fs::read_to_string(project.path("lambda/events/put-not-allowed.json")).unwrap();
    let run = stackctl_with_stdin(&project, &["invoke", "--local", "-"], &event);
    run.ok();
    assert!(run.stdout.starts_with("405 ("), "{}", run.stdout);

    // A missing or broken event file: usage error, nothing invoked.
    let mark = emulator.mark();
    project.write("broken.json", "{\"version\": \"2.0\",\n  oops }");
    let run = project.stackctl(&["invoke", "--local", "broken.json"]);
    run.expect_code(64);
    assert!(
        run.stderr
            .contains("broken.json:2:3: the event is not JSON"),
        "{}",
        run.stderr
    );
    project
        .stackctl(&["invoke", "--local", "no-such-event.json"])
        .expect_code(64);
    assert!(emulator.requests_since(mark).is_empty());
}
