//! The scenario of `stackctl smoke`: the request sequence (and, with `--local`, the tutorial's own events),
//! each step sent through the transport and checked (checks.rs), one session per run.

use std::time::Instant;

use serde_json::{json, Value};

use super::checks::*;
use super::report::{StepResult, Verdict};
use crate::config::Stack;
use crate::handler::event::{check_common, excerpt, CorsCheck, Request, Response};
use crate::handler::transport::Transport;
use crate::progress::Progress;

/// The steps of the sequence; `--local` adds the tutorial's events (`TUTORIAL_STEPS`).
pub(super) const STEPS: usize = 15;
pub(super) const TUTORIAL_STEPS: usize = 6;

/// The tutorial's own hand-written test events, as a reader pastes them into `aws lambda invoke --payload`
/// or the console's Test tab: no `version`, `rawPath`, `rawQueryString` or `headers`. The same files the
/// handler's tests run (lambda/test/handler.test.mjs); smoke puts its own userId (and itemId) in.
pub(super) mod tutorial {
    pub const CREATE: &str = include_str!("../../../lambda/events/tutorial-create-item.json");
    pub const LIST: &str = include_str!("../../../lambda/events/tutorial-list-items.json");
    pub const GET: &str = include_str!("../../../lambda/events/tutorial-get-item.json");
    pub const DELETE: &str = include_str!("../../../lambda/events/tutorial-delete-item.json");
    pub const MISSING_USER: &str =
        include_str!("../../../lambda/events/tutorial-missing-userid.json");
    pub const PUT: &str = include_str!("../../../lambda/events/tutorial-put-not-allowed.json");
}

/// A tutorial event with this run's userId and, when given, itemId in its `queryStringParameters` (those it
/// has; `tutorial-missing-userid.json` keeps none), and the `Request` it stands for in the report.
pub(super) fn tutorial_event(template: &str, user: &str, item: Option<&str>) -> (Request, Value) {
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

/// Who a request is sent as, with `[auth]`: a test user's access token, or none (`no token`).
#[derive(Clone)]
pub(super) struct Caller {
    /// For the report: `first user`, `second user`, `no token`, `tampered token`.
    pub(super) label: &'static str,
    /// `Authorization: Bearer <token>`; None sends no Authorization header.
    pub(super) token: Option<String>,
}

impl Caller {
    pub(super) fn anonymous() -> Caller {
        Caller {
            label: "no token",
            token: None,
        }
    }
}

pub(super) struct Session<'a> {
    pub(super) transport: &'a mut Transport,
    /// How many steps this run has (`--local` sends the tutorial's events too).
    pub(super) total: usize,
    pub(super) progress: &'a Progress,
    pub(super) user: String,
    pub(super) steps: Vec<StepResult>,
    /// itemIds seen under this run's userId, in order: what the cleanup deletes.
    pub(super) seen: Vec<String>,
    /// An interrupt arrived: no further step starts (the cleanup still runs).
    pub(super) interrupted: bool,
    /// What each answer's Access-Control-Allow-Origin must be.
    pub(super) cors: &'a CorsCheck,
    /// With `[auth]`: who the requests are sent as; None without `[auth]` (no Authorization header).
    pub(super) caller: Option<Caller>,
}

impl CorsCheck {
    /// The check for this run: with an Origin sent, its CORS answer; otherwise none from the handler when the
    /// URL has a CORS config (stack.toml's), the handler's `*` when it has none.
    pub fn for_run(stack: &Stack, transport: &Transport) -> CorsCheck {
        match transport.origin() {
            Some(origin) => CorsCheck::Origin(origin.to_string()),
            None if stack
                .chosen_function()
                .url
                .is_some_and(|u| u.cors.is_some()) =>
            {
                CorsCheck::FromUrlOnly
            }
            None => CorsCheck::Star,
        }
    }
}

impl Session<'_> {
    /// Remembers every item of this run's user an answer shows, so the cleanup can delete it even when
    /// the step that created it failed.
    pub(super) fn track(&mut self, body: &Value) {
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

    /// The event for `request`, sent as the session's caller (its token in `Authorization`).
    pub(super) fn event(&self, request: &Request) -> Value {
        let mut event = request.event();
        if let Some(token) = self.caller.as_ref().and_then(|c| c.token.as_ref()) {
            event["headers"]["authorization"] = Value::String(format!("Bearer {token}"));
        }
        event
    }

    /// Sends one request and checks its answer: the status, then what every answer must be, then `check`.
    /// Returns the body when the step passed.
    pub(super) async fn step(
        &mut self,
        name: &'static str,
        request: Request,
        expected_status: u16,
        expect: &'static str,
        check: impl FnOnce(&Response) -> Result<(), String>,
    ) -> Option<Value> {
        let event = self.event(&request);
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
            caller: self.caller.as_ref().map(|c| c.label),
            expected_status,
            expect,
            result: verdict,
            status_code,
            message,
            duration_ms: elapsed.as_millis() as u64,
        });
        body
    }

    pub(super) fn skip(
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
            caller: self.caller.as_ref().map(|c| c.label),
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
    pub(super) fn stop_requested(&mut self) -> bool {
        if !self.interrupted && crate::interrupt::check("the next smoke step").is_err() {
            self.interrupted = true;
        }
        self.interrupted
    }
}

/// The last lines of the function's log, when it has one: why a 500 happened is usually there.
pub(super) fn with_log_tail(message: String, logs: Option<&str>) -> String {
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
pub(super) async fn sequence(s: &mut Session<'_>) {
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

    if s.caller.is_some() {
        // With [auth] the token says who is calling: no userId means the token's user.
        s.step(
            "no userId: the token's user",
            with("GET", Vec::new(), None),
            200,
            "{\"items\": [...]}, every one the token user's",
            |r| check_only_own(r, u),
        )
        .await;
    } else {
        s.step(
            "missing userId",
            with("GET", Vec::new(), None),
            400,
            "{\"error\": \"Missing userId parameter\"}",
            |r| check_body_is(r, &json!({ "error": "Missing userId parameter" })),
        )
        .await;
    }

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

/// The tutorial's own hand-written events (`--local`): create, list, get, delete, missing userId, PUT, each
/// answered exactly as the tutorial says.
pub(super) async fn tutorial_sequence(s: &mut Session<'_>) {
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
