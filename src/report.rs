//! The result of a command, rendered once: as text for people, or as one JSON document for machines.
//! Both come from the same struct, so they never disagree.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::aws::Calls;
use crate::config::Stack;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Notes, Shown};
use crate::plan::{summarize, Action, Change, Kind, Op, ResourcePlan, Summary};
use crate::progress::format_duration;

#[derive(Debug, Clone, Serialize)]
pub struct ResourceReport {
    #[serde(flatten)]
    pub plan: ResourcePlan,
    /// Live state (status only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, String>,
    /// What was done (up / down).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// down, the table: whether it holds items and how many (DynamoDB's estimate unless `exact`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ItemsReport>,
    /// down --snapshot, the table: the backup kept, and the command that restores it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotReport>,
}

/// What down knows of the table's items (JSON `items`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemsReport {
    /// Read with one strongly consistent read of at most one item.
    pub holds_items: bool,
    /// With `exact`, counted (`down --count`); otherwise DescribeTable's ItemCount, refreshed by DynamoDB
    /// about every six hours (null: not known).
    pub count: Option<u64>,
    pub exact: bool,
}

/// The snapshot `down --snapshot` kept of the table (JSON `snapshot`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotReport {
    pub arn: String,
    pub name: String,
    /// The command that restores it into the stack's table.
    pub restore: String,
    /// The snapshot taken before anything was deleted, also kept (null: none, or it is this one): the final
    /// one may hold less than it if items were deleted in between.
    pub first: Option<SnapshotRef>,
}

/// One more snapshot kept (its ARN and name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotRef {
    pub arn: String,
    pub name: String,
}

impl ResourceReport {
    pub fn planned(plan: ResourcePlan) -> ResourceReport {
        ResourceReport {
            plan,
            state: BTreeMap::new(),
            result: None,
            duration_ms: None,
            items: None,
            snapshot: None,
        }
    }
    pub fn state(mut self, state: BTreeMap<String, String>) -> Self {
        self.state = state;
        self
    }
    pub fn done(mut self, result: &str, duration: Option<Duration>) -> Self {
        self.result = Some(result.to_string());
        self.duration_ms = duration.map(|d| d.as_millis() as u64);
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// schema_version, command, stack, stage, region, aws_calls, duration_ms (outcome.rs).
    #[serde(skip)]
    pub envelope: Envelope,
    /// down: how many of the stack's resources it found to delete or revert (0: there was nothing, as
    /// opposed to "cleaned up").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<usize>,
    /// plan/status: nothing to do. up: nothing was changed. down: nothing (left) to delete.
    pub in_sync: bool,
    pub summary: Summary,
    pub resources: Vec<ResourceReport>,
    /// up / plan / status: what scripts read (`jq -r .outputs.url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    /// What the person running the command must know (a public URL, for one); shown in red on a terminal.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// status: output keys left null because the value is not the stack's, with why (a text line each; the
    /// JSON has the null).
    #[serde(skip)]
    pub withheld: Vec<(String, String)>,
}

/// The stack's outputs, as the resource instances contribute them (`resources::Resource::outputs`), in
/// their published order: `url` is null while the stack has no URL (or before up creates it); the ARNs are
/// known in advance, so a plan on an empty account shows what up will create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs(pub Vec<Output>);

/// One value of the stack's `outputs` an instance contributes. `position` is its place in the outputs
/// object (the order published first, which scripts and snapshots rely on; instances of one kind follow
/// the graph's order). `key` is per instance (`resources::instance_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub key: String,
    pub position: u8,
    pub value: Option<String>,
    /// Also a line of the text report (`url: ...`).
    pub in_text: bool,
}

impl Output {
    /// An output only the JSON carries.
    pub fn new(key: impl Into<String>, position: u8, value: Option<String>) -> Output {
        Output {
            key: key.into(),
            position,
            value,
            in_text: false,
        }
    }
}

impl Serialize for Outputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for output in &self.0 {
            map.serialize_entry(&output.key, &output.value)?;
        }
        map.end()
    }
}

impl Report {
    pub fn new(
        command: &'static str,
        stack: &Stack,
        resources: Vec<ResourceReport>,
        calls: Calls,
        elapsed: Duration,
    ) -> Report {
        let plans: Vec<ResourcePlan> = resources.iter().map(|r| r.plan.clone()).collect();
        let summary = summarize(&plans);
        Report {
            envelope: Envelope::new(command, stack, calls, elapsed),
            found: None,
            in_sync: plans
                .iter()
                .all(|p| !p.action.writes() && p.action != Action::Blocked),
            summary,
            resources,
            outputs: None,
            warnings: Vec::new(),
            withheld: Vec::new(),
        }
    }

    pub fn with_outputs(mut self, outputs: Outputs) -> Report {
        self.outputs = Some(outputs);
        self
    }

    pub fn with_withheld(mut self, withheld: Vec<(String, String)>) -> Report {
        self.withheld = withheld;
        self
    }

    /// down: how many resources it found to delete or revert.
    pub fn with_found(mut self, found: usize) -> Report {
        self.found = Some(found);
        self
    }

    pub fn with_warnings(mut self, warnings: Vec<String>) -> Report {
        self.warnings = warnings;
        self
    }

    fn summary_line(&self) -> String {
        let s = &self.summary;
        let e = &self.envelope;
        let calls = format!("{} reads, {} writes", e.aws_calls.reads, e.aws_calls.writes);
        let took = format_duration(Duration::from_millis(e.duration_ms));
        match e.command {
            "up" if self.in_sync => {
                format!("up: nothing to change, everything is in sync ({calls}, {took})")
            }
            "up" if s.delete > 0 => format!(
                "up: {} created, {} updated, {} deleted, {} unchanged ({calls}, {took})",
                s.create, s.update, s.delete, s.unchanged
            ),
            "up" => format!(
                "up: {} created, {} updated, {} unchanged ({calls}, {took})",
                s.create, s.update, s.unchanged
            ),
            "down" if self.found == Some(0) && e.stage.is_some() => format!(
                "down: nothing found: stage `{}` of stack `{}` has no resources in {} ({calls}, {took})",
                e.stage.as_deref().unwrap_or_default(),
                e.stack.as_deref().unwrap_or_default(),
                e.region
            ),
            "down" if self.in_sync => format!("down: nothing to delete ({calls}, {took})"),
            "down" if self.resources.iter().all(|r| r.result.is_none()) => format!(
                "down (preview): {} to delete, {} to update, {} left alone ({calls}, {took})",
                s.delete, s.update, s.unchanged
            ),
            "down" => format!(
                "down: {} deleted, {} updated, {} left alone ({calls}, {took})",
                s.delete, s.update, s.unchanged
            ),
            "status" if self.in_sync => format!("status: in sync ({calls}, {took})"),
            "status" => format!(
                "status: drift found: {} missing, {} drifted, {} blocked ({calls}, {took})",
                s.create, s.update, s.blocked
            ),
            _ => format!(
                "{} to create, {} to update, {} to delete ({calls}, {took})",
                s.create, s.update, s.delete
            ),
        }
    }
}

fn action_sigil(action: Action) -> char {
    match action {
        Action::Create => '+',
        Action::Update => '~',
        Action::Delete => '-',
        Action::NoOp | Action::Keep => '=',
        Action::Blocked => '!',
    }
}

/// A grant of a wildcard (`*` in an action or resource of a policy statement): shown in red, because it
/// is wider than least privilege (it is only possible with `policy.allow_wildcards = true`).
fn is_wildcard_grant(kind: Kind, change: &Change) -> bool {
    kind == Kind::Policy
        && change.field.starts_with("statement")
        && change.op != Op::Remove
        && change.after.as_deref().is_some_and(|a| a.contains('*'))
}

/// The function URL moving to another qualifier (`[function.deploy]` added or removed): a new address that
/// every client must move to, shown in red.
fn is_url_move(kind: Kind, change: &Change) -> bool {
    kind == Kind::FunctionUrl && change.field == "url" && change.op == Op::Change
}

impl Report {
    /// The text rendering; `color` paints wildcard grants red (only for a terminal without NO_COLOR).
    pub fn render(&self, color: bool) -> String {
        let mut out = String::new();
        let _ = self.write_text(&mut out, color);
        out
    }

    fn write_text(&self, f: &mut impl fmt::Write, color: bool) -> fmt::Result {
        let e = &self.envelope;
        let stack = e.stack.as_deref().unwrap_or_default();
        match &e.stage {
            Some(stage) => writeln!(f, "stack {stack} stage {stage} ({})", e.region)?,
            None => writeln!(f, "stack {stack} ({})", e.region)?,
        }
        for r in &self.resources {
            let p = &r.plan;
            let what = match (&r.result, e.command, p.action) {
                (Some(result), _, _) => result.clone(),
                (None, "status", Action::NoOp) => "in sync".to_string(),
                (None, "status", Action::Create) => "missing".to_string(),
                (None, "status", Action::Update) => "drifted".to_string(),
                (None, _, action) => action.as_str().to_string(),
            };
            let took = r
                .duration_ms
                .map(|ms| format!(" in {}", format_duration(Duration::from_millis(ms))))
                .unwrap_or_default();
            writeln!(
                f,
                "{} {} {}: {what}{took}",
                action_sigil(p.action),
                p.kind.as_str(),
                p.name
            )?;
            for (key, value) in &r.state {
                writeln!(f, "    {key}: {value}")?;
            }
            for c in &p.changes {
                let line = match (&c.before, &c.after) {
                    (Some(before), Some(after)) => format!("{before} -> {after}"),
                    (Some(value), None) | (None, Some(value)) => value.clone(),
                    (None, None) => String::new(),
                };
                let text = format!("    {} {}: {line}", c.op.sigil(), c.field);
                if color && (is_wildcard_grant(p.kind, c) || is_url_move(p.kind, c)) {
                    writeln!(f, "\x1b[31m{text}\x1b[0m")?;
                } else {
                    writeln!(f, "{text}")?;
                }
            }
            if let Some(note) = &p.note {
                writeln!(f, "    note: {note}")?;
            }
            if let Some(snapshot) = &r.snapshot {
                writeln!(f, "    snapshot: {} ({})", snapshot.name, snapshot.arn)?;
                writeln!(f, "    restore with: {}", snapshot.restore)?;
                if let Some(first) = &snapshot.first {
                    writeln!(
                        f,
                        "    also kept: {} ({}), taken before anything was deleted",
                        first.name, first.arn
                    )?;
                }
            }
        }
        let outputs = self.outputs.iter().flat_map(|o| &o.0);
        for output in outputs.filter(|o| o.in_text) {
            if let Some(value) = &output.value {
                writeln!(f, "{}: {value}", output.key)?;
            }
        }
        for (key, why) in &self.withheld {
            writeln!(f, "{key}: not the stack's: {why}")?;
        }
        for warning in &self.warnings {
            if color {
                writeln!(f, "\x1b[31mwarning: {warning}\x1b[0m")?;
            } else {
                writeln!(f, "warning: {warning}")?;
            }
        }
        write!(f, "{}", self.summary_line())
    }
}

impl Body for Report {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, color: bool) -> String {
        self.render(color)
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }

    fn notes(&self, shown: Shown) -> Notes {
        let mut notes = Notes::default();
        // A person may be watching stderr while a script reads stdout (the text shows them itself).
        if shown.output == crate::cli::Output::Json {
            notes.before = self
                .warnings
                .iter()
                .map(|w| format!("warning: {w}"))
                .collect();
        }
        if shown.status == ExitStatus::NeedsConfirm {
            notes.after.push(
                "nothing was deleted: run `stackctl down --confirm` to delete what is listed above"
                    .into(),
            );
        }
        notes
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_report(resources: Vec<ResourceReport>) -> Report {
        Report {
            envelope: Envelope {
                schema_version: crate::outcome::SCHEMA_VERSION,
                command: "plan",
                stack: Some("s".into()),
                stage: None,
                region: "us-east-1".into(),
                aws_calls: Calls::default(),
                duration_ms: 0,
            },
            found: None,
            in_sync: false,
            summary: Summary::default(),
            resources,
            outputs: None,
            warnings: Vec::new(),
            withheld: Vec::new(),
        }
    }

    #[test]
    fn wildcard_grants_are_red_only_when_colour_is_on() {
        let plan = ResourcePlan::new(Kind::Policy, "p", Action::Update).changes(vec![
            Change::add("statement.All.Action", "dynamodb:*"),
            Change::add(
                "statement.All.Resource",
                "arn:aws:dynamodb:us-east-1:1:table/t",
            ),
        ]);
        let report = plan_report(vec![ResourceReport::planned(plan)]);
        let colored = report.render(true);
        assert!(
            colored.contains("\x1b[31m    + statement.All.Action: dynamodb:*\x1b[0m"),
            "{colored}"
        );
        assert!(
            !colored.contains("\x1b[31m    + statement.All.Resource"),
            "{colored}"
        );
        assert!(!report.render(false).contains('\x1b'));
        assert_eq!(report.to_string(), report.render(false));
    }

    #[test]
    fn a_url_that_moves_to_another_qualifier_is_red() {
        let plan = ResourcePlan::new(Kind::FunctionUrl, "f", Action::Create).changes(vec![
            Change::modify("url", "https://old/", "a new URL on alias `live`"),
            Change::add("auth", "NONE"),
        ]);
        let colored = plan_report(vec![ResourceReport::planned(plan)]).render(true);
        assert!(
            colored.contains("\x1b[31m    ~ url: https://old/ -> a new URL on alias `live`\x1b[0m"),
            "{colored}"
        );
        assert!(colored.contains("\n    + auth: NONE\n"), "{colored}");
    }

    #[test]
    fn warnings_are_red_on_a_terminal_and_plain_otherwise() {
        let report = plan_report(Vec::new())
            .with_warnings(vec!["anyone on the internet can call this API".into()]);
        assert!(report
            .render(true)
            .contains("\x1b[31mwarning: anyone on the internet can call this API\x1b[0m\n"));
        let plain = report.render(false);
        assert!(
            plain.contains("\nwarning: anyone on the internet can call this API\n"),
            "{plain}"
        );
        assert!(!plain.contains('\x1b'));
    }
}
