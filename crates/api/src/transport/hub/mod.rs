//! The hub: this process's one reader of the store's signals, fanning them out in memory to
//! everything that waits for a change — SSE streams and long polls — keyed by job and by tenant.
//!
//! Ten thousand open streams must not mean ten thousand backend subscriptions. One task reads [`Store::signals`](herald_core::Store::signals) and hands each
//! event to the subscribers of its job and to those of its tenant (the many-job stream and the
//! feed's long poll). Signals are best effort, so subscribers treat the store as the truth:
//! when notices may have been lost ([`Signal::Resync`], or this task fell behind the store) every
//! subscriber is told to catch up from the histories and feeds.
//!
//! # Never waiting for a subscriber
//! Each subscription owns a bounded queue ([`queue`]: small, since ten thousand idle streams
//! hold ten thousand of them). The hub only ever pushes into it without waiting, under one short
//! lock: a subscriber whose queue is full has fallen behind (a client that stopped reading, a
//! stream stuck behind a slow socket) and is dropped on the spot, like Mercure drops subscribers
//! that lag. It still receives what its queue holds, then [`Notice::Lagged`]: an SSE stream ends
//! there and its client resumes with `Last-Event-ID`; a long poll subscribes again and re-reads.
//! So one slow client costs at most its own queue and never delays anyone else.
//!
//! Subscribers register *before* they read the store, so a change that lands between the read
//! and the wait still reaches them. Dropping a [`Subscription`] frees its entry at
//! once; a key without subscribers is removed, so the hub holds nothing for clients that left.
//!
//! The hub does not check tenants for job subscriptions (job ids are unique, and a subscriber
//! reads the job through the tenant-scoped store before it trusts anything); tenant
//! subscriptions only ever see their own tenant's events.
//!
//! # Revoked keys
//! The hub also hears revocations ([`Signal::KeyRevoked`]) and hands them to the process's
//! [`Revocations`], which ends what the key opened: a subscription opened for a key
//! ([`Subscription::until_revoked`]) then yields [`Notice::Revoked`]. On a resync the watched
//! keys are read back from the store, in a task of their own so that fanning out never waits
//! for the store, and those gone are revoked the same way.

use std::collections::{HashMap, hash_map};
use std::future::poll_fn;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use herald_core::store::{Announced, SharedKeyStore, Signal};
use herald_core::{JobId, SharedStore, TenantId};
use tokio::sync::Notify;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use crate::http::metrics::{ApiMetrics, HubCounts};
use crate::tasks::Tasks;
use crate::transport::heartbeat::Heartbeats;
use crate::transport::revocation::{KeyWatch, Revocations};

mod notice;
mod queue;

pub use notice::{Listener, Notice, Published};
use queue::{Full, Queue, Received};

/// How often the watched keys are read back from the store even without a resync: the
/// backstop for a revocation signal lost without the subscription noticing it.
const RECHECK_EVERY: Duration = Duration::from_secs(60);
/// The first and the longest pause before re-checking keys that could not all be read.
const RECHECK_RETRY_MIN: Duration = Duration::from_secs(1);
const RECHECK_RETRY_MAX: Duration = Duration::from_secs(30);

/// How many notices a subscriber may hold unread before it is dropped, unless configured.
pub const DEFAULT_SUBSCRIBER_BUFFER: usize = 128;

/// The fan-out of store signals to subscribers of jobs and tenants. Cheap to clone; every clone
/// is the same hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    subscribers: Mutex<Subscribers>,
    buffer: usize,
    metrics: ApiMetrics,
    shutdown: CancellationToken,
    revocations: Revocations,
    /// Asks for a re-check of the watched keys; many requests before it runs make one.
    recheck: Notify,
    /// The clock of the streams' heartbeats.
    heartbeats: Heartbeats,
}

/// Every subscriber's sending half, by key and then by subscription number.
#[derive(Default)]
struct Subscribers {
    by_job: Keyed<JobId>,
    by_tenant: Keyed<TenantId>,
    next_id: u64,
}

/// The subscribers of one kind of key, and how many there are in all (kept as they come and
/// go: counting them would walk every key).
struct Keyed<K> {
    map: HashMap<K, Followers>,
    subscribers: usize,
}

/// The subscribers of one key. A job mostly has one (the stream of its page), a tenant may
/// have thousands: one is held without a map of its own, since ten thousand idle job streams
/// would hold ten thousand maps.
enum Followers {
    One(u64, Entry),
    Many(HashMap<u64, Entry>),
}

/// One subscriber, as the hub holds it.
struct Entry {
    queue: Arc<Queue>,
    listener: Listener,
}

/// What a subscription listens to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Job(JobId),
    Tenant(TenantId),
}

impl Hub {
    /// Subscribes to `store`'s signals and starts, among `tasks`, the tasks that fan them out
    /// and re-check watched keys (read from `keys`) until `shutdown` is cancelled, and the
    /// clock that makes each stream's heartbeat due every `heartbeat`. Each subscriber may
    /// hold `buffer` notices (at least one) before it is dropped for lagging. Must be called
    /// within a Tokio runtime.
    pub(crate) fn start(
        store: &SharedStore,
        keys: SharedKeyStore,
        buffer: usize,
        heartbeat: Duration,
        metrics: ApiMetrics,
        tasks: &mut Tasks,
        shutdown: CancellationToken,
    ) -> Self {
        let hub = Self::new(Revocations::new(keys), buffer, metrics, shutdown);
        hub.spawn(store.signals(), tasks);
        tasks.spawn(
            "heartbeats of the event streams",
            hub.inner
                .heartbeats
                .clone()
                .run(heartbeat, hub.inner.shutdown.clone()),
        );
        hub
    }

    fn new(
        revocations: Revocations,
        buffer: usize,
        metrics: ApiMetrics,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                subscribers: Mutex::new(Subscribers::default()),
                buffer: buffer.max(1),
                metrics,
                shutdown,
                revocations,
                recheck: Notify::new(),
                heartbeats: Heartbeats::default(),
            }),
        }
    }

    fn spawn(&self, signals: broadcast::Receiver<Signal>, tasks: &mut Tasks) {
        tasks.spawn("hub", self.clone().run(signals));
        tasks.spawn(
            "hub's re-check of watched keys",
            self.clone().recheck_keys(),
        );
    }

    /// The keys watched by this process's streams and long polls.
    pub fn revocations(&self) -> &Revocations {
        &self.inner.revocations
    }

    /// The clock of the streams' heartbeats.
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.inner.heartbeats
    }

    /// Starts listening for changes of job `id`. Subscribe first, then read the job: nothing
    /// that happens after this call is missed.
    pub fn subscribe_job(&self, id: JobId, listener: Listener) -> Subscription {
        self.subscribe(Key::Job(id), listener)
    }

    /// Starts listening for changes of every job of `tenant` (the tenant's feed).
    pub fn subscribe_tenant(&self, tenant: TenantId, listener: Listener) -> Subscription {
        self.subscribe(Key::Tenant(tenant), listener)
    }

    fn subscribe(&self, key: Key, listener: Listener) -> Subscription {
        let queue = Arc::new(Queue::new());
        let mut subscribers = self.inner.subscribers();
        let number = subscribers.next_id;
        subscribers.next_id += 1;
        let entry = Entry {
            queue: Arc::clone(&queue),
            listener,
        };
        match &key {
            Key::Job(id) => subscribers.by_job.insert(*id, number, entry),
            Key::Tenant(tenant) => subscribers.by_tenant.insert(tenant.clone(), number, entry),
        }
        self.inner.metrics.set_hub_counts(subscribers.counts());
        drop(subscribers);
        Subscription {
            key,
            number,
            queue,
            inner: Arc::clone(&self.inner),
            watch: KeyWatch::default(),
        }
    }

    /// How many subscriptions are held right now.
    pub fn counts(&self) -> HubCounts {
        self.inner.subscribers().counts()
    }

    async fn run(self, mut signals: broadcast::Receiver<Signal>) {
        loop {
            let signal = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                signal = signals.recv() => signal,
            };
            match signal {
                Ok(Signal::Event(announced)) => self.dispatch(&announced),
                // The worker's business: a cancel request does not change the job.
                Ok(Signal::CancelRequested(_)) => {}
                Ok(Signal::KeyRevoked(key)) => self.inner.revocations.revoke(&key),
                Ok(Signal::Resync) => self.resync(),
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "the hub fell behind the store's signals; resyncing");
                    self.resync();
                }
                // Only a store dropped while the server runs closes it: nothing would see
                // changes as they happen any more, so the hub ends, and its supervision
                // ([`crate::tasks`]) ends the process for a clean restart. Subscribers catch up
                // from the store meanwhile.
                Err(RecvError::Closed) => {
                    tracing::error!("the store's signal feed closed: the hub stops");
                    self.resync();
                    return;
                }
            }
        }
    }

    /// Hands `announced` to the subscribers of its job and of its tenant. Only an event that
    /// somebody here follows is decoded and framed: most events of a busy store concern jobs
    /// and tenants nobody here watches. (Whoever subscribes after the look finds the event in
    /// the store: it was written before it was announced.)
    fn dispatch(&self, announced: &Announced) {
        if !self
            .inner
            .subscribers()
            .follow(announced.job_id(), announced.tenant())
        {
            return;
        }
        let Some(entry) = announced.entry() else {
            return;
        };
        let entry = Arc::new(Published::new(Arc::clone(entry)));
        let entry = &entry;
        let job = &entry.event.job;
        let metrics = &self.inner.metrics;
        let mut subscribers = self.inner.subscribers();
        let mut dropped = 0;
        let buffer = self.inner.buffer;
        let notice = || Notice::Event(Arc::clone(entry));
        dropped += subscribers.by_job.offer(&job.id, buffer, metrics, notice);
        dropped += subscribers
            .by_tenant
            .offer(&job.tenant, buffer, metrics, notice);
        self.after_offers(&subscribers, dropped);
    }

    /// Re-checks the watched keys, one pass at a time: whenever asked ([`Hub::resync`]), every
    /// [`RECHECK_EVERY`] in any case, and again after a growing pause while a pass could not
    /// read every key (the store was still unreachable when the subscription came back). A
    /// revocation whose signal was lost therefore always ends what the key opened, in the end.
    async fn recheck_keys(self) {
        let mut retry: Option<Duration> = None;
        loop {
            tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                () = self.inner.recheck.notified() => {}
                () = tokio::time::sleep(retry.unwrap_or(RECHECK_EVERY)) => {}
            }
            let complete = tokio::select! {
                () = self.inner.shutdown.cancelled() => return,
                complete = self.inner.revocations.recheck() => complete,
            };
            retry = (!complete).then(|| {
                retry.map_or(RECHECK_RETRY_MIN, |pause| {
                    (pause * 2).min(RECHECK_RETRY_MAX)
                })
            });
        }
    }

    /// Tells every subscriber to catch up from the store, and has the watched keys re-checked
    /// (a revocation may have been missed too).
    fn resync(&self) {
        self.inner.recheck.notify_one();
        let metrics = &self.inner.metrics;
        let buffer = self.inner.buffer;
        let mut subscribers = self.inner.subscribers();
        let mut dropped = 0;
        let Subscribers {
            by_job, by_tenant, ..
        } = &mut *subscribers;
        let jobs: Vec<JobId> = by_job.map.keys().copied().collect();
        for id in &jobs {
            dropped += by_job.offer(id, buffer, metrics, || Notice::Resync);
        }
        let tenants: Vec<TenantId> = by_tenant.map.keys().cloned().collect();
        for tenant in &tenants {
            dropped += by_tenant.offer(tenant, buffer, metrics, || Notice::Resync);
        }
        self.after_offers(&subscribers, dropped);
    }

    fn after_offers(&self, subscribers: &Subscribers, dropped: usize) {
        if dropped > 0 {
            self.inner.metrics.set_hub_counts(subscribers.counts());
            tracing::debug!(dropped, "dropped subscribers whose queue was full");
        }
    }
}

impl<K> Default for Keyed<K> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            subscribers: 0,
        }
    }
}

impl<K: Eq + Hash> Keyed<K> {
    fn insert(&mut self, key: K, number: u64, entry: Entry) {
        match self.map.entry(key) {
            hash_map::Entry::Vacant(vacant) => {
                vacant.insert(Followers::One(number, entry));
            }
            hash_map::Entry::Occupied(mut occupied) => occupied.get_mut().insert(number, entry),
        }
        self.subscribers += 1;
    }

    /// Removes subscription `number` of `key` (if the hub has not dropped it already), and the
    /// key once nobody listens to it.
    fn remove(&mut self, key: &K, number: u64) {
        let Some(followers) = self.map.get_mut(key) else {
            return;
        };
        let before = followers.len();
        let left = followers.remove(number);
        self.subscribers -= before - left;
        if left == 0 {
            self.map.remove(key);
        }
    }

    /// Offers a notice to every subscriber of `key` without waiting; drops those whose queue
    /// holds `buffer` notices already (they learn it as [`Notice::Lagged`] once they drain
    /// it). Returns how many were dropped.
    fn offer(
        &mut self,
        key: &K,
        buffer: usize,
        metrics: &ApiMetrics,
        notice: impl Fn() -> Notice,
    ) -> usize {
        let Some(followers) = self.map.get_mut(key) else {
            return 0;
        };
        let before = followers.len();
        let left = followers.retain(|entry| match entry.queue.push(notice(), buffer) {
            Ok(()) => true,
            Err(Full) => {
                entry.queue.let_go();
                if let Listener::Stream(kind) = entry.listener {
                    metrics.stream_lagged(kind);
                }
                false
            }
        });
        if left == 0 {
            self.map.remove(key);
        }
        self.subscribers -= before - left;
        before - left
    }

    fn follows(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }
}

impl Followers {
    fn insert(&mut self, number: u64, entry: Entry) {
        match self {
            Self::Many(entries) => {
                entries.insert(number, entry);
            }
            // A second one: the map is made now (an empty map allocates nothing meanwhile).
            Self::One(..) => {
                if let Self::One(first, first_entry) =
                    std::mem::replace(self, Self::Many(HashMap::new()))
                {
                    *self = Self::Many(HashMap::from([(first, first_entry), (number, entry)]));
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::One(..) => 1,
            Self::Many(entries) => entries.len(),
        }
    }

    /// Removes subscription `number`; answers how many are left.
    fn remove(&mut self, number: u64) -> usize {
        match self {
            Self::One(only, _) if *only == number => 0,
            Self::One(..) => 1,
            Self::Many(entries) => {
                entries.remove(&number);
                entries.len()
            }
        }
    }

    /// Keeps the subscribers `keep` keeps; answers how many are left.
    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) -> usize {
        match self {
            Self::One(_, entry) => usize::from(keep(entry)),
            Self::Many(entries) => {
                entries.retain(|_, entry| keep(entry));
                entries.len()
            }
        }
    }
}

impl Subscribers {
    /// Whether anybody follows job `id` or `tenant`.
    fn follow(&self, id: &JobId, tenant: &TenantId) -> bool {
        self.by_job.follows(id) || self.by_tenant.follows(tenant)
    }

    fn counts(&self) -> HubCounts {
        HubCounts {
            jobs: self.by_job.map.len(),
            tenants: self.by_tenant.map.len(),
            job_subscribers: self.by_job.subscribers,
            tenant_subscribers: self.by_tenant.subscribers,
        }
    }
}

impl Inner {
    /// The subscribers; every critical section leaves them consistent (no await, no call out
    /// of the hub), so a poisoned lock is still usable.
    fn subscribers(&self) -> MutexGuard<'_, Subscribers> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// One listener on one job or one tenant. Dropping it frees its entry in the hub.
pub struct Subscription {
    key: Key,
    number: u64,
    queue: Arc<Queue>,
    inner: Arc<Inner>,
    /// The key the subscription was opened with (none by default).
    watch: KeyWatch,
}

impl Subscription {
    /// This subscription, ending with the key `watch` watches: once it is revoked, [`recv`]
    /// answers [`Notice::Revoked`].
    ///
    /// [`recv`]: Subscription::recv
    #[must_use]
    pub fn until_revoked(mut self, watch: &KeyWatch) -> Self {
        self.watch = watch.clone();
        self
    }

    /// The next notice; `None` once the process is shutting down. After [`Notice::Lagged`]
    /// nothing more comes: the hub has let this subscription go. After [`Notice::Revoked`]
    /// (and for good) the key it was opened with is revoked.
    pub async fn recv(&mut self) -> Option<Notice> {
        tokio::select! {
            biased;
            () = self.inner.shutdown.cancelled() => None,
            () = self.watch.revoked() => Some(Notice::Revoked),
            // The hub lets a queue go only when it overflowed: its end means "lagged".
            notice = poll_fn(|cx| self.queue.poll_next(cx)) => Some(notice.unwrap_or(Notice::Lagged)),
        }
    }

    /// A notice that is already waiting, without waiting for one; `None` when there is none.
    /// [`Notice::Lagged`] once the hub let this subscription go and its queue is drained. (A
    /// revocation is not a notice here: see [`Subscription::is_revoked`].)
    pub fn try_recv(&mut self) -> Option<Notice> {
        match self.queue.take() {
            Received::Notice(notice) => Some(notice),
            Received::Empty => None,
            Received::LetGo => Some(Notice::Lagged),
        }
    }

    /// Whether the process is shutting down (streams end, long polls answer).
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Whether the key the subscription was opened with has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.watch.is_revoked()
    }

    /// Completes when the process starts shutting down or the key the subscription was opened
    /// with is revoked: when waiting is pointless.
    pub async fn ended(&self) {
        tokio::select! {
            () = self.inner.shutdown.cancelled() => {}
            () = self.watch.revoked() => {}
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut subscribers = self.inner.subscribers();
        match &self.key {
            Key::Job(id) => subscribers.by_job.remove(id, self.number),
            Key::Tenant(tenant) => subscribers.by_tenant.remove(tenant, self.number),
        }
        self.inner.metrics.set_hub_counts(subscribers.counts());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_trait::async_trait;
    use chrono::Utc;
    use herald_core::StoreError;
    use herald_core::apikey::{ApiKey, ApiKeyId};
    use herald_core::store::KeyStore;
    use herald_core::store::memory::MemoryStore;
    use herald_core::{
        Event, EventType, FeedCursor, FeedEntry, FeedPosition, Job, JobLimits, JobRequest, NewJob,
        StoreConfig, TenantId,
    };
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::http::metrics::StreamKind;
    use crate::transport::revocation::tests::stored_key;

    fn revocations() -> (Revocations, SharedKeyStore) {
        let keys: SharedKeyStore = Arc::new(MemoryStore::new(StoreConfig::default()));
        (Revocations::new(Arc::clone(&keys)), keys)
    }

    fn hub(buffer: usize) -> Hub {
        let metrics = ApiMetrics::register(&mut Registry::default());
        Hub::new(revocations().0, buffer, metrics, CancellationToken::new())
    }

    /// A key store whose reads of one key fail while `down` is set, as an unreachable Redis's
    /// would.
    struct Flaky {
        keys: MemoryStore,
        down: AtomicBool,
    }

    #[async_trait]
    impl KeyStore for Flaky {
        async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
            self.keys.create_key(key).await
        }
        async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable("down".into()));
            }
            self.keys.key(id).await
        }
        async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
            self.keys.keys(tenant).await
        }
        async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
            self.keys.revoke_key(id).await
        }
        async fn has_keys(&self) -> Result<bool, StoreError> {
            self.keys.has_keys().await
        }
    }

    /// A running hub that hears the signals sent on the returned sender (not its store's), and
    /// the key store it re-checks keys against.
    fn running_hub() -> (Hub, broadcast::Sender<Signal>, SharedKeyStore) {
        let (revocations, keys) = revocations();
        running_hub_on(revocations, keys)
    }

    fn running_hub_on(
        revocations: Revocations,
        keys: SharedKeyStore,
    ) -> (Hub, broadcast::Sender<Signal>, SharedKeyStore) {
        let metrics = ApiMetrics::register(&mut Registry::default());
        let hub = Hub::new(revocations, 8, metrics, CancellationToken::new());
        let (signals, receiver) = broadcast::channel(8);
        // Detached: a test's hub lives as long as its runtime.
        tokio::spawn(hub.clone().run(receiver));
        tokio::spawn(hub.clone().recheck_keys());
        (hub, signals, keys)
    }

    fn entry_for(tenant: &str, n: u64) -> Arc<FeedEntry> {
        let request = JobRequest {
            job_type: Some("demo.sleep".into()),
            ..Default::default()
        };
        let tenant = TenantId::parse(tenant).unwrap();
        let new = NewJob::parse(tenant, request, None, &JobLimits::default()).unwrap();
        let (job, _) = Job::create(JobId::generate(), &new, Utc::now());
        Arc::new(FeedEntry {
            partition: 0,
            position: FeedPosition { ms: 1, n },
            event: Event::new(EventType::Pending, &job),
        })
    }

    fn announced(entry: &Arc<FeedEntry>) -> Announced {
        Announced::from(Arc::clone(entry))
    }

    #[tokio::test]
    async fn an_event_that_does_not_decode_reaches_nobody_and_harms_nobody() {
        let hub = hub(8);
        let entry = entry_for("acme", 1);
        let job = entry.event.job.id;
        let tenant = entry.event.job.tenant.clone();
        let garbled = Announced::published(
            (entry.partition, entry.position),
            job,
            tenant.clone(),
            b"{}",
        );
        // Nobody follows it: not even looked at.
        hub.dispatch(&garbled);
        let mut sub = hub.subscribe_tenant(tenant, Listener::LongPoll);
        hub.dispatch(&garbled);
        assert!(sub.try_recv().is_none());
        hub.dispatch(&announced(&entry));
        assert!(is_event_of(next(&mut sub).await, &entry));
    }

    #[test]
    fn a_published_event_is_framed_once_for_every_stream() {
        let published = Published::new(entry_for("default", 1));
        let first = published.job_frame().expect("renders");
        let again = published.job_frame().expect("renders");
        assert_eq!(first.as_ptr(), again.as_ptr(), "the frame was built twice");
        let text = std::str::from_utf8(&first).unwrap();
        let data = text
            .strip_prefix("id: 1\nevent: job.pending\ndata: ")
            .and_then(|rest| rest.strip_suffix("\n\n"))
            .expect("one event");
        let view: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(view["id"], published.event.job.id.to_string());
        assert_eq!(
            view["links"]["events"],
            format!("/v1/jobs/{}/events", published.event.job.id)
        );
        let cursor = FeedCursor::at(published.position);
        let feed = published.feed_frame(&cursor).expect("renders");
        assert_eq!(
            &feed[..],
            format!("id: {cursor}\nevent: job.pending\ndata: {data}\n\n").as_bytes(),
            "a feed stream's frame differs in its id only"
        );
        let again = published.feed_frame(&cursor).expect("renders");
        assert_eq!(
            feed.as_ptr(),
            again.as_ptr(),
            "one partition: one frame for all"
        );
        // Where the stream's cursor names other partitions, its frame is its own.
        let mut spread = FeedCursor::of([FeedPosition::START, FeedPosition { ms: 9, n: 0 }]);
        spread.advance(&published);
        let own = published.feed_frame(&spread).expect("renders");
        assert_eq!(
            &own[..],
            format!("id: 1-1.9-0\nevent: job.pending\ndata: {data}\n\n").as_bytes()
        );
    }

    async fn next(sub: &mut Subscription) -> Option<Notice> {
        tokio::time::timeout(Duration::from_secs(5), sub.recv())
            .await
            .expect("a notice in time")
    }

    fn is_event_of(notice: Option<Notice>, entry: &FeedEntry) -> bool {
        matches!(notice, Some(Notice::Event(e)) if e.position == entry.position
            && e.event.job.id == entry.event.job.id)
    }

    #[tokio::test]
    async fn events_reach_the_subscribers_of_their_job_and_of_their_tenant_only() {
        let hub = hub(8);
        let entry = entry_for("acme", 1);
        let mut job = hub.subscribe_job(entry.event.job.id, Listener::LongPoll);
        let mut tenant = hub.subscribe_tenant(
            entry.event.job.tenant.clone(),
            Listener::Stream(StreamKind::Feed),
        );
        let mut other_job = hub.subscribe_job(JobId::generate(), Listener::LongPoll);
        let mut other_tenant =
            hub.subscribe_tenant(TenantId::parse("globex").unwrap(), Listener::LongPoll);
        hub.dispatch(&announced(&entry));
        assert!(is_event_of(next(&mut job).await, &entry));
        assert!(is_event_of(next(&mut tenant).await, &entry));
        assert!(other_job.try_recv().is_none(), "another job's subscriber");
        assert!(
            other_tenant.try_recv().is_none(),
            "another tenant's subscriber"
        );
    }

    #[tokio::test]
    async fn a_resync_reaches_every_subscriber() {
        let hub = hub(8);
        let mut a = hub.subscribe_job(JobId::generate(), Listener::LongPoll);
        let mut b = hub.subscribe_tenant(TenantId::default_tenant(), Listener::LongPoll);
        hub.resync();
        assert!(matches!(next(&mut a).await, Some(Notice::Resync)));
        assert!(matches!(next(&mut b).await, Some(Notice::Resync)));
    }

    #[tokio::test]
    async fn a_subscriber_whose_queue_is_full_is_dropped_without_holding_up_the_others() {
        let hub = hub(2);
        let entry = entry_for("acme", 1);
        let mut slow = hub.subscribe_job(entry.event.job.id, Listener::LongPoll);
        let mut fast = hub.subscribe_job(entry.event.job.id, Listener::LongPoll);
        for _ in 0..3 {
            hub.dispatch(&announced(&entry));
            assert!(is_event_of(fast.try_recv(), &entry), "the reader keeps up");
        }
        assert_eq!(
            hub.counts().job_subscribers,
            1,
            "only the slow one is let go"
        );
        // The slow one gets what its queue held, then learns it was dropped.
        assert!(is_event_of(next(&mut slow).await, &entry));
        assert!(is_event_of(next(&mut slow).await, &entry));
        assert!(matches!(next(&mut slow).await, Some(Notice::Lagged)));
        assert!(matches!(slow.try_recv(), Some(Notice::Lagged)));
    }

    #[test]
    fn entries_are_freed_when_their_subscribers_leave() {
        let hub = hub(8);
        let id = JobId::generate();
        let first = hub.subscribe_job(id, Listener::LongPoll);
        let second = hub.subscribe_job(id, Listener::LongPoll);
        let tenant = hub.subscribe_tenant(TenantId::default_tenant(), Listener::LongPoll);
        let counts = hub.counts();
        assert_eq!((counts.jobs, counts.job_subscribers), (1, 2));
        assert_eq!((counts.tenants, counts.tenant_subscribers), (1, 1));
        drop(first);
        assert_eq!(hub.counts().job_subscribers, 1);
        drop(second);
        drop(tenant);
        assert_eq!(hub.counts(), HubCounts::default());
    }

    #[test]
    fn a_dropped_subscriber_leaves_no_entry_behind() {
        let hub = hub(1);
        let entry = entry_for("acme", 1);
        let sub = hub.subscribe_tenant(
            entry.event.job.tenant.clone(),
            Listener::Stream(StreamKind::Feed),
        );
        hub.dispatch(&announced(&entry));
        hub.dispatch(&announced(&entry));
        assert_eq!(hub.counts(), HubCounts::default());
        drop(sub);
        assert_eq!(hub.counts(), HubCounts::default());
    }

    #[tokio::test]
    async fn subscriptions_end_when_the_process_shuts_down() {
        let metrics = ApiMetrics::register(&mut Registry::default());
        let shutdown = CancellationToken::new();
        let hub = Hub::new(revocations().0, 8, metrics, shutdown.clone());
        let mut sub = hub.subscribe_job(JobId::generate(), Listener::LongPoll);
        shutdown.cancel();
        assert!(next(&mut sub).await.is_none());
        assert!(sub.is_shutting_down());
    }

    #[tokio::test]
    async fn a_revoked_key_ends_the_subscriptions_opened_with_it_only() {
        let (hub, signals, keys) = running_hub();
        let key = stored_key(&keys).await;
        let watch = hub.revocations().watch(Some(key.clone())).await.unwrap();
        let mut with_key = hub
            .subscribe_tenant(TenantId::default_tenant(), Listener::LongPoll)
            .until_revoked(&watch);
        let mut without = hub.subscribe_tenant(TenantId::default_tenant(), Listener::LongPoll);

        signals.send(Signal::KeyRevoked(key.id)).unwrap();

        assert!(matches!(next(&mut with_key).await, Some(Notice::Revoked)));
        assert!(with_key.is_revoked());
        assert!(!without.is_revoked());
        assert!(without.try_recv().is_none());
    }

    #[tokio::test]
    async fn a_resync_revokes_the_watched_keys_gone_from_the_store() {
        let (hub, signals, keys) = running_hub();
        let gone = stored_key(&keys).await;
        let kept = stored_key(&keys).await;
        let revocations = hub.revocations();
        let gone_watch = revocations.watch(Some(gone.clone())).await.unwrap();
        let kept_watch = revocations.watch(Some(kept)).await.unwrap();
        let mut sub = hub
            .subscribe_job(JobId::generate(), Listener::LongPoll)
            .until_revoked(&gone_watch);
        // Revoked while this hub heard nothing: its signal went to the store's own channel.
        assert!(keys.revoke_key(&gone.id).await.unwrap());
        assert!(
            tokio::time::timeout(Duration::from_millis(200), gone_watch.revoked())
                .await
                .is_err(),
            "nothing tells the hub yet"
        );

        signals.send(Signal::Resync).unwrap();

        tokio::time::timeout(Duration::from_secs(5), gone_watch.revoked())
            .await
            .expect("the re-check revokes the key in time");
        let mut notices = Vec::new();
        while let Some(notice) = next(&mut sub).await {
            let revoked = matches!(notice, Notice::Revoked);
            notices.push(notice);
            if revoked {
                break;
            }
        }
        assert!(
            matches!(notices.last(), Some(Notice::Revoked)),
            "{notices:?}"
        );
        assert!(!kept_watch.is_revoked());
    }

    #[tokio::test(start_paused = true)]
    async fn a_revocation_whose_signal_was_lost_ends_its_watches_at_the_periodic_recheck() {
        let (hub, _signals, keys) = running_hub();
        let key = stored_key(&keys).await;
        let watch = hub.revocations().watch(Some(key.clone())).await.unwrap();
        // Revoked, and no signal and no resync reach the hub.
        assert!(keys.revoke_key(&key.id).await.unwrap());
        assert!(
            tokio::time::timeout(RECHECK_EVERY / 2, watch.revoked())
                .await
                .is_err()
        );
        tokio::time::timeout(RECHECK_EVERY, watch.revoked())
            .await
            .expect("the periodic re-check revokes the key");
    }

    #[tokio::test(start_paused = true)]
    async fn a_recheck_that_could_not_read_the_store_tries_again_soon() {
        let flaky = Arc::new(Flaky {
            keys: MemoryStore::new(StoreConfig::default()),
            down: AtomicBool::new(false),
        });
        let keys: SharedKeyStore = flaky.clone();
        let (hub, signals, keys) = running_hub_on(Revocations::new(Arc::clone(&keys)), keys);
        let key = stored_key(&keys).await;
        let watch = hub.revocations().watch(Some(key.clone())).await.unwrap();
        assert!(keys.revoke_key(&key.id).await.unwrap());
        // The subscription comes back while the store does not answer yet.
        flaky.down.store(true, Ordering::SeqCst);
        signals.send(Signal::Resync).unwrap();
        assert!(
            tokio::time::timeout(Duration::from_secs(3), watch.revoked())
                .await
                .is_err(),
            "the store cannot say the key is gone"
        );
        flaky.down.store(false, Ordering::SeqCst);
        tokio::time::timeout(RECHECK_RETRY_MAX, watch.revoked())
            .await
            .expect("a re-check soon after the store answers again");
    }
}
