//! `stackctl policy` (issue 26): the committed operator policy is its output for the repo's stack file (so
//! every integration test runs under the generated policy), a user holding only the output for a stack with a
//! URL, a versioned deploy and a Cognito pool deploys, checks, rolls back and removes it and two stages
//! with nothing refused, and the same user is refused another stack's table and role by their names.

use std::process::Command;

use aws_sdk_iam::error::ProvideErrorMetadata;
use serde_json::{json, Value};

use crate::support::*;

/// The URL, the versioned deploy (no verify: this is about permissions) and the managed pool.
const FEATURES: &str =
    "[function.url]\nauth = \"none\"\n\n[function.deploy]\nalias = \"live\"\nverify = \"none\"\n\n\
                        [auth]\ncognito = true\n\n[function.environment]";

#[test]
fn the_committed_operator_policy_is_stackctl_policys_output_for_the_repo_stack() {
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("policy")
        .current_dir(REPO)
        .env_remove("STACKCTL_FILE")
        .env_remove("STACKCTL_STAGE")
        .output()
        .expect("running stackctl policy");
    let run = Run::from(output);
    run.ok();
    assert!(
        run.stdout == operator_policy(),
        "policies/stackctl-operator-policy.json is not `stackctl policy`'s output for stack.toml; regenerate it: \
         cargo run -q -- policy > policies/stackctl-operator-policy.json"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_deploys_every_stage_and_is_refused_another_stacks_names() {
    let emulator = Emulator::start();
    emulator.strict().set(json!({"lambda_versions": true}));
    let project = Project::new(&emulator);
    project.edit("stack.toml", "[function.environment]", FEATURES);
    let deployer = emulator.user("deployer", &[project.generated_policy(&[])]);

    for stage in [None, Some("pr-1"), Some("pr-2")] {
        let with = |args: &[&'static str]| -> Vec<String> {
            let mut all: Vec<String> = stage
                .map(|s| vec!["--stage".to_string(), s.to_string()])
                .unwrap_or_default();
            all.extend(args.iter().map(|a| a.to_string()));
            all
        };
        let run = |args: &[&'static str]| {
            let args = with(args);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = project.run_as(&deployer, &args);
            assert_eq!(run.code, 0, "{args:?}: {}\n{}", run.stdout, run.stderr);
            run
        };
        run(&["up"]);
        run(&["status"]);
        run(&["smoke"]);
        // A second version to roll back from.
        project.edit("stack.toml", "memory_mb = 128", "memory_mb = 256");
        run(&["up"]);
        run(&["rollback"]);
        project.edit("stack.toml", "memory_mb = 256", "memory_mb = 128");
        run(&["down", "--confirm", "--delete-data"]);
        let refused = emulator.denials_of(&deployer);
        assert!(refused.is_empty(), "stage {stage:?}: {refused:#?}");
    }

    // Another stack, deployed by the account's root: the deployer may neither change nor remove it.
    let other = project
        .read("stack.toml")
        .replace("my-frontend-app", "other-app")
        .replace("MyFrontendApp", "OtherApp");
    project.write("other.toml", &other);
    project
        .run_as(&Keys::root(), &["-f", "other.toml", "up"])
        .ok();
    let actions: Vec<String> = serde_json::from_str::<Value>(&project.generated_policy(&[]))
        .unwrap()["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for args in [
        &["-f", "other.toml", "up"][..],
        &["-f", "other.toml", "down", "--confirm", "--delete-data"][..],
    ] {
        let mark = emulator.mark();
        let before = emulator.denials_of(&deployer).len();
        let run = project.run_as(&deployer, args);
        run.expect_code(1);
        // The refusal is recorded by the emulator's IAM check (the proof), and stackctl names it below.
        let denials = emulator.denials_of(&deployer);
        let refused: Vec<&str> = denials[before..]
            .iter()
            .filter_map(|d| d["action"].as_str())
            .collect();
        assert!(
            !refused.is_empty(),
            "{args:?} was not refused: {}",
            run.stderr
        );
        assert!(run.stderr.contains("other-app"), "{}", run.stderr);
        // The refusal is named, with the action, and the fix.
        run.assert_names_refusal(&refused);
        assert!(
            emulator.writes_since(mark).is_empty(),
            "{args:?} changed something: {:?}",
            emulator.writes_since(mark)
        );
    }
    // Refused by the names, not for a missing action: every refused action is one the policy grants.
    let refused = emulator.denials_of(&deployer);
    assert!(!refused.is_empty());
    for denial in &refused {
        let action = denial["action"].as_str().unwrap();
        assert!(actions.iter().any(|a| a == action), "{denial}");
        assert!(
            denial["resource"].as_str().unwrap().contains("other-app"),
            "{denial}"
        );
    }
    // Its table and role are still there.
    let aws = emulator.moto_clients().await;
    aws.dynamodb
        .describe_table()
        .table_name("other-app-data")
        .send()
        .await
        .expect("the other stack's table is kept");
    let roles = aws.iam.list_roles().send().await.unwrap();
    assert!(
        roles
            .roles()
            .iter()
            .any(|r| r.role_name() == "other-app-lambda-role"),
        "{roles:?}"
    );
}

/// `stackctl policy` with its flags, in the repository (no AWS, no credentials).
fn policy(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("policy")
        .args(args)
        .current_dir(REPO)
        .env_remove("STACKCTL_FILE")
        .env_remove("STACKCTL_STAGE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running stackctl policy");
    Run::from(output)
}

#[test]
fn github_prints_permissions_and_trust_and_bad_values_exit_64_with_nothing_printed() {
    let run = policy(&[
        "--github",
        "octo-org/api:production",
        "--account",
        "123456789012",
    ]);
    run.ok();
    let both = run.json();
    assert_eq!(
        both["trust"]["Statement"][0]["Condition"]["StringEquals"]
            ["token.actions.githubusercontent.com:sub"],
        "repo:octo-org/api:environment:production"
    );
    // The same identity policy as without --github, the account filled in.
    let alone = policy(&["--account", "123456789012"]);
    alone.ok();
    assert_eq!(both["permissions"], alone.json());
    assert!(alone
        .stdout
        .contains("arn:aws:iam::123456789012:role/stackctl/my-frontend-app/*"));
    for (args, names) in [
        (&["--github", "octo-org/api*"][..], "--github"),
        (
            &[
                "--github",
                "octo-org/api:prod:x",
                "--account",
                "123456789012",
            ],
            "--github",
        ),
        (&["--github", "octo-org/api"], "--account"),
        (&["--account", "12"], "--account"),
    ] {
        let run = policy(args);
        run.expect_code(64);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.contains(names) && run.stderr.contains("fix:"),
            "{args:?}: {}",
            run.stderr
        );
    }
}

/// The security review's escalations: attach and detach are limited by iam:PolicyARN to the stack's own
/// policies (and its `role.managed_policies`), so the holder cannot give a role under the stack's path
/// AdministratorAccess, nor detach another user's policy (a Deny guardrail, or an admin's grant).
#[tokio::test(flavor = "multi_thread")]
async fn the_generated_policy_refuses_attaching_or_detaching_policies_not_the_stacks() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let deployer = emulator.user("deployer", &[project.generated_policy(&[])]);
    let root = emulator.moto_clients().await;
    root.iam
        .create_role()
        .role_name("my-frontend-app-escalate")
        .path("/stackctl/my-frontend-app/")
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap();
    let guardrail = root
        .iam
        .create_policy()
        .policy_name("guardrail")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let guardrail = guardrail.policy().unwrap().arn().unwrap().to_string();
    root.iam
        .create_user()
        .user_name("someone")
        .send()
        .await
        .unwrap();
    root.iam
        .attach_user_policy()
        .user_name("someone")
        .policy_arn(&guardrail)
        .send()
        .await
        .unwrap();

    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config_as(&deployer).await);
    let attach = iam
        .attach_role_policy()
        .role_name("my-frontend-app-escalate")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send();
    answered(&emulator, &deployer, attach, Some("iam:AttachRolePolicy")).await;
    let detach = iam
        .detach_user_policy()
        .user_name("someone")
        .policy_arn(&guardrail)
        .send();
    answered(&emulator, &deployer, detach, Some("iam:DetachUserPolicy")).await;
    // Nothing changed: the role holds no policy, the user still its guardrail.
    let on_role = root
        .iam
        .list_attached_role_policies()
        .role_name("my-frontend-app-escalate")
        .send()
        .await
        .unwrap();
    assert!(on_role.attached_policies().is_empty(), "{on_role:?}");
    let on_user = root
        .iam
        .list_attached_user_policies()
        .user_name("someone")
        .send()
        .await
        .unwrap();
    assert_eq!(on_user.attached_policies().len(), 1);

    // The stack's own policy the same holder may attach to that role and detach again.
    let own = root
        .iam
        .create_policy()
        .policy_name("MyFrontendAppLambdaDynamoDB")
        .path("/stackctl/my-frontend-app/")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let own = own.policy().unwrap().arn().unwrap().to_string();
    let attach = iam
        .attach_role_policy()
        .role_name("my-frontend-app-escalate")
        .policy_arn(&own)
        .send();
    answered(&emulator, &deployer, attach, None).await;
    let detach = iam
        .detach_role_policy()
        .role_name("my-frontend-app-escalate")
        .policy_arn(&own)
        .send();
    answered(&emulator, &deployer, detach, None).await;
}

/// Sends `call` as `keys`: with `refused`, IAM refuses it as AWS does (AccessDenied) and the emulator's
/// enforcement logs exactly one more denial to `keys`, of that action (the proof of which check refused it);
/// without, it succeeds and nothing more is refused.
async fn answered<T: std::fmt::Debug, E: ProvideErrorMetadata + std::fmt::Debug>(
    emulator: &Emulator,
    keys: &Keys,
    call: impl std::future::Future<Output = Result<T, E>>,
    refused: Option<&str>,
) {
    let before = emulator.denials_of(keys).len();
    let answer = call.await;
    let denials = emulator.denials_of(keys);
    let new: Vec<&str> = denials[before..]
        .iter()
        .map(|d| d["action"].as_str().unwrap_or_default())
        .collect();
    match refused {
        Some(action) => {
            let code = answer.as_ref().err().and_then(|e| e.code());
            assert_eq!(code, Some("AccessDenied"), "{action}: {answer:?}");
            assert_eq!(new, [action], "{answer:?}");
        }
        None => {
            assert!(answer.is_ok(), "{answer:?}");
            assert!(new.is_empty(), "{new:?}");
        }
    }
}
