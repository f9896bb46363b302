//! What the hub hands out: events rendered once for every stream, the notices subscribers
//! read, who listens, and how many do.

use std::sync::{Arc, OnceLock};

use bytestring::ByteString;

use herald_core::{FeedEntry, Job, JobView};

use crate::http::metrics::StreamKind;

/// An event as the hub hands it out: the feed entry, and its job resource rendered once as
/// JSON for every stream that sends it (ten thousand streams on one tenant must not serialize
/// the same snapshot ten thousand times).
#[derive(Debug)]
pub struct Published {
    entry: Arc<FeedEntry>,
    data: OnceLock<Option<ByteString>>,
}

impl Published {
    pub fn new(entry: Arc<FeedEntry>) -> Self {
        Self {
            entry,
            data: OnceLock::new(),
        }
    }

    /// The job resource as one line of JSON, rendered by the first caller; `None` only if it
    /// cannot be serialized.
    pub fn data(&self) -> Option<ByteString> {
        self.data
            .get_or_init(|| render(&self.entry.event.job))
            .clone()
    }
}

impl std::ops::Deref for Published {
    type Target = FeedEntry;
    fn deref(&self) -> &FeedEntry {
        &self.entry
    }
}

/// The job resource of `job` as one line of JSON; `None` (logged) if it cannot be serialized.
pub fn render(job: &Job) -> Option<ByteString> {
    match serde_json::to_string(&JobView::from(job)) {
        Ok(json) => Some(ByteString::from(json)),
        Err(error) => {
            tracing::error!(job_id = %job.id, %error, "a job resource could not be serialized");
            None
        }
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
