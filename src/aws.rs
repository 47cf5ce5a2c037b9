//! One SDK config, shared by all service clients; retry policy; waiting on AWS and retrying what AWS lifts by
//! itself, on a cadence that notices a change within about half a second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Clients for every service stackctl talks to, built from one `SdkConfig` (one HTTP client, one
/// credentials cache).
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
    /// The Resource Groups Tagging API: how `ls` finds stages without a state file.
    pub tagging: aws_sdk_resourcegroupstagging::Client,
    pub calls: CallCounter,
}

/// Counts the AWS operations stackctl sends (each operation once, however many retries), split into reads
/// and writes, so every report can say how many writes it made.
#[derive(Clone, Debug, Default)]
pub struct CallCounter(Arc<Mutex<Calls>>);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Calls {
    pub reads: u32,
    pub writes: u32,
}

impl CallCounter {
    pub fn snapshot(&self) -> Calls {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Get*, List*, Describe*, Scan, Query, FilterLogEvents are reads; every other operation changes something.
pub fn is_read_operation(operation: &str) -> bool {
    [
        "Get", "List", "Describe", "Scan", "Query", "BatchGet", "Filter",
    ]
    .iter()
    .any(|prefix| operation.starts_with(prefix))
}

/// When an operation started, kept in the operation's config bag for the -v log line.
#[derive(Clone, Debug)]
struct StartedAt(std::time::Instant);

impl aws_smithy_types::config_bag::Storable for StartedAt {
    type Storer = aws_smithy_types::config_bag::StoreReplace<Self>;
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "stackctl::CallCounter"
    }

    // Runs once per operation, after the operation's own config (which names it) is in the bag.
    fn read_before_serialization(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            let mut calls = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if is_read_operation(metadata.name()) {
                calls.reads += 1;
            } else {
                calls.writes += 1;
            }
        }
        cfg.interceptor_state()
            .store_put(StartedAt(std::time::Instant::now()));
        Ok(())
    }

    /// `-v`: one line per AWS call with its operation, outcome, duration and attempts. Never headers or
    /// bodies, so never credentials or variable values.
    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(metadata) = cfg.load::<Metadata>() else {
            return Ok(());
        };
        let elapsed = cfg
            .load::<StartedAt>()
            .map(|s| s.0.elapsed())
            .unwrap_or_default();
        let attempts = cfg.load::<RequestAttempts>().map_or(1, |a| a.attempts());
        let status = context.response().map(|r| r.status().as_u16()).unwrap_or(0);
        tracing::debug!(
            "aws {}.{} -> {} in {}ms ({} attempt{})",
            metadata.service(),
            metadata.name(),
            if status == 0 {
                "no response".to_string()
            } else {
                status.to_string()
            },
            elapsed.as_millis(),
            attempts,
            if attempts == 1 { "" } else { "s" }
        );
        Ok(())
    }
}

/// Where and as whom to talk to AWS. The endpoint comes from the standard chain (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_<SERVICE>`, or the profile's `endpoint_url`), never from stackctl itself.
pub struct Target<'a> {
    pub region: &'a str,
    pub profile: Option<&'a str>,
}

/// The clients, once credentials are known to be there (`credentials::check`: one clear line when they are
/// missing or expired, before anything is read, built or written).
pub async fn connect(target: &Target<'_>) -> Result<Clients> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(target.region.to_string()));
    // Standard mode retries throttling, 5xx and transient network errors with jittered backoff. The
    // standard AWS_MAX_ATTEMPTS / AWS_RETRY_MODE settings, when given, win.
    if std::env::var_os("AWS_MAX_ATTEMPTS").is_none()
        && std::env::var_os("AWS_RETRY_MODE").is_none()
    {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(6));
    }
    if let Some(profile) = target.profile {
        loader = loader.profile_name(profile);
    }
    let config = loader.load().await;
    crate::credentials::check(&config, target.profile).await?;
    let calls = CallCounter::default();
    Ok(Clients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        iam: aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        logs: aws_sdk_cloudwatchlogs::Client::from_conf(
            aws_sdk_cloudwatchlogs::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        sts: aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        tagging: aws_sdk_resourcegroupstagging::Client::from_conf(
            aws_sdk_resourcegroupstagging::config::Builder::from(&config)
                .interceptor(calls.clone())
                .build(),
        ),
        calls,
    })
}

/// The account and partition the credentials belong to, taken from any ARN seen (so no extra call is
/// needed when something already exists), else from STS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub partition: String,
    pub id: String,
}

impl Account {
    pub fn from_arn(arn: &str) -> Option<Account> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(partition), Some(_service), Some(_region), Some(id)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        (!id.is_empty()).then(|| Account {
            partition: partition.to_string(),
            id: id.to_string(),
        })
    }

    pub async fn from_sts(sts: &aws_sdk_sts::Client) -> Result<Account> {
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .context("asking STS which account the credentials belong to")?;
        identity
            .arn()
            .and_then(Account::from_arn)
            .ok_or_else(|| anyhow!("STS returned no caller ARN"))
    }
}

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

/// How often a wait polls, or an eventual-consistency retry tries again. On real AWS the waits are the wall
/// time, so both notice a change within about half a second: a steady delay with jitter, after a short ramp
/// for waits (a state that settles fast is seen fast). Only throttling backs off (see `next_delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// The delays before the second, third, ... try; after them, `steady`.
    pub ramp: &'static [Duration],
    pub steady: Duration,
}

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
pub const POLL: Cadence = Cadence {
    ramp: RAMP,
    steady: Duration::from_millis(500),
};

/// Retries (`retry_while`): the same ramp and steady 0.5 s. Each try is a write (CreateFunction carries the
/// zip), so the ramp costs about four more tries when the wait is long, and saves most of a half-second
/// period when it is short (IAM propagation to Lambda is sometimes well under a second).
pub const RETRY: Cadence = Cadence {
    ramp: RAMP,
    steady: Duration::from_millis(500),
};

/// Each delay is scaled by a factor drawn from [1 - JITTER, 1 + JITTER), so that concurrent waits (and
/// concurrent runs) do not poll in lockstep.
const JITTER: f64 = 0.25;
/// Throttled: the delay starts here and doubles with each throttled answer in a row, up to THROTTLED_MAX.
const THROTTLED_FIRST: Duration = Duration::from_secs(1);
const THROTTLED_MAX: Duration = Duration::from_secs(8);

/// The pause before the next try. Pure, so that the schedule is unit-tested: `tries` is how many tries were
/// made so far (1 after the first), `throttled` how many of the latest answers in a row were throttling
/// errors (0 when the last one was not), `jitter` a sample from [0, 1).
pub fn next_delay(cadence: &Cadence, tries: u32, throttled: u32, jitter: f64) -> Duration {
    let base = if throttled > 0 {
        // 2^(throttled - 1), without overflowing however long the throttling lasts.
        let factor = 1u32 << (throttled - 1).min(16);
        THROTTLED_FIRST.saturating_mul(factor).min(THROTTLED_MAX)
    } else {
        let index = usize::try_from(tries.saturating_sub(1)).unwrap_or(usize::MAX);
        cadence.ramp.get(index).copied().unwrap_or(cadence.steady)
    };
    base.mul_f64(1.0 - JITTER + 2.0 * JITTER * jitter.clamp(0.0, 1.0))
}

/// A sample from [0, 1) for the jitter: std's per-hasher random keys are enough here (no need for a
/// generator crate), since the only requirement is that concurrent waits drift apart.
fn jitter_sample() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// The error codes AWS uses for throttling: the SDK's own list (`aws_runtime::retries::classifiers::
/// THROTTLING_ERRORS`, what its standard retry mode backs off on; copied, as aws-runtime is not a direct
/// dependency). Lambda's 429 is TooManyRequestsException, IAM's and STS's Throttling.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

fn is_throttling_code(code: Option<&str>) -> bool {
    code.is_some_and(|code| THROTTLING_CODES.contains(&code))
}

/// Whether an error (anywhere in its chain) is AWS throttling the caller, i.e. one the SDK's own retries
/// did not outlast.
pub fn is_throttling(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let code = if let Some(e) = cause.downcast_ref::<aws_sdk_lambda::Error>() {
            e.code()
        } else if let Some(e) = cause.downcast_ref::<aws_sdk_iam::Error>() {
            e.code()
        } else if let Some(e) = cause.downcast_ref::<aws_sdk_dynamodb::Error>() {
            e.code()
        } else if let Some(e) = cause.downcast_ref::<aws_sdk_sts::Error>() {
            e.code()
        } else if let Some(e) = cause.downcast_ref::<aws_sdk_cloudwatchlogs::Error>() {
            e.code()
        } else {
            None
        };
        is_throttling_code(code)
    })
}

/// Sleeps `delay`, or returns `Interrupted` (naming `what` was abandoned) as soon as an interrupt comes.
async fn pause(
    delay: Duration,
    what: impl FnOnce() -> crate::interrupt::Interrupted,
) -> Result<(), crate::interrupt::Interrupted> {
    tokio::select! {
        _ = tokio::time::sleep(delay) => Ok(()),
        _ = crate::interrupt::interrupted() => Err(what()),
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
                Some(service) if is_throttling_code(service.code()) => Seen::Throttled,
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
        let delay = next_delay(&POLL, polls, throttled, jitter_sample()).min(max_wait - elapsed);
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
        let throttling = is_throttling(&err);
        if !throttling && !retryable(&err) {
            return Err(err);
        }
        throttled = if throttling { throttled + 1 } else { 0 };
        let delay = next_delay(&RETRY, tries, throttled, jitter_sample());
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

    #[test]
    fn account_comes_from_any_arn() {
        let a = Account::from_arn("arn:aws:iam::123456789012:role/x").unwrap();
        assert_eq!(
            a,
            Account {
                partition: "aws".into(),
                id: "123456789012".into()
            }
        );
        let cn = Account::from_arn("arn:aws-cn:dynamodb:cn-north-1:000000000001:table/t").unwrap();
        assert_eq!(cn.partition, "aws-cn");
        assert!(Account::from_arn("arn:aws:iam::aws:policy/x").is_some_and(|a| a.id == "aws"));
        assert!(Account::from_arn("not-an-arn").is_none());
    }

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

    #[test]
    fn jitter_samples_are_in_range_and_vary() {
        let samples: Vec<f64> = (0..64).map(|_| jitter_sample()).collect();
        assert!(samples.iter().all(|s| (0.0..1.0).contains(s)));
        assert!(samples.iter().any(|s| *s != samples[0]));
    }

    #[test]
    fn throttling_is_recognised_by_code_anywhere_in_the_chain() {
        use aws_smithy_types::error::ErrorMetadata;
        assert!(is_throttling_code(Some("ThrottlingException")));
        assert!(is_throttling_code(Some("TooManyRequestsException")));
        assert!(is_throttling_code(Some("Throttling")));
        assert!(!is_throttling_code(Some("InvalidParameterValueException")));
        assert!(!is_throttling_code(Some("ResourceConflictException")));
        assert!(!is_throttling_code(None));

        let lambda = |code: &str| {
            aws_sdk_lambda::Error::from(
                aws_sdk_lambda::operation::create_function::CreateFunctionError::generic(
                    ErrorMetadata::builder().code(code).build(),
                ),
            )
        };
        let throttled = anyhow::Error::new(lambda("TooManyRequestsException"))
            .context("creating Lambda function `f`");
        assert!(is_throttling(&throttled));
        let refused = anyhow::Error::new(lambda("InvalidParameterValueException"))
            .context("creating Lambda function `f`");
        assert!(!is_throttling(&refused));
        let iam =
            aws_sdk_iam::Error::from(aws_sdk_iam::operation::get_role::GetRoleError::generic(
                ErrorMetadata::builder().code("Throttling").build(),
            ));
        assert!(is_throttling(
            &anyhow::Error::new(iam).context("a").context("b")
        ));
        assert!(!is_throttling(&anyhow!("not an AWS error")));
    }
}
