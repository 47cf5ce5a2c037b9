//! down without full scans (issue 25): whether the table holds items is one small read whatever its size,
//! an exact count only with --count (in parallel segments), and `--snapshot` keeps a DynamoDB backup,
//! AVAILABLE before anything is deleted and taken again once nothing of the stack writes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::*;

async fn deployed(emulator: &Emulator, items: usize, size: usize) -> (Project, Clients) {
    let project = Project::new(emulator);
    quick_snapshot_settle(&project);
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    put_items(&aws, TABLE, items, size).await;
    (project, aws)
}

fn scans_since(emulator: &Emulator, mark: u64) -> usize {
    emulator
        .requests_since(mark)
        .iter()
        .filter(|r| r.operation == "Scan")
        .count()
}

fn table_of(report: &Value) -> Value {
    report["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["kind"] == "table")
        .cloned()
        .unwrap_or_else(|| panic!("no table in {report:#}"))
}

/// 80 items of 20 KB (1.6 MB: a full scan takes two pages) or 3 small ones: down's read is one Scan either
/// way, and the plan shows DynamoDB's estimate, not an exact count; `plan` reads no item at all.
#[tokio::test(flavor = "multi_thread")]
async fn down_reads_whether_the_table_holds_items_with_one_scan_whatever_its_size() {
    for (items, size) in [(3, 10), (80, 20_000)] {
        let emulator = Emulator::start();
        let (project, _) = deployed(&emulator, items, size).await;

        let mark = emulator.mark();
        let preview = project.stackctl(&["down", "--output", "json"]);
        preview.expect_code(3);
        assert_eq!(scans_since(&emulator, mark), 1, "{items} items");
        let table = table_of(&preview.json());
        assert_eq!(
            table["items"],
            json!({"holds_items": true, "count": items, "exact": false}),
            "{table:#}"
        );
        assert_eq!(table["action"], "blocked");

        let mark = emulator.mark();
        project.stackctl(&["plan"]);
        assert_eq!(scans_since(&emulator, mark), 0, "plan reads no item");
    }
}

/// `down --count` counts exactly, in `--segments` parallel segments (each a scan of its own), and says so.
#[tokio::test(flavor = "multi_thread")]
async fn down_count_is_exact_and_scans_in_parallel_segments() {
    let emulator = Emulator::start();
    let (project, _) = deployed(&emulator, 30, 10).await;
    for segments in [1usize, 4] {
        let mark = emulator.mark();
        let preview = project.stackctl(&[
            "down",
            "--count",
            "--segments",
            &segments.to_string(),
            "--output",
            "json",
        ]);
        preview.expect_code(3);
        let table = table_of(&preview.json());
        assert_eq!(
            table["items"],
            json!({"holds_items": true, "count": 30, "exact": true}),
            "{table:#}"
        );
        assert!(
            table["note"]
                .as_str()
                .is_some_and(|n| n.starts_with("the table holds 30 items: pass --snapshot")),
            "{table:#}"
        );
        // The read (one), then one page for each segment of this small table.
        assert_eq!(scans_since(&emulator, mark), 1 + segments);
    }
    for bad in ["0", "1001", "many"] {
        let run = project.stackctl(&["down", "--count", "--segments", bad]);
        run.expect_code(64);
        assert!(run.stderr.contains("--segments"), "{}", run.stderr);
    }
}

/// down --confirm --snapshot: a backup named after the stack and the time, AVAILABLE before anything is
/// deleted; a final one right before DeleteTable (once the function is gone) supersedes it; the table is
/// gone and the result names the backup and the command that restores it.
#[tokio::test(flavor = "multi_thread")]
async fn down_snapshot_keeps_an_available_backup_and_names_it() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 5, 10).await;

    let preview = project.stackctl(&["down", "--snapshot"]);
    preview.expect_code(3);
    assert!(
        preview
            .stdout
            .contains("+ snapshot: a DynamoDB backup named stackctl-my-frontend-app-<time>"),
        "{}",
        preview.stdout
    );

    let mark = emulator.mark();
    let run = project.stackctl(&["down", "--confirm", "--snapshot", "--output", "json"]);
    run.ok();
    let table = table_of(&run.json());
    assert_eq!(table["result"], "snapshot taken and deleted", "{table:#}");
    let arn = table["snapshot"]["arn"].as_str().expect("snapshot.arn");
    let name = table["snapshot"]["name"].as_str().expect("snapshot.name");
    assert!(
        arn.starts_with(&format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/backup/"
        )),
        "{arn}"
    );
    assert!(name.starts_with("stackctl-my-frontend-app-2"), "{name}");
    assert_eq!(name.len(), "stackctl-my-frontend-app-".len() + 16, "{name}");
    assert_eq!(
        table["snapshot"]["restore"],
        format!("stackctl restore --snapshot {arn}")
    );
    assert!(!table_exists(&aws, TABLE).await, "the table should be gone");
    // Both are kept, AVAILABLE: the final one, and the first (deletes between the two would leave the final
    // one with less), named in the result too.
    let first = &table["snapshot"]["first"];
    let mut listed = backups(&aws, TABLE).await;
    listed.sort();
    let mut want = vec![
        (name.to_string(), arn.to_string(), "AVAILABLE".to_string()),
        (
            first["name"]
                .as_str()
                .expect("snapshot.first.name")
                .to_string(),
            first["arn"]
                .as_str()
                .expect("snapshot.first.arn")
                .to_string(),
            "AVAILABLE".to_string(),
        ),
    ];
    want.sort();
    assert_eq!(listed, want);

    let ops = emulator.writes_since(mark);
    let at = |op: &str| -> Vec<usize> {
        ops.iter()
            .enumerate()
            .filter(|(_, o)| *o == op)
            .map(|(i, _)| i)
            .collect()
    };
    let creates = at("CreateBackup");
    assert_eq!((creates.len(), at("DeleteBackup").len()), (2, 0), "{ops:?}");
    // Secured before anything is deleted; the final one after the function (the writer) is gone; the
    // table last.
    let first_delete = ops.iter().position(|o| o.starts_with("Delete")).unwrap();
    assert!(creates[0] < first_delete, "{ops:?}");
    assert!(at("DeleteFunction")[0] < creates[1], "{ops:?}");
    assert!(creates[1] < at("DeleteTable")[0], "{ops:?}");
    // Nothing reads the whole table: the read, then the check before the final snapshot.
    assert_eq!(scans_since(&emulator, mark), 2);
}

/// The text result names the backup and the restore command too; an empty table takes no snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn down_snapshot_says_so_in_text_and_takes_none_of_an_empty_table() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 2, 10).await;
    let run = project.stackctl(&["down", "--confirm", "--snapshot"]);
    run.ok();
    // Two kept: the final one named with its restore command, the first as "also kept".
    let taken = backups(&aws, TABLE).await;
    assert_eq!(taken.len(), 2, "{taken:?}");
    let final_one = taken
        .iter()
        .find(|(name, arn, _)| {
            run.stdout
                .contains(&format!("    snapshot: {name} ({arn})"))
        })
        .unwrap_or_else(|| panic!("no snapshot line for {taken:?}: {}", run.stdout));
    assert!(
        run.stdout.contains(&format!(
            "    restore with: stackctl restore --snapshot {}",
            final_one.1
        )),
        "{}",
        run.stdout
    );
    let first = taken.iter().find(|b| *b != final_one).expect("the first");
    assert!(
        run.stdout.contains(&format!(
            "    also kept: {} ({}), taken before anything was deleted",
            first.0, first.1
        )),
        "{}",
        run.stdout
    );

    project.stackctl(&["up"]).ok();
    let preview = project.stackctl(&["down", "--output", "json"]);
    assert_eq!(
        table_of(&preview.json())["items"],
        json!({"holds_items": false, "count": 0, "exact": true})
    );
    let mark = emulator.mark();
    let empty = project.stackctl(&["down", "--confirm", "--snapshot"]);
    empty.ok();
    assert!(
        empty
            .stdout
            .contains("deleted (it held no items: no snapshot taken)"),
        "{}",
        empty.stdout
    );
    assert!(!emulator
        .writes_since(mark)
        .iter()
        .any(|o| o.contains("Backup")));
    assert_eq!(backups(&aws, TABLE).await.len(), 2);
}

/// A snapshot that fails keeps the table: the first one before anything is deleted (nothing is), the final
/// one (the function is gone by then) with the error naming the first snapshot, which is kept.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_snapshot_keeps_the_table() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3, 10).await;
    emulator
        .strict()
        .set(json!({"deny_operations": ["CreateBackup"]}));
    let mark = emulator.mark();
    let run = project
        .command(&["down", "--confirm", "--snapshot"])
        .output()
        .expect("running stackctl");
    let run = Run::from(run);
    run.expect_code(1);
    assert!(
        run.stderr.contains("nothing was deleted") && run.stderr.contains("CreateBackup"),
        "{}",
        run.stderr
    );
    assert_eq!(emulator.writes_since(mark), vec!["CreateBackup"]);
    emulator.strict().set(json!({"deny_operations": null}));

    // The final snapshot: refused once the function is gone (held until then).
    emulator
        .strict()
        .set(json!({"hold_operations": ["DeleteFunction"]}));
    let held = emulator.strict().injected_by("DeleteFunction", "held");
    let child = project
        .command(&["down", "--confirm", "--snapshot"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stackctl");
    let deadline = Instant::now() + Duration::from_secs(180);
    while emulator.strict().injected_by("DeleteFunction", "held") == held {
        assert!(Instant::now() < deadline, "down never sent DeleteFunction");
        std::thread::sleep(Duration::from_millis(5));
    }
    emulator.strict().set(json!({
        "hold_operations": null,
        "deny_operations": ["CreateBackup"],
    }));
    let run = Run::from(child.wait_with_output().expect("waiting for stackctl"));
    emulator.strict().set(json!({"deny_operations": null}));
    run.expect_code(1);
    let first = backups(&aws, TABLE).await;
    assert_eq!(first.len(), 1, "{first:?}");
    let (name, arn, status) = &first[0];
    assert_eq!(status, "AVAILABLE");
    for part in [
        "the final snapshot of table `my-frontend-app-data` failed, so the table was not deleted",
        &format!("the first snapshot `{name}` is kept ({arn})"),
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    assert!(table_exists(&aws, TABLE).await);
}

/// A table found empty but written to before DeleteTable is not deleted without a data flag.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_written_after_the_empty_read_keeps_the_table() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 0, 0).await;
    // Written right after down's read (the one COUNT scan of at most one item) found the table empty.
    emulator.strict().set(json!({"scan_side_write": {
        "table": TABLE, "select": "COUNT", "page": 1, "op": "PutItem",
        "request": {"Item": {"userId": {"S": "late"}, "itemId": {"S": "late"}}}
    }}));
    let mark = emulator.mark();
    let run = project.stackctl(&["down", "--confirm"]);
    run.expect_code(1);
    assert_eq!(emulator.strict().injected_count("side PutItem"), 1);
    for part in [
        "table `my-frontend-app-data` now holds items, written after it was found empty",
        "pass --snapshot, --backup <file> or --delete-data",
    ] {
        assert!(run.stderr.contains(part), "{part}: {}", run.stderr);
    }
    assert!(!emulator
        .writes_since(mark)
        .contains(&"DeleteTable".to_string()));
    assert!(table_exists(&aws, TABLE).await);
}

/// --backup in parallel segments: every item comes back through restore, and the scans are the read, then
/// per segment the header's count, the export, the recount and the count before DeleteTable.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_in_parallel_segments_restores_every_item() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 40, 10).await;
    let mark = emulator.mark();
    let run = project.stackctl(&[
        "down",
        "--confirm",
        "--backup",
        "items.jsonl",
        "--segments",
        "3",
    ]);
    run.ok();
    assert_eq!(scans_since(&emulator, mark), 1 + 4 * 3);
    let file = project.read("items.jsonl");
    assert_eq!(
        file.lines().count(),
        42,
        "a header, 40 items and an end line"
    );
    project.stackctl(&["up"]).ok();
    let restored = project.stackctl(&["restore", "items.jsonl"]);
    restored.ok();
    let scanned = aws.dynamodb.scan().table_name(TABLE).send().await.unwrap();
    assert_eq!(scanned.count(), 40);
}

/// `--backup` in parallel segments (the default 8): an item written once the backup is made (while the
/// function, the stack's writer, is being deleted) is caught by the exact count before DeleteTable; the
/// table and the complete backup are kept.
#[tokio::test(flavor = "multi_thread")]
async fn an_item_written_after_a_parallel_backup_keeps_the_table() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 12, 10).await;
    emulator
        .strict()
        .set(json!({"hold_operations": ["DeleteFunction"]}));
    let held = emulator.strict().injected_by("DeleteFunction", "held");
    let child = project
        .command(&["down", "--confirm", "--backup", "items.jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting stackctl");
    let deadline = Instant::now() + Duration::from_secs(180);
    while emulator.strict().injected_by("DeleteFunction", "held") == held {
        assert!(Instant::now() < deadline, "down never sent DeleteFunction");
        std::thread::sleep(Duration::from_millis(5));
    }
    put_items(&emulator.moto_clients().await, TABLE, 13, 10).await;
    emulator.strict().set(json!({"hold_operations": null}));
    let run = Run::from(child.wait_with_output().expect("waiting for stackctl"));
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("now holds 13 items but 12 were backed up to `items.jsonl`"),
        "{}",
        run.stderr
    );
    assert!(table_exists(&aws, TABLE).await);
    let file = project.read("items.jsonl");
    assert_eq!(
        file.lines().count(),
        14,
        "a header, 12 items and an end line"
    );
}

/// The whole journey of issue 25 through the commands alone: down --snapshot, `backups` lists it, `restore
/// --snapshot` brings every item back into the stack's own table (tagged again: `up` changes nothing), and a
/// second down with `--delete-data` too (what a stack with served versions or a pool's users needs) still
/// secures the table with a snapshot first.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_round_trips_through_down_backups_restore_and_up() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 5, 10).await;

    let down = project.stackctl(&["down", "--confirm", "--snapshot", "--output", "json"]);
    down.ok();
    let table = table_of(&down.json());
    let arn = table["snapshot"]["arn"]
        .as_str()
        .expect("snapshot.arn")
        .to_string();
    let name = table["snapshot"]["name"]
        .as_str()
        .expect("snapshot.name")
        .to_string();
    assert!(!table_exists(&aws, TABLE).await);

    let listed = project.stackctl(&["backups", "--output", "json"]);
    listed.ok();
    let rows = listed.json()["backups"]
        .as_array()
        .expect("backups")
        .clone();
    assert_eq!(rows.len(), 2, "the first and the final snapshot: {rows:#?}");
    let kept = rows
        .iter()
        .find(|r| r["arn"] == json!(arn))
        .unwrap_or_else(|| panic!("{arn} not listed: {rows:#?}"));
    assert_eq!(
        (&kept["name"], &kept["type"], &kept["status"]),
        (&json!(name), &json!("USER"), &json!("AVAILABLE"))
    );

    // The command down printed, as a user would paste it.
    let restore = table["snapshot"]["restore"]
        .as_str()
        .expect("snapshot.restore");
    let args: Vec<&str> = restore.split_whitespace().skip(1).collect();
    project.stackctl(&args).ok();
    assert!(table_exists(&aws, TABLE).await);
    assert_eq!(
        aws.dynamodb
            .scan()
            .table_name(TABLE)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count(),
        5
    );
    let up = project.stackctl(&["up", "--output", "json"]);
    up.ok();
    assert_eq!(table_of(&up.json())["action"], "no_op", "{:#}", up.json());

    let again = project.stackctl(&[
        "down",
        "--confirm",
        "--snapshot",
        "--delete-data",
        "--output",
        "json",
    ]);
    again.ok();
    let table = table_of(&again.json());
    assert_eq!(table["result"], "snapshot taken and deleted", "{table:#}");
    assert_eq!(
        backups(&aws, TABLE).await.len(),
        4,
        "every snapshot is kept"
    );
}

/// A table with point-in-time recovery on, deleted with --delete-data: DynamoDB keeps a SYSTEM backup (35
/// days); `backups` lists it with its expiry and `restore --snapshot` takes it by name.
#[tokio::test(flavor = "multi_thread")]
async fn a_point_in_time_recovery_tables_system_backup_is_listed_and_restorable() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit(
        "stack.toml",
        "billing_mode = \"PAY_PER_REQUEST\"",
        "billing_mode = \"PAY_PER_REQUEST\"\npoint_in_time_recovery = 7",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    put_items(&aws, TABLE, 3, 10).await;
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
    assert!(!table_exists(&aws, TABLE).await);

    // The system backup is CREATING for a while after DeleteTable (as AWS's are): restore refuses it until
    // `backups` shows it AVAILABLE, so wait for that as a user would (a deadline only stops a hung run).
    let deadline = Instant::now() + Duration::from_secs(120);
    let system = loop {
        let listed = project.stackctl(&["backups", "--output", "json"]);
        listed.ok();
        let rows = listed.json()["backups"]
            .as_array()
            .expect("backups")
            .clone();
        let system: Vec<Value> = rows
            .iter()
            .filter(|r| r["type"] == "SYSTEM")
            .cloned()
            .collect();
        assert_eq!(system.len(), 1, "{rows:#?}");
        assert!(system[0]["expires"].is_string(), "{rows:#?}");
        if system[0]["status"] == "AVAILABLE" {
            break system[0].clone();
        }
        assert_eq!(system[0]["status"], "CREATING", "{rows:#?}");
        assert!(Instant::now() < deadline, "{rows:#?}");
        std::thread::sleep(Duration::from_millis(500));
    };
    let name = system["name"].as_str().expect("name");
    project.stackctl(&["restore", "--snapshot", name]).ok();
    assert_eq!(
        aws.dynamodb
            .scan()
            .table_name(TABLE)
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .count(),
        3
    );
}

/// DynamoDB guarantees a backup holds what was committed up to a minute before it was requested
/// (API_CreateBackup), and an invocation in flight at DeleteFunction runs to the function's timeout: the
/// final snapshot is requested only after the longest function timeout plus `timeouts.snapshot_settle_secs`
/// (here 1 s + 2 s; 10 s + 60 s by default). A lower bound on the run's duration: a wait cannot be shorter.
#[tokio::test(flavor = "multi_thread")]
async fn the_final_snapshot_waits_out_dynamodbs_backup_window() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 1");
    project.edit(
        "stack.toml",
        "[function.environment]",
        "[timeouts]\nsnapshot_settle_secs = 2\n\n[function.environment]",
    );
    project.stackctl(&["up"]).ok();
    let aws = emulator.clients().await;
    put_items(&aws, TABLE, 2, 10).await;
    let started = Instant::now();
    let run = project.stackctl(&["down", "--confirm", "--snapshot"]);
    run.ok();
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the final snapshot did not wait: {:?}\n{}",
        started.elapsed(),
        run.stderr
    );
    assert!(
        run.stderr.contains("waiting 3s before the final snapshot"),
        "{}",
        run.stderr
    );
    assert_eq!(backups(&aws, TABLE).await.len(), 2);
}

/// A down that fails after its first snapshot (DeleteFunction answers 5xx until the SDK gives up): nothing of
/// the table is deleted, and the error names the snapshot taken before anything was deleted, which is kept
/// (billed until deleted: the user must know it exists).
#[tokio::test(flavor = "multi_thread")]
async fn a_down_failing_after_the_first_snapshot_names_the_snapshot_it_kept() {
    let emulator = Emulator::start();
    let (project, aws) = deployed(&emulator, 3, 10).await;
    emulator
        .strict()
        .set(json!({"fault_operations": ["DeleteFunction"], "error_5xx_rate": 1.0}));
    let run = project.stackctl(&["down", "--confirm", "--snapshot"]);
    run.expect_code(1);
    let listed = backups(&aws, TABLE).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (name, arn, _) = &listed[0];
    assert!(
        run.stderr.contains(&format!(
            "the snapshot taken before anything was deleted is kept: {name} ({arn})"
        )),
        "{}",
        run.stderr
    );
    assert!(table_exists(&aws, TABLE).await);
}

/// CreateBackup answers ContinuousBackupsUnavailableException while a new table's backups are being turned on
/// (AWS lifts it by itself): a down --snapshot right after up retries it instead of failing.
#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_of_a_new_table_waits_until_its_backups_are_enabled() {
    let emulator = Emulator::start();
    emulator
        .strict()
        .set(json!({"pitr_unavailable_ms": 20000, "backup_unavailable_after_create": true}));
    let (project, aws) = deployed(&emulator, 2, 10).await;
    let run = project.stackctl(&["down", "--confirm", "--snapshot"]);
    run.ok();
    assert!(
        emulator
            .strict()
            .injected_by("CreateBackup", "ContinuousBackupsUnavailableException")
            > 0,
        "the window never refused a CreateBackup: the test proves nothing"
    );
    assert!(!table_exists(&aws, TABLE).await);
    assert_eq!(backups(&aws, TABLE).await.len(), 2);
}
