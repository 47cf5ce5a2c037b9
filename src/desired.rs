//! What the stack wants, with every reference resolved against the live account: ARNs (known before the
//! resources exist), the rendered policy document, the function's configuration.

use std::collections::BTreeMap;

use anyhow::Result;
use serde_json::Value;

use crate::aws::Account;
use crate::config::Stack;
use crate::resources::function::FunctionConfig;
use crate::resources::policy;
use crate::template;

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub table_arn: String,
    pub role_arn: String,
    pub policy_arn: String,
    pub policy_document: Value,
    pub function_arn: String,
    pub function: FunctionConfig,
}

/// The variable that tells the handler whether the function URL sends the CORS headers (`function-url`:
/// the handler must not send `Access-Control-Allow-Origin` too, or browsers see two values and refuse the
/// answer) or the handler does (`handler`, the tutorial's `*`). CORS lives in exactly one place.
pub const CORS_VARIABLE: &str = "STACKCTL_CORS";

/// `CORS_VARIABLE`'s value: set whenever the stack has a URL, and put back to `handler` when the URL goes
/// (a live value left at `function-url` would keep the handler silent).
fn cors_variable(stack: &Stack, live: Option<&BTreeMap<String, String>>) -> Option<&'static str> {
    match &stack.url {
        Some(url) if url.cors.is_some() => Some("function-url"),
        Some(_) => Some("handler"),
        None => live
            .and_then(|env| env.get(CORS_VARIABLE))
            .filter(|v| v.as_str() != "handler")
            .map(|_| "handler"),
    }
}

/// `table_arn` / `role_arn`: the live ones, when those resources exist.
pub fn resolve(
    stack: &Stack,
    account: &Account,
    table_arn: Option<&str>,
    role_arn: Option<&str>,
    live_environment: Option<&BTreeMap<String, String>>,
) -> Result<Desired> {
    let Account { partition, id } = account;
    // Before the table exists its ARN is still known: it is fully determined by region, account and name.
    let table_arn = table_arn.map(str::to_string).unwrap_or_else(|| {
        format!(
            "arn:{partition}:dynamodb:{}:{id}:table/{}",
            stack.region, stack.table.name
        )
    });
    let role_arn = role_arn
        .map(str::to_string)
        .unwrap_or_else(|| format!("arn:{partition}:iam::{id}:role/{}", stack.role.name));
    let values = template::Values::from([
        ("table.name", stack.table.name.clone()),
        ("table.arn", table_arn.clone()),
        ("stack.name", stack.name.clone()),
        ("stack.region", stack.region.clone()),
        ("account_id", id.clone()),
    ]);
    let policy_document = template::render_json(&stack.policy.template, &values)?;
    let mut environment = stack
        .function
        .environment
        .iter()
        .map(|(k, v)| Ok((k.clone(), template::render(v, &values)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    if let Some(cors) = cors_variable(stack, live_environment) {
        environment.insert(CORS_VARIABLE.to_string(), cors.to_string());
    }
    Ok(Desired {
        table_arn,
        policy_arn: policy::arn(partition, id, &stack.policy.name),
        policy_document,
        function_arn: format!(
            "arn:{partition}:lambda:{}:{id}:function:{}",
            stack.region, stack.function.name
        ),
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
