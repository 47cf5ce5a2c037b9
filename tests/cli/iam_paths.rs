//! IAM paths (issue 25): a new stack's role and policy are created under `/stackctl/<stack>/`; `ls` lists
//! that path (its IAM calls do not grow with the account); a stack made before paths (role and policy at
//! `/`) is still found, planned with a note, and torn down; `ls --scan-iam` finds what only a scan can.

use aws_sdk_iam::types::Tag;
use serde_json::{json, Value};

use crate::support::*;

const DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().unwrap()
}

/// The tags stackctl put on a role or policy before IAM paths (stack, stage, region).
fn old_tags(stage: Option<&str>) -> Vec<Tag> {
    let mut tags = vec![
        tag("stackctl:stack", "my-frontend-app"),
        tag("stackctl:region", "us-east-1"),
    ];
    tags.extend(stage.map(|s| tag("stackctl:stage", s)));
    tags
}

/// A role and policy at `/` with the stack's tags, as a stackctl from before IAM paths made them.
async fn make_old_role_and_policy(
    iam: &aws_sdk_iam::Client,
    role: &str,
    policy: &str,
    stage: Option<&str>,
) {
    iam.create_role()
        .role_name(role)
        .assume_role_policy_document(TRUST_POLICY)
        .set_tags(Some(old_tags(stage)))
        .send()
        .await
        .unwrap();
    let policy = iam
        .create_policy()
        .policy_name(policy)
        .policy_document(DOCUMENT)
        .set_tags(Some(old_tags(stage)))
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(role)
        .policy_arn(policy.policy().unwrap().arn().unwrap())
        .send()
        .await
        .unwrap();
}

/// The IAM operations stackctl sent since `mark`, sorted.
fn iam_calls(emulator: &Emulator, mark: u64) -> Vec<String> {
    let mut ops: Vec<String> = emulator
        .requests_since(mark)
        .into_iter()
        .filter(|r| r.service == "iam" && r.from_rust)
        .map(|r| r.operation)
        .collect();
    ops.sort();
    ops
}

fn stage_resources(listing: &Value, stage: Option<&str>) -> Vec<(String, String)> {
    let stage = listing["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"].as_str() == stage)
        .unwrap_or_else(|| panic!("no stage {stage:?} in {listing:#}"));
    stage["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().into(),
                r["arn"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_stack_is_made_under_its_path_and_ls_makes_the_same_iam_calls_whatever_else_the_account_holds(
) {
    let emulator = Emulator::start();
    // `ls --all` / `--scan-iam` read other stacks' resources: beyond the generated policy.
    emulator.grant(OPERATOR_USER, LS_ACCOUNT_WIDE);
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let aws = emulator.moto_clients().await;
    let role = aws.iam.get_role().role_name(ROLE).send().await.unwrap();
    assert_eq!(role.role().unwrap().path(), IAM_PATH);
    assert_eq!(role.role().unwrap().arn(), role_arn());
    let policy = aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(policy.policy().unwrap().path(), Some(IAM_PATH));
    // Nothing at `/`: the policy was created at the path only.
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(legacy_policy_arn())
        .send()
        .await
        .is_err());
    // A second plan reads the policy at its path: one GetPolicy, no extra read.
    let mark = emulator.mark();
    project.stackctl(&["plan"]).ok();
    let plan_calls = iam_calls(&emulator, mark);
    assert_eq!(
        plan_calls.iter().filter(|o| *o == "GetPolicy").count(),
        1,
        "{plan_calls:?}"
    );

    let mark = emulator.mark();
    let before = project.stackctl(&["ls", "--output", "json"]);
    before.ok();
    let quiet = iam_calls(&emulator, mark);
    assert_eq!(
        quiet,
        [
            "ListPolicies",
            "ListPolicyTags",
            "ListRoleTags",
            "ListRoles"
        ],
        "one listing of the stack's path and one tag read per role and policy"
    );
    let expected = vec![
        ("role".to_string(), role_arn()),
        ("policy".to_string(), policy_arn()),
    ];
    let iam_of = |listing: &Value| -> Vec<(String, String)> {
        stage_resources(listing, None)
            .into_iter()
            .filter(|(kind, _)| kind == "role" || kind == "policy")
            .collect()
    };
    assert_eq!(iam_of(&before.json()), expected);

    // 30 roles and 30 policies that are not this stack's: untagged at `/`, another stack's at `/` and
    // another stack's under its own path.
    for i in 0..30 {
        let (path, tags) = match i % 3 {
            0 => ("/", vec![]),
            1 => ("/", vec![tag("stackctl:stack", "other")]),
            _ => ("/stackctl/other/", vec![tag("stackctl:stack", "other")]),
        };
        aws.iam
            .create_role()
            .role_name(format!("unrelated-role-{i}"))
            .path(path)
            .assume_role_policy_document(TRUST_POLICY)
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .unwrap();
        aws.iam
            .create_policy()
            .policy_name(format!("unrelated-policy-{i}"))
            .path(path)
            .policy_document(DOCUMENT)
            .set_tags(Some(tags))
            .send()
            .await
            .unwrap();
    }
    let mark = emulator.mark();
    let after = project.stackctl(&["ls", "--output", "json"]);
    after.ok();
    assert_eq!(
        iam_calls(&emulator, mark),
        quiet,
        "ls's IAM calls grew with the account"
    );
    assert_eq!(iam_of(&after.json()), expected);
    // The same stages and resources (age_secs grows between the two runs).
    let without_age = |mut stages: Value| {
        for stage in stages.as_array_mut().expect("stages") {
            stage.as_object_mut().expect("a stage").remove("age_secs");
        }
        stages
    };
    assert_eq!(
        without_age(after.json()["stages"].clone()),
        without_age(before.json()["stages"].clone())
    );

    // --all lists every stack's path: the other stack's 10 roles and 10 policies under `/stackctl/other/`
    // (those it made at `/`, with no function to follow, are what only --scan-iam finds).
    let all = project.stackctl(&["ls", "--all", "--output", "json"]);
    all.ok();
    let others: Vec<Value> = all.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stack"] == "other")
        .cloned()
        .collect();
    assert_eq!(others.len(), 1, "{:#}", all.json());
    let listed = others[0]["resources"].as_array().unwrap();
    assert_eq!(listed.len(), 20, "{:#}", others[0]);
    assert!(listed
        .iter()
        .all(|r| r["arn"].as_str().unwrap().contains("/stackctl/other/")));
    let scan = project.stackctl(&["ls", "--all", "--scan-iam", "--output", "json"]);
    scan.ok();
    let scanned: usize = scan.json()["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["stack"] == "other")
        .map(|s| s["resources"].as_array().unwrap().len())
        .sum();
    assert_eq!(scanned, 40);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_made_before_iam_paths_keeps_them_is_listed_planned_with_a_note_and_torn_down() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.moto_clients().await;
    make_old_role_and_policy(&aws.iam, ROLE, POLICY, None).await;
    let old_role = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");

    // up uses the role and policy where they are: the function runs with the role at `/`, the policy's new
    // document goes to the one at `/`, nothing is created at the path.
    project.stackctl(&["up"]).ok();
    let config = aws
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(config.role(), Some(old_role.as_str()));
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_err());
    let versions = aws
        .iam
        .list_policy_versions()
        .policy_arn(legacy_policy_arn())
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        2,
        "the stack's document, as a new version"
    );

    // plan: in sync (exit 0), with the note on both; no change offered. The role names the `/` policy among
    // its attachments, so that one is read first: one GetPolicy, as for a stack made after paths.
    let mark = emulator.mark();
    let plan = project.stackctl(&["plan", "--output", "json"]);
    plan.expect_code(0);
    let plan_calls = iam_calls(&emulator, mark);
    assert_eq!(
        plan_calls.iter().filter(|o| *o == "GetPolicy").count(),
        1,
        "{plan_calls:?}"
    );
    let plan = plan.json();
    for kind in ["role", "policy"] {
        let resource = plan["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap();
        assert_eq!(resource["action"], "no_op", "{resource:#}");
        assert_eq!(
            resource["note"],
            "created before IAM paths (at `/`); a path cannot be changed in place: stackctl leaves it there \
             (down + up moves it)"
        );
    }
    let text = project.stackctl(&["status"]);
    text.ok();
    assert!(
        text.stdout
            .contains("note: created before IAM paths (at `/`)"),
        "{}",
        text.stdout
    );

    // ls finds them through the function's role (one GetRole) and its attached policies.
    let mark = emulator.mark();
    let listing = project.stackctl(&["ls", "--output", "json"]);
    listing.ok();
    let found = stage_resources(&listing.json(), None);
    assert!(
        found.contains(&("role".into(), old_role.clone())),
        "{found:?}"
    );
    assert!(
        found.contains(&("policy".into(), legacy_policy_arn())),
        "{found:?}"
    );
    assert_eq!(listing.json()["stages"][0]["complete"], true);
    let calls = iam_calls(&emulator, mark);
    assert_eq!(
        calls,
        [
            "GetPolicy",
            "GetRole",
            "ListAttachedRolePolicies",
            "ListPolicies",
            "ListRoles"
        ],
        "path listings (empty), then the function's role, its attachments and the policy"
    );

    // down deletes them where they are.
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(aws.iam.get_role().role_name(ROLE).send().await.is_err());
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(legacy_policy_arn())
        .send()
        .await
        .is_err());
    // A new up makes them under the path.
    project.stackctl(&["up"]).ok();
    let role = aws.iam.get_role().role_name(ROLE).send().await.unwrap();
    assert_eq!(role.role().unwrap().arn(), role_arn());
    assert!(aws
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_ok());
}

/// A stage made before IAM paths whose function is gone: nothing names its role, so `ls` (in proportion to
/// the stack) cannot find it; `ls --scan-iam` lists the account and does.
#[tokio::test(flavor = "multi_thread")]
async fn only_ls_scan_iam_finds_an_old_role_and_policy_without_a_function() {
    let emulator = Emulator::start();
    // `ls --all` / `--scan-iam` read other stacks' resources: beyond the generated policy.
    emulator.grant(OPERATOR_USER, LS_ACCOUNT_WIDE);
    let project = Project::new(&emulator);
    let aws = emulator.moto_clients().await;
    make_old_role_and_policy(&aws.iam, "old-role-pr-9", "old-policy-pr-9", Some("pr-9")).await;
    let listing = project.stackctl(&["ls", "--output", "json"]);
    listing.ok();
    assert_eq!(listing.json()["stages"], json!([]));
    let scan = project.stackctl(&["ls", "--scan-iam", "--output", "json"]);
    scan.ok();
    let found = stage_resources(&scan.json(), Some("pr-9"));
    let kinds: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["role", "policy"]);
    let text = project.stackctl(&["ls", "--scan-iam"]);
    text.ok();
    assert!(text.stdout.contains("pr-9: partial"), "{}", text.stdout);
}

/// IAM's policy names are unique in the account whatever their path and case (CreatePolicy:
/// EntityAlreadyExists; the strict proxy's `iam_unique_names`, moto would make a second one): a colleague's
/// policy with the stack's policy name at another path is never read as the stack's, and `up` fails saying
/// where it is and how to fix it, with nothing attached to the role and nothing written to that policy.
#[tokio::test(flavor = "multi_thread")]
async fn a_policy_with_the_stacks_name_at_another_path_is_named_and_never_used() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let aws = emulator.clients().await;
    let theirs = aws
        .iam
        .create_policy()
        .policy_name(POLICY)
        .path("/elsewhere/")
        .policy_document(DOCUMENT)
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string();
    let up = project.stackctl(&["up"]);
    up.expect_code(1);
    assert!(
        up.stderr.contains(&format!("at `{theirs}`")),
        "{}",
        up.stderr
    );
    assert!(
        up.stderr.contains("set another `policy.name`"),
        "{}",
        up.stderr
    );
    let theirs_attached = aws
        .iam
        .list_entities_for_policy()
        .policy_arn(&theirs)
        .send()
        .await
        .unwrap()
        .policy_roles()
        .len();
    assert_eq!(theirs_attached, 0, "their policy was attached");
    let versions = aws
        .iam
        .list_policy_versions()
        .policy_arn(&theirs)
        .send()
        .await
        .unwrap()
        .versions()
        .len();
    assert_eq!(versions, 1, "their policy was written");
}
