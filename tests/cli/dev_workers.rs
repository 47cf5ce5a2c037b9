//! `stackctl dev`'s workers, from the handler's own record: one request at a time per worker, at most
//! `--workers` at once (across a reload too), every worker used; a request in flight during a reload
//! finishes on the old code while the next one gets the new. Requests are held by the fixture's `track`
//! mode until the test releases them, so every state is reached and seen without a timed wait.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::dev::{fixture_project, get};
use crate::support::*;

/// What dev prints when a request finds every worker busy and waits for one.
const BUSY: &str = "every worker is busy";

/// One line of the handler's record: `enter` or `exit`, the worker's PID, the request's id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    what: String,
    pid: u32,
    id: String,
}

/// The fixture's record of requests and their release files, in a directory of the test's.
struct Tracker {
    dir: tempfile::TempDir,
}

impl Tracker {
    fn new() -> Tracker {
        Tracker {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn record_path(&self) -> PathBuf {
        self.dir.path().join("record")
    }

    fn release_path(&self, id: &str) -> PathBuf {
        self.dir.path().join(format!("release-{id}"))
    }

    /// The URL of a request that the handler records and holds until `release(id)`.
    fn url(&self, dev: &Dev, id: &str) -> String {
        format!(
            "{}/?mode=track&id={id}&record={}&release={}",
            dev.base,
            self.record_path().display(),
            self.release_path(id).display()
        )
    }

    fn release(&self, id: &str) {
        std::fs::write(self.release_path(id), "go").unwrap();
    }

    /// Sends request `id` (held until released) and returns its answer's JSON when it comes.
    fn send(&self, dev: &Dev, id: &str) -> tokio::task::JoinHandle<Value> {
        let url = self.url(dev, id);
        tokio::spawn(async move {
            let answer = get(&url).await;
            assert_eq!(answer.status, 200, "{}", answer.text());
            answer.json()
        })
    }

    fn events(&self) -> Vec<Event> {
        std::fs::read_to_string(self.record_path())
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                assert_eq!(parts.len(), 3, "a torn line in the record: {line:?}");
                Event {
                    what: parts[0].to_string(),
                    pid: parts[1].parse().unwrap(),
                    id: parts[2].to_string(),
                }
            })
            .collect()
    }

    /// The request ids that have entered the handler, in order.
    fn entered(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|e| e.what == "enter")
            .map(|e| e.id)
            .collect()
    }

    /// The worker that ran request `id`.
    fn pid_of(&self, id: &str) -> u32 {
        self.events()
            .into_iter()
            .find(|e| e.id == id)
            .unwrap_or_else(|| panic!("request {id} never entered"))
            .pid
    }

    /// Waits until `done` holds for the record and dev's stderr (a deadline only against a hang).
    fn wait(&self, dev: &Dev, what: &str, done: impl Fn(&[Event], &str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (events, log) = (self.events(), dev.stderr());
            if done(&events, &log) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}: {events:#?}\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Replays the record: the most requests ever in flight at once, in all and in any one worker.
    fn most_in_flight(&self) -> (usize, usize) {
        let mut per_worker: BTreeMap<u32, usize> = BTreeMap::new();
        let (mut total, mut most_total, mut most_one) = (0usize, 0usize, 0usize);
        for event in self.events() {
            let count = per_worker.entry(event.pid).or_default();
            if event.what == "enter" {
                *count += 1;
                total += 1;
            } else {
                *count -= 1;
                total -= 1;
            }
            most_one = most_one.max(*count);
            most_total = most_total.max(total);
        }
        (most_total, most_one)
    }
}

fn entered_count(events: &[Event]) -> usize {
    events.iter().filter(|e| e.what == "enter").count()
}

/// The fixture project with a function timeout far above how long the test holds a request.
fn project(emulator: &Emulator) -> Project {
    let project = fixture_project(emulator);
    project.edit("stack.toml", "timeout_secs = 10", "timeout_secs = 600");
    project.stackctl(&["up"]).ok();
    project
}

/// With every worker held, one more request waits (dev says so) instead of running beside them or on a
/// busy worker; it then runs on the one worker a release frees. The record never shows two requests in one
/// worker, nor more than --workers at once, and shows --workers reached.
#[tokio::test(flavor = "multi_thread")]
async fn one_request_per_worker_at_most_workers_at_once_and_all_of_them_used() {
    let emulator = Emulator::start();
    let project = project(&emulator);
    let dev = Dev::start(&project, &["--workers", "4"]);
    let tracker = Tracker::new();

    let ids: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    let calls: Vec<_> = ids.iter().map(|id| tracker.send(&dev, id)).collect();
    // Four run (held), the fifth waits: dev says so. Over the limit, the fifth would enter instead.
    tracker.wait(
        &dev,
        "four requests running and one waiting",
        |events, log| {
            entered_count(events) > 4 || (entered_count(events) == 4 && log.contains(BUSY))
        },
    );
    let first = tracker.entered();
    assert_eq!(first.len(), 4, "{:#?}", tracker.events());
    let workers: BTreeSet<u32> = first.iter().map(|id| tracker.pid_of(id)).collect();
    assert_eq!(workers.len(), 4, "four requests, four workers: {workers:?}");

    // Releasing one frees exactly one worker: the waiting request runs there, not beside the others.
    tracker.release(&first[0]);
    tracker.wait(&dev, "the fifth request running", |events, _| {
        entered_count(events) == 5
    });
    let fifth = tracker.entered()[4].clone();
    assert_eq!(tracker.pid_of(&fifth), tracker.pid_of(&first[0]));

    for id in &ids {
        tracker.release(id);
    }
    let mut answered = BTreeSet::new();
    for call in calls {
        answered.insert(call.await.unwrap()["id"].as_str().unwrap().to_string());
    }
    assert_eq!(answered, ids.iter().cloned().collect());
    assert_eq!(
        tracker.most_in_flight(),
        (4, 1),
        "(most at once, most in one worker) over the record: {:#?}",
        tracker.events()
    );
}

/// A request held on the old code while the handler is edited and dev reloads finishes on the old code;
/// the requests after the reload get the new code. --workers still counts the old code's requests in
/// flight: with both workers held on the old code, a request after the reload waits for one of them.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_in_flight_during_a_reload_finishes_on_the_old_code_and_the_next_gets_the_new() {
    let emulator = Emulator::start();
    let project = project(&emulator);
    let dev = Dev::start(&project, &["--workers", "2"]);
    let tracker = Tracker::new();

    let old = [tracker.send(&dev, "old-a"), tracker.send(&dev, "old-b")];
    tracker.wait(&dev, "both workers running", |events, _| {
        entered_count(events) == 2
    });
    project.edit(
        "lambda/src/handler.ts",
        "const CODE = \"first build\";",
        "const CODE = \"second build\";",
    );
    dev.wait_for_log("dev: reloaded");

    // Both old requests still hold the two workers' places: the new one waits (dev says so).
    let busy_before = dev.stderr().matches(BUSY).count();
    let new = tracker.send(&dev, "new");
    tracker.wait(
        &dev,
        "the request after the reload waiting",
        |events, log| entered_count(events) > 2 || log.matches(BUSY).count() > busy_before,
    );
    assert_eq!(
        tracker.entered().into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from(["old-a".to_string(), "old-b".to_string()]),
        "a request ran beside the --workers 2 held on the old code: {:#?}",
        tracker.events()
    );
    tracker.release("old-a");
    tracker.wait(&dev, "the request after the reload running", |events, _| {
        entered_count(events) == 3
    });
    let old_workers = [tracker.pid_of("old-a"), tracker.pid_of("old-b")];
    assert!(
        !old_workers.contains(&tracker.pid_of("new")),
        "the new code ran in an old worker: {:#?}",
        tracker.events()
    );
    // old-b is still in flight on the old code while "new" runs on the new.
    tracker.release("new");
    let new = new.await.unwrap();
    assert_eq!(new["code"], "second build", "{new}");
    tracker.release("old-b");
    for (call, id) in old.into_iter().zip(["old-a", "old-b"]) {
        let answer = call.await.unwrap();
        assert_eq!(answer["id"], id);
        assert_eq!(answer["code"], "first build", "{answer}");
    }
    tracker.release("after");
    let after = get(&tracker.url(&dev, "after")).await.json();
    assert_eq!(after["code"], "second build", "{after}");
    assert_eq!(tracker.most_in_flight(), (2, 1), "{:#?}", tracker.events());
}
