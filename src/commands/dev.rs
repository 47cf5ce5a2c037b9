//! `stackctl dev`: the API on localhost exactly as its function URL serves it. An HTTP/1.1 server (hyper)
//! turns each request into the function URL's payload 2.0 event, runs it in a warm local Node.js worker
//! (handler/pool.rs) and sends the answer back as the URL would, with the URL's CORS; a file watcher rebuilds
//! the handler on every edit and swaps the workers without dropping a request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use notify::{RecursiveMode, Watcher};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Semaphore};

use crate::aws::{Account, Clients};
use crate::cli::Global;
use crate::config::{Stack, UrlAuth};
use crate::escape;
use crate::handler::build_cache::Cache;
use crate::handler::cors::{
    duplicate_allow_origin, host_and_port, is_loopback_origin, Cors, HostName,
};
use crate::handler::local::{dev_spec, node_version_note, MAX_REQUEST_BYTES};
use crate::handler::pool::{Pool, Slots};
use crate::handler::transport::caller_credentials;
use crate::handler::url_codec::{self, Endpoint, HttpAnswer, HttpRequest};
use crate::handler::{package, random_hex};
use crate::interrupt;
use crate::progress::Progress;
use crate::resources::table;

pub struct Options {
    pub address: SocketAddr,
    pub workers: usize,
}

/// How long a quiet spell after a file event must last before the rebuild starts (an editor's save is
/// several events; `git checkout` is many).
const SETTLE: Duration = Duration::from_millis(150);

/// How long a client may take to send a request's headers, and how long an idle keep-alive connection is
/// kept (hyper's header read timeout runs from the moment it waits for the next request).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body (6 MB at most) once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listen backlog until one closes.
const MAX_CONNECTIONS: usize = 128;

/// The limits that keep stalled or abandoned clients from holding the server (README, "stackctl dev").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    header: Duration,
    body: Duration,
    connections: usize,
}

impl Limits {
    /// The documented values; the tests shorten them with `STACKCTL_DEV_TIMEOUT_MS` (both timeouts) and
    /// `STACKCTL_DEV_MAX_CONNECTIONS`, hidden settings that are not part of the interface.
    fn from_env() -> Limits {
        let number = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|n| *n > 0)
        };
        let timeout = number("STACKCTL_DEV_TIMEOUT_MS").map(Duration::from_millis);
        Limits {
            header: timeout.unwrap_or(HEADER_TIMEOUT),
            body: timeout.unwrap_or(BODY_TIMEOUT),
            connections: number("STACKCTL_DEV_MAX_CONNECTIONS")
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(MAX_CONNECTIONS),
        }
    }
}

/// What every request needs.
struct Server {
    /// The pool serving new requests; replaced on reload.
    pool: RwLock<Arc<Pool>>,
    cors: Option<Cors>,
    url_id: String,
    bound: SocketAddr,
    body_timeout: Duration,
}

impl Server {
    fn current(&self) -> Arc<Pool> {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn swap(&self, pool: Arc<Pool>) -> Arc<Pool> {
        std::mem::replace(
            &mut *self.pool.write().unwrap_or_else(|e| e.into_inner()),
            pool,
        )
    }
}

/// Everything a build of the handler needs to become a running pool (owned: the reload loop outlives the
/// borrow of `run`'s arguments).
struct Loader {
    stack: Stack,
    function_arn: String,
    environment: std::collections::BTreeMap<String, String>,
    credentials: Option<aws_sdk_lambda::config::Credentials>,
    /// `--workers`: one set of places for every pool, so a reload never runs more requests at once.
    slots: Arc<Slots>,
    progress: Progress,
}

impl Loader {
    /// Builds (through the build cache) and returns the package.
    async fn build(&self) -> Result<package::Package> {
        let cache = Cache::for_stack_file(&self.stack.file);
        let task = self.progress.task("build");
        match package::build(&self.stack.function, &cache, false, &task).await {
            Ok(package) => Ok(package),
            Err(err) => {
                task.fail(&format!("{err:#}"));
                Err(err)
            }
        }
    }

    /// Unzips the package (exactly what Lambda would run) into a directory of its own and starts a pool on
    /// it: later builds rewrite the artifact dir, never the code a pool runs.
    async fn pool(&self, package: &package::Package) -> Result<Pool> {
        let code = tempfile::Builder::new()
            .prefix("stackctl-dev-")
            .tempdir()
            .context("creating a directory for the handler's code")?;
        zip::ZipArchive::new(std::io::Cursor::new(&package.zip))
            .and_then(|mut archive| archive.extract(code.path()))
            .context("unpacking the handler's package")?;
        let spec = dev_spec(
            &self.stack,
            &self.function_arn,
            self.environment.clone(),
            code.path(),
            self.credentials.as_ref(),
        )?;
        Pool::start(
            spec,
            self.slots.clone(),
            code,
            package.code_sha256.clone(),
            self.progress.clone(),
        )
        .await
    }
}

pub async fn run(
    clients: &Clients,
    stack: &Stack,
    options: &Options,
    global: &Global,
    progress: &Progress,
) -> Result<u8> {
    // Ctrl-C is how dev ends: it says so itself, and finishes the requests in flight.
    interrupt::quiet_first_interrupt();
    let table = table::read(&clients.dynamodb, &stack.table.name)
        .await?
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
    let loader = Loader {
        stack: stack.clone(),
        function_arn: crate::resources::function::arn_in_advance(stack, &account),
        environment: crate::resources::function::declared_environment(
            stack,
            &account,
            Some(&table.arn),
            None,
        )?,
        credentials: caller_credentials(stack, global.profile.as_deref(), progress).await,
        slots: Slots::new(options.workers),
        progress: progress.clone(),
    };
    let package = loader.build().await?;
    let pool = Arc::new(loader.pool(&package).await?);
    let listener = TcpListener::bind(options.address)
        .await
        .with_context(|| format!("listening on {}", options.address))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let cors = stack
        .url
        .as_ref()
        .and_then(|u| u.cors.clone())
        .map(Cors::new);
    if let Some(note) = node_version_note(&pool.node_version(), &stack.function.runtime) {
        progress.warn(&note);
    }
    progress.warn(&format!(
        "the handler runs with your AWS credentials, not the execution role `{}`: a call its role may not make can still succeed here",
        stack.role.name
    ));
    if stack
        .url
        .as_ref()
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
        stack.function.name,
        stack.project_relative(&stack.function.artifact_dir).display(),
        pool.node_version(),
        options.workers,
        stack.table.name,
        where_aws(&stack.region)
    );
    eprintln!(
        "dev: {}",
        match (&stack.url, &cors) {
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
    });

    // Reload on every edit of the handler's sources.
    let (changes_tx, changes) = mpsc::unbounded_channel();
    let _watcher = watch(stack, changes_tx)?;
    let reloader = tokio::spawn(reload_loop(loader, server.clone(), changes));

    let graceful = GracefulShutdown::new();
    // A connection holds a slot until it closes; at the limit, new ones wait in the listen backlog.
    let slots = Arc::new(Semaphore::new(limits.connections));
    let mut noted_full = false;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if !noted_full {
                    noted_full = true;
                    eprintln!(
                        "dev: {} connections open (the limit): new ones wait until one closes",
                        limits.connections
                    );
                }
                tokio::select! {
                    slot = slots.clone().acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    _ = interrupt::interrupted() => break,
                }
            }
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Out of file descriptors and the like: say so, keep serving.
                        eprintln!("dev: accepting a connection: {err}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let server = server.clone();
                let service = service_fn(move |request| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(serve(&server, peer, request).await) }
                });
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.header)
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(slot);
                });
            }
            _ = interrupt::interrupted() => break,
        }
    }
    drop(listener);
    reloader.abort();
    eprintln!("dev: stopping: no new connections; finishing the requests in flight");
    let limit = Duration::from_secs(stack.function.timeout_secs.max(1) as u64 + 5);
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
    eprintln!("dev: stopped");
    Ok(130)
}

/// "the emulator at http://…" or "AWS (us-east-1)": where the table and the handler's calls go.
fn where_aws(region: &str) -> String {
    match std::env::var("AWS_ENDPOINT_URL_DYNAMODB").or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
    {
        Ok(endpoint) if !endpoint.is_empty() => format!("region {region} at {endpoint}"),
        _ => format!("AWS region {region}"),
    }
}

/// One request: a preflight answered from the CORS config, or the handler's answer as the URL sends it.
async fn serve(
    server: &Server,
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_string();
    let target = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    let origin = parts
        .headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut notes: Vec<String> = Vec::new();

    // Only the developer's own browser and tools: refused before the body is read or the handler runs.
    if let Err((status, why)) = admit(&parts, origin.as_deref(), server) {
        access_log(
            &method,
            &target,
            status,
            started,
            std::slice::from_ref(&why),
            None,
        );
        return respond(refusal(status, &why));
    }

    // The URL reads the whole body (buffered mode) and refuses one over Lambda's 6 MB payload limit.
    let read = tokio::time::timeout(
        server.body_timeout,
        Limited::new(body, MAX_REQUEST_BYTES).collect(),
    );
    let body = match read.await {
        Err(_) => {
            let why = format!(
                "the request body did not arrive within {:.1}s",
                server.body_timeout.as_secs_f64()
            );
            access_log(&method, &target, 408, started, &[why], None);
            let mut answer = HttpAnswer {
                status: 408,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("connection".into(), "close".into()),
                ],
                body: br#"{"message":"Request Timeout"}"#.to_vec(),
            };
            if let Some(cors) = &server.cors {
                answer
                    .headers
                    .extend(cors.response_headers(origin.as_deref()));
            }
            return respond(answer);
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(err)) => {
            let too_large = err
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (status, why) = if too_large {
                (413, format!("the request body is over {MAX_REQUEST_BYTES} bytes (Lambda's payload limit)"))
            } else {
                (400, format!("reading the request body: {err}"))
            };
            let mut answer = HttpAnswer {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: if too_large {
                    br#"{"message":"Request Entity Too Large"}"#.to_vec()
                } else {
                    br#"{"message":"Bad Request"}"#.to_vec()
                },
            };
            if let Some(cors) = &server.cors {
                // The URL's CORS headers are on its own refusals too, or a page sees only "Failed to fetch".
                answer
                    .headers
                    .extend(cors.response_headers(origin.as_deref()));
            }
            access_log(&method, &target, status, started, &[why], None);
            return respond(answer);
        }
    };

    if let Some(cors) = &server.cors {
        if Cors::is_preflight(&method, &parts.headers) {
            let (headers, refused) = cors.preflight(&parts.headers);
            if let Some(why) = refused {
                notes.push(format!("preflight refused: {why} in [function.url.cors]"));
            }
            let answer = HttpAnswer {
                status: 200,
                headers,
                body: Vec::new(),
            };
            access_log(&method, &target, 200, started, &notes, None);
            return respond(answer);
        }
    }

    let request_id = uuid_like();
    let domain = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| server.bound.to_string(), str::to_string);
    let event = url_codec::event(
        &HttpRequest {
            method: &method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
            source_ip: peer.ip(),
            protocol: "HTTP/1.1",
        },
        &Endpoint {
            domain_name: domain,
            url_id: server.url_id.clone(),
        },
        &request_id,
        SystemTime::now(),
    );
    let pool = server.current();
    let (mut answer, logs) = match pool.invoke(&event).await {
        Ok(raw) => match url_codec::answer(raw.function_error.as_deref(), &raw.payload) {
            Ok(answer) => (answer, raw.logs),
            Err(why) => {
                notes.push(format!("502: {why}"));
                (HttpAnswer::bad_gateway(), raw.logs)
            }
        },
        Err(err) => {
            notes.push(format!("502: {err}"));
            let logs = err.logs().map(str::to_string);
            (HttpAnswer::bad_gateway(), logs)
        }
    };
    if let Some(cors) = &server.cors {
        answer
            .headers
            .extend(cors.response_headers(origin.as_deref()));
        if let Some(error) = duplicate_allow_origin(&answer.headers, origin.as_deref()) {
            notes.push(error);
        }
    }
    answer
        .headers
        .push(("x-amzn-requestid".into(), request_id.clone()));
    access_log(
        &method,
        &target,
        answer.status,
        started,
        &notes,
        logs.as_deref(),
    );
    respond(answer)
}

/// Whether dev serves this request: its Host must name this server (a loopback name or the bound address,
/// so a page that rebinds its own DNS name to 127.0.0.1 is refused) and its Origin, when it has one, must be
/// allowed by [function.url.cors] (or, without it, be a loopback origin). A request without an Origin (curl,
/// the CLI, a same-origin GET) passes. Err: the status (421 or 403) and why.
fn admit(
    parts: &http::request::Parts,
    origin: Option<&str>,
    server: &Server,
) -> Result<(), (u16, String)> {
    // Every copy of the header counts: an allowed first Host or Origin does not vouch for a second one.
    let hosts: Vec<String> = parts
        .headers
        .get_all(http::header::HOST)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .chain(parts.uri.authority().map(|a| a.as_str().to_string()))
        .collect();
    if hosts.is_empty() {
        return Err((
            421,
            "stackctl dev refuses a request without a Host header".into(),
        ));
    }
    if let Some(host) = hosts.iter().find(|h| !host_allowed(h, server.bound)) {
        return Err((
            421,
            format!(
                "stackctl dev answers requests for localhost, 127.0.0.1, [::1] or {} only, not for Host `{host}` \
                 (a page that points its own name at this machine is refused)",
                server.bound
            ),
        ));
    }
    let origins = parts.headers.get_all(http::header::ORIGIN);
    if origins.iter().count() > 1 {
        return Err((
            403,
            "stackctl dev refuses a request with more than one Origin header".into(),
        ));
    }
    // An Origin that is there but not text is not "no Origin".
    if origin.is_none() && origins.iter().next().is_some() {
        return Err((
            403,
            "stackctl dev refuses a request whose Origin header is not text".into(),
        ));
    }
    let Some(origin) = origin else {
        // No Origin: curl and the CLI, a same-origin GET, a link the developer follows. A browser marks a
        // request another site's page makes without one (an <img>, a <script>: a no-cors GET) with
        // `Sec-Fetch-Site: cross-site`; only a top-level navigation of those is served.
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
        };
        if header("sec-fetch-site").as_deref() == Some("cross-site")
            && header("sec-fetch-mode").as_deref() != Some("navigate")
        {
            return Err((
                403,
                "stackctl dev refuses a request another site's page made without an Origin \
                 (Sec-Fetch-Site: cross-site): open the URL yourself, or call it with fetch from an allowed origin"
                    .into(),
            ));
        }
        return Ok(());
    };
    match &server.cors {
        Some(cors) if cors.allows(origin) => Ok(()),
        Some(_) => Err((
            403,
            format!(
                "stackctl dev refuses requests from origin `{origin}`: it is not in [function.url.cors] \
                 allow_origins (add it there to call the API from that page)"
            ),
        )),
        None if is_loopback_origin(origin) => Ok(()),
        None => Err((
            403,
            format!(
                "stackctl dev refuses requests from origin `{origin}`: without [function.url.cors] it answers \
                 pages on http://localhost, http://127.0.0.1 and http://[::1] (any port) only; add the page's \
                 origin to [function.url.cors] allow_origins"
            ),
        )),
    }
}

/// Whether a Host (`name[:port]`) names this server: `localhost` or a loopback IP with any port (a local
/// proxy may forward its own Host), or the address dev is bound to, with its port or none.
fn host_allowed(host: &str, bound: SocketAddr) -> bool {
    match host_and_port(host.trim()) {
        Some((name, _)) if name.is_loopback() => true,
        Some((HostName::Ip(ip), port)) => {
            ip == bound.ip() && port.is_none_or(|p| p == bound.port())
        }
        _ => false,
    }
}

/// dev's own refusal: JSON with the reason, as the URL's own errors are.
fn refusal(status: u16, why: &str) -> HttpAnswer {
    HttpAnswer {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::json!({ "message": why })
            .to_string()
            .into_bytes(),
    }
}

fn respond(answer: HttpAnswer) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        http::StatusCode::from_u16(answer.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        // url_codec checked the handler's headers; ours are valid by construction.
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// One line per request on stderr (method, path, status, duration), then what went wrong and what the
/// handler printed, indented beside it; written at once so concurrent requests do not interleave.
fn access_log(
    method: &str,
    target: &str,
    status: u16,
    started: Instant,
    notes: &[String],
    logs: Option<&str>,
) {
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    let mut text = format!("{method} {target} {status} {millis:.1}ms\n");
    for note in notes {
        text.push_str(&format!("  ! {note}\n"));
    }
    for line in logs.unwrap_or_default().lines() {
        text.push_str(&format!("  | {line}\n"));
    }
    // The handler's output and the request's target are the client's text: shown, never obeyed.
    eprint!("{}", escape::terminal(&text));
}

/// A request id shaped like Lambda's (8-4-4-4-12 hex digits).
fn uuid_like() -> String {
    let hex = format!("{}{}", random_hex(), random_hex());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Watches the handler's sources (`function.source_dir`, except its dependencies, the build output and
/// stackctl's cache: what the build cache hashes) and sends a unit per relevant change.
fn watch(stack: &Stack, changes: mpsc::UnboundedSender<()>) -> Result<notify::RecommendedWatcher> {
    let source_dir = stack.function.source_dir.clone();
    let artifact_dir = stack.function.artifact_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|path| is_source(path, &source_dir, &artifact_dir))
        {
            let _ = changes.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&stack.function.source_dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching `{}`", stack.function.source_dir.display()))?;
    Ok(watcher)
}

/// Whether a changed path is one of the build's inputs.
fn is_source(path: &Path, source_dir: &Path, artifact_dir: &Path) -> bool {
    if path.starts_with(artifact_dir) {
        return false;
    }
    let relative = path.strip_prefix(source_dir).unwrap_or(path);
    !relative.components().any(|c| {
        matches!(c, Component::Normal(name) if name == "node_modules" || name == ".git" || name == ".stackctl")
    })
}

async fn reload_loop(
    loader: Loader,
    server: Arc<Server>,
    mut changes: mpsc::UnboundedReceiver<()>,
) {
    while changes.recv().await.is_some() {
        // Let the burst of events from one save (or a checkout) settle into one rebuild.
        while let Ok(Some(())) = tokio::time::timeout(SETTLE, changes.recv()).await {}
        let started = Instant::now();
        eprintln!("dev: sources changed: rebuilding");
        if let Err(err) = reload(&loader, &server).await {
            eprintln!("dev: {err:#}\ndev: still serving the previous build");
            continue;
        }
        tracing::debug!("reload took {:?}", started.elapsed());
    }
}

async fn reload(loader: &Loader, server: &Server) -> Result<()> {
    let started = Instant::now();
    let package = loader.build().await.context("the build failed")?;
    if package.code_sha256 == server.current().code_sha256 {
        eprintln!(
            "dev: the build's output did not change (CodeSha256 {}): nothing to reload",
            package.code_sha256
        );
        return Ok(());
    }
    let pool = loader
        .pool(&package)
        .await
        .context("the new build did not start")?;
    let old = server.swap(Arc::new(pool));
    // Requests already running on the old workers finish there; the new code serves every request from now.
    old.retire().await;
    eprintln!(
        "dev: reloaded in {:.1}s: serving CodeSha256 {}",
        started.elapsed().as_secs_f64(),
        package.code_sha256
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_builds_inputs_are_sources() {
        let source = Path::new("/p/lambda");
        let dist = Path::new("/p/lambda/dist");
        assert!(is_source(
            Path::new("/p/lambda/src/handler.ts"),
            source,
            dist
        ));
        assert!(is_source(Path::new("/p/lambda/package.json"), source, dist));
        assert!(!is_source(
            Path::new("/p/lambda/dist/handler.js"),
            source,
            dist
        ));
        assert!(!is_source(
            Path::new("/p/lambda/node_modules/x/index.js"),
            source,
            dist
        ));
        assert!(!is_source(
            Path::new("/p/lambda/.stackctl/cache"),
            source,
            dist
        ));
    }

    #[test]
    fn only_loopback_names_and_the_bound_address_are_hosts() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        for host in [
            "127.0.0.1:3000",
            "127.0.0.1",
            "localhost:3000",
            "LocalHost",
            "localhost:5173",
            "[::1]:3000",
            "[::1]",
            "127.0.0.2:3000",
        ] {
            assert!(host_allowed(host, local), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:3000",
            "localhost.evil.example:3000",
            "127.0.0.1.nip.io:3000",
            "192.168.1.5:3000",
            "localhost:notaport",
            "[::1",
            "[::1]x",
            "::1",
            "",
        ] {
            assert!(!host_allowed(host, local), "{host}");
        }
        // Bound to a LAN address (`--host`): that address, with its port or none, too.
        let lan: SocketAddr = "192.168.1.5:3000".parse().unwrap();
        assert!(host_allowed("192.168.1.5:3000", lan));
        assert!(host_allowed("192.168.1.5", lan));
        assert!(!host_allowed("192.168.1.5:8080", lan));
        assert!(host_allowed("localhost:3000", lan));
        let v6: SocketAddr = "[fd00::5]:3000".parse().unwrap();
        assert!(host_allowed("[fd00::5]:3000", v6));
        assert!(!host_allowed("[fd00::6]:3000", v6));
    }

    #[test]
    fn the_limits_are_the_documented_ones_unless_a_test_shortens_them() {
        // The hidden variables are unset in unit tests.
        assert_eq!(
            Limits::from_env(),
            Limits {
                header: Duration::from_secs(10),
                body: Duration::from_secs(30),
                connections: 128
            }
        );
    }

    #[test]
    fn request_ids_look_like_lambdas() {
        let id = uuid_like();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
    }
}
