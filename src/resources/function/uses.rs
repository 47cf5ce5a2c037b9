//! The function as the commands that use it read it (`Purpose::Use`): one GetFunctionConfiguration (no
//! tags, no reserved concurrency, no account pool), and for Lambda Invoke the same call again until the
//! function runs its deployed code.

use aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput;

use super::*;
use crate::resources::Use;

/// The function as `how` needs it; None when it does not exist (the command says what that means for it).
pub(super) async fn read(cx: &ReadCx<'_>, name: &str, how: Use) -> Result<Option<LiveFunction>> {
    let lambda = &cx.clients.lambda;
    let Some(mut config) = configuration(lambda, name, how).await? else {
        return Ok(None);
    };
    if how == Use::Invoke {
        match invocable(&config) {
            Poll::Failed(reason) => {
                anyhow::bail!("Lambda function `{name}` cannot be invoked: {reason}")
            }
            Poll::Done | Poll::Unexpected => {}
            Poll::Pending(state) => match wait_invocable(cx, name, &state).await? {
                Some(latest) => config = latest,
                None => match configuration(lambda, name, how).await? {
                    Some(again) => config = again,
                    None => return Ok(None),
                },
            },
        }
    }
    Ok(Some(live_function!(&config, BTreeMap::new(), None)))
}

/// GetFunctionConfiguration; None when the function does not exist. Its error says what `how` was reading.
async fn configuration(
    lambda: &Client,
    name: &str,
    how: Use,
) -> Result<Option<GetFunctionConfigurationOutput>> {
    match lambda
        .get_function_configuration()
        .function_name(name)
        .send()
        .await
    {
        Ok(config) => Ok(Some(config)),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| match how {
            Use::Logs => {
                format!(
                    "reading where Lambda function `{name}` writes its logs (its LoggingConfig)"
                )
            }
            _ => format!("reading Lambda function `{name}`"),
        }),
    }
}

/// Whether Invoke reaches the deployed code now: a Pending function answers 409, and while an update is
/// InProgress the previous code (and configuration) still answers.
fn invocable(config: &GetFunctionConfigurationOutput) -> Poll {
    match config.state() {
        Some(State::Pending) => Poll::Pending("State Pending".into()),
        Some(State::Failed) => Poll::Failed(format!(
            "its State is Failed ({}): run `stackctl up` to repair it",
            config.state_reason().unwrap_or("no reason given")
        )),
        _ => match config.last_update_status() {
            Some(LastUpdateStatus::InProgress) => {
                Poll::Pending("LastUpdateStatus InProgress".into())
            }
            _ => Poll::Done,
        },
    }
}

/// Asks again (the SDK's waiter engine, bounded by `timeouts.function_secs`) until the function is State
/// Active with its last update over, on the read's progress line. None: the last answer was not kept.
async fn wait_invocable(
    cx: &ReadCx<'_>,
    name: &str,
    state: &str,
) -> Result<Option<GetFunctionConfigurationOutput>> {
    let (lambda, task) = (&cx.clients.lambda, cx.progress);
    task.set(&format!("waiting before invoking ({state})"));
    let last = wait_for(
        &format!("function `{name}` to be Active with its last update done"),
        Duration::from_secs(cx.stack.timeouts.function_secs),
        || {
            lambda
                .get_function_configuration()
                .function_name(name)
                .send()
        },
        |result| match result {
            Ok(c) => invocable(c),
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting before invoking ({state})")),
    )
    .await;
    match last {
        Ok(latest) => {
            task.finish("ready");
            Ok(latest)
        }
        Err(err) => {
            task.fail("not ready");
            Err(err.context(format!("Lambda function `{name}` is not ready")))
        }
    }
}
