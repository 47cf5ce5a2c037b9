//! A running `stackctl dev` for the tests that call it (dev, dev_guard, dev_workers, dev_browser, promises_dev):
//! started on a free port, its stderr collected as it comes, its signals and its exit code.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Project;

/// A running `stackctl dev`, killed on drop.
pub struct Dev {
    child: Mutex<Child>,
    pub base: String,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Dev {
    /// Starts `stackctl dev --port 0 <args>` in the project and waits for its "serving" line.
    pub fn start(project: &Project, args: &[&str]) -> Dev {
        Dev::start_with_env(project, args, &[])
    }

    /// The same, with extra environment variables.
    pub fn start_with_env(project: &Project, args: &[&str], env: &[(&str, &str)]) -> Dev {
        let mut all = vec!["dev", "--port", "0"];
        all.extend_from_slice(args);
        let mut child = project
            .command(&all)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting stackctl dev");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let mut dev = Dev {
            child: Mutex::new(child),
            base: String::new(),
            stderr,
        };
        let serving = dev.wait_for_log("dev: serving ");
        dev.base = serving
            .split("dev: serving ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        dev
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// How dev ended, or None while it runs.
    fn ended(&self) -> Option<std::process::ExitStatus> {
        self.child.lock().unwrap().try_wait().expect("wait")
    }

    /// Waits (at most 120 s) until stderr holds `text` (a log line is written after the answer was sent);
    /// fails as soon as dev ends without it.
    #[track_caller]
    pub fn wait_for_log(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            // Whether it had ended before its stderr is read: its last lines are then in `log`.
            let ended = self.ended();
            let log = self.stderr();
            if log.contains(text) {
                return log;
            }
            if let Some(status) = ended {
                panic!("stackctl dev ended ({status}) before `{text}`:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "`{text}` never appeared in stackctl dev's stderr:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends the signal `name` (`INT`, `TERM`) to dev.
    #[track_caller]
    pub fn signal(&self, name: &str) {
        let pid = self.child.lock().unwrap().id();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn running(&mut self) -> bool {
        self.ended().is_none()
    }

    /// Waits (at most 60 s) for the exit code.
    #[track_caller]
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.ended() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "dev still running:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT (as Ctrl-C would) and waits for the exit code.
    #[track_caller]
    pub fn interrupt(&mut self) -> i32 {
        self.signal("INT");
        self.exit_code()
    }
}
