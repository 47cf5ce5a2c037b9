//! `stackctl dev` answers the developer's own browser and tools only: a request for another Host (DNS
//! rebinding) or from a page on an origin the URL's CORS does not allow is refused before the handler runs,
//! and half-sent or idle connections are closed so that they cannot exhaust the server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::dev::http;
use crate::support::*;

const JSON: (&str, &str) = ("content-type", "application/json");

/// The items stored for `user`, read straight from moto (not a request of stackctl's).
async fn stored(emulator: &Emulator, user: &str) -> i32 {
    emulator
        .moto_clients()
        .await
        .dynamodb
        .query()
        .table_name(TABLE)
        .key_condition_expression("userId = :u")
        .expression_attribute_values(
            ":u",
            aws_sdk_dynamodb::types::AttributeValue::S(user.into()),
        )
        .send()
        .await
        .expect("query")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_host_or_origin_is_refused_before_the_handler_runs() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    let port = dev.base.rsplit(':').next().unwrap().to_string();
    let items = format!("{}/items?userId=victim", dev.base);
    let body = r#"{"title":"planted"}"#;

    // What a page elsewhere can send: a cross-site "simple" POST (text/plain, no preflight) from its own
    // origin, and, after rebinding its own name to 127.0.0.1, same-origin requests that carry its Host.
    let rebound = format!("evil.example:{port}");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let refusals: [Case; 5] = [
        (
            "foreign Origin, text/plain POST",
            vec![
                ("origin", "https://evil.example"),
                ("content-type", "text/plain"),
            ],
            403,
        ),
        (
            "foreign Origin, JSON POST",
            vec![("origin", "https://evil.example"), JSON],
            403,
        ),
        ("foreign Host", vec![("host", "evil.example"), JSON], 421),
        ("rebinding-like Host", vec![("host", &rebound), JSON], 421),
        (
            "rebinding-like Host and its Origin",
            vec![("host", &rebound), ("origin", "http://evil.example"), JSON],
            421,
        ),
    ];
    for (what, headers, status) in &refusals {
        let answer = http("POST", &items, headers, body).await;
        assert_eq!(answer.status, *status, "{what}: {}", answer.text());
        let message = answer.json()["message"].as_str().unwrap().to_string();
        assert!(message.contains("stackctl dev"), "{what}: {message}");
        assert!(answer.header("access-control-allow-origin").is_none());
    }
    let read = http(
        "GET",
        &items,
        &[("origin", "https://evil.example")],
        Bytes::new(),
    )
    .await;
    assert_eq!(read.status, 403, "{}", read.text());
    assert!(
        read.json()["message"]
            .as_str()
            .unwrap()
            .contains("origin `https://evil.example`"),
        "{}",
        read.text()
    );
    let read = http("GET", &items, &[("host", &rebound)], Bytes::new()).await;
    assert_eq!(read.status, 421, "{}", read.text());
    assert_eq!(stored(&emulator, "victim").await, 0, "an item was planted");
    let log = dev.wait_for_log("GET /items?userId=victim 421");
    assert!(log.contains("Host `evil.example`"), "{log}");
    assert!(log.contains("origin `https://evil.example`"), "{log}");

    // The developer's own tools and pages: no Origin (curl, the CLI), a loopback Host with or without the
    // port, and (with no [function.url.cors]) a page on a loopback origin.
    let mine = format!("{}/items?userId=me", dev.base);
    let created = http("POST", &mine, &[JSON], body).await;
    assert_eq!(created.status, 201, "{}", created.text());
    for headers in [
        vec![("host", format!("localhost:{port}"))],
        vec![("host", "localhost".to_string())],
        vec![("host", format!("[::1]:{port}"))],
        vec![("host", "127.0.0.1".to_string())],
        vec![("origin", "http://localhost:5173".to_string())],
        vec![("origin", "http://127.0.0.1:8080".to_string())],
        vec![("origin", "http://[::1]:3000".to_string())],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let answer = http("GET", &mine, &headers, Bytes::new()).await;
        assert_eq!(answer.status, 200, "{headers:?}: {}", answer.text());
        assert_eq!(answer.json()["items"][0]["title"], "planted");
    }
    // A loopback page may write too.
    let from_page = http(
        "POST",
        &mine,
        &[("origin", "http://localhost:5173"), JSON],
        body,
    )
    .await;
    assert_eq!(from_page.status, 201, "{}", from_page.text());
    assert_eq!(stored(&emulator, "me").await, 2);
}

/// What one half-sent connection saw until dev closed it: the bytes dev wrote (perhaps an answer).
fn until_closed(mut stream: TcpStream, what: &str) -> String {
    // A deadline for a server that never closes (the failure), not a timed assertion.
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return String::from_utf8_lossy(&seen).into_owned(),
            Ok(n) => seen.extend_from_slice(&buffer[..n]),
            // A reset is a close too.
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {
                return String::from_utf8_lossy(&seen).into_owned()
            }
            Err(err) => panic!(
                "{what}: still open after 60s ({err}); read so far: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_and_idle_connections_are_closed_and_a_normal_request_still_answers() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // Short timeouts and a small connection limit (hidden settings for tests; README has the real values).
    let dev = Dev::start_with_env(
        &project,
        &[],
        &[
            ("STACKCTL_DEV_TIMEOUT_MS", "1500"),
            ("STACKCTL_DEV_MAX_CONNECTIONS", "4"),
        ],
    );
    let address = dev.base.trim_start_matches("http://").to_string();

    // A keep-alive connection left idle after its answer, then more than the connection limit of stalled
    // ones: headers never finished, a body never finished, nothing sent.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.write_all(b"GET /items?userId=idle HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(
        &first,
        b"HTTP/1.1 200",
        "{}",
        String::from_utf8_lossy(&first)
    );
    let mut open: Vec<(&str, TcpStream)> = vec![("idle keep-alive", idle)];
    for i in 0..7 {
        let mut stream = TcpStream::connect(&address).unwrap();
        let what = match i % 3 {
            0 => {
                stream
                    .write_all(b"GET /items?userId=slow HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    .unwrap();
                "headers never finished"
            }
            1 => {
                stream
                    .write_all(
                        b"POST /items?userId=slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"title\":",
                    )
                    .unwrap();
                "body never finished"
            }
            _ => "nothing sent",
        };
        open.push((what, stream));
    }
    // The limit is reached: a normal request still gets its answer (once dev has closed the stalled ones).
    let normal = tokio::spawn({
        let url = format!("{}/items?userId=normal", dev.base);
        async move { http("GET", &url, &[], Bytes::new()).await }
    });
    let closed = tokio::task::spawn_blocking(move || {
        open.into_iter()
            .map(|(what, stream)| (what, until_closed(stream, what)))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (what, seen) in &closed {
        match *what {
            "body never finished" => assert!(seen.starts_with("HTTP/1.1 408"), "{what}: {seen}"),
            // The rest of its answer, then the close.
            "idle keep-alive" => assert!(seen.contains("\r\n\r\n"), "{what}: {seen}"),
            _ => assert!(
                seen.is_empty() || seen.starts_with("HTTP/1.1 408"),
                "{what}: {seen}"
            ),
        }
    }
    let answer = normal.await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    // And after: the server serves as before.
    let started = Instant::now();
    let again = http(
        "GET",
        &format!("{}/items?userId=normal", dev.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(again.status, 200, "{:?}", started.elapsed());
    let log = dev.stderr();
    assert!(
        log.contains("dev: 4 connections open (the limit)"),
        "the limit was reached:\n{log}"
    );
    assert!(
        log.contains("POST /items?userId=slow 408"),
        "the body timeout is logged:\n{log}"
    );
}

/// What dev answers a raw request with (headers a client library would refuse to send).
fn raw_answer(address: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(request).unwrap();
    until_closed(stream, "raw request")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_host_or_origin_or_an_unreadable_origin_is_refused_too() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);
    let address = dev.base.trim_start_matches("http://").to_string();
    // Each header is checked in every copy: an allowed first one does not vouch for a foreign second one, and
    // an Origin that is there but not text is not "no Origin".
    let cases: [(&str, &[u8], &str); 6] = [
        (
            "cross-site subresource GET without Origin (an <img> or <script> on another site)",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: cross-site\r\n\
              Sec-Fetch-Mode: no-cors\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 403",
        ),
        (
            "cross-site link followed by the developer (served)",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nSec-Fetch-Site: cross-site\r\n\
              Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
        (
            "second Host",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 421",
        ),
        (
            "second Origin",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:1\r\n\
              Origin: https://evil.example\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 403",
        ),
        (
            "Origin that is not text",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nOrigin: https://evil.example\xff\r\n\
              Connection: close\r\n\r\n",
            "HTTP/1.1 403",
        ),
        (
            "one loopback Host and Origin (served)",
            b"GET /items?userId=a HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost:1\r\n\
              Connection: close\r\n\r\n",
            "HTTP/1.1 200",
        ),
    ];
    for (what, request, expected) in cases {
        let answer = raw_answer(&address, request);
        assert!(answer.starts_with(expected), "{what}: {answer}");
        if expected != "HTTP/1.1 200" {
            assert!(
                answer.contains("\"message\":\"stackctl dev "),
                "{what}: {answer}"
            );
        }
    }
    let log = dev.stderr();
    assert!(
        log.contains("made without an Origin (Sec-Fetch-Site: cross-site): open the URL yourself"),
        "{log}"
    );
}
