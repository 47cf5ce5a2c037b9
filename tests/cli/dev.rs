//! `stackctl dev`: the real binary serving the built handler over HTTP, called with a real HTTP client
//! (hyper's), against the emulator's table.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use crate::support::*;

/// One HTTP answer: status, headers (every value of a repeated one, names lower-case), body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.all(name).first().copied()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A request over HTTP/1.1 with hyper's client.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(body.into())).expect("request");
    let response = client
        .request(request)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

pub async fn get(url: &str) -> Answer {
    http("GET", url, &[], Bytes::new()).await
}

/// The project with the test handler (tests/fixtures/dev/handler.ts) in place of the tutorial's.
pub fn fixture_project(emulator: &Emulator) -> Project {
    let project = Project::new(emulator);
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dev/handler.ts");
    project.write(
        "lambda/src/handler.ts",
        &std::fs::read_to_string(fixture).unwrap(),
    );
    project
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test(flavor = "multi_thread")]
async fn every_tutorial_request_answers_over_http_and_smoke_url_passes() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    assert!(dev.base.starts_with("http://127.0.0.1:"), "{}", dev.base);
    assert!(
        dev.stderr().contains("table `my-frontend-app-data`"),
        "{}",
        dev.stderr()
    );
    let items = format!("{}/items?userId=dev-user", dev.base);

    let created = http("POST", &items, &[JSON], r#"{"title":"first"}"#).await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("access-control-allow-origin"), Some("*"));
    let item_id = created.json()["itemId"].as_str().unwrap().to_string();
    let one = format!("{items}&itemId={item_id}");

    let listed = get(&items).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["items"][0]["title"], "first");

    let patched = http("PATCH", &one, &[JSON], r#"{"status":"done"}"#).await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(get(&one).await.json()["status"], "done");

    let bad_json = http("POST", &items, &[JSON], "{not json").await;
    assert_eq!(bad_json.status, 400, "{}", bad_json.text());

    let deleted = http("DELETE", &one, &[], Bytes::new()).await;
    assert!(
        deleted.status == 200 || deleted.status == 204,
        "{deleted:?}"
    );
    let missing = get(&one).await;
    assert_eq!(missing.status, 404, "{}", missing.text());
    let patch_missing = http("PATCH", &one, &[JSON], r#"{"status":"done"}"#).await;
    assert_eq!(patch_missing.status, 404);
    assert_eq!(get(&items).await.json()["items"], json!([]));

    // One access-log line per request: method, path, status, duration.
    let log = dev.wait_for_log("PATCH /items?userId=dev-user&itemId=");
    assert!(log.contains("POST /items?userId=dev-user 201 "), "{log}");
    assert!(log.contains(&format!("GET /items?userId=dev-user&itemId={item_id} 404 ")));

    // The same requests `smoke --url` sends to a deployed URL pass against dev.
    let run = project.stackctl(&["smoke", &format!("--url={}", dev.base), "--output", "json"]);
    run.ok();
    assert_eq!(run.json()["passed"], true, "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_is_the_function_url_event_of_awss_documentation() {
    let emulator = Emulator::start();
    let project = fixture_project(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);

    // The request of AWS's example event (a POST to /my/path with repeated headers, query values and
    // two cookies); the handler echoes the event it got.
    let answer = http(
        "POST",
        &format!(
            "{}/my/path?parameter1=value1&parameter1=value2&parameter2=value",
            dev.base
        ),
        &[
            ("header1", "value1"),
            ("header2", "value1"),
            ("header2", "value2"),
            ("cookie", "cookie1; cookie2"),
            ("user-agent", "agent"),
            ("content-type", "text/plain"),
        ],
        "Hello from client!",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let got = answer.json();
    let documented: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/dev/function-url-event.json"),
        )
        .unwrap(),
    )
    .unwrap();

    // Every top-level field AWS documents, with the same value where the request decides it.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let mut want = keys(&documented);
    let mut have = keys(&got);
    want.sort();
    have.sort();
    assert_eq!(have, want, "top-level fields");
    for field in [
        "version",
        "routeKey",
        "rawPath",
        "rawQueryString",
        "cookies",
        "queryStringParameters",
        "body",
        "pathParameters",
        "isBase64Encoded",
        "stageVariables",
    ] {
        assert_eq!(got[field], documented[field], "{field}");
    }
    for header in ["header1", "header2"] {
        assert_eq!(
            got["headers"][header], documented["headers"][header],
            "{header}"
        );
    }
    assert!(
        got["headers"].get("cookie").is_none(),
        "cookies are not headers"
    );
    assert_eq!(got["headers"]["content-type"], "text/plain");

    // requestContext: AWS's fields (but `authorizer`, which only a SigV4-signed call to an AWS_IAM URL has).
    let context = &got["requestContext"];
    let mut want = keys(&documented["requestContext"]);
    want.retain(|k| k != "authorizer");
    let mut have = keys(context);
    want.sort();
    have.sort();
    assert_eq!(have, want, "requestContext fields");
    for field in ["routeKey", "stage", "authentication"] {
        assert_eq!(
            context[field], documented["requestContext"][field],
            "{field}"
        );
    }
    assert_eq!(
        keys(&context["http"]),
        keys(&documented["requestContext"]["http"])
    );
    for field in ["method", "path", "protocol", "userAgent"] {
        assert_eq!(
            context["http"][field], documented["requestContext"]["http"][field],
            "http.{field}"
        );
    }
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(
        context["domainName"],
        dev.base.trim_start_matches("http://")
    );
    assert_eq!(context["domainPrefix"], context["apiId"]);
    // `12/Mar/2020:19:03:58 +0000` and epoch milliseconds of the same instant.
    let time = context["time"].as_str().unwrap();
    assert_eq!(time.len(), "12/Mar/2020:19:03:58 +0000".len(), "{time}");
    assert!(time.ends_with(" +0000"));
    let epoch_ms = context["timeEpoch"].as_u64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now_ms.abs_diff(epoch_ms) < 600_000, "{epoch_ms}");
    assert_eq!(
        answer.header("x-amzn-requestid"),
        context["requestId"].as_str()
    );

    // A body that is not text arrives base64-encoded.
    let binary = http(
        "PUT",
        &format!("{}/upload", dev.base),
        &[("content-type", "application/octet-stream")],
        vec![0u8, 159, 146, 150],
    )
    .await
    .json();
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(binary["body"], "AJ+Slg==");
    assert_eq!(binary["rawPath"], "/upload");
    assert!(binary.get("queryStringParameters").is_none());
    assert!(binary.get("cookies").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_become_http_as_the_url_sends_them() {
    let emulator = Emulator::start();
    let project = fixture_project(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    let at = |mode: &str| format!("{}/?mode={mode}", dev.base);

    let plain = get(&at("plain")).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert_eq!(plain.json(), json!({"message": "no statusCode"}));
    assert_eq!(get(&at("text")).await.text(), "Hello world!");

    let binary = get(&at("binary")).await;
    assert_eq!(binary.header("content-type"), Some("image/png"));
    assert_eq!(binary.body, vec![0x89, 0x50, 0x4e, 0x47]);

    let cookies = get(&at("cookies")).await;
    assert_eq!(cookies.all("set-cookie"), vec!["a=1; Path=/", "b=2"]);

    let logged = get(&at("log")).await;
    assert_eq!(logged.status, 204);
    let log = dev.wait_for_log("hello from the handler");
    assert!(log.contains("GET /?mode=log 204 "), "{log}");
    // What the handler prints is shown, never obeyed: a screen clear and an OSC 52 clipboard write.
    assert_eq!(get(&at("ansi")).await.status, 204);
    let log = dev.wait_for_log("GET /?mode=ansi 204 ");
    assert!(
        log.contains("\\u{1b}[2Jcleared \\u{1b}]52;c;cHduZWQ=\\u{7}"),
        "{log}"
    );
    assert!(!log.contains('\x1b') && !log.contains('\x07'), "{log:?}");

    // Over Lambda's 6 MB payload limit: 413, the handler never runs.
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];
    let refused = http("POST", &at("echo"), &[("content-type", "text/plain")], big).await;
    assert_eq!(refused.status, 413);
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_are_502_with_the_reason_logged_and_a_crashed_worker_is_replaced() {
    let emulator = Emulator::start();
    let project = fixture_project(&emulator);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 2");
    project.stackctl(&["up"]).ok();
    // One worker, so that "warm" and "replaced" are about the same runtime.
    let dev = Dev::start(&project, &["--workers", "1"]);
    let at = |mode: &str| format!("{}/?mode={mode}", dev.base);

    let count = |answer: Answer| answer.json()["served"].as_u64().unwrap();
    let first = count(get(&at("count")).await);
    let second = count(get(&at("count")).await);
    assert_eq!(
        second,
        first + 1,
        "module scope is kept between requests (warm)"
    );

    for (mode, reason) in [
        ("throw", "TypeError: thrown on purpose"),
        ("invalid", "statusCode \"teapot\", not an HTTP status code"),
        ("hang", "Task timed out after 2.00 seconds"),
        ("crash", "Runtime exited with error: exit status 3"),
    ] {
        let answer = get(&at(mode)).await;
        assert_eq!(answer.status, 502, "{mode}: {}", answer.text());
        assert_eq!(answer.json(), json!({"message": "Internal Server Error"}));
        let log = dev.wait_for_log(reason);
        assert!(log.contains(&format!("GET /?mode={mode} 502 ")), "{log}");
        // The next request is answered, by a fresh runtime where Lambda would discard the old one.
        let after = get(&at("count")).await;
        assert_eq!(after.status, 200, "after {mode}: {}", after.text());
    }
    // A fresh runtime after the crash starts counting again.
    assert!(count(get(&at("count")).await) <= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_is_served_after_the_rebuild_and_no_request_fails_during_the_swap() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    let items = format!("{}/items?userId=reload-user", dev.base);

    // Requests keep coming while the handler is edited, rebuilt and swapped.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, items) = (stop.clone(), items.clone());
        tokio::spawn(async move {
            let mut seen: BTreeMap<(u16, Option<String>), usize> = BTreeMap::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let answer = get(&items).await;
                let version = answer.header("x-handler-version").map(str::to_string);
                *seen.entry((answer.status, version)).or_default() += 1;
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    project.edit(
        "lambda/src/handler.ts",
        "headers: { ...HEADERS },",
        "headers: { ...HEADERS, \"x-handler-version\": \"2\" },",
    );
    dev.wait_for_log("dev: reloaded");
    // The first request after the reload is served by the new code.
    let after = get(&items).await;
    assert_eq!(after.header("x-handler-version"), Some("2"), "{after:?}");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = load.await.unwrap();
    let statuses: Vec<u16> = seen.keys().map(|(s, _)| *s).collect();
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a request failed during the swap: {seen:?}\n{}",
        dev.stderr()
    );
    assert!(seen.contains_key(&(200, None)), "{seen:?}");

    // A build error is printed; the previous code keeps serving.
    project.edit(
        "lambda/src/handler.ts",
        "\"x-handler-version\": \"2\"",
        "\"x-handler-version\": 2 +",
    );
    dev.wait_for_log("still serving the previous build");
    let still = get(&items).await;
    assert_eq!(still.status, 200);
    assert_eq!(still.header("x-handler-version"), Some("2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_is_the_function_urls_and_ctrl_c_finishes_requests_in_flight() {
    let emulator = Emulator::start();
    let project = fixture_project(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
         allow_origins = [\"https://app.example.com\"]\nallow_methods = [\"GET\", \"POST\"]\n\
         allow_headers = [\"content-type\"]\nmax_age = 300\n",
    );
    project.stackctl(&["up"]).ok();
    let mut dev = Dev::start(&project, &[]);
    let url = format!("{}/?mode=count", dev.base);
    let app = "https://app.example.com";

    // The preflight is answered here, without the handler.
    let preflight = http(
        "OPTIONS",
        &url,
        &[
            ("origin", app),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(preflight.status, 200);
    assert_eq!(preflight.all("access-control-allow-origin"), vec![app]);
    assert_eq!(
        preflight.header("access-control-allow-methods"),
        Some("GET, POST")
    );
    assert_eq!(
        preflight.header("access-control-allow-headers"),
        Some("content-type")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("300"));
    assert!(preflight.body.is_empty());
    // Another origin, method or header: no CORS headers (the browser blocks the call).
    for (origin, method) in [("https://evil.example", "POST"), (app, "DELETE")] {
        let refused = http(
            "OPTIONS",
            &url,
            &[
                ("origin", origin),
                ("access-control-request-method", method),
            ],
            Bytes::new(),
        )
        .await;
        assert!(
            refused.header("access-control-allow-origin").is_none(),
            "{refused:?}"
        );
    }
    let log = dev.wait_for_log("preflight refused: method `DELETE`");
    assert!(!log.contains("OPTIONS /?mode=count 502"), "{log}");

    // Exactly one Access-Control-Allow-Origin on an answer, the URL's (the handler sends none of its own).
    let answer = http("GET", &url, &[("origin", app)], Bytes::new()).await;
    assert_eq!(answer.all("access-control-allow-origin"), vec![app]);
    assert_eq!(
        answer.json()["served"],
        1,
        "the preflights never reached the handler"
    );
    // The URL's own refusal (a body over 6 MB) carries the CORS headers too, so the page can read it.
    let big = vec![b'x'; 6 * 1024 * 1024 + 1];
    let too_large = http(
        "POST",
        &url,
        &[("origin", app), ("content-type", "text/plain")],
        big,
    )
    .await;
    assert_eq!(too_large.status, 413);
    assert_eq!(too_large.all("access-control-allow-origin"), vec![app]);
    // Another origin, even a page on this machine, is refused by dev itself (403) before the handler runs:
    // dev holds the developer's credentials, so a page the CORS config does not allow cannot even write.
    for origin in ["https://evil.example", "http://localhost:5173"] {
        let foreign = http("GET", &url, &[("origin", origin)], Bytes::new()).await;
        assert_eq!(foreign.status, 403, "{origin}: {}", foreign.text());
        assert!(foreign.header("access-control-allow-origin").is_none());
    }

    // A handler that sends its own too: two values, logged as the browser error they cause.
    let doubled = http(
        "GET",
        &format!("{}/?mode=acao", dev.base),
        &[("origin", app)],
        Bytes::new(),
    )
    .await;
    assert_eq!(doubled.all("access-control-allow-origin").len(), 2);
    dev.wait_for_log("contains multiple values '*, https://app.example.com'");

    // Ctrl-C: the request in flight is answered, then dev exits 130.
    let started = project.path("slow-request-started");
    let slow = tokio::spawn({
        let url = format!(
            "{}/?mode=slow&ms=1500&marker={}",
            dev.base,
            started.display()
        );
        async move { get(&url).await }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the slow request never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let code = tokio::task::spawn_blocking(move || {
        let code = dev.interrupt();
        (code, dev.stderr())
    })
    .await
    .unwrap();
    let answer = slow.await.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.text(), "slow done");
    assert_eq!(code.0, 130, "{}", code.1);
    assert!(code.1.contains("dev: stopped"), "{}", code.1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_cors_config_options_reaches_the_handler() {
    let emulator = Emulator::start();
    let project = fixture_project(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    // From a page on this machine (the only origins dev answers without a CORS config).
    let answer = http(
        "OPTIONS",
        &format!("{}/?mode=echo", dev.base),
        &[
            ("origin", "http://localhost:5173"),
            ("access-control-request-method", "POST"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["requestContext"]["http"]["method"], "OPTIONS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_is_an_error_that_says_to_run_up() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let run = project.stackctl(&["dev", "--port", "0"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("the stack's table `my-frontend-app-data` does not exist")
            && run.stderr.contains("run `stackctl up` first"),
        "{}",
        run.stderr
    );
}
