//! The hub: this process's one reader of the store's signals, fanning them out in memory to
//! whoever waits on a job (long polls now, SSE streams later).
//!
//! Ten thousand waiting clients must not mean ten thousand backend subscriptions
//! (DESIGN.md, principle 3). One task reads [`Store::signals`](herald_core::Store::signals)
//! and forwards each job event to that job's subscribers. Signals are best effort, so waiters
//! treat a notice as "re-read the store", never as the truth itself; when notices may have been
//! lost ([`Signal::Resync`], or this task fell behind) every subscriber is told to re-read.
//!
//! Subscribers register *before* they read the job, so a change that lands between the read
//! and the wait still wakes them. A job's slot lives only while someone subscribes to it, and
//! each slot's queue is bounded: a subscriber that falls behind is told to resync instead of
//! holding memory.
//!
//! The hub keys by job id alone and does not check tenants: a subscriber must read the job
//! through the tenant-scoped store before it trusts anything, as [`crate::poll`] does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use herald_core::store::Signal;
use herald_core::{Event, JobId, SharedStore};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// How many notices a job's subscriber may fall behind before it is told to resync.
const SLOT_CAPACITY: usize = 16;

/// What a subscriber is told.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The job changed; the event is its snapshot after the change.
    Event(Arc<Event>),
    /// Notices may have been missed: re-read the job.
    Resync,
}

/// The fan-out of store signals to per-job subscribers. Cheap to clone; every clone is the same
/// hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    slots: Mutex<HashMap<JobId, Slot>>,
    shutdown: CancellationToken,
}

struct Slot {
    sender: broadcast::Sender<Notice>,
    subscribers: usize,
}

impl Hub {
    /// Subscribes to `store`'s signals and spawns the task that fans them out until
    /// `shutdown` is cancelled. Must be called within a Tokio runtime.
    pub fn start(store: &SharedStore, shutdown: CancellationToken) -> Self {
        let hub = Self::new(shutdown);
        tokio::spawn(hub.clone().run(store.signals()));
        hub
    }

    fn new(shutdown: CancellationToken) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                shutdown,
            }),
        }
    }

    /// Starts listening for changes of job `id`. Subscribe first, then read the job: nothing
    /// that happens after this call is missed.
    pub fn subscribe(&self, id: JobId) -> Subscription {
        let mut slots = self.inner.slots();
        let slot = slots.entry(id).or_insert_with(|| Slot {
            sender: broadcast::Sender::new(SLOT_CAPACITY),
            subscribers: 0,
        });
        slot.subscribers += 1;
        Subscription {
            id,
            receiver: slot.sender.subscribe(),
            inner: Arc::clone(&self.inner),
        }
    }

    /// How many jobs have subscribers right now.
    pub fn watched_jobs(&self) -> usize {
        self.inner.slots().len()
    }

    async fn run(self, mut signals: broadcast::Receiver<Signal>) {
        loop {
            let signal = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                signal = signals.recv() => signal,
            };
            match signal {
                Ok(Signal::Event(event)) => self.dispatch(event),
                // The worker's business: a cancel request does not change the job.
                Ok(Signal::CancelRequested(_)) => {}
                Ok(Signal::Resync) => self.resync(),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the hub fell behind the store's signals; resyncing");
                    self.resync();
                }
                Err(RecvError::Closed) => {
                    tracing::error!(
                        "the store's signal feed closed: long polls now answer only at their timeout"
                    );
                    self.resync();
                    return;
                }
            }
        }
    }

    fn dispatch(&self, event: Arc<Event>) {
        if let Some(slot) = self.inner.slots().get(&event.job.id) {
            // Fails only when no receiver is left, which a live slot rules out.
            let _ = slot.sender.send(Notice::Event(event));
        }
    }

    fn resync(&self) {
        for slot in self.inner.slots().values() {
            let _ = slot.sender.send(Notice::Resync);
        }
    }
}

impl Inner {
    /// The slots; a panic elsewhere while holding the lock leaves them consistent (every
    /// critical section is a single map operation), so poisoning is ignored.
    fn slots(&self) -> MutexGuard<'_, HashMap<JobId, Slot>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One listener on one job. Dropping it frees the job's slot once nobody else listens.
pub struct Subscription {
    id: JobId,
    receiver: broadcast::Receiver<Notice>,
    inner: Arc<Inner>,
}

impl Subscription {
    /// The next notice about the job; `None` once the process is shutting down.
    pub async fn recv(&mut self) -> Option<Notice> {
        tokio::select! {
            biased;
            () = self.inner.shutdown.cancelled() => None,
            notice = self.receiver.recv() => match notice {
                Ok(notice) => Some(notice),
                Err(RecvError::Lagged(_)) => Some(Notice::Resync),
                // The slot, and so its sender, outlives every subscription to it.
                Err(RecvError::Closed) => None,
            },
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut slots = self.inner.slots();
        if let Some(slot) = slots.get_mut(&self.id) {
            slot.subscribers -= 1;
            if slot.subscribers == 0 {
                slots.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use herald_core::{EventType, Job, JobLimits, JobRequest, NewJob, TenantId};

    use super::*;

    fn event() -> Arc<Event> {
        let request = JobRequest {
            job_type: Some("demo.sleep".into()),
            ..Default::default()
        };
        let new = NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .unwrap();
        let (job, _) = Job::create(JobId::generate(), &new, Utc::now());
        Arc::new(Event::new(EventType::Pending, &job))
    }

    async fn next(sub: &mut Subscription) -> Option<Notice> {
        tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("a notice in time")
    }

    #[tokio::test]
    async fn events_reach_the_subscribers_of_their_job_only() {
        let hub = Hub::new(CancellationToken::new());
        let ev = event();
        let mut mine = hub.subscribe(ev.job.id);
        let mut other = hub.subscribe(JobId::generate());
        hub.dispatch(Arc::clone(&ev));
        assert!(matches!(next(&mut mine).await, Some(Notice::Event(e)) if e.job.id == ev.job.id));
        let nothing = tokio::time::timeout(Duration::from_millis(50), other.recv()).await;
        assert!(
            nothing.is_err(),
            "another job's subscriber must not be woken"
        );
    }

    #[tokio::test]
    async fn a_resync_wakes_every_subscriber() {
        let hub = Hub::new(CancellationToken::new());
        let mut a = hub.subscribe(JobId::generate());
        let mut b = hub.subscribe(JobId::generate());
        hub.resync();
        assert!(matches!(next(&mut a).await, Some(Notice::Resync)));
        assert!(matches!(next(&mut b).await, Some(Notice::Resync)));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_is_told_to_resync() {
        let hub = Hub::new(CancellationToken::new());
        let ev = event();
        let mut sub = hub.subscribe(ev.job.id);
        for _ in 0..SLOT_CAPACITY + 1 {
            hub.dispatch(Arc::clone(&ev));
        }
        assert!(matches!(next(&mut sub).await, Some(Notice::Resync)));
    }

    #[test]
    fn slots_are_freed_when_the_last_subscriber_leaves() {
        let hub = Hub::new(CancellationToken::new());
        let id = JobId::generate();
        let first = hub.subscribe(id);
        let second = hub.subscribe(id);
        assert_eq!(hub.watched_jobs(), 1);
        drop(first);
        assert_eq!(hub.watched_jobs(), 1);
        drop(second);
        assert_eq!(hub.watched_jobs(), 0);
    }

    #[tokio::test]
    async fn subscriptions_end_when_the_process_shuts_down() {
        let shutdown = CancellationToken::new();
        let hub = Hub::new(shutdown.clone());
        let mut sub = hub.subscribe(JobId::generate());
        shutdown.cancel();
        assert!(next(&mut sub).await.is_none());
    }
}
