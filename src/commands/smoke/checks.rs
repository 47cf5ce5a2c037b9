//! The checks of `stackctl smoke`: each compares one answer with what the handler promises and says exactly
//! what differs.

use serde_json::{Map, Value};

use crate::handler::event::{body_text, Response};

pub(super) fn check_status(r: &Response, expected: u16) -> Result<(), String> {
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

pub(super) fn check_body_is(r: &Response, expected: &Value) -> Result<(), String> {
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
pub(super) fn check_error_names(r: &Response, field: &str) -> Result<(), String> {
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

pub(super) fn is_iso8601(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.ends_with('Z') && humantime::parse_rfc3339(s).is_ok())
}

pub(super) fn keys(object: &Map<String, Value>) -> Vec<&str> {
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// A 201 from POST: the stored item, exactly {userId, itemId, title, status, createdAt}.
pub(super) fn check_created(
    r: &Response,
    user: &str,
    title: &str,
    status: &str,
) -> Result<(), String> {
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

pub(super) fn item_id(item: &Value) -> &str {
    item.get("itemId").and_then(Value::as_str).unwrap_or("?")
}

/// A 200 from GET (list): `{"items": [...]}` holding exactly `expected`, in any order.
pub(super) fn check_items(r: &Response, expected: &[&Value]) -> Result<(), String> {
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
pub(super) fn check_patched(r: &Response, before: &Value, status: &str) -> Result<(), String> {
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

/// A 200 from GET (list) whose `items` hold `item`, exactly as POST returned it (other items may be there).
pub(super) fn check_listed(r: &Response, item: &Value) -> Result<(), String> {
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

/// With `[auth]`: a list whose every item belongs to `user` (the token's `sub`), never another user's.
pub(super) fn check_only_own(r: &Response, user: &str) -> Result<(), String> {
    let Some(items) = r.body.get("items").and_then(Value::as_array) else {
        return Err(format!(
            "expected {{\"items\": [...]}}, got {}",
            body_text(&r.body)
        ));
    };
    match items
        .iter()
        .find(|i| i.get("userId").and_then(Value::as_str) != Some(user))
    {
        None => Ok(()),
        Some(other) => Err(format!(
            "the list shows an item that is not the caller's: {}",
            body_text(other)
        )),
    }
}

/// With `[auth]`: a refusal of a token (401) that says how to authenticate (`WWW-Authenticate: Bearer`).
pub(super) fn check_bearer_challenge(r: &Response) -> Result<(), String> {
    match r.header("www-authenticate") {
        Some(value) if value.starts_with("Bearer") => Ok(()),
        Some(value) => Err(format!(
            "expected `WWW-Authenticate: Bearer ...`, got `{value}`"
        )),
        None => Err("a 401 without `WWW-Authenticate: Bearer`".to_string()),
    }
}

/// An answer that tells the caller nothing of the item: `{"error": ...}` and no item fields.
pub(super) fn check_refused(r: &Response) -> Result<(), String> {
    match r.body.as_object() {
        Some(object) if object.contains_key("error") && !object.contains_key("itemId") => Ok(()),
        _ => Err(format!(
            "expected {{\"error\": ...}} and nothing of the item, got {}",
            body_text(&r.body)
        )),
    }
}
