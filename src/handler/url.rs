//! The third transport: the function's URL, over real HTTP(S). Each payload 2.0 event becomes the HTTP
//! request a browser or a script would send (method, rawPath, rawQueryString, headers, the body decoded when
//! `isBase64Encoded`), SigV4-signed for service `lambda` when the URL's auth type is AWS_IAM, and the HTTP
//! answer becomes the same `Response` that `event::interpret` makes of an Invoke, so every check of `smoke`
//! applies unchanged.

use std::time::{Duration, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Map, Value};

use super::event::{InvokeError, Response};
use crate::aws::Clients;
use crate::config::{Stack, UrlAuth};
use crate::engine;
use crate::plan::Kind;
use crate::progress::{Mode, Progress};
use crate::resources::function_url::FunctionUrl;
use crate::resources::{Purpose, Use};

/// How long to wait for a connection; the whole request may take the function's timeout and this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Requests to the URL.
pub struct UrlTarget {
    /// The base URL without its trailing `/`.
    pub base: String,
    /// Credentials and region to sign with (AWS_IAM), or None (NONE).
    signing: Option<(Credentials, String)>,
    /// An `Origin` header to send with every request (a browser's); its CORS answer is then checked.
    pub origin: Option<String>,
    client: HttpsClient,
    timeout: Duration,
}

/// The deployed URL and its auth type: the URL read through the graph for `--url` (GetFunctionUrlConfig).
async fn deployed(clients: &Clients, stack: &Stack) -> Result<(String, bool)> {
    let at = engine::address_of(stack, Kind::FunctionUrl)?;
    // The read neither waits nor counts: its progress line is never shown.
    let task = Progress::new(Mode::Quiet).task("url");
    let reads = engine::read_some(
        clients,
        stack,
        Purpose::Use(Use::Url),
        std::slice::from_ref(&at),
        &task,
    )
    .await?;
    match reads
        .live_of::<FunctionUrl>(&at)
        .and_then(|url| url.config.as_ref())
    {
        Some(config) => Ok((config.url.clone(), config.auth_type == "AWS_IAM")),
        None => bail!(
            "Lambda function `{}` has no URL in {}: add [function.url] to {} and run `stackctl up`",
            stack.chosen_function().spec.name,
            stack.region,
            stack.file.display()
        ),
    }
}

impl UrlTarget {
    /// `base`: the URL to call (None: the deployed function URL, read with GetFunctionUrlConfig). Requests
    /// are signed when the deployed URL's auth type is AWS_IAM, or, for a given base URL, when stack.toml's
    /// `function.url.auth` is `aws_iam`.
    pub async fn open(
        clients: &Clients,
        stack: &Stack,
        base: Option<&str>,
        origin: Option<String>,
        profile: Option<&str>,
    ) -> Result<UrlTarget> {
        let (base, signed) = match base {
            Some(base) => (
                base.to_string(),
                stack
                    .chosen_function()
                    .url
                    .is_some_and(|u| u.auth == UrlAuth::AwsIam),
            ),
            None => deployed(clients, stack).await?,
        };
        let parsed: http::Uri = base
            .parse()
            .with_context(|| format!("`{base}` is not a URL"))?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            bail!("`{base}` is not an http:// or https:// URL");
        }
        let signing = if signed {
            Some((credentials(stack, profile).await?, stack.region.clone()))
        } else {
            None
        };
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .context("loading the system's TLS root certificates")?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(UrlTarget {
            base: base.trim_end_matches('/').to_string(),
            signing,
            origin,
            client: Client::builder(TokioExecutor::new()).build(https),
            timeout: Duration::from_secs(stack.chosen_function().spec.timeout_secs.max(1) as u64)
                + CONNECT_TIMEOUT,
        })
    }

    pub fn signed(&self) -> bool {
        self.signing.is_some()
    }

    /// Sends the event as an HTTP request and reads the answer. Like Invoke, never retried: a request may
    /// have run the function even when its answer is lost.
    pub async fn invoke(&self, event: &Value) -> Result<Response, InvokeError> {
        let mut request = http_request(&self.base, event, self.origin.as_deref())
            .map_err(InvokeError::Transport)?;
        if let Some((credentials, region)) = &self.signing {
            sign_request(&mut request, credentials, region, SystemTime::now())
                .map_err(InvokeError::Transport)?;
        }
        let uri = request.uri().to_string();
        let request = request.map(Full::new);
        let answer = async {
            let response = self.client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((parts, body))
        };
        let (parts, body) = tokio::time::timeout(self.timeout, answer)
            .await
            .map_err(|_| {
                InvokeError::Transport(anyhow!(
                    "no answer from {uri} within {} s",
                    self.timeout.as_secs()
                ))
            })?
            .map_err(|err| InvokeError::Transport(err.context(format!("requesting {uri}"))))?;
        Ok(response_from(parts.status.as_u16(), &parts.headers, &body))
    }
}

/// The standard credential chain, as stackctl's own clients use it.
async fn credentials(stack: &Stack, profile: Option<&str>) -> Result<Credentials> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(stack.region.clone()));
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    let provider = loader.load().await.credentials_provider().context(
        "no AWS credentials provider: the URL's auth is AWS_IAM, so requests must be signed",
    )?;
    provider
        .provide_credentials()
        .await
        .context("loading AWS credentials to sign the requests (the URL's auth is AWS_IAM)")
}

/// The path an event asks for and the field it came from: `rawPath`, else `requestContext.http.path` (the
/// tutorial's hand-written events have only that), else `/`. Err: why it cannot be sent, for that field. A
/// path must start with `/` and hold no `?` or `#`: anything else would change the request's host or query
/// (`@evil.example/x` after `https://<url-id>.lambda-url.<region>.on.aws` is a request to evil.example).
pub fn event_path(event: &Value) -> Result<(&'static str, &str), (&'static str, String)> {
    let (field, path) = match (
        event["rawPath"].as_str(),
        event["requestContext"]["http"]["path"].as_str(),
    ) {
        (Some(path), _) => ("rawPath", path),
        (None, Some(path)) => ("requestContext.http.path", path),
        (None, None) => ("rawPath", "/"),
    };
    if !path.starts_with('/') {
        return Err((
            field,
            format!("the path `{path}` does not start with `/`; sent after the URL it would change the host or path the request goes to"),
        ));
    }
    if path.contains(['?', '#']) {
        return Err((
            field,
            format!(
                "the path `{path}` holds `?` or `#`; the query string belongs in `rawQueryString`"
            ),
        ));
    }
    Ok((field, path))
}

/// The URL of the event's request: `base`'s scheme and host (never changed by the event), its path
/// followed by the event's path, and the event's query.
fn request_uri(base: &str, event: &Value) -> Result<http::Uri> {
    let (field, path) = event_path(event).map_err(|(field, why)| anyhow!("`{field}`: {why}"))?;
    let query = event["rawQueryString"].as_str().unwrap_or("");
    if query.contains('#') {
        bail!("`rawQueryString`: `{query}` holds `#`, which would cut the query short");
    }
    let base: http::Uri = base
        .parse()
        .with_context(|| format!("`{base}` is not a URL"))?;
    let prefix = base.path().trim_end_matches('/');
    let path_and_query = if query.is_empty() {
        format!("{prefix}{path}")
    } else {
        format!("{prefix}{path}?{query}")
    };
    let path_and_query =
        http::uri::PathAndQuery::try_from(path_and_query.as_str()).with_context(|| {
            format!(
                "`{field}` and `rawQueryString`: `{path_and_query}` is not a valid path and query"
            )
        })?;
    let mut parts = base.into_parts();
    parts.path_and_query = Some(path_and_query);
    http::Uri::from_parts(parts).context("building the request's URL")
}

/// The HTTP request a payload 2.0 event stands for, sent to `base`.
pub fn http_request(
    base: &str,
    event: &Value,
    origin: Option<&str>,
) -> Result<http::Request<Bytes>> {
    let method = event["requestContext"]["http"]["method"]
        .as_str()
        .context("the event has no requestContext.http.method")?;
    let uri = request_uri(base, event)?;
    let mut builder = http::Request::builder().method(method).uri(uri.clone());
    if let Some(headers) = event["headers"].as_object() {
        for (name, value) in headers {
            // The client sets these itself, from the URL and the body.
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "host" | "content-length"
            ) {
                continue;
            }
            if let Some(value) = value.as_str() {
                builder = builder.header(name.as_str(), value);
            }
        }
    }
    // A hand-written event (the tutorial's) has no headers: its body is JSON, and the handler answers a body
    // sent without a Content-Type 415, as a browser's untyped body.
    if event["headers"].is_null() && event["body"].is_string() {
        builder = builder.header("content-type", "application/json");
    }
    if let Some(cookies) = event["cookies"].as_array() {
        let joined: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
        if !joined.is_empty() {
            builder = builder.header("cookie", joined.join("; "));
        }
    }
    if let Some(origin) = origin {
        builder = builder.header("origin", origin);
    }
    let body = match event["body"].as_str() {
        None => Bytes::new(),
        Some(text) if event["isBase64Encoded"].as_bool() == Some(true) => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .context("the event's body is marked isBase64Encoded but is not base64")?,
        ),
        Some(text) => Bytes::from(text.to_string()),
    };
    let host = uri
        .authority()
        .map(|a| a.to_string())
        .context("the URL has no host")?;
    builder = builder.header("host", host);
    builder
        .body(body)
        .with_context(|| format!("building the request {method} {uri}"))
}

/// Signs `request` with SigV4 for service `lambda` (the Authorization, X-Amz-Date and, with a session
/// token, X-Amz-Security-Token headers), with the body's SHA-256 in the signature.
pub fn sign_request(
    request: &mut http::Request<Bytes>,
    credentials: &Credentials,
    region: &str,
    time: SystemTime,
) -> Result<()> {
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("lambda")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .context("SigV4 signing parameters")?
        .into();
    let headers: Vec<(&str, &str)> = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let uri = request.uri().to_string();
    let signable = SignableRequest::new(
        request.method().as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(request.body()),
    )
    .context("preparing the request for SigV4")?;
    let (instructions, _signature) = sign(signable, &params)
        .context("signing the request with SigV4")?
        .into_parts();
    instructions.apply_to_request_http1x(request);
    Ok(())
}

/// An HTTP answer as the `Response` smoke checks: headers by lower-case name (repeated ones joined with
/// `, `, as HTTP allows, so a doubled Access-Control-Allow-Origin shows as two values), `Set-Cookie`s as
/// cookies, the body parsed when it is JSON.
pub fn response_from(status: u16, headers: &http::HeaderMap, body: &[u8]) -> Response {
    let mut map = Map::new();
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name == http::header::SET_COOKIE {
            cookies.extend(values);
            continue;
        }
        map.insert(name.as_str().to_string(), Value::String(values.join(", ")));
    }
    let text = String::from_utf8_lossy(body);
    let parsed: Option<Value> = serde_json::from_str(&text).ok();
    let body_is_json = parsed.is_some();
    Response {
        status_code: status,
        headers: map,
        cookies,
        body: parsed.unwrap_or_else(|| {
            if text.is_empty() {
                Value::Null
            } else {
                Value::String(text.into_owned())
            }
        }),
        body_is_json,
        inferred: false,
        logs: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "version": "2.0",
            "rawPath": "/items",
            "rawQueryString": "userId=u%201&itemId=i",
            "headers": {"content-type": "application/json", "host": "ignored.example", "x-trace": "t"},
            "cookies": ["a=1", "b=2"],
            "requestContext": {"http": {"method": "PATCH", "path": "/items"}},
            "body": base64::engine::general_purpose::STANDARD.encode(r#"{"status":"done"}"#),
            "isBase64Encoded": true
        })
    }

    #[test]
    fn an_event_becomes_the_request_a_client_sends() {
        let request = http_request(
            "https://abc.lambda-url.us-east-1.on.aws/",
            &event(),
            Some("https://app.example.com"),
        )
        .unwrap();
        assert_eq!(request.method(), "PATCH");
        assert_eq!(
            request.uri(),
            "https://abc.lambda-url.us-east-1.on.aws/items?userId=u%201&itemId=i"
        );
        let header = |n: &str| {
            request
                .headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_string())
        };
        assert_eq!(
            header("host").as_deref(),
            Some("abc.lambda-url.us-east-1.on.aws")
        );
        assert_eq!(header("content-type").as_deref(), Some("application/json"));
        assert_eq!(header("x-trace").as_deref(), Some("t"));
        assert_eq!(header("cookie").as_deref(), Some("a=1; b=2"));
        assert_eq!(header("origin").as_deref(), Some("https://app.example.com"));
        assert_eq!(request.body().as_ref(), br#"{"status":"done"}"#);
        assert_eq!(request.headers().get_all("host").iter().count(), 1);
    }

    #[test]
    fn the_event_never_changes_the_host_the_request_goes_to() {
        let base = "https://abc.lambda-url.us-east-1.on.aws";
        for (path, field) in [
            ("@evil.example/x", "rawPath"),
            ("evil.example/x", "rawPath"),
            ("", "rawPath"),
            ("/items?userId=other", "rawPath"),
            ("/items#frag", "rawPath"),
        ] {
            let mut e = event();
            e["rawPath"] = json!(path);
            let err = http_request(base, &e, None).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("`{field}`: the path")),
                "{path}: {err}"
            );
        }
        // The tutorial's hand-written events carry only requestContext.http.path: that is the path then.
        let mut minimal = event();
        minimal.as_object_mut().unwrap().remove("rawPath");
        minimal["requestContext"]["http"]["path"] = json!("/items/x");
        let request = http_request(base, &minimal, None).unwrap();
        assert_eq!(request.uri().path(), "/items/x");
        minimal["requestContext"]["http"]["path"] = json!("@evil.example/");
        assert_eq!(
            event_path(&minimal).unwrap_err().0,
            "requestContext.http.path"
        );
        // A base with a path keeps it in front; a query cannot carry a fragment.
        let request = http_request("http://127.0.0.1:3000/api/", &event(), None).unwrap();
        assert_eq!(
            request.uri(),
            "http://127.0.0.1:3000/api/items?userId=u%201&itemId=i"
        );
        assert_eq!(request.headers()["host"], "127.0.0.1:3000");
        let mut e = event();
        e["rawQueryString"] = json!("a=1#x");
        assert!(http_request(base, &e, None).is_err());
    }

    #[test]
    fn a_hand_written_event_without_headers_sends_its_body_as_json() {
        // The tutorial's create event: no headers at all. Its body is JSON, and the handler answers a body
        // without Content-Type in an HTTP request 415.
        let event = json!({
            "requestContext": {"http": {"method": "POST", "path": "/items"}},
            "queryStringParameters": {"userId": "user-123"},
            "body": "{\"title\":\"Buy milk\"}"
        });
        let request =
            http_request("https://abc.lambda-url.us-east-1.on.aws", &event, None).unwrap();
        assert_eq!(
            request.headers().get("content-type").unwrap(),
            "application/json"
        );
        // Headers given (even without a Content-Type) are sent as written; no body, no Content-Type.
        let mut typed = event.clone();
        typed["headers"] = json!({"accept": "*/*"});
        let request =
            http_request("https://abc.lambda-url.us-east-1.on.aws", &typed, None).unwrap();
        assert!(request.headers().get("content-type").is_none());
        let mut bodiless = event;
        bodiless["body"] = Value::Null;
        let request =
            http_request("https://abc.lambda-url.us-east-1.on.aws", &bodiless, None).unwrap();
        assert!(request.headers().get("content-type").is_none());
    }

    /// AWS's SigV4 test suite credentials and time ("get-vanilla"), with service `lambda`: the signature
    /// below was computed independently (Python's hmac/hashlib, the algorithm of AWS's documentation).
    #[test]
    fn signing_adds_a_sigv4_authorization_for_lambda() {
        let credentials = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let mut request = http::Request::builder()
            .method("GET")
            .uri("https://example.amazonaws.com/")
            .header("host", "example.amazonaws.com")
            .body(Bytes::new())
            .unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        sign_request(&mut request, &credentials, "us-east-1", time).unwrap();
        let header = |n: &str| {
            request
                .headers()
                .get(n)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(header("x-amz-date"), "20150830T123600Z");
        let auth = header("authorization");
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature="
            ),
            "{auth}"
        );
        assert_eq!(auth, format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature={}", EXPECTED_SIGNATURE));
    }

    const EXPECTED_SIGNATURE: &str =
        "8c416b796946664cdbc404f4c8668a9c46fce92c65b8d0a38a48792d7077b3e9";

    #[test]
    fn an_answer_keeps_repeated_headers_apart_from_cookies() {
        let mut headers = http::HeaderMap::new();
        headers.append("content-type", "application/json".parse().unwrap());
        headers.append("access-control-allow-origin", "*".parse().unwrap());
        headers.append(
            "access-control-allow-origin",
            "https://a.example".parse().unwrap(),
        );
        headers.append("set-cookie", "a=1".parse().unwrap());
        headers.append("set-cookie", "b=2; Path=/".parse().unwrap());
        let r = response_from(201, &headers, br#"{"itemId":"x"}"#);
        assert_eq!(r.status_code, 201);
        assert_eq!(
            r.header("Access-Control-Allow-Origin"),
            Some("*, https://a.example")
        );
        assert_eq!(
            r.cookies,
            vec!["a=1".to_string(), "b=2; Path=/".to_string()]
        );
        assert!(r.body_is_json);
        assert_eq!(r.body["itemId"], "x");
        let r = response_from(502, &http::HeaderMap::new(), b"Internal Server Error");
        assert!(!r.body_is_json);
        assert_eq!(r.body, "Internal Server Error");
    }
}
