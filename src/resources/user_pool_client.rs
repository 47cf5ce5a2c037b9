//! The managed pool's public app client: no secret (a browser cannot keep one), exactly the flows stackctl
//! and a browser need (`FLOWS`), and user-existence errors prevented. Found by its name in the pool
//! (ListUserPoolClients, every page); its settings are read with DescribeUserPoolClient and drift is
//! repaired with UpdateUserPoolClient, which resets every setting it is not given to its default: the
//! update sends the live client's whole configuration with stackctl's settings changed. It has no tags:
//! its pool's decide (`owned_with`). DeleteUserPool deletes it; down still deletes it first.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_cognitoidentityprovider::types::{
    ExplicitAuthFlowsType, PreventUserExistenceErrorTypes, UserPoolClientType,
};
use futures::future::BoxFuture;

use crate::aws::{classify_sdk, ErrorClass};
use crate::config::Stack;
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::resources::user_pool::{client, LivePool, UserPool};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Planned, Resource, NOT_OURS};

/// The client's explicit auth flows: SRP sign-in (browsers), refresh, and the admin password flow
/// (`stackctl token` and smoke mint test users' tokens with IAM credentials).
pub const FLOWS: [&str; 3] = [
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_SRP_AUTH",
];

/// The client as read.
#[derive(Debug, Clone)]
pub struct LiveClient {
    pub id: String,
    pub pool_id: String,
    /// Sorted.
    pub flows: Vec<String>,
    pub has_secret: bool,
    pub prevent_user_existence_errors: String,
    /// The whole described client, sent back on an update (UpdateUserPoolClient resets what it is not given).
    pub described: UserPoolClientType,
}

/// The app client's resource kind.
pub struct UserPoolClient {
    pub(crate) at: Address,
    pub(crate) pool: Address,
}

fn client_name(stack: &Stack) -> &str {
    stack
        .auth
        .as_ref()
        .and_then(|a| a.managed.as_ref())
        .map_or("", |m| m.client_name.as_str())
}

/// What up does to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientWork {
    InSync,
    Create,
    Update,
}

/// The differences between the live client and what stackctl wants (pure).
pub fn diff(live: &LiveClient) -> Vec<Change> {
    let mut changes = Vec::new();
    let wanted: Vec<String> = FLOWS.iter().map(|f| f.to_string()).collect();
    if live.flows != wanted {
        changes.push(Change::modify(
            "explicit_auth_flows",
            live.flows.join(", "),
            wanted.join(", "),
        ));
    }
    if live.prevent_user_existence_errors != "ENABLED" {
        changes.push(Change::modify(
            "prevent_user_existence_errors",
            &live.prevent_user_existence_errors,
            "ENABLED",
        ));
    }
    changes
}

/// up's plan for the client (pure). A client with a secret cannot lose it (GenerateSecret is set at
/// creation only): blocked, with the fix.
pub fn plan_client(name: &str, live: Option<&LiveClient>) -> Planned<ClientWork> {
    let base = |action| ResourcePlan::new(Kind::UserPoolClient, name, action);
    let Some(live) = live else {
        return Planned::new(
            base(Action::Create).changes(vec![
                Change::add("app_client", name),
                Change::add("generate_secret", "false"),
                Change::add("explicit_auth_flows", FLOWS.join(", ")),
                Change::add("prevent_user_existence_errors", "ENABLED"),
            ]),
            ClientWork::Create,
        );
    };
    if live.has_secret {
        return Planned::new(
            base(Action::Blocked).note(format!(
                "app client `{name}` ({}) has a secret, which a browser cannot keep and Cognito cannot \
                 remove: delete the client (the pool's App clients page), then run up again",
                live.id
            )),
            ClientWork::InSync,
        );
    }
    let changes = diff(live);
    if changes.is_empty() {
        Planned::new(base(Action::NoOp), ClientWork::InSync)
    } else {
        Planned::new(base(Action::Update).changes(changes), ClientWork::Update)
    }
}

/// The client named `name` in pool `pool_id`, described (None: none has the name).
pub async fn read_client(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    pool_id: &str,
    name: &str,
) -> Result<Option<LiveClient>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = match cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if classify_sdk(&err) == ErrorClass::NotFound => return Ok(None),
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context(format!("listing the app clients of user pool `{pool_id}`")))
            }
        };
        ids.extend(
            out.user_pool_clients()
                .iter()
                .filter(|c| c.client_name() == Some(name))
                .filter_map(|c| c.client_id().map(str::to_string)),
        );
        match out.next_token() {
            Some(next) if !next.is_empty() && Some(next) != token.as_deref() => {
                token = Some(next.to_string())
            }
            _ => break,
        }
    }
    let id = match ids.as_slice() {
        [] => return Ok(None),
        [id] => id,
        more => anyhow::bail!(
            "{} app clients of user pool `{pool_id}` are named `{name}` ({}): delete the others",
            more.len(),
            more.join(", ")
        ),
    };
    let out = match cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(err) if classify_sdk(&err) == ErrorClass::NotFound => return Ok(None),
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("describing app client `{id}`")))
        }
    };
    let described = out
        .user_pool_client()
        .with_context(|| format!("DescribeUserPoolClient of `{id}` answered no client"))?
        .clone();
    let mut flows: Vec<String> = described
        .explicit_auth_flows()
        .iter()
        .map(|f| f.as_str().to_string())
        .collect();
    flows.sort();
    Ok(Some(LiveClient {
        id: id.clone(),
        pool_id: pool_id.to_string(),
        flows,
        has_secret: described.client_secret().is_some_and(|s| !s.is_empty()),
        prevent_user_existence_errors: described
            .prevent_user_existence_errors()
            .map_or("LEGACY".to_string(), |p| p.as_str().to_string()),
        described,
    }))
}

/// A managed variable's value in a plan before the pool or client exists.
pub const KNOWN_AFTER_UP: &str = "(known after up)";

/// The function's variables for the managed pool (AUTH-CONTRACT): the pool's issuer, the client's id (the
/// handler then takes access tokens of that client only) and the pool's JWKS, where the SDK's endpoint
/// resolution puts Cognito for these clients. `KNOWN_AFTER_UP` for what does not exist yet.
pub fn managed_variables(
    clients: &crate::aws::Clients,
    region: &str,
    pool_id: Option<&str>,
    client_id: Option<&str>,
) -> Vec<(&'static str, String)> {
    use crate::config::{AUTH_CLIENT_ID_VARIABLE, AUTH_ISSUER_VARIABLE, AUTH_JWKS_URL_VARIABLE};
    use crate::resources::user_pool::{issuer, jwks_url};
    let or_later = |v: Option<String>| v.unwrap_or_else(|| KNOWN_AFTER_UP.to_string());
    vec![
        (
            AUTH_ISSUER_VARIABLE,
            or_later(pool_id.map(|id| issuer(region, id))),
        ),
        (
            AUTH_CLIENT_ID_VARIABLE,
            or_later(client_id.map(str::to_string)),
        ),
        (
            AUTH_JWKS_URL_VARIABLE,
            or_later(pool_id.map(|id| jwks_url(clients, id))),
        ),
    ]
}

fn flows() -> Vec<ExplicitAuthFlowsType> {
    FLOWS
        .iter()
        .map(|f| ExplicitAuthFlowsType::from(*f))
        .collect()
}

impl UserPoolClient {
    /// The pool's id: read, or learnt when this up created it.
    fn pool_id(&self, world: &World) -> Option<String> {
        world
            .live_of::<UserPool>(&self.pool)
            .map(|p| p.id.clone())
            .or_else(|| world.learnt(&self.pool, "pool_id"))
    }

    async fn converge(&self, world: &World<'_>, work: &ClientWork) -> Result<Done> {
        if *work == ClientWork::InSync {
            return Ok(None);
        }
        let name = client_name(world.stack);
        let task = world.task(Kind::UserPoolClient, name)?;
        let result = async {
            let cognito = client(world.clients);
            let pool_id = self
                .pool_id(world)
                .context("the user pool's id is not known: it was neither read nor created")?;
            match work {
                ClientWork::InSync => Ok("in sync"),
                ClientWork::Create => {
                    let out = cognito
                        .create_user_pool_client()
                        .user_pool_id(&pool_id)
                        .client_name(name)
                        .generate_secret(false)
                        .set_explicit_auth_flows(Some(flows()))
                        .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
                        .send()
                        .await
                        .with_context(|| format!("creating app client `{name}`"))?;
                    let id = out
                        .user_pool_client()
                        .and_then(|c| c.client_id())
                        .context("CreateUserPoolClient answered no client id")?;
                    world.set_output(&self.at, "client_id", id.to_string());
                    Ok("created")
                }
                ClientWork::Update => {
                    let live = world
                        .live_of::<UserPoolClient>(&self.at)
                        .context("internal error: the app client was not read")?;
                    update(&cognito, live).await?;
                    Ok("updated")
                }
            }
        }
        .await;
        finish(&task, result)
    }
}

/// UpdateUserPoolClient with the live client's whole configuration and stackctl's settings: Cognito sets
/// every setting the request leaves out to its default.
async fn update(
    cognito: &aws_sdk_cognitoidentityprovider::Client,
    live: &LiveClient,
) -> Result<()> {
    let c = &live.described;
    cognito
        .update_user_pool_client()
        .user_pool_id(&live.pool_id)
        .client_id(&live.id)
        .set_client_name(c.client_name().map(str::to_string))
        .set_refresh_token_validity(Some(c.refresh_token_validity()).filter(|v| *v > 0))
        .set_access_token_validity(c.access_token_validity())
        .set_id_token_validity(c.id_token_validity())
        .set_token_validity_units(c.token_validity_units().cloned())
        .set_read_attributes(Some(c.read_attributes().to_vec()).filter(|v| !v.is_empty()))
        .set_write_attributes(Some(c.write_attributes().to_vec()).filter(|v| !v.is_empty()))
        .set_explicit_auth_flows(Some(flows()))
        .set_supported_identity_providers(
            Some(c.supported_identity_providers().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_callback_urls(Some(c.callback_urls().to_vec()).filter(|v| !v.is_empty()))
        .set_logout_urls(Some(c.logout_urls().to_vec()).filter(|v| !v.is_empty()))
        .set_default_redirect_uri(c.default_redirect_uri().map(str::to_string))
        .set_allowed_o_auth_flows(Some(c.allowed_o_auth_flows().to_vec()).filter(|v| !v.is_empty()))
        .set_allowed_o_auth_scopes(
            Some(c.allowed_o_auth_scopes().to_vec()).filter(|v| !v.is_empty()),
        )
        .set_allowed_o_auth_flows_user_pool_client(c.allowed_o_auth_flows_user_pool_client())
        .set_analytics_configuration(c.analytics_configuration().cloned())
        .prevent_user_existence_errors(PreventUserExistenceErrorTypes::Enabled)
        .set_enable_token_revocation(c.enable_token_revocation())
        .set_enable_propagate_additional_user_context_data(
            c.enable_propagate_additional_user_context_data(),
        )
        .set_auth_session_validity(c.auth_session_validity())
        .set_refresh_token_rotation(c.refresh_token_rotation().cloned())
        .send()
        .await
        .with_context(|| format!("updating app client `{}`", live.id))?;
    Ok(())
}

impl Resource for UserPoolClient {
    type Live = LiveClient;
    type Work = ClientWork;
    type Teardown = ();
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    fn depends_on(&self) -> Vec<Dep> {
        vec![Dep::Applied(self.pool.clone())]
    }

    fn name(&self, stack: &Stack) -> String {
        client_name(stack).to_string()
    }

    fn name_field(&self) -> &str {
        "stack.name"
    }

    fn owned_with(&self) -> Option<&Address> {
        Some(&self.pool)
    }

    fn read_after(&self, _: crate::resources::Purpose, _: &Stack) -> Vec<Address> {
        vec![self.pool.clone()]
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<LiveClient, ()>>> {
        Box::pin(async move {
            // Only the stack's own pool's clients are read: another owner's pool is blocked whatever its
            // clients are, and the deploy policy reads clients only in pools tagged as the stack's (a
            // client's description holds its secret).
            let Some(pool) = cx
                .live_of::<UserPool>(&self.pool)
                .filter(|p| cx.stack.owns(&p.tags))
            else {
                return Ok(None.into());
            };
            let cognito = client(cx.clients);
            Ok(read_client(&cognito, &pool.id, client_name(cx.stack))
                .await?
                .into())
        })
    }

    fn arn<'l>(&self, _: &'l LiveClient) -> Option<&'l str> {
        None
    }

    fn tags<'l>(&self, _: &'l LiveClient) -> Option<&'l BTreeMap<String, String>> {
        None // an app client has none; its pool's decide
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    fn outputs(&self, world: &World) -> Vec<crate::resources::Output> {
        // Nothing in a pool that is not this deployment's (blocked) is named.
        let foreign = world
            .live_of::<UserPool>(&self.pool)
            .is_some_and(|p| !world.stack.owns(&p.tags));
        let id = world
            .live_of::<UserPoolClient>(&self.at)
            .map(|c| c.id.clone())
            .or_else(|| world.learnt(&self.at, "client_id"))
            .filter(|_| !foreign);
        vec![crate::resources::Output::new("auth_client_id", 41, id)]
    }

    fn plan_up(&self, world: &World) -> Result<Planned<ClientWork>> {
        let name = client_name(world.stack);
        // A pool stackctl did not create is never used: nor is anything in it (another deployment's pool
        // blocks through `owned_with`; an untagged one here).
        if let Some(pool) = world
            .live_of::<UserPool>(&self.pool)
            .filter(|p| !world.stack.owns(&p.tags))
        {
            let plan =
                ResourcePlan::new(Kind::UserPoolClient, name, Action::Blocked).note(format!(
                    "its user pool `{}` is not this stack's: nothing in it is created or changed",
                    pool.id
                ));
            return Ok(Planned::new(plan, ClientWork::InSync));
        }
        Ok(plan_client(name, world.live_of::<UserPoolClient>(&self.at)))
    }

    fn apply<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a ClientWork,
    ) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.converge(world, work))
    }

    fn plan_down(&self, world: &World, live: &LiveClient) -> Planned<()> {
        let name = client_name(world.stack);
        let base = |action| ResourcePlan::new(Kind::UserPoolClient, name, action);
        let owned = world
            .live_of::<UserPool>(&self.pool)
            .is_some_and(|p: &LivePool| world.stack.owns(&p.tags));
        Planned::only(if owned {
            base(Action::Delete).changes(vec![Change::remove(
                "app_client",
                format!("{name} ({})", live.id),
            )])
        } else {
            base(Action::Keep).note(NOT_OURS)
        })
    }

    fn destroy<'a>(&'a self, world: &'a World<'a>, _: &'a ()) -> BoxFuture<'a, Result<Done>> {
        Box::pin(async move {
            let live = world
                .live_of::<UserPoolClient>(&self.at)
                .context("internal error: the app client was not read")?;
            let task = world.task(Kind::UserPoolClient, client_name(world.stack))?;
            let result =
                match client(world.clients)
                    .delete_user_pool_client()
                    .user_pool_id(&live.pool_id)
                    .client_id(&live.id)
                    .send()
                    .await
                {
                    Ok(_) => Ok("deleted"),
                    Err(err) if classify_sdk(&err) == ErrorClass::NotFound => Ok("already gone"),
                    Err(err) => Err(anyhow::Error::new(err)
                        .context(format!("deleting app client `{}`", live.id))),
                };
            finish(&task, result)
        })
    }

    fn state(&self, _: &World, live: &LiveClient) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("id".to_string(), live.id.clone()),
            ("explicit_auth_flows".to_string(), live.flows.join(", ")),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(flows: &[&str], prevent: &str, secret: bool) -> LiveClient {
        let mut flows: Vec<String> = flows.iter().map(|f| f.to_string()).collect();
        flows.sort();
        LiveClient {
            id: "c1".into(),
            pool_id: "p1".into(),
            flows,
            has_secret: secret,
            prevent_user_existence_errors: prevent.into(),
            described: UserPoolClientType::builder().build(),
        }
    }

    #[test]
    fn a_client_as_wanted_is_in_sync() {
        let c = live(&FLOWS, "ENABLED", false);
        assert_eq!(plan_client("n", Some(&c)).plan.action, Action::NoOp);
        assert_eq!(plan_client("n", None).work, ClientWork::Create);
    }

    #[test]
    fn drifted_flows_and_existence_errors_are_updated() {
        let c = live(
            &["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "LEGACY",
            false,
        );
        let planned = plan_client("n", Some(&c));
        assert_eq!(planned.work, ClientWork::Update);
        let fields: Vec<&str> = planned
            .plan
            .changes
            .iter()
            .map(|c| c.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["explicit_auth_flows", "prevent_user_existence_errors"]
        );
    }

    #[test]
    fn a_client_with_a_secret_is_blocked() {
        let c = live(&FLOWS, "ENABLED", true);
        assert_eq!(plan_client("n", Some(&c)).plan.action, Action::Blocked);
    }
}
