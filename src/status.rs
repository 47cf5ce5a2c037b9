//! `status`: per resource, does it exist, its live state, and is it in sync with stack.toml (and with the
//! local build). Read-only.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;

use crate::aws::Clients;
use crate::config::Stack;
use crate::deploy;
use crate::handler::build_cache::Cache;
use crate::handler::package::{self, LocalCode};
use crate::live::{self, Purpose};
use crate::progress::Progress;
use crate::report::{Report, ResourceReport};
use crate::resources::role::short_policy_name;
use crate::resources::table::describe_keys;

pub async fn status(clients: &Clients, stack: &Stack, progress: &Progress) -> Result<Report> {
    let started = Instant::now();
    let task = progress.task("live state");
    task.set("reading");
    // The local CodeSha256 is worked out while the reads are in flight.
    let function = stack.function.clone();
    let cache = Cache::for_stack_file(&stack.file);
    let local =
        tokio::task::spawn_blocking(move || package::existing_code_sha256(&function, &cache));
    let live = live::read(clients, stack, Purpose::Ownership).await?;
    task.finish("read");
    let local_sha = local.await??;
    let package = local_sha.as_deref().map(|code_sha256| LocalCode {
        code_sha256,
        changed_files: None,
    });
    let plan = deploy::plan(stack, &live, package)?;
    let owned = |tags: Option<&BTreeMap<String, String>>| {
        if tags.is_some_and(|t| stack.owns(t)) {
            "this stack"
        } else {
            "not this stack (left alone by down)"
        }
        .to_string()
    };

    let mut states: Vec<BTreeMap<String, String>> = vec![BTreeMap::new(); 4];
    if let Some(t) = &live.table {
        states[0] = BTreeMap::from([
            ("status".into(), t.status.clone()),
            ("key_schema".into(), describe_keys(&t.key_schema)),
            ("billing_mode".into(), t.billing_mode.clone()),
            (
                "deletion_protection".into(),
                t.deletion_protection.to_string(),
            ),
            ("owner".into(), owned(live.table_tags.as_ref())),
        ]);
    }
    if let Some(r) = &live.role {
        states[1] = BTreeMap::from([
            (
                "attached".into(),
                r.attached
                    .iter()
                    .map(|a| short_policy_name(a))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("owner".into(), owned(Some(&r.tags))),
        ]);
    }
    if let Some(p) = &live.policy {
        states[2] = BTreeMap::from([
            ("default_version".into(), p.default_version.clone()),
            (
                "document_matches".into(),
                (p.document == plan.desired.policy_document).to_string(),
            ),
            ("attached_to_role".into(), plan.policy_attached.to_string()),
            ("owner".into(), owned(Some(&p.tags))),
        ]);
    }
    if let Some(f) = &live.function {
        states[3] = BTreeMap::from([
            ("state".into(), f.state.clone()),
            ("last_update_status".into(), f.last_update_status.clone()),
            ("architecture".into(), f.config.architecture.clone()),
            ("code_sha256".into(), f.code_sha256.clone()),
            (
                "local_code_sha256".into(),
                local_sha
                    .clone()
                    .unwrap_or_else(|| "(no local build)".to_string()),
            ),
            ("owner".into(), owned(Some(&f.tags))),
        ]);
        if let Some(reason) = f.state_reason.as_ref().filter(|_| f.state != "Active") {
            states[3].insert("state_reason".into(), reason.clone());
        }
        for (key, value) in &f.config.environment {
            // Only the variables stackctl sets are shown with their value; others may be secrets.
            let shown = if stack.function.environment.contains_key(key) {
                value.clone()
            } else {
                "(value hidden)".into()
            };
            states[3].insert(format!("environment.{key}"), shown);
        }
    }
    let exists = [
        live.table.is_some(),
        live.role.is_some(),
        live.policy.is_some(),
        live.function.is_some(),
    ];
    let reports = plan
        .resources
        .into_iter()
        .zip(states)
        .zip(exists)
        .map(|((r, mut state), exists)| {
            state.insert("exists".into(), exists.to_string());
            ResourceReport::planned(r).state(state)
        })
        .collect();
    Ok(Report::new(
        "status",
        stack,
        reports,
        clients.calls.snapshot(),
        started.elapsed(),
    ))
}
