//! Test users in the stack's managed Cognito pool (`[auth] cognito = true`): `stackctl token --user` and
//! smoke's two users. A user is made on first use with the admin API and no message sent (it has no email);
//! each mint sets a fresh random password (never printed, never stored: the next mint sets another) and
//! signs in with the admin password flow (ALLOW_ADMIN_USER_PASSWORD_AUTH, which the stack's app client
//! allows; it needs the caller's IAM credentials, so nobody without them can use it). The tokens are the
//! pool's own: the access token is what the API takes.

use anyhow::{anyhow, Context, Result};
use aws_sdk_cognitoidentityprovider as cognito;
use cognito::types::{AuthFlowType, MessageActionType};

use super::managed::ManagedPool;
use super::Tokens;
use crate::aws::errors::classify_sdk_with;
use crate::aws::{Clients, ErrorClass};

/// Cognito's answer for a user that does not exist.
const USER_NOT_FOUND: &[&str] = &["UserNotFoundException"];

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

    /// Tokens for `user`: made if new, a fresh password, signed in.
    pub async fn mint(&self, user: &str) -> Result<Tokens> {
        let pool = &self.pool.pool_id;
        let exists = match self
            .client
            .admin_get_user()
            .user_pool_id(pool)
            .username(user)
            .send()
            .await
        {
            Ok(_) => true,
            Err(err) => match classify_sdk_with(&err, USER_NOT_FOUND) {
                ErrorClass::NotFound => false,
                _ => {
                    return Err(anyhow!(cognito::Error::from(err)))
                        .with_context(|| format!("reading user {user} of pool {pool}"))
                }
            },
        };
        if !exists {
            self.client
                .admin_create_user()
                .user_pool_id(pool)
                .username(user)
                // No invitation: the user has no email or phone, and nobody is to be told.
                .message_action(MessageActionType::Suppress)
                .send()
                .await
                .map_err(cognito::Error::from)
                .with_context(|| format!("creating test user {user} in pool {pool}"))?;
        }
        let password = super::password()?;
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
            .with_context(|| format!("setting test user {user}'s password in pool {pool}"))?;
        let signed_in = self
            .client
            .admin_initiate_auth()
            .user_pool_id(pool)
            .client_id(&self.pool.client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", user)
            .auth_parameters("PASSWORD", &password)
            .send()
            .await
            .map_err(cognito::Error::from)
            .with_context(|| format!("signing in test user {user} to pool {pool}"))?;
        if let Some(challenge) = signed_in.challenge_name() {
            return Err(anyhow!(
                "signing in test user {user} to pool {pool}: Cognito asks for {challenge} \
                 (the pool requires more than a password, e.g. MFA): stackctl's test users need a pool \
                 that signs in with a password alone"
            ));
        }
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
