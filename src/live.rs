//! Reads the live state of every resource of the stack, concurrently, and resolves what the stack wants
//! from it (ARNs, the rendered policy, the function's configuration). The same reads serve status, plan,
//! up and down: the live account is the state.

use std::collections::BTreeMap;

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::aws::{Account, Clients};
use crate::config::Stack;
use crate::progress::{Mode, Progress};
use crate::resources::function::{FunctionConfig, LiveFunction};
use crate::resources::policy::LivePolicy;
use crate::resources::role::LiveRole;
use crate::resources::table::LiveTable;
use crate::resources::{function, policy, role, table};
use crate::template;

#[derive(Debug, Clone)]
pub struct Live {
    pub account: Account,
    pub table: Option<LiveTable>,
    /// Read only when ownership matters (down, status): it costs a call.
    pub table_tags: Option<BTreeMap<String, String>>,
    pub role: Option<LiveRole>,
    pub policy: Option<LivePolicy>,
    pub function: Option<LiveFunction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// up / plan: what is needed to converge.
    Converge,
    /// down / status: also who owns what.
    Ownership,
}

pub async fn read(clients: &Clients, stack: &Stack, purpose: Purpose) -> Result<Live> {
    // Every read starts as soon as what it needs is known: the table's, the role's and the function's at
    // once; the policy's (its ARN needs the account id) as soon as the role's ARN gives the account, while
    // the others are still in flight; the table's tags as soon as its ARN is known.
    let wants_tags = purpose == Purpose::Ownership || !stack.tags.is_empty();
    let table_and_tags = async {
        let table = table::read(&clients.dynamodb, &stack.table.name).await?;
        // up needs the table's tags to bring the user's tags up to date, and before it changes a table
        // (only a table the stack owns is changed); an unchanged table costs no extra read.
        let needs_tags = |t: &LiveTable| {
            wants_tags
                || matches!(
                    table::diff(&stack.table, Some(t)),
                    table::TableDiff::Update { .. }
                )
        };
        match table {
            Some(t) if needs_tags(&t) => table_with_tags(clients, stack, t).await,
            table => anyhow::Ok((table, None)),
        }
    };
    let role_and_policy = async {
        let role = role::read(&clients.iam, &stack.role.name).await?;
        let policy = match role.as_ref().and_then(|r| Account::from_arn(&r.arn)) {
            Some(account) => {
                let arn = policy::arn(&account.partition, &account.id, &stack.policy.name);
                Some((account, policy::read(&clients.iam, &arn).await?))
            }
            None => None,
        };
        anyhow::Ok((role, policy))
    };
    let ((table, table_tags), (role, read_policy), function) = tokio::try_join!(
        table_and_tags,
        role_and_policy,
        function::read(&clients.lambda, &stack.function.name),
    )?;
    let (account, policy) = match read_policy {
        Some(read) => read,
        None => {
            // No role yet: the account comes from another ARN, or from STS when nothing exists at all.
            let known = [
                table.as_ref().map(|t| &t.arn),
                function.as_ref().map(|f| &f.arn),
            ]
            .into_iter()
            .flatten()
            .find_map(|arn| Account::from_arn(arn));
            let account = match known {
                Some(account) => account,
                None => Account::from_sts(&clients.sts).await?,
            };
            let arn = policy::arn(&account.partition, &account.id, &stack.policy.name);
            let policy = policy::read(&clients.iam, &arn).await?;
            (account, policy)
        }
    };
    Ok(Live {
        account,
        table,
        table_tags,
        role,
        policy,
        function,
    })
}

/// The table with its tags. ListTagsOfResource answers ResourceNotFound for a table that is gone, and
/// (reported on AWS) for one still CREATING: "not found" means gone only when DescribeTable agrees; a
/// table still being created is waited for, then its tags are read again.
async fn table_with_tags(
    clients: &Clients,
    stack: &Stack,
    described: LiveTable,
) -> Result<(Option<LiveTable>, Option<BTreeMap<String, String>>)> {
    let dynamodb = &clients.dynamodb;
    if let Some(tags) = table::read_tags(dynamodb, &described.arn).await? {
        return Ok((Some(described), Some(tags)));
    }
    let Some(again) = table::read(dynamodb, &stack.table.name).await? else {
        return Ok((None, None));
    };
    let settled = match again.status.as_str() {
        "ACTIVE" => again,
        // Being deleted: it has no owner to tell any more; down and up handle DELETING themselves.
        "DELETING" => return Ok((Some(again), None)),
        _ => {
            let quiet = Progress::new(Mode::Quiet).task("table");
            let timeout = Duration::from_secs(stack.timeouts.table_secs);
            table::wait_active(dynamodb, &stack.table.name, timeout, &quiet).await?
        }
    };
    let tags = table::read_tags(dynamodb, &settled.arn)
        .await?
        .with_context(|| {
            format!(
                "DynamoDB describes table `{}` as {} but answers ResourceNotFound for its tags",
                stack.table.name, settled.status
            )
        })?;
    Ok((Some(settled), Some(tags)))
}

/// What the stack wants, with every reference resolved against the live account.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub table_arn: String,
    pub role_arn: String,
    pub policy_arn: String,
    pub policy_document: Value,
    pub function: FunctionConfig,
}

pub fn desired(stack: &Stack, live: &Live) -> Result<Desired> {
    let Account { partition, id } = &live.account;
    // Before the table exists its ARN is still known: it is fully determined by region, account and name.
    let table_arn = live
        .table
        .as_ref()
        .map(|t| t.arn.clone())
        .unwrap_or_else(|| {
            format!(
                "arn:{partition}:dynamodb:{}:{id}:table/{}",
                stack.region, stack.table.name
            )
        });
    let role_arn = live
        .role
        .as_ref()
        .map(|r| r.arn.clone())
        .unwrap_or_else(|| format!("arn:{partition}:iam::{id}:role/{}", stack.role.name));
    let values = template::Values::from([
        ("table.name", stack.table.name.clone()),
        ("table.arn", table_arn.clone()),
        ("stack.name", stack.name.clone()),
        ("stack.region", stack.region.clone()),
        ("account_id", id.clone()),
    ]);
    let policy_document = template::render_json(&stack.policy.template, &values)?;
    let environment = stack
        .function
        .environment
        .iter()
        .map(|(k, v)| Ok((k.clone(), template::render(v, &values)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    Ok(Desired {
        table_arn,
        policy_arn: policy::arn(partition, id, &stack.policy.name),
        policy_document,
        function: FunctionConfig {
            role_arn: role_arn.clone(),
            runtime: stack.function.runtime.clone(),
            handler: stack.function.handler.clone(),
            memory_mb: stack.function.memory_mb,
            timeout_secs: stack.function.timeout_secs,
            environment,
            architecture: stack.function.architecture.clone(),
        },
        role_arn,
    })
}
