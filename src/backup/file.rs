//! Reading a backup file: line by line, never held in memory, each line at most what an item can take; its
//! header, and the whole file checked before restore writes anything (keys, sizes, duplicates, completeness).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use super::header::{describe_keys, Header, KeyField, END, FORMAT, VERSION};
use super::item_json::{describe_key, item_from_json, Item};

/// The longest line a backup can hold: an item is at most 400 KB, and its JSON at most about six times that
/// (every character escaped as `\u0000`).
const MAX_LINE: usize = 4 << 20;
/// DynamoDB's largest item (names and values; 1 KB = 1024 bytes).
const MAX_ITEM: usize = 400 * 1024;

/// One line of a backup file.
pub(super) enum Line {
    Header(Header),
    End(u64),
    Item(Item),
}

/// A backup file read line by line (blank lines skipped), never held in memory.
pub(super) struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    number: usize,
}

impl Reader {
    pub(super) fn open(path: &Path) -> Result<Reader> {
        let file =
            File::open(path).with_context(|| format!("opening the backup `{}`", path.display()))?;
        Ok(Reader {
            path: path.to_path_buf(),
            input: BufReader::new(file),
            number: 0,
        })
    }

    fn at(&self) -> String {
        format!("{}:{}", self.path.display(), self.number)
    }

    /// The next line and its number, or None at the end of the file.
    pub(super) fn next(&mut self) -> Result<Option<(usize, Line)>> {
        loop {
            // At most MAX_LINE bytes a line, so that a crafted file cannot fill the memory.
            let mut bytes = Vec::new();
            let read = (&mut self.input)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut bytes);
            self.number += 1;
            if read.with_context(|| format!("reading {}", self.at()))? == 0 {
                return Ok(None);
            }
            if bytes.len() > MAX_LINE {
                bail!(
                    "{}: a line longer than {} MB, more than any DynamoDB item (400 KB) takes: not a backup \
                     written by `down --backup`",
                    self.at(),
                    MAX_LINE >> 20
                );
            }
            let line =
                String::from_utf8(bytes).map_err(|_| anyhow!("{}: not UTF-8 text", self.at()))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .with_context(|| format!("{}: not a JSON object", self.at()))?;
            let parsed = parse_line(&value).with_context(|| self.at())?;
            return Ok(Some((self.number, parsed)));
        }
    }
}

fn parse_line(value: &Value) -> Result<Line> {
    let Some(format) = value.get("format") else {
        return Ok(Line::Item(item_from_json(value)?));
    };
    match format.as_str() {
        Some(FORMAT) => {
            let version = value.get("version").and_then(Value::as_u64).unwrap_or(0);
            if version > VERSION {
                bail!(
                    "a backup in format version {version}, written by a newer stackctl (this one reads up to \
                     version {VERSION}): upgrade stackctl to restore it"
                );
            }
            Ok(Line::Header(
                serde_json::from_value(value.clone())
                    .context("a backup header with a missing field")?,
            ))
        }
        Some(END) => Ok(Line::End(
            value
                .get("items")
                .and_then(Value::as_u64)
                .context("an end line without its item count")?,
        )),
        _ => bail!("a line of an unknown format {format}: not a backup written by `down --backup`"),
    }
}

/// The header of a backup file, or None for a file written before backups had one (accepted only with
/// `headerless`).
pub fn read_header(file: &Path, headerless: bool) -> Result<Option<Header>> {
    let mut reader = Reader::open(file)?;
    match reader.next()? {
        None => bail!("`{}` is empty: not a backup written by `down --backup`", file.display()),
        Some((_, Line::Header(header))) => Ok(Some(header)),
        Some((_, Line::Item(_))) if headerless => Ok(None),
        Some((_, Line::Item(_))) => bail!(
            "`{}` has no header, so nothing says which table, stage, region and account its items came \
             from, nor whether the file is complete (backups written before the header, or not a backup): \
             check that it belongs here, then pass --headerless to restore it without those checks",
            file.display()
        ),
        Some((n, Line::End(_))) => {
            bail!("{}:{n}: an end line where the header should be", file.display())
        }
    }
}

/// Reads the whole file once before anything is written: every item valid and carrying the table's key
/// (`keys`), and, when the file has a header, its end line present, last, and agreeing with the items read
/// and the header. Returns the number of items.
pub fn check_file(file: &Path, keys: &[KeyField], has_header: bool) -> Result<u64> {
    let mut reader = Reader::open(file)?;
    let mut items = 0u64;
    let mut header: Option<Header> = None;
    let mut end: Option<u64> = None;
    // Where each key was first seen: a table holds a key once, and DynamoDB refuses a batch that puts one
    // key twice (ValidationException), so a file holding a key twice was changed and is refused up front.
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    while let Some((n, line)) = reader.next()? {
        let at = || format!("{}:{n}", file.display());
        if end.is_some() {
            bail!(
                "{}: a line after the end line: the file was changed after it was written",
                at()
            );
        }
        match line {
            // The first line that is not blank, as read_header takes it.
            Line::Header(h) if has_header && header.is_none() && items == 0 => header = Some(h),
            Line::Header(_) => bail!(
                "{}: a second header (two backups in one file?): restore each file on its own",
                at()
            ),
            Line::End(count) if has_header => end = Some(count),
            Line::End(_) => bail!("{}: an end line in a file without a header", at()),
            Line::Item(item) => {
                check_key(&item, keys).with_context(at)?;
                let size = least_size(&item);
                if size > MAX_ITEM {
                    bail!(
                        "{}: the item is larger than DynamoDB's 400 KB (at least {size} bytes of names and \
                         values), so DynamoDB would refuse it",
                        at()
                    );
                }
                if let Some(first) = seen.insert(key_of(&item, keys), n) {
                    bail!(
                        "{}: the item with key {} is already on line {first}: a table holds each key once, \
                         so the file was changed after it was written; remove one of the two lines",
                        at(),
                        describe_key(&item, keys)
                    );
                }
                items += 1;
            }
        }
    }
    let Some(header) = header else {
        return Ok(items);
    };
    let Some(end) = end else {
        bail!(
            "`{}` is incomplete: no end line after its {items} items (the `down` that wrote it did not \
             finish), so it may not hold the whole table",
            file.display()
        );
    };
    if end != items {
        bail!(
            "`{}`'s end line says {end} items but the file holds {items}: it was changed after it was written",
            file.display()
        );
    }
    if header.items != items {
        bail!(
            "`{}`'s header says {} items but the file holds {items}: it was changed after it was written",
            file.display(),
            header.items
        );
    }
    Ok(items)
}

/// A lower bound of the item's size as DynamoDB counts it (the attribute names' and values' bytes; a
/// number counted as 1 byte, its least): above 400 KB DynamoDB surely refuses the item.
fn least_size(item: &Item) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(s) => s.len(),
            AttributeValue::B(b) => b.as_ref().len(),
            AttributeValue::Ss(l) => l.iter().map(String::len).sum(),
            AttributeValue::Bs(l) => l.iter().map(|b| b.as_ref().len()).sum(),
            AttributeValue::Ns(l) => l.len(),
            AttributeValue::L(l) => l.iter().map(value).sum(),
            AttributeValue::M(m) => least_size(m),
            _ => 1,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

/// The item's key attributes as bytes, equal for equal keys.
fn key_of(item: &Item, keys: &[KeyField]) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        let bytes: &[u8] = match item.get(&key.name) {
            Some(AttributeValue::S(s)) => s.as_bytes(),
            Some(AttributeValue::N(n)) => n.as_bytes(),
            Some(AttributeValue::B(b)) => b.as_ref(),
            _ => &[],
        };
        out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    out
}

fn check_key(item: &Item, keys: &[KeyField]) -> Result<()> {
    for key in keys {
        let fits = matches!(
            (item.get(&key.name), key.key_type.as_str()),
            (Some(AttributeValue::S(_)), "S")
                | (Some(AttributeValue::N(_)), "N")
                | (Some(AttributeValue::B(_)), "B")
        );
        if !fits {
            bail!(
                "the item has no key attribute `{}` of type {} (the table's key schema is {})",
                key.name,
                key.key_type,
                describe_keys(keys)
            );
        }
        let empty = match item.get(&key.name) {
            Some(AttributeValue::S(s)) => s.is_empty(),
            Some(AttributeValue::B(b)) => b.as_ref().is_empty(),
            _ => false,
        };
        if empty {
            bail!(
                "the key attribute `{}` is empty, and DynamoDB refuses an empty key value",
                key.name
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::header::tests::{keys, origin};
    use super::*;

    fn header(items: u64) -> String {
        serde_json::to_string(&Header::new(origin(), items)).unwrap()
    }

    const A: &str = r#"{"itemId":{"S":"a"},"userId":{"S":"u"}}"#;
    const B: &str = r#"{"itemId":{"S":"b"},"userId":{"S":"u"}}"#;

    fn end(items: u64) -> String {
        format!(r#"{{"format":"stackctl-backup-end","items":{items}}}"#)
    }

    /// A file with these lines; the error of `check_file` on it, or its item count.
    fn check(lines: &[&str], has_header: bool) -> Result<u64, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        check_file(&path, &keys(), has_header).map_err(|e| format!("{e:#}"))
    }

    #[test]
    fn the_header_names_where_the_items_came_from_and_reads_back() {
        let line = header(2);
        assert!(line.starts_with(r#"{"format":"stackctl-backup","version":1,"stack":"app","stage":null,"table":"app-data","region":"us-east-1","account":"123456789012","key_schema":[{"name":"userId","type":"S","role":"HASH"}"#), "{line}");
        let Line::Header(back) = parse_line(&serde_json::from_str(&line).unwrap()).unwrap() else {
            panic!("not a header")
        };
        assert_eq!(back.origin, origin());
        assert_eq!(back.items, 2);
        assert!(
            humantime::parse_rfc3339(&back.time).is_ok(),
            "{}",
            back.time
        );
        let newer = line.replace(r#""version":1"#, r#""version":2"#);
        let err = parse_line(&serde_json::from_str(&newer).unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("upgrade stackctl"), "{err}");
    }

    #[test]
    fn a_complete_file_is_checked_line_by_line() {
        let h = header(2);
        assert_eq!(check(&[&h, A, B, &end(2)], true), Ok(2));
        assert_eq!(check(&[A, B], false), Ok(2), "headerless");
        assert_eq!(
            check(&["", " ", &h, A, B, &end(2)], true),
            Ok(2),
            "blank lines first"
        );
        let refused = |lines: &[&str], has_header, part: &str| {
            let err = check(lines, has_header).unwrap_err();
            assert!(err.contains(part), "{part}: {err}");
        };
        refused(
            &[&h, A, B],
            true,
            "is incomplete: no end line after its 2 items",
        );
        refused(
            &[&h, A, &end(2)],
            true,
            "end line says 2 items but the file holds 1",
        );
        refused(&[&header(3), A, B, &end(2)], true, "header says 3 items");
        refused(
            &[&h, A, B, &end(2), A],
            true,
            "b.jsonl:5: a line after the end line",
        );
        refused(&[&h, A, &h, B, &end(2)], true, "b.jsonl:3: a second header");
        refused(
            &[A, &end(1)],
            false,
            "an end line in a file without a header",
        );
        refused(
            &[&h, A, r#"{"userId":{"S":"u"},"itemId":{"N":"1"}}"#, &end(2)],
            true,
            "b.jsonl:3: the item has no key attribute `itemId` of type S",
        );
        refused(
            &[&h, "not json", &end(0)],
            true,
            "b.jsonl:2: not a JSON object",
        );
        refused(&[r#"{"format":"something-else"}"#], true, "unknown format");
    }

    #[test]
    fn a_file_without_a_header_needs_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.jsonl");
        std::fs::write(&old, format!("{A}\n{B}\n")).unwrap();
        let err = read_header(&old, false).unwrap_err().to_string();
        assert!(
            err.contains("has no header") && err.contains("--headerless"),
            "{err}"
        );
        assert_eq!(read_header(&old, true).unwrap(), None);
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "\n").unwrap();
        assert!(read_header(&empty, true)
            .unwrap_err()
            .to_string()
            .contains("is empty"));
    }

    #[test]
    fn a_line_too_long_for_any_item_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        let line = format!(r#"{{"a":{{"S":"{}"}}}}"#, "x".repeat(MAX_LINE));
        std::fs::write(&path, format!("{A}\r\n\r\n{line}\n")).unwrap();
        let mut reader = Reader::open(&path).unwrap();
        assert!(
            matches!(reader.next().unwrap(), Some((1, Line::Item(_)))),
            "CRLF"
        );
        let err = reader.next().err().unwrap().to_string();
        assert!(err.contains("b.jsonl:3: a line longer than 4 MB"), "{err}");
    }
}
