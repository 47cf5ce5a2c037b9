//! One SDK config, shared by all service clients (one HTTP client, one credentials cache), the SDK's retry
//! policy, and the account the credentials belong to.

use anyhow::{anyhow, Context, Result};
use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;

use super::calls::CallCounter;

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
