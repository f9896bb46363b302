//! A small `text/event-stream` reader for the tests: it reads the answer's body chunk by chunk
//! and splits it into frames the way the WHATWG EventSource parser reads lines (`field: value`,
//! one optional space after the colon, `:` comments, a blank line ending each frame). Unlike a
//! browser it hands over comments and `retry:` lines too, so tests can check heartbeats and the
//! reconnection hint.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// How long any frame may take to arrive before a test fails.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);

/// One frame of an event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Event(SseEvent),
    /// `retry: <ms>`
    Retry(u64),
    /// `: <text>`
    Comment(String),
}

/// One event: `id`, `event` and `data` as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn id(&self) -> &str {
        self.id.as_deref().expect("an event with an id")
    }

    pub fn name(&self) -> &str {
        self.event.as_deref().expect("an event with a name")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("JSON data")
    }

    /// The id as a job's `seq`.
    pub fn seq(&self) -> u64 {
        self.id().parse().expect("a numeric id")
    }
}

/// An open event stream.
pub struct EventStream {
    pub headers: HeaderMap,
    response: Response,
    buffer: Vec<u8>,
    ended: bool,
}

impl EventStream {
    /// Takes over an answer, checking it is a `200` event stream.
    pub fn new(response: Response) -> Self {
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "an event stream answers 200"
        );
        Self {
            headers: response.headers().clone(),
            response,
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// A header of the answer, as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The next frame; `None` once the server ended the stream. Fails the test after
    /// [`FRAME_TIMEOUT`] without one.
    pub async fn next_frame(&mut self) -> Option<Frame> {
        tokio::time::timeout(FRAME_TIMEOUT, self.read_frame())
            .await
            .expect("a frame (or the end of the stream) in time")
    }

    /// The next event, skipping comments and `retry:`; `None` once the stream ended.
    pub async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            match self.next_frame().await? {
                Frame::Event(event) => return Some(event),
                Frame::Retry(_) | Frame::Comment(_) => {}
            }
        }
    }

    /// `n` events, failing the test if the stream ends first.
    pub async fn events(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::with_capacity(n);
        for i in 0..n {
            let event = self.next_event().await;
            events.push(event.unwrap_or_else(|| panic!("the stream ended after {i} events")));
        }
        events
    }

    /// Every event until the server ends the stream.
    pub async fn events_to_end(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event().await {
            events.push(event);
        }
        events
    }

    /// Checks no event arrives within `wait` (comments may).
    pub async fn expect_no_event_for(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.read_frame()).await {
                Err(_) => return,
                Ok(Some(Frame::Event(event))) => panic!("an unexpected event: {event:?}"),
                Ok(None) => panic!("the stream ended"),
                Ok(Some(_)) => {}
            }
        }
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("UTF-8 frames");
                if let Some(frame) = parse_block(&block) {
                    return Some(frame);
                }
                continue;
            }
            if self.ended {
                assert!(
                    self.buffer.iter().all(u8::is_ascii_whitespace),
                    "the stream ended mid-frame: {:?}",
                    String::from_utf8_lossy(&self.buffer)
                );
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.buffer.extend_from_slice(&bytes),
                // A stream cut by the server (shutdown) ends like one it finished.
                Ok(None) | Err(_) => self.ended = true,
            }
        }
    }
}

/// Reads one frame's lines.
fn parse_block(block: &str) -> Option<Frame> {
    let mut id = None;
    let mut event = None;
    let mut data: Option<String> = None;
    let mut retry = None;
    let mut comment = None;
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(text) = line.strip_prefix(':') {
            comment = Some(text.trim_start().to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => id = Some(value.to_owned()),
            "event" => event = Some(value.to_owned()),
            "data" => {
                let data = data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "retry" => retry = Some(value.parse().expect("retry: milliseconds")),
            other => panic!("an unknown field {other:?} in {block:?}"),
        }
    }
    match (data, retry, comment) {
        (Some(data), _, _) => Some(Frame::Event(SseEvent { id, event, data })),
        (None, Some(ms), _) => Some(Frame::Retry(ms)),
        (None, None, Some(text)) => Some(Frame::Comment(text)),
        (None, None, None) => None,
    }
}
