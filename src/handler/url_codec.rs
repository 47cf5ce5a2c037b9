//! The function URL's side of payload format 2.0: an HTTP request as the event a Lambda function URL sends
//! the function, and the function's answer as the HTTP response the URL sends back (AWS-BEHAVIOUR.md,
//! "Lambda function URLs"). `stackctl dev` serves the handler through it.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};

use super::event::{answer_headers, clf_time, excerpt, interpret};

/// Where the request arrived, as the URL's requestContext names it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The host the client called (`127.0.0.1:3000` locally; `<url-id>.lambda-url.<region>.on.aws` on AWS).
    pub domain_name: String,
    /// The URL id (on AWS the first label of the domain): `apiId` and `domainPrefix`.
    pub url_id: String,
}

/// One HTTP request, as the server read it.
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded), without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a [u8],
    pub source_ip: IpAddr,
    pub protocol: &'a str,
}

/// Content types whose bodies the URL passes as text; any other body arrives base64-encoded with
/// `isBase64Encoded: true`.
fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/x-www-form-urlencoded"
                | "application/graphql"
                | "application/x-yaml"
                | "application/yaml"
        )
}

/// The payload 2.0 event a function URL sends for this request.
pub fn event(
    request: &HttpRequest<'_>,
    endpoint: &Endpoint,
    request_id: &str,
    now: SystemTime,
) -> Value {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    // Header names arrive lower-cased; repeated headers are joined with commas. Cookies go to `cookies`.
    let mut headers = Map::new();
    let mut cookies: Vec<String> = Vec::new();
    for name in request.headers.keys() {
        let values: Vec<String> = request
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        if name.as_str() == "cookie" {
            for value in &values {
                cookies.extend(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_string),
                );
            }
            continue;
        }
        headers.insert(name.as_str().to_string(), Value::String(values.join(",")));
    }
    let raw_query = request.query.unwrap_or_default();
    // Repeated query keys are joined with commas; rawQueryString keeps them apart.
    let mut parameters: Map<String, Value> = Map::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query(key);
        let value = decode_query(value);
        match parameters.get_mut(&key) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                parameters.insert(key, Value::String(value));
            }
        }
    }
    let user_agent = request
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            // An unsigned caller (auth NONE); a signed one would add `authorizer.iam` with who signed.
            "accountId": "anonymous",
            "apiId": endpoint.url_id,
            "authentication": null,
            "domainName": endpoint.domain_name,
            "domainPrefix": endpoint.url_id,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip.to_string(),
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(since_epoch.as_secs()),
            "timeEpoch": since_epoch.as_millis() as u64,
        },
        "pathParameters": null,
        "isBase64Encoded": false,
        "stageVariables": null,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(parameters);
    }
    if !request.body.is_empty() {
        let content_type = request
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        match std::str::from_utf8(request.body) {
            Ok(text) if is_text(content_type) => event["body"] = Value::String(text.to_string()),
            _ => {
                event["body"] =
                    Value::String(base64::engine::general_purpose::STANDARD.encode(request.body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

fn decode_query(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The HTTP response the URL sends for the function's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// In the handler's order; a `Set-Cookie` per cookie.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// What the URL answers when the function failed or answered something it cannot send: 502.
    pub fn bad_gateway() -> HttpAnswer {
        HttpAnswer {
            status: 502,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"message":"Internal Server Error"}"#.to_vec(),
        }
    }

    #[cfg(test)]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the function's answer (Lambda's FunctionError and the payload) as a function URL does: a response
/// object with a `statusCode`, or any other JSON as a 200 `application/json` whose body is that JSON (a JSON
/// string as its text). Err: why the URL would answer 502 instead.
pub fn answer(function_error: Option<&str>, payload: &[u8]) -> Result<HttpAnswer, String> {
    if let Some(kind) = function_error {
        // The failure as API Gateway reads it (the function's errorType and errorMessage): one reading for both.
        return Err(interpret(Some(kind), payload, None).err().map_or_else(
            || format!("the function failed ({kind})"),
            |err| err.to_string(),
        ));
    }
    let value: Value = serde_json::from_slice(payload).map_err(|err| {
        format!(
            "the function's answer is not JSON ({err}): `{}`",
            excerpt(&String::from_utf8_lossy(payload), 200)
        )
    })?;
    let Some(object) = value.as_object().filter(|o| o.contains_key("statusCode")) else {
        let body = match &value {
            Value::String(text) => text.clone().into_bytes(),
            other => other.to_string().into_bytes(),
        };
        return Ok(HttpAnswer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        });
    };
    let status = match object.get("statusCode").and_then(Value::as_u64) {
        Some(code @ 100..=599) => code as u16,
        _ => {
            return Err(format!(
                "the function's answer has statusCode {}, not an HTTP status code",
                object["statusCode"]
            ))
        }
    };
    let mut headers = answer_headers(object)?;
    if let Some((name, value)) = headers.iter().find(|(name, value)| {
        http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
    }) {
        return Err(format!(
            "the function's answer has header `{name}: {value}`, which is not a valid HTTP header"
        ));
    }
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("content-type".into(), "application/json".into()));
    }
    match object.get("cookies") {
        None | Some(Value::Null) => {}
        Some(Value::Array(cookies)) => {
            for cookie in cookies {
                let Some(cookie) = cookie.as_str() else {
                    return Err(format!(
                        "the function's answer has cookie {cookie}, not a string"
                    ));
                };
                headers.push(("set-cookie".into(), cookie.to_string()));
            }
        }
        Some(other) => {
            return Err(format!(
                "the function's answer has `cookies` = {other}, not an array of strings"
            ))
        }
    }
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = match object.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if base64 => base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|err| {
                format!(
                    "the function's answer says isBase64Encoded but its body is not base64: {err}"
                )
            })?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => {
            return Err(format!(
                "the function's answer has `body` = {}, not a string (the body must be serialized)",
                excerpt(&other.to_string(), 200)
            ))
        }
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn endpoint() -> Endpoint {
        Endpoint {
            domain_name: "127.0.0.1:3000".into(),
            url_id: "stackctl-dev".into(),
        }
    }

    fn request_event(
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Value {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        event(
            &HttpRequest {
                method,
                path,
                query,
                headers: &map,
                body,
                source_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                protocol: "HTTP/1.1",
            },
            &endpoint(),
            "req-1",
            UNIX_EPOCH + Duration::from_millis(1_583_348_638_390),
        )
    }

    #[test]
    fn repeated_headers_and_query_values_are_comma_joined_and_cookies_split_out() {
        let event = request_event(
            "GET",
            "/my/path",
            Some("parameter1=value1&parameter1=value2&parameter2=a%20b"),
            &[
                ("Header1", "value1"),
                ("header2", "value1"),
                ("header2", "value2"),
                ("cookie", "cookie1=a; cookie2=b"),
                ("user-agent", "agent"),
            ],
            b"",
        );
        assert_eq!(event["routeKey"], "$default");
        assert_eq!(event["rawPath"], "/my/path");
        assert_eq!(
            event["rawQueryString"],
            "parameter1=value1&parameter1=value2&parameter2=a%20b"
        );
        assert_eq!(event["headers"]["header1"], "value1");
        assert_eq!(event["headers"]["header2"], "value1,value2");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["cookies"], json!(["cookie1=a", "cookie2=b"]));
        assert_eq!(
            event["queryStringParameters"],
            json!({"parameter1": "value1,value2", "parameter2": "a b"})
        );
        assert_eq!(event["requestContext"]["http"]["userAgent"], "agent");
        assert_eq!(
            event["requestContext"]["time"],
            "04/Mar/2020:19:03:58 +0000"
        );
        assert_eq!(event["requestContext"]["timeEpoch"], 1_583_348_638_390u64);
        assert!(event.get("body").is_none());
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn text_bodies_pass_as_text_and_others_as_base64() {
        let json_body = request_event(
            "POST",
            "/items",
            None,
            &[("content-type", "application/json; charset=utf-8")],
            br#"{"a":1}"#,
        );
        assert_eq!(json_body["body"], r#"{"a":1}"#);
        assert_eq!(json_body["isBase64Encoded"], false);
        let binary = request_event(
            "POST",
            "/upload",
            None,
            &[("content-type", "image/png")],
            &[0x89, b'P', b'N', b'G'],
        );
        assert_eq!(binary["body"], "iVBORw==");
        assert_eq!(binary["isBase64Encoded"], true);
        assert!(binary.get("queryStringParameters").is_none());
    }

    #[test]
    fn answers_become_http_as_the_url_sends_them() {
        let answer = answer(
            None,
            br#"{"statusCode":201,"headers":{"x-a":"1","x-n":2},"cookies":["a=1; Path=/"],"body":"{\"ok\":true}"}"#,
        )
        .unwrap();
        assert_eq!(answer.status, 201);
        assert_eq!(answer.header("x-n"), Some("2"));
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.header("set-cookie"), Some("a=1; Path=/"));
        assert_eq!(answer.body, br#"{"ok":true}"#);

        let binary = super::answer(
            None,
            br#"{"statusCode":200,"headers":{"content-type":"image/png"},"isBase64Encoded":true,"body":"iVBORw=="}"#,
        )
        .unwrap();
        assert_eq!(binary.body, vec![0x89, b'P', b'N', b'G']);
    }

    #[test]
    fn an_answer_without_status_code_is_a_200_json_body() {
        let object = answer(None, br#"{"message":"hi"}"#).unwrap();
        assert_eq!(object.status, 200);
        assert_eq!(object.header("content-type"), Some("application/json"));
        assert_eq!(object.body, br#"{"message":"hi"}"#);
        let text = answer(None, br#""Hello world!""#).unwrap();
        assert_eq!(text.body, b"Hello world!");
    }

    #[test]
    fn failures_and_invalid_answers_are_reasons_for_a_502() {
        let thrown = answer(
            Some("Unhandled"),
            br#"{"errorType":"TypeError","errorMessage":"boom"}"#,
        )
        .unwrap_err();
        assert_eq!(
            thrown,
            "the function failed (Unhandled FunctionError): TypeError: boom"
        );
        assert!(answer(None, b"not json").unwrap_err().contains("not JSON"));
        assert!(answer(None, br#"{"statusCode":"abc"}"#)
            .unwrap_err()
            .contains("not an HTTP status code"));
        assert!(answer(None, br#"{"statusCode":200,"body":{"a":1}}"#)
            .unwrap_err()
            .contains("must be serialized"));
        assert!(
            answer(None, br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#)
                .unwrap_err()
                .contains("not a valid HTTP header")
        );
        assert_eq!(HttpAnswer::bad_gateway().status, 502);
    }
}
