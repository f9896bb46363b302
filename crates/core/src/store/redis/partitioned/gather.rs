//! Reads over every partition that wait for the first item: claims and outbox reads.
//!
//! A read takes from each partition without waiting, from a partition that changes each
//! time, until it has enough. When none had anything, it waits on every partition at once
//! for work to arrive — one `XREAD` from where the consumer group has read up to, on its own
//! task, which reads nothing for anyone — and reads every partition again once one says so.
//! A wait still under way when its caller has gone on stays armed, for the caller's next
//! read (one is never started twice for a reader and a partition), so waiting takes no new
//! connection each time; and since it claims nothing, nothing is held for a caller that is
//! busy, or gone.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::super::Partition;
use crate::store::StoreError;

/// The waits under way, by reader (a claimer and what it claims; a notifier).
pub(super) struct Gather {
    shared: Arc<Shared>,
}

impl Default for Gather {
    fn default() -> Self {
        Self {
            shared: Arc::new(Shared {
                readers: Mutex::new(HashMap::new()),
                arrived: Notify::new(),
            }),
        }
    }
}

struct Shared {
    readers: Mutex<HashMap<String, Reader>>,
    /// Wakes the readers waiting when a wait ends.
    arrived: Notify,
}

#[derive(Default)]
struct Reader {
    /// The partitions with a wait under way.
    waiting: Vec<bool>,
    /// How many waits ended since the reader last looked.
    ended: u64,
    /// Why the last wait that failed did.
    failed: Option<StoreError>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Reader>> {
        self.readers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a wait on `partition` (of `count`) under way for `reader`; `false` when one is
    /// under way already.
    fn start(&self, reader: &str, partition: usize, count: usize) -> bool {
        let mut readers = self.lock();
        let state = readers.entry(reader.to_owned()).or_default();
        state.waiting.resize(count, false);
        !std::mem::replace(&mut state.waiting[partition], true)
    }

    fn end(&self, reader: &str, partition: usize, outcome: Result<(), StoreError>) {
        {
            let mut readers = self.lock();
            if let Some(state) = readers.get_mut(reader) {
                state.waiting[partition] = false;
                state.ended += 1;
                if let Err(e) = outcome {
                    state.failed = Some(e);
                }
                // A reader with no wait under way is forgotten, once nobody looks.
                if !state.waiting.contains(&true) && state.failed.is_none() {
                    readers.remove(reader);
                }
            }
        }
        self.arrived.notify_waiters();
    }

    /// How many waits of `reader` ended so far, and the failure of one, taken.
    fn look(&self, reader: &str) -> (u64, Option<StoreError>) {
        let mut readers = self.lock();
        match readers.get_mut(reader) {
            Some(state) => (state.ended, state.failed.take()),
            None => (u64::MAX, None),
        }
    }
}

impl Gather {
    /// Up to `max` items for `reader` from `parts`, taking each partition's with
    /// `take(partition, count)` (which does not wait), starting at partition `start`; when
    /// none has any, waits up to `wait` with `watch(partition, wait)` on every partition at
    /// once, and takes again once one says there is work (see the module docs).
    pub(super) async fn read<T, Take, TakeFut, Watch, WatchFut>(
        &self,
        parts: &[Arc<Partition>],
        start: usize,
        reader: String,
        (max, wait): (usize, Duration),
        (take, watch): (Take, Watch),
    ) -> Result<Vec<T>, StoreError>
    where
        Take: Fn(Arc<Partition>, usize) -> TakeFut,
        TakeFut: Future<Output = Result<Vec<T>, StoreError>>,
        Watch: Fn(Arc<Partition>, Duration) -> WatchFut,
        WatchFut: Future<Output = Result<(), StoreError>> + Send + 'static,
    {
        let count = parts.len();
        let deadline = Instant::now() + wait;
        loop {
            // What ended before this look does not count as news after it.
            let seen = self.shared.look(&reader).0;
            let mut found = Vec::new();
            for i in 0..count {
                if found.len() >= max {
                    break;
                }
                let part = Arc::clone(&parts[(start + i) % count]);
                found.extend(take(part, max - found.len()).await?);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !found.is_empty() || left.is_zero() || max == 0 {
                return Ok(found);
            }
            for (partition, part) in parts.iter().enumerate() {
                if self.shared.start(&reader, partition, count) {
                    let pending = watch(Arc::clone(part), left);
                    let shared = Arc::clone(&self.shared);
                    let reader = reader.clone();
                    tokio::spawn(async move {
                        let outcome = pending.await;
                        shared.end(&reader, partition, outcome);
                    });
                }
            }
            loop {
                let arrived = self.shared.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                let (ended, failed) = self.shared.look(&reader);
                if let Some(e) = failed {
                    return Err(e);
                }
                if ended != seen {
                    break;
                }
                tokio::select! {
                    () = arrived => {}
                    () = tokio::time::sleep_until(deadline) => return Ok(Vec::new()),
                }
            }
        }
    }
}
