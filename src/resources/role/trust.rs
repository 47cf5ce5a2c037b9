//! The role's trust policy as IAM holds it: who besides the Lambda service may assume it (an adopted
//! role that others may assume must not be handed the stack's table).

use serde_json::Value;

/// The only principal stackctl's function role is meant to trust.
const LAMBDA: &str = "lambda.amazonaws.com";

/// The actions that let a principal take on a role (sts:AssumeRole, ...WithSAML, ...WithWebIdentity).
const ASSUME: [&str; 3] = [
    "sts:assumerole",
    "sts:assumerolewithsaml",
    "sts:assumerolewithwebidentity",
];

/// The principals other than the Lambda service that `doc`'s Allow statements let assume the role, as
/// `Key:value` (`AWS:arn:...`, `*`, `NotPrincipal:...`). A statement whose shape is not understood counts
/// as granting to someone: better to stop an `up` than to grant a table to an unknown principal.
pub fn extra_principals(doc: &Value) -> Vec<String> {
    let statements = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect::<Vec<_>>(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return vec!["(no readable Statement)".into()],
    };
    let mut extra = Vec::new();
    for statement in statements {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        if !grants_assume(statement) {
            continue;
        }
        if let Some(not) = statement.get("NotPrincipal") {
            extra.push(format!("NotPrincipal:{not} (everyone else)"));
        }
        match statement.get("Principal") {
            None => {}
            Some(Value::Object(map)) => {
                for (key, values) in map {
                    for value in strings(values) {
                        if !(key == "Service" && value == LAMBDA) {
                            extra.push(format!("{key}:{value}"));
                        }
                    }
                }
            }
            Some(Value::String(s)) if s == "*" => extra.push("*".into()),
            Some(other) => extra.push(other.to_string()),
        }
    }
    extra.sort();
    extra.dedup();
    extra
}

/// Whether an Allow statement covers an assume action (Action with a matching pattern, or any NotAction:
/// it allows everything it does not list).
fn grants_assume(statement: &Value) -> bool {
    if statement.get("NotAction").is_some() {
        return true;
    }
    statement
        .get("Action")
        .map(strings)
        .unwrap_or_default()
        .iter()
        .any(|pattern| {
            let pattern = pattern.to_ascii_lowercase();
            ASSUME.iter().any(|action| glob(&pattern, action))
        })
}

/// A string or a list of strings (IAM allows both); anything else as its JSON text.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// IAM's action wildcards: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    go(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(statements: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    #[test]
    fn lambda_alone_is_no_extra() {
        let d = doc(
            json!([{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole"}]),
        );
        assert!(extra_principals(&d).is_empty());
    }

    #[test]
    fn other_principals_of_assume_grants_are_named() {
        let d = doc(json!([
            {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
             "Action": ["sts:AssumeRole"]},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:user/mallory"}, "Action": "sts:*"},
            {"Effect": "Allow", "Principal": "*", "Action": "*"},
            {"Effect": "Allow", "NotPrincipal": {"AWS": "x"}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": {"AWS": "y"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": "z"}, "Action": "sts:TagSession"},
            {"Effect": "Allow", "Principal": {"AWS": "w"}, "Action": "sts:AssumeRoleWith?AML"},
        ]));
        let extra = extra_principals(&d);
        for want in [
            "Service:ec2.amazonaws.com",
            "AWS:arn:aws:iam::1:user/mallory",
            "*",
            "AWS:w",
        ] {
            assert!(extra.iter().any(|e| e == want), "{want}: {extra:?}");
        }
        assert!(
            extra.iter().any(|e| e.starts_with("NotPrincipal:")),
            "{extra:?}"
        );
        assert!(
            !extra.iter().any(|e| e == "AWS:y" || e == "AWS:z"),
            "{extra:?}"
        );
    }

    #[test]
    fn an_unreadable_document_counts_as_extra() {
        assert!(!extra_principals(&json!({})).is_empty());
    }
}
