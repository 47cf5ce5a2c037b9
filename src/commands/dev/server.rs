//! dev's HTTP/1.1 server (hyper): the accept loop with its connection limit and timeouts, and one request
//! turned into the function URL's event, run in the current pool, and answered as the URL answers (CORS, the
//! 413/408/400 refusals, the 502s), with one access-log entry on stderr.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::guard::admit;
use super::issuer::Documents;
use crate::escape;
use crate::handler::cors::{duplicate_allow_origin, Cors};
use crate::handler::local::MAX_REQUEST_BYTES;
use crate::handler::pool::Pool;
use crate::handler::random_hex;
use crate::handler::url_codec::{self, Endpoint, HttpAnswer, HttpRequest};
use crate::interrupt;

/// How long a client may take to send a request's headers, and how long an idle keep-alive connection is
/// kept (hyper's header read timeout runs from the moment it waits for the next request).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body (6 MB at most) once its headers are in.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listen backlog until one closes.
const MAX_CONNECTIONS: usize = 128;

/// The limits that keep stalled or abandoned clients from holding the server (README, "stackctl dev").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    pub(super) header: Duration,
    pub(super) body: Duration,
    pub(super) connections: usize,
}

impl Limits {
    /// The documented values; the tests shorten them with `STACKCTL_DEV_TIMEOUT_MS` (both timeouts) and
    /// `STACKCTL_DEV_MAX_CONNECTIONS`, hidden settings that are not part of the interface.
    pub(super) fn from_env() -> Limits {
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
pub(super) struct Server {
    /// The pool serving new requests; replaced on reload.
    pub(super) pool: RwLock<Arc<Pool>>,
    pub(super) cors: Option<Cors>,
    pub(super) url_id: String,
    pub(super) bound: SocketAddr,
    pub(super) body_timeout: Duration,
    /// `--auth local`: the offline issuer's discovery document and JWKS, served before the handler.
    pub(super) documents: Option<Arc<Documents>>,
}

impl Server {
    pub(super) fn current(&self) -> Arc<Pool> {
        self.pool.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn swap(&self, pool: Arc<Pool>) -> Arc<Pool> {
        std::mem::replace(
            &mut *self.pool.write().unwrap_or_else(|e| e.into_inner()),
            pool,
        )
    }
}

/// Accepts connections until the first Ctrl-C, each served on its own task (watched by `graceful`); at
/// `limits.connections` open, new ones wait in the listen backlog.
pub(super) async fn accept(
    listener: &TcpListener,
    server: &Arc<Server>,
    limits: Limits,
    graceful: &GracefulShutdown,
) {
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
    // For the access log: the path and query, a token in the query (`access_token=`, `id_token=`) hidden.
    let target = redacted_target(parts.uri.path(), parts.uri.query());
    let origin = parts
        .headers
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut notes: Vec<String> = Vec::new();

    // Only the developer's own browser and tools: refused before the body is read or the handler runs.
    if let Err((status, why)) = admit(
        &parts,
        origin.as_deref(),
        server.cors.as_ref(),
        server.bound,
    ) {
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

    // `--auth local`: the issuer's public documents (the guard above applies to them too).
    if let Some(answer) = server
        .documents
        .as_ref()
        .and_then(|docs| docs.answer(&method, parts.uri.path()))
    {
        access_log(&method, &target, answer.status, started, &[], None);
        return respond(answer);
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

/// dev's own refusal: JSON with the reason, as the URL's own errors are.
pub(super) fn refusal(status: u16, why: &str) -> HttpAnswer {
    HttpAnswer {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::json!({ "message": why })
            .to_string()
            .into_bytes(),
    }
}

pub(super) fn respond(answer: HttpAnswer) -> hyper::Response<Full<Bytes>> {
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
pub(super) fn access_log(
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

#[cfg(test)]
mod tests {
    use super::*;

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

/// Query parameters whose value is a credential: never written to the access log.
const SECRET_PARAMETERS: [&str; 3] = ["access_token", "id_token", "token"];

/// `path?query` for the access log, each credential parameter's value replaced by `***`.
fn redacted_target(path: &str, query: Option<&str>) -> String {
    let Some(query) = query else {
        return path.to_string();
    };
    let shown: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMETERS.contains(&name.to_ascii_lowercase().as_str()) => {
                format!("{name}=***")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", shown.join("&"))
}

#[cfg(test)]
mod redaction_tests {
    use super::redacted_target;

    #[test]
    fn a_token_in_the_query_never_reaches_the_access_log() {
        assert_eq!(
            redacted_target("/items", Some("userId=u&access_token=eyJhbGci.x.y")),
            "/items?userId=u&access_token=***"
        );
        assert_eq!(
            redacted_target("/items", Some("ID_TOKEN=eyJ")),
            "/items?ID_TOKEN=***"
        );
        assert_eq!(redacted_target("/items", None), "/items");
        assert_eq!(
            redacted_target("/items", Some("userId=u")),
            "/items?userId=u"
        );
    }
}
