//! `[auth]` with an external OIDC issuer (issue 23, first slice): `up` sets the handler's variables
//! (AUTH-CONTRACT), a second `plan` sees no change, removing the section removes exactly them; the URL's
//! CORS config allows `authorization` (plan says so); `outputs.auth_issuer`; smoke refuses (exit 2).

use aws_sdk_lambda::types::Environment;

use crate::support::*;

const FUNCTION: &str = "my-frontend-app-api";

const AUTH: &str = "\n[auth]\nissuer = \"https://issuer.example\"\naudience = \"api\"\n\
    jwks_url = \"http://127.0.0.1:8123/jwks.json\"\n";

const PUBLIC_WITH_CORS: &str = "\n[function.url]\nauth = \"none\"\n[function.url.cors]\n\
    allow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\"]\n";

#[tokio::test(flavor = "multi_thread")]
async fn up_sets_the_auth_variables_and_removing_auth_removes_exactly_them() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let plain = project.stackctl(&["up", "--output", "json"]);
    plain.ok();
    assert!(
        plain.json()["outputs"].get("auth_issuer").is_none(),
        "{}",
        plain.stdout
    );
    // Someone else's variable on the function: it must survive both changes.
    let aws = emulator.clients().await;
    let mut env = function_variables(&emulator).await;
    env.insert("LOG_LEVEL".into(), "debug".into());
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(Environment::builder().set_variables(Some(env)).build())
        .send()
        .await
        .unwrap();

    project.write("stack.toml", &(project.read("stack.toml") + AUTH));
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("+ environment.STACKCTL_AUTH_ISSUER: https://issuer.example"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    assert_eq!(
        up.json()["outputs"]["auth_issuer"],
        "https://issuer.example",
        "{}",
        up.stdout
    );
    let env = function_variables(&emulator).await;
    assert_eq!(
        auth_variables(&env),
        [
            ("STACKCTL_AUTH_AUDIENCE".to_string(), "api".to_string()),
            (
                "STACKCTL_AUTH_ISSUER".into(),
                "https://issuer.example".into()
            ),
            (
                "STACKCTL_AUTH_JWKS_URL".into(),
                "http://127.0.0.1:8123/jwks.json".into()
            ),
        ]
    );
    assert_eq!(env["LOG_LEVEL"], "debug");
    // In sync: nothing to change, nothing written.
    project.stackctl(&["plan"]).ok();
    let text = project.stackctl(&["status"]);
    text.ok();
    assert!(
        text.stdout.contains("auth_issuer: https://issuer.example"),
        "{}",
        text.stdout
    );

    // Drift: someone changes the audience by hand; plan shows it, up puts it back.
    let mut drifted = env.clone();
    drifted.insert("STACKCTL_AUTH_AUDIENCE".into(), "other".into());
    aws.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .environment(Environment::builder().set_variables(Some(drifted)).build())
        .send()
        .await
        .unwrap();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ environment.STACKCTL_AUTH_AUDIENCE: other -> api"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();

    // [auth] removed: its variables go, the others stay, and the outputs are as before.
    project.write("stack.toml", &project.read("stack.toml").replace(AUTH, ""));
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("- environment.STACKCTL_AUTH_ISSUER: https://issuer.example"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    assert!(up.json()["outputs"].get("auth_issuer").is_none());
    let after = function_variables(&emulator).await;
    assert!(auth_variables(&after).is_empty(), "{after:?}");
    assert_eq!(after["LOG_LEVEL"], "debug");
    assert_eq!(after["TABLE_NAME"], "my-frontend-app-data");
    project.stackctl(&["plan"]).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_urls_cors_allows_authorization_and_plan_says_so() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write(
        "stack.toml",
        &(project.read("stack.toml") + PUBLIC_WITH_CORS + AUTH),
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("`authorization` added to cors.allow_headers for [auth]"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    let url = aws
        .lambda
        .get_function_url_config()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let headers = url
        .cors()
        .map(|c| c.allow_headers().to_vec())
        .unwrap_or_default();
    assert_eq!(headers, ["content-type", "authorization"]);
    let plan = project.stackctl(&["plan"]);
    plan.ok();
    assert!(!plan.stdout.contains("authorization"), "{}", plan.stdout);
}

#[test]
fn smoke_with_auth_refuses_with_exit_2_and_says_why() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + AUTH));
    for args in [&["smoke", "--local"][..], &["smoke"][..]] {
        let mark = emulator.mark();
        let run = project.stackctl(args);
        run.expect_code(2);
        assert!(run.stdout.contains("smoke did not run"), "{}", run.stdout);
        assert!(run.stdout.contains("[auth]"), "{}", run.stdout);
        assert!(emulator.writes_since(mark).is_empty());
    }
    let json = project.stackctl(&["smoke", "--local", "--output", "json"]);
    json.expect_code(2);
    assert_eq!(json.json()["passed"], false);
}

/// The local issuer of tests/fixtures/oidc/issuer.mjs, running until dropped (its stdin closes).
pub(crate) struct LocalIssuer {
    child: std::process::Child,
    pub(crate) port: u16,
    tokens: serde_json::Value,
}

impl LocalIssuer {
    pub(crate) fn start(project: &Project) -> LocalIssuer {
        use std::io::BufRead;
        let script = project.path("lambda/oidc-issuer.mjs");
        std::fs::copy(
            std::path::Path::new(REPO).join("tests/fixtures/oidc/issuer.mjs"),
            &script,
        )
        .unwrap();
        let mut child = std::process::Command::new("node")
            .arg(&script)
            .args(["https://issuer.example", "api"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting node");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let tokens: serde_json::Value = serde_json::from_str(&line).expect("the issuer's line");
        let port = tokens["port"].as_u64().unwrap() as u16;
        LocalIssuer {
            child,
            port,
            tokens,
        }
    }

    pub(crate) fn token(&self, who: &str) -> String {
        self.tokens[who].as_str().unwrap().to_string()
    }
}

impl Drop for LocalIssuer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An event of lambda/events/ with the caller's `Authorization` header (None: no header) and the query
/// (None: no query at all, so the caller is the token's `sub`).
fn event_as(file: &str, bearer: Option<&str>, user_id: Option<&str>) -> String {
    let path = std::path::Path::new(REPO).join("lambda/events").join(file);
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(token) = bearer {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
    }
    match user_id {
        Some(id) => {
            event["rawQueryString"] = format!("userId={id}").into();
            event["queryStringParameters"] = serde_json::json!({ "userId": id });
        }
        None => {
            event["rawQueryString"] = "".into();
            event
                .as_object_mut()
                .unwrap()
                .remove("queryStringParameters");
        }
    }
    event.to_string()
}

/// What `dev`, `smoke --local` and `invoke --local` run is what `up` deploys: the handler on a local run
/// gets `[auth]`'s variables and verifies a token exactly as deployed, against the issuer's JWKS. The caller
/// is the token's `sub`: Alice sees her items, Bob does not, and a `userId` that is not the caller, no token
/// and a token for another audience are refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_run_verifies_the_callers_token_as_deployed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let issuer = LocalIssuer::start(&project);
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
    let invoke = |name: &str, event: String| {
        project.write(name, &event);
        let run = project.stackctl(&["invoke", "--local", name]);
        run.ok();
        run.stdout
    };
    let (alice, bob) = (issuer.token("alice"), issuer.token("bob"));

    let created = invoke(
        "create.json",
        event_as("create-item.json", Some(&alice), None),
    );
    assert!(created.starts_with("201 ("), "{created}");
    let mine = invoke("mine.json", event_as("list-items.json", Some(&alice), None));
    assert!(
        mine.starts_with("200 (") && mine.contains("Buy milk") && mine.contains("alice"),
        "{mine}"
    );
    let also_mine = invoke(
        "mine-by-id.json",
        event_as("list-items.json", Some(&alice), Some("alice")),
    );
    assert!(also_mine.starts_with("200 ("), "{also_mine}");
    let theirs = invoke("theirs.json", event_as("list-items.json", Some(&bob), None));
    assert!(
        theirs.starts_with("200 (") && !theirs.contains("Buy milk"),
        "{theirs}"
    );
    let posing = invoke(
        "posing.json",
        event_as("list-items.json", Some(&bob), Some("alice")),
    );
    assert!(posing.starts_with("403 ("), "{posing}");
    let anonymous = invoke(
        "anonymous.json",
        event_as("list-items.json", None, Some("alice")),
    );
    assert!(anonymous.starts_with("401 ("), "{anonymous}");
    let foreign = invoke(
        "foreign.json",
        event_as("list-items.json", Some(&issuer.token("foreign")), None),
    );
    assert!(foreign.starts_with("401 ("), "{foreign}");
    for out in [&created, &mine, &theirs, &posing, &anonymous, &foreign] {
        assert!(
            !out.contains(&alice) && !out.contains(&bob),
            "a token in the output: {out}"
        );
    }
}
