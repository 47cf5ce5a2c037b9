//! One SDK config, shared by all service clients (one HTTP client, one credentials cache), the SDK's retry
//! policy, and the account the credentials belong to. A service's client is built from that config with
//! the call counter on it (`aws::client!`): the services the shared code uses have a field in `Clients`,
//! any other (a new kind's) is built by its kind where it is used, with no change here.

use anyhow::{anyhow, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use super::calls::CallCounter;

/// A client of any AWS service from the shared config, counting its calls (the interceptor is never
/// forgotten): `aws::client!(clients, aws_sdk_sqs)`. Cheap (no connection is made: the HTTP client and
/// the credentials cache are the config's), so a kind may build its client where it needs it.
macro_rules! client {
    ($clients:expr, $sdk:ident) => {{
        let clients: &$crate::aws::Clients = $clients;
        $crate::aws::client!(@ clients.sdk_config(), &clients.calls, $sdk)
    }};
    (@ $config:expr, $calls:expr, $sdk:ident) => {
        $sdk::Client::from_conf(
            $sdk::config::Builder::from($config)
                .interceptor(($calls).clone())
                .build(),
        )
    };
}
pub(crate) use client;

/// Clients for the services stackctl's shared code talks to, built from one `SdkConfig` (one HTTP client,
/// one credentials cache), and that config for any other service's client (`client!`).
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub sts: aws_sdk_sts::Client,
    pub calls: CallCounter,
    config: SdkConfig,
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
    super::credentials::check(&config, target.profile).await?;
    Ok(Clients::from_config(config))
}

impl Clients {
    /// Every field's client from `config`, with one call counter.
    pub(crate) fn from_config(config: SdkConfig) -> Clients {
        let calls = CallCounter::default();
        Clients {
            dynamodb: client!(@ &config, &calls, aws_sdk_dynamodb),
            iam: client!(@ &config, &calls, aws_sdk_iam),
            lambda: client!(@ &config, &calls, aws_sdk_lambda),
            logs: client!(@ &config, &calls, aws_sdk_cloudwatchlogs),
            sts: client!(@ &config, &calls, aws_sdk_sts),
            calls,
            config,
        }
    }

    /// The shared config (region, credentials, retries, HTTP client) every client is built from.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A client built with `client!` (as a new kind builds its service's) counts its calls like the
    /// fields' clients.
    #[tokio::test]
    async fn a_client_built_from_the_shared_config_counts_its_calls() {
        use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
        use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
        use aws_smithy_runtime_api::http::StatusCode;
        use aws_smithy_types::body::SdkBody;
        let answer = || {
            ReplayEvent::new(
                HttpRequest::new(SdkBody::empty()),
                aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
                    StatusCode::try_from(400).unwrap(),
                    SdkBody::from("{}"),
                ),
            )
        };
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new("test", "test", None, None, "test"),
                ),
            )
            .http_client(StaticReplayClient::new(vec![answer(), answer()]))
            .build();
        let clients = Clients::from_config(config);
        let logs = crate::aws::client!(&clients, aws_sdk_cloudwatchlogs);
        let _ = logs.describe_log_groups().send().await;
        let _ = logs.create_log_group().log_group_name("g").send().await;
        assert_eq!(
            clients.calls.snapshot(),
            crate::aws::Calls {
                reads: 1,
                writes: 1
            }
        );
    }

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
