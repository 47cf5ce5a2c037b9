//! The plan model: per resource an action and field-level changes. Built by pure diffs of desired vs live
//! state (in resources/), rendered by report.rs, and the source of every exit code.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Table,
    Role,
    Policy,
    Function,
    LogGroup,
    /// `[function.deploy]`: the alias that serves a verified version.
    Alias,
    FunctionUrl,
    /// `[auth] cognito = true`: the managed Cognito user pool.
    UserPool,
    /// Its public app client.
    UserPoolClient,
}

impl Kind {
    /// Every kind, in the resource graph's order (a unit test in resources/ holds the two equal). The test
    /// harness's orphan check (tests/support/leftovers.rs) walks this list and matches every kind.
    #[allow(dead_code)]
    pub const ALL: [Kind; 9] = [
        Kind::Table,
        Kind::Role,
        Kind::Policy,
        Kind::Function,
        Kind::LogGroup,
        Kind::Alias,
        Kind::FunctionUrl,
        Kind::UserPool,
        Kind::UserPoolClient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Role => "role",
            Kind::Policy => "policy",
            Kind::Function => "function",
            Kind::LogGroup => "log_group",
            Kind::Alias => "alias",
            Kind::FunctionUrl => "function_url",
            Kind::UserPool => "user_pool",
            Kind::UserPoolClient => "user_pool_client",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Create,
    Update,
    /// Nothing to do: live matches desired.
    NoOp,
    Delete,
    /// down: the resource is left alone (not ours, or already gone); the note says why.
    Keep,
    /// Cannot proceed without the user's intervention; the note says why.
    Blocked,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::NoOp => "no-op",
            Action::Delete => "delete",
            Action::Keep => "keep",
            Action::Blocked => "blocked",
        }
    }

    pub fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// `+` added, `-` removed, `~` changed, `=` kept as it is (shown so nothing is silently dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Add,
    Remove,
    Change,
    Keep,
}

impl Op {
    pub fn sigil(self) -> char {
        match self {
            Op::Add => '+',
            Op::Remove => '-',
            Op::Change => '~',
            Op::Keep => '=',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub op: Op,
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

impl Change {
    pub fn add(field: impl Into<String>, after: impl Into<String>) -> Change {
        Change {
            op: Op::Add,
            field: field.into(),
            before: None,
            after: Some(after.into()),
        }
    }
    pub fn remove(field: impl Into<String>, before: impl Into<String>) -> Change {
        Change {
            op: Op::Remove,
            field: field.into(),
            before: Some(before.into()),
            after: None,
        }
    }
    pub fn modify(
        field: impl Into<String>,
        before: impl Into<String>,
        after: impl Into<String>,
    ) -> Change {
        Change {
            op: Op::Change,
            field: field.into(),
            before: Some(before.into()),
            after: Some(after.into()),
        }
    }
    pub fn keep(field: impl Into<String>, value: impl Into<String>) -> Change {
        Change {
            op: Op::Keep,
            field: field.into(),
            before: Some(value.into()),
            after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourcePlan {
    pub kind: Kind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub action: Action,
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ResourcePlan {
    pub fn new(kind: Kind, name: impl Into<String>, action: Action) -> ResourcePlan {
        ResourcePlan {
            kind,
            name: name.into(),
            arn: None,
            action,
            changes: Vec::new(),
            note: None,
        }
    }
    pub fn arn(mut self, arn: Option<&str>) -> Self {
        self.arn = arn.map(str::to_string);
        self
    }
    pub fn changes(mut self, changes: Vec<Change>) -> Self {
        self.changes = changes;
        self
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub unchanged: usize,
    pub blocked: usize,
}

pub fn summarize(resources: &[ResourcePlan]) -> Summary {
    let mut summary = Summary::default();
    for r in resources {
        match r.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::NoOp | Action::Keep => summary.unchanged += 1,
            Action::Blocked => summary.blocked += 1,
        }
    }
    summary
}

/// Tags to add or change so that `live` carries every tag in `desired`. Tags only on the live side are
/// left alone: someone else may have put them there, and stackctl keeps no record of what it set before.
pub fn missing_tags(
    live: &std::collections::BTreeMap<String, String>,
    desired: &std::collections::BTreeMap<String, String>,
) -> Vec<Change> {
    desired
        .iter()
        .filter_map(|(key, value)| match live.get(key) {
            None => Some(Change::add(format!("tags.{key}"), value)),
            Some(old) if old != value => Some(Change::modify(format!("tags.{key}"), old, value)),
            Some(_) => None,
        })
        .collect()
}
