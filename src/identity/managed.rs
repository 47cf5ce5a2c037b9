//! The deployed managed pool (`[auth] cognito = true`) for the commands that use it (`token`, smoke, local
//! runs): its id, its app client's id and its issuer, read through the graph (`Purpose::Use(Use::Auth)`:
//! ListUserPools and DescribeUserPool, ListUserPoolClients and DescribeUserPoolClient; never a write).

use anyhow::{bail, Result};

use crate::engine;
use crate::plan::Kind;
use crate::progress::{Mode, Progress};
use crate::resources::user_pool::{issuer, UserPool};
use crate::resources::user_pool_client::UserPoolClient;
use crate::resources::{Purpose, Use};

/// The stack's deployed pool and client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPool {
    pub pool_id: String,
    pub client_id: String,
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`: its tokens' `iss`.
    pub issuer: String,
    pub region: String,
}

/// The stack's managed pool and client, as deployed. None: the stack has no managed pool, or it is not
/// deployed (yet): no pool, or no client in it. An error: two pools tagged as this deployment's, or one that is not
/// this deployment's (untagged, or another stack's or stage's): its users are never trusted.
pub async fn managed_pool(
    clients: &crate::aws::Clients,
    stack: &crate::config::Stack,
) -> Result<Option<ManagedPool>> {
    if stack
        .auth
        .as_ref()
        .and_then(|a| a.managed.as_ref())
        .is_none()
    {
        return Ok(None);
    }
    let pool_at = engine::address_of(stack, Kind::UserPool)?;
    let client_at = engine::address_of(stack, Kind::UserPoolClient)?;
    // The read neither waits nor counts: its progress line is never shown.
    let task = Progress::new(Mode::Quiet).task("auth");
    let reads = engine::read_some(
        clients,
        stack,
        Purpose::Use(Use::Auth),
        std::slice::from_ref(&client_at),
        &task,
    )
    .await?;
    let Some(pool) = reads.live_of::<UserPool>(&pool_at) else {
        return Ok(None);
    };
    if !stack.owns(&pool.tags) {
        bail!(
            "user pool `{}` ({}) is not this stack's (its tags do not name stack `{}`{}): stackctl never \
             uses a pool it did not create",
            crate::resources::user_pool::pool_name(stack),
            pool.id,
            stack.name,
            stack
                .stage
                .as_ref()
                .map(|s| format!(" and stage `{s}`"))
                .unwrap_or_default()
        );
    }
    let Some(client) = reads.live_of::<UserPoolClient>(&client_at) else {
        return Ok(None);
    };
    Ok(Some(ManagedPool {
        pool_id: pool.id.clone(),
        client_id: client.id.clone(),
        issuer: issuer(&stack.region, &pool.id),
        region: stack.region.clone(),
    }))
}
