//! The orphan check itself (tests/support/leftovers.rs): it names an orphan of every kind, including the
//! parts that live on a function (its URL config, its resource-policy statements, its reserved concurrency,
//! the stack's tags), and its kinds are the ones stackctl reports.

use std::collections::BTreeSet;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionCode, FunctionUrlAuthType, Runtime};

use crate::support::plan::Kind;
use crate::support::*;

/// Orphans made by hand, one of each kind and one of each part a function carries: the check names every
/// one, and nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn an_orphan_of_every_kind_is_named() {
    let emulator = Emulator::start();
    let moto = emulator.moto_clients().await;
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());

    tagged_stack_table(&moto.dynamodb, "my-frontend-app")
        .send()
        .await
        .unwrap();
    let role = moto
        .iam
        .create_role()
        .role_name("orphan-role")
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await
        .unwrap()
        .role
        .unwrap()
        .arn;
    moto.iam
        .create_policy()
        .policy_name("orphan-policy")
        .policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"dynamodb:GetItem","Resource":"*"}]}"#,
        )
        .send()
        .await
        .unwrap();
    moto.logs
        .create_log_group()
        .log_group_name("/aws/lambda/orphan-fn")
        .tags("stackctl:stack", "my-frontend-app")
        .send()
        .await
        .unwrap();
    moto.lambda
        .create_function()
        .function_name("orphan-fn")
        .role(role)
        .runtime(Runtime::Nodejs24x)
        .handler("index.handler")
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(tiny_zip("exports.handler = async () => 1;")))
                .build(),
        )
        .tags("stackctl:concurrency", "my-frontend-app")
        .tags("owner", "someone")
        .send()
        .await
        .unwrap();
    moto.lambda
        .put_function_concurrency()
        .function_name("orphan-fn")
        .reserved_concurrent_executions(3)
        .send()
        .await
        .unwrap();
    moto.lambda
        .create_function_url_config()
        .function_name("orphan-fn")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    moto.lambda
        .add_permission()
        .function_name("orphan-fn")
        .statement_id("stackctl-my-frontend-app-public-url")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();
    let pool = moto
        .cognito
        .create_user_pool()
        .pool_name("orphan-users")
        .user_pool_tags("stackctl:stack", "my-frontend-app")
        .send()
        .await
        .unwrap();
    moto.cognito
        .create_user_pool_client()
        .user_pool_id(pool.user_pool().unwrap().id().unwrap())
        .client_name("orphan-client")
        .send()
        .await
        .unwrap();
    publish_and_alias(&moto.lambda, "orphan-fn", "live", None).await;

    let left = leftovers(&emulator).await;
    assert_eq!(
        left,
        vec![
            "alias orphan-fn live",
            "function orphan-fn",
            "function orphan-fn reserved_concurrency=3",
            "function orphan-fn tag stackctl:concurrency=my-frontend-app",
            "function_url orphan-fn",
            "function_url orphan-fn permission stackctl-my-frontend-app-public-url",
            "log_group /aws/lambda/orphan-fn",
            "log_group /aws/lambda/orphan-fn tag stackctl:stack=my-frontend-app",
            "policy orphan-policy",
            "role orphan-role",
            "table my-frontend-app-data",
            "table my-frontend-app-data tag stackctl:stack=my-frontend-app",
            "user_pool orphan-users",
            "user_pool orphan-users tag stackctl:stack=my-frontend-app",
            "user_pool_client orphan-client in orphan-users",
        ]
    );
    // Every kind of the graph had an orphan above, and each was named under that kind.
    assert_eq!(kinds_named(&left), Kind::ALL.iter().copied().collect());
}

/// What `up` makes when stack.toml asks for everything is named by the check, under the kind and name
/// stackctl reports for it (`status --output json`), for every kind stackctl has; after `down --confirm`
/// nothing is.
#[tokio::test(flavor = "multi_thread")]
async fn every_kind_stackctl_reports_is_checked_and_down_leaves_none() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    ask_for_every_kind(&project);
    // The managed pool and its client: kinds only a stack with `[auth] cognito = true` has; the alias:
    // only with `[function.deploy]`. (With [auth] the public URL verifies tokens: `allow_anonymous` would
    // contradict it.)
    project.write(
        "stack.toml",
        &(project
            .read("stack.toml")
            .replace("allow_anonymous = true\n", "")
            .replace(
                "[function.environment]",
                "[function.deploy]\nverify = \"none\"\n\n[function.environment]",
            )
            + "\n[auth]\ncognito = true\n"),
    );
    project.stackctl(&["up"]).ok();

    let status = project.stackctl(&["status", "--output", "json"]);
    status.ok();
    let reported: Vec<(String, String)> = status.json()["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // stackctl's kinds are the check's kinds: one that stackctl reports and the check does not know would
    // be a kind whose orphans nobody looks for.
    let stackctl_kinds: BTreeSet<&str> = reported.iter().map(|(k, _)| k.as_str()).collect();
    let checked_kinds: BTreeSet<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(stackctl_kinds, checked_kinds);

    let left = leftovers(&emulator).await;
    for (kind, name) in &reported {
        // A client is named with its pool (`<kind> <name> in <pool>`), an alias with its function
        // (`alias <function> <alias>`).
        assert!(
            left.iter().any(|l| *l == format!("{kind} {name}")
                || l.starts_with(&format!("{kind} {name} in "))
                || (kind == "alias" && l.starts_with(&format!("{kind} {name} ")))),
            "{kind} {name} is not named by the check: {left:#?}"
        );
    }
    for part in [
        format!("function {FUNCTION} reserved_concurrency=5"),
        format!("function_url {FUNCTION} permission stackctl-my-frontend-app-public-url"),
        format!("function_url {FUNCTION} permission stackctl-my-frontend-app-public-url-invoke"),
    ] {
        assert!(left.contains(&part), "{part} missing: {left:#?}");
    }

    // The alias serves a version: data, so --delete-data.
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    assert_eq!(leftovers(&emulator).await, Vec::<String>::new());
}

/// The kinds the entries are named under (`<kind> <name> ...`).
fn kinds_named(left: &[String]) -> BTreeSet<Kind> {
    left.iter()
        .map(|entry| {
            let kind = entry.split(' ').next().unwrap();
            *Kind::ALL
                .iter()
                .find(|k| k.as_str() == kind)
                .unwrap_or_else(|| panic!("{entry}: not a kind of stackctl's"))
        })
        .collect()
}
