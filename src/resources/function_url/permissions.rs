//! The public URL's two resource-policy statements: read (GetPolicy), add (AddPermission, with its 409
//! handling) and remove (RemovePermission).

use super::*;

/// One of the stack's public statements, as found in the function's resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveStatement {
    pub sid: String,
    /// Which of the two its Sid says it is.
    pub kind: Public,
    /// Whether it grants exactly what stackctl's statement of this kind grants.
    pub as_wanted: bool,
}

/// The two statements of a public URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Public {
    /// `lambda:InvokeFunctionUrl` with `lambda:FunctionUrlAuthType` = NONE.
    InvokeFunctionUrl,
    /// `lambda:InvokeFunction` with `lambda:InvokedViaFunctionUrl` = true: calls through the URL only.
    InvokeFunction,
}

impl Public {
    pub const BOTH: [Public; 2] = [Public::InvokeFunctionUrl, Public::InvokeFunction];

    /// The statement's Sid: it names the stack, so that statements of other stacks and of people are told
    /// apart (AWS allows letters, digits, `-`, `_` and `.`, which stack names are made of).
    pub fn sid(self, stack: &str) -> String {
        match self {
            Public::InvokeFunctionUrl => format!("stackctl-{stack}-public-url"),
            Public::InvokeFunction => format!("stackctl-{stack}-public-url-invoke"),
        }
    }

    /// Whether `sid` is one of the stack's Sids for this statement: the plain one, or the plain one with a
    /// suffix of 8 hex digits (a replacement added before the statement it replaces was removed).
    pub fn owns_sid(self, stack: &str, sid: &str) -> bool {
        let base = self.sid(stack);
        sid == base
            || sid
                .strip_prefix(&base)
                .and_then(|s| s.strip_prefix('-'))
                .is_some_and(|h| {
                    h.len() == 8
                        && h.chars()
                            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
                })
    }

    /// The Sid for a new statement of this kind: the plain one when the policy does not hold it, else one
    /// with a suffix from a hash of the statement's content (and of how many were taken), so that the new
    /// statement goes in before the one it replaces comes out.
    pub fn new_sid(self, stack: &str, taken: &[String]) -> String {
        use sha2::{Digest, Sha256};
        let base = self.sid(stack);
        let (operator, key, value) = self.condition();
        let mut candidate = base.clone();
        let mut n = 0u32;
        while taken.contains(&candidate) {
            let digest = Sha256::digest(
                format!("{}|*|{operator}|{key}|{value}|{n}", self.action()).as_bytes(),
            );
            let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
            candidate = format!("{base}-{hex}");
            n += 1;
        }
        candidate
    }

    fn action(self) -> &'static str {
        match self {
            Public::InvokeFunctionUrl => "lambda:InvokeFunctionUrl",
            Public::InvokeFunction => "lambda:InvokeFunction",
        }
    }

    /// The condition operator, key and value AWS writes for this statement.
    fn condition(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Public::InvokeFunctionUrl => ("StringEquals", "lambda:FunctionUrlAuthType", "NONE"),
            Public::InvokeFunction => ("Bool", "lambda:InvokedViaFunctionUrl", "true"),
        }
    }

    /// Whether a policy statement grants exactly this: Allow, principal `*`, the action, the condition.
    fn matches(self, statement: &Value) -> bool {
        let principal_is_anyone = match &statement["Principal"] {
            Value::String(p) => p == "*",
            Value::Object(p) => p.get("AWS").and_then(Value::as_str) == Some("*"),
            _ => false,
        };
        let action = match &statement["Action"] {
            Value::String(a) => a == self.action(),
            Value::Array(a) => a.len() == 1 && a[0].as_str() == Some(self.action()),
            _ => false,
        };
        let (operator, key, value) = self.condition();
        let condition = match &statement["Condition"][operator][key] {
            Value::String(v) => v.eq_ignore_ascii_case(value),
            Value::Bool(b) => b.to_string() == value,
            _ => false,
        };
        statement["Effect"] == "Allow" && principal_is_anyone && action && condition
    }
}

/// The stack's statements in a resource policy document (GetPolicy's `Policy`, a JSON string).
pub fn stack_statements(policy: &str, stack: &str) -> Result<Vec<LiveStatement>> {
    let document: Value = serde_json::from_str(policy)
        .context("Lambda answered a resource policy that is not JSON")?;
    let statements = match &document["Statement"] {
        Value::Array(list) => list.clone(),
        Value::Object(_) => vec![document["Statement"].clone()],
        _ => Vec::new(),
    };
    Ok(Public::BOTH
        .iter()
        .flat_map(|public| {
            statements.iter().filter_map(move |found| {
                let sid = found["Sid"].as_str()?;
                public.owns_sid(stack, sid).then(|| LiveStatement {
                    sid: sid.to_string(),
                    kind: *public,
                    as_wanted: public.matches(found),
                })
            })
        })
        .collect())
}

/// GetPolicy; the stack's statements in it (none when the function or its policy does not exist).
/// `qualifier`: the alias whose policy is read (None: the function's own).
pub async fn read_statements(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    stack: &str,
) -> Result<Vec<LiveStatement>> {
    match client
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => stack_statements(out.policy().unwrap_or("{}"), stack),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| {
            format!(
                "reading the resource policy of Lambda function `{function}`{}",
                on(qualifier)
            )
        }),
    }
}

/// A statement as plan shows it.
pub(super) fn describe(kind: Public) -> String {
    let (_, key, value) = kind.condition();
    format!("{} for anyone, when {key} = {value}", kind.action())
}

/// plan's and up's warning for a public URL (`auth = "none"`): None for `aws_iam` or no URL.
pub fn public_warning(function: &StackFunction) -> Option<String> {
    function.url.as_ref().filter(|u| u.auth == UrlAuth::None)?;
    let field = function.field("reserved_concurrency");
    let cap = match function.spec.reserved_concurrency {
        Some(n) => format!(
            "`{field} = {n}` caps how many executions run at once (more are answered 429); it caps neither \
             requests nor cost"
        ),
        None => format!(
            "set `{field}` (e.g. 10) to cap how many executions a flood of requests runs at once (more are \
             answered 429); it caps neither requests nor cost"
        ),
    };
    if function.auth.is_some() {
        // [auth]: the handler verifies a token on every request; what is left is the cost of being called.
        return Some(format!(
            "`{} = \"none\"`: anyone on the internet can call this URL. [auth] makes the handler answer 401 \
             to a request without a valid token, but each request still runs (and bills) the function. {cap}.",
            function.field("url.auth")
        ));
    }
    Some(format!(
        "`{} = \"none\"`: anyone on the internet can call this API. The handler takes \
         `userId` from the query string without authentication, so any caller can read, change and delete \
         any user's items. {cap}; use `auth = \"aws_iam\"` for signed callers only.",
        function.field("url.auth")
    ))
}

/// AddPermission answered 409 and the statement is not in the policy (yet): Lambda's resource policies
/// are eventually consistent, and a concurrent write conflicts for a moment. Retried.
#[derive(Debug)]
struct PolicyBusy(String);

impl std::fmt::Display for PolicyBusy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PolicyBusy {}

/// How long a 409 whose statement is not there is retried.
const POLICY_BUSY_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// AddPermission of one of the two public statements under `sid`. A 409 (the Sid is taken, or the policy
/// is being changed) reads the policy again: the statement there as stackctl writes it is success (its own
/// earlier request whose answer was lost, or a concurrent up); none yet is retried; another one under the
/// Sid is an error.
pub async fn add_permission(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
    kind: Public,
) -> Result<()> {
    let context = || {
        format!(
            "adding permission `{sid}` to Lambda function `{function}`{}",
            on(qualifier)
        )
    };
    let send = || async {
        let request = client
            .add_permission()
            .function_name(function)
            .set_qualifier(qualifier.map(str::to_string))
            .statement_id(sid)
            .action(kind.action())
            .principal("*");
        let request = match kind {
            Public::InvokeFunctionUrl => request.function_url_auth_type(FunctionUrlAuthType::None),
            Public::InvokeFunction => request.invoked_via_function_url(true),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_conflict_exception()) =>
            {
                match policy_statement(client, function, qualifier, sid).await? {
                    Some(found) if kind.matches(&found) => Ok(()),
                    Some(found) => Err(anyhow::anyhow!(
                        "the resource policy of Lambda function `{function}` already holds a statement `{sid}` \
                         that grants something else ({found}); remove it (`aws lambda remove-permission \
                         --function-name {function} --statement-id {sid}`) and run `stackctl up` again"
                    )),
                    None => Err(anyhow::Error::new(PolicyBusy(format!(
                        "Lambda answered ResourceConflictException (the policy was being changed), and the \
                         statement is not in it yet: {}",
                        aws_sdk_lambda::error::DisplayErrorContext(&err)
                    )))),
                }
            }
            Err(err) => Err(err.into()),
        }
    };
    crate::aws::retry_while(POLICY_BUSY_BUDGET, send, |e| e.is::<PolicyBusy>(), |_| {})
        .await
        .with_context(context)
}

/// The statement with `sid` in the function's resource policy (GetPolicy), if it is there.
async fn policy_statement(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
) -> Result<Option<Value>> {
    let policy = match client
        .get_policy()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .send()
        .await
    {
        Ok(out) => out.policy().unwrap_or("{}").to_string(),
        Err(err) if err.as_service_error().is_some_and(not_found) => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| {
                format!("reading the resource policy of Lambda function `{function}`")
            })
        }
    };
    let document: Value = serde_json::from_str(&policy)
        .context("Lambda answered a resource policy that is not JSON")?;
    let found = match &document["Statement"] {
        Value::Array(list) => list.iter().find(|s| s["Sid"] == sid).cloned(),
        one @ Value::Object(_) if one["Sid"] == sid => Some(one.clone()),
        _ => None,
    };
    Ok(found)
}

/// RemovePermission; a statement already gone is success.
pub async fn remove_permission(
    client: &Client,
    function: &str,
    qualifier: Option<&str>,
    sid: &str,
) -> Result<()> {
    match client
        .remove_permission()
        .function_name(function)
        .set_qualifier(qualifier.map(str::to_string))
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => Err(err).with_context(|| {
            format!(
                "removing permission `{sid}` from Lambda function `{function}`{}",
                on(qualifier)
            )
        }),
    }
}
