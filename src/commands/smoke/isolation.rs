//! smoke with `[auth]`: after the sequence has run as the first test user (every request with its token),
//! these steps prove what a token buys and what it does not: the second user cannot list, read, change or
//! delete the first one's item (403 when it names the first user's userId, 404 in its own namespace: never
//! 200), its own item is its own, and a request without a token or with a tampered one is a 401 with
//! `WWW-Authenticate: Bearer`.

use base64::Engine;
use serde_json::{json, Value};

use super::checks::*;
use super::scenario::{Caller, Session};
use crate::handler::event::Request;

/// The steps below.
pub(super) const AUTH_STEPS: usize = 12;

/// The second test user, as the isolation steps act as it.
pub(super) struct Second<'a> {
    pub caller: &'a Caller,
    pub sub: &'a str,
    /// Items the second user created (the second cleanup deletes them as that user).
    pub seen: &'a mut Vec<String>,
}

fn request(
    method: &'static str,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
) -> Request {
    Request {
        method,
        query,
        body: body.map(|b| b.to_string()),
    }
}

/// `token` with its payload's `sub` replaced by `sub` and the signature kept: what a caller who wants to be
/// somebody else would send. Any verifier must refuse it.
pub(super) fn tampered(token: &str, sub: &str) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    if parts.len() == 3 {
        if let Some(mut claims) = engine
            .decode(&parts[1])
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        {
            claims["sub"] = json!(sub);
            parts[1] = engine.encode(claims.to_string());
            return parts.join(".");
        }
    }
    // Not a JWT at all: a changed last character is still a tampered token.
    format!("{}x", token.trim_end_matches('x'))
}

/// The isolation steps; `first` is the session's own caller (the sequence's user).
pub(super) async fn isolation(s: &mut Session<'_>, first: &Caller, second: Second<'_>) {
    let first_user = s.user.clone();
    let a = first_user.as_str();
    const PRIVATE: &str = "smoke: the first user's private item";
    s.caller = Some(first.clone());
    let private = s
        .step(
            "first user creates an item",
            request(
                "POST",
                vec![("userId", first_user.clone())],
                Some(json!({ "title": PRIVATE })),
            ),
            201,
            "the stored item of the first user",
            |r| check_created(r, a, PRIVATE, "pending"),
        )
        .await;
    let id = private
        .as_ref()
        .map(|item| item_id(item).to_string())
        .unwrap_or_else(|| "smoke-missing-item".to_string());

    s.caller = Some(second.caller.clone());
    s.step(
        "second user cannot list the first's items",
        request("GET", vec![("userId", first_user.clone())], None),
        403,
        "403 {\"error\": ...}: userId is not the token's",
        check_refused,
    )
    .await;
    s.step(
        "second user cannot read the first's item",
        request(
            "GET",
            vec![("userId", first_user.clone()), ("itemId", id.clone())],
            None,
        ),
        403,
        "403 {\"error\": ...}: userId is not the token's",
        check_refused,
    )
    .await;
    s.step(
        "second user's own namespace has no such item",
        request("GET", vec![("itemId", id.clone())], None),
        404,
        "404: the itemId is looked up under the token's user only",
        check_refused,
    )
    .await;
    s.step(
        "second user cannot change the first's item",
        request(
            "PATCH",
            vec![("itemId", id.clone())],
            Some(json!({ "status": "done" })),
        ),
        404,
        "404, and nothing created or changed",
        check_refused,
    )
    .await;
    s.step(
        "second user cannot delete the first's item",
        request("DELETE", vec![("itemId", id.clone())], None),
        404,
        "404, and the item still there",
        check_refused,
    )
    .await;
    const OWN: &str = "smoke: the second user's item";
    let sub = second.sub.to_string();
    if let Some(item) = s
        .step(
            "second user creates its own item",
            request("POST", Vec::new(), Some(json!({ "title": OWN }))),
            201,
            "the stored item, userId = the second user's sub",
            |r| check_created(r, &sub, OWN, "pending"),
        )
        .await
    {
        second.seen.push(item_id(&item).to_string());
    }

    s.caller = Some(first.clone());
    let expected = private.clone();
    s.step(
        "first user's item is unchanged",
        request(
            "GET",
            vec![("userId", first_user.clone()), ("itemId", id.clone())],
            None,
        ),
        200,
        "the item exactly as created",
        move |r| match &expected {
            Some(item) => check_body_is(r, item),
            None => Err("the first user's item was not created".to_string()),
        },
    )
    .await;
    let owner = first_user.clone();
    s.step(
        "first user's list shows only its own items",
        request("GET", vec![("userId", first_user.clone())], None),
        200,
        "{\"items\": [...]}, every one the first user's",
        move |r| check_only_own(r, &owner),
    )
    .await;

    s.caller = Some(Caller::anonymous());
    s.step(
        "no token",
        request("GET", vec![("userId", first_user.clone())], None),
        401,
        "401 with WWW-Authenticate: Bearer",
        check_bearer_challenge,
    )
    .await;
    s.caller = Some(Caller {
        label: "tampered token",
        token: first.token.as_deref().map(|t| tampered(t, second.sub)),
    });
    s.step(
        "tampered token (sub changed)",
        request("GET", vec![("userId", sub.clone())], None),
        401,
        "401 with WWW-Authenticate: Bearer",
        check_bearer_challenge,
    )
    .await;

    s.caller = Some(first.clone());
    match &private {
        Some(_) => {
            s.step(
                "first user deletes its item",
                request(
                    "DELETE",
                    vec![("userId", first_user.clone()), ("itemId", id.clone())],
                    None,
                ),
                200,
                "{\"deleted\": true}",
                |r| check_body_is(r, &json!({ "deleted": true })),
            )
            .await;
        }
        None => s.skip(
            "first user deletes its item",
            request("DELETE", vec![("userId", first_user.clone())], None),
            200,
            "{\"deleted\": true}",
            "first user creates an item",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_token_keeps_the_signature_and_claims_another_sub() {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!(
            "{}.{}.c2ln",
            engine.encode(r#"{"alg":"RS256"}"#),
            engine.encode(r#"{"sub":"alice","iss":"x"}"#)
        );
        let forged = tampered(&token, "bob");
        let parts: Vec<&str> = forged.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "c2ln");
        let claims: Value = serde_json::from_slice(&engine.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "bob");
        assert_eq!(claims["iss"], "x");
        assert_ne!(tampered("opaque", "bob"), "opaque");
    }
}
