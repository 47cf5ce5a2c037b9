//! The cleanup of `stackctl smoke`: every item the run created or saw under its throwaway userId is deleted
//! through the function, confirmed by listing again, and deleted with DynamoDB DeleteItem (stackctl's own
//! client) when the function did not; failures are reported, never hidden.

use serde::Serialize;
use serde_json::Value;

use super::checks::item_id;
use super::scenario::Session;
use crate::config::Stack;
use crate::handler::event::{body_text, Request};

#[derive(Debug, Clone, Default, Serialize)]
pub struct Cleanup {
    /// Every item the run created (or found under its userId), deleted.
    pub deleted: Vec<String>,
    /// Those of `deleted` the function did not delete (its DELETE failed, or a list still showed them
    /// afterwards): deleted with DynamoDB DeleteItem through stackctl's own client.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_directly: Vec<String>,
    pub failed: Vec<CleanupFailure>,
}

/// The cleanup's last resort: DeleteItem on the stack's table, with stackctl's own credentials.
pub struct DirectDelete {
    pub client: aws_sdk_dynamodb::Client,
    pub table: String,
    /// The table's key attributes, holding the userId and the itemId.
    pub partition_key: String,
    pub sort_key: String,
}

impl DirectDelete {
    pub fn for_stack(client: &aws_sdk_dynamodb::Client, stack: &Stack) -> Option<DirectDelete> {
        Some(DirectDelete {
            client: client.clone(),
            table: stack.table.name.clone(),
            partition_key: stack.table.partition_key.name.clone(),
            sort_key: stack.table.sort_key.as_ref()?.name.clone(),
        })
    }

    async fn delete(&self, user: &str, item: &str) -> Result<(), String> {
        use aws_sdk_dynamodb::types::AttributeValue;
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(&self.partition_key, AttributeValue::S(user.to_string()))
            .key(&self.sort_key, AttributeValue::S(item.to_string()))
            .send()
            .await
            .map(|_| ())
            .map_err(|err| {
                format!(
                    "DynamoDB DeleteItem on `{}`: {:#}",
                    self.table,
                    anyhow::Error::new(err)
                )
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CleanupFailure {
    pub item_id: String,
    pub message: String,
}

/// Lists the run's items through the function, following `nextToken` when the handler pages its lists,
/// and tracks every one. None when listing does not work.
pub(super) async fn list_all(s: &mut Session<'_>) -> Option<Vec<String>> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..100 {
        let mut query = vec![("userId", s.user.clone())];
        if let Some(token) = &token {
            query.push(("nextToken", token.clone()));
        }
        let list = Request {
            method: "GET",
            query,
            body: None,
        };
        let event = s.event(&list);
        let r = s.transport.invoke(&event).await.ok()?;
        if r.status_code != 200 {
            return None;
        }
        s.track(&r.body);
        let items = r.body.get("items")?.as_array()?;
        ids.extend(
            items
                .iter()
                .filter(|i| i.get("userId").and_then(Value::as_str) == Some(s.user.as_str()))
                .map(|i| item_id(i).to_string()),
        );
        token = r
            .body
            .get("nextToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Some(ids)
}

/// Deletes every item the run saw under its userId: those its requests created or answers showed, plus
/// whatever a list finds. Through the function first; then it lists again to confirm, and deletes what is
/// still there (or everything, when the list does not work) with DynamoDB DeleteItem through stackctl's
/// own client. Failures are reported, never hidden.
pub(super) async fn cleanup(s: &mut Session<'_>, direct: Option<&DirectDelete>) -> Cleanup {
    let task = s.progress.task("smoke cleanup");
    task.set("listing the smoke user's items");
    list_all(s).await;
    // Per item: None once deleted, else why not.
    let mut outcome: Vec<(String, Option<String>)> = Vec::new();
    for id in s.seen.clone() {
        task.set(&format!("deleting {id}"));
        let delete = Request {
            method: "DELETE",
            query: vec![("userId", s.user.clone()), ("itemId", id.clone())],
            body: None,
        };
        let event = s.event(&delete);
        let failure = match s.transport.invoke(&event).await {
            // 404: already gone (with [auth] the handler says so for an item the caller does not have);
            // the confirming list below still checks it is not there.
            Ok(r) if r.status_code == 200 || r.status_code == 404 => None,
            Ok(r) => Some(format!(
                "DELETE answered {}: {}",
                r.status_code,
                body_text(&r.body)
            )),
            Err(err) => Some(err.to_string()),
        };
        outcome.push((id, failure));
    }
    task.set("listing again to confirm");
    let confirmed = list_all(s).await;
    // Items a list showed only now (created by a request still running when it was interrupted).
    for id in &s.seen {
        if !outcome.iter().any(|(seen, _)| seen == id) {
            outcome.push((id.clone(), Some("found by the confirming list".into())));
        }
    }
    let mut result = Cleanup::default();
    for (id, failure) in &mut outcome {
        let still_listed = confirmed.as_ref().is_some_and(|left| left.contains(id));
        if still_listed && failure.is_none() {
            *failure = Some("still listed after the function's DELETE answered 200".into());
        }
        // Whatever the function did not (verifiably) delete.
        let needs_direct = failure.is_some() || confirmed.is_none();
        if let (true, Some(direct)) = (needs_direct, direct) {
            task.set(&format!("deleting {id} with DynamoDB DeleteItem"));
            match direct.delete(&s.user, id).await {
                Ok(()) => {
                    if failure.is_some() {
                        result.deleted_directly.push(id.clone());
                    }
                    *failure = None;
                }
                Err(why) => {
                    *failure = Some(match failure.take() {
                        Some(first) => format!("{first}; {why}"),
                        None => why,
                    })
                }
            }
        }
        match failure {
            None => result.deleted.push(id.clone()),
            Some(message) => result.failed.push(CleanupFailure {
                item_id: id.clone(),
                message: message.clone(),
            }),
        }
    }
    if result.failed.is_empty() {
        task.finish(&format!(
            "{} items deleted{}",
            result.deleted.len(),
            if result.deleted_directly.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} of them with DynamoDB DeleteItem",
                    result.deleted_directly.len()
                )
            }
        ));
    } else {
        task.fail(&format!(
            "{} of {} items NOT deleted",
            result.failed.len(),
            result.failed.len() + result.deleted.len()
        ));
    }
    result
}
