//! The one classifier of AWS errors: what kind of failure an SDK error (or an anyhow chain holding one) is,
//! from its error code (`ProvideErrorMetadata::code()`), its HTTP status and the SDK's dispatch-failure
//! kinds. Retry and poll loops, the credentials check and `logs` decide from this, not from their own code
//! lists.

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::{ConnectorError, SdkError};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::error::ErrorMetadata;

/// What kind of failure an AWS error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// AWS throttled the caller (after the SDK's own retries): back off and try again.
    Throttling,
    /// The resource does not exist.
    NotFound,
    /// The credentials expired or could not be loaded: waiting never helps.
    Credentials,
    /// No usable answer (the network failed, timed out) or a 5xx: worth another try later.
    Transient,
    /// Anything else: the service refused, for a reason of its own.
    Other,
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

/// The codes for "no such resource" the services of `Clients` share: Lambda, DynamoDB and CloudWatch Logs
/// say ResourceNotFoundException, IAM NoSuchEntity. Another service's own (SQS's
/// `AWS.SimpleQueueService.NonExistentQueue`) stay in its kind's file, passed to the `_with` classifiers.
const NOT_FOUND_CODES: &[&str] = &["ResourceNotFoundException", "NoSuchEntity"];

/// The codes AWS answers for expired temporary credentials (IAM and STS: ExpiredToken; the JSON services:
/// ExpiredTokenException; a request signed too long ago: RequestExpired).
const EXPIRED_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "RequestExpired"];

/// The class of an AWS error code.
pub fn class_of_code(code: Option<&str>) -> ErrorClass {
    class_of_code_with(code, &[])
}

/// The class of an AWS error code, `not_found` being a service's own codes for "no such resource"
/// besides the shared ones (`NOT_FOUND_CODES`).
pub fn class_of_code_with(code: Option<&str>, not_found: &[&str]) -> ErrorClass {
    match code {
        Some(code) if THROTTLING_CODES.contains(&code) => ErrorClass::Throttling,
        Some(code) if NOT_FOUND_CODES.contains(&code) || not_found.contains(&code) => {
            ErrorClass::NotFound
        }
        Some(code) if EXPIRED_CODES.contains(&code) => ErrorClass::Credentials,
        _ => ErrorClass::Other,
    }
}

/// The class of an SDK error, as an operation's `send()` returns it.
pub fn classify_sdk<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    classify_sdk_with(err, &[])
}

/// `classify_sdk`, with a service's own not-found codes (`class_of_code_with`).
pub fn classify_sdk_with<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
    not_found: &[&str],
) -> ErrorClass {
    match err {
        SdkError::ServiceError(service) => {
            match class_of_code_with(service.err().code(), not_found) {
                ErrorClass::Other if service.raw().status().is_server_error() => {
                    ErrorClass::Transient
                }
                class => class,
            }
        }
        SdkError::DispatchFailure(failure) => connector_class(failure.as_connector_error()),
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => ErrorClass::Transient,
        _ => ErrorClass::Other,
    }
}

/// A dispatch failure is transient only when the network failed: the SDK reports credentials that could not
/// be loaded (an expired SSO session) as one too, and those never come back by waiting.
fn connector_class(failure: Option<&ConnectorError>) -> ErrorClass {
    match failure {
        Some(f) if f.is_io() || f.is_timeout() => ErrorClass::Transient,
        Some(f) if credentials_error(f).is_some() => ErrorClass::Credentials,
        _ => ErrorClass::Other,
    }
}

fn credentials_error(failure: &ConnectorError) -> Option<&CredentialsError> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(failure);
    while let Some(c) = cause {
        if let Some(found) = c.downcast_ref::<CredentialsError>() {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

/// The AWS error code of one error in a chain, when it is one the classifier knows: a service's `Error`
/// (what `.map_err(aws_sdk_x::Error::from)` makes) or the bare `ErrorMetadata` an unmodelled error carries.
pub fn code_of<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a str> {
    meta_of(cause)?.code()
}

/// The error metadata (code and message) of one error in a chain, for the same errors as `code_of`.
fn meta_of<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a ErrorMetadata> {
    if let Some(e) = cause.downcast_ref::<ErrorMetadata>() {
        Some(e)
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_lambda::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_iam::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_dynamodb::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_sts::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_cloudwatchlogs::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_resourcegroupstagging::Error>() {
        Some(e.meta())
    } else if let Some(e) = cause.downcast_ref::<aws_sdk_cognitoidentityprovider::Error>() {
        Some(e.meta())
    } else {
        None
    }
}

/// The codes AWS answers when IAM refuses the caller an action: IAM and STS say AccessDenied, the JSON
/// services AccessDeniedException.
const ACCESS_DENIED_CODES: &[&str] = &["AccessDenied", "AccessDeniedException"];

/// When IAM refused the caller an action somewhere in the chain: one line naming AWS's code and message
/// (which names the identity, the action and the resource) and the fix. The SDK's own rendering of an
/// unmodelled error says only "unhandled error".
pub fn access_denied_in(err: &anyhow::Error) -> Option<String> {
    let meta = err
        .chain()
        .filter_map(meta_of)
        .find(|m| m.code().is_some_and(|c| ACCESS_DENIED_CODES.contains(&c)))?;
    Some(format!(
        "AWS refused the call ({}: {})\n  fix: the identity running stackctl needs that action on that resource; \
         `stackctl policy` prints the policy a deploy of this stack needs (README: \"IAM permissions stackctl \
         itself needs\"); another stack's or stage's resources are outside it on purpose",
        meta.code().unwrap_or("AccessDenied"),
        meta.message().unwrap_or("no message")
    ))
}

/// The class of one error of a chain (not its sources).
fn class_of_cause(cause: &(dyn std::error::Error + 'static), not_found: &[&str]) -> ErrorClass {
    if cause.is::<CredentialsError>() {
        return ErrorClass::Credentials;
    }
    if let Some(failure) = cause.downcast_ref::<ConnectorError>() {
        return connector_class(Some(failure));
    }
    class_of_code_with(code_of(cause), not_found)
}

/// The class of an error anywhere in an anyhow chain: the first error of the chain that is not `Other`.
pub fn classify(err: &anyhow::Error) -> ErrorClass {
    classify_with(err, &[])
}

/// `classify`, with a service's own not-found codes (`class_of_code_with`).
pub fn classify_with(err: &anyhow::Error, not_found: &[&str]) -> ErrorClass {
    err.chain()
        .map(|cause| class_of_cause(cause, not_found))
        .find(|class| *class != ErrorClass::Other)
        .unwrap_or(ErrorClass::Other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    type GetRoleError = aws_sdk_iam::operation::get_role::GetRoleError;

    fn service(code: &str, status: u16) -> SdkError<GetRoleError, HttpResponse> {
        let err = GetRoleError::generic(ErrorMetadata::builder().code(code).build());
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(err, raw)
    }

    #[test]
    fn codes_have_classes() {
        assert_eq!(
            class_of_code(Some("ThrottlingException")),
            ErrorClass::Throttling
        );
        assert_eq!(
            class_of_code(Some("TooManyRequestsException")),
            ErrorClass::Throttling
        );
        assert_eq!(class_of_code(Some("Throttling")), ErrorClass::Throttling);
        assert_eq!(
            class_of_code(Some("ResourceNotFoundException")),
            ErrorClass::NotFound
        );
        assert_eq!(class_of_code(Some("NoSuchEntity")), ErrorClass::NotFound);
        assert_eq!(
            class_of_code(Some("ExpiredTokenException")),
            ErrorClass::Credentials
        );
        assert_eq!(
            class_of_code(Some("InvalidParameterValueException")),
            ErrorClass::Other
        );
        assert_eq!(
            class_of_code(Some("ResourceConflictException")),
            ErrorClass::Other
        );
        assert_eq!(class_of_code(None), ErrorClass::Other);
        // A service's own not-found codes, passed by its kind.
        let sqs = [
            "AWS.SimpleQueueService.NonExistentQueue",
            "QueueDoesNotExist",
        ];
        assert_eq!(class_of_code(Some("QueueDoesNotExist")), ErrorClass::Other);
        assert_eq!(
            class_of_code_with(Some("QueueDoesNotExist"), &sqs),
            ErrorClass::NotFound
        );
        assert_eq!(
            class_of_code_with(Some("NoSuchEntity"), &sqs),
            ErrorClass::NotFound
        );
        assert_eq!(
            class_of_code_with(Some("ThrottlingException"), &sqs),
            ErrorClass::Throttling
        );
        assert_eq!(
            classify_sdk_with(&service("QueueDoesNotExist", 400), &sqs),
            ErrorClass::NotFound
        );
        let wrapped = anyhow::Error::new(service("QueueDoesNotExist", 400)).context("x");
        assert_eq!(classify(&wrapped), ErrorClass::Other);
        assert_eq!(classify_with(&wrapped, &sqs), ErrorClass::NotFound);
    }

    #[test]
    fn sdk_errors_are_classified_by_code_status_and_dispatch_kind() {
        assert_eq!(
            classify_sdk(&service("Throttling", 400)),
            ErrorClass::Throttling
        );
        assert_eq!(
            classify_sdk(&service("NoSuchEntity", 404)),
            ErrorClass::NotFound
        );
        assert_eq!(
            classify_sdk(&service("ExpiredToken", 403)),
            ErrorClass::Credentials
        );
        assert_eq!(
            classify_sdk(&service("ServiceFailure", 500)),
            ErrorClass::Transient
        );
        assert_eq!(
            classify_sdk(&service("AccessDenied", 403)),
            ErrorClass::Other
        );

        let dispatch = |failure: ConnectorError| -> SdkError<GetRoleError, HttpResponse> {
            SdkError::dispatch_failure(failure)
        };
        let io = dispatch(ConnectorError::io(
            std::io::Error::other("connection refused").into(),
        ));
        assert_eq!(classify_sdk(&io), ErrorClass::Transient);
        let timeout = dispatch(ConnectorError::timeout(
            std::io::Error::other("slow").into(),
        ));
        assert_eq!(classify_sdk(&timeout), ErrorClass::Transient);
        let credentials = dispatch(ConnectorError::other(
            Box::new(CredentialsError::provider_error(
                CredentialsError::provider_error("the SSO session has expired"),
            )),
            None,
        ));
        assert_eq!(classify_sdk(&credentials), ErrorClass::Credentials);
        let other = dispatch(ConnectorError::other("something else".into(), None));
        assert_eq!(classify_sdk(&other), ErrorClass::Other);
        let timed_out: SdkError<GetRoleError, HttpResponse> =
            SdkError::timeout_error("operation timed out");
        assert_eq!(classify_sdk(&timed_out), ErrorClass::Transient);

        // The same, wrapped in anyhow with context.
        let wrapped = anyhow::Error::new(io).context("reading IAM role `r`");
        assert_eq!(classify(&wrapped), ErrorClass::Transient);
        let wrapped = anyhow::Error::new(credentials).context("reading IAM role `r`");
        assert_eq!(classify(&wrapped), ErrorClass::Credentials);
    }

    #[test]
    fn throttling_is_recognised_by_code_anywhere_in_the_chain() {
        let lambda = |code: &str| {
            aws_sdk_lambda::Error::from(
                aws_sdk_lambda::operation::create_function::CreateFunctionError::generic(
                    ErrorMetadata::builder().code(code).build(),
                ),
            )
        };
        let throttled = anyhow::Error::new(lambda("TooManyRequestsException"))
            .context("creating Lambda function `f`");
        assert_eq!(classify(&throttled), ErrorClass::Throttling);
        let refused = anyhow::Error::new(lambda("InvalidParameterValueException"))
            .context("creating Lambda function `f`");
        assert_eq!(classify(&refused), ErrorClass::Other);
        let iam = aws_sdk_iam::Error::from(GetRoleError::generic(
            ErrorMetadata::builder().code("Throttling").build(),
        ));
        assert_eq!(
            classify(&anyhow::Error::new(iam).context("a").context("b")),
            ErrorClass::Throttling
        );
        assert_eq!(
            classify(&anyhow::anyhow!("not an AWS error")),
            ErrorClass::Other
        );
        let gone = anyhow::Error::new(lambda("ResourceNotFoundException")).context("x");
        assert_eq!(classify(&gone), ErrorClass::NotFound);
    }
}
