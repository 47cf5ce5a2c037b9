//! The environment a local run of the handler gets, as close to one Lambda execution environment's as makes
//! sense: the variables stack.toml declares (never the deployed function's: they are configuration to
//! compare, not code to run next to the developer's credentials), the variables Lambda sets and the same AWS
//! endpoint settings; which built module `function.handler` names; what `--local` and `dev` say about the
//! differences. The process that runs with it is local.rs's (supervised by runner.rs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Result};

use super::random_hex;
use super::runner::RunnerSpec;
use crate::config::Stack;
use crate::resources::function::LiveFunction;
use crate::runtimes;

/// What the live function looks like, read once before invoking.
#[derive(Debug)]
pub(super) struct LiveConfig {
    pub(super) arn: String,
    pub(super) runtime: String,
    /// The live function's variables: compared with what stack.toml declares, never passed to a local run.
    pub(super) environment: BTreeMap<String, String>,
    pub(super) timeout_secs: u64,
    pub(super) memory_mb: i32,
    pub(super) code_sha256: String,
}

impl LiveConfig {
    /// The function as the graph read it for a use (`Purpose::Use`); a runtime Lambda does not name (a
    /// container image) is stack.toml's.
    pub(super) fn from_live(live: &LiveFunction, stack: &Stack) -> LiveConfig {
        let config = &live.config;
        LiveConfig {
            arn: live.arn.clone(),
            runtime: if config.runtime.is_empty() {
                stack.chosen_function().spec.runtime.clone()
            } else {
                config.runtime.clone()
            },
            environment: config.environment.clone(),
            timeout_secs: config.timeout_secs.max(1) as u64,
            memory_mb: config.memory_mb,
            code_sha256: live.code_sha256.clone(),
        }
    }
}

/// The function's own variables for a local run: those stack.toml's `[function.environment]` declares, with
/// their placeholders resolved for the live function's account (`${table.arn}`, `${account_id}`), and
/// stackctl's own (`STACKCTL_CORS`), exactly as `up` would deploy them and as `dev` runs them. Never the live
/// function's: anyone allowed `lambda:UpdateFunctionConfiguration` can set `NODE_OPTIONS`, `AWS_ENDPOINT_URL*`,
/// a proxy, `PATH` or `LD_PRELOAD` there, and a local run holds the developer's credentials.
pub(super) fn declared_environment(
    stack: &Stack,
    live: &LiveConfig,
) -> Result<BTreeMap<String, String>> {
    let account = crate::aws::Account::from_arn(&live.arn).ok_or_else(|| {
        anyhow!(
            "Lambda answered a function ARN without an account: `{}`",
            live.arn
        )
    })?;
    let function = stack.chosen_function();
    let live = Some(&live.environment);
    // The managed pool's variables (`[auth] cognito = true`) are added by the caller, from the deployed pool
    // (`managed_auth_environment`).
    crate::resources::function::declared_environment_without_managed_auth(
        stack, &function, &account, None, live,
    )
}

/// `[auth] cognito = true`: the managed pool's variables for a local run, from the live pool and client (the
/// same values `up` deploys: the issuer, the client id, the JWKS where the SDK resolves Cognito). None
/// without the managed pool. An error when it is not deployed: a local run without them would serve
/// without verifying anyone.
pub async fn managed_auth_environment(
    clients: &crate::aws::Clients,
    stack: &Stack,
) -> Result<Vec<(&'static str, String)>> {
    if stack
        .auth
        .as_ref()
        .and_then(|a| a.managed.as_ref())
        .is_none()
    {
        return Ok(Vec::new());
    }
    let Some(pool) = crate::identity::managed::managed_pool(clients, stack).await? else {
        anyhow::bail!(
            "the user pool of [auth] cognito = true is not deployed in {} (or has no app client): run \
             `stackctl up` first",
            stack.region
        );
    };
    Ok(crate::resources::user_pool_client::managed_variables(
        clients,
        &stack.region,
        Some(&pool.pool_id),
        Some(&pool.client_id),
    ))
}

/// Says which of the live function's variables a local run leaves out or gives another value (names only:
/// values can be secrets), and how to have them locally.
pub(super) fn environment_note(
    live: &BTreeMap<String, String>,
    declared: &BTreeMap<String, String>,
) -> Option<String> {
    let names = |names: Vec<&String>| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let left_out: Vec<&String> = live.keys().filter(|k| !declared.contains_key(*k)).collect();
    let differ: Vec<&String> = live
        .iter()
        .filter(|(k, v)| declared.get(*k).is_some_and(|d| d != *v))
        .map(|(k, _)| k)
        .collect();
    let mut parts = Vec::new();
    if !left_out.is_empty() {
        parts.push(format!(
            "the deployed function also has {}, which stack.toml does not declare: not passed",
            names(left_out)
        ));
    }
    if !differ.is_empty() {
        parts.push(format!(
            "{} differ{} from the deployed function's: stack.toml's value is used",
            names(differ.clone()),
            if differ.len() == 1 { "s" } else { "" }
        ));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "--local passes only the variables stack.toml declares ([function.environment]) and those Lambda \
             sets; {} (declare a variable in stack.toml to have it locally; `stackctl up` deploys it)",
            parts.join("; ")
        )
    })
}

/// What `--local` says about itself on stderr: the local Node.js is not the runtime's (when the majors
/// differ), and the handler runs with the caller's credentials, not the function's execution role.
pub(super) fn local_notes(node_version: &str, runtime: &str, arn: &str) -> Vec<String> {
    let mut notes: Vec<String> = node_version_note(node_version, runtime)
        .into_iter()
        .collect();
    let role = arn.rsplit(':').next().unwrap_or(arn);
    notes.push(format!(
        "--local runs the handler with your AWS credentials, not the execution role of `{role}`: a call its role may not make can still succeed here"
    ));
    notes
}

/// The local Node.js major version is not the runtime's: said by `--local` and by `dev`.
pub fn node_version_note(node_version: &str, runtime: &str) -> Option<String> {
    let local_major = node_version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if let (Some(local), Some(wanted)) = (local_major, runtimes::node_major(runtime)) {
        if local != wanted {
            return Some(format!(
                "the local Node.js is {node_version} but the function runs {runtime} (Node.js {wanted}): language features, built-in modules and the bundled AWS SDK may differ"
            ));
        }
    }
    None
}

/// Lambda's reading of a handler string: the module ends at the first dot after the last `/`, the rest is
/// the export path (`dist/app.handlers.main`: module `dist/app`, export `handlers.main`).
fn split_handler(handler: &str) -> Option<(&str, &str)> {
    let start = handler.rfind('/').map_or(0, |slash| slash + 1);
    let dot = start + handler[start..].find('.')?;
    Some((&handler[..dot], &handler[dot + 1..]))
}

/// The module part of the function's `handler` (`handler` of `handler.handler`); `field`: where the stack
/// file writes it (`function.handler`).
fn handler_module<'h>(handler: &'h str, field: &str) -> Result<&'h str> {
    split_handler(handler)
        .map(|(module, _)| module)
        .ok_or_else(|| anyhow!("`{field}` `{handler}` is not <file>.<export>"))
}

/// Finds the built module `function.handler` names, relative to the artifact dir (Lambda's task root),
/// with the extensions the Lambda Node.js runtime tries, in its order.
pub(super) fn handler_file(stack: &Stack) -> Result<PathBuf> {
    let function = stack.chosen_function();
    let spec = &function.spec;
    let module = handler_module(&spec.handler, &function.field("handler"))?;
    let base = spec.artifact_dir.join(module);
    for ext in ["", ".js", ".mjs", ".cjs"] {
        let candidate = PathBuf::from(format!("{}{ext}", base.display()));
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "the built handler `{}.js` is missing: run `stackctl up` (which builds it) or `{}` in `{}` first",
        display_path(&base),
        spec.build_command,
        display_path(&spec.source_dir)
    )
}

/// A path relative to the current directory when it is below it.
pub(super) fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// The runner `stackctl dev` starts: the function as the stack file describes it (not as deployed), with
/// its resolved `environment`, running the package unzipped in `task_root` (Lambda's /var/task).
pub fn dev_spec(
    stack: &Stack,
    function_arn: &str,
    environment: BTreeMap<String, String>,
    task_root: &Path,
    credentials: Option<&aws_sdk_lambda::config::Credentials>,
) -> Result<RunnerSpec> {
    let function = stack.chosen_function();
    let spec = &function.spec;
    let module = handler_module(&spec.handler, &function.field("handler"))?;
    let live = LiveConfig {
        arn: function_arn.to_string(),
        runtime: spec.runtime.clone(),
        environment,
        timeout_secs: spec.timeout_secs.max(1) as u64,
        memory_mb: spec.memory_mb,
        code_sha256: String::new(),
    };
    let env = child_env(
        std::env::vars_os(),
        &ChildSettings {
            stack,
            live: &live,
            environment: &live.environment,
            credentials,
            log_stream: log_stream_name(),
        },
    );
    Ok(RunnerSpec {
        task_root: task_root.to_path_buf(),
        handler: spec.handler.clone(),
        handler_file: spec.artifact_dir.join(format!("{module}.js")),
        timeout_secs: live.timeout_secs,
        memory_mb: live.memory_mb,
        refuse_callbacks: runtimes::refuses_callback_handlers(&live.runtime),
        env,
    })
}

/// A log stream name as Lambda makes them: `2026/11/26/[$LATEST]<32 hex digits>`.
pub(super) fn log_stream_name() -> String {
    let today = crate::runtimes::today().replace('-', "/");
    format!("{today}/[$LATEST]{}{}", random_hex(), random_hex())
}

pub(super) struct ChildSettings<'a> {
    pub(super) stack: &'a Stack,
    pub(super) live: &'a LiveConfig,
    /// The function's own variables: `declared_environment` (dev: the same, from its own resolve).
    pub(super) environment: &'a BTreeMap<String, String>,
    pub(super) credentials: Option<&'a aws_sdk_lambda::config::Credentials>,
    pub(super) log_stream: String,
}

/// The local handler's environment, as close to Lambda's as makes sense: nothing from the shell except
/// what Node.js and the AWS SDK need to run and reach the same endpoint (PATH, HOME, proxies, CA bundles,
/// AWS_* settings such as AWS_ENDPOINT_URL), then the credentials stackctl itself resolved, the stack's
/// region, the variables Lambda sets, and the function's own variables as stack.toml declares them (never the
/// live function's).
pub(super) fn child_env(
    inherited: impl Iterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    s: &ChildSettings<'_>,
) -> BTreeMap<String, String> {
    const KEEP: &[&str] = &[
        "PATH",
        "HOME",
        "TMPDIR",
        "TMP",
        "TEMP",
        "LANG",
        "LC_ALL",
        "SYSTEMROOT",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    ];
    const CREDENTIALS: &[&str] = &[
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
    ];
    let mut env = BTreeMap::new();
    for (key, value) in inherited {
        let (Ok(key), Ok(value)) = (key.into_string(), value.into_string()) else {
            continue;
        };
        let keep = KEEP.iter().any(|k| k.eq_ignore_ascii_case(&key))
            || (key.starts_with("AWS_")
                && !(s.credentials.is_some() && CREDENTIALS.contains(&key.as_str())));
        if keep {
            env.insert(key, value);
        }
    }
    if let Some(creds) = s.credentials {
        env.insert("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().into());
        env.insert(
            "AWS_SECRET_ACCESS_KEY".into(),
            creds.secret_access_key().into(),
        );
        if let Some(token) = creds.session_token() {
            env.insert("AWS_SESSION_TOKEN".into(), token.into());
        }
    }
    let function = &s.stack.chosen_function().spec;
    // What Lambda sets in every Node.js execution environment (its reserved variables; the function's own
    // variables can never name them).
    for (key, value) in [
        ("AWS_REGION", s.stack.region.clone()),
        ("AWS_DEFAULT_REGION", s.stack.region.clone()),
        (
            "AWS_EXECUTION_ENV",
            runtimes::execution_env(&s.live.runtime),
        ),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            s.live.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", function.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", s.log_stream.clone()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".into()),
        ("_HANDLER", function.handler.clone()),
        (
            "LAMBDA_TASK_ROOT",
            function.artifact_dir.display().to_string(),
        ),
        ("STACKCTL_FUNCTION_ARN", s.live.arn.clone()),
        ("TZ", "UTC".into()),
    ] {
        env.insert(key.to_string(), value);
    }
    for (key, value) in s.environment {
        env.insert(key.clone(), value.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_lambda::config::Credentials;

    fn shipped_stack(extra: &str) -> Stack {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
        let text = std::fs::read_to_string(path).unwrap() + extra;
        crate::config::parse(Path::new(path), &text, "2026-01-01").expect("the shipped stack.toml")
    }

    #[test]
    fn the_local_environment_is_lambdas_plus_the_endpoint_and_stackctls_credentials() {
        let stack = shipped_stack("");
        // What someone allowed UpdateFunctionConfiguration could put on the deployed function.
        let live = LiveConfig {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api".into(),
            runtime: "nodejs24.x".into(),
            environment: [
                ("TABLE_NAME", "live-table"),
                ("LOG_LEVEL", "debug"),
                ("NODE_OPTIONS", "--require /tmp/x.js"),
                ("AWS_ENDPOINT_URL", "http://attacker.example"),
                ("AWS_ENDPOINT_URL_DYNAMODB", "http://attacker.example"),
                ("HTTPS_PROXY", "http://attacker.example"),
                ("PATH", "/attacker/bin"),
                ("HOME", "/attacker"),
                ("LD_PRELOAD", "/attacker/x.so"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            timeout_secs: 10,
            memory_mb: 256,
            code_sha256: String::new(),
        };
        let declared = declared_environment(&stack, &live).unwrap();
        assert_eq!(
            declared,
            [("TABLE_NAME".to_string(), "my-frontend-app-data".to_string())].into()
        );
        let creds = Credentials::new("AKIDRESOLVED", "secret", Some("token".into()), None, "test");
        let inherited = [
            ("PATH", "/usr/bin"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_PROFILE", "someone"),
            ("AWS_ACCESS_KEY_ID", "AKIDFROMSHELL"),
            ("AWS_REGION", "eu-west-1"),
            ("TABLE_NAME", "from-the-shell"),
            ("SECRET_OF_THE_SHELL", "x"),
            ("https_proxy", "http://proxy:3128"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()));
        let env = child_env(
            inherited,
            &ChildSettings {
                stack: &stack,
                live: &live,
                environment: &declared,
                credentials: Some(&creds),
                log_stream: "2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef".into(),
            },
        );
        let get = |k: &str| env.get(k).map(String::as_str);
        assert_eq!(get("TABLE_NAME"), Some("my-frontend-app-data"));
        assert_eq!(get("LOG_LEVEL"), None);
        assert_eq!(get("NODE_OPTIONS"), None);
        assert_eq!(get("AWS_ENDPOINT_URL_DYNAMODB"), None);
        assert_eq!(get("HTTPS_PROXY"), None);
        assert_eq!(get("HOME"), None);
        assert_eq!(get("LD_PRELOAD"), None);
        assert!(env.values().all(|v| !v.contains("attacker")), "{env:?}");
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://127.0.0.1:5000"));
        assert_eq!(get("AWS_ACCESS_KEY_ID"), Some("AKIDRESOLVED"));
        assert_eq!(get("AWS_SESSION_TOKEN"), Some("token"));
        assert_eq!(
            get("AWS_PROFILE"),
            None,
            "the JS SDK would skip env credentials"
        );
        assert_eq!(get("AWS_REGION"), Some("us-east-1"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_NAME"), Some("my-frontend-app-api"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), Some("256"));
        assert_eq!(get("AWS_LAMBDA_FUNCTION_VERSION"), Some("$LATEST"));
        assert_eq!(get("AWS_EXECUTION_ENV"), Some("AWS_Lambda_nodejs24.x"));
        assert_eq!(
            get("AWS_LAMBDA_LOG_GROUP_NAME"),
            Some("/aws/lambda/my-frontend-app-api")
        );
        assert_eq!(
            get("AWS_LAMBDA_LOG_STREAM_NAME"),
            Some("2026/11/26/[$LATEST]0123456789abcdef0123456789abcdef")
        );
        assert_eq!(get("PATH"), Some("/usr/bin"));
        assert_eq!(get("https_proxy"), Some("http://proxy:3128"));
        assert_eq!(get("SECRET_OF_THE_SHELL"), None);

        // The names left out or changed are said, never their values.
        let note = environment_note(&live.environment, &declared).expect("a note");
        assert!(
            note.contains("also has `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_DYNAMODB`, `HOME`, `HTTPS_PROXY`, `LD_PRELOAD`, `LOG_LEVEL`, `NODE_OPTIONS`, `PATH`, which stack.toml does not declare: not passed")
                && note.contains("`TABLE_NAME` differs from the deployed function's: stack.toml's value is used")
                && !note.contains("attacker")
                && !note.contains("live-table"),
            "{note}"
        );
        assert!(!note.contains("  "), "{note}");
        assert_eq!(environment_note(&declared, &declared), None);
    }

    #[test]
    fn declared_variables_resolve_their_placeholders_and_stackctls_own_are_added() {
        let stack = shipped_stack(
            "ARN = \"${table.arn}\"\nACCOUNT = \"${account_id}\"\n\n[function.url]\nauth = \"none\"\n",
        );
        let live = LiveConfig {
            arn: "arn:aws-cn:lambda:us-east-1:210987654321:function:my-frontend-app-api".into(),
            runtime: "nodejs24.x".into(),
            environment: BTreeMap::new(),
            timeout_secs: 10,
            memory_mb: 128,
            code_sha256: String::new(),
        };
        let declared = declared_environment(&stack, &live).unwrap();
        let get = |k: &str| declared.get(k).map(String::as_str);
        assert_eq!(
            get("ARN"),
            Some("arn:aws-cn:dynamodb:us-east-1:210987654321:table/my-frontend-app-data")
        );
        assert_eq!(get("ACCOUNT"), Some("210987654321"));
        assert_eq!(get("STACKCTL_CORS"), Some("handler"));
        let no_account = LiveConfig {
            arn: String::new(),
            ..live
        };
        assert!(declared_environment(&stack, &no_account).is_err());
    }

    #[test]
    fn log_streams_are_named_as_lambda_names_them() {
        let name = log_stream_name();
        let (date, rest) = name.split_once("/[$LATEST]").expect("a [$LATEST] stream");
        assert_eq!(date, crate::runtimes::today().replace('-', "/"));
        assert_eq!(rest.len(), 32);
        assert!(rest.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    }

    #[test]
    fn handler_strings_split_where_lambda_splits_them() {
        assert_eq!(
            split_handler("handler.handler"),
            Some(("handler", "handler"))
        );
        assert_eq!(
            split_handler("dist/app.handlers.main"),
            Some(("dist/app", "handlers.main"))
        );
        assert_eq!(split_handler("v1.2/app.main"), Some(("v1.2/app", "main")));
        assert_eq!(split_handler("dist/app"), None);
    }

    #[test]
    fn local_notes_name_the_node_version_gap_and_the_credentials() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:my-frontend-app-api";
        let notes = local_notes("v20.20.2", "nodejs24.x", arn);
        assert_eq!(notes.len(), 2);
        assert!(
            notes[0].starts_with(
                "the local Node.js is v20.20.2 but the function runs nodejs24.x (Node.js 24)"
            ),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].contains(
                "with your AWS credentials, not the execution role of `my-frontend-app-api`"
            ),
            "{}",
            notes[1]
        );
        assert_eq!(local_notes("v24.1.0", "nodejs24.x", arn).len(), 1);
    }
}
