//! Test harness: a fresh moto_server per test (its own port, its own request recording), a temp copy of
//! the project, the real built binary, and SDK clients to inspect what it did. A test that needs the
//! emulator fails loudly when the emulator is not installed; it never skips.

#![allow(dead_code)]

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;

pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
pub const ACCOUNT: &str = "123456789012";
pub const TABLE: &str = "my-frontend-app-data";
pub const ROLE: &str = "my-frontend-app-lambda-role";
pub const POLICY: &str = "MyFrontendAppLambdaDynamoDB";
pub const FUNCTION: &str = "my-frontend-app-api";
pub const BASIC_EXECUTION: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";

/// The IAM path stackctl creates the test stack's role and policy under.
pub const IAM_PATH: &str = "/stackctl/my-frontend-app/";

/// The stack's policy, as stackctl creates it (under `IAM_PATH`).
pub fn policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy{IAM_PATH}{POLICY}")
}

/// The stack's role, as stackctl creates it (under `IAM_PATH`).
pub fn role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role{IAM_PATH}{ROLE}")
}

/// The stack's policy as stackctl created it before IAM paths (at `/`).
pub fn legacy_policy_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{POLICY}")
}

fn moto_server() -> PathBuf {
    let path = std::env::var_os("STACKCTL_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(REPO).join(".venv/bin/moto_server"));
    assert!(
        path.exists(),
        "moto_server not found at {}: run `scripts/ensure-moto.sh` (or `make test`, which does it) first",
        path.display()
    );
    path
}

/// The python of moto's install (beside moto_server), which runs tests/support/moto_iam.py: moto_server with
/// IAM enforcement as AWS does it.
fn moto_python() -> PathBuf {
    let server = moto_server();
    let bin = server.parent().expect("moto_server's directory");
    ["python", "python3"]
        .iter()
        .map(|name| bin.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no python beside {}", server.display()))
}

/// The access key the harness's own clients use: the account's root user in tests/support/moto_iam.py, whom
/// identity policies do not restrict (as in AWS).
pub const ROOT_KEY: &str = "testing";

/// An IAM user's access key pair.
#[derive(Debug, Clone)]
pub struct Keys {
    pub id: String,
    pub secret: String,
}

/// What `ls --all` and `ls --scan-iam` read beyond the policy `stackctl policy` generates (which names only this
/// stack's resources): the tags and describe calls that confirm every stack's resources, and with --scan-iam
/// every role and policy of the account (README "IAM permissions stackctl itself needs"). Tests running those
/// give the operator this too (`Emulator::grant`).
pub const LS_ACCOUNT_WIDE: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"LsEveryStack","Effect":"Allow","Action":["iam:ListRoleTags","iam:ListPolicyTags","iam:GetRole","iam:GetPolicy","iam:ListAttachedRolePolicies","dynamodb:DescribeTable","dynamodb:ListTagsOfResource","lambda:GetFunction","lambda:GetFunctionConfiguration","lambda:ListTags","logs:ListTagsForResource","cognito-idp:DescribeUserPool"],"Resource":"*"}]}"#;

/// The user every stackctl run uses (`Project::command()`): it holds only policies/stackctl-operator-policy.json.
pub const OPERATOR_USER: &str = "stackctl-operator";
/// The user of runs that execute the handler locally (`dev`, `--local`): the operator policy plus the function's
/// own (policies/lambda-dynamodb-policy.json), since the handler runs with the caller's credentials.
pub const LOCAL_USER: &str = "stackctl-local-developer";

pub mod strict;
mod timing;

pub mod leftovers;
/// stackctl's own resource kinds (src/plan.rs itself, not a copy), for the orphan check.
#[path = "../../src/plan.rs"]
pub mod plan;
pub use leftovers::{ask_for_every_kind, leftovers};
pub mod url_server;
pub use url_server::UrlServer;
pub mod dev_server;
pub use dev_server::Dev;
// Runs and clients as another IAM user, and state a test seeds in AWS itself (items, backups, aliases).
pub mod as_user;
pub use as_user::operator_policy_without;
pub mod seed;
pub use seed::{
    backups, publish_and_alias, put_items, table_exists, table_tag, table_tags, tagged_stack_table,
};

/// One moto_server, recording every request it receives, behind the strict proxy that makes it behave like
/// real AWS where moto is lenient (tables CREATING, Lambda updates in progress, roles propagating, IAM's
/// delete conflicts, URL-encoded documents: see docs/strict-emulation.md). Everything is killed on drop.
pub struct Emulator {
    child: Child,
    /// Where stackctl and the test's own clients talk to: the strict proxy.
    pub url: String,
    /// moto itself, past every strict behaviour.
    pub moto_url: String,
    dir: tempfile::TempDir,
    pub strict: Option<strict::Strict>,
    /// The keys of `OPERATOR_USER` and `LOCAL_USER`, made on start.
    pub operator: Keys,
    pub local: Keys,
}

impl Emulator {
    /// The emulator every test uses: moto behind the strict proxy with `strict::realistic()` timings.
    /// The seed comes from the test's name, so a failure replays with the same faults.
    pub fn start() -> Emulator {
        let seed = std::thread::current().name().map_or(0, |name| {
            name.bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        });
        Emulator::start_with(strict::realistic(), seed)
    }

    /// moto behind the strict proxy with `config` (see strict.rs) and `seed`.
    pub fn start_with(config: serde_json::Value, seed: u64) -> Emulator {
        let mut emulator = Emulator::start_lenient();
        let proxy = strict::Strict::start(&emulator.moto_url, config, seed);
        emulator.url = proxy.url.clone();
        emulator.strict = Some(proxy);
        emulator
    }

    /// The strict proxy's handle (to change its behaviour or read what it injected).
    pub fn strict(&self) -> &strict::Strict {
        self.strict
            .as_ref()
            .expect("this emulator runs without the strict proxy")
    }

    /// Plain moto, lenient where AWS is strict.
    pub fn start_lenient() -> Emulator {
        timing::start();
        // A port taken between probing and binding makes moto exit; then try another.
        for _ in 0..5 {
            let dir = tempfile::tempdir().expect("temp dir");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let log = std::fs::File::create(dir.path().join("moto.log")).expect("log file");
            let child = Command::new(moto_python())
                .arg(Path::new(REPO).join("tests/support/moto_iam.py"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("STACKCTL_IAM_DENIALS", dir.path().join("denials.jsonl"))
                .env("STACKCTL_IAM_ROOT_KEY", ROOT_KEY)
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .env("MOTO_ENABLE_RECORDING", "True")
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording.jsonl"))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("starting moto_server");
            let mut emulator = Emulator {
                child,
                url: format!("http://127.0.0.1:{port}"),
                moto_url: format!("http://127.0.0.1:{port}"),
                dir,
                strict: None,
                operator: Keys {
                    id: String::new(),
                    secret: String::new(),
                },
                local: Keys {
                    id: String::new(),
                    secret: String::new(),
                },
            };
            if emulator.wait_ready() {
                emulator.operator = emulator.user(OPERATOR_USER, &[operator_policy()]);
                emulator.local = emulator.user(LOCAL_USER, &[operator_policy(), function_policy()]);
                return emulator;
            }
        }
        panic!("moto_server did not start after 5 attempts");
    }

    /// Makes an IAM user holding exactly `policies` (inline, so that no customer-managed policy of the
    /// harness shows in what stackctl lists) and an access key for it, directly on moto as the root user:
    /// neither the proxy's record nor its counts see it.
    pub fn user(&self, name: &str, policies: &[String]) -> Keys {
        self.root_iam(&[("Action", "CreateUser"), ("UserName", name)]);
        for (i, document) in policies.iter().enumerate() {
            let policy_name = format!("{name}-{i}");
            self.root_iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", name),
                ("PolicyName", &policy_name),
                ("PolicyDocument", document),
            ]);
        }
        let answer = self.root_iam(&[("Action", "CreateAccessKey"), ("UserName", name)]);
        let field = |tag: &str| {
            answer
                .split(&format!("<{tag}>"))
                .nth(1)
                .and_then(|rest| rest.split(&format!("</{tag}>")).next())
                .unwrap_or_else(|| panic!("no {tag} in CreateAccessKey's answer: {answer}"))
                .to_string()
        };
        Keys {
            id: field("AccessKeyId"),
            secret: field("SecretAccessKey"),
        }
    }

    /// Adds `document` to what `user` (e.g. `OPERATOR_USER`) may do, as an inline policy of its own.
    pub fn grant(&self, user: &str, document: &str) {
        static GRANTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = GRANTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.root_iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", user),
            ("PolicyName", &format!("{user}-grant-{n}")),
            ("PolicyDocument", document),
        ]);
    }

    /// One IAM query call to moto as the root user (whose requests moto_iam.py does not check), answered 200.
    fn root_iam(&self, params: &[(&str, &str)]) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let body = params
            .iter()
            .chain([("Version", "2010-05-08")].iter())
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
            .collect::<Vec<_>>()
            .join("&");
        let addr = self.moto_url.trim_start_matches("http://");
        let request = format!(
            "POST / HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             X-Amz-Date: 20240101T000000Z\r\nAuthorization: AWS4-HMAC-SHA256 \
             Credential={ROOT_KEY}/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = std::net::TcpStream::connect(addr).expect("connecting to moto");
        stream
            .write_all(request.as_bytes())
            .expect("writing to moto");
        let mut response = String::new();
        std::io::Read::read_to_string(&mut stream, &mut response).expect("reading moto's answer");
        assert!(
            response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200"),
            "IAM {params:?} as root: {response}"
        );
        response
    }

    /// Every refusal moto's IAM enforcement made so far (tests/support/moto_iam.py's log), as JSON objects with
    /// `key`, `service`, `op`, `error` (AccessDenied, InvalidClientTokenId, SignatureDoesNotMatch) and, for a
    /// denial, `action` and `resource`.
    pub fn denials(&self) -> Vec<serde_json::Value> {
        denials_in(&self.denials_path())
    }

    /// Where moto_iam.py logs what it refused.
    pub fn denials_path(&self) -> PathBuf {
        self.dir.path().join("denials.jsonl")
    }

    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut stream) =
                std::net::TcpStream::connect(self.moto_url.trim_start_matches("http://"))
            {
                let _ = stream.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if std::io::Read::read(&mut stream, &mut buf).is_ok_and(|n| n > 0) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Every request stackctl (or the test) sent so far, in the order they arrived. With the strict proxy
    /// (every test's default) this is the proxy's own record: it includes the requests the proxy refused
    /// itself (a DeletePolicy sent too early, a 409 while an update is in progress) or dropped, and every
    /// retry, none of which moto's recording shows. Without a proxy, moto's recording.
    pub fn requests(&self) -> Vec<Request> {
        self.sequenced_requests()
            .into_iter()
            .map(|(_, r)| r)
            .collect()
    }

    fn sequenced_requests(&self) -> Vec<(u64, Request)> {
        self.request_source().sequenced()
    }

    /// Where this emulator's requests are recorded: the strict proxy's record, or moto's.
    fn request_source(&self) -> RequestSource {
        match &self.strict {
            Some(strict) => RequestSource::Proxy(strict.url.clone()),
            None => RequestSource::Recording(self.dir.path().join("recording.jsonl")),
        }
    }

    /// A position in the request log, to look at what came after it. It survives `strict().reset()`
    /// (the proxy numbers requests across resets).
    pub fn mark(&self) -> u64 {
        self.sequenced_requests()
            .iter()
            .map(|(seq, _)| *seq)
            .max()
            .unwrap_or(0)
    }

    pub fn requests_since(&self, mark: u64) -> Vec<Request> {
        self.sequenced_requests()
            .into_iter()
            .filter(|(seq, _)| *seq > mark)
            .map(|(_, r)| r)
            .collect()
    }

    pub fn writes_since(&self, mark: u64) -> Vec<String> {
        self.requests_since(mark)
            .into_iter()
            .filter(|r| r.write)
            .map(|r| r.operation)
            .collect()
    }

    /// SDK clients that see what stackctl sees (through the strict proxy, when there is one).
    pub async fn clients(&self) -> Clients {
        clients_for(&self.url).await
    }

    /// SDK clients that talk to moto directly, past every strict behaviour and fault: for checking the
    /// final state of a test that injects faults.
    pub async fn moto_clients(&self) -> Clients {
        clients_for(&self.moto_url).await
    }

    /// `moto_clients` in another region (tables, functions and log groups are regional; IAM is not).
    pub async fn moto_clients_in(&self, region: &'static str) -> Clients {
        clients_in(&self.moto_url, region).await
    }
}

/// moto_iam.py makes its log, empty, when it starts: a log that is not there (the emulator dropped before a
/// project that checks it) is a failure, never "nothing refused".
fn denials_in(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| {
            panic!(
                "reading moto's IAM refusals in {} (is the emulator gone?): {e}",
                path.display()
            )
        })
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("denial log line is JSON"))
        .collect()
}

/// policies/stackctl-operator-policy.json, what README says the operator needs.
pub fn operator_policy() -> String {
    std::fs::read_to_string(Path::new(REPO).join("policies/stackctl-operator-policy.json"))
        .expect("reading the operator policy")
}

/// policies/lambda-dynamodb-policy.json with `${table.arn}` filled as stackctl fills it, for any table of the
/// account (a test may rename the table or deploy a stage).
pub fn function_policy() -> String {
    std::fs::read_to_string(Path::new(REPO).join("policies/lambda-dynamodb-policy.json"))
        .expect("reading the function policy")
        .replace(
            "${table.arn}",
            &format!("arn:aws:dynamodb:*:{ACCOUNT}:table/*"),
        )
}

pub async fn clients_for(url: &str) -> Clients {
    clients_in(url, "us-east-1").await
}

async fn clients_in(url: &str, region: &'static str) -> Clients {
    let config = as_user::sdk_config(url, region, &Keys::root()).await;
    Clients {
        dynamodb: aws_sdk_dynamodb::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        lambda: aws_sdk_lambda::Client::new(&config),
        logs: aws_sdk_cloudwatchlogs::Client::new(&config),
        cognito: aws_sdk_cognitoidentityprovider::Client::new(&config),
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub iam: aws_sdk_iam::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
}

fn read_requests(recording: &Path) -> Vec<Request> {
    let text = std::fs::read_to_string(recording).unwrap_or_default();
    // moto may be writing a line right now: only complete lines count. The harness's readiness probes and
    // the strict proxy's side requests go to (or are marked) /moto-api/; they are not stackctl's requests.
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && !l.contains("/moto-api/"))
        .map(Request::parse)
        .collect()
}

/// One request as the emulator saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub service: String,
    pub operation: String,
    pub write: bool,
    /// Sent by the Rust SDK (stackctl or this harness), not by the handler's JavaScript SDK.
    pub from_rust: bool,
}

impl Request {
    fn parse(line: &str) -> Request {
        let entry: serde_json::Value = serde_json::from_str(line).expect("recording line is JSON");
        let header = |name: &str| {
            entry["headers"]
                .as_object()
                .and_then(|h| h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
                .and_then(|(_, v)| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        // The SigV4 credential scope names the service: Credential=<key>/<date>/<region>/<service>/aws4_request
        let service = header("Authorization")
            .split("Credential=")
            .nth(1)
            .and_then(|c| c.split('/').nth(3))
            .unwrap_or("unknown")
            .to_string();
        let body = match entry["body"].as_str() {
            Some(b) if entry["body_encoded"].as_bool() == Some(true) => String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .unwrap_or_default(),
            )
            .into_owned(),
            Some(b) => b.to_string(),
            None => String::new(),
        };
        let method = entry["method"].as_str().unwrap_or_default().to_string();
        let url = entry["url"].as_str().unwrap_or_default();
        let path = url
            .splitn(4, '/')
            .nth(3)
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        let operation = match service.as_str() {
            "dynamodb" | "logs" | "tagging" | "cognito-idp" => header("X-Amz-Target")
                .rsplit('.')
                .next()
                .unwrap_or_default()
                .to_string(),
            "lambda" => lambda_operation(&method, &path),
            _ => body
                .split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or("Unknown")
                .to_string(),
        };
        let write = if service == "lambda" {
            method != "GET"
        } else {
            ![
                "Get", "List", "Describe", "Scan", "Query", "BatchGet", "Filter",
            ]
            .iter()
            .any(|p| operation.starts_with(p))
        };
        let from_rust = header("User-Agent").contains("aws-sdk-rust");
        Request {
            service,
            operation,
            write,
            from_rust,
        }
    }
}

fn lambda_operation(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let op = match (method, parts.as_slice()) {
        ("POST", [_, "functions"]) => "CreateFunction",
        ("GET", [_, "functions"]) => "ListFunctions",
        ("GET", [_, "functions", _]) => "GetFunction",
        ("DELETE", [_, "functions", _]) => "DeleteFunction",
        ("GET", [_, "functions", _, "configuration"]) => "GetFunctionConfiguration",
        ("PUT", [_, "functions", _, "configuration"]) => "UpdateFunctionConfiguration",
        ("PUT", [_, "functions", _, "code"]) => "UpdateFunctionCode",
        ("POST", [_, "functions", _, "invocations"]) => "Invoke",
        ("GET", [_, "functions", _, "url"]) => "GetFunctionUrlConfig",
        ("POST", [_, "functions", _, "url"]) => "CreateFunctionUrlConfig",
        ("PUT", [_, "functions", _, "url"]) => "UpdateFunctionUrlConfig",
        ("DELETE", [_, "functions", _, "url"]) => "DeleteFunctionUrlConfig",
        ("GET", [_, "functions", _, "policy"]) => "GetPolicy",
        ("POST", [_, "functions", _, "policy"]) => "AddPermission",
        ("DELETE", [_, "functions", _, "policy", _]) => "RemovePermission",
        ("PUT", [_, "functions", _, "concurrency"]) => "PutFunctionConcurrency",
        ("DELETE", [_, "functions", _, "concurrency"]) => "DeleteFunctionConcurrency",
        ("GET", [_, "tags", ..]) => "ListTags",
        ("POST", [_, "tags", ..]) => "TagResource",
        ("DELETE", [_, "tags", ..]) => "UntagResource",
        _ => return format!("{method} {path}"),
    };
    op.to_string()
}

/// `npm ci` once per test run, in the repository's lambda/ (each project copy links to it).
fn node_modules() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let lambda = Path::new(REPO).join("lambda");
            if !lambda.join("node_modules/.package-lock.json").exists() {
                let status = Command::new("npm")
                    .arg("ci")
                    .current_dir(&lambda)
                    .status()
                    .expect("running npm ci");
                assert!(status.success(), "npm ci failed in {}", lambda.display());
            }
            lambda.join("node_modules")
        })
        .clone()
}

/// A temp copy of the project (stack.toml, policies/, lambda/ sources) to run stackctl in.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    /// Where the run's requests are recorded.
    requests: RequestSource,
    /// The keys runs use (`command()`), and where moto's IAM enforcement logs what it refused.
    pub operator: Keys,
    pub local: Keys,
    denials: PathBuf,
}

/// The strict proxy's own record of what the client sent (every test's default), or moto's recording.
enum RequestSource {
    Proxy(String),
    Recording(PathBuf),
}

impl RequestSource {
    /// Every recorded request with its sequence number, in arrival order.
    fn sequenced(&self) -> Vec<(u64, Request)> {
        match self {
            RequestSource::Proxy(url) => strict::sequenced_requests_at(url),
            RequestSource::Recording(path) => read_requests(path)
                .into_iter()
                .enumerate()
                .map(|(i, r)| (i as u64 + 1, r))
                .collect(),
        }
    }
}

impl Project {
    /// A fresh copy of the project whose handler is already built, as after a first `up`: `.stackctl/` and
    /// `lambda/dist/` of one real build (`stackctl plan` in a project made as this one is, once per test
    /// process; see `built_handler`), copied with their mtimes, so that stackctl's build cache takes them
    /// as its own and the first `up` skips the build as a second `up` would. That build (npm, tsc, esbuild:
    /// ~2 s of CPU) was most of the suite's CPU time. An edit to the sources, the lockfile or the build
    /// command still rebuilds; tests about the first build itself use `Project::unbuilt`.
    pub fn new(emulator: &Emulator) -> Project {
        let project = Project::unbuilt(emulator);
        let built = built_handler();
        for relative in [".stackctl/build.json", ".stackctl/package.zip"] {
            copy_with_mtime(&built.join(relative), &project.path(relative));
        }
        copy_tree_with_mtimes(&built.join("lambda/dist"), &project.path("lambda/dist"));
        project
    }

    /// A fresh copy of the project, never built: its first `up` runs the build.
    pub fn unbuilt(emulator: &Emulator) -> Project {
        Project::at(emulator, project_files())
    }

    /// The project's files only: no node_modules, nothing built. For runs that stop before the build (the
    /// corpus of broken stack files): hard-linking node_modules (~5,000 entries) and removing it again was
    /// most of each corpus case's cost.
    pub fn files_only(emulator: &Emulator) -> Project {
        Project::in_dir(emulator, project_files())
    }
}

/// A temp dir holding a copy of the repository's project files (stack file, policies, the handler's sources,
/// package.json, lockfile, tsconfig).
fn project_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = Path::new(REPO);
    for file in [
        "stack.toml",
        "policies/lambda-trust-policy.json",
        "policies/lambda-dynamodb-policy.json",
    ] {
        copy(&root.join(file), &dir.path().join(file));
    }
    for file in [
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "src/handler.ts",
        "src/auth.ts",
    ] {
        copy(
            &root.join("lambda").join(file),
            &dir.path().join("lambda").join(file),
        );
    }
    dir
}

impl Project {
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).expect("reading project file")
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, content).expect("writing project file");
    }

    /// A PATH (for `stackctl_with`) whose `npm` prints `echo_args` (shell words after `echo`) to stderr and
    /// exits 99, and whose `node` is the real one (so the build inputs are unchanged): a build that runs fails.
    pub fn path_with_failing_npm(&self, echo_args: &str) -> String {
        use std::os::unix::fs::PermissionsExt;
        let bin = self.path("fake-bin");
        std::fs::create_dir_all(&bin).expect("mkdir fake-bin");
        std::os::unix::fs::symlink(which("node"), bin.join("node")).expect("linking node");
        std::fs::write(
            bin.join("npm"),
            format!("#!/bin/sh\necho {echo_args} >&2\nexit 99\n"),
        )
        .expect("writing the npm stub");
        std::fs::set_permissions(bin.join("npm"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod the npm stub");
        format!("{}:/usr/bin:/bin", bin.display())
    }

    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let text = self.read(relative);
        assert!(text.contains(from), "`{from}` not found in {relative}");
        self.write(relative, &text.replacen(from, to, 1));
    }

    /// Runs the built stackctl in the project directory against this project's emulator.
    pub fn stackctl(&self, args: &[&str]) -> Run {
        self.stackctl_with(args, &[])
    }

    /// The same, with extra environment variables (set after the defaults, so they can override them).
    /// Every run is made with the keys of a user holding only the operator policy (see `command()`), and moto
    /// enforces IAM: every AWS call the run makes must be allowed by policies/stackctl-operator-policy.json,
    /// the permissions README promises are enough. So every integration test also checks that promise.
    pub fn stackctl_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let run = self.run_stackctl(args, env);
        self.assert_operator_policy_allows(&format!("stackctl {}", args.join(" ")));
        run
    }

    /// The position in this project's request record (a sequence number), for `requests_after`.
    pub fn mark(&self) -> u64 {
        self.requests_after(0).last().map_or(0, |(seq, _)| *seq)
    }

    /// moto's IAM enforcement refused nothing to this project's runs so far (the operator's and the local
    /// developer's keys): no AccessDenied, no bad signature, no unknown key. `stackctl()` checks after each
    /// run; the runs a test starts with `command()` are checked when the project is dropped, or earlier here.
    #[track_caller]
    pub fn assert_operator_policy_allows(&self, what: &str) {
        let refused = self.refused();
        assert!(
            refused.is_empty(),
            "`{what}` made calls the emulator's IAM enforcement refused (the operator policy is \
             policies/stackctl-operator-policy.json): {refused:#?}"
        );
    }

    fn refused(&self) -> Vec<serde_json::Value> {
        denials_in(&self.denials)
            .into_iter()
            .filter(|d| {
                let key = d["key"].as_str().unwrap_or_default();
                // The deployed handler's calls, on its execution role's session (the proxy's Invoke) count too.
                let handler = d["user"].as_str().is_some_and(|u| {
                    u.contains(":assumed-role/") && u.ends_with("/strict-proxy-invoke")
                });
                // No client of the emulator sends an unsigned request (the harness's own are signed as root).
                let unsigned = d["error"] == "MissingAuthenticationToken";
                key == self.operator.id || key == self.local.id || handler || unsigned
            })
            .collect()
    }

    /// The requests recorded after `mark` (a sequence number), in arrival order.
    fn requests_after(&self, mark: u64) -> Vec<(u64, Request)> {
        let all = self.requests.sequenced();
        all.into_iter().filter(|(seq, _)| *seq > mark).collect()
    }

    /// The built stackctl, set up to run in this project against its emulator (for tests that need the
    /// process itself: to kill it, signal it, race it or feed its stdin), with the operator's keys: a user
    /// holding only the operator policy. Runs that execute the handler here (`dev`, `--local`) get the local
    /// developer's keys instead: the handler calls DynamoDB with them, so they also hold the function's own
    /// policy. What moto refuses to either is checked when the project is dropped.
    pub fn command(&self, args: &[&str]) -> Command {
        let local = args.first() == Some(&"dev") || args.contains(&"--local");
        let keys = if local { &self.local } else { &self.operator };
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret)
            .env("AWS_REGION", "us-east-1")
            .env("CI", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("STACKCTL_FILE")
            .env_remove("STACKCTL_OUTPUT");
        command
    }

    /// `stackctl [args] policy` in the project (e.g. `-f other.toml`): the deploy policy generated for that
    /// stack file, for a test user that should hold exactly it. Needs no AWS.
    pub fn generated_policy(&self, args: &[&str]) -> String {
        let args: Vec<&str> = args.iter().copied().chain(["policy"]).collect();
        let output = self
            .command(&args)
            .output()
            .expect("running stackctl policy");
        let run = Run::from(output);
        run.ok();
        run.stdout.clone()
    }

    fn run_stackctl(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let output = self
            .command(args)
            .envs(env.iter().copied())
            .output()
            .expect("running stackctl");
        Run::from(output)
    }
}

impl Drop for Project {
    /// Every run of this project, `command()`-started ones included, was refused nothing by IAM.
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_operator_policy_allows("a run of this project");
        }
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}

/// `copy`, and the copy gets the original's mtime (stackctl's build cache compares the artifact files' sizes
/// and mtimes, to the nanosecond).
fn copy_with_mtime(from: &Path, to: &Path) {
    copy(from, to);
    set_mtime_as(from, to);
}

fn set_mtime_as(from: &Path, to: &Path) {
    let mtime = std::fs::metadata(from)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("mtime of {}: {e}", from.display()));
    std::fs::File::open(to)
        .and_then(|f| f.set_modified(mtime))
        .unwrap_or_else(|e| panic!("setting the mtime of {}: {e}", to.display()));
}

/// Copies the directory `from` to `to` (files and directories), every entry with its original's mtime.
fn copy_tree_with_mtimes(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("reading {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree_with_mtimes(&entry.path(), &target);
        } else {
            copy_with_mtime(&entry.path(), &target);
        }
    }
    // Last: writing the entries changed the directory's mtime.
    set_mtime_as(from, to);
}

/// The build of the repository's handler that `Project::new` starts from: `.stackctl/` and `lambda/dist/`
/// of a project made by `Project::unbuilt`, after `stackctl plan` built it (the real build, as any test's
/// first `up` would run it, through stackctl's own build cache), against an emulator of its own. Made once
/// per test process, in a directory of the target's test scratch space that the next process removes.
fn built_handler() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Earlier processes' builds (their processes are gone).
        if let Ok(entries) = std::fs::read_dir(scratch) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if let Some(pid) = name.strip_prefix("built-handler-") {
                    if !Path::new("/proc").join(pid).exists() {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
        }
        let kept = scratch.join(format!("built-handler-{}", std::process::id()));
        let emulator = Emulator::start_lenient();
        let project = Project::unbuilt(&emulator);
        let run = project.run_stackctl(&["plan"], &[]);
        assert!(
            project.path(".stackctl/build.json").exists() && project.path("lambda/dist").is_dir(),
            "building the handler once for every test (`stackctl plan`) failed: exit {}\n{}",
            run.code,
            run.stderr
        );
        let _ = std::fs::remove_dir_all(&kept);
        for relative in [".stackctl/build.json", ".stackctl/package.zip"] {
            copy_with_mtime(&project.path(relative), &kept.join(relative));
        }
        copy_tree_with_mtimes(&project.path("lambda/dist"), &kept.join("lambda/dist"));
        kept
    })
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn ok(&self) -> &Run {
        self.expect_code(0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

/// A policy document as IAM returns it (URL-encoded; moto alone returns it raw), parsed.
pub fn decode_document(raw: &str) -> serde_json::Value {
    serde_json::from_str(raw).unwrap_or_else(|_| {
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .expect("UTF-8 document");
        serde_json::from_str(&decoded).expect("policy document is JSON")
    })
}

/// A CreateTable for the stack's table name with the stack's key schema (userId HASH, itemId RANGE, both
/// strings), for tests that make the table themselves; the caller adds billing, tags and the like.
pub fn create_stack_table(
    dynamodb: &aws_sdk_dynamodb::Client,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let mut request = dynamodb.create_table().table_name(TABLE);
    for (name, kind) in [("userId", KeyType::Hash), ("itemId", KeyType::Range)] {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attribute definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .expect("key schema element"),
            );
    }
    request
}

/// A minimal valid zip with one file, for functions a test creates itself.
pub fn tiny_zip(content: &str) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    writer
        .start_file("index.js", zip::write::SimpleFileOptions::default())
        .expect("zip entry");
    writer.write_all(content.as_bytes()).expect("zip write");
    writer.finish().expect("zip finish").into_inner()
}

pub const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Every item in `table`, by (userId, itemId), read with `dynamodb` (`clients()` or `moto_clients()`: the caller
/// chooses whether the read is in the proxy's record).
pub async fn item_keys(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Vec<(String, String)> {
    let out = dynamodb
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("scan");
    out.items()
        .iter()
        .map(|item| {
            let text = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            (text("userId"), text("itemId"))
        })
        .collect()
}

/// Takes the `stackctl:region` tag off the stack's role and policy, as a stackctl from before that tag left
/// them.
pub async fn remove_region_tags(iam: &aws_sdk_iam::Client) {
    iam.untag_role()
        .role_name(ROLE)
        .tag_keys("stackctl:region")
        .send()
        .await
        .unwrap();
    iam.untag_policy()
        .policy_arn(policy_arn())
        .tag_keys("stackctl:region")
        .send()
        .await
        .unwrap();
}

/// Whether process `pid` is still alive (a zombie waiting to be reaped counts as gone).
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Waits (at most 60 s: a deadline for a hung run, not a measure of speed) until process `pid` has ended;
/// fails with `what` and the pid if it has not.
#[track_caller]
pub fn wait_until_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while process_alive(pid) {
        assert!(Instant::now() < deadline, "{what} (pid {pid})");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The canonical path of `program` on this process's PATH.
pub fn which(program: &str) -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not in PATH"))
        .canonicalize()
        .expect("canonical path")
}

/// `inner` run with a stdout whose reading end is closed before it starts (as in `stackctl logs | head` once
/// head has exited), through python's os.pipe: every write to stdout fails with EPIPE.
pub fn with_closed_stdout(inner: &Command) -> Command {
    let mut command = Command::new("python3");
    command
        .arg("-c")
        .arg(
            "import os, subprocess, sys\n\
             r, w = os.pipe()\n\
             os.close(r)\n\
             sys.exit(subprocess.call(sys.argv[1:], stdout=w))",
        )
        .arg(inner.get_program())
        .args(inner.get_args());
    for (key, value) in inner.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    if let Some(dir) = inner.get_current_dir() {
        command.current_dir(dir);
    }
    command
}

/// The deployed function's environment variables (read through the strict proxy, as stackctl reads them);
/// empty when it has none.
pub async fn function_variables(emulator: &Emulator) -> std::collections::HashMap<String, String> {
    let aws = emulator.clients().await;
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    config
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default()
}

/// The `STACKCTL_AUTH_*` variables among `env` (what `[auth]` sets), sorted.
pub fn auth_variables(env: &std::collections::HashMap<String, String>) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("STACKCTL_AUTH_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.sort();
    vars
}

/// Runs `stackctl <args>` until it sends `op`, holds that request at the strict proxy and kills stackctl
/// (SIGKILL) while it waits for the answer: a run killed at an exact point. `hang_guard` only stops a run
/// that never sends `op` (a failure), it is not a timing assertion.
pub fn kill_at(
    project: &Project,
    emulator: &Emulator,
    args: &[&str],
    op: &str,
    hang_guard: Duration,
) {
    emulator
        .strict()
        .set(serde_json::json!({"hold_operations": [op]}));
    let held = emulator.strict().injected_by(op, "held");
    let mut child = project
        .command(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting stackctl");
    let deadline = Instant::now() + hang_guard;
    while emulator.strict().injected_by(op, "held") == held {
        assert!(
            child.try_wait().expect("polling stackctl").is_none(),
            "stackctl {args:?} ended without sending {op}"
        );
        assert!(
            Instant::now() < deadline,
            "stackctl {args:?} never sent {op}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaping");
    emulator
        .strict()
        .set(serde_json::json!({"hold_operations": null}));
}

/// `down --snapshot` waits the function's timeout plus `timeouts.snapshot_settle_secs` (60) before its final
/// snapshot (DynamoDB's backup consistency window): a test that is not about that wait makes it 1 s (a 1 s
/// function timeout, no settle time).
pub fn quick_snapshot_settle(project: &Project) {
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 1");
    project.edit(
        "stack.toml",
        "[function.environment]",
        "[timeouts]\nsnapshot_settle_secs = 0\n\n[function.environment]",
    );
}

impl Project {
    /// A project already written in `dir` (e.g. by `stackctl init`), run against `emulator` as `Project::new`'s
    /// are: node_modules hard-linked from the repository's install (no network npm in tests) and the lockfile
    /// made older than it, so stackctl does not reinstall.
    pub fn at(emulator: &Emulator, dir: tempfile::TempDir) -> Project {
        // Hard links, not a symlink: the bundler names modules by their real path, so a symlink to the
        // repository's node_modules would make the bundle (and its CodeSha256) depend on where the
        // repository is checked out. Hard links are as cheap and keep every path inside the project.
        let status = Command::new("cp")
            .arg("-al")
            .arg(node_modules())
            .arg(dir.path().join("lambda/node_modules"))
            .status()
            .expect("running cp");
        assert!(
            status.success(),
            "hard-linking node_modules into the project"
        );
        // The copy's lockfile is newer than the shared install; make it as old as the original so that
        // stackctl does not reinstall into the shared node_modules.
        let original =
            std::fs::metadata(Path::new(REPO).join("lambda/node_modules/.package-lock.json"))
                .and_then(|m| m.modified())
                .expect("mtime");
        std::fs::File::options()
            .write(true)
            .open(dir.path().join("lambda/package-lock.json"))
            .expect("lockfile")
            .set_modified(original - Duration::from_secs(1))
            .expect("setting mtime");
        Project::in_dir(emulator, dir)
    }

    fn in_dir(emulator: &Emulator, dir: tempfile::TempDir) -> Project {
        Project {
            dir,
            endpoint: emulator.url.clone(),
            requests: emulator.request_source(),
            operator: emulator.operator.clone(),
            local: emulator.local.clone(),
            denials: emulator.dir.path().join("denials.jsonl"),
        }
    }
}
