//! `stackctl smoke`: the tutorial's request sequence (plus PATCH, a missing item, requests missing a
//! parameter and a body that is not JSON) sent as API Gateway HTTP API (v2) events, each answer checked
//! against what the handler promises, with a throwaway userId and a cleanup that deletes every item the run
//! created, also when a step fails or the run is interrupted (Ctrl-C, SIGTERM): through the function, then
//! confirmed by listing again, with DynamoDB DeleteItem (stackctl's own client) for whatever is left.
//! The same sequence and checks run against the deployed function (Lambda Invoke) or, with `--local`, the
//! built handler in the local Node.js (see handler/transport.rs). `--local` then also sends the tutorial's
//! own hand-written test events (lambda/events/tutorial-*.json, with only `requestContext.http`,
//! `queryStringParameters` and `body`), which the handler must answer as the tutorial says.

//! With `[auth]` every request carries a test user's token: smoke signs in two users (users.rs), runs the
//! sequence as the first, then the isolation steps (isolation.rs: the second user cannot read, change or
//! delete the first one's item; no token and a tampered token are 401s), cleans up as each user and deletes
//! both users. For an issuer stackctl cannot mint tokens for, it refuses (not_run.rs).
//!
//! Its parts: scenario.rs (the sequence and its session), checks.rs (what each answer must be), cleanup.rs
//! (deleting what the run created), report.rs (the result as text or JSON).

mod checks;
mod cleanup;
mod isolation;
mod not_run;
mod report;
mod scenario;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_auth;
mod users;

use std::time::Instant;

use anyhow::Result;

use crate::aws::Clients;
use crate::config::Stack;
use crate::handler::event::CorsCheck;
use crate::handler::random_hex;
use crate::handler::transport::{Transport, Via};
use crate::identity;
use crate::outcome::{Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use cleanup::{cleanup, Cleanup, DirectDelete};
use isolation::{isolation, Second, AUTH_STEPS};
use report::{SmokeReport, StepResult, StepSummary, Verdict};
use scenario::{sequence, tutorial_sequence, Caller, Session, STEPS, TUTORIAL_STEPS};
use users::TestUsers;

/// `--auth local` sends the offline issuer's tokens: only to a loopback BASE_URL (a `dev --auth local` on
/// this machine), never to the deployed URL or another host. Bad input (exit 64), before anything is sent.
fn local_tokens_target(stack: &Stack, via: &Via) -> Result<(), crate::config::ConfigError> {
    let base = match via {
        Via::Url {
            base: Some(base), ..
        } => Some(base.as_str()),
        _ => None,
    };
    let loopback = base
        .and_then(|b| url::Url::parse(b).ok())
        .is_some_and(|u| match u.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        });
    if loopback {
        return Ok(());
    }
    Err(crate::config::ConfigError {
        file: stack.file.clone(),
        position: None,
        field: Some("--auth".into()),
        message: format!(
            "`--auth local` sends tokens of this project's offline issuer, which stay on this machine; {} is \
             not a loopback address",
            base.map_or("the deployed URL".to_string(), |b| format!("`{b}`"))
        ),
        fix: Some(
            "point --url at your `stackctl dev --auth local` (e.g. --url=http://127.0.0.1:3000), or leave \
             out --auth local to use the stack's [auth]"
                .into(),
        ),
    })
}

/// How many steps a run has: the sequence, the tutorial's events (`--local` without `[auth]`: they carry no
/// token), the isolation steps (with `[auth]`).
fn total_steps(tutorial_events: bool, auth: bool) -> usize {
    STEPS + if tutorial_events { TUTORIAL_STEPS } else { 0 } + if auth { AUTH_STEPS } else { 0 }
}

/// Runs the sequence (and, with `tutorial_events`, the tutorial's hand-written events; with `users`, as the
/// first user, then the isolation steps) and the cleanup over `transport` (as each user). An interrupt
/// (Ctrl-C, SIGTERM) stops the sequence but not the cleanup; a second one stops everything at once (see
/// interrupt.rs).
async fn run_sequence(
    transport: &mut Transport,
    progress: &Progress,
    user: String,
    direct: Option<&DirectDelete>,
    cors: &CorsCheck,
    tutorial_events: bool,
    users: Option<(&identity::Tokens, &identity::Tokens)>,
) -> (Vec<StepResult>, Cleanup, bool) {
    let caller = |label: &'static str, tokens: &identity::Tokens| Caller {
        label,
        token: Some(tokens.access_token.clone()),
    };
    let first = users.map(|(a, _)| caller("first user", a));
    let second = users.map(|(_, b)| caller("second user", b));
    let mut session = Session {
        transport,
        total: total_steps(tutorial_events, users.is_some()),
        progress,
        user,
        steps: Vec::new(),
        seen: Vec::new(),
        interrupted: false,
        cors,
        caller: first.clone(),
    };
    sequence(&mut session).await;
    if tutorial_events {
        tutorial_sequence(&mut session).await;
    }
    let mut second_seen = Vec::new();
    if let (Some((_, b)), Some(first), Some(second)) = (users, &first, &second) {
        let second = Second {
            caller: second,
            sub: &b.sub,
            seen: &mut second_seen,
        };
        isolation(&mut session, first, second).await;
    }
    let interrupted = session.stop_requested();
    if interrupted {
        progress.warn(
            "interrupted: cleaning up the items created so far (interrupt again to stop at once)",
        );
    }
    session.caller = first;
    let mut result = cleanup(&mut session, direct).await;
    if let (Some((_, b)), Some(second)) = (users, second) {
        // The second user's items, listed and deleted as that user.
        session.user = b.sub.clone();
        session.seen = second_seen;
        session.caller = Some(second);
        let more = cleanup(&mut session, direct).await;
        result.deleted.extend(more.deleted);
        result.deleted_directly.extend(more.deleted_directly);
        result.failed.extend(more.failed);
    }
    (session.steps, result, interrupted)
}

fn summarize(steps: &[StepResult]) -> StepSummary {
    let count = |v: Verdict| steps.iter().filter(|s| s.result == v).count();
    StepSummary {
        passed: count(Verdict::Pass),
        failed: count(Verdict::Fail),
        skipped: count(Verdict::Skip),
    }
}

/// `stackctl smoke [--local]`: exit 0 only when every step passed and the cleanup deleted everything.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    via: &Via,
    local_tokens: bool,
    profile: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    let started = Instant::now();
    let minter = if local_tokens {
        // `--auth local`: against `dev --auth local`, whose handler takes the offline issuer's tokens. They
        // are valid for an hour at any `dev --auth local` of the project: never sent off this machine.
        local_tokens_target(stack, via)?;
        match identity::local_minter(stack) {
            Ok(minter) => Some(minter),
            Err(cannot) => anyhow::bail!("{}", cannot.reason()),
        }
    } else {
        match &stack.auth {
            None => None,
            Some(_) => match identity::minter_for(clients, stack).await? {
                Ok(minter) => Some(minter),
                Err(_) => return Ok(not_run::refuse(stack)),
            },
        }
    };
    let transport = Transport::open(clients, stack, via, profile, progress).await?;
    let tutorial_events = *via == Via::Local;
    let report = run_over(
        clients,
        stack,
        transport,
        minter,
        tutorial_events,
        progress,
        started,
    )
    .await?;
    let status = if report.interrupted {
        ExitStatus::Interrupted
    } else if report.passed {
        ExitStatus::Ok
    } else {
        ExitStatus::Error
    };
    Ok(Outcome::result(report, status))
}

/// The run over an open transport: the test users (with a minter), the sequence, the cleanup, the users
/// deleted, and the report (its progress line says PASS or FAIL). `tutorial_events`: also the tutorial's
/// hand-written events (`--local` without `[auth]`).
async fn run_over(
    clients: &Clients,
    stack: &Stack,
    mut transport: Transport,
    minter: Option<identity::Minter>,
    tutorial_events: bool,
    progress: &Progress,
    started: Instant,
) -> Result<SmokeReport> {
    let url = transport.base_url();
    let run_id = format!("smoke-{}", random_hex());
    let cors = CorsCheck::for_run(stack, &transport);
    let users = match minter {
        Some(minter) => Some(TestUsers::sign_in(minter, &run_id, progress).await?),
        None => None,
    };
    // Without [auth], a throwaway userId; with it, the first user's `sub` (the token decides the userId).
    let user = match &users {
        Some(users) => users.first.sub.clone(),
        None => run_id,
    };
    let target = transport.describe();
    let overall = progress.task("smoke");
    overall.set(&format!(
        "{} via {target}, userId {user}",
        stack.chosen_function().spec.name
    ));
    let direct = DirectDelete::for_stack(&clients.dynamodb, stack);
    // The tutorial's hand-written events carry no token: with [auth] they are 401s by design.
    let tutorial_events = tutorial_events && users.is_none();
    let (steps, cleanup, interrupted) = run_sequence(
        &mut transport,
        progress,
        user.clone(),
        direct.as_ref(),
        &cors,
        tutorial_events,
        users.as_ref().map(|u| (&u.first, &u.second)),
    )
    .await;
    let kind = transport.kind();
    transport.close().await;
    let test_users = match &users {
        Some(users) => users.delete(progress).await,
        None => Vec::new(),
    };
    let summary = summarize(&steps);
    let report = SmokeReport {
        envelope: Envelope::new("smoke", stack, clients.calls.snapshot(), started.elapsed()),
        function: stack.chosen_function().spec.name,
        transport: kind,
        url,
        target,
        user_id: user,
        passed: !interrupted
            && summary.failed == 0
            && summary.skipped == 0
            && steps.len() == total_steps(tutorial_events, users.is_some())
            && cleanup.failed.is_empty()
            && test_users.iter().all(|u| u.deleted),
        interrupted,
        summary,
        steps,
        cleanup,
        test_users,
    };
    if report.passed {
        overall.finish(&format!("PASS, {} steps", report.summary.passed));
    } else {
        overall.fail(&format!(
            "FAIL, {} failed, {} skipped, {} cleanup failures",
            report.summary.failed,
            report.summary.skipped,
            report.cleanup.failed.len()
        ));
    }
    Ok(report)
}

/// `up`'s verification of a new version (`[function.deploy] verify = "smoke"`): smoke's sequence (with
/// `[auth]`, as two test users, and the isolation steps) through Lambda Invoke with the version as
/// Qualifier, so the alias is untouched until it passes; the cleanup and the users' deletion as in smoke.
pub struct VersionCheck<'a> {
    pub clients: &'a Clients,
    pub stack: &'a Stack,
    pub progress: &'a Progress,
}

impl crate::resources::alias::Verifier for VersionCheck<'_> {
    fn verify<'a>(
        &'a self,
        function: &'a crate::config::StackFunction,
        version: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let minter = match &self.stack.auth {
                None => None,
                Some(_) => match identity::minter_for(self.clients, self.stack).await? {
                    Ok(minter) => Some(minter),
                    Err(cannot) => anyhow::bail!(
                        "cannot verify version {version} as smoke does: {}; set `verify = \"none\"` in \
                         [{}.deploy] to move the alias without it",
                        cannot.reason(),
                        function.section
                    ),
                },
            };
            let mut remote = crate::handler::transport::Remote::new(
                self.clients.lambda.clone(),
                &function.spec.name,
            );
            remote.qualifier = Some(version.to_string());
            let transport = Transport::Remote(remote);
            let report = run_over(
                self.clients,
                self.stack,
                transport,
                minter,
                false,
                self.progress,
                Instant::now(),
            )
            .await?;
            Ok((!report.passed).then(|| verdict_of(&report)))
        })
    }
}

/// Why a run did not pass, in one line: the first failed (or skipped) step and what it got, or the cleanup.
fn verdict_of(report: &SmokeReport) -> String {
    if report.interrupted {
        return "interrupted".to_string();
    }
    if let Some(step) = report.steps.iter().find(|s| s.result != Verdict::Pass) {
        let got = step
            .status_code
            .map_or_else(String::new, |code| format!(", got {code}"));
        return format!(
            "smoke step `{}` ({}) expected {}{got}{}",
            step.name,
            step.request.method,
            step.expected_status,
            // The first line only: the rest is the function's log tail.
            step.message
                .as_deref()
                .and_then(|m| m.lines().next())
                .map_or_else(String::new, |m| format!(": {m}"))
        );
    }
    if !report.cleanup.failed.is_empty() {
        return format!(
            "smoke's cleanup could not delete {} item(s)",
            report.cleanup.failed.len()
        );
    }
    "smoke did not complete every step".to_string()
}
