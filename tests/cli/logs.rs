//! `stackctl logs`: the function's log events from CloudWatch Logs, once and followed. moto never runs the
//! function, so the tests write its events with PutLogEvents, as Lambda would (group and stream first), straight
//! to moto: the strict proxy's record then holds stackctl's requests only.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::{json, Value};

use crate::support::*;

const GROUP: &str = "/aws/lambda/my-frontend-app-api";
const STREAM_A: &str = "2026/12/02/[$LATEST]aaaaaaaa0123456789abcdef01234567";
const STREAM_B: &str = "2026/12/02/[$LATEST]bbbbbbbb0123456789abcdef01234567";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

/// The text line stackctl prints for an event.
fn line(ms: i64, stream: &str, message: &str) -> String {
    let short = &stream[stream.find(']').unwrap() + 1..][..8];
    format!("{} {short} {message}", rfc3339(ms))
}

/// Writes events (oldest first) into `stream` of the function's log group, creating both when missing, as
/// Lambda does.
async fn put(logs: &aws_sdk_cloudwatchlogs::Client, stream: &str, events: &[(i64, &str)]) {
    if let Err(err) = logs.create_log_group().log_group_name(GROUP).send().await {
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()),
            "CreateLogGroup: {err:?}"
        );
    }
    if let Err(err) = logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(stream)
        .send()
        .await
    {
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_resource_already_exists_exception()),
            "CreateLogStream: {err:?}"
        );
    }
    let mut request = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(stream);
    for (ms, message) in events {
        request = request.log_events(
            InputLogEvent::builder()
                .timestamp(*ms)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    let out = request.send().await.expect("PutLogEvents");
    assert!(out.rejected_log_events_info().is_none(), "{out:?}");
}

/// How many FilterLogEvents the proxy received after `mark`.
fn filter_calls_since(emulator: &Emulator, mark: u64) -> usize {
    emulator
        .requests_since(mark)
        .iter()
        .filter(|r| r.operation == "FilterLogEvents")
        .count()
}

/// A `stackctl logs --follow` running in the background, its stdout and stderr collected line by line.
struct Follow {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Follow {
    fn start(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Follow {
        let mut command = project.command(args);
        command.envs(env.iter().copied());
        Follow::spawn(command)
    }

    fn spawn(mut command: Command) -> Follow {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running stackctl logs --follow");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Follow {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Polls until `done` holds for the lines printed so far; `limit` is only a deadline for a run that never
    /// gets there (never an assertion on how fast it got there).
    #[track_caller]
    fn wait_until(&mut self, limit: Duration, what: &str, done: impl Fn(&[String]) -> bool) {
        let started = Instant::now();
        loop {
            if done(&self.lines()) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "stackctl logs --follow ended ({status}) before {what}\n--- stdout\n{}\n--- stderr\n{}",
                    self.lines().join("\n"),
                    self.stderr()
                );
            }
            assert!(
                started.elapsed() < limit,
                "not within {limit:?}: {what}\n--- stdout\n{}\n--- stderr\n{}",
                self.lines().join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (at most `limit`, a deadline for a run that never ends) for it to end on its own: (exit code,
    /// stdout lines, stderr).
    fn ended(mut self, limit: Duration) -> (Option<i32>, Vec<String>, String) {
        let started = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(
                started.elapsed() < limit,
                "still running after {limit:?}\n--- stdout\n{}\n--- stderr\n{}",
                self.lines().join("\n"),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (code, self.lines(), self.stderr())
    }

    /// Sends `signal` (INT, TERM) and waits for the end (60 s at most: a deadline for a run that does not
    /// stop, not a measure of how fast it stops): (exit code, stdout lines, stderr).
    fn stop(mut self, signal: &str) -> (Option<i32>, Vec<String>, String) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let started = Instant::now();
        let code = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status.code();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "still running 60s after SIG{signal}\n--- stderr\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        (code, self.lines(), self.stderr())
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            match line {
                Ok(line) => into.lock().unwrap().push(line),
                Err(_) => break,
            }
        }
    })
}

#[track_caller]
fn assert_each_once(lines: &[String], expected: &[String]) {
    assert_eq!(
        lines,
        expected,
        "\n--- got\n{}\n--- expected\n{}",
        lines.join("\n"),
        expected.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_the_window_oldest_first_across_streams_and_pages_with_since_and_filter() {
    let emulator = Emulator::start_with(strict::logs_pages(2), 1);
    let project = Project::new(&emulator);
    let logs = emulator.moto_clients().await.logs;
    let now = now_ms();
    let old = now - 30 * 60_000;
    let t = |ago_s: i64| now - ago_s * 1000;
    put(
        &logs,
        STREAM_A,
        &[
            (old, "START old\n"),
            (t(300), "a1"),
            (t(200), "ERROR a2 failed\n"),
            (t(100), "a3"),
        ],
    )
    .await;
    put(
        &logs,
        STREAM_B,
        &[(t(250), "b1"), (t(150), "ERROR b2"), (t(50), "b3\n")],
    )
    .await;
    let recent = vec![
        line(t(300), STREAM_A, "a1"),
        line(t(250), STREAM_B, "b1"),
        line(t(200), STREAM_A, "ERROR a2 failed"),
        line(t(150), STREAM_B, "ERROR b2"),
        line(t(100), STREAM_A, "a3"),
        line(t(50), STREAM_B, "b3"),
    ];

    // The default window is the last 10 minutes.
    emulator.strict().clear_log();
    let run = project.stackctl(&["logs"]);
    run.ok();
    assert_each_once(
        &run.stdout.lines().map(str::to_string).collect::<Vec<_>>(),
        &recent,
    );
    assert!(
        emulator.strict().injected_by("FilterLogEvents", "limit=2") >= 2,
        "the read must have crossed pages: {:?}",
        emulator.strict().injected()
    );

    let mut all = vec![line(old, STREAM_A, "START old")];
    all.extend(recent.iter().cloned());
    let run = project.stackctl(&["logs", "--since", "1h"]);
    run.ok();
    assert_each_once(
        &run.stdout.lines().map(str::to_string).collect::<Vec<_>>(),
        &all,
    );

    let since = rfc3339(t(160));
    let run = project.stackctl(&["logs", "--since", &since]);
    run.ok();
    assert_each_once(
        &run.stdout.lines().map(str::to_string).collect::<Vec<_>>(),
        &recent[3..],
    );

    let run = project.stackctl(&["logs", "--since", "2d", "--filter", "ERROR"]);
    run.ok();
    assert_each_once(
        &run.stdout.lines().map(str::to_string).collect::<Vec<_>>(),
        &[recent[2].clone(), recent[3].clone()],
    );
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_output_json_is_one_object_per_event() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let logs = emulator.moto_clients().await.logs;
    let t0 = now_ms() - 60_000;
    put(
        &logs,
        STREAM_A,
        &[(t0, "first\n"), (t0 + 1, "second\twith tab")],
    )
    .await;
    let run = project.stackctl(&["logs", "--output", "json"]);
    run.ok();
    let objects: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(objects.len(), 2, "{}", run.stdout);
    for (object, (ms, message)) in objects
        .iter()
        .zip([(t0, "first"), (t0 + 1, "second\twith tab")])
    {
        let id = object["event_id"].as_str().expect("event_id");
        assert!(!id.is_empty());
        assert_eq!(
            object,
            &json!({"timestamp": rfc3339(ms), "timestamp_ms": ms, "stream": STREAM_A, "event_id": id, "message": message})
        );
        let keys: Vec<&str> = object
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["timestamp", "timestamp_ms", "stream", "event_id", "message"]
        );
    }
    assert_ne!(objects[0]["event_id"], objects[1]["event_id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_without_the_log_group_exits_0_with_a_note_and_a_bad_since_is_a_usage_error() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let run = project.stackctl(&["logs"]);
    run.ok();
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("note: log group `/aws/lambda/my-frontend-app-api` does not exist yet"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    assert_eq!(
        filter_calls_since(&emulator, 0),
        1,
        "the missing group is learnt from FilterLogEvents itself"
    );

    let mark = emulator.mark();
    for bad in ["10", "10x", "yesterday", "2026-12-02"] {
        let run = project.stackctl(&["logs", "--since", bad]);
        run.expect_code(64);
        assert!(run.stderr.contains("--since"), "{}", run.stderr);
        assert!(
            run.stderr.contains("30s, 10m, 1h or 2d") && run.stderr.contains("RFC 3339"),
            "{}",
            run.stderr
        );
    }
    assert!(
        emulator.requests_since(mark).is_empty(),
        "a usage error sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_read_is_an_error_with_context() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    put(
        &emulator.moto_clients().await.logs,
        STREAM_A,
        &[(now_ms(), "x")],
    )
    .await;
    emulator
        .strict()
        .set(json!({"deny_operations": ["logs:FilterLogEvents"]}));
    for args in [&["logs"][..], &["logs", "--follow"][..]] {
        let run = project.stackctl(args);
        run.expect_code(1);
        assert!(
            run.stderr.contains(
                "error: reading log group `/aws/lambda/my-frontend-app-api` (CloudWatch Logs FilterLogEvents)"
            ) && run.stderr.contains("AccessDeniedException"),
            "{}",
            run.stderr
        );
        assert_eq!(run.stdout, "");
    }
}

/// --follow: a new event shows; a late one (older than the newest seen, within the overlap) is still found; nothing prints twice across small pages and repeated polls; SIGINT ends it with
/// 130, no error line and every line on stdout.
#[tokio::test(flavor = "multi_thread")]
async fn follow_prints_each_new_event_once_and_stops_on_sigint() {
    let emulator = Emulator::start_with(strict::logs_pages(2), 2);
    let project = Project::new(&emulator);
    let logs = emulator.moto_clients().await.logs;
    let t0 = now_ms() - 20_000;
    let before = [(t0, "one"), (t0 + 1, "two"), (t0 + 2, "three")];
    put(&logs, STREAM_A, &before).await;
    let mut expected: Vec<String> = before
        .iter()
        .map(|(ms, m)| line(*ms, STREAM_A, m))
        .collect();

    let mark = project.mark();
    let mut follow = Follow::start(&project, &["logs", "--follow"], &[]);
    follow.wait_until(Duration::from_secs(30), "the first three events", |l| {
        l.len() >= 3
    });

    // Three at once: with the late one below, every later poll reads the overlap in two pages.
    let new = now_ms();
    let news = [(new, "new 1"), (new + 1, "new 2"), (new + 2, "new 3")];
    put(&logs, STREAM_A, &news).await;
    expected.extend(news.iter().map(|(ms, m)| line(*ms, STREAM_A, m)));
    follow.wait_until(Duration::from_secs(60), "the new events", |l| l.len() >= 6);

    // Ingested late, stamped before the newest event already printed: inside the overlap, so it is found.
    let late = new - 2_000;
    put(&logs, STREAM_B, &[(late, "late")]).await;
    expected.push(line(late, STREAM_B, "late"));
    follow.wait_until(Duration::from_secs(60), "the late event", |l| l.len() >= 7);

    // Ingested late by more than a few seconds (a buffered flush from another execution environment): still
    // inside the 60 s overlap, so it is found too.
    let later = new - 40_000;
    put(&logs, STREAM_B, &[(later, "late by 40s")]).await;
    expected.push(line(later, STREAM_B, "late by 40s"));
    follow.wait_until(Duration::from_secs(60), "the event 40s late", |l| {
        l.len() >= 8
    });

    // Several more polls, each reading the overlap again over pages of two events: nothing new.
    let polled = filter_calls_since(&emulator, mark);
    let deadline = Instant::now() + Duration::from_secs(30);
    while filter_calls_since(&emulator, mark) < polled + 6 {
        assert!(Instant::now() < deadline, "follow stopped polling");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, lines, stderr) = follow.stop("INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(!stderr.contains("interrupt"), "{stderr}");
    assert_each_once(&lines, &expected);
    assert!(
        emulator.strict().injected_by("FilterLogEvents", "limit=2") >= 3,
        "the polls must have crossed pages"
    );
    project.assert_operator_policy_allows("stackctl logs --follow");
}

/// --follow on a function that has not logged yet: one note, then the event once the group appears, printed
/// by the first read after it was written; SIGTERM ends it like SIGINT, at once, even during a read that has
/// no answer yet.
#[tokio::test(flavor = "multi_thread")]
async fn follow_waits_quietly_for_the_log_group() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let strict = emulator.strict();
    let mark = project.mark();
    let mut follow = Follow::start(&project, &["logs", "--follow", "--output", "json"], &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while filter_calls_since(&emulator, mark) < 3 {
        assert!(Instant::now() < deadline, "follow stopped polling");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The next read waits in the proxy while the function logs for the first time (a read in flight when
    // the group appears).
    strict.set(json!({"hold_operations": ["FilterLogEvents"]}));
    strict.wait_until_held(Some("FilterLogEvents"), 1);
    let ms = now_ms();
    put(
        &emulator.moto_clients().await.logs,
        STREAM_A,
        &[(ms, "hello")],
    )
    .await;
    let answered = filter_calls_since(&emulator, mark);
    strict.set(json!({"hold_operations": null}));
    let deadline = Instant::now() + Duration::from_secs(60);
    while filter_calls_since(&emulator, mark) == answered {
        assert!(
            Instant::now() < deadline,
            "the released read was never answered"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Held again: follow reads no more, so only the reads already answered (the released one, and any that
    // slipped through before this) can have printed the event.
    strict.set(json!({"hold_operations": ["FilterLogEvents"]}));
    strict.wait_until_held(Some("FilterLogEvents"), 2);
    follow.wait_until(Duration::from_secs(60), "the first event", |l| {
        !l.is_empty()
    });
    // SIGTERM during a read that is held for two minutes: the 60 s deadline of stop() fails a run that
    // waits for its answer.
    let (code, lines, stderr) = follow.stop("TERM");
    strict.set(json!({"hold_operations": null}));
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let event: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (event["timestamp_ms"].as_i64(), event["message"].as_str()),
        (Some(ms), Some("hello"))
    );
    assert_eq!(
        stderr.matches("does not exist yet").count(),
        1,
        "one note while waiting: {stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

/// Every FilterLogEvents throttled twice in a row, with the SDK allowed two attempts: each page's first call
/// fails even after the SDK's retry. `logs` and `logs --follow` back off, ask for the same page again, and
/// print every event exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn under_throttling_every_event_is_printed_exactly_once() {
    let emulator = Emulator::start_with(
        strict::merge(
            strict::logs_pages(3),
            json!({"throttle_rate": 1.0, "fault_operations": ["FilterLogEvents"], "max_consecutive_faults": 2}),
        ),
        3,
    );
    let project = Project::new(&emulator);
    let logs = emulator.moto_clients().await.logs;
    let t0 = now_ms() - 60_000;
    let first: Vec<(i64, String)> = (0..5).map(|i| (t0 + i, format!("event {i}"))).collect();
    let refs: Vec<(i64, &str)> = first.iter().map(|(ms, m)| (*ms, m.as_str())).collect();
    put(&logs, STREAM_A, &refs).await;
    let mut expected: Vec<String> = first.iter().map(|(ms, m)| line(*ms, STREAM_A, m)).collect();
    let attempts = [("AWS_MAX_ATTEMPTS", "2")];

    let run = project.stackctl_with(&["logs"], &attempts);
    run.ok();
    assert_each_once(
        &run.stdout.lines().map(str::to_string).collect::<Vec<_>>(),
        &expected,
    );
    assert!(
        run.stderr.contains("FilterLogEvents is throttled"),
        "{}",
        run.stderr
    );
    let throttled = emulator
        .strict()
        .injected_by("FilterLogEvents", "ThrottlingException");
    assert!(throttled >= 4, "2 pages, each throttled twice: {throttled}");

    let mark = project.mark();
    let mut follow = Follow::start(&project, &["logs", "--follow"], &attempts);
    follow.wait_until(Duration::from_secs(30), "the first five events", |l| {
        l.len() >= 5
    });
    let more = now_ms();
    put(&logs, STREAM_A, &[(more, "event 5"), (more + 1, "event 6")]).await;
    expected.push(line(more, STREAM_A, "event 5"));
    expected.push(line(more + 1, STREAM_A, "event 6"));
    follow.wait_until(Duration::from_secs(30), "the two new events", |l| {
        l.len() >= 7
    });
    let polled = filter_calls_since(&emulator, mark);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Two more polls at least (each page: two throttled calls, then one answered).
    while filter_calls_since(&emulator, mark) < polled + 6 {
        assert!(Instant::now() < deadline, "follow stopped polling");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, lines, stderr) = follow.stop("INT");
    assert_eq!(code, Some(130), "{stderr}");
    assert_each_once(&lines, &expected);
    assert!(stderr.contains("FilterLogEvents is throttled"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// Credentials that stop loading while `--follow` runs (an SSO session that expires, a broken
/// credential_process): the SDK reports it as a dispatch failure, which is not a network problem. `--follow`
/// ends with the one-line credentials message and exit 1 instead of retrying forever.
#[tokio::test(flavor = "multi_thread")]
async fn follow_ends_with_the_credentials_message_when_credentials_stop_loading() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let logs = emulator.moto_clients().await.logs;
    put(&logs, STREAM_A, &[(now_ms() - 5_000, "before")]).await;

    // A credential_process that hands out short-lived credentials (the SDK asks again for every request:
    // they expire inside its refresh buffer) while `valid` exists, and fails as an expired SSO session does
    // once it is gone.
    let home = tempfile::tempdir().unwrap();
    let valid = home.path().join("valid");
    std::fs::write(&valid, "").unwrap();
    let script = home.path().join("credentials.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nif [ -f '{}' ]; then\n  expires=$(date -u -d \"@$(( $(date +%s) + 5 ))\" +%Y-%m-%dT%H:%M:%SZ)\n  \
             printf '{{\"Version\":1,\"AccessKeyId\":\"testing\",\"SecretAccessKey\":\"testing\",\"Expiration\":\"%s\"}}' \"$expires\"\n\
             else\n  echo 'the SSO session has expired' >&2\n  exit 1\nfi\n",
            valid.display()
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join("config"),
        format!("[default]\ncredential_process = sh {}\n", script.display()),
    )
    .unwrap();
    let mut command = project.command(&["logs", "--follow"]);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.path().join("credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let mut follow = Follow::spawn(command);
    follow.wait_until(Duration::from_secs(30), "the first event", |l| {
        !l.is_empty()
    });
    std::fs::remove_file(&valid).unwrap();
    let (code, lines, stderr) = follow.ended(Duration::from_secs(60));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: the AWS credentials have expired (")
            && last.contains("the SSO session has expired")
            && last.contains("aws sso login"),
        "{stderr}"
    );
    assert!(!stderr.contains("dispatch failure"), "{stderr}");
}

/// A log event is the function's text, so anything could be in it: a screen clear, an OSC 52 clipboard write.
/// `logs` shows such characters escaped (`\u{1b}`), never sends them to the terminal; JSON Lines carry them
/// as JSON escapes.
#[tokio::test(flavor = "multi_thread")]
async fn logs_prints_control_characters_escaped() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let ms = now_ms() - 5_000;
    let hostile = "\x1b[2Jcleared \x1b]52;c;cHduZWQ=\x07 bell\x07";
    put(
        &emulator.moto_clients().await.logs,
        STREAM_A,
        &[(ms, hostile)],
    )
    .await;
    let run = project.stackctl(&["logs"]);
    run.ok();
    assert_eq!(
        run.stdout.trim_end(),
        line(
            ms,
            STREAM_A,
            "\\u{1b}[2Jcleared \\u{1b}]52;c;cHduZWQ=\\u{7} bell\\u{7}"
        )
    );
    assert!(!run.stdout.contains('\x1b') && !run.stdout.contains('\x07'));
    let run = project.stackctl(&["logs", "--output", "json"]);
    run.ok();
    assert!(
        run.stdout
            .contains(r#""message":"\u001b[2Jcleared \u001b]52;c;cHduZWQ=\u0007 bell\u0007""#),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains('\x1b'));
    let event: Value = serde_json::from_str(run.stdout.trim_end()).unwrap();
    assert_eq!(event["message"], hostile);
}
