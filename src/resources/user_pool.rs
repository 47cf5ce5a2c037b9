//! The managed Cognito user pool (`[auth] cognito = true`): found by its name (ListUserPools, every page:
//! pool names are not unique), its tags and deletion protection from DescribeUserPool, whether it holds
//! users from ListUsers (Limit 1; a page with a PaginationToken counts). Created with the stack's tags and
//! AWS's defaults. Of several pools with the name, the one tagged as this deployment's is used and the
//! others are named and never touched (a stranger's pool cannot block ours); two tagged as ours (racing
//! ups) fail up and are all deleted by down. A pool without the stack's tags is never used (blocked: a
//! pool is who may call the API, so trusting a stranger's would let its users in), another deployment's
//! never either (the engine), nor named in the outputs. Its users are data: down deletes a pool that holds
//! any only with `--delete-data`.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aws_sdk_cognitoidentityprovider::Client;
use futures::future::BoxFuture;

use crate::aws::{classify_sdk, Clients, ErrorClass};
use crate::config::Stack;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Found, Planned, Purpose, Resource, NOT_OURS};

/// The pool as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivePool {
    pub id: String,
    pub arn: String,
    pub tags: BTreeMap<String, String>,
    /// DescribeUserPool's `DeletionProtection` is `ACTIVE`: DeleteUserPool is refused.
    pub deletion_protection: bool,
    /// Whether it holds a user (read for status and down only).
    pub has_users: Option<bool>,
    /// Other pools with the name that are not this deployment's: never used nor touched.
    pub strangers: Vec<String>,
    /// Other pools with the name tagged as this deployment's (read for down only: up fails on them).
    pub twins: Vec<LivePool>,
}

/// The user pool's resource kind.
pub struct UserPool {
    pub(crate) at: Address,
}

/// The pool's name, from `[auth]` (only a stack with `cognito = true` has this node).
pub fn pool_name(stack: &Stack) -> &str {
    stack
        .auth
        .as_ref()
        .and_then(|a| a.managed.as_ref())
        .map_or("", |m| m.pool_name.as_str())
}

/// The Cognito client, from the shared config.
pub fn client(clients: &Clients) -> Client {
    crate::aws::client!(clients, aws_sdk_cognitoidentityprovider)
}

/// The ids of the pools named `name`: ListUserPools, every page (MaxResults is required, 1 to 60).
pub async fn find_pools(cognito: &Client, name: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(token.clone())
            .send()
            .await
            .context("listing Cognito user pools")?;
        ids.extend(
            out.user_pools()
                .iter()
                .filter(|p| p.name() == Some(name))
                .filter_map(|p| p.id().map(str::to_string)),
        );
        match out.next_token() {
            Some(next) if !next.is_empty() && Some(next) != token.as_deref() => {
                token = Some(next.to_string())
            }
            _ => return Ok(ids),
        }
    }
}

/// The stack's pool, described (None: no pool has its name). Pool names are not unique: when several
/// have it, the one tagged as this deployment's is the stack's and the others (untagged, another stack's
/// or stage's) are named in `strangers`, never used nor touched; with none of them tagged so, it is an
/// error naming them all. Two or more tagged as this deployment's (two racing ups) are an error naming
/// each and whether it holds users, except for down (`teardown`), which gets the others as `twins`.
pub async fn read_pool(
    cognito: &Client,
    stack: &Stack,
    users: bool,
    teardown: bool,
) -> Result<Option<LivePool>> {
    let name = pool_name(stack);
    let ids = find_pools(cognito, name).await?;
    if ids.len() <= 1 {
        return match ids.first() {
            None => Ok(None),
            Some(id) => with_users(cognito, stack, describe_pool(cognito, id).await?, users).await,
        };
    }
    let mut owned = Vec::new();
    let mut strangers = Vec::new();
    for id in &ids {
        match describe_pool(cognito, id).await? {
            Some(pool) if stack.owns(&pool.tags) => owned.push(pool),
            Some(pool) => strangers.push(pool),
            None => {}
        }
    }
    if owned.is_empty() {
        if strangers.len() <= 1 {
            return with_users(cognito, stack, strangers.pop(), users).await;
        }
        bail!(
            "{} Cognito user pools are named `{name}` ({}): stackctl cannot tell which is the stack's; \
             delete or rename the others",
            strangers.len(),
            strangers.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    if users || owned.len() > 1 {
        for pool in owned.iter_mut() {
            pool.has_users = Some(has_users(cognito, &pool.id).await?);
        }
    }
    if owned.len() > 1 && !teardown {
        let each: Vec<String> = owned
            .iter()
            .map(|p| {
                let users = if p.has_users == Some(true) {
                    "holds users"
                } else {
                    "holds no users"
                };
                format!("`{}` {users}", p.id)
            })
            .collect();
        bail!(
            "{} Cognito user pools named `{name}` are tagged as this stack's ({}): two ups raced \
             (CreateUserPool cannot be made idempotent); delete all but one (`stackctl down --confirm` \
             deletes those that hold no users), then run up again",
            owned.len(),
            each.join(", ")
        );
    }
    let mut ours = owned.remove(0);
    ours.strangers = strangers.into_iter().map(|p| p.id).collect();
    ours.twins = owned;
    Ok(Some(ours))
}

/// `pool` with whether it holds users when `users` and it is this deployment's: ListUsers is allowed by the
/// operator policy on pools with a `stackctl:stack` tag only, and a pool that is not ours is never deleted.
async fn with_users(
    cognito: &Client,
    stack: &Stack,
    pool: Option<LivePool>,
    users: bool,
) -> Result<Option<LivePool>> {
    Ok(match pool {
        Some(mut pool) if users && stack.owns(&pool.tags) => {
            pool.has_users = Some(has_users(cognito, &pool.id).await?);
            Some(pool)
        }
        pool => pool,
    })
}

/// The pool `id`, described (None: gone since it was listed).
async fn describe_pool(cognito: &Client, id: &str) -> Result<Option<LivePool>> {
    let out = match cognito.describe_user_pool().user_pool_id(id).send().await {
        Ok(out) => out,
        Err(err) if classify_sdk(&err) == ErrorClass::NotFound => return Ok(None),
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("describing user pool `{id}`")))
        }
    };
    let pool = out
        .user_pool()
        .with_context(|| format!("DescribeUserPool of `{id}` answered no pool"))?;
    Ok(Some(LivePool {
        id: id.to_string(),
        arn: pool.arn().unwrap_or_default().to_string(),
        tags: pool
            .user_pool_tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        deletion_protection: pool
            .deletion_protection()
            .is_some_and(|d| d.as_str() == "ACTIVE"),
        has_users: None,
        strangers: Vec::new(),
        twins: Vec::new(),
    }))
}

/// Whether the pool holds a user: ListUsers with Limit 1.
pub async fn has_users(cognito: &Client, id: &str) -> Result<bool> {
    let out = cognito
        .list_users()
        .user_pool_id(id)
        .limit(1)
        .send()
        .await
        .with_context(|| format!("listing the users of user pool `{id}`"))?;
    Ok(page_has_users(&out))
}

/// Whether a ListUsers page says the pool holds a user: a user on it, or a `PaginationToken` (Cognito may
/// answer an empty page that still has more to come; a pool that may hold users is treated as holding
/// them, since its users are data).
pub fn page_has_users(
    out: &aws_sdk_cognitoidentityprovider::operation::list_users::ListUsersOutput,
) -> bool {
    !out.users().is_empty() || out.pagination_token().is_some_and(|t| !t.is_empty())
}

/// What up does to the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolWork {
    InSync,
    Create,
}

/// up's plan for the pool (pure): create it when missing; one without the stack's tags is blocked.
pub fn plan_pool(stack: &Stack, name: &str, live: Option<&LivePool>) -> Planned<PoolWork> {
    let base =
        |action| ResourcePlan::new(Kind::UserPool, name, action).arn(live.map(|l| l.arn.as_str()));
    match live {
        None => Planned::new(
            base(Action::Create).changes(vec![
                Change::add("user_pool", name),
                Change::add("deletion_protection", "INACTIVE (AWS's default)"),
            ]),
            PoolWork::Create,
        ),
        Some(l) if !l.tags.contains_key(crate::config::OWNER_TAG) => Planned::new(
            base(Action::Blocked).note(format!(
                "user pool `{}` ({}) is named like the stack's but has no `stackctl:stack` tag: stackctl \
                 never trusts a pool it did not create (its users could call the API); delete or rename it, \
                 or tag it `stackctl:stack = {}` if it is this stack's",
                name, l.id, stack.name
            )),
            PoolWork::InSync,
        ),
        Some(l) => {
            let plan = base(Action::NoOp);
            let plan = match strangers_note(name, l) {
                Some(note) => plan.note(note),
                None => plan,
            };
            Planned::new(plan, PoolWork::InSync)
        }
    }
}

/// The note naming the other pools with the stack's pool name that are not this deployment's.
fn strangers_note(name: &str, l: &LivePool) -> Option<String> {
    (!l.strangers.is_empty()).then(|| {
        format!(
            "{} other user pool(s) named `{name}` are not this stack's ({}): never used nor touched",
            l.strangers.len(),
            l.strangers.join(", ")
        )
    })
}

/// down's plan for the pool (pure): its users are data; deletion protection must be off. Every pool with
/// the name tagged as this deployment's (`twins` too) is deleted, or none is; the strangers are named.
pub fn plan_pool_down(stack: &Stack, name: &str, l: &LivePool, delete_data: bool) -> ResourcePlan {
    let base = |action| ResourcePlan::new(Kind::UserPool, name, action).arn(Some(&l.arn));
    if !stack.owns(&l.tags) {
        return base(Action::Keep).note(NOT_OURS);
    }
    let with_strangers = |plan: ResourcePlan| match strangers_note(name, l) {
        Some(note) => {
            let note = match &plan.note {
                Some(first) => format!("{first}; {note}"),
                None => note,
            };
            plan.note(note)
        }
        None => plan,
    };
    let all: Vec<&LivePool> = std::iter::once(l).chain(l.twins.iter()).collect();
    let ids = |f: &dyn Fn(&LivePool) -> bool| -> Vec<&str> {
        all.iter().filter(|p| f(p)).map(|p| p.id.as_str()).collect()
    };
    let protected = ids(&|p| p.deletion_protection);
    if !protected.is_empty() {
        return with_strangers(base(Action::Blocked).note(format!(
            "deletion protection is on: turn it off first (the Cognito console: user pool `{}`, Settings, \
             Deletion protection), then run down again",
            protected.join("`, `")
        )));
    }
    let with_users = ids(&|p| p.has_users == Some(true));
    if !with_users.is_empty() && !delete_data {
        let note = if l.twins.is_empty() {
            "the user pool holds users (their accounts and passwords cannot be exported): pass \
             --delete-data to delete them with the pool"
                .to_string()
        } else {
            format!(
                "user pool(s) `{}` hold users (their accounts and passwords cannot be exported): pass \
                 --delete-data to delete them with the pools",
                with_users.join("`, `")
            )
        };
        return with_strangers(base(Action::Blocked).note(note));
    }
    let changes = all
        .iter()
        .map(|p| {
            let what = if p.has_users == Some(true) {
                "with its users and app clients"
            } else {
                "with its app clients"
            };
            Change::remove("user_pool", format!("{name} ({}) {what}", p.id))
        })
        .collect();
    with_strangers(base(Action::Delete).changes(changes))
}

impl Resource for UserPool {
    type Live = LivePool;
    type Work = PoolWork;
    type Teardown = ();
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    fn name(&self, stack: &Stack) -> String {
        pool_name(stack).to_string()
    }

    fn name_field(&self) -> &str {
        "stack.name"
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<LivePool, ()>>> {
        Box::pin(async move {
            let users = matches!(cx.purpose, Purpose::Status | Purpose::Teardown);
            let cognito = client(cx.clients);
            let teardown = matches!(cx.purpose, Purpose::Teardown);
            Ok(read_pool(&cognito, cx.stack, users, teardown).await?.into())
        })
    }

    fn arn<'l>(&self, live: &'l LivePool) -> Option<&'l str> {
        Some(&live.arn)
    }

    fn tags<'l>(&self, live: &'l LivePool) -> Option<&'l BTreeMap<String, String>> {
        Some(&live.tags)
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn outputs(&self, world: &World) -> Vec<crate::resources::Output> {
        // A pool that is not this deployment's (blocked) is never named: its issuer is not the stack's.
        let id = match world.live_of::<UserPool>(&self.at) {
            Some(l) if world.stack.owns(&l.tags) => Some(l.id.clone()),
            Some(_) => None,
            None => world.learnt(&self.at, "pool_id"),
        };
        let issuer = id.as_ref().map(|id| issuer(&world.stack.region, id));
        let jwks = id.as_ref().map(|id| jwks_url(world.clients, id));
        vec![
            crate::resources::Output::new("auth_user_pool_id", 40, id),
            crate::resources::Output {
                in_text: true,
                ..crate::resources::Output::new("auth_issuer", 42, issuer)
            },
            crate::resources::Output::new("auth_jwks_url", 43, jwks),
        ]
    }

    fn plan_up(&self, world: &World) -> Result<Planned<PoolWork>> {
        let stack = world.stack;
        Ok(plan_pool(
            stack,
            pool_name(stack),
            world.live_of::<UserPool>(&self.at),
        ))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a PoolWork,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            if *work == PoolWork::InSync {
                return Ok(None);
            }
            let name = pool_name(world.stack);
            let task = world.task(Kind::UserPool, name)?;
            let result = async {
                let out = client(world.clients)
                    .create_user_pool()
                    .pool_name(name)
                    .set_user_pool_tags(Some(world.stack.resource_tags().into_iter().collect()))
                    .send()
                    .await
                    .with_context(|| format!("creating user pool `{name}`"))?;
                let id = out
                    .user_pool()
                    .and_then(|p| p.id())
                    .context("CreateUserPool answered no pool id")?;
                world.set_output(&self.at, "pool_id", id.to_string());
                Ok("created")
            }
            .await;
            finish(&task, result)
        })
    }

    fn tag<'a>(
        &'a self,
        world: &'a World<'a>,
        live: &'a LivePool,
        tags: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            client(world.clients)
                .tag_resource()
                .resource_arn(&live.arn)
                .set_tags(Some(tags.clone().into_iter().collect()))
                .send()
                .await
                .with_context(|| format!("tagging user pool `{}`", live.id))?;
            Ok(())
        })
    }

    fn plan_down(&self, world: &World, live: &LivePool) -> Planned<()> {
        let stack = world.stack;
        Planned::only(plan_pool_down(
            stack,
            pool_name(stack),
            live,
            world.data.delete_data,
        ))
    }

    fn destroy<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let name = pool_name(world.stack);
            let live = world
                .live_of::<UserPool>(&self.at)
                .context("internal error: the user pool was not read")?;
            let task = world.task(Kind::UserPool, name)?;
            let result = async {
                let cognito = client(world.clients);
                let mut said = "deleted";
                for pool in std::iter::once(live).chain(live.twins.iter()) {
                    // Counted again just before: a user signed up since the plan is data too.
                    if !world.data.delete_data && has_users(&cognito, &pool.id).await? {
                        bail!(
                            "user pool `{name}` ({}) now holds users, made after it was read; it was \
                             not deleted: pass --delete-data",
                            pool.id
                        );
                    }
                    match cognito.delete_user_pool().user_pool_id(&pool.id).send().await {
                        Ok(_) => said = "deleted",
                        Err(err) if classify_sdk(&err) == ErrorClass::NotFound => {
                            said = "already gone"
                        }
                        Err(err) => {
                            return Err(anyhow::Error::new(err)
                                .context(format!("deleting user pool `{}`", pool.id)))
                        }
                    }
                }
                Ok(said)
            }
            .await;
            finish(&task, result)
        })
    }

    fn state(&self, world: &World, live: &LivePool) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::from([
            ("id".to_string(), live.id.clone()),
            ("owner".to_string(), world.owner_text(Some(&live.tags))),
        ]);
        if let Some(users) = live.has_users {
            shown.insert(
                "users".to_string(),
                if users { "yes" } else { "none" }.to_string(),
            );
        }
        if live.deletion_protection {
            shown.insert("deletion_protection".to_string(), "on".to_string());
        }
        shown
    }
}

/// A pool's issuer: `https://cognito-idp.<region>.amazonaws.com/<pool id>` (its tokens' `iss`).
pub fn issuer(region: &str, pool_id: &str) -> String {
    format!("https://cognito-idp.{region}.amazonaws.com/{pool_id}")
}

/// The pool's JWKS: the issuer's own, `<issuer>/.well-known/jwks.json` (where Cognito serves it, whatever
/// the machine's FIPS or dual-stack settings: a FIPS endpoint need not serve it). Only a configured
/// endpoint (`AWS_ENDPOINT_URL`, the service's own variable, a profile's `endpoint_url`: an emulator) moves
/// it, to `<that endpoint>/<pool id>/.well-known/jwks.json`.
pub fn jwks_url(clients: &Clients, pool_id: &str) -> String {
    let region = client(clients)
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    match configured_endpoint(clients) {
        Some(endpoint) => format!("{endpoint}/{pool_id}/.well-known/jwks.json"),
        None => format!("{}/.well-known/jwks.json", issuer(&region, pool_id)),
    }
}

/// The configured Cognito endpoint, as the SDK's default resolver gives it (FIPS and dual stack off: they
/// do not apply to a custom endpoint). None: no endpoint URL is configured.
pub fn configured_endpoint(clients: &Clients) -> Option<String> {
    use aws_sdk_cognitoidentityprovider::config::endpoint::{
        DefaultResolver, Params, ResolveEndpoint,
    };
    use futures::FutureExt;
    let config = client(clients).config().clone();
    let sdk = clients.sdk_config();
    // The endpoint URL as `config::Builder::from(&SdkConfig)` picks it: the service's own setting first.
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let url = std::env::var("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER")
        .ok()
        .filter(|u| !u.is_empty() && !ignored)
        .or_else(|| sdk.endpoint_url().map(str::to_string))?;
    let params = Params::builder()
        .set_region(config.region().map(|r| r.to_string()))
        .use_fips(false)
        .use_dual_stack(false)
        .endpoint(url.clone())
        .build()
        .ok()?;
    // The default resolver answers at once (its future is ready).
    let resolved = ResolveEndpoint::resolve_endpoint(&DefaultResolver::new(), &params)
        .now_or_never()
        .and_then(|r| r.ok())
        .map(|e| e.url().trim_end_matches('/').to_string());
    Some(resolved.unwrap_or_else(|| url.trim_end_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack() -> Stack {
        crate::resources::shipped_stack()
    }

    fn live(tags: &[(&str, &str)], users: Option<bool>) -> LivePool {
        LivePool {
            id: "us-east-1_abc".into(),
            arn: "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            deletion_protection: false,
            has_users: users,
            strangers: Vec::new(),
            twins: Vec::new(),
        }
    }

    #[test]
    fn a_missing_pool_is_created_an_untagged_one_blocked_an_owned_one_kept() {
        let stack = stack();
        assert_eq!(plan_pool(&stack, "p", None).work, PoolWork::Create);
        let stranger = plan_pool(&stack, "p", Some(&live(&[], None)));
        assert_eq!(stranger.plan.action, Action::Blocked);
        assert!(stranger.plan.note.unwrap().contains("us-east-1_abc"));
        let ours = live(&[("stackctl:stack", &stack.name)], None);
        assert_eq!(
            plan_pool(&stack, "p", Some(&ours)).plan.action,
            Action::NoOp
        );
    }

    #[test]
    fn down_keeps_users_unless_told_and_refuses_deletion_protection() {
        let stack = stack();
        let owner = [("stackctl:stack", stack.name.as_str())];
        let with_users = live(&owner, Some(true));
        assert_eq!(
            plan_pool_down(&stack, "p", &with_users, false).action,
            Action::Blocked
        );
        assert_eq!(
            plan_pool_down(&stack, "p", &with_users, true).action,
            Action::Delete
        );
        assert_eq!(
            plan_pool_down(&stack, "p", &live(&owner, Some(false)), false).action,
            Action::Delete
        );
        let protected = LivePool {
            deletion_protection: true,
            ..live(&owner, Some(false))
        };
        assert_eq!(
            plan_pool_down(&stack, "p", &protected, true).action,
            Action::Blocked
        );
        assert_eq!(
            plan_pool_down(&stack, "p", &live(&[], Some(false)), true).action,
            Action::Keep
        );
    }

    #[test]
    fn an_empty_page_with_a_pagination_token_counts_as_users() {
        use aws_sdk_cognitoidentityprovider::operation::list_users::ListUsersOutput;
        use aws_sdk_cognitoidentityprovider::types::UserType;
        let empty = ListUsersOutput::builder().build();
        assert!(!page_has_users(&empty));
        let more = ListUsersOutput::builder().pagination_token("next").build();
        assert!(
            page_has_users(&more),
            "an empty page with a token may hide users"
        );
        let one = ListUsersOutput::builder()
            .users(UserType::builder().username("u").build())
            .build();
        assert!(page_has_users(&one));
        let blank = ListUsersOutput::builder().pagination_token("").build();
        assert!(!page_has_users(&blank));
    }

    fn clients(fips: bool, endpoint: Option<&str>) -> Clients {
        let mut config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .use_fips(fips)
            .use_dual_stack(fips);
        if let Some(url) = endpoint {
            config = config.endpoint_url(url);
        }
        Clients::from_config(config.build())
    }

    /// The JWKS is the issuer's own on AWS, whatever the machine's FIPS and dual-stack settings (a FIPS
    /// endpoint need not serve it); only a configured endpoint (an emulator) moves it.
    #[test]
    fn the_jwks_is_the_issuers_unless_an_endpoint_is_configured() {
        let id = "us-east-1_abc";
        let at_issuer = format!("{}/.well-known/jwks.json", issuer("us-east-1", id));
        assert_eq!(jwks_url(&clients(false, None), id), at_issuer);
        assert_eq!(jwks_url(&clients(true, None), id), at_issuer);
        assert_eq!(
            jwks_url(&clients(true, Some("http://127.0.0.1:5000/")), id),
            format!("http://127.0.0.1:5000/{id}/.well-known/jwks.json")
        );
    }

    #[test]
    fn the_issuer_is_cognitos_form() {
        assert_eq!(
            issuer("eu-west-1", "eu-west-1_x"),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_x"
        );
    }
}
