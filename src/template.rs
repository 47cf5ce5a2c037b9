//! `${name}` placeholders in policy templates and environment values. Substitution happens inside JSON
//! string values only, so a value can never break the document's structure.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::Value;

/// The placeholders stackctl knows how to fill in.
pub const KNOWN: [&str; 5] = [
    "table.name",
    "table.arn",
    "stack.name",
    "stack.region",
    "account_id",
];

pub fn is_known(name: &str) -> bool {
    KNOWN.contains(&name)
}

pub fn known_list() -> String {
    KNOWN
        .iter()
        .map(|k| format!("`${{{k}}}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Names of the placeholders in `text`, in order of appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                found.push(after[..end].to_string());
                rest = &after[end + 1..];
            }
            None => {
                // An unterminated `${` is reported as a placeholder so that it is refused, not sent to AWS.
                found.push(after.to_string());
                break;
            }
        }
    }
    found
}

pub fn placeholders_in_json(value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    walk_strings(value, &mut |s| found.extend(placeholders(s)));
    found
}

fn walk_strings(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => visit(s),
        Value::Array(items) => items.iter().for_each(|v| walk_strings(v, visit)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            visit(k);
            walk_strings(v, visit)
        }),
        _ => {}
    }
}

/// Values for the placeholders, known once the live table is.
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
}
