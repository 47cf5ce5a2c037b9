//! The deployed function, through Lambda Invoke (RequestResponse, with the log tail): read it through the
//! graph (the function's read waits until it runs its deployed code: State Active, its last update over),
//! and invoke it, retrying only the answers that say the function did not run (Invoke is not idempotent).

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::operation::invoke::InvokeError as InvokeOpError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LastUpdateStatus, LogType};
use base64::Engine;
use serde_json::Value;

use super::event::{interpret, InvokeError, Response};
use super::local_env::LiveConfig;
use crate::aws::Clients;
use crate::backoff::Backoff;
use crate::config::Stack;
use crate::engine;
use crate::plan::Kind;
use crate::progress::Progress;
use crate::resources::function::Function;
use crate::resources::{Purpose, Use};

/// The deployed function as a run of it needs it, read through the graph (`Purpose::Use`): for Lambda
/// Invoke (`Use::Invoke`) once it runs its deployed code (the function's read asks again, bounded by
/// `timeouts.function_secs`, while it is Pending or an update is in progress), for a local run
/// (`Use::Local`) as it is. A function that does not exist is an error.
pub(super) async fn read_function(
    clients: &Clients,
    stack: &Stack,
    how: Use,
    progress: &Progress,
) -> Result<LiveConfig> {
    let name = &stack.chosen_function().spec.name;
    let at = engine::address_of(stack, Kind::Function)?;
    // Shown only if the read waits.
    let task = progress.task(format!("function {name}"));
    let reads = engine::read_some(
        clients,
        stack,
        Purpose::Use(how),
        std::slice::from_ref(&at),
        &task,
    )
    .await?;
    let Some(live) = reads.live_of::<Function>(&at) else {
        bail!(
            "Lambda function `{name}` does not exist in {}: run `stackctl up` first",
            stack.region
        )
    };
    if how == Use::Invoke && live.last_update_status == LastUpdateStatus::Failed.as_str() {
        progress.warn(&format!(
            "the last update of function `{name}` failed ({}): it still runs its previous code and configuration",
            live.last_update_reason.as_deref().unwrap_or("no reason given")
        ));
    }
    Ok(LiveConfig::from_live(live, stack))
}

/// The deployed function, through Lambda Invoke.
pub struct Remote {
    pub client: aws_sdk_lambda::Client,
    pub function: String,
    /// Invoke's `Qualifier`: a version or an alias (`[function.deploy]` verifies a published version before
    /// its alias moves to it); None: none is sent, Lambda runs `$LATEST` (unqualified, as before).
    pub qualifier: Option<String>,
    /// The first delay before retrying a throttled or Pending invocation (doubles each time).
    pub retry_delay: Duration,
}

/// Attempts of one Invoke when Lambda throttles it (429) or the function is still Pending (409).
const INVOKE_ATTEMPTS: u32 = 8;
const INVOKE_MAX_DELAY: Duration = Duration::from_secs(5);

impl Remote {
    pub fn new(client: aws_sdk_lambda::Client, function: &str) -> Remote {
        Remote {
            client,
            function: function.to_string(),
            qualifier: None,
            retry_delay: Duration::from_millis(250),
        }
    }

    /// One Invoke. It is not idempotent (a POST retried after a 5xx or a dropped connection may run the
    /// function twice), so the SDK's automatic retries are off for it, and only the answers that say the
    /// function did not run are retried: 429 TooManyRequests (throttled) and 409 ResourceConflict (Pending).
    pub(super) async fn invoke(&self, event: &Value) -> Result<Response, InvokeError> {
        let payload = serde_json::to_vec(event)
            .map_err(|err| InvokeError::Transport(anyhow!("serializing the event: {err}")))?;
        // Doubling from retry_delay up to 5 s, each pause between half and all of it (so that clients
        // throttled together do not retry together).
        let backoff =
            Backoff::exponential(self.retry_delay, 2, INVOKE_MAX_DELAY).with_jitter(0.5, 1.0);
        let mut attempt = 1;
        let out = loop {
            let sent = self
                .client
                .invoke()
                .function_name(&self.function)
                .set_qualifier(self.qualifier.clone())
                .invocation_type(InvocationType::RequestResponse)
                .log_type(LogType::Tail)
                .payload(Blob::new(payload.clone()))
                .customize()
                .config_override(
                    aws_sdk_lambda::config::Builder::default()
                        .retry_config(RetryConfig::standard().with_max_attempts(1)),
                )
                .send()
                .await;
            let err = match sent {
                Ok(out) => break out,
                Err(err) => err,
            };
            let service = err.as_service_error();
            let retry_after = match service {
                Some(e) if e.is_too_many_requests_exception() => match e {
                    InvokeOpError::TooManyRequestsException(t) => Some(
                        t.retry_after_seconds()
                            .and_then(|s| s.parse::<u64>().ok())
                            .map(Duration::from_secs),
                    ),
                    _ => Some(None),
                },
                Some(e) if e.is_resource_conflict_exception() => Some(None),
                _ => None,
            };
            match retry_after {
                Some(after) if attempt < INVOKE_ATTEMPTS => {
                    let wait = after.unwrap_or(backoff.base(attempt)).min(INVOKE_MAX_DELAY);
                    tracing::debug!(
                        "Invoke of `{}` not run ({}); retrying in {}ms",
                        self.function,
                        service.and_then(|e| e.meta().code()).unwrap_or("?"),
                        wait.as_millis()
                    );
                    tokio::time::sleep(backoff.jittered(wait)).await;
                    attempt += 1;
                }
                _ => return Err(self.invoke_error(err, attempt)),
            }
        };
        let logs = out
            .log_result()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).trim_end().to_string())
            .filter(|text| !text.is_empty());
        interpret(
            out.function_error(),
            out.payload().map(|p| p.as_ref()).unwrap_or_default(),
            logs,
        )
    }

    fn invoke_error(
        &self,
        err: aws_sdk_lambda::error::SdkError<InvokeOpError>,
        attempts: u32,
    ) -> InvokeError {
        let service = err.as_service_error();
        let not_found = service.is_some_and(|e| e.is_resource_not_found_exception());
        let gave_up = service.is_some_and(|e| {
            e.is_too_many_requests_exception() || e.is_resource_conflict_exception()
        });
        // A 5xx or no answer at all: the function may have run. Say so rather than guess.
        let unknown = match &err {
            aws_sdk_lambda::error::SdkError::ServiceError(e) => e.raw().status().is_server_error(),
            aws_sdk_lambda::error::SdkError::DispatchFailure(_)
            | aws_sdk_lambda::error::SdkError::TimeoutError(_)
            | aws_sdk_lambda::error::SdkError::ResponseError(_) => true,
            _ => false,
        };
        let err = anyhow::Error::new(err);
        let function = &self.function;
        InvokeError::Transport(if not_found {
            err.context(format!(
                "Lambda function `{function}` does not exist: run `stackctl up` first"
            ))
        } else if gave_up {
            err.context(format!(
                "invoking Lambda function `{function}`: still refused after {attempts} attempts"
            ))
        } else if unknown {
            err.context(format!(
                "invoking Lambda function `{function}`: no usable answer, and the function may or may not have run (Invoke is not retried: it is not idempotent)"
            ))
        } else {
            err.context(format!("invoking Lambda function `{function}`"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::transport::Transport;
    use aws_sdk_lambda::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
    use aws_smithy_runtime_api::http::{Request as HttpRequest, Response as HttpResponse};
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;
    use std::path::Path;

    fn lambda_answer(function_error: Option<&str>, payload: &str) -> HttpResponse {
        let mut response = HttpResponse::new(
            200.try_into().expect("status"),
            SdkBody::from(payload.to_string()),
        );
        response
            .headers_mut()
            .insert("Content-Type", "application/json");
        response
            .headers_mut()
            .insert("X-Amz-Executed-Version", "$LATEST");
        // "START RequestId ... END": what LogType=Tail returns, base64.
        response.headers_mut().insert(
            "X-Amz-Log-Result",
            base64::engine::general_purpose::STANDARD
                .encode("START RequestId: 1\nERROR boom\nEND RequestId: 1\n"),
        );
        if let Some(kind) = function_error {
            response
                .headers_mut()
                .insert("X-Amz-Function-Error", kind.to_string());
        }
        response
    }

    /// A Lambda client that answers with `answers`, in order, and records what it was sent.
    fn replay(answers: Vec<HttpResponse>) -> (StaticReplayClient, aws_sdk_lambda::Client) {
        let events = answers
            .into_iter()
            .map(|answer| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), answer))
            .collect();
        let http = StaticReplayClient::new(events);
        // Retries as stackctl's own clients have them (aws::connect), so that what Invoke turns off shows.
        let config = aws_sdk_lambda::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http.clone())
            .build();
        (http, aws_sdk_lambda::Client::from_conf(config))
    }

    async fn invoke_remote(
        answer: HttpResponse,
    ) -> (StaticReplayClient, Result<Response, InvokeError>) {
        let (http, client) = replay(vec![answer]);
        let mut transport = Transport::Remote(Remote::new(client, "my-frontend-app-api"));
        let outcome = transport
            .invoke(&json!({"version": "2.0", "requestContext": {"http": {"method": "GET"}}}))
            .await;
        (http, outcome)
    }

    #[tokio::test]
    async fn remote_unhandled_function_error_is_a_failure_with_the_error_message() {
        let (http, outcome) = invoke_remote(lambda_answer(
            Some("Unhandled"),
            r#"{"errorType":"TypeError","errorMessage":"Cannot read properties of undefined (reading 'http')","trace":["TypeError: ...","    at handler (/var/task/handler.js:1:1)"]}"#,
        ))
        .await;
        let err = outcome.expect_err("a FunctionError is never a response");
        match &err {
            InvokeError::Function {
                kind,
                error_type,
                message,
                logs,
            } => {
                assert_eq!(kind, "Unhandled");
                assert_eq!(error_type.as_deref(), Some("TypeError"));
                assert_eq!(
                    message,
                    "Cannot read properties of undefined (reading 'http')"
                );
                assert!(
                    logs.as_deref().is_some_and(|l| l.contains("ERROR boom")),
                    "{logs:?}"
                );
            }
            other => panic!("expected a function error, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "the function failed (Unhandled FunctionError): TypeError: Cannot read properties of undefined (reading 'http')"
        );
        // What was sent: Invoke, RequestResponse, with the log tail, the event as the payload.
        let sent: Vec<_> = http.actual_requests().collect();
        assert_eq!(sent.len(), 1);
        assert!(
            sent[0]
                .uri()
                .ends_with("/2015-03-31/functions/my-frontend-app-api/invocations"),
            "{}",
            sent[0].uri()
        );
        assert_eq!(
            sent[0].headers().get("x-amz-invocation-type"),
            Some("RequestResponse")
        );
        assert_eq!(sent[0].headers().get("x-amz-log-type"), Some("Tail"));
        let body: Value =
            serde_json::from_slice(sent[0].body().bytes().expect("body")).expect("json");
        assert_eq!(body["version"], "2.0");
    }

    #[tokio::test]
    async fn remote_timeout_is_a_failure_even_without_an_error_type() {
        let (_, outcome) = invoke_remote(lambda_answer(
            Some("Unhandled"),
            r#"{"errorMessage":"2026-11-26T16:04:42.614Z 1b2c Task timed out after 10.01 seconds"}"#,
        ))
        .await;
        let err = outcome.expect_err("a timeout is a failure");
        assert!(
            err.to_string()
                .contains("Task timed out after 10.01 seconds"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn remote_5xx_status_code_in_the_payload_is_read_as_that_response() {
        let (_, outcome) = invoke_remote(lambda_answer(
            None,
            r#"{"statusCode":500,"headers":{"Content-Type":"application/json","Access-Control-Allow-Origin":"*"},"body":"{\"error\":\"Internal server error\"}"}"#,
        ))
        .await;
        let response = outcome.expect("a 500 is still a response; the smoke checks fail it");
        assert_eq!(response.status_code, 500);
        assert_eq!(response.body, json!({"error": "Internal server error"}));
        // And smoke fails it, with the body in the message.
        let failure =
            crate::handler::event::check_common(&response, &crate::handler::event::CorsCheck::Star)
                .expect_err("5xx fails");
        assert!(failure.contains("500"), "{failure}");
        assert!(failure.contains("Internal server error"), "{failure}");
    }

    #[tokio::test]
    async fn remote_payload_that_is_not_json_is_a_clear_failure() {
        let (_, outcome) = invoke_remote(lambda_answer(None, "<html>Bad Gateway</html>")).await;
        let err = outcome.expect_err("not JSON");
        assert!(matches!(err, InvokeError::BadPayload { .. }), "{err:?}");
        let message = err.to_string();
        assert!(
            message.starts_with("the function's response is not JSON"),
            "{message}"
        );
        assert!(message.contains("<html>Bad Gateway</html>"), "{message}");
    }

    #[tokio::test]
    async fn remote_good_200_is_parsed() {
        let (_, outcome) = invoke_remote(lambda_answer(
            None,
            r#"{"statusCode":200,"headers":{"Content-Type":"application/json","Access-Control-Allow-Origin":"*"},"body":"{\"items\":[]}"}"#,
        ))
        .await;
        let response = outcome.expect("a good answer");
        assert_eq!(response.status_code, 200);
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("ACCESS-CONTROL-ALLOW-ORIGIN"), Some("*"));
        assert_eq!(response.body, json!({"items": []}));
        assert!(response.body_is_json);
        assert!(!response.inferred);
        assert!(response.logs.is_some());
        assert!(crate::handler::event::check_common(
            &response,
            &crate::handler::event::CorsCheck::Star
        )
        .is_ok());
    }

    #[tokio::test]
    async fn remote_aws_error_is_a_transport_failure() {
        let mut answer = HttpResponse::new(
            404.try_into().expect("status"),
            SdkBody::from(
                r#"{"Type":"User","Message":"Function not found: arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api"}"#,
            ),
        );
        answer
            .headers_mut()
            .insert("X-Amzn-Errortype", "ResourceNotFoundException");
        let (_, outcome) = invoke_remote(answer).await;
        let err = outcome.expect_err("not found");
        assert!(matches!(err, InvokeError::Transport(_)), "{err:?}");
        assert!(
            err.to_string()
                .contains("does not exist: run `stackctl up` first"),
            "{err}"
        );
    }

    fn error_answer(status: u16, error_type: &str, message: &str) -> HttpResponse {
        let mut answer = HttpResponse::new(
            status.try_into().expect("status"),
            SdkBody::from(json!({"Type": "Service", "message": message}).to_string()),
        );
        answer
            .headers_mut()
            .insert("X-Amzn-Errortype", error_type.to_string());
        answer
            .headers_mut()
            .insert("Content-Type", "application/json");
        answer
    }

    async fn invoke_with(answers: Vec<HttpResponse>) -> (usize, Result<Response, InvokeError>) {
        let (http, client) = replay(answers);
        let mut transport = Transport::Remote(Remote {
            retry_delay: Duration::from_millis(5),
            ..Remote::new(client, "my-frontend-app-api")
        });
        let outcome = transport.invoke(&json!({"version": "2.0"})).await;
        (http.actual_requests().count(), outcome)
    }

    #[tokio::test]
    async fn a_qualifier_is_sent_as_invokes_qualifier_and_none_sends_none() {
        for (qualifier, ending) in [
            (
                None,
                "/2015-03-31/functions/my-frontend-app-api/invocations",
            ),
            (
                Some("7"),
                "/2015-03-31/functions/my-frontend-app-api/invocations?Qualifier=7",
            ),
        ] {
            let (http, client) = replay(vec![lambda_answer(None, r#"{"statusCode":200}"#)]);
            let mut transport = Transport::Remote(Remote {
                qualifier: qualifier.map(str::to_string),
                ..Remote::new(client, "my-frontend-app-api")
            });
            transport
                .invoke(&json!({"version": "2.0"}))
                .await
                .expect("an answer");
            let sent: Vec<_> = http.actual_requests().collect();
            assert!(sent[0].uri().ends_with(ending), "{}", sent[0].uri());
        }
    }

    #[tokio::test]
    async fn a_5xx_from_invoke_is_sent_once_never_retried() {
        let (sent, outcome) = invoke_with(vec![
            error_answer(500, "ServiceException", "internal failure"),
            lambda_answer(None, r#"{"statusCode":200}"#),
        ])
        .await;
        assert_eq!(sent, 1, "a retried Invoke may run the function twice");
        let err = outcome.expect_err("a 500 is no answer");
        assert!(
            err.to_string()
                .contains("the function may or may not have run"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_throttled_or_pending_invoke_is_retried_as_it_did_not_run() {
        let (sent, outcome) = invoke_with(vec![
            error_answer(429, "TooManyRequestsException", "Rate Exceeded."),
            error_answer(
                409,
                "ResourceConflictException",
                "The operation cannot be performed at this time. The function is currently in the following state: Pending",
            ),
            lambda_answer(None, r#"{"statusCode":200,"headers":{},"body":"{}"}"#),
        ])
        .await;
        assert_eq!(sent, 3);
        assert_eq!(outcome.expect("the third attempt answers").status_code, 200);

        let throttled = (0..INVOKE_ATTEMPTS)
            .map(|_| error_answer(429, "TooManyRequestsException", "Rate Exceeded."))
            .collect();
        let (sent, outcome) = invoke_with(throttled).await;
        assert_eq!(sent, INVOKE_ATTEMPTS as usize, "bounded");
        let err = outcome.expect_err("still throttled");
        assert!(
            err.to_string().contains("still refused after 8 attempts"),
            "{err}"
        );
    }

    fn config_answer(state: &str, last_update: &str, memory: i32) -> HttpResponse {
        let mut answer = HttpResponse::new(
            200.try_into().expect("status"),
            SdkBody::from(
                json!({
                    "FunctionName": "my-frontend-app-api",
                    "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api",
                    "Runtime": "nodejs24.x",
                    "State": state,
                    "LastUpdateStatus": last_update,
                    "MemorySize": memory,
                    "Timeout": 10,
                })
                .to_string(),
            ),
        );
        answer
            .headers_mut()
            .insert("Content-Type", "application/json");
        answer
    }

    /// Every client of `Clients` over `http` (only Lambda is asked here).
    fn clients(http: &StaticReplayClient) -> Clients {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(6))
            .region(Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                    "test", "test", None, None, "test",
                )),
            )
            .http_client(http.clone())
            .build();
        Clients::from_config(config)
    }

    /// What `Transport::open` reads before invoking: the function through the graph, for Invoke.
    async fn wait_invocable(
        http: &StaticReplayClient,
        stack: &Stack,
        progress: &Progress,
    ) -> Result<LiveConfig> {
        read_function(&clients(http), stack, Use::Invoke, progress).await
    }

    #[tokio::test]
    async fn invoking_waits_for_active_and_for_the_last_update_to_finish() {
        let stack = shipped_stack();
        let (http, _) = replay(vec![
            config_answer("Pending", "InProgress", 128),
            config_answer("Active", "InProgress", 128),
            config_answer("Active", "Successful", 256),
        ]);
        let progress = Progress::new(crate::progress::Mode::Quiet);
        let live = wait_invocable(&http, &stack, &progress)
            .await
            .expect("ready");
        assert_eq!(http.actual_requests().count(), 3);
        // What the function is once the update is over, not what it was while it ran.
        assert_eq!(live.memory_mb, 256);

        let (http, _) = replay(vec![config_answer("Active", "Successful", 128)]);
        wait_invocable(&http, &stack, &progress)
            .await
            .expect("ready at once");
        assert_eq!(http.actual_requests().count(), 1, "no wait when ready");

        let (http, _) = replay(vec![config_answer("Failed", "Failed", 128)]);
        let err = wait_invocable(&http, &stack, &progress)
            .await
            .expect_err("a Failed function cannot run");
        assert!(err.to_string().contains("State is Failed"), "{err}");
    }

    fn shipped_stack() -> Stack {
        crate::config::parse(
            Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")),
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml")).unwrap(),
            "2026-01-01",
        )
        .expect("the shipped stack.toml")
    }
}
