//! Tokens for test users: `stackctl token` prints one, `smoke` with `[auth]` acts as two users. A `Minter`
//! knows one issuer that stackctl can mint for: the managed Cognito pool (`[auth] cognito = true`: its
//! admin API creates the user and signs in) or the offline issuer of `dev --auth local` (a key pair under
//! .stackctl/). An external issuer (`[auth] issuer = ...`) is somebody else's: stackctl cannot mint there.
//!
//! Each minter is one module of its own beside this one; this file only says what they all give.

pub mod cognito;
pub mod managed;

use anyhow::{Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};

pub mod local;

/// What a minter gives for one user.
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    /// The name the tokens were asked for (`--user`).
    pub user: String,
    /// The token's `sub`: the caller's id the handler uses as `userId`.
    pub sub: String,
    /// The token's `iss`.
    pub issuer: String,
    /// The API credential: `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// The ID token, where the issuer gives one (Cognito: for the frontend, never an API credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Seconds the access token is valid for from when it was minted.
    pub expires_in: u64,
    /// When the access token expires, RFC 3339 (UTC).
    pub expires_at: String,
}

/// Why no token can be minted for this stack (exit 2, nothing sent).
pub const NO_AUTH: &str = "the stack has no [auth]: its API takes no token (add [auth] with `cognito = true` for a \
     user pool stackctl manages, or run `stackctl dev --auth local` and use `stackctl token --local`)";
pub const EXTERNAL_ISSUER: &str = "[auth] names an external issuer; stackctl cannot mint its tokens (sign in \
     with that provider and use its access token; `stackctl token --local` mints for `dev --auth local`)";

/// An issuer stackctl can mint tokens for.
pub enum Minter {
    /// The stack's managed Cognito pool.
    Cognito(cognito::CognitoMinter),
    /// `dev --auth local`'s offline issuer (a key under the project's .stackctl/).
    Local(local::LocalMinter),
}

impl Minter {
    /// Tokens for `user`, made (and signed in) as needed.
    pub async fn mint(&self, user: &str) -> Result<Tokens> {
        match self {
            Minter::Cognito(pool) => pool.mint(user).await,
            Minter::Local(minter) => minter.mint(user),
        }
    }

    /// Deletes `user` where the issuer keeps users (smoke's test users); nothing for the offline issuer.
    pub async fn forget(&self, user: &str) -> Result<()> {
        match self {
            Minter::Cognito(pool) => pool.forget(user).await,
            // The offline issuer keeps no users: a name is all it needs.
            Minter::Local(_) => Ok(()),
        }
    }
}

/// Why `minter_for` gives none.
#[derive(Debug)]
pub enum CannotMint {
    /// No [auth]: nothing to mint for.
    NoAuth,
    /// An external issuer.
    External,
}

impl CannotMint {
    pub fn reason(&self) -> &'static str {
        match self {
            CannotMint::NoAuth => NO_AUTH,
            CannotMint::External => EXTERNAL_ISSUER,
        }
    }
}

/// The minter for `--local` (the offline issuer's key under the project's .stackctl/): needs no AWS.
/// Works with or without `[auth]`: the offline issuer is dev's, not the deployed function's.
pub fn local_minter(stack: &crate::config::Stack) -> Result<Minter, CannotMint> {
    Ok(Minter::Local(local::LocalMinter::new(&stack.file)))
}

/// The minter for the stack's `[auth]` (the managed pool), found through the deployed stack.
pub async fn minter_for(
    clients: &crate::aws::Clients,
    stack: &crate::config::Stack,
) -> Result<Result<Minter, CannotMint>> {
    if stack.auth.is_none() {
        return Ok(Err(CannotMint::NoAuth));
    }
    match managed::managed_pool(clients, stack).await? {
        Some(pool) => Ok(Ok(Minter::Cognito(cognito::CognitoMinter::new(
            clients, pool,
        )))),
        None if is_managed(stack) => Err(anyhow::anyhow!(
            "the stack's user pool does not exist yet: run `stackctl up` first"
        )),
        None => Ok(Err(CannotMint::External)),
    }
}

/// Whether `[auth]` asks for a pool stackctl manages (`cognito = true`).
fn is_managed(stack: &crate::config::Stack) -> bool {
    stack
        .auth
        .as_ref()
        .is_some_and(|auth| auth.managed.is_some())
}

/// A password for a test user: 40 characters from the OS's random source, with every class Cognito's
/// default policy asks for (upper, lower, digit, symbol). Never printed, never stored.
pub(crate) fn password() -> Result<String> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bytes = [0u8; 36];
    getrandom::getrandom(&mut bytes)
        .map_err(|err| anyhow::anyhow!("reading the OS's random source: {err}"))?;
    // 64 symbols: each byte's low six bits pick one without bias.
    let mut password: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 63)] as char)
        .collect();
    password.push_str("Aa1-");
    Ok(password)
}

/// The claims stackctl reads from a token it was just given (never to trust it: the handler verifies).
#[derive(Debug, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub iss: String,
    #[serde(default)]
    pub exp: Option<u64>,
}

/// A JWT's payload, decoded (not verified).
pub(crate) fn claims_of(token: &str) -> Result<Claims> {
    let payload = token
        .split('.')
        .nth(1)
        .context("the token is not a JWT (no payload part)")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .context("the token's payload is not base64url")?;
    serde_json::from_slice(&bytes).context("the token's payload is not the JSON claims expected")
}

/// RFC 3339 of the token's `exp`, else of now + `expires_in`.
pub(crate) fn expires_at(exp: Option<u64>, expires_in: u64) -> String {
    let at = match exp {
        Some(exp) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(exp),
        None => std::time::SystemTime::now() + std::time::Duration::from_secs(expires_in),
    };
    crate::dates::rfc3339_seconds(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_meet_cognitos_default_policy() {
        let a = password().unwrap();
        let b = password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 40);
        assert!(a.chars().any(|c| c.is_ascii_uppercase()));
        assert!(a.chars().any(|c| c.is_ascii_lowercase()));
        assert!(a.chars().any(|c| c.is_ascii_digit()));
        assert!(a.chars().any(|c| !c.is_ascii_alphanumeric()));
    }

    #[test]
    fn a_tokens_claims_are_read_without_trusting_it() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"abc","iss":"https://issuer.example","exp":1767225600}"#);
        let claims = claims_of(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims.sub, "abc");
        assert_eq!(claims.iss, "https://issuer.example");
        assert_eq!(expires_at(claims.exp, 0), "2026-01-01T00:00:00Z");
        assert!(claims_of("not-a-jwt").is_err());
    }
}
