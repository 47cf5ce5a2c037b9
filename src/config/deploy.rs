//! `[function.deploy]`: versioned deploys. `up` publishes a version of the function, verifies it and only then
//! moves an alias to it; `rollback` moves the alias back. Without the section, `up` updates `$LATEST` in place,
//! as it always has.
//!
//! The alias name follows Lambda's rule (CreateAlias/GetAlias/DeleteAlias `Name`: 1 to 128 characters,
//! pattern `(?!^[0-9]+$)([a-zA-Z0-9-_]+)`: letters, digits, `-` and `_`, not only digits, since a number names
//! a version). `$LATEST` is the unpublished function itself, never an alias.

use toml::Spanned;

use super::raw::RawFunction;
use super::resolve::Checker;
use super::{ConfigError, DeploySpec, Verify};

/// `alias` when the file does not say.
pub const DEFAULT_ALIAS: &str = "live";
/// `keep_versions` when the file does not say.
pub const DEFAULT_KEEP_VERSIONS: i32 = 5;
/// The fewest versions pruning keeps: the one the alias serves and the one it replaced (rollback's target).
pub const MIN_KEEP_VERSIONS: i32 = 2;
/// Lambda's longest alias name.
const MAX_ALIAS_CHARS: usize = 128;

impl Checker<'_> {
    /// `[<section>.deploy]`; None: the section is absent (deploys update `$LATEST` in place).
    pub(super) fn deploy(
        &self,
        raw: &RawFunction,
        section: &str,
    ) -> Result<Option<DeploySpec>, ConfigError> {
        let Some(deploy) = &raw.deploy else {
            return Ok(None);
        };
        let field = |key: &str| format!("{section}.deploy.{key}");
        let alias = match &deploy.alias {
            None => DEFAULT_ALIAS.to_string(),
            Some(value) => self.alias(value, &field("alias"))?,
        };
        let keep_versions = match &deploy.keep_versions {
            None => DEFAULT_KEEP_VERSIONS,
            Some(value) => self.keep_versions(value, &field("keep_versions"))?,
        };
        let verify = match &deploy.verify {
            None => Verify::Smoke,
            Some(value) => self.verify(value, &field("verify"))?,
        };
        Ok(Some(DeploySpec {
            alias,
            keep_versions,
            verify,
        }))
    }

    fn alias(&self, value: &Spanned<toml::Value>, field: &str) -> Result<String, ConfigError> {
        let refuse =
            |message: String, fix: &str| Err(self.error(value.span(), field, message, fix));
        let toml::Value::String(name) = value.get_ref() else {
            return refuse(
                format!("expected an alias name, found {}", kind_of(value.get_ref())),
                r#"write a name in quotes, e.g. `alias = "live"`"#,
            );
        };
        let shown = name.escape_debug();
        if name.is_empty() {
            return refuse(
                "an alias name cannot be empty".into(),
                r#"name the alias, e.g. `alias = "live"`"#,
            );
        }
        if name == "$LATEST" {
            return refuse(
                "`$LATEST` is the unpublished function, not an alias: the alias is what serves a verified version"
                    .into(),
                r#"name an alias, e.g. `alias = "live"`, or remove [function.deploy] to update `$LATEST` in place"#,
            );
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return refuse(
                format!(
                    "alias \"{shown}\" has the character `{}`; Lambda allows only letters, digits, `-` and `_`",
                    bad.escape_debug()
                ),
                "use only letters, digits, `-` and `_`, e.g. `alias = \"live\"`",
            );
        }
        if name.chars().all(|c| c.is_ascii_digit()) {
            return refuse(
                format!("alias \"{shown}\" is a number, and a number names a version"),
                "use a name with at least one letter, e.g. `alias = \"live\"`",
            );
        }
        let length = name.chars().count();
        if length > MAX_ALIAS_CHARS {
            return refuse(
                format!(
                    "alias name is {length} characters long; Lambda allows at most {MAX_ALIAS_CHARS}"
                ),
                "shorten the alias name",
            );
        }
        Ok(name.clone())
    }

    fn keep_versions(&self, value: &Spanned<toml::Value>, field: &str) -> Result<i32, ConfigError> {
        let fix = format!(
            "write a whole number of at least {MIN_KEEP_VERSIONS} (the version the alias serves and the one \
             rollback returns to), e.g. `keep_versions = {DEFAULT_KEEP_VERSIONS}`"
        );
        let message = match value.get_ref() {
            toml::Value::Integer(n) => match i32::try_from(*n) {
                Ok(n) if n >= MIN_KEEP_VERSIONS => return Ok(n),
                Ok(_) if *n >= 0 => format!(
                    "keeping {n} version{} leaves rollback nothing to return to",
                    if *n == 1 { "" } else { "s" }
                ),
                _ => format!("{n} is not a number of versions"),
            },
            toml::Value::String(s) => format!(
                "expected a whole number of versions, found the string \"{}\"",
                s.escape_debug()
            ),
            other => format!(
                "expected a whole number of versions, found {}",
                kind_of(other)
            ),
        };
        Err(self.error(value.span(), field, message, fix))
    }

    fn verify(&self, value: &Spanned<toml::Value>, field: &str) -> Result<Verify, ConfigError> {
        let message = match value.get_ref() {
            toml::Value::String(s) if s == "smoke" => return Ok(Verify::Smoke),
            toml::Value::String(s) if s == "none" => return Ok(Verify::None),
            toml::Value::String(s) => format!("unknown verification \"{}\"", s.escape_debug()),
            other => format!("expected \"smoke\" or \"none\", found {}", kind_of(other)),
        };
        Err(self.error(
            value.span(),
            field,
            message,
            r#"use `verify = "smoke"` (smoke's checks run against the new version before the alias moves) or `verify = "none"` (the alias moves once the version is published)"#,
        ))
    }
}

/// "a boolean", "an integer", ...: what a TOML value is, for messages.
fn kind_of(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error_of, parse_with, project};

    fn with_deploy(section: &str) -> impl Fn(String) -> String {
        let section = section.to_string();
        move |t: String| format!("{t}\n[function.deploy]\n{section}\n")
    }

    #[test]
    fn without_the_section_there_is_no_deploy_and_with_it_the_defaults() {
        let dir = project();
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert_eq!(stack.deploy, None);
        assert!(!stack.warnings.iter().any(|w| w.contains("deploy")));
        assert_eq!(stack.chosen_function().deploy, None);
        let stack = parse_with(dir.path(), with_deploy("")).unwrap();
        assert!(!stack.warnings.iter().any(|w| w.contains("deploy")));
        let expected = DeploySpec {
            alias: "live".into(),
            keep_versions: 5,
            verify: Verify::Smoke,
        };
        assert_eq!(stack.deploy.as_ref(), Some(&expected));
        assert_eq!(stack.chosen_function().deploy, Some(expected));
        let stack = parse_with(
            dir.path(),
            with_deploy("alias = \"prod_2-a\"\nkeep_versions = 2\nverify = \"none\""),
        )
        .unwrap();
        assert_eq!(
            stack.deploy,
            Some(DeploySpec {
                alias: "prod_2-a".into(),
                keep_versions: 2,
                verify: Verify::None,
            })
        );
        let long = "a".repeat(128);
        let stack = parse_with(dir.path(), with_deploy(&format!("alias = \"{long}\""))).unwrap();
        assert_eq!(stack.deploy.unwrap().alias, long);
    }

    #[test]
    fn alias_names_follow_lambdas_rule() {
        let message = |text: &str| {
            let err = error_of(with_deploy(text));
            assert_eq!(err.field.as_deref(), Some("function.deploy.alias"), "{err}");
            assert_eq!(err.position.map(|p| p.0), Some(38), "{err}");
            err.message
        };
        assert!(message("alias = \"12\"").contains("is a number"));
        assert!(message("alias = \"$LATEST\"").contains("unpublished function"));
        assert!(message("alias = \"\"").contains("cannot be empty"));
        assert!(message("alias = \"li ve\"").contains("the character ` `"));
        assert!(message("alias = \"live:1\"").contains("the character `:`"));
        assert!(message("alias = \"lïve\"").contains("the character `ï`"));
        assert!(message("alias = \"$latest\"").contains("the character `$`"));
        assert!(message(&format!("alias = \"{}\"", "a".repeat(129))).contains("129 characters"));
        assert!(message("alias = 1").contains("found an integer"));
    }

    #[test]
    fn keep_versions_is_a_whole_number_of_at_least_two() {
        let message = |text: &str| {
            let err = error_of(with_deploy(text));
            assert_eq!(
                err.field.as_deref(),
                Some("function.deploy.keep_versions"),
                "{err}"
            );
            assert!(err.fix.as_deref().unwrap().contains("at least 2"), "{err}");
            err.message
        };
        assert!(message("keep_versions = 1").contains("keeping 1 version leaves"));
        assert!(message("keep_versions = 0").contains("keeping 0 versions leaves"));
        assert!(message("keep_versions = -3").contains("-3 is not a number"));
        assert!(message("keep_versions = 99999999999").contains("is not a number"));
        assert!(message("keep_versions = 2.5").contains("found a float"));
        assert!(message("keep_versions = \"5\"").contains("the string \"5\""));
    }

    #[test]
    fn verify_is_smoke_or_none() {
        for text in ["verify = \"Smoke\"", "verify = true", "verify = \"\""] {
            let err = error_of(with_deploy(text));
            assert_eq!(
                err.field.as_deref(),
                Some("function.deploy.verify"),
                "{err}"
            );
            assert!(err.fix.as_deref().unwrap().contains("verify = \"none\""));
        }
    }

    #[test]
    fn unknown_keys_are_refused_with_a_suggestion_and_stages_overlay_the_section() {
        let err = error_of(with_deploy("keep_version = 3"));
        assert_eq!(
            err.field.as_deref(),
            Some("function.deploy.keep_version"),
            "{err}"
        );
        assert!(err.fix.unwrap().contains("did you mean `keep_versions`?"));
    }
}
