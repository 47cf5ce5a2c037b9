//! A JSON file of the project (trust policy, policy template) with what is needed to point an error at a
//! place in it, and the search for `${...}` placeholders in it.

use std::ops::Range;
use std::path::PathBuf;

use super::errors::line_col;
use super::json_scan::{json_path, JsonNode, JsonScanner, Seg};
use super::ConfigError;
use crate::template;

/// Where a string sits in a JSON document: the path to it, and whether it is an object key.
pub(super) struct JsonAt {
    path: Vec<Seg>,
    key: bool,
}

/// The first placeholder (in document order, keys before their values) for which `bad` holds.
pub(super) fn first_placeholder(
    value: &serde_json::Value,
    path: &mut Vec<Seg>,
    bad: impl Fn(&template::Placeholder) -> bool + Copy,
) -> Option<(JsonAt, template::Placeholder)> {
    use serde_json::Value;
    match value {
        Value::String(s) => template::scan(s).into_iter().find(|p| bad(p)).map(|p| {
            (
                JsonAt {
                    path: path.clone(),
                    key: false,
                },
                p,
            )
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Seg::Index(i));
            let found = first_placeholder(item, path, bad);
            path.pop();
            found
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            path.push(Seg::Key(key.clone()));
            let found = template::scan(key)
                .into_iter()
                .find(|p| bad(p))
                .map(|p| {
                    (
                        JsonAt {
                            path: path.clone(),
                            key: true,
                        },
                        p,
                    )
                })
                .or_else(|| first_placeholder(item, path, bad));
            path.pop();
            found
        }),
        _ => None,
    }
}

/// A JSON file of the project, with what is needed to point at a place in it.
pub(super) struct JsonDoc<'a> {
    file: PathBuf,
    text: &'a str,
    root: Option<JsonNode>,
}

impl<'a> JsonDoc<'a> {
    pub(super) fn new(file: PathBuf, text: &'a str) -> JsonDoc<'a> {
        let root = JsonScanner { text, pos: 0 }.value(0);
        JsonDoc { file, text, root }
    }

    /// The range of the value (or, with `key`, of the key) at `path`, when the scanner could place it.
    fn range(&self, path: &[Seg], key: bool) -> Option<Range<usize>> {
        self.root.as_ref().and_then(|root| root.find(path, key))
    }

    /// An error at `offset` of the text, about the value at `path` (named, unless it is the document).
    fn error_at(
        &self,
        offset: Option<usize>,
        path: &[Seg],
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            position: offset.map(|o| line_col(self.text, o)),
            field: (!path.is_empty()).then(|| json_path(path)),
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub(super) fn error(
        &self,
        path: &[Seg],
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let offset = self.range(path, false).map(|r| r.start);
        self.error_at(offset, path, message, fix)
    }

    pub(super) fn error_at_placeholder(
        &self,
        at: &JsonAt,
        placeholder: &template::Placeholder,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> ConfigError {
        let offset = self.range(&at.path, at.key).map(|range| {
            let needle = format!("${{{}", placeholder.name);
            self.text
                .get(range.clone())
                .and_then(|raw| raw.find(&needle))
                .map_or(range.start, |o| range.start + o)
        });
        self.error_at(offset, &at.path, message, fix)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{error_of, parse_with, project, write_policy, POLICY};

    #[test]
    fn unknown_and_unterminated_placeholders_are_refused_where_they_are() {
        let dir = project();
        write_policy(
            dir.path(),
            &POLICY.replace("\"${table.arn}\"", "\"x ${table.arn\""),
        );
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("no closing"), "{err}");
        assert_eq!(err.position, Some((14, 22)));
        write_policy(dir.path(), "{\"Statement\": [{\"${nope}\": 1}]}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].${nope}"));
        assert_eq!(err.position, Some((1, 18)));
        let err = error_of(|t| t.replace("\"${table.name}\"", "\"${table.name\""));
        assert_eq!(
            err.field.as_deref(),
            Some("function.environment.TABLE_NAME")
        );
        assert!(err.message.contains("no closing"), "{err}");
    }
}
