//! The API Gateway HTTP API (payload format 2.0) codec: the event for one request, and Lambda's raw answer
//! (the FunctionError header and the payload) read the way API Gateway reads it, with the checks every
//! answer of the handler must pass. Shared by `invoke` and `smoke`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::random_hex;

// ---------------------------------------------------------------------------------------------------------
// Requests

/// What `encodeURIComponent` leaves alone, as API Gateway's rawQueryString has it.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// One HTTP request to the API, before it becomes an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub method: &'static str,
    /// The query string parameters, in order (a JSON object in the output).
    #[serde(serialize_with = "query_as_object")]
    pub query: Vec<(&'static str, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn query_as_object<S: serde::Serializer>(
    query: &[(&'static str, String)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(query.iter().map(|(k, v)| (k, v)))
}

impl Request {
    #[cfg(test)]
    pub fn new(
        method: &'static str,
        query: &[(&'static str, &str)],
        body: Option<&str>,
    ) -> Request {
        Request {
            method,
            query: query.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body: body.map(str::to_string),
        }
    }

    /// `POST ?userId`: for the table (values are in the JSON output).
    pub fn short(&self) -> String {
        let keys: Vec<&str> = self.query.iter().map(|(k, _)| *k).collect();
        if keys.is_empty() {
            self.method.to_string()
        } else {
            format!("{} ?{}", self.method, keys.join("&"))
        }
    }

    /// The API Gateway HTTP API (payload format 2.0) event for this request on `/items`.
    pub fn event(&self) -> Value {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let raw_query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, QUERY)))
            .collect();
        let route = format!("{} /items", self.method);
        let mut event = json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": "/items",
            "rawQueryString": raw_query.join("&"),
            "headers": {
                "accept": "application/json",
                "content-type": "application/json",
                "host": "stackctl-smoke.execute-api.local",
                "user-agent": "stackctl-smoke",
            },
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "stackctl-smoke",
                "domainName": "stackctl-smoke.execute-api.local",
                "domainPrefix": "stackctl-smoke",
                "http": {
                    "method": self.method,
                    "path": "/items",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "127.0.0.1",
                    "userAgent": "stackctl-smoke",
                },
                "requestId": format!("smoke-{}", random_hex()),
                "routeKey": route,
                "stage": "$default",
                "time": clf_time(now.as_secs()),
                "timeEpoch": now.as_millis() as u64,
            },
            "isBase64Encoded": false,
        });
        if !self.query.is_empty() {
            let params: Map<String, Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            event["queryStringParameters"] = Value::Object(params);
        }
        if let Some(body) = &self.body {
            event["body"] = Value::String(body.clone());
        }
        event
    }
}

/// `26/Nov/2025:15:48:00 +0000`, API Gateway's requestContext.time.
pub(super) fn clf_time(epoch_secs: u64) -> String {
    crate::dates::clf(epoch_secs)
}

// ---------------------------------------------------------------------------------------------------------
// Responses

/// What the function answered, as API Gateway (HTTP API, payload v2) would turn it into an HTTP response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    pub status_code: u16,
    pub headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// The body parsed as JSON when it is JSON, else the text as a string; null when there is none.
    pub body: Value,
    pub body_is_json: bool,
    /// The function returned JSON without a `statusCode`: API Gateway answers 200 with that JSON as body.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub inferred: bool,
    /// The log tail (remote: the last 4 KB Lambda returns; local: what the handler printed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

impl Response {
    /// A header by name, case-insensitively (HTTP header names are).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }
}

/// An invocation that produced no usable response.
#[derive(Debug)]
pub enum InvokeError {
    /// The function failed (Lambda's FunctionError: an unhandled exception, a timeout, an init error).
    Function {
        /// The X-Amz-Function-Error value: `Unhandled` or `Handled`.
        kind: String,
        error_type: Option<String>,
        message: String,
        logs: Option<String>,
    },
    /// The function answered something API Gateway cannot turn into a response.
    BadPayload {
        message: String,
        logs: Option<String>,
    },
    /// The invocation did not happen or got no answer (an AWS error, the local Node.js process failed).
    Transport(anyhow::Error),
}

impl InvokeError {
    pub fn logs(&self) -> Option<&str> {
        match self {
            InvokeError::Function { logs, .. } | InvokeError::BadPayload { logs, .. } => {
                logs.as_deref()
            }
            InvokeError::Transport(_) => None,
        }
    }
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::Function {
                kind,
                error_type,
                message,
                ..
            } => {
                write!(f, "the function failed ({kind} FunctionError): ")?;
                match error_type {
                    Some(t) => write!(f, "{t}: {message}"),
                    None => write!(f, "{message}"),
                }
            }
            InvokeError::BadPayload { message, .. } => write!(f, "{message}"),
            InvokeError::Transport(err) => write!(f, "{err:#}"),
        }
    }
}

/// At most `max` characters of `text`, on one line, marked when cut.
pub fn excerpt(text: &str, max: usize) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Reads Lambda's answer (the X-Amz-Function-Error header and the payload) as API Gateway would: a
/// FunctionError is a failure carrying the function's errorMessage, never a response; a payload that is not
/// JSON, or not a response API Gateway accepts, is a failure saying why.
pub fn interpret(
    function_error: Option<&str>,
    payload: &[u8],
    logs: Option<String>,
) -> Result<Response, InvokeError> {
    if let Some(kind) = function_error {
        let parsed: Option<Value> = serde_json::from_slice(payload).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|p| p.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let message = field("errorMessage").unwrap_or_else(|| {
            let text = String::from_utf8_lossy(payload);
            if text.trim().is_empty() {
                "(no error message)".to_string()
            } else {
                excerpt(&text, 500)
            }
        });
        return Err(InvokeError::Function {
            kind: kind.to_string(),
            error_type: field("errorType"),
            message,
            logs,
        });
    }
    let bad = |message: String, logs: Option<String>| InvokeError::BadPayload { message, logs };
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(bad(
            "the function's response is not UTF-8 text, so not JSON".into(),
            logs,
        ));
    };
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            let shown = if text.trim().is_empty() {
                "(empty)".to_string()
            } else {
                format!("`{}`", excerpt(text, 200))
            };
            return Err(bad(
                format!("the function's response is not JSON ({err}): {shown}"),
                logs,
            ));
        }
    };
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        // API Gateway's rule for payload v2: valid JSON without a statusCode is a 200 with that JSON as body.
        let mut headers = Map::new();
        headers.insert("content-type".into(), "application/json".into());
        return Ok(Response {
            status_code: 200,
            headers,
            cookies: Vec::new(),
            body: value,
            body_is_json: true,
            inferred: true,
            logs,
        });
    };
    let status_code = match object.get("statusCode").and_then(Value::as_u64) {
        Some(code @ 100..=599) => code as u16,
        _ => {
            return Err(bad(
                format!(
                    "the function's response has statusCode {}, not an HTTP status code",
                    object["statusCode"]
                ),
                logs,
            ))
        }
    };
    let headers: Map<String, Value> = answer_headers(object)
        .map_err(|message| bad(message, logs.clone()))?
        .into_iter()
        .map(|(name, value)| (name, Value::String(value)))
        .collect();
    let cookies = object
        .get("cookies")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (body, body_is_json) = match object.get("body") {
        None | Some(Value::Null) => (Value::Null, false),
        Some(Value::String(raw)) => {
            let text = if base64 {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|err| {
                        bad(
                            format!("the function's response says isBase64Encoded but its body is not base64: {err}"),
                            logs.clone(),
                        )
                    })?;
                match String::from_utf8(bytes) {
                    Ok(text) => text,
                    // Binary: keep it as the function sent it.
                    Err(_) => raw.clone(),
                }
            } else {
                raw.clone()
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(parsed) if !text.trim().is_empty() => (parsed, true),
                _ => (Value::String(text), false),
            }
        }
        Some(other) => {
            return Err(bad(
                format!(
                    "the function's response `body` is {}, not a string (API Gateway needs the body serialized)",
                    excerpt(&other.to_string(), 200)
                ),
                logs,
            ))
        }
    };
    Ok(Response {
        status_code,
        headers,
        cookies,
        body,
        body_is_json,
        inferred: false,
        logs,
    })
}

/// The `headers` of a payload v2 answer, as API Gateway and function URLs read them: strings, and numbers
/// and booleans as their text; anything else is a reason to refuse the answer.
pub(super) fn answer_headers(object: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    match object.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, value) in map {
                let value = match value {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => value.to_string(),
                    other => {
                        return Err(format!(
                            "the function's response header `{name}` is {other}, not a string"
                        ))
                    }
                };
                headers.push((name.clone(), value));
            }
        }
        Some(other) => {
            return Err(format!(
                "the function's response `headers` is {other}, not an object"
            ))
        }
    }
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------------------
// Checks

pub fn body_text(body: &Value) -> String {
    excerpt(&body.to_string(), 300)
}

/// What an answer's `Access-Control-Allow-Origin` must be. CORS lives in one place: the handler (the
/// tutorial's `*`), or the function URL's CORS config, in which case the handler sends none itself and the URL
/// adds it only for a request with an allowed Origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsCheck {
    /// The handler's own `*` (no CORS config on the URL).
    Star,
    /// None from the handler (the URL's CORS config sends it; Invoke, or HTTP without an Origin).
    FromUrlOnly,
    /// An HTTP request sent with this Origin: exactly one Access-Control-Allow-Origin, the origin or `*`.
    Origin(String),
}

impl CorsCheck {
    pub fn check(&self, r: &Response) -> Result<(), String> {
        let value = r.header("access-control-allow-origin");
        match (self, value) {
            (CorsCheck::Star, Some("*")) | (CorsCheck::FromUrlOnly, None) => Ok(()),
            (CorsCheck::Star, Some(other)) => Err(format!(
                "Access-Control-Allow-Origin is `{other}`, expected `*`"
            )),
            (CorsCheck::Star, None) => Err("no Access-Control-Allow-Origin header, expected `*`".into()),
            (CorsCheck::FromUrlOnly, Some(other)) => Err(format!(
                "the handler sent Access-Control-Allow-Origin `{other}` although the function URL's CORS config \
                 sends it: a browser would see two values and refuse the answer (STACKCTL_CORS is not \
                 `function-url` in the function's environment: run `stackctl up`)"
            )),
            (CorsCheck::Origin(origin), None) => Err(format!(
                "no Access-Control-Allow-Origin for Origin `{origin}`: a browser on that page would refuse the \
                 answer (is it in [function.url.cors] allow_origins?)"
            )),
            (CorsCheck::Origin(origin), Some(value)) => {
                let values: Vec<&str> = value.split(',').map(str::trim).collect();
                match values.as_slice() {
                    [one] if *one == "*" || one == origin => Ok(()),
                    [one] => Err(format!(
                        "Access-Control-Allow-Origin is `{one}`, not `{origin}` or `*`: a browser on that page \
                         would refuse the answer"
                    )),
                    _ => Err(format!(
                        "{} Access-Control-Allow-Origin values ({value}): the browser refuses a response with \
                         multiple values; CORS must live in one place: the URL's [function.url.cors] or the \
                         handler, not both",
                        values.len()
                    )),
                }
            }
        }
    }
}

/// What every answer must be: not a 5xx, JSON, with the CORS header `cors` says.
pub fn check_common(r: &Response, cors: &CorsCheck) -> Result<(), String> {
    if r.status_code >= 500 {
        return Err(format!(
            "the function answered {}: {}",
            r.status_code,
            body_text(&r.body)
        ));
    }
    if r.inferred {
        return Err(format!(
            "the function returned no statusCode (API Gateway would answer 200 with the result as body): {}",
            body_text(&r.body)
        ));
    }
    match r.header("content-type") {
        Some(ct) if ct.starts_with("application/json") => {}
        Some(ct) => return Err(format!("Content-Type is `{ct}`, expected application/json")),
        None => return Err("no Content-Type header, expected application/json".into()),
    }
    cors.check(r)?;
    if !r.body_is_json {
        return Err(format!("the body is not JSON: {}", body_text(&r.body)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clf_time_matches_api_gateway() {
        assert_eq!(clf_time(1_764_172_080), "26/Nov/2025:15:48:00 +0000");
        assert_eq!(clf_time(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
    }

    #[test]
    fn events_are_http_api_v2() {
        let e = Request::new("GET", &[("userId", "a b&c"), ("itemId", "item-1")], None).event();
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["routeKey"], "GET /items");
        assert_eq!(e["requestContext"]["http"]["method"], "GET");
        assert_eq!(e["rawQueryString"], "userId=a%20b%26c&itemId=item-1");
        assert_eq!(
            e["queryStringParameters"],
            json!({"userId": "a b&c", "itemId": "item-1"})
        );
        assert!(e.get("body").is_none());
        let e = Request::new("POST", &[], Some("{}")).event();
        assert!(e.get("queryStringParameters").is_none());
        assert_eq!(e["body"], "{}");
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn interpret_follows_api_gateway_v2_rules() {
        // No statusCode: 200 with the JSON as the body.
        let r = interpret(None, br#"{"hello":"world"}"#, None).unwrap();
        assert_eq!((r.status_code, r.inferred), (200, true));
        assert_eq!(r.body, json!({"hello": "world"}));
        // A text body stays text; base64 bodies are decoded; numbers in headers become strings.
        let r = interpret(
            None,
            br#"{"statusCode":404,"headers":{"X-Count":3},"body":"not found"}"#,
            None,
        )
        .unwrap();
        assert_eq!(r.body, json!("not found"));
        assert!(!r.body_is_json);
        assert_eq!(r.header("x-count"), Some("3"));
        let r = interpret(
            None,
            br#"{"statusCode":200,"isBase64Encoded":true,"body":"eyJvayI6dHJ1ZX0="}"#,
            None,
        )
        .unwrap();
        assert_eq!(r.body, json!({"ok": true}));
        // No body at all.
        let r = interpret(None, br#"{"statusCode":204}"#, None).unwrap();
        assert_eq!((r.body.clone(), r.body_is_json), (Value::Null, false));
        // Not usable by API Gateway.
        for (payload, says) in [
            (&br#"{"statusCode":"200"}"#[..], "not an HTTP status code"),
            (br#"{"statusCode":1000}"#, "not an HTTP status code"),
            (br#"{"statusCode":200,"body":{"a":1}}"#, "not a string"),
            (br#"{"statusCode":200,"headers":[1]}"#, "not an object"),
            (b"", "not JSON"),
            (b"\xff\xfe", "not UTF-8"),
        ] {
            let err = interpret(None, payload, None).expect_err(says);
            assert!(err.to_string().contains(says), "{err} should say {says}");
        }
        // A FunctionError without a JSON payload still carries what was sent.
        let err = interpret(Some("Handled"), b"plain failure", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the function failed (Handled FunctionError): plain failure"
        );
    }
}
