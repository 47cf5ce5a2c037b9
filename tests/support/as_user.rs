//! Runs and SDK calls as an IAM user other than the operator (`Emulator::user`'s keys), the policies such a
//! user holds, what moto's IAM enforcement refused to it and what a run sent: the tests that prove a policy
//! allows or denies exactly what it should.

use std::process::Command;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use super::{operator_policy, Emulator, Keys, Project, Run, ROOT_KEY};

impl Keys {
    /// The account's root user (`ROOT_KEY`), whom identity policies do not restrict.
    pub fn root() -> Keys {
        Keys {
            id: ROOT_KEY.into(),
            secret: ROOT_KEY.into(),
        }
    }
}

impl Project {
    /// `stackctl <args>` in this project with `keys` instead of the operator's. Its refusals are the test's to
    /// check (`Emulator::denials_of`): the project's own check counts only the operator's and local keys.
    pub fn run_as(&self, keys: &Keys, args: &[&str]) -> Run {
        let output = self
            .command_as(keys, args)
            .output()
            .expect("running stackctl");
        Run::from(output)
    }

    /// `command()` with `keys` instead of the operator's (set after its defaults, so they win).
    pub fn command_as(&self, keys: &Keys, args: &[&str]) -> Command {
        let mut command = self.command(args);
        command
            .env("AWS_ACCESS_KEY_ID", &keys.id)
            .env("AWS_SECRET_ACCESS_KEY", &keys.secret);
        command
    }
}

impl Emulator {
    /// What moto's IAM enforcement refused to `keys` so far, in order (see `denials` for the fields).
    pub fn denials_of(&self, keys: &Keys) -> Vec<serde_json::Value> {
        self.denials()
            .into_iter()
            .filter(|d| d["key"].as_str() == Some(keys.id.as_str()))
            .collect()
    }

    /// The operations stackctl itself (the Rust SDK, not the deployed handler) sent after `mark`, in order.
    pub fn sent_since(&self, mark: u64) -> Vec<String> {
        self.requests_since(mark)
            .into_iter()
            .filter(|r| r.from_rust)
            .map(|r| r.operation)
            .collect()
    }

    /// An SDK config signing with `keys`, through the strict proxy as stackctl talks to AWS: build any
    /// service's client from it (`aws_sdk_iam::Client::new(&config)`).
    pub async fn sdk_config_as(&self, keys: &Keys) -> SdkConfig {
        sdk_config(&self.url, "us-east-1", keys).await
    }
}

/// The operator policy without `action`, for a user refused exactly that (it must be in one statement's
/// action list, once).
pub fn operator_policy_without(action: &str) -> String {
    let mut policy: serde_json::Value =
        serde_json::from_str(&operator_policy()).expect("the operator policy is JSON");
    let mut removed = 0;
    for statement in policy["Statement"].as_array_mut().expect("Statement") {
        if let Some(list) = statement["Action"].as_array_mut() {
            let before = list.len();
            list.retain(|a| a.as_str() != Some(action));
            removed += before - list.len();
        }
    }
    assert_eq!(removed, 1, "{action} is in the operator policy once");
    policy.to_string()
}

/// An SDK config for the emulator at `url` in `region`, signing with `keys` (the harness's own clients use the
/// root user's, `ROOT_KEY`).
pub async fn sdk_config(url: &str, region: &'static str, keys: &Keys) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(region))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            &keys.id,
            &keys.secret,
            None,
            None,
            "test",
        ))
        .load()
        .await
}

impl Run {
    /// The run named an IAM refusal as stackctl promises: AWS's code, AWS's message naming the refused action
    /// (one of `actions`, those the emulator logged), and the fix (`stackctl policy`).
    #[track_caller]
    pub fn assert_names_refusal(&self, actions: &[&str]) {
        let names_action = actions.iter().any(|action| {
            self.stderr
                .contains(&format!("is not authorized to perform: {action}"))
        });
        assert!(
            self.stderr.contains("AWS refused the call (AccessDenied")
                && names_action
                && self.stderr.contains("`stackctl policy`"),
            "no refusal of {actions:?} named with its fix:\n{}",
            self.stderr
        );
    }
}
