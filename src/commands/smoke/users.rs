//! smoke's two test users with `[auth]`: minted before the first request (made in the stack's pool, signed
//! in), and deleted after the cleanup, also when the run failed or was interrupted (the first Ctrl-C or
//! SIGTERM stops the steps, not the cleanup). Their names are random per run, so two runs never share one.

use anyhow::Result;
use serde::Serialize;

use crate::identity::{Minter, Tokens};
use crate::progress::Progress;

pub(super) struct TestUsers {
    minter: Minter,
    pub(super) first: Tokens,
    pub(super) second: Tokens,
}

/// What became of one test user.
#[derive(Debug, Clone, Serialize)]
pub struct TestUserReport {
    pub name: String,
    /// Its `sub`: the userId its items were stored under.
    pub sub: String,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TestUsers {
    /// Mints `<base>-1` and `<base>-2`; when the second fails, the first is deleted again (a deletion that
    /// fails is named in the error, never swallowed).
    pub(super) async fn sign_in(
        minter: Minter,
        base: &str,
        progress: &Progress,
    ) -> Result<TestUsers> {
        // An interrupt before the first user exists makes none.
        crate::interrupt::check("signing in smoke's test users")?;
        let task = progress.task("smoke test users");
        task.set("signing in two test users");
        let names = [format!("{base}-1"), format!("{base}-2")];
        let mut minted: Vec<Tokens> = Vec::new();
        for name in &names {
            match minter.mint(name).await {
                Ok(tokens) => minted.push(tokens),
                Err(err) => {
                    task.fail("could not sign in a test user");
                    // The user may exist without its tokens (a sign-in that failed after the create).
                    let mut left = Vec::new();
                    for made in names.iter().take(minted.len() + 1) {
                        if let Err(why) = minter.forget(made).await {
                            left.push(format!("{made} ({why:#})"));
                        }
                    }
                    return Err(if left.is_empty() {
                        err
                    } else {
                        err.context(format!(
                            "and these test users could not be deleted: {}",
                            left.join(", ")
                        ))
                    });
                }
            }
        }
        let second = minted.pop().expect("two users");
        let first = minted.pop().expect("two users");
        task.finish(&format!(
            "{} and {} (deleted at the end; a second interrupt would leave them)",
            first.user, second.user
        ));
        Ok(TestUsers {
            minter,
            first,
            second,
        })
    }

    /// Deletes both users; each failure is reported, never hidden.
    pub(super) async fn delete(&self, progress: &Progress) -> Vec<TestUserReport> {
        let task = progress.task("smoke test users");
        task.set("deleting the test users");
        let mut reports = Vec::new();
        for tokens in [&self.first, &self.second] {
            let result = self.minter.forget(&tokens.user).await;
            reports.push(TestUserReport {
                name: tokens.user.clone(),
                sub: tokens.sub.clone(),
                deleted: result.is_ok(),
                error: result.err().map(|err| format!("{err:#}")),
            });
        }
        if reports.iter().all(|r| r.deleted) {
            task.finish("both test users deleted");
        } else {
            task.fail("a test user was NOT deleted");
        }
        reports
    }
}
