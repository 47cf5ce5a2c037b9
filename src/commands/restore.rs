//! `stackctl restore <backup>`: loads a backup written by `down --backup` into the stack's table (the export
//! and import themselves are in backup.rs).

use std::path::Path;

use anyhow::Result;

use crate::aws::Clients;
use crate::backup;
use crate::cli::{Global, Output};
use crate::config::Stack;
use crate::progress::Progress;
use crate::report;

/// Restores `file` into the table and prints what was written; exit 0.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    file: &Path,
    global: &Global,
    progress: &Progress,
) -> Result<u8> {
    let task = progress.task(format!("table {}", stack.table.name));
    let restored = backup::restore(&clients.dynamodb, &stack.table.name, file, &task).await?;
    task.finish(&format!("restored {restored} items"));
    let calls = clients.calls.snapshot();
    match global.output {
        Output::Json => println!(
            "{}",
            serde_json::json!({"schema_version": report::SCHEMA_VERSION, "command": "restore", "table": stack.table.name, "items": restored, "aws_calls": calls})
        ),
        Output::Text => println!(
            "restore: {restored} items into table {} ({} writes)",
            stack.table.name, calls.writes
        ),
    }
    Ok(crate::exit::OK)
}
