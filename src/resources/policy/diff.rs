//! The policy's pure diff (documents by value) and its plan, with a readable per-statement diff.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub enum PolicyDiff {
    Create,
    InSync,
    Document,
}

pub fn diff(desired: &Value, live: Option<&LivePolicy>) -> PolicyDiff {
    match live {
        None => PolicyDiff::Create,
        // serde_json compares objects by key/value, not by key order or whitespace.
        Some(live) if live.document == *desired => PolicyDiff::InSync,
        Some(_) => PolicyDiff::Document,
    }
}

/// The plan for the policy, including its attachment to the role (`attached` is false when the role does
/// not exist yet or lacks it).
pub fn plan(
    name: &str,
    desired: &Value,
    live: Option<&LivePolicy>,
    role: &str,
    attached: bool,
) -> ResourcePlan {
    let attach = (!attached).then(|| Change::add("attachment", format!("attach {name} to {role}")));
    let (action, mut changes) = match diff(desired, live) {
        PolicyDiff::Create => (Action::Create, document_lines(None, desired)),
        PolicyDiff::InSync if attach.is_none() => (Action::NoOp, Vec::new()),
        PolicyDiff::InSync => (Action::Update, Vec::new()),
        PolicyDiff::Document => (
            Action::Update,
            document_lines(live.map(|l| &l.document), desired),
        ),
    };
    changes.extend(attach);
    ResourcePlan::new(Kind::Policy, name, action)
        .arn(live.map(|l| l.arn.as_str()))
        .changes(changes)
}

/// A readable diff of two policy documents: statements by Sid (or position); inside a statement that
/// exists on both sides, list-valued fields (Action, Resource) item by item, other fields as before -> after.
pub(super) fn document_lines(before: Option<&Value>, after: &Value) -> Vec<Change> {
    let statements = |doc: Option<&Value>| -> Vec<(String, Value)> {
        let list = match doc.and_then(|d| d.get("Statement")) {
            Some(Value::Array(items)) => items.clone(),
            Some(single) => vec![single.clone()],
            None => Vec::new(),
        };
        list.into_iter()
            .enumerate()
            .map(|(i, s)| {
                let key = s
                    .get("Sid")
                    .and_then(Value::as_str)
                    .map_or(format!("statement[{i}]"), |sid| format!("statement.{sid}"));
                (key, s)
            })
            .collect()
    };
    let (old, new) = (statements(before), statements(Some(after)));
    let mut changes = Vec::new();
    for (key, statement) in &new {
        match old.iter().find(|(k, _)| k == key) {
            None => changes.push(Change::add(key, summarize(statement))),
            Some((_, previous)) => changes.extend(statement_changes(key, previous, statement)),
        }
    }
    for (key, statement) in &old {
        if !new.iter().any(|(k, _)| k == key) {
            changes.push(Change::remove(key, summarize(statement)));
        }
    }
    for field in ["Version", "Id"] {
        let (b, a) = (before.and_then(|d| d.get(field)), after.get(field));
        if before.is_some() && b != a {
            changes.push(Change::modify(field, compact(b), compact(a)));
        }
    }
    changes
}

/// One line for a whole statement: `Allow dynamodb:GetItem, dynamodb:Query on arn:...`.
fn summarize(statement: &Value) -> String {
    let list = |field: &str| items(statement.get(field)).join(", ");
    let effect = match statement.get("Effect") {
        Some(effect) => compact(Some(effect)),
        None => "(no Effect)".to_string(),
    };
    let mut line = format!("{effect} {}", list("Action"));
    match list("Resource") {
        resources if resources.is_empty() => {
            if statement.get("NotResource").is_none() {
                line.push_str(" (no Resource)");
            }
        }
        resources => line.push_str(&format!(" on {resources}")),
    }
    for extra in ["NotAction", "NotResource", "Principal", "Condition"] {
        if let Some(value) = statement.get(extra) {
            line.push_str(&format!(" {extra} {value}"));
        }
    }
    line
}

fn statement_changes(key: &str, before: &Value, after: &Value) -> Vec<Change> {
    let mut fields: Vec<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|o| o.keys())
        .collect();
    fields.sort();
    fields.dedup();
    let mut changes = Vec::new();
    for field in fields {
        let (b, a) = (before.get(field), after.get(field));
        if b == a {
            continue;
        }
        let name = format!("{key}.{field}");
        let is_list =
            |v: Option<&Value>| matches!(v, None | Some(Value::String(_)) | Some(Value::Array(_)));
        if matches!(
            field.as_str(),
            "Action" | "NotAction" | "Resource" | "NotResource"
        ) && is_list(b)
            && is_list(a)
        {
            let (old, new) = (items(b), items(a));
            changes.extend(
                new.iter()
                    .filter(|i| !old.contains(i))
                    .map(|i| Change::add(&name, i)),
            );
            changes.extend(
                old.iter()
                    .filter(|i| !new.contains(i))
                    .map(|i| Change::remove(&name, i)),
            );
        } else {
            changes.push(Change::modify(name, compact(b), compact(a)));
        }
    }
    changes
}

/// A string or a list of strings (IAM accepts both) as a list.
fn items(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

fn compact(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => "(none)".to_string(),
    }
}
