//! `stackctl versions`: the function's published versions (`[function.deploy]`), newest first, each with
//! its CodeSha256, when it was published, whether the alias serves it, whether it is the version the alias
//! replaced (what `rollback` returns to), whether this stack published it (its Description), and the other
//! aliases pointing at it. Read-only: GetFunction (the tags: only the stack's own function is listed), then
//! GetAlias, ListVersionsByFunction and ListAliases at once.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::aws::Clients;
use crate::config::{Stack, StackFunction};
use crate::escape;
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use crate::resources::alias::{api, LiveAlias, Version};
use crate::resources::function::{self, LiveFunction};

/// The result of `stackctl versions`.
#[derive(Debug, Serialize)]
pub struct VersionsReport {
    #[serde(skip)]
    pub envelope: Envelope,
    pub function: String,
    /// `[function.deploy] alias`; null without the section.
    pub alias: Option<String>,
    /// The version the alias serves; null when there is no alias (yet).
    pub serving: Option<String>,
    /// The version the alias replaced (its Description): `rollback`'s default target.
    pub replaced: Option<String>,
    /// Newest first.
    pub versions: Vec<VersionRow>,
    /// Why the list is empty, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One published version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    pub version: String,
    /// The full CodeSha256 (text shows its first 12 characters).
    pub code_sha256: String,
    /// When it was published (Lambda's LastModified of the version).
    pub published: String,
    /// The alias serves it.
    pub serving: bool,
    /// The alias replaced it: `rollback` without `--to` returns to it.
    pub replaced: bool,
    /// This stack published it (its Description is `stackctl:<stack>`): only these are `rollback --to`
    /// targets and pruned.
    pub by_stack: bool,
    /// Other aliases pointing at it (not the stack's own).
    pub other_aliases: Vec<String>,
}

/// The rows, newest first: every version with what points at it. Pure.
pub fn rows(
    versions: &[Version],
    alias: Option<&LiveAlias>,
    aliases: &[(String, String)],
    stack: &str,
) -> Vec<VersionRow> {
    let mut rows: Vec<VersionRow> = versions
        .iter()
        .map(|v| VersionRow {
            version: v.version.clone(),
            code_sha256: v.code_sha256.clone(),
            published: v.published.clone(),
            serving: alias.is_some_and(|a| a.version == v.version),
            replaced: alias.is_some_and(|a| a.replaced.as_deref() == Some(v.version.as_str())),
            by_stack: v.is_stacks(stack),
            other_aliases: aliases
                .iter()
                .filter(|(name, version)| {
                    *version == v.version && alias.is_none_or(|a| a.name != *name)
                })
                .map(|(name, _)| name.clone())
                .collect(),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.version.parse::<u64>().unwrap_or(0)));
    rows
}

impl Body for VersionsReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        let mut out = String::new();
        let _ = write!(out, "function {}", self.function);
        match (&self.alias, &self.serving) {
            (Some(alias), Some(serving)) => {
                let _ = write!(out, ", alias {alias} → version {serving}");
                if let Some(replaced) = &self.replaced {
                    let _ = write!(
                        out,
                        " (replaced {replaced}: `stackctl rollback` returns to it)"
                    );
                }
            }
            (Some(alias), None) => {
                let _ = write!(out, ", alias {alias}: not created yet");
            }
            _ => {}
        }
        if let Some(note) = &self.note {
            let _ = write!(out, "\n{note}");
        }
        if !self.versions.is_empty() {
            let _ = write!(
                out,
                "\n{:<8} {:<13} {:<29} what",
                "version", "code", "published"
            );
        }
        for row in &self.versions {
            let mut what = Vec::new();
            if row.serving {
                what.push("serving".to_string());
            }
            if row.replaced {
                what.push("replaced".to_string());
            }
            what.push(
                if row.by_stack {
                    "stack's"
                } else {
                    "not the stack's"
                }
                .to_string(),
            );
            if !row.other_aliases.is_empty() {
                what.push(format!("aliases: {}", row.other_aliases.join(", ")));
            }
            let _ = write!(
                out,
                "\n{:<8} {:<13} {:<29} {}",
                row.version,
                function::short_sha(&row.code_sha256),
                row.published,
                what.join(", ")
            );
        }
        escape::terminal(&out).into_owned()
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// The stack's function as GetFunction answers it with its tags; an error (exit 1) when it does not exist
/// or another deployment owns it (or nobody does: an untagged function is adopted by `up` first). `rollback`
/// and `versions` act only on the stack's own function.
pub(crate) async fn read_owned(
    clients: &Clients,
    stack: &Stack,
    function: &StackFunction,
) -> Result<LiveFunction> {
    let name = &function.spec.name;
    let Some(live) = function::read(&clients.lambda, name).await? else {
        bail!("Lambda function `{name}` does not exist: run `stackctl up` first");
    };
    if stack.owns(&live.tags) {
        return Ok(live);
    }
    let field = &function.name_field;
    match stack.other_owner(&live.tags) {
        Some((owner, stage)) => bail!(
            "function `{name}`: {}",
            stack.other_owner_note(field, owner, stage)
        ),
        None => bail!(
            "function `{name}` is not tagged as this stack's (no `stackctl:stack` tag): run `stackctl up` \
             first, which adopts it, or give the stack another function name (`{field}`)"
        ),
    }
}

/// `stackctl versions`: exit 0 with the list (empty, with a note, without `[function.deploy]` or before the
/// first versioned `up`); 1 when the function does not exist or is not the stack's, or a read fails.
pub async fn run(clients: &Clients, stack: &Stack, progress: &Progress) -> Result<Outcome> {
    let started = Instant::now();
    let function = stack.chosen_function();
    let name = function.spec.name.clone();
    let report = |alias: Option<String>,
                  live: Option<&LiveAlias>,
                  versions: Vec<VersionRow>,
                  note: Option<String>| VersionsReport {
        envelope: Envelope::new(
            "versions",
            stack,
            clients.calls.snapshot(),
            started.elapsed(),
        ),
        function: name.clone(),
        alias,
        serving: live.map(|a| a.version.clone()),
        replaced: live.and_then(|a| a.replaced.clone()),
        versions,
        note,
    };
    let Some(deploy) = &function.deploy else {
        // Nothing is sent: without the section up publishes no versions.
        let note = format!(
            "no [{}] in {}: up updates `$LATEST` in place and publishes no versions",
            function.field("deploy"),
            stack.file.display()
        );
        return Ok(Outcome::result(
            report(None, None, Vec::new(), Some(note)),
            ExitStatus::Ok,
        ));
    };
    let task = progress.task(format!("versions {name}"));
    task.set("reading");
    let result = async {
        read_owned(clients, stack, &function).await?;
        let lambda = &clients.lambda;
        tokio::try_join!(
            api::read_alias(lambda, &name, &deploy.alias),
            api::list_versions(lambda, &name),
            api::list_aliases(lambda, &name)
        )
    }
    .await;
    let (alias, versions, aliases) = match result {
        Ok(read) => read,
        Err(err) => {
            task.fail("failed");
            return Err(err);
        }
    };
    task.finish(&format!("{} versions", versions.len()));
    let rows = rows(&versions, alias.as_ref(), &aliases, &stack.name);
    let note = rows.is_empty().then(|| {
        "no published versions yet: the next `stackctl up` publishes the first and creates the alias"
            .to_string()
    });
    Ok(Outcome::result(
        report(Some(deploy.alias.clone()), alias.as_ref(), rows, note),
        ExitStatus::Ok,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u64, description: &str) -> Version {
        Version {
            version: n.to_string(),
            code_sha256: format!("sha{n}"),
            published: format!("2026-12-0{n}T00:00:00.000+0000"),
            description: description.to_string(),
        }
    }

    fn alias(version: &str, replaced: Option<&str>) -> LiveAlias {
        LiveAlias {
            name: "live".into(),
            arn: String::new(),
            version: version.into(),
            replaced: replaced.map(str::to_string),
            rolled_back_from: None,
            description: api::alias_description(replaced),
            revision_id: None,
        }
    }

    /// Newest first; serving and replaced from the alias; the stack's versions from their Description;
    /// other aliases listed on the version they point at, never the stack's own alias.
    #[test]
    fn rows_say_what_serves_what_was_replaced_and_whose_each_version_is() {
        let stack = api::version_description("demo");
        let versions = [
            version(1, &stack),
            version(2, &stack),
            version(3, "published by hand"),
        ];
        let aliases = [
            ("live".to_string(), "2".to_string()),
            ("beta".to_string(), "3".to_string()),
            ("old".to_string(), "2".to_string()),
        ];
        let live = alias("2", Some("1"));
        let rows = rows(&versions, Some(&live), &aliases, "demo");
        let shown: Vec<(&str, bool, bool, bool, Vec<String>)> = rows
            .iter()
            .map(|r| {
                (
                    r.version.as_str(),
                    r.serving,
                    r.replaced,
                    r.by_stack,
                    r.other_aliases.clone(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                ("3", false, false, false, vec!["beta".to_string()]),
                ("2", true, false, true, vec!["old".to_string()]),
                ("1", false, true, true, vec![]),
            ]
        );
        // Without an alias nothing serves and nothing was replaced.
        let rows = super::rows(&versions, None, &[], "demo");
        assert!(rows.iter().all(|r| !r.serving && !r.replaced));
        // Another stack's versions are not this one's.
        assert!(super::rows(&versions, None, &[], "other")
            .iter()
            .all(|r| !r.by_stack));
    }
}
