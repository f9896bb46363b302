//! What the hub hands out: events framed once for every stream, the notices subscribers read,
//! who listens, and how many do.

use std::sync::{Arc, OnceLock};

use actix_web::web::Bytes;
use herald_core::{FeedCursor, FeedEntry};

use crate::http::metrics::StreamKind;
use crate::transport::frame::{frame, render};

/// An event as the hub hands it out: the feed entry, and its frames, built once for every
/// stream that sends it (ten thousand streams on one tenant must not serialize the same
/// snapshot, nor copy it into a frame of their own, ten thousand times). A job stream's frame
/// and a feed stream's differ only in their `id:` line (the job's `seq`, the feed's cursor):
/// the job resource is rendered once for both.
#[derive(Debug)]
pub struct Published {
    entry: Arc<FeedEntry>,
    /// The job resource as one line of JSON; `None` when it cannot be serialized.
    data: OnceLock<Option<Box<str>>>,
    job_frame: OnceLock<Option<Bytes>>,
    feed_frame: OnceLock<Option<Bytes>>,
}

impl Published {
    pub fn new(entry: Arc<FeedEntry>) -> Self {
        Self {
            entry,
            data: OnceLock::new(),
            job_frame: OnceLock::new(),
            feed_frame: OnceLock::new(),
        }
    }

    /// The event as a job stream sends it (`id:` its `seq`), built by the first caller; `None`
    /// only if the job resource cannot be serialized.
    pub fn job_frame(&self) -> Option<Bytes> {
        self.job_frame
            .get_or_init(|| self.framed(self.entry.event.seq()))
            .clone()
    }

    /// The event as a feed stream sends it, `id:` the stream's `cursor` once it is read;
    /// `None` only if the job resource cannot be serialized. Where the cursor is the entry's
    /// own position (a feed of one partition), the frame is the same for every stream and
    /// built by the first caller; elsewhere each stream's cursor differs in other partitions'
    /// positions, and only the rendered job resource is shared.
    pub fn feed_frame(&self, cursor: &FeedCursor) -> Option<Bytes> {
        if cursor.is_at(self.entry.position) {
            return self.feed_frame.get_or_init(|| self.framed(cursor)).clone();
        }
        self.framed(cursor)
    }

    fn framed(&self, id: impl std::fmt::Display) -> Option<Bytes> {
        let data = self
            .data
            .get_or_init(|| render(&self.entry.event.job).map(String::into_boxed_str))
            .as_deref()?;
        Some(frame(id, self.entry.event.kind, data))
    }
}

impl std::ops::Deref for Published {
    type Target = FeedEntry;
    fn deref(&self) -> &FeedEntry {
        &self.entry
    }
}

/// What a subscriber is told.
#[derive(Debug, Clone)]
pub enum Notice {
    /// A change of a watched job (or of one of the watched tenant's jobs): the job's snapshot
    /// after the change, at its place in the tenant's feed.
    Event(Arc<Published>),
    /// Notices may have been lost before they reached the hub: catch up from the store.
    Resync,
    /// This subscriber fell behind and was dropped: nothing more will come.
    Lagged,
    /// The key the subscription was opened with was revoked: it must end (a stream) or answer
    /// `401` (a long poll).
    Revoked,
}

/// Who listens: what a dropped subscriber is counted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// An event stream: dropping it counts in `herald_sse_streams_lagged_total`.
    Stream(StreamKind),
    /// A long poll (it subscribes again when dropped).
    LongPoll,
}
