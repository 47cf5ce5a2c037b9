//! Which key a TOML parser or serde error is about, found from the spans of the document (the errors carry
//! only a span).

use std::fmt;
use std::ops::Range;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

// The names through which the toml crate hands out spans (serde_spanned's protocol).
const SPANNED: &str = "$__serde_spanned_private_Spanned";
const START: &str = "$__serde_spanned_private_start";
const END: &str = "$__serde_spanned_private_end";
const VALUE: &str = "$__serde_spanned_private_value";
const FIELDS: &[&str] = &[START, END, VALUE];

/// The stack file as a tree of keys with their spans, to name the key a serde error points at.
pub(super) enum TomlNode {
    Table(Vec<(Key, Node)>),
    Array(Vec<Node>),
    Leaf,
}

/// A key and, when the parser knows it, its span.
pub(super) struct Key {
    name: String,
    span: Option<Range<usize>>,
}

/// A value and its span. A table that no header or key writes itself (`stages` and `stages.prod` in a
/// `[stages.prod.table]` header) has none: `toml::Spanned` refuses such a table, so the spans are read
/// here with a visitor that takes both.
pub(super) struct Node {
    node: TomlNode,
    span: Option<Range<usize>>,
}

impl TomlNode {
    /// The dotted path of the key whose name or value has exactly this span (the deepest one); empty
    /// for the document itself.
    pub(super) fn path_to(&self, target: &Range<usize>) -> Vec<String> {
        fn walk(
            node: &TomlNode,
            target: &Range<usize>,
            path: &mut Vec<String>,
            best: &mut Vec<String>,
        ) {
            match node {
                TomlNode::Table(entries) => {
                    for (key, value) in entries {
                        path.push(key.name.clone());
                        if (key.span.as_ref() == Some(target)
                            || value.span.as_ref() == Some(target))
                            && path.len() > best.len()
                        {
                            *best = path.clone();
                        }
                        walk(&value.node, target, path, best);
                        path.pop();
                    }
                }
                TomlNode::Array(items) => {
                    for item in items {
                        if item.span.as_ref() == Some(target) && path.len() > best.len() {
                            *best = path.clone();
                        }
                        walk(&item.node, target, path, best);
                    }
                }
                TomlNode::Leaf => {}
            }
        }
        let mut best = Vec::new();
        walk(self, target, &mut Vec::new(), &mut best);
        best
    }
}

impl<'de> Deserialize<'de> for TomlNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor).map(|n| n.node)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED, FIELDS, NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(SPANNED, FIELDS, KeyVisitor)
    }
}

fn leaf<E>() -> Result<Node, E> {
    Ok(Node {
        node: TomlNode::Leaf,
        span: None,
    })
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any TOML value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        leaf()
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        leaf()
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        leaf()
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        leaf()
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        leaf()
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node {
            node: TomlNode::Array(items),
            span: None,
        })
    }
    /// Either the span protocol (start, end, then the value itself) or, for a table without a span of its
    /// own, its entries.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(Node {
                node: TomlNode::Table(Vec::new()),
                span: None,
            });
        };
        if first.name == START && first.span.is_none() {
            let start: usize = map.next_value()?;
            map.next_key::<Key>()?;
            let end: usize = map.next_value()?;
            map.next_key::<Key>()?;
            let inner: Node = map.next_value_seed(Unspanned)?;
            return Ok(Node {
                node: inner.node,
                span: Some(start..end),
            });
        }
        let mut entries = vec![(first, map.next_value::<Node>()?)];
        while let Some(key) = map.next_key::<Key>()? {
            entries.push((key, map.next_value::<Node>()?));
        }
        Ok(Node {
            node: TomlNode::Table(entries),
            span: None,
        })
    }
}

/// The value inside the span protocol: any value, read without asking for its span again.
struct Unspanned;

impl<'de> serde::de::DeserializeSeed<'de> for Unspanned {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML key")
    }
    fn visit_str<E>(self, name: &str) -> Result<Key, E> {
        Ok(Key {
            name: name.to_string(),
            span: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        map.next_key::<Key>()?;
        let start: usize = map.next_value()?;
        map.next_key::<Key>()?;
        let end: usize = map.next_value()?;
        map.next_key::<Key>()?;
        let name: String = map.next_value()?;
        Ok(Key {
            name,
            span: Some(start..end),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_under_tables_no_header_writes_are_found() {
        let source =
            "[a]\nx = 1\n\n[stages.prod.table]\nnmae = true\n\n[b]\nc.d = { e = [1, {f = 2}] }\n";
        let tree: TomlNode = toml::from_str(source).unwrap();
        let at = |text: &str| {
            let start = source.find(text).unwrap();
            start..start + text.len()
        };
        assert_eq!(
            tree.path_to(&at("nmae")),
            ["stages", "prod", "table", "nmae"]
        );
        assert_eq!(tree.path_to(&at("x")), ["a", "x"]);
        assert_eq!(tree.path_to(&at("f")), ["b", "c", "d", "e", "f"]);
    }
}
