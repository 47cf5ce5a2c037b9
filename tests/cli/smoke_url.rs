//! `smoke --url` and `invoke --url`: the tutorial's requests as real HTTP, against a stand-in for the
//! function URL (tests/fixtures/url_server.cjs: the built handler behind a real HTTP server, with the URL's
//! CORS and SigV4 checks), since moto cannot serve URLs.

use std::path::Path;

use crate::support::*;

fn failed_messages(json: &serde_json::Value) -> Vec<String> {
    json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["result"] == "fail")
        .map(|s| s["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_over_http_passes_against_the_handler_and_invoke_prints_its_answer() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let server = UrlServer::start(&project, "handler", &[]);

    let url = format!("--url={}", server.base);
    let run = project.stackctl(&["smoke", &url, "--output", "json"]);
    run.ok();
    let json = run.json();
    assert_eq!(json["transport"], "url");
    assert_eq!(json["url"], server.base.as_str());
    assert_eq!(json["passed"], true, "{json}");
    assert_eq!(json["summary"]["passed"], 15, "{json}");

    let event = Path::new(env!("CARGO_MANIFEST_DIR")).join("lambda/events/list-items.json");
    let run = project.stackctl(&["invoke", &url, "--output", "json", event.to_str().unwrap()]);
    run.ok();
    let json = run.json();
    assert_eq!(json["transport"], "url");
    assert_eq!(json["response"]["status_code"], 200, "{json}");
    assert_eq!(
        json["response"]["headers"]["access-control-allow-origin"],
        "*"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_lives_in_one_place_and_a_doubled_header_fails_with_the_reason() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
         allow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\"]\n",
    );
    project.stackctl(&["up"]).ok();
    let origin = "--origin=https://app.example.com";

    // As deployed: the URL sends the header, the handler (STACKCTL_CORS=function-url) does not.
    let server = UrlServer::start(
        &project,
        "function-url",
        &["--cors", "https://app.example.com"],
    );
    let url = format!("--url={}", server.base);
    let run = project.stackctl(&["smoke", &url, origin, "--output", "json"]);
    run.ok();
    // Without an Origin nobody sends one, and that is what the check expects when the URL has CORS.
    project.stackctl(&["smoke", &url]).ok();
    // An origin the URL does not allow gets no header: a browser on that page would refuse the answer.
    let run = project.stackctl(&[
        "smoke",
        &url,
        "--origin=https://evil.example",
        "--output",
        "json",
    ]);
    run.expect_code(1);
    let messages = failed_messages(&run.json());
    assert!(
        messages[0].starts_with("no Access-Control-Allow-Origin for Origin `https://evil.example`"),
        "{messages:?}"
    );
    drop(server);

    // A handler that still sends its own `*` next to the URL's: two values, which browsers refuse.
    let server = UrlServer::start(&project, "handler", &["--cors", "https://app.example.com"]);
    let url = format!("--url={}", server.base);
    let run = project.stackctl(&["smoke", &url, origin, "--output", "json"]);
    run.expect_code(1);
    let json = run.json();
    assert_eq!(json["summary"]["passed"], 0, "no answer passes: {json}");
    let messages = failed_messages(&json);
    assert!(
        messages[0].contains("2 Access-Control-Allow-Origin values")
            && messages[0].contains("the browser refuses a response with multiple values"),
        "{messages:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_iam_requests_are_signed_and_a_bad_signature_is_refused() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"aws_iam\"\n",
    );
    project.stackctl(&["up"]).ok();
    // The URL checks the signature of the operator's key, which stackctl runs with.
    let keys = format!("{}:{}", project.operator.id, project.operator.secret);
    let server = UrlServer::start(&project, "handler", &["--sigv4", &keys]);
    let url = format!("--url={}", server.base);

    let run = project.stackctl(&["smoke", &url, "--output", "json"]);
    run.ok();
    assert_eq!(run.json()["passed"], true);
    assert!(
        run.json()["target"]
            .as_str()
            .unwrap()
            .contains("SigV4-signed"),
        "{}",
        run.stdout
    );

    // Signed with another secret: the URL refuses every request before the handler runs.
    let run = project.stackctl_with(
        &["smoke", &url, "--output", "json"],
        &[("AWS_SECRET_ACCESS_KEY", "not-the-secret")],
    );
    run.expect_code(1);
    let messages = failed_messages(&run.json());
    assert!(!messages.is_empty());
    assert!(messages[0].contains("403"), "{messages:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn url_without_a_deployed_url_says_how_to_get_one() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let run = project.stackctl(&["smoke", "--url"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains(
            "Lambda function `my-frontend-app-api` has no URL in us-east-1: add [function.url]"
        ),
        "{}",
        run.stderr
    );
}

/// An event whose path does not start with `/` would change the URL's host when pasted after the base
/// (`https://<id>.lambda-url…on.aws@evil.example/x` is a request to evil.example, signed with the caller's
/// credentials): `invoke --url` refuses it as bad input (exit 64, the file and field named) before any
/// request. Two listeners stand for the URL and for the other host: neither is ever connected to.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_path_that_would_change_the_host_is_refused_before_any_request() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let url_host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let other_host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("--url=http://{}", url_host.local_addr().unwrap());
    let other = other_host.local_addr().unwrap();
    let mark = emulator.mark();
    for (file, path) in [
        ("at.json", format!("@{other}/x")),
        ("relative.json", "items".to_string()),
        ("query.json", "/items?userId=someone-else".to_string()),
    ] {
        let event = serde_json::json!({
            "version": "2.0",
            "rawPath": path,
            "rawQueryString": "",
            "headers": {},
            "requestContext": {"http": {"method": "GET", "path": path}},
        });
        project.write(file, &event.to_string());
        let run = project.stackctl(&["invoke", &base, file]);
        run.expect_code(64);
        assert!(
            run.stderr.contains(&format!("{file}: `rawPath`: ")) && run.stderr.contains("fix:"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
    for listener in [&url_host, &other_host] {
        listener.set_nonblocking(true).unwrap();
        let accepted = listener.accept();
        assert!(
            matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "a request was sent: {accepted:?}"
        );
    }
    assert!(
        emulator.requests_since(mark).is_empty(),
        "nothing is sent to AWS"
    );
}
