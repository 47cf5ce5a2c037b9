//! The function URL with `[function.deploy]` (issue 24, item 3): the URL and its two public statements are on
//! the alias (Qualifier = the alias, for the config and the permissions alike); a stack whose URL was on
//! `$LATEST` gains a NEW URL when it gains the section (plan names the old and the new one; up creates the
//! alias's URL and statements, then deletes the old ones), and moves back when the section goes.
//!
//! The strict proxy's `url_qualifiers` (on in `realistic()`) keeps an alias's URL config and policy apart from
//! the function's own, as Lambda does (moto keeps one URL per function whatever the Qualifier), and
//! `lambda_versions` is on as in tests/cli/deploy.rs.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// How long an up may take to reach the request it is killed at (only a hang fails on it).
const UP_GUARD: Duration = Duration::from_secs(180);

const SID_URL: &str = "stackctl-my-frontend-app-public-url";
const SID_INVOKE: &str = "stackctl-my-frontend-app-public-url-invoke";

const PUBLIC: &str = "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n";

fn start() -> (Emulator, Project) {
    let emulator = Emulator::start();
    emulator.strict().set(json!({"lambda_versions": true}));
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n{PUBLIC}\n"),
    );
    (emulator, project)
}

/// `[function.deploy]` with alias `live` (`extra`: more keys).
fn with_deploy(project: &Project, extra: &str) -> String {
    let section = format!("[function.deploy]\nalias = \"live\"\n{extra}\n");
    project.edit(
        "stack.toml",
        "[function.environment]",
        &format!("{section}[function.environment]"),
    );
    section
}

/// The URL on `qualifier` (None: the function's own), as Lambda answers it through the proxy.
async fn url_on(emulator: &Emulator, qualifier: Option<&str>) -> Option<String> {
    let aws = emulator.clients().await;
    match aws
        .lambda
        .get_function_url_config()
        .function_name(FUNCTION)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => Some(out.function_url().to_string()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(err) => panic!("GetFunctionUrlConfig {qualifier:?}: {err:?}"),
    }
}

/// The Sids of the resource policy on `qualifier` (sorted; none when it has no policy).
async fn sids_on(emulator: &Emulator, qualifier: Option<&str>) -> Vec<String> {
    let aws = emulator.clients().await;
    let policy = match aws
        .lambda
        .get_policy()
        .function_name(FUNCTION)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => serde_json::from_str::<serde_json::Value>(out.policy().unwrap()).unwrap(),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Vec::new()
        }
        Err(err) => panic!("GetPolicy {qualifier:?}: {err:?}"),
    };
    let mut sids: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["Sid"].as_str().map(String::from))
        .collect();
    sids.sort();
    sids
}

/// The URL and permission calls stackctl sent since `from` (the proxy's record), as `Op@qualifier`.
fn url_calls(emulator: &Emulator, from: u64) -> Vec<String> {
    emulator
        .strict()
        .requests_json()
        .into_iter()
        .filter(|r| r["seq"].as_u64().is_some_and(|s| s > from) && r["from_rust"] == true)
        .filter_map(|r| {
            let op = r["op"].as_str()?.to_string();
            let interesting = op.contains("FunctionUrl")
                || op.ends_with("Permission")
                || op.ends_with("Alias")
                || op == "PublishVersion";
            interesting.then(|| format!("{op}@{}", r["qualifier"].as_str().unwrap_or("-")))
        })
        .collect()
}

/// The proxy's last request number (`url_calls` looks at what came after it).
fn last_seq(emulator: &Emulator) -> u64 {
    emulator
        .strict()
        .requests_json()
        .iter()
        .filter_map(|r| r["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

fn position(calls: &[String], call: &str) -> usize {
    calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no {call} in {calls:?}"))
}

fn both() -> Vec<String> {
    vec![SID_URL.to_string(), SID_INVOKE.to_string()]
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_deploy_puts_the_url_and_its_permissions_on_the_alias() {
    let (emulator, project) = start();
    with_deploy(&project, "");
    let mark = last_seq(&emulator);
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let url = up.json()["outputs"]["url"]
        .as_str()
        .expect("outputs.url")
        .to_string();
    // The URL is the alias's; the function's own has none, nor any statement of the stack's.
    let calls = url_calls(&emulator, mark);
    assert_eq!(
        url_on(&emulator, Some("live")).await.as_deref(),
        Some(url.as_str())
    );
    assert_eq!(url_on(&emulator, None).await, None);
    assert_eq!(sids_on(&emulator, Some("live")).await, both());
    assert_eq!(sids_on(&emulator, None).await, Vec::<String>::new());
    // The alias exists before its URL is created; every URL and permission write names it (the function's
    // own URL is only read: a URL there would be moved).
    assert!(
        position(&calls, "CreateAlias@-") < position(&calls, "CreateFunctionUrlConfig@live"),
        "{calls:?}"
    );
    for call in calls
        .iter()
        .filter(|c| (c.contains("Url") || c.contains("Permission")) && !c.starts_with("Get"))
    {
        assert!(call.ends_with("@live"), "{calls:?}");
    }
    // The alias's URL answers with the code, once its two statements are in.
    let answer = emulator.strict().call_url(&url, "/items?userId=someone");
    assert_eq!(answer["statusCode"], 200, "{answer}");

    // In sync: a second up writes nothing; status is in sync.
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    project.stackctl(&["status"]).expect_code(0);

    // down deletes the alias's URL and statements before the alias (served versions are data).
    let mark = last_seq(&emulator);
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    let calls = url_calls(&emulator, mark);
    assert!(
        position(&calls, "DeleteFunctionUrlConfig@live") < position(&calls, "DeleteAlias@-"),
        "{calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_on_latest_moves_to_the_alias_with_deploy_and_back_without_it() {
    let (emulator, project) = start();
    project.stackctl(&["up"]).ok();
    let old = url_on(&emulator, None).await.expect("a URL on $LATEST");
    assert_eq!(sids_on(&emulator, None).await, both());

    // The plan says the URL changes, naming the old one.
    let section = with_deploy(&project, "verify = \"none\"\n");
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("    ~ url: {old} -> a new URL on alias `live`\n")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!(
            "note: the URL changes: clients of {old} must move to a new URL on alias `live`"
        )),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout
            .contains(&format!("    - permission.{SID_URL} on `$LATEST`")),
        "{}",
        plan.stdout
    );

    // up: the alias's URL and statements first, then the old ones go.
    let mark = last_seq(&emulator);
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let new = up.json()["outputs"]["url"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        url_on(&emulator, Some("live")).await.as_deref(),
        Some(new.as_str())
    );
    assert_eq!(url_on(&emulator, None).await, None, "the old URL is gone");
    assert_eq!(sids_on(&emulator, Some("live")).await, both());
    assert_eq!(sids_on(&emulator, None).await, Vec::<String>::new());
    let calls = url_calls(&emulator, mark);
    let last_add = calls
        .iter()
        .rposition(|c| c == "AddPermission@live")
        .expect("permissions added on the alias");
    assert!(
        position(&calls, "CreateFunctionUrlConfig@live")
            < position(&calls, "DeleteFunctionUrlConfig@-")
            && last_add < position(&calls, "DeleteFunctionUrlConfig@-"),
        "{calls:?}"
    );
    assert_eq!(
        emulator.strict().call_url(&new, "/items?userId=someone")["statusCode"],
        200
    );
    assert_eq!(
        emulator.strict().call_url(&old, "/items?userId=someone")["statusCode"],
        404,
        "the old URL no longer exists"
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    // Without the section: the alias goes, and the URL moves back to $LATEST (a new one again).
    project.edit("stack.toml", &section, "");
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("    ~ url: {new} -> a new URL on `$LATEST`\n")),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    let back = up.json()["outputs"]["url"].as_str().unwrap().to_string();
    assert_ne!(back, new);
    assert_eq!(
        url_on(&emulator, None).await.as_deref(),
        Some(back.as_str())
    );
    assert_eq!(sids_on(&emulator, None).await, both());
    let aws = emulator.clients().await;
    let alias = aws
        .lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await;
    assert!(alias.is_err(), "the alias is deleted");
    assert_eq!(url_on(&emulator, Some("live")).await, None);
    let strict = emulator.strict();
    assert_eq!(
        strict.call_url(&back, "/items?userId=someone")["statusCode"],
        200
    );
    assert_eq!(
        strict.call_url(&new, "/items?userId=someone")["statusCode"],
        404
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// A move killed after the alias's URL was created (at its first AddPermission): the old URL still serves,
/// plan names the new one by its address, and the next up finishes the move.
#[tokio::test(flavor = "multi_thread")]
async fn a_move_killed_half_way_is_finished_by_the_next_up() {
    let (emulator, project) = start();
    project.stackctl(&["up"]).ok();
    let old = url_on(&emulator, None).await.unwrap();
    with_deploy(&project, "verify = \"none\"\n");
    kill_at(&project, &emulator, &["up"], "AddPermission", UP_GUARD);
    let new = url_on(&emulator, Some("live"))
        .await
        .expect("the alias's URL was created before the kill");
    assert_eq!(url_on(&emulator, None).await.as_deref(), Some(old.as_str()));
    assert_eq!(
        emulator.strict().call_url(&old, "/items?userId=someone")["statusCode"],
        200,
        "the old URL serves until the new one is complete"
    );
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout
            .contains(&format!("    ~ url: {old} -> {new}\n")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(&format!(
            "the URL changes: clients of {old} must move to {new}"
        )),
        "{}",
        plan.stdout
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    assert_eq!(up.json()["outputs"]["url"], new.as_str());
    assert_eq!(url_on(&emulator, None).await, None);
    assert_eq!(sids_on(&emulator, Some("live")).await, both());
    assert_eq!(sids_on(&emulator, None).await, Vec::<String>::new());
    assert_eq!(
        emulator.strict().call_url(&new, "/items?userId=someone")["statusCode"],
        200
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}
