//! `stackctl rollback` and `stackctl versions` (issue 24): a stack deployed twice with `[function.deploy]
//! verify = "none"` through the real binary, then the alias moved back and forth in one UpdateAlias each,
//! the alias's Invoke answering with the code of the version it serves, and every refusal writing nothing.

use aws_sdk_lambda::primitives::Blob;

use crate::support::*;

/// The section the tests deploy with: versions behind `live`, no smoke verification (the lead's tests
/// cover it).
const DEPLOY: &str = "[function.deploy]\nverify = \"none\"\n\n[function.environment]";

/// The emulator with the strict proxy's Lambda version rules on (PublishVersion's preconditions, alias
/// names, no deletion of an aliased version).
fn emulator() -> Emulator {
    let mut config = strict::realistic();
    config["lambda_versions"] = serde_json::json!(true);
    Emulator::start_with(config, 24)
}

/// The project with `[function.deploy]`.
fn versioned(emulator: &Emulator) -> Project {
    let project = Project::new(emulator);
    project.edit("stack.toml", "[function.environment]", DEPLOY);
    project
}

/// The GET route's answer for a missing item, marked so that two builds answer differently: the first
/// call marks the original text, a later one replaces the mark.
fn mark_handler(project: &Project, from: &str, to: &str) {
    project.edit(
        "lambda/src/handler.ts",
        &format!("json(200, Item) : json(404, {{ error: \"Item not found{from}\" }})"),
        &format!("json(200, Item) : json(404, {{ error: \"Item not found{to}\" }})"),
    );
}

/// What the alias answers to a GET of a missing item: Invoke with the alias as Qualifier (the SDK, as a
/// caller of the alias would), the body's `error`.
async fn alias_answer(emulator: &Emulator) -> String {
    let event = std::fs::read(format!("{REPO}/lambda/events/get-item.json")).expect("event");
    let out = emulator
        .clients()
        .await
        .lambda
        .invoke()
        .function_name(FUNCTION)
        .qualifier("live")
        .payload(Blob::new(event))
        .send()
        .await
        .expect("invoking the alias");
    assert_eq!(out.function_error(), None);
    let payload: serde_json::Value =
        serde_json::from_slice(out.payload().expect("payload").as_ref()).expect("JSON");
    assert_eq!(payload["statusCode"], 404, "{payload}");
    let body: serde_json::Value =
        serde_json::from_str(payload["body"].as_str().expect("body")).expect("JSON body");
    body["error"].as_str().expect("error").to_string()
}

/// Where the alias points, read past the proxy.
async fn alias_version(emulator: &Emulator) -> String {
    emulator
        .moto_clients()
        .await
        .lambda
        .get_alias()
        .function_name(FUNCTION)
        .name("live")
        .send()
        .await
        .expect("reading the alias")
        .function_version()
        .unwrap_or_default()
        .to_string()
}

/// `versions --output json`'s rows as (version, serving, replaced, by_stack).
fn rows(project: &Project) -> Vec<(String, bool, bool, bool)> {
    let run = project.stackctl(&["versions", "--output", "json"]);
    run.ok();
    let json = run.json();
    assert_eq!(json["command"], "versions");
    json["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_string(),
                v["serving"].as_bool().unwrap(),
                v["replaced"].as_bool().unwrap(),
                v["by_stack"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn row(version: &str, serving: bool, replaced: bool, by_stack: bool) -> (String, bool, bool, bool) {
    (version.to_string(), serving, replaced, by_stack)
}

/// A refused rollback: exit 1, the reason on stderr, and nothing written.
#[track_caller]
fn refused(project: &Project, emulator: &Emulator, args: &[&str], why: &str) {
    let mark = emulator.mark();
    let run = project.stackctl(args);
    run.expect_code(1);
    assert!(run.stderr.contains(why), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_flips_the_alias_back_and_forth_in_one_write_and_versions_shows_it() {
    let emulator = emulator();
    let project = versioned(&emulator);
    mark_handler(&project, "", " (first)");
    project.stackctl(&["up"]).ok();
    assert_eq!(rows(&project), [row("1", true, false, true)]);
    // The first version replaced nothing: only --to can move the alias.
    refused(
        &project,
        &emulator,
        &["rollback"],
        "records no version it replaced",
    );

    mark_handler(&project, " (first)", " (second)");
    project.stackctl(&["up"]).ok();
    assert_eq!(alias_version(&emulator).await, "2");
    assert_eq!(alias_answer(&emulator).await, "Item not found (second)");
    assert_eq!(
        rows(&project),
        [row("2", true, false, true), row("1", false, true, true)]
    );
    let text = project.stackctl(&["versions"]);
    text.ok();
    // The CodeSha256 in full in JSON, its first 12 characters in text.
    let json = project.stackctl(&["versions", "--output", "json"]).json();
    let sha = json["versions"][0]["code_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sha.len(), 44, "{json}");
    assert!(
        text.stdout.contains(&format!("{}…", &sha[..12])),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains(&sha), "{}", text.stdout);
    assert!(
        text.stdout
            .contains("alias live → version 2 (replaced 1: `stackctl rollback` returns to it)"),
        "{}",
        text.stdout
    );

    // Back to 1: exactly one write, the UpdateAlias; the alias answers with the first build.
    let mark = emulator.mark();
    let run = project.stackctl(&["rollback", "--output", "json"]);
    run.ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateAlias"]);
    let json = run.json();
    crate::contract::assert_envelope(&json, "rollback", None);
    assert_eq!(json["function"], FUNCTION);
    assert_eq!(json["alias"], "live");
    assert_eq!(json["from"], "2");
    assert_eq!(json["to"], "1");
    assert_eq!(json["changed"], true);
    assert_eq!(json["aws_calls"]["writes"], 1);
    assert_eq!(alias_answer(&emulator).await, "Item not found (first)");
    assert_eq!(
        rows(&project),
        [row("2", false, true, true), row("1", true, false, true)]
    );

    // A second rollback flips forward again, in one write too.
    let mark = emulator.mark();
    let run = project.stackctl(&["rollback"]);
    run.ok();
    assert_eq!(emulator.writes_since(mark), ["UpdateAlias"]);
    assert!(
        run.stdout
            .contains("alias live of my-frontend-app-api: version 1 → 2"),
        "{}",
        run.stdout
    );
    assert_eq!(alias_answer(&emulator).await, "Item not found (second)");

    // --to the version it serves: exit 0, nothing written.
    let mark = emulator.mark();
    let run = project.stackctl(&["rollback", "--to", "2"]);
    run.ok();
    assert!(
        run.stdout.contains("already serves version 2"),
        "{}",
        run.stdout
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());

    // A version published by hand (someone's PublishVersion after changing `$LATEST`) is never a target.
    let moto = emulator.moto_clients().await;
    moto.lambda
        .update_function_configuration()
        .function_name(FUNCTION)
        .memory_size(256)
        .send()
        .await
        .expect("changing $LATEST by hand");
    let hand = moto
        .lambda
        .publish_version()
        .function_name(FUNCTION)
        .description("published by hand")
        .send()
        .await
        .expect("publishing by hand");
    assert_eq!(hand.version(), Some("3"));
    refused(
        &project,
        &emulator,
        &["rollback", "--to", "3"],
        "version 3 was not published by stack `my-frontend-app`",
    );
    assert_eq!(
        rows(&project),
        [
            row("3", false, false, false),
            row("2", true, false, true),
            row("1", false, true, true)
        ]
    );

    // A deleted version, and one never published: refused, nothing written (also as the default target).
    moto.lambda
        .delete_function()
        .function_name(FUNCTION)
        .qualifier("1")
        .send()
        .await
        .expect("deleting version 1");
    refused(
        &project,
        &emulator,
        &["rollback", "--to", "1"],
        "version 1 does not exist",
    );
    refused(
        &project,
        &emulator,
        &["rollback"],
        "version 1 does not exist",
    );
    refused(
        &project,
        &emulator,
        &["rollback", "--to", "99"],
        "version 99 does not exist",
    );
    assert_eq!(alias_version(&emulator).await, "2");
    assert_eq!(alias_answer(&emulator).await, "Item not found (second)");
}

/// Before the first versioned up there is no alias: rollback refuses (exit 1, run up first) and versions
/// lists nothing (exit 0); neither writes.
#[tokio::test(flavor = "multi_thread")]
async fn without_an_alias_rollback_refuses_and_versions_lists_nothing() {
    let emulator = emulator();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    project.edit("stack.toml", "[function.environment]", DEPLOY);
    let mark = emulator.mark();
    let run = project.stackctl(&["rollback"]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("alias `live` of `my-frontend-app-api` does not exist yet"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("run `stackctl up` first"),
        "{}",
        run.stderr
    );
    let versions = project.stackctl(&["versions", "--output", "json"]);
    versions.ok();
    let json = versions.json();
    assert_eq!(json["versions"], serde_json::json!([]));
    assert_eq!(json["serving"], serde_json::Value::Null);
    assert!(
        json["note"]
            .as_str()
            .unwrap()
            .contains("no published versions yet"),
        "{json}"
    );
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// Without `[function.deploy]`: rollback is a stack file error (exit 64, the field and the fix) and
/// versions an empty list with the reason (exit 0); neither sends anything.
#[tokio::test(flavor = "multi_thread")]
async fn without_the_section_rollback_is_a_usage_error_and_versions_says_why() {
    let emulator = emulator();
    let project = Project::new(&emulator);
    let mark = emulator.mark();
    let run = project.stackctl(&["rollback", "--to", "2"]);
    run.expect_code(64);
    assert!(
        run.stderr
            .contains("stack.toml: `function.deploy`: rollback moves the alias"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("fix: add [function.deploy]"),
        "{}",
        run.stderr
    );
    let versions = project.stackctl(&["versions", "--output", "json"]);
    versions.ok();
    let json = versions.json();
    assert_eq!(json["versions"], serde_json::json!([]));
    assert_eq!(json["alias"], serde_json::Value::Null);
    assert!(
        json["note"]
            .as_str()
            .unwrap()
            .contains("no [function.deploy]"),
        "{json}"
    );
    assert_eq!(emulator.requests_since(mark).len(), 0);
    // Not a number: clap refuses it before anything (64).
    project
        .stackctl(&["rollback", "--to", "live"])
        .expect_code(64);
}

/// README: a rollback sticks: `$LATEST` is still the version rolled back from, and an `up` that changes
/// nothing writes nothing (it never undoes the rollback); status is in sync and says why. A change of
/// `$LATEST` publishes and moves again. And only the stack's own function: the same function under another
/// stack's name is refused, nothing written.
#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_sticks_until_latest_changes_and_another_stack_never_moves_the_alias() {
    let emulator = emulator();
    let project = versioned(&emulator);
    project.stackctl(&["up"]).ok();
    mark_handler(&project, "", " (second)");
    project.stackctl(&["up"]).ok();
    project.stackctl(&["rollback"]).ok();
    assert_eq!(alias_version(&emulator).await, "1");
    let status = project.stackctl(&["status"]);
    status.expect_code(0);
    assert!(
        status.stdout.contains("the version rolled back from"),
        "{}",
        status.stdout
    );
    let mark = emulator.mark();
    let up = project.stackctl(&["up"]);
    up.ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(alias_version(&emulator).await, "1");
    // A new build: published (version 3), moved, recording the version it replaced.
    mark_handler(&project, " (second)", " (third)");
    project.stackctl(&["up"]).ok();
    assert_eq!(alias_version(&emulator).await, "3");
    assert_eq!(rows(&project)[0], row("3", true, false, true));
    project.edit(
        "stack.toml",
        "name = \"my-frontend-app\"",
        "name = \"someone-else\"",
    );
    // That stack's own IAM path: the operator gets the policy generated for this file too.
    emulator.grant(OPERATOR_USER, &project.generated_policy(&[]));
    let mark = emulator.mark();
    for args in [&["rollback"][..], &["versions"]] {
        let run = project.stackctl(args);
        run.expect_code(1);
        assert!(
            run.stderr.contains("owned by stack `my-frontend-app`"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert_eq!(alias_version(&emulator).await, "3");
}

/// Review finding: rollback moves only the stack's own alias (the function's `stackctl:alias` tag names it
/// and its description is stackctl's), as up decides: an alias of that name someone else describes is theirs.
#[tokio::test(flavor = "multi_thread")]
async fn rollback_never_moves_an_alias_the_stack_did_not_make() {
    let emulator = emulator();
    let project = versioned(&emulator);
    project.stackctl(&["up"]).ok();
    mark_handler(&project, "", " (second)");
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    aws.lambda
        .update_alias()
        .function_name(FUNCTION)
        .name("live")
        .description("ops: pinned by hand")
        .send()
        .await
        .unwrap();
    refused(
        &project,
        &emulator,
        &["rollback", "--to", "1"],
        "stackctl never moves an alias it did not make",
    );
    assert_eq!(alias_version(&emulator).await, "2");
}
