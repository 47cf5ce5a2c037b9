//! The function URL when Lambda's answers are lost (the strict proxy applies the change upstream and drops
//! the connection; the SDK sends it again): the repeated CreateFunctionUrlConfig meets the URL it made
//! (409, `url_config_conflict`) and brings it to the wanted config; the repeated DeleteFunctionUrlConfig and
//! RemovePermission find nothing (404, `url_config_not_found`, `permission_sid_conflict`), which is done.
//! AWS answers these so; moto replaces a URL on a second create and deletes a missing one without a word.

use serde_json::json;

use crate::support::*;

const SECTION: &str =
    "\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
    allow_origins = [\"https://app.example.com\"]\nmax_age = 300\n";

fn with_url(project: &Project) {
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        &format!("timeout_secs = 10\n{SECTION}"),
    );
}

/// Every first `ops` request is applied upstream and its answer dropped; the SDK's retry gets through.
fn lose_the_first_answer_of(emulator: &Emulator, ops: &[&str]) {
    emulator.strict().set(json!({
        "drop_rate": 1.0, "drop_after_forward": 1.0, "fault_operations": ops, "max_consecutive_faults": 1
    }));
}

/// The URL config's CORS max age as AWS answers it (through the proxy), or None when there is no URL.
async fn url_max_age(emulator: &Emulator) -> Option<Option<i32>> {
    let aws = emulator.clients().await;
    match aws
        .lambda
        .get_function_url_config()
        .function_name(FUNCTION)
        .send()
        .await
    {
        Ok(out) => Some(out.cors().and_then(|c| c.max_age())),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(err) => panic!("GetFunctionUrlConfig: {err:?}"),
    }
}

/// The Sids in the function's resource policy (none when it has no policy).
async fn sids(emulator: &Emulator) -> Vec<String> {
    let aws = emulator.moto_clients().await;
    let Ok(out) = aws.lambda.get_policy().function_name(FUNCTION).send().await else {
        return Vec::new();
    };
    let policy: serde_json::Value = serde_json::from_str(out.policy().unwrap_or("{}")).unwrap();
    let mut sids: Vec<String> = policy["Statement"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|s| s["Sid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    sids.sort();
    sids
}

/// A function without a URL gets one: the read finds none (404), the create's answer is lost, its retry
/// meets the URL it made (409), and up updates that URL to the wanted config instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_url_whose_create_answer_was_lost_is_brought_to_the_wanted_config() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    with_url(&project);
    lose_the_first_answer_of(&emulator, &["CreateFunctionUrlConfig"]);
    let up = project.stackctl(&["up"]);
    up.ok();
    let strict = emulator.strict();
    assert!(
        strict.injected_by("GetFunctionUrlConfig", "ResourceNotFoundException") >= 1,
        "the read of the missing URL config was not answered 404: {:?}",
        strict.injected()
    );
    assert!(
        strict.injected_by("CreateFunctionUrlConfig", "drop-after-forward") >= 1,
        "no CreateFunctionUrlConfig answer was lost: the test proves nothing"
    );
    assert!(
        strict.injected_by("CreateFunctionUrlConfig", "ResourceConflictException") >= 1,
        "the repeated create did not meet the URL it made"
    );
    assert_eq!(url_max_age(&emulator).await, Some(Some(300)));
    strict.set(json!({"drop_rate": 0.0}));
    project.stackctl(&["plan"]).expect_code(0);
}

/// The section removed: the delete of the URL and the removal of each statement are applied, their answers
/// lost, and their retries answered 404; up takes that as done, and nothing is left.
#[tokio::test(flavor = "multi_thread")]
async fn a_url_and_statements_whose_delete_answers_were_lost_are_gone() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    with_url(&project);
    project.stackctl(&["up"]).ok();
    assert_eq!(sids(&emulator).await.len(), 2);
    project.edit("stack.toml", SECTION, "");
    lose_the_first_answer_of(&emulator, &["DeleteFunctionUrlConfig", "RemovePermission"]);
    let up = project.stackctl(&["up"]);
    up.ok();
    let strict = emulator.strict();
    for op in ["DeleteFunctionUrlConfig", "RemovePermission"] {
        assert!(
            strict.injected_by(op, "drop-after-forward") >= 1,
            "no {op} answer was lost: the test proves nothing"
        );
        assert!(
            strict.injected_by(op, "ResourceNotFoundException") >= 1,
            "the repeated {op} was not answered 404: {:?}",
            strict.injected()
        );
    }
    assert_eq!(url_max_age(&emulator).await, None);
    assert_eq!(sids(&emulator).await, Vec::<String>::new());
    strict.set(json!({"drop_rate": 0.0}));
    project.stackctl(&["plan"]).expect_code(0);
}
