//! README promises of `stackctl dev` nothing else tests (issue 21 item 8): the warnings for `--host 0.0.0.0` and
//! `function.url.auth = "aws_iam"`, a port already taken, SIGTERM, a second Ctrl-C. The handler here holds a
//! request until the test releases it (a file it waits for), so "in flight" is a state, never a duration.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::dev::http;
use crate::promises::run_bounded;
use crate::support::*;

/// With `marker` and `release` in the query: writes its PID to `marker`, then holds the request until the file
/// `release` exists. With `spin`: writes its PID there, then blocks the event loop for good. Otherwise answers at
/// once with its PID.
const HOLDING_HANDLER: &str = r#"import { existsSync, writeFileSync } from "node:fs";

export const handler = async (event: any): Promise<unknown> => {
  const query = event.queryStringParameters ?? {};
  if (query.spin) {
    writeFileSync(query.spin, String(process.pid));
    for (;;) {
      // a synchronous busy loop: no timer, no stdin event ever runs again in this process
    }
  }
  if (query.marker && query.release) {
    writeFileSync(query.marker, String(process.pid));
    while (!existsSync(query.release)) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
  return { statusCode: 200, headers: { "content-type": "text/plain" }, body: `pid ${process.pid}` };
};
"#;

fn holding_project(emulator: &Emulator) -> Project {
    let project = Project::new(emulator);
    project.write("lambda/src/handler.ts", HOLDING_HANDLER);
    project
}

/// Waits (at most 60 s) for `path` to hold the worker's PID.
#[track_caller]
fn wait_pid(path: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse() {
                return pid;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the handler"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A request the handler holds until `release` exists, sent in the background: (its answer's status and body,
/// when it comes).
fn held_request(
    base: &str,
    marker: &Path,
    release: &Path,
) -> tokio::task::JoinHandle<Option<(u16, String)>> {
    let url = format!(
        "{base}/?marker={}&release={}",
        marker.display(),
        release.display()
    );
    tokio::spawn(async move {
        // hyper's client panics through `http` on a dropped connection; catch that as "no answer".
        let answer = tokio::spawn(async move { http("GET", &url, &[], Bytes::new()).await }).await;
        answer.ok().map(|a| (a.status, a.text()))
    })
}

fn temp_file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// README `dev` flags: "`--host`: another address serves other machines too (a warning says so: they call the
/// API with your AWS credentials)"; "SigV4 signatures are not checked (with `auth = "aws_iam"` a warning says
/// so)". Neither warning on loopback without aws_iam.
#[tokio::test(flavor = "multi_thread")]
async fn dev_warns_for_a_non_loopback_host_and_for_aws_iam_auth() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"aws_iam\"\n",
    );
    project.stackctl(&["up"]).ok();

    let mut dev = Dev::start(&project, &["--host", "0.0.0.0"]);
    let log = dev.stderr();
    assert!(dev.base.starts_with("http://0.0.0.0:"), "{}", dev.base);
    assert!(
        log.contains(
            "serving on 0.0.0.0: other machines on the network can call this API, with your AWS credentials"
        ),
        "{log}"
    );
    assert!(
        log.contains(
            "function.url.auth = \"aws_iam\": dev does not check SigV4 signatures; every request is served"
        ),
        "{log}"
    );
    // It serves (an unsigned request, by a loopback Host).
    let port = dev.base.rsplit(':').next().unwrap().to_string();
    let answer = http(
        "GET",
        &format!("http://127.0.0.1:{port}/"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    dev.signal("INT");
    assert_eq!(dev.exit_code(), 130);

    project.edit(
        "stack.toml",
        "auth = \"aws_iam\"",
        "auth = \"none\"\nallow_anonymous = true",
    );
    let mut dev = Dev::start(&project, &[]);
    let log = dev.stderr();
    assert!(dev.base.starts_with("http://127.0.0.1:"), "{}", dev.base);
    assert!(!log.contains("other machines"), "{log}");
    assert!(!log.contains("SigV4"), "{log}");
    dev.signal("INT");
    assert_eq!(dev.exit_code(), 130);
}

/// README `dev`: "1 error (e.g. ... the port is taken ...)".
#[test]
fn a_port_already_taken_is_exit_1_naming_the_address() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.stackctl(&["up"]).ok();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let run = run_bounded(
        project.command(&["dev", "--port", &port]),
        Duration::from_secs(120),
        "stackctl dev on a taken port",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("error: listening on 127.0.0.1:{port}"))
            && last.contains("in use"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("dev: serving"), "{}", run.stderr);
    drop(taken);
}

/// README `dev`: "Ctrl-C or SIGTERM stops accepting connections, lets the requests in flight finish (up to
/// `timeout_secs` + 5 s), stops the workers and exits 130". SIGTERM with a request held in flight: dev stops
/// accepting, waits for it, the request gets its answer once released, dev exits 130 and its worker is gone.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_the_request_in_flight_stops_the_workers_and_exits_130() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.stackctl(&["up"]).ok();
    let files = tempfile::tempdir().unwrap();
    let (marker, release) = (temp_file(&files, "marker"), temp_file(&files, "release"));
    let mut dev = Dev::start(&project, &["--workers", "1"]);
    let request = held_request(&dev.base, &marker, &release);
    let worker = wait_pid(&marker);
    assert!(process_alive(worker));

    dev.signal("TERM");
    dev.wait_for_log("dev: stopping: no new connections; finishing the requests in flight");
    // Held: dev waits for the request (its limit is timeout_secs + 5 s, far beyond this test's steps).
    assert!(
        dev.running(),
        "dev ended with a request in flight:\n{}",
        dev.stderr()
    );
    std::fs::write(&release, "").unwrap();
    let answer = request.await.unwrap();
    assert_eq!(
        answer,
        Some((200, format!("pid {worker}"))),
        "{}",
        dev.stderr()
    );
    assert_eq!(dev.exit_code(), 130, "{}", dev.stderr());
    let log = dev.stderr();
    assert!(log.contains("dev: stopped"), "{log}");
    assert!(!log.contains("error"), "{log}");
    wait_until_gone(worker, "worker still running after dev ended");
}

/// README `dev`: "A second Ctrl-C exits at once." With a request held (and `timeout_secs = 900`, so the first
/// Ctrl-C alone would wait up to 905 s for it), a second SIGINT ends dev with 130 and its worker goes too.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_exits_at_once_and_leaves_no_worker() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 900");
    project.stackctl(&["up"]).ok();
    let files = tempfile::tempdir().unwrap();
    let (marker, release) = (temp_file(&files, "marker"), temp_file(&files, "release"));
    let mut dev = Dev::start(&project, &["--workers", "1"]);
    let _request = held_request(&dev.base, &marker, &release);
    let worker = wait_pid(&marker);

    dev.signal("INT");
    dev.wait_for_log("dev: stopping: no new connections; finishing the requests in flight");
    assert!(dev.running(), "{}", dev.stderr());
    dev.signal("INT");
    assert_eq!(dev.exit_code(), 130, "{}", dev.stderr());
    let log = dev.stderr();
    assert!(log.contains("second interrupt: stopping now"), "{log}");
    assert!(!log.contains("dev: stopped"), "{log}");
    // Never released: the worker ends because dev did.
    wait_until_gone(worker, "worker still running after dev ended");
}

/// README `dev`: "1 error (e.g. ... the first build fails)": a handler that does not compile is exit 1 with the
/// build's error, and nothing is served.
#[test]
fn a_first_build_that_fails_is_exit_1() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.stackctl(&["up"]).ok();
    project.write(
        "lambda/src/handler.ts",
        "export const handler = async (: any) => {\n",
    );
    let run = run_bounded(
        project.command(&["dev", "--port", "0"]),
        Duration::from_secs(120),
        "stackctl dev with a broken handler",
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(!run.stderr.contains("dev: serving"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: `npm run build` failed in `lambda` (exit status: 1)"),
        "{}",
        run.stderr
    );
}

/// The same with a handler that blocks its event loop (it never notices its stdin closing, and its own timeout
/// cannot fire): the second Ctrl-C kills the worker's process group before dev exits.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_also_ends_a_worker_stuck_in_a_busy_loop() {
    let emulator = Emulator::start();
    let project = holding_project(&emulator);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 900");
    project.stackctl(&["up"]).ok();
    let files = tempfile::tempdir().unwrap();
    let marker = temp_file(&files, "spinning");
    let mut dev = Dev::start(&project, &["--workers", "1"]);
    let url = format!("{}/?spin={}", dev.base, marker.display());
    let _request = tokio::spawn(async move {
        let _ = tokio::spawn(async move { http("GET", &url, &[], Bytes::new()).await }).await;
    });
    let worker = wait_pid(&marker);

    dev.signal("INT");
    dev.wait_for_log("dev: stopping: no new connections; finishing the requests in flight");
    assert!(dev.running(), "{}", dev.stderr());
    dev.signal("INT");
    assert_eq!(dev.exit_code(), 130, "{}", dev.stderr());
    wait_until_gone(worker, "worker still running after dev ended");
}
