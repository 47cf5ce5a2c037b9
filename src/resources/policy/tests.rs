use super::*;
use serde_json::json;

#[test]
fn documents_decode_whether_url_encoded_or_raw() {
    let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:us-east-1:1:table/t%x"}]});
    let raw = doc.to_string();
    let encoded: String =
        percent_encoding::utf8_percent_encode(&raw, percent_encoding::NON_ALPHANUMERIC).to_string();
    assert_eq!(decode_document(&raw).unwrap(), doc);
    assert_eq!(decode_document(&encoded).unwrap(), doc);
}

#[test]
fn key_order_and_whitespace_do_not_count_as_a_change() {
    let a: Value = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"x","Resource":"r"}]}"#,
    )
    .unwrap();
    // The live side as IAM sends it: the document as its author wrote it (other key order, whitespace),
    // URL-encoded, through the same decoder `read` uses.
    let written = "{ \"Statement\": [ {\"Resource\": \"r\", \"Action\": \"x\", \"Effect\": \"Allow\"} ],\n \"Version\": \"2012-10-17\" }";
    let from_iam: String =
        percent_encoding::utf8_percent_encode(written, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    assert_ne!(from_iam, written);
    let live = LivePolicy {
        arn: "a".into(),
        default_version: "v1".into(),
        document: decode_document(&from_iam).unwrap(),
        tags: BTreeMap::new(),
        used_by: Vec::new(),
        also_attached: Vec::new(),
    };
    assert_eq!(diff(&a, Some(&live)), PolicyDiff::InSync);
    assert_eq!(plan("p", &a, Some(&live), "r", true).action, Action::NoOp);
    let p = plan("p", &a, Some(&live), "r", false);
    assert_eq!(p.action, Action::Update);
    assert_eq!(p.changes[0].after.as_deref(), Some("attach p to r"));
}

#[test]
fn a_changed_statement_shows_before_and_after() {
    let old = json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem"]}]});
    let new =
        json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem", "dynamodb:Query"]}]});
    let lines = document_lines(Some(&old), &new);
    assert_eq!(
        lines,
        vec![Change::add("statement.Crud.Action", "dynamodb:Query")]
    );
    let widened =
        json!({"Statement": [{"Sid": "Crud", "Action": "dynamodb:GetItem", "Resource": "*"}]});
    let narrowed = json!({"Statement": [{"Sid": "Crud", "Action": ["dynamodb:GetItem"], "Resource": "arn:t"}]});
    let lines = document_lines(Some(&widened), &narrowed);
    assert_eq!(
        lines,
        vec![
            Change::add("statement.Crud.Resource", "arn:t"),
            Change::remove("statement.Crud.Resource", "*")
        ]
    );
    let created = document_lines(
        None,
        &json!({"Statement": [{"Sid": "Crud", "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:Query"], "Resource": "arn:t"}]}),
    );
    assert_eq!(
        created[0].after.as_deref(),
        Some("Allow dynamodb:GetItem, dynamodb:Query on arn:t")
    );
    // A statement without Effect or Resource says so instead of printing an empty value.
    let bare = document_lines(None, &new);
    assert_eq!(
        bare[0].after.as_deref(),
        Some("(no Effect) dynamodb:GetItem, dynamodb:Query (no Resource)")
    );
}
