//! `stackctl smoke`: the tutorial's request sequence (plus PATCH, a missing item, requests missing a
//! parameter and a body that is not JSON) sent as API Gateway HTTP API (v2) events, each answer checked
//! against what the handler promises, with a throwaway userId and a cleanup that deletes every item the run
//! created, also when a step fails or the run is interrupted (Ctrl-C, SIGTERM): through the function, then
//! confirmed by listing again, with DynamoDB DeleteItem (stackctl's own client) for whatever is left.
//! The same sequence and checks run against the deployed function (Lambda Invoke) or, with `--local`, the
//! built handler in the local Node.js (see handler/transport.rs). `--local` then also sends the tutorial's
//! own hand-written test events (lambda/events/tutorial-*.json, with only `requestContext.http`,
//! `queryStringParameters` and `body`), which the handler must answer as the tutorial says.

//! Its parts: scenario.rs (the sequence and its session), checks.rs (what each answer must be), cleanup.rs
//! (deleting what the run created), report.rs (the result as text or JSON).

mod checks;
mod cleanup;
mod not_run;
mod report;
mod scenario;
#[cfg(test)]
mod tests;

use std::time::Instant;

use anyhow::Result;

use crate::aws::Clients;
use crate::config::Stack;
use crate::handler::event::CorsCheck;
use crate::handler::random_hex;
use crate::handler::transport::{Transport, Via};
use crate::outcome::{Envelope, ExitStatus, Outcome};
use crate::progress::Progress;
use cleanup::{cleanup, Cleanup, DirectDelete};
use report::{SmokeReport, StepResult, StepSummary, Verdict};
use scenario::{sequence, tutorial_sequence, Session, STEPS, TUTORIAL_STEPS};

/// Runs the sequence (and, with `tutorial_events`, the tutorial's hand-written events) and the cleanup over
/// `transport`. An interrupt (Ctrl-C, SIGTERM) stops the sequence but not the cleanup; a second one stops
/// everything at once (see interrupt.rs).
async fn run_sequence(
    transport: &mut Transport,
    progress: &Progress,
    user: String,
    direct: Option<&DirectDelete>,
    cors: &CorsCheck,
    tutorial_events: bool,
) -> (Vec<StepResult>, Cleanup, bool) {
    let mut session = Session {
        transport,
        total: STEPS + if tutorial_events { TUTORIAL_STEPS } else { 0 },
        progress,
        user,
        steps: Vec::new(),
        seen: Vec::new(),
        interrupted: false,
        cors,
    };
    sequence(&mut session).await;
    if tutorial_events {
        tutorial_sequence(&mut session).await;
    }
    let interrupted = session.stop_requested();
    if interrupted {
        progress.warn(
            "interrupted: cleaning up the items created so far (interrupt again to stop at once)",
        );
    }
    let cleanup = cleanup(&mut session, direct).await;
    (session.steps, cleanup, interrupted)
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
    profile: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    if stack.auth.is_some() {
        return Ok(not_run::refuse(stack));
    }
    let started = Instant::now();
    let mut transport = Transport::open(clients, stack, via, profile, progress).await?;
    let cors = CorsCheck::for_run(stack, &transport);
    let url = transport.base_url();
    let user = format!("smoke-{}", random_hex());
    let target = transport.describe();
    let overall = progress.task("smoke");
    overall.set(&format!(
        "{} via {target}, userId {user}",
        stack.chosen_function().spec.name
    ));
    let direct = DirectDelete::for_stack(&clients.dynamodb, stack);
    let tutorial_events = *via == Via::Local;
    let (steps, cleanup, interrupted) = run_sequence(
        &mut transport,
        progress,
        user.clone(),
        direct.as_ref(),
        &cors,
        tutorial_events,
    )
    .await;
    let kind = transport.kind();
    transport.close().await;
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
            && steps.len() == STEPS + if tutorial_events { TUTORIAL_STEPS } else { 0 }
            && cleanup.failed.is_empty(),
        interrupted,
        summary,
        steps,
        cleanup,
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
    let status = if report.interrupted {
        ExitStatus::Interrupted
    } else if report.passed {
        ExitStatus::Ok
    } else {
        ExitStatus::Error
    };
    Ok(Outcome::result(report, status))
}
