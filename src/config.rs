//! stack.toml -> a resolved, typed `Stack`. Everything a user can get wrong is caught here, before any AWS
//! call, and reported with the file, the line and the field, and the fix.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::runtimes::{self, RuntimeStatus};
use crate::template;

/// The tag stackctl puts on everything it creates; its value is the stack name.
pub const OWNER_TAG: &str = "stackctl:stack";

/// A stack.toml (or template) mistake: where it is, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the mistake has a place in the file.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the offending key, e.g. `table.partition_key.type`.
    pub field: Option<String>,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

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
    /// Variable name -> value template (may reference `${table.name}` and friends).
    pub environment: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub table_secs: u64,
    pub function_secs: u64,
    pub role_propagation_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            table_secs: 600,
            function_secs: 300,
            role_propagation_secs: 120,
        }
    }
}

/// The whole stack, resolved: names checked, paths absolute, files read. Resource code only sees this.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub file: PathBuf,
    pub name: String,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    pub table: TableSpec,
    pub role: RoleSpec,
    pub policy: PolicySpec,
    pub function: FunctionSpec,
    pub timeouts: Timeouts,
    /// Warnings found while loading (e.g. a deprecated runtime); printed, never fatal.
    pub warnings: Vec<String>,
}

impl Stack {
    /// Tags stackctl puts on what it creates: the user's tags plus the ownership tag.
    pub fn resource_tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(OWNER_TAG.to_string(), self.name.clone());
        tags
    }

    /// Whether a live resource with these tags belongs to this stack.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(OWNER_TAG) == Some(&self.name)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The file as written. `deny_unknown_fields` everywhere: a typo must never be silently ignored.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    stack: RawStack,
    table: RawTable,
    role: RawRole,
    policy: RawPolicy,
    function: RawFunction,
    #[serde(default)]
    timeouts: RawTimeouts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStack {
    name: Spanned<String>,
    region: Spanned<String>,
    #[serde(default)]
    tags: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    name: Spanned<String>,
    #[serde(rename = "type")]
    key_type: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Spanned<String>,
    partition_key: RawKey,
    sort_key: Option<RawKey>,
    billing_mode: Option<Spanned<String>>,
    deletion_protection: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: Spanned<String>,
    trust_policy: Spanned<String>,
    #[serde(default)]
    managed_policies: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Spanned<String>,
    template: Spanned<String>,
    allow_wildcards: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: Spanned<String>,
    runtime: Spanned<String>,
    handler: Spanned<String>,
    source_dir: Spanned<String>,
    install: Option<Spanned<String>>,
    build: Spanned<String>,
    artifact_dir: Spanned<String>,
    memory_mb: Option<Spanned<i64>>,
    timeout_secs: Option<Spanned<i64>>,
    #[serde(default)]
    environment: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    table_secs: Option<Spanned<i64>>,
    function_secs: Option<Spanned<i64>>,
    role_propagation_secs: Option<Spanned<i64>>,
}

// ---------------------------------------------------------------------------------------------------------

/// Reads and validates a stack file. `today` (YYYY-MM-DD) decides which runtimes are deprecated or blocked.
pub fn load(path: &Path, today: &str) -> Result<Stack, ConfigError> {
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
    parse(path, &source, today)
}

/// Validates stack file text; `path` names the file in errors and anchors relative paths.
pub fn parse(path: &Path, source: &str, today: &str) -> Result<Stack, ConfigError> {
    let checker = Checker { file: path, source };
    let raw: RawFile = toml::from_str(source).map_err(|err| checker.toml_error(&err))?;
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base_dir = if base_dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base_dir
    };
    checker.resolve(raw, &base_dir, today)
}

struct Checker<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Checker<'_> {
    fn position(&self, span: Range<usize>) -> (usize, usize) {
        line_col(self.source, span.start)
    }

    /// How to show a path written in the stack file: relative to the directory the stack file was named
    /// from, as the user wrote it (never an absolute path the user did not write).
    fn shown(&self, written: &str) -> PathBuf {
        match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(written),
            _ => PathBuf::from(written),
        }
    }

    fn error(
        &self,
        span: Range<usize>,
        field: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            position: Some(self.position(span)),
            field: Some(field.to_string()),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    /// A TOML syntax error, or serde's complaint about the shape of the file (unknown key, missing key,
    /// wrong type), turned into the file, line, dotted field and fix.
    fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = one_line(err.message());
        let position = err.span().map(|span| self.position(span));
        // Which key the error is about: found by matching its span against the spans of the document.
        let path = err.span().and_then(|span| {
            let tree = toml::from_str::<TomlNode>(self.source).ok()?;
            Some(tree.path_to(&span))
        });
        let general = |fix: &str| ConfigError {
            file: self.file.to_path_buf(),
            position,
            field: None,
            message: message.clone(),
            fix: Some(fix.into()),
        };
        let Some(path) = path else {
            return general(if message.starts_with("unknown field") {
                "remove the key or correct its spelling; every key is listed in README.md (stack.toml reference)"
            } else if message.starts_with("missing field") {
                "add the key; every key is listed in README.md (stack.toml reference)"
            } else if message.starts_with("invalid type") {
                "give the key a value of the expected type (see README.md, stack.toml reference)"
            } else if message.contains("duplicate key") {
                "keep only one of the two; a key or a section may appear only once"
            } else {
                "fix the TOML syntax at this position (https://toml.io)"
            });
        };
        if let Some(key) = backticked(&message)
            .into_iter()
            .next()
            .filter(|_| message.starts_with("missing field"))
        {
            let field = dotted(&path, Some(&key));
            if path.is_empty() {
                let keys = required_keys(&key)
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return ConfigError {
                    file: self.file.to_path_buf(),
                    position: None,
                    field: Some(field),
                    message: format!("the `[{key}]` section is missing"),
                    fix: Some(format!(
                        "add a `[{key}]` section with {keys} (see README.md, stack.toml reference)"
                    )),
                };
            }
            let parent = dotted(&path, None);
            let place = if path.len() == 1 {
                format!("under `[{parent}]`")
            } else {
                format!("to `{parent}`")
            };
            let fix = match example(&field) {
                Some(example) => {
                    format!("add `{example}` {place} (see README.md, stack.toml reference)")
                }
                None => format!("add `{key}` {place} (see README.md, stack.toml reference)"),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message: format!("the required key `{key}` is missing"),
                fix: Some(fix),
            };
        }
        if path.is_empty() {
            return general("fix the TOML syntax at this position (https://toml.io)");
        }
        let field = dotted(&path, None);
        if message.starts_with("unknown field") {
            let names = backticked(&message);
            let unknown = names.first().cloned().unwrap_or_default();
            let fix = match closest(&unknown, &names[1.min(names.len())..]) {
                Some(near) => format!(
                    "did you mean `{near}`? Otherwise remove the key; every key is listed in README.md (stack.toml reference)"
                ),
                None => "remove the key or correct its spelling; every key is listed in README.md (stack.toml reference)".to_string(),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message,
                fix: Some(fix),
            };
        }
        if message.starts_with("invalid type") || message.starts_with("invalid value") {
            let free_form = ["stack.tags.", "function.environment."]
                .iter()
                .any(|prefix| field.starts_with(prefix));
            let literal = backticked(&message).into_iter().next();
            let fix = match (free_form, literal, path.last(), example(&field)) {
                (true, Some(literal), Some(key), _) => format!(
                    "quote the value; tag and variable values are strings: `{key} = \"{literal}\"`"
                ),
                (_, _, _, Some(example)) => {
                    format!("write it as `{example}` (see README.md, stack.toml reference)")
                }
                _ => "give the key a value of the expected type (see README.md, stack.toml reference)".to_string(),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message: plain_types(&message),
                fix: Some(fix),
            };
        }
        ConfigError {
            field: Some(field),
            ..general("fix the TOML syntax at this position (https://toml.io)")
        }
    }

    fn resolve(&self, raw: RawFile, base_dir: &Path, today: &str) -> Result<Stack, ConfigError> {
        let mut warnings = Vec::new();

        let stack_name = self.checked_name(&raw.stack.name, "stack.name", NameRule::STACK)?;
        let region = raw.stack.region.get_ref().clone();
        if !is_region(&region) {
            return Err(self.error(
                raw.stack.region.span(),
                "stack.region",
                format!("`{region}` is not an AWS region name"),
                "use a region code such as \"us-east-1\" or \"eu-west-1\"",
            ));
        }
        let mut tags = BTreeMap::new();
        for (key, value) in &raw.stack.tags {
            let field = format!("stack.tags.{}", key.get_ref());
            if key.get_ref().starts_with("aws:") || key.get_ref() == OWNER_TAG {
                return Err(self.error(
                    key.span(),
                    &field,
                    format!("the tag key `{}` is reserved", key.get_ref()),
                    format!("choose another key; `aws:` keys belong to AWS and `{OWNER_TAG}` to stackctl"),
                ));
            }
            if key.get_ref().is_empty()
                || key.get_ref().chars().count() > 128
                || value.get_ref().chars().count() > 256
            {
                return Err(self.error(
                    key.span(),
                    &field,
                    "tag keys must be 1-128 characters and values at most 256",
                    "shorten the tag",
                ));
            }
            tags.insert(key.get_ref().clone(), value.get_ref().clone());
        }

        let table = self.table(&raw.table)?;
        let role = self.role(&raw.role, base_dir)?;
        let policy = self.policy(&raw.policy, base_dir)?;
        let function = self.function(&raw.function, base_dir, today, &mut warnings)?;
        let timeouts = self.timeouts(&raw.timeouts)?;

        Ok(Stack {
            file: self.file.to_path_buf(),
            name: stack_name,
            region,
            tags,
            table,
            role,
            policy,
            function,
            timeouts,
            warnings,
        })
    }

    fn checked_name(
        &self,
        value: &Spanned<String>,
        field: &str,
        rule: NameRule,
    ) -> Result<String, ConfigError> {
        let name = value.get_ref();
        let len = name.chars().count();
        if len < rule.min || len > rule.max {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "`{name}` is {len} characters long; {} allows {}-{}",
                    rule.what, rule.min, rule.max
                ),
                format!("choose a name of {}-{} characters", rule.min, rule.max),
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || rule.extra.contains(*c)))
        {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "`{name}` contains `{bad}`, which {} does not allow",
                    rule.what
                ),
                format!(
                    "use only letters, digits and {}",
                    describe_chars(rule.extra)
                ),
            ));
        }
        Ok(name.clone())
    }

    fn key(&self, raw: &RawKey, field: &str) -> Result<KeyAttribute, ConfigError> {
        let name = self.checked_name(&raw.name, &format!("{field}.name"), NameRule::ATTRIBUTE)?;
        let key_type = match raw.key_type.get_ref().as_str() {
            "S" => KeyType::S,
            "N" => KeyType::N,
            "B" => KeyType::B,
            other => {
                return Err(self.error(
                    raw.key_type.span(),
                    &format!("{field}.type"),
                    format!("`{other}` is not a DynamoDB key attribute type"),
                    "use \"S\" (string), \"N\" (number) or \"B\" (binary)",
                ))
            }
        };
        Ok(KeyAttribute { name, key_type })
    }

    fn table(&self, raw: &RawTable) -> Result<TableSpec, ConfigError> {
        let name = self.checked_name(&raw.name, "table.name", NameRule::TABLE)?;
        let partition_key = self.key(&raw.partition_key, "table.partition_key")?;
        let sort_key = raw
            .sort_key
            .as_ref()
            .map(|k| self.key(k, "table.sort_key"))
            .transpose()?;
        if let (Some(sort), Some(raw_sort)) = (&sort_key, &raw.sort_key) {
            if sort.name == partition_key.name {
                return Err(self.error(
                    raw_sort.name.span(),
                    "table.sort_key.name",
                    format!("`{}` is already the partition key", sort.name),
                    "give the sort key a different attribute name, or remove it",
                ));
            }
        }
        let billing_mode = match &raw.billing_mode {
            None => "PAY_PER_REQUEST".to_string(),
            Some(mode) if mode.get_ref() == "PAY_PER_REQUEST" => mode.get_ref().clone(),
            Some(mode) => {
                return Err(self.error(
                    mode.span(),
                    "table.billing_mode",
                    format!("`{}` is not supported", mode.get_ref()),
                    "use \"PAY_PER_REQUEST\" (on-demand); provisioned capacity is not supported by stackctl",
                ))
            }
        };
        Ok(TableSpec {
            name,
            partition_key,
            sort_key,
            billing_mode,
            deletion_protection: raw
                .deletion_protection
                .as_ref()
                .is_some_and(|d| *d.get_ref()),
        })
    }

    fn role(&self, raw: &RawRole, base_dir: &Path) -> Result<RoleSpec, ConfigError> {
        let name = self.checked_name(&raw.name, "role.name", NameRule::IAM_ROLE)?;
        let path = self.project_path(&raw.trust_policy, "role.trust_policy", base_dir)?;
        let (trust_policy, text) = self.json_file(&path, &raw.trust_policy, "role.trust_policy")?;
        let doc = JsonDoc::new(self.shown(raw.trust_policy.get_ref()), &text);
        doc.policy_shape(&trust_policy, PolicyKind::Trust)?;
        if let Some((at, placeholder)) = first_placeholder(&trust_policy, &mut Vec::new(), |_| true)
        {
            return Err(doc.error_at_placeholder(
                &at,
                &placeholder,
                format!(
                    "the trust policy contains the placeholder `${{{}}}`; it is used as written",
                    placeholder.name
                ),
                "write the trust policy without placeholders",
            ));
        }
        let mut managed_policy_arns = Vec::new();
        for arn in &raw.managed_policies {
            if !arn.get_ref().starts_with("arn:aws") || !arn.get_ref().contains(":policy/") {
                return Err(self.error(
                    arn.span(),
                    "role.managed_policies",
                    format!("`{}` is not an IAM policy ARN", arn.get_ref()),
                    "use a full ARN such as \"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\"",
                ));
            }
            managed_policy_arns.push(arn.get_ref().clone());
        }
        Ok(RoleSpec {
            name,
            trust_policy,
            managed_policy_arns,
        })
    }

    fn policy(&self, raw: &RawPolicy, base_dir: &Path) -> Result<PolicySpec, ConfigError> {
        let name = self.checked_name(&raw.name, "policy.name", NameRule::IAM_POLICY)?;
        let allow_wildcards = raw.allow_wildcards.as_ref().is_some_and(|a| *a.get_ref());
        let template_path = self.project_path(&raw.template, "policy.template", base_dir)?;
        let (template, text) = self.json_file(&template_path, &raw.template, "policy.template")?;
        let doc = JsonDoc::new(self.shown(raw.template.get_ref()), &text);
        if let Some((at, placeholder)) = first_placeholder(&template, &mut Vec::new(), |p| {
            !p.terminated || !template::is_known(&p.name)
        }) {
            let (message, fix) = if placeholder.terminated {
                (
                    format!("unknown placeholder `${{{}}}`", placeholder.name),
                    format!("use one of {}", template::known_list()),
                )
            } else {
                (
                    format!(
                        "the placeholder `${{{}` has no closing `}}`",
                        placeholder.name
                    ),
                    format!(
                        "close it with `}}`; placeholders are {}",
                        template::known_list()
                    ),
                )
            };
            return Err(doc.error_at_placeholder(&at, &placeholder, message, fix));
        }
        doc.policy_shape(&template, PolicyKind::Identity)?;
        let wildcard_grants = doc.least_privilege(&template, allow_wildcards)?;
        Ok(PolicySpec {
            name,
            template_path,
            template,
            allow_wildcards,
            wildcard_grants,
        })
    }

    fn function(
        &self,
        raw: &RawFunction,
        base_dir: &Path,
        today: &str,
        warnings: &mut Vec<String>,
    ) -> Result<FunctionSpec, ConfigError> {
        let name = self.checked_name(&raw.name, "function.name", NameRule::FUNCTION)?;
        let runtime = raw.runtime.get_ref().clone();
        match runtimes::status(&runtime, today) {
            RuntimeStatus::Supported => {}
            RuntimeStatus::Deprecated { since, blocked_from } => warnings.push(format!(
                "runtime `{runtime}` is deprecated since {since}; AWS blocks creating functions on it from \
                 {blocked_from}: move `function.runtime` to {}",
                runtimes::RECOMMENDED
            )),
            RuntimeStatus::Blocked { since } => {
                return Err(self.error(
                    raw.runtime.span(),
                    "function.runtime",
                    format!("AWS no longer accepts new functions on `{runtime}` (blocked since {since})"),
                    format!("use \"{}\"", runtimes::RECOMMENDED),
                ))
            }
            RuntimeStatus::Unknown => {
                return Err(self.error(
                    raw.runtime.span(),
                    "function.runtime",
                    format!("`{runtime}` is not a Node.js runtime stackctl can deploy"),
                    format!("use one of {}", runtimes::supported_list(today)),
                ))
            }
        }
        let handler = raw.handler.get_ref().clone();
        let handler_ok = handler.split_once('.').is_some_and(|(file, export)| {
            !file.is_empty() && !export.is_empty() && !export.contains('/')
        }) && handler.len() <= 128
            && !handler.chars().any(char::is_whitespace);
        if !handler_ok {
            return Err(self.error(
                raw.handler.span(),
                "function.handler",
                format!("`{handler}` is not a Lambda handler"),
                "write it as <file without extension>.<exported function>, e.g. \"handler.handler\"",
            ));
        }
        let source_dir = self.project_path(&raw.source_dir, "function.source_dir", base_dir)?;
        if !source_dir.is_dir() {
            return Err(self.error(
                raw.source_dir.span(),
                "function.source_dir",
                format!("`{}` is not a directory", raw.source_dir.get_ref()),
                "point it at the handler's package directory (the one holding package.json)",
            ));
        }
        let artifact_dir =
            self.project_path(&raw.artifact_dir, "function.artifact_dir", base_dir)?;
        // Inside the source dir, and not the source dir itself (that would zip sources and node_modules),
        // also once symlinks are followed.
        if artifact_dir == source_dir
            || !artifact_dir.starts_with(&source_dir)
            || !real_path(&artifact_dir).starts_with(real_path(&source_dir))
        {
            return Err(self.error(
                raw.artifact_dir.span(),
                "function.artifact_dir",
                format!(
                    "`{}` must be a directory inside `function.source_dir` (`{}`)",
                    raw.artifact_dir.get_ref(),
                    raw.source_dir.get_ref()
                ),
                "point it at the build's output directory, e.g. \"lambda/dist\"",
            ));
        }
        let build_command = self.command(&raw.build, "function.build")?;
        let install_command = raw
            .install
            .as_ref()
            .map(|c| self.command(c, "function.install"))
            .transpose()?;
        let memory_mb = self.ranged(
            raw.memory_mb.as_ref(),
            "function.memory_mb",
            128,
            10_240,
            128,
        )?;
        let timeout_secs = self.ranged(
            raw.timeout_secs.as_ref(),
            "function.timeout_secs",
            1,
            900,
            10,
        )?;

        let mut environment = BTreeMap::new();
        for (key, value) in &raw.environment {
            let field = format!("function.environment.{}", key.get_ref());
            self.env_key(key, &field)?;
            if let Some(placeholder) = template::first_problem(value.get_ref()) {
                let (message, fix) = if placeholder.terminated {
                    (
                        format!("unknown reference `${{{}}}`", placeholder.name),
                        format!("use one of {}", template::known_list()),
                    )
                } else {
                    (
                        format!(
                            "the reference `${{{}` has no closing `}}`",
                            placeholder.name
                        ),
                        format!(
                            "close it with `}}`; references are {}",
                            template::known_list()
                        ),
                    )
                };
                return Err(self.error(value.span(), &field, message, fix));
            }
            environment.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        Ok(FunctionSpec {
            name,
            runtime,
            handler,
            source_dir,
            install_command,
            build_command,
            artifact_dir,
            memory_mb: memory_mb as i32,
            timeout_secs: timeout_secs as i32,
            environment,
        })
    }

    fn env_key(&self, key: &Spanned<String>, field: &str) -> Result<(), ConfigError> {
        let name = key.get_ref();
        if LAMBDA_RESERVED.contains(&name.as_str()) {
            return Err(self.error(
                key.span(),
                field,
                format!("`{name}` is reserved by the Lambda runtime"),
                "rename the variable; Lambda sets this one itself and refuses it in a function's configuration",
            ));
        }
        // Lambda's rule: [a-zA-Z]([a-zA-Z0-9_])+
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.len() >= 2
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(self.error(
                key.span(),
                field,
                format!("Lambda refuses the variable name `{name}`"),
                "start with a letter, then at least one letter, digit or underscore",
            ));
        }
        Ok(())
    }

    fn command(&self, value: &Spanned<String>, field: &str) -> Result<String, ConfigError> {
        if value.get_ref().trim().is_empty() {
            return Err(self.error(
                value.span(),
                field,
                "the command is empty",
                "give the shell command to run in `function.source_dir`, e.g. \"npm run build\"",
            ));
        }
        Ok(value.get_ref().clone())
    }

    fn ranged(
        &self,
        value: Option<&Spanned<i64>>,
        field: &str,
        min: i64,
        max: i64,
        default: i64,
    ) -> Result<i64, ConfigError> {
        match value {
            None => Ok(default),
            Some(v) if (min..=max).contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(self.error(
                v.span(),
                field,
                format!("{} is out of range", v.get_ref()),
                format!("use a value from {min} to {max}"),
            )),
        }
    }

    fn timeouts(&self, raw: &RawTimeouts) -> Result<Timeouts, ConfigError> {
        let defaults = Timeouts::default();
        let secs = |v: Option<&Spanned<i64>>, field: &str, default: u64| {
            self.ranged(v, field, 1, 86_400, default as i64)
                .map(|s| s as u64)
        };
        Ok(Timeouts {
            table_secs: secs(
                raw.table_secs.as_ref(),
                "timeouts.table_secs",
                defaults.table_secs,
            )?,
            function_secs: secs(
                raw.function_secs.as_ref(),
                "timeouts.function_secs",
                defaults.function_secs,
            )?,
            role_propagation_secs: secs(
                raw.role_propagation_secs.as_ref(),
                "timeouts.role_propagation_secs",
                defaults.role_propagation_secs,
            )?,
        })
    }

    /// A path relative to the stack file's directory that must stay inside it (no `..`, no absolute path,
    /// no symlink leading out).
    fn project_path(
        &self,
        value: &Spanned<String>,
        field: &str,
        base_dir: &Path,
    ) -> Result<PathBuf, ConfigError> {
        let relative = Path::new(value.get_ref());
        if value.get_ref().trim().is_empty() {
            return Err(self.error(
                value.span(),
                field,
                "the path is empty",
                "give a path relative to the directory that holds the stack file",
            ));
        }
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
        if escapes {
            return Err(self.error(
                value.span(),
                field,
                format!("`{}` is outside the project directory", value.get_ref()),
                "use a path inside the directory that holds the stack file, without `..`",
            ));
        }
        let root = base_dir_abs(base_dir);
        let joined = root.join(relative);
        // Resolve symlinks of whatever exists, so a link cannot smuggle the path outside the project.
        if !real_path(&joined).starts_with(&root) {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "`{}` leads outside the project directory through a symlink",
                    value.get_ref()
                ),
                "use a real directory or file inside the directory that holds the stack file",
            ));
        }
        Ok(joined)
    }

    /// Reads a JSON file named by `value`; returns it parsed and as text (for positions in errors).
    fn json_file(
        &self,
        path: &Path,
        value: &Spanned<String>,
        field: &str,
    ) -> Result<(serde_json::Value, String), ConfigError> {
        let shown = self.shown(value.get_ref());
        let text = std::fs::read_to_string(path).map_err(|err| {
            let (message, fix) = if err.kind() == std::io::ErrorKind::NotFound {
                (
                    format!("`{}` does not exist", shown.display()),
                    "point it at an existing JSON file, relative to the stack file's directory",
                )
            } else {
                (
                    format!("cannot read `{}`: {err}", shown.display()),
                    "point it at a readable JSON file, relative to the stack file's directory",
                )
            };
            self.error(value.span(), field, message, fix)
        })?;
        let parsed = serde_json::from_str(&text).map_err(|err| ConfigError {
            file: shown.clone(),
            position: Some((err.line(), err.column())),
            field: None,
            message: format!("not valid JSON: {}", json_error_message(&err)),
            fix: Some("write a JSON policy document (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)".into()),
        })?;
        Ok((parsed, text))
    }
}

/// serde_json's message without its own " at line L column C" (the position is printed in front).
fn json_error_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// The variables Lambda sets itself and refuses in a function's configuration
/// (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime).
const LAMBDA_RESERVED: [&str; 18] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// The real location of a path that may not exist yet: its deepest existing ancestor, resolved (symlinks
/// followed), with the rest appended.
fn real_path(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path;
    loop {
        if let Ok(real) = current.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn base_dir_abs(base_dir: &Path) -> PathBuf {
    base_dir
        .canonicalize()
        .unwrap_or_else(|_| base_dir.to_path_buf())
}

struct NameRule {
    what: &'static str,
    min: usize,
    max: usize,
    /// Characters allowed besides ASCII letters and digits.
    extra: &'static str,
}

impl NameRule {
    const STACK: NameRule = NameRule {
        what: "a stack name",
        min: 1,
        max: 64,
        extra: "-_",
    };
    const TABLE: NameRule = NameRule {
        what: "DynamoDB (table names)",
        min: 3,
        max: 255,
        extra: "_.-",
    };
    const ATTRIBUTE: NameRule = NameRule {
        what: "DynamoDB (key attribute names)",
        min: 1,
        max: 255,
        extra: "_.-",
    };
    const IAM_ROLE: NameRule = NameRule {
        what: "IAM (role names)",
        min: 1,
        max: 64,
        extra: "+=,.@_-",
    };
    const IAM_POLICY: NameRule = NameRule {
        what: "IAM (policy names)",
        min: 1,
        max: 128,
        extra: "+=,.@_-",
    };
    const FUNCTION: NameRule = NameRule {
        what: "Lambda (function names)",
        min: 1,
        max: 64,
        extra: "-_",
    };
}

fn describe_chars(extra: &str) -> String {
    extra
        .chars()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_region(region: &str) -> bool {
    // e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-4
    let parts: Vec<&str> = region.split('-').collect();
    parts.len() >= 3
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------------------
// JSON files (policy template, trust policy): positions, shape and least privilege.

/// A step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// `Statement[0].Action[1]`
fn json_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where a string sits in a JSON document: the path to it, and whether it is an object key.
struct JsonAt {
    path: Vec<Seg>,
    key: bool,
}

/// The first placeholder (in document order, keys before their values) for which `bad` holds.
fn first_placeholder(
    value: &serde_json::Value,
    path: &mut Vec<Seg>,
    bad: impl Fn(&template::Placeholder) -> bool + Copy,
) -> Option<(JsonAt, template::Placeholder)> {
    use serde_json::Value;
    match value {
        Value::String(s) => template::scan(s).into_iter().find(|p| bad(p)).map(|p| {
            (
                JsonAt {
                    path: path.clone(),
                    key: false,
                },
                p,
            )
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Seg::Index(i));
            let found = first_placeholder(item, path, bad);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            path.push(Seg::Key(key.clone()));
            let found = template::scan(key)
                .into_iter()
                .find(|p| bad(p))
                .map(|p| {
                    (
                        JsonAt {
                            path: path.clone(),
                            key: true,
                        },
                        p,
                    )
                })
                .or_else(|| first_placeholder(item, path, bad));
            path.pop();
            found
        }),
        _ => None,
    }
}

/// A node of a JSON text with its byte range (the parsed `Value` has no positions).
struct JsonNode {
    range: Range<usize>,
    kind: JsonKind,
}

enum JsonKind {
    /// Key (decoded), the key's range, the value.
    Object(Vec<(String, Range<usize>, JsonNode)>),
    Array(Vec<JsonNode>),
    Scalar,
}

impl JsonNode {
    /// The range of the value (or, with `key`, of the key) at `path`.
    fn find(&self, path: &[Seg], key: bool) -> Option<Range<usize>> {
        match path.split_first() {
            None => Some(self.range.clone()),
            Some((Seg::Key(name), rest)) => {
                let JsonKind::Object(entries) = &self.kind else {
                    return None;
                };
                // serde_json keeps the last of duplicate keys; so does this.
                let (_, key_range, value) = entries.iter().rev().find(|(k, ..)| k == name)?;
                if rest.is_empty() && key {
                    Some(key_range.clone())
                } else {
                    value.find(rest, key)
                }
            }
            Some((Seg::Index(i), rest)) => match &self.kind {
                JsonKind::Array(items) => items.get(*i)?.find(rest, key),
                _ => None,
            },
        }
    }
}

/// A small scanner for JSON text serde_json already accepted; it only records where values are.
struct JsonScanner<'a> {
    text: &'a str,
    pos: usize,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(start..self.pos);
                }
                _ => self.pos += 1,
            }
        }
    }

    fn value(&mut self, depth: usize) -> Option<JsonNode> {
        if depth > 256 {
            return None;
        }
        self.skip_whitespace();
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_whitespace();
                        let key_range = self.string()?;
                        let key: String =
                            serde_json::from_str(self.text.get(key_range.clone())?).ok()?;
                        self.skip_whitespace();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.pos += 1;
                        let value = self.value(depth + 1)?;
                        entries.push((key, key_range, value));
                        self.skip_whitespace();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                JsonKind::Object(entries)
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.skip_whitespace();
                        match self.peek()? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                JsonKind::Array(items)
            }
            b'"' => {
                self.string()?;
                JsonKind::Scalar
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
                JsonKind::Scalar
            }
        };
        Some(JsonNode {
            range: start..self.pos,
            kind,
        })
    }
}

const ACTION_FIX: &str =
    "name the actions the handler needs on ${table.arn}, or set policy.allow_wildcards = true in stack.toml";
const RESOURCE_FIX: &str = "grant on \"${table.arn}\" (and \"${table.arn}/index/*\" for its indexes) only, or set policy.allow_wildcards = true in stack.toml";

#[derive(Clone, Copy, PartialEq, Eq)]
enum PolicyKind {
    /// An identity policy (the policy template): no Principal; Action and Resource.
    Identity,
    /// A role's trust policy: a Principal and an Action, no Resource.
    Trust,
}

/// A JSON file of the project, with what is needed to point at a place in it.
struct JsonDoc<'a> {
    file: PathBuf,
    text: &'a str,
    root: Option<JsonNode>,
}

impl<'a> JsonDoc<'a> {
    fn new(file: PathBuf, text: &'a str) -> JsonDoc<'a> {
        let root = JsonScanner { text, pos: 0 }.value(0);
        JsonDoc { file, text, root }
    }

    fn error_at(
        &self,
        offset: Option<usize>,
        field: Option<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            position: offset.map(|o| line_col(self.text, o)),
            field,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    fn error(
        &self,
        path: &[Seg],
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let offset = self
            .root
            .as_ref()
            .and_then(|root| root.find(path, false))
            .map(|r| r.start);
        let field = (!path.is_empty()).then(|| json_path(path));
        self.error_at(offset, field, message, fix)
    }

    fn error_at_placeholder(
        &self,
        at: &JsonAt,
        placeholder: &template::Placeholder,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let offset = self
            .root
            .as_ref()
            .and_then(|root| root.find(&at.path, at.key))
            .map(|range| {
                let needle = format!("${{{}", placeholder.name);
                self.text
                    .get(range.clone())
                    .and_then(|raw| raw.find(&needle))
                    .map_or(range.start, |o| range.start + o)
            });
        let field = (!at.path.is_empty()).then(|| json_path(&at.path));
        self.error_at(offset, field, message, fix)
    }

    /// The statements, with their paths (`Statement` may be one object or an array of them).
    fn statements<'v>(
        &self,
        doc: &'v serde_json::Value,
    ) -> Vec<(Vec<Seg>, &'v serde_json::Map<String, serde_json::Value>)> {
        let statement = Seg::Key("Statement".into());
        match doc.get("Statement") {
            Some(serde_json::Value::Object(one)) => vec![(vec![statement], one)],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    item.as_object()
                        .map(|s| (vec![statement.clone(), Seg::Index(i)], s))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What IAM itself would refuse: not an object, no statements, a bad Version or Effect, a statement
    /// without its Action / Resource / Principal, strings where IAM wants strings.
    fn policy_shape(&self, doc: &serde_json::Value, kind: PolicyKind) -> Result<(), ConfigError> {
        use serde_json::Value;
        let what = match kind {
            PolicyKind::Identity => "an IAM policy",
            PolicyKind::Trust => "a trust policy",
        };
        let Some(object) = doc.as_object() else {
            return Err(self.error(
                &[],
                format!("{what} must be a JSON object"),
                "write {\"Version\": \"2012-10-17\", \"Statement\": [...]}",
            ));
        };
        if let Some(version) = object.get("Version") {
            if !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17")) {
                return Err(self.error(
                    &[Seg::Key("Version".into())],
                    format!("{version} is not an IAM policy language version"),
                    "use \"Version\": \"2012-10-17\"",
                ));
            }
        }
        let statement_path = [Seg::Key("Statement".into())];
        match object.get("Statement") {
            None => {
                return Err(self.error(
                    &[],
                    format!("{what} needs a `Statement`"),
                    "add \"Statement\": [{\"Effect\": \"Allow\", ...}]",
                ))
            }
            Some(Value::Object(_)) => {}
            Some(Value::Array(items)) if !items.is_empty() => {
                if let Some(i) = items.iter().position(|s| !s.is_object()) {
                    return Err(self.error(
                        &[Seg::Key("Statement".into()), Seg::Index(i)],
                        "a statement must be a JSON object",
                        "write each statement as {\"Effect\": ..., \"Action\": ..., ...}",
                    ));
                }
            }
            Some(_) => {
                return Err(self.error(
                    &statement_path,
                    "`Statement` must be a statement object or a non-empty array of them",
                    "write \"Statement\": [{\"Effect\": \"Allow\", ...}]",
                ))
            }
        }
        for (path, statement) in self.statements(doc) {
            let at = |key: &str| {
                let mut p = path.clone();
                p.push(Seg::Key(key.into()));
                p
            };
            match statement.get("Effect") {
                Some(Value::String(effect)) if effect == "Allow" || effect == "Deny" => {}
                Some(other) => {
                    return Err(self.error(
                        &at("Effect"),
                        format!("IAM accepts only \"Allow\" or \"Deny\" as `Effect`, not {other}"),
                        "write \"Effect\": \"Allow\" (or \"Deny\"), spelt exactly so",
                    ))
                }
                None => {
                    return Err(self.error(
                        &path,
                        "the statement has no `Effect`",
                        "add \"Effect\": \"Allow\" (or \"Deny\")",
                    ))
                }
            }
            let exactly_one = |a: &str, b: &str, example: &str| -> Result<(), ConfigError> {
                match (statement.contains_key(a), statement.contains_key(b)) {
                    (true, true) => Err(self.error(
                        &at(b),
                        format!("a statement has either `{a}` or `{b}`, not both"),
                        format!("remove `{b}`"),
                    )),
                    (false, false) => Err(self.error(
                        &path,
                        format!("the statement has no `{a}`"),
                        format!("add {example}"),
                    )),
                    _ => Ok(()),
                }
            };
            exactly_one(
                "Action",
                "NotAction",
                "\"Action\": [\"dynamodb:GetItem\", ...]",
            )?;
            match kind {
                PolicyKind::Identity => {
                    for key in ["Principal", "NotPrincipal"] {
                        if statement.contains_key(key) {
                            return Err(self.error(
                                &at(key),
                                format!("a policy attached to a role cannot name a `{key}`"),
                                format!("remove `{key}`; the role's trust policy says who may assume the role"),
                            ));
                        }
                    }
                    exactly_one("Resource", "NotResource", "\"Resource\": \"${table.arn}\"")?;
                }
                PolicyKind::Trust => {
                    exactly_one(
                        "Principal",
                        "NotPrincipal",
                        "\"Principal\": {\"Service\": \"lambda.amazonaws.com\"}",
                    )?;
                    for key in ["Resource", "NotResource"] {
                        if statement.contains_key(key) {
                            return Err(self.error(
                                &at(key),
                                format!("a trust policy cannot have a `{key}` (the role is the resource)"),
                                format!("remove `{key}`"),
                            ));
                        }
                    }
                }
            }
            for key in ["Action", "NotAction", "Resource", "NotResource"] {
                let valid = match statement.get(key) {
                    None => true,
                    Some(Value::String(s)) => !s.is_empty(),
                    Some(Value::Array(items)) => {
                        !items.is_empty()
                            && items
                                .iter()
                                .all(|i| i.as_str().is_some_and(|s| !s.is_empty()))
                    }
                    Some(_) => false,
                };
                if !valid {
                    return Err(self.error(
                        &at(key),
                        format!(
                            "`{key}` must be a non-empty string or a non-empty array of strings"
                        ),
                        format!("write \"{key}\": [\"...\", ...]"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses an Allow statement that grants more than named actions on the stack's table (and its
    /// indexes), unless `allow_wildcards`; then returns those grants, one line each.
    fn least_privilege(
        &self,
        doc: &serde_json::Value,
        allow_wildcards: bool,
    ) -> Result<Vec<String>, ConfigError> {
        use serde_json::Value;
        let mut grants = Vec::new();
        for (path, statement) in self.statements(doc) {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let who = match statement.get("Sid").and_then(Value::as_str) {
                Some(sid) if !sid.is_empty() => format!("statement `{sid}`"),
                _ => "the statement".to_string(),
            };
            let mut found: Vec<(Vec<Seg>, String, &str)> = Vec::new();
            let at = |key: &str, index: Option<usize>| {
                let mut p = path.clone();
                p.push(Seg::Key(key.into()));
                p.extend(index.map(Seg::Index));
                p
            };
            let strings = |key: &str| -> Vec<(Option<usize>, String)> {
                match statement.get(key) {
                    Some(Value::String(s)) => vec![(None, s.clone())],
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.as_str().map(|s| (Some(i), s.to_string())))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            if statement.contains_key("NotAction") {
                found.push((
                    at("NotAction", None),
                    format!("{who} grants every action except those in `NotAction`"),
                    ACTION_FIX,
                ));
            }
            for (index, action) in strings("Action") {
                if action.contains(['*', '?']) {
                    found.push((
                        at("Action", index),
                        format!("{who} grants the wildcard action `{action}`"),
                        ACTION_FIX,
                    ));
                }
            }
            if statement.contains_key("NotResource") {
                found.push((
                    at("NotResource", None),
                    format!("{who} grants on every resource except those in `NotResource`"),
                    RESOURCE_FIX,
                ));
            }
            for (index, resource) in strings("Resource") {
                if is_table_resource(&resource) {
                    continue;
                }
                let message = if resource.contains(['*', '?']) {
                    format!("{who} grants on the wildcard resource `{resource}`")
                } else {
                    format!(
                        "{who} grants on `{resource}`, which is not the stack's table (`${{table.arn}}`) or one of its indexes"
                    )
                };
                found.push((at("Resource", index), message, RESOURCE_FIX));
            }
            if let Some((path, message, fix)) = found.first() {
                if !allow_wildcards {
                    return Err(self.error(path, message.clone(), *fix));
                }
            }
            grants.extend(found.into_iter().map(|(_, message, _)| message));
        }
        Ok(grants)
    }
}

/// `${table.arn}`, `${table.arn}/index/<name or *>`, `${table.arn}/stream/<label or *>`.
fn is_table_resource(resource: &str) -> bool {
    let Some(rest) = resource.strip_prefix("${table.arn}") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    ["/index/", "/stream/"].iter().any(|kind| {
        rest.strip_prefix(kind).is_some_and(|name| {
            name == "*" || (!name.is_empty() && !name.contains(['*', '?', '/', '$']))
        })
    })
}

/// 1-based line and column (in characters) of a byte offset; an offset inside a multi-byte character or
/// past the end is moved back to the character / the end.
fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A multi-line parser message on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `quoted` words of a message, in order.
fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

fn dotted(path: &[String], last: Option<&str>) -> String {
    path.iter()
        .map(String::as_str)
        .chain(last)
        .collect::<Vec<_>>()
        .join(".")
}

/// The keys a section must have.
fn required_keys(section: &str) -> &'static [&'static str] {
    match section {
        "stack" => &["name", "region"],
        "table" => &["name", "partition_key"],
        "role" => &["name", "trust_policy"],
        "policy" => &["name", "template"],
        "function" => &[
            "name",
            "runtime",
            "handler",
            "source_dir",
            "build",
            "artifact_dir",
        ],
        _ => &[],
    }
}

/// How a key is written, for the fix of a missing key or a value of the wrong type.
fn example(field: &str) -> Option<&'static str> {
    Some(match field {
        "stack.name" => r#"name = "my-frontend-app""#,
        "stack.region" => r#"region = "us-east-1""#,
        "stack.tags" => r#"tags = { team = "web" }"#,
        "table.name" => r#"name = "my-frontend-app-data""#,
        "table.partition_key" => r#"partition_key = { name = "userId", type = "S" }"#,
        "table.sort_key" => r#"sort_key = { name = "itemId", type = "S" }"#,
        "table.partition_key.name" | "table.sort_key.name" => r#"name = "userId""#,
        "table.partition_key.type" | "table.sort_key.type" => r#"type = "S""#,
        "table.billing_mode" => r#"billing_mode = "PAY_PER_REQUEST""#,
        "table.deletion_protection" => "deletion_protection = true",
        "role.name" => r#"name = "my-frontend-app-lambda-role""#,
        "role.trust_policy" => r#"trust_policy = "policies/lambda-trust-policy.json""#,
        "role.managed_policies" => {
            r#"managed_policies = ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]"#
        }
        "policy.name" => r#"name = "MyFrontendAppLambdaDynamoDB""#,
        "policy.template" => r#"template = "policies/lambda-dynamodb-policy.json""#,
        "policy.allow_wildcards" => "allow_wildcards = false",
        "function.name" => r#"name = "my-frontend-app-api""#,
        "function.runtime" => r#"runtime = "nodejs24.x""#,
        "function.handler" => r#"handler = "handler.handler""#,
        "function.source_dir" => r#"source_dir = "lambda""#,
        "function.install" => r#"install = "npm ci""#,
        "function.build" => r#"build = "npm run build""#,
        "function.artifact_dir" => r#"artifact_dir = "lambda/dist""#,
        "function.memory_mb" => "memory_mb = 128",
        "function.timeout_secs" => "timeout_secs = 10",
        "function.environment" => {
            "[function.environment] with lines such as TABLE_NAME = \"${table.name}\""
        }
        "timeouts.table_secs" => "table_secs = 600",
        "timeouts.function_secs" => "function_secs = 300",
        "timeouts.role_propagation_secs" => "role_propagation_secs = 120",
        _ => return None,
    })
}

/// The candidate closest to a misspelt key, if one is close enough to be what was meant.
fn closest(word: &str, candidates: &[String]) -> Option<String> {
    let word = word.to_ascii_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

/// serde's type names in words a stack.toml author knows.
fn plain_types(message: &str) -> String {
    let mut out = one_line(message);
    if let Some(at) = out.find("expected struct ") {
        out.replace_range(at.., "expected a table");
    }
    for (from, to) in [
        ("expected i64", "expected an integer"),
        ("expected a map", "expected a table"),
        ("expected a sequence", "expected an array"),
    ] {
        out = out.replace(from, to);
    }
    out
}

/// The stack file as a tree of keys with their spans, to name the key a serde error points at.
enum TomlNode {
    Table(Vec<(Spanned<String>, Spanned<TomlNode>)>),
    Array(Vec<Spanned<TomlNode>>),
    Leaf,
}

impl TomlNode {
    /// The dotted path of the key whose name or value has exactly this span (the deepest one); empty
    /// for the document itself.
    fn path_to(&self, target: &Range<usize>) -> Vec<String> {
        fn walk(
            node: &TomlNode,
            target: &Range<usize>,
            path: &mut Vec<String>,
            best: &mut Vec<String>,
        ) {
            match node {
                TomlNode::Table(entries) => {
                    for (key, value) in entries {
                        path.push(key.get_ref().clone());
                        if (key.span() == *target || value.span() == *target)
                            && path.len() > best.len()
                        {
                            *best = path.clone();
                        }
                        walk(value.get_ref(), target, path, best);
                        path.pop();
                    }
                }
                TomlNode::Array(items) => {
                    for item in items {
                        if item.span() == *target && path.len() > best.len() {
                            *best = path.clone();
                        }
                        walk(item.get_ref(), target, path, best);
                    }
                }
                TomlNode::Leaf => {}
            }
        }
        let mut best = Vec::new();
        walk(self, target, &mut Vec::new(), &mut best);
        best
    }
}

impl<'de> Deserialize<'de> for TomlNode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TomlNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TomlNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TomlNode::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TomlNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(TomlNode::Table(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: &str = "2026-11-26";

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = env!("CARGO_MANIFEST_DIR");
        std::fs::create_dir_all(dir.path().join("policies")).unwrap();
        std::fs::create_dir_all(dir.path().join("lambda/dist")).unwrap();
        for f in [
            "policies/lambda-trust-policy.json",
            "policies/lambda-dynamodb-policy.json",
            "stack.toml",
        ] {
            std::fs::copy(Path::new(root).join(f), dir.path().join(f)).unwrap();
        }
        dir
    }

    fn parse_with(dir: &Path, edit: impl Fn(String) -> String) -> Result<Stack, ConfigError> {
        let text = edit(std::fs::read_to_string(dir.join("stack.toml")).unwrap());
        parse(&dir.join("stack.toml"), &text, TODAY)
    }

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

    fn error_of(edit: impl Fn(String) -> String) -> ConfigError {
        let dir = project();
        parse_with(dir.path(), edit).unwrap_err()
    }

    #[test]
    fn a_bad_key_type_names_line_field_and_fix() {
        let err = error_of(|t| {
            t.replace(
                r#"name = "userId", type = "S""#,
                r#"name = "userId", type = "X""#,
            )
        });
        assert_eq!(err.field.as_deref(), Some("table.partition_key.type"));
        assert_eq!(err.position.unwrap().0, 10);
        assert!(err.to_string().contains("fix: use \"S\""), "{err}");
    }

    #[test]
    fn an_unknown_key_is_rejected_with_its_line() {
        let err = error_of(|t| t.replace("[table]\n", "[table]\nnmae = \"x\"\n"));
        assert!(err.message.contains("unknown field `nmae`"), "{err}");
        assert_eq!(err.position.unwrap().0, 9);
    }

    #[test]
    fn invalid_names_are_rejected_per_service_rules() {
        let err = error_of(|t| t.replace("my-frontend-app-data", "ab"));
        assert_eq!(err.field.as_deref(), Some("table.name"));
        let err = error_of(|t| t.replace("my-frontend-app-lambda-role", "has space"));
        assert_eq!(err.field.as_deref(), Some("role.name"));
        let err = error_of(|t| t.replace("name = \"my-frontend-app-api\"", "name = \"api.v1\""));
        assert_eq!(err.field.as_deref(), Some("function.name"));
    }

    #[test]
    fn env_var_names_follow_lambda_rules() {
        let err = error_of(|t| t.replace("TABLE_NAME = ", "1TABLE = "));
        assert!(err.message.contains("refuses"), "{err}");
        let err = error_of(|t| t.replace("TABLE_NAME = ", "AWS_REGION = "));
        assert!(err.message.contains("reserved"), "{err}");
        let err = error_of(|t| t.replace("${table.name}", "${table.nmae}"));
        assert!(err.message.contains("unknown reference"), "{err}");
    }

    #[test]
    fn blocked_runtimes_are_refused_and_deprecated_ones_warned() {
        let err = error_of(|t| t.replace("nodejs24.x", "nodejs20.x"));
        assert!(err.message.contains("no longer accepts"), "{err}");
        let dir = project();
        let text = std::fs::read_to_string(dir.path().join("stack.toml"))
            .unwrap()
            .replace("nodejs24.x", "nodejs20.x");
        let stack = parse(&dir.path().join("stack.toml"), &text, "2026-06-01").unwrap();
        assert!(
            stack.warnings[0].contains("deprecated"),
            "{:?}",
            stack.warnings
        );
    }

    #[test]
    fn same_attribute_as_both_keys_is_refused() {
        let err = error_of(|t| t.replace(r#"name = "itemId""#, r#"name = "userId""#));
        assert_eq!(err.field.as_deref(), Some("table.sort_key.name"));
    }

    #[test]
    fn paths_may_not_leave_the_project() {
        let err = error_of(|t| t.replace("\"lambda/dist\"", "\"../dist\""));
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"));
        assert!(err.message.contains("outside the project"), "{err}");
    }

    #[test]
    fn regions_are_checked() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("useast1") && !is_region("US-EAST-1") && !is_region("us-east-"));
    }

    fn write_policy(dir: &Path, text: &str) {
        std::fs::write(dir.join("policies/lambda-dynamodb-policy.json"), text).unwrap();
    }

    const POLICY: &str = include_str!("../policies/lambda-dynamodb-policy.json");

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
    fn wildcards_are_refused_unless_allowed_and_then_listed() {
        let dir = project();
        write_policy(
            dir.path(),
            &POLICY.replace("\"dynamodb:Query\"", "\"dynamodb:*\""),
        );
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].Action[3]"));
        assert_eq!(err.position, Some((11, 9)));
        assert!(
            err.message
                .contains("`CrudOnTheStackTable` grants the wildcard action `dynamodb:*`"),
            "{err}"
        );
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("policy.allow_wildcards = true"),
            "{err}"
        );
        assert!(err.file.ends_with("policies/lambda-dynamodb-policy.json"));

        let stack = parse_with(dir.path(), |t| {
            t.replace(
                "template = \"policies/lambda-dynamodb-policy.json\"\n",
                "template = \"policies/lambda-dynamodb-policy.json\"\nallow_wildcards = true\n",
            )
        })
        .unwrap();
        assert_eq!(
            stack.policy.wildcard_grants,
            vec!["statement `CrudOnTheStackTable` grants the wildcard action `dynamodb:*`"]
        );
    }

    #[test]
    fn index_arns_of_the_table_and_deny_statements_are_not_wildcard_grants() {
        let dir = project();
        write_policy(
            dir.path(),
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:Query",
                 "Resource": ["${table.arn}", "${table.arn}/index/*", "${table.arn}/index/byDate"]},
                {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
            ]}"#,
        );
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert!(stack.policy.wildcard_grants.is_empty());
        for resource in [
            "${table.arn}*",
            "${table.arn}/index/a*",
            "${table.arn}/../x",
        ] {
            write_policy(
                dir.path(),
                &POLICY.replace("\"${table.arn}\"", &format!("\"{resource}\"")),
            );
            let err = parse_with(dir.path(), |t| t).unwrap_err();
            assert_eq!(
                err.field.as_deref(),
                Some("Statement[0].Resource"),
                "{resource}: {err}"
            );
        }
    }

    #[test]
    fn policy_shape_is_checked_with_positions() {
        let dir = project();
        write_policy(dir.path(), &POLICY.replace("\"Allow\"", "\"Permit\""));
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].Effect"));
        assert_eq!(err.position, Some((6, 17)));
        write_policy(dir.path(), "[1, 2]");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("must be a JSON object"), "{err}");
        write_policy(dir.path(), "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"dynamodb:GetItem\", \"Resource\": \"${table.arn}\", \"Sid\": 1}}");
        parse_with(dir.path(), |t| t).unwrap();
        write_policy(dir.path(), "{\n  \"Statement\": []\n}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.position, Some((2, 16)), "{err}");
    }

    #[test]
    fn template_errors_name_the_template_as_written_next_to_the_stack_file() {
        let dir = project();
        write_policy(dir.path(), "{\n  \"Statement\": [\n}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(
            err.file,
            dir.path().join("policies/lambda-dynamodb-policy.json")
        );
        assert_eq!(err.position.map(|p| p.0), Some(3));
        assert!(!err.message.contains(" at line "), "{err}");
        // A relative stack file path gives relative template paths (the CLI is run from the project).
        let checker = Checker {
            file: Path::new("infra/stack.toml"),
            source: "",
        };
        assert_eq!(
            checker.shown("policies/p.json"),
            Path::new("infra/policies/p.json")
        );
        let checker = Checker {
            file: Path::new("stack.toml"),
            source: "",
        };
        assert_eq!(
            checker.shown("policies/p.json"),
            Path::new("policies/p.json")
        );
    }

    #[test]
    fn unknown_and_unterminated_placeholders_are_refused_where_they_are() {
        let dir = project();
        write_policy(
            dir.path(),
            &POLICY.replace("\"${table.arn}\"", "\"x ${table.arn\""),
        );
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("no closing"), "{err}");
        assert_eq!(err.position, Some((14, 22)));
        write_policy(dir.path(), "{\"Statement\": [{\"${nope}\": 1}]}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].${nope}"));
        assert_eq!(err.position, Some((1, 18)));
        let err = error_of(|t| t.replace("\"${table.name}\"", "\"${table.name\""));
        assert_eq!(
            err.field.as_deref(),
            Some("function.environment.TABLE_NAME")
        );
        assert!(err.message.contains("no closing"), "{err}");
    }

    #[test]
    fn missing_sections_and_keys_are_named() {
        let err = error_of(|t| t.replace("[role]\n", "[rolle]\n"));
        assert_eq!(err.field.as_deref(), Some("rolle"));
        assert!(err.message.contains("unknown field `rolle`"), "{err}");
        assert!(
            err.fix.as_deref().unwrap().contains("did you mean `role`?"),
            "{err}"
        );
        let err = error_of(|t| t.replace("build = \"npm run build\"\n", ""));
        assert_eq!(err.field.as_deref(), Some("function.build"));
        assert_eq!(err.position, Some((23, 1)));
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("build = \"npm run build\""),
            "{err}"
        );
        let err = error_of(|t| t[..t.find("[policy]").unwrap()].to_string());
        assert_eq!(err.field.as_deref(), Some("policy"));
        assert_eq!(err.message, "the `[policy]` section is missing");
        assert_eq!(err.position, None);
    }

    #[test]
    fn lambda_reserved_variables_are_refused_and_others_allowed() {
        for name in [
            "AWS_ACCESS_KEY_ID",
            "LAMBDA_TASK_ROOT",
            "_HANDLER",
            "AWS_LAMBDA_FUNCTION_NAME",
        ] {
            let err = error_of(|t| t.replace("TABLE_NAME = ", &format!("{name} = ")));
            assert!(err.message.contains("reserved"), "{name}: {err}");
        }
        // Lambda lets a function set these.
        let dir = project();
        parse_with(dir.path(), |t| {
            t.replace(
                "TABLE_NAME = ",
                "TZ = \"Europe/Paris\"\nAWS_NODEJS_CONNECTION_REUSE_ENABLED = \"1\"\nTABLE_NAME = ",
            )
        })
        .unwrap();
    }

    #[test]
    fn the_artifact_dir_must_be_strictly_inside_the_source_dir() {
        let err = error_of(|t| t.replace("\"lambda/dist\"", "\"lambda\""));
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"));
        let dir = project();
        let outside = tempfile::tempdir().unwrap();
        std::fs::remove_dir(dir.path().join("lambda/dist")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("lambda/dist")).unwrap();
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("through a symlink"), "{err}");
        // A link inside the project but out of the source dir.
        std::fs::remove_file(dir.path().join("lambda/dist")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("policies"), dir.path().join("lambda/dist"))
            .unwrap();
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"), "{err}");
    }

    #[test]
    fn positions_never_split_a_character() {
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("a\n€x", 3), (2, 1));
        assert_eq!(line_col("a\n€x", 5), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
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

    /// Fuzzing (proptest): the loader and the JSON checks must answer every input with a value or a
    /// ConfigError, never a panic or a hang.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        const SHIPPED: &str = include_str!("../stack.toml");

        /// One project per fuzz test, made once: copying it for every case would be most of the time.
        fn shared(cell: &'static std::sync::OnceLock<tempfile::TempDir>) -> &'static Path {
            cell.get_or_init(project).path()
        }
        static READ_ONLY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
        static POLICIES: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();

        fn check(result: Result<Stack, ConfigError>, source: &str) -> Result<(), TestCaseError> {
            if let Err(err) = result {
                let shown = err.to_string();
                prop_assert!(!shown.is_empty());
                if let (Some((line, col)), true) = (err.position, err.file.ends_with("stack.toml"))
                {
                    prop_assert!(line >= 1 && col >= 1);
                    prop_assert!(line <= source.split('\n').count(), "{}", shown);
                }
            }
            Ok(())
        }

        /// Values that are wrong in interesting ways.
        fn token() -> impl Strategy<Value = String> {
            prop_oneof![
                prop::sample::select(vec![
                    "\"\"",
                    "\"${\"",
                    "\"${table.arn\"",
                    "\"../x\"",
                    "\"/abs\"",
                    "\"lambda\"",
                    "\"lambda/dist\"",
                    "\"policies\"",
                    "0",
                    "-1",
                    "99999999999999999999",
                    "1.5",
                    "true",
                    "[]",
                    "[1, \"a\"]",
                    "{}",
                    "{ name = \"a\", type = \"S\" }",
                    "1979-05-27T07:32:00Z",
                    "'''\nx\n'''",
                    "\"é€😀\"",
                    "\"a\\u0000b\"",
                    "{ a = { b = [ { c = 1 } ] } }",
                    "\"nodejs20.x\"",
                    "\"policies/lambda-trust-policy.json\"",
                    "inf",
                    "nan",
                ])
                .prop_map(str::to_string),
                "\"[^\"\\\\\n]{0,12}\"",
                any::<i64>().prop_map(|n| n.to_string()),
            ]
        }

        #[derive(Debug, Clone)]
        enum Mutation {
            DeleteLine(usize),
            DuplicateLine(usize),
            SwapLines(usize, usize),
            ReplaceValue(usize, String),
            Insert(usize, String),
            Truncate(usize),
        }

        fn mutation() -> impl Strategy<Value = Mutation> {
            let line = 0..40usize;
            prop_oneof![
                line.clone().prop_map(Mutation::DeleteLine),
                line.clone().prop_map(Mutation::DuplicateLine),
                (line.clone(), line.clone()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
                (line.clone(), token()).prop_map(|(l, t)| Mutation::ReplaceValue(l, t)),
                (
                    0..2000usize,
                    prop_oneof![token(), "[\\[\\]{}=\"'.,#\n a-z_é]{0,8}"]
                )
                    .prop_map(|(at, text)| Mutation::Insert(at, text)),
                (0..2000usize).prop_map(Mutation::Truncate),
            ]
        }

        fn char_floor(text: &str, at: usize) -> usize {
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            at
        }

        fn apply(text: &str, mutations: &[Mutation]) -> String {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            for m in mutations {
                let n = lines.len().max(1);
                match m {
                    Mutation::DeleteLine(i) if !lines.is_empty() => {
                        lines.remove(i % n);
                    }
                    Mutation::DuplicateLine(i) if !lines.is_empty() => {
                        let line = lines[i % n].clone();
                        lines.insert(i % n, line);
                    }
                    Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
                    Mutation::ReplaceValue(i, token) if !lines.is_empty() => {
                        let line = &mut lines[i % n];
                        if let Some(eq) = line.find('=') {
                            line.replace_range(eq + 1.., &format!(" {token}"));
                        }
                    }
                    Mutation::Insert(at, insert) => {
                        let mut joined = lines.join("\n");
                        let at = char_floor(&joined, *at);
                        joined.insert_str(at, insert);
                        lines = joined.lines().map(str::to_string).collect();
                    }
                    Mutation::Truncate(at) => {
                        let mut joined = lines.join("\n");
                        let at = char_floor(&joined, *at);
                        joined.truncate(at);
                        lines = joined.lines().map(str::to_string).collect();
                    }
                    _ => {}
                }
            }
            lines.join("\n")
        }

        fn policy_string() -> impl Strategy<Value = String> {
            prop::sample::select(vec![
                "*",
                "dynamodb:*",
                "dynamodb:GetItem",
                "dynamodb:Get?tem",
                "${table.arn}",
                "${table.arn}/index/*",
                "${table.arn}/stream/*",
                "${table.arn}/index/",
                "${table.arn",
                "${nope}",
                "arn:aws:dynamodb:*:*:table/*",
                "Allow",
                "Deny",
                "allow",
                "",
                "é€😀",
                "2012-10-17",
            ])
            .prop_map(str::to_string)
        }

        fn policy_value() -> impl Strategy<Value = serde_json::Value> {
            use serde_json::Value;
            let leaf = prop_oneof![
                policy_string().prop_map(Value::String),
                any::<i32>().prop_map(Value::from),
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
            ];
            let keys = prop::sample::select(vec![
                "Version",
                "Statement",
                "Sid",
                "Effect",
                "Action",
                "NotAction",
                "Resource",
                "NotResource",
                "Principal",
                "NotPrincipal",
                "Condition",
                "${x}",
                "é",
            ]);
            leaf.prop_recursive(5, 48, 6, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect(),
                        )
                    }),
                ]
            })
        }

        fn json_text(value: &serde_json::Value, pretty: bool) -> String {
            if pretty {
                serde_json::to_string_pretty(value).unwrap()
            } else {
                serde_json::to_string(value).unwrap()
            }
        }

        /// Checks that the scanner finds every key and scalar of `value` where serde_json reads it.
        fn scanned_like_serde(
            value: &serde_json::Value,
            path: &mut Vec<Seg>,
            root: &JsonNode,
            text: &str,
        ) -> Result<(), TestCaseError> {
            use serde_json::Value;
            match value {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Seg::Index(i));
                        scanned_like_serde(item, path, root, text)?;
                        path.pop();
                    }
                }
                Value::Object(map) => {
                    for (k, item) in map {
                        path.push(Seg::Key(k.clone()));
                        let key = root.find(path, true);
                        prop_assert!(key.is_some(), "{:?} in {}", path, text);
                        let key: String = serde_json::from_str(&text[key.unwrap()]).unwrap();
                        prop_assert_eq!(&key, k);
                        scanned_like_serde(item, path, root, text)?;
                        path.pop();
                    }
                }
                scalar => {
                    let range = root.find(path, false);
                    prop_assert!(range.is_some(), "{:?} in {}", path, text);
                    let found: Value = serde_json::from_str(&text[range.unwrap()]).unwrap();
                    prop_assert_eq!(&found, scalar);
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_text_never_panics(text in prop_oneof![
                any::<String>(),
                "[\\[\\]{}=\"'.,#\n a-z_0-9${}é]{0,200}",
            ]) {
                let dir = shared(&READ_ONLY);
                check(parse(&dir.join("stack.toml"), &text, TODAY), &text)?;
            }

            #[test]
            fn mutations_of_the_shipped_stack_file_never_panic(
                mutations in prop::collection::vec(mutation(), 1..5)
            ) {
                let dir = shared(&READ_ONLY);
                let text = apply(SHIPPED, &mutations);
                check(parse(&dir.join("stack.toml"), &text, TODAY), &text)?;
            }

            #[test]
            fn arbitrary_policy_templates_never_panic(
                value in policy_value(),
                pretty in any::<bool>(),
                allow in any::<bool>(),
                cut in any::<Option<prop::sample::Index>>(),
            ) {
                let dir = shared(&POLICIES);
                let mut text = json_text(&value, pretty);
                if let Some(cut) = cut {
                    let at = char_floor(&text, cut.index(text.len() + 1));
                    text.truncate(at);
                }
                write_policy(dir, &text);
                let stack_text = SHIPPED.replace(
                    "template = \"policies/lambda-dynamodb-policy.json\"\n",
                    &format!("template = \"policies/lambda-dynamodb-policy.json\"\nallow_wildcards = {allow}\n"),
                );
                check(parse(&dir.join("stack.toml"), &stack_text, TODAY), &stack_text)?;
            }

            #[test]
            fn the_json_scanner_finds_every_value_of_valid_json(value in policy_value(), pretty in any::<bool>()) {
                let text = json_text(&value, pretty);
                let root = JsonScanner { text: &text, pos: 0 }.value(0);
                prop_assert!(root.is_some(), "{}", text);
                let root = root.unwrap();
                prop_assert_eq!(root.range.clone(), 0..text.len());
                scanned_like_serde(&value, &mut Vec::new(), &root, &text)?;
            }
        }
    }
}
