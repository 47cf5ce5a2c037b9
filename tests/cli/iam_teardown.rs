//! `down` against IAM as it is on AWS and not on moto alone: a role still in an instance profile, DeleteRole
//! refused while the detaches propagate, and lists that come in pages.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::strict;
use crate::support::*;

const XRAY: &str = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess";

/// A role-propagation limit short enough that a `down` which can never delete the role fails in seconds
/// (the default is 120 s), and long enough for every propagation window these tests inject.
fn short_role_timeout(project: &Project) {
    let stack = project.read("stack.toml");
    project.write(
        "stack.toml",
        &format!("{stack}\n[timeouts]\nrole_propagation_secs = 15\n"),
    );
}

async fn role_exists(emulator: &Emulator) -> bool {
    emulator
        .moto_clients()
        .await
        .iam
        .get_role()
        .role_name(ROLE)
        .send()
        .await
        .is_ok()
}

/// The client requests after `mark` that got the HTTP status `status`, as "Operation resource".
fn answered_with(emulator: &Emulator, mark: u64, status: u64) -> Vec<String> {
    emulator
        .strict()
        .requests_json()
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap_or(0) > mark && r["status"].as_u64() == Some(status))
        .map(|r| format!("{} {}", r["op"].as_str().unwrap_or(""), r["resource"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn down_takes_the_role_out_of_its_instance_profiles_first() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    short_role_timeout(&project);
    project.stackctl(&["up"]).ok();
    // Someone put the stack's role into an instance profile (e.g. to use it from EC2 as well).
    let aws = emulator.clients().await;
    aws.iam
        .create_instance_profile()
        .instance_profile_name("ec2-profile")
        .send()
        .await
        .unwrap();
    aws.iam
        .add_role_to_instance_profile()
        .instance_profile_name("ec2-profile")
        .role_name(ROLE)
        .send()
        .await
        .unwrap();

    let mark = emulator.mark();
    let run = project.stackctl(&["down", "--confirm"]);
    run.ok();
    assert!(run.stdout.contains("down: 5 deleted"), "{}", run.stdout);
    assert!(!role_exists(&emulator).await);
    // The profile is not the stack's: it stays, without the role.
    let moto = emulator.moto_clients().await;
    let profile = moto
        .iam
        .get_instance_profile()
        .instance_profile_name("ec2-profile")
        .send()
        .await
        .expect("the instance profile is left alone")
        .instance_profile
        .unwrap();
    assert!(profile.roles().is_empty(), "{:?}", profile.roles());
    // In an order IAM accepts: no DeleteRole was refused (moto refuses one while the role is in a profile).
    assert_eq!(
        answered_with(&emulator, mark, 409),
        Vec::<String>::new(),
        "{:?}",
        emulator.strict().injected()
    );
    let ops = emulator.writes_since(mark);
    let position = |op: &str| ops.iter().position(|o| o == op).unwrap();
    assert!(
        position("RemoveRoleFromInstanceProfile") < position("DeleteRole"),
        "{ops:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn down_retries_delete_role_while_the_detaches_propagate() {
    // IAM (the proxy) refuses DeleteRole until the test says the detach has propagated: after three refusals.
    let emulator = Emulator::start_with(strict::detach_propagation(600_000), 11);
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    emulator.strict().clear_log();
    let mark = emulator.mark();
    let mut down = project
        .command(&["down", "--confirm"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running stackctl down");
    let deadline = Instant::now() + Duration::from_secs(120);
    while emulator.strict().injected_count("DeleteConflict") < 3 {
        if let Some(status) = down.try_wait().unwrap() {
            let out = Run::from(down.wait_with_output().unwrap());
            panic!(
                "stackctl ended ({status}) first:\n{}\n{}",
                out.stdout, out.stderr
            );
        }
        assert!(
            Instant::now() < deadline,
            "down never tried DeleteRole three times: {:?}",
            emulator.strict().injected()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    emulator
        .strict()
        .set(json!({"role_detach_propagation_ms": null}));
    let run = Run::from(down.wait_with_output().unwrap());
    run.ok();
    assert!(run.stdout.contains("down: 5 deleted"), "{}", run.stdout);
    assert!(!role_exists(&emulator).await);
    // Every refused DeleteRole was tried again, and the first one IAM accepted was the last.
    let refused = emulator.strict().injected_count("DeleteConflict");
    let deletes: Vec<u64> = emulator
        .strict()
        .requests_json()
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap_or(0) > mark && r["op"] == "DeleteRole")
        .map(|r| r["t_ms"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(deletes.len(), refused + 1, "{deletes:?}");
    // Spaced by the pause (about a second), not a tight loop: a lower bound, which no slow machine breaks.
    for pair in deletes.windows(2) {
        assert!(
            pair[1] - pair[0] >= 900,
            "DeleteRole tried again after {} ms: {deletes:?}",
            pair[1] - pair[0]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_role_conflict_that_outlasts_the_limit_is_an_error_that_says_so() {
    let emulator = Emulator::start_with(strict::detach_propagation(600_000), 12);
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();

    let mark = emulator.mark();
    let run = project.stackctl(&["down", "--confirm", "--wait-timeout", "3"]);
    run.expect_code(1);
    assert!(
        run.stderr.contains("still refused after") && run.stderr.contains("--wait-timeout"),
        "{}",
        run.stderr
    );
    // It gave up on the 3 s limit, not the default 120 s: a try about once a second fits at
    // most four into 3 s, however slow the machine (a slower one fits fewer).
    assert!(run.stderr.contains("(limit 3s)"), "{}", run.stderr);
    let deletes = emulator
        .requests_since(mark)
        .iter()
        .filter(|r| r.operation == "DeleteRole")
        .count();
    assert!((1..=4).contains(&deletes), "{deletes} DeleteRole requests");
    assert!(role_exists(&emulator).await);

    // Once IAM has caught up, the next down finishes the job.
    emulator
        .strict()
        .set(json!({"role_detach_propagation_ms": null}));
    project.stackctl(&["down", "--confirm"]).ok();
    assert!(!role_exists(&emulator).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_page_of_the_iam_lists_is_followed_in_up_and_down() {
    let emulator = Emulator::start_with(strict::iam_pages(1), 13);
    let project = Project::new(&emulator);
    short_role_timeout(&project);
    project.edit(
        "stack.toml",
        &format!("managed_policies = [\"{BASIC_EXECUTION}\"]"),
        &format!("managed_policies = [\"{BASIC_EXECUTION}\", \"{XRAY}\"]"),
    );
    // The operator holds the policy generated for the repo's stack.toml: attach/detach are limited by
    // iam:PolicyARN to its managed policies, so the extra one is granted as `stackctl policy` would for this
    // edited file.
    emulator.grant(
        OPERATOR_USER,
        &format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":["iam:AttachRolePolicy","iam:DetachRolePolicy"],"Resource":"*","Condition":{{"ArnLike":{{"iam:PolicyARN":"{XRAY}"}}}}}}]}}"#
        ),
    );
    project.stackctl(&["up"]).ok();
    // Three managed policies on the role (two AWS-managed and the stack's), each on a page of its own: a
    // second up finds them all and has nothing to do.
    let mark = emulator.mark();
    let again = project.stackctl(&["up"]);
    again.ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );

    // Someone added two inline policies to the role, attached the stack's policy to a user and a group, and
    // filled its versions up to IAM's limit of five.
    let aws = emulator.clients().await;
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    for inline in ["inline-a", "inline-b"] {
        aws.iam
            .put_role_policy()
            .role_name(ROLE)
            .policy_name(inline)
            .policy_document(document)
            .send()
            .await
            .unwrap();
    }
    aws.iam
        .create_user()
        .user_name("someone")
        .send()
        .await
        .unwrap();
    aws.iam
        .attach_user_policy()
        .user_name("someone")
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    aws.iam
        .create_group()
        .group_name("some-group")
        .send()
        .await
        .unwrap();
    aws.iam
        .attach_group_policy()
        .group_name("some-group")
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap();
    for _ in 0..4 {
        aws.iam
            .create_policy_version()
            .policy_arn(policy_arn())
            .policy_document(document)
            .send()
            .await
            .unwrap();
    }

    // A changed document at five versions: up must see all five to delete the oldest first.
    project.edit(
        "policies/lambda-dynamodb-policy.json",
        "\"dynamodb:UpdateItem\"",
        "\"dynamodb:UpdateItem\", \"dynamodb:Scan\"",
    );
    project.stackctl(&["up"]).ok();

    emulator.strict().clear_log();
    let mark = emulator.mark();
    let run = project.stackctl(&["down", "--confirm"]);
    run.ok();
    assert!(run.stdout.contains("down: 5 deleted"), "{}", run.stdout);
    // Each of the four lists came in more than one page, and nothing was refused: every page was followed
    // before the delete that needed it.
    let log = emulator.strict().injected();
    for op in [
        "ListRolePolicies",
        "ListAttachedRolePolicies",
        "ListEntitiesForPolicy",
        "ListPolicyVersions",
    ] {
        assert!(
            log.iter()
                .any(|e| e["op"] == op && e["injected"] == "IsTruncated=true"),
            "{op} was never answered in pages: {log:?}"
        );
    }
    assert_eq!(
        answered_with(&emulator, mark, 409),
        Vec::<String>::new(),
        "{log:?}"
    );
    assert_eq!(emulator.strict().injected_count("DeleteConflict"), 0);

    // Nothing of the stack is left; the user and the group stay, without the policy.
    let moto = emulator.moto_clients().await;
    assert!(!role_exists(&emulator).await);
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
    let user = moto
        .iam
        .list_attached_user_policies()
        .user_name("someone")
        .send()
        .await
        .unwrap();
    assert!(user.attached_policies().is_empty());
    let group = moto
        .iam
        .list_attached_group_policies()
        .group_name("some-group")
        .send()
        .await
        .unwrap();
    assert!(group.attached_policies().is_empty());
    for arn in [BASIC_EXECUTION, XRAY] {
        assert!(moto.iam.get_policy().policy_arn(arn).send().await.is_ok());
    }
    project.stackctl(&["down", "--confirm"]).ok();
}
