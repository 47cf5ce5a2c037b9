//! `[function.deploy]` (issue 24): `up` publishes a version of `$LATEST` only when it differs from the
//! version the alias serves, runs smoke's checks against that version (a version-qualified Invoke), and only
//! then moves the alias, recording the version it replaced; pruning keeps `keep_versions`; kill points at
//! publish, verify and move converge on the next up; down deletes the alias first.
//!
//! The strict proxy's `lambda_versions` (on in `realistic()`) is what makes this real: `$LATEST` carries a RevisionId, PublishVersion's
//! preconditions are enforced, versions are frozen at publish, and an aliased version cannot be deleted.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// How long an up may take to reach the request it is killed at (only a hang fails on it).
const UP_GUARD: Duration = Duration::from_secs(180);

/// The section every test here adds (`extra`: more keys).
fn with_deploy(project: &Project, extra: &str) {
    project.edit(
        "stack.toml",
        "[function.environment]",
        &format!("[function.deploy]\nalias = \"live\"\n{extra}\n[function.environment]"),
    );
}

fn start() -> (Emulator, Project) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    (emulator, project)
}

/// The alias as the emulator holds it: (version, description).
async fn alias(emulator: &Emulator) -> Option<(String, String)> {
    let moto = emulator.clients().await;
    let out = moto
        .lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await
        .ok()?;
    Some((
        out.function_version().unwrap_or_default().to_string(),
        out.description().unwrap_or_default().to_string(),
    ))
}

/// The function's published versions (numbers, oldest first), as AWS would list them: through the strict
/// proxy, which hides the versions it deleted (moto keeps them and reuses their numbers).
async fn versions(emulator: &Emulator) -> Vec<String> {
    let moto = emulator.clients().await;
    let out = moto
        .lambda
        .list_versions_by_function()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    let mut numbers: Vec<u64> = out
        .versions()
        .iter()
        .filter_map(|v| v.version()?.parse().ok())
        .collect();
    numbers.sort();
    numbers.into_iter().map(|n| n.to_string()).collect()
}

/// A change of `$LATEST` that needs a new version: a variable's value.
fn set_variable(project: &Project, value: &str) {
    let file = project.path("stack.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = match text.find("\nRELEASE = ") {
        Some(at) => {
            let end = at + 1 + text[at + 1..].find('\n').unwrap();
            format!("{}\nRELEASE = \"{value}\"{}", &text[..at], &text[end..])
        }
        None => text.replace(
            "[function.environment]\n",
            &format!("[function.environment]\nRELEASE = \"{value}\"\n"),
        ),
    };
    std::fs::write(&file, text).unwrap();
}

/// The handler every request of which answers 500.
const BROKEN: &str =
    "  return { statusCode: 500, headers: {}, body: JSON.stringify({ error: \"broken on purpose\" }) };\n};";
const WORKING: &str = "  return handle(event);\n};";

#[tokio::test(flavor = "multi_thread")]
async fn a_good_deploy_publishes_a_verified_version_and_moves_the_alias() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    let mark = emulator.mark();
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let ops = emulator.sent_since(mark);
    // Published, verified through Invoke of version 1 (never of the alias or $LATEST), then aliased.
    let publish = ops
        .iter()
        .position(|o| o == "PublishVersion")
        .expect("published");
    let invoke = ops.iter().position(|o| o == "Invoke").expect("verified");
    let create = ops
        .iter()
        .position(|o| o == "CreateAlias")
        .expect("aliased");
    assert!(publish < invoke && invoke < create, "{ops:?}");
    // Every Invoke named version 1 (the proxy records each Lambda call's Qualifier).
    let invoked: Vec<serde_json::Value> = emulator
        .strict()
        .requests_json()
        .into_iter()
        .filter(|r| r["op"] == "Invoke")
        .map(|r| r["qualifier"].clone())
        .collect();
    assert!(!invoked.is_empty());
    assert!(invoked.iter().all(|q| q == "1"), "{invoked:?}");
    assert_eq!(
        alias(&emulator).await,
        Some(("1".into(), "stackctl: first version".into()))
    );
    let outputs = &up.json()["outputs"];
    assert_eq!(outputs["alias"], "live");
    assert_eq!(outputs["alias_version"], "1");

    // A second up publishes nothing and writes nothing.
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    project.stackctl(&["status"]).expect_code(0);

    // A change of $LATEST makes version 2, and the alias records the one it replaced.
    set_variable(&project, "two");
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains("alias.live: version 1"),
        "{}",
        plan.stdout
    );
    project.stackctl(&["up"]).ok();
    assert_eq!(
        alias(&emulator).await,
        Some(("2".into(), "stackctl: replaced 1".into()))
    );
    assert_eq!(versions(&emulator).await, ["1", "2"]);

    // smoke (through Lambda Invoke) calls what serves: the alias.
    let before = emulator.strict().requests_json().len();
    let smoke = project.stackctl(&["smoke", "--output", "json"]);
    smoke.ok();
    assert_eq!(smoke.json()["target"], "Lambda Invoke of `live`");
    let qualifiers: Vec<serde_json::Value> = emulator.strict().requests_json()[before..]
        .iter()
        .filter(|r| r["op"] == "Invoke")
        .map(|r| r["qualifier"].clone())
        .collect();
    assert!(!qualifiers.is_empty());
    assert!(qualifiers.iter().all(|q| q == "live"), "{qualifiers:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_failing_verification_leaves_the_alias_serving_the_old_one() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    project.stackctl(&["up"]).ok();
    assert_eq!(alias(&emulator).await.unwrap().0, "1");

    project.edit("lambda/src/handler.ts", WORKING, BROKEN);
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    // The failed version never served: deleted (never a rollback target, never counted by pruning).
    assert!(
        up.stderr
            .contains("version 2 of `my-frontend-app-api` failed verification (deleted)"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr
            .contains("smoke step `create first item` (POST) expected 201, got 500"),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr
            .contains("alias `live` still serves version 1, unchanged"),
        "{}",
        up.stderr
    );
    assert!(
        !emulator
            .writes_since(mark)
            .iter()
            .any(|w| w == "UpdateAlias"),
        "the alias moved"
    );
    assert_eq!(alias(&emulator).await.unwrap().0, "1");
    assert_eq!(versions(&emulator).await, ["1"]);
    // The alias still answers with the old code.
    let moto = emulator.clients().await;
    let event = json!({"version": "2.0", "rawPath": "/items", "requestContext": {"http": {"method": "GET", "path": "/items"}}, "queryStringParameters": {"userId": "someone"}});
    let answer = moto
        .lambda
        .invoke()
        .function_name(FUNCTION)
        .qualifier("live")
        .payload(aws_sdk_lambda::primitives::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    let payload: serde_json::Value =
        serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(payload["statusCode"], 200, "{payload}");
    // status says up would publish again.
    let status = project.stackctl(&["status"]);
    status.expect_code(2);

    // Fixed: the next up publishes, verifies and moves.
    project.edit("lambda/src/handler.ts", BROKEN, WORKING);
    project.stackctl(&["up"]).ok();
    let (version, description) = alias(&emulator).await.unwrap();
    assert_ne!(version, "1");
    assert_ne!(version, "2", "the broken version was aliased");
    assert_eq!(description, "stackctl: replaced 1");
}

#[tokio::test(flavor = "multi_thread")]
async fn pruning_keeps_keep_versions_and_never_an_aliased_one() {
    let (emulator, project) = start();
    with_deploy(&project, "keep_versions = 2\nverify = \"none\"\n");
    project.stackctl(&["up"]).ok();
    // Someone pins version 1 with an alias of their own.
    let moto = emulator.clients().await;
    moto.lambda
        .create_alias()
        .function_name(FUNCTION)
        .name("pinned")
        .function_version("1")
        .send()
        .await
        .unwrap();
    for release in ["two", "three", "four"] {
        set_variable(&project, release);
        project.stackctl(&["up"]).ok();
    }
    assert_eq!(alias(&emulator).await.unwrap().0, "4");
    // The newest two (4, and 3 which it replaced), and 1, which an alias points to.
    assert_eq!(versions(&emulator).await, ["1", "3", "4"]);
}

/// The RELEASE variable of the version the alias serves.
async fn served_release(emulator: &Emulator) -> Option<String> {
    let moto = emulator.clients().await;
    let config = moto
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .qualifier("live")
        .send()
        .await
        .ok()?;
    config
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get("RELEASE").cloned())
}

/// An up killed at publish, during verification or at the alias's move never leaves the alias on an
/// unverified version, and the next up converges: the alias on a verified version of the new `$LATEST`,
/// recording the one it replaced, status in sync, a further up writing nothing. (A held call is still
/// carried out once the kill releases it: killed at CreateAlias or UpdateAlias, the move itself lands.)
#[tokio::test(flavor = "multi_thread")]
async fn kill_points_at_publish_verify_and_move_converge_on_the_next_up() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    set_variable(&project, "one");
    kill_at(&project, &emulator, &["up"], "CreateAlias", UP_GUARD);
    project.stackctl(&["up"]).ok();
    assert_eq!(served_release(&emulator).await.as_deref(), Some("one"));
    project.stackctl(&["status"]).expect_code(0);

    for (release, op) in [
        ("two", "PublishVersion"),
        ("three", "Invoke"),
        ("four", "UpdateAlias"),
    ] {
        let before = alias(&emulator).await.unwrap().0;
        set_variable(&project, release);
        kill_at(&project, &emulator, &["up"], op, UP_GUARD);
        if op != "UpdateAlias" {
            assert_eq!(
                alias(&emulator).await.unwrap().0,
                before,
                "killed at {op}: the alias moved to an unverified version"
            );
        }
        project.stackctl(&["up"]).ok();
        let (after, description) = alias(&emulator).await.unwrap();
        assert_ne!(after, before, "killed at {op}: the alias never moved");
        assert_eq!(served_release(&emulator).await.as_deref(), Some(release));
        assert_eq!(description, format!("stackctl: replaced {before}"));
        project.stackctl(&["status"]).expect_code(0);
        let mark = emulator.mark();
        project.stackctl(&["up"]).ok();
        assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    }
}

/// down deletes the alias before the function (which takes every version with it), and only with
/// --delete-data (the served versions are data); status names the alias and its version.
#[tokio::test(flavor = "multi_thread")]
async fn down_deletes_the_alias_first_and_status_shows_it() {
    let (emulator, project) = start();
    with_deploy(&project, "verify = \"none\"\n");
    project.stackctl(&["up"]).ok();
    let status = project.stackctl(&["status", "--output", "json"]);
    status.expect_code(0);
    let text = status.stdout.clone();
    assert!(text.contains("\"alias\""), "{text}");

    // $LATEST changed behind stackctl's back: status says up would publish it.
    let moto = emulator.clients().await;
    moto.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    let status = project.stackctl(&["status"]);
    status.expect_code(2);
    assert!(
        status.stdout.contains("differs from the served version"),
        "{}",
        status.stdout
    );

    // The versions the alias serves are data: down needs --delete-data, and without it deletes nothing.
    let mark = emulator.mark();
    let down = project.stackctl(&["down", "--confirm"]);
    down.expect_code(1);
    assert!(
        down.stderr.contains("alias `live` serves version 1")
            && down.stderr.contains("--delete-data"),
        "{}",
        down.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    let mark = emulator.mark();
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let writes = emulator.writes_since(mark);
    let delete_alias = writes
        .iter()
        .position(|w| w == "DeleteAlias")
        .expect("alias deleted");
    let delete_function = writes
        .iter()
        .position(|w| w == "DeleteFunction")
        .expect("function deleted");
    assert!(delete_alias < delete_function, "{writes:?}");
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

/// Removing `[function.deploy]` deletes the stack's alias (found by the function's `stackctl:alias`
/// marker) and takes the marker off; up then updates `$LATEST` in place as before.
#[tokio::test(flavor = "multi_thread")]
async fn removing_the_section_deletes_the_alias() {
    let (emulator, project) = start();
    with_deploy(&project, "verify = \"none\"\n");
    project.stackctl(&["up"]).ok();
    assert!(alias(&emulator).await.is_some());
    project.edit(
        "stack.toml",
        "[function.deploy]\nalias = \"live\"\nverify = \"none\"\n\n",
        "",
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(plan.stdout.contains("alias"), "{}", plan.stdout);
    project.stackctl(&["up"]).ok();
    assert_eq!(alias(&emulator).await, None);
    let moto = emulator.clients().await;
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}");
    let tags = moto.lambda.list_tags().resource(arn).send().await.unwrap();
    assert!(!tags.tags().unwrap().contains_key("stackctl:alias"));
    project.stackctl(&["status"]).expect_code(0);
}

/// With `[auth] cognito = true`, the verification is smoke's with two test users: the isolation steps run
/// against the new version, every request carries a token, and both users and every item are gone after.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_managed_pool_verification_signs_in_two_users_and_deletes_them() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    project.write(
        "stack.toml",
        &(project.read("stack.toml") + "\n[auth]\ncognito = true\n"),
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let ops = emulator.sent_since(mark);
    let created_users = ops.iter().filter(|o| *o == "AdminCreateUser").count();
    let deleted_users = ops.iter().filter(|o| *o == "AdminDeleteUser").count();
    assert_eq!((created_users, deleted_users), (2, 2), "{ops:?}");
    assert_eq!(alias(&emulator).await.unwrap().0, "1");
    let pool = up.json()["outputs"]["auth_user_pool_id"]
        .as_str()
        .unwrap()
        .to_string();
    let aws = emulator.moto_clients().await;
    let users = aws
        .cognito
        .list_users()
        .user_pool_id(&pool)
        .send()
        .await
        .unwrap();
    assert!(users.users().is_empty(), "{users:?}");
    let scan = aws.dynamodb.scan().table_name(TABLE).send().await.unwrap();
    assert!(scan.items().is_empty(), "{scan:?}");
    // The served version is data: down with --delete-data.
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
}

/// An alias of the configured name that the stack did not make (someone's own, on the function) is never
/// moved: up is blocked before any write, with the fix.
#[tokio::test(flavor = "multi_thread")]
async fn an_alias_the_stack_did_not_make_is_never_moved() {
    let (emulator, project) = start();
    project.stackctl(&["up"]).ok();
    let moto = emulator.clients().await;
    publish_and_alias(&moto.lambda, FUNCTION, "live", None).await;
    with_deploy(&project, "verify = \"none\"\n");
    set_variable(&project, "two");
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr
            .contains("stackctl never moves an alias it did not make"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(alias(&emulator).await.unwrap().0, "1");
}

/// Waits until `$LATEST`'s last update is done (a publish while it is in progress is refused).
async fn wait_updated(aws: &Clients) {
    for _ in 0..600 {
        let config = aws
            .lambda
            .get_function_configuration()
            .function_name(FUNCTION)
            .send()
            .await
            .unwrap();
        if config.last_update_status().map(|s| s.as_str()) != Some("InProgress") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the update never finished");
}

/// Review finding: a first up whose verification failed leaves the `stackctl:alias` marker without an alias;
/// an alias someone makes later under that name is theirs (its Description is not stackctl's), and up
/// never moves it.
#[tokio::test(flavor = "multi_thread")]
async fn a_marker_without_an_alias_never_adopts_someone_elses_alias() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    project.edit("lambda/src/handler.ts", WORKING, BROKEN);
    project.stackctl(&["up"]).expect_code(1);
    assert_eq!(alias(&emulator).await, None);
    // The failed version was deleted; a colleague changes `$LATEST`, publishes their own and points `live`
    // at it.
    let moto = emulator.clients().await;
    moto.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .memory_size(256)
        .send()
        .await
        .unwrap();
    wait_updated(&moto).await;
    let theirs =
        publish_and_alias(&moto.lambda, FUNCTION, "live", Some("ops: pinned by hand")).await;
    project.edit("lambda/src/handler.ts", BROKEN, WORKING);
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr
            .contains("stackctl never moves an alias it did not make"),
        "{}",
        up.stderr
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(
        alias(&emulator).await,
        Some((theirs, "ops: pinned by hand".into()))
    );
}

/// Review finding: on a function without the stack's tag, an alias of the configured name that the stack
/// did not make is never deleted by down.
#[tokio::test(flavor = "multi_thread")]
async fn down_never_deletes_an_alias_the_stack_did_not_make() {
    let (emulator, project) = start();
    project.stackctl(&["up"]).ok();
    let moto = emulator.clients().await;
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}");
    moto.lambda
        .untag_resource()
        .resource(&arn)
        .tag_keys("stackctl:stack")
        .send()
        .await
        .unwrap();
    publish_and_alias(&moto.lambda, FUNCTION, "live", None).await;
    with_deploy(&project, "verify = \"none\"\n");
    let mark = emulator.mark();
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let writes = emulator.writes_since(mark);
    assert!(!writes.iter().any(|w| w == "DeleteAlias"), "{writes:?}");
    assert!(alias(&emulator).await.is_some());
}

/// Review finding: pruning never deletes a version another alias routes part of its traffic to (weights),
/// and the alias it moves serves exactly the verified version (its own weights cleared).
#[tokio::test(flavor = "multi_thread")]
async fn pruning_never_touches_a_version_an_alias_routes_to() {
    let (emulator, project) = start();
    with_deploy(&project, "keep_versions = 2\nverify = \"none\"\n");
    project.stackctl(&["up"]).ok();
    set_variable(&project, "two");
    project.stackctl(&["up"]).ok();
    let moto = emulator.clients().await;
    let weights = aws_sdk_lambda::types::AliasRoutingConfiguration::builder()
        .additional_version_weights("1", 0.1)
        .build();
    moto.lambda
        .create_alias()
        .function_name(FUNCTION)
        .name("canary")
        .function_version("2")
        .routing_config(weights)
        .send()
        .await
        .unwrap();
    for release in ["three", "four"] {
        set_variable(&project, release);
        project.stackctl(&["up"]).ok();
    }
    assert_eq!(versions(&emulator).await, ["1", "2", "3", "4"]);
    let live = moto
        .lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await
        .unwrap();
    let weights = live
        .routing_config()
        .and_then(|r| r.additional_version_weights())
        .map_or(0, |w| w.len());
    assert_eq!(weights, 0);
}
