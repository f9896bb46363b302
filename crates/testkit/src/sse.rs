//! A Server-Sent Events client for the tests and the load tool: a stream reader over a
//! `reqwest` answer, on Herald's own incremental parser ([`herald_core::sse`], re-exported).
//!
//! Written by hand rather than on an EventSource crate because the tests must see what such
//! crates hide: comment lines (heartbeats), the `retry:` field and the exact end of the stream.
//! [`SseStream`] turns the parser's frames into owned [`Item`]s and bounds every read by a
//! timeout.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

pub use herald_core::sse::{Frame, Parser};

/// A frame as an owned [`Item`]; an ignored line as `Err`.
pub fn item(frame: Frame<'_>) -> Result<Item, String> {
    match frame {
        Frame::Event { id, event, data } => Ok(Item::Event(Event {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
        })),
        Frame::Comment(text) => Ok(Item::Comment(text.to_owned())),
        Frame::Retry(millis) => Ok(Item::Retry(millis)),
        Frame::Ignored(line) => Err(line.to_owned()),
    }
}

/// One dispatched event, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `id:` field of this event's block, if it had one.
    pub id: Option<String>,
    /// The `event:` field (`message` when absent, as in EventSource).
    pub event: String,
    /// The `data:` lines joined by `\n`.
    pub data: String,
}

impl Event {
    /// The event id, which every Herald event carries.
    ///
    /// # Panics
    /// When the event has no id.
    pub fn id(&self) -> &str {
        self.id
            .as_deref()
            .unwrap_or_else(|| panic!("event without an id: {self:?}"))
    }

    /// The event's type.
    pub fn name(&self) -> &str {
        &self.event
    }

    /// The event id as a job's `seq`.
    ///
    /// # Panics
    /// When the event has no id or it is not a number.
    pub fn seq(&self) -> u64 {
        self.id
            .as_deref()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("event without a numeric id: {self:?}"))
    }

    /// The data as JSON.
    ///
    /// # Panics
    /// When it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {self:?}"))
    }
}

/// What a stream yields, in order of arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Event(Event),
    /// A comment line, the text after the colon: heartbeats.
    Comment(String),
    /// A `retry:` hint, in milliseconds.
    Retry(u64),
}

/// How long a read waits by default before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A client for long-lived streams: a connect timeout but no total one (each read is bounded
/// by the caller instead).
///
/// # Panics
/// When the client cannot be built.
pub fn stream_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

/// `GET url` with `Accept: text/event-stream` and, when given, `Last-Event-ID`; the raw answer,
/// whatever its status.
///
/// # Panics
/// When no answer head arrives within 30 s, or the request fails.
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

/// A header's value as text (empty when missing).
pub fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// What one bounded read found.
enum Read {
    Item(Item),
    End,
    /// Nothing within the time allowed.
    Quiet,
}

/// An open event stream. Every read waits at most its patience ([`PATIENCE`] unless set with
/// [`SseStream::patience`]) and fails the test after that.
pub struct SseStream {
    url: String,
    response: reqwest::Response,
    parser: Parser,
    /// Items parsed but not yet handed out.
    ready: VecDeque<Item>,
    patience: Duration,
    /// Whether a connection the server cuts counts as the end of the stream, as one that
    /// ends cleanly does.
    cut_is_end: bool,
    ended: bool,
}

impl SseStream {
    /// Opens `url` and checks that it answers `200` with `text/event-stream`.
    ///
    /// # Panics
    /// On any other answer, with its status and body.
    pub async fn open(url: &str, last_event_id: Option<&str>) -> Self {
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
        Self::new(response)
    }

    /// Reads the stream of an answer.
    ///
    /// # Panics
    /// When the answer is not a `200`.
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "an event stream answers 200"
        );
        Self {
            url: response.url().to_string(),
            response,
            parser: Parser::new(),
            ready: VecDeque::new(),
            patience: PATIENCE,
            cut_is_end: false,
            ended: false,
        }
    }

    /// This stream, each read waiting at most `patience`.
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// This stream, ending (rather than failing the test) when the server cuts the
    /// connection: a server shutting down may.
    pub fn cut_is_end(mut self) -> Self {
        self.cut_is_end = true;
        self
    }

    /// The answer's headers.
    pub fn headers(&self) -> &reqwest::header::HeaderMap {
        self.response.headers()
    }

    /// A header of the answer, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The next item, or `None` once the server has ended the stream.
    ///
    /// # Panics
    /// When nothing arrives within the stream's patience.
    pub async fn next(&mut self) -> Option<Item> {
        self.next_within(self.patience).await
    }

    /// The next item, or `None` once the server has ended the stream.
    ///
    /// # Panics
    /// When nothing arrives within `within`, or the connection breaks instead of ending.
    pub async fn next_within(&mut self, within: Duration) -> Option<Item> {
        match self.read(within).await {
            Read::Item(item) => Some(item),
            Read::End => None,
            Read::Quiet => panic!("{}: nothing arrived within {within:?}", self.url),
        }
    }

    /// The next event, skipping comments and `retry:` hints; `None` at the end of the stream.
    ///
    /// # Panics
    /// When no event arrives within the stream's patience.
    pub async fn next_event(&mut self) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + self.patience;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await? {
                Item::Event(event) => return Some(event),
                Item::Comment(_) | Item::Retry(_) => {}
            }
        }
    }

    /// `n` events.
    ///
    /// # Panics
    /// When the stream ends first, or an event takes longer than the stream's patience.
    pub async fn events(&mut self, n: usize) -> Vec<Event> {
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let event = self.next_event().await;
            events.push(event.unwrap_or_else(|| panic!("{}: it ended after {i} events", self.url)));
        }
        events
    }

    /// Every event until the server ends the stream, each within the stream's patience.
    pub async fn events_to_end(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await {
            events.push(event);
        }
        events
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

    /// Asserts that the server ends the stream within `within` without sending another event.
    pub async fn expect_end_within(&mut self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                None => return,
                Some(Item::Event(event)) => {
                    panic!(
                        "{}: expected the end of the stream, got {event:?}",
                        self.url
                    )
                }
                Some(_) => {}
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
            match chunk {
                Ok(Some(bytes)) => self.parse(&bytes),
                Ok(None) => self.end(),
                Err(_) if self.cut_is_end => self.end(),
                Err(e) => panic!("{}: the stream broke: {e}", self.url),
            }
        }
    }

    fn end(&mut self) {
        // Herald ends a stream only between events.
        assert!(
            !self.parser.is_mid_event(),
            "{}: the stream ended mid-event",
            self.url
        );
        self.ended = true;
    }

    fn parse(&mut self, bytes: &[u8]) {
        let (url, ready) = (&self.url, &mut self.ready);
        self.parser.feed(bytes, |frame| match item(frame) {
            Ok(item) => ready.push_back(item),
            // Herald sends only the fields it documents.
            Err(line) => panic!("{url}: a line EventSource ignores: {line:?}"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: Option<&str>, event: &str, data: &str) -> Result<Item, String> {
        Ok(Item::Event(Event {
            id: id.map(str::to_owned),
            event: event.to_owned(),
            data: data.to_owned(),
        }))
    }

    /// Feeds `chunks` one after the other to one parser.
    fn parse(chunks: &[&[u8]]) -> Vec<Result<Item, String>> {
        let mut parser = Parser::new();
        let mut items = Vec::new();
        for chunk in chunks {
            parser.feed(chunk, |frame| items.push(item(frame)));
        }
        items
    }

    #[test]
    fn an_event_has_its_id_type_and_data_lines_joined() {
        let body = b"retry: 3000\n\nid: 4\nevent: job.progress\ndata: {\"a\":\ndata: 1}\n\n";
        assert_eq!(
            parse(&[body]),
            [
                Ok(Item::Retry(3000)),
                event(Some("4"), "job.progress", "{\"a\":\n1}")
            ]
        );
    }

    #[test]
    fn a_block_without_data_dispatches_nothing_and_an_event_without_a_type_is_a_message() {
        let body = b"event: lost\nid: 1\n\ndata\n\ndata:x\n\n";
        assert_eq!(
            parse(&[body]),
            [event(None, "message", ""), event(None, "message", "x")]
        );
    }

    #[test]
    fn every_line_end_counts_and_a_chunk_may_cut_anywhere() {
        let body: &[u8] =
            b"\xEF\xBB\xBFid: 1\r\ndata: a\rdata: b\n\r\n: ping\r\rid: 2\ndata: c\r\n\r\n";
        let whole = parse(&[body]);
        assert_eq!(
            whole,
            [
                event(Some("1"), "message", "a\nb"),
                Ok(Item::Comment("ping".to_owned())),
                event(Some("2"), "message", "c"),
            ]
        );
        for cut in 0..body.len() {
            assert_eq!(parse(&[&body[..cut], &body[cut..]]), whole, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(parse(&bytes), whole, "one byte at a time");
    }

    #[test]
    fn only_one_leading_byte_order_mark_is_dropped() {
        let bom = "\u{feff}";
        let body = format!("{bom}data: a\n\n{bom}data: b\n\n");
        assert_eq!(
            parse(&[body.as_bytes()]),
            [event(None, "message", "a"), Err(format!("{bom}data: b"))]
        );
    }

    #[test]
    fn one_leading_space_is_stripped_and_a_field_without_a_colon_has_an_empty_value() {
        let body = b"data:  two spaces\ndata\ndata:\n:comment\n\n";
        assert_eq!(
            parse(&[body]),
            [
                Ok(Item::Comment("comment".to_owned())),
                event(None, "message", " two spaces\n\n"),
            ]
        );
    }

    #[test]
    fn lines_eventsource_ignores_are_reported_and_change_nothing() {
        let body = b"retry: soon\nfoo: bar\nid: a\0b\nretry\ndata: x\n\n";
        assert_eq!(
            parse(&[body]),
            [
                Err("retry: soon".to_owned()),
                Err("foo: bar".to_owned()),
                Err("id: a\0b".to_owned()),
                Err("retry".to_owned()),
                event(None, "message", "x"),
            ]
        );
    }

    #[test]
    fn the_last_event_id_outlives_its_block_and_a_stream_can_stop_mid_event() {
        let mut parser = Parser::new();
        let mut items = Vec::new();
        parser.feed(b"id: 7\ndata: a\n\ndata: b\n\n", |f| items.push(item(f)));
        assert_eq!(items[1], event(None, "message", "b"));
        assert_eq!(parser.last_event_id(), "7");
        assert!(!parser.is_mid_event());
        parser.feed(b"data: c\n", |_| panic!("nothing is complete"));
        assert!(parser.is_mid_event());
        parser.feed(b"\n", |f| assert_eq!(item(f), event(None, "message", "c")));
        parser.feed(b"da", |_| panic!("nothing is complete"));
        assert!(parser.is_mid_event());
    }
}
