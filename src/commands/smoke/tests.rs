//! smoke's sequence, checks and cleanup against a fake handler in Rust (no Node.js, no AWS).

use super::checks::*;
use super::cleanup::*;
use super::report::*;
use super::scenario::*;
use super::*;
use crate::aws::Calls;
use crate::handler::event::{check_common, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The handler's promises, in Rust, over an in-memory table; `bug` breaks one behaviour.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    EmptyLists,
    Throws,
    NotJsonIs500,
    /// PATCH of a missing item creates it (an upsert).
    PatchUpserts,
    /// DELETE answers 200 and deletes nothing.
    DeleteIgnored,
}

/// The fake's table: (userId, itemId) -> item.
type Table = Arc<Mutex<BTreeMap<(String, String), Value>>>;

fn fake_handler(bug: Bug) -> (Transport, Table) {
    let table = Arc::new(Mutex::new(BTreeMap::<(String, String), Value>::new()));
    let store = table.clone();
    let mut counter = 0u64;
    let handler = move |event: &Value| -> (Option<String>, Vec<u8>) {
        if bug == Bug::Throws {
            return (
                Some("Unhandled".into()),
                br#"{"errorType":"Error","errorMessage":"boom"}"#.to_vec(),
            );
        }
        let answer = |status: u16, body: Value| {
            let payload = json!({
                "statusCode": status,
                "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
                "body": body.to_string(),
            });
            (None, payload.to_string().into_bytes())
        };
        let q = &event["queryStringParameters"];
        let Some(user) = q["userId"].as_str().filter(|u| !u.is_empty()) else {
            return answer(400, json!({"error": "Missing userId parameter"}));
        };
        let item = q["itemId"].as_str();
        let body: Option<Result<Value, ()>> = event["body"]
            .as_str()
            .map(|b| serde_json::from_str(b).map_err(|_| ()));
        let mut table = store.lock().unwrap();
        let key = |id: &str| (user.to_string(), id.to_string());
        match event["requestContext"]["http"]["method"].as_str().unwrap() {
            "GET" => match item {
                Some(id) => match table.get(&key(id)) {
                    Some(found) => answer(200, found.clone()),
                    None => answer(404, json!({"error": "Item not found"})),
                },
                None => {
                    let items: Vec<Value> = if bug == Bug::EmptyLists {
                        Vec::new()
                    } else {
                        table
                            .iter()
                            .filter(|((u, _), _)| u == user)
                            .map(|(_, v)| v.clone())
                            .collect()
                    };
                    answer(200, json!({ "items": items }))
                }
            },
            "POST" => match body {
                Some(Err(())) if bug == Bug::NotJsonIs500 => {
                    answer(500, json!({"error": "Internal server error"}))
                }
                Some(Err(())) => answer(400, json!({"error": "Invalid JSON in request body"})),
                Some(Ok(b)) if b["title"].is_string() => {
                    counter += 1;
                    let id = format!("item-{counter}");
                    let stored = json!({
                        "userId": user, "itemId": id, "title": b["title"],
                        "status": b["status"].as_str().unwrap_or("pending"),
                        "createdAt": "2026-11-26T16:04:42.614Z",
                    });
                    table.insert(key(&id), stored.clone());
                    answer(201, stored)
                }
                _ => answer(400, json!({"error": "Missing title in request body"})),
            },
            "DELETE" => match item {
                None => answer(400, json!({"error": "Missing itemId parameter"})),
                Some(id) => {
                    if bug != Bug::DeleteIgnored {
                        table.remove(&key(id));
                    }
                    answer(200, json!({"deleted": true}))
                }
            },
            "PATCH" => match item {
                None => answer(400, json!({"error": "Missing itemId parameter"})),
                Some(id) => {
                    let status = body.unwrap().unwrap()["status"].clone();
                    if bug == Bug::PatchUpserts && !table.contains_key(&key(id)) {
                        table.insert(key(id), json!({"userId": user, "itemId": id}));
                    }
                    match table.get_mut(&key(id)) {
                        Some(found) => {
                            found["status"] = status;
                            found["updatedAt"] = json!("2026-11-26T16:05:00.000Z");
                            answer(200, found.clone())
                        }
                        None => answer(404, json!({"error": "Item not found"})),
                    }
                }
            },
            _ => answer(405, json!({"error": "Method not allowed"})),
        }
    };
    (Transport::Fake(Box::new(handler)), table)
}

async fn smoke(bug: Bug) -> (Vec<StepResult>, Cleanup, usize) {
    smoke_with(bug, None, false).await
}

async fn smoke_with(
    bug: Bug,
    direct: Option<&DirectDelete>,
    tutorial_events: bool,
) -> (Vec<StepResult>, Cleanup, usize) {
    let (mut transport, table) = fake_handler(bug);
    let progress = Progress::new(crate::progress::Mode::Quiet);
    let (steps, cleanup, interrupted) = run_sequence(
        &mut transport,
        &progress,
        "smoke-test".into(),
        direct,
        &CorsCheck::Star,
        tutorial_events,
        None,
    )
    .await;
    assert!(!interrupted);
    let left = table.lock().unwrap().len();
    (steps, cleanup, left)
}

fn verdicts(steps: &[StepResult]) -> Vec<(&str, Verdict)> {
    steps.iter().map(|s| (s.name, s.result)).collect()
}

#[tokio::test]
async fn a_handler_that_keeps_its_promises_passes_every_step_and_leaves_nothing() {
    let (steps, cleanup, left) = smoke(Bug::None).await;
    assert_eq!(steps.len(), STEPS);
    for step in &steps {
        assert_eq!(
            step.result,
            Verdict::Pass,
            "{}: {:?}",
            step.name,
            step.message
        );
    }
    assert_eq!(cleanup.deleted, vec!["item-1", "item-2"]);
    assert!(cleanup.failed.is_empty());
    assert_eq!(left, 0);
}

#[test]
fn the_tutorial_events_are_sent_as_written_with_the_runs_user_and_item() {
    for template in [
        tutorial::CREATE,
        tutorial::LIST,
        tutorial::GET,
        tutorial::DELETE,
        tutorial::MISSING_USER,
        tutorial::PUT,
    ] {
        let (request, event) = tutorial_event(template, "smoke-u", Some("item-7"));
        let written: Value = serde_json::from_str(template).unwrap();
        let keys: Vec<&str> = event
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            written
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        for absent in ["version", "rawPath", "rawQueryString", "headers"] {
            assert!(event.get(absent).is_none(), "{absent} in {event}");
        }
        assert_eq!(event["requestContext"], written["requestContext"]);
        assert_eq!(event["body"], written["body"]);
        assert_eq!(
            request.method,
            written["requestContext"]["http"]["method"]
                .as_str()
                .unwrap()
        );
        let q = &event["queryStringParameters"];
        let had = |k: &str| written["queryStringParameters"].get(k).is_some();
        assert_eq!(q.get("userId").is_some(), had("userId"), "{template}");
        if had("userId") {
            assert_eq!(q["userId"], "smoke-u");
        }
        if had("itemId") {
            assert_eq!(q["itemId"], "item-7");
        }
    }
    let (_, missing) = tutorial_event(tutorial::MISSING_USER, "smoke-u", None);
    assert!(missing["queryStringParameters"].get("userId").is_none());
}

#[tokio::test]
async fn with_the_tutorial_events_a_good_handler_passes_every_step_and_a_bad_list_fails_them() {
    let (steps, cleanup, left) = smoke_with(Bug::None, None, true).await;
    assert_eq!(steps.len(), STEPS + TUTORIAL_STEPS);
    for step in &steps {
        assert_eq!(
            step.result,
            Verdict::Pass,
            "{}: {:?}",
            step.name,
            step.message
        );
    }
    assert_eq!(
        steps[STEPS..].iter().map(|s| s.name).collect::<Vec<_>>(),
        [
            "tutorial event: create",
            "tutorial event: list",
            "tutorial event: get",
            "tutorial event: delete",
            "tutorial event: missing userId",
            "tutorial event: PUT"
        ]
    );
    assert_eq!(cleanup.deleted, vec!["item-1", "item-2", "item-3"]);
    assert_eq!(left, 0);

    let (steps, _, left) = smoke_with(Bug::EmptyLists, None, true).await;
    let list = steps
        .iter()
        .find(|s| s.name == "tutorial event: list")
        .unwrap();
    assert_eq!(list.result, Verdict::Fail);
    assert_eq!(
        list.message.as_deref(),
        Some("expected item item-3 among the items, got []")
    );
    assert_eq!(left, 0);

    let (steps, _, _) = smoke_with(Bug::Throws, None, true).await;
    let v = verdicts(&steps);
    assert_eq!(v.len(), STEPS + TUTORIAL_STEPS);
    assert_eq!(v[STEPS], ("tutorial event: create", Verdict::Fail));
    assert_eq!(v[STEPS + 1], ("tutorial event: list", Verdict::Skip));
    assert_eq!(v[STEPS + 3], ("tutorial event: delete", Verdict::Skip));
    assert_eq!(
        v[STEPS + 4],
        ("tutorial event: missing userId", Verdict::Fail)
    );
}

#[tokio::test]
async fn empty_lists_fail_the_list_steps_with_what_was_expected_and_still_clean_up() {
    let (steps, cleanup, left) = smoke(Bug::EmptyLists).await;
    let failed: Vec<_> = steps.iter().filter(|s| s.result == Verdict::Fail).collect();
    assert_eq!(
        failed.iter().map(|s| s.name).collect::<Vec<_>>(),
        vec!["list both items", "list after delete"]
    );
    assert_eq!(
        failed[0].message.as_deref(),
        Some("expected 2 items [item-1, item-2], got 0 []")
    );
    assert_eq!(cleanup.deleted, vec!["item-1", "item-2"]);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_function_error_fails_every_step_with_its_message_and_skips_what_depends_on_it() {
    let (steps, cleanup, _) = smoke(Bug::Throws).await;
    let v = verdicts(&steps);
    assert_eq!(v.len(), STEPS);
    assert_eq!(v[0], ("create first item", Verdict::Fail));
    assert_eq!(
        steps[0].message.as_deref(),
        Some("the function failed (Unhandled FunctionError): Error: boom")
    );
    assert_eq!(v[2], ("list both items", Verdict::Skip));
    assert!(v.iter().all(|(_, r)| *r != Verdict::Pass));
    assert!(cleanup.deleted.is_empty() && cleanup.failed.is_empty());
}

#[tokio::test]
async fn a_500_is_a_failure_even_where_a_4xx_was_expected() {
    let (steps, _, left) = smoke(Bug::NotJsonIs500).await;
    let last = steps.last().unwrap();
    assert_eq!((last.name, last.result), ("body not JSON", Verdict::Fail));
    assert_eq!(last.status_code, Some(500));
    assert_eq!(
        last.message.as_deref(),
        Some(r#"the function answered 500: {"error":"Internal server error"}"#)
    );
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_patch_that_creates_a_missing_item_fails_and_the_cleanup_deletes_what_it_created() {
    let (steps, cleanup, left) = smoke(Bug::PatchUpserts).await;
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| s.result == Verdict::Fail)
        .map(|s| (s.name, s.message.clone().unwrap_or_default()))
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(failed[0].0, "update missing item");
    assert!(
        failed[0].1.starts_with("expected 404, got 200"),
        "{failed:?}"
    );
    assert_eq!(failed[1].0, "get missing item");
    assert_eq!(
        cleanup.deleted,
        vec!["item-1", "item-2", "item-0-stackctl-smoke-missing"]
    );
    assert_eq!(left, 0);
}

#[tokio::test]
async fn requests_missing_a_parameter_are_checked_for_a_400_naming_it() {
    let (steps, _, _) = smoke(Bug::None).await;
    let by_name = |name: &str| steps.iter().find(|s| s.name == name).unwrap();
    for (name, method, status) in [
        ("create without title", "POST", 400),
        ("delete without itemId", "DELETE", 400),
        ("update without itemId", "PATCH", 400),
        ("update missing item", "PATCH", 404),
    ] {
        let step = by_name(name);
        assert_eq!(
            (step.request.method, step.expected_status),
            (method, status)
        );
        assert_eq!(step.result, Verdict::Pass, "{name}: {:?}", step.message);
    }
    assert!(by_name("delete without itemId")
        .request
        .query
        .iter()
        .all(|(k, _)| *k != "itemId"));
    let wrong = response(400, json!({"error": "Missing userId parameter"}));
    assert_eq!(
        check_error_names(&wrong, "itemId").unwrap_err(),
        r#"expected {"error": "..."} naming `itemId`, got {"error":"Missing userId parameter"}"#
    );
}

#[tokio::test]
async fn items_the_function_does_not_delete_are_deleted_with_dynamodb_delete_item() {
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_types::body::SdkBody;
    let answer = || {
        let mut r = aws_smithy_runtime_api::http::Response::new(
            200.try_into().unwrap(),
            SdkBody::from("{}"),
        );
        r.headers_mut()
            .insert("Content-Type", "application/x-amz-json-1.0");
        ReplayEvent::new(
            aws_smithy_runtime_api::http::Request::new(SdkBody::empty()),
            r,
        )
    };
    let http = StaticReplayClient::new(vec![answer(), answer()]);
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .http_client(http.clone())
        .build();
    let direct = DirectDelete {
        client: aws_sdk_dynamodb::Client::from_conf(config),
        table: "my-frontend-app-data".into(),
        partition_key: "userId".into(),
        sort_key: "itemId".into(),
    };
    let (steps, cleanup, _) = smoke_with(Bug::DeleteIgnored, Some(&direct), false).await;
    assert_eq!(
        steps
            .iter()
            .find(|s| s.name == "list after delete")
            .unwrap()
            .result,
        Verdict::Fail
    );
    // The function answered 200 to every DELETE, but the confirming list still showed both items.
    assert_eq!(cleanup.deleted, vec!["item-1", "item-2"]);
    assert_eq!(cleanup.deleted_directly, vec!["item-1", "item-2"]);
    assert!(cleanup.failed.is_empty());
    let sent: Vec<Value> = http
        .actual_requests()
        .map(|r| serde_json::from_slice(r.body().bytes().unwrap()).unwrap())
        .collect();
    assert_eq!(
        sent,
        vec![
            json!({"TableName": "my-frontend-app-data", "Key": {"userId": {"S": "smoke-test"}, "itemId": {"S": "item-1"}}}),
            json!({"TableName": "my-frontend-app-data", "Key": {"userId": {"S": "smoke-test"}, "itemId": {"S": "item-2"}}}),
        ]
    );
    let text = format!(
        "{}",
        SmokeReport {
            test_users: Vec::new(),
            envelope: Envelope {
                schema_version: 1,
                command: "smoke",
                stack: Some("s".into()),
                stage: None,
                region: "r".into(),
                aws_calls: Calls::default(),
                duration_ms: 1,
            },
            function: "f".into(),
            transport: "fake",
            url: None,
            target: "a fake".into(),
            user_id: "smoke-test".into(),
            passed: false,
            interrupted: false,
            summary: summarize(&steps),
            steps,
            cleanup,
        }
    );
    assert!(
        text.contains(
            "the function did not delete item-1, item-2; deleted with DynamoDB DeleteItem"
        ),
        "{text}"
    );
}

fn response(status: u16, body: Value) -> Response {
    crate::handler::event::interpret(
        None,
        json!({
            "statusCode": status,
            "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"},
            "body": body.to_string(),
        })
        .to_string()
        .as_bytes(),
        None,
    )
    .unwrap()
}

#[test]
fn checks_say_what_differs() {
    let item = json!({"userId": "u", "itemId": "item-1", "title": "t", "status": "pending", "createdAt": "2026-11-26T16:04:42.614Z"});
    assert!(check_created(&response(201, item.clone()), "u", "t", "pending").is_ok());
    let mut wrong = item.clone();
    wrong["createdAt"] = json!("yesterday");
    assert_eq!(
        check_created(&response(201, wrong), "u", "t", "pending").unwrap_err(),
        r#"expected createdAt as ISO-8601 UTC, got "yesterday""#
    );
    let mut patched = item.clone();
    patched["status"] = json!("archived");
    assert!(
        check_patched(&response(200, patched.clone()), &item, "archived")
            .unwrap_err()
            .contains("updatedAt")
    );
    patched["updatedAt"] = json!("2026-11-26T16:05:00.000Z");
    assert!(check_patched(&response(200, patched.clone()), &item, "archived").is_ok());
    patched["title"] = json!("changed");
    assert_eq!(
        check_patched(&response(200, patched), &item, "archived").unwrap_err(),
        r#"PATCH changed title: it was "t", now "changed""#
    );
    assert_eq!(
        check_status(&response(404, json!({"error": "Item not found"})), 200).unwrap_err(),
        r#"expected 200, got 404: {"error":"Item not found"}"#
    );
    let mut no_cors = response(200, json!({}));
    no_cors.headers.remove("Access-Control-Allow-Origin");
    assert_eq!(
        check_common(&no_cors, &CorsCheck::Star).unwrap_err(),
        "no Access-Control-Allow-Origin header, expected `*`"
    );
}
