//! Tokens for test users: `stackctl token` prints one, `smoke` with `[auth]` acts as two users. A `Minter`
//! knows one issuer that stackctl can mint for: the managed Cognito pool (`[auth] cognito = true`: its
//! admin API creates the user and signs in) or the offline issuer of `dev --auth local` (a key pair under
//! .stackctl/). An external issuer (`[auth] issuer = ...`) is somebody else's: stackctl cannot mint there.
//!
//! Each minter is one module of its own beside this one; this file only says what they all give.

use serde::Serialize;

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
    /// `dev --auth local`'s offline issuer (a key under the project's .stackctl/).
    Local(local::LocalMinter),
}

impl Minter {
    /// Tokens for `user`, made (and signed in) as needed.
    pub async fn mint(&self, user: &str) -> anyhow::Result<Tokens> {
        match self {
            Minter::Local(minter) => minter.mint(user),
        }
    }

    /// Deletes `user` where the issuer keeps users (smoke's test users); nothing for the offline issuer.
    #[allow(dead_code)] // smoke's test users (next commits)
    pub async fn forget(&self, _user: &str) -> anyhow::Result<()> {
        match self {
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
    _clients: &crate::aws::Clients,
    stack: &crate::config::Stack,
) -> anyhow::Result<Result<Minter, CannotMint>> {
    Ok(match &stack.auth {
        None => Err(CannotMint::NoAuth),
        Some(_) => Err(CannotMint::External),
    })
}
