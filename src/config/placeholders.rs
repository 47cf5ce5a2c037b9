//! The `${name}` placeholders a policy template and a variable's value may use: declared once here, with
//! what each stands for and where its value comes from. The checks (unknown references in
//! `[function.environment]`, unknown placeholders in the policy template, the list every such error
//! offers) and the values rendering fills in (`values`, for `template::render` / `render_json`) all come
//! from `PLACEHOLDERS`; template.rs only scans and substitutes.

use crate::template::{self, Placeholder, Values};

/// What the values of the placeholders are made from: known once the stack is resolved and the account
/// (and the table's ARN, or its name to make it from) is.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub stack: &'a str,
    pub region: &'a str,
    pub table: &'a str,
    pub table_arn: &'a str,
    pub account_id: &'a str,
}

/// One placeholder: its name (`${name}`), what it stands for, and its value.
pub struct PlaceholderDecl {
    pub name: &'static str,
    /// For the reader and for docs: the checks and the renderer need only the name and the value.
    #[allow(dead_code)]
    pub description: &'static str,
    value: fn(&Known) -> String,
}

/// Every placeholder stackctl fills in, in the order errors list them.
pub const PLACEHOLDERS: &[PlaceholderDecl] = &[
    PlaceholderDecl {
        name: "table.name",
        description: "the table's name, with the stage put in",
        value: |k| k.table.to_string(),
    },
    PlaceholderDecl {
        name: "table.arn",
        description: "the table's ARN (known before the table exists)",
        value: |k| k.table_arn.to_string(),
    },
    PlaceholderDecl {
        name: "stack.name",
        description: "the stack's name (`[stack] name`)",
        value: |k| k.stack.to_string(),
    },
    PlaceholderDecl {
        name: "stack.region",
        description: "the region the stack is deployed to",
        value: |k| k.region.to_string(),
    },
    PlaceholderDecl {
        name: "account_id",
        description: "the AWS account's id",
        value: |k| k.account_id.to_string(),
    },
];

/// Whether `name` is a placeholder stackctl fills in.
pub fn is_known(name: &str) -> bool {
    PLACEHOLDERS.iter().any(|p| p.name == name)
}

/// Every placeholder, as errors offer them: `${table.name}`, `${table.arn}`, ...
pub fn known_list() -> String {
    PLACEHOLDERS
        .iter()
        .map(|p| format!("`${{{}}}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value of every placeholder, for `template::render` and `template::render_json`.
pub fn values(known: &Known) -> Values {
    PLACEHOLDERS
        .iter()
        .map(|p| (p.name, (p.value)(known)))
        .collect()
}

/// The first placeholder in `text` that `render` could not fill in with the known names: an unknown
/// name or an unterminated `${`.
pub fn first_problem(text: &str) -> Option<Placeholder> {
    template::scan(text)
        .into_iter()
        .find(|p| !p.terminated || !is_known(&p.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known<'static> {
        Known {
            stack: "s",
            region: "r",
            table: "t",
            table_arn: "arn",
            account_id: "1",
        }
    }

    #[test]
    fn every_declared_placeholder_has_its_own_value_and_renders() {
        let values = values(&known());
        assert_eq!(values.len(), PLACEHOLDERS.len(), "a name declared twice");
        for p in PLACEHOLDERS {
            assert!(is_known(p.name) && !p.description.is_empty());
            let text = format!("${{{}}}", p.name);
            assert_eq!(first_problem(&text), None);
            assert_eq!(template::render(&text, &values).unwrap(), values[p.name]);
            assert!(known_list().contains(&format!("`{text}`")));
            // The docs half of adding one: README.md names it among the placeholders.
            assert!(
                include_str!("../../README.md").contains(&format!("`{text}`")),
                "{text}"
            );
        }
        assert_eq!(
            known_list(),
            "`${table.name}`, `${table.arn}`, `${stack.name}`, `${stack.region}`, `${account_id}`"
        );
    }
}
