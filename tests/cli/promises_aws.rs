//! README promises about what stackctl does in the account that nothing else tests (issue 21 item 8): `logs`
//! with a closed stdout and giving up after its pauses, the role re-attaching a detached managed policy, a role
//! kept while a function the stack did not create uses it, the region tag added to older IAM resources, and
//! `invoke --url`'s CORS warning.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::json;

use crate::promises::run_bounded;
use crate::support::*;

const GROUP: &str = "/aws/lambda/my-frontend-app-api";
const STREAM: &str = "2026/12/02/[$LATEST]cccccccc0123456789abcdef01234567";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Writes `messages` (now, in order) into the function's log group, creating the group and stream when
/// missing, as Lambda does; straight to moto, so the proxy's record holds stackctl's requests only.
async fn put(emulator: &Emulator, messages: &[&str]) {
    let logs = emulator.moto_clients().await.logs;
    let _ = logs.create_log_group().log_group_name(GROUP).send().await;
    let _ = logs
        .create_log_stream()
        .log_group_name(GROUP)
        .log_stream_name(STREAM)
        .send()
        .await;
    let ms = now_ms() - 1_000;
    let mut request = logs
        .put_log_events()
        .log_group_name(GROUP)
        .log_stream_name(STREAM);
    for (i, message) in messages.iter().enumerate() {
        request = request.log_events(
            InputLogEvent::builder()
                .timestamp(ms + i as i64)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.expect("PutLogEvents");
}

fn filter_calls_since(emulator: &Emulator, mark: u64) -> usize {
    emulator
        .requests_since(mark)
        .iter()
        .filter(|r| r.operation == "FilterLogEvents")
        .count()
}

/// README `logs`: "a closed stdout, as in `stackctl logs | head`, ends it quietly with 0; under `--follow`,
/// when the next event is written".
#[tokio::test(flavor = "multi_thread")]
async fn logs_ends_quietly_with_0_on_a_closed_stdout() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    put(&emulator, &["first", "second", "third"]).await;
    let run = run_bounded(
        with_closed_stdout(&project.command(&["logs"])),
        Duration::from_secs(60),
        "stackctl logs | (closed)",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
    assert!(!run.stderr.contains("Broken pipe"), "{}", run.stderr);

    // --follow: it keeps polling while nothing is written, and ends with 0 once an event is.
    let logs = emulator.moto_clients().await.logs;
    logs.delete_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    logs.create_log_group()
        .log_group_name(GROUP)
        .send()
        .await
        .unwrap();
    let mark = emulator.mark();
    let mut child = with_closed_stdout(&project.command(&["logs", "--follow"]))
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = Arc::new(Mutex::new(String::new()));
    let sink = stderr.clone();
    let pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&(line + "\n"));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while filter_calls_since(&emulator, mark) < 3 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "--follow ended with nothing written:\n{}",
            stderr.lock().unwrap()
        );
        assert!(Instant::now() < deadline, "--follow is not polling");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(child.try_wait().unwrap().is_none());
    put(&emulator, &["now something"]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "--follow did not end after writing to a closed stdout:\n{}",
                stderr.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    reader.join().unwrap();
    let stderr = stderr.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
}

/// README `logs`: "A throttled read (ThrottlingException, a 5xx or a lost or timed-out connection, after the
/// SDK's own retries) is asked for again, same page, after a pause that doubles from 0.5 s up to 15 s, with one
/// note on stderr; without `--follow` it gives up after 8 such pauses in a row (about a minute, exit 1)". With
/// one SDK attempt per read and every FilterLogEvents throttled: 9 reads (the first and one after each of the 8
/// pauses), then exit 1. (About a minute, as the README says.)
#[tokio::test(flavor = "multi_thread")]
async fn logs_gives_up_after_8_pauses_with_exit_1() {
    let emulator = Emulator::start_with(
        strict::merge(
            strict::realistic(),
            json!({"throttle_rate": 1.0, "fault_operations": ["FilterLogEvents"]}),
        ),
        21,
    );
    let project = Project::new(&emulator);
    put(&emulator, &["unreadable"]).await;
    let mark = emulator.mark();
    let run = project.stackctl_with(&["logs"], &[("AWS_MAX_ATTEMPTS", "1")]);
    run.expect_code(1);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(
        run.stderr.matches("FilterLogEvents is throttled").count(),
        1,
        "one note: {}",
        run.stderr
    );
    let last = run.stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error:") && last.contains("after 8 retries"),
        "{}",
        run.stderr
    );
    assert_eq!(filter_calls_since(&emulator, mark), 9, "{}", run.stderr);
    assert_eq!(
        emulator
            .strict()
            .injected_by("FilterLogEvents", "ThrottlingException"),
        9
    );
}

async fn attached(emulator: &Emulator) -> Vec<String> {
    let mut arns: Vec<String> = emulator
        .moto_clients()
        .await
        .iam
        .list_attached_role_policies()
        .role_name(ROLE)
        .send()
        .await
        .unwrap()
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_string))
        .collect();
    arns.sort();
    arns
}

/// README "What `up` does", Role: "Present and created by this stack: missing managed policies are
/// re-attached."
#[tokio::test(flavor = "multi_thread")]
async fn up_reattaches_a_managed_policy_detached_from_the_stacks_role() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let both = {
        let mut v = vec![BASIC_EXECUTION.to_string(), policy_arn()];
        v.sort();
        v
    };
    assert_eq!(attached(&emulator).await, both);
    emulator
        .moto_clients()
        .await
        .iam
        .detach_role_policy()
        .role_name(ROLE)
        .policy_arn(BASIC_EXECUTION)
        .send()
        .await
        .unwrap();
    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(
        plan.stdout.contains(&format!("~ role {ROLE}: update")),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("AWSLambdaBasicExecutionRole"),
        "{}",
        plan.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(
        emulator.writes_since(mark),
        vec!["AttachRolePolicy".to_string()]
    );
    assert_eq!(attached(&emulator).await, both);
    project.stackctl(&["plan"]).ok();
}

/// README "What `down --confirm` does": "A role stackctl created is kept (with only the stack's policy detached)
/// while a function stackctl did not create still uses it."
#[tokio::test(flavor = "multi_thread")]
async fn down_keeps_the_stacks_role_while_a_function_it_did_not_create_uses_it() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    // The function loses the stack's tag: now it is one stackctl did not create, running on the stack's role.
    let moto = emulator.moto_clients().await;
    let arn = format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}");
    moto.lambda
        .untag_resource()
        .resource(&arn)
        .tag_keys("stackctl:stack")
        .send()
        .await
        .unwrap();

    let preview = project.stackctl(&["down"]);
    preview.expect_code(3);
    assert!(
        preview.stdout.contains(&format!("= role {ROLE}: keep"))
            && preview.stdout.contains(
                "still the role of the function, which was not created by this stack: left in place"
            ),
        "{}",
        preview.stdout
    );
    let mark = emulator.mark();
    project.stackctl(&["down", "--confirm"]).ok();
    let writes = emulator.writes_since(mark);
    assert!(
        !writes.iter().any(|w| w == "DeleteRole"),
        "the role was deleted: {writes:?}"
    );
    // The role stays with its managed policy; only the stack's policy left it (and is gone).
    assert_eq!(attached(&emulator).await, vec![BASIC_EXECUTION.to_string()]);
    assert!(moto
        .iam
        .get_policy()
        .policy_arn(policy_arn())
        .send()
        .await
        .is_err());
    let function = moto
        .lambda
        .get_function_configuration()
        .function_name(FUNCTION)
        .send()
        .await
        .unwrap();
    assert_eq!(function.role(), Some(role_arn().as_str()));
}

async fn role_tags(emulator: &Emulator) -> Vec<(String, String)> {
    let moto = emulator.moto_clients().await;
    moto.iam
        .list_role_tags()
        .role_name(ROLE)
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn policy_tags(emulator: &Emulator) -> Vec<(String, String)> {
    let moto = emulator.moto_clients().await;
    moto.iam
        .list_policy_tags()
        .policy_arn(policy_arn())
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn region_tag(tags: &[(String, String)]) -> Option<&str> {
    tags.iter()
        .find(|(k, _)| k == "stackctl:region")
        .map(|(_, v)| v.as_str())
}

/// README "IAM is global, so IAM resources carry their region": "Roles and policies created before this tag
/// existed get it from the next `up` in their region" (here: IAM has no RoleLastUsed for the role, so no other
/// region may claim it).
#[tokio::test(flavor = "multi_thread")]
async fn up_adds_the_region_tag_to_an_older_role_and_policy() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.stackctl(&["up"]).ok();
    let moto = emulator.moto_clients().await;
    remove_region_tags(&moto.iam).await;
    assert_eq!(region_tag(&role_tags(&emulator).await), None);
    assert_eq!(region_tag(&policy_tags(&emulator).await), None);

    let plan = project.stackctl(&["plan"]);
    plan.expect_code(2);
    assert!(!plan.stdout.contains("blocked"), "{}", plan.stdout);
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    let mut writes = emulator.writes_since(mark);
    writes.sort();
    assert_eq!(writes, vec!["TagPolicy".to_string(), "TagRole".to_string()]);
    assert_eq!(region_tag(&role_tags(&emulator).await), Some("us-east-1"));
    assert_eq!(region_tag(&policy_tags(&emulator).await), Some("us-east-1"));
    let mark = emulator.mark();
    project.stackctl(&["up"]).ok();
    assert_eq!(emulator.writes_since(mark), Vec::<String>::new());
}

/// README `invoke --url`: "a CORS answer that a browser would refuse is a warning" (exit 0: the function
/// answered). An allowed Origin gets no warning.
#[tokio::test(flavor = "multi_thread")]
async fn invoke_url_warns_about_an_answer_a_browser_would_refuse() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n[function.url.cors]\n\
         allow_origins = [\"https://app.example.com\"]\nallow_headers = [\"content-type\"]\n",
    );
    project.stackctl(&["up"]).ok();
    let server = UrlServer::start(
        &project,
        "function-url",
        &["--cors", "https://app.example.com"],
    );
    let url = format!("--url={}", server.base);
    let event = Path::new(REPO).join("lambda/events/list-items.json");
    let event = event.to_str().unwrap();

    let allowed = project.stackctl(&["invoke", &url, "--origin=https://app.example.com", event]);
    allowed.ok();
    assert!(!allowed.stderr.contains("CORS:"), "{}", allowed.stderr);

    let refused = project.stackctl(&["invoke", &url, "--origin=https://evil.example", event]);
    refused.ok();
    assert!(
        refused.stderr.contains(
            "CORS: no Access-Control-Allow-Origin for Origin `https://evil.example`: a browser on that page \
             would refuse the answer"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.stdout.contains("200"), "{}", refused.stdout);
}
