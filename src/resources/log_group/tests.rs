use super::*;
use crate::plan::Op;
use crate::progress::{Mode, Progress};
use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request as HttpRequest, Response as HttpResponse};
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

const NAME: &str = "/aws/lambda/api";
const ARN: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/api";

fn answer(status: u16, body: Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        status.try_into().expect("status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("Content-Type", "application/x-amz-json-1.1");
    response
}

fn error(kind: &str) -> HttpResponse {
    answer(400, json!({"__type": kind, "message": "from the test"}))
}

/// A CloudWatch Logs client that answers with `answers`, in order, and records what it was sent.
fn replay(answers: Vec<HttpResponse>) -> (StaticReplayClient, Client) {
    let http = StaticReplayClient::new(
        answers
            .into_iter()
            .map(|a| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), a))
            .collect(),
    );
    let config = aws_sdk_cloudwatchlogs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .http_client(http.clone())
        .build();
    (http, Client::from_conf(config))
}

/// The JSON bodies that were sent, with the operation each was for.
fn sent(http: &StaticReplayClient) -> Vec<(String, Value)> {
    http.actual_requests()
        .map(|r| {
            let target = r.headers().get("x-amz-target").unwrap_or_default();
            let operation = target.rsplit('.').next().unwrap_or_default().to_string();
            let body =
                serde_json::from_slice(r.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
            (operation, body)
        })
        .collect()
}

fn task() -> Task {
    Progress::new(Mode::Quiet).task("log group")
}

#[tokio::test]
async fn read_follows_pages_to_the_exact_name_and_reads_tags_on_the_arn_without_wildcard() {
    let (http, client) = replay(vec![
        answer(
            200,
            json!({
                "logGroups": [{"logGroupName": "/aws/lambda/api-v2", "arn": format!("{ARN}-v2:*")}],
                "nextToken": "page-2"
            }),
        ),
        answer(
            200,
            json!({"logGroups": [
                {"logGroupName": "/aws/lambda/api-old", "arn": format!("{ARN}-old:*")},
                {"logGroupName": NAME, "arn": format!("{ARN}:*"), "retentionInDays": 14}
            ], "nextToken": "page-3"}),
        ),
        answer(200, json!({"tags": {"stackctl:stack": "s", "team": "web"}})),
    ]);
    let live = read(&client, NAME).await.unwrap().expect("found on page 2");
    assert_eq!(
        live,
        LiveLogGroup {
            arn: ARN.into(),
            retention_days: Some(14),
            tags: [("stackctl:stack", "s"), ("team", "web")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            deletion_protection: false,
        }
    );
    let sent = sent(&http);
    assert_eq!(
        sent,
        vec![
            (
                "DescribeLogGroups".to_string(),
                json!({"logGroupNamePrefix": NAME})
            ),
            (
                "DescribeLogGroups".to_string(),
                json!({"logGroupNamePrefix": NAME, "nextToken": "page-2"})
            ),
            (
                "ListTagsForResource".to_string(),
                json!({"resourceArn": ARN})
            ),
        ],
        "no third page once the name is found"
    );
}

#[tokio::test]
async fn read_prefers_log_group_arn_and_finds_nothing_without_an_exact_match() {
    let (http, client) = replay(vec![
        answer(
            200,
            json!({"logGroups": [{
                "logGroupName": NAME,
                "arn": "arn:aws:logs:us-east-1:1:log-group:from-arn:*",
                "logGroupArn": ARN
            }]}),
        ),
        answer(200, json!({"tags": {}})),
    ]);
    let live = read(&client, NAME).await.unwrap().unwrap();
    assert_eq!((live.arn.as_str(), live.retention_days), (ARN, None));
    assert_eq!(sent(&http)[1].1, json!({"resourceArn": ARN}));

    let (http, client) = replay(vec![
        answer(
            200,
            json!({"logGroups": [{"logGroupName": "/aws/lambda/api-v2"}], "nextToken": "t"}),
        ),
        // The same token again: the end, not a loop.
        answer(200, json!({"logGroups": [], "nextToken": "t"})),
    ]);
    assert_eq!(read(&client, NAME).await.unwrap(), None);
    assert_eq!(http.actual_requests().count(), 2);

    let (_, client) = replay(vec![error("ServiceUnavailableException")]);
    let err = read(&client, NAME).await.unwrap_err();
    assert!(format!("{err:#}").contains("`/aws/lambda/api`"), "{err:#}");
}

#[tokio::test]
async fn create_tags_then_sets_retention_and_reports_a_group_made_meanwhile() {
    let (http, client) = replay(vec![answer(200, json!({})), answer(200, json!({}))]);
    let tags = BTreeMap::from([("stackctl:stack".to_string(), "s".to_string())]);
    let created = create(&client, NAME, 30, &tags, &task()).await.unwrap();
    assert_eq!(created, Created::New);
    assert_eq!(
        sent(&http),
        vec![
            (
                "CreateLogGroup".to_string(),
                json!({"logGroupName": NAME, "tags": {"stackctl:stack": "s"}})
            ),
            (
                "PutRetentionPolicy".to_string(),
                json!({"logGroupName": NAME, "retentionInDays": 30})
            ),
        ]
    );

    // Lambda's first invoke (or someone else) made it: nothing more is sent, the caller converges it.
    let (http, client) = replay(vec![error("ResourceAlreadyExistsException")]);
    let created = create(&client, NAME, 30, &tags, &task()).await.unwrap();
    assert_eq!(created, Created::Existing);
    assert_eq!(http.actual_requests().count(), 1);

    let (_, client) = replay(vec![error("LimitExceededException")]);
    let err = create(&client, NAME, 30, &tags, &task()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("creating CloudWatch Logs group `/aws/lambda/api`"),
        "{err:#}"
    );
}

#[tokio::test]
async fn delete_treats_a_missing_group_as_deleted() {
    let (http, client) = replay(vec![error("ResourceNotFoundException")]);
    delete(&client, NAME, &task()).await.unwrap();
    assert_eq!(
        sent(&http),
        vec![("DeleteLogGroup".to_string(), json!({"logGroupName": NAME}))]
    );
    let (_, client) = replay(vec![error("InvalidParameterException")]);
    let err = delete(&client, NAME, &task()).await.unwrap_err();
    assert!(
        format!("{err:#}").contains("deleting CloudWatch Logs group `/aws/lambda/api`"),
        "{err:#}"
    );
}

#[tokio::test]
async fn an_aborted_delete_is_tried_again_and_a_refused_one_is_not() {
    let (http, client) = replay(vec![
        error("OperationAbortedException"),
        error("OperationAbortedException"),
        answer(200, json!({})),
    ]);
    delete(&client, NAME, &task()).await.unwrap();
    assert_eq!(http.actual_requests().count(), 3);

    // Deletion protection (ValidationException) is not something to wait out.
    let (http, client) = replay(vec![error("ValidationException")]);
    let err = delete(&client, NAME, &task()).await.unwrap_err();
    assert_eq!(http.actual_requests().count(), 1);
    assert!(
        format!("{err:#}").contains("deleting CloudWatch Logs group"),
        "{err:#}"
    );
}

#[tokio::test]
async fn a_group_made_again_right_after_its_deletion_is_deleted_again_unless_someone_elses() {
    let gone = || answer(200, json!({"logGroups": []}));
    let back = || {
        answer(
            200,
            json!({"logGroups": [{"logGroupName": NAME, "arn": format!("{ARN}:*")}]}),
        )
    };
    let ours =
        |tags: &BTreeMap<String, String>| tags.get("stackctl:stack").is_some_and(|s| s == "s");

    let (http, client) = replay(vec![answer(200, json!({})), gone()]);
    assert_eq!(
        delete_and_check(&client, NAME, ours, &task())
            .await
            .unwrap(),
        Deleted::Gone
    );
    assert_eq!(http.actual_requests().count(), 2);

    // Lambda made it again (no tags): deleted again, and said.
    let (http, client) = replay(vec![
        answer(200, json!({})),
        back(),
        answer(200, json!({"tags": {}})),
        answer(200, json!({})),
        gone(),
    ]);
    assert_eq!(
        delete_and_check(&client, NAME, ours, &task())
            .await
            .unwrap(),
        Deleted::DeletedAgain
    );
    let ops: Vec<String> = sent(&http).into_iter().map(|(op, _)| op).collect();
    assert_eq!(
        ops,
        [
            "DeleteLogGroup",
            "DescribeLogGroups",
            "ListTagsForResource",
            "DeleteLogGroup",
            "DescribeLogGroups"
        ]
    );

    // Someone else's now: left alone, and an error that says so.
    let (http, client) = replay(vec![
        answer(200, json!({})),
        back(),
        answer(200, json!({"tags": {"stackctl:stack": "other"}})),
    ]);
    let err = delete_and_check(&client, NAME, ours, &task())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("by someone else"), "{err:#}");
    assert_eq!(http.actual_requests().count(), 3);

    // It keeps coming back: bounded, and the error says what to do.
    let mut answers = vec![answer(200, json!({}))];
    for _ in 0..DELETE_AGAIN {
        answers.extend([
            back(),
            answer(200, json!({"tags": {}})),
            answer(200, json!({})),
        ]);
    }
    answers.push(back());
    let (http, client) = replay(answers);
    let err = delete_and_check(&client, NAME, ours, &task())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("keeps coming back"), "{err:#}");
    assert_eq!(http.actual_requests().count(), 2 + 3 * DELETE_AGAIN);
}

#[test]
fn the_group_is_the_one_logging_config_names_else_the_functions_own() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/stack.toml");
    let stack = crate::config::parse(
        std::path::Path::new(path),
        &std::fs::read_to_string(path).unwrap(),
        "2026-01-01",
    )
    .expect("the shipped stack.toml");
    let function = |log_group: Option<&str>| LiveFunction {
        arn: "arn:aws:lambda:us-east-1:1:function:f".into(),
        state: "Active".into(),
        state_reason: None,
        last_update_status: "Successful".into(),
        last_update_reason: None,
        config: crate::resources::function::FunctionConfig {
            role_arn: String::new(),
            runtime: String::new(),
            handler: String::new(),
            memory_mb: 128,
            timeout_secs: 3,
            environment: BTreeMap::new(),
            architecture: "x86_64".into(),
        },
        code_sha256: String::new(),
        tags: BTreeMap::new(),
        reserved_concurrency: None,
        log_group: log_group.map(str::to_string),
    };
    let own = "/aws/lambda/my-frontend-app-api";
    assert_eq!(group_name(&stack.log_group, None), own);
    assert_eq!(group_name(&stack.log_group, Some(&function(None))), own);
    assert_eq!(group_name(&stack.log_group, Some(&function(Some("")))), own);
    assert_eq!(
        group_name(&stack.log_group, Some(&function(Some(own)))),
        own
    );
    assert_eq!(
        group_name(&stack.log_group, Some(&function(Some("/custom/group")))),
        "/custom/group"
    );
}

#[tokio::test]
async fn tag_and_set_retention_send_what_cloudwatch_takes() {
    let (http, client) = replay(vec![answer(200, json!({})), answer(200, json!({}))]);
    let tags = BTreeMap::from([("team".to_string(), "web".to_string())]);
    tag(&client, &format!("{ARN}:*"), &tags).await.unwrap();
    set_retention(&client, NAME, 7).await.unwrap();
    assert_eq!(
        sent(&http),
        vec![
            (
                "TagResource".to_string(),
                json!({"resourceArn": ARN, "tags": {"team": "web"}})
            ),
            (
                "PutRetentionPolicy".to_string(),
                json!({"logGroupName": NAME, "retentionInDays": 7})
            ),
        ]
    );
}

fn spec(retention_days: i32, retention_explicit: bool) -> LogGroupSpec {
    LogGroupSpec {
        name: NAME.into(),
        retention_days,
        retention_explicit,
    }
}

fn live(retention_days: Option<i32>) -> LiveLogGroup {
    LiveLogGroup {
        arn: ARN.into(),
        retention_days,
        tags: BTreeMap::new(),
        deletion_protection: false,
    }
}

#[test]
fn diff_converges_owned_groups_and_adopted_ones_only_when_the_file_asks() {
    assert_eq!(
        diff(&spec(30, false), None, false),
        vec![Change::add("retention_days", "30")]
    );
    // In sync: nothing, owned or not.
    assert_eq!(diff(&spec(30, false), Some(&live(Some(30))), true), vec![]);
    assert_eq!(diff(&spec(30, true), Some(&live(Some(30))), false), vec![]);
    // Owned: always converged, explicit or the default.
    assert_eq!(
        diff(&spec(30, false), Some(&live(None)), true),
        vec![Change::modify("retention_days", "never expire", "30")]
    );
    assert_eq!(
        diff(&spec(7, true), Some(&live(Some(14))), true),
        vec![Change::modify("retention_days", "14", "7")]
    );
    // Adopted: changed only when the file writes retention_days; otherwise kept, and shown as kept.
    assert_eq!(
        diff(&spec(90, true), Some(&live(None)), false),
        vec![Change::modify("retention_days", "never expire", "90")]
    );
    let kept = diff(&spec(30, false), Some(&live(None)), false);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].op, Op::Keep);
    assert!(
        kept[0]
            .before
            .as_deref()
            .unwrap()
            .starts_with("never expire ("),
        "{kept:?}"
    );
}

#[test]
fn only_a_shorter_retention_warns_of_deleted_events() {
    assert_eq!(
        shortening_note(Some(90), 30).as_deref(),
        Some(
            "retention goes from 90 days to 30 days: CloudWatch Logs will delete the events older \
             than 30 days"
        )
    );
    assert!(shortening_note(None, 3653)
        .unwrap()
        .starts_with("retention goes from never expire to 3653 days"));
    assert_eq!(shortening_note(Some(30), 30), None);
    assert_eq!(shortening_note(Some(30), 60), None);
}
