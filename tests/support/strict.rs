//! Strict emulation: a proxy (`tests/support/strict_proxy.py`) between stackctl and the test's moto_server
//! that makes the emulator behave like real AWS where moto is lenient: tables CREATING/UPDATING/DELETING for a
//! while, Lambda functions Pending and updates InProgress, DeleteConflict on IAM teardown in the wrong order,
//! URL-encoded policy documents, new roles not yet assumable by Lambda, and seeded throttling, 5xx, slow
//! answers and dropped connections. Every switch is described in docs/strict-emulation.md.
//!
//! Every test's `Emulator::start()` runs moto behind this proxy with `realistic()` timings; a test that
//! needs more starts it with `Emulator::start_with(config, seed)` and steers it through `emulator.strict()`:
//!
//! ```ignore
//! let emulator = Emulator::start_with(strict::faulty(0.10, 0.05), seed);
//! let project = Project::new(&emulator); // stackctl talks to the proxy
//! project.stackctl(&["up"]).ok();
//! emulator.strict().set(json!({"fail_next_update": {"function": FUNCTION, "reason": "x"}}));
//! assert!(emulator.strict().injected_count("ResourceConflictException") > 0);
//! ```
//!
//! `STACKCTL_STRICT_SEED=<n>` overrides the seed of every proxy a test run starts (to replay a failure);
//! `STACKCTL_STRICT_VERBOSE=1` makes the proxy log every request into its log (printed when a test panics);
//! `STACKCTL_STRICT_PYTHON` names the interpreter (default: the repository's .venv python, else python3).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Clients, Request, REPO};

/// The strict proxy in front of one emulator; killed on drop. Point stackctl at `url` (see `project`).
pub struct Strict {
    child: Child,
    pub url: String,
    pub seed: u64,
    dir: tempfile::TempDir,
}

/// Timings short enough for tests, every stateful behaviour on, no random faults.
pub fn realistic() -> Value {
    // An alias's URL config and policy kept apart from the function's own (moto: one URL per function);
    // merged in, as the one object is at json!'s recursion limit.
    merge(
        json!({
            "iam_unique_names": true,
            "url_qualifiers": true,
            // DynamoDB backups and point-in-time recovery (tests/support/strict_backups.py): a backup CREATING for
            // a second, BackupName / ListBackups validation, BackupType and pages, no tags on a backup ARN, a
            // restored table CREATING, RecoveryPeriodInDays 1-35, UpdateContinuousBackups refused for 1.5 s after
            // CreateTable, a SYSTEM backup when a table with PITR on is deleted.
            "backup_creating_ms": 1000,
            "backup_validation": true,
            "backup_listing": true,
            "backup_tags_refused": true,
            "restore_rules": true,
            "pitr_rules": true,
            "pitr_unavailable_ms": 1500,
            "system_backups": true
        }),
        json!({
            "table_creating_ms": 800,
            "describe_not_found_after_create": true,
            "table_updating_ms": 600,
            "table_deleting_ms": 800,
            "no_change_update_table": true,
            "deletion_protection": true,
            "tags_not_found_while_creating": true,
            "delete_conflicts": true,
            "url_encode_documents": true,
            "role_propagation_ms": 1500,
            // Off here: down.rs's order tests count zero DeleteConflict (tests/cli/iam_teardown.rs turns these on).
            "role_detach_propagation_ms": 0,
            "iam_page_size": 0,
            "function_pending_ms": 600,
            "function_update_ms": 600,
            "lambda_limits": true,
            "code_update_architectures": true,
            // Invoke runs the deployed package in the local Node.js (moto's own Invoke needs Docker).
            "lambda_invoke_node": true,
            "url_config_conflict": true,
            "url_config_validation": true,
            "url_config_not_found": true,
            "permission_sid_conflict": true,
            "policy_conditions": true,
            // Lambda's default regional limit; GetAccountSettings answers it (moto: 404).
            "lambda_account_concurrency": 1000,
            "cognito_page_limits": true,
            "cognito_client_flows": true,
            "cognito_tag_rules": true,
            "logs_retention_values": true,
            "logs_tag_arn_star": true,
            "logs_interleaved": true,
            // Off here: moto's 10,000-event pages are what AWS's 1 MB pages look like to a small test.
            "logs_page_size": 0,
            "logs_deletion_protection": true,
            // Off here: a late write needs the role to outlive the function, which only adopted roles do;
            // tests/cli/log_group.rs turns it on.
            "logs_late_write": false,
            "lambda_logging_config": true,
            // RevisionId in every function answer, PublishVersion's preconditions, versions frozen at publish and
            // never renumbered, alias rules and revisions.
            "lambda_versions": true,
            "tagging_resource_types": true,
            // Two minutes: a test's `ls` right after a `down` still gets what it deleted from GetResources.
            "tagging_stale_ms": 120_000,
            "throttle_rate": 0.0,
            "provisioned_throughput_rate": 0.0,
            "error_5xx_rate": 0.0,
            "slow_rate": 0.0,
            "drop_rate": 0.0,
        }),
    )
}

/// `realistic()` plus random faults at the given rates (throttling of each service's kind, and 500/503).
pub fn faulty(throttle_rate: f64, error_5xx_rate: f64) -> Value {
    merge(
        realistic(),
        json!({"throttle_rate": throttle_rate, "error_5xx_rate": error_5xx_rate}),
    )
}

/// `realistic()` plus IAM's propagation after a detach: DeleteRole answers DeleteConflict for `ms` after the
/// role's last DetachRolePolicy or DeleteRolePolicy.
pub fn detach_propagation(ms: u64) -> Value {
    merge(realistic(), json!({"role_detach_propagation_ms": ms}))
}

/// `realistic()` with ListRolePolicies, ListAttachedRolePolicies, ListEntitiesForPolicy and ListPolicyVersions
/// answered in pages of `size` items (Marker / IsTruncated), as real IAM pages them (at 100).
pub fn iam_pages(size: u64) -> Value {
    merge(realistic(), json!({"iam_page_size": size}))
}

/// `realistic()` with FilterLogEvents answered in pages of at most `size` events (with nextToken).
pub fn logs_pages(size: u64) -> Value {
    merge(realistic(), json!({"logs_page_size": size}))
}

/// A shallow merge: the keys of `overrides` replace those of `base`.
pub fn merge(mut base: Value, overrides: Value) -> Value {
    if let (Some(base), Some(overrides)) = (base.as_object_mut(), overrides.as_object()) {
        for (k, v) in overrides {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

/// The seed a failing run printed, to replay it: `STACKCTL_STRICT_SEED=<n>`.
pub fn replay_seed() -> Option<u64> {
    std::env::var("STACKCTL_STRICT_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("STACKCTL_STRICT_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(REPO).join(".venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

impl Strict {
    /// Starts the proxy in front of `upstream` with `config` (see docs/strict-emulation.md) and `seed`
    /// (overridden by STACKCTL_STRICT_SEED). Panics with the proxy's log if it does not come up.
    pub fn start(upstream: &str, config: Value, seed: u64) -> Strict {
        let seed = replay_seed().unwrap_or(seed);
        assert!(config.is_object(), "strict config must be a JSON object");
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).expect("writing strict config");
        let ready = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("proxy.log")).expect("proxy log");
        let script = Path::new(REPO).join("tests/support/strict_proxy.py");
        let mut command = Command::new(python());
        command
            .arg(&script)
            .args(["--upstream", upstream, "--port", "0"])
            .arg("--config")
            .arg(&config_path)
            .args(["--seed", &seed.to_string()])
            .arg("--ready-file")
            .arg(&ready)
            .args(["--parent-pid", &std::process::id().to_string()]);
        if std::env::var_os("STACKCTL_STRICT_VERBOSE").is_some_and(|v| v != "0") {
            command.arg("--verbose");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting {} {}: {e}", python().display(), script.display())
            });
        let mut strict = Strict {
            child,
            url: String::new(),
            seed,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(port) = std::fs::read_to_string(&ready)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
            {
                strict.url = format!("http://127.0.0.1:{port}");
                break;
            }
            if let Ok(Some(status)) = strict.child.try_wait() {
                panic!(
                    "strict proxy exited ({status}) before listening:\n{}",
                    strict.proxy_log()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "strict proxy did not listen within 30s:\n{}",
                    strict.proxy_log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        strict
    }

    /// Merges `config` into the running proxy's config (unknown keys panic) and returns the whole config.
    /// E.g. `strict.set(json!({"fail_next_update": {"function": FUNCTION, "reason": "..."}}))`.
    pub fn set(&self, config: Value) -> Value {
        let (status, body) = self.http("POST", "/__strict/config", &config.to_string());
        assert_eq!(status, 200, "strict proxy refused config {config}: {body}");
        serde_json::from_str(&body).expect("config JSON")
    }

    /// A request to the function URL `url` through the proxy's stand-in (POST /__strict/url): the
    /// qualifier's code behind its permissions; answers {"statusCode", "headers", "body", "version"}.
    pub fn call_url(&self, url: &str, path: &str) -> Value {
        let request = serde_json::json!({"url": url, "path": path, "method": "GET"});
        let (status, body) = self.http("POST", "/__strict/url", &request.to_string());
        assert_eq!(status, 200, "the proxy's URL stand-in: {body}");
        serde_json::from_str(&body).expect("URL answer JSON")
    }

    /// The running proxy's whole config.
    pub fn config(&self) -> Value {
        self.get_json("/__strict/config")
    }

    /// Everything the proxy injected or rewrote so far, in order: objects with `op`, `service`, `resource`,
    /// `kind` ("fault", "behaviour" or "rewrite"), `injected` (e.g. "ResourceConflictException",
    /// "ThrottlingException", "drop", "TableStatus=CREATING", "State=Pending") and sometimes `reason`/`status`.
    pub fn injected(&self) -> Vec<Value> {
        match self.get_json("/__strict/log") {
            Value::Array(list) => list,
            other => panic!("strict log is not a list: {other}"),
        }
    }

    /// How many times the proxy injected `what` (an `injected` value, e.g. "DeleteConflict").
    pub fn injected_count(&self, what: &str) -> usize {
        self.injected()
            .iter()
            .filter(|e| e["injected"].as_str() == Some(what))
            .count()
    }

    /// How many times the proxy injected `what` into operation `op` (e.g. "BatchWriteItem",
    /// "ProvisionedThroughputExceededException").
    pub fn injected_by(&self, op: &str, what: &str) -> usize {
        self.injected()
            .iter()
            .filter(|e| e["op"].as_str() == Some(op) && e["injected"].as_str() == Some(what))
            .count()
    }

    /// Forgets the injection log (to look only at what comes next).
    pub fn clear_log(&self) {
        let (status, body) = self.http("DELETE", "/__strict/log", "");
        assert_eq!(status, 200, "clearing the strict log: {body}");
    }

    /// The client requests the proxy received (what stackctl sent, including the ones the proxy answered
    /// itself or dropped, and every retry), as raw objects with `seq`, `service`, `op`, `resource`, `write`,
    /// `from_rust` (User-Agent names aws-sdk-rust), `status` (null when dropped) and `answered_by`
    /// ("upstream", "proxy" or "dropped").
    pub fn requests_json(&self) -> Vec<Value> {
        match self.get_json("/__strict/requests") {
            Value::Array(list) => list,
            other => panic!("strict requests is not a list: {other}"),
        }
    }

    /// The same, in the harness's `Request` form. Unlike `Emulator::requests()`, this includes requests the
    /// proxy refused or dropped; both leave out the proxy's own side requests.
    pub fn requests(&self) -> Vec<Request> {
        self.sequenced_requests()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    /// The same with each request's sequence number (which keeps counting across `reset()`), in arrival
    /// order.
    pub fn sequenced_requests(&self) -> Vec<(u64, Request)> {
        sequenced_requests_at(&self.url)
    }

    /// What the proxy tracks (tables, functions, roles and the time left in each transition), for debugging.
    pub fn state(&self) -> Value {
        self.get_json("/__strict/state")
    }

    /// Forgets tracked state, the log and the request list; config and seed stay.
    pub fn reset(&self) {
        let (status, body) = self.http("POST", "/__strict/reset", "");
        assert_eq!(status, 200, "resetting the strict proxy: {body}");
    }

    /// Stops the proxy's clock, which every timed state runs on (CREATING, Pending, InProgress, propagation
    /// windows): such a state lasts until `advance_clock` moves the clock past it or `thaw_clock` lets it run,
    /// however slow the machine (`POST /__strict/clock`).
    pub fn freeze_clock(&self) {
        self.clock(json!({"frozen": true}));
    }

    /// Moves the proxy's clock `ms` forward (frozen or not).
    pub fn advance_clock(&self, ms: u64) {
        self.clock(json!({"advance_ms": ms}));
    }

    /// Lets the proxy's clock run again, on from where it stood.
    pub fn thaw_clock(&self) {
        self.clock(json!({"frozen": false}));
    }

    fn clock(&self, body: Value) -> Value {
        let (status, answer) = self.http("POST", "/__strict/clock", &body.to_string());
        assert_eq!(status, 200, "strict proxy refused clock {body}: {answer}");
        serde_json::from_str(&answer).expect("clock JSON")
    }

    /// How many requests the proxy has held so far (`hold_operations`; each noted `held` as it arrives), by
    /// operation name (`None`: any).
    pub fn held(&self, op: Option<&str>) -> usize {
        self.injected()
            .iter()
            .filter(|e| e["injected"] == "held" && op.is_none_or(|op| e["op"] == op))
            .count()
    }

    /// Waits (at most 120 s, a deadline for a run that never gets there) until `held(op)` reaches `count`.
    #[track_caller]
    pub fn wait_until_held(&self, op: Option<&str>, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.held(op) < count {
            assert!(
                Instant::now() < deadline,
                "the proxy never held {count} {op:?} request(s):\n{:?}",
                self.injected()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SDK clients that go through the proxy (and so see what stackctl sees).
    pub async fn clients(&self) -> Clients {
        super::clients_for(&self.url).await
    }

    /// The proxy's stderr (its start line, errors, and every request with STACKCTL_STRICT_VERBOSE=1).
    pub fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.http("GET", path, "");
        assert_eq!(status, 200, "GET {path} on the strict proxy: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// One HTTP/1.0 exchange with the proxy's control API: (status, body). Panics when it fails.
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        self.try_http(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on the strict proxy at {}: {e}", self.url))
    }

    fn try_http(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        http_at(&self.url, method, path, body)
    }
}

/// The client requests recorded by the proxy at `url`, with their sequence numbers, in arrival order.
pub fn sequenced_requests_at(url: &str) -> Vec<(u64, Request)> {
    let (status, body) = http_at(url, "GET", "/__strict/requests", "")
        .unwrap_or_else(|e| panic!("GET /__strict/requests on the strict proxy at {url}: {e}"));
    assert_eq!(status, 200, "GET /__strict/requests: {body}");
    let list: Vec<Value> = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("/__strict/requests is not a JSON list ({e}): {body}"));
    let mut requests: Vec<(u64, Request)> = list
        .iter()
        .map(|r| (r["seq"].as_u64().unwrap_or(0), request_of(r)))
        .collect();
    // Records are appended when the answer goes out; arrival order is the order of their numbers.
    requests.sort_by_key(|(seq, _)| *seq);
    requests
}

fn request_of(r: &Value) -> Request {
    Request {
        service: r["service"].as_str().unwrap_or_default().to_string(),
        operation: r["op"].as_str().unwrap_or_default().to_string(),
        write: r["write"].as_bool().unwrap_or(false),
        from_rust: r["from_rust"].as_bool().unwrap_or(false),
    }
}

/// One HTTP/1.0 exchange with a proxy's control API: (status, body).
fn http_at(url: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("no HTTP status line in {head:?}"),
            )
        })?;
    Ok((status, body.to_string()))
}

impl Drop for Strict {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What a failure needs to be replayed and understood.
            // Never panic here (a panic while unwinding aborts the test binary).
            let log = match self.try_http("GET", "/__strict/log", "") {
                Ok((200, body)) => match serde_json::from_str::<Value>(&body) {
                    Ok(Value::Array(list)) => list
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    _ => body,
                },
                Ok((status, body)) => format!("(HTTP {status}) {body}"),
                Err(e) => format!("(unavailable: {e})"),
            };
            // The seed in force now (a test may have set another one since the start), not the first one.
            let seed = self
                .try_http("GET", "/__strict/config", "")
                .ok()
                .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
                .and_then(|config| config["seed"].as_u64())
                .unwrap_or(self.seed);
            eprintln!(
                "--- strict proxy (seed {seed}; replay with STACKCTL_STRICT_SEED={seed}) injected:\n{log}\n\
                 --- strict proxy log:\n{}",
                self.proxy_log(),
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
