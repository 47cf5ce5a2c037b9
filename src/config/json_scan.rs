//! Positions in JSON text (serde_json's `Value` has none): a small scanner that records where each key and
//! value of an accepted document sits, and the paths (`Statement[0].Action[1]`) errors name them by.

use std::ops::Range;

/// A step of a path into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seg {
    Key(String),
    Index(usize),
}

/// `Statement[0].Action[1]`
pub(super) fn json_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A node of a JSON text with its byte range (the parsed `Value` has no positions).
pub(super) struct JsonNode {
    pub(super) range: Range<usize>,
    kind: JsonKind,
}

pub(super) enum JsonKind {
    /// Key (decoded), the key's range, the value.
    Object(Vec<(String, Range<usize>, JsonNode)>),
    Array(Vec<JsonNode>),
    Scalar,
}

impl JsonNode {
    /// The range of the value (or, with `key`, of the key) at `path`.
    pub(super) fn find(&self, path: &[Seg], key: bool) -> Option<Range<usize>> {
        match path.split_first() {
            None => Some(self.range.clone()),
            Some((Seg::Key(name), rest)) => {
                let JsonKind::Object(entries) = &self.kind else {
                    return None;
                };
                // serde_json keeps the last of duplicate keys; so does this.
                let (_, key_range, value) = entries.iter().rev().find(|(k, ..)| k == name)?;
                if rest.is_empty() && key {
                    Some(key_range.clone())
                } else {
                    value.find(rest, key)
                }
            }
            Some((Seg::Index(i), rest)) => match &self.kind {
                JsonKind::Array(items) => items.get(*i)?.find(rest, key),
                _ => None,
            },
        }
    }
}

/// A small scanner for JSON text serde_json already accepted; it only records where values are.
pub(super) struct JsonScanner<'a> {
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl JsonScanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.pos;
        if self.peek()? != b'"' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    return Some(start..self.pos);
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Consumes the opening `{` or `[`; `Some(true)` when the object or array is empty (its `close`
    /// consumed too).
    fn open_empty(&mut self, close: u8) -> Option<bool> {
        self.pos += 1;
        self.skip_whitespace();
        if self.peek()? == close {
            self.pos += 1;
            return Some(true);
        }
        Some(false)
    }

    /// After an item of an object or array: `Some(true)` at its closing `close`, `Some(false)` at a `,`
    /// (either consumed), `None` at anything else.
    fn after_item(&mut self, close: u8) -> Option<bool> {
        self.skip_whitespace();
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Some(false)
            }
            b if b == close => {
                self.pos += 1;
                Some(true)
            }
            _ => None,
        }
    }

    pub(super) fn value(&mut self, depth: usize) -> Option<JsonNode> {
        if depth > 256 {
            return None;
        }
        self.skip_whitespace();
        let start = self.pos;
        let kind = match self.peek()? {
            b'{' => {
                let mut entries = Vec::new();
                if !self.open_empty(b'}')? {
                    loop {
                        self.skip_whitespace();
                        let key_range = self.string()?;
                        let key: String =
                            serde_json::from_str(self.text.get(key_range.clone())?).ok()?;
                        self.skip_whitespace();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.pos += 1;
                        let value = self.value(depth + 1)?;
                        entries.push((key, key_range, value));
                        if self.after_item(b'}')? {
                            break;
                        }
                    }
                }
                JsonKind::Object(entries)
            }
            b'[' => {
                let mut items = Vec::new();
                if !self.open_empty(b']')? {
                    loop {
                        items.push(self.value(depth + 1)?);
                        if self.after_item(b']')? {
                            break;
                        }
                    }
                }
                JsonKind::Array(items)
            }
            b'"' => {
                self.string()?;
                JsonKind::Scalar
            }
            _ => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
                JsonKind::Scalar
            }
        };
        Some(JsonNode {
            range: start..self.pos,
            kind,
        })
    }
}
