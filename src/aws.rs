//! One SDK config, shared by all service clients; retry policy; waiting on AWS with the SDK's waiter engine.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_runtime::client::waiters::{AcceptorState, WaiterOrchestrator};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, Metadata};
use aws_smithy_runtime_api::client::result::{CreateUnhandledError, SdkError};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use aws_smithy_types::config_bag::ConfigBag;

/// Clients for every service stackctl talks to, built from one `SdkConfig` (one HTTP client, one
/// credentials cache).
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
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

pub async fn connect(target: &Target<'_>) -> Clients {
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
    let calls = CallCounter::default();
    Clients {
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
        calls,
    }
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

/// Polls `operation` with the SDK's waiter engine (jittered exponential backoff, bounded by `max_wait`)
/// until `judge` says done. stackctl supplies its own delays because some generated waiters start at 20s,
/// which would double a real deploy's wall time (see docs/decisions.md). Returns the last output, if the
/// final poll had one.
pub async fn wait_for<O, E, Fut>(
    what: &str,
    max_wait: Duration,
    operation: impl Fn() -> Fut,
    judge: impl Fn(Result<&O, &E>) -> Poll,
    on_state: impl Fn(&str),
) -> Result<Option<O>>
where
    Fut: std::future::Future<Output = Result<O, SdkError<E, HttpResponse>>>,
    E: CreateUnhandledError + std::error::Error + Send + Sync + 'static,
{
    let last_seen = Arc::new(Mutex::new(String::from("nothing yet")));
    let failure = Arc::new(Mutex::new(None::<String>));
    let acceptor = {
        let last_seen = last_seen.clone();
        let failure = failure.clone();
        move |result: Result<&O, &E>| match judge(result) {
            Poll::Done => AcceptorState::Success,
            Poll::Pending(state) => {
                on_state(&state);
                *last_seen.lock().unwrap_or_else(|e| e.into_inner()) = state;
                AcceptorState::Retry
            }
            Poll::Failed(reason) => {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                AcceptorState::Failure
            }
            Poll::Unexpected => AcceptorState::NoAcceptorsMatched,
        }
    };
    let waiter = WaiterOrchestrator::builder()
        // Whole seconds: the waiter engine computes its backoff from `min_delay.as_secs()`, so anything
        // below one second would become 0 and end the wait after a few immediate polls.
        .min_delay(Duration::from_secs(1))
        .max_delay(Duration::from_secs(5))
        .max_wait(max_wait)
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .acceptor(acceptor)
        .operation(operation)
        .build()
        .orchestrate();
    // Waiting changes nothing on AWS's side, so an interrupt abandons it at once.
    let outcome = tokio::select! {
        outcome = waiter => outcome,
        _ = crate::interrupt::interrupted() => return Err(crate::interrupt::Interrupted(format!("{what} finished")).into()),
    };
    let last_seen = last_seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match outcome {
        Ok(poll) => Ok(poll.into_result().ok()),
        Err(WaiterError::ExceededMaxWait(exceeded)) => Err(anyhow!(
            "timed out after {:.0}s (limit {}s, {} polls) waiting for {what} (last seen: {last_seen}); raise the limit in stack.toml [timeouts] or with --wait-timeout",
            exceeded.elapsed().as_secs_f64(),
            max_wait.as_secs(),
            exceeded.poll_count()
        )),
        Err(WaiterError::FailureState(_)) => {
            let reason = failure.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default();
            Err(anyhow!("{what} failed: {reason}"))
        }
        Err(WaiterError::OperationFailed(failed)) => {
            Err(anyhow::Error::new(failed.into_error()).context(format!("waiting for {what}")))
        }
        Err(other) => Err(anyhow!("waiting for {what}: {other}")),
    }
}

/// Retries `attempt` with bounded exponential backoff while `retryable` says the error is one AWS lifts by
/// itself (eventual consistency), for at most `budget`.
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
    let mut delay = Duration::from_millis(500);
    loop {
        crate::interrupt::check("the next attempt")?;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) if retryable(&err) && started.elapsed() + delay <= budget => {
                on_retry(&err);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = crate::interrupt::interrupted() => {
                        let interrupted = crate::interrupt::Interrupted("a retry".into());
                        return Err(anyhow::Error::new(interrupted).context(format!("{err:#}")));
                    }
                }
                delay = (delay * 2).min(Duration::from_secs(8));
            }
            Err(err) => return Err(err),
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
}
