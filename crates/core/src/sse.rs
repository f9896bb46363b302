//! Reading Server-Sent Events: one incremental parser that follows the WHATWG EventSource
//! parsing rules, for every client of Herald's streams written in Rust (the command-line
//! client, the tests, the load tool).
//!
//! The [`Parser`] takes bytes as they arrive, in chunks cut anywhere, and hands each complete
//! piece to a callback as a borrowed [`Frame`]: its buffers are reused from event to event, so
//! a load tool following thousands of streams allocates nothing per event. Comment lines
//! (heartbeats), `retry:` hints and ignored lines are frames too: a test must see them.

/// One piece of an event stream, borrowed from the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An event, dispatched at the blank line that ends its block.
    Event {
        /// The `id:` field of this event's block, if it had one (EventSource's `lastEventId`
        /// also remembers earlier ones: [`Parser::last_event_id`]).
        id: Option<&'a str>,
        /// The `event:` field, `message` when absent.
        event: &'a str,
        /// The `data:` lines joined by `\n`.
        data: &'a str,
    },
    /// A comment line (`:` and what follows, one leading space stripped): heartbeats.
    Comment(&'a str),
    /// A `retry:` hint, in milliseconds.
    Retry(u64),
    /// A line EventSource ignores: an unknown field, a `retry:` that is not a number, an `id:`
    /// holding NUL.
    Ignored(&'a str),
}

/// The incremental parser: [`Parser::feed`] it bytes, it calls back with every frame they
/// complete.
#[derive(Debug, Default)]
pub struct Parser {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Whether the start of the stream (and a byte-order mark there) is behind us.
    started: bool,
    /// The last line ended with `\r`: a `\n` right after it belongs to the same line end.
    after_cr: bool,
    /// The data buffer of the block being read, each line followed by `\n`.
    data: String,
    /// The `event:` field of the block being read.
    event: String,
    /// The `id:` field of the block being read.
    id: Option<String>,
    last_event_id: String,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

impl Parser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads `bytes`, the next part of the stream, calling `each` with every frame it
    /// completes, in order.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(Frame<'_>)) {
        if !self.started {
            // The byte-order mark may itself arrive split: wait for its three bytes.
            if self.partial.len() + bytes.len() < BOM.len() && BOM.starts_with(&self.joined(bytes))
            {
                self.partial.extend_from_slice(bytes);
                return;
            }
            self.started = true;
            let mut head = std::mem::take(&mut self.partial);
            head.extend_from_slice(bytes);
            let body = head.strip_prefix(BOM).unwrap_or(&head);
            self.lines(body, &mut each);
            return;
        }
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        if !self.partial.is_empty() {
            let Some(end) = line_end(bytes) else {
                self.partial.extend_from_slice(bytes);
                return;
            };
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&bytes[..end]);
            self.line(&line, &mut each);
            // Keep the buffer's capacity for the next partial line.
            line.clear();
            self.partial = line;
            bytes = self.skip_line_end(bytes, end);
        }
        self.lines(bytes, &mut each);
    }

    /// Whether an event has begun and not been dispatched: the stream stopped mid-event.
    pub fn is_mid_event(&self) -> bool {
        !self.partial.is_empty()
            || !self.data.is_empty()
            || !self.event.is_empty()
            || self.id.is_some()
    }

    /// The last `id:` seen, as EventSource keeps it for `Last-Event-ID` on reconnection.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    fn joined(&self, bytes: &[u8]) -> Vec<u8> {
        [self.partial.as_slice(), bytes].concat()
    }

    /// Every complete line of `bytes`; the rest waits in `partial`.
    fn lines(&mut self, mut bytes: &[u8], each: &mut impl FnMut(Frame<'_>)) {
        while let Some(end) = line_end(bytes) {
            self.line(&bytes[..end], each);
            bytes = self.skip_line_end(bytes, end);
        }
        self.partial.extend_from_slice(bytes);
    }

    /// `bytes` after the line end at `end` (`\n`, `\r` or `\r\n`).
    fn skip_line_end<'b>(&mut self, bytes: &'b [u8], end: usize) -> &'b [u8] {
        if bytes[end] == b'\r' {
            match bytes.get(end + 1) {
                Some(b'\n') => return &bytes[end + 2..],
                // The `\n` of a `\r\n` may come in the next chunk.
                None => self.after_cr = true,
                Some(_) => {}
            }
        }
        &bytes[end + 1..]
    }

    fn line(&mut self, line: &[u8], each: &mut impl FnMut(Frame<'_>)) {
        if line.is_empty() {
            return self.dispatch(each);
        }
        let line = String::from_utf8_lossy(line);
        if let Some(comment) = line.strip_prefix(':') {
            return each(Frame::Comment(strip_space(comment)));
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, strip_space(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.event),
            "id" if !value.contains('\0') => {
                value.clone_into(&mut self.last_event_id);
                value.clone_into(self.id.get_or_insert_with(String::new));
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                match value.parse() {
                    Ok(millis) => each(Frame::Retry(millis)),
                    Err(_) => each(Frame::Ignored(&line)),
                }
            }
            _ => each(Frame::Ignored(&line)),
        }
    }

    /// The blank line: the block's event, when it has data.
    fn dispatch(&mut self, each: &mut impl FnMut(Frame<'_>)) {
        if let Some(data) = self.data.strip_suffix('\n') {
            let event = if self.event.is_empty() {
                "message"
            } else {
                &self.event
            };
            each(Frame::Event {
                id: self.id.as_deref(),
                event,
                data,
            });
        }
        self.data.clear();
        self.event.clear();
        self.id = None;
    }
}

/// Where the first line end (`\n` or `\r`) of `bytes` is.
fn line_end(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n' || b == b'\r')
}

fn strip_space(value: &str) -> &str {
    value.strip_prefix(' ').unwrap_or(value)
}
