//! Reads the live state of every resource of the stack, concurrently, and resolves what the stack wants
//! from it (ARNs, the rendered policy, the function's configuration). The same reads serve status, plan,
//! up and down: the live account is the state.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use crate::aws::{Account, Clients};
use crate::config::Stack;
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
        let tags = match &table {
            // up needs the table's tags only to bring the user's tags up to date.
            Some(t) if wants_tags => Some(table::read_tags(&clients.dynamodb, &t.arn).await?),
            _ => None,
        };
        anyhow::Ok((table, tags))
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
