//! `[function.environment]`: Lambda's rules for variable names (and the ones it reserves), and only known
//! `${...}` references in values.

use std::collections::BTreeMap;

use toml::Spanned;

use super::errors::placeholder_problem;
use super::resolve::Checker;
use super::ConfigError;
use crate::template;

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

impl Checker<'_> {
    /// The variables of `[function.environment]`: names Lambda accepts, values with known references only.
    pub(super) fn environment(
        &self,
        variables: &BTreeMap<Spanned<String>, Spanned<String>>,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut environment = BTreeMap::new();
        for (key, value) in variables {
            let field = format!("function.environment.{}", key.get_ref());
            self.env_key(key, &field)?;
            if let Some(placeholder) = template::first_problem(value.get_ref()) {
                let (message, fix) = placeholder_problem(&placeholder, "reference");
                return Err(self.error(value.span(), &field, message, fix));
            }
            environment.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        Ok(environment)
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
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{error_of, parse_with, project};

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
}
