//! What the config tests share: a copy of the shipped project in a temporary directory, and its stack file
//! parsed after an edit.

use std::path::Path;

use super::{parse, ConfigError, Stack};

pub(super) const TODAY: &str = "2026-11-26";

pub(super) fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::create_dir_all(dir.path().join("policies")).unwrap();
    std::fs::create_dir_all(dir.path().join("lambda/dist")).unwrap();
    for f in [
        "policies/lambda-trust-policy.json",
        "policies/lambda-dynamodb-policy.json",
        "stack.toml",
    ] {
        std::fs::copy(Path::new(root).join(f), dir.path().join(f)).unwrap();
    }
    dir
}

pub(super) fn parse_with(
    dir: &Path,
    edit: impl Fn(String) -> String,
) -> Result<Stack, ConfigError> {
    let text = edit(std::fs::read_to_string(dir.join("stack.toml")).unwrap());
    parse(&dir.join("stack.toml"), &text, TODAY)
}

pub(super) fn error_of(edit: impl Fn(String) -> String) -> ConfigError {
    let dir = project();
    parse_with(dir.path(), edit).unwrap_err()
}

pub(super) fn write_policy(dir: &Path, text: &str) {
    std::fs::write(dir.join("policies/lambda-dynamodb-policy.json"), text).unwrap();
}

pub(super) const POLICY: &str = include_str!("../../policies/lambda-dynamodb-policy.json");
