//! `dev --auth local`: the offline issuer's two public documents (discovery and JWKS), served on dev's port
//! for frontends and tools, and on a second loopback port for the workers alone. The workers' own JWKS fetch
//! must not wait for one of dev's connection slots: every slot may be held by a client whose request waits on
//! that very fetch (a browser's keep-alive connections, a bench, `STACKCTL_DEV_MAX_CONNECTIONS`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::guard::admit;
use crate::config::AUTH_VARIABLES;
use crate::handler::url_codec::HttpAnswer;
use crate::identity::local::{
    LocalIssuer, DISCOVERY_PATH, JWKS_PATH, LOCAL_AUDIENCE, LOCAL_ISSUER,
};

/// The variables of AUTH-CONTRACT dev sets (each one of `AUTH_VARIABLES`, which a test checks).
const AUTH_ISSUER_VARIABLE: &str = "STACKCTL_AUTH_ISSUER";
const AUTH_AUDIENCE_VARIABLE: &str = "STACKCTL_AUTH_AUDIENCE";
const AUTH_JWKS_URL_VARIABLE: &str = "STACKCTL_AUTH_JWKS_URL";

/// Connections the workers' port serves at once (each worker fetches the JWKS about once per 10 minutes).
const WORKER_CONNECTIONS: usize = 16;

/// The two documents, rendered once.
pub(super) struct Documents {
    discovery: Vec<u8>,
    jwks: Vec<u8>,
}

impl Documents {
    /// The documents for the issuer, its JWKS named at dev's own address (`public`).
    pub(super) fn new(issuer: &LocalIssuer, public: SocketAddr) -> Documents {
        let jwks_uri = format!("http://{}{JWKS_PATH}", loopback_of(public));
        Documents {
            discovery: issuer.discovery(&jwks_uri).to_string().into_bytes(),
            jwks: issuer.jwks().to_string().into_bytes(),
        }
    }

    /// The answer when the request is for one of the documents (GET or HEAD), else None.
    pub(super) fn answer(&self, method: &str, path: &str) -> Option<HttpAnswer> {
        let body = match path {
            DISCOVERY_PATH => &self.discovery,
            JWKS_PATH => &self.jwks,
            _ => return None,
        };
        let mut headers = vec![
            ("content-type".to_string(), "application/json".to_string()),
            ("cache-control".into(), "no-cache".into()),
            // Public keys: any page dev admits (its guard ran first) may read them.
            ("access-control-allow-origin".into(), "*".into()),
        ];
        Some(match method {
            "GET" => HttpAnswer {
                status: 200,
                headers,
                body: body.clone(),
            },
            "HEAD" => HttpAnswer {
                status: 200,
                headers,
                body: Vec::new(),
            },
            _ => {
                headers.push(("allow".into(), "GET, HEAD".into()));
                HttpAnswer {
                    status: 405,
                    headers,
                    body: br#"{"message":"Method Not Allowed"}"#.to_vec(),
                }
            }
        })
    }
}

/// A loopback address to reach a server bound at `bound` from this machine (`0.0.0.0` → 127.0.0.1).
fn loopback_of(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

/// The workers' variables for the offline issuer, in place of any `[auth]`'s: its fixed issuer and audience,
/// and the JWKS on the workers' port (`jwks_at`).
pub(super) fn worker_variables(environment: &mut BTreeMap<String, String>, jwks_at: SocketAddr) {
    for name in AUTH_VARIABLES {
        environment.remove(name);
    }
    environment.insert(AUTH_ISSUER_VARIABLE.into(), LOCAL_ISSUER.into());
    environment.insert(AUTH_AUDIENCE_VARIABLE.into(), LOCAL_AUDIENCE.into());
    environment.insert(
        AUTH_JWKS_URL_VARIABLE.into(),
        format!("http://{jwks_at}{JWKS_PATH}"),
    );
}

/// Binds the workers' port on the loopback address of dev's family.
pub(super) async fn bind_workers_port(public: SocketAddr) -> Result<TcpListener> {
    let ip = match loopback_of(public).ip() {
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let listener = TcpListener::bind(SocketAddr::new(ip, 0))
        .await
        .context("listening on a loopback port for the workers' JWKS fetches")?;
    if !listener.local_addr()?.ip().is_loopback() {
        bail!("the workers' JWKS port is not on loopback");
    }
    Ok(listener)
}

/// Serves the documents on the workers' port until the task is aborted (dev's end).
pub(super) async fn serve_workers(listener: TcpListener, documents: Arc<Documents>) {
    let Ok(bound) = listener.local_addr() else {
        return;
    };
    let slots = Arc::new(Semaphore::new(WORKER_CONNECTIONS));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let documents = documents.clone();
        let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let documents = documents.clone();
            async move {
                let started = Instant::now();
                let (parts, _) = request.into_parts();
                let method = parts.method.as_str().to_string();
                let path = parts.uri.path().to_string();
                let origin = parts
                    .headers
                    .get(http::header::ORIGIN)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let answer = match admit(&parts, origin.as_deref(), None, bound) {
                    Err((status, why)) => super::server::refusal(status, &why),
                    Ok(()) => documents
                        .answer(&method, &path)
                        .unwrap_or_else(|| super::server::refusal(404, "not an issuer document")),
                };
                super::server::access_log(
                    &method,
                    &path,
                    answer.status,
                    started,
                    &["the workers' JWKS port".to_string()],
                    None,
                );
                Ok::<_, Infallible>(super::server::respond(answer))
            }
        });
        let connection = http1::Builder::new()
            .keep_alive(true)
            .timer(TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workers_get_the_local_issuer_in_place_of_auths_variables() {
        let mut env: BTreeMap<String, String> = [
            ("TABLE_NAME", "t"),
            ("STACKCTL_AUTH_ISSUER", "https://issuer.example"),
            ("STACKCTL_AUTH_AUDIENCE", "api"),
            ("STACKCTL_AUTH_CLIENT_ID", "client"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        worker_variables(&mut env, "127.0.0.1:4001".parse().unwrap());
        let auth: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("STACKCTL_AUTH_"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            auth,
            [
                ("STACKCTL_AUTH_AUDIENCE", LOCAL_AUDIENCE),
                ("STACKCTL_AUTH_ISSUER", LOCAL_ISSUER),
                (
                    "STACKCTL_AUTH_JWKS_URL",
                    "http://127.0.0.1:4001/.well-known/jwks.json"
                ),
            ]
        );
        assert_eq!(env["TABLE_NAME"], "t");
        for name in [
            AUTH_ISSUER_VARIABLE,
            AUTH_AUDIENCE_VARIABLE,
            AUTH_JWKS_URL_VARIABLE,
        ] {
            assert!(AUTH_VARIABLES.contains(&name), "{name}");
        }
    }

    #[test]
    fn the_documents_name_dev_and_hold_public_keys_only() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = LocalIssuer::open_or_create(&crate::identity::local::key_path(
            &dir.path().join("stack.toml"),
        ))
        .unwrap();
        let docs = Documents::new(&issuer, "0.0.0.0:3000".parse().unwrap());
        let discovery = docs.answer("GET", DISCOVERY_PATH).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&discovery.body).unwrap();
        assert_eq!(doc["issuer"], LOCAL_ISSUER);
        assert_eq!(
            doc["jwks_uri"],
            "http://127.0.0.1:3000/.well-known/jwks.json"
        );
        let jwks = docs.answer("GET", JWKS_PATH).unwrap();
        let set: serde_json::Value = serde_json::from_slice(&jwks.body).unwrap();
        assert_eq!(set["keys"][0]["kid"], issuer.kid());
        assert!(set["keys"][0].get("d").is_none());
        assert_eq!(docs.answer("POST", JWKS_PATH).unwrap().status, 405);
        assert!(docs.answer("GET", "/items").is_none());
    }
}
