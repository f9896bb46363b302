//! The nesting depth of JSON bodies, bounded on the bytes as they arrive, before any parser
//! sees them.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

use crate::http::error::TooDeep;

/// Reads JSON bytes as they arrive, tracking how deep arrays and objects nest (strings and
/// their escapes skipped), without parsing anything else.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct DepthScan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl DepthScan {
    /// Feeds `bytes`; `false` once the nesting passes `max`.
    fn feed(&mut self, bytes: &[u8], max: usize) -> bool {
        for &byte in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > max {
                        return false;
                    }
                }
                // Unbalanced closers are the parser's to report.
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        true
    }
}

/// A payload that fails once its JSON nests deeper than `max`.
pub(super) struct DepthLimited {
    pub(super) inner: Payload,
    pub(super) scan: DepthScan,
    pub(super) max: usize,
}

impl Stream for DepthLimited {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if this.scan.feed(&chunk, this.max) {
                    Poll::Ready(Some(Ok(chunk)))
                } else {
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        TooDeep { max: this.max },
                    )))))
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_depth_scan_counts_nesting_but_not_brackets_in_strings() {
        let mut scan = DepthScan::default();
        assert!(scan.feed(br#"{"a": [[1], "[[[[\"{{{{"]}"#, 3));
        let mut scan = DepthScan::default();
        assert!(!scan.feed(b"[[[[", 3));
        // Across chunks, escapes included.
        let mut scan = DepthScan::default();
        assert!(scan.feed(br#"{"a": "\"#, 1));
        assert!(scan.feed(br#"" [[[" }"#, 1));
        assert_eq!(scan.depth, 0);
    }
}
