//! Integration tests: the real built `stackctl` against a fresh local emulator per test.

#[path = "support/mod.rs"]
mod support;

#[path = "cli/auth.rs"]
mod auth;
#[path = "cli/backup.rs"]
mod backup;
#[path = "cli/bad_input.rs"]
mod bad_input;
#[path = "cli/cognito.rs"]
mod cognito;
#[path = "cli/cognito_users.rs"]
mod cognito_users;
#[path = "cli/contract.rs"]
mod contract;
#[path = "cli/corpus.rs"]
mod corpus;
#[path = "cli/deploy.rs"]
mod deploy;
#[path = "cli/deploy_policy.rs"]
mod deploy_policy;
#[path = "cli/deploy_url.rs"]
mod deploy_url;
#[path = "cli/dev.rs"]
mod dev;
#[path = "cli/dev_auth_local.rs"]
mod dev_auth_local;
#[path = "cli/dev_browser.rs"]
mod dev_browser;
#[path = "cli/dev_guard.rs"]
mod dev_guard;
#[path = "cli/dev_workers.rs"]
mod dev_workers;
#[path = "cli/down.rs"]
mod down;
#[path = "cli/escaped_output.rs"]
mod escaped_output;
#[path = "cli/function.rs"]
mod function;
#[path = "cli/function_url.rs"]
mod function_url;
#[path = "cli/iam_enforcement.rs"]
mod iam_enforcement;
#[path = "cli/iam_paths.rs"]
mod iam_paths;
#[path = "cli/iam_teardown.rs"]
mod iam_teardown;
#[path = "cli/init.rs"]
mod init;
#[path = "cli/invoke_remote.rs"]
mod invoke_remote;
#[path = "cli/leftovers.rs"]
mod leftovers;
#[path = "cli/local_env.rs"]
mod local_env;
#[path = "cli/log_group.rs"]
mod log_group;
#[path = "cli/logs.rs"]
mod logs;
#[path = "cli/outputs.rs"]
mod outputs;
#[path = "cli/ownership.rs"]
mod ownership;
#[path = "cli/plan.rs"]
mod plan;
#[path = "cli/promises.rs"]
mod promises;
#[path = "cli/promises_aws.rs"]
mod promises_aws;
#[path = "cli/promises_dev.rs"]
mod promises_dev;
#[path = "cli/resilience.rs"]
mod resilience;
#[path = "cli/rollback.rs"]
mod rollback;
#[path = "cli/runner_groups.rs"]
mod runner_groups;
#[path = "cli/smoke.rs"]
mod smoke;
#[path = "cli/smoke_url.rs"]
mod smoke_url;
#[path = "cli/snapshot.rs"]
mod snapshot;
#[path = "cli/snapshots.rs"]
mod snapshots;
#[path = "cli/stages.rs"]
mod stages;
#[path = "cli/status.rs"]
mod status;
#[path = "cli/table_settings.rs"]
mod table_settings;
#[path = "cli/up.rs"]
mod up;
#[path = "cli/url_lost_answers.rs"]
mod url_lost_answers;
