//! The bytes of an event stream: the `retry:` hint first, then every frame ready when the
//! connection asks for more, together as one chunk, and a heartbeat comment when the clock
//! says so ([`super::heartbeat`]) and nothing else is being sent.
//!
//! Under load several events of one connection are often ready at once; handing them to the
//! connection as one chunk makes one chunk header and one socket write for all of them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::web::{Bytes, BytesMut};
use futures_util::Stream;

use crate::transport::heartbeat::Heartbeat;

/// The heartbeat: an SSE comment, which clients ignore.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// At most this many bytes are gathered into one chunk; the rest waits for the next poll.
const BATCH_LIMIT: usize = 32 * 1024;

/// An event stream's body around `frames`, a stream of encoded frames
/// ([`super::frame`]), each passed on as it is (a live event's frame is shared by every
/// stream) unless several are ready at once.
pub struct EventBody<S> {
    /// The `retry:` hint, until it is sent.
    retry: Option<Duration>,
    /// `None` once the frames ended.
    frames: Option<Pin<Box<S>>>,
    heartbeat: Option<Heartbeat>,
}

impl<S> EventBody<S> {
    /// Sends `retry` first, then `frames`, with a heartbeat whenever `heartbeat` is due.
    pub fn new(retry: Duration, frames: S, heartbeat: Option<Heartbeat>) -> Self {
        Self {
            retry: Some(retry),
            frames: Some(Box::pin(frames)),
            heartbeat,
        }
    }
}

/// Frames gathered for one chunk: a single frame is passed on as it is, more are copied
/// together.
#[derive(Default)]
struct Batch {
    single: Option<Bytes>,
    joined: BytesMut,
}

impl Batch {
    fn push(&mut self, frame: Bytes) {
        if self.joined.is_empty() {
            match self.single.take() {
                None => {
                    self.single = Some(frame);
                    return;
                }
                Some(first) => self.joined.extend_from_slice(&first),
            }
        }
        self.joined.extend_from_slice(&frame);
    }

    fn len(&self) -> usize {
        self.single.as_ref().map_or(self.joined.len(), Bytes::len)
    }

    fn into_chunk(self) -> Option<Bytes> {
        match self.single {
            Some(single) => Some(single),
            None if self.joined.is_empty() => None,
            None => Some(self.joined.freeze()),
        }
    }
}

/// The `retry:` line of `retry`, in whole milliseconds.
fn retry_frame(retry: Duration) -> Bytes {
    Bytes::from(format!("retry: {}\n\n", retry.as_millis()))
}

impl<S: Stream<Item = Bytes>> MessageBody for EventBody<S> {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let mut batch = Batch::default();
        if let Some(retry) = this.retry.take() {
            batch.push(retry_frame(retry));
        }
        while let Some(frames) = this.frames.as_mut() {
            if batch.len() >= BATCH_LIMIT {
                break;
            }
            match frames.as_mut().poll_next(cx) {
                Poll::Ready(Some(frame)) => batch.push(frame),
                Poll::Ready(None) => {
                    this.frames = None;
                    this.heartbeat = None;
                }
                Poll::Pending => break,
            }
        }
        if let Some(heartbeat) = &this.heartbeat
            && heartbeat.poll_due(cx)
            && batch.len() == 0
        {
            batch.push(Bytes::from_static(KEEP_ALIVE));
        }
        match batch.into_chunk() {
            Some(chunk) => Poll::Ready(Some(Ok(chunk))),
            None if this.frames.is_none() => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use futures_util::task::noop_waker;

    use super::*;
    use crate::transport::heartbeat::Heartbeats;

    /// Frames handed out as a test releases them: `Pending` while none is released.
    struct Released {
        frames: VecDeque<Option<&'static str>>,
    }

    impl Stream for Released {
        type Item = Bytes;

        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Bytes>> {
            match self.frames.pop_front() {
                Some(Some(frame)) => Poll::Ready(Some(Bytes::from_static(frame.as_bytes()))),
                Some(None) => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    fn poll(body: &mut EventBody<Released>) -> Poll<Option<Bytes>> {
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        Pin::new(body)
            .poll_next(&mut cx)
            .map(|chunk| chunk.map(|c| c.expect("no error")))
    }

    fn body(frames: &[Option<&'static str>], heartbeat: Option<Heartbeat>) -> EventBody<Released> {
        let frames = Released {
            frames: frames.iter().copied().collect(),
        };
        EventBody::new(Duration::from_millis(2500), frames, heartbeat)
    }

    #[test]
    fn the_retry_hint_comes_first_with_the_frames_ready_then_each_ready_batch_as_one_chunk() {
        let mut body = body(
            &[
                Some("a\n\n"),
                Some("b\n\n"),
                None,
                Some("c\n\n"),
                None,
                Some("d\n\n"),
                Some("e\n\n"),
            ],
            None,
        );
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"retry: 2500\n\na\n\nb\n\n")))
        );
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"c\n\n")))
        );
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"d\n\ne\n\n"))),
            "the last frames, then the end"
        );
        assert_eq!(poll(&mut body), Poll::Ready(None));
        assert_eq!(poll(&mut body), Poll::Ready(None));
    }

    #[test]
    fn a_heartbeat_comes_when_due_and_nothing_else_is_sent() {
        let heartbeats = Heartbeats::default();
        let mut body = body(
            &[None, None, Some("a\n\n"), None, None],
            Some(heartbeats.join()),
        );
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"retry: 2500\n\n")))
        );
        assert_eq!(poll(&mut body), Poll::Pending, "not due yet");
        heartbeats.beat_all();
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(b"a\n\n"))),
            "an event is sent instead of the heartbeat"
        );
        heartbeats.beat_all();
        assert_eq!(
            poll(&mut body),
            Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)))
        );
        assert_eq!(poll(&mut body), Poll::Ready(None));
    }
}
