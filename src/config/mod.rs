//! stack.toml -> a resolved, typed `Stack`. Everything a user can get wrong is caught here, before any AWS
//! call, and reported with the file, the line and the field, and the fix.
//!
//! One concern a module: `raw` (the schema: every section declared once with `schema`'s `section!`, giving
//! the file as written, its `[stages]` overlay, its keys and examples), `placeholders` (the `${...}` a policy
//! template or a variable may use, and their values), `resolve` (the checker, section by section), `function`,
//! `environment`, `logs` (the function's log group), `deploy` (`[function.deploy]`: versions behind an alias), `names`, `paths`, `policy_rules` (with `json_doc` and `json_scan` for positions in JSON
//! files), `errors` (with `hints` and `toml_tree` for the TOML parser's and serde's complaints), `stages`
//! (`--stage`: stage names, `[stages.<name>]` overlays, the stage in every physical name).

mod auth;
mod deploy;
mod environment;
mod errors;
mod function;
mod hints;
mod json_doc;
mod json_scan;
mod logs;
mod names;
mod paths;
pub mod placeholders;
mod policy_rules;
mod protection;
mod raw;
mod resolve;
mod schema;
mod stages;
mod toml_tree;
mod url;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod test_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use auth::{
    AuthSpec, AUTH_CLIENT_ID_VARIABLE, AUTH_ISSUER_VARIABLE, AUTH_JWKS_URL_VARIABLE, AUTH_VARIABLES,
};
pub use deploy::MIN_KEEP_VERSIONS;
pub use environment::CORS_VARIABLE;
pub use errors::ConfigError;
pub use protection::{PointInTimeRecovery, MAX_RECOVERY_DAYS};
pub use stages::{stage_name, stage_problem};

use errors::line_col;
use placeholders::Contributed;
use raw::RawFile;
use resolve::Checker;

/// The tag stackctl puts on everything it creates; its value is the stack name.
pub const OWNER_TAG: &str = "stackctl:stack";
/// On IAM roles and policies: the region whose stack owns them. IAM is global (one role serves every
/// region), so a stack run in another region finds the same role with the same owner tag; this tag tells
/// them apart.
pub const REGION_TAG: &str = "stackctl:region";
/// On everything a stage creates: the stage. Without it, a resource belongs to the stack's unstaged
/// deployment; ownership needs the stack and the stage to match, so `down --stage pr-12` never touches
/// `prod` or `pr-11`, however alike their names.
pub const STAGE_TAG: &str = "stackctl:stage";

/// Which deployment of the stack file to resolve: the stage (`--stage`) and the region (`--region`), when
/// given. Both change names (`${stage}`, `${region}`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    pub stage: Option<&'a str>,
    pub region: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// Only on-demand billing is supported; kept as a string for display and comparison with AWS.
    pub billing_mode: String,
    /// `[table] deletion_protection`: DynamoDB deletion protection wanted on the table (default false).
    pub deletion_protection: bool,
    /// `[table] point_in_time_recovery` (config/protection.rs); None: not managed (never read nor changed).
    pub point_in_time_recovery: Option<PointInTimeRecovery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RoleSpec {
    pub name: String,
    pub trust_policy: serde_json::Value,
    pub managed_policy_arns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    pub name: String,
    pub template_path: PathBuf,
    /// The template, parsed; placeholders are substituted inside string values only.
    pub template: serde_json::Value,
    /// `[policy] allow_wildcards`: whether the template may grant wildcard actions or resources other
    /// than the stack's table (default false: such a template is refused).
    pub allow_wildcards: bool,
    /// The broad grants `allow_wildcards` let through, one line each (e.g. "statement `All` grants the
    /// wildcard action `dynamodb:*`"), for plan/status to point out; empty when the template has none.
    pub wildcard_grants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub name: String,
    pub runtime: String,
    pub handler: String,
    pub source_dir: PathBuf,
    pub install_command: Option<String>,
    pub build_command: String,
    pub artifact_dir: PathBuf,
    pub memory_mb: i32,
    pub timeout_secs: i32,
    /// `function.architecture`: `x86_64` (the default) or `arm64`.
    pub architecture: String,
    /// Variable name -> value template (may reference `${table.name}` and friends).
    pub environment: BTreeMap<String, String>,
    /// `function.reserved_concurrency`: the function's reserved concurrency (PutFunctionConcurrency): how
    /// many executions run at once, taken from the account's pool; None: unreserved (DeleteFunctionConcurrency
    /// when set live).
    pub reserved_concurrency: Option<i32>,
}

/// `[function.url]`: the function's URL (a resource of its own, resources/function_url/).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSpec {
    /// `function.url.auth`: required when the section exists.
    pub auth: UrlAuth,
    /// `[function.url.cors]`; None: the URL has no CORS config, and the handler sends its own headers.
    pub cors: Option<CorsSpec>,
}

/// Who may call the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlAuth {
    /// `"none"`: anyone on the internet (needs the two public resource-policy statements).
    None,
    /// `"aws_iam"`: SigV4-signed callers with `lambda:InvokeFunctionUrl`.
    AwsIam,
}

impl UrlAuth {
    /// The AuthType value Lambda takes and answers.
    pub fn as_aws(self) -> &'static str {
        match self {
            UrlAuth::None => "NONE",
            UrlAuth::AwsIam => "AWS_IAM",
        }
    }
}

/// `[function.url.cors]`, checked with AWS's rules (config/url.rs). Lists keep the file's order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsSpec {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<i32>,
    pub allow_credentials: bool,
}

/// The function's CloudWatch Logs group, from `[function.logs]`: a resource of its own (resources/log_group.rs),
/// made before the function so that stackctl, not Lambda's first invoke, creates it with its retention and tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupSpec {
    /// `/aws/lambda/<function.name>`, the group Lambda writes to; checked against CloudWatch's name rule.
    pub name: String,
    /// `function.logs.retention_days`: one of `logs::LOG_RETENTION_DAYS`; `logs::DEFAULT_LOG_RETENTION_DAYS` (30) when
    /// not written.
    pub retention_days: i32,
    /// Whether the file wrote `retention_days`. A group stackctl creates always gets `retention_days`; an
    /// adopted one (made by Lambda's first invoke or by someone else) keeps its own retention unless the file
    /// asks for one.
    pub retention_explicit: bool,
}

/// `[function.deploy]`: `up` publishes a version, verifies it and only then moves the alias to it
/// (config/deploy.rs). Absent: `up` updates `$LATEST` in place, as before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploySpec {
    /// `alias`: Lambda's alias name rule, never a number nor `$LATEST`; `live` when not written.
    pub alias: String,
    /// `keep_versions`: how many versions pruning keeps (at least 2); 5 when not written.
    pub keep_versions: i32,
    /// `verify`: what runs against a new version before the alias moves to it.
    pub verify: Verify,
}

/// `function.deploy.verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// `"smoke"` (the default): smoke's sequence against the new version.
    Smoke,
    /// `"none"`: the alias moves once the version is published.
    None,
}

/// The instance name of the function `[function]` describes: its graph nodes are `function.function`,
/// `log_group.function` and `function_url.function`, and its outputs keep their plain keys (`function_arn`,
/// `url`). Also the stack file's section its checks name their fields under (`function.name`).
pub const FUNCTION: &str = "function";

/// One function of the stack, whole: its spec and the settings of what is its own (its log group, its URL),
/// under its instance name and the stack file's section that describes it. The resource graph gives it to
/// the function's nodes (resources::graph); commands that act on one function take the chosen one
/// (`Stack::chosen_function`).
#[derive(Debug, Clone, PartialEq)]
pub struct StackFunction {
    /// Its instance name: its nodes' name in the graph, and what `--function` would pick.
    pub instance: String,
    /// The stack file's section that describes it (`function`): the prefix of the fields its notes name.
    pub section: String,
    /// The stack file's key that names it (`function.name`; also its log group's and URL's).
    pub name_field: String,
    pub spec: FunctionSpec,
    pub log_group: LogGroupSpec,
    /// `[<section>.url]`; None: the function has no URL (and deletes one it made).
    pub url: Option<UrlSpec>,
    /// The stack's `[auth]`, which the function verifies tokens against.
    pub auth: Option<AuthSpec>,
    /// `[<section>.deploy]`; None: `$LATEST` is updated in place.
    pub deploy: Option<DeploySpec>,
}

impl StackFunction {
    /// `<section>.<key>`: a field of the function as the stack file writes it (`function.name`).
    pub fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.section)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub table_secs: u64,
    pub function_secs: u64,
    pub role_propagation_secs: u64,
    /// `down --snapshot`: how long after the stack's last possible write (the function gone, plus its
    /// timeout) the final snapshot is requested. DynamoDB only guarantees that a backup holds what was
    /// committed a minute before it was requested (CreateBackup), so 60 by default. Not a wait bound:
    /// --wait-timeout does not change it.
    pub snapshot_settle_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            table_secs: 600,
            function_secs: 300,
            role_propagation_secs: 120,
            snapshot_settle_secs: 60,
        }
    }
}

/// The whole stack, resolved: names checked, paths absolute, files read. Resource code only sees this.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub file: PathBuf,
    pub name: String,
    /// `--stage`: the stage whose names and tags this is; None: the stack as written.
    pub stage: Option<String>,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    pub table: TableSpec,
    pub role: RoleSpec,
    pub policy: PolicySpec,
    pub function: FunctionSpec,
    pub log_group: LogGroupSpec,
    /// `[function.url]`; None: the stack has no URL (and deletes one it made).
    pub url: Option<UrlSpec>,
    /// `[auth]`: the callers' verified identity (config/auth.rs); None: anonymous, as before.
    pub auth: Option<AuthSpec>,
    /// A public URL without `[auth]` and without `allow_anonymous = true`: the error `up` and `plan` answer
    /// (`refuse_anonymous_url`, before any AWS call); the other commands run (config/url.rs).
    pub anonymous_url: Option<ConfigError>,
    /// `[function.deploy]`; None: `up` updates `$LATEST` in place, as before.
    pub deploy: Option<DeploySpec>,
    /// `[stages.<name>] protected = true` for the stage resolved: the error `down --confirm` answers
    /// (`refuse_protected_down`, before any AWS call); None: not protected.
    pub protected_stage: Option<ConfigError>,
    /// The function the commands that act on one function (invoke, logs, dev, smoke) act on, by its
    /// instance name (`choose_function`, once in main); None: the only one.
    chosen_function: Option<String>,
    pub timeouts: Timeouts,
    /// Warnings found while loading (e.g. a deprecated runtime); printed, never fatal.
    pub warnings: Vec<String>,
}

impl Stack {
    /// `up` and `plan` on a file whose public URL has neither `[auth]` nor `allow_anonymous = true`: the
    /// error that says the risk and the fix.
    pub fn refuse_anonymous_url(&self) -> Result<(), ConfigError> {
        match &self.anonymous_url {
            Some(refusal) => Err(refusal.clone()),
            None => Ok(()),
        }
    }

    /// Every function of the stack, each with its log group and URL, in the file's order: today the one
    /// `[function]`. The one place that turns the file's sections into functions.
    pub fn functions(&self) -> Vec<StackFunction> {
        vec![StackFunction {
            instance: FUNCTION.to_string(),
            section: FUNCTION.to_string(),
            name_field: format!("{FUNCTION}.name"),
            spec: self.function.clone(),
            log_group: self.log_group.clone(),
            url: self.url.clone(),
            auth: self.auth.clone(),
            deploy: self.deploy.clone(),
        }]
    }

    /// The function named `instance`; None: the stack's only function (an error when it has several).
    pub fn function_named(&self, instance: Option<&str>) -> Result<StackFunction, ConfigError> {
        let mut functions = self.functions();
        let names = || {
            functions
                .iter()
                .map(|f| format!("`{}`", f.instance))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let at = match instance {
            Some(name) => functions.iter().position(|f| f.instance == name),
            None if functions.len() == 1 => Some(0),
            None => None,
        };
        let (message, fix) = match (at, instance) {
            (Some(at), _) => return Ok(functions.swap_remove(at)),
            (None, Some(name)) => (
                format!("the stack file has no function `{name}`"),
                format!("pick one of {}", names()),
            ),
            (None, None) => (
                "the stack file has several functions".to_string(),
                format!("pick one with `--function` ({})", names()),
            ),
        };
        Err(ConfigError {
            file: self.file.clone(),
            position: None,
            field: Some("--function".into()),
            message,
            fix: Some(fix),
        })
    }

    /// Chooses the function the commands that act on one function act on (`instance`: a `--function`;
    /// None: the only one). Checked here, once: `chosen_function` then always has one.
    pub fn choose_function(&mut self, instance: Option<&str>) -> Result<(), ConfigError> {
        let chosen = self.function_named(instance)?;
        self.chosen_function = Some(chosen.instance);
        Ok(())
    }

    /// The function the commands that act on one function (invoke, logs, dev, smoke and their transports)
    /// act on: the one `choose_function` chose, else the first (today the only one). The one selection
    /// point: resources never use it (each function's nodes hold their own).
    pub fn chosen_function(&self) -> StackFunction {
        let mut functions = self.functions();
        let at = self
            .chosen_function
            .as_ref()
            .and_then(|name| functions.iter().position(|f| &f.instance == name))
            .unwrap_or(0);
        functions.swap_remove(at)
    }

    /// `path` relative to the directory of the stack file (paths in a resolved Stack are absolute), as the
    /// user sees it: lambda/src/handler.ts.
    pub fn project_relative(&self, path: &Path) -> PathBuf {
        let base = self
            .file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
        path.strip_prefix(&base).unwrap_or(path).to_path_buf()
    }

    /// Tags stackctl puts on what it creates: the user's tags plus the ownership tag.
    pub fn resource_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(OWNER_TAG.to_string(), self.name.clone());
        if let Some(stage) = &self.stage {
            tags.insert(STAGE_TAG.to_string(), stage.clone());
        }
        tags
    }

    /// Tags for IAM roles and policies: also the region they serve.
    pub fn iam_resource_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.resource_tags();
        tags.insert(REGION_TAG.to_string(), self.region.clone());
        tags
    }

    /// Whether a live resource with these tags belongs to this stack.
    /// The stage must match too: a resource of another stage (or of the unstaged stack, which has no
    /// stage tag) is not this one's.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(OWNER_TAG) == Some(&self.name) && tags.get(STAGE_TAG) == self.stage.as_ref()
    }

    /// The other deployment a live resource's tags say it belongs to, as (stack, stage): another stack's,
    /// or another stage's of this stack (the unstaged one included). None: untagged (a resource that may be
    /// adopted) or this deployment's own.
    pub fn other_owner<'t>(
        &self,
        tags: &'t BTreeMap<String, String>,
    ) -> Option<(&'t str, Option<&'t str>)> {
        let stack = tags.get(OWNER_TAG)?;
        (!self.owns(tags)).then(|| (stack.as_str(), tags.get(STAGE_TAG).map(String::as_str)))
    }

    /// Why a resource another deployment owns is never written, attached to or deleted, with the fix:
    /// `field` is the stack file's key that names it.
    pub fn other_owner_note(&self, field: &str, stack: &str, stage: Option<&str>) -> String {
        let never = "stackctl never changes, attaches to or deletes another deployment's resources";
        let rename = format!("give it another name in stack.toml (`{field}`)");
        if stack != self.name {
            let (owner, flag) = match stage {
                Some(stage) => (
                    format!(", stage `{stage}`"),
                    format!(" with `--stage {stage}`"),
                ),
                None => (String::new(), String::new()),
            };
            return format!(
                "owned by stack `{stack}`{owner} (its `{OWNER_TAG}` tag): {never}; {rename}, or work on it \
                 with stack `{stack}`'s own stack file{flag}"
            );
        }
        match stage {
            Some(stage) => format!(
                "owned by stage `{stage}` of this stack (its `{STAGE_TAG}` tag): {never}; {rename}, e.g. \
                 with `${{stage}}` in it, or use that stage (`--stage {stage}`)"
            ),
            None => format!(
                "owned by this stack without a stage (no `{STAGE_TAG}` tag): {never}; {rename}, or use it \
                 without `--stage`"
            ),
        }
    }

    /// Whether a live IAM role or policy with these tags belongs to this stack in this region. One
    /// tagged by this stack without a region (made before regions were recorded) counts as this region's,
    /// unless the engine finds it used in another region (`used_in_other_region_note`); `up` then records
    /// the region.
    pub fn owns_iam(&self, tags: &BTreeMap<String, String>) -> bool {
        self.owns(tags) && self.iam_owner_region(tags).is_none()
    }

    /// The other region whose deployment of this stack owns an IAM role or policy with these tags, if any.
    pub fn iam_owner_region<'t>(&self, tags: &'t BTreeMap<String, String>) -> Option<&'t str> {
        match tags.get(REGION_TAG) {
            Some(region) if self.owns(tags) && *region != self.region => Some(region),
            _ => None,
        }
    }

    /// Why a role or policy tagged with this stack (and stage) but no region is not claimed here: `what`
    /// says how a role ties it to region `other` (last used there, or tagged for it), where a function of
    /// this stack may still use it.
    pub fn used_in_other_region_note(&self, kind: &str, what: &str, other: &str) -> String {
        let names = match &self.stage {
            Some(stage) => format!(
                "put the region into the IAM names, e.g. role.name = \"...-${{stage}}-${{region}}\" and \
                 policy.name = \"...-${{stage}}-${{region}}\" (in `[stages.{stage}]` or for every stage)"
            ),
            None => format!(
                "give this region its own IAM names, e.g. role.name = \"{}-{}\" and policy.name = \"{}-{}\"",
                self.role.name, self.region, self.policy.name, self.region
            ),
        };
        format!(
            "tagged by this stack with no `{REGION_TAG}` tag, and {what}: a function of this stack in region \
             `{other}` may use this {kind}, so this region neither claims, changes nor deletes it; run \
             stackctl with `--region {other}` first (it records that region on it), or {names}"
        )
    }

    /// Why a stack never touches an IAM resource its deployment in another region owns, and the fix.
    pub fn other_region_note(&self, kind: &str, other: &str) -> String {
        if let Some(stage) = &self.stage {
            // The role's and the policy's names already carry the stage; `${region}` keeps the regions apart.
            return format!(
                "owned by stage `{stage}` of this stack in region `{other}` (IAM is global: one {kind} serves \
                 every region, and changing or deleting it would break that deployment); put the region into the \
                 IAM names, e.g. role.name = \"...-${{stage}}-${{region}}\" and policy.name = \
                 \"...-${{stage}}-${{region}}\" (in `[stages.{stage}]` or for every stage)"
            );
        }
        format!(
            "owned by this stack's deployment in region `{other}` (IAM is global: one {kind} serves every \
             region, and changing or deleting it would break that deployment); give this region its own IAM \
             names in the stack file, e.g. role.name = \"{}-{}\" and policy.name = \"{}-{}\"",
            self.role.name, self.region, self.policy.name, self.region
        )
    }
}

/// Reads and validates a stack file for a stage and region (`--stage`, `--region`). `today` (YYYY-MM-DD)
/// decides which runtimes are deprecated or blocked; `kinds` is what the resource kinds contribute to the
/// checks (`resources::contributed`: config cannot name them).
pub fn load_selected(
    path: &Path,
    today: &str,
    selection: Selection,
    kinds: &Contributed,
) -> Result<Stack, ConfigError> {
    let source = read(path)?;
    parse_selected(path, &source, today, selection, kinds)
}

/// The longest stage name every physical name of the stack file can take: what `stackctl stage-name` stays
/// within. The base file's names only: a stage with an overlay of its own is named in the file, and its names
/// are checked whenever the file is loaded.
#[cfg(test)]
pub fn stage_budget(path: &Path, region: Option<&str>) -> Result<usize, ConfigError> {
    Ok(stage_name_inputs(path, region)?.0)
}

/// `stackctl stage-name`: the stage for a git ref, within the stack file's budget and never one of the
/// stages the file declares (`stages::stage_name`).
pub fn stage_name_for(
    path: &Path,
    region: Option<&str>,
    reference: &str,
) -> Result<String, ConfigError> {
    let (budget, declared) = stage_name_inputs(path, region)?;
    Ok(stage_name(reference, budget, &declared))
}

/// The `[stages.<name>]` the stack file declares, in the file's order (`stackctl policy` covers each
/// overlay's own names).
pub fn declared_stages(path: &Path) -> Result<Vec<String>, ConfigError> {
    Ok(stage_name_inputs(path, None)?.1)
}

/// The stage budget of the file's base names and the `[stages.<name>]` it declares.
fn stage_name_inputs(
    path: &Path,
    region: Option<&str>,
) -> Result<(usize, Vec<String>), ConfigError> {
    let source = read(path)?;
    // The budget looks at names only, never at placeholders.
    let no_kinds = Contributed::new(&[], |_| Default::default());
    let checker = Checker {
        file: path,
        source: &source,
        stage: None,
        region: "",
        kinds: &no_kinds,
    };
    let raw: RawFile = toml::from_str(&source).map_err(|err| checker.toml_error(&err))?;
    let region = region.unwrap_or(raw.stack.region.get_ref());
    let budget = Checker { region, ..checker }.stage_budget(&raw);
    let declared = raw.stages.keys().map(|k| k.get_ref().clone()).collect();
    Ok((budget, declared))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let bytes = std::fs::read(path).map_err(|err| ConfigError {
        file: path.to_path_buf(),
        position: None,
        field: None,
        message: format!("cannot read the stack file: {err}"),
        fix: Some("pass the right file with `-f <path>` (default: ./stack.toml)".into()),
    })?;
    let source = String::from_utf8(bytes).map_err(|err| {
        let valid = err.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&err.as_bytes()[..valid]).into_owned();
        ConfigError {
            file: path.to_path_buf(),
            position: Some(line_col(&text, valid)),
            field: None,
            message: "the stack file is not UTF-8 text".into(),
            fix: Some("save the file as UTF-8 (TOML files are UTF-8)".into()),
        }
    })?;
    Ok(source)
}

/// `parse` for a stage and region. Every `[stages.<name>]` has its keys checked (serde) and its name; its
/// values and names are resolved when that stage is the one asked for (a stage's 4 KB of variables or its
/// tags depend on its names, so each stage is checked as itself).
pub fn parse_selected(
    path: &Path,
    source: &str,
    today: &str,
    selection: Selection,
    kinds: &Contributed,
) -> Result<Stack, ConfigError> {
    let checker = Checker {
        file: path,
        source,
        stage: None,
        region: "",
        kinds,
    };
    let raw: RawFile = toml::from_str(source).map_err(|err| checker.toml_error(&err))?;
    checker.stage_names(&raw)?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    let resolve = |stage: Option<&str>| {
        let merged = checker.overlay(&raw, stage)?;
        let region = selection
            .region
            .unwrap_or(merged.stack.region.get_ref())
            .to_string();
        let checker = Checker {
            stage,
            region: &region,
            ..checker
        };
        checker.resolve(merged, &base_dir, today)
    };
    resolve(selection.stage)
}

/// The tests' way in: the stack file checked with every kind's contributions (`resources::contributed`).
/// Only tests name resources from config.
#[cfg(test)]
mod with_every_kind {
    use super::*;

    /// Reads and validates a stack file. `today` (YYYY-MM-DD) decides which runtimes are deprecated or
    /// blocked.
    pub fn load(path: &Path, today: &str) -> Result<Stack, ConfigError> {
        load_selected(
            path,
            today,
            Selection::default(),
            &crate::resources::contributed(),
        )
    }

    /// Validates stack file text; `path` names the file in errors and anchors relative paths.
    pub fn parse(path: &Path, source: &str, today: &str) -> Result<Stack, ConfigError> {
        parse_selected(
            path,
            source,
            today,
            Selection::default(),
            &crate::resources::contributed(),
        )
    }
}
#[cfg(test)]
pub use with_every_kind::{load, parse};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{parse_with, project, TODAY};

    #[test]
    fn the_shipped_stack_file_resolves_to_the_tutorial_values() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(stack.table.name, "my-frontend-app-data");
        assert_eq!(
            stack.table.partition_key,
            KeyAttribute {
                name: "userId".into(),
                key_type: KeyType::S
            }
        );
        assert_eq!(stack.table.sort_key.as_ref().unwrap().name, "itemId");
        assert_eq!(stack.table.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(stack.function.runtime, "nodejs24.x");
        assert_eq!(stack.function.environment["TABLE_NAME"], "${table.name}");
        assert!(stack.warnings.is_empty());
        assert_eq!(stack.resource_tags()[OWNER_TAG], "my-frontend-app");
    }

    #[test]
    fn new_keys_default_to_false_and_can_be_turned_on() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert!(!stack.table.deletion_protection);
        assert!(!stack.policy.allow_wildcards);
        assert!(stack.policy.wildcard_grants.is_empty());
        let stack = parse_with(dir.path(), |t| {
            t.replace(
                "billing_mode = \"PAY_PER_REQUEST\"\n",
                "billing_mode = \"PAY_PER_REQUEST\"\ndeletion_protection = true\n",
            )
            .replace(
                "template = \"policies/lambda-dynamodb-policy.json\"\n",
                "template = \"policies/lambda-dynamodb-policy.json\"\nallow_wildcards = true\n",
            )
        })
        .unwrap();
        assert!(stack.table.deletion_protection);
        assert!(stack.policy.allow_wildcards);
    }

    #[test]
    fn the_commands_function_is_the_only_one_unless_another_is_chosen() {
        let dir = project();
        let mut stack = parse_with(dir.path(), |t| t).unwrap();
        let functions = stack.functions();
        assert_eq!(functions.len(), 1);
        let only = &functions[0];
        assert_eq!(
            (only.instance.as_str(), only.name_field.as_str()),
            (FUNCTION, "function.name")
        );
        assert_eq!(only.spec, stack.function);
        assert_eq!(only.log_group, stack.log_group);
        assert_eq!(stack.chosen_function(), *only);
        stack.choose_function(None).unwrap();
        assert_eq!(stack.chosen_function(), *only);
        stack.choose_function(Some(FUNCTION)).unwrap();
        assert_eq!(stack.chosen_function(), *only);
        let err = stack.choose_function(Some("api")).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("--function"));
        assert_eq!(err.message, "the stack file has no function `api`");
        assert_eq!(err.fix.as_deref(), Some("pick one of `function`"));
    }

    #[test]
    fn a_stack_file_that_is_not_utf8_is_named_with_its_position() {
        let dir = project();
        let path = dir.path().join("stack.toml");
        std::fs::write(&path, b"[stack]\nname = \"caf\xe9\"\n").unwrap();
        let err = load(&path, TODAY).unwrap_err();
        assert_eq!(err.position, Some((2, 12)));
        assert!(err.message.contains("not UTF-8"), "{err}");
    }
}
