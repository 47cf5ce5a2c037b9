//! The actions each resource kind calls and the ARNs of its names: one match arm per kind (`Kind` is matched
//! exhaustively, so a new kind does not compile until it declares what it calls). Resource types per the
//! Service Authorization Reference (README "IAM permissions stackctl itself needs" cites each page).

use serde_json::json;

use super::{Grant, Names};
use crate::plan::Kind;
use crate::resources::iam_path;

/// The grants `kind`'s read, up, down and status need on `names`.
pub fn grants(kind: Kind, names: &Names) -> Vec<Grant> {
    match kind {
        Kind::Table => table(names),
        Kind::Role => role(names),
        Kind::Policy => policy(names),
        Kind::Function => function(names),
        Kind::LogGroup => log_group(names),
        Kind::Alias => vec![Grant::new(
            "FunctionVersions",
            &[
                "lambda:PublishVersion",
                "lambda:ListVersionsByFunction",
                "lambda:GetAlias",
                "lambda:CreateAlias",
                "lambda:UpdateAlias",
                "lambda:DeleteAlias",
                "lambda:ListAliases",
            ],
            functions(names),
        )],
        Kind::FunctionUrl => vec![Grant::new(
            "FunctionUrl",
            &[
                "lambda:GetFunctionUrlConfig",
                "lambda:CreateFunctionUrlConfig",
                "lambda:UpdateFunctionUrlConfig",
                "lambda:DeleteFunctionUrlConfig",
                "lambda:InvokeFunctionUrl",
                "lambda:GetPolicy",
                "lambda:AddPermission",
                "lambda:RemovePermission",
            ],
            functions(names),
        )],
        Kind::UserPool => user_pool(names),
        Kind::UserPoolClient => vec![Grant::new(
            "UserPoolOwned",
            &[
                "cognito-idp:CreateUserPoolClient",
                "cognito-idp:UpdateUserPoolClient",
                "cognito-idp:DeleteUserPoolClient",
            ],
            names.arns("cognito-idp", &["userpool/*".to_string()]),
        )
        .when(owned_pool(names))],
    }
}

/// The table's names, and what DynamoDB calls under them (indexes, backups: `table/NAME/backup/ID`).
fn tables(names: &Names, under: &str) -> Vec<String> {
    let resources: Vec<String> = names
        .tables
        .iter()
        .map(|t| format!("table/{t}{under}"))
        .collect();
    names.arns("dynamodb", &resources)
}

fn table(names: &Names) -> Vec<Grant> {
    vec![
        Grant::new(
            "Table",
            &[
                "dynamodb:DescribeTable",
                "dynamodb:ListTagsOfResource",
                "dynamodb:CreateTable",
                "dynamodb:UpdateTable",
                "dynamodb:DeleteTable",
                "dynamodb:TagResource",
                "dynamodb:Scan",
                "dynamodb:BatchWriteItem",
                "dynamodb:DeleteItem",
                "dynamodb:CreateBackup",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:UpdateContinuousBackups",
                // RestoreTableFromBackup also needs these on the table it writes (the DynamoDB developer
                // guide, "Using IAM with DynamoDB backup and restore").
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:GetItem",
                "dynamodb:Query",
            ],
            tables(names, ""),
        ),
        Grant::new(
            "TableBackups",
            &["dynamodb:DescribeBackup", "dynamodb:RestoreTableFromBackup"],
            // RestoreTableFromBackup is evaluated on the backup AND the table it makes.
            [tables(names, "/backup/*"), tables(names, "")].concat(),
        ),
        // ListBackups: no resource type (TableName only filters).
        Grant::anywhere("TableBackupList", &["dynamodb:ListBackups"]),
    ]
}

/// The stack's IAM path (every stage's role or policy made since IAM paths) and, for those made before, the
/// names at `/` (`kind` is `role` or `policy`).
fn iam(names: &Names, kind: &str, legacy: &[String]) -> Vec<String> {
    let mut arns: Vec<String> = names
        .stacks
        .iter()
        .map(|stack| names.iam_arn(&format!("{kind}{}*", iam_path::of_stack(stack))))
        .collect();
    arns.extend(legacy.iter().map(|n| names.iam_arn(&format!("{kind}/{n}"))));
    arns
}

/// Only under the stack's path: stackctl creates nothing at `/` any more.
fn iam_new(names: &Names, kind: &str) -> Vec<String> {
    iam(names, kind, &[])
}

/// The stack's own policies: its IAM path and the legacy names at `/`.
fn stack_policies(names: &Names) -> Vec<String> {
    iam(names, "policy", &names.policies)
}

/// The condition limiting an attach or detach to `policies` (the request's PolicyArn; the Service
/// Authorization Reference lists iam:PolicyARN for every Attach/Detach{Role,User,Group}Policy).
fn policy_arn_like(policies: Vec<String>) -> serde_json::Value {
    json!({ "ArnLike": { "iam:PolicyARN": policies } })
}

fn role(names: &Names) -> Vec<Grant> {
    vec![
        Grant::new(
            "Role",
            &[
                "iam:GetRole",
                "iam:ListRoleTags",
                "iam:ListAttachedRolePolicies",
                "iam:ListRolePolicies",
                "iam:DeleteRole",
                "iam:ListInstanceProfilesForRole",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteRolePolicy",
                "iam:TagRole",
            ],
            iam(names, "role", &names.roles),
        ),
        // Attach/Detach act on the role; the policy is only their iam:PolicyARN condition key: without it the
        // holder could attach AdministratorAccess to a role it creates. Limited to the stack's own policies and
        // the file's `role.managed_policies` (every stage's).
        Grant::new(
            "RolePolicyAttach",
            &["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
            iam(names, "role", &names.roles),
        )
        .when(policy_arn_like(
            [stack_policies(names), names.managed_policies.clone()].concat(),
        )),
        // Lambda's CreateFunction / UpdateFunctionConfiguration pass the stack's role: only to Lambda.
        Grant::new(
            "RolePass",
            &["iam:PassRole"],
            iam(names, "role", &names.roles),
        )
        .when(json!({ "StringEquals": { "iam:PassedToService": "lambda.amazonaws.com" } })),
        Grant::new("RoleCreate", &["iam:CreateRole"], iam_new(names, "role")),
    ]
}

fn policy(names: &Names) -> Vec<Grant> {
    vec![
        Grant::new(
            "Policy",
            &[
                "iam:GetPolicy",
                "iam:ListPolicyTags",
                "iam:GetPolicyVersion",
                "iam:ListPolicyVersions",
                "iam:ListEntitiesForPolicy",
                "iam:CreatePolicyVersion",
                "iam:DeletePolicyVersion",
                "iam:DeletePolicy",
                "iam:TagPolicy",
            ],
            iam(names, "policy", &names.policies),
        ),
        Grant::new(
            "PolicyCreate",
            &["iam:CreatePolicy"],
            iam_new(names, "policy"),
        ),
        // Before changing or deleting the stack's policy, up and down read every role it is attached to
        // (ListEntitiesForPolicy, then GetRole for its tags): one another stack owns is refused by name.
        // A read, on any role: the holders are not the stack's by definition.
        Grant::new(
            "PolicyHolders",
            &["iam:GetRole"],
            vec![names.iam_arn("role/*")],
        ),
        // Deleting the stack's policy first detaches it from whoever else holds it (ListEntitiesForPolicy):
        // these act on that user or group, any of the account's: only the stack's own policies (the
        // iam:PolicyARN condition key), else the holder could detach a Deny guardrail from itself.
        Grant::new(
            "PolicyDetachFromOthers",
            &["iam:DetachUserPolicy", "iam:DetachGroupPolicy"],
            vec![names.iam_arn("user/*"), names.iam_arn("group/*")],
        )
        .when(policy_arn_like(stack_policies(names))),
    ]
}

/// The function's names, with any qualifier (`NAME:VERSION`, `NAME:ALIAS`).
fn functions(names: &Names) -> Vec<String> {
    let resources: Vec<String> = names
        .functions
        .iter()
        .flat_map(|f| [format!("function:{f}"), format!("function:{f}:*")])
        .collect();
    names.arns("lambda", &resources)
}

fn function(names: &Names) -> Vec<Grant> {
    vec![
        Grant::new(
            "Function",
            &[
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:ListTags",
                "lambda:CreateFunction",
                "lambda:UpdateFunctionConfiguration",
                "lambda:UpdateFunctionCode",
                "lambda:DeleteFunction",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:InvokeFunction",
                "lambda:PutFunctionConcurrency",
                "lambda:DeleteFunctionConcurrency",
            ],
            functions(names),
        ),
        // The account's unreserved concurrency: no resource type.
        Grant::anywhere("LambdaConcurrencyPool", &["lambda:GetAccountSettings"]),
    ]
}

fn log_group(names: &Names) -> Vec<Grant> {
    // CloudWatch Logs evaluates TagResource / ListTagsForResource on `log-group:NAME` and every other
    // log-group action on `log-group:NAME:*`.
    let resources: Vec<String> = names
        .log_groups
        .iter()
        .flat_map(|g| [format!("log-group:{g}"), format!("log-group:{g}:*")])
        .collect();
    vec![
        Grant::new(
            "LogGroup",
            &[
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:PutRetentionPolicy",
                "logs:DeleteRetentionPolicy",
                "logs:TagResource",
                "logs:ListTagsForResource",
                "logs:FilterLogEvents",
            ],
            names.arns("logs", &resources),
        ),
        // DescribeLogGroups lists by prefix: no log-group resource is named.
        Grant::anywhere("LogGroupDescribe", &["logs:DescribeLogGroups"]),
    ]
}

/// A pool is the stack's when tagged with its name (pools are named by id, known only once made).
fn owned_pool(names: &Names) -> serde_json::Value {
    json!({ "StringEquals": { "aws:ResourceTag/stackctl:stack": names.stacks } })
}

fn user_pool(names: &Names) -> Vec<Grant> {
    let pools = names.arns("cognito-idp", &["userpool/*".to_string()]);
    vec![
        // No resource type: the pool is found by name in the list, created with the stack's tags.
        Grant::anywhere(
            "UserPoolFind",
            &["cognito-idp:ListUserPools", "cognito-idp:CreateUserPool"],
        ),
        // The one read without the tag condition: stackctl must see another owner's pool of the same name
        // (and its tags) to refuse it, rather than fail on an AccessDenied. Its clients are read only in the
        // stack's own pool: DescribeUserPoolClient answers a client's secret, which is not this stack's.
        Grant::new(
            "UserPoolRead",
            &["cognito-idp:DescribeUserPool"],
            pools.clone(),
        ),
        Grant::new(
            "UserPoolOwned",
            &[
                "cognito-idp:ListUserPoolClients",
                "cognito-idp:DescribeUserPoolClient",
                "cognito-idp:DeleteUserPool",
                "cognito-idp:ListUsers",
                "cognito-idp:TagResource",
                "cognito-idp:AdminCreateUser",
                "cognito-idp:AdminSetUserPassword",
                "cognito-idp:AdminInitiateAuth",
                "cognito-idp:AdminDeleteUser",
                "cognito-idp:AdminGetUser",
            ],
            pools,
        )
        .when(owned_pool(names)),
    ]
}
