//! Table data around teardown: count the items; back them up before anything is deleted (a new file,
//! reserved first: a header saying where the items came from, DynamoDB's typed JSON one item a line, and an
//! end line written only once the table was counted again and nothing had changed); restore such a file,
//! streaming it, into an empty table of the same origin and key schema.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, Select, WriteRequest};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::backoff::{Backoff, Limit, Tries};
use crate::config::KeyAttribute;
use crate::progress::Task;

type Item = HashMap<String, AttributeValue>;

/// The header's `format`; the end line's is [`END`]. Items never have a string-valued field, so neither line
/// can be mistaken for an item.
pub const FORMAT: &str = "stackctl-backup";
pub const END: &str = "stackctl-backup-end";
/// The file format this stackctl writes and the newest it reads.
pub const VERSION: u64 = 1;
/// BatchWriteItem takes at most 25 items.
const BATCH: usize = 25;
/// The longest line a backup can hold: an item is at most 400 KB, and its JSON at most about six times that
/// (every character escaped as `\u0000`).
const MAX_LINE: usize = 4 << 20;
/// DynamoDB's largest item (names and values; 1 KB = 1024 bytes).
const MAX_ITEM: usize = 400 * 1024;

/// Where a backup's items came from (its header), or where a restore would put them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub stack: String,
    pub stage: Option<String>,
    pub table: String,
    pub region: String,
    pub account: String,
    pub key_schema: Vec<KeyField>,
}

/// One attribute of the key schema, partition key first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyField {
    pub name: String,
    /// S, N or B.
    #[serde(rename = "type")]
    pub key_type: String,
    /// HASH or RANGE.
    pub role: String,
}

impl Origin {
    /// The origin of a table: its stack and stage, and the region and account from its ARN
    /// (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
    pub fn new(
        stack: &crate::config::Stack,
        table: &str,
        arn: &str,
        keys: &[KeyAttribute],
    ) -> Origin {
        let (region, account) = region_and_account(arn);
        Origin {
            stack: stack.name.clone(),
            stage: stack.stage.clone(),
            table: table.to_string(),
            region: region.unwrap_or(&stack.region).to_string(),
            account: account.unwrap_or_default().to_string(),
            key_schema: key_fields(keys),
        }
    }

    fn stage_text(&self) -> String {
        match &self.stage {
            Some(stage) => format!("stage `{stage}`"),
            None => "no stage".to_string(),
        }
    }
}

/// The region and account of an ARN (`arn:aws:dynamodb:REGION:ACCOUNT:table/NAME`).
fn region_and_account(arn: &str) -> (Option<&str>, Option<&str>) {
    let parts: Vec<&str> = arn.split(':').collect();
    let part = |i: usize| parts.get(i).copied().filter(|p| !p.is_empty());
    (part(3), part(4))
}

fn key_fields(keys: &[KeyAttribute]) -> Vec<KeyField> {
    keys.iter()
        .enumerate()
        .map(|(i, k)| KeyField {
            name: k.name.clone(),
            key_type: k.key_type.as_str().to_string(),
            role: if i == 0 { "HASH" } else { "RANGE" }.to_string(),
        })
        .collect()
}

/// The key schema as plans show it: `userId (S, HASH), itemId (S, RANGE)`.
pub fn describe_keys(keys: &[KeyField]) -> String {
    keys.iter()
        .map(|k| format!("{} ({}, {})", k.name, k.key_type, k.role))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u64,
    #[serde(flatten)]
    pub origin: Origin,
    /// The items counted before the export (the end line holds the number written).
    pub items: u64,
    /// When the export started (RFC 3339, UTC).
    pub time: String,
}

impl Header {
    pub fn new(origin: Origin, items: u64) -> Header {
        Header {
            format: FORMAT.to_string(),
            version: VERSION,
            origin,
            items,
            time: crate::dates::rfc3339_seconds(std::time::SystemTime::now()),
        }
    }
}

/// Refuses a restore of a backup from `from` into `to`: always when the key schemas differ (the items
/// would not fit), and when the table, stage, region or account differ unless `allow_other_source`.
pub fn check_origin(from: &Origin, to: &Origin, allow_other_source: bool) -> Result<()> {
    if from.key_schema != to.key_schema {
        bail!(
            "the backup's key schema is {} but table `{}` has {}: its items cannot go into this table \
             (a key schema never changes); restore it into a table with the backup's keys",
            describe_keys(&from.key_schema),
            to.table,
            describe_keys(&to.key_schema)
        );
    }
    let mut other = Vec::new();
    if from.table != to.table {
        other.push(format!("table `{}` (here: `{}`)", from.table, to.table));
    }
    if from.stage != to.stage {
        other.push(format!("{} (here: {})", from.stage_text(), to.stage_text()));
    }
    if from.region != to.region {
        other.push(format!("region {} (here: {})", from.region, to.region));
    }
    if from.account != to.account {
        other.push(format!("account {} (here: {})", from.account, to.account));
    }
    if other.is_empty() || allow_other_source {
        return Ok(());
    }
    bail!(
        "the backup comes from {}: pass --allow-other-source to restore it here anyway",
        other.join(", ")
    )
}

/// Counts the table's items with a paginated, strongly consistent COUNT scan (DescribeTable's ItemCount
/// is only refreshed every few hours).
pub async fn count_items(client: &Client, table: &str) -> Result<u64> {
    let mut total = 0u64;
    let mut start: Option<Item> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("counting the items of DynamoDB table `{table}`"))?;
        total += page.count() as u64;
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(total);
        }
    }
}

/// Whether the table holds any item: one strongly consistent read of at most one item.
pub async fn is_empty(client: &Client, table: &str) -> Result<bool> {
    let page = client
        .scan()
        .table_name(table)
        .limit(1)
        .consistent_read(true)
        .send()
        .await
        .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
    Ok(page.count() == 0 && page.last_evaluated_key().is_none())
}

fn exists_message(path: &Path) -> String {
    format!(
        "the backup file `{}` already exists, and a backup never overwrites a file: choose a new file name \
         (or move that file away)",
        path.display()
    )
}

fn directory(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn missing_directory_message(dir: &Path) -> String {
    format!(
        "the backup's directory `{dir}` does not exist: create it first (mkdir -p {dir}) or choose another path",
        dir = dir.display()
    )
}

/// Why `path` cannot take a new backup, if it cannot: it exists (a backup never overwrites a file), or its
/// directory is missing or not a directory. down's plan shows it; [`Reserved::create`] is what guarantees it.
pub fn destination_problem(path: &Path) -> Option<String> {
    if path.symlink_metadata().is_ok() {
        return Some(exists_message(path));
    }
    let dir = directory(path);
    match dir.metadata() {
        Ok(meta) if meta.is_dir() => None,
        Ok(_) => Some(format!(
            "`{}` is not a directory: choose another path for the backup",
            dir.display()
        )),
        Err(_) => Some(missing_directory_message(dir)),
    }
}

/// A backup file created new (never an existing one: O_EXCL) before anything is deleted, and written in
/// place. Unless [`Reserved::keep`] is called it is removed when dropped, so a failed backup leaves no file;
/// a run killed mid-way leaves one without its end line, which restore refuses as incomplete.
pub struct Reserved {
    path: PathBuf,
    out: BufWriter<File>,
    kept: bool,
}

impl Reserved {
    pub fn create(path: &Path) -> Result<Reserved> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|err| match err.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow!(exists_message(path)),
                std::io::ErrorKind::NotFound => anyhow!(missing_directory_message(directory(path))),
                std::io::ErrorKind::PermissionDenied => anyhow!(
                    "cannot create the backup file `{}`: permission denied; choose a directory you can write to",
                    path.display()
                ),
                _ => anyhow!(err).context(format!("creating the backup file `{}`", path.display())),
            })?;
        Ok(Reserved {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            kept: false,
        })
    }

    fn line(&mut self, value: &impl Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.out, value)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    /// Writes the end line and makes the file durable; from now on it is the user's.
    fn keep(mut self, items: u64) -> Result<()> {
        self.line(&json!({"format": END, "items": items}))?;
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        self.kept = true;
        Ok(())
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// down --backup, before anything is deleted: reserves `file`, writes the header and every item, then
/// counts the table again. A scan is not a snapshot, so the backup is kept (with its end line) only when the
/// count before (the header's), the items written and the count after all agree; otherwise, or on any
/// error (an attribute of a type this stackctl cannot write, a page that fails), the file is removed and
/// the error says why. Returns the number of items backed up.
pub async fn back_up(client: &Client, header: &Header, file: &Path, task: &Task) -> Result<u64> {
    let table = &header.origin.table;
    let mut out = Reserved::create(file)?;
    out.line(header)?;
    let mut written = 0u64;
    let mut start: Option<Item> = None;
    loop {
        crate::interrupt::check("the next page of the backup")?;
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
        for item in page.items() {
            let json = item_to_json(item).with_context(|| {
                format!("item {}", describe_key(item, &header.origin.key_schema))
            })?;
            out.line(&json)?;
            written += 1;
        }
        task.set(&format!("backing up ({written} items)"));
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    out.out
        .flush()
        .with_context(|| format!("writing the backup `{}`", file.display()))?;
    if written != header.items {
        bail!(
            "the table held {} items when counted but {written} were read for the backup: something is \
             writing to it (a scan is not a snapshot); stop what writes to the table and run down again",
            header.items
        );
    }
    task.set("counting the items again");
    let now = count_items(client, table).await?;
    if now != written {
        bail!(
            "the table now holds {now} items but {written} were backed up: items were written or deleted \
             during the backup (a scan is not a snapshot); stop what writes to the table and run \
             down again"
        );
    }
    out.keep(written)
        .with_context(|| format!("writing the backup `{}`", file.display()))?;
    Ok(written)
}

/// The item's key as a message shows it: `userId = "u1", itemId = "i1"`.
fn describe_key(item: &Item, keys: &[KeyField]) -> String {
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

/// One line of a backup file.
enum Line {
    Header(Header),
    End(u64),
    Item(Item),
}

/// A backup file read line by line (blank lines skipped), never held in memory.
struct Reader {
    path: PathBuf,
    input: BufReader<File>,
    number: usize,
}

impl Reader {
    fn open(path: &Path) -> Result<Reader> {
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
    fn next(&mut self) -> Result<Option<(usize, Line)>> {
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

/// Puts every item of a checked backup file into `table`: read line by line, 25 items per
/// BatchWriteItem, unprocessed items sent again with backoff. `expected` is the number `check_file` read.
pub async fn restore(
    client: &Client,
    table: &str,
    file: &Path,
    expected: u64,
    task: &Task,
) -> Result<u64> {
    let mut reader = Reader::open(file)?;
    let mut batch: Vec<Item> = Vec::with_capacity(BATCH);
    let mut restored = 0u64;
    loop {
        let done = match reader.next()? {
            Some((_, Line::Item(item))) => {
                batch.push(item);
                false
            }
            Some(_) => continue,
            None => true,
        };
        if batch.len() == BATCH || (done && !batch.is_empty()) {
            restored += write_batch(
                client,
                table,
                std::mem::take(&mut batch),
                restored,
                expected,
            )
            .await?;
            task.set(&format!("restored {restored} of {expected} items"));
        }
        if done {
            break;
        }
    }
    if restored != expected {
        bail!(
            "`{}` changed while it was restored: {restored} items were written, {expected} were read before",
            file.display()
        );
    }
    Ok(restored)
}

/// One BatchWriteItem of at most 25 items, retrying what DynamoDB leaves unprocessed (throttled).
async fn write_batch(
    client: &Client,
    table: &str,
    items: Vec<Item>,
    before: u64,
    total: u64,
) -> Result<u64> {
    let mut pending: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map(|put| WriteRequest::builder().put_request(put).build())
        })
        .collect::<Result<_, _>>()?;
    let mut written = 0u64;
    // Unprocessed items (throttled) are sent again after a pause that doubles from 0.1 s up to 5 s.
    const UNPROCESSED: Backoff =
        Backoff::exponential(Duration::from_millis(100), 2, Duration::from_secs(5));
    let mut tries = Tries::new(UNPROCESSED, Limit::attempts(12));
    while !pending.is_empty() {
        crate::interrupt::check("the next batch of items")?;
        let out = client
            .batch_write_item()
            .request_items(table, pending.clone())
            .send()
            .await
            .with_context(|| {
                format!(
                    "writing items into DynamoDB table `{table}` ({} of {total} restored so far: run restore \
                     again with --overwrite)",
                    before + written
                )
            })?;
        let left = out
            .unprocessed_items()
            .and_then(|u| u.get(table))
            .cloned()
            .unwrap_or_default();
        written += (pending.len() - left.len()) as u64;
        if !left.is_empty() {
            // Throttled: back off, as DynamoDB asks, before sending the rest again.
            let Some(delay) = tries.next() else {
                bail!(
                    "DynamoDB kept {} items unprocessed after 12 tries; {} of {total} items were restored: run \
                     restore again with --overwrite",
                    left.len(),
                    before + written
                );
            };
            tokio::time::sleep(delay).await;
        }
        pending = left;
    }
    Ok(written)
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

    fn keys() -> Vec<KeyField> {
        vec![
            KeyField {
                name: "userId".into(),
                key_type: "S".into(),
                role: "HASH".into(),
            },
            KeyField {
                name: "itemId".into(),
                key_type: "S".into(),
                role: "RANGE".into(),
            },
        ]
    }

    fn origin() -> Origin {
        Origin {
            stack: "app".into(),
            stage: None,
            table: "app-data".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
            key_schema: keys(),
        }
    }

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
    fn a_backup_goes_back_only_where_it_came_from_unless_the_flag_says_so() {
        let here = origin();
        assert!(check_origin(&origin(), &here, false).is_ok());
        let mut other = origin();
        other.stage = Some("prod".into());
        other.account = "999999999999".into();
        let err = check_origin(&other, &here, false).unwrap_err().to_string();
        assert!(
            err.contains(
                "stage `prod` (here: no stage), account 999999999999 (here: 123456789012)"
            ) && err.contains("--allow-other-source"),
            "{err}"
        );
        assert!(check_origin(&other, &here, true).is_ok());
        // Keys that do not fit: never, whatever the flag.
        let mut keys = origin();
        keys.key_schema.pop();
        let err = check_origin(&keys, &here, true).unwrap_err().to_string();
        assert!(
            err.contains("key schema is userId (S, HASH) but table `app-data` has userId (S, HASH), itemId (S, RANGE)"),
            "{err}"
        );
    }

    #[test]
    fn origin_takes_region_and_account_from_the_tables_arn() {
        assert_eq!(
            region_and_account("arn:aws:dynamodb:eu-west-1:111122223333:table/t"),
            (Some("eu-west-1"), Some("111122223333"))
        );
        assert_eq!(region_and_account("garbage"), (None, None));
        let keys = key_fields(&[KeyAttribute {
            name: "id".into(),
            key_type: crate::config::KeyType::N,
        }]);
        assert_eq!(describe_keys(&keys), "id (N, HASH)");
    }

    #[test]
    fn a_backup_file_is_created_new_and_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl");
        std::fs::write(&path, "the only copy").unwrap();
        let err = Reserved::create(&path).err().unwrap().to_string();
        assert!(
            err.contains("already exists") && err.contains("new file name"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "the only copy");
        assert!(destination_problem(&path)
            .unwrap()
            .contains("already exists"));

        let fresh = dir.path().join("fresh.jsonl");
        assert_eq!(destination_problem(&fresh), None);
        {
            let mut out = Reserved::create(&fresh).unwrap();
            out.line(&json!({"x": 1})).unwrap();
        }
        assert!(!fresh.exists(), "a backup that was not kept is removed");
        let mut out = Reserved::create(&fresh).unwrap();
        out.line(&json!({"x": 1})).unwrap();
        out.keep(0).unwrap();
        assert_eq!(
            std::fs::read_to_string(&fresh).unwrap(),
            "{\"x\":1}\n{\"format\":\"stackctl-backup-end\",\"items\":0}\n"
        );

        let missing = dir.path().join("no/such/dir/x.jsonl");
        let problem = destination_problem(&missing).unwrap();
        assert!(
            problem.contains("does not exist") && problem.contains("mkdir -p"),
            "{problem}"
        );
        let err = Reserved::create(&missing).err().unwrap().to_string();
        assert_eq!(err, problem);
        let not_dir = path.join("x.jsonl");
        assert!(destination_problem(&not_dir)
            .unwrap()
            .contains("is not a directory"));
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

    #[test]
    fn malformed_lines_are_refused() {
        assert!(item_from_json(&json!({"a": {"S": 1}})).is_err());
        assert!(item_from_json(&json!({"a": {"X": "1"}})).is_err());
        assert!(item_from_json(&json!([1])).is_err());
    }
}
