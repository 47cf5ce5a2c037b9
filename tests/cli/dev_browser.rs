//! `stackctl dev` in a real browser: headless Chromium loads a page served from another origin
//! (tests/fixtures/browser/) whose script creates, lists, updates and deletes items with `fetch` against dev,
//! and reports what it saw. A plain HTTP client cannot prove CORS works: only a browser decides whether a
//! page may read an answer, sends the preflights itself, and refuses an answer whose CORS headers are wrong.
//! Chromium is a real dependency: without it the test fails with how to install it; it never skips.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

/// How long the page may take to report: Chromium's start plus a dozen local requests take a few seconds; this
/// is a deadline for a hung browser, not a timed assertion.
const REPORT_DEADLINE: Duration = Duration::from_secs(60);

const INSTALL: &str = "the real-browser test needs Debian's Chromium: run `scripts/ensure-chromium.sh` \
                       (`make test` does) or `apt-get install -y --no-install-recommends chromium`; \
                       STACKCTL_CHROMIUM=<path> points the test at another build";

fn fixtures() -> PathBuf {
    Path::new(REPO).join("tests/fixtures/browser")
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("STACKCTL_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "chromium not found at {}: {INSTALL}",
        path.display()
    );
    path
}

/// The page's own origin (tests/fixtures/browser/page_server.cjs on 127.0.0.1), which also receives the
/// page's report. Killed on drop.
struct PageServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for PageServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PageServer {
    fn start() -> PageServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let port_file = dir.path().join("port");
        let child = Command::new("node")
            .arg(fixtures().join("page_server.cjs"))
            .arg(&port_file)
            .arg(dir.path().join("report.json"))
            // Its stdin closing ends it, should this test die without dropping it.
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting node");
        // Owned at once, so that a panic below still kills it.
        let mut server = PageServer {
            child,
            port: 0,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.parse().ok())
            {
                server.port = port;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the page server ended ({status}) before listening");
            }
            assert!(Instant::now() < deadline, "the page server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where the page is, on `host` (127.0.0.1 or localhost: the same server, two origins to a browser).
    fn origin(&self, host: &str) -> String {
        format!("http://{host}:{}", self.port)
    }

    /// Opens the page at `origin` in headless Chromium, telling it to run `mode` against `api` as `user`, and
    /// returns the report it POSTs back. Panics with Chromium's stderr when it does not report in time.
    fn run_page(&self, origin: &str, api: &str, user: &str, mode: &str) -> Value {
        self.open_page(origin, &format!("api={api}&userId={user}&mode={mode}"))
    }

    /// Opens the page at `origin` with `query` (the page's instructions, page.js) and returns its report.
    fn open_page(&self, origin: &str, query: &str) -> Value {
        let report = self.dir.path().join("report.json");
        let _ = std::fs::remove_file(&report);
        let url = format!("{origin}/?{query}");
        let mut browser = Browser::open(&url);
        let deadline = Instant::now() + REPORT_DEADLINE;
        loop {
            // The server renames the report into place: it exists only whole.
            if let Ok(text) = std::fs::read_to_string(&report) {
                browser.kill();
                return serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("the page's report is not JSON ({e}): {text}"));
            }
            if let Some(status) = browser.exited() {
                panic!(
                    "chromium ended ({status}) before the page at {url} reported ({INSTALL}); its stderr:\n{}",
                    browser.stderr()
                );
            }
            if Instant::now() > deadline {
                browser.kill();
                panic!(
                    "the page at {url} did not report within {}s; chromium's stderr:\n{}",
                    REPORT_DEADLINE.as_secs(),
                    browser.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Headless Chromium on one page, with a fresh profile. Debian's /usr/bin/chromium is a shell script that
/// does not exec the browser, and the browser forks a zygote, renderers and more: it runs in a process group
/// of its own, and the whole group is killed.
struct Browser {
    child: Child,
    profile: tempfile::TempDir,
    killed: bool,
}

impl Browser {
    fn open(url: &str) -> Browser {
        let profile = tempfile::tempdir().expect("temp dir");
        let stderr = std::fs::File::create(profile.path().join("stderr.log")).expect("log file");
        let child = Command::new(chromium())
            .args([
                "--headless",
                // Root in CI containers, where Chromium's sandbox cannot start.
                "--no-sandbox",
                "--disable-gpu",
                // The machine has no network: nothing may try to reach Google's services (and time out).
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // Containers often give /dev/shm 64 MB, too little for Chromium's shared memory.
                "--disable-dev-shm-usage",
            ])
            .arg(format!(
                "--user-data-dir={}",
                profile.path().join("profile").display()
            ))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting chromium: {e}; {INSTALL}"));
        Browser {
            child,
            profile,
            killed: false,
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.profile.path().join("stderr.log")).unwrap_or_default()
    }

    fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        // The group's id is the wrapper's pid (process_group(0)).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Each step of a report as `name: status` or `name: <the error fetch rejected with>`.
fn outcomes(report: &Value) -> Vec<String> {
    assert_eq!(report["fatal"], Value::Null, "the page failed: {report:#}");
    report["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps in the report: {report:#}"))
        .iter()
        .map(|step| match &step["error"] {
            Value::String(error) => format!("{}: {error}", step["name"].as_str().unwrap()),
            _ => format!("{}: {}", step["name"].as_str().unwrap(), step["status"]),
        })
        .collect()
}

/// The body the page read at step `name`.
fn body<'a>(report: &'a Value, name: &str) -> &'a Value {
    let step = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {report:#}"));
    &step["body"]
}

fn titles(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|item| item["title"].as_str().unwrap())
        .collect()
}

/// dev's access-log lines (`METHOD /target STATUS Nms`) for `method` on the user's items.
fn log_lines<'a>(log: &'a str, method: &str, user: &str) -> Vec<&'a str> {
    let prefix = format!("{method} /items?userId={user}");
    log.lines().filter(|l| l.starts_with(&prefix)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_on_an_allowed_origin_uses_the_api_and_another_origin_is_blocked_by_the_browser() {
    let chromium = chromium();
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let page = PageServer::start();
    // dev serves on 127.0.0.1:<its port>; the page on 127.0.0.1:<another port> is another origin, and the
    // only one the URL's CORS config allows. The same page server reached as localhost is a third origin.
    let allowed = page.origin("127.0.0.1");
    let refused = page.origin("localhost");
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!(
            "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
             allow_origins = [\"{allowed}\"]\nallow_methods = [\"GET\", \"POST\", \"PATCH\", \"DELETE\"]\n\
             allow_headers = [\"content-type\"]\n"
        ),
    );
    project.stackctl(&["up"]).ok();
    let dev = Dev::start(&project, &[]);

    // The allowed origin: every call goes through, preflights included, and the page reads every answer.
    let report = page.run_page(&allowed, &dev.base, "browser-user", "crud");
    assert_eq!(report["origin"], allowed.as_str(), "{report:#}");
    assert_eq!(
        outcomes(&report),
        [
            "create first: 201",
            "create second: 201",
            "list both: 200",
            "update first: 200",
            "delete second: 200",
            "get deleted: 404",
            "list after: 200",
        ],
        "what the page saw (chromium: {}):\n{report:#}\ndev's stderr:\n{}",
        chromium.display(),
        dev.stderr()
    );
    let first = body(&report, "create first");
    assert_eq!(first["title"], "Buy milk", "{report:#}");
    assert_eq!(first["status"], "pending", "{report:#}");
    assert_eq!(
        titles(body(&report, "list both")),
        ["Buy milk", "Walk the dog"]
    );
    // The handler's PATCH updates the status (the title is fixed at creation) and answers the whole item.
    let updated = body(&report, "update first");
    assert_eq!(updated["itemId"], first["itemId"], "{report:#}");
    assert_eq!(updated["title"], "Buy milk", "{report:#}");
    assert_eq!(updated["status"], "done", "{report:#}");
    assert_eq!(
        *body(&report, "delete second"),
        serde_json::json!({"deleted": true})
    );
    assert_eq!(
        *body(&report, "get deleted"),
        serde_json::json!({"error": "Item not found"})
    );
    let after = body(&report, "list after");
    assert_eq!(titles(after), ["Buy milk"]);
    assert_eq!(after["items"][0]["status"], "done", "{report:#}");
    // The JSON bodies made the browser ask first: a preflight for each of the three URLs it wrote to (POST's,
    // PATCH's, DELETE's; Chromium may cache one per URL), each answered by dev itself and allowed.
    let log = dev.stderr();
    let preflights = log_lines(&log, "OPTIONS", "browser-user");
    assert!(
        preflights.len() >= 3,
        "expected a preflight before the POST, the PATCH and the DELETE:\n{log}"
    );
    assert!(!log.contains("preflight refused"), "{log}");
    assert_eq!(log_lines(&log, "POST", "browser-user").len(), 2, "{log}");

    // Another origin: dev refuses the preflight, so the browser never sends the POST; the GET needs no
    // preflight, and dev refuses it (403, before the handler runs) without Access-Control-Allow-Origin, so
    // the browser hides even the refusal from the page. Either way fetch rejects.
    let report = page.run_page(&refused, &dev.base, "blocked-user", "blocked");
    assert_eq!(report["origin"], refused.as_str(), "{report:#}");
    assert_eq!(
        outcomes(&report),
        [
            "create: TypeError: Failed to fetch",
            "list: TypeError: Failed to fetch"
        ],
        "the browser should have blocked both calls from {refused}:\n{report:#}\ndev's stderr:\n{}",
        dev.stderr()
    );
    // The GET is the page's last call: once it is logged, so is everything before it.
    let log = dev.wait_for_log("GET /items?userId=blocked-user");
    assert!(
        log_lines(&log, "POST", "blocked-user").is_empty(),
        "a POST from the refused origin reached the handler:\n{log}"
    );
    assert!(
        !log_lines(&log, "OPTIONS", "blocked-user").is_empty(),
        "the browser sent no preflight:\n{log}"
    );
    assert!(
        log.contains("refuses requests from origin"),
        "dev refused the other origin itself:\n{log}"
    );
    assert!(
        log_lines(&log, "GET", "blocked-user")
            .iter()
            .all(|l| l.contains(" 403 ")),
        "the GET from the refused origin reached the handler:\n{log}"
    );
    // Nothing was stored for that user (read past the strict proxy's record: not stackctl's request).
    let stored = emulator
        .moto_clients()
        .await
        .dynamodb
        .query()
        .table_name(TABLE)
        .key_condition_expression("userId = :u")
        .expression_attribute_values(
            ":u",
            aws_sdk_dynamodb::types::AttributeValue::S("blocked-user".into()),
        )
        .send()
        .await
        .expect("query");
    assert_eq!(stored.count(), 0, "{stored:?}");
}

/// The page's instructions for a signed-in user (page.js `auth` mode): `user`'s token, a token for another
/// API (a bad token: the right issuer and key, the wrong audience), and another user's id to pose as.
fn signed_in(api: &str, issuer: &crate::auth::LocalIssuer, user: &str, other: &str) -> String {
    format!(
        "api={api}&mode=auth&token={}&badToken={}&other={other}",
        issuer.token(user),
        issuer.token("foreign")
    )
}

/// What a signed-in page must see: its own item created and read through the preflights its token causes,
/// and every refusal (no token, a bad token, another user's id) as a status and a body it can read.
fn assert_signed_in(report: &Value, user: &str, log: &str) {
    assert_eq!(
        outcomes(report),
        [
            "create mine: 201",
            "list mine: 200",
            "get mine: 200",
            "list without token: 401",
            "create without token: 401",
            "list with bad token: 401",
            "list another user's: 403",
        ],
        "what {user}'s page saw:\n{report:#}\nthe server's log:\n{log}"
    );
    let created = body(report, "create mine");
    assert_eq!(created["userId"], user, "the caller is the token's sub");
    // Only the caller's own items: the other user's are never listed.
    let listed = body(report, "list mine");
    assert_eq!(titles(listed), ["Signed in"], "{report:#}");
    assert_eq!(listed["items"][0]["userId"], user, "{report:#}");
    assert_eq!(body(report, "get mine")["itemId"], created["itemId"]);
    for step in [
        "list without token",
        "create without token",
        "list with bad token",
        "list another user's",
    ] {
        let error = body(report, step)["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{step}: no readable error: {report:#}");
    }
}

/// A stack with `[auth]` against the test issuer (tests/fixtures/oidc/issuer.mjs, its JWKS on loopback) and a
/// public URL with `url` (its CORS config, or nothing), deployed.
fn signed_in_project(emulator: &Emulator, url: &str) -> (Project, crate::auth::LocalIssuer) {
    let project = Project::new(emulator);
    let issuer = crate::auth::LocalIssuer::start(&project);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n\n[function.url]\nauth = \"none\"\n{url}"),
    );
    let stack = project.read("stack.toml");
    project.write(
        "stack.toml",
        &format!(
            "{stack}\n[auth]\nissuer = \"https://issuer.example\"\naudience = \"api\"\n\
             jwks_url = \"http://127.0.0.1:{}/jwks.json\"\n",
            issuer.port
        ),
    );
    project.stackctl(&["up"]).ok();
    (project, issuer)
}

/// Issue 23: a signed-in page on an allowed origin sends `Authorization: Bearer <token>` to `dev` (the URL's
/// CORS config, which stackctl extends with `authorization`, emulated by dev): the browser's preflights are
/// allowed, the page creates and reads its own items, and a 401 (no token, a bad token) and a 403 (another
/// user's id) are readable by the page. Two users: each sees only their own item.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_page_sends_its_token_through_the_preflight_and_can_read_the_refusals() {
    chromium();
    let emulator = Emulator::start();
    let page = PageServer::start();
    let allowed = page.origin("127.0.0.1");
    // The file allows only content-type: `authorization` is stackctl's addition for [auth].
    let (project, issuer) = signed_in_project(
        &emulator,
        &format!(
            "[function.url.cors]\nallow_origins = [\"{allowed}\"]\n\
             allow_methods = [\"GET\", \"POST\", \"PATCH\", \"DELETE\"]\nallow_headers = [\"content-type\"]\n"
        ),
    );
    let dev = Dev::start(&project, &[]);
    for (user, other) in [("alice", "bob"), ("bob", "alice")] {
        let report = page.open_page(&allowed, &signed_in(&dev.base, &issuer, user, other));
        assert_eq!(report["origin"], allowed.as_str(), "{report:#}");
        assert_signed_in(&report, user, &dev.stderr());
    }
    let log = dev.stderr();
    // The token made every call with it preflighted; dev allowed each preflight.
    assert!(
        log.lines().any(|l| l.starts_with("OPTIONS /items")),
        "no preflight reached dev:\n{log}"
    );
    assert!(!log.contains("preflight refused"), "{log}");
    for who in ["alice", "bob", "foreign"] {
        assert!(!log.contains(&issuer.token(who)), "a token in dev's log");
    }
}

/// The same page against `dev` with no URL CORS config: the handler does CORS itself (STACKCTL_CORS=handler)
/// and answers the token's preflight before the token check (lambda/src/handler.ts); the page's calls and
/// refusals are the same.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_url_cors_config_the_handler_answers_the_tokens_preflight() {
    chromium();
    let emulator = Emulator::start();
    let page = PageServer::start();
    let origin = page.origin("127.0.0.1");
    let (project, issuer) = signed_in_project(&emulator, "");
    let dev = Dev::start(&project, &[]);
    let report = page.open_page(&origin, &signed_in(&dev.base, &issuer, "alice", "bob"));
    assert_signed_in(&report, "alice", &dev.stderr());
    let log = dev.stderr();
    assert!(
        log.lines()
            .any(|l| l.starts_with("OPTIONS /items") && l.contains(" 204 ")),
        "the handler did not answer a preflight 204:\n{log}"
    );
}

/// The same page against the stand-in function URL (tests/fixtures/url_server.cjs) as `up` deployed it: the
/// URL's CORS config read back from the emulator (its AllowHeaders: the file's `content-type` and stackctl's
/// `authorization`) and the function's own variables (`[auth]`'s, and STACKCTL_CORS=function-url: the URL,
/// not the handler, answers the preflights). Two users, each with their own item and the readable refusals.
#[tokio::test(flavor = "multi_thread")]
async fn a_signed_in_page_calls_the_deployed_url_with_its_token() {
    chromium();
    let emulator = Emulator::start();
    let page = PageServer::start();
    let allowed = page.origin("127.0.0.1");
    let (project, issuer) = signed_in_project(
        &emulator,
        &format!(
            "[function.url.cors]\nallow_origins = [\"{allowed}\"]\n\
             allow_methods = [\"GET\", \"POST\", \"PATCH\", \"DELETE\"]\nallow_headers = [\"content-type\"]\n"
        ),
    );
    let aws = emulator.moto_clients().await;
    let url = aws
        .lambda
        .get_function_url_config()
        .function_name(FUNCTION)
        .send()
        .await
        .expect("the deployed URL");
    let cors = url.cors().expect("the URL's CORS config");
    assert_eq!(cors.allow_origins(), std::slice::from_ref(&allowed));
    let headers = cors.allow_headers().join(",");
    assert_eq!(headers, "content-type,authorization");
    let variables = function_variables(&emulator).await;
    let auth = auth_variables(&variables);
    assert_eq!(auth.len(), 3, "{variables:?}");
    let server = UrlServer::start_with_env(
        &project,
        &variables["STACKCTL_CORS"],
        &["--cors", &allowed, "--cors-headers", &headers],
        &auth,
    );
    for (user, other) in [("alice", "bob"), ("bob", "alice")] {
        let report = page.open_page(&allowed, &signed_in(&server.base, &issuer, user, other));
        assert_signed_in(&report, user, "(the URL server keeps no log)");
    }
}
