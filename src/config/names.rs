//! AWS naming rules: the length and the characters each service allows in a name, and region codes. The
//! rules of the names the shared checks use are here; a new kind's rule is declared beside its section in
//! raw.rs (`const QUEUE_NAME: NameRule = NameRule::new(..)`, its `stage_name = QUEUE_NAME`), where its
//! resolve step takes it from too.

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
    /// `what` names the service and the name in messages ("SQS (queue names)"); `extra`: the characters
    /// allowed besides ASCII letters and digits.
    pub(super) const fn new(
        what: &'static str,
        min: usize,
        max: usize,
        extra: &'static str,
    ) -> NameRule {
        NameRule {
            what,
            min,
            max,
            extra,
        }
    }

    pub(super) const STACK: NameRule = NameRule::new("a stack name", 1, 64, "-_");
    pub(super) const TABLE: NameRule = NameRule::new("DynamoDB (table names)", 3, 255, "_.-");
    pub(super) const ATTRIBUTE: NameRule =
        NameRule::new("DynamoDB (key attribute names)", 1, 255, "_.-");
    pub(super) const IAM_ROLE: NameRule = NameRule::new("IAM (role names)", 1, 64, "+=,.@_-");
    pub(super) const IAM_POLICY: NameRule = NameRule::new("IAM (policy names)", 1, 128, "+=,.@_-");
    pub(super) const FUNCTION: NameRule = NameRule::new("Lambda (function names)", 1, 64, "-_");
    /// Checked although `/aws/lambda/<function.name>` always fits: the rule is written down once, here.
    pub(super) const LOG_GROUP: NameRule =
        NameRule::new("CloudWatch Logs (log group names)", 1, 512, "._-/#");

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

    /// A kind's rule may be declared anywhere in config (beside its section), with the same messages.
    #[test]
    fn a_rule_declared_outside_names_rs_is_checked_alike() {
        const QUEUE: NameRule = NameRule::new("SQS (queue names)", 1, 80, "-_");
        assert_eq!(QUEUE.problem("orders-dlq_1"), None);
        let (message, fix) = QUEUE.problem("orders.fifo").unwrap();
        assert!(
            message.contains("`.`, which SQS (queue names)"),
            "{message}"
        );
        assert_eq!(fix, "use only letters, digits and `-` `_`");
        assert!(QUEUE.problem(&"q".repeat(81)).is_some());
    }

    #[test]
    fn regions_are_checked() {
        assert!(
            is_region("us-east-1") && is_region("us-gov-west-1") && is_region("ap-southeast-4")
        );
        assert!(!is_region("useast1") && !is_region("US-EAST-1") && !is_region("us-east-"));
    }
}
