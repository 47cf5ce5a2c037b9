//! Test users in the stack's managed Cognito pool (`[auth] cognito = true`): `stackctl token --user` and
//! smoke's two users. A user is made on first use with the admin API and no message sent (it has no email);
//! each mint sets a fresh random password (never printed, never stored: the next mint sets another) and
//! signs in with the admin password flow (ALLOW_ADMIN_USER_PASSWORD_AUTH, which the stack's app client
//! allows; it needs the caller's IAM credentials, so nobody without them can use it). The tokens are the
//! pool's own: the access token is what the API takes.

use anyhow::{anyhow, Context, Result};
use aws_sdk_cognitoidentityprovider as cognito;
use cognito::types::{AttributeType, AuthFlowType, MessageActionType};

use super::managed::ManagedPool;
use super::Tokens;
use crate::aws::errors::classify_sdk_with;
use crate::aws::{Clients, ErrorClass};

/// Cognito's answer for a user that does not exist.
const USER_NOT_FOUND: &[&str] = &["UserNotFoundException"];

/// The standard attribute that marks a user stackctl made (`token`, smoke): only those get a new password.
/// A person who sets it on their own account only lets the operator, who holds admin rights anyway, reset it.
pub const TEST_USER_ATTRIBUTE: &str = "profile";
pub const TEST_USER_MARK: &str = "stackctl:test-user";

/// How often a sign-in that raced a concurrent mint of the same user is tried.
const SIGN_IN_ATTEMPTS: u32 = 6;

/// Why a sign-in did not give tokens: `Raced` (the password changed under us) is tried again.
enum SignIn {
    Raced(anyhow::Error),
    Failed(anyhow::Error),
}

fn not_ours(user: &str, pool: &str) -> anyhow::Error {
    anyhow!(
        "user `{user}` exists in pool {pool} and stackctl did not make it (it has no `{TEST_USER_ATTRIBUTE} = \
         {TEST_USER_MARK}`): stackctl never sets the password of a user it did not create, which would lock \
         that person out. Pick another --user name"
    )
}

pub struct CognitoMinter {
    client: cognito::Client,
    pool: ManagedPool,
}

impl CognitoMinter {
    pub fn new(clients: &Clients, pool: ManagedPool) -> CognitoMinter {
        CognitoMinter {
            client: crate::aws::client!(clients, aws_sdk_cognitoidentityprovider),
            pool,
        }
    }

    /// Tokens for `user`: made if new, a fresh password, signed in. A user stackctl did not make (no
    /// `TEST_USER_MARK`) is refused: setting a password would lock a real person out of their account.
    pub async fn mint(&self, user: &str) -> Result<Tokens> {
        self.ensure_test_user(user).await?;
        // Each mint sets a new password: a concurrent mint of the same user may change it between our set
        // and our sign-in (NotAuthorizedException). Set and sign in again, after a short random pause.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.sign_in(user).await {
                Ok(tokens) => return Ok(tokens),
                Err(SignIn::Raced(err)) if attempt < SIGN_IN_ATTEMPTS => {
                    tracing::debug!("sign-in of {user} raced another mint ({err}); again");
                    let pause = 50 + (crate::random::unit() * 200.0 * f64::from(attempt)) as u64;
                    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                }
                Err(SignIn::Raced(err)) | Err(SignIn::Failed(err)) => return Err(err),
            }
        }
    }

    /// Makes `user` as a test user (marked), or checks that the existing one is one.
    async fn ensure_test_user(&self, user: &str) -> Result<()> {
        let pool = &self.pool.pool_id;
        if self.is_test_user(user).await? == Some(true) {
            return Ok(());
        }
        if self.is_test_user(user).await? == Some(false) {
            return Err(not_ours(user, pool));
        }
        let created = self
            .client
            .admin_create_user()
            .user_pool_id(pool)
            .username(user)
            .user_attributes(
                AttributeType::builder()
                    .name(TEST_USER_ATTRIBUTE)
                    .value(TEST_USER_MARK)
                    .build()
                    .context("the test user's mark")?,
            )
            // No invitation: the user has no email or phone, and nobody is to be told.
            .message_action(MessageActionType::Suppress)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_username_exists_exception()) =>
            {
                // Made meanwhile (a concurrent mint, or a sign-up): ours only if it carries the mark.
                match self.is_test_user(user).await? {
                    Some(true) => Ok(()),
                    _ => Err(not_ours(user, pool)),
                }
            }
            Err(err) => Err(anyhow!(cognito::Error::from(err)))
                .with_context(|| format!("creating test user {user} in pool {pool}")),
        }
    }

    /// Whether `user` exists and carries the test-user mark; None: no such user.
    async fn is_test_user(&self, user: &str) -> Result<Option<bool>> {
        let pool = &self.pool.pool_id;
        match self
            .client
            .admin_get_user()
            .user_pool_id(pool)
            .username(user)
            .send()
            .await
        {
            Ok(found) => Ok(Some(found.user_attributes().iter().any(|a| {
                a.name() == TEST_USER_ATTRIBUTE && a.value() == Some(TEST_USER_MARK)
            }))),
            Err(err) => match classify_sdk_with(&err, USER_NOT_FOUND) {
                ErrorClass::NotFound => Ok(None),
                _ => Err(anyhow!(cognito::Error::from(err)))
                    .with_context(|| format!("reading user {user} of pool {pool}")),
            },
        }
    }

    /// A fresh password, then the admin password flow.
    async fn sign_in(&self, user: &str) -> std::result::Result<Tokens, SignIn> {
        let pool = &self.pool.pool_id;
        let password = super::password().map_err(SignIn::Failed)?;
        self.client
            .admin_set_user_password()
            .user_pool_id(pool)
            .username(user)
            .password(&password)
            // Permanent: no "new password required" challenge at sign-in.
            .permanent(true)
            .send()
            .await
            .map_err(cognito::Error::from)
            .with_context(|| format!("setting test user {user}'s password in pool {pool}"))
            .map_err(SignIn::Failed)?;
        let signed_in = self
            .client
            .admin_initiate_auth()
            .user_pool_id(pool)
            .client_id(&self.pool.client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", user)
            .auth_parameters("PASSWORD", &password)
            .send()
            .await;
        let signed_in = match signed_in {
            Ok(answer) => answer,
            Err(err) => {
                let raced = err
                    .as_service_error()
                    .is_some_and(|e| e.is_not_authorized_exception());
                let err = anyhow!(cognito::Error::from(err))
                    .context(format!("signing in test user {user} to pool {pool}"));
                return Err(if raced {
                    SignIn::Raced(err)
                } else {
                    SignIn::Failed(err)
                });
            }
        };
        if let Some(challenge) = signed_in.challenge_name() {
            return Err(SignIn::Failed(anyhow!(
                "signing in test user {user} to pool {pool}: Cognito asks for {challenge} \
                 (the pool requires more than a password, e.g. MFA): stackctl's test users need a pool \
                 that signs in with a password alone"
            )));
        }
        let tokens = || -> Result<Tokens> {
            let result = signed_in
                .authentication_result()
                .context("Cognito answered the sign-in without tokens")?;
            let access_token = result
                .access_token()
                .context("Cognito answered the sign-in without an access token")?
                .to_string();
            let claims = super::claims_of(&access_token)?;
            let expires_in = u64::try_from(result.expires_in()).unwrap_or(0);
            Ok(Tokens {
                user: user.to_string(),
                sub: claims.sub,
                issuer: claims.iss,
                access_token,
                id_token: result.id_token().map(str::to_string),
                expires_in,
                expires_at: super::expires_at(claims.exp, expires_in),
            })
        };
        tokens().map_err(SignIn::Failed)
    }

    /// Deletes `user` (smoke's test users); one already gone is fine.
    pub async fn forget(&self, user: &str) -> Result<()> {
        match self
            .client
            .admin_delete_user()
            .user_pool_id(&self.pool.pool_id)
            .username(user)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => match classify_sdk_with(&err, USER_NOT_FOUND) {
                ErrorClass::NotFound => Ok(()),
                _ => Err(anyhow!(cognito::Error::from(err))).with_context(|| {
                    format!("deleting test user {user} of pool {}", self.pool.pool_id)
                }),
            },
        }
    }
}
