//! `stackctl token --user NAME [--local]`: an access token for a test user, for `curl`, a frontend or a
//! script (`Authorization: Bearer $(stackctl token --user alice)`). The text output is the access token alone;
//! `--output json` gives both tokens, the user's `sub` and the expiry. Who mints is identity/'s business.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::aws::Clients;
use crate::config::Stack;
use crate::identity::{self, CannotMint, Minter, Tokens};
use crate::outcome::{fields_of, Body, Envelope, ExitStatus, Outcome};

/// `token`'s result: the tokens, or why none could be minted (exit 2, nothing sent).
#[derive(Serialize)]
pub struct TokenReport {
    #[serde(skip)]
    envelope: Envelope,
    /// `managed` (the stack's Cognito pool) or `local` (`dev --auth local`'s offline issuer).
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer_kind: Option<&'static str>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    tokens: Option<Tokens>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_minted: Option<&'static str>,
}

impl Body for TokenReport {
    fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    fn text(&self, _color: bool) -> String {
        match (&self.tokens, self.not_minted) {
            // Alone on its line, so `$(stackctl token --user alice)` is the token.
            (Some(tokens), _) => tokens.access_token.clone(),
            (None, Some(reason)) => format!("no token: {reason}"),
            (None, None) => String::new(),
        }
    }

    fn fields(&self) -> serde_json::Result<serde_json::Map<String, serde_json::Value>> {
        fields_of(self)
    }
}

/// `token --local`: the offline issuer; no AWS client is made.
pub async fn run_local(stack: &Stack, user: &str) -> Result<Outcome> {
    let started = Instant::now();
    let minter = identity::local_minter(stack);
    report(None, stack, minter, "local", user, started).await
}

/// `token`: the stack's managed pool.
pub async fn run(clients: &Clients, stack: &Stack, user: &str) -> Result<Outcome> {
    let started = Instant::now();
    let minter = identity::minter_for(clients, stack).await?;
    report(Some(clients), stack, minter, "managed", user, started).await
}

async fn report(
    clients: Option<&Clients>,
    stack: &Stack,
    minter: Result<Minter, CannotMint>,
    kind: &'static str,
    user: &str,
    started: Instant,
) -> Result<Outcome> {
    let (tokens, not_minted, status) = match minter {
        Ok(minter) => (Some(minter.mint(user).await?), None, ExitStatus::Ok),
        Err(cannot) => (None, Some(cannot.reason()), ExitStatus::Pending),
    };
    let calls = clients.map(|c| c.calls.snapshot()).unwrap_or_default();
    let envelope = Envelope::new("token", stack, calls, started.elapsed());
    let issuer_kind = tokens.as_ref().map(|_| kind);
    Ok(Outcome::result(
        TokenReport {
            envelope,
            issuer_kind,
            tokens,
            not_minted,
        },
        status,
    ))
}
