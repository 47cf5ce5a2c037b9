//! `${name}` placeholders in policy templates and environment values: finding them and filling them in.
//! Which placeholders exist, and how their values are made, is declared by what contributes them
//! (`config::placeholders`: the stack's own; each resource kind's `Resource::PLACEHOLDERS`).
//! Substitution happens inside JSON string values only, so a value can never break the document's structure.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::Value;

/// One `${...}` in a text: its name, where it starts (byte offset of the `$`), and whether it is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    pub name: String,
    pub offset: usize,
    pub terminated: bool,
}

/// Every `${...}` in `text`, in order of appearance. An unterminated `${` is reported too (with
/// `terminated: false`) so that it is refused, not sent to AWS.
pub fn scan(text: &str) -> Vec<Placeholder> {
    let mut found = Vec::new();
    let mut pos = 0;
    while let Some(start) = text[pos..].find("${") {
        let start = pos + start;
        let name_start = start + 2;
        match text[name_start..].find('}') {
            Some(end) => {
                found.push(Placeholder {
                    name: text[name_start..name_start + end].to_string(),
                    offset: start,
                    terminated: true,
                });
                pos = name_start + end + 1;
            }
            None => {
                found.push(Placeholder {
                    name: text[name_start..].to_string(),
                    offset: start,
                    terminated: false,
                });
                break;
            }
        }
    }
    found
}

/// Values for the placeholders, known once the live table is (`resources::world::placeholders`).
pub type Values = BTreeMap<&'static str, String>;

pub fn render(text: &str, values: &Values) -> Result<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            bail!("unterminated placeholder in `{text}`")
        };
        let name = &after[..end];
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => bail!("no value for placeholder `${{{name}}}`"),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

pub fn render_json(value: &Value, values: &Values) -> Result<Value> {
    Ok(match value {
        Value::String(s) => Value::String(render(s, values)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_json(v, values))
                .collect::<Result<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((render(k, values)?, render_json(v, values)?)))
                .collect::<Result<_>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the stack file's checks find wrong in `text` (with every kind's placeholders known).
    fn first_problem(text: &str) -> Option<Placeholder> {
        crate::resources::contributed().first_problem(text)
    }

    /// Names of the placeholders in `text`, in order of appearance (unterminated ones included).
    fn placeholders(text: &str) -> Vec<String> {
        scan(text).into_iter().map(|p| p.name).collect()
    }

    fn values() -> Values {
        Values::from([(
            "table.arn",
            "arn:aws:dynamodb:us-east-1:1:table/t\"x".to_string(),
        )])
    }

    #[test]
    fn finds_placeholders_including_unterminated_ones() {
        assert_eq!(placeholders("a ${table.arn} b ${x"), vec!["table.arn", "x"]);
        assert!(placeholders("plain").is_empty());
    }

    #[test]
    fn renders_inside_strings_without_breaking_json() {
        let doc: Value =
            serde_json::json!({"Resource": "${table.arn}", "Other": ["${table.arn}/index/*", 1]});
        let out = render_json(&doc, &values()).unwrap();
        assert_eq!(out["Resource"], "arn:aws:dynamodb:us-east-1:1:table/t\"x");
        assert_eq!(
            out["Other"][0],
            "arn:aws:dynamodb:us-east-1:1:table/t\"x/index/*"
        );
        assert_eq!(out["Other"][1], 1);
    }

    #[test]
    fn a_missing_value_is_an_error() {
        assert!(render("${table.name}", &values()).is_err());
    }

    #[test]
    fn scan_reports_offsets_and_unterminated_placeholders() {
        let found = scan("é ${table.arn}/x ${table.arn");
        assert_eq!(
            found,
            vec![
                Placeholder {
                    name: "table.arn".into(),
                    offset: 3,
                    terminated: true
                },
                Placeholder {
                    name: "table.arn".into(),
                    offset: 18,
                    terminated: false
                },
            ]
        );
        // A known name without its `}` is still a problem: render would refuse it.
        assert!(!first_problem("${table.arn").unwrap().terminated);
        assert_eq!(first_problem("${table.arn} ${nope}").unwrap().name, "nope");
        assert_eq!(first_problem("${table.arn} $ {x} $}"), None);
    }

    mod fuzz {
        use super::super::*;
        use super::{first_problem, placeholders};
        use proptest::prelude::*;

        fn names() -> Vec<&'static str> {
            crate::resources::contributed()
                .placeholders()
                .map(|p| p.name)
                .collect()
        }

        fn placeholders_in_json(value: &Value) -> Vec<String> {
            match value {
                Value::String(s) => placeholders(s),
                Value::Array(items) => items.iter().flat_map(placeholders_in_json).collect(),
                Value::Object(map) => map
                    .iter()
                    .flat_map(|(k, v)| placeholders(k).into_iter().chain(placeholders_in_json(v)))
                    .collect(),
                _ => Vec::new(),
            }
        }

        fn all_values() -> Values {
            names()
                .into_iter()
                .map(|name| (name, format!("<{name}>")))
                .collect()
        }

        /// Text made mostly of the characters that matter to the scanner, plus some multi-byte ones.
        fn placeholder_text() -> impl Strategy<Value = String> {
            prop::collection::vec(
                prop_oneof![
                    Just("${".to_string()),
                    Just("}".to_string()),
                    Just("$".to_string()),
                    Just("{".to_string()),
                    prop::sample::select(names()).prop_map(str::to_string),
                    "[a-z.é€😀\\\"]{0,4}",
                ],
                0..24,
            )
            .prop_map(|parts| parts.concat())
        }

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                placeholder_text().prop_map(Value::String),
                any::<String>().prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::vec((placeholder_text(), inner), 0..8)
                        .prop_map(|entries| Value::Object(entries.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn the_scanner_never_panics_and_agrees_with_render(text in prop_oneof![any::<String>(), placeholder_text()]) {
                let found = scan(&text);
                for p in &found {
                    prop_assert!(text.is_char_boundary(p.offset));
                    prop_assert!(text[p.offset..].starts_with("${"), "offset {}", p.offset);
                }
                prop_assert_eq!(placeholders(&text).len(), found.len());
                let rendered = render(&text, &all_values());
                // render succeeds exactly when every placeholder is closed and known.
                prop_assert_eq!(rendered.is_ok(), first_problem(&text).is_none(), "{:?}", rendered);
                if found.is_empty() {
                    prop_assert_eq!(rendered.unwrap(), text);
                }
            }

            #[test]
            fn render_json_never_panics(value in json_value()) {
                let _ = placeholders_in_json(&value);
                match render_json(&value, &all_values()) {
                    Ok(out) => prop_assert!(placeholders_in_json(&out).is_empty()),
                    Err(_) => prop_assert!(!placeholders_in_json(&value).is_empty()),
                }
                // With no values at all, only a document without placeholders renders.
                prop_assert_eq!(render_json(&value, &Values::new()).is_ok(), placeholders_in_json(&value).is_empty());
            }
        }
    }
}
