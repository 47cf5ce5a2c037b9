//! `stackctl smoke`: the tutorial's request sequence (plus PATCH, a missing item, requests missing a
//! parameter and a body that is not JSON) sent as API Gateway HTTP API (v2) events, each answer checked
//! against what the handler promises, with a throwaway userId and a cleanup that deletes every item the run
//! created, also when a step fails or the run is interrupted (Ctrl-C, SIGTERM): through the function, then
//! confirmed by listing again, with DynamoDB DeleteItem (stackctl's own client) for whatever is left.
//! The same sequence and checks run against the deployed function (Lambda Invoke) or, with `--local`, the
//! built handler in the local Node.js (see handler/transport.rs). `--local` then also sends the tutorial's
//! own hand-written test events (lambda/events/tutorial-*.json, with only `requestContext.http`,
//! `queryStringParameters` and `body`), which the handler must answer as the tutorial says.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::aws::Clients;
use crate::config::Stack;
use crate::handler::event::{body_text, check_common, excerpt, CorsCheck, Request, Response};
use crate::handler::random_hex;
use crate::handler::transport::{Transport, Via};
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::{format_duration, Progress};

// ---------------------------------------------------------------------------------------------------------
// Checks: each says exactly what differs.

fn check_status(r: &Response, expected: u16) -> Result<(), String> {
    if r.status_code == expected {
        Ok(())
    } else {
        Err(format!(
            "expected {expected}, got {}: {}",
            r.status_code,
            body_text(&r.body)
        ))
    }
}

fn check_body_is(r: &Response, expected: &Value) -> Result<(), String> {
    if &r.body == expected {
        Ok(())
    } else {
        Err(format!(
            "expected the body {expected}, got {}",
            body_text(&r.body)
        ))
    }
}

/// A 4xx body `{"error": "..."}` whose message names `field` (the wording is the handler's own).
fn check_error_names(r: &Response, field: &str) -> Result<(), String> {
    match r.body.as_object() {
        Some(object) if object.len() == 1 => match object.get("error").and_then(Value::as_str) {
            Some(message) if message.to_lowercase().contains(&field.to_lowercase()) => Ok(()),
            _ => Err(format!(
                "expected {{\"error\": \"...\"}} naming `{field}`, got {}",
                body_text(&r.body)
            )),
        },
        _ => Err(format!(
            "expected {{\"error\": \"...\"}} naming `{field}`, got {}",
            body_text(&r.body)
        )),
    }
}

fn is_iso8601(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && humantime::parse_rfc3339(s).is_ok())
}

fn keys(object: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// A 201 from POST: the stored item, exactly {userId, itemId, title, status, createdAt}.
fn check_created(r: &Response, user: &str, title: &str, status: &str) -> Result<(), String> {
    let item = r
        .body
        .as_object()
        .ok_or_else(|| format!("expected the stored item, got {}", body_text(&r.body)))?;
    let expected_keys = ["createdAt", "itemId", "status", "title", "userId"];
    if keys(item) != expected_keys {
        return Err(format!(
            "expected the item's fields {expected_keys:?}, got {:?}: {}",
            keys(item),
            body_text(&r.body)
        ));
    }
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    for (name, want) in [("userId", user), ("title", title), ("status", status)] {
        if field(name) != want {
            return Err(format!("expected {name} `{want}`, got {}", item[name]));
        }
    }
    if !field("itemId").starts_with("item-") {
        return Err(format!(
            "expected an itemId starting `item-`, got {}",
            item["itemId"]
        ));
    }
    if !is_iso8601(&item["createdAt"]) {
        return Err(format!(
            "expected createdAt as ISO-8601 UTC, got {}",
            item["createdAt"]
        ));
    }
    Ok(())
}

fn item_id(item: &Value) -> &str {
    item.get("itemId").and_then(Value::as_str).unwrap_or("?")
}

/// A 200 from GET (list): `{"items": [...]}` holding exactly `expected`, in any order.
fn check_items(r: &Response, expected: &[&Value]) -> Result<(), String> {
    let Some(items) = r.body.get("items").and_then(Value::as_array) else {
        return Err(format!(
            "expected {{\"items\": [...]}}, got {}",
            body_text(&r.body)
        ));
    };
    let ids = |list: &mut dyn Iterator<Item = &Value>| -> Vec<String> {
        let mut ids: Vec<String> = list.map(|i| item_id(i).to_string()).collect();
        ids.sort();
        ids
    };
    let want = ids(&mut expected.iter().copied());
    let got = ids(&mut items.iter());
    if want != got {
        return Err(format!(
            "expected {} item{} [{}], got {} [{}]",
            want.len(),
            if want.len() == 1 { "" } else { "s" },
            want.join(", "),
            got.len(),
            got.join(", ")
        ));
    }
    for item in items {
        if let Some(created) = expected.iter().find(|e| item_id(e) == item_id(item)) {
            if item != *created {
                return Err(format!(
                    "item {} differs from what POST returned: expected {}, got {}",
                    item_id(item),
                    body_text(created),
                    body_text(item)
                ));
            }
        }
    }
    Ok(())
}

/// A 200 from PATCH: the whole item, the new status, an updatedAt, everything else unchanged.
fn check_patched(r: &Response, before: &Value, status: &str) -> Result<(), String> {
    let (Some(item), Some(before)) = (r.body.as_object(), before.as_object()) else {
        return Err(format!(
            "expected the whole updated item, got {}",
            body_text(&r.body)
        ));
    };
    let mut expected_keys = keys(before);
    expected_keys.push("updatedAt");
    expected_keys.sort_unstable();
    if keys(item) != expected_keys {
        return Err(format!(
            "expected the item's fields {expected_keys:?}, got {:?}: {}",
            keys(item),
            body_text(&r.body)
        ));
    }
    if item.get("status").and_then(Value::as_str) != Some(status) {
        return Err(format!(
            "expected status `{status}`, got {}",
            item["status"]
        ));
    }
    if !is_iso8601(&item["updatedAt"]) {
        return Err(format!(
            "expected updatedAt as ISO-8601 UTC, got {}",
            item["updatedAt"]
        ));
    }
    for (name, value) in before {
        if name != "status" && item.get(name) != Some(value) {
            return Err(format!(
                "PATCH changed {name}: it was {value}, now {}",
                item[name.as_str()]
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The run

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StepResult {
    pub name: &'static str,
    pub request: Request,
    pub expected_status: u16,
    /// What the step checks, for people.
    pub expect: &'static str,
    pub result: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why it failed or was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// Every item the run created (or found under its userId), deleted.
    pub deleted: Vec<String>,
    /// Those of `deleted` the function did not delete (its DELETE failed, or a list still showed them
    /// afterwards): deleted with DynamoDB DeleteItem through stackctl's own client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_directly: Vec<String>,
    pub failed: Vec<CleanupFailure>,
}

/// The cleanup's last resort: DeleteItem on the stack's table, with stackctl's own credentials.
pub struct DirectDelete {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The table's key attributes, holding the userId and the itemId.
    pub partition_key: String,
    pub sort_key: String,
}

impl DirectDelete {
    pub fn for_stack(client: &aws_sdk_dynamodb::Client, stack: &Stack) -> Option<DirectDelete> {
        Some(DirectDelete {
            client: client.clone(),
            table: stack.table.name.clone(),
            partition_key: stack.table.partition_key.name.clone(),
            sort_key: stack.table.sort_key.as_ref()?.name.clone(),
        })
    }

    async fn delete(&self, user: &str, item: &str) -> Result<(), String> {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(&self.partition_key, AttributeValue::S(user.to_string()))
            .key(&self.sort_key, AttributeValue::S(item.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                format!(
                    "DynamoDB DeleteItem on `{}`: {:#}",
                    self.table,
                    anyhow::Error::new(err)
                )
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupFailure {
    pub item_id: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StepSummary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The result of `stackctl smoke`, as text or as one JSON document.
#[derive(Debug, Clone, Serialize)]
pub struct SmokeReport {
    #[serde(skip)]
    pub envelope: Envelope,
    pub function: String,
    /// `remote` (Lambda Invoke), `local` (the built handler in the local Node.js) or `url` (HTTP requests
    /// to the function URL).
    pub transport: &'static str,
    /// With `url`: the base URL the requests went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How events were delivered, for people.
    pub target: String,
    /// The throwaway userId every request used.
    pub user_id: String,
    /// Every step passed and the cleanup deleted everything.
    pub passed: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    pub summary: StepSummary,
    pub steps: Vec<StepResult>,
    pub cleanup: Cleanup,
}

/// The steps of the sequence; `--local` adds the tutorial's events (`TUTORIAL_STEPS`).
const STEPS: usize = 15;
const TUTORIAL_STEPS: usize = 6;

/// The tutorial's own hand-written test events, as a reader pastes them into `aws lambda invoke --payload`
/// or the console's Test tab: no `version`, `rawPath`, `rawQueryString` or `headers`. The same files the
/// handler's tests run (lambda/test/handler.test.mjs); smoke puts its own userId (and itemId) in.
mod tutorial {
    pub const CREATE: &str = include_str!("../../lambda/events/tutorial-create-item.json");
    pub const LIST: &str = include_str!("../../lambda/events/tutorial-list-items.json");
    pub const GET: &str = include_str!("../../lambda/events/tutorial-get-item.json");
    pub const DELETE: &str = include_str!("../../lambda/events/tutorial-delete-item.json");
    pub const MISSING_USER: &str = include_str!("../../lambda/events/tutorial-missing-userid.json");
    pub const PUT: &str = include_str!("../../lambda/events/tutorial-put-not-allowed.json");
}

/// A tutorial event with this run's userId and, when given, itemId in its `queryStringParameters` (those it
/// has; `tutorial-missing-userid.json` keeps none), and the `Request` it stands for in the report.
fn tutorial_event(template: &str, user: &str, item: Option<&str>) -> (Request, Value) {
    let mut event: Value = serde_json::from_str(template).unwrap_or(Value::Null);
    let method = match event["requestContext"]["http"]["method"].as_str() {
        Some("POST") => "POST",
        Some("GET") => "GET",
        Some("DELETE") => "DELETE",
        Some("PATCH") => "PATCH",
        Some("PUT") => "PUT",
        _ => "?",
    };
    let mut query = Vec::new();
    if let Some(params) = event
        .get_mut("queryStringParameters")
        .and_then(Value::as_object_mut)
    {
        if params.contains_key("userId") {
            params.insert("userId".into(), json!(user));
            query.push(("userId", user.to_string()));
        }
        if let (true, Some(item)) = (params.contains_key("itemId"), item) {
            params.insert("itemId".into(), json!(item));
            query.push(("itemId", item.to_string()));
        }
    }
    let body = event["body"].as_str().map(str::to_string);
    (
        Request {
            method,
            query,
            body,
        },
        event,
    )
}

struct Session<'a> {
    transport: &'a mut Transport,
    /// How many steps this run has (`--local` sends the tutorial's events too).
    total: usize,
    progress: &'a Progress,
    user: String,
    steps: Vec<StepResult>,
    /// itemIds seen under this run's userId, in order: what the cleanup deletes.
    seen: Vec<String>,
    /// An interrupt arrived: no further step starts (the cleanup still runs).
    interrupted: bool,
    /// What each answer's Access-Control-Allow-Origin must be.
    cors: &'a CorsCheck,
}

impl CorsCheck {
    /// The check for this run: with an Origin sent, its CORS answer; otherwise none from the handler when the
    /// URL has a CORS config (stack.toml's), the handler's `*` when it has none.
    pub fn for_run(stack: &Stack, transport: &Transport) -> CorsCheck {
        match transport.origin() {
            Some(origin) => CorsCheck::Origin(origin.to_string()),
            None if stack.url.as_ref().is_some_and(|u| u.cors.is_some()) => CorsCheck::FromUrlOnly,
            None => CorsCheck::Star,
        }
    }
}

impl Session<'_> {
    /// Remembers every item of this run's user an answer shows, so the cleanup can delete it even when
    /// the step that created it failed.
    fn track(&mut self, body: &Value) {
        let mut candidates: Vec<&Value> = vec![body];
        if let Some(items) = body.get("items").and_then(Value::as_array) {
            candidates.extend(items);
        }
        for item in candidates {
            if item.get("userId").and_then(Value::as_str) == Some(self.user.as_str()) {
                if let Some(id) = item.get("itemId").and_then(Value::as_str) {
                    if !self.seen.iter().any(|s| s == id) {
                        self.seen.push(id.to_string());
                    }
                }
            }
        }
    }

    /// Sends one request and checks its answer: the status, then what every answer must be, then `check`.
    /// Returns the body when the step passed.
    async fn step(
        &mut self,
        name: &'static str,
        request: Request,
        expected_status: u16,
        expect: &'static str,
        check: impl FnOnce(&Response) -> Result<(), String>,
    ) -> Option<Value> {
        let event = request.event();
        self.step_event(name, request, event, expected_status, expect, check)
            .await
    }

    /// `step` with the event given as it is (the tutorial's hand-written events).
    async fn step_event(
        &mut self,
        name: &'static str,
        request: Request,
        event: Value,
        expected_status: u16,
        expect: &'static str,
        check: impl FnOnce(&Response) -> Result<(), String>,
    ) -> Option<Value> {
        if self.stop_requested() {
            return None;
        }
        let task = self.progress.task(format!(
            "smoke {}/{} {name}",
            self.steps.len() + 1,
            self.total
        ));
        task.set(&request.short());
        let started = Instant::now();
        // An interrupt abandons a local invocation (its runner is replaced); a remote one is waited for:
        // it runs on AWS anyway, and its answer names the item it may have created, for the cleanup.
        let outcome = if self.transport.can_abandon() {
            tokio::select! {
                outcome = self.transport.invoke(&event) => outcome,
                () = crate::interrupt::interrupted() => {
                    task.fail("interrupted");
                    self.interrupted = true;
                    return None;
                }
            }
        } else {
            self.transport.invoke(&event).await
        };
        let elapsed = started.elapsed();
        let (verdict, status_code, message, body) = match outcome {
            Ok(response) => {
                self.track(&response.body);
                let checked = if response.status_code >= 500 {
                    check_common(&response, self.cors)
                } else {
                    check_status(&response, expected_status)
                        .and_then(|()| check_common(&response, self.cors))
                        .and_then(|()| check(&response))
                };
                match checked {
                    Ok(()) => (
                        Verdict::Pass,
                        Some(response.status_code),
                        None,
                        Some(response.body),
                    ),
                    Err(why) => (
                        Verdict::Fail,
                        Some(response.status_code),
                        Some(with_log_tail(why, response.logs.as_deref())),
                        None,
                    ),
                }
            }
            Err(err) => (
                Verdict::Fail,
                None,
                Some(with_log_tail(err.to_string(), err.logs())),
                None,
            ),
        };
        match (&verdict, &message) {
            (Verdict::Pass, _) => task.finish(&format!(
                "PASS {}",
                status_code.map(|c| c.to_string()).unwrap_or_default()
            )),
            (_, Some(why)) => task.fail(&format!("FAIL: {}", excerpt(why, 200))),
            _ => task.fail("FAIL"),
        }
        self.steps.push(StepResult {
            name,
            request,
            expected_status,
            expect,
            result: verdict,
            status_code,
            message,
            duration_ms: elapsed.as_millis() as u64,
        });
        body
    }

    fn skip(
        &mut self,
        name: &'static str,
        request: Request,
        expected_status: u16,
        expect: &'static str,
        needs: &str,
    ) {
        if self.stop_requested() {
            return;
        }
        let message = format!("skipped: needs `{needs}` to pass first");
        self.progress
            .task(format!(
                "smoke {}/{} {name}",
                self.steps.len() + 1,
                self.total
            ))
            .fail(&message);
        self.steps.push(StepResult {
            name,
            request,
            expected_status,
            expect,
            result: Verdict::Skip,
            status_code: None,
            message: Some(message),
            duration_ms: 0,
        });
    }
}

impl Session<'_> {
    /// Whether an interrupt (Ctrl-C, SIGTERM) arrived: then no further step starts.
    fn stop_requested(&mut self) -> bool {
        if !self.interrupted && crate::interrupt::check("the next smoke step").is_err() {
            self.interrupted = true;
        }
        self.interrupted
    }
}

/// The last lines of the function's log, when it has one: why a 500 happened is usually there.
fn with_log_tail(message: String, logs: Option<&str>) -> String {
    match logs {
        Some(logs) if !logs.trim().is_empty() => {
            let tail: Vec<&str> = logs.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("{message}\n  log: {}", tail.join("\n  log: "))
        }
        _ => message,
    }
}

/// The sequence: the tutorial's (create two, list, delete the first, list, missing userId, PUT), with
/// requests missing a parameter before the second list (which shows they changed nothing), then PATCH, GET
/// of the updated item, PATCH and GET of a missing item (the PATCH must not create it), a body that is not
/// JSON.
async fn sequence(s: &mut Session<'_>) {
    let user = s.user.clone();
    let u = user.as_str();
    let q = |extra: Option<&str>| -> Vec<(&'static str, String)> {
        let mut query = vec![("userId", user.clone())];
        if let Some(item) = extra {
            query.push(("itemId", item.to_string()));
        }
        query
    };
    let with =
        |method: &'static str, query: Vec<(&'static str, String)>, body: Option<&str>| Request {
            method,
            query,
            body: body.map(str::to_string),
        };

    const FIRST: &str = "smoke: first item";
    const SECOND: &str = "smoke: second item";
    let first = s
        .step(
            "create first item",
            with(
                "POST",
                q(None),
                Some(&json!({ "title": FIRST }).to_string()),
            ),
            201,
            "the stored item {userId, itemId, title, status: pending, createdAt}",
            |r| check_created(r, u, FIRST, "pending"),
        )
        .await;
    let second = s
        .step(
            "create second item",
            with(
                "POST",
                q(None),
                Some(&json!({ "title": SECOND, "status": "done" }).to_string()),
            ),
            201,
            "the stored item, status: done",
            |r| check_created(r, u, SECOND, "done"),
        )
        .await;

    let list = || with("GET", q(None), None);
    match (&first, &second) {
        (Some(a), Some(b)) => {
            s.step(
                "list both items",
                list(),
                200,
                "{\"items\": [both items]}",
                |r| check_items(r, &[a, b]),
            )
            .await;
        }
        _ => s.skip(
            "list both items",
            list(),
            200,
            "{\"items\": [both items]}",
            "create first item` and `create second item",
        ),
    }

    let deleted = match &first {
        Some(a) => s
            .step(
                "delete first item",
                with("DELETE", q(Some(item_id(a))), None),
                200,
                "{\"deleted\": true}",
                |r| check_body_is(r, &json!({ "deleted": true })),
            )
            .await
            .is_some(),
        None => {
            s.skip(
                "delete first item",
                with("DELETE", q(Some("(first item)")), None),
                200,
                "{\"deleted\": true}",
                "create first item",
            );
            false
        }
    };

    // Refused before touching the table: the list below shows nothing was created or deleted.
    s.step(
        "create without title",
        with(
            "POST",
            q(None),
            Some(&json!({ "status": "pending" }).to_string()),
        ),
        400,
        "{\"error\": ...} naming title; nothing created",
        |r| check_error_names(r, "title"),
    )
    .await;
    s.step(
        "delete without itemId",
        with("DELETE", q(None), None),
        400,
        "{\"error\": ...} naming itemId; nothing deleted",
        |r| check_error_names(r, "itemId"),
    )
    .await;
    s.step(
        "update without itemId",
        with(
            "PATCH",
            q(None),
            Some(&json!({ "status": "done" }).to_string()),
        ),
        400,
        "{\"error\": ...} naming itemId; nothing changed",
        |r| check_error_names(r, "itemId"),
    )
    .await;

    match (&second, deleted) {
        (Some(b), true) => {
            s.step(
                "list after delete",
                list(),
                200,
                "{\"items\": [the second item]}",
                |r| check_items(r, &[b]),
            )
            .await;
        }
        _ => s.skip(
            "list after delete",
            list(),
            200,
            "{\"items\": [the second item]}",
            if second.is_none() {
                "create second item"
            } else {
                "delete first item"
            },
        ),
    }

    s.step(
        "missing userId",
        with("GET", Vec::new(), None),
        400,
        "{\"error\": \"Missing userId parameter\"}",
        |r| check_body_is(r, &json!({ "error": "Missing userId parameter" })),
    )
    .await;

    s.step(
        "unsupported method",
        with(
            "PUT",
            q(None),
            Some(&json!({ "title": "smoke: put" }).to_string()),
        ),
        405,
        "{\"error\": \"Method not allowed\"}",
        |r| check_body_is(r, &json!({ "error": "Method not allowed" })),
    )
    .await;

    const PATCHED: &str = "archived";
    let patch_body = json!({ "status": PATCHED }).to_string();
    let patched = match &second {
        Some(b) => {
            s.step(
                "update status",
                with("PATCH", q(Some(item_id(b))), Some(&patch_body)),
                200,
                "the whole item, status: archived, with updatedAt",
                |r| check_patched(r, b, PATCHED),
            )
            .await
        }
        None => {
            s.skip(
                "update status",
                with("PATCH", q(Some("(second item)")), Some(&patch_body)),
                200,
                "the whole item, status: archived, with updatedAt",
                "create second item",
            );
            None
        }
    };

    match &patched {
        Some(p) => {
            s.step(
                "get updated item",
                with("GET", q(Some(item_id(p))), None),
                200,
                "the updated item",
                |r| check_body_is(r, p),
            )
            .await;
        }
        None => s.skip(
            "get updated item",
            with("GET", q(Some("(second item)")), None),
            200,
            "the updated item",
            "update status",
        ),
    }

    const MISSING: &str = "item-0-stackctl-smoke-missing";
    s.step(
        "update missing item",
        with("PATCH", q(Some(MISSING)), Some(&patch_body)),
        404,
        "{\"error\": \"Item not found\"}",
        |r| check_body_is(r, &json!({ "error": "Item not found" })),
    )
    .await;
    s.step(
        "get missing item",
        with("GET", q(Some(MISSING)), None),
        404,
        "{\"error\": \"Item not found\"} (the PATCH above created nothing)",
        |r| check_body_is(r, &json!({ "error": "Item not found" })),
    )
    .await;

    s.step(
        "body not JSON",
        with("POST", q(None), Some("{\"title\": not json")),
        400,
        "{\"error\": \"Invalid JSON in request body\"}",
        |r| check_body_is(r, &json!({ "error": "Invalid JSON in request body" })),
    )
    .await;
}

/// A 200 from GET (list) whose `items` hold `item`, exactly as POST returned it (other items may be there).
fn check_listed(r: &Response, item: &Value) -> Result<(), String> {
    let Some(items) = r.body.get("items").and_then(Value::as_array) else {
        return Err(format!(
            "expected {{\"items\": [...]}}, got {}",
            body_text(&r.body)
        ));
    };
    match items.iter().find(|i| item_id(i) == item_id(item)) {
        Some(found) if found == item => Ok(()),
        Some(found) => Err(format!(
            "item {} differs from what POST returned: expected {}, got {}",
            item_id(item),
            body_text(item),
            body_text(found)
        )),
        None => Err(format!(
            "expected item {} among the items, got [{}]",
            item_id(item),
            items.iter().map(item_id).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The tutorial's own hand-written events (`--local`): create, list, get, delete, missing userId, PUT, each
/// answered exactly as the tutorial says.
async fn tutorial_sequence(s: &mut Session<'_>) {
    let user = s.user.clone();
    let u = user.as_str();
    let (request, event) = tutorial_event(tutorial::CREATE, u, None);
    let created = s
        .step_event(
            "tutorial event: create",
            request,
            event,
            201,
            "the stored item (tutorial-create-item.json)",
            |r| check_created(r, u, "Buy milk", "pending"),
        )
        .await;
    let needs = "tutorial event: create";
    match &created {
        Some(item) => {
            let (request, event) = tutorial_event(tutorial::LIST, u, None);
            s.step_event(
                "tutorial event: list",
                request,
                event,
                200,
                "{\"items\": [..., the item]} (tutorial-list-items.json)",
                |r| check_listed(r, item),
            )
            .await;
            let (request, event) = tutorial_event(tutorial::GET, u, Some(item_id(item)));
            s.step_event(
                "tutorial event: get",
                request,
                event,
                200,
                "the item (tutorial-get-item.json)",
                |r| check_body_is(r, item),
            )
            .await;
            let (request, event) = tutorial_event(tutorial::DELETE, u, Some(item_id(item)));
            s.step_event(
                "tutorial event: delete",
                request,
                event,
                200,
                "{\"deleted\": true} (tutorial-delete-item.json)",
                |r| check_body_is(r, &json!({ "deleted": true })),
            )
            .await;
        }
        None => {
            for (name, template, status, expect) in [
                (
                    "tutorial event: list",
                    tutorial::LIST,
                    200,
                    "{\"items\": [..., the item]} (tutorial-list-items.json)",
                ),
                (
                    "tutorial event: get",
                    tutorial::GET,
                    200,
                    "the item (tutorial-get-item.json)",
                ),
                (
                    "tutorial event: delete",
                    tutorial::DELETE,
                    200,
                    "{\"deleted\": true} (tutorial-delete-item.json)",
                ),
            ] {
                let (request, _) = tutorial_event(template, u, Some("(tutorial item)"));
                s.skip(name, request, status, expect, needs);
            }
        }
    }
    let (request, event) = tutorial_event(tutorial::MISSING_USER, u, None);
    s.step_event(
        "tutorial event: missing userId",
        request,
        event,
        400,
        "{\"error\": \"Missing userId parameter\"} (tutorial-missing-userid.json)",
        |r| check_body_is(r, &json!({ "error": "Missing userId parameter" })),
    )
    .await;
    let (request, event) = tutorial_event(tutorial::PUT, u, None);
    s.step_event(
        "tutorial event: PUT",
        request,
        event,
        405,
        "{\"error\": \"Method not allowed\"} (tutorial-put-not-allowed.json)",
        |r| check_body_is(r, &json!({ "error": "Method not allowed" })),
    )
    .await;
}

/// Lists the run's items through the function, following `nextToken` when the handler pages its lists,
/// and tracks every one. None when listing does not work.
async fn list_all(s: &mut Session<'_>) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut query = vec![("userId", s.user.clone())];
        if let Some(token) = &token {
            query.push(("nextToken", token.clone()));
        }
        let list = Request {
            method: "GET",
            query,
            body: None,
        };
        let r = s.transport.invoke(&list.event()).await.ok()?;
        if r.status_code != 200 {
            return None;
        }
        s.track(&r.body);
        let items = r.body.get("items")?.as_array()?;
        ids.extend(
            items
                .iter()
                .filter(|i| i.get("userId").and_then(Value::as_str) == Some(s.user.as_str()))
                .map(|i| item_id(i).to_string()),
        );
        token = r
            .body
            .get("nextToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Some(ids)
}

/// Deletes every item the run saw under its userId: those its requests created or answers showed, plus
/// whatever a list finds. Through the function first; then it lists again to confirm, and deletes what is
/// still there (or everything, when the list does not work) with DynamoDB DeleteItem through stackctl's
/// own client. Failures are reported, never hidden.
async fn cleanup(s: &mut Session<'_>, direct: Option<&DirectDelete>) -> Cleanup {
    let task = s.progress.task("smoke cleanup");
    task.set("listing the smoke user's items");
    list_all(s).await;
    // Per item: None once deleted, else why not.
    let mut outcome: Vec<(String, Option<String>)> = Vec::new();
    for id in s.seen.clone() {
        task.set(&format!("deleting {id}"));
        let delete = Request {
            method: "DELETE",
            query: vec![("userId", s.user.clone()), ("itemId", id.clone())],
            body: None,
        };
        let failure = match s.transport.invoke(&delete.event()).await {
            Ok(r) if r.status_code == 200 => None,
            Ok(r) => Some(format!(
                "DELETE answered {}: {}",
                r.status_code,
                body_text(&r.body)
            )),
            Err(err) => Some(err.to_string()),
        };
        outcome.push((id, failure));
    }
    task.set("listing again to confirm");
    let confirmed = list_all(s).await;
    // Items a list showed only now (created by a request still running when it was interrupted).
    for id in &s.seen {
        if !outcome.iter().any(|(seen, _)| seen == id) {
            outcome.push((id.clone(), Some("found by the confirming list".into())));
        }
    }
    let mut result = Cleanup::default();
    for (id, failure) in &mut outcome {
        let still_listed = confirmed.as_ref().is_some_and(|left| left.contains(id));
        if still_listed && failure.is_none() {
            *failure = Some("still listed after the function's DELETE answered 200".into());
        }
        // Whatever the function did not (verifiably) delete.
        let needs_direct = failure.is_some() || confirmed.is_none();
        if let (true, Some(direct)) = (needs_direct, direct) {
            task.set(&format!("deleting {id} with DynamoDB DeleteItem"));
            match direct.delete(&s.user, id).await {
                Ok(()) => {
                    if failure.is_some() {
                        result.deleted_directly.push(id.clone());
                    }
                    *failure = None;
                }
                Err(why) => {
                    *failure = Some(match failure.take() {
                        Some(first) => format!("{first}; {why}"),
                        None => why,
                    })
                }
            }
        }
        match failure {
            None => result.deleted.push(id.clone()),
            Some(message) => result.failed.push(CleanupFailure {
                item_id: id.clone(),
                message: message.clone(),
            }),
        }
    }
    if result.failed.is_empty() {
        task.finish(&format!(
            "{} items deleted{}",
            result.deleted.len(),
            if result.deleted_directly.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} of them with DynamoDB DeleteItem",
                    result.deleted_directly.len()
                )
            }
        ));
    } else {
        task.fail(&format!(
            "{} of {} items NOT deleted",
            result.failed.len(),
            result.failed.len() + result.deleted.len()
        ));
    }
    result
}

/// Runs the sequence (and, with `tutorial_events`, the tutorial's hand-written events) and the cleanup over
/// `transport`. An interrupt (Ctrl-C, SIGTERM) stops the sequence but not the cleanup; a second one stops
/// everything at once (see interrupt.rs).
async fn run_sequence(
    transport: &mut Transport,
    progress: &Progress,
    user: String,
    direct: Option<&DirectDelete>,
    cors: &CorsCheck,
    tutorial_events: bool,
) -> (Vec<StepResult>, Cleanup, bool) {
    let mut session = Session {
        transport,
        total: STEPS + if tutorial_events { TUTORIAL_STEPS } else { 0 },
        progress,
        user,
        steps: Vec::new(),
        seen: Vec::new(),
        interrupted: false,
        cors,
    };
    sequence(&mut session).await;
    if tutorial_events {
        tutorial_sequence(&mut session).await;
    }
    let interrupted = session.stop_requested();
    if interrupted {
        progress.warn(
            "interrupted: cleaning up the items created so far (interrupt again to stop at once)",
        );
    }
    let cleanup = cleanup(&mut session, direct).await;
    (session.steps, cleanup, interrupted)
}

fn summarize(steps: &[StepResult]) -> StepSummary {
    let count = |v: Verdict| steps.iter().filter(|s| s.result == v).count();
    StepSummary {
        passed: count(Verdict::Pass),
        failed: count(Verdict::Fail),
        skipped: count(Verdict::Skip),
    }
}

/// `stackctl smoke [--local]`: exit 0 only when every step passed and the cleanup deleted everything.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    via: &Via,
    profile: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let mut transport = Transport::open(clients, stack, via, profile, progress).await?;
    let cors = CorsCheck::for_run(stack, &transport);
    let url = transport.base_url();
    let user = format!("smoke-{}", random_hex());
    let target = transport.describe();
    let overall = progress.task("smoke");
    overall.set(&format!(
        "{} via {target}, userId {user}",
        stack.function.name
    ));
    let direct = DirectDelete::for_stack(&clients.dynamodb, stack);
    let tutorial_events = *via == Via::Local;
    let (steps, cleanup, interrupted) = run_sequence(
        &mut transport,
        progress,
        user.clone(),
        direct.as_ref(),
        &cors,
        tutorial_events,
    )
    .await;
    let kind = transport.kind();
    transport.close().await;
    let summary = summarize(&steps);
    let report = SmokeReport {
        envelope: Envelope::new("smoke", stack, clients.calls.snapshot(), started.elapsed()),
        function: stack.function.name.clone(),
        transport: kind,
        url,
        target,
        user_id: user,
        passed: !interrupted
            && summary.failed == 0
            && summary.skipped == 0
            && steps.len() == STEPS + if tutorial_events { TUTORIAL_STEPS } else { 0 }
            && cleanup.failed.is_empty(),
        interrupted,
        summary,
        steps,
        cleanup,
    };
    if report.passed {
        overall.finish(&format!("PASS, {} steps", report.summary.passed));
    } else {
        overall.fail(&format!(
            "FAIL, {} failed, {} skipped, {} cleanup failures",
            report.summary.failed,
            report.summary.skipped,
            report.cleanup.failed.len()
        ));
    }
    let status = if report.interrupted {
        ExitStatus::Interrupted
    } else if report.passed {
        ExitStatus::Ok
    } else {
        ExitStatus::Error
    };
    Ok(Outcome::result(report, status))
}

impl Body for SmokeReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Step messages quote the function's answers and logs: control characters shown escaped.
    fn text(&self, _color: bool) -> String {
        crate::escape::terminal(&self.to_string()).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, Value>> {
        fields_of(self)
    }
}

impl fmt::Display for SmokeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "smoke {} ({}) via {}, userId {}",
            self.function, self.envelope.region, self.target, self.user_id
        )?;
        let name_width = self
            .steps
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let request_width = self
            .steps
            .iter()
            .map(|s| s.request.short().len())
            .max()
            .unwrap_or(7)
            .max(7);
        writeln!(
            f,
            " #  {:name_width$}  {:request_width$}  expect  got  {:>6}  result",
            "step", "request", "time"
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            let got = step
                .status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "-".into());
            let took = if step.result == Verdict::Skip {
                "-".to_string()
            } else {
                format_duration(Duration::from_millis(step.duration_ms))
            };
            writeln!(
                f,
                "{:>2}  {:name_width$}  {:request_width$}  {:<6}  {:<3}  {:>6}  {}",
                i + 1,
                step.name,
                step.request.short(),
                step.expected_status,
                got,
                took,
                step.result.as_str()
            )?;
            if step.result != Verdict::Pass {
                if let Some(message) = &step.message {
                    for line in message.lines() {
                        writeln!(f, "      {line}")?;
                    }
                }
            }
        }
        if self.interrupted {
            writeln!(f, "interrupted after {} steps", self.steps.len())?;
        }
        let c = &self.cleanup;
        if c.failed.is_empty() {
            writeln!(
                f,
                "cleanup: {} item{} deleted{}",
                c.deleted.len(),
                if c.deleted.len() == 1 { "" } else { "s" },
                if c.deleted.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", c.deleted.join(", "))
                }
            )?;
        } else {
            writeln!(
                f,
                "cleanup: FAILED, {} item{} left under userId {}:",
                c.failed.len(),
                if c.failed.len() == 1 { "" } else { "s" },
                self.user_id
            )?;
            for failure in &c.failed {
                writeln!(f, "      {}: {}", failure.item_id, failure.message)?;
            }
        }
        if !c.deleted_directly.is_empty() {
            writeln!(
                f,
                "      the function did not delete {}; deleted with DynamoDB DeleteItem",
                c.deleted_directly.join(", ")
            )?;
        }
        let s = &self.summary;
        let took = format_duration(Duration::from_millis(self.envelope.duration_ms));
        if self.passed {
            write!(f, "smoke: PASS, all {} steps passed ({took})", s.passed)
        } else {
            write!(
                f,
                "smoke: FAIL, {} passed, {} failed, {} skipped{} ({took})",
                s.passed,
                s.failed,
                s.skipped,
                if c.failed.is_empty() {
                    ""
                } else {
                    ", cleanup incomplete"
                }
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::Calls;
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
}
