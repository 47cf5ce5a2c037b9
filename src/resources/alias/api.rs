//! The alias's and versions' Lambda calls: GetAlias, PublishVersion (guarded), CreateAlias / UpdateAlias
//! (guarded by the alias's RevisionId), ListVersionsByFunction, ListAliases, DeleteFunction with a version
//! Qualifier, DeleteAlias, and the tag that marks a function carrying the stack's alias.
//!
//! The alias's Description records the version it replaced (`stackctl: replaced 7`), which is what
//! `rollback` returns to without a state file; a version's Description names the stack that published it
//! (`stackctl:<stack>`), which is how pruning and `rollback --to` tell the stack's versions from others'.

use anyhow::{Context, Result};
use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::Client;

use crate::aws::errors::{class_of_code, ErrorClass};

/// The function tag naming the alias stackctl made on it (its value: the alias name). Put on before the
/// alias is created and taken off after it is deleted, so that a stack whose `[function.deploy]` was removed
/// still finds (and deletes) its alias, and every stack without one reads nothing more.
pub const ALIAS_TAG: &str = "stackctl:alias";

/// The prefix of the Description stackctl writes on the alias.
const REPLACED_PREFIX: &str = "stackctl: replaced ";
/// The Description of an alias that replaced nothing (its first version).
const FIRST: &str = "stackctl: first version";
/// The prefix of the Description `rollback` writes: the version it left, which the next rollback returns to
/// and which `up` does not move forward to again while `$LATEST` is still that version.
const ROLLED_BACK_PREFIX: &str = "stackctl: rolled back from ";
/// What every Description stackctl writes on an alias starts with.
const OURS_PREFIX: &str = "stackctl: ";

/// The live alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAlias {
    pub name: String,
    pub arn: String,
    /// The version it serves.
    pub version: String,
    /// The version it replaced, from its Description (None: its first, or not written by stackctl); after a
    /// rollback, the version it left.
    pub replaced: Option<String>,
    /// `rollback` moved it here, leaving this version (its Description).
    pub rolled_back_from: Option<String>,
    pub description: String,
    pub revision_id: Option<String>,
}

/// A published version, as ListVersionsByFunction answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub version: String,
    pub code_sha256: String,
    /// LastModified: for a version, when it was published.
    pub published: String,
    pub description: String,
}

impl Version {
    /// Its number (every published version has one; `$LATEST` is not a version here).
    pub fn number(&self) -> Option<u64> {
        self.version.parse().ok()
    }

    /// Whether this stack published it (its Description).
    pub fn is_stacks(&self, stack: &str) -> bool {
        self.description == version_description(stack)
    }
}

/// The Description stackctl gives a version it publishes.
pub fn version_description(stack: &str) -> String {
    format!("stackctl:{stack}")
}

/// The alias's Description that records the version it replaced.
pub fn alias_description(replaced: Option<&str>) -> String {
    match replaced {
        Some(version) => format!("{REPLACED_PREFIX}{version}"),
        None => FIRST.to_string(),
    }
}

/// The Description `rollback` writes: the version it left.
pub fn rolled_back_description(left: &str) -> String {
    format!("{ROLLED_BACK_PREFIX}{left}")
}

fn number_after(description: &str, prefix: &str) -> Option<String> {
    let version = description.strip_prefix(prefix)?;
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()))
        .then(|| version.to_string())
}

/// The replaced version an alias's Description records (None: none, or not stackctl's words): the one
/// `up` moved it from, or the one `rollback` left.
pub fn replaced_in(description: &str) -> Option<String> {
    number_after(description, REPLACED_PREFIX).or_else(|| rolled_back_in(description))
}

/// The version `rollback` left, when its Description says the alias was rolled back.
pub fn rolled_back_in(description: &str) -> Option<String> {
    number_after(description, ROLLED_BACK_PREFIX)
}

/// Whether the live alias is the stack's: the function's `stackctl:alias` tag names it AND stackctl wrote its
/// Description. The tag alone can outlive a first up that failed before CreateAlias (an alias someone makes
/// later under that name is theirs); the Description alone is anyone's to write.
pub fn is_stacks_alias(
    function_tags: &std::collections::BTreeMap<String, String>,
    alias: &LiveAlias,
) -> bool {
    function_tags.get(ALIAS_TAG) == Some(&alias.name) && written_by_stackctl(&alias.description)
}

/// Whether stackctl wrote the alias's Description (with the function's `stackctl:alias` marker, what makes
/// an alias the stack's: the marker alone is left by a first up that failed before CreateAlias).
pub fn written_by_stackctl(description: &str) -> bool {
    description.starts_with(OURS_PREFIX)
}

fn not_found<E: ProvideErrorMetadata>(err: &E) -> bool {
    class_of_code(err.code()) == ErrorClass::NotFound
}

/// GetAlias: None when the function or the alias does not exist.
pub async fn read_alias(client: &Client, function: &str, alias: &str) -> Result<Option<LiveAlias>> {
    match client
        .get_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
    {
        Ok(out) => {
            let description = out.description().unwrap_or_default().to_string();
            Ok(Some(LiveAlias {
                name: out.name().unwrap_or(alias).to_string(),
                arn: out.alias_arn().unwrap_or_default().to_string(),
                version: out.function_version().unwrap_or_default().to_string(),
                replaced: replaced_in(&description),
                rolled_back_from: rolled_back_in(&description),
                description,
                revision_id: out.revision_id().map(str::to_string),
            }))
        }
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(None),
        Err(err) => Err(err)
            .with_context(|| format!("reading alias `{alias}` of Lambda function `{function}`")),
    }
}

/// Every published version of the function (not `$LATEST`), oldest first, every page.
pub async fn list_versions(client: &Client, function: &str) -> Result<Vec<Version>> {
    // The SDK's paginator follows NextMarker (and stops on an empty or repeated one).
    let pages = client
        .list_versions_by_function()
        .function_name(function)
        .max_items(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut versions = Vec::new();
    for v in pages {
        let v =
            v.with_context(|| format!("listing the versions of Lambda function `{function}`"))?;
        let version = v.version().unwrap_or_default();
        if version == "$LATEST" {
            continue;
        }
        versions.push(Version {
            version: version.to_string(),
            code_sha256: v.code_sha256().unwrap_or_default().to_string(),
            published: v.last_modified().unwrap_or_default().to_string(),
            description: v.description().unwrap_or_default().to_string(),
        });
    }
    versions.sort_by_key(|v| v.number().unwrap_or(0));
    Ok(versions)
}

/// One published version as GetFunctionConfiguration with its number as `Qualifier` answers it (None: the
/// function or the version does not exist): `rollback` checks its target with this one call (its
/// Description says whether the stack published it) instead of listing every version.
pub async fn read_published(
    client: &Client,
    function: &str,
    version: &str,
) -> Result<Option<Version>> {
    match client
        .get_function_configuration()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
    {
        Ok(out) => Ok(Some(Version {
            version: out.version().unwrap_or(version).to_string(),
            code_sha256: out.code_sha256().unwrap_or_default().to_string(),
            published: out.last_modified().unwrap_or_default().to_string(),
            description: out.description().unwrap_or_default().to_string(),
        })),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(None),
        Err(err) => Err(err)
            .with_context(|| format!("reading version {version} of Lambda function `{function}`")),
    }
}

/// Every alias of the function, as (name, version), every page, with every version a weighted alias routes
/// part of its traffic to: pruning never deletes a version one of them points to, whoever made it.
pub async fn list_aliases(client: &Client, function: &str) -> Result<Vec<(String, String)>> {
    let pages = client
        .list_aliases()
        .function_name(function)
        .max_items(50)
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    let mut aliases = Vec::new();
    for a in pages {
        let a =
            a.with_context(|| format!("listing the aliases of Lambda function `{function}`"))?;
        let name = a.name().unwrap_or_default().to_string();
        aliases.push((
            name.clone(),
            a.function_version().unwrap_or_default().to_string(),
        ));
        // A weighted alias routes part of its traffic to another version: that one is in use too.
        let weighted = a
            .routing_config()
            .and_then(|r| r.additional_version_weights())
            .into_iter()
            .flat_map(|w| w.keys());
        for version in weighted {
            aliases.push((name.clone(), version.clone()));
        }
    }
    Ok(aliases)
}

/// `$LATEST`'s CodeSha256 and RevisionId (GetFunctionConfiguration), once its last update is done: what
/// PublishVersion is guarded by.
pub async fn latest_revision(client: &Client, function: &str) -> Result<(String, Option<String>)> {
    let out = client
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .with_context(|| format!("reading Lambda function `{function}` before publishing"))?;
    let status = out.last_update_status().map(|s| s.as_str().to_string());
    if let Some(status) = status.filter(|s| s != "Successful") {
        anyhow::bail!(
            "Lambda function `{function}`'s last update is {status} ({}): nothing was published",
            out.last_update_status_reason().unwrap_or("no reason given")
        );
    }
    Ok((
        out.code_sha256().unwrap_or_default().to_string(),
        out.revision_id().map(str::to_string),
    ))
}

/// PublishVersion, guarded: Lambda refuses it when `$LATEST`'s code is not `code_sha256` (400) or it changed
/// since `revision_id` was read (412), so what is published is exactly what up deployed and checked.
/// Answers the version's number (an unchanged `$LATEST` answers the version already published of it).
pub async fn publish(
    client: &Client,
    function: &str,
    stack: &str,
    code_sha256: &str,
    revision_id: Option<&str>,
) -> Result<String> {
    let out = client
        .publish_version()
        .function_name(function)
        .code_sha256(code_sha256)
        .set_revision_id(revision_id.map(str::to_string))
        .description(version_description(stack))
        .send()
        .await
        .map_err(|err| {
            let why = match err.code() {
                Some("PreconditionFailedException") => {
                    " ($LATEST changed while up ran: someone else deployed; run up again)"
                }
                Some("InvalidParameterValueException")
                    if err
                        .message()
                        .is_some_and(|m| m.to_ascii_lowercase().contains("codesha256")) =>
                {
                    " ($LATEST's code is not what up deployed: someone else deployed; run up again)"
                }
                Some("CodeStorageExceededException") => {
                    " (the region's code storage is full: delete old versions, e.g. with a smaller \
                     keep_versions, or unused functions)"
                }
                _ => "",
            };
            anyhow::Error::new(err).context(format!(
                "publishing a version of Lambda function `{function}`{why}"
            ))
        })?;
    out.version()
        .map(str::to_string)
        .with_context(|| format!("Lambda answered no version number for `{function}`"))
}

/// Waits until the published version is Active: a new version can be Pending for a moment (AWS: "Lambda
/// function states"), and Invoke of a Pending version is refused. Failed is an error with AWS's reason.
pub async fn wait_version_active(
    client: &Client,
    function: &str,
    version: &str,
    timeout: std::time::Duration,
    task: &crate::progress::Task,
) -> Result<()> {
    use crate::aws::{wait_for, Poll};
    use aws_sdk_lambda::types::State;
    wait_for(
        &format!("version {version} of `{function}` to become Active"),
        timeout,
        || {
            client
                .get_function_configuration()
                .function_name(function)
                .qualifier(version)
                .send()
        },
        |result| match result {
            Ok(c) => match c.state() {
                Some(State::Active) | None => Poll::Done,
                Some(State::Failed) => {
                    Poll::Failed(c.state_reason().unwrap_or("no reason given").to_string())
                }
                Some(state) => Poll::Pending(state.as_str().to_string()),
            },
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for version {version} ({state})")),
    )
    .await
    .map(|_| ())
}

/// CreateAlias pointing at `version` (its first: it replaced nothing).
pub async fn create_alias(
    client: &Client,
    function: &str,
    alias: &str,
    version: &str,
) -> Result<()> {
    client
        .create_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .description(alias_description(None))
        .send()
        .await
        .with_context(|| format!("creating alias `{alias}` of Lambda function `{function}`"))?;
    Ok(())
}

/// UpdateAlias to `version`, recording `replaced`, guarded by the alias's RevisionId as read (412 when
/// someone moved it since: then nothing is changed).
pub async fn move_alias(
    client: &Client,
    function: &str,
    alias: &str,
    version: &str,
    replaced: Option<&str>,
    revision_id: Option<&str>,
) -> Result<()> {
    update_alias(
        client,
        function,
        alias,
        version,
        alias_description(replaced),
        revision_id,
    )
    .await
}

/// `rollback`'s UpdateAlias: as `move_alias`, recording the version it leaves as rolled back from.
pub async fn roll_back_alias(
    client: &Client,
    function: &str,
    alias: &str,
    version: &str,
    left: &str,
    revision_id: Option<&str>,
) -> Result<()> {
    update_alias(
        client,
        function,
        alias,
        version,
        rolled_back_description(left),
        revision_id,
    )
    .await
}

/// UpdateAlias to exactly `version`: any routing weights on the alias are cleared (empty
/// AdditionalVersionWeights), so all of its traffic goes to the verified (or rolled-back-to) version.
async fn update_alias(
    client: &Client,
    function: &str,
    alias: &str,
    version: &str,
    description: String,
    revision_id: Option<&str>,
) -> Result<()> {
    let routing = aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
        .set_additional_version_weights(Some(std::collections::HashMap::new()))
        .build();
    client
        .update_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .description(description)
        .routing_config(routing)
        .set_revision_id(revision_id.map(str::to_string))
        .send()
        .await
        .map_err(|err| {
            let why = if err.code() == Some("PreconditionFailedException") {
                " (it was moved by someone else since it was read: nothing changed; run the command again)"
            } else {
                ""
            };
            anyhow::Error::new(err).context(format!(
                "moving alias `{alias}` of Lambda function `{function}` to version {version}{why}"
            ))
        })?;
    Ok(())
}

/// DeleteAlias (already gone is done).
pub async fn delete_alias(client: &Client, function: &str, alias: &str) -> Result<()> {
    match client
        .delete_alias()
        .function_name(function)
        .name(alias)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => Err(err)
            .with_context(|| format!("deleting alias `{alias}` of Lambda function `{function}`")),
    }
}

/// DeleteFunction of one version (already gone is done).
pub async fn delete_version(client: &Client, function: &str, version: &str) -> Result<()> {
    match client
        .delete_function()
        .function_name(function)
        .qualifier(version)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        // An alias points to it since the versions were listed (a concurrent rollback): it is in use, kept.
        Err(err) if err.code() == Some("ResourceConflictException") => Ok(()),
        Err(err) => Err(err)
            .with_context(|| format!("deleting version {version} of Lambda function `{function}`")),
    }
}

/// Puts the `stackctl:alias` marker on the function (value: the alias name), or takes it off.
pub async fn set_marker(client: &Client, function_arn: &str, alias: &str, on: bool) -> Result<()> {
    let context = || format!("updating the `{ALIAS_TAG}` tag of `{function_arn}`");
    if on {
        client
            .tag_resource()
            .resource(function_arn)
            .tags(ALIAS_TAG, alias)
            .send()
            .await
            .with_context(context)?;
    } else {
        client
            .untag_resource()
            .resource(function_arn)
            .tag_keys(ALIAS_TAG)
            .send()
            .await
            .with_context(context)?;
    }
    Ok(())
}

/// Which versions pruning deletes: of the stack's own versions (`is_stacks`), all but the newest `keep`,
/// never one an alias points to, never `protect` (the version just moved to and the one it replaced).
pub fn prunable(
    versions: &[Version],
    stack: &str,
    keep: usize,
    aliased: &[String],
    protect: &[&str],
) -> Vec<String> {
    let mut ours: Vec<&Version> = versions
        .iter()
        .filter(|v| v.is_stacks(stack) && v.number().is_some())
        .collect();
    ours.sort_by_key(|v| std::cmp::Reverse(v.number()));
    ours.into_iter()
        .skip(keep.max(crate::config::MIN_KEEP_VERSIONS as usize))
        .filter(|v| !aliased.contains(&v.version) && !protect.contains(&v.version.as_str()))
        .map(|v| v.version.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u64, stack: &str) -> Version {
        Version {
            version: n.to_string(),
            code_sha256: format!("sha{n}"),
            published: String::new(),
            description: version_description(stack),
        }
    }

    #[test]
    fn the_alias_description_round_trips_the_replaced_version() {
        assert_eq!(
            replaced_in(&alias_description(Some("12"))),
            Some("12".into())
        );
        assert_eq!(replaced_in(&alias_description(None)), None);
        assert_eq!(replaced_in("stackctl: replaced $LATEST"), None);
        assert_eq!(replaced_in("someone's words"), None);
        // A rollback records the version it left: the next rollback returns to it; up reads it as such.
        let rolled = rolled_back_description("3");
        assert_eq!(replaced_in(&rolled), Some("3".into()));
        assert_eq!(rolled_back_in(&rolled), Some("3".into()));
        assert_eq!(rolled_back_in(&alias_description(Some("3"))), None);
        assert!(written_by_stackctl(&rolled) && written_by_stackctl(&alias_description(None)));
        assert!(!written_by_stackctl("ops: pinned by hand"));
        assert!(alias_description(Some("99999999")).len() <= 256);
    }

    /// The newest `keep` of the stack's versions stay; an aliased or protected one is never deleted;
    /// another stack's or a hand-published version is never touched.
    #[test]
    fn pruning_keeps_the_newest_and_every_aliased_version() {
        let mut versions: Vec<Version> = (1..=8).map(|n| version(n, "demo")).collect();
        versions.push(version(9, "other"));
        let mut hand = version(10, "demo");
        hand.description = String::new();
        versions.push(hand);
        assert_eq!(prunable(&versions, "demo", 5, &[], &[]), ["3", "2", "1"]);
        assert_eq!(
            prunable(&versions, "demo", 5, &["2".to_string()], &["1"]),
            ["3"]
        );
        // Never below two, whatever is asked.
        assert_eq!(prunable(&versions, "demo", 0, &[], &[]).len(), 6);
    }
}
