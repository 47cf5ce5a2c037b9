//! `ConfigError` (a mistake with its file, position, field and fix), positions in text, and the TOML
//! parser's and serde's complaints about the stack file turned into that.

use std::fmt;
use std::path::PathBuf;

use super::hints::{closest, example, required_keys};
use super::placeholders::Contributed;
use super::resolve::Checker;
use super::toml_tree::TomlNode;
use crate::template;

/// A stack.toml (or template) mistake: where it is, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the mistake has a place in the file.
    pub position: Option<(usize, usize)>,
    /// Dotted path of the offending key, e.g. `table.partition_key.type`.
    pub field: Option<String>,
    pub message: String,
    pub fix: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n  fix: {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Checker<'_> {
    /// A TOML syntax error, or serde's complaint about the shape of the file (unknown key, missing key,
    /// wrong type), turned into the file, line, dotted field and fix.
    pub(super) fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = one_line(err.message());
        let position = err.span().map(|span| self.position(span));
        // Which key the error is about: found by matching its span against the spans of the document.
        let path = err.span().and_then(|span| {
            let tree = toml::from_str::<TomlNode>(self.source).ok()?;
            Some(tree.path_to(&span))
        });
        let general = |fix: &str| ConfigError {
            file: self.file.to_path_buf(),
            position,
            field: None,
            message: message.clone(),
            fix: Some(fix.into()),
        };
        let Some(path) = path else {
            return general(if message.starts_with("unknown field") {
                "remove the key or correct its spelling; every key is listed in README.md (stack.toml reference)"
            } else if message.starts_with("missing field") {
                "add the key; every key is listed in README.md (stack.toml reference)"
            } else if message.starts_with("invalid type") {
                "give the key a value of the expected type (see README.md, stack.toml reference)"
            } else if message.contains("duplicate key") {
                "keep only one of the two; a key or a section may appear only once"
            } else {
                "fix the TOML syntax at this position (https://toml.io)"
            });
        };
        if let Some(key) = backticked(&message)
            .into_iter()
            .next()
            .filter(|_| message.starts_with("missing field"))
        {
            let field = dotted(&path, Some(&key));
            if path.is_empty() {
                let keys = required_keys(&key)
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return ConfigError {
                    file: self.file.to_path_buf(),
                    position: None,
                    field: Some(field),
                    message: format!("the `[{key}]` section is missing"),
                    fix: Some(format!(
                        "add a `[{key}]` section with {keys} (see README.md, stack.toml reference)"
                    )),
                };
            }
            let parent = dotted(&path, None);
            let place = if path.len() == 1 {
                format!("under `[{parent}]`")
            } else {
                format!("to `{parent}`")
            };
            let fix = match example(base_field(&field)) {
                Some(example) => {
                    format!("add `{example}` {place} (see README.md, stack.toml reference)")
                }
                None => format!("add `{key}` {place} (see README.md, stack.toml reference)"),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message: format!("the required key `{key}` is missing"),
                fix: Some(fix),
            };
        }
        if path.is_empty() {
            return general("fix the TOML syntax at this position (https://toml.io)");
        }
        let field = dotted(&path, None);
        if message.starts_with("unknown field") {
            let names = backticked(&message);
            // `[stages.<name>]` is not listed among the sections a misspelt one could be (it is offered as
            // "did you mean" when it is close): the list names the sections of the file itself.
            let mut message = message.replace(", `stages`", "");
            // Nor, at the top, a stage's own key (`protected`: refused outside `[stages.<name>]`).
            if path.len() == 1 {
                message = message.replace(", `protected`", "");
            }
            let unknown = names.first().cloned().unwrap_or_default();
            let fix = match closest(&unknown, &names[1.min(names.len())..]) {
                _ if field.starts_with("stages.") && field.ends_with(".stack.name") => {
                    "remove it: a stack has one name in every stage (its `stackctl:stack` tag), and every \
                     physical name already carries the stage"
                        .to_string()
                }
                Some(near) => format!(
                    "did you mean `{near}`? Otherwise remove the key; every key is listed in README.md (stack.toml reference)"
                ),
                None => "remove the key or correct its spelling; every key is listed in README.md (stack.toml reference)".to_string(),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message,
                fix: Some(fix),
            };
        }
        if message.starts_with("invalid type") || message.starts_with("invalid value") {
            let free_form = ["stack.tags.", "function.environment."]
                .iter()
                .any(|prefix| base_field(&field).starts_with(prefix));
            let literal = backticked(&message).into_iter().next();
            let fix = match (free_form, literal, path.last(), example(base_field(&field))) {
                (true, Some(literal), Some(key), _) => format!(
                    "quote the value; tag and variable values are strings: `{key} = \"{literal}\"`"
                ),
                (_, _, _, Some(example)) => {
                    format!("write it as `{example}` (see README.md, stack.toml reference)")
                }
                _ => "give the key a value of the expected type (see README.md, stack.toml reference)".to_string(),
            };
            return ConfigError {
                file: self.file.to_path_buf(),
                position,
                field: Some(field),
                message: plain_types(&message),
                fix: Some(fix),
            };
        }
        ConfigError {
            field: Some(field),
            ..general("fix the TOML syntax at this position (https://toml.io)")
        }
    }
}

/// The message and the fix for a `${...}` that is unknown or has no closing `}`; `what` names it
/// ("placeholder" in a policy template, "reference" in a variable's value).
pub(super) fn placeholder_problem(
    placeholder: &template::Placeholder,
    what: &str,
    known: &Contributed,
) -> (String, String) {
    if placeholder.terminated {
        (
            format!("unknown {what} `${{{}}}`", placeholder.name),
            format!("use one of {}", known.known_list()),
        )
    } else {
        (
            format!("the {what} `${{{}` has no closing `}}`", placeholder.name),
            format!("close it with `}}`; {what}s are {}", known.known_list()),
        )
    }
}

/// serde_json's message without its own " at line L column C" (the position is printed in front).
pub(super) fn json_error_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// 1-based line and column (in characters) of a byte offset; an offset inside a multi-byte character or
/// past the end is moved back to the character / the end.
pub(super) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A multi-line parser message on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// The `quoted` words of a message, in order.
fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// A key of a `[stages.<name>]` overlay as the base file writes it (`stages.prod.table.name` ->
/// `table.name`), to find how it is written.
fn base_field(field: &str) -> &str {
    field
        .strip_prefix("stages.")
        .and_then(|rest| rest.split_once('.'))
        .map_or(field, |(_, key)| key)
}

fn dotted(path: &[String], last: Option<&str>) -> String {
    path.iter()
        .map(String::as_str)
        .chain(last)
        .collect::<Vec<_>>()
        .join(".")
}

/// serde's type names in words a stack.toml author knows.
fn plain_types(message: &str) -> String {
    let mut out = one_line(message);
    if let Some(at) = out.find("expected struct ") {
        out.replace_range(at.., "expected a table");
    }
    for (from, to) in [
        ("expected i64", "expected an integer"),
        ("expected a map", "expected a table"),
        ("expected a sequence", "expected an array"),
    ] {
        out = out.replace(from, to);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::error_of;

    #[test]
    fn an_unknown_key_is_rejected_with_its_line() {
        let err = error_of(|t| t.replace("[table]\n", "[table]\nnmae = \"x\"\n"));
        assert!(err.message.contains("unknown field `nmae`"), "{err}");
        assert_eq!(err.position.unwrap().0, 9);
    }

    #[test]
    fn missing_sections_and_keys_are_named() {
        let err = error_of(|t| t.replace("[role]\n", "[rolle]\n"));
        assert_eq!(err.field.as_deref(), Some("rolle"));
        assert!(err.message.contains("unknown field `rolle`"), "{err}");
        assert!(
            err.fix.as_deref().unwrap().contains("did you mean `role`?"),
            "{err}"
        );
        let err = error_of(|t| t.replace("build = \"npm run build\"\n", ""));
        assert_eq!(err.field.as_deref(), Some("function.build"));
        assert_eq!(err.position, Some((23, 1)));
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("build = \"npm run build\""),
            "{err}"
        );
        let err = error_of(|t| t[..t.find("[policy]").unwrap()].to_string());
        assert_eq!(err.field.as_deref(), Some("policy"));
        assert_eq!(err.message, "the `[policy]` section is missing");
        assert_eq!(err.position, None);
    }

    #[test]
    fn positions_never_split_a_character() {
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(line_col("a\n€x", 3), (2, 1));
        assert_eq!(line_col("a\n€x", 5), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
