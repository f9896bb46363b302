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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::super::Partition;
use super::super::queue::MAX_BLOCK;
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
                ended: AtomicU64::new(0),
                arrived: Notify::new(),
            }),
        }
    }
}

struct Shared {
    readers: Mutex<HashMap<String, Reader>>,
    /// How many waits ended, of every reader: a reader that sees it move reads again.
    ended: AtomicU64,
    /// Wakes the readers waiting when a wait ends.
    arrived: Notify,
}

#[derive(Default)]
struct Reader {
    /// The partitions with a wait under way.
    waiting: Vec<bool>,
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
                if let Err(e) = outcome {
                    state.failed = Some(e);
                }
                forget_if_idle(&mut readers, reader);
            }
        }
        self.ended.fetch_add(1, Ordering::AcqRel);
        self.arrived.notify_waiters();
    }

    /// The failure of a wait of `reader`, taken.
    fn failure(&self, reader: &str) -> Option<StoreError> {
        let mut readers = self.lock();
        let failed = readers.get_mut(reader)?.failed.take();
        forget_if_idle(&mut readers, reader);
        failed
    }
}

/// Forgets a reader with no wait under way and no failure to tell.
fn forget_if_idle(readers: &mut HashMap<String, Reader>, reader: &str) {
    if readers
        .get(reader)
        .is_some_and(|state| !state.waiting.contains(&true) && state.failed.is_none())
    {
        readers.remove(reader);
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
        // As long as a single blocking read may be: longer is "forever" to every caller.
        let wait = wait.min(MAX_BLOCK);
        if max == 0 {
            // Nothing can be taken: wait as asked, so a caller's loop does not spin.
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            // What ended before these reads is no news after them; an earlier failure is
            // this read's to find again.
            let seen = self.shared.ended.load(Ordering::Acquire);
            self.shared.failure(&reader);
            let mut found = Vec::new();
            let mut failed = None;
            for i in 0..count {
                if found.len() >= max {
                    break;
                }
                let part = Arc::clone(&parts[(start + i) % count]);
                // A partition that cannot be read holds up none of the others, and what
                // they gave is handed out: it was taken.
                match take(part, max - found.len()).await {
                    Ok(items) => found.extend(items),
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !found.is_empty() {
                return Ok(found);
            }
            if let Some(e) = failed {
                return Err(e);
            }
            if left.is_zero() {
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
                if let Some(e) = self.shared.failure(&reader) {
                    return Err(e);
                }
                if self.shared.ended.load(Ordering::Acquire) != seen {
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
