//! The `Checker`: the file as written (`raw`) -> `Stack`, section by section, every mistake reported with
//! the file, the line, the field and the fix. Names, paths, `[function]` and the policy rules live beside it.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::errors::{line_col, placeholder_problem};
use super::json_doc::{first_placeholder, JsonDoc};
use super::names::{is_region, NameRule};
use super::placeholders::Contributed;
use super::policy_rules::PolicyKind;
use super::raw::{RawFile, RawKey, RawPolicy, RawRole, RawTable, RawTimeouts};
use super::{
    ConfigError, KeyAttribute, KeyType, PolicySpec, RoleSpec, Stack, TableSpec, Timeouts,
    OWNER_TAG, REGION_TAG, STAGE_TAG,
};
use crate::limits;

/// Checks one stack file; knows where it is and its text, to place every error.
pub(super) struct Checker<'a> {
    pub(super) file: &'a Path,
    pub(super) source: &'a str,
    /// The stage being resolved (`--stage`), put into every physical name.
    pub(super) stage: Option<&'a str>,
    /// The region the stack is resolved for (`--region`, else `stack.region`), for `${region}` in names.
    pub(super) region: &'a str,
    /// What the resource kinds contribute to the checks: the placeholders, what a policy may grant on.
    pub(super) kinds: &'a Contributed,
}

impl Checker<'_> {
    pub(super) fn position(&self, span: Range<usize>) -> (usize, usize) {
        line_col(self.source, span.start)
    }

    pub(super) fn error(
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

    pub(super) fn resolve(
        &self,
        raw: RawFile,
        base_dir: &Path,
        today: &str,
    ) -> Result<Stack, ConfigError> {
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
            if key.get_ref().starts_with("aws:")
                || [OWNER_TAG, STAGE_TAG, REGION_TAG].contains(&key.get_ref().as_str())
            {
                return Err(self.error(
                    key.span(),
                    &field,
                    format!("the tag key `{}` is reserved", key.get_ref()),
                    format!("choose another key; `aws:` keys belong to AWS and `{OWNER_TAG}` to stackctl"),
                ));
            }
            self.tag(key, value, &field)?;
            tags.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        self.tag_count(&raw.stack.tags)?;

        let table = self.table(&raw.table)?;
        let role = self.role(&raw.role, base_dir)?;
        let policy = self.policy(&raw.policy, base_dir)?;
        // The one `[function]`: its checks name their fields under this section.
        let section = super::FUNCTION;
        let mut function = self.function(&raw.function, section, base_dir, today, &mut warnings)?;
        function.reserved_concurrency = self.reserved_concurrency(&raw.function, section)?;
        let mut url = self.url(&raw.function, section)?;
        let mut auth = self.auth(raw.auth.as_ref(), &stack_name)?;
        if let (Some(_), Some(url_spec)) = (&auth, &url) {
            if url_spec.auth == super::UrlAuth::AwsIam {
                let at = raw
                    .function
                    .url
                    .as_ref()
                    .map(|u| u.auth.span())
                    .unwrap_or(0..0);
                return Err(self.error(
                    at,
                    &format!("{section}.url.auth"),
                    "[auth] with `auth = \"aws_iam\"`: a SigV4 signature travels in the `Authorization` \
                     header, where the caller's token must go, so every request would be refused",
                    "use `auth = \"none\"` (the token is the caller's proof) or remove [auth] (callers sign \
                     with AWS credentials instead)",
                ));
            }
            if url_spec.auth == super::UrlAuth::None && url_spec.cors.is_none() {
                warnings.push(format!(
                    "[auth] with a public [{section}.url] and no [{section}.url.cors]: the handler does CORS \
                     itself and lets pages on any origin call the API with a token (it answers their \
                     preflights, `Access-Control-Allow-Origin: *`); add [{section}.url.cors] with your page's \
                     origin to allow only your pages"
                ));
            }
        }
        let anonymous_url = self.anonymous(&raw.function, section, url.as_ref(), auth.is_some())?;
        if let (Some(auth), Some(cors)) = (&mut auth, url.as_mut().and_then(|u| u.cors.as_mut())) {
            auth.added_cors_header = super::auth::allow_authorization(cors);
            self.cors_room(cors, section)?;
        }
        let log_group = self.log_group(&raw.function, section, &function.name)?;
        let deploy = self.deploy(&raw.function, section)?;

        let mut stack = Stack {
            file: self.file.to_path_buf(),
            name: stack_name,
            stage: self.stage.map(str::to_string),
            region,
            tags,
            table,
            role,
            policy,
            function,
            log_group,
            url,
            auth,
            anonymous_url,
            deploy,
            protected_stage: self.protected_stage(raw.protected.as_ref()),
            chosen_function: None,
            // Checked after the variables' size, as always (the first error found is the one reported).
            timeouts: Timeouts::default(),
            warnings,
        };
        self.environment_size(&raw.function.environment, section, &stack)?;
        stack.timeouts = self.timeouts(&raw.timeouts)?;
        Ok(stack)
    }

    /// One `[stack] tags` entry, by IAM's rules (the strictest of the services that get the tags).
    fn tag(
        &self,
        key: &Spanned<String>,
        value: &Spanned<String>,
        field: &str,
    ) -> Result<(), ConfigError> {
        let (k, v) = (key.get_ref(), value.get_ref());
        let charset =
            "use only letters, digits, spaces and `_ . : / = + - @` (IAM's tag characters)";
        if k.is_empty() {
            return Err(self.error(
                key.span(),
                field,
                "a tag key cannot be empty",
                "give the tag a key",
            ));
        }
        let length = k.chars().count();
        if length > limits::TAG_KEY_CHARS {
            return Err(self.error(
                key.span(),
                field,
                format!(
                    "the tag key is {length} characters long; IAM allows at most {}",
                    limits::TAG_KEY_CHARS
                ),
                "shorten the key",
            ));
        }
        if let Some(c) = limits::bad_tag_char(k) {
            return Err(self.error(
                key.span(),
                field,
                format!(
                    "the tag key `{k}` contains `{}`, which IAM does not accept in tags",
                    c.escape_debug()
                ),
                charset,
            ));
        }
        let length = v.chars().count();
        if length > limits::TAG_VALUE_CHARS {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "the tag value is {length} characters long; IAM allows at most {}",
                    limits::TAG_VALUE_CHARS
                ),
                "shorten the value",
            ));
        }
        if let Some(c) = limits::bad_tag_char(v) {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "the value of tag `{k}` contains `{}`, which IAM does not accept in tags",
                    c.escape_debug()
                ),
                charset,
            ));
        }
        Ok(())
    }

    /// At most 50 tags per resource, stackctl's own included: `stackctl:stack` everywhere, and
    /// `stackctl:region` on the role and the policy (IAM is global, so they say which region made them).
    fn tag_count(
        &self,
        raw: &BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Result<(), ConfigError> {
        // `stackctl:stack` and `stackctl:region`, and `stackctl:stage` in a stage.
        let stackctl_iam_tags = 2 + usize::from(self.stage.is_some());
        let room = limits::TAGS_PER_RESOURCE - stackctl_iam_tags;
        if raw.len() <= room {
            return Ok(());
        }
        // Point at the first tag (in file order) that does not fit.
        let mut keys: Vec<&Spanned<String>> = raw.keys().collect();
        keys.sort_by_key(|k| k.span().start);
        let first_over = keys[room];
        Err(self.error(
            first_over.span(),
            &format!("stack.tags.{}", first_over.get_ref()),
            format!(
                "`[stack] tags` has {} tags; with stackctl's own `{OWNER_TAG}`{} and `{REGION_TAG}`, the role \
                 and the policy would carry {}, over IAM's limit of {} tags per resource",
                raw.len(),
                if self.stage.is_some() { format!(", `{STAGE_TAG}`") } else { String::new() },
                raw.len() + stackctl_iam_tags,
                limits::TAGS_PER_RESOURCE
            ),
            format!(
                "remove at least {} of them (at most {room} fit)",
                raw.len() - room
            ),
        ))
    }

    fn key(&self, raw: &RawKey, field: &str) -> Result<KeyAttribute, ConfigError> {
        let name = self.checked_name(&raw.name, &format!("{field}.name"), NameRule::ATTRIBUTE)?;
        let key_type = match raw.r#type.get_ref().as_str() {
            "S" => KeyType::S,
            "N" => KeyType::N,
            "B" => KeyType::B,
            other => {
                return Err(self.error(
                    raw.r#type.span(),
                    &format!("{field}.type"),
                    format!("`{other}` is not a DynamoDB key attribute type"),
                    "use \"S\" (string), \"N\" (number) or \"B\" (binary)",
                ))
            }
        };
        Ok(KeyAttribute { name, key_type })
    }

    fn table(&self, raw: &RawTable) -> Result<TableSpec, ConfigError> {
        let name = self.physical_name(&raw.name, "table.name", "table", NameRule::TABLE)?;
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
            point_in_time_recovery: self
                .point_in_time_recovery(raw.point_in_time_recovery.as_ref())?,
        })
    }

    fn role(&self, raw: &RawRole, base_dir: &Path) -> Result<RoleSpec, ConfigError> {
        let name = self.physical_name(&raw.name, "role.name", "role", NameRule::IAM_ROLE)?;
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
        let name = self.physical_name(&raw.name, "policy.name", "policy", NameRule::IAM_POLICY)?;
        let allow_wildcards = raw.allow_wildcards.as_ref().is_some_and(|a| *a.get_ref());
        let template_path = self.project_path(&raw.template, "policy.template", base_dir)?;
        let (template, text) = self.json_file(&template_path, &raw.template, "policy.template")?;
        let doc = JsonDoc::new(self.shown(raw.template.get_ref()), &text);
        if let Some((at, placeholder)) = first_placeholder(&template, &mut Vec::new(), |p| {
            !p.terminated || !self.kinds.is_known(&p.name)
        }) {
            let (message, fix) = placeholder_problem(&placeholder, "placeholder", self.kinds);
            return Err(doc.error_at_placeholder(&at, &placeholder, message, fix));
        }
        doc.policy_shape(&template, PolicyKind::Identity)?;
        let wildcard_grants = doc.least_privilege(&template, allow_wildcards, self.kinds)?;
        Ok(PolicySpec {
            name,
            template_path,
            template,
            allow_wildcards,
            wildcard_grants,
        })
    }

    pub(super) fn ranged(
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
            snapshot_settle_secs: self
                .ranged(
                    raw.snapshot_settle_secs.as_ref(),
                    "timeouts.snapshot_settle_secs",
                    0,
                    3_600,
                    defaults.snapshot_settle_secs as i64,
                )
                .map(|s| s as u64)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::error_of;

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
    fn same_attribute_as_both_keys_is_refused() {
        let err = error_of(|t| t.replace(r#"name = "itemId""#, r#"name = "userId""#));
        assert_eq!(err.field.as_deref(), Some("table.sort_key.name"));
    }

    #[test]
    fn stack_tags_follow_iam_rules_and_leave_room_for_stackctls_own() {
        let tags = |body: &str| {
            let body = body.to_string();
            move |t: String| {
                t.replace(
                    "region = \"us-east-1\"\n",
                    &format!("region = \"us-east-1\"\n{body}\n"),
                )
            }
        };
        let err = error_of(tags(r#"tags = { "cost!center" = "x" }"#));
        assert!(err.message.contains("contains `!`"), "{err}");
        let err = error_of(tags(r#"tags = { team = "a,b" }"#));
        assert!(
            err.message.contains("value of tag `team` contains `,`"),
            "{err}"
        );
        let err = error_of(tags(&format!(r#"tags = {{ {} = "x" }}"#, "k".repeat(129))));
        assert!(err.message.contains("129 characters"), "{err}");
        let err = error_of(tags(&format!(r#"tags = {{ k = "{}" }}"#, "v".repeat(257))));
        assert!(err.message.contains("257 characters"), "{err}");
        let dir = crate::config::test_support::project();
        let many = |n: usize| {
            (0..n)
                .map(|i| format!("t{i:02} = \"v\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        crate::config::test_support::parse_with(
            dir.path(),
            tags(&format!(
                "tags = {{ team = \"équipe 東京: a/b=c+d-e@f.g_h\", {} }}",
                many(47)
            )),
        )
        .unwrap();
        let err = error_of(tags(&format!("tags = {{ {} }}", many(49))));
        assert_eq!(err.field.as_deref(), Some("stack.tags.t48"), "{err}");
        assert!(
            err.message.contains("49 tags") && err.message.contains("51"),
            "{err}"
        );
    }
}
