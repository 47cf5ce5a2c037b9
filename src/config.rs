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
    let source = std::fs::read_to_string(path).map_err(|err| ConfigError {
        file: path.to_path_buf(),
        position: None,
        field: None,
        message: format!("cannot read the stack file: {err}"),
        fix: Some("pass the right file with `-f <path>` (default: ./stack.toml)".into()),
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
        let before = &self.source[..span.start.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
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

    fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim_end().to_string();
        let fix = if message.starts_with("unknown field") {
            "remove the key or correct its spelling; every key is listed in README.md (stack.toml reference)"
        } else if message.starts_with("missing field") {
            "add the key; every key is listed in README.md (stack.toml reference)"
        } else if message.starts_with("invalid type") {
            "give the key a value of the expected type (see README.md, stack.toml reference)"
        } else {
            "fix the TOML syntax at this position (https://toml.io)"
        };
        ConfigError {
            file: self.file.to_path_buf(),
            position: err.span().map(|span| self.position(span)),
            field: None,
            message,
            fix: Some(fix.into()),
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
        })
    }

    fn role(&self, raw: &RawRole, base_dir: &Path) -> Result<RoleSpec, ConfigError> {
        let name = self.checked_name(&raw.name, "role.name", NameRule::IAM_ROLE)?;
        let path = self.project_path(&raw.trust_policy, "role.trust_policy", base_dir)?;
        let trust_policy = self.json_file(&path, &raw.trust_policy, "role.trust_policy")?;
        if let Some(placeholder) = template::placeholders_in_json(&trust_policy)
            .into_iter()
            .next()
        {
            return Err(self.error(
                raw.trust_policy.span(),
                "role.trust_policy",
                format!("the trust policy contains the placeholder `${{{placeholder}}}`; it is used as written"),
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
        let template_path = self.project_path(&raw.template, "policy.template", base_dir)?;
        let template = self.json_file(&template_path, &raw.template, "policy.template")?;
        for placeholder in template::placeholders_in_json(&template) {
            if !template::is_known(&placeholder) {
                return Err(ConfigError {
                    file: template_path.clone(),
                    position: None,
                    field: None,
                    message: format!("unknown placeholder `${{{placeholder}}}`"),
                    fix: Some(format!("use one of {}", template::known_list())),
                });
            }
        }
        Ok(PolicySpec {
            name,
            template_path,
            template,
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
        if artifact_dir == base_dir_abs(base_dir) || !artifact_dir.starts_with(&source_dir) {
            return Err(self.error(
                raw.artifact_dir.span(),
                "function.artifact_dir",
                format!(
                    "`{}` must be a directory inside `function.source_dir`",
                    raw.artifact_dir.get_ref()
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
            for placeholder in template::placeholders(value.get_ref()) {
                if !template::is_known(&placeholder) {
                    return Err(self.error(
                        value.span(),
                        &field,
                        format!("unknown reference `${{{placeholder}}}`"),
                        format!("use one of {}", template::known_list()),
                    ));
                }
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
        if name.starts_with("AWS_") || name.starts_with("LAMBDA_") || name == "TZ" {
            return Err(self.error(
                key.span(),
                field,
                format!("`{name}` is reserved by the Lambda runtime"),
                "rename the variable; names starting with AWS_ or LAMBDA_ are set by Lambda itself",
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
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
        let outside = || {
            self.error(
                value.span(),
                field,
                format!("`{}` is outside the project directory", value.get_ref()),
                "use a path inside the directory that holds the stack file, without `..`",
            )
        };
        if escapes || value.get_ref().is_empty() {
            return Err(outside());
        }
        let root = base_dir_abs(base_dir);
        let joined = root.join(relative);
        // Resolve symlinks of whatever exists, so a link cannot smuggle the path outside the project.
        if let Ok(real) = joined.canonicalize() {
            if !real.starts_with(&root) {
                return Err(outside());
            }
        }
        Ok(joined)
    }

    fn json_file(
        &self,
        path: &Path,
        value: &Spanned<String>,
        field: &str,
    ) -> Result<serde_json::Value, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            self.error(
                value.span(),
                field,
                format!("cannot read `{}`: {err}", path.display()),
                "point it at an existing JSON file",
            )
        })?;
        serde_json::from_str(&text).map_err(|err| ConfigError {
            file: path.to_path_buf(),
            position: Some((err.line(), err.column())),
            field: None,
            message: format!("not valid JSON: {err}"),
            fix: Some("write a JSON policy document (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)".into()),
        })
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
}
