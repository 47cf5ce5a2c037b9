use super::*;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_runtime_api::http::{Request as HttpRequest, Response as HttpResponse};
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};

const TABLE: &str = "my-frontend-app-data";
const ARN: &str =
    "arn:aws:dynamodb:us-east-1:123456789012:table/my-frontend-app-data/backup/01733400000000-abcdef12";

fn answer(status: u16, body: Value) -> HttpResponse {
    let mut response = HttpResponse::new(
        status.try_into().expect("status"),
        SdkBody::from(body.to_string()),
    );
    response
        .headers_mut()
        .insert("Content-Type", "application/x-amz-json-1.0");
    response
}

fn error(kind: &str) -> HttpResponse {
    answer(400, json!({"__type": kind, "message": "from the test"}))
}

/// A DynamoDB client that answers with `answers`, in order, and records what it was sent.
fn replay(answers: Vec<HttpResponse>) -> (StaticReplayClient, Client) {
    let http = StaticReplayClient::new(
        answers
            .into_iter()
            .map(|a| ReplayEvent::new(HttpRequest::new(SdkBody::empty()), a))
            .collect(),
    );
    let config = aws_sdk_dynamodb::Config::builder()
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

fn summary(name: &str, id: &str, created: f64) -> Value {
    json!({
        "TableName": TABLE,
        "BackupArn": format!("arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/backup/{id}"),
        "BackupName": name,
        "BackupCreationDateTime": created,
        "BackupStatus": "AVAILABLE",
        "BackupType": "USER",
        "BackupSizeBytes": 2048
    })
}

fn description(status: &str) -> Value {
    json!({"BackupDescription": {
        "BackupDetails": {
            "BackupArn": ARN, "BackupName": "nightly", "BackupSizeBytes": 10,
            "BackupStatus": status, "BackupType": "USER", "BackupCreationDateTime": 1733400000.5
        },
        "SourceTableDetails": {
            "TableName": TABLE, "TableId": "id", "ItemCount": 7, "TableCreationDateTime": 1733300000,
            "ProvisionedThroughput": {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
            "KeySchema": [
                {"AttributeName": "itemId", "KeyType": "RANGE"},
                {"AttributeName": "userId", "KeyType": "HASH"}
            ]
        }
    }})
}

fn row(name: &str, arn: &str, status: &str) -> BackupRow {
    BackupRow {
        name: name.into(),
        arn: arn.into(),
        table: TABLE.into(),
        kind: "USER".into(),
        status: status.into(),
        size_bytes: None,
        created: "2026-12-05T10:00:00.000Z".into(),
        expires: None,
    }
}

#[test]
fn a_snapshot_is_an_arn_of_a_dynamodb_backup_or_a_backup_name() {
    assert_eq!(
        Wanted::parse(ARN).unwrap(),
        Wanted::Arn(BackupArn {
            arn: ARN.into(),
            region: "us-east-1".into(),
            table: TABLE.into(),
        })
    );
    assert_eq!(
        Wanted::parse("stackctl-demo-20261205T101500Z").unwrap(),
        Wanted::Name("stackctl-demo-20261205T101500Z".into())
    );
    // The name DynamoDB gives the SYSTEM backup it keeps after deleting a table with PITR on.
    assert_eq!(
        Wanted::parse("my-frontend-app-data$DeletedTableBackup").unwrap(),
        Wanted::Name("my-frontend-app-data$DeletedTableBackup".into())
    );
    // What was typed is echoed with its control characters escaped.
    let echoed = Wanted::parse("arn:aws:dynamodb:r:1:table/t\x1b[2J/backup/1").unwrap_err();
    assert!(echoed.to_string().contains("t\\u{1b}[2J"), "{echoed}");
    for bad in [
        "arn:aws:s3:::bucket",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t/backup/",
        "arn:aws:dynamodb::123456789012:table/t/backup/1-a",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/1",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t\x1b[2J/backup/1-a",
        "arn:aws:dynamodb:us-east-1:123456789012:table/t t/backup/1-a",
        "ab",
        "a b c",
        "name/with/slash",
        &"x".repeat(256),
    ] {
        assert!(Wanted::parse(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn list_follows_every_page_of_all_backup_types_and_sorts_newest_first() {
    let (http, client) = replay(vec![
        answer(
            200,
            json!({
                "BackupSummaries": [summary("old", "1-a", 1733300000.0)],
                "LastEvaluatedBackupArn": "page-1-end"
            }),
        ),
        answer(
            200,
            json!({"BackupSummaries": [summary("new", "2-b", 1733400000.0)]}),
        ),
    ]);
    let rows = list_backups(&client, TABLE).await.unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["new", "old"]);
    assert_eq!(rows[0].size_bytes, Some(2048));
    assert_eq!(rows[0].created, "2024-12-05T12:00:00.000Z");
    let sent = sent(&http);
    assert_eq!(sent.len(), 2);
    for (op, body) in &sent {
        assert_eq!(op, "ListBackups");
        assert_eq!(body["TableName"], TABLE);
        assert_eq!(body["BackupType"], "ALL");
    }
    assert!(sent[0].1.get("ExclusiveStartBackupArn").is_none());
    assert_eq!(sent[1].1["ExclusiveStartBackupArn"], "page-1-end");
}

#[tokio::test]
async fn a_page_that_repeats_its_start_is_an_error_not_an_endless_loop() {
    let page = || {
        answer(
            200,
            json!({"BackupSummaries": [], "LastEvaluatedBackupArn": "same"}),
        )
    };
    let (http, client) = replay(vec![page(), page()]);
    let err = list_backups(&client, TABLE).await.unwrap_err();
    assert!(format!("{err:#}").contains("same page"), "{err:#}");
    assert_eq!(http.actual_requests().count(), 2);
}

#[test]
fn a_name_must_name_exactly_one_backup() {
    let rows = [
        row("weekly", "arn-1", "AVAILABLE"),
        row("weekly", "arn-2", "AVAILABLE"),
        row("daily", "arn-3", "AVAILABLE"),
    ];
    assert_eq!(one_named(&rows, "daily", TABLE).unwrap().arn, "arn-3");
    let two = format!("{}", one_named(&rows, "weekly", TABLE).unwrap_err());
    assert!(two.contains("2 backups of table"), "{two}");
    assert!(two.contains("arn-1") && two.contains("arn-2"), "{two}");
    let none = format!("{}", one_named(&rows, "monthly", TABLE).unwrap_err());
    assert!(none.contains("no backup named `monthly`"), "{none}");
}

#[test]
fn only_an_available_backup_is_restorable() {
    assert!(check_restorable(&row("n", ARN, "AVAILABLE")).is_ok());
    let creating = check_restorable(&row("n", ARN, "CREATING")).unwrap_err();
    assert!(
        creating.to_string().contains("still CREATING"),
        "{creating}"
    );
    let deleted = check_restorable(&row("n", ARN, "DELETED")).unwrap_err();
    assert!(deleted.to_string().contains("is DELETED"), "{deleted}");
}

#[tokio::test]
async fn a_creating_backup_is_described_with_its_status_and_refused() {
    let (http, client) = replay(vec![answer(200, description("CREATING"))]);
    let wanted = Wanted::parse(ARN).unwrap();
    let described = resolve_backup(&client, TABLE, &wanted).await.unwrap();
    assert_eq!(described.row.status, "CREATING");
    assert_eq!(described.items, Some(7));
    // Partition key first, whatever order DynamoDB lists them in.
    assert_eq!(described.key_names, ["userId", "itemId"]);
    assert!(check_restorable(&described.row).is_err());
    assert_eq!(sent(&http)[0].0, "DescribeBackup");
    assert_eq!(sent(&http)[0].1["BackupArn"], ARN);
}

#[tokio::test]
async fn a_backup_dynamodb_does_not_know_is_none_and_resolving_it_says_so() {
    let (_, client) = replay(vec![error("BackupNotFoundException")]);
    assert!(describe_backup(&client, ARN).await.unwrap().is_none());
    let (_, client) = replay(vec![error("BackupNotFoundException")]);
    let err = resolve_backup(&client, TABLE, &Wanted::parse(ARN).unwrap())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("has no backup"), "{err:#}");
}

#[tokio::test]
async fn a_restore_asks_for_stack_tomls_billing_mode_and_a_taken_name_is_refused() {
    let (http, client) = replay(vec![answer(200, json!({"TableDescription": {}}))]);
    start_restore(&client, ARN, TABLE, "PAY_PER_REQUEST")
        .await
        .unwrap();
    let sent = sent(&http);
    assert_eq!(sent[0].0, "RestoreTableFromBackup");
    assert_eq!(
        sent[0].1,
        json!({"TargetTableName": TABLE, "BackupArn": ARN, "BillingModeOverride": "PAY_PER_REQUEST"})
    );
    let (_, client) = replay(vec![error("TableAlreadyExistsException")]);
    let err = start_restore(&client, ARN, TABLE, "PAY_PER_REQUEST")
        .await
        .unwrap_err();
    assert!(matches!(
        err.downcast_ref::<Refused>(),
        Some(Refused::TableExists)
    ));
}

#[test]
fn key_names_match_stack_tomls_in_order() {
    use crate::config::KeyType;
    let keys = [
        KeyAttribute {
            name: "userId".into(),
            key_type: KeyType::S,
        },
        KeyAttribute {
            name: "itemId".into(),
            key_type: KeyType::S,
        },
    ];
    assert!(keys_match(&["userId".into(), "itemId".into()], &keys));
    assert!(!keys_match(&["itemId".into(), "userId".into()], &keys));
    assert!(!keys_match(&["userId".into()], &keys));
}
