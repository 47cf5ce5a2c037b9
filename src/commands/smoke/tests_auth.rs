//! smoke with `[auth]` against a fake handler in Rust that verifies fake tokens (`<header>.<claims>.sig-<sub>`):
//! a handler that keeps the promises passes every step; one that trusts the userId parameter, or any
//! signature, fails the isolation steps that say so.

use super::isolation::AUTH_STEPS;
use super::report::*;
use super::*;
use crate::identity::Tokens;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// The userId parameter wins over the token's sub (the open door of a handler without auth).
    TrustsUserId,
    /// Any signature is accepted.
    AnySignature,
}

fn token(sub: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig-{sub}",
        engine.encode(r#"{"alg":"RS256"}"#),
        engine.encode(json!({ "sub": sub, "iss": "https://issuer.test" }).to_string())
    )
}

fn tokens(user: &str, sub: &str) -> Tokens {
    Tokens {
        user: user.into(),
        sub: sub.into(),
        issuer: "https://issuer.test".into(),
        access_token: token(sub),
        id_token: None,
        expires_in: 3600,
        expires_at: "2026-12-05T00:00:00Z".into(),
    }
}

/// The caller's sub from a fake token, None when there is none or it is not validly "signed".
fn verify(event: &Value, bug: Bug) -> Option<String> {
    let header = event["headers"]["authorization"].as_str()?;
    let jwt = header.strip_prefix("Bearer ")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.get(1)?)
            .ok()?,
    )
    .ok()?;
    let sub = claims["sub"].as_str()?.to_string();
    (bug == Bug::AnySignature || parts.get(2) == Some(&format!("sig-{sub}").as_str()))
        .then_some(sub)
}

type Table = Arc<Mutex<BTreeMap<(String, String), Value>>>;

fn fake_auth_handler(bug: Bug) -> (Transport, Table) {
    let table: Table = Arc::default();
    let store = table.clone();
    let mut counter = 0u64;
    let handler = move |event: &Value| -> (Option<String>, Vec<u8>) {
        let answer = |status: u16, body: Value| {
            let mut headers =
                json!({"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"});
            if status == 401 {
                headers["WWW-Authenticate"] = json!("Bearer");
            }
            let payload =
                json!({ "statusCode": status, "headers": headers, "body": body.to_string() });
            (None, payload.to_string().into_bytes())
        };
        let Some(sub) = verify(event, bug) else {
            return answer(401, json!({"error": "Unauthorized"}));
        };
        let q = &event["queryStringParameters"];
        let user = match q["userId"].as_str() {
            Some(asked) if asked != sub && bug != Bug::TrustsUserId => {
                return answer(403, json!({"error": "userId is not the signed-in user's"}))
            }
            Some(asked) => asked.to_string(),
            None => sub,
        };
        let item = q["itemId"].as_str();
        let body: Option<Value> = event["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok());
        let mut table = store.lock().unwrap();
        let key = |id: &str| (user.clone(), id.to_string());
        match (
            event["requestContext"]["http"]["method"].as_str().unwrap(),
            item,
        ) {
            ("GET", Some(id)) => match table.get(&key(id)) {
                Some(found) => answer(200, found.clone()),
                None => answer(404, json!({"error": "Item not found"})),
            },
            ("GET", None) => {
                let items: Vec<Value> = table
                    .iter()
                    .filter(|((u, _), _)| *u == user)
                    .map(|(_, v)| v.clone())
                    .collect();
                answer(200, json!({ "items": items }))
            }
            ("POST", _) => match body {
                Some(b) if b["title"].is_string() => {
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
                Some(_) => answer(400, json!({"error": "Missing title in request body"})),
                None => answer(400, json!({"error": "Invalid JSON in request body"})),
            },
            ("DELETE" | "PATCH", None) => answer(400, json!({"error": "Missing itemId parameter"})),
            ("DELETE", Some(id)) => match table.remove(&key(id)) {
                Some(_) => answer(200, json!({"deleted": true})),
                None => answer(404, json!({"error": "Item not found"})),
            },
            ("PATCH", Some(id)) => match table.get_mut(&key(id)) {
                Some(found) => {
                    found["status"] = body.unwrap_or_default()["status"].clone();
                    found["updatedAt"] = json!("2026-11-26T16:05:00.000Z");
                    answer(200, found.clone())
                }
                None => answer(404, json!({"error": "Item not found"})),
            },
            _ => answer(405, json!({"error": "Method not allowed"})),
        }
    };
    (Transport::Fake(Box::new(handler)), table)
}

async fn smoke_as_two_users(bug: Bug) -> (Vec<StepResult>, Cleanup, usize) {
    let (mut transport, table) = fake_auth_handler(bug);
    let progress = Progress::new(crate::progress::Mode::Quiet);
    let (alice, bob) = (
        tokens("smoke-x-1", "sub-alice"),
        tokens("smoke-x-2", "sub-bob"),
    );
    let (steps, cleanup, interrupted) = run_sequence(
        &mut transport,
        &progress,
        alice.sub.clone(),
        None,
        &CorsCheck::Star,
        false,
        Some((&alice, &bob)),
    )
    .await;
    assert!(!interrupted);
    let left = table.lock().unwrap().len();
    (steps, cleanup, left)
}

fn failed(steps: &[StepResult]) -> Vec<&str> {
    steps
        .iter()
        .filter(|s| s.result != Verdict::Pass)
        .map(|s| s.name)
        .collect()
}

#[tokio::test]
async fn with_auth_a_handler_that_keeps_its_promises_passes_as_two_users_and_leaves_nothing() {
    let (steps, cleanup, left) = smoke_as_two_users(Bug::None).await;
    assert_eq!(failed(&steps), Vec::<&str>::new());
    assert_eq!(steps.len(), STEPS + AUTH_STEPS);
    assert!(cleanup.failed.is_empty(), "{:?}", cleanup.failed);
    // The second user's own item was deleted too, as that user.
    assert_eq!(left, 0);
    let callers: Vec<&str> = steps.iter().filter_map(|s| s.caller).collect();
    for who in ["first user", "second user", "no token", "tampered token"] {
        assert!(callers.contains(&who), "{who}: {callers:?}");
    }
    // No token is ever in the report.
    let report = serde_json::to_string(&steps).unwrap();
    assert!(!report.contains("sig-"), "{report}");
}

#[tokio::test]
async fn with_auth_a_handler_that_trusts_the_userid_parameter_fails_the_isolation_steps() {
    let (steps, _, _) = smoke_as_two_users(Bug::TrustsUserId).await;
    let failed = failed(&steps);
    assert!(
        failed.contains(&"second user cannot list the first's items"),
        "{failed:?}"
    );
    assert!(
        failed.contains(&"second user cannot read the first's item"),
        "{failed:?}"
    );
}

#[tokio::test]
async fn with_auth_a_handler_that_accepts_any_signature_fails_the_tampered_token_step() {
    let (steps, _, _) = smoke_as_two_users(Bug::AnySignature).await;
    assert_eq!(failed(&steps), vec!["tampered token (sub changed)"]);
}
