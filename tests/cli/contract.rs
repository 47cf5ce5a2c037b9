//! The command contract (README "JSON output" and "Exit codes"): every command's JSON document carries the
//! one envelope, and a closed stdout (`stackctl ... | head` after head exited) never panics any command: the
//! output ends quietly and the exit code is the command's own.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::promises::run_bounded;
use crate::support::*;

const STACK: &str = "my-frontend-app";

fn event() -> String {
    Path::new(REPO)
        .join("lambda/events/list-items.json")
        .to_string_lossy()
        .into_owned()
}

/// The envelope (README "JSON output"): schema_version, command, stack, stage (only with one), region first,
/// aws_calls and duration_ms last.
#[track_caller]
pub fn assert_envelope(document: &Value, command: &str, stage: Option<&str>) {
    let keys: Vec<&str> = document
        .as_object()
        .unwrap_or_else(|| panic!("{command}: not an object: {document}"))
        .keys()
        .map(String::as_str)
        .collect();
    let head: Vec<&str> = match stage {
        Some(_) => vec!["schema_version", "command", "stack", "stage", "region"],
        None => vec!["schema_version", "command", "stack", "region"],
    };
    assert_eq!(keys[..head.len()], head[..], "{command}: {keys:?}");
    assert_eq!(
        keys[keys.len() - 2..],
        ["aws_calls", "duration_ms"],
        "{command}: {keys:?}"
    );
    assert_eq!(document["schema_version"], 1, "{command}");
    assert_eq!(document["command"], command);
    assert_eq!(document["stack"], STACK, "{command}");
    assert_eq!(document["region"], "us-east-1", "{command}");
    if let Some(stage) = stage {
        assert_eq!(document["stage"], stage, "{command}");
    }
    assert!(document["aws_calls"]["reads"].is_u64(), "{command}");
    assert!(document["aws_calls"]["writes"].is_u64(), "{command}");
    assert!(document["duration_ms"].is_u64(), "{command}");
}

/// Every command with a JSON document (`logs` writes JSON Lines, a stream; `stage-name` and `completions`
/// print plain text; `dev` writes only to stderr) carries the envelope.
#[test]
fn every_commands_json_carries_the_envelope() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let event = event();
    let json = |args: &[&str], code: i32| -> Value {
        let mut args = args.to_vec();
        args.extend(["--output", "json"]);
        project.stackctl(&args).expect_code(code).json()
    };
    assert_envelope(&json(&["plan"], 2), "plan", None);
    assert_envelope(&json(&["--stage", "ci", "plan"], 2), "plan", Some("ci"));
    assert_envelope(&json(&["up"], 0), "up", None);
    assert_envelope(&json(&["status"], 0), "status", None);
    assert_envelope(&json(&["versions"], 0), "versions", None);
    assert_envelope(&json(&["backups"], 0), "backups", None);
    assert_envelope(&json(&["ls"], 0), "ls", None);
    assert_envelope(&json(&["invoke", "--local", &event], 0), "invoke", None);
    assert_envelope(&json(&["smoke", "--local"], 0), "smoke", None);
    assert_envelope(&json(&["down"], 3), "down", None);
    assert_envelope(
        &json(&["down", "--confirm", "--backup", "items.jsonl"], 0),
        "down",
        None,
    );
    project.stackctl(&["up"]).ok();
    let restored = json(&["restore", "items.jsonl"], 0);
    assert_envelope(&restored, "restore", None);
    assert_eq!(restored["items"], 0);
    project
        .stackctl(&["down", "--confirm", "--delete-data"])
        .ok();
}

/// README "Exit codes": a closed stdout ends the output quietly, with the command's own exit code; it never
/// panics (as `println!` does) or turns into an error.
#[test]
fn a_closed_stdout_never_panics_and_keeps_each_commands_exit_code() {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    let event = event();
    let steps: Vec<(Vec<&str>, i32)> = vec![
        (vec!["completions", "bash"], 0),
        (vec!["stage-name", "feature/x"], 0),
        (vec!["plan"], 2),
        (vec!["plan", "--output", "json"], 2),
        (vec!["up"], 0),
        (vec!["status"], 0),
        (vec!["status", "--output", "json"], 0),
        (vec!["versions"], 0),
        (vec!["versions", "--output", "json"], 0),
        (vec!["ls"], 0),
        (vec!["invoke", "--local", &event], 0),
        (vec!["smoke", "--local"], 0),
        (vec!["logs"], 0),
        (vec!["down"], 3),
        (vec!["down", "--confirm", "--backup", "items.jsonl"], 0),
        (vec!["up"], 0),
        (vec!["restore", "items.jsonl"], 0),
        (vec!["down", "--confirm", "--delete-data"], 0),
    ];
    for (args, code) in steps {
        let what = format!("stackctl {} | (closed)", args.join(" "));
        let run = run_bounded(
            with_closed_stdout(&project.command(&args)),
            Duration::from_secs(180),
            &what,
        );
        assert!(!run.stderr.contains("panicked"), "{what}:\n{}", run.stderr);
        assert!(
            !run.stderr.contains("Broken pipe"),
            "{what}:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("error:"), "{what}:\n{}", run.stderr);
        assert_eq!(run.code, code, "{what}:\n{}", run.stderr);
    }
}
