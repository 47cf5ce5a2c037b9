//! The generator's unit tests: patterns for stages and overlays, determinism, --github.

use std::path::{Path, PathBuf};

use super::github::{trust, Repo};
use super::names::glob;
use super::*;

const TODAY: &str = "2026-01-01";

fn repo_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("stack.toml")
}

/// The repo's stack file, edited, in a directory with its policy files (the file names them).
fn edited(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::create_dir_all(dir.path().join("lambda")).unwrap();
    for file in [
        "policies/lambda-trust-policy.json",
        "policies/lambda-dynamodb-policy.json",
    ] {
        std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
    }
    let text = edit(std::fs::read_to_string(repo_file()).unwrap());
    let path = dir.path().join("stack.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn names(path: &Path, region: Option<&str>) -> Names {
    Names::of_file(path, region, None, TODAY).unwrap()
}

#[test]
fn the_repo_file_covers_the_base_names_any_stage_and_prods_overlay() {
    let n = names(&repo_file(), None);
    assert_eq!(n.tables, ["my-frontend-app-data", "my-frontend-app-data-*"]);
    assert_eq!(
        n.functions,
        ["my-frontend-app-api", "my-frontend-app-api-*"]
    );
    assert_eq!(
        n.log_groups,
        [
            "/aws/lambda/my-frontend-app-api",
            "/aws/lambda/my-frontend-app-api-*"
        ]
    );
    // prod's overlay names (`...-${stage}-${region}`) are already `<name>-*`: pruned.
    assert_eq!(
        n.roles,
        [
            "my-frontend-app-lambda-role",
            "my-frontend-app-lambda-role-*"
        ]
    );
    assert_eq!(n.stacks, ["my-frontend-app"]);
    assert_eq!(
        (n.regions.as_slice(), n.account.as_str()),
        (&["*".to_string()][..], "*")
    );
}

#[test]
fn a_name_writing_stage_becomes_a_pattern_there_and_an_overlay_name_is_kept_exactly() {
    let (_dir, path) = edited(|t| {
        t.replace(
            "name = \"my-frontend-app-data\"",
            "name = \"data-${stage}-store\"",
        ) + "\n[stages.live]\nfunction.name = \"live-api\"\n"
    });
    let n = names(&path, Some("eu-west-1"));
    // No stage-less deploy (the table's name needs a stage), so no stage-less names; the overlay's name gets
    // its stage as every name does.
    assert_eq!(n.tables, ["data-*-store"]);
    assert_eq!(n.functions, ["my-frontend-app-api-*", "live-api-live"]);
    assert_eq!(n.regions, ["eu-west-1"]);
    let document = document(&n);
    let text = render(&document);
    assert!(
        text.contains("arn:aws:dynamodb:eu-west-1:*:table/data-*-store"),
        "{text}"
    );
    assert!(
        text.contains("arn:aws:lambda:eu-west-1:*:function:live-api-live:*"),
        "{text}"
    );
}

#[test]
fn the_document_is_the_same_bytes_every_time_and_sids_are_unique() {
    let first = render(&document(&names(&repo_file(), None)));
    let second = render(&document(&names(&repo_file(), None)));
    assert_eq!(first, second);
    let value: serde_json::Value = serde_json::from_str(&first).unwrap();
    let sids: Vec<&str> = value["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap())
        .collect();
    let mut unique = sids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), sids.len(), "{sids:?}");
    // `*` only where AWS names no resource type, or for the account.
    for statement in value["Statement"].as_array().unwrap() {
        let resources = statement["Resource"].as_array().unwrap();
        if resources.iter().any(|r| r == "*") {
            assert!(
                [
                    "TableBackupList",
                    "LambdaConcurrencyPool",
                    "LogGroupDescribe",
                    "UserPoolFind",
                    "FindStages",
                    "WhoAmI"
                ]
                .contains(&statement["Sid"].as_str().unwrap()),
                "{statement}"
            );
        }
    }
}

#[test]
fn owned_pools_are_those_tagged_with_this_stack() {
    let value = document(&names(&repo_file(), None));
    let owned = value["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == "UserPoolOwned")
        .unwrap();
    assert_eq!(
        owned["Condition"],
        serde_json::json!({"StringEquals": {"aws:ResourceTag/stackctl:stack": ["my-frontend-app"]}})
    );
    assert!(owned["Action"]
        .as_array()
        .unwrap()
        .contains(&"cognito-idp:CreateUserPoolClient".into()));
}

#[test]
fn glob_matches_as_iam_does() {
    assert!(glob("a-*", "a-b"));
    assert!(glob("a-*", "a-"));
    assert!(!glob("a-*", "a"));
    assert!(glob("function:a-*", "function:a-*:*"));
    assert!(!glob("function:a", "function:a:*"));
    assert!(glob("x*y*z", "xAyByz"));
}

#[test]
fn github_values_are_checked_and_the_sub_never_matches_another_repository() {
    let repo = Repo::parse("octo-org/api").unwrap();
    assert_eq!(repo.subject(), "repo:octo-org/api:*");
    assert!(!glob(
        &repo.subject(),
        "repo:octo-org/api-evil:ref:refs/heads/main"
    ));
    assert!(glob(
        &repo.subject(),
        "repo:octo-org/api:ref:refs/heads/main"
    ));
    let env = Repo::parse("octo-org/my.api_2:production").unwrap();
    assert_eq!(
        env.subject(),
        "repo:octo-org/my.api_2:environment:production"
    );
    for bad in [
        "",
        "octo",
        "/api",
        "octo/",
        "oc*to/api",
        "octo/ap?i",
        "octo/api:",
        "octo/api:pr*d",
        "octo/api:a:b",
        "octo/../x",
        "octo/..",
        "octo/a b",
    ] {
        assert!(Repo::parse(bad).is_err(), "{bad}");
    }
    let (message, fix) = Repo::parse("octo/api*").unwrap_err();
    assert!(message.contains("api*"), "{message}");
    assert!(fix.contains("OWNER/REPO"), "{fix}");
}

#[test]
fn the_trust_policy_names_the_provider_audience_and_subject() {
    let with_env = trust(&Repo::parse("o/r:prod").unwrap(), "123456789012");
    let statement = &with_env["Statement"][0];
    assert_eq!(
        statement["Principal"]["Federated"],
        "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    );
    assert_eq!(statement["Action"], "sts:AssumeRoleWithWebIdentity");
    assert_eq!(
        statement["Condition"],
        serde_json::json!({"StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": "repo:o/r:environment:prod"
        }})
    );
    let any_job = trust(&Repo::parse("o/r").unwrap(), "123456789012");
    assert_eq!(
        any_job["Statement"][0]["Condition"]["StringLike"],
        serde_json::json!({"token.actions.githubusercontent.com:sub": "repo:o/r:*"})
    );
}

/// A name that begins with `${stage}` would need a pattern beginning with `*` (every function or table of
/// the account), and a name holding the stand-in stage would be widened with it: both refused, exit 64.
#[test]
fn names_that_would_widen_the_policy_beyond_the_stack_are_refused() {
    for (from, to, field) in [
        (
            "name = \"my-frontend-app-api\"",
            "name = \"${stage}\"",
            "function.name",
        ),
        (
            "name = \"my-frontend-app-data\"",
            "name = \"${stage}x\"",
            "table.name",
        ),
        (
            "name = \"my-frontend-app-api\"",
            "name = \"fooqzq0\"",
            "stack",
        ),
    ] {
        let (_dir, path) = edited(|text| text.replace(from, to));
        let err = Names::of_file(&path, None, None, TODAY).unwrap_err();
        assert_eq!(err.field.as_deref(), Some(field), "{to}: {err}");
        assert!(err.fix.is_some(), "{err}");
    }
    // Every resource of the repo's policy begins with fixed text after its type.
    let text = render(&document(&names(&repo_file(), None)));
    for wide in ["function:*", "table/*", "log-group:/aws/lambda/*\""] {
        assert!(!text.contains(wide), "{wide} in {text}");
    }
}

/// Only DescribeUserPool reaches a pool that is not the stack's (to see its tags and refuse it): its app
/// clients, whose description answers a client's secret, are read only in pools tagged as this stack's.
#[test]
fn a_pools_clients_are_read_only_in_the_stacks_own_pools() {
    let doc = document(&names(&repo_file(), None));
    for statement in doc["Statement"].as_array().unwrap() {
        let actions: Vec<&str> = match &statement["Action"] {
            serde_json::Value::String(one) => vec![one.as_str()],
            many => many
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect(),
        };
        let reads_clients = actions.iter().any(|a| {
            *a == "cognito-idp:DescribeUserPoolClient" || *a == "cognito-idp:ListUserPoolClients"
        });
        if reads_clients {
            assert!(statement["Condition"].is_object(), "{statement}");
        }
    }
}
