//! down --backup: the backup file, reserved new before anything is deleted, then the header (an exact count),
//! every item (read in parallel segments, written by one writer) and, only once the table was counted again
//! unchanged, the end line.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_dynamodb::Client;
use serde::Serialize;
use serde_json::json;

use futures::future::try_join_all;

use super::count::{count_items, in_segment, MAX_SEGMENTS};
use super::header::{Header, Origin, END};
use super::item_json::{describe_key, item_to_json, Item};
use crate::progress::Task;

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

/// How many pages of items (each at most 1 MB of DynamoDB data) may wait for the writer, beyond the one page
/// each segment holds while it is read: a backup holds at most `segments + PAGES_IN_FLIGHT` pages in memory,
/// whatever the table's size.
pub const PAGES_IN_FLIGHT: usize = 16;

/// down --backup, before anything is deleted: reserves `file`, counts the table exactly (the header's
/// count), writes the header and every item, then counts the table again. Every scan runs in `segments`
/// parallel segments; the items reach the one file through a bounded channel ([`PAGES_IN_FLIGHT`]). A scan
/// is not a snapshot, so the backup is kept (with its end line) only when the count before (the header's),
/// the items written and the count after all agree; otherwise, or on any error (an attribute of a type this
/// stackctl cannot write, a page that fails), the file is removed and the error says why. Returns the
/// number of items backed up.
pub async fn back_up(
    client: &Client,
    origin: Origin,
    file: &Path,
    segments: u32,
    task: &Task,
) -> Result<u64> {
    let mut out = Reserved::create(file)?;
    let table = origin.table.clone();
    task.set("counting the items");
    let counted = count_items(client, &table, segments).await?;
    let header = Header::new(origin, counted);
    out.line(&header)?;
    let written = export(client, &header, &mut out, segments, task).await?;
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
    let now = count_items(client, &table, segments).await?;
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

/// Every item, read by `segments` scans at once (each strongly consistent, page after page) and written by
/// one writer, in the order the pages arrive. The first error stops every segment (the others are dropped
/// mid-way): a writer's error is reported before the readers' ("the writer stopped").
async fn export(
    client: &Client,
    header: &Header,
    out: &mut Reserved,
    segments: u32,
    task: &Task,
) -> Result<u64> {
    let segments = segments.clamp(1, MAX_SEGMENTS);
    let (sender, mut pages) = tokio::sync::mpsc::channel::<Vec<serde_json::Value>>(PAGES_IN_FLIGHT);
    let readers = async move {
        let segment_readers =
            (0..segments).map(|segment| read_segment(client, header, segment, segments, &sender));
        try_join_all(segment_readers).await.map(|_| ())
    };
    let writer = async {
        let mut written = 0u64;
        while let Some(lines) = pages.recv().await {
            for json in &lines {
                out.line(json)?;
                written += 1;
            }
            task.set(&format!("backing up ({written} items)"));
        }
        Ok::<u64, anyhow::Error>(written)
    };
    let (read, written) = tokio::join!(readers, writer);
    let written = written?;
    read?;
    Ok(written)
}

/// One segment's pages, each converted to JSON lines and handed to the writer (waiting while
/// [`PAGES_IN_FLIGHT`] pages are queued).
async fn read_segment(
    client: &Client,
    header: &Header,
    segment: u32,
    segments: u32,
    pages: &tokio::sync::mpsc::Sender<Vec<serde_json::Value>>,
) -> Result<()> {
    let table = &header.origin.table;
    let mut start: Option<Item> = None;
    loop {
        crate::interrupt::check("the next page of the backup")?;
        let page = in_segment(client.scan(), segment, segments)
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .with_context(|| format!("reading the items of DynamoDB table `{table}`"))?;
        let lines = page
            .items()
            .iter()
            .map(|item| {
                item_to_json(item).with_context(|| {
                    format!("item {}", describe_key(item, &header.origin.key_schema))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if pages.send(lines).await.is_err() {
            bail!("the backup's writer stopped");
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
