//! The orphan check: everything in the account that a stack could have made, read from moto directly (past
//! every strict behaviour and injected fault), kind by kind. The kinds are stackctl's own (`Kind`, from
//! src/plan.rs; `Kind::ALL` is held equal to the resource graph by a unit test in src/resources/mod.rs), and
//! `of_kind` matches them exhaustively: a new kind does not compile until this check lists it.

use super::plan::Kind;
use super::{Clients, Emulator, Project};

/// Every object of every kind in the account (us-east-1 and IAM), as `<kind> <name>[ <detail>]`, sorted.
/// Details are what a kind's resource carries that the stack may have put there: its reserved concurrency,
/// its resource-policy statements, and every `stackctl:` tag (the stack's marks, also on what it only
/// adopted). Empty after a complete teardown from an empty account.
pub async fn leftovers(emulator: &Emulator) -> Vec<String> {
    let aws = emulator.moto_clients().await;
    let mut left = Vec::new();
    for kind in Kind::ALL {
        left.extend(of_kind(&aws, kind).await);
    }
    // A URL on an alias, and its statements: moto keeps one URL per function and ignores the Qualifier, so
    // the strict proxy keeps these itself (`url_qualifiers`): asked through it.
    if emulator.strict.is_some() {
        left.extend(alias_urls(&aws, &emulator.clients().await).await);
    }
    left.sort();
    left
}

/// The URL config and resource-policy statements on each alias of each function, named as the function's
/// own (`function_url <function>`, `... permission <sid>`).
async fn alias_urls(aws: &Clients, proxied: &Clients) -> Vec<String> {
    let name = Kind::FunctionUrl.as_str();
    let mut left = Vec::new();
    for (function, _) in functions(aws).await {
        let aliases = aws
            .lambda
            .list_aliases()
            .function_name(&function)
            .send()
            .await
            .unwrap();
        for alias in aliases.aliases() {
            let qualifier = alias.name().unwrap_or_default();
            if proxied
                .lambda
                .get_function_url_config()
                .function_name(&function)
                .qualifier(qualifier)
                .send()
                .await
                .is_ok()
            {
                left.push(format!("{name} {function}"));
            }
            if let Ok(policy) = proxied
                .lambda
                .get_policy()
                .function_name(&function)
                .qualifier(qualifier)
                .send()
                .await
            {
                let document: serde_json::Value =
                    serde_json::from_str(policy.policy().unwrap()).unwrap();
                for statement in document["Statement"].as_array().unwrap() {
                    let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
                    left.push(format!("{name} {function} permission {sid}"));
                }
            }
        }
    }
    left
}

/// stack.toml asking for every kind and every part of one: a public function URL (its config and the two
/// permissions it needs) and a reserved concurrency, beside the tutorial's table, role, policy, function and
/// log group. For the runs whose orphans are checked.
pub fn ask_for_every_kind(project: &Project) {
    project.edit(
        "stack.toml",
        "timeout_secs = 10\n",
        "timeout_secs = 10\nreserved_concurrency = 5\n\n[function.url]\nauth = \"none\"\nallow_anonymous = true\n",
    );
}

/// What exists of one kind.
pub async fn of_kind(aws: &Clients, kind: Kind) -> Vec<String> {
    let name = kind.as_str();
    let mut left = Vec::new();
    match kind {
        Kind::Table => {
            for table in aws
                .dynamodb
                .list_tables()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap()
            {
                left.push(format!("{name} {table}"));
                let arn = aws
                    .dynamodb
                    .describe_table()
                    .table_name(&table)
                    .send()
                    .await
                    .unwrap()
                    .table
                    .and_then(|t| t.table_arn)
                    .unwrap();
                let tags = aws
                    .dynamodb
                    .list_tags_of_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .unwrap();
                let tags = tags.tags().iter().map(|t| (t.key(), t.value()));
                left.extend(marks(name, &table, tags));
            }
        }
        Kind::Role => {
            let roles = aws.iam.list_roles().send().await.unwrap();
            for role in roles.roles() {
                let role = role.role_name();
                left.push(format!("{name} {role}"));
                let tags = aws
                    .iam
                    .list_role_tags()
                    .role_name(role)
                    .send()
                    .await
                    .unwrap();
                let tags = tags.tags().iter().map(|t| (t.key(), t.value()));
                left.extend(marks(name, role, tags));
            }
        }
        Kind::Policy => {
            let policies = aws
                .iam
                .list_policies()
                .scope(aws_sdk_iam::types::PolicyScopeType::Local)
                .send()
                .await
                .unwrap();
            for policy in policies.policies() {
                let policy_name = policy.policy_name().unwrap();
                left.push(format!("{name} {policy_name}"));
                let tags = aws
                    .iam
                    .list_policy_tags()
                    .policy_arn(policy.arn().unwrap())
                    .send()
                    .await
                    .unwrap();
                let tags = tags.tags().iter().map(|t| (t.key(), t.value()));
                left.extend(marks(name, policy_name, tags));
            }
        }
        Kind::Function => {
            for function in functions(aws).await {
                let (function, arn) = (function.0.as_str(), function.1.as_str());
                left.push(format!("{name} {function}"));
                let concurrency = aws
                    .lambda
                    .get_function_concurrency()
                    .function_name(function)
                    .send()
                    .await
                    .unwrap();
                if let Some(n) = concurrency.reserved_concurrent_executions() {
                    left.push(format!("{name} {function} reserved_concurrency={n}"));
                }
                let tags = aws.lambda.list_tags().resource(arn).send().await.unwrap();
                let tags = tags.tags.unwrap_or_default();
                left.extend(marks(
                    name,
                    function,
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ));
            }
        }
        Kind::LogGroup => {
            for group in aws
                .logs
                .describe_log_groups()
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .unwrap()
            {
                let group_name = group.log_group_name().unwrap();
                left.push(format!("{name} {group_name}"));
                // The tag API takes the ARN without DescribeLogGroups' trailing `:*`.
                let arn = group.arn().unwrap().trim_end_matches(":*");
                let tags = aws
                    .logs
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .unwrap();
                let tags = tags.tags.unwrap_or_default();
                left.extend(marks(
                    name,
                    group_name,
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ));
            }
        }
        Kind::Alias => {
            // A function's aliases and published versions: they live on the function (DeleteFunction
            // without a Qualifier deletes them all), so they are left over only where a function is.
            for (function, _) in functions(aws).await {
                let aliases = aws
                    .lambda
                    .list_aliases()
                    .function_name(&function)
                    .send()
                    .await
                    .unwrap();
                for alias in aliases.aliases() {
                    left.push(format!("{name} {function} {}", alias.name().unwrap_or("?")));
                }
            }
        }
        Kind::FunctionUrl => {
            // A function's URL config and its resource-policy statements (the public URL's permissions):
            // they live on the function, so they are left over only where a function is.
            for (function, _) in functions(aws).await {
                match aws
                    .lambda
                    .get_function_url_config()
                    .function_name(&function)
                    .send()
                    .await
                {
                    Ok(_) => left.push(format!("{name} {function}")),
                    Err(err)
                        if err
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) => {}
                    Err(err) => panic!("GetFunctionUrlConfig {function}: {err:?}"),
                }
                match aws
                    .lambda
                    .get_policy()
                    .function_name(&function)
                    .send()
                    .await
                {
                    Ok(policy) => {
                        let document: serde_json::Value =
                            serde_json::from_str(policy.policy().unwrap()).unwrap();
                        for statement in document["Statement"].as_array().unwrap() {
                            let sid = statement["Sid"].as_str().unwrap_or("(no Sid)");
                            left.push(format!("{name} {function} permission {sid}"));
                        }
                    }
                    Err(err)
                        if err
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) => {}
                    Err(err) => panic!("GetPolicy {function}: {err:?}"),
                }
            }
        }
        Kind::UserPool => {
            for (id, pool_name) in pools(aws).await {
                left.push(format!("{name} {pool_name}"));
                let pool = aws
                    .cognito
                    .describe_user_pool()
                    .user_pool_id(&id)
                    .send()
                    .await
                    .unwrap();
                let tags = pool
                    .user_pool()
                    .and_then(|p| p.user_pool_tags())
                    .cloned()
                    .unwrap_or_default();
                left.extend(marks(
                    name,
                    &pool_name,
                    tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                ));
            }
        }
        Kind::UserPoolClient => {
            // Clients live in their pool: left over only where a pool is.
            for (id, pool_name) in pools(aws).await {
                let clients = aws
                    .cognito
                    .list_user_pool_clients()
                    .user_pool_id(&id)
                    .max_results(60)
                    .send()
                    .await
                    .unwrap();
                for client in clients.user_pool_clients() {
                    left.push(format!(
                        "{name} {} in {pool_name}",
                        client.client_name().unwrap_or_default()
                    ));
                }
            }
        }
    }
    left
}

/// Every user pool in the account, as (id, name).
async fn pools(aws: &Clients) -> Vec<(String, String)> {
    aws.cognito
        .list_user_pools()
        .max_results(60)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.id.unwrap(), p.name.unwrap()))
        .collect()
}

/// Every function in the account, with its ARN.
async fn functions(aws: &Clients) -> Vec<(String, String)> {
    aws.lambda
        .list_functions()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.function_name.unwrap(), f.function_arn.unwrap()))
        .collect()
}

/// The stack's marks among a resource's tags: every `stackctl:` tag, as `<kind> <name> tag <key>=<value>`.
fn marks<'a>(
    kind: &'a str,
    name: &'a str,
    tags: impl Iterator<Item = (&'a str, &'a str)> + 'a,
) -> impl Iterator<Item = String> + 'a {
    tags.filter(|(k, _)| k.starts_with("stackctl:"))
        .map(move |(k, v)| format!("{kind} {name} tag {k}={v}"))
}
