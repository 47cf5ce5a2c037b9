//! What a trust policy and the policy template must be: the shape IAM itself requires, and least privilege
//! (named actions on the stack's resources only, unless `policy.allow_wildcards`). Which resources those
//! are, and their sub-resources, each kind says with its ARN placeholder (`placeholders::Grant`): today the
//! table and its indexes and streams.

use super::json_doc::JsonDoc;
use super::json_scan::Seg;
use super::placeholders::{Contributed, Grant};
use super::ConfigError;

/// The fixes of the linter's findings, naming what the kinds let a policy grant on.
struct Fixes {
    action: String,
    resource: String,
    /// The message's "which is not ...".
    not: String,
}

impl Fixes {
    fn new(grants: &[(&str, &Grant)]) -> Fixes {
        let join = |part: &dyn Fn(&str, &Grant) -> String| {
            grants
                .iter()
                .map(|(name, grant)| part(name, grant))
                .collect::<Vec<_>>()
                .join(" or ")
        };
        Fixes {
            action: format!(
                "name the actions the handler needs on {}, or set policy.allow_wildcards = true in stack.toml",
                join(&|name, _| format!("${{{name}}}"))
            ),
            resource: format!(
                "grant on {} only, or set policy.allow_wildcards = true in stack.toml",
                join(&|_, grant| grant.fix.to_string())
            ),
            not: join(&|_, grant| grant.what.to_string()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PolicyKind {
    /// An identity policy (the policy template): no Principal; Action and Resource.
    Identity,
    /// A role's trust policy: a Principal and an Action, no Resource.
    Trust,
}

impl JsonDoc<'_> {
    /// The statements, with their paths (`Statement` may be one object or an array of them).
    fn statements<'v>(
        &self,
        doc: &'v serde_json::Value,
    ) -> Vec<(Vec<Seg>, &'v serde_json::Map<String, serde_json::Value>)> {
        let statement = Seg::Key("Statement".into());
        match doc.get("Statement") {
            Some(serde_json::Value::Object(one)) => vec![(vec![statement], one)],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    item.as_object()
                        .map(|s| (vec![statement.clone(), Seg::Index(i)], s))
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What IAM itself would refuse: not an object, no statements, a bad Version or Effect, a statement
    /// without its Action / Resource / Principal, strings where IAM wants strings.
    pub(super) fn policy_shape(
        &self,
        doc: &serde_json::Value,
        kind: PolicyKind,
    ) -> Result<(), ConfigError> {
        use serde_json::Value;
        let what = match kind {
            PolicyKind::Identity => "an IAM policy",
            PolicyKind::Trust => "a trust policy",
        };
        let Some(object) = doc.as_object() else {
            return Err(self.error(
                &[],
                format!("{what} must be a JSON object"),
                "write {\"Version\": \"2012-10-17\", \"Statement\": [...]}",
            ));
        };
        if let Some(version) = object.get("Version") {
            if !matches!(version.as_str(), Some("2012-10-17" | "2008-10-17")) {
                return Err(self.error(
                    &[Seg::Key("Version".into())],
                    format!("{version} is not an IAM policy language version"),
                    "use \"Version\": \"2012-10-17\"",
                ));
            }
        }
        let statement_path = [Seg::Key("Statement".into())];
        match object.get("Statement") {
            None => {
                return Err(self.error(
                    &[],
                    format!("{what} needs a `Statement`"),
                    "add \"Statement\": [{\"Effect\": \"Allow\", ...}]",
                ))
            }
            Some(Value::Object(_)) => {}
            Some(Value::Array(items)) if !items.is_empty() => {
                if let Some(i) = items.iter().position(|s| !s.is_object()) {
                    return Err(self.error(
                        &[Seg::Key("Statement".into()), Seg::Index(i)],
                        "a statement must be a JSON object",
                        "write each statement as {\"Effect\": ..., \"Action\": ..., ...}",
                    ));
                }
            }
            Some(_) => {
                return Err(self.error(
                    &statement_path,
                    "`Statement` must be a statement object or a non-empty array of them",
                    "write \"Statement\": [{\"Effect\": \"Allow\", ...}]",
                ))
            }
        }
        for (path, statement) in self.statements(doc) {
            let at = |key: &str| {
                let mut p = path.clone();
                p.push(Seg::Key(key.into()));
                p
            };
            match statement.get("Effect") {
                Some(Value::String(effect)) if effect == "Allow" || effect == "Deny" => {}
                Some(other) => {
                    return Err(self.error(
                        &at("Effect"),
                        format!("IAM accepts only \"Allow\" or \"Deny\" as `Effect`, not {other}"),
                        "write \"Effect\": \"Allow\" (or \"Deny\"), spelt exactly so",
                    ))
                }
                None => {
                    return Err(self.error(
                        &path,
                        "the statement has no `Effect`",
                        "add \"Effect\": \"Allow\" (or \"Deny\")",
                    ))
                }
            }
            let exactly_one = |a: &str, b: &str, example: &str| -> Result<(), ConfigError> {
                match (statement.contains_key(a), statement.contains_key(b)) {
                    (true, true) => Err(self.error(
                        &at(b),
                        format!("a statement has either `{a}` or `{b}`, not both"),
                        format!("remove `{b}`"),
                    )),
                    (false, false) => Err(self.error(
                        &path,
                        format!("the statement has no `{a}`"),
                        format!("add {example}"),
                    )),
                    _ => Ok(()),
                }
            };
            exactly_one(
                "Action",
                "NotAction",
                "\"Action\": [\"dynamodb:GetItem\", ...]",
            )?;
            match kind {
                PolicyKind::Identity => {
                    for key in ["Principal", "NotPrincipal"] {
                        if statement.contains_key(key) {
                            return Err(self.error(
                                &at(key),
                                format!("a policy attached to a role cannot name a `{key}`"),
                                format!("remove `{key}`; the role's trust policy says who may assume the role"),
                            ));
                        }
                    }
                    exactly_one("Resource", "NotResource", "\"Resource\": \"${table.arn}\"")?;
                }
                PolicyKind::Trust => {
                    exactly_one(
                        "Principal",
                        "NotPrincipal",
                        "\"Principal\": {\"Service\": \"lambda.amazonaws.com\"}",
                    )?;
                    for key in ["Resource", "NotResource"] {
                        if statement.contains_key(key) {
                            return Err(self.error(
                                &at(key),
                                format!("a trust policy cannot have a `{key}` (the role is the resource)"),
                                format!("remove `{key}`"),
                            ));
                        }
                    }
                }
            }
            for key in ["Action", "NotAction", "Resource", "NotResource"] {
                let valid = match statement.get(key) {
                    None => true,
                    Some(Value::String(s)) => !s.is_empty(),
                    Some(Value::Array(items)) => {
                        !items.is_empty()
                            && items
                                .iter()
                                .all(|i| i.as_str().is_some_and(|s| !s.is_empty()))
                    }
                    Some(_) => false,
                };
                if !valid {
                    return Err(self.error(
                        &at(key),
                        format!(
                            "`{key}` must be a non-empty string or a non-empty array of strings"
                        ),
                        format!("write \"{key}\": [\"...\", ...]"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Refuses an Allow statement that grants more than named actions on the stack's table (and its
    /// indexes), unless `allow_wildcards`; then returns those grants, one line each.
    pub(super) fn least_privilege(
        &self,
        doc: &serde_json::Value,
        allow_wildcards: bool,
        kinds: &Contributed,
    ) -> Result<Vec<String>, ConfigError> {
        use serde_json::Value;
        let allowed: Vec<(&str, &Grant)> = kinds.grants().collect();
        let fixes = Fixes::new(&allowed);
        let (action_fix, resource_fix) = (fixes.action.as_str(), fixes.resource.as_str());
        let mut grants = Vec::new();
        for (path, statement) in self.statements(doc) {
            if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
                continue;
            }
            let who = match statement.get("Sid").and_then(Value::as_str) {
                Some(sid) if !sid.is_empty() => format!("statement `{sid}`"),
                _ => "the statement".to_string(),
            };
            let mut found: Vec<(Vec<Seg>, String, &str)> = Vec::new();
            let at = |key: &str, index: Option<usize>| {
                let mut p = path.clone();
                p.push(Seg::Key(key.into()));
                p.extend(index.map(Seg::Index));
                p
            };
            let strings = |key: &str| -> Vec<(Option<usize>, String)> {
                match statement.get(key) {
                    Some(Value::String(s)) => vec![(None, s.clone())],
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .filter_map(|(i, v)| v.as_str().map(|s| (Some(i), s.to_string())))
                        .collect(),
                    _ => Vec::new(),
                }
            };
            if statement.contains_key("NotAction") {
                found.push((
                    at("NotAction", None),
                    format!("{who} grants every action except those in `NotAction`"),
                    action_fix,
                ));
            }
            for (index, action) in strings("Action") {
                if action.contains(['*', '?']) {
                    found.push((
                        at("Action", index),
                        format!("{who} grants the wildcard action `{action}`"),
                        action_fix,
                    ));
                }
            }
            if statement.contains_key("NotResource") {
                found.push((
                    at("NotResource", None),
                    format!("{who} grants on every resource except those in `NotResource`"),
                    resource_fix,
                ));
            }
            for (index, resource) in strings("Resource") {
                if is_granted(&resource, &allowed) {
                    continue;
                }
                let message = if resource.contains(['*', '?']) {
                    format!("{who} grants on the wildcard resource `{resource}`")
                } else {
                    format!("{who} grants on `{resource}`, which is not {}", fixes.not)
                };
                found.push((at("Resource", index), message, resource_fix));
            }
            if let Some((path, message, fix)) = found.first() {
                if !allow_wildcards {
                    return Err(self.error(path, message.clone(), *fix));
                }
            }
            grants.extend(found.into_iter().map(|(_, message, _)| message));
        }
        Ok(grants)
    }
}

/// An ARN placeholder a kind lets a policy grant on (`${table.arn}`), or one of its sub-resources followed
/// by a name or `*` (`${table.arn}/index/<name or *>`, `${table.arn}/stream/<label or *>`).
fn is_granted(resource: &str, allowed: &[(&str, &Grant)]) -> bool {
    allowed.iter().any(|(name, grant)| {
        let Some(rest) = resource
            .strip_prefix("${")
            .and_then(|r| r.strip_prefix(*name))
            .and_then(|r| r.strip_prefix('}'))
        else {
            return false;
        };
        rest.is_empty()
            || grant.sub_resources.iter().any(|kind| {
                rest.strip_prefix(kind).is_some_and(|name| {
                    name == "*" || (!name.is_empty() && !name.contains(['*', '?', '/', '$']))
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::{is_granted, Fixes, Grant};
    use crate::config::test_support::{parse_with, project, write_policy, POLICY};

    /// A second kind that may be granted on (a queue) is allowed beside the table, and named in the fixes.
    #[test]
    fn every_kind_that_declares_a_grant_is_allowed_and_named() {
        let table = Grant {
            sub_resources: &["/index/", "/stream/"],
            what: "the stack's table (`${table.arn}`) or one of its indexes",
            fix: "\"${table.arn}\" (and \"${table.arn}/index/*\" for its indexes)",
        };
        let queue = Grant {
            sub_resources: &[],
            what: "the stack's queue (`${queue.arn}`)",
            fix: "\"${queue.arn}\"",
        };
        let one = [("table.arn", &table)];
        let fixes = Fixes::new(&one);
        assert_eq!(
            fixes.resource,
            "grant on \"${table.arn}\" (and \"${table.arn}/index/*\" for its indexes) only, or set policy.allow_wildcards = true in stack.toml"
        );
        let both = [("table.arn", &table), ("queue.arn", &queue)];
        for resource in [
            "${queue.arn}",
            "${table.arn}/stream/*",
            "${table.arn}/index/byDate",
        ] {
            assert!(is_granted(resource, &both), "{resource}");
        }
        for resource in [
            "${queue.arn}/x",
            "${queue.arn}*",
            "${queue.arnx}",
            "${table.arn}/x/y",
            "*",
        ] {
            assert!(!is_granted(resource, &both), "{resource}");
        }
        let fixes = Fixes::new(&both);
        assert!(fixes
            .action
            .contains("needs on ${table.arn} or ${queue.arn}, or set"));
        assert!(fixes
            .not
            .ends_with("or one of its indexes or the stack's queue (`${queue.arn}`)"));
    }

    #[test]
    fn wildcards_are_refused_unless_allowed_and_then_listed() {
        let dir = project();
        write_policy(
            dir.path(),
            &POLICY.replace("\"dynamodb:Query\"", "\"dynamodb:*\""),
        );
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].Action[3]"));
        assert_eq!(err.position, Some((11, 9)));
        assert!(
            err.message
                .contains("`CrudOnTheStackTable` grants the wildcard action `dynamodb:*`"),
            "{err}"
        );
        assert!(
            err.fix
                .as_deref()
                .unwrap()
                .contains("policy.allow_wildcards = true"),
            "{err}"
        );
        assert!(err.file.ends_with("policies/lambda-dynamodb-policy.json"));

        let stack = parse_with(dir.path(), |t| {
            t.replace(
                "template = \"policies/lambda-dynamodb-policy.json\"\n",
                "template = \"policies/lambda-dynamodb-policy.json\"\nallow_wildcards = true\n",
            )
        })
        .unwrap();
        assert_eq!(
            stack.policy.wildcard_grants,
            vec!["statement `CrudOnTheStackTable` grants the wildcard action `dynamodb:*`"]
        );
    }

    #[test]
    fn index_arns_of_the_table_and_deny_statements_are_not_wildcard_grants() {
        let dir = project();
        write_policy(
            dir.path(),
            r#"{"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:Query",
                 "Resource": ["${table.arn}", "${table.arn}/index/*", "${table.arn}/index/byDate"]},
                {"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}
            ]}"#,
        );
        let stack = parse_with(dir.path(), |t| t).unwrap();
        assert!(stack.policy.wildcard_grants.is_empty());
        for resource in [
            "${table.arn}*",
            "${table.arn}/index/a*",
            "${table.arn}/../x",
        ] {
            write_policy(
                dir.path(),
                &POLICY.replace("\"${table.arn}\"", &format!("\"{resource}\"")),
            );
            let err = parse_with(dir.path(), |t| t).unwrap_err();
            assert_eq!(
                err.field.as_deref(),
                Some("Statement[0].Resource"),
                "{resource}: {err}"
            );
        }
    }

    #[test]
    fn policy_shape_is_checked_with_positions() {
        let dir = project();
        write_policy(dir.path(), &POLICY.replace("\"Allow\"", "\"Permit\""));
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("Statement[0].Effect"));
        assert_eq!(err.position, Some((6, 17)));
        write_policy(dir.path(), "[1, 2]");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert!(err.message.contains("must be a JSON object"), "{err}");
        write_policy(dir.path(), "{\"Statement\": {\"Effect\": \"Allow\", \"Action\": \"dynamodb:GetItem\", \"Resource\": \"${table.arn}\", \"Sid\": 1}}");
        parse_with(dir.path(), |t| t).unwrap();
        write_policy(dir.path(), "{\n  \"Statement\": []\n}");
        let err = parse_with(dir.path(), |t| t).unwrap_err();
        assert_eq!(err.position, Some((2, 16)), "{err}");
    }
}
