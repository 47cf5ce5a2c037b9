//! `stackctl policy`: prints the IAM policy a deploy of this stack file needs (deploy_policy/), and with
//! `--github` the trust policy of the role GitHub Actions assumes. Reads only the stack file: no AWS call.

use anyhow::Result;

use crate::config::ConfigError;
use crate::deploy_policy::{self, github, Names};
use crate::outcome::Outcome;

/// What `stackctl policy` was asked for.
pub struct Options<'a> {
    pub file: &'a std::path::Path,
    pub region: Option<&'a str>,
    pub github: Option<&'a str>,
    pub account: Option<&'a str>,
}

/// The identity policy; with `--github`, `{"permissions": <it>, "trust": <trust policy>}`. Always JSON on
/// stdout (it is a file to hand to `aws iam`), whatever `--output` says.
pub fn run(options: &Options, today: &str) -> Result<Outcome> {
    let usage = |field: &str, message: String, fix: &str| ConfigError {
        file: options.file.to_path_buf(),
        position: None,
        field: Some(field.to_string()),
        message,
        fix: Some(fix.to_string()),
    };
    if let Some(account) = options.account {
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(usage(
                "--account",
                format!("`{}` is not an AWS account id", account.escape_debug()),
                "pass the 12-digit id: --account \"$(aws sts get-caller-identity --query Account --output text)\"",
            )
            .into());
        }
    }
    let repo = match options.github {
        Some(value) => Some(
            github::Repo::parse(value)
                .map_err(|(message, fix)| usage("--github", message, &fix))?,
        ),
        None => None,
    };
    let names = Names::of_file(options.file, options.region, options.account, today)?;
    let permissions = deploy_policy::document(&names);
    let document = match &repo {
        None => permissions,
        Some(repo) => {
            let Some(account) = options.account else {
                return Err(usage(
                    "--account",
                    "--github needs the account id: the trust policy names the account's OIDC provider".into(),
                    "add --account \"$(aws sts get-caller-identity --query Account --output text)\"",
                )
                .into());
            };
            serde_json::json!({ "permissions": permissions, "trust": github::trust(repo, account) })
        }
    };
    Ok(Outcome::Plain {
        text: deploy_policy::render(&document),
    })
}
