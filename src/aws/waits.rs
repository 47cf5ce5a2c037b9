//! Waiting on AWS ("poll until this state": `wait_for`) and retrying what AWS lifts by itself ("retry while
//! this error class": `retry_while`), on the one backoff (`crate::backoff`), with a cadence that notices a
//! change within about half a second.

use std::time::Duration;

use anyhow::{anyhow, Result};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::{classify, classify_sdk, ErrorClass};
use crate::backoff::{pause, Backoff};

/// What one poll of a waiter saw.
pub enum Poll {
    /// The wait is over.
    Done,
    /// Not yet; the string is the state seen (shown in progress and in a timeout error).
    Pending(String),
    /// It will never get there; the string is AWS's reason.
    Failed(String),
    /// An error the waiter does not expect: stop and report it.
    Unexpected,
}

/// What a wait makes of "not found": "not yet" (eventual consistency right after a create) only until the
/// resource has been seen, and for at most `NotFound::GRACE`. A resource deleted while we wait for it (a
/// concurrent `down`) ends the wait at once instead of running it to its timeout.
pub struct NotFound {
    kind: &'static str,
    seen: std::sync::atomic::AtomicBool,
    started: std::time::Instant,
}

impl NotFound {
    pub const GRACE: Duration = Duration::from_secs(30);

    /// `kind` names the resource in the reason, e.g. "table".
    pub fn new(kind: &'static str) -> NotFound {
        NotFound {
            kind,
            seen: std::sync::atomic::AtomicBool::new(false),
            started: std::time::Instant::now(),
        }
    }

    /// A poll found the resource (in a state still worth waiting for).
    pub fn seen(&self) {
        self.seen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// The verdict on a poll that answered "not found".
    pub fn poll(&self) -> Poll {
        if self.seen.load(std::sync::atomic::Ordering::SeqCst) {
            Poll::Failed(format!(
                "the {} was deleted while waiting for it",
                self.kind
            ))
        } else if self.started.elapsed() > Self::GRACE {
            Poll::Failed(format!(
                "still not found after {}s: the {} does not exist",
                Self::GRACE.as_secs(),
                self.kind
            ))
        } else {
            Poll::Pending("not visible yet".into())
        }
    }
}

// How often a wait polls, or an eventual-consistency retry tries again. On real AWS the waits are the wall
// time, so both notice a change within about half a second: a steady delay with jitter, after a short ramp
// (a state that settles fast is seen fast). Only throttling backs off (see `next_delay`).

/// The ramp both share: tries about 0.1 s apart for the first 0.4 s, then 0.2, 0.2, 0.3, 0.4 s apart
/// (tries at about 0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.1, 1.5 s), then every 0.5 s. A state that settles in
/// a few hundred milliseconds is seen within about 0.1 s of it; a long wait costs two reads a second.
const RAMP: &[Duration] = &[
    Duration::from_millis(100),
    Duration::from_millis(100),
    Duration::from_millis(100),
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(200),
    Duration::from_millis(300),
    Duration::from_millis(400),
];

/// Waits (`wait_for`): the ramp, then every 0.5 s. A steady 1 s leaves `up` from an empty account about
/// 1.2x its critical path under strict emulation (the function's branch has two waits in a row, role
/// propagation then Pending, each seen half a period late on average); 0.5 s about 1.1x; the ramp is what
/// keeps short windows (10x shorter ones) near 1.1x too. Measured in docs/benchmark.md, reasons in
/// docs/decisions.md.
pub const POLL: Backoff = Backoff::steady(Duration::from_millis(500))
    .after_ramp(RAMP)
    .with_jitter(1.0 - JITTER, 1.0 + JITTER);

/// Retries (`retry_while`): the same ramp and steady 0.5 s. Each try is a write (CreateFunction carries the
/// zip), so the ramp costs about four more tries when the wait is long, and saves most of a half-second
/// period when it is short (IAM propagation to Lambda is sometimes well under a second).
pub const RETRY: Backoff = Backoff::steady(Duration::from_millis(500))
    .after_ramp(RAMP)
    .with_jitter(1.0 - JITTER, 1.0 + JITTER);

/// Each delay is scaled by a factor drawn from [1 - JITTER, 1 + JITTER), so that concurrent waits (and
/// concurrent runs) do not poll in lockstep.
const JITTER: f64 = 0.25;
/// Throttled: the delay starts at 1 s and doubles with each throttled answer in a row, up to 8 s.
const THROTTLED: Backoff = Backoff::exponential(Duration::from_secs(1), 2, Duration::from_secs(8))
    .with_jitter(1.0 - JITTER, 1.0 + JITTER);

/// The pause before the next try. Pure, so that the schedule is unit-tested: `tries` is how many tries were
/// made so far (1 after the first), `throttled` how many of the latest answers in a row were throttling
/// errors (0 when the last one was not), `jitter` a sample from [0, 1).
pub fn next_delay(cadence: &Backoff, tries: u32, throttled: u32, jitter: f64) -> Duration {
    if throttled > 0 {
        THROTTLED.delay(throttled, jitter)
    } else {
        cadence.delay(tries, jitter)
    }
}

/// What `wait_for` made of one poll.
enum Seen {
    Answer(Poll),
    Throttled,
    NoAnswer,
}

/// Polls `operation` (at once, then on the `POLL` cadence) until `judge` says done, for at most `max_wait`
/// (a last poll is made at the deadline). Returns the last output, if the final poll had one.
///
/// Our own loop rather than the SDK's waiter engine (`aws_smithy_runtime::client::waiters`, which the
/// generated waiters use): that engine computes its delays in whole seconds (`min_delay.as_secs()`, a random
/// whole number of seconds between min and an exponentially growing max), so its finest schedule is a fixed
/// 1 s with no jitter and no sooner first poll, and every error the acceptors do not match ends the wait,
/// throttling included. The interface is the engine's: acceptors (`Poll`) see the output or the modelled
/// service error; any other error (dispatch, timeout) ends the wait. A throttling error, after the SDK's own
/// retries, is not shown to `judge`: the wait backs off and polls again. See docs/decisions.md.
pub async fn wait_for<O, E, Fut>(
    what: &str,
    max_wait: Duration,
    operation: impl Fn() -> Fut,
    judge: impl Fn(Result<&O, &E>) -> Poll,
    on_state: impl Fn(&str),
) -> Result<Option<O>>
where
    Fut: std::future::Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let started = std::time::Instant::now();
    let mut last_seen = String::from("nothing yet");
    let mut polls = 0u32;
    let mut throttled = 0u32;
    loop {
        // Waiting changes nothing on AWS's side, so an interrupt abandons it at once, mid-poll included.
        let result = tokio::select! {
            result = operation() => result,
            _ = crate::interrupt::interrupted() => return Err(crate::interrupt::Interrupted(format!("{what} finished")).into()),
        };
        polls += 1;
        let seen = match &result {
            Ok(output) => Seen::Answer(judge(Ok(output))),
            Err(err) => match err.as_service_error() {
                Some(_) if classify_sdk(err) == ErrorClass::Throttling => Seen::Throttled,
                Some(service) => Seen::Answer(judge(Err(service))),
                // Not an answer from the service (dispatch failure, timeout, unparseable response).
                None => Seen::NoAnswer,
            },
        };
        throttled = if matches!(seen, Seen::Throttled) {
            throttled + 1
        } else {
            0
        };
        match (seen, result) {
            (Seen::Answer(Poll::Done), result) => return Ok(result.ok()),
            (Seen::Answer(Poll::Failed(reason)), _) => {
                return Err(anyhow!("{what} failed: {reason}"))
            }
            (Seen::Answer(Poll::Unexpected) | Seen::NoAnswer, Err(err)) => {
                return Err(anyhow::Error::new(err).context(format!("waiting for {what}")));
            }
            (Seen::Answer(Poll::Pending(state)), _) => {
                on_state(&state);
                last_seen = state;
            }
            // An output no acceptor recognises, or throttled: poll again.
            (Seen::Answer(Poll::Unexpected) | Seen::NoAnswer | Seen::Throttled, _) => {}
        }
        let elapsed = started.elapsed();
        if elapsed >= max_wait {
            return Err(anyhow!(
                "timed out after {:.0}s (limit {}s, {polls} polls) waiting for {what} (last seen: {last_seen}); raise the limit in stack.toml [timeouts] or with --wait-timeout",
                elapsed.as_secs_f64(),
                max_wait.as_secs(),
            ));
        }
        let delay =
            next_delay(&POLL, polls, throttled, crate::random::unit()).min(max_wait - elapsed);
        pause(delay, || {
            crate::interrupt::Interrupted(format!("{what} finished"))
        })
        .await?;
    }
}

/// Retries `attempt` on the `RETRY` cadence while `retryable` says the error is one AWS lifts by itself
/// (eventual consistency), for at most `budget`. Throttling (after the SDK's own retries) is retried too,
/// with exponential backoff, within the same budget; `on_retry` is told about the retryable errors only.
pub async fn retry_while<T, F, Fut>(
    budget: Duration,
    mut attempt: F,
    retryable: impl Fn(&anyhow::Error) -> bool,
    on_retry: impl Fn(&anyhow::Error),
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let started = std::time::Instant::now();
    let mut tries = 0u32;
    let mut throttled = 0u32;
    loop {
        crate::interrupt::check("the next attempt")?;
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        tries += 1;
        let throttling = classify(&err) == ErrorClass::Throttling;
        if !throttling && !retryable(&err) {
            return Err(err);
        }
        throttled = if throttling { throttled + 1 } else { 0 };
        let delay = next_delay(&RETRY, tries, throttled, crate::random::unit());
        if started.elapsed() + delay > budget {
            return Err(err);
        }
        if !throttling {
            on_retry(&err);
        }
        if let Err(interrupted) =
            pause(delay, || crate::interrupt::Interrupted("a retry".into())).await
        {
            return Err(anyhow::Error::new(interrupted).context(format!("{err:#}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn waits_ramp_up_then_poll_every_half_second() {
        let middle = |tries| next_delay(&POLL, tries, 0, 0.5);
        assert_eq!(
            (1..=11).map(middle).collect::<Vec<_>>(),
            [
                MS(100),
                MS(100),
                MS(100),
                MS(100),
                MS(200),
                MS(200),
                MS(300),
                MS(400),
                MS(500),
                MS(500),
                MS(500)
            ]
        );
        // However long the wait: no backoff.
        assert_eq!(middle(10_000), MS(500));
        assert_eq!(middle(u32::MAX), MS(500));
        // tries = 0 (nothing tried yet) reads as the first.
        assert_eq!(middle(0), MS(100));
    }

    #[test]
    fn retries_ramp_like_waits_then_are_steady() {
        for tries in [1, 2, 3, 4, 9, 100] {
            assert_eq!(
                next_delay(&RETRY, tries, 0, 0.5),
                next_delay(&POLL, tries, 0, 0.5)
            );
        }
        assert_eq!(next_delay(&RETRY, 100, 0, 0.5), MS(500));
    }

    #[test]
    fn jitter_spreads_each_delay_a_quarter_either_way() {
        for cadence in [&POLL, &RETRY] {
            for tries in 1..8 {
                let base = next_delay(cadence, tries, 0, 0.5);
                assert_eq!(next_delay(cadence, tries, 0, 0.0), base.mul_f64(0.75));
                assert_eq!(next_delay(cadence, tries, 0, 0.25), base.mul_f64(0.875));
                assert!(next_delay(cadence, tries, 0, 0.999_999) < base.mul_f64(1.25));
                // A sample outside [0, 1) cannot stretch a delay further.
                assert_eq!(next_delay(cadence, tries, 0, -3.0), base.mul_f64(0.75));
                assert_eq!(next_delay(cadence, tries, 0, 7.0), base.mul_f64(1.25));
            }
        }
        // So the steady poll stays within 375-625 ms: a change is seen at most ~0.6 s late.
        assert_eq!(next_delay(&POLL, 9, 0, 0.0), MS(375));
        assert_eq!(next_delay(&POLL, 9, 0, 1.0), MS(625));
    }

    #[test]
    fn only_throttling_backs_off_doubling_from_1s_to_8s() {
        for cadence in [&POLL, &RETRY] {
            for tries in [1, 5, 50] {
                let throttled = |n| next_delay(cadence, tries, n, 0.5);
                assert_eq!(
                    (1..=6).map(throttled).collect::<Vec<_>>(),
                    [MS(1000), MS(2000), MS(4000), MS(8000), MS(8000), MS(8000)]
                );
                assert_eq!(throttled(u32::MAX), MS(8000));
                // The first answer that is not throttling returns to the cadence.
                assert_eq!(throttled(0), next_delay(cadence, tries, 0, 0.5));
            }
        }
        assert_eq!(next_delay(&POLL, 1, 4, 1.0), MS(10_000));
    }
}
