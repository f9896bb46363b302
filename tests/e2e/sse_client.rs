//! A small Server-Sent Events client for the tests: opens a stream (optionally resuming with
//! `Last-Event-ID`), parses it line by line as the WHATWG EventSource parser does, and hands
//! back events, comments (heartbeats) and `retry:` hints one at a time, each read bounded by a
//! timeout, and the end of the stream.
//!
//! Written by hand rather than on an EventSource crate because the tests must see what such
//! crates hide: comment lines (heartbeats), the `retry:` field and the exact end of the stream.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// A client for long-lived streams: a connect timeout but no total one (the shared
/// [`crate::support::client`] gives up on any response after 90 s). Each read is bounded by
/// the caller instead.
pub fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// `GET url` with `Accept: text/event-stream` and, when given, `Last-Event-ID`; the raw answer,
/// whatever its status.
pub async fn request(url: &str, last_event_id: Option<&str>) -> reqwest::Response {
    let mut request = stream_client()
        .get(url)
        .header("Accept", "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    tokio::time::timeout(Duration::from_secs(30), request.send())
        .await
        .unwrap_or_else(|_| panic!("no answer head from {url} within 30 s"))
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// One dispatched event.
#[derive(Debug, Clone)]
pub struct SseEvent {
    /// The `id:` field of this event's block, if it had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent, as in EventSource).
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl SseEvent {
    /// The event id as a job's seq.
    ///
    /// # Panics
    /// When the event has no id or it is not a number.
    pub fn seq(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("event without a numeric id: {self:?}"))
    }

    /// The event id, which every Herald event carries.
    pub fn id(&self) -> &str {
        self.id
            .as_deref()
            .unwrap_or_else(|| panic!("event without an id: {self:?}"))
    }

    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {self:?}"))
    }
}

/// What a stream yields, in order of arrival.
#[derive(Debug, Clone)]
pub enum Item {
    Event(SseEvent),
    /// A comment line (`: ...`), the text after the colon: heartbeats.
    Comment(String),
    /// A `retry:` hint, in milliseconds.
    Retry(u64),
}

/// What one bounded read found.
enum Read {
    Item(Item),
    End,
    /// Nothing within the time allowed.
    Quiet,
}

/// An open event stream.
pub struct SseStream {
    url: String,
    response: reqwest::Response,
    /// Bytes received but not yet split into lines.
    buffer: Vec<u8>,
    /// Items parsed but not yet handed out.
    ready: std::collections::VecDeque<Item>,
    /// The event block being read.
    block: Block,
    ended: bool,
}

#[derive(Default)]
struct Block {
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl SseStream {
    /// Opens `url` and checks that it answers `200` with `text/event-stream`.
    ///
    /// # Panics
    /// On any other answer, with its status and body.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> SseStream {
        let response = request(url, last_event_id).await;
        let status = response.status();
        if status != StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            panic!("GET {url} (Last-Event-ID {last_event_id:?}) answered {status}: {body}");
        }
        let content_type = header(&response, "content-type");
        assert!(
            content_type.starts_with("text/event-stream"),
            "GET {url} answered Content-Type {content_type:?}"
        );
        SseStream::from_response(url, response)
    }

    /// Reads the stream of an answer already checked by the caller.
    pub fn from_response(url: &str, response: reqwest::Response) -> SseStream {
        SseStream {
            url: url.to_owned(),
            response,
            buffer: Vec::new(),
            ready: Default::default(),
            block: Block::default(),
            ended: false,
        }
    }

    /// The answer's headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.response.headers()
    }

    /// The next item, or `None` once the server has ended the stream.
    ///
    /// # Panics
    /// When nothing arrives within `within`, or the connection breaks instead of ending.
    pub async fn next(&mut self, within: Duration) -> Option<Item> {
        match self.read(within).await {
            Read::Item(item) => Some(item),
            Read::End => None,
            Read::Quiet => panic!("{}: nothing arrived within {within:?}", self.url),
        }
    }

    /// Asserts that no event arrives for `quiet` (comments may), and the stream stays open.
    pub async fn expect_no_event_for(&mut self, quiet: Duration) {
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await {
                Read::Quiet => return,
                Read::End => panic!("{}: the stream ended", self.url),
                Read::Item(Item::Event(event)) => {
                    panic!("{}: expected no more events, got {event:?}", self.url)
                }
                Read::Item(_) => {}
            }
        }
    }

    async fn read(&mut self, within: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Read::Item(item);
            }
            if self.ended {
                return Read::End;
            }
            let Ok(chunk) = tokio::time::timeout_at(deadline, self.response.chunk()).await else {
                return Read::Quiet;
            };
            match chunk.unwrap_or_else(|e| panic!("{}: the stream broke: {e}", self.url)) {
                Some(bytes) => {
                    self.buffer.extend_from_slice(&bytes);
                    self.parse_lines();
                }
                // A block not closed by a blank line is dropped, as EventSource does.
                None => self.ended = true,
            }
        }
    }

    /// The next event, skipping comments and `retry:` hints; `None` at the end of the stream.
    pub async fn next_event(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Item::Event(event) => return Some(event),
                Item::Comment(_) | Item::Retry(_) => {}
            }
        }
    }

    /// Every event up to the end of the stream, each within `each` of the previous one.
    pub async fn events_to_end(&mut self, each: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event(each).await {
            events.push(event);
        }
        events
    }

    /// Asserts that the server ends the stream within `within` without sending another event.
    pub async fn expect_end(&mut self, within: Duration) {
        if let Some(event) = self.next_event(within).await {
            panic!(
                "{}: expected the end of the stream, got {event:?}",
                self.url
            );
        }
    }

    /// Splits the buffer into complete lines (`\n`, `\r\n` or `\r`) and feeds them to the
    /// block parser.
    fn parse_lines(&mut self) {
        loop {
            let Some(end) = self.buffer.iter().position(|&b| b == b'\n' || b == b'\r') else {
                return;
            };
            // A `\r` at the very end of the buffer may be the first half of `\r\n`: wait.
            if self.buffer[end] == b'\r' && end + 1 == self.buffer.len() {
                return;
            }
            let skip = if self.buffer[end] == b'\r' && self.buffer[end + 1] == b'\n' {
                2
            } else {
                1
            };
            let line: Vec<u8> = self.buffer.drain(..end + skip).take(end).collect();
            let line = String::from_utf8(line)
                .unwrap_or_else(|e| panic!("{}: a line is not UTF-8: {e}", self.url));
            self.parse_line(&line);
        }
    }

    fn parse_line(&mut self, line: &str) {
        if line.is_empty() {
            let block = std::mem::take(&mut self.block);
            // A block without data dispatches nothing (EventSource's rule).
            if let Some(data) = block.data {
                self.ready.push_back(Item::Event(SseEvent {
                    id: block.id,
                    event: block.event.unwrap_or_else(|| "message".to_owned()),
                    data,
                }));
            }
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            self.ready
                .push_back(Item::Comment(comment.trim().to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "id" => self.block.id = Some(value.to_owned()),
            "event" => self.block.event = Some(value.to_owned()),
            "data" => match &mut self.block.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.block.data = Some(value.to_owned()),
            },
            "retry" => {
                let millis = value
                    .parse()
                    .unwrap_or_else(|_| panic!("{}: a bad retry line {line:?}", self.url));
                self.ready.push_back(Item::Retry(millis));
            }
            // Unknown fields are ignored, as EventSource does.
            _ => {}
        }
    }
}

/// A header's value as text (empty when missing).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts that `events` are one job's history without a gap: ids count up by one from the
/// first, each event's data is the job at that seq with the status its type names, and the
/// last is `terminal`.
pub fn assert_consecutive(events: &[SseEvent], terminal: &str) {
    assert!(!events.is_empty(), "no events");
    let first = events[0].seq();
    for (i, event) in events.iter().enumerate() {
        let job = event.json();
        assert_eq!(
            event.seq(),
            first + i as u64,
            "a gap or a duplicate at event {i}: {:#?}",
            summary(events)
        );
        assert_eq!(
            job["seq"],
            event.seq(),
            "data.seq differs from the id: {event:?}"
        );
        let status = event
            .event
            .strip_prefix("job.")
            .unwrap_or_else(|| panic!("an event type outside job.*: {event:?}"));
        if status == "progress" {
            assert_eq!(job["status"], "processing", "{event:?}");
        } else {
            assert_eq!(job["status"], status, "{event:?}");
        }
    }
    let last = events.last().expect("events");
    assert_eq!(last.event, terminal, "{:#?}", summary(events));
}

/// `(id, type)` of each event, for assertion messages.
pub fn summary(events: &[SseEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.id.clone().unwrap_or_default(), e.event.clone()))
        .collect()
}
