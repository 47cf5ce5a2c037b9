//! `stackctl logs`: the function's log events from CloudWatch Logs (FilterLogEvents, every page), printed once,
//! or followed (`--follow`: a poll about once a second, each event printed exactly once). The events are a
//! stream, the one kind of result the printer does not render whole: each page goes to stdout as it is read
//! (printer::stream), so `--follow` shows events as they come and an interrupt loses nothing already read.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use aws_sdk_cloudwatchlogs::error::SdkError;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
    FilterLogEventsError, FilterLogEventsOutput,
};
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;

use crate::aws::{classify_sdk, Clients, ErrorClass};
use crate::backoff::Backoff;
use crate::cli::Output;
use crate::config::Stack;
use crate::engine;
use crate::outcome::ExitStatus;
use crate::plan::Kind;
use crate::progress::Progress;
use crate::resources::function::Function;
use crate::resources::{log_group, Purpose, Use};
use crate::since::Since;

/// How often `--follow` asks for new events (what `sam logs --tail` does).
const POLL_EVERY: Duration = Duration::from_secs(1);
/// Each poll starts this long before the newest event seen, so an event CloudWatch ingests late (with an older
/// timestamp: another execution environment, a buffered flush) is still found; the event ids of the same
/// window are remembered, so nothing prints twice.
const OVERLAP_MS: i64 = 60_000;
/// The most event ids remembered (a very busy function): beyond it the oldest timestamps are forgotten and the
/// next poll starts after them, so memory stays bounded and still nothing prints twice.
const MAX_REMEMBERED: usize = 100_000;
/// Throttled (or unavailable) reads the SDK's own retries did not get through: the pause doubles from 0.5 s
/// up to 15 s; a one-shot read gives up after `ONCE_MAX_RETRIES` in a row (about a minute), `--follow` never.
const BACKOFF: Backoff =
    Backoff::exponential(Duration::from_millis(500), 2, Duration::from_secs(15));
const ONCE_MAX_RETRIES: u32 = 8;

/// RFC 3339 in UTC with milliseconds, e.g. `2026-12-02T10:00:00.123Z`.
pub fn format_time(ms: i64) -> String {
    // Clamped to what four-digit years can show; CloudWatch's timestamps are far inside it.
    crate::dates::rfc3339_millis_since_epoch(ms.clamp(0, 253_402_300_799_999))
}

/// The short form of a log stream name: Lambda's `2026/12/02/[$LATEST]abcdef0123…` becomes `abcdef01` (the
/// part after `]`, else after the last `/`, at most 8 characters).
pub fn short_stream(name: &str) -> &str {
    let tail = match name.rsplit_once(']') {
        Some((_, tail)) => tail,
        None => name.rsplit('/').next().unwrap_or(name),
    };
    let tail = if tail.is_empty() { name } else { tail };
    match tail.char_indices().nth(8) {
        Some((end, _)) => &tail[..end],
        None => tail,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One log event as printed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    timestamp_ms: i64,
    stream: String,
    event_id: String,
    /// Without its trailing newline.
    message: String,
}

impl Event {
    fn from_sdk(event: &FilteredLogEvent) -> Event {
        let timestamp_ms = event.timestamp().unwrap_or_default();
        let stream = event.log_stream_name().unwrap_or_default().to_string();
        let message = event
            .message()
            .unwrap_or_default()
            .trim_end_matches(['\n', '\r'])
            .to_string();
        // CloudWatch always sends an id; without one, the event itself is its identity.
        let event_id = match event.event_id() {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => format!("{stream}\u{0}{timestamp_ms}\u{0}{message}"),
        };
        Event {
            timestamp_ms,
            stream,
            event_id,
            message,
        }
    }

    /// `<time> <stream> <message>`. Lambda's Node.js runtime turns the newlines inside one message into `\r`
    /// (so a stack trace stays one event); they are shown as line breaks, never as carriage returns that
    /// would overwrite the line on a terminal.
    /// Any other control character (ESC, BEL, ...) is shown escaped (`\u{1b}`), never sent to the terminal.
    fn text(&self) -> String {
        let message = self.message.replace("\r\n", "\n").replace('\r', "\n");
        let line = format!(
            "{} {} {message}",
            format_time(self.timestamp_ms),
            short_stream(&self.stream)
        );
        crate::escape::terminal(&line).into_owned()
    }

    /// One JSON Lines object; the message exactly as CloudWatch has it, without its trailing newline.
    fn json(&self) -> String {
        serde_json::json!({
            "timestamp": format_time(self.timestamp_ms),
            "timestamp_ms": self.timestamp_ms,
            "stream": self.stream,
            "event_id": self.event_id,
            "message": self.message,
        })
        .to_string()
    }
}

/// The event ids printed at or after `floor`, so that an event read again (the next poll's overlap, a page
/// repeated) is not printed again. `floor` is where the next poll starts: everything printed from there on is
/// remembered, so the dedup is exact.
#[derive(Debug)]
struct Seen {
    by_time: BTreeMap<i64, HashSet<String>>,
    len: usize,
    floor: i64,
    max: usize,
}

impl Seen {
    fn new(floor: i64, max: usize) -> Seen {
        Seen {
            by_time: BTreeMap::new(),
            len: 0,
            floor,
            max,
        }
    }

    /// Remembers the event; false when it was printed already.
    fn insert(&mut self, event: &Event) -> bool {
        let fresh = self
            .by_time
            .entry(event.timestamp_ms)
            .or_default()
            .insert(event.event_id.clone());
        self.len += usize::from(fresh);
        fresh
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets what lies more than the overlap before the newest event, and the oldest timestamps beyond
    /// `max` ids; the next poll starts at the new floor.
    fn settle(&mut self) {
        if let Some((&newest, _)) = self.by_time.last_key_value() {
            self.forget_before(newest.saturating_sub(OVERLAP_MS));
        }
        self.cap();
    }

    fn forget_before(&mut self, timestamp_ms: i64) {
        if timestamp_ms <= self.floor {
            return;
        }
        let kept = self.by_time.split_off(&timestamp_ms);
        self.len -= self.by_time.values().map(HashSet::len).sum::<usize>();
        self.by_time = kept;
        self.floor = timestamp_ms;
    }

    fn cap(&mut self) {
        while self.len > self.max {
            let Some((timestamp_ms, ids)) = self.by_time.pop_first() else {
                break;
            };
            self.len -= ids.len();
            self.floor = self.floor.max(timestamp_ms.saturating_add(1));
        }
    }
}

fn print_events(events: &[Event], output: Output) -> Result<()> {
    // A closed stdout is `printer::StdoutClosed`, which `run` turns into a quiet end.
    crate::printer::stream(events.iter().map(|event| match output {
        // `--output env` never reaches logs (main refuses it for every command but `outputs`).
        Output::Text | Output::Env => event.text(),
        Output::Json => event.json(),
    }))
    .context("writing log events to stdout")
}

/// What one FilterLogEvents call gave.
enum Read {
    Page(FilterLogEventsOutput),
    /// The log group does not exist (yet).
    Missing,
    /// Throttled or unavailable even after the SDK's retries: worth another try later.
    Transient(anyhow::Error, &'static str),
}

fn classify(err: SdkError<FilterLogEventsError>, group: &str) -> Result<Read> {
    // The one classifier: a dispatch failure is transient only when the network failed (credentials that
    // could not be loaded, an expired SSO session, never come back by waiting).
    let transient = match (classify_sdk(&err), &err) {
        (ErrorClass::NotFound, SdkError::ServiceError(service))
            if service.err().is_resource_not_found_exception() =>
        {
            return Ok(Read::Missing);
        }
        (ErrorClass::Throttling, _) => Some("throttled"),
        (ErrorClass::Transient, SdkError::ServiceError(_)) => Some("unavailable"),
        (ErrorClass::Transient, _) => Some("unreachable"),
        _ => None,
    };
    let err = anyhow::Error::new(err).context(format!(
        "reading log group `{group}` (CloudWatch Logs FilterLogEvents)"
    ));
    Ok(match transient {
        Some(kind) => Read::Transient(err, kind),
        None => return Err(err),
    })
}

/// How a poll ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Read,
    Missing,
}

/// The reading side of `stackctl logs`: one log group, one filter, the ids printed so far.
struct Tail<'a> {
    client: &'a aws_sdk_cloudwatchlogs::Client,
    group: String,
    filter: Option<String>,
    output: Output,
    progress: &'a Progress,
    seen: Seen,
    /// The one note about throttling has been printed.
    noted_transient: bool,
}

impl Tail<'_> {
    async fn read_page(&self, start_ms: i64, token: Option<&str>) -> Result<Read> {
        let mut request = self
            .client
            .filter_log_events()
            .log_group_name(&self.group)
            .start_time(start_ms)
            .set_next_token(token.map(str::to_string));
        if let Some(pattern) = &self.filter {
            request = request.filter_pattern(pattern);
        }
        match request.send().await {
            Ok(page) => Ok(Read::Page(page)),
            Err(err) => classify(err, &self.group),
        }
    }

    /// One full read from the floor: every page (nextToken), each page oldest first, each event printed once.
    /// A throttled page is asked for again (same token) after a pause; `max_retries` in a row end it.
    async fn poll(&mut self, max_retries: Option<u32>) -> Result<Outcome> {
        let start_ms = self.seen.floor;
        // With nothing remembered there is nothing a later page could repeat from an earlier poll, so a long
        // first read (--since 2d) may forget as it goes; later polls forget only once they are complete.
        let forget_as_we_go = self.seen.is_empty();
        let mut token: Option<String> = None;
        let mut retries = 0u32;
        loop {
            let page = match self.read_page(start_ms, token.as_deref()).await? {
                Read::Page(page) => page,
                Read::Missing => return Ok(Outcome::Missing),
                Read::Transient(err, kind) => {
                    if max_retries.is_some_and(|max| retries >= max) {
                        return Err(err.context(format!("still {kind} after {retries} retries")));
                    }
                    let pause = BACKOFF.base(retries + 1);
                    retries += 1;
                    if !self.noted_transient {
                        self.noted_transient = true;
                        self.progress.note(&format!(
                            "FilterLogEvents is {kind}: asking again in {:.1}s, and backing off while it lasts",
                            pause.as_secs_f64()
                        ));
                    }
                    tracing::debug!("{err:#}; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                    continue;
                }
            };
            retries = 0;
            let mut events: Vec<Event> = page.events().iter().map(Event::from_sdk).collect();
            events.sort_by_key(|e| e.timestamp_ms);
            events.retain(|e| self.seen.insert(e));
            print_events(&events, self.output)?;
            if forget_as_we_go {
                self.seen.settle();
            } else {
                self.seen.cap();
            }
            match page.next_token() {
                // The same token again would be an endless loop: the read is complete.
                Some(next) if token.as_deref() != Some(next) => token = Some(next.to_string()),
                _ => break,
            }
        }
        self.seen.settle();
        Ok(Outcome::Read)
    }

    async fn once(&mut self) -> Result<()> {
        if self.poll(Some(ONCE_MAX_RETRIES)).await? == Outcome::Missing {
            self.progress.note(&missing_note(&self.group));
        }
        Ok(())
    }

    /// Polls about once a second until interrupted (the caller's `select!` ends it).
    async fn follow(&mut self) -> Result<()> {
        let mut noted_missing = false;
        loop {
            let started = tokio::time::Instant::now();
            if self.poll(None).await? == Outcome::Missing && !noted_missing {
                noted_missing = true;
                self.progress.note(&format!(
                    "{}; waiting for it (Ctrl-C to stop)",
                    missing_note(&self.group)
                ));
            }
            tokio::time::sleep_until(started + POLL_EVERY).await;
        }
    }
}

fn missing_note(group: &str) -> String {
    format!(
        "log group `{group}` does not exist yet: Lambda creates it when the function first logs (after `stackctl up`, \
         try `stackctl smoke` or `stackctl invoke`)"
    )
}

/// The group the function writes to (`log_group::group_name`): the function read through the graph for
/// `logs` (its `LoggingConfig`; one GetFunctionConfiguration), the stack file's group when it does not exist.
async fn group(clients: &Clients, stack: &Stack, progress: &Progress) -> Result<String> {
    let function = engine::address_of(stack, Kind::Function)?;
    let task = progress.task("function");
    let reads = engine::read_some(
        clients,
        stack,
        Purpose::Use(Use::Logs),
        std::slice::from_ref(&function),
        &task,
    )
    .await?;
    Ok(log_group::group_name(
        &stack.chosen_function().log_group,
        reads.live_of::<Function>(&function),
    ))
}

/// `stackctl logs`'s flags.
pub struct Options {
    pub since: Since,
    pub filter: Option<String>,
    pub follow: bool,
}

/// Exit codes: 0 (also for a missing log group, with a note), 1 on an error, 130 on Ctrl-C / SIGTERM (the
/// normal end of `--follow`): no error line, every event read so far is on stdout.
pub async fn run(
    clients: &Clients,
    stack: &Stack,
    options: &Options,
    output: Output,
    progress: &Progress,
) -> Result<ExitStatus> {
    // Nothing is in flight that an interrupt should let finish: it just ends the command.
    crate::interrupt::quiet_first_interrupt();
    let start_ms = options.since.start_ms(now_ms());
    let mut tail = Tail {
        client: &clients.logs,
        group: group(clients, stack, progress).await?,
        filter: options.filter.clone().filter(|p| !p.is_empty()),
        output,
        progress,
        seen: Seen::new(start_ms, MAX_REMEMBERED),
        noted_transient: false,
    };
    let follow = options.follow;
    let work = async {
        if follow {
            tail.follow().await
        } else {
            tail.once().await
        }
    };
    // Events are flushed page by page before any await, so dropping the read mid-way loses nothing printed.
    let result = tokio::select! {
        result = work => result.map(|()| ExitStatus::Ok),
        () = crate::interrupt::interrupted() => Ok(ExitStatus::Interrupted),
    };
    let _ = io::stdout().flush();
    match result {
        Err(err) if crate::printer::is_closed(&err) => Ok(ExitStatus::Ok),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: i64, id: &str) -> Event {
        Event {
            timestamp_ms: ts,
            stream: "2026/12/02/[$LATEST]0123456789abcdef".into(),
            event_id: id.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn times_are_rfc_3339_utc_with_milliseconds() {
        assert_eq!(format_time(1_796_205_600_123), "2026-12-02T10:00:00.123Z");
        assert_eq!(format_time(-5), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            crate::cli::since::parse_since(&format_time(1_796_205_600_123)),
            Ok(Since::At(1_796_205_600_123))
        );
    }

    #[test]
    fn stream_ids_are_the_part_after_the_version() {
        assert_eq!(
            short_stream("2026/12/02/[$LATEST]abcdef0123456789"),
            "abcdef01"
        );
        assert_eq!(short_stream("2026/12/02/[7]abc"), "abc");
        assert_eq!(short_stream("some/other/streamname-long"), "streamna");
        assert_eq!(short_stream("x]"), "x]");
        assert_eq!(short_stream("ééééééééé"), "éééééééé");
    }

    #[test]
    fn text_and_json_lines() {
        let e = Event {
            timestamp_ms: 1_796_205_600_123,
            stream: "2026/12/02/[$LATEST]abcdef0123456789".into(),
            event_id: "3799".into(),
            message: "a\rb".into(),
        };
        assert_eq!(e.text(), "2026-12-02T10:00:00.123Z abcdef01 a\nb");
        let hostile = Event {
            message: "\x1b[2J\ttab\x07".into(),
            ..e.clone()
        };
        assert_eq!(
            hostile.text(),
            "2026-12-02T10:00:00.123Z abcdef01 \\u{1b}[2J\ttab\\u{7}"
        );
        let json: serde_json::Value = serde_json::from_str(&e.json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"timestamp": "2026-12-02T10:00:00.123Z", "timestamp_ms": 1_796_205_600_123i64,
                "stream": "2026/12/02/[$LATEST]abcdef0123456789", "event_id": "3799", "message": "a\rb"})
        );
        let sdk = FilteredLogEvent::builder()
            .timestamp(5)
            .message("hello\n")
            .log_stream_name("s")
            .event_id("1")
            .build();
        assert_eq!(Event::from_sdk(&sdk).message, "hello");
    }

    #[test]
    fn seen_prints_each_event_once_and_starts_the_next_poll_one_overlap_back() {
        assert_eq!(OVERLAP_MS, 60_000, "README: polls overlap by 60 s");
        let newest = 1_000_000;
        let mut seen = Seen::new(1_000, 100);
        assert!(seen.insert(&event(newest - OVERLAP_MS - 1, "a")));
        assert!(!seen.insert(&event(newest - OVERLAP_MS - 1, "a")));
        assert!(seen.insert(&event(newest - OVERLAP_MS - 1, "b")));
        assert!(seen.insert(&event(newest, "c")));
        seen.settle();
        assert_eq!(seen.floor, newest - OVERLAP_MS);
        assert_eq!(seen.len, 1);
        // Re-read from the floor: the remembered event is not new, a late one inside the window is.
        assert!(!seen.insert(&event(newest, "c")));
        assert!(seen.insert(&event(newest - 40_000, "late")));
        // Nothing seen yet: the floor stays at --since.
        let mut empty = Seen::new(7, 100);
        empty.settle();
        assert_eq!(empty.floor, 7);
    }

    #[test]
    fn seen_is_bounded_and_moves_the_floor_past_what_it_forgets() {
        let mut seen = Seen::new(0, 3);
        for (ts, id) in [(1, "a"), (1, "b"), (2, "c"), (3, "d")] {
            seen.insert(&event(ts, id));
        }
        seen.cap();
        assert_eq!((seen.len, seen.floor), (2, 2));
        assert!(!seen.insert(&event(2, "c")));
    }

    /// `--follow` asks about once a second (README), on tokio's paused clock: the cadence is counted in
    /// virtual time, so no machine is too slow or too fast for it.
    #[tokio::test(start_paused = true)]
    async fn follow_polls_once_a_second() {
        use aws_sdk_cloudwatchlogs::config::{BehaviorVersion, Credentials, Region};
        use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
        use aws_smithy_types::body::SdkBody;

        let empty = || {
            ReplayEvent::new(
                aws_smithy_runtime_api::http::Request::new(SdkBody::empty()),
                aws_smithy_runtime_api::http::Response::new(
                    200.try_into().unwrap(),
                    SdkBody::from(r#"{"events":[],"searchedLogStreams":[]}"#),
                ),
            )
        };
        let http = StaticReplayClient::new((0..20).map(|_| empty()).collect());
        let config = aws_sdk_cloudwatchlogs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .http_client(http.clone())
            .build();
        let client = aws_sdk_cloudwatchlogs::Client::from_conf(config);
        let progress = Progress::new(crate::progress::Mode::Quiet);
        let mut tail = Tail {
            client: &client,
            group: "/aws/lambda/api".into(),
            filter: None,
            output: Output::Text,
            progress: &progress,
            seen: Seen::new(0, MAX_REMEMBERED),
            noted_transient: false,
        };
        // Polls at 0, 1, 2, 3 and 4 s; the sixth would be at 5 s.
        let stopped = tokio::time::timeout(Duration::from_millis(4_500), tail.follow()).await;
        assert!(stopped.is_err(), "follow ended by itself: {stopped:?}");
        assert_eq!(http.actual_requests().count(), 5);
    }
}
