//! AWS naming rules: the length and the characters each service allows in a name, and region codes.

use toml::Spanned;

use super::resolve::Checker;
use super::ConfigError;

pub(super) struct NameRule {
    pub(super) what: &'static str,
    min: usize,
    pub(super) max: usize,
    /// Characters allowed besides ASCII letters and digits.
    extra: &'static str,
}

impl NameRule {
    pub(super) const STACK: NameRule = NameRule {
        what: "a stack name",
        min: 1,
        max: 64,
        extra: "-_",
    };
    pub(super) const TABLE: NameRule = NameRule {
        what: "DynamoDB (table names)",
        min: 3,
        max: 255,
        extra: "_.-",
    };
    pub(super) const ATTRIBUTE: NameRule = NameRule {
        what: "DynamoDB (key attribute names)",
        min: 1,
        max: 255,
        extra: "_.-",
    };
    pub(super) const IAM_ROLE: NameRule = NameRule {
        what: "IAM (role names)",
        min: 1,
        max: 64,
        extra: "+=,.@_-",
    };
    pub(super) const IAM_POLICY: NameRule = NameRule {
        what: "IAM (policy names)",
        min: 1,
        max: 128,
        extra: "+=,.@_-",
    };
    pub(super) const FUNCTION: NameRule = NameRule {
        what: "Lambda (function names)",
        min: 1,
        max: 64,
        extra: "-_",
    };
    /// Checked although `/aws/lambda/<function.name>` always fits: the rule is written down once, here.
    pub(super) const LOG_GROUP: NameRule = NameRule {
        what: "CloudWatch Logs (log group names)",
        min: 1,
        max: 512,
        extra: "._-/#",
    };

    /// What is wrong with `name` under this rule, as (message, fix); None when it is a valid name.
    pub(super) fn problem(&self, name: &str) -> Option<(String, String)> {
        let len = name.chars().count();
        if len < self.min || len > self.max {
            return Some((
                format!(
                    "`{name}` is {len} characters long; {} allows {}-{}",
                    self.what, self.min, self.max
                ),
                format!("choose a name of {}-{} characters", self.min, self.max),
            ));
        }
        let bad = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || self.extra.contains(*c)))?;
        Some((
            format!(
                "`{name}` contains `{bad}`, which {} does not allow",
                self.what
            ),
            format!(
                "use only letters, digits and {}",
                describe_chars(self.extra)
            ),
        ))
    }
}

fn describe_chars(extra: &str) -> String {
    extra
        .chars()
        .map(|c| format!("`{c}`"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn is_region(region: &str) -> bool {
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

impl Checker<'_> {
    pub(super) fn checked_name(
        &self,
        value: &Spanned<String>,
        field: &str,
        rule: NameRule,
    ) -> Result<String, ConfigError> {
        let name = value.get_ref();
        match rule.problem(name) {
            Some((message, fix)) => Err(self.error(value.span(), field, message, fix)),
            None => Ok(name.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::error_of;

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
    fn log_group_names_take_512_of_their_characters() {
        let rule = NameRule::LOG_GROUP;
        assert_eq!(rule.problem("/aws/lambda/my-frontend_app.v1#2"), None);
        assert_eq!(
            rule.problem(&format!("/aws/lambda/{}", "a".repeat(500))),
            None
        );
        let (message, _) = rule
            .problem(&format!("/aws/lambda/{}", "a".repeat(501)))
            .unwrap();
        assert!(
            message.contains("513 characters long") && message.contains("1-512"),
            "{message}"
        );
        let (message, fix) = rule.problem("/aws/lambda/a b").unwrap();
        assert!(message.contains("contains ` `"), "{message}");
        assert!(fix.contains("`#`") && fix.contains("`/`"), "{fix}");
    }

    #[test]
    fn regions_are_checked() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("useast1") && !is_region("US-EAST-1") && !is_region("us-east-"));
    }
}
