//! Which key a TOML parser or serde error is about, found from the spans of the document (the errors carry
//! only a span).

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// The stack file as a tree of keys with their spans, to name the key a serde error points at.
pub(super) enum TomlNode {
    Table(Vec<(Spanned<String>, Spanned<TomlNode>)>),
    Array(Vec<Spanned<TomlNode>>),
    Leaf,
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
                        path.push(key.get_ref().clone());
                        if (key.span() == *target || value.span() == *target)
                            && path.len() > best.len()
                        {
                            *best = path.clone();
                        }
                        walk(value.get_ref(), target, path, best);
                        path.pop();
                    }
                }
                TomlNode::Array(items) => {
                    for item in items {
                        if item.span() == *target && path.len() > best.len() {
                            *best = path.clone();
                        }
                        walk(item.get_ref(), target, path, best);
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
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TomlNode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_i64<E>(self, _: i64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_u64<E>(self, _: u64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_f64<E>(self, _: f64) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_str<E>(self, _: &str) -> Result<TomlNode, E> {
                Ok(TomlNode::Leaf)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TomlNode, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(TomlNode::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<TomlNode, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key()? {
                    entries.push((key, map.next_value()?));
                }
                Ok(TomlNode::Table(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
