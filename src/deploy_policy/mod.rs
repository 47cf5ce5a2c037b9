//! `stackctl policy`'s document: the IAM identity policy a deploy of one stack file needs, every action
//! stackctl calls (declared per resource kind in kinds.rs, the commands' own in commands.rs), scoped to the
//! names the file makes in every stage (`Names`), merged into statements with stable Sids and order.

mod commands;
pub mod github;
mod kinds;
mod names;

use serde_json::{json, Value};

pub use names::Names;

/// One statement before merging: an Allow of `actions` on `resources`, with an optional condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// The statement's Sid: grants with the same Sid are merged (their actions and resources joined).
    pub sid: &'static str,
    pub actions: Vec<&'static str>,
    pub resources: Vec<String>,
    pub condition: Option<Value>,
}

impl Grant {
    pub fn new(sid: &'static str, actions: &[&'static str], resources: Vec<String>) -> Grant {
        Grant {
            sid,
            actions: actions.to_vec(),
            resources,
            condition: None,
        }
    }

    /// For actions AWS's Service Authorization Reference gives no resource type: only `*` can name them.
    pub fn anywhere(sid: &'static str, actions: &[&'static str]) -> Grant {
        Grant::new(sid, actions, vec!["*".to_string()])
    }

    pub fn when(mut self, condition: Value) -> Grant {
        self.condition = Some(condition);
        self
    }
}

/// The identity policy for `names`: every kind's grants (in `Kind::ALL`'s order), then the commands'. Grants
/// sharing a Sid merge; actions and resources keep their first place, duplicates dropped, so the same file
/// always gives the same bytes.
pub fn document(names: &Names) -> Value {
    let grants = crate::plan::Kind::ALL
        .iter()
        .flat_map(|kind| kinds::grants(*kind, names))
        .chain(commands::grants(names));
    let mut merged: Vec<Grant> = Vec::new();
    for grant in grants {
        match merged.iter_mut().find(|g| g.sid == grant.sid) {
            Some(into) => {
                push_new(&mut into.actions, grant.actions);
                push_new(&mut into.resources, grant.resources);
            }
            None => {
                let mut fresh = Grant {
                    actions: Vec::new(),
                    resources: Vec::new(),
                    ..grant.clone()
                };
                push_new(&mut fresh.actions, grant.actions);
                push_new(&mut fresh.resources, grant.resources);
                merged.push(fresh);
            }
        }
    }
    for grant in &mut merged {
        grant.resources = names::without_covered(std::mem::take(&mut grant.resources));
    }
    let statements: Vec<Value> = merged.iter().map(statement).collect();
    json!({ "Version": "2012-10-17", "Statement": statements })
}

fn push_new<T: PartialEq>(into: &mut Vec<T>, items: Vec<T>) {
    for item in items {
        if !into.contains(&item) {
            into.push(item);
        }
    }
}

fn statement(grant: &Grant) -> Value {
    let mut statement = json!({
        "Sid": grant.sid,
        "Effect": "Allow",
        "Action": grant.actions,
        "Resource": grant.resources,
    });
    if let Some(condition) = &grant.condition {
        statement["Condition"] = condition.clone();
    }
    statement
}

/// The document as `stackctl policy` prints it: pretty JSON and a final newline.
pub fn render(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
