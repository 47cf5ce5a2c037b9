//! The `${name}` placeholders a policy template and a variable's value may use. Each is declared once, by
//! what contributes it ([`PlaceholderDecl`]: its name, what it stands for, how its value is made, and
//! whether a policy may grant on it): the stack's own here ([`STACK`]), each resource kind's in its own
//! file (`resources::Resource::PLACEHOLDERS`). Config cannot name the kinds (resources uses config, never
//! the reverse), so the command hands what they declare to the checks as one [`Contributed`] (built once,
//! beside the graph, by `resources::contributed`): unknown references in `[function.environment]`,
//! unknown placeholders in the policy template, the list every such error offers, the resources the
//! policy linter allows, and the 4 KB check of the variables. The values `up` renders
//! (`resources::world::placeholders`) come from the same declarations; template.rs only scans and
//! substitutes.

use crate::template::{self, Placeholder, Values};

use super::Stack;

/// What a placeholder's value is made from: the resolved stack, the account, and the ARN of the instance
/// declaring it (live, else known in advance; None for the stack's own).
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    pub stack: &'a Stack,
    pub account_id: &'a str,
    pub arn: Option<&'a str>,
}

/// One placeholder: its name (`${name}`), what it stands for, how its value is made, and, for an ARN a
/// policy may grant on, what the least-privilege linter allows (`policy_rules`).
pub struct PlaceholderDecl {
    pub name: &'static str,
    /// For the reader and for docs: the checks and the renderer need only the name and the value.
    #[allow(dead_code)]
    pub description: &'static str,
    /// None: not known (yet), e.g. an ARN before the resource exists that cannot be known in advance.
    pub value: fn(&Known) -> Option<String>,
    pub grant: Option<Grant>,
}

/// An ARN placeholder the policy template may grant on without `policy.allow_wildcards`: the placeholder
/// itself, or one of its sub-resources (`${table.arn}/index/<name or *>`).
pub struct Grant {
    /// What follows the ARN to name a sub-resource (`/index/`), then a name or `*`.
    pub sub_resources: &'static [&'static str],
    /// How the linter's message names it: "the stack's table (`${table.arn}`) or one of its indexes".
    pub what: &'static str,
    /// How its fix says to grant on it: `"${table.arn}" (and "${table.arn}/index/*" for its indexes)`.
    pub fix: &'static str,
}

/// The stack's own placeholders (after the kinds' in the order errors list them).
pub const STACK: &[PlaceholderDecl] = &[
    PlaceholderDecl {
        name: "stack.name",
        description: "the stack's name (`[stack] name`)",
        value: |k| Some(k.stack.name.clone()),
        grant: None,
    },
    PlaceholderDecl {
        name: "stack.region",
        description: "the region the stack is deployed to",
        value: |k| Some(k.stack.region.clone()),
        grant: None,
    },
    PlaceholderDecl {
        name: "account_id",
        description: "the AWS account's id",
        value: |k| Some(k.account_id.to_string()),
        grant: None,
    },
];

/// The values of `decls` that are known.
pub fn values<'d>(
    decls: impl IntoIterator<Item = &'d PlaceholderDecl>,
    known: &Known,
) -> Vec<(&'static str, String)> {
    decls
        .into_iter()
        .filter_map(|p| Some((p.name, (p.value)(known)?)))
        .collect()
}

/// What the resource kinds contribute to the stack file's checks: every placeholder (the kinds', in graph
/// order, then the stack's), and their values as far as the stack file knows them.
pub struct Contributed {
    placeholders: Vec<&'static PlaceholderDecl>,
    in_advance: fn(&Stack) -> Values,
}

impl Contributed {
    /// `kinds`: each kind's declarations, in graph order. `in_advance`: every placeholder's value for a
    /// resolved stack with nothing deployed yet (ARNs known in advance), for the 4 KB check.
    pub fn new(
        kinds: &[&'static [PlaceholderDecl]],
        in_advance: fn(&Stack) -> Values,
    ) -> Contributed {
        Contributed {
            placeholders: kinds.iter().copied().flatten().chain(STACK).collect(),
            in_advance,
        }
    }

    /// Every placeholder, in the order errors list them.
    pub fn placeholders(&self) -> impl Iterator<Item = &'static PlaceholderDecl> + '_ {
        self.placeholders.iter().copied()
    }

    /// Whether `name` is a placeholder stackctl fills in.
    pub fn is_known(&self, name: &str) -> bool {
        self.placeholders().any(|p| p.name == name)
    }

    /// Every placeholder, as errors offer them: `${table.name}`, `${table.arn}`, ...
    pub fn known_list(&self) -> String {
        self.placeholders()
            .map(|p| format!("`${{{}}}`", p.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The first placeholder in `text` that `render` could not fill in with the known names: an unknown
    /// name or an unterminated `${`.
    pub fn first_problem(&self, text: &str) -> Option<Placeholder> {
        template::scan(text)
            .into_iter()
            .find(|p| !p.terminated || !self.is_known(&p.name))
    }

    /// The placeholders a policy may grant on, with what it may grant on besides (`Grant`).
    pub(super) fn grants(&self) -> impl Iterator<Item = (&'static str, &'static Grant)> + '_ {
        self.placeholders()
            .filter_map(|p| Some((p.name, p.grant.as_ref()?)))
    }

    /// Every placeholder's value for `stack` before anything is deployed.
    pub(super) fn in_advance(&self, stack: &Stack) -> Values {
        (self.in_advance)(stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_placeholder_has_its_own_value_and_renders() {
        let contributed = crate::resources::contributed();
        let stack = crate::resources::shipped_stack();
        let values = contributed.in_advance(&stack);
        let names: Vec<&str> = contributed.placeholders().map(|p| p.name).collect();
        assert_eq!(
            values.len(),
            names.len(),
            "a name declared twice: {names:?}"
        );
        for p in contributed.placeholders() {
            assert!(contributed.is_known(p.name) && !p.description.is_empty());
            let text = format!("${{{}}}", p.name);
            assert_eq!(contributed.first_problem(&text), None);
            assert_eq!(template::render(&text, &values).unwrap(), values[p.name]);
            assert!(contributed.known_list().contains(&format!("`{text}`")));
            // The docs half of adding one: README.md names it among the placeholders.
            assert!(
                include_str!("../../README.md").contains(&format!("`{text}`")),
                "{text}"
            );
        }
        assert_eq!(
            contributed.known_list(),
            "`${table.name}`, `${table.arn}`, `${stack.name}`, `${stack.region}`, `${account_id}`"
        );
        assert_eq!(
            values["table.arn"],
            "arn:aws:dynamodb:us-east-1:123456789012:table/my-frontend-app-data"
        );
    }
}
