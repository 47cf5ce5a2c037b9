//! Fuzzing (proptest): the loader and the JSON checks must answer every input with a value or a
//! ConfigError, never a panic or a hang.

use std::path::Path;

use proptest::prelude::*;

use super::json_scan::{JsonNode, JsonScanner, Seg};
use super::test_support::{project, write_policy, TODAY};
use super::{parse, ConfigError, Stack};

const SHIPPED: &str = include_str!("../../stack.toml");

/// One project per fuzz test, made once: copying it for every case would be most of the time.
fn shared(cell: &'static std::sync::OnceLock<tempfile::TempDir>) -> &'static Path {
    cell.get_or_init(project).path()
}
static READ_ONLY: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
static POLICIES: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();

fn check(result: Result<Stack, ConfigError>, source: &str) -> Result<(), TestCaseError> {
    if let Err(err) = result {
        let shown = err.to_string();
        prop_assert!(!shown.is_empty());
        if let (Some((line, col)), true) = (err.position, err.file.ends_with("stack.toml")) {
            prop_assert!(line >= 1 && col >= 1);
            prop_assert!(line <= source.split('\n').count(), "{}", shown);
        }
    }
    Ok(())
}

/// Values that are wrong in interesting ways.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "\"\"",
            "\"${\"",
            "\"${table.arn\"",
            "\"../x\"",
            "\"/abs\"",
            "\"lambda\"",
            "\"lambda/dist\"",
            "\"policies\"",
            "0",
            "-1",
            "99999999999999999999",
            "1.5",
            "true",
            "[]",
            "[1, \"a\"]",
            "{}",
            "{ name = \"a\", type = \"S\" }",
            "1979-05-27T07:32:00Z",
            "'''\nx\n'''",
            "\"é€😀\"",
            "\"a\\u0000b\"",
            "{ a = { b = [ { c = 1 } ] } }",
            "\"nodejs20.x\"",
            "\"policies/lambda-trust-policy.json\"",
            "inf",
            "nan",
        ])
        .prop_map(str::to_string),
        "\"[^\"\\\\\n]{0,12}\"",
        any::<i64>().prop_map(|n| n.to_string()),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceValue(usize, String),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let line = 0..40usize;
    prop_oneof![
        line.clone().prop_map(Mutation::DeleteLine),
        line.clone().prop_map(Mutation::DuplicateLine),
        (line.clone(), line.clone()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (line.clone(), token()).prop_map(|(l, t)| Mutation::ReplaceValue(l, t)),
        (
            0..2000usize,
            prop_oneof![token(), "[\\[\\]{}=\"'.,#\n a-z_é]{0,8}"]
        )
            .prop_map(|(at, text)| Mutation::Insert(at, text)),
        (0..2000usize).prop_map(Mutation::Truncate),
    ]
}

fn char_floor(text: &str, at: usize) -> usize {
    let mut at = at % (text.len() + 1);
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn apply(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for m in mutations {
        let n = lines.len().max(1);
        match m {
            Mutation::DeleteLine(i) if !lines.is_empty() => {
                lines.remove(i % n);
            }
            Mutation::DuplicateLine(i) if !lines.is_empty() => {
                let line = lines[i % n].clone();
                lines.insert(i % n, line);
            }
            Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
            Mutation::ReplaceValue(i, token) if !lines.is_empty() => {
                let line = &mut lines[i % n];
                if let Some(eq) = line.find('=') {
                    line.replace_range(eq + 1.., &format!(" {token}"));
                }
            }
            Mutation::Insert(at, insert) => {
                let mut joined = lines.join("\n");
                let at = char_floor(&joined, *at);
                joined.insert_str(at, insert);
                lines = joined.lines().map(str::to_string).collect();
            }
            Mutation::Truncate(at) => {
                let mut joined = lines.join("\n");
                let at = char_floor(&joined, *at);
                joined.truncate(at);
                lines = joined.lines().map(str::to_string).collect();
            }
            _ => {}
        }
    }
    lines.join("\n")
}

fn policy_string() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "*",
        "dynamodb:*",
        "dynamodb:GetItem",
        "dynamodb:Get?tem",
        "${table.arn}",
        "${table.arn}/index/*",
        "${table.arn}/stream/*",
        "${table.arn}/index/",
        "${table.arn",
        "${nope}",
        "arn:aws:dynamodb:*:*:table/*",
        "Allow",
        "Deny",
        "allow",
        "",
        "é€😀",
        "2012-10-17",
    ])
    .prop_map(str::to_string)
}

fn policy_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        policy_string().prop_map(Value::String),
        any::<i32>().prop_map(Value::from),
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
    ];
    let keys = prop::sample::select(vec![
        "Version",
        "Statement",
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Principal",
        "NotPrincipal",
        "Condition",
        "${x}",
        "é",
    ]);
    leaf.prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((keys.clone(), inner), 0..6).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn json_text(value: &serde_json::Value, pretty: bool) -> String {
    if pretty {
        serde_json::to_string_pretty(value).unwrap()
    } else {
        serde_json::to_string(value).unwrap()
    }
}

/// Checks that the scanner finds every key and scalar of `value` where serde_json reads it.
fn scanned_like_serde(
    value: &serde_json::Value,
    path: &mut Vec<Seg>,
    root: &JsonNode,
    text: &str,
) -> Result<(), TestCaseError> {
    use serde_json::Value;
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(Seg::Index(i));
                scanned_like_serde(item, path, root, text)?;
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Seg::Key(k.clone()));
                let key = root.find(path, true);
                prop_assert!(key.is_some(), "{:?} in {}", path, text);
                let key: String = serde_json::from_str(&text[key.unwrap()]).unwrap();
                prop_assert_eq!(&key, k);
                scanned_like_serde(item, path, root, text)?;
                path.pop();
            }
        }
        scalar => {
            let range = root.find(path, false);
            prop_assert!(range.is_some(), "{:?} in {}", path, text);
            let found: Value = serde_json::from_str(&text[range.unwrap()]).unwrap();
            prop_assert_eq!(&found, scalar);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![
        any::<String>(),
        "[\\[\\]{}=\"'.,#\n a-z_0-9${}é]{0,200}",
    ]) {
        let dir = shared(&READ_ONLY);
        check(parse(&dir.join("stack.toml"), &text, TODAY), &text)?;
    }

    #[test]
    fn mutations_of_the_shipped_stack_file_never_panic(
        mutations in prop::collection::vec(mutation(), 1..5)
    ) {
        let dir = shared(&READ_ONLY);
        let text = apply(SHIPPED, &mutations);
        check(parse(&dir.join("stack.toml"), &text, TODAY), &text)?;
    }

    #[test]
    fn arbitrary_policy_templates_never_panic(
        value in policy_value(),
        pretty in any::<bool>(),
        allow in any::<bool>(),
        cut in any::<Option<prop::sample::Index>>(),
    ) {
        let dir = shared(&POLICIES);
        let mut text = json_text(&value, pretty);
        if let Some(cut) = cut {
            let at = char_floor(&text, cut.index(text.len() + 1));
            text.truncate(at);
        }
        write_policy(dir, &text);
        let stack_text = SHIPPED.replace(
            "template = \"policies/lambda-dynamodb-policy.json\"\n",
            &format!("template = \"policies/lambda-dynamodb-policy.json\"\nallow_wildcards = {allow}\n"),
        );
        check(parse(&dir.join("stack.toml"), &stack_text, TODAY), &stack_text)?;
    }

    #[test]
    fn the_json_scanner_finds_every_value_of_valid_json(value in policy_value(), pretty in any::<bool>()) {
        let text = json_text(&value, pretty);
        let root = JsonScanner { text: &text, pos: 0 }.value(0);
        prop_assert!(root.is_some(), "{}", text);
        let root = root.unwrap();
        prop_assert_eq!(root.range.clone(), 0..text.len());
        scanned_like_serde(&value, &mut Vec::new(), &root, &text)?;
    }
}
