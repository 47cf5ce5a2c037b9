//! A local runner's end takes every process of its group with it (review r1, issue 21): on Lambda a reset
//! execution environment or a finished `invoke` leaves nothing running, so a subprocess the handler started
//! (in the runner's own process group) must not outlive the runner, whether it ends normally (stdin closed
//! after the last answer) or is discarded (the handler called `process.exit`).

use std::path::Path;

use crate::support::*;

/// Starts a Node.js subprocess that never ends by itself, writes its PID to the file named by the event's
/// `pidfile`, then answers (or, with `exit`, ends the runtime with `process.exit(3)`).
const SPAWNING_HANDLER: &str = r#"import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

export const handler = async (event: any): Promise<unknown> => {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  writeFileSync(event.pidfile, String(child.pid));
  if (event.exit) process.exit(3);
  return { statusCode: 200, body: "spawned" };
};
"#;

/// Kills the subprocess if the test fails, so a failing run leaves nothing behind.
struct Reap(u32);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}

fn spawned_pid(path: &Path) -> u32 {
    std::fs::read_to_string(path)
        .expect("the handler ran and wrote its subprocess's PID")
        .trim()
        .parse()
        .unwrap()
}

fn run_spawning(exit: bool) {
    let emulator = Emulator::start();
    let project = Project::new(&emulator);
    project.write("lambda/src/handler.ts", SPAWNING_HANDLER);
    project.stackctl(&["up"]).ok();
    let files = tempfile::tempdir().unwrap();
    let pidfile = files.path().join("subprocess");
    project.write(
        "event.json",
        &serde_json::json!({
            "requestContext": {"http": {"method": "GET", "path": "/"}},
            "rawPath": "/",
            "pidfile": pidfile,
            "exit": exit,
        })
        .to_string(),
    );
    let run = project.stackctl(&["invoke", "--local", "event.json"]);
    let pid = spawned_pid(&pidfile);
    let _reap = Reap(pid);
    if exit {
        assert!(run.stdout.contains("Runtime.ExitError"), "{run:?}");
    } else {
        run.ok();
    }
    wait_until_gone(pid, "the handler's subprocess outlived stackctl");
}

#[tokio::test(flavor = "multi_thread")]
async fn invoke_local_leaves_no_subprocess_of_the_handler_running() {
    run_spawning(false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_discarded_runtime_takes_the_handlers_subprocess_with_it() {
    run_spawning(true);
}
