//! `stackctl smoke --local` and `stackctl invoke --local`: the built handler in the local Node.js, with the
//! variables stack.toml declares, against the emulator's DynamoDB (moto cannot run Lambda code).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;

/// The steps of `smoke --local`: the sequence, then the tutorial's hand-written events
/// (lambda/events/tutorial-*.json).
const STEPS: [&str; 21] = [
    "create first item",
    "create second item",
    "list both items",
    "delete first item",
    "create without title",
    "delete without itemId",
    "update without itemId",
    "list after delete",
    "missing userId",
    "unsupported method",
    "update status",
    "get updated item",
    "update missing item",
    "get missing item",
    "body not JSON",
    "tutorial event: create",
    "tutorial event: list",
    "tutorial event: get",
    "tutorial event: delete",
    "tutorial event: missing userId",
    "tutorial event: PUT",
];

/// Every item in the table, by (userId, itemId).
async fn items(emulator: &Emulator) -> Vec<(String, String)> {
    item_keys(&emulator.clients().await.dynamodb, TABLE).await
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
        run.stdout.contains("cleanup: 3 items deleted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("smoke: PASS, all 21 steps passed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("via local Node.js v"), "{}", run.stdout);
    // --local says what differs from Lambda: the caller's credentials, and the Node.js version if it differs.
    assert!(
        run.stderr.contains("--local runs the handler with your AWS credentials, not the execution role of `my-frontend-app-api`"),
        "{}",
        run.stderr
    );
    let node = local_node_version();
    let major_differs = !node.starts_with("v24.");
    assert_eq!(
        run.stderr.contains(&format!(
            "the local Node.js is {node} but the function runs nodejs24.x (Node.js 24)"
        )),
        major_differs,
        "{}",
        run.stderr
    );
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
    // Everything was deleted through the function: no fallback DeleteItem by stackctl itself.
    assert!(
        !requests
            .iter()
            .any(|r| r.from_rust && r.operation == "DeleteItem"),
        "{requests:?}"
    );
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
    assert_eq!(json["summary"]["passed"], 21);
    assert_eq!(json["cleanup"]["deleted"].as_array().unwrap().len(), 3);
    // The tutorial's events went as written: method, userId (and itemId) in the report, its body.
    assert_eq!(json["steps"][15]["request"]["method"], "POST");
    assert_eq!(json["steps"][15]["request"]["query"]["userId"], user);
    assert_eq!(
        json["steps"][15]["request"]["body"],
        r#"{"title":"Buy milk","status":"pending"}"#
    );
    assert_eq!(json["steps"][19]["request"]["query"], serde_json::json!({}));
    assert!(json["cleanup"]["failed"].as_array().unwrap().is_empty());
    assert!(
        run.stderr.contains("smoke 1/21 create first item"),
        "{}",
        run.stderr
    );
    assert!(items(&emulator).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_local_with_a_broken_handler_fails_with_a_message_per_step_and_still_cleans_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // A regression: lists always come back empty.
    wrap_handler(
        &project,
        "exports.handler = async (event, context) => {\n\
         const r = await real.handler(event, context);\n\
         const q = event.queryStringParameters ?? {};\n\
         if (event.requestContext.http.method === \"GET\" && !q.itemId && r.statusCode === 200) {\n\
           return { ...r, body: JSON.stringify({ ...JSON.parse(r.body), items: [] }) };\n\
         }\n\
         return r;\n};",
    );

    let run = project.stackctl(&["smoke", "--local"]);
    run.expect_code(1);
    for step in [
        "list both items",
        "list after delete",
        "tutorial event: list",
    ] {
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
            .contains("smoke: FAIL, 18 passed, 3 failed, 0 skipped"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cleanup: 3 items deleted"),
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
    assert_eq!(failed.len(), 3);
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
    // The variables stack.toml declares reached the handler: TABLE_NAME is in its error message.
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

    // The tutorial's hand-written events (no version, rawPath, rawQueryString or headers) answer as the
    // tutorial says.
    for (event, status, says) in [
        ("tutorial-create-item", "201", r#""title": "Buy milk""#),
        ("tutorial-get-item", "404", r#""error": "Item not found""#),
        ("tutorial-delete-item", "200", r#""deleted": true"#),
        (
            "tutorial-missing-userid",
            "400",
            r#""error": "Missing userId parameter""#,
        ),
        (
            "tutorial-put-not-allowed",
            "405",
            r#""error": "Method not allowed""#,
        ),
    ] {
        let run = project.stackctl(&["invoke", "--local", &format!("lambda/events/{event}.json")]);
        run.ok();
        assert!(
            run.stdout.starts_with(&format!("{status} (")) && run.stdout.contains(says),
            "{event}: {}",
            run.stdout
        );
    }
    let run = project.stackctl(&[
        "invoke",
        "--local",
        "lambda/events/tutorial-list-items.json",
        "--output",
        "json",
    ]);
    run.ok();
    let listed = run.json()["response"]["body"]["items"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["userId"] == "user-123"));

    // A body sent as something other than JSON (a cross-site form post) is refused, whatever its header's
    // case; the same event as JSON is accepted.
    let create = project.read("lambda/events/create-item.json");
    for (header, status) in [
        (r#""Content-Type": "text/plain;charset=UTF-8""#, "415"),
        (
            r#""content-type": "application/x-www-form-urlencoded""#,
            "415",
        ),
        (
            r#""Content-Type": "application/json; charset=utf-8""#,
            "201",
        ),
        // Headers without a Content-Type: a browser's ArrayBuffer or Blob body (no preflight either).
        (r#""origin": "https://evil.example""#, "415"),
    ] {
        project.write(
            "typed.json",
            &create.replace(r#""content-type": "application/json""#, header),
        );
        let run = project.stackctl(&["invoke", "--local", "typed.json"]);
        run.ok();
        assert!(
            run.stdout.starts_with(&format!("{status} (")),
            "{header}: {}",
            run.stdout
        );
        if status == "415" {
            assert!(
                run.stdout.contains("Unsupported Content-Type")
                    || run.stdout.contains("Missing Content-Type"),
                "{}",
                run.stdout
            );
        }
    }

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

// ---------------------------------------------------------------------------------------------------------
// The local runner behaves like Lambda's Node.js runtime (handlers from tests/fixtures/runner and small
// wrappers around the built handler, written into the project copy).

fn local_node_version() -> String {
    let out = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("running node --version");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Copies a runner fixture into the project's artifact dir (Lambda's task root).
fn fixture(project: &Project, name: &str, to: &str) {
    let text = std::fs::read_to_string(Path::new(REPO).join("tests/fixtures/runner").join(name))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"));
    project.write(&format!("lambda/dist/{to}"), &text);
}

/// Moves the built handler to `lambda/dist/real.js` and puts `wrapper` (CommonJS, with `real` being the
/// built module) in its place, so a test can make the deployed handler misbehave in one precise way.
fn wrap_handler(project: &Project, wrapper: &str) {
    let built = project.read("lambda/dist/handler.js");
    project.write("lambda/dist/real.js", &built);
    project.write(
        "lambda/dist/handler.js",
        &format!("const real = require(\"./real.js\");\n{wrapper}\n"),
    );
}

/// Points `function.handler` at `handler` (the local run uses the stack file's handler string).
fn use_handler(project: &Project, handler: &str) {
    let text = project.read("stack.toml");
    let line = text
        .lines()
        .find(|l| l.starts_with("handler = "))
        .expect("a handler line")
        .to_string();
    project.write(
        "stack.toml",
        &text.replace(&line, &format!("handler = \"{handler}\"")),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_an_uncaught_exception_or_an_exit_a_fresh_runtime_serves_the_other_steps_and_the_cleanup(
) {
    for (how, says) in [
        (
            // Fails the first invocation from a timer, and keeps throwing every few milliseconds: on a runtime
            // that is not replaced, those throws fail the later, healthy requests.
            "setTimeout(() => { throw new Error(\"first failure\"); }, 1);\n\
             setInterval(() => { console.log(\"late log\"); throw new Error(\"late throw\"); }, 3);\n\
             return new Promise(() => {});",
            "the function failed (Unhandled FunctionError): Error: first failure",
        ),
        (
            "console.log(\"exiting\"); process.exit(1);",
            "Runtime.ExitError: RequestId: ",
        ),
    ] {
        let emulator = Emulator::start();
        let project = Project::new(&emulator);
        project.stackctl(&["up"]).ok();
        // Only the very first invocation misbehaves (a marker file survives the runtime it came from).
        wrap_handler(
            &project,
            &format!(
                "const fs = require(\"node:fs\");\n\
                 exports.handler = async (event, context) => {{\n\
                 if (!fs.existsSync(\"first-done\")) {{ fs.writeFileSync(\"first-done\", \"\");\n{how}\n}}\n\
                 return real.handler(event, context);\n}};"
            ),
        );
        let run = project.stackctl(&["smoke", "--local"]);
        run.expect_code(1);
        let first = row(&run.stdout, "create first item");
        assert!(first.ends_with("FAIL"), "{}", run.stdout);
        assert!(run.stdout.contains(says), "{says}\n{}", run.stdout);
        for step in [
            "create second item",
            "create without title",
            "update status",
            "get updated item",
            "update missing item",
            "body not JSON",
        ] {
            assert!(
                row(&run.stdout, step).trim_end().ends_with("PASS"),
                "{step}:\n{}",
                run.stdout
            );
        }
        assert!(
            run.stdout
                .contains("smoke: FAIL, 17 passed, 1 failed, 3 skipped"),
            "{}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("late throw") && !run.stdout.contains("late log"),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("cleanup: 2 items deleted"),
            "{}",
            run.stdout
        );
        assert!(items(&emulator).await.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_local_runtime_is_the_functions_runtime_handlers_init_errors_environment_and_memory() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit("stack.toml", "memory_mb = 128", "memory_mb = 256");
    project.stackctl(&["up"]).ok();
    copy_events(&project);
    let event = "lambda/events/list-items.json";

    // A nested export, resolved as Lambda does: the module ends at the first dot after the last `/`.
    project.write(
        "lambda/dist/nested/app.js",
        "exports.handlers = { env: async () => ({ statusCode: 200, headers: { \"Content-Type\": \"application/json\" }, body: JSON.stringify({\n\
           exec: process.env.AWS_EXECUTION_ENV, group: process.env.AWS_LAMBDA_LOG_GROUP_NAME,\n\
           stream: process.env.AWS_LAMBDA_LOG_STREAM_NAME, name: process.env.AWS_LAMBDA_FUNCTION_NAME,\n\
           memory: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, version: process.env.AWS_LAMBDA_FUNCTION_VERSION,\n\
           heapMb: Math.round(require(\"node:v8\").getHeapStatistics().heap_size_limit / 1048576) }) }) };\n",
    );
    use_handler(&project, "nested/app.handlers.env");
    let run = project.stackctl(&["invoke", "--local", event, "--output", "json"]);
    run.ok();
    let body = &run.json()["response"]["body"];
    assert_eq!(body["exec"], "AWS_Lambda_nodejs24.x");
    assert_eq!(body["group"], format!("/aws/lambda/{FUNCTION}"));
    assert!(
        body["stream"].as_str().unwrap().contains("/[$LATEST]"),
        "{body}"
    );
    assert_eq!(body["name"], FUNCTION);
    assert_eq!(body["memory"], "256");
    assert_eq!(body["version"], "$LATEST");
    // The heap is bounded by the function's memory (Node's own default is 2 GB or more).
    let heap = body["heapMb"].as_u64().unwrap();
    assert!((200..=300).contains(&heap), "heap limit {heap} MB");

    // Init errors, typed as the runtime types them.
    fixture(&project, "callback.js", "callback.js");
    fixture(&project, "syntax.js", "syntax.js");
    fixture(&project, "missing-module.js", "missing-module.js");
    for (handler, error_type) in [
        ("callback.handler", "Runtime.CallbackHandlerDeprecated"),
        ("syntax.handler", "Runtime.UserCodeSyntaxError"),
        ("missing-module.handler", "Runtime.ImportModuleError"),
    ] {
        use_handler(&project, handler);
        let run = project.stackctl(&["invoke", "--local", event, "--output", "json"]);
        run.expect_code(1);
        let json = run.json();
        assert_eq!(json["error"]["function_error"], "Unhandled", "{handler}");
        assert_eq!(json["error"]["error_type"], error_type, "{handler}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn items_the_function_does_not_delete_are_deleted_by_the_cleanup_through_dynamodb() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // A regression: DELETE answers 200 and deletes nothing.
    wrap_handler(
        &project,
        "exports.handler = async (event, context) => {\n\
         if (event.requestContext.http.method === \"DELETE\" && event.queryStringParameters?.itemId) {\n\
           return { statusCode: 200, headers: { \"Content-Type\": \"application/json\", \"Access-Control-Allow-Origin\": \"*\" }, body: JSON.stringify({ deleted: true }) };\n\
         }\n\
         return real.handler(event, context);\n};",
    );
    let mark = emulator.mark();
    let run = project.stackctl(&["smoke", "--local"]);
    run.expect_code(1);
    assert!(
        row(&run.stdout, "list after delete").ends_with("FAIL"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("cleanup: 3 items deleted"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("deleted with DynamoDB DeleteItem"),
        "{}",
        run.stdout
    );
    assert!(items(&emulator).await.is_empty(), "the cleanup left items");
    let direct = emulator
        .requests_since(mark)
        .iter()
        .filter(|r| r.from_rust && r.operation == "DeleteItem")
        .count();
    assert_eq!(direct, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_steps_and_still_cleans_up_like_ctrl_c() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // The first list says it started, then waits for a file the test never writes (until the function's 10 s
    // timeout ends it): the test cancels the run right then, with both items created.
    wrap_handler(
        &project,
        "const fs = require(\"node:fs\");\n\
         exports.handler = async (event, context) => {\n\
         const q = event.queryStringParameters ?? {};\n\
         if (event.requestContext.http.method === \"GET\" && q.userId && !q.itemId && !fs.existsSync(\"list-started\")) {\n\
           fs.writeFileSync(\"list-started\", \"\");\n\
           for (let i = 0; i < 1200 && !fs.existsSync(\"list-released\"); i++) {\n\
             await new Promise((resolve) => setTimeout(resolve, 100));\n\
           }\n\
         }\n\
         return real.handler(event, context);\n};",
    );
    let mut child = project
        .command(&["smoke", "--local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running stackctl");
    let marker = project.path("lambda/dist/list-started");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the list step never started");
        assert!(child.try_wait().unwrap().is_none(), "stackctl ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The held list is abandoned with its runtime, not waited for: a run that waited would end only with the
    // function's timeout, and count the list as a third step (failed). 60 s is only a deadline for a hung run.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("stackctl waited for the held list after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect_code(130);
    assert!(
        run.stdout.contains("interrupted after 2 steps"),
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
        "an interrupted run must still delete its items"
    );
}
