//! `[auth] cognito = true` (issue 23): up creates the stack's user pool (tagged) and its public app client
//! (no secret, exactly stackctl's flows), the function gets the pool's issuer, the client's id and the
//! pool's JWKS; a second up has nothing to do; the client's drift is planned and repaired; a pool another
//! stack tagged is blocked and untouched; down refuses a pool that holds users without --delete-data, and
//! leaves nothing behind.

use std::collections::HashMap;

use aws_sdk_cognitoidentityprovider::types::ExplicitAuthFlowsType;

use crate::support::*;

const POOL: &str = "my-frontend-app-users";
const MANAGED: &str = "\n[auth]\ncognito = true\n";

/// The pools named like the stack's, as (id, tags).
async fn pools(emulator: &Emulator) -> Vec<(String, HashMap<String, String>)> {
    let aws = emulator.moto_clients().await;
    let mut found = Vec::new();
    let list = aws
        .cognito
        .list_user_pools()
        .max_results(60)
        .send()
        .await
        .unwrap();
    for pool in list.user_pools() {
        if pool.name() != Some(POOL) {
            continue;
        }
        let id = pool.id().unwrap().to_string();
        let described = aws
            .cognito
            .describe_user_pool()
            .user_pool_id(&id)
            .send()
            .await
            .unwrap();
        let tags = described
            .user_pool()
            .and_then(|p| p.user_pool_tags())
            .cloned()
            .unwrap_or_default();
        found.push((id, tags));
    }
    found
}

/// The pool's one app client: (id, sorted flows, has a secret).
async fn the_client(emulator: &Emulator, pool: &str) -> (String, Vec<String>, bool) {
    let aws = emulator.moto_clients().await;
    let list = aws
        .cognito
        .list_user_pool_clients()
        .user_pool_id(pool)
        .max_results(60)
        .send()
        .await
        .unwrap();
    assert_eq!(list.user_pool_clients().len(), 1, "{list:?}");
    let id = list.user_pool_clients()[0].client_id().unwrap().to_string();
    let client = aws
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool)
        .client_id(&id)
        .send()
        .await
        .unwrap()
        .user_pool_client
        .unwrap();
    let mut flows: Vec<String> = client
        .explicit_auth_flows()
        .iter()
        .map(|f| f.as_str().to_string())
        .collect();
    flows.sort();
    let secret = client.client_secret().is_some_and(|s| !s.is_empty());
    (id, flows, secret)
}

/// A plain HTTP/1.0 GET of an `http://host:port/path` URL: the whole answer, headers and body.
fn http_get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_the_pool_and_client_and_the_function_trusts_them() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("+ environment.STACKCTL_AUTH_CLIENT_ID: (known after up)"),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();

    let found = pools(&emulator).await;
    assert_eq!(found.len(), 1, "{found:?}");
    let (pool, tags) = &found[0];
    assert_eq!(
        tags.get("stackctl:stack").map(String::as_str),
        Some("my-frontend-app")
    );
    let (client, flows, secret) = the_client(&emulator, pool).await;
    assert_eq!(
        flows,
        [
            "ALLOW_ADMIN_USER_PASSWORD_AUTH",
            "ALLOW_REFRESH_TOKEN_AUTH",
            "ALLOW_USER_SRP_AUTH"
        ]
    );
    assert!(!secret);

    let issuer = format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}");
    let jwks = format!(
        "{}/{pool}/.well-known/jwks.json",
        emulator.url.trim_end_matches('/')
    );
    let env = function_variables(&emulator).await;
    assert_eq!(env["STACKCTL_AUTH_ISSUER"], issuer);
    assert_eq!(env["STACKCTL_AUTH_CLIENT_ID"], client);
    assert_eq!(env["STACKCTL_AUTH_JWKS_URL"], jwks);
    assert!(!env.contains_key("STACKCTL_AUTH_AUDIENCE"));

    let outputs = &up.json()["outputs"];
    assert_eq!(outputs["auth_user_pool_id"], pool.as_str());
    assert_eq!(outputs["auth_client_id"], client.as_str());
    assert_eq!(outputs["auth_issuer"], issuer.as_str());
    assert_eq!(outputs["auth_jwks_url"], jwks.as_str());

    // The JWKS the function is given answers (through the strict proxy, as the handler would fetch it).
    let answer = http_get(&jwks);
    assert!(
        answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
        "{answer}"
    );
    assert!(answer.contains("\"keys\""), "{answer}");

    // In sync: nothing to do.
    project.stackctl(&["plan"]).ok();
    let status = project.stackctl(&["status"]);
    status.ok();
    assert!(status.stdout.contains("users: none"), "{}", status.stdout);

    // Drift: the client's flows changed by hand; plan shows it, up puts them back.
    let aws = emulator.moto_clients().await;
    aws.cognito
        .update_user_pool_client()
        .user_pool_id(pool)
        .client_id(&client)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .send()
        .await
        .unwrap();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains("~ explicit_auth_flows: ALLOW_USER_PASSWORD_AUTH -> "),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(the_client(&emulator, pool).await.1, flows);
    project.stackctl(&["plan"]).ok();

    // A user is data: down refuses without --delete-data, and deletes it all with it.
    aws.cognito
        .admin_create_user()
        .user_pool_id(pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    let refused = project.stackctl(&["down", "--confirm"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("holds users") && refused.stderr.contains("--delete-data"),
        "{}",
        refused.stderr
    );
    assert_eq!(pools(&emulator).await.len(), 1);
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn down_without_users_deletes_both_and_leaves_nothing() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    project.stackctl(&["up"]).ok();
    let run = project.stackctl(&["down", "--confirm"]);
    run.ok();
    assert!(run.stdout.contains("user_pool_client"), "{}", run.stdout);
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_another_stack_tagged_is_blocked_and_untouched() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let aws = emulator.moto_clients().await;
    let theirs = aws
        .cognito
        .create_user_pool()
        .pool_name(POOL)
        .user_pool_tags("stackctl:stack", "someone-else")
        .send()
        .await
        .unwrap();
    let id = theirs.user_pool().unwrap().id().unwrap().to_string();
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains(&format!("user_pool {POOL}: blocked")),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("someone-else"), "{}", plan.stdout);
    project.stackctl(&["up"]).expect_code(1);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let down = project.stackctl(&["down", "--confirm"]);
    down.ok();
    assert_eq!(pools(&emulator).await.len(), 1);
    let (_, tags) = &pools(&emulator).await[0];
    assert_eq!(tags["stackctl:stack"], "someone-else");
    aws.cognito
        .describe_user_pool()
        .user_pool_id(&id)
        .send()
        .await
        .unwrap();
}

/// A sample event of lambda/events with a bearer token and no `userId`.
fn event_with_token(file: &str, token: Option<&str>) -> String {
    let path = std::path::Path::new(REPO).join("lambda/events").join(file);
    let mut event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(token) = token {
        event["headers"]["authorization"] = format!("Bearer {token}").into();
    }
    event["rawQueryString"] = "".into();
    if let Some(event) = event.as_object_mut() {
        event.remove("queryStringParameters");
    }
    event.to_string()
}

/// `invoke --local` gets the managed pool's variables from the live pool and client: an access token the
/// pool issued to the stack's client is accepted (its keys fetched from the JWKS URL stackctl resolved), a
/// request without one is 401. The token is minted with the harness's root credentials (AdminCreateUser,
/// AdminSetUserPassword, AdminInitiateAuth), as `stackctl token` will.
#[tokio::test(flavor = "multi_thread")]
async fn a_local_run_trusts_the_managed_pools_access_tokens() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    project.stackctl(&["up"]).ok();
    let (pool, _) = pools(&emulator).await.remove(0);
    let (client, _, _) = the_client(&emulator, &pool).await;
    let aws = emulator.moto_clients().await;
    aws.cognito
        .admin_create_user()
        .user_pool_id(&pool)
        .username("alice")
        .send()
        .await
        .unwrap();
    aws.cognito
        .admin_set_user_password()
        .user_pool_id(&pool)
        .username("alice")
        .password("Corr3ct-Horse!")
        .permanent(true)
        .send()
        .await
        .unwrap();
    let auth = aws
        .cognito
        .admin_initiate_auth()
        .user_pool_id(&pool)
        .client_id(&client)
        .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::AdminUserPasswordAuth)
        .auth_parameters("USERNAME", "alice")
        .auth_parameters("PASSWORD", "Corr3ct-Horse!")
        .send()
        .await
        .unwrap();
    let token = auth
        .authentication_result()
        .and_then(|r| r.access_token())
        .unwrap()
        .to_string();
    let invoke = |name: &str, event: String| {
        project.write(name, &event);
        let run = project.stackctl(&["invoke", "--local", name]);
        run.ok();
        run.stdout.clone()
    };
    let created = invoke(
        "create.json",
        event_with_token("create-item.json", Some(&token)),
    );
    assert!(created.starts_with("201 ("), "{created}");
    let anonymous = invoke("anonymous.json", event_with_token("list-items.json", None));
    assert!(anonymous.starts_with("401 ("), "{anonymous}");
    assert!(!created.contains(&token) && !anonymous.contains(&token));

    // Without the client (deleted by hand), a local run refuses rather than serve unverified.
    aws.cognito
        .delete_user_pool_client()
        .user_pool_id(&pool)
        .client_id(&client)
        .send()
        .await
        .unwrap();
    project.write("anonymous.json", &event_with_token("list-items.json", None));
    let refused = project.stackctl(&["invoke", "--local", "anonymous.json"]);
    assert_ne!(refused.code, 0, "{}", refused.stdout);
    assert!(
        refused.stderr.contains("run `stackctl up` first"),
        "{}",
        refused.stderr
    );
}

/// Pool names are not unique in Cognito: two pools with the stack's pool name is an error naming both ids,
/// before any write. One untagged pool with the name is blocked, not adopted, and never deleted.
#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_pool_is_blocked_and_two_pools_with_the_name_are_an_error() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let aws = emulator.moto_clients().await;
    let create = || async {
        aws.cognito
            .create_user_pool()
            .pool_name(POOL)
            .send()
            .await
            .unwrap()
            .user_pool()
            .unwrap()
            .id()
            .unwrap()
            .to_string()
    };
    let first = create().await;
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    assert!(
        plan.stdout.contains(&format!("user_pool {POOL}: blocked")),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("stackctl:stack"), "{}", plan.stdout);
    project.stackctl(&["up"]).expect_code(1);
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(pools(&emulator).await.len(), 1);

    let second = create().await;
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(1);
    assert!(
        plan.stderr.contains(&first) && plan.stderr.contains(&second),
        "{}",
        plan.stderr
    );
}

/// A pool with the stack's pool name, tagged `tags` (none: untagged), made with the harness's root
/// credentials; its id.
async fn extra_pool(emulator: &Emulator, tags: &[(&str, &str)]) -> String {
    let aws = emulator.moto_clients().await;
    let mut create = aws.cognito.create_user_pool().pool_name(POOL);
    for (k, v) in tags {
        create = create.user_pool_tags(*k, *v);
    }
    let out = create.send().await.unwrap();
    out.user_pool().unwrap().id().unwrap().to_string()
}

/// A stranger's pools with the stack's pool name (untagged, or another stack's) never block the stack's
/// own: it is used, the others are named in a note and never touched, down included.
#[tokio::test(flavor = "multi_thread")]
async fn strangers_pools_with_the_name_never_block_the_stacks_own() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    project.stackctl(&["up"]).ok();
    let ours = pools(&emulator).await[0].0.clone();
    let untagged = extra_pool(&emulator, &[]).await;
    let theirs = extra_pool(&emulator, &[("stackctl:stack", "someone-else")]).await;
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan"]);
    plan.ok();
    assert!(
        plan.stdout.contains(&untagged) && plan.stdout.contains(&theirs),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    assert_eq!(up.json()["outputs"]["auth_user_pool_id"], ours.as_str());
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    project.stackctl(&["down", "--confirm"]).ok();
    let mut left: Vec<String> = pools(&emulator).await.into_iter().map(|p| p.0).collect();
    left.sort();
    let mut strangers = vec![untagged, theirs];
    strangers.sort();
    assert_eq!(left, strangers);
}

/// Two pools with the name both tagged as this stack's (two racing ups: CreateUserPool has no idempotency
/// token): plan and up fail naming both and the one that holds users; down deletes every one that holds
/// none, and refuses (deleting nothing) while one holds users, until --delete-data.
#[tokio::test(flavor = "multi_thread")]
async fn two_owned_pools_fail_up_and_down_deletes_them() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    project.stackctl(&["up"]).ok();
    let ours = [("stackctl:stack", "my-frontend-app")];
    extra_pool(&emulator, &ours).await;
    project.stackctl(&["down", "--confirm"]).ok();
    assert_eq!(pools(&emulator).await.len(), 0);

    project.stackctl(&["up"]).ok();
    let first = pools(&emulator).await[0].0.clone();
    let second = extra_pool(&emulator, &ours).await;
    let aws = emulator.moto_clients().await;
    aws.cognito
        .admin_create_user()
        .user_pool_id(&second)
        .username("someone")
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    for command in ["plan", "up"] {
        let run = project.stackctl(&[command]);
        assert_ne!(run.code, 0, "{command}: {}", run.stdout);
        assert!(
            run.stderr.contains(&first) && run.stderr.contains(&second),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("`{second}` holds users")),
            "{}",
            run.stderr
        );
    }
    let refused = project.stackctl(&["down", "--confirm"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains(&second), "{}", refused.stderr);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(pools(&emulator).await.len(), 2);
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    assert_eq!(pools(&emulator).await.len(), 0);
}

/// The outputs never name a pool that is not the stack's (a blocked one).
#[tokio::test(flavor = "multi_thread")]
async fn outputs_never_name_a_blocked_pool() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("stack.toml", &(project.read("stack.toml") + MANAGED));
    let stranger = extra_pool(&emulator, &[]).await;
    for command in ["status", "plan"] {
        let run = project.stackctl(&[command, "--output", "json"]);
        let outputs = run.json()["outputs"].to_string();
        assert!(!outputs.contains(&stranger), "{command}: {}", run.stdout);
    }
}
