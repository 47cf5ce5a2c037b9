//! `stackctl policy --github OWNER/REPO[:ENVIRONMENT]`: the trust policy of a role that GitHub Actions of
//! that one repository (and environment) may assume through GitHub's OIDC provider.

use serde_json::{json, Value};

/// GitHub's OIDC issuer, as the provider's name in IAM.
pub const PROVIDER: &str = "token.actions.githubusercontent.com";

/// `OWNER/REPO[:ENVIRONMENT]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Repo {
    pub owner: String,
    pub repo: String,
    pub environment: Option<String>,
}

/// What is wrong with a `--github` value, as (message, fix).
pub type Problem = (String, String);

impl Repo {
    /// Parses and checks `OWNER/REPO[:ENVIRONMENT]`. Owners are letters, digits and `-`; repositories also
    /// `.` and `_`; environments any printable character but the ones a `sub` pattern or its separators
    /// give meaning to (`*`, `?`, `:`), so the condition can only ever match this one repository.
    pub fn parse(value: &str) -> Result<Repo, Problem> {
        let fix = "pass --github OWNER/REPO or OWNER/REPO:ENVIRONMENT, e.g. --github octo-org/api:production";
        let problem = |message: String| Err((message, fix.to_string()));
        let (path, environment) = match value.split_once(':') {
            Some((path, env)) => (path, Some(env)),
            None => (value, None),
        };
        let Some((owner, repo)) = path.split_once('/') else {
            return problem(format!(
                "`{}` has no `/` between owner and repository",
                value.escape_debug()
            ));
        };
        let name_ok = |part: &str, extra: &[char]| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || extra.contains(&c))
        };
        if !name_ok(owner, &[]) || owner.len() > 39 {
            return problem(format!(
                "the owner `{}` is not a GitHub owner name (1-39 letters, digits and `-`)",
                owner.escape_debug()
            ));
        }
        if !name_ok(repo, &['.', '_']) || repo.len() > 100 || repo == "." || repo == ".." {
            return problem(format!(
                "the repository `{}` is not a GitHub repository name (1-100 letters, digits, `-`, `.`, `_`)",
                repo.escape_debug()
            ));
        }
        if let Some(env) = environment {
            let bad = env
                .chars()
                .find(|c| matches!(c, '*' | '?' | ':' | '"' | '\\') || c.is_control());
            if env.is_empty() || env.len() > 255 || bad.is_some() {
                return problem(format!(
                    "the environment `{}` is empty, longer than 255 characters or contains `*`, `?`, `:`, `\"`, `\\` or a control character",
                    env.escape_debug()
                ));
            }
        }
        Ok(Repo {
            owner: owner.to_string(),
            repo: repo.to_string(),
            environment: environment.map(str::to_string),
        })
    }

    /// The token's `sub` this role trusts: one environment's jobs, or every job of the repository
    /// (`repo:OWNER/REPO:*`: the `:` right after the name, so `OWNER/REPO-other` never matches).
    pub fn subject(&self) -> String {
        match &self.environment {
            Some(env) => format!("repo:{}/{}:environment:{env}", self.owner, self.repo),
            None => format!("repo:{}/{}:*", self.owner, self.repo),
        }
    }
}

/// The role's trust policy for `repo` in `account` (the OIDC provider's ARN names the account).
pub fn trust(repo: &Repo, account: &str) -> Value {
    let audience = format!("{PROVIDER}:aud");
    let subject = format!("{PROVIDER}:sub");
    // One environment: its exact `sub`; the whole repository: a pattern, so StringLike (both under one
    // operator would be one JSON key: build the map by hand).
    let mut condition = serde_json::Map::new();
    condition.insert(
        "StringEquals".into(),
        json!({ audience: "sts.amazonaws.com" }),
    );
    let operator = if repo.environment.is_some() {
        "StringEquals"
    } else {
        "StringLike"
    };
    if let Some(Value::Object(map)) = condition.get_mut(operator) {
        map.insert(subject, Value::String(repo.subject()));
    } else {
        condition.insert(operator.into(), json!({ subject: repo.subject() }));
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActions",
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{PROVIDER}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": condition,
        }],
    })
}
