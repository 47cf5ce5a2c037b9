//! Sending API Gateway HTTP API (payload v2) events to the function. Two transports share everything after
//! the invocation itself:
//!
//! - `Remote`: the deployed function, through Lambda Invoke (RequestResponse, with the log tail; remote.rs);
//! - `Local`: the built handler in the local Node.js (local.rs).
//!
//! Both produce Lambda's raw answer (the FunctionError header, if any, and the payload bytes), so one
//! function, `event::interpret`, decides what is a response and what is a failure.

use anyhow::Result;
use aws_sdk_lambda::config::ProvideCredentials;
use serde_json::Value;

#[cfg(test)]
use super::event::interpret;
use super::event::{InvokeError, Response};
use super::local::{Local, RunnerSpec};
use super::local_env::{
    child_env, declared_environment, display_path, environment_note, handler_file, local_notes,
    log_stream_name, ChildSettings,
};
use super::remote::read_function;
pub use super::remote::Remote;
use super::url::UrlTarget;
use crate::aws::Clients;
use crate::config::Stack;
use crate::progress::Progress;
use crate::resources::Use;
use crate::runtimes;

/// Where events go: the deployed function, the built handler in the local Node.js, or the function URL.
pub enum Transport {
    Remote(Remote),
    Local(Box<Local>),
    Url(Box<UrlTarget>),
    /// Unit tests: a handler written in Rust, answering Lambda's raw (FunctionError, payload).
    #[cfg(test)]
    Fake(Box<FakeHandler>),
}

/// A test double for the function: an event in, Lambda's raw (FunctionError, payload) out.
#[cfg(test)]
pub type FakeHandler = dyn FnMut(&Value) -> (Option<String>, Vec<u8>) + Send;

/// How smoke and invoke reach the handler (`--local`, `--url[=BASE_URL]`, or neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Invoke,
    Local,
    /// `base`: None for the deployed URL. `origin`: an Origin header to send, whose CORS answer is checked.
    Url {
        base: Option<String>,
        origin: Option<String>,
    },
}

impl Transport {
    /// Checks the function is deployed (and, for `Remote`, ready to run its deployed code), then opens the
    /// transport (for `Local`: starts Node.js with the built handler and the variables stack.toml declares).
    pub async fn open(
        clients: &Clients,
        stack: &Stack,
        via: &Via,
        profile: Option<&str>,
        progress: &Progress,
    ) -> Result<Transport> {
        if let Via::Url { base, origin } = via {
            let target =
                UrlTarget::open(clients, stack, base.as_deref(), origin.clone(), profile).await?;
            return Ok(Transport::Url(Box::new(target)));
        }
        let function = &stack.chosen_function().spec;
        if *via == Via::Invoke {
            read_function(clients, stack, Use::Invoke, progress).await?;
            // With `[function.deploy]`, what serves is the alias's version, not `$LATEST`.
            let mut remote = Remote::new(clients.lambda.clone(), &function.name);
            remote.qualifier = stack.chosen_function().deploy.map(|d| d.alias);
            return Ok(Transport::Remote(remote));
        }
        let live = read_function(clients, stack, Use::Local, progress).await?;
        let file = handler_file(stack)?;
        if let Ok(package) = crate::build::package::pack(&function.artifact_dir) {
            if !live.code_sha256.is_empty() && package.code_sha256 != live.code_sha256 {
                progress.warn(&format!(
                    "the local build in `{}` differs from the deployed code (CodeSha256 {} here, {} deployed): --local runs the local build; `stackctl up` deploys it",
                    display_path(&function.artifact_dir),
                    package.code_sha256,
                    live.code_sha256
                ));
            }
        }
        let mut environment = declared_environment(stack, &live)?;
        environment.extend(
            super::local_env::managed_auth_environment(clients, stack)
                .await?
                .into_iter()
                .map(|(k, v)| (k.to_string(), v)),
        );
        if let Some(note) = environment_note(&live.environment, &environment) {
            progress.warn(&note);
        }
        let credentials = caller_credentials(stack, profile, progress).await;
        let env = child_env(
            std::env::vars_os(),
            &ChildSettings {
                stack,
                live: &live,
                environment: &environment,
                credentials: credentials.as_ref(),
                log_stream: log_stream_name(),
            },
        );
        let spec = RunnerSpec {
            task_root: function.artifact_dir.clone(),
            handler: function.handler.clone(),
            handler_file: file,
            timeout_secs: live.timeout_secs,
            memory_mb: live.memory_mb,
            refuse_callbacks: runtimes::refuses_callback_handlers(&live.runtime),
            env,
        };
        let local = Local::start(spec, progress.clone()).await?;
        for note in local_notes(&local.node_version, &live.runtime, &live.arn) {
            progress.warn(&note);
        }
        Ok(Transport::Local(Box::new(local)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Transport::Remote(_) => "remote",
            Transport::Local(_) => "local",
            Transport::Url(_) => "url",
            #[cfg(test)]
            Transport::Fake(_) => "fake",
        }
    }

    /// Whether an invocation in flight can be abandoned: a local one is stopped with its runner (and a fresh
    /// runner serves the next request); a remote one keeps running on AWS whatever stackctl does.
    pub fn can_abandon(&self) -> bool {
        matches!(self, Transport::Local(_))
    }

    /// The base URL requests go to (the `url` transport only).
    pub fn base_url(&self) -> Option<String> {
        match self {
            Transport::Url(url) => Some(url.base.clone()),
            _ => None,
        }
    }

    /// The Origin header every request carries (the `url` transport with `--origin`).
    pub fn origin(&self) -> Option<&str> {
        match self {
            Transport::Url(url) => url.origin.as_deref(),
            _ => None,
        }
    }

    /// For people: how events are delivered.
    pub fn describe(&self) -> String {
        match self {
            Transport::Remote(remote) => match &remote.qualifier {
                Some(qualifier) => format!("Lambda Invoke of `{qualifier}`"),
                None => "Lambda Invoke".to_string(),
            },
            Transport::Url(url) => format!(
                "HTTP requests to {}{}",
                url.base,
                if url.signed() { " (SigV4-signed)" } else { "" }
            ),
            Transport::Local(local) => format!(
                "local Node.js {} running {}",
                local.node_version,
                display_path(&local.spec.handler_file)
            ),
            #[cfg(test)]
            Transport::Fake(_) => "a fake".to_string(),
        }
    }

    /// Sends one event and reads the answer.
    pub async fn invoke(&mut self, event: &Value) -> Result<Response, InvokeError> {
        match self {
            Transport::Remote(remote) => remote.invoke(event).await,
            Transport::Local(local) => local.invoke(event).await,
            Transport::Url(url) => url.invoke(event).await,
            #[cfg(test)]
            Transport::Fake(handler) => {
                let (error, payload) = handler(event);
                interpret(error.as_deref(), &payload, None)
            }
        }
    }

    /// Stops the local Node.js process, if any.
    pub async fn close(self) {
        if let Transport::Local(local) = self {
            local.close().await;
        }
    }
}

/// The credentials stackctl itself runs with, for a local handler (so that it reaches the same account): the
/// same chain stackctl's own clients use (the client config does not expose it). None, with a warning, when
/// they cannot be resolved: the handler then uses its own chain.
pub async fn caller_credentials(
    stack: &Stack,
    profile: Option<&str>,
    progress: &Progress,
) -> Option<aws_sdk_lambda::config::Credentials> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(stack.region.clone()));
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let provider = loader.load().await.credentials_provider()?;
    match provider.provide_credentials().await {
        Ok(creds) => Some(creds),
        Err(err) => {
            progress.warn(&format!(
                "could not resolve AWS credentials for the local handler ({err}); it uses its own credential chain"
            ));
            None
        }
    }
}
