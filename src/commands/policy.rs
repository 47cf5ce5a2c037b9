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
    if let Some(note) = size_note(&deploy_policy::render(&permissions)) {
        eprintln!("warning: {note}");
    }
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

/// IAM's quotas on a policy's size, in characters not counting whitespace (IAM User Guide, "IAM and AWS STS
/// quotas": a customer managed policy 6,144; a role's inline policies together 10,240).
const MANAGED_POLICY_LIMIT: usize = 6_144;
const ROLE_INLINE_LIMIT: usize = 10_240;

/// What to do when `document` is too large for a managed policy (`aws iam create-policy` refuses it with
/// LimitExceeded): None when it fits.
fn size_note(document: &str) -> Option<String> {
    let size = document.chars().filter(|c| !c.is_whitespace()).count();
    if size <= MANAGED_POLICY_LIMIT {
        return None;
    }
    let inline = if size <= ROLE_INLINE_LIMIT {
        format!(
            "put it on the role inline instead (`aws iam put-role-policy`: up to {ROLE_INLINE_LIMIT} for all of \
             a role's inline policies)"
        )
    } else {
        format!("it is over the {ROLE_INLINE_LIMIT} of a role's inline policies too: split its statements into two policies")
    };
    Some(format!(
        "the policy is {size} characters without whitespace, over IAM's {MANAGED_POLICY_LIMIT} for a managed \
         policy (`aws iam create-policy` would refuse it): {inline}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_over_the_managed_quota_says_to_put_it_inline_or_split_it() {
        assert_eq!(size_note(&format!("{{ {} }}", "a ".repeat(6_000))), None);
        let over = size_note(&"a".repeat(6_145)).unwrap();
        assert!(
            over.contains("6145 characters") && over.contains("put-role-policy"),
            "{over}"
        );
        let far = size_note(&"a".repeat(10_241)).unwrap();
        assert!(far.contains("split"), "{far}");
    }
}
