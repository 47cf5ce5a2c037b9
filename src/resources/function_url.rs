//! The function's URL (`[function.url]`): the URL config (auth type and CORS) and, for `auth = "none"`, the
//! two resource-policy statements a public URL needs since October 2025 (InvokeFunctionUrl with
//! FunctionUrlAuthType NONE, and InvokeFunction only when invoked via the URL). Without both, every request
//! is answered 403 while plain Invoke still works.
//!
//! A URL config carries no tags, so stackctl marks the function instead: the function tag `stackctl:url`
//! (the stack's name) is put on before stackctl creates the URL (and on the stack's URL whenever it is
//! missing) and taken off after it deletes it. The URL of a
//! function this stack owns is the stack's; on a function it did not create, only a marked one is. A URL
//! someone else made on such a function is never changed or deleted, and statements whose Sid is not one of
//! the stack's two are never touched. The marker also spares every stack without `[function.url]` the two
//! URL reads: a function without it has no URL of the stack's to delete.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType};
use aws_sdk_lambda::Client;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::config::{CorsSpec, Stack, UrlAuth, UrlSpec};
use crate::plan::{Action, Change, Kind, ResourcePlan};
use crate::resources::function::{Function, LiveFunction};
use crate::resources::{finish, Done, ReadCx, World};
use crate::resources::{Address, Dep, Found, Output, Planned, Resource};

/// The function tag that marks a URL stackctl created on a function it did not create.
pub const URL_TAG: &str = "stackctl:url";

/// The URL config as Lambda answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUrlConfig {
    pub url: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    pub cors: Option<CorsSpec>,
}

/// One of the stack's public statements, as found in the function's resource policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveStatement {
    pub sid: String,
    /// Which of the two its Sid says it is.
    pub kind: Public,
    /// Whether it grants exactly what stackctl's statement of this kind grants.
    pub as_wanted: bool,
}

/// The URL's live state: the config (None: the function has no URL) and the stack's statements found in
/// the function's resource policy (others are not kept: they are never touched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlState {
    pub config: Option<LiveUrlConfig>,
    pub statements: Vec<LiveStatement>,
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

fn not_found<E: aws_sdk_lambda::error::ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("ResourceNotFoundException")
}

/// GetFunctionUrlConfig; None when the function or its URL does not exist.
pub async fn read_config(client: &Client, function: &str) -> Result<Option<LiveUrlConfig>> {
    match client
        .get_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(out) => Ok(Some(LiveUrlConfig {
            url: out.function_url().to_string(),
            auth_type: out.auth_type().as_str().to_string(),
            cors: out.cors().map(cors_spec),
        })),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(None),
        Err(err) => Err(err)
            .with_context(|| format!("reading the URL config of Lambda function `{function}`")),
    }
}

/// GetPolicy; the stack's statements in it (none when the function or its policy does not exist).
pub async fn read_statements(
    client: &Client,
    function: &str,
    stack: &str,
) -> Result<Vec<LiveStatement>> {
    match client.get_policy().function_name(function).send().await {
        Ok(out) => stack_statements(out.policy().unwrap_or("{}"), stack),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(Vec::new()),
        Err(err) => Err(err).with_context(|| {
            format!("reading the resource policy of Lambda function `{function}`")
        }),
    }
}

/// The SDK's CORS config as stack.toml's shape.
fn cors_spec(cors: &Cors) -> CorsSpec {
    CorsSpec {
        allow_origins: cors.allow_origins().to_vec(),
        allow_methods: cors.allow_methods().to_vec(),
        allow_headers: cors.allow_headers().to_vec(),
        expose_headers: cors.expose_headers().to_vec(),
        max_age: cors.max_age(),
        allow_credentials: cors.allow_credentials().unwrap_or(false),
    }
}

fn sdk_cors(spec: &CorsSpec) -> Cors {
    Cors::builder()
        .set_allow_origins(Some(spec.allow_origins.clone()))
        .set_allow_methods(Some(spec.allow_methods.clone()))
        .set_allow_headers(Some(spec.allow_headers.clone()))
        .set_expose_headers(Some(spec.expose_headers.clone()))
        .set_max_age(spec.max_age)
        .allow_credentials(spec.allow_credentials)
        .build()
}

/// A CORS config with its lists in a canonical order and case (methods upper-case, headers lower-case:
/// HTTP compares them so), so that an answer in another order is not drift. An empty config (no list, no
/// max age, no credentials) is the same as none: the URL then sends no CORS headers either.
fn canonical(cors: Option<&CorsSpec>) -> Option<CorsSpec> {
    let sorted = |list: &[String], f: fn(&str) -> String| {
        let mut list: Vec<String> = list.iter().map(|s| f(s)).collect();
        list.sort();
        list.dedup();
        list
    };
    let cors = cors?;
    let canonical = CorsSpec {
        allow_origins: sorted(&cors.allow_origins, str::to_string),
        allow_methods: sorted(&cors.allow_methods, str::to_ascii_uppercase),
        allow_headers: sorted(&cors.allow_headers, str::to_ascii_lowercase),
        expose_headers: sorted(&cors.expose_headers, str::to_ascii_lowercase),
        max_age: cors.max_age.filter(|age| *age != 0),
        allow_credentials: cors.allow_credentials,
    };
    (canonical != CorsSpec::default()).then_some(canonical)
}

/// One CORS config as plan shows it: `origins [..] methods [..] ...`, or "none".
pub fn describe_cors(cors: Option<&CorsSpec>) -> String {
    let Some(c) = canonical(cors) else {
        return "none".to_string();
    };
    let mut parts = vec![format!("allow_origins {:?}", c.allow_origins)];
    let mut list = |name: &str, items: &[String]| {
        if !items.is_empty() {
            parts.push(format!("{name} {items:?}"));
        }
    };
    list("allow_methods", &c.allow_methods);
    list("allow_headers", &c.allow_headers);
    list("expose_headers", &c.expose_headers);
    if let Some(age) = c.max_age {
        parts.push(format!("max_age {age}"));
    }
    if c.allow_credentials {
        parts.push("allow_credentials true".into());
    }
    parts.join(", ")
}

/// What up does to the URL config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWork {
    Keep,
    Create,
    Update,
    Delete,
}

/// What up or down does: the marker (before a URL is created), the config, then the stack's statements
/// (added before the ones they replace are removed, under a new Sid, so the URL never answers 403 in
/// between), then the marker (after a URL is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlWork {
    pub config: ConfigWork,
    pub remove: Vec<String>,
    /// Each new statement with its Sid.
    pub add: Vec<(Public, String)>,
    /// Some(true): put the marker on (a URL created on a function this stack did not create); Some(false):
    /// take it off (that URL deleted).
    pub marker: Option<bool>,
}

impl UrlWork {
    fn none() -> UrlWork {
        UrlWork {
            config: ConfigWork::Keep,
            remove: Vec::new(),
            add: Vec::new(),
            marker: None,
        }
    }
    fn is_noop(&self) -> bool {
        *self == UrlWork::none()
    }
}

/// Who the live URL belongs to, from the function's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The function does not exist yet: the URL up makes is the stack's.
    NoFunction,
    /// The function is the stack's, so its URL is too.
    Function,
    /// The function is not the stack's, but stackctl created its URL (the `stackctl:url` marker).
    Marked,
    /// The function is not the stack's, and neither is any URL it has.
    Foreign,
}

impl Owner {
    pub fn of(stack: &Stack, function: Option<&LiveFunction>) -> Owner {
        match function {
            None => Owner::NoFunction,
            Some(f) if stack.owns(&f.tags) => Owner::Function,
            Some(f) if f.tags.get(URL_TAG) == Some(&stack.name) => Owner::Marked,
            Some(_) => Owner::Foreign,
        }
    }
    fn owns_url(self) -> bool {
        self != Owner::Foreign
    }
}

/// Whether the function carries the stack's `stackctl:url` marker.
fn marked(stack: &Stack, function: Option<&LiveFunction>) -> bool {
    function.is_some_and(|f| f.tags.get(URL_TAG) == Some(&stack.name))
}

/// What converging the URL to `wanted` does (pure): the changes shown, and the work. `marked`: the function
/// carries the stack's `stackctl:url` marker.
pub fn diff(
    stack: &str,
    wanted: Option<&UrlSpec>,
    live: Option<&UrlState>,
    owner: Owner,
    marked: bool,
) -> (Vec<Change>, UrlWork, Option<String>) {
    let empty = UrlState {
        config: None,
        statements: Vec::new(),
    };
    let live = live.unwrap_or(&empty);
    let mut changes = Vec::new();
    let mut work = UrlWork::none();
    let mut note = None;
    let live_config = live.config.as_ref();
    // The config.
    match (wanted, live_config) {
        (Some(spec), None) => {
            changes.push(Change::add("auth", spec.auth.as_aws()));
            if spec.cors.is_some() {
                changes.push(Change::add("cors", describe_cors(spec.cors.as_ref())));
            }
            work.config = ConfigWork::Create;
            work.marker = (!marked).then_some(true);
        }
        (Some(spec), Some(config)) if owner.owns_url() => {
            if config.auth_type != spec.auth.as_aws() {
                changes.push(Change::modify(
                    "auth",
                    &config.auth_type,
                    spec.auth.as_aws(),
                ));
            }
            let (before, after) = (config.cors.as_ref(), spec.cors.as_ref());
            if canonical(before) != canonical(after) {
                changes.push(Change::modify(
                    "cors",
                    describe_cors(before),
                    describe_cors(after),
                ));
            }
            if !changes.is_empty() {
                work.config = ConfigWork::Update;
            }
            // The stack's URL without the marker (an up killed between creating the URL and marking the
            // function, before the marker came first): without it, removing the section would leave the URL.
            if !marked {
                changes.push(Change::add(format!("tag.{URL_TAG}"), stack));
                work.marker = Some(true);
            }
        }
        (Some(_), Some(config)) => {
            changes.push(Change::keep("auth", &config.auth_type));
            changes.push(Change::keep("cors", describe_cors(config.cors.as_ref())));
            note = Some(
                "the function's own URL (not created by this stack): used as it is; its auth, CORS and \
                 permissions are never changed or deleted"
                    .to_string(),
            );
        }
        (None, Some(config)) if owner.owns_url() => {
            changes.push(Change::remove("url", &config.url));
            work.config = ConfigWork::Delete;
            work.marker = Some(false);
        }
        (None, Some(_)) => {
            note = Some(
                "the function's own URL (not created by this stack, and not in stack.toml): left alone"
                    .to_string(),
            );
        }
        (None, None) if marked => {
            // A marker without a URL (a run killed between marking the function and creating it).
            changes.push(Change::remove(format!("tag.{URL_TAG}"), stack));
            work.marker = Some(false);
        }
        (None, None) => {}
    }
    // The statements: both when the URL is public and the stack's, none otherwise. A URL the stack does
    // not own gets none added, but any statement of the stack's is still the stack's to remove.
    let public = wanted.is_some_and(|s| s.auth == UrlAuth::None)
        && (owner.owns_url() || live_config.is_none());
    let taken: Vec<String> = live.statements.iter().map(|s| s.sid.clone()).collect();
    for kind in Public::BOTH {
        let found: Vec<&LiveStatement> =
            live.statements.iter().filter(|s| s.kind == kind).collect();
        // Public: one statement as wanted is kept (the first), every other of this kind goes.
        let keep = found.iter().find(|s| public && s.as_wanted).map(|s| &s.sid);
        if public && keep.is_none() {
            let sid = kind.new_sid(stack, &taken);
            match found.first() {
                None => changes.push(Change::add(format!("permission.{sid}"), describe(kind))),
                Some(old) => changes.push(Change::modify(
                    format!("permission.{sid}"),
                    format!(
                        "{} (not as stackctl writes it; removed once this is in)",
                        old.sid
                    ),
                    describe(kind),
                )),
            }
            work.add.push((kind, sid));
        }
        for s in found.iter().filter(|s| Some(&s.sid) != keep) {
            if !(public && keep.is_none() && Some(s) == found.first()) {
                changes.push(Change::remove(
                    format!("permission.{}", s.sid),
                    describe(kind),
                ));
            }
            work.remove.push(s.sid.clone());
        }
    }
    (changes, work, note)
}

/// A statement as plan shows it.
fn describe(kind: Public) -> String {
    let (_, key, value) = kind.condition();
    format!("{} for anyone, when {key} = {value}", kind.action())
}

/// plan's and up's warning for a public URL (`auth = "none"`): None for `aws_iam` or no URL.
pub fn public_warning(stack: &Stack) -> Option<String> {
    stack.url.as_ref().filter(|u| u.auth == UrlAuth::None)?;
    let cap = match stack.function.reserved_concurrency {
        Some(n) => format!(
            "`function.reserved_concurrency = {n}` caps how many executions run at once (more are answered \
             429); it caps neither requests nor cost"
        ),
        None => "set `function.reserved_concurrency` (e.g. 10) to cap how many executions a flood of requests \
                 runs at once (more are answered 429); it caps neither requests nor cost"
            .to_string(),
    };
    Some(format!(
        "`function.url.auth = \"none\"`: anyone on the internet can call this API. The handler takes \
         `userId` from the query string without authentication, so any caller can read, change and delete \
         any user's items. {cap}; use `auth = \"aws_iam\"` for signed callers only."
    ))
}

/// The URL's resource kind.
pub struct FunctionUrl {
    pub(crate) at: Address,
    pub(crate) function: Address,
}

impl FunctionUrl {
    async fn read_state(&self, cx: &ReadCx<'_>) -> Result<Option<UrlState>> {
        let (lambda, function) = (&cx.clients.lambda, &cx.stack.function.name);
        if cx.stack.url.is_none() {
            // Read after the function (read_after): only a marked function has a URL of the stack's.
            let marked = cx
                .live_of::<Function>(&self.function)
                .is_some_and(|f| f.tags.get(URL_TAG) == Some(&cx.stack.name));
            if !marked {
                return Ok(None);
            }
        }
        let (config, statements) = tokio::try_join!(
            read_config(lambda, function),
            read_statements(lambda, function, &cx.stack.name)
        )?;
        // Nothing there. Without `[function.url]` the function is marked (read above): a run killed between
        // marking it and creating the URL. The marker is still planned away, or a URL someone else makes
        // there later would be taken for the stack's.
        if config.is_none() && statements.is_empty() && cx.stack.url.is_some() {
            return Ok(None);
        }
        Ok(Some(UrlState { config, statements }))
    }

    async fn carry_out(&self, world: &World<'_>, work: &UrlWork) -> Result<Done> {
        if work.is_noop() {
            return Ok(None);
        }
        let (lambda, function) = (&world.clients.lambda, &world.stack.function.name);
        let task = world.task(Kind::FunctionUrl, function)?;
        // The function may have been created by this very up: its ARN is known in advance.
        let arn = world.arn_of(&self.function).unwrap_or_default();
        let result = async {
            // The marker goes on before the URL is created and comes off after it is deleted, so that a
            // run killed in between never leaves a URL of the stack's unmarked (unmarked, a stack without
            // `[function.url]` would never read it, and status would say in sync while it stays public).
            if work.marker == Some(true) {
                task.set("marking the function");
                set_marker(lambda, arn, &world.stack.name, true).await?;
            }
            let wanted = world.stack.url.as_ref();
            let mut url = None;
            match (&work.config, wanted) {
                (ConfigWork::Create, Some(spec)) => {
                    task.set("creating");
                    url = Some(create(lambda, function, spec).await?);
                }
                (ConfigWork::Update, Some(spec)) => {
                    task.set("updating");
                    url = Some(update(lambda, function, spec).await?);
                }
                (ConfigWork::Delete, _) => {
                    task.set("deleting");
                    delete(lambda, function).await?;
                }
                _ => {}
            }
            if let Some(url) = url {
                world.set_output("url", url);
            }
            // Added before the replaced ones are removed: the URL never goes without its statements.
            for (kind, sid) in &work.add {
                task.set(&format!("adding permission {sid}"));
                add_permission(lambda, function, sid, *kind).await?;
            }
            for sid in &work.remove {
                task.set(&format!("removing permission {sid}"));
                remove_permission(lambda, function, sid).await?;
            }
            if work.marker == Some(false) {
                set_marker(lambda, arn, &world.stack.name, false).await?;
            }
            Ok(match work.config {
                ConfigWork::Create => "created",
                ConfigWork::Update => "updated",
                ConfigWork::Delete => "deleted",
                ConfigWork::Keep if work.add.is_empty() && work.remove.is_empty() => {
                    if work.marker == Some(false) {
                        "marker removed"
                    } else {
                        "marked"
                    }
                }
                ConfigWork::Keep => "permissions updated",
            })
        }
        .await;
        finish(&task, result)
    }
}

/// CreateFunctionUrlConfig (BUFFERED, as the handler answers); returns the URL. A URL created meanwhile
/// (ResourceConflictException) is brought to the wanted config instead.
pub async fn create(client: &Client, function: &str, spec: &UrlSpec) -> Result<String> {
    let created = client
        .create_function_url_config()
        .function_name(function)
        .auth_type(FunctionUrlAuthType::from(spec.auth.as_aws()))
        .set_cors(spec.cors.as_ref().map(sdk_cors))
        .invoke_mode(aws_sdk_lambda::types::InvokeMode::Buffered)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.function_url().to_string()),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_conflict_exception()) =>
        {
            update(client, function, spec).await
        }
        Err(err) => {
            Err(err).with_context(|| format!("creating the URL of Lambda function `{function}`"))
        }
    }
}

/// UpdateFunctionUrlConfig with the whole wanted config (no CORS: an empty one, which removes it).
pub async fn update(client: &Client, function: &str, spec: &UrlSpec) -> Result<String> {
    let cors = spec.cors.clone().unwrap_or_default();
    let out = client
        .update_function_url_config()
        .function_name(function)
        .auth_type(FunctionUrlAuthType::from(spec.auth.as_aws()))
        .cors(sdk_cors(&cors))
        .send()
        .await
        .with_context(|| format!("updating the URL of Lambda function `{function}`"))?;
    Ok(out.function_url().to_string())
}

/// DeleteFunctionUrlConfig; already gone is success.
pub async fn delete(client: &Client, function: &str) -> Result<()> {
    match client
        .delete_function_url_config()
        .function_name(function)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => {
            Err(err).with_context(|| format!("deleting the URL of Lambda function `{function}`"))
        }
    }
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
    sid: &str,
    kind: Public,
) -> Result<()> {
    let context = || format!("adding permission `{sid}` to Lambda function `{function}`");
    let send = || async {
        let request = client
            .add_permission()
            .function_name(function)
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
                match policy_statement(client, function, sid).await? {
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
async fn policy_statement(client: &Client, function: &str, sid: &str) -> Result<Option<Value>> {
    let policy = match client.get_policy().function_name(function).send().await {
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
pub async fn remove_permission(client: &Client, function: &str, sid: &str) -> Result<()> {
    match client
        .remove_permission()
        .function_name(function)
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(err) if err.as_service_error().is_some_and(not_found) => Ok(()),
        Err(err) => Err(err).with_context(|| {
            format!("removing permission `{sid}` from Lambda function `{function}`")
        }),
    }
}

/// Puts the `stackctl:url` marker on the function, or takes it off.
async fn set_marker(client: &Client, function_arn: &str, stack: &str, on: bool) -> Result<()> {
    let context = || format!("updating the `{URL_TAG}` tag of `{function_arn}`");
    if on {
        client
            .tag_resource()
            .resource(function_arn)
            .tags(URL_TAG, stack)
            .send()
            .await
            .with_context(context)?;
    } else {
        client
            .untag_resource()
            .resource(function_arn)
            .tag_keys(URL_TAG)
            .send()
            .await
            .with_context(context)?;
    }
    Ok(())
}

impl Resource for FunctionUrl {
    type Live = UrlState;
    type Work = UrlWork;
    type Teardown = UrlWork;
    type Aside = ();
    type Desired = ();

    fn address(&self) -> &Address {
        &self.at
    }

    fn depends_on(&self) -> Vec<Dep> {
        vec![Dep::Applied(self.function.clone())]
    }

    /// The URL is the function's.
    fn name_field(&self) -> &'static str {
        "function.name"
    }

    fn desired(&self, _: &World) -> Result<()> {
        Ok(())
    }

    /// The URL: the one up just created, else the live one; null while the stack has none.
    fn outputs(&self, world: &World) -> Vec<Output> {
        let url = world.learnt("url").or_else(|| {
            world
                .live_of::<FunctionUrl>(&self.at)
                .and_then(|s| s.config.as_ref())
                .map(|c| c.url.clone())
        });
        vec![Output {
            key: "url",
            position: 0,
            value: url.filter(|_| world.stack.url.is_some()),
        }]
    }

    fn name(&self, stack: &Stack) -> String {
        stack.function.name.clone()
    }

    fn in_stack(&self, stack: &Stack) -> bool {
        stack.url.is_some()
    }

    fn read_after(&self, _: crate::resources::Purpose, stack: &Stack) -> Vec<Address> {
        // With a URL in stack.toml, read at once; without one, only the function's marker says whether
        // there is a URL of the stack's to delete.
        if stack.url.is_some() {
            Vec::new()
        } else {
            vec![self.function.clone()]
        }
    }

    fn read<'a>(&'a self, cx: &'a ReadCx<'a>) -> BoxFuture<'a, Result<Found<UrlState, ()>>> {
        Box::pin(async move { Ok(self.read_state(cx).await?.into()) })
    }

    fn arn<'l>(&self, _: &'l UrlState) -> Option<&'l str> {
        None
    }

    fn tags<'l>(&self, _: &'l UrlState) -> Option<&'l BTreeMap<String, String>> {
        None // a URL config has none; ownership follows the function (Owner)
    }

    fn owned_with(&self) -> Option<&Address> {
        Some(&self.function)
    }

    fn plan_up(&self, world: &World) -> Result<Planned<UrlWork>> {
        let stack = world.stack;
        let live = world.live_of::<FunctionUrl>(&self.at);
        let function = world.live_of::<Function>(&self.function);
        let owner = Owner::of(stack, function);
        let (changes, work, note) = diff(
            &stack.name,
            stack.url.as_ref(),
            live,
            owner,
            marked(stack, function),
        );
        let action = match work.config {
            ConfigWork::Create => Action::Create,
            ConfigWork::Delete => Action::Delete,
            _ if !work.is_noop() => Action::Update,
            _ => Action::NoOp,
        };
        let mut plan =
            ResourcePlan::new(Kind::FunctionUrl, &stack.function.name, action).changes(changes);
        if let Some(note) = note {
            plan = plan.note(note);
        }
        Ok(Planned::new(plan, work))
    }

    fn apply<'a>(&'a self, world: &'a World<'a>, work: &'a UrlWork) -> BoxFuture<'a, Result<Done>> {
        Box::pin(self.carry_out(world, work))
    }

    fn plan_down(&self, world: &World, state: &UrlState) -> Planned<UrlWork> {
        let stack = world.stack;
        let function = world.live_of::<Function>(&self.function);
        let owner = Owner::of(stack, function);
        // Down is converging to "no URL in stack.toml": the same diff.
        let (changes, mut work, note) = diff(
            &stack.name,
            None,
            Some(state),
            owner,
            marked(stack, function),
        );
        if owner == Owner::Function {
            work.marker = None; // down deletes the function, its tags with it
        }
        let action = match work.config {
            ConfigWork::Delete => Action::Delete,
            _ if !work.is_noop() => Action::Update,
            _ => Action::Keep,
        };
        let mut plan =
            ResourcePlan::new(Kind::FunctionUrl, &stack.function.name, action).changes(changes);
        if let Some(note) = note {
            plan = plan.note(note);
        }
        Planned::new(plan, work)
    }

    fn destroy<'a>(
        &'a self,
        world: &'a World<'a>,
        work: &'a UrlWork,
    ) -> BoxFuture<'a, Result<Done>> {
        self.apply(world, work)
    }

    fn state(&self, world: &World, state: &UrlState) -> BTreeMap<String, String> {
        let mut shown = BTreeMap::new();
        if let Some(config) = &state.config {
            shown.insert("url".into(), config.url.clone());
            shown.insert("auth".into(), config.auth_type.clone());
            shown.insert("cors".into(), describe_cors(config.cors.as_ref()));
        }
        let owner = Owner::of(world.stack, world.live_of::<Function>(&self.function));
        shown.insert(
            "owner".into(),
            if owner.owns_url() {
                "this stack"
            } else {
                "not this stack (left alone by down)"
            }
            .into(),
        );
        for s in &state.statements {
            shown.insert(
                format!("permission.{}", s.sid),
                if s.as_wanted {
                    "present"
                } else {
                    "present, not as stackctl writes it"
                }
                .into(),
            );
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Op;
    use serde_json::json;

    const STACK: &str = "shop";

    fn spec(auth: UrlAuth, cors: Option<CorsSpec>) -> UrlSpec {
        UrlSpec { auth, cors }
    }

    fn config(auth: &str, cors: Option<CorsSpec>) -> Option<LiveUrlConfig> {
        Some(LiveUrlConfig {
            url: "https://abc.lambda-url.us-east-1.on.aws/".into(),
            auth_type: auth.into(),
            cors,
        })
    }

    fn ours(as_wanted: bool) -> Vec<LiveStatement> {
        Public::BOTH
            .iter()
            .map(|p| LiveStatement {
                sid: p.sid(STACK),
                kind: *p,
                as_wanted,
            })
            .collect()
    }

    fn cors(origins: &[&str], methods: &[&str]) -> CorsSpec {
        CorsSpec {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: methods.iter().map(|s| s.to_string()).collect(),
            ..CorsSpec::default()
        }
    }

    #[test]
    fn a_public_url_is_created_with_both_statements() {
        let wanted = spec(UrlAuth::None, None);
        let (changes, work, note) = diff(STACK, Some(&wanted), None, Owner::NoFunction, false);
        assert_eq!(work.config, ConfigWork::Create);
        assert_eq!(
            work.add,
            Public::BOTH.map(|p| (p, p.sid(STACK))).to_vec(),
            "a fresh URL's statements take the plain Sids"
        );
        assert_eq!(work.marker, Some(true));
        assert!(work.remove.is_empty() && note.is_none());
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "auth",
                "permission.stackctl-shop-public-url",
                "permission.stackctl-shop-public-url-invoke"
            ]
        );
    }

    #[test]
    fn in_sync_is_no_work_and_cors_order_and_case_are_not_drift() {
        let wanted = spec(
            UrlAuth::None,
            Some(cors(
                &["https://a.example", "https://b.example"],
                &["GET", "POST"],
            )),
        );
        let live = UrlState {
            config: config(
                "NONE",
                Some(cors(
                    &["https://b.example", "https://a.example"],
                    &["post", "GET"],
                )),
            ),
            statements: ours(true),
        };
        let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
        assert!(changes.is_empty(), "{changes:?}");
        assert!(work.is_noop());
        // The stack's URL on a function without the marker (a run killed before marking it) gets it.
        let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, false);
        assert_eq!(changes, vec![Change::add("tag.stackctl:url", STACK)]);
        assert_eq!((work.config, work.marker), (ConfigWork::Keep, Some(true)));
    }

    #[test]
    fn aws_iam_removes_both_public_statements_and_updates_the_config() {
        let live = UrlState {
            config: config("NONE", None),
            statements: ours(true),
        };
        let wanted = spec(UrlAuth::AwsIam, None);
        let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
        assert_eq!(work.config, ConfigWork::Update);
        assert_eq!(
            work.remove,
            vec![
                "stackctl-shop-public-url".to_string(),
                "stackctl-shop-public-url-invoke".to_string()
            ]
        );
        assert!(work.add.is_empty());
        assert_eq!(changes[0], Change::modify("auth", "NONE", "AWS_IAM"));
    }

    #[test]
    fn a_statement_not_as_stackctl_writes_it_is_replaced() {
        let mut statements = ours(true);
        statements[1].as_wanted = false;
        let live = UrlState {
            config: config("NONE", None),
            statements,
        };
        let wanted = spec(UrlAuth::None, None);
        let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
        assert_eq!(
            work.remove,
            vec!["stackctl-shop-public-url-invoke".to_string()]
        );
        // The replacement goes in under a new Sid (the plain one is still taken until it is removed).
        let new = Public::InvokeFunction.new_sid(STACK, &[live.statements[1].sid.clone()]);
        assert!(
            new.starts_with("stackctl-shop-public-url-invoke-")
                && new.len() == "stackctl-shop-public-url-invoke-".len() + 8,
            "{new}"
        );
        assert!(Public::InvokeFunction.owns_sid(STACK, &new));
        assert!(!Public::InvokeFunctionUrl.owns_sid(STACK, &new));
        assert_eq!(work.add, vec![(Public::InvokeFunction, new.clone())]);
        assert_eq!(work.config, ConfigWork::Keep);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, format!("permission.{new}"));
        // Once in, the replacement is the stack's statement, and the next diff keeps it.
        let live = UrlState {
            config: config("NONE", None),
            statements: vec![
                live.statements[0].clone(),
                LiveStatement {
                    sid: new,
                    kind: Public::InvokeFunction,
                    as_wanted: true,
                },
            ],
        };
        let (changes, work, _) = diff(STACK, Some(&wanted), Some(&live), Owner::Function, true);
        assert!(work.is_noop() && changes.is_empty(), "{work:?}");
    }

    #[test]
    fn a_marker_without_a_url_is_taken_off_and_not_written_twice() {
        let nothing = UrlState {
            config: None,
            statements: Vec::new(),
        };
        let (changes, work, _) = diff(STACK, None, Some(&nothing), Owner::Marked, true);
        assert_eq!(changes, vec![Change::remove("tag.stackctl:url", STACK)]);
        assert_eq!((work.config, work.marker), (ConfigWork::Keep, Some(false)));
        let wanted = spec(UrlAuth::None, None);
        let (_, work, _) = diff(STACK, Some(&wanted), None, Owner::Marked, true);
        assert_eq!((work.config, work.marker), (ConfigWork::Create, None));
    }

    #[test]
    fn only_the_stacks_own_sids_are_recognised() {
        for sid in [
            "stackctl-shop-public-url",
            "stackctl-shop-public-url-0123abcd",
        ] {
            assert!(Public::InvokeFunctionUrl.owns_sid(STACK, sid), "{sid}");
        }
        for sid in [
            "stackctl-shop-public-url-invoke",
            "stackctl-shop-public-url-0123abcz",
            "stackctl-shop-public-url-0123abcde",
            "stackctl-shop-public-public-url",
            "mine",
        ] {
            assert!(!Public::InvokeFunctionUrl.owns_sid(STACK, sid), "{sid}");
        }
        assert!(!Public::InvokeFunctionUrl.owns_sid("shop-public", "stackctl-shop-public-url"));
    }

    #[test]
    fn removing_the_section_deletes_the_stacks_url_and_statements_only() {
        let live = UrlState {
            config: config("NONE", None),
            statements: ours(true),
        };
        let (changes, work, _) = diff(STACK, None, Some(&live), Owner::Function, true);
        assert_eq!(work.config, ConfigWork::Delete);
        assert_eq!(work.remove.len(), 2);
        assert_eq!(work.marker, Some(false));
        assert_eq!(changes[0].op, Op::Remove);
        // On a function the stack did not create: its own URL stays, but the stack's statements go.
        let (_, work, note) = diff(STACK, None, Some(&live), Owner::Foreign, false);
        assert_eq!(work.config, ConfigWork::Keep);
        assert_eq!(work.remove.len(), 2);
        assert!(note.unwrap().contains("left alone"));
        // A URL the stack made there (marked): deleted, and the marker taken off.
        let (_, work, _) = diff(STACK, None, Some(&live), Owner::Marked, true);
        assert_eq!(
            (work.config, work.marker),
            (ConfigWork::Delete, Some(false))
        );
    }

    #[test]
    fn an_adopted_functions_own_url_is_never_changed() {
        let live = UrlState {
            config: config("AWS_IAM", None),
            statements: Vec::new(),
        };
        let wanted = spec(UrlAuth::None, Some(cors(&["*"], &[])));
        let (changes, work, note) = diff(STACK, Some(&wanted), Some(&live), Owner::Foreign, false);
        assert!(work.is_noop(), "{work:?}");
        assert!(changes.iter().all(|c| c.op == Op::Keep), "{changes:?}");
        assert!(note.unwrap().contains("never changed or deleted"));
        // Without a URL, the stack creates one there and marks the function.
        let (_, work, _) = diff(STACK, Some(&wanted), None, Owner::Foreign, false);
        assert_eq!(
            (work.config, work.marker, work.add.len()),
            (ConfigWork::Create, Some(true), 2)
        );
    }

    #[test]
    fn statements_are_recognised_by_sid_and_checked_by_their_conditions() {
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "someone-else", "Effect": "Allow", "Principal": "*",
                 "Action": "lambda:InvokeFunctionUrl", "Resource": "arn"},
                {"Sid": "stackctl-shop-public-url", "Effect": "Allow", "Principal": "*",
                 "Action": "lambda:InvokeFunctionUrl", "Resource": "arn",
                 "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}},
                // moto's shape (the condition as a raw key, no Condition block): not as wanted.
                {"Sid": "stackctl-shop-public-url-invoke", "Effect": "Allow", "Principal": {"AWS": "*"},
                 "Action": "lambda:InvokeFunction", "Resource": "arn", "InvokedViaFunctionUrl": true}
            ]
        })
        .to_string();
        let found = stack_statements(&policy, STACK).unwrap();
        assert_eq!(
            found,
            vec![
                LiveStatement {
                    sid: "stackctl-shop-public-url".into(),
                    kind: Public::InvokeFunctionUrl,
                    as_wanted: true
                },
                LiveStatement {
                    sid: "stackctl-shop-public-url-invoke".into(),
                    kind: Public::InvokeFunction,
                    as_wanted: false
                },
            ]
        );
        let good =
            json!({"Statement": {"Sid": "stackctl-shop-public-url-invoke", "Effect": "Allow",
            "Principal": "*", "Action": "lambda:InvokeFunction",
            "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}})
            .to_string();
        assert!(stack_statements(&good, STACK).unwrap()[0].as_wanted);
        assert!(stack_statements(&good, "other").unwrap().is_empty());
    }

    #[test]
    fn cors_is_described_canonically() {
        assert_eq!(describe_cors(None), "none");
        assert_eq!(describe_cors(Some(&CorsSpec::default())), "none");
        let c = CorsSpec {
            max_age: Some(300),
            allow_headers: vec!["Content-Type".into()],
            ..cors(&["https://app.example.com"], &["post", "GET"])
        };
        assert_eq!(
            describe_cors(Some(&c)),
            "allow_origins [\"https://app.example.com\"], allow_methods [\"GET\", \"POST\"], \
             allow_headers [\"content-type\"], max_age 300"
        );
    }
}
