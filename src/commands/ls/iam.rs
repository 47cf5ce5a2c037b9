//! ls's IAM half, in proportion to the stack: the roles and customer managed policies under the stack's
//! IAM path (ListRoles / ListPolicies with PathPrefix, then each one's tags), then those made before IAM
//! paths (at `/`), followed from what was found: each function's role, and the policies attached to a
//! stage's role when the stage has no policy yet. `--scan-iam` lists the whole account instead.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{owner, Found, CONCURRENT_READS};
use crate::aws::Clients;
use crate::config::REGION_TAG;
use crate::resources::iam_path;

/// What ls looks for in IAM: whose (`only`: one stack; None: every stack), for which region (IAM is
/// global: a role tagged `stackctl:region` with another region belongs to that region's deployment), and
/// under which path.
pub(super) struct Scope<'a> {
    only: Option<&'a str>,
    region: &'a str,
    /// The PathPrefix of the listing: `/stackctl/<stack>/`, `/stackctl/` with --all, `/` with --scan-iam.
    prefix: String,
}

impl<'a> Scope<'a> {
    pub(super) fn new(only: Option<&'a str>, region: &'a str, scan_iam: bool) -> Scope<'a> {
        let prefix = match (scan_iam, only) {
            (true, _) => "/".to_string(),
            (false, Some(stack)) => iam_path::of_stack(stack),
            (false, None) => iam_path::ALL.to_string(),
        };
        Scope {
            only,
            region,
            prefix,
        }
    }

    /// The stack and stage of a role or policy with these tags, when it is one ls lists.
    fn keep(&self, tags: &BTreeMap<String, String>) -> Option<(String, Option<String>)> {
        let owner = owner(tags)?;
        let ours = self.only.is_none_or(|stack| owner.0 == stack);
        let this_region = tags.get(REGION_TAG).is_none_or(|r| r == self.region);
        (ours && this_region).then_some(owner)
    }
}

/// IAM's tag list as a map.
fn iam_tags(tags: &[aws_sdk_iam::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// A read of a role or policy that was deleted after it was listed or named (a reaper running next to
/// `ls`) answers NoSuchEntity: gone, so None.
fn gone_is_none<O, E, R>(
    result: Result<O, aws_sdk_iam::error::SdkError<E, R>>,
) -> Result<Option<O>, aws_sdk_iam::error::SdkError<E, R>>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata,
{
    match result {
        Ok(out) => Ok(Some(out)),
        Err(err) if err.as_service_error().and_then(|e| e.code()) == Some("NoSuchEntity") => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The roles and customer managed policies under the scope's path with its tags. ListRoles and
/// ListPolicies return no tags, so each one listed costs one tag read: as many as the stack has, whatever
/// else the account holds.
pub(super) async fn listed(clients: &Clients, scope: &Scope<'_>) -> Result<Vec<Found>> {
    let iam = &clients.iam;
    let mut roles = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_roles()
            .path_prefix(&scope.prefix)
            .set_marker(marker.clone())
            .send()
            .await
            .with_context(|| format!("listing IAM roles under path `{}`", scope.prefix))?;
        for role in page.roles() {
            roles.push((
                role.role_name().to_string(),
                role.arn().to_string(),
                role.create_date().secs(),
            ));
        }
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    let mut policies = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .path_prefix(&scope.prefix)
            .set_marker(marker.clone())
            .send()
            .await
            .with_context(|| format!("listing IAM policies under path `{}`", scope.prefix))?;
        for policy in page.policies() {
            if let (Some(name), Some(arn)) = (policy.policy_name(), policy.arn()) {
                let created = policy.create_date().map(|d| d.secs());
                policies.push((name.to_string(), arn.to_string(), created));
            }
        }
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            break;
        }
    }
    let roles = stream::iter(roles)
        .map(|(name, arn, created)| async move {
            let out = gone_is_none(iam.list_role_tags().role_name(&name).send().await)
                .with_context(|| format!("reading the tags of role `{name}`"))?;
            Ok::<_, anyhow::Error>(
                out.and_then(|out| scope.keep(&iam_tags(out.tags())))
                    .map(|owner| Found::new("role", name, arn, Some(created), owner)),
            )
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect::<Vec<_>>();
    let policies = stream::iter(policies)
        .map(|(name, arn, created)| async move {
            let out = gone_is_none(iam.list_policy_tags().policy_arn(&arn).send().await)
                .with_context(|| format!("reading the tags of policy `{name}`"))?;
            Ok::<_, anyhow::Error>(
                out.and_then(|out| scope.keep(&iam_tags(out.tags())))
                    .map(|owner| Found::new("policy", name, arn, created, owner)),
            )
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect::<Vec<_>>();
    let (roles, policies) = tokio::try_join!(roles, policies)?;
    Ok(roles.into_iter().chain(policies).flatten().collect())
}

/// The roles and policies outside the listed path (made before stackctl created them under
/// `/stackctl/<stack>/`), followed from what was found: each function's role (its configuration names it)
/// with one GetRole, then, for a stage with a role but no policy found, the customer managed policies
/// attached to that role (one ListAttachedRolePolicies, one GetPolicy each outside the path). A stage
/// whose roles and policies are all under the path costs nothing here.
pub(super) async fn followed(
    clients: &Clients,
    scope: &Scope<'_>,
    tagged: &[Found],
    listed: &[Found],
) -> Result<Vec<Found>> {
    let iam = &clients.iam;
    let outside = |arn: &&str| !iam_path::is_under(arn, &scope.prefix);
    let names: BTreeSet<&str> = tagged
        .iter()
        .filter_map(|f| f.role_arn.as_deref())
        .filter(outside)
        .filter(|arn| !listed.iter().any(|l| l.arn == *arn))
        .filter_map(|arn| arn.rsplit('/').next())
        .collect();
    let roles: Vec<Found> = stream::iter(names)
        .map(|name| async move {
            let out = gone_is_none(iam.get_role().role_name(name).send().await)
                .with_context(|| format!("reading IAM role `{name}`, the role of a function"))?;
            let found = out.and_then(|out| out.role).and_then(|role| {
                let owner = scope.keep(&iam_tags(role.tags()))?;
                let created = Some(role.create_date().secs());
                Some(Found::new(
                    "role",
                    name.to_string(),
                    role.arn,
                    created,
                    owner,
                ))
            });
            Ok::<_, anyhow::Error>(found)
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    let with_policy: BTreeSet<&(String, Option<String>)> = listed
        .iter()
        .filter(|f| f.kind == "policy")
        .map(|f| &f.owner)
        .collect();
    let lacking: Vec<&Found> = listed
        .iter()
        .chain(&roles)
        .filter(|f| f.kind == "role" && !with_policy.contains(&f.owner))
        .collect();
    let mut attached = BTreeSet::new();
    for role in lacking {
        for arn in attached_to(clients, &role.name).await? {
            let customer = arn
                .split(':')
                .nth(4)
                .is_some_and(|account| account != "aws");
            if customer && outside(&arn.as_str()) && !listed.iter().any(|l| l.arn == arn) {
                attached.insert(arn);
            }
        }
    }
    let policies: Vec<Option<Found>> = stream::iter(attached)
        .map(|arn| async move {
            let out = gone_is_none(iam.get_policy().policy_arn(&arn).send().await).with_context(
                || format!("reading IAM policy `{arn}`, attached to a stage's role"),
            )?;
            Ok::<_, anyhow::Error>(out.and_then(|out| out.policy).and_then(|policy| {
                let owner = scope.keep(&iam_tags(policy.tags()))?;
                let name = policy.policy_name()?.to_string();
                let created = policy.create_date().map(|d| d.secs());
                Some(Found::new("policy", name, arn, created, owner))
            }))
        })
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(roles
        .into_iter()
        .chain(policies.into_iter().flatten())
        .collect())
}

/// The ARNs of the managed policies attached to a role; none when the role is gone meanwhile.
async fn attached_to(clients: &Clients, role: &str) -> Result<Vec<String>> {
    match crate::resources::role::attached_policies(&clients.iam, role).await {
        Ok(arns) => Ok(arns),
        Err(err)
            if err
                .downcast_ref::<aws_sdk_iam::Error>()
                .is_some_and(|e| matches!(e, aws_sdk_iam::Error::NoSuchEntityException(_))) =>
        {
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listing's path: the stack's, every stack's with --all, the whole account with --scan-iam.
    #[test]
    fn the_scope_lists_the_stack_path_every_stack_or_the_account() {
        assert_eq!(Scope::new(Some("app"), "r", false).prefix, "/stackctl/app/");
        assert_eq!(Scope::new(None, "r", false).prefix, "/stackctl/");
        assert_eq!(Scope::new(Some("app"), "r", true).prefix, "/");
        let scope = Scope::new(Some("app"), "eu-west-1", false);
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let owner = scope.keep(&tags(&[
            ("stackctl:stack", "app"),
            ("stackctl:stage", "dev"),
        ]));
        assert_eq!(owner, Some(("app".into(), Some("dev".into()))));
        assert_eq!(scope.keep(&tags(&[("stackctl:stack", "other")])), None);
        let elsewhere = tags(&[("stackctl:stack", "app"), (REGION_TAG, "us-east-1")]);
        assert_eq!(scope.keep(&elsewhere), None);
    }
}
