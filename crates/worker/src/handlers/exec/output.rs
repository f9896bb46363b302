//! What the command says: its stdout read line by line, bounded, into progress reports and a
//! result; the end of its stderr kept for the message of a failed attempt.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use herald_core::job::MAX_MESSAGE_BYTES;
use nix::sys::signal::Signal;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tracing::{trace, warn};

use super::MAX_LINE_BYTES;
use crate::handler::JobContext;

/// Reads stdout line by line: reports progress, keeps the last JSON result.
pub(super) async fn read_stdout(
    stdout: Option<impl AsyncRead + Unpin>,
    ctx: &JobContext,
    last_json: &mut Option<Value>,
) {
    let Some(stdout) = stdout else { return };
    let mut lines = LineReader::new(BufReader::new(stdout), MAX_LINE_BYTES);
    loop {
        match lines.next_line().await {
            Ok(Some(Line::Complete(line))) => match parse_line(line) {
                Parsed::Progress { percent, message } => ctx.report(percent, message).await,
                Parsed::Result(value) => *last_json = Some(value),
                Parsed::Text => {
                    trace!(line = %String::from_utf8_lossy(line), "command output");
                }
            },
            Ok(Some(Line::TooLong)) => {
                warn!(
                    limit = MAX_LINE_BYTES,
                    "skipped a line of the command's stdout longer than the limit"
                );
            }
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "cannot read the command's stdout");
                return;
            }
        }
    }
}

/// Reads a stream to its end, keeping its tail.
pub(super) async fn read_tail(stream: Option<impl AsyncRead + Unpin>, tail: &mut Tail) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0; 8 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => return,
            Ok(n) => tail.push(&buffer[..n]),
            Err(e) => {
                warn!(error = %e, "cannot read the command's stderr");
                return;
            }
        }
    }
}

/// What one stdout line means.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// `{"progress": 40, "message": "…"}`.
    Progress { percent: u8, message: String },
    /// Any other JSON: a candidate for the result (the last one wins).
    Result(Value),
    /// Not JSON: a log line.
    Text,
}

fn parse_line(line: &[u8]) -> Parsed {
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Parsed::Text;
    };
    let progress = value
        .as_object()
        .and_then(|object| object.get("progress"))
        .and_then(Value::as_f64);
    match progress {
        Some(progress) => Parsed::Progress {
            percent: percent(progress),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        },
        None => Parsed::Result(value),
    }
}

/// A reported progress as a whole percentage, clamped to 0–100.
fn percent(raw: f64) -> u8 {
    // In range after the clamp, so the cast neither wraps nor saturates.
    raw.clamp(0.0, 100.0).round() as u8
}

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// The line without its `\n` (or `\r\n`).
    Complete(&'a [u8]),
    /// A line longer than the limit, skipped whole.
    TooLong,
}

/// Splits a stream into lines of bounded length, so a command printing megabytes without a
/// newline costs a bounded buffer, and skips over a long line rather than stopping (a
/// command whose stdout is no longer read would block on its next write).
struct LineReader<R> {
    inner: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            line: Vec::new(),
        }
    }

    /// The next line, `None` at the end of the stream.
    async fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // The end: a last line without its newline still counts.
                return Ok(if too_long {
                    Some(Line::TooLong)
                } else if self.line.is_empty() {
                    None
                } else {
                    Some(Line::Complete(trim_cr(&self.line)))
                });
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if !too_long {
                if self.line.len() + chunk.len() > self.max {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let used = newline.map_or(available.len(), |at| at + 1);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Complete(trim_cr(&self.line))
                }));
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The last bytes of a stream.
pub(super) struct Tail {
    bytes: Vec<u8>,
    max: usize,
    /// Bytes were dropped from the front: the first ones kept may be half a character.
    cut: bool,
}

impl Tail {
    pub(super) fn new(max: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(max),
            max,
            cut: false,
        }
    }

    pub(super) fn push(&mut self, chunk: &[u8]) {
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.max);
        if overflow == 0 {
            self.bytes.extend_from_slice(chunk);
            return;
        }
        self.cut = true;
        if chunk.len() >= self.max {
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&chunk[chunk.len() - self.max..]);
        } else {
            self.bytes.drain(..overflow);
            self.bytes.extend_from_slice(chunk);
        }
    }

    /// The tail as text (invalid UTF-8 replaced), without surrounding whitespace.
    pub(super) fn text(&self) -> String {
        let start = if self.cut {
            // Skip UTF-8 continuation bytes left by the cut.
            self.bytes
                .iter()
                .position(|b| b & 0xC0 != 0x80)
                .unwrap_or(self.bytes.len())
        } else {
            0
        };
        String::from_utf8_lossy(&self.bytes[start..])
            .trim()
            .to_owned()
    }
}

/// `command exited with status N: <end of stderr>`, within [`MAX_MESSAGE_BYTES`]: the end of
/// stderr is kept, since that is where a program says why it gave up (the store would cut
/// the end instead).
pub(super) fn failure_message(status: ExitStatus, stderr: &str) -> String {
    let head = format!("command {}", describe_exit(status));
    if stderr.is_empty() {
        return head;
    }
    let room = MAX_MESSAGE_BYTES.saturating_sub(head.len() + 2);
    format!("{head}: {}", crate::handlers::tail(stderr, room))
}

/// `exited with status 3`, `was killed by signal 9 (SIGKILL)`.
pub(super) fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal).map_or("unknown", Signal::as_str);
            format!("was killed by signal {signal} ({name})")
        }
        (None, None) => format!("ended: {status}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn progress_lines_are_reports_and_other_json_lines_are_results() {
        let progress = |percent, message: &str| Parsed::Progress {
            percent,
            message: message.to_owned(),
        };
        let cases = [
            (
                &br#"{"progress": 42, "message": "row 42"}"#[..],
                progress(42, "row 42"),
            ),
            (br#"{"progress": 33.5}"#, progress(34, "")),
            (br#"{"progress": 250, "message": 7}"#, progress(100, "")),
            (br#"{"progress": -3}"#, progress(0, "")),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line), expected);
        }
        assert_eq!(
            parse_line(br#"{"progress": "half"}"#),
            Parsed::Result(json!({"progress": "half"}))
        );
        assert_eq!(parse_line(b"[1, 2]"), Parsed::Result(json!([1, 2])));
        assert_eq!(parse_line(b"building row 7..."), Parsed::Text);
        assert_eq!(parse_line(b""), Parsed::Text);
        assert_eq!(parse_line(b"\xff\xfe"), Parsed::Text);
    }

    async fn lines_of(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        // A tiny buffer, so lines arrive in many pieces as they would from a pipe.
        let mut reader = LineReader::new(BufReader::with_capacity(3, input), max);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(match line {
                Line::Complete(bytes) => Some(bytes.to_vec()),
                Line::TooLong => None,
            });
        }
        lines
    }

    #[tokio::test]
    async fn lines_are_split_bounded_and_a_long_one_is_skipped_whole() {
        let lines = lines_of(b"one\r\ntwo-is-too-long\nthree\n\nlast", 8).await;
        assert_eq!(
            lines,
            [
                Some(b"one".to_vec()),
                None,
                Some(b"three".to_vec()),
                Some(Vec::new()),
                Some(b"last".to_vec()),
            ]
        );
        assert_eq!(lines_of(b"", 8).await, Vec::<Option<Vec<u8>>>::new());
        assert_eq!(lines_of(b"endless-without-newline", 8).await, [None]);
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_and_whole_characters() {
        let mut tail = Tail::new(8);
        tail.push(b"abc");
        assert_eq!(tail.text(), "abc");
        tail.push(b"defghij");
        assert_eq!(tail.text(), "cdefghij");
        tail.push("0123456é".as_bytes());
        // Nine bytes of which the last eight are kept: the first is `1`.
        assert_eq!(tail.text(), "123456é");
        let mut tail = Tail::new(4);
        tail.push("xéab".as_bytes());
        tail.push(b"c");
        // The cut fell inside `é`: its second byte is skipped.
        assert_eq!(tail.text(), "abc");
    }

    #[test]
    fn a_failure_message_keeps_the_end_of_stderr_within_the_bound() {
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(
            failure_message(status, "disk full"),
            "command exited with status 3: disk full"
        );
        assert_eq!(failure_message(status, ""), "command exited with status 3");
        let long = format!("{}THE END", "x".repeat(5000));
        let message = failure_message(status, &long);
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        assert!(message.starts_with("command exited with status 3: xxx"));
        assert!(message.ends_with("THE END"));
        let killed = ExitStatus::from_raw(9);
        assert_eq!(
            failure_message(killed, ""),
            "command was killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn percentages_are_rounded_and_clamped() {
        assert_eq!(percent(0.4), 0);
        assert_eq!(percent(99.5), 100);
        assert_eq!(percent(1e300), 100);
        assert_eq!(percent(-1.0), 0);
    }
}
