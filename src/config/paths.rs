//! Paths written in stack.toml: kept inside the project directory (symlinks included), shown as the user
//! wrote them, and the JSON files they name read.

use std::path::{Component, Path, PathBuf};

use toml::Spanned;

use super::errors::json_error_message;
use super::resolve::Checker;
use super::ConfigError;

impl Checker<'_> {
    /// How to show a path written in the stack file: relative to the directory the stack file was named
    /// from, as the user wrote it (never an absolute path the user did not write).
    pub(super) fn shown(&self, written: &str) -> PathBuf {
        match self.file.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(written),
            _ => PathBuf::from(written),
        }
    }

    /// A path relative to the stack file's directory that must stay inside it (no `..`, no absolute path,
    /// no symlink leading out).
    pub(super) fn project_path(
        &self,
        value: &Spanned<String>,
        field: &str,
        base_dir: &Path,
    ) -> Result<PathBuf, ConfigError> {
        let relative = Path::new(value.get_ref());
        if value.get_ref().trim().is_empty() {
            return Err(self.error(
                value.span(),
                field,
                "the path is empty",
                "give a path relative to the directory that holds the stack file",
            ));
        }
        let escapes = relative.is_absolute()
            || relative
                .components()
                .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
        if escapes {
            return Err(self.error(
                value.span(),
                field,
                format!("`{}` is outside the project directory", value.get_ref()),
                "use a path inside the directory that holds the stack file, without `..`",
            ));
        }
        let root = base_dir_abs(base_dir);
        let joined = root.join(relative);
        // Resolve symlinks of whatever exists, so a link cannot smuggle the path outside the project.
        if !real_path(&joined).starts_with(&root) {
            return Err(self.error(
                value.span(),
                field,
                format!(
                    "`{}` leads outside the project directory through a symlink",
                    value.get_ref()
                ),
                "use a real directory or file inside the directory that holds the stack file",
            ));
        }
        Ok(joined)
    }

    /// Reads a JSON file named by `value`; returns it parsed and as text (for positions in errors).
    pub(super) fn json_file(
        &self,
        path: &Path,
        value: &Spanned<String>,
        field: &str,
    ) -> Result<(serde_json::Value, String), ConfigError> {
        let shown = self.shown(value.get_ref());
        let text = std::fs::read_to_string(path).map_err(|err| {
            let (message, fix) = if err.kind() == std::io::ErrorKind::NotFound {
                (
                    format!("`{}` does not exist", shown.display()),
                    "point it at an existing JSON file, relative to the stack file's directory",
                )
            } else {
                (
                    format!("cannot read `{}`: {err}", shown.display()),
                    "point it at a readable JSON file, relative to the stack file's directory",
                )
            };
            self.error(value.span(), field, message, fix)
        })?;
        let parsed = serde_json::from_str(&text).map_err(|err| ConfigError {
            file: shown.clone(),
            position: Some((err.line(), err.column())),
            field: None,
            message: format!("not valid JSON: {}", json_error_message(&err)),
            fix: Some("write a JSON policy document (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html)".into()),
        })?;
        Ok((parsed, text))
    }
}

/// The real location of a path that may not exist yet: its deepest existing ancestor, resolved (symlinks
/// followed), with the rest appended.
pub(super) fn real_path(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut current = path;
    loop {
        if let Ok(real) = current.canonicalize() {
            return rest.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (current.parent(), current.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                current = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn base_dir_abs(base_dir: &Path) -> PathBuf {
    base_dir
        .canonicalize()
        .unwrap_or_else(|_| base_dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::{error_of, parse_with, project, write_policy};

    #[test]
    fn paths_may_not_leave_the_project() {
        let err = error_of(|t| t.replace("\"lambda/dist\"", "\"../dist\""));
        assert_eq!(err.field.as_deref(), Some("function.artifact_dir"));
        assert!(err.message.contains("outside the project"), "{err}");
    }

    #[test]
    fn template_errors_name_the_template_as_written_next_to_the_stack_file() {
        let dir = project();
        write_policy(dir.path(), "{\n  \"Statement\": [\n}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(
            err.file,
            dir.path().join("policies/lambda-dynamodb-policy.json")
        );
        assert_eq!(err.position.map(|p| p.0), Some(3));
        assert!(!err.message.contains(" at line "), "{err}");
        let no_kinds = crate::config::placeholders::Contributed::new(&[], |_| Default::default());
        // A relative stack file path gives relative template paths (the CLI is run from the project).
        let checker = Checker {
            file: Path::new("infra/stack.toml"),
            source: "",
            stage: None,
            region: "us-east-1",
            kinds: &no_kinds,
        };
        assert_eq!(
            checker.shown("policies/p.json"),
            Path::new("infra/policies/p.json")
        );
        let checker = Checker {
            file: Path::new("stack.toml"),
            source: "",
            stage: None,
            region: "us-east-1",
            kinds: &no_kinds,
        };
        assert_eq!(
            checker.shown("policies/p.json"),
            Path::new("policies/p.json")
        );
    }
}
