//! Missing or expired AWS credentials, the most common CI failure, said in one line: what was tried and how
//! to provide them, instead of the SDK's chain ("dispatch failure: other: an error occurred while loading
//! credentials: failed to load IMDS session token ...").

use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::ProvideCredentials;

/// How to provide credentials, for every message.
const HOW: &str = "provide them with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), \
                   `--profile <name>` (after `aws sso login --profile <name>` for SSO), or in CI an OIDC role \
                   (GitHub Actions: aws-actions/configure-aws-credentials with role-to-assume)";

/// No usable credentials: the one line main prints, exit 1.
#[derive(Debug)]
pub struct CredentialsProblem(String);

impl fmt::Display for CredentialsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CredentialsProblem {}

/// Where the SDK's default chain looked, in its order.
fn sources(profile: Option<&str>) -> String {
    let profile = match profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
    {
        Some(name) => format!("profile `{name}`"),
        None => "the default profile".to_string(),
    };
    format!(
        "environment variables, {profile} in ~/.aws/config and ~/.aws/credentials (SSO, credential_process), \
         a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE), ECS container credentials, EC2 instance metadata"
    )
}

/// Resolves credentials once before any request, so that a run without them stops before it reads, builds
/// or writes anything.
pub async fn check(
    config: &aws_config::SdkConfig,
    profile: Option<&str>,
) -> Result<(), CredentialsProblem> {
    let Some(provider) = config.credentials_provider() else {
        return Err(CredentialsProblem(format!(
            "no AWS credentials found (no credential source is configured); {HOW}"
        )));
    };
    match provider.provide_credentials().await {
        Ok(credentials) => match credentials.expiry() {
            Some(expiry) if expiry <= std::time::SystemTime::now() => Err(expired(None)),
            _ => Ok(()),
        },
        Err(err) => Err(not_loaded(&err, profile)),
    }
}

fn not_loaded(err: &CredentialsError, profile: Option<&str>) -> CredentialsProblem {
    let tried = sources(profile);
    // One line: a credential_process's stderr ends with a newline, and may hold several.
    let reason = std::error::Error::source(err)
        .map(|s| {
            s.to_string()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            CredentialsProblem(format!("no AWS credentials found (tried {tried}); {HOW}"))
        }
        _ if reason.to_ascii_lowercase().contains("expired") => expired(Some(&reason)),
        _ => CredentialsProblem(format!(
            "the AWS credentials could not be loaded ({err}{}; tried {tried}); {HOW}",
            if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        )),
    }
}

fn expired(detail: Option<&str>) -> CredentialsProblem {
    CredentialsProblem(format!(
        "the AWS credentials have expired{}; refresh them: `aws sso login --profile <name>` for SSO, new \
         temporary credentials (AWS_SESSION_TOKEN) from whoever issued them, or in CI re-run the job (its OIDC \
         role session may be shorter than the job: raise role-duration-seconds)",
        detail.map(|d| format!(" ({d})")).unwrap_or_default()
    ))
}

/// Credentials that stopped working while the run was going, as that one line: a service answered that they
/// expired, or the SDK could not load them again (an SSO session or a credential_process that expired; the
/// SDK reports that as a dispatch failure wrapping the provider's error, AWS-BEHAVIOUR.md).
pub fn expired_in(err: &anyhow::Error) -> Option<CredentialsProblem> {
    // The provider's own error is the innermost: the credential chain and the cache wrap it in their own
    // ("an error occurred while loading credentials").
    if let Some(failed) = err
        .chain()
        .filter_map(|cause| cause.downcast_ref::<CredentialsError>())
        .last()
    {
        return Some(not_loaded(failed, None));
    }
    // Or a service answered that they expired (the classifier knows the codes).
    err.chain().find_map(|cause| {
        let code = crate::aws::errors::code_of(cause)?;
        (crate::aws::errors::class_of_code(Some(code)) == crate::aws::ErrorClass::Credentials)
            .then(|| expired(Some(&format!("AWS answered {code}"))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_name_what_was_tried_and_how_to_provide_credentials() {
        let none = not_loaded(&CredentialsError::not_loaded_no_source(), Some("ci"));
        let text = none.to_string();
        assert!(
            text.starts_with("no AWS credentials found (tried environment variables, profile `ci`")
        );
        assert!(
            text.contains("--profile") && text.contains("aws sso login") && text.contains("OIDC")
        );
        assert!(!text.contains('\n'));
        let sso = not_loaded(
            &CredentialsError::provider_error("the SSO session has expired"),
            None,
        );
        assert!(sso
            .to_string()
            .starts_with("the AWS credentials have expired (the SSO session has expired)"));
        let meta = aws_smithy_types::error::ErrorMetadata::builder()
            .code("ExpiredTokenException")
            .build();
        let err = anyhow::Error::new(meta).context("reading the table");
        assert!(expired_in(&err)
            .unwrap()
            .to_string()
            .contains("AWS answered ExpiredTokenException"));
        let other = aws_smithy_types::error::ErrorMetadata::builder()
            .code("AccessDenied")
            .build();
        assert!(expired_in(&anyhow::Error::new(other)).is_none());
    }

    #[test]
    fn credentials_that_stop_loading_mid_run_are_the_same_line_not_a_dispatch_failure() {
        use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
        // What the SDK makes of a provider error during a request: a dispatch failure wrapping it.
        let dispatch = |err: CredentialsError| {
            // Wrapped once more, as the credential chain does.
            let chain = CredentialsError::provider_error(err);
            let failure: SdkError<std::fmt::Error, ()> =
                SdkError::dispatch_failure(ConnectorError::other(Box::new(chain), None));
            anyhow::Error::new(failure).context("reading log group `g`")
        };
        let expired = expired_in(&dispatch(CredentialsError::provider_error(
            "external process exited with code 1. Stderr: the SSO session has expired\n",
        )))
        .unwrap()
        .to_string();
        assert!(
            expired.starts_with("the AWS credentials have expired (")
                && expired.contains("Stderr: the SSO session has expired); refresh them")
                && expired.contains("aws sso login")
                && !expired.contains('\n'),
            "{expired}"
        );
        let broken = expired_in(&dispatch(CredentialsError::invalid_configuration(
            "profile `x` has no source",
        )))
        .unwrap()
        .to_string();
        assert!(
            broken.starts_with("the AWS credentials could not be loaded"),
            "{broken}"
        );
        // A network failure is not about credentials.
        let io: SdkError<std::fmt::Error, ()> = SdkError::dispatch_failure(ConnectorError::io(
            std::io::Error::other("connection refused").into(),
        ));
        assert!(expired_in(&anyhow::Error::new(io)).is_none());
    }
}
