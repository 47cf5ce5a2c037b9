//! DynamoDB's typed JSON, one item a line of a backup, checked as DynamoDB checks what it takes.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{json, Value};

use super::header::KeyField;

pub(super) type Item = HashMap<String, AttributeValue>;

/// The item's key as a message shows it: `userId = "u1", itemId = "i1"`.
pub(super) fn describe_key(item: &Item, keys: &[KeyField]) -> String {
    keys.iter()
        .map(|k| {
            let value = match item.get(&k.name) {
                Some(AttributeValue::S(s)) => Value::String(s.clone()).to_string(),
                Some(AttributeValue::N(n)) => n.clone(),
                Some(AttributeValue::B(b)) => b64(b),
                _ => "?".to_string(),
            };
            format!("{} = {value}", k.name)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// DynamoDB's typed JSON, as the AWS CLI prints it: `{"userId": {"S": "u1"}, "n": {"N": "1.5"}}`. An
/// attribute of a type this stackctl's SDK does not know (one newer than it) is an error naming it: a backup
/// that cannot hold every attribute is no backup.
pub fn item_to_json(item: &Item) -> Result<Value> {
    map_to_json(item, "")
}

fn map_to_json(map: &Item, path: &str) -> Result<Value> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    Ok(Value::Object(
        keys.into_iter()
            .map(|k| {
                let path = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                Ok((k.clone(), value_to_json(&map[k], &path)?))
            })
            .collect::<Result<_>>()?,
    ))
}

fn b64(blob: &Blob) -> String {
    base64::engine::general_purpose::STANDARD.encode(blob.as_ref())
}

fn value_to_json(value: &AttributeValue, path: &str) -> Result<Value> {
    Ok(match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => json!({ "BS": list.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(list) => json!({ "L": list
            .iter()
            .enumerate()
            .map(|(i, v)| value_to_json(v, &format!("{path}[{i}]")))
            .collect::<Result<Vec<_>>>()? }),
        AttributeValue::M(map) => json!({ "M": map_to_json(map, path)? }),
        _ => bail!(
            "attribute `{path}` has a DynamoDB type this stackctl does not know (newer than its AWS SDK), \
             so a backup cannot hold it: upgrade stackctl, or change that attribute to a known type"
        ),
    })
}

pub fn item_from_json(value: &Value) -> Result<Item> {
    let Value::Object(map) = value else {
        bail!("an item must be a JSON object")
    };
    map.iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                value_from_json(v).with_context(|| format!("attribute `{k}`"))?,
            ))
        })
        .collect()
}

fn value_from_json(value: &Value) -> Result<AttributeValue> {
    let Some((kind, inner)) = value
        .as_object()
        .filter(|o| o.len() == 1)
        .and_then(|o| o.iter().next())
    else {
        bail!("expected one type key such as {{\"S\": ...}}, got {value}");
    };
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .with_context(|| format!("{kind} needs a string"))
    };
    let strings = |v: &Value| -> Result<Vec<String>> {
        v.as_array()
            .with_context(|| format!("{kind} needs a list"))?
            .iter()
            .map(string)
            .collect()
    };
    let blob = |v: &Value| -> Result<Blob> {
        Ok(Blob::new(
            base64::engine::general_purpose::STANDARD
                .decode(string(v)?)
                .context("binary values are base64")?,
        ))
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(string(inner)?),
        "N" => AttributeValue::N(number(string(inner)?)?),
        "B" => AttributeValue::B(blob(inner)?),
        "BOOL" => AttributeValue::Bool(inner.as_bool().context("BOOL needs true or false")?),
        // DynamoDB refuses `"NULL": false` and an empty set or one holding a value twice (ValidationException).
        "NULL" => match inner.as_bool() {
            Some(true) => AttributeValue::Null(true),
            _ => bail!("NULL needs true (DynamoDB refuses any other value)"),
        },
        "SS" => AttributeValue::Ss(set(kind, strings(inner)?)?),
        "NS" => AttributeValue::Ns(set(
            kind,
            strings(inner)?
                .into_iter()
                .map(number)
                .collect::<Result<_>>()?,
        )?),
        "BS" => AttributeValue::Bs(set(
            kind,
            inner
                .as_array()
                .context("BS needs a list")?
                .iter()
                .map(blob)
                .collect::<Result<_>>()?,
        )?),
        "L" => AttributeValue::L(
            inner
                .as_array()
                .context("L needs a list")?
                .iter()
                .map(value_from_json)
                .collect::<Result<_>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(inner)?),
        other => bail!("unknown DynamoDB type `{other}`"),
    })
}

/// A set as DynamoDB takes it: not empty, no value twice.
fn set<T: AsRef<[u8]>>(kind: &str, values: Vec<T>) -> Result<Vec<T>> {
    if values.is_empty() {
        bail!("an empty {kind}: DynamoDB refuses empty sets");
    }
    let mut seen = std::collections::HashSet::new();
    if !values.iter().all(|v| seen.insert(v.as_ref())) {
        bail!("a {kind} holding a value twice: DynamoDB refuses it");
    }
    Ok(values)
}

/// A number as DynamoDB takes it: decimal notation (an exponent allowed), at most 38 significant digits,
/// and, unless zero, a magnitude from 1E-130 to below 1E+126; anything else DynamoDB refuses with a
/// ValidationException, which would stop a restore half-way.
fn number(text: String) -> Result<String> {
    let bad = |why: &str| anyhow!("`{text}` is not a number DynamoDB takes: {why}");
    let body = text.strip_prefix(['-', '+']).unwrap_or(&text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !digits(int) || !digits(frac) {
        return Err(bad("expected digits such as 12, -1.5 or 3e10"));
    }
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let unsigned = e.strip_prefix(['-', '+']).unwrap_or(e);
            if unsigned.is_empty() || unsigned.len() > 6 || !digits(unsigned) {
                return Err(bad("a malformed exponent"));
            }
            e.parse().map_err(|_| bad("a malformed exponent"))?
        }
    };
    let all = format!("{int}{frac}");
    let Some(first) = all.find(|c| c != '0') else {
        return Ok(text); // zero
    };
    let significant = all.trim_end_matches('0').len() - first;
    if significant > 38 {
        return Err(bad(&format!(
            "{significant} significant digits (DynamoDB keeps at most 38)"
        )));
    }
    // The power of ten of the first significant digit.
    let magnitude = int.len() as i64 - first as i64 - 1 + exponent;
    if !(-130..=125).contains(&magnitude) {
        return Err(bad("out of range (DynamoDB takes 1E-130 to 9.99E+125)"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attribute_type_round_trips() {
        let item: Item = HashMap::from([
            ("s".to_string(), AttributeValue::S("text ✓".into())),
            ("n".to_string(), AttributeValue::N("-1.5e10".into())),
            (
                "b".to_string(),
                AttributeValue::B(Blob::new(vec![0, 255, 7])),
            ),
            ("t".to_string(), AttributeValue::Bool(true)),
            ("z".to_string(), AttributeValue::Null(true)),
            (
                "ss".to_string(),
                AttributeValue::Ss(vec!["a".into(), "b".into()]),
            ),
            (
                "ns".to_string(),
                AttributeValue::Ns(vec!["1".into(), "2".into()]),
            ),
            (
                "bs".to_string(),
                AttributeValue::Bs(vec![Blob::new(vec![1]), Blob::new(vec![2, 3])]),
            ),
            (
                "l".to_string(),
                AttributeValue::L(vec![
                    AttributeValue::S("x".into()),
                    AttributeValue::M(HashMap::from([(
                        "k".to_string(),
                        AttributeValue::N("3".into()),
                    )])),
                ]),
            ),
            (
                "m".to_string(),
                AttributeValue::M(HashMap::from([(
                    "inner".to_string(),
                    AttributeValue::Bool(false),
                )])),
            ),
        ]);
        let json = item_to_json(&item).unwrap();
        let line = serde_json::to_string(&json).unwrap();
        let back = item_from_json(&serde_json::from_str(&line).unwrap()).unwrap();
        assert_eq!(back, item);
        assert_eq!(json["b"]["B"], "AP8H");
    }

    #[test]
    fn numbers_are_checked_as_dynamodb_checks_them() {
        let ok = |n: &str| number(n.to_string()).map_err(|e| e.to_string());
        for good in [
            "0",
            "-0.000",
            "12",
            "-1.5e10",
            "+3",
            ".5",
            "5.",
            "12345678901234567890123456789012345678",
            "1234567890123456789012345678901234567800000",
            "0.000012345678901234567890123456789012345678",
            "1E-130",
            "9.9999999999999999999999999999999999999E+125",
        ] {
            assert_eq!(ok(good), Ok(good.to_string()), "{good}");
        }
        for (bad, why) in [
            (
                "123456789012345678901234567890123456789",
                "39 significant digits",
            ),
            (
                "1.23456789012345678901234567890123456789",
                "39 significant digits",
            ),
            ("1E126", "out of range"),
            ("0.1E-130", "out of range"),
            ("1e9999999", "malformed exponent"),
            ("", "expected digits"),
            (".", "expected digits"),
            ("1,5", "expected digits"),
            ("NaN", "expected digits"),
            ("1e", "malformed exponent"),
            (" 1", "expected digits"),
        ] {
            let err = ok(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn values_dynamodb_refuses_are_refused() {
        let err = |v: Value| format!("{:#}", item_from_json(&v).unwrap_err());
        assert!(err(json!({"a": {"NULL": false}})).contains("NULL needs true"));
        assert!(err(json!({"a": {"SS": []}})).contains("empty SS"));
        assert!(err(json!({"a": {"SS": ["x", "x"]}})).contains("twice"));
        assert!(err(json!({"a": {"BS": ["AA==", "AA=="]}})).contains("twice"));
        assert!(err(json!({"a": {"NS": ["1", "1e999"]}})).contains("out of range"));
        assert!(err(json!({"a": {"B": "not base64!"}})).contains("base64"));
    }

    #[test]
    fn malformed_lines_are_refused() {
        assert!(item_from_json(&json!({"a": {"S": 1}})).is_err());
        assert!(item_from_json(&json!({"a": {"X": "1"}})).is_err());
        assert!(item_from_json(&json!([1])).is_err());
    }
}
