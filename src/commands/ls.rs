//! `ls`: the stages of this stack (or of every stackctl stack) in the account and region, found by their
//! tags with no state file: tables, functions and log groups with the Resource Groups Tagging API, each hit
//! confirmed by its kind (`Resource::confirm_tagged`, a describe call: the Tagging API keeps listing deleted
//! resources for minutes), IAM roles and policies (which the Tagging API does not cover) by listing the
//! stack's IAM path and reading their tags (`iam`). Which kinds, and through which API, each kind says
//! (`Resource::listed`).

mod iam;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::aws::Clients;
use crate::config::{Stack, OWNER_TAG, STAGE_TAG};
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use crate::resources::{Graph, Listed, Node};

/// What `ls` was asked for.
pub struct Options {
    pub older_than: Option<Duration>,
    pub all: bool,
    /// List every role and customer managed policy in the account (finds those made before IAM paths
    /// whose function is gone; its cost grows with the account).
    pub scan_iam: bool,
}

/// The kinds every deployment of a stack has, in graph order, as each kind says (`Resource::listed`); a
/// stage without one of them is partial (an `up` or a `down` that did not finish). The function URL is
/// not listed: a stack may have none.
fn kinds(graph: &Graph) -> Vec<&'static str> {
    graph
        .nodes
        .iter()
        .filter(|n| n.listed() != Listed::Not)
        .map(|n| n.address().kind.as_str())
        .collect()
}

/// The Tagging API's resource types of the kinds found through it, as AWS spells them (`logs:log-group`;
/// moto says `logs:loggroup`).
fn tagged_types(graph: &Graph) -> Vec<&'static str> {
    graph
        .nodes
        .iter()
        .filter_map(|n| match n.listed() {
            Listed::Tagged(kind) => Some(kind),
            Listed::Iam | Listed::Not => None,
        })
        .collect()
}

/// How many tag or describe reads run at once.
const CONCURRENT_READS: usize = 8;

/// One resource found, confirmed to exist.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub kind: &'static str,
    pub name: String,
    pub arn: String,
    /// When AWS says it was created (RFC 3339); null for functions (Lambda keeps no creation time).
    pub created: Option<String>,
    #[serde(skip)]
    created_secs: Option<i64>,
    #[serde(skip)]
    owner: (String, Option<String>),
    /// A function's role (its configuration names it): how a role made before IAM paths is found.
    #[serde(skip)]
    role_arn: Option<String>,
}

impl Found {
    /// `created` is always `created_secs` as RFC 3339: made here, once.
    fn new(
        kind: &'static str,
        name: String,
        arn: String,
        created_secs: Option<i64>,
        owner: (String, Option<String>),
    ) -> Found {
        Found {
            kind,
            name,
            arn,
            created: created_secs.map(rfc3339),
            created_secs,
            owner,
            role_arn: None,
        }
    }
}

/// One deployment: a stack and a stage (null: the stack without a stage).
#[derive(Debug, Clone, Serialize)]
pub struct StageListing {
    pub stack: String,
    pub stage: Option<String>,
    /// When its oldest resource was created (RFC 3339).
    pub created: Option<String>,
    /// Seconds since `created`.
    pub age_secs: Option<u64>,
    /// Every kind a stack has exists (table, role, policy, function, log group).
    pub complete: bool,
    /// The kinds that do not exist (a partial stage: an `up` or a `down` that did not finish).
    pub missing: Vec<&'static str>,
    pub resources: Vec<Found>,
}

/// The envelope's `stack` is the stack listed (null with --all); it has no `stage`: ls lists them all.
#[derive(Debug, Serialize)]
struct Listing {
    #[serde(skip)]
    envelope: Envelope,
    /// `--older-than`, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    older_than_secs: Option<u64>,
    stages: Vec<StageListing>,
}

impl Body for Listing {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        render(self)
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

pub async fn run(
    clients: &Clients,
    stack: &Stack,
    options: &Options,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let task = progress.task("stages".to_string());
    task.set("reading tags");
    let only = (!options.all).then_some(stack.name.as_str());
    let graph = crate::resources::graph(stack);
    let scope = iam::Scope::new(only, &stack.region, options.scan_iam);
    let (tagged, listed) = tokio::try_join!(
        tagged_resources(clients, only, &graph),
        iam::listed(clients, &scope)
    )?;
    task.set("following functions to their roles");
    let followed = iam::followed(clients, &scope, &tagged, &listed).await?;
    let iam = listed.into_iter().chain(followed);
    task.finish("read");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut stages = group(tagged.into_iter().chain(iam), now, &kinds(&graph));
    if let Some(age) = options.older_than {
        stages.retain(|s| s.age_secs.is_some_and(|a| a >= age.as_secs()));
    }
    let listing = Listing {
        envelope: Envelope {
            stack: only.map(str::to_string),
            stage: None,
            ..Envelope::new("ls", stack, clients.calls.snapshot(), started.elapsed())
        },
        older_than_secs: options.older_than.map(|d| d.as_secs()),
        stages,
    };
    Ok(Outcome::result(listing, ExitStatus::Ok))
}

/// The stages, sorted by stack then stage (the unstaged deployment first).
fn group(
    found: impl Iterator<Item = Found>,
    now: i64,
    kinds: &[&'static str],
) -> Vec<StageListing> {
    let mut by_owner: BTreeMap<(String, Option<String>), Vec<Found>> = BTreeMap::new();
    for f in found {
        by_owner.entry(f.owner.clone()).or_default().push(f);
    }
    by_owner
        .into_iter()
        .map(|((stack, stage), mut resources)| {
            resources.sort_by_key(|r| (kinds.iter().position(|k| *k == r.kind), r.name.clone()));
            let oldest = resources.iter().filter_map(|r| r.created_secs).min();
            let missing: Vec<&'static str> = kinds
                .iter()
                .copied()
                .filter(|k| !resources.iter().any(|r| r.kind == *k))
                .collect();
            StageListing {
                stack,
                stage,
                created: oldest.map(rfc3339),
                age_secs: oldest.map(|t| now.saturating_sub(t).max(0) as u64),
                complete: missing.is_empty(),
                missing,
                resources,
            }
        })
        .collect()
}

/// An age as people say it: 10d 2h, 3h 5m, 4m, 12s.
fn age(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn rfc3339(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

fn render(listing: &Listing) -> String {
    let mut out = String::new();
    let what = match &listing.envelope.stack {
        Some(stack) => format!("stack {stack}"),
        None => "every stackctl stack".to_string(),
    };
    let count = listing.stages.len();
    out.push_str(&format!(
        "{what} in {}: {count} stage{}{}",
        listing.envelope.region,
        if count == 1 { "" } else { "s" },
        listing
            .older_than_secs
            .map(|s| format!(" older than {}", age(s)))
            .unwrap_or_default()
    ));
    for s in &listing.stages {
        let stage = s.stage.as_deref().unwrap_or("(no stage)");
        let name = if listing.envelope.stack.is_some() {
            stage.to_string()
        } else {
            format!("{} {stage}", s.stack)
        };
        let state = if s.complete {
            "complete".to_string()
        } else {
            format!("partial (missing {})", s.missing.join(", "))
        };
        let created = match (&s.created, s.age_secs) {
            (Some(at), Some(secs)) => format!("created {at} ({} ago)", age(secs)),
            _ => "created: unknown".to_string(),
        };
        out.push_str(&format!("\n{name}: {state}, {created}"));
        for r in &s.resources {
            out.push_str(&format!("\n    {} {}", r.kind, r.name));
        }
    }
    out
}

/// Tables, functions and log groups tagged `stackctl:stack` (= `only`, when given), each confirmed to
/// still exist.
async fn tagged_resources(
    clients: &Clients,
    only: Option<&str>,
    graph: &Graph,
) -> Result<Vec<Found>> {
    use aws_sdk_resourcegroupstagging::types::TagFilter;
    let types = tagged_types(graph);
    let mut filter = TagFilter::builder().key(OWNER_TAG);
    if let Some(stack) = only {
        filter = filter.values(stack);
    }
    let filter = filter.build();
    // The Resource Groups Tagging API: how ls finds stages without a state file (only ls uses it).
    let tagging = crate::aws::client!(clients, aws_sdk_resourcegroupstagging);
    let mut hits = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = tagging.get_resources().tag_filters(filter.clone());
        for kind in &types {
            request = request.resource_type_filters(*kind);
        }
        let page = request
            .set_pagination_token(token.clone())
            .send()
            .await
            .context(
                "listing the stack's tagged resources (Resource Groups Tagging API GetResources)",
            )?;
        for mapping in page.resource_tag_mapping_list() {
            let Some(arn) = mapping.resource_arn() else {
                continue;
            };
            let tags: BTreeMap<String, String> = mapping
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            if let Some(owner) = owner(&tags) {
                hits.push((arn.to_string(), owner));
            }
        }
        token = page
            .pagination_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    let confirmed: Vec<Option<Found>> = stream::iter(hits)
        .map(|(arn, owner)| confirm(clients, graph, arn, owner))
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(confirmed.into_iter().flatten().collect())
}

/// The stack and stage a resource's tags say it belongs to.
fn owner(tags: &BTreeMap<String, String>) -> Option<(String, Option<String>)> {
    Some((tags.get(OWNER_TAG)?.clone(), tags.get(STAGE_TAG).cloned()))
}

/// A Tagging API hit, if the resource still exists (AWS keeps listing deleted ones for minutes), with when
/// it was created: confirmed by the kind whose Tagging API type the ARN is of.
async fn confirm(
    clients: &Clients,
    graph: &Graph,
    arn: String,
    owner: (String, Option<String>),
) -> Result<Option<Found>> {
    let Some(node) = kind_of(graph, &arn) else {
        return Ok(None);
    };
    let confirmed = node.confirm_tagged(clients, &arn).await?;
    Ok(confirmed.map(|c| {
        let kind = node.address().kind.as_str();
        Found {
            role_arn: c.role_arn,
            ..Found::new(kind, c.name, arn.clone(), c.created_secs, owner)
        }
    }))
}

/// The instance of the graph whose Tagging API type an ARN is of.
fn kind_of<'g>(graph: &'g Graph, arn: &str) -> Option<&'g dyn Node> {
    graph
        .nodes
        .iter()
        .find(|n| matches!(n.listed(), Listed::Tagged(kind) if is_of_type(arn, kind)))
        .map(|n| &**n)
}

/// Whether an ARN is of a Tagging API resource type, `service[:type]` (`dynamodb:table`: arn:aws:dynamodb:
/// <region>:<account>:table/<name>; `lambda:function`: ...:function:<name>; `logs:log-group`:
/// ...:log-group:<name>; `sqs`: any SQS ARN).
fn is_of_type(arn: &str, kind: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let (Some(service), Some(resource)) = (parts.get(2), parts.get(5)) else {
        return false;
    };
    let (kind_service, kind_type) = match kind.split_once(':') {
        Some((s, t)) => (s, Some(t)),
        None => (kind, None),
    };
    *service == kind_service
        && kind_type.is_none_or(|t| {
            resource
                .strip_prefix(t)
                .is_some_and(|rest| rest.starts_with(['/', ':']))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(kind: &'static str, stage: Option<&str>, created: Option<i64>) -> Found {
        Found::new(
            kind,
            format!("{kind}-{}", stage.unwrap_or("none")),
            String::new(),
            created,
            ("app".into(), stage.map(str::to_string)),
        )
    }

    fn shipped_graph() -> Graph {
        crate::resources::graph(&crate::resources::shipped_stack())
    }

    /// What ls looks for comes from the kinds (`Resource::listed`), and is what it always was.
    #[test]
    fn the_kinds_say_what_ls_lists_and_through_which_api() {
        let graph = shipped_graph();
        assert_eq!(
            kinds(&graph),
            ["table", "role", "policy", "function", "log_group"]
        );
        assert_eq!(
            tagged_types(&graph),
            ["dynamodb:table", "lambda:function", "logs:log-group"]
        );
    }

    /// A Tagging API hit goes to the kind of its resource type (each kind confirms its own).
    #[test]
    fn a_tagging_api_hit_is_matched_to_its_kind_by_service_and_type() {
        let table = "arn:aws:dynamodb:us-east-1:123456789012:table/t";
        let function = "arn:aws:lambda:us-east-1:123456789012:function:f";
        let group = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/f:*";
        assert!(is_of_type(table, "dynamodb:table") && is_of_type(table, "dynamodb"));
        assert!(is_of_type(function, "lambda:function"));
        assert!(is_of_type(group, "logs:log-group"));
        assert!(!is_of_type(table, "lambda:function") && !is_of_type(function, "lambda:layer"));
        assert!(!is_of_type(group, "logs:log") && !is_of_type("not-an-arn", "logs"));
        assert!(is_of_type("arn:aws:sqs:us-east-1:123456789012:q", "sqs"));
        let graph = shipped_graph();
        let kind_of = |arn: &str| kind_of(&graph, arn).map(|n| n.address().kind.as_str());
        assert_eq!(
            [kind_of(table), kind_of(function), kind_of(group)],
            [Some("table"), Some("function"), Some("log_group")]
        );
        assert_eq!(kind_of("arn:aws:sqs:us-east-1:123456789012:q"), None);
    }

    #[test]
    fn stages_are_grouped_complete_or_partial_and_aged_by_their_oldest_resource() {
        let kinds = kinds(&shipped_graph());
        let mut all: Vec<Found> = kinds
            .iter()
            .map(|k| found(k, Some("pr-1"), Some(1_000)))
            .collect();
        all.push(found("role", Some("pr-2"), Some(500)));
        all.push(found("table", Some("pr-2"), Some(900)));
        all.push(found("function", None, None));
        let stages = group(all.into_iter(), 2_000, &kinds);
        assert_eq!(stages.len(), 3);
        assert_eq!(stages[0].stage, None);
        assert_eq!(stages[0].age_secs, None);
        let pr1 = &stages[1];
        assert!(pr1.complete && pr1.missing.is_empty());
        assert_eq!(pr1.age_secs, Some(1_000));
        assert_eq!(pr1.resources[0].kind, "table");
        let pr2 = &stages[2];
        assert!(!pr2.complete);
        assert_eq!(pr2.missing, vec!["policy", "function", "log_group"]);
        assert_eq!(pr2.age_secs, Some(1_500));
        assert_eq!(pr2.created.as_deref(), Some("1970-01-01T00:08:20Z"));
        assert_eq!(
            [age(12), age(240), age(3 * 3600 + 300), age(7 * 86_400)],
            ["12s", "4m", "3h 5m", "7d 0h"]
        );
    }
}
