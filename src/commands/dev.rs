//! `stackctl dev`: the API on localhost exactly as its function URL serves it. An HTTP/1.1 server (hyper)
//! turns each request into the function URL's payload 2.0 event, runs it in a warm local Node.js worker
//! (handler/pool.rs) and sends the answer back as the URL would, with the URL's CORS; a file watcher rebuilds
//! the handler on every edit and swaps the workers without dropping a request.

mod guard;
mod issuer;
mod reload;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use self::reload::{reload_loop, watch, Loader};
use self::server::{Limits, Server};
use crate::aws::{Account, Clients};
use crate::cli::Global;
use crate::config::{Stack, UrlAuth};
use crate::engine;
use crate::handler::cors::Cors;
use crate::handler::local::node_version_note;
use crate::handler::pool::Slots;
use crate::handler::transport::caller_credentials;
use crate::interrupt;
use crate::outcome::ExitStatus;
use crate::plan::Kind;
use crate::progress::Progress;
use crate::resources::table::Table;
use crate::resources::{Purpose, Use};

pub struct Options {
    pub address: SocketAddr,
    pub workers: usize,
    /// `--auth local`: the workers verify tokens of the project's offline issuer (`token --local`).
    pub auth_local: bool,
}

pub async fn run(
    clients: &Clients,
    stack: &Stack,
    options: &Options,
    global: &Global,
    progress: &Progress,
) -> Result<ExitStatus> {
    // Ctrl-C is how dev ends: it says so itself, and finishes the requests in flight.
    interrupt::quiet_first_interrupt();
    // The table through the graph, as dev uses it (DescribeTable): its ARN gives the account.
    let at = engine::address_of(stack, Kind::Table)?;
    let reads = engine::read_some(
        clients,
        stack,
        Purpose::Use(Use::Dev),
        std::slice::from_ref(&at),
        &progress.task("table"),
    )
    .await?;
    let table = reads
        .live_of::<Table>(&at)
        .map(|state| &state.table)
        .ok_or_else(|| {
            anyhow!(
                "the stack's table `{}` does not exist in {}: run `stackctl up` first (dev runs the handler \
                 locally, against the stack's real table)",
                stack.table.name,
                where_aws(&stack.region)
            )
        })?;
    let account = Account::from_arn(&table.arn).ok_or_else(|| {
        anyhow!(
            "DynamoDB answered a table ARN without an account: `{}`",
            table.arn
        )
    })?;
    let listener = TcpListener::bind(options.address)
        .await
        .with_context(|| format!("listening on {}", options.address))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let mut environment = crate::resources::function::declared_environment_without_managed_auth(
        stack,
        &stack.chosen_function(),
        &account,
        Some(&table.arn),
        None,
    )?;
    if !options.auth_local {
        // With `[auth] cognito = true`, the deployed pool's and client's ids: dev verifies tokens exactly as
        // the deployed function does (`--auth local` sets the offline issuer's instead).
        let managed = crate::handler::local_env::managed_auth_environment(clients, stack).await?;
        environment.extend(managed.into_iter().map(|(k, v)| (k.to_string(), v)));
    }
    // `--auth local`: the offline issuer's key (made on first use), its documents, and the workers' port.
    let local_issuer = match options.auth_local {
        false => None,
        true => {
            let key = crate::identity::local::key_path(&stack.file);
            let local = crate::identity::local::LocalIssuer::open_or_create(&key)?;
            let documents = Arc::new(issuer::Documents::new(&local, bound));
            let workers_port = issuer::bind_workers_port(bound).await?;
            issuer::worker_variables(&mut environment, workers_port.local_addr()?);
            let note = match &stack.auth {
                Some(_) => "stack.toml's [auth] is set aside for this run",
                None => "stack.toml has no [auth]: the deployed function takes no token",
            };
            eprintln!(
                "dev: --auth local: requests need `Authorization: Bearer $(stackctl token --local --user NAME)`, \
                 verified by the handler against the offline issuer ({}, key {}); {note}; discovery at \
                 http://{}{}",
                crate::identity::local::LOCAL_ISSUER,
                stack.project_relative(&key).display(),
                bound,
                crate::identity::local::DISCOVERY_PATH,
            );
            Some((documents, workers_port))
        }
    };
    let loader = Loader {
        stack: stack.clone(),
        function_arn: crate::resources::function::arn_in_advance(
            stack,
            &stack.chosen_function(),
            &account,
        ),
        environment,
        credentials: caller_credentials(stack, global.profile.as_deref(), progress).await,
        slots: Slots::new(options.workers),
        progress: progress.clone(),
    };
    let package = loader.build().await?;
    // Serving before the workers start: a worker's first JWKS fetch finds the port open.
    let (documents, documents_server) = match local_issuer {
        Some((documents, port)) => (
            Some(documents.clone()),
            Some(tokio::spawn(issuer::serve_workers(port, documents))),
        ),
        None => (None, None),
    };
    let pool = Arc::new(loader.pool(&package).await?);
    let cors = stack
        .chosen_function()
        .url
        .and_then(|u| u.cors)
        .map(Cors::new);
    if let Some(note) =
        node_version_note(&pool.node_version(), &stack.chosen_function().spec.runtime)
    {
        progress.warn(&note);
    }
    progress.warn(&format!(
        "the handler runs with your AWS credentials, not the execution role `{}`: a call its role may not make can still succeed here",
        stack.role.name
    ));
    if stack
        .chosen_function()
        .url
        .is_some_and(|u| u.auth == UrlAuth::AwsIam)
    {
        progress.warn("function.url.auth = \"aws_iam\": dev does not check SigV4 signatures; every request is served");
    }
    if !bound.ip().is_loopback() {
        progress.warn(&format!(
            "serving on {}: other machines on the network can call this API, with your AWS credentials",
            bound.ip()
        ));
    }
    eprintln!(
        "dev: serving http://{bound} — function `{}` from `{}` (Node.js {}, up to {} workers), table `{}` in {}",
        stack.chosen_function().spec.name,
        stack.project_relative(&stack.chosen_function().spec.artifact_dir).display(),
        pool.node_version(),
        options.workers,
        stack.table.name,
        where_aws(&stack.region)
    );
    eprintln!(
        "dev: {}",
        match (&stack.chosen_function().url, &cors) {
            (_, Some(_)) => "CORS as [function.url.cors] configures the function URL: preflights are answered here, without the handler".to_string(),
            _ => "no [function.url.cors]: OPTIONS requests reach the handler, as on AWS (the tutorial's handler answers them 405, so a browser on another origin can make only simple requests; add [function.url.cors] for JSON bodies)".to_string(),
        }
    );
    let limits = Limits::from_env();
    let server = Arc::new(Server {
        pool: RwLock::new(pool),
        cors,
        url_id: "stackctl-dev".into(),
        bound,
        body_timeout: limits.body,
        documents,
    });

    // Reload on every edit of the handler's sources.
    let (changes_tx, changes) = mpsc::unbounded_channel();
    let _watcher = watch(stack, changes_tx)?;
    let reloader = tokio::spawn(reload_loop(loader, server.clone(), changes));

    let graceful = GracefulShutdown::new();
    server::accept(&listener, &server, limits, &graceful).await;
    drop(listener);
    reloader.abort();
    eprintln!("dev: stopping: no new connections; finishing the requests in flight");
    let limit = Duration::from_secs(stack.chosen_function().spec.timeout_secs.max(1) as u64 + 5);
    if tokio::time::timeout(limit, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "dev: requests still running after {}s were cut off",
            limit.as_secs()
        );
    }
    server.current().retire().await;
    if let Some(task) = documents_server {
        task.abort();
    }
    eprintln!("dev: stopped");
    Ok(ExitStatus::Interrupted)
}

/// "the emulator at http://…" or "AWS (us-east-1)": where the table and the handler's calls go.
fn where_aws(region: &str) -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
    {
        Ok(endpoint) if !endpoint.is_empty() => format!("region {region} at {endpoint}"),
        _ => format!("AWS region {region}"),
    }
}
