//! The managed pool's test users (issue 23 items 4 and 6): `stackctl token --user` makes the user on first
//! use and signs in (its password never printed); the handler takes the access token and refuses the ID
//! token; smoke with `[auth]` signs in two users, runs the sequence as the first and the isolation steps as
//! both, on every transport (the local runtime, Lambda Invoke, HTTP to dev), and deletes both users
//! afterwards, also after SIGTERM.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

const MANAGED: &str = "\n[auth]\ncognito = true\n";

/// `up` with the managed pool: the pool's id.
fn up_with_pool(project: &Project) -> String {
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    up.json()["outputs"]["auth_user_pool_id"]
        .as_str()
        .expect("outputs.auth_user_pool_id")
        .to_string()
}

async fn users(emulator: &Emulator, pool: &str) -> Vec<String> {
    let aws = emulator.moto_clients().await;
    let listed = aws
        .cognito
        .list_users()
        .user_pool_id(pool)
        .send()
        .await
        .unwrap();
    listed
        .users()
        .iter()
        .filter_map(|u| u.username().map(str::to_string))
        .collect()
}

async fn items(emulator: &Emulator) -> usize {
    let aws = emulator.moto_clients().await;
    let scan = aws.dynamodb.scan().table_name(TABLE).send().await.unwrap();
    scan.items().len()
}

/// A list request (no userId: the token's user) with `token` in `Authorization`, as an event file.
fn list_event(project: &Project, name: &str, token: &str) -> String {
    let event = json!({
        "version": "2.0",
        "routeKey": "GET /items",
        "rawPath": "/items",
        "rawQueryString": "",
        "headers": { "authorization": format!("Bearer {token}") },
        "requestContext": { "http": { "method": "GET", "path": "/items" } },
        "isBase64Encoded": false
    });
    project.write(name, &event.to_string());
    project.path(name).to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn token_makes_the_user_signs_in_and_the_handler_takes_the_access_token_only() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    // Before up there is no pool to mint in: said, exit 1.
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let early = project.stackctl(&["token", "--user", "alice"]);
    early.expect_code(1);
    assert!(early.stderr.contains("stackctl up"), "{}", early.stderr);
    let original = project.read("stack.toml").replace(MANAGED, "");
    project.write("stack.toml", &original);
    let pool = up_with_pool(&project);

    let first = project.stackctl(&["token", "--user", "alice", "--output", "json"]);
    first.ok();
    let doc = first.json();
    assert_eq!(doc["command"], "token");
    assert_eq!(doc["user"], "alice");
    assert_eq!(doc["issuer_kind"], "managed");
    assert_eq!(
        doc["issuer"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}")
    );
    assert!(doc["expires_in"].as_u64().unwrap() > 0, "{doc}");
    assert!(doc["expires_at"].as_str().unwrap().ends_with('Z'), "{doc}");
    let sub = doc["sub"].as_str().unwrap().to_string();
    let access = doc["access_token"].as_str().unwrap().to_string();
    let id_token = doc["id_token"].as_str().unwrap().to_string();
    assert_eq!(users(&emulator, &pool).await, ["alice"]);
    // No password anywhere in what it printed (it is random, so look for the word and the policy's suffix).
    assert!(
        !first.stderr.to_lowercase().contains("password"),
        "{}",
        first.stderr
    );

    // Text: the token alone, for $(...); the same user keeps its sub.
    let text = project.stackctl(&["token", "--user", "alice"]);
    text.ok();
    let token = text.stdout.trim();
    assert_eq!(text.stdout.lines().count(), 1, "{}", text.stdout);
    assert_eq!(token.split('.').count(), 3, "{token}");
    let again = project.stackctl(&["token", "--user", "alice", "--output", "json"]);
    assert_eq!(again.json()["sub"], sub.as_str());
    assert_eq!(users(&emulator, &pool).await, ["alice"]);

    // The handler (run locally with the pool's variables) takes the access token, not the ID token.
    let ok = project.stackctl(&[
        "invoke",
        "--local",
        "--output",
        "json",
        &list_event(&project, "access.json", &access),
    ]);
    ok.ok();
    assert_eq!(ok.json()["response"]["status_code"], 200, "{}", ok.stdout);
    let refused = project.stackctl(&[
        "invoke",
        "--local",
        "--output",
        "json",
        &list_event(&project, "id.json", &id_token),
    ]);
    assert_eq!(
        refused.json()["response"]["status_code"],
        401,
        "{}",
        refused.stdout
    );
    // A user name that is not one: refused before anything is sent.
    let mark = emulator.mark();
    project
        .stackctl(&["token", "--user", "al ice"])
        .expect_code(64);
    assert!(emulator.requests_since(mark).is_empty());

    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_for_an_external_issuer_or_no_auth_says_it_cannot_mint_with_exit_2() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let run = project.stackctl(&["token", "--user", "alice"]);
    run.expect_code(2);
    assert!(run.stdout.contains("has no [auth]"), "{}", run.stdout);
    project.write(
        "stack.toml",
        &(project.read("stack.toml")
            + "\n[auth]\nissuer = \"https://issuer.example.com/\"\naudience = \"api\"\n"),
    );
    let mark = emulator.mark();
    let run = project.stackctl(&["token", "--user", "alice", "--output", "json"]);
    run.expect_code(2);
    assert!(
        run.json()["not_minted"]
            .as_str()
            .unwrap()
            .contains("external issuer"),
        "{}",
        run.stdout
    );
    assert!(emulator.writes_since(mark).is_empty());
}

fn smoke_passes_as_two_users(project: &Project, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let run = project.stackctl(&all);
    run.ok();
    let doc = run.json();
    assert_eq!(doc["passed"], true, "{}", run.stdout);
    let steps = doc["steps"].as_array().unwrap();
    // The sequence as the first user, then the isolation steps: 15 + 12, no tutorial events (no token).
    assert_eq!(steps.len(), 27, "{}", run.stdout);
    for who in ["first user", "second user", "no token", "tampered token"] {
        assert!(steps.iter().any(|s| s["caller"] == who), "{who}");
    }
    let test_users = doc["test_users"].as_array().unwrap();
    assert_eq!(test_users.len(), 2);
    assert!(test_users.iter().all(|u| u["deleted"] == true), "{doc}");
    // No token in the report.
    assert!(!run.stdout.contains("eyJ"), "a token in smoke's output");
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn smoke_signs_in_two_users_on_every_transport_and_deletes_them() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let pool = up_with_pool(&project);

    smoke_passes_as_two_users(&project, &["smoke", "--local"]);
    assert_eq!(users(&emulator, &pool).await, Vec::<String>::new());
    assert_eq!(items(&emulator).await, 0);

    // Lambda Invoke: the deployed function verifies against the pool's JWKS.
    smoke_passes_as_two_users(&project, &["smoke"]);
    assert_eq!(users(&emulator, &pool).await, Vec::<String>::new());
    assert_eq!(items(&emulator).await, 0);

    // Over HTTP to dev, which verifies exactly as deployed.
    let dev = Dev::start(&project, &[]);
    let base = dev.base.clone();
    smoke_passes_as_two_users(&project, &["smoke", &format!("--url={base}")]);
    drop(dev);
    assert_eq!(users(&emulator, &pool).await, Vec::<String>::new());
    assert_eq!(items(&emulator).await, 0);

    // Over HTTP to the stand-in function URL, its handler configured as deployed (the function's variables).
    let variables = function_variables(&emulator).await;
    let auth = auth_variables(&variables);
    assert_eq!(auth.len(), 3, "{variables:?}");
    let cors = variables
        .get("STACKCTL_CORS")
        .cloned()
        .unwrap_or_else(|| "handler".to_string());
    let server = UrlServer::start_with_env(&project, &cors, &[], &auth);
    smoke_passes_as_two_users(&project, &["smoke", &format!("--url={}", server.base)]);
    drop(server);
    assert_eq!(users(&emulator, &pool).await, Vec::<String>::new());
    assert_eq!(items(&emulator).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_smoke_still_deletes_the_items_and_both_users() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let pool = up_with_pool(&project);
    // The first list waits for a file the test never writes: the test sends SIGTERM right then.
    let built = project.read("lambda/dist/handler.js");
    project.write("lambda/dist/real.js", &built);
    project.write(
        "lambda/dist/handler.js",
        "const real = require(\"./real.js\");\nconst fs = require(\"node:fs\");\n\
         exports.handler = async (event, context) => {\n\
         const q = event.queryStringParameters ?? {};\n\
         if (event.requestContext.http.method === \"GET\" && !q.itemId && !fs.existsSync(\"list-started\")) {\n\
           fs.writeFileSync(\"list-started\", \"\");\n\
           for (let i = 0; i < 1200 && !fs.existsSync(\"list-released\"); i++) {\n\
             await new Promise((resolve) => setTimeout(resolve, 100));\n\
           }\n\
         }\n\
         return real.handler(event, context);\n};\n",
    );
    let child = project
        .command(&["smoke", "--local"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running stackctl");
    let marker = project.path("lambda/dist/list-started");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the list step never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(users(&emulator, &pool).await.len(), 2);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = Run::from(child.wait_with_output().unwrap());
    run.expect_code(130);
    assert!(
        run.stdout.contains("cleanup: 2 items deleted"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("test users: "), "{}", run.stdout);
    assert_eq!(users(&emulator, &pool).await, Vec::<String>::new());
    assert_eq!(items(&emulator).await, 0);
}

/// A user stackctl did not make (a person's account) never gets a new password from `token` or smoke:
/// that would lock them out and let the operator act as them.
#[tokio::test(flavor = "multi_thread")]
async fn token_never_sets_the_password_of_a_user_it_did_not_make() {
    use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let pool = up_with_pool(&project);
    let outputs = project.stackctl(&["status", "--output", "json"]).json()["outputs"].clone();
    let client_id = outputs["auth_client_id"].as_str().unwrap().to_string();
    let aws = emulator.moto_clients().await;
    aws.cognito
        .admin_create_user()
        .user_pool_id(&pool)
        .username("bob")
        .send()
        .await
        .unwrap();
    aws.cognito
        .admin_set_user_password()
        .user_pool_id(&pool)
        .username("bob")
        .password("HumanPassw0rd!")
        .permanent(true)
        .send()
        .await
        .unwrap();
    let run = project.stackctl(&["token", "--user", "bob"]);
    run.expect_code(1);
    assert!(run.stderr.contains("did not make"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    // bob still signs in with his own password.
    aws.cognito
        .admin_initiate_auth()
        .user_pool_id(&pool)
        .client_id(&client_id)
        .auth_flow(AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "bob")
        .auth_parameters("PASSWORD", "HumanPassw0rd!")
        .send()
        .await
        .expect("bob's own password still works");
}

/// Several `token --user` runs for one user at once (CI jobs, a script's loop) all get a token: each sets a
/// new password, so a sign-in that raced another run's is tried again.
#[tokio::test(flavor = "multi_thread")]
async fn parallel_tokens_for_one_user_all_succeed() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let pool = up_with_pool(&project);
    let runs: Vec<_> = (0..6)
        .map(|_| {
            project
                .command(&["token", "--user", "racer"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("running stackctl")
        })
        .collect();
    for child in runs {
        let run = Run::from(child.wait_with_output().unwrap());
        run.ok();
        assert_eq!(run.stdout.trim().split('.').count(), 3, "{}", run.stdout);
    }
    assert_eq!(users(&emulator, &pool).await, ["racer"]);
}
