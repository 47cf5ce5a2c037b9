//! The function's Lambda calls: read, create, update configuration and code (each waiting until Lambda
//! takes the next), tag, delete, reserved concurrency and the account's pool.

use super::*;

pub const DEFAULT_ARCHITECTURE: &str = "x86_64";

/// The live function from a function's configuration: GetFunction's `Configuration` or a
/// GetFunctionConfiguration answer (two SDK types with the same fields), with its tags and reserved
/// concurrency, which only GetFunction answers.
macro_rules! live_function {
    ($c:expr, $tags:expr, $reserved:expr) => {{
        let c = $c;
        let state_reason = match (c.state_reason_code(), c.state_reason()) {
            (Some(code), Some(reason)) => Some(format!("{}: {reason}", code.as_str())),
            (None, Some(reason)) => Some(reason.to_string()),
            (Some(code), None) => Some(code.as_str().to_string()),
            (None, None) => None,
        };
        LiveFunction {
            arn: c.function_arn().unwrap_or_default().to_string(),
            state: c.state().map_or("Active", State::as_str).to_string(),
            state_reason,
            last_update_status: c
                .last_update_status()
                .map_or("Successful", LastUpdateStatus::as_str)
                .to_string(),
            last_update_reason: c.last_update_status_reason().map(str::to_string),
            config: FunctionConfig {
                role_arn: c.role().unwrap_or_default().to_string(),
                runtime: c
                    .runtime()
                    .map(|r| r.as_str().to_string())
                    .unwrap_or_default(),
                handler: c.handler().unwrap_or_default().to_string(),
                memory_mb: c.memory_size().unwrap_or(128),
                timeout_secs: c.timeout().unwrap_or(3),
                environment: c
                    .environment()
                    .and_then(|e| e.variables())
                    .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                architecture: c
                    .architectures()
                    .first()
                    .map_or(DEFAULT_ARCHITECTURE, Architecture::as_str)
                    .to_string(),
            },
            code_sha256: c.code_sha256().unwrap_or_default().to_string(),
            tags: $tags,
            reserved_concurrency: $reserved,
            log_group: c
                .logging_config()
                .and_then(|l| l.log_group())
                .map(str::to_string),
        }
    }};
}
pub(super) use live_function;

/// The function as it is, with its tags. GetFunction leaves the tags out when the caller may not
/// `lambda:ListTags` (and says why in TagsError); then ListTags is asked directly, and its failure is an
/// error: without the tags, whether this stack owns the function is unknown, and guessing "not ours" would
/// make down leave it behind and up treat it as adopted.
pub async fn read(client: &Client, name: &str) -> Result<Option<LiveFunction>> {
    read_with(client, name, true).await
}

/// The function's configuration and state, for re-reads that need no tags.
pub(crate) async fn read_config(client: &Client, name: &str) -> Result<Option<LiveFunction>> {
    read_with(client, name, false).await
}

pub(crate) async fn read_with(
    client: &Client,
    name: &str,
    tags: bool,
) -> Result<Option<LiveFunction>> {
    let out = match client.get_function().function_name(name).send().await {
        Ok(out) => out,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(err) => return Err(err).with_context(|| format!("reading Lambda function `{name}`")),
    };
    let c = out
        .configuration()
        .with_context(|| format!("Lambda returned no configuration for `{name}`"))?;
    let arn = c.function_arn().unwrap_or_default().to_string();
    let tags = match (out.tags_error(), tags) {
        (Some(hidden), true) => list_tags(client, name, &arn, hidden).await?,
        _ => out
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    };
    let reserved = out
        .concurrency()
        .and_then(|c| c.reserved_concurrent_executions());
    Ok(Some(live_function!(c, tags, reserved)))
}

pub(crate) async fn list_tags(
    client: &Client,
    name: &str,
    arn: &str,
    hidden: &aws_sdk_lambda::types::TagsError,
) -> Result<BTreeMap<String, String>> {
    use aws_sdk_lambda::error::ProvideErrorMetadata;
    let out = client.list_tags().resource(arn).send().await.map_err(|err| {
        anyhow::anyhow!(
            "cannot read the tags of Lambda function `{name}`, so whether this stack owns it is unknown: \
             GetFunction left them out ({}), and ListTags answered {}: {}; allow `lambda:ListTags` on it to \
             the identity running stackctl (see policies/stackctl-operator-policy.json)",
            hidden.error_code(),
            err.code().unwrap_or("an error"),
            err.message().map_or_else(|| format!("{err:#}"), str::to_string)
        )
    })?;
    Ok(out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

/// GetAccountSettings: the account's concurrency pool in the client's region.
pub async fn read_pool(client: &Client) -> Result<ConcurrencyPool> {
    let out = client.get_account_settings().send().await.context(
        "reading the account's Lambda concurrency (GetAccountSettings), needed to reserve concurrency; allow \
         `lambda:GetAccountSettings` to the identity running stackctl (see policies/stackctl-operator-policy.json)",
    )?;
    let limit = out
        .account_limit()
        .context("Lambda's GetAccountSettings answered no AccountLimit")?;
    Ok(ConcurrencyPool {
        limit: limit.concurrent_executions(),
        unreserved: limit.unreserved_concurrent_executions().unwrap_or(0),
    })
}

/// PutFunctionConcurrency / DeleteFunctionConcurrency, with the marker on an adopted function (`arn`)
/// put on before the reservation and taken off after its removal.
pub async fn set_concurrency(
    client: &Client,
    name: &str,
    arn: &str,
    stack: &str,
    work: ConcurrencyWork,
) -> Result<()> {
    let marker = || format!("updating the `{CONCURRENCY_TAG}` tag of Lambda function `{name}`");
    let mut tags = BTreeMap::from([(CONCURRENCY_TAG.to_string(), stack.to_string())]);
    match work {
        ConcurrencyWork::ReserveMarked(_) => tag(client, arn, &tags).await.with_context(marker)?,
        ConcurrencyWork::ReserveMarkedOver(_, before) => {
            tags.insert(CONCURRENCY_BEFORE_TAG.to_string(), before.to_string());
            tag(client, arn, &tags).await.with_context(marker)?;
        }
        _ => {}
    }
    match work {
        ConcurrencyWork::Reserve(n)
        | ConcurrencyWork::ReserveMarked(n)
        | ConcurrencyWork::ReserveMarkedOver(n, _)
        | ConcurrencyWork::RestoreMarked(n) => {
            client
                .put_function_concurrency()
                .function_name(name)
                .reserved_concurrent_executions(n)
                .send()
                .await
                .with_context(|| {
                    format!("setting the reserved concurrency of Lambda function `{name}` to {n}")
                })?;
        }
        ConcurrencyWork::Unreserve | ConcurrencyWork::UnreserveMarked => {
            client
                .delete_function_concurrency()
                .function_name(name)
                .send()
                .await
                .with_context(|| {
                    format!("removing the reserved concurrency of Lambda function `{name}`")
                })?;
        }
    }
    if matches!(
        work,
        ConcurrencyWork::UnreserveMarked | ConcurrencyWork::RestoreMarked(_)
    ) {
        client
            .untag_resource()
            .resource(arn)
            .tag_keys(CONCURRENCY_TAG)
            .tag_keys(CONCURRENCY_BEFORE_TAG)
            .send()
            .await
            .with_context(marker)?;
    }
    Ok(())
}

pub(crate) fn environment(vars: &BTreeMap<String, String>) -> Environment {
    Environment::builder()
        .set_variables(Some(
            vars.iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ))
        .build()
}

/// Lambda refuses a role it cannot assume yet (IAM is eventually consistent: a new role takes seconds to
/// propagate). Only that error is retried, not other invalid parameters. AWS gives it no distinct error
/// code, so the message is the only way to tell; Terraform and the AWS SAM CLI match it the same way.
pub(crate) fn role_not_yet_assumable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<aws_sdk_lambda::Error>()
            .is_some_and(|e| {
                matches!(e, aws_sdk_lambda::Error::InvalidParameterValueException(inner)
                if inner.message().is_some_and(|m| m.contains("cannot be assumed")))
            })
    })
}

pub struct Timeouts {
    pub ready: Duration,
    pub role_propagation: Duration,
}

pub async fn create(
    client: &Client,
    name: &str,
    config: &FunctionConfig,
    zip: &[u8],
    tags: &BTreeMap<String, String>,
    timeouts: &Timeouts,
    task: &Task,
) -> Result<Created> {
    task.set("creating");
    let send = || async {
        client
            .create_function()
            .function_name(name)
            .role(&config.role_arn)
            .runtime(Runtime::from(config.runtime.as_str()))
            .handler(&config.handler)
            .memory_size(config.memory_mb)
            .timeout(config.timeout_secs)
            .environment(environment(&config.environment))
            .architectures(Architecture::from(config.architecture.as_str()))
            .code(
                FunctionCode::builder()
                    .zip_file(Blob::new(zip.to_vec()))
                    .build(),
            )
            .set_tags(Some(
                tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            ))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("creating Lambda function `{name}`"))
    };
    let created = match retry_while(
        timeouts.role_propagation,
        send,
        role_not_yet_assumable,
        |_| task.set("waiting for the new role to become assumable by Lambda"),
    )
    .await
    {
        Ok(_) => Created::New,
        Err(err) if exists_error(&err) => {
            // Someone (another up?) created it since it was read: the caller converges it.
            task.set("appeared meanwhile; reading it");
            Created::Existing
        }
        Err(err) => return Err(err),
    };
    wait_active(client, name, timeouts.ready, task).await?;
    Ok(created)
}

/// Whether `create` made the function, or found it made by someone else in the meantime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

pub(crate) fn exists_error(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<aws_sdk_lambda::Error>()
            .is_some_and(|e| matches!(e, aws_sdk_lambda::Error::ResourceConflictException(_)))
    })
}

/// Sends the full configuration (the merged environment included), then waits for the update to finish.
/// `first` is what the plan computed from its read; a retry (after a 409: someone else was updating the
/// function, perhaps setting a variable) reads the live variables again and merges `desired` into those, so
/// a concurrent change is never overwritten with a stale copy.
pub async fn update_config(
    client: &Client,
    name: &str,
    desired: &FunctionConfig,
    first: &FunctionConfig,
    timeouts: &Timeouts,
    task: &Task,
    known_ready: bool,
) -> Result<()> {
    // The first attempt skips the wait when the caller just saw the function idle; a retry always waits.
    let skip_wait = std::sync::atomic::AtomicBool::new(known_ready);
    let attempts = std::sync::atomic::AtomicU32::new(0);
    let send = || async {
        if !skip_wait.swap(false, std::sync::atomic::Ordering::SeqCst) {
            wait_ready_for_update(client, name, timeouts.ready, task).await?;
        }
        let config = if attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            let live = read_config(client, name)
                .await?
                .with_context(|| format!("Lambda function `{name}` disappeared"))?;
            merged(desired, &live.config)
        };
        task.set("updating configuration");
        client
            .update_function_configuration()
            .function_name(name)
            .role(&config.role_arn)
            .runtime(Runtime::from(config.runtime.as_str()))
            .handler(&config.handler)
            .memory_size(config.memory_mb)
            .timeout(config.timeout_secs)
            .environment(environment(&config.environment))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("updating the configuration of Lambda function `{name}`"))
    };
    retry_while(
        timeouts.role_propagation,
        send,
        |e| role_not_yet_assumable(e) || update_in_progress(e),
        |_| task.set("waiting to retry the configuration update"),
    )
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// Uploads the code; `architecture`, when given, changes the function's architecture with it (Lambda
/// takes Architectures only here, not in UpdateFunctionConfiguration).
#[allow(clippy::too_many_arguments)]
pub async fn update_code(
    client: &Client,
    name: &str,
    zip: &[u8],
    architecture: Option<&str>,
    timeouts: &Timeouts,
    task: &Task,
    known_ready: bool,
) -> Result<()> {
    // The first attempt skips the wait when the caller just saw the function idle; a retry after a 409
    // always waits.
    let skip_wait = std::sync::atomic::AtomicBool::new(known_ready);
    let send = || async {
        if !skip_wait.swap(false, std::sync::atomic::Ordering::SeqCst) {
            wait_ready_for_update(client, name, timeouts.ready, task).await?;
        }
        task.set("uploading code");
        client
            .update_function_code()
            .function_name(name)
            .zip_file(Blob::new(zip.to_vec()))
            .set_architectures(architecture.map(|a| vec![Architecture::from(a)]))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("updating the code of Lambda function `{name}`"))
    };
    retry_while(timeouts.ready, send, update_in_progress, |_| {
        task.set("another update is in progress; waiting")
    })
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// Another update (ours, or someone else's) still running: Lambda answers 409 ResourceConflict.
pub(crate) fn update_in_progress(err: &anyhow::Error) -> bool {
    exists_error(err)
}

pub async fn wait_active(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    let not_found = NotFound::new("function");
    wait_for(
        &format!("function `{name}` to become Active"),
        timeout,
        || {
            client
                .get_function_configuration()
                .function_name(name)
                .send()
        },
        |result| match result {
            Ok(c) => match c.state() {
                Some(State::Active) | None => Poll::Done,
                Some(State::Failed) => {
                    Poll::Failed(c.state_reason().unwrap_or("no reason given").to_string())
                }
                Some(state) => {
                    not_found.seen();
                    Poll::Pending(state.as_str().to_string())
                }
            },
            Err(e) if e.is_resource_not_found_exception() => not_found.poll(),
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for Active ({state})")),
    )
    .await
    .map(|_| ())
}

/// Waits until LastUpdateStatus is Successful. Failed is an error carrying AWS's reason, never success.
pub async fn wait_updated(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    wait_for_update(client, name, timeout, task, false).await
}

/// Waits until the function accepts another update: the last one is over, whether it succeeded or failed
/// (after a failed update, the fix is simply a new update).
pub(crate) async fn wait_ready_for_update(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    wait_for_update(client, name, timeout, task, true).await
}

pub(crate) async fn wait_for_update(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
    failed_is_over: bool,
) -> Result<()> {
    wait_for(
        &format!("the update of function `{name}`"),
        timeout,
        || {
            client
                .get_function_configuration()
                .function_name(name)
                .send()
        },
        |result| match result {
            Ok(c) => match c.last_update_status() {
                Some(LastUpdateStatus::Successful) | None => Poll::Done,
                Some(LastUpdateStatus::Failed) if failed_is_over => Poll::Done,
                Some(LastUpdateStatus::Failed) => Poll::Failed(format!(
                    "{} ({})",
                    c.last_update_status_reason().unwrap_or("no reason given"),
                    c.last_update_status_reason_code()
                        .map_or("no reason code", |r| r.as_str())
                )),
                Some(status) => Poll::Pending(status.as_str().to_string()),
            },
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting for the update ({state})")),
    )
    .await
    .map(|_| ())
}

/// Adds or updates tags on the function.
pub async fn tag(client: &Client, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
    client
        .tag_resource()
        .resource(arn)
        .set_tags(Some(
            tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        ))
        .send()
        .await
        .with_context(|| format!("tagging Lambda function `{arn}`"))?;
    Ok(())
}

pub async fn delete(client: &Client, name: &str, task: &Task) -> Result<()> {
    task.set("deleting");
    match client.delete_function().function_name(name).send().await {
        Ok(_) => Ok(()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("deleting Lambda function `{name}`")),
    }
}

/// Deletes the function and waits until Lambda no longer knows it, so that a CreateFunction of the same
/// name can follow (a function whose creation failed is replaced this way).
pub async fn delete_and_wait_gone(
    client: &Client,
    name: &str,
    timeout: Duration,
    task: &Task,
) -> Result<()> {
    delete(client, name, task).await?;
    task.set("waiting until it is gone");
    wait_for(
        &format!("function `{name}` to be deleted"),
        timeout,
        || client.get_function().function_name(name).send(),
        |result| match result {
            Ok(out) => Poll::Pending(
                out.configuration()
                    .and_then(|c| c.state())
                    .map_or("still there", State::as_str)
                    .to_string(),
            ),
            Err(e) if e.is_resource_not_found_exception() => Poll::Done,
            Err(_) => Poll::Unexpected,
        },
        |state| task.set(&format!("waiting until it is gone ({state})")),
    )
    .await
    .map(|_| ())
}

/// For a function stackctl did not create: remove only the variables it set, keeping every other one.
/// `ours` maps each variable to the value stackctl set; a variable whose value changed since is someone
/// else's now and stays. The live variables are read right before sending, never taken from an old read.
pub async fn remove_variables(
    client: &Client,
    live: &LiveFunction,
    ours: &BTreeMap<String, String>,
    timeouts: &Timeouts,
    task: &Task,
) -> Result<()> {
    let name = live.arn.rsplit(':').next().unwrap_or(&live.arn);
    let send = || async {
        wait_ready_for_update(client, name, timeouts.ready, task).await?;
        let Some(now) = read_config(client, name).await? else {
            return Ok(());
        };
        let mut variables = now.config.environment.clone();
        variables.retain(|k, v| ours.get(k) != Some(v));
        if variables == now.config.environment {
            return Ok(());
        }
        task.set(&format!(
            "removing {}",
            ours.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
        client
            .update_function_configuration()
            .function_name(&live.arn)
            .environment(environment(&variables))
            .send()
            .await
            .map_err(aws_sdk_lambda::Error::from)
            .with_context(|| format!("removing stackctl's variables from Lambda function `{name}`"))
            .map(|_| ())
    };
    retry_while(timeouts.ready, send, update_in_progress, |_| {
        task.set("another update is in progress; waiting")
    })
    .await?;
    wait_updated(client, name, timeouts.ready, task).await
}

/// One published version (or alias) of the function, as GetFunctionConfiguration with `Qualifier` answers
/// it: its code and configuration are frozen at publish. None: the function or the version does not exist.
pub async fn read_version(
    client: &Client,
    name: &str,
    qualifier: &str,
) -> Result<Option<LiveFunction>> {
    match client
        .get_function_configuration()
        .function_name(name)
        .qualifier(qualifier)
        .send()
        .await
    {
        Ok(c) => Ok(Some(live_function!(&c, BTreeMap::new(), None))),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(err) => Err(err)
            .with_context(|| format!("reading version {qualifier} of Lambda function `{name}`")),
    }
}
