//! The policy's IAM calls: read its default version and the roles it is attached to, create, tag, set a
//! new default version, delete.

use super::*;

/// IAM keeps at most this many versions of a managed policy.
const MAX_VERSIONS: usize = 5;

/// A customer managed policy's ARN: `path` is `/` or `/a/b/` (IAM puts it between `policy` and the name).
pub fn arn(partition: &str, account: &str, path: &str, name: &str) -> String {
    format!("arn:{partition}:iam::{account}:policy{path}{name}")
}

/// IAM returns documents URL-encoded (RFC 3986); some emulators return them raw. A URL-encoded document is
/// never valid JSON (it starts with `%7B`), so raw JSON is taken as it is and anything else is decoded.
pub fn decode_document(raw: &str) -> Result<Value> {
    if let Ok(value) = serde_json::from_str(raw) {
        return Ok(value);
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .context("policy document is not UTF-8")?;
    serde_json::from_str(&decoded).context("policy document is not JSON")
}

pub async fn read(client: &Client, arn: &str) -> Result<Option<LivePolicy>> {
    let policy = match client.get_policy().policy_arn(arn).send().await {
        Ok(out) => out
            .policy
            .with_context(|| format!("IAM returned no policy for `{arn}`"))?,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err).with_context(|| format!("reading IAM policy `{arn}`")),
    };
    let default_version = policy.default_version_id().unwrap_or("v1").to_string();
    let version = match client
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&default_version)
        .send()
        .await
    {
        Ok(out) => out.policy_version,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => {
            return Err(err)
                .with_context(|| format!("reading the default version of IAM policy `{arn}`"))
        }
    };
    let raw = version.as_ref().and_then(|v| v.document()).unwrap_or("{}");
    Ok(Some(LivePolicy {
        arn: arn.to_string(),
        default_version,
        document: decode_document(raw)
            .with_context(|| format!("reading the document of IAM policy `{arn}`"))?,
        tags: policy
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        used_by: Vec::new(),
        also_attached: Vec::new(),
    }))
}

/// The roles the policy is attached to (every page), read with GetRole (tags and RoleLastUsed). A role
/// deleted meanwhile is left out.
pub(super) async fn attached_roles(
    client: &Client,
    arn: &str,
) -> Result<Vec<aws_sdk_iam::types::Role>> {
    let mut names = Vec::new();
    let mut pages = client
        .list_entities_for_policy()
        .policy_arn(arn)
        .entity_filter(aws_sdk_iam::types::EntityType::Role)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page
            .map_err(aws_sdk_iam::Error::from)
            .with_context(|| format!("listing the roles IAM policy `{arn}` is attached to"))?;
        names.extend(
            page.policy_roles()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_string)),
        );
    }
    let mut roles = Vec::new();
    for name in names {
        match client.get_role().role_name(&name).send().await {
            Ok(out) => roles.extend(out.role),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) => {}
            Err(err) => return Err(err).with_context(|| format!("reading IAM role `{name}`")),
        }
    }
    Ok(roles)
}

pub(super) fn role_tags(role: &aws_sdk_iam::types::Role) -> BTreeMap<String, String> {
    role.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// For each role the policy is attached to, the region its `stackctl:region` tag names and the region IAM
/// says it was last used in, when there are, as (what ties the policy to the region, region).
pub(super) fn roles_last_used(roles: &[aws_sdk_iam::types::Role]) -> Vec<(String, String)> {
    let mut used = Vec::new();
    for role in roles {
        let name = role.role_name();
        // A role another region's deployment tagged is used there, whether or not IAM saw it used yet
        // (RoleLastUsed is empty until the first assume, and lags hours behind).
        let tagged = role_tags(role).remove(crate::config::REGION_TAG);
        let last = role.role_last_used().and_then(|u| u.region());
        used.extend(tagged.map(|region| {
            let what = format!(
                "role `{name}`, which it is attached to, is tagged `{}` = `{region}`",
                crate::config::REGION_TAG
            );
            (what, region)
        }));
        used.extend(last.map(|region| {
            let what = format!(
                "role `{name}`, which it is attached to, was last used in region `{region}` (IAM's \
                 RoleLastUsed)"
            );
            (what, region.to_string())
        }));
    }
    used
}

/// Creates the policy under `path` (whose ARN is `arn`). If it appeared there since it was read (another
/// run), its document is brought up to date instead. IAM's policy names are unique in the account whatever
/// the path: one that appeared at another path is not written (the next plan reads it and checks whose it is).
pub async fn create(
    client: &Client,
    arn: &str,
    path: &str,
    name: &str,
    document: &Value,
    stack: &crate::config::Stack,
    task: &Task,
) -> Result<()> {
    let tags = &stack.iam_resource_tags();
    task.set("creating");
    let mut request = client
        .create_policy()
        .policy_name(name)
        .path(path)
        .policy_document(document.to_string())
        .description("Least-privilege access to one DynamoDB table, managed by stackctl");
    request = request.set_tags(Some(super::iam_tags(tags)?));
    match request.send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_entity_already_exists_exception()) =>
        {
            task.set("already exists; comparing its document");
            match read(client, arn).await? {
                // Appeared since the read: written only when it is this deployment's by the read path's rule
                // (another run of this stack and stage); a colleague's policy at the stack's path never is.
                Some(live) => {
                    if let Some(why) =
                        super::super::appeared_not_ours(stack, "policy.name", &live.tags)
                    {
                        anyhow::bail!(
                            "creating IAM policy `{name}`: a policy appeared at `{arn}` since this run read the \
                             account, and it is not this stack's: {why}. It was not written nor attached"
                        )
                    }
                    if live.document == *document {
                        Ok(())
                    } else {
                        set_document(client, arn, document, task).await
                    }
                }
                None => {
                    let taken = find_by_name(client, name).await.unwrap_or(None);
                    let at = taken.map_or_else(
                        || "elsewhere in the account".to_string(),
                        |other| format!("at `{other}`"),
                    );
                    anyhow::bail!(
                        "creating IAM policy `{name}`: a policy with this name exists {at} (IAM's policy names are \
                         unique in the account whatever their path and case), and stackctl reads the stack's \
                         policy only at `{arn}` and at `/`: it is not the stack's; nothing was attached. Fix: \
                         set another `policy.name` in stack.toml, or delete that policy"
                    )
                }
            }
        }
        Err(err) => Err(err).with_context(|| format!("creating IAM policy `{name}`")),
    }
}

/// The ARN of the account's customer-managed policy named `name` (IAM compares names without case), at any
/// path: one ListPolicies pass, every page. Only on CreatePolicy's EntityAlreadyExists, to say where it is.
async fn find_by_name(client: &Client, name: &str) -> Result<Option<String>> {
    let mut pages = client
        .list_policies()
        .scope(aws_sdk_iam::types::PolicyScopeType::Local)
        .into_paginator()
        .items()
        .send();
    while let Some(policy) = pages.next().await {
        let policy = policy.context("listing the account's IAM policies")?;
        if policy
            .policy_name()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            return Ok(policy.arn().map(str::to_string));
        }
    }
    Ok(None)
}

/// Adds or updates tags on the policy.
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    let tags = super::iam_tags(tags)?;
    client
        .tag_policy()
        .policy_arn(arn)
        .set_tags(Some(tags))
        .send()
        .await
        .with_context(|| format!("tagging IAM policy `{arn}`"))?;
    Ok(())
}

/// Makes `document` the default version, first deleting the oldest non-default version when IAM's limit
/// of five is reached.
pub async fn set_document(client: &Client, arn: &str, document: &Value, task: &Task) -> Result<()> {
    task.set("creating a new default version");
    let versions = versions(client, arn).await?;
    let mut old: Vec<_> = versions
        .iter()
        .filter(|v| !v.is_default_version())
        .collect();
    if versions.len() >= MAX_VERSIONS {
        old.sort_by_key(|v| v.create_date().map(|d| (d.secs(), d.subsec_nanos())));
        if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
            task.set(&format!(
                "deleting version {oldest} (IAM keeps at most {MAX_VERSIONS})"
            ));
            delete_version(client, arn, oldest).await?;
        }
    }
    client
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document.to_string())
        .set_as_default(true)
        .send()
        .await
        .with_context(|| format!("creating a new default version of IAM policy `{arn}`"))?;
    Ok(())
}

/// Every version of the policy, every page.
async fn versions(client: &Client, arn: &str) -> Result<Vec<PolicyVersion>> {
    client
        .list_policy_versions()
        .policy_arn(arn)
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .map_err(aws_sdk_iam::Error::from)
        .with_context(|| format!("listing versions of IAM policy `{arn}`"))
}

async fn delete_version(client: &Client, arn: &str, version: &str) -> Result<()> {
    match client
        .delete_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(())
        }
        Err(err) => {
            Err(err).with_context(|| format!("deleting version {version} of IAM policy `{arn}`"))
        }
    }
}

/// Deletes the policy in the order IAM accepts: detach it everywhere, delete non-default versions, then the
/// policy. Already gone is success.
pub async fn delete(client: &Client, arn: &str, task: &Task) -> Result<()> {
    task.set("detaching");
    let (mut roles, mut users, mut groups) = (Vec::new(), Vec::new(), Vec::new());
    let mut pages = client
        .list_entities_for_policy()
        .policy_arn(arn)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_no_such_entity_exception()) =>
            {
                return Ok(())
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("listing what IAM policy `{arn}` is attached to"))
            }
        };
        roles.extend(
            page.policy_roles()
                .iter()
                .filter_map(|r| r.role_name().map(str::to_string)),
        );
        users.extend(
            page.policy_users()
                .iter()
                .filter_map(|u| u.user_name().map(str::to_string)),
        );
        groups.extend(
            page.policy_groups()
                .iter()
                .filter_map(|g| g.group_name().map(str::to_string)),
        );
    }
    for name in &roles {
        super::role::detach(client, name, arn).await?;
    }
    for name in &users {
        client
            .detach_user_policy()
            .user_name(name)
            .policy_arn(arn)
            .send()
            .await
            .with_context(|| format!("detaching IAM policy `{arn}` from user `{name}`"))?;
    }
    for name in &groups {
        client
            .detach_group_policy()
            .group_name(name)
            .policy_arn(arn)
            .send()
            .await
            .with_context(|| format!("detaching IAM policy `{arn}` from group `{name}`"))?;
    }
    task.set("deleting old versions");
    for version in versions(client, arn)
        .await?
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = version.version_id() {
            delete_version(client, arn, id).await?;
        }
    }
    task.set("deleting");
    match client.delete_policy().policy_arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_no_such_entity_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("deleting IAM policy `{arn}`")),
    }
}
