//! `[function.environment]`: Lambda's rules for variable names (and the ones it reserves), and only known
//! `${...}` references in values.

use std::collections::BTreeMap;

use toml::Spanned;

use super::errors::placeholder_problem;
use super::resolve::Checker;
use super::{ConfigError, Stack};
use crate::limits;
use crate::template;

/// The variable that tells the handler whether the function URL sends the CORS headers (`function-url`:
/// the handler must not send `Access-Control-Allow-Origin` too, or browsers see two values and refuse the
/// answer) or the handler does (`handler`, the tutorial's `*`). CORS lives in exactly one place. Reserved
/// here (stackctl sets it itself); resources/function.rs sets it.
pub const CORS_VARIABLE: &str = "STACKCTL_CORS";

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
    /// The variables of `[<section>.environment]` (`section`: the function's, `function`): names Lambda
    /// accepts, values with known references only.
    pub(super) fn environment(
        &self,
        variables: &BTreeMap<Spanned<String>, Spanned<String>>,
        section: &str,
    ) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut environment = BTreeMap::new();
        for (key, value) in variables {
            let field = format!("{section}.environment.{}", key.get_ref());
            self.env_key(key, &field)?;
            if let Some(placeholder) = self.kinds.first_problem(value.get_ref()) {
                let (message, fix) = placeholder_problem(&placeholder, "reference", self.kinds);
                return Err(self.error(value.span(), &field, message, fix));
            }
            environment.insert(key.get_ref().clone(), value.get_ref().clone());
        }
        Ok(environment)
    }

    /// Lambda's 4 KB for all variables together (keys and values, in bytes), with the references resolved
    /// as far as the stack file knows them (`Contributed::in_advance`: the account id always has 12 digits,
    /// and ARNs known in advance are counted in the `aws` partition; the plan checks the exact size, and
    /// the variables set outside the stack file, against the live function).
    pub(super) fn environment_size(
        &self,
        variables: &BTreeMap<Spanned<String>, Spanned<String>>,
        section: &str,
        stack: &Stack,
    ) -> Result<(), ConfigError> {
        let values = self.kinds.in_advance(stack);
        let sizes: Vec<(&Spanned<String>, usize)> = variables
            .iter()
            .map(|(key, value)| {
                let rendered = template::render(value.get_ref(), &values)
                    .unwrap_or_else(|_| value.get_ref().clone());
                (key, key.get_ref().len() + rendered.len())
            })
            .collect();
        let total: usize = sizes.iter().map(|(_, size)| size).sum();
        if total <= limits::ENV_BYTES {
            return Ok(());
        }
        let (largest, size) = sizes
            .iter()
            .max_by_key(|(key, size)| (*size, std::cmp::Reverse(key.span().start)))
            .expect("variables over the limit are not empty");
        Err(self.error(
            largest.span(),
            &format!("{section}.environment.{}", largest.get_ref()),
            format!(
                "the environment variables total {total} bytes (keys and values, references resolved), over \
                 Lambda's limit of {} bytes (4 KB); the largest is `{}` ({size} bytes)",
                limits::ENV_BYTES,
                largest.get_ref()
            ),
            "shorten or remove variables; large settings belong in SSM Parameter Store or S3, read at init",
        ))
    }

    fn env_key(&self, key: &Spanned<String>, field: &str) -> Result<(), ConfigError> {
        let name = key.get_ref();
        if name == CORS_VARIABLE {
            return Err(self.error(
                key.span(),
                field,
                format!("`{name}` is reserved by stackctl"),
                "rename the variable; stackctl sets this one itself to tell the handler whether the \
                 function URL sends the CORS headers ([function.url.cors])",
            ));
        }
        if super::AUTH_VARIABLES.contains(&name.as_str()) {
            return Err(self.error(
                key.span(),
                field,
                format!("`{name}` is reserved by stackctl"),
                "rename the variable; stackctl sets this one itself from [auth] (write the issuer, \
                 audience and jwks_url there)",
            ));
        }
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

    #[test]
    fn variables_over_4_kb_in_total_are_refused_with_references_resolved() {
        // 10 + len("my-frontend-app-data") = 30 bytes for TABLE_NAME; BIG fills the rest.
        let fill = |n: usize| {
            move |t: String| {
                t.replace(
                    "TABLE_NAME = ",
                    &format!("BIG = \"{}\"\nTABLE_NAME = ", "x".repeat(n)),
                )
            }
        };
        let dir = project();
        parse_with(dir.path(), fill(4096 - 30 - 3)).unwrap();
        let err = error_of(fill(4096 - 30 - 3 + 1));
        assert_eq!(err.field.as_deref(), Some("function.environment.BIG"));
        assert!(
            err.message.contains("4097 bytes") && err.message.contains("the largest is `BIG`"),
            "{err}"
        );
        // ${table.arn} counts as the ARN it becomes, not as the 12 characters written.
        let err = error_of(|t| {
            t.replace(
                "TABLE_NAME = ",
                &format!(
                    "BIG = \"{}${{table.arn}}\"\nTABLE_NAME = ",
                    "x".repeat(4000)
                ),
            )
        });
        assert!(err.message.contains("4 KB"), "{err}");
    }
}
