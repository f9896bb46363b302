//! The store: where jobs, their queues, histories and results live, behind one trait with two
//! backends — [`memory::MemoryStore`] (embedded, the default) and [`redis::RedisStore`].
//!
//! Both backends compute every change with the state machine in [`crate::job`] and persist it
//! as one atomic write that checks the job's `seq` has not moved since the change was computed
//! (compare-and-set). The `seq` a worker last wrote is therefore its fencing token: once a
//! lease is reclaimed and the job moves on, a zombie's late write is refused with
//! [`StoreError::LeaseLost`]. The conformance suite (`tests/conformance`) runs every behaviour
//! against both backends.
//!
//! # Queues
//! Jobs of a type run by Herald's own workers wait in one queue per type, shared by every
//! tenant ([`Store::claim`], [`Store::maintain`]). Jobs of a type the catalog
//! (`StoreConfig::job_types`) marks as run by external workers wait in a queue per tenant and
//! type instead, so a worker claiming over HTTP only ever sees its own tenant's jobs
//! ([`Store::claim_external`], [`Store::maintain_external`]). Every step that puts a job in a
//! queue (submission, retry, reclaim, release) picks the queue from the job's type and tenant,
//! so a job never crosses from one kind of queue to the other. A process serving external
//! workers resumes their leases by job id with [`Store::lease`]: the lease's `entry` is the
//! token the worker holds, and it changes every time the job is handed out again.

pub mod keys;
pub mod memory;
pub mod redis;
pub mod sources;
pub mod webhooks;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;

use crate::apikey::ApiKeyId;
use crate::catalog::JobTypes;
use crate::event::Event;
use crate::feed::{FeedCursor, FeedEntry, FeedPage, FeedPosition};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobError, JobOutput, JobStatus, NewJob, Progress, TransitionError};
pub use keys::{KeyStore, SharedKeyStore};
pub use sources::{SharedSourceStore, SourceStore};
pub use webhooks::{SharedWebhookStore, WebhookStore};

/// A store shared by every role of a process.
pub type SharedStore = Arc<dyn Store>;

/// Tunables shared by both backends.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// How long a finished job (record, history, result) is kept.
    pub retention: Duration,
    /// How many events a job's history keeps (its oldest are trimmed first).
    pub history_max: usize,
    /// How many events each tenant's feed keeps (its oldest are trimmed first). Redis trims
    /// whole stream nodes (`MAXLEN ~`), so it may keep a few more; never fewer, and at least 1.
    pub event_log_max: usize,
    /// How long a claimed job may go without a heartbeat before another worker reclaims it.
    pub lease_timeout: Duration,
    /// How many jobs may wait in one job type's queue; beyond, submissions are refused.
    pub max_queue_len: usize,
    /// How long an `Idempotency-Key` maps to its job.
    pub idempotency_ttl: Duration,
    /// The largest result a job may store.
    pub max_result_bytes: usize,
    /// How many events the webhook outbox holds for the notifier; beyond, the oldest unread
    /// are trimmed (the notifier was down for that long). Redis trims whole stream nodes.
    pub outbox_max: usize,
    /// How long a delivery is kept (listed, retried by hand) after it was created.
    pub delivery_retention: Duration,
    /// How many deliveries one subscription lists (the newest); older records expire.
    pub deliveries_listed_max: usize,
    /// How many requests one inbound source's log keeps (the newest).
    pub source_requests_max: usize,
    /// The job types' own settings: a type's `retention` replaces `retention` for its jobs,
    /// and the types run by external workers get a queue per tenant.
    pub job_types: JobTypes,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(48 * 3600),
            history_max: 1000,
            event_log_max: 100_000,
            lease_timeout: Duration::from_secs(30),
            max_queue_len: 1_000_000,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            max_result_bytes: 16 * 1024 * 1024,
            outbox_max: 1_000_000,
            delivery_retention: Duration::from_secs(7 * 24 * 3600),
            deliveries_listed_max: 100_000,
            source_requests_max: 10_000,
            job_types: JobTypes::new(),
        }
    }
}

impl StoreConfig {
    /// How long a finished job of `job_type` is kept: the type's own retention, else
    /// `retention`.
    pub fn retention_of(&self, job_type: &JobType) -> Duration {
        self.job_types.retention(job_type, self.retention)
    }

    /// How long a tenant's feed serves an event of a job of `job_type`, counted from the
    /// event: the install's retention, or the type's own when it is shorter. A job finishes
    /// after all of its events, so an event older than its type's retention may belong to a
    /// job that has expired, and is no longer served; the feed keeps nothing older than the
    /// install's retention.
    pub fn feed_keep_of(&self, job_type: &JobType) -> Duration {
        self.retention.min(self.retention_of(job_type))
    }

    /// Whether the feed still serves `entry` at `now_ms` (Unix milliseconds, the clock the
    /// cursors were taken from); see [`StoreConfig::feed_keep_of`].
    pub fn feed_serves(&self, entry: &FeedEntry, now_ms: u64) -> bool {
        let keep = self.feed_keep_of(&entry.event.job.job_type);
        u128::from(now_ms.saturating_sub(entry.position.ms)) < keep.as_millis()
    }

    /// Refuses a result larger than `max_result_bytes`, before anything is written.
    ///
    /// # Errors
    /// [`StoreError::ResultTooLarge`].
    pub fn check_result(&self, output: Option<&JobOutput>) -> Result<(), StoreError> {
        match output {
            Some(output) if output.body.len() > self.max_result_bytes => {
                Err(StoreError::ResultTooLarge {
                    size: output.body.len(),
                    limit: self.max_result_bytes,
                })
            }
            _ => Ok(()),
        }
    }
}

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write was computed from a version of the job that is no longer current: the lease
    /// was reclaimed by another worker, or the job moved on (canceled, expired).
    #[error("the lease on this job was lost: the job has moved on without this worker")]
    LeaseLost,
    /// The job's status does not allow the change.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The job type's queue holds `max_queue_len` jobs already.
    #[error("the queue for job type `{0}` is full; retry later")]
    QueueFull(JobType),
    /// The `Idempotency-Key` was used before with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// The handler's result exceeds `max_result_bytes`.
    #[error("the result is {size} bytes, more than the limit of {limit} bytes")]
    ResultTooLarge { size: usize, limit: usize },
    /// A bounded collection is full (e.g. a tenant's subscriptions).
    #[error("{0}")]
    LimitReached(String),
    /// The backend cannot be reached right now: the connection is down or being re-established,
    /// it did not answer within its timeout, or it says it cannot serve yet (loading its data,
    /// no primary). Passing: the same request may succeed once the backend is back.
    #[error("the store backend is unavailable: {0}")]
    Unavailable(String),
    /// The backend answered with an error.
    #[error("the store backend failed: {0}")]
    Backend(String),
    /// A stored record could not be read back.
    #[error("a stored record is corrupt: {0}")]
    Corrupt(String),
}

/// The answer to a submission.
#[derive(Debug, Clone)]
pub struct Created {
    pub job: Job,
    /// True when an earlier submission with the same `Idempotency-Key` created the job.
    pub replayed: bool,
}

/// What a cancel request did.
#[derive(Debug, Clone)]
pub enum CancelOutcome {
    /// The job was pending and is canceled now.
    Canceled(Job),
    /// The job is processing; its worker has been asked to stop.
    Requested(Job),
    /// The job had already finished; nothing changed.
    AlreadyFinished(Job),
}

/// Filters and paging of a job listing (newest first).
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub status: Option<JobStatus>,
    pub job_type: Option<JobType>,
    /// 1 to [`ListQuery::MAX_LIMIT`].
    pub limit: usize,
    /// Only jobs older than this one (the previous page's `next_cursor`).
    pub before: Option<JobId>,
}

impl ListQuery {
    pub const MAX_LIMIT: usize = 100;
    pub const DEFAULT_LIMIT: usize = 20;
}

/// One page of a listing; `next_cursor` is set while older matching jobs may remain.
#[derive(Debug, Clone)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    pub next_cursor: Option<JobId>,
}

/// A worker's hold on a processing job. `job` is the version this worker last wrote; every
/// write through the lease is refused once the stored job has moved past it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub job: Job,
    /// The backend's handle on the claimed queue entry.
    pub entry: String,
}

/// A job handed to a worker: its lease and its payload.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub lease: Lease,
    pub payload: serde_json::Value,
}

/// What a heartbeat learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseState {
    /// A client asked for the job to be canceled.
    pub cancel_requested: bool,
}

impl Lease {
    /// The opaque token naming this lease to a remote worker: the claimed queue entry, which
    /// is new every time the job is handed out (claimed again after a retry, a release or a
    /// reclaim), so a token outlives its lease only as a refusal.
    pub fn token(&self) -> &str {
        &self.entry
    }
}

/// What one maintenance pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Jobs whose worker vanished, put back in the queue or failed.
    pub reclaimed: usize,
    /// Retries whose delay ran out, moved into their queue.
    pub promoted: usize,
}

/// The senders behind [`Store::signals`] and [`Store::controls`].
#[derive(Debug, Clone)]
pub(crate) struct Signals {
    all: broadcast::Sender<Signal>,
    controls: broadcast::Sender<Signal>,
}

impl Signals {
    /// Senders whose receivers may fall `capacity` signals behind before they are lagged.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            all: broadcast::channel(capacity).0,
            controls: broadcast::channel(capacity).0,
        }
    }

    /// Whether anybody in the process receives events.
    pub(crate) fn wants_events(&self) -> bool {
        self.all.receiver_count() > 0
    }

    /// Announces `signal` to whoever receives it. Nobody listening is fine: signals are best
    /// effort.
    pub(crate) fn send(&self, signal: Signal) {
        if !matches!(signal, Signal::Event(_)) {
            let _ = self.controls.send(signal.clone());
        }
        let _ = self.all.send(signal);
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.all.subscribe()
    }

    pub(crate) fn subscribe_controls(&self) -> broadcast::Receiver<Signal> {
        self.controls.subscribe()
    }
}

/// What the store announces to every process: job events with their place in the tenant's
/// feed (fast, best effort), cancel requests and revoked API keys. `Resync` says notifications
/// may have been missed (the subscription dropped, or the listener fell behind): listeners
/// re-read what they care about from the histories, feeds and keys.
#[derive(Debug, Clone)]
pub enum Signal {
    Event(Arc<Announced>),
    CancelRequested(JobId),
    /// The key was revoked ([`KeyStore::revoke_key`]): whatever it opened ends.
    KeyRevoked(ApiKeyId),
    Resync,
}

/// A job event as announced: the job it concerns, known at once, and its feed entry, decoded
/// from what was published only when first asked for ([`Announced::entry`]): a process where
/// nobody follows that job or its tenant never decodes it.
#[derive(Debug)]
pub struct Announced {
    job: JobId,
    tenant: TenantId,
    /// Where the entry is in the tenant's feed: its partition and position there.
    at: (usize, FeedPosition),
    /// The event's JSON as published; empty when the entry was known decoded.
    json: Box<[u8]>,
    entry: OnceLock<Option<Arc<FeedEntry>>>,
}

impl Announced {
    /// The announcement of `job`'s (of `tenant`) event `event`, published as JSON, at
    /// `position` in the feed's `partition`.
    pub fn published(
        (partition, position): (usize, FeedPosition),
        job: JobId,
        tenant: TenantId,
        event: &[u8],
    ) -> Self {
        Self {
            job,
            tenant,
            at: (partition, position),
            json: event.into(),
            entry: OnceLock::new(),
        }
    }

    /// The job the event is about.
    pub fn job_id(&self) -> &JobId {
        &self.job
    }

    /// The tenant of that job.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The feed entry, decoded by the first caller; `None` (logged) when what was published
    /// does not decode (another version of Herald published it).
    pub fn entry(&self) -> Option<&Arc<FeedEntry>> {
        self.entry
            .get_or_init(|| match serde_json::from_slice::<Event>(&self.json) {
                Ok(event) => Some(Arc::new(FeedEntry {
                    partition: self.at.0,
                    position: self.at.1,
                    event,
                })),
                Err(error) => {
                    tracing::warn!(job_id = %self.job, %error, "ignoring an announced event that does not decode");
                    None
                }
            })
            .as_ref()
    }
}

impl From<Arc<FeedEntry>> for Announced {
    fn from(entry: Arc<FeedEntry>) -> Self {
        Self {
            job: entry.event.job.id,
            tenant: entry.event.job.tenant.clone(),
            at: (entry.partition, entry.position),
            json: Box::default(),
            entry: OnceLock::from(Some(entry)),
        }
    }
}

/// Jobs, queues, leases, histories and results.
///
/// # Errors
/// Every method answers [`StoreError::Unavailable`] when the backend cannot be reached and
/// [`StoreError::Backend`] when it fails otherwise; the others are named on each method.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new job, appends its `job.pending` event and enqueues it, atomically. With an
    /// idempotency key already used by the tenant, answers the job created then instead.
    ///
    /// # Errors
    /// [`StoreError::QueueFull`], [`StoreError::IdempotencyMismatch`].
    async fn create(&self, new: NewJob) -> Result<Created, StoreError>;

    /// The tenant's job, or `None` (also when it belongs to another tenant or expired).
    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// The tenant's jobs, newest first.
    async fn list(&self, tenant: &TenantId, query: &ListQuery) -> Result<JobPage, StoreError>;

    /// The result of a completed job, or `None`.
    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError>;

    /// Cancels a pending job at once, or asks the worker of a processing one to stop.
    /// `None` when there is no such job.
    async fn cancel(
        &self,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<CancelOutcome>, StoreError>;

    /// Runs a finished job again as a new attempt ([`Job::retry`]): pending again, back in its
    /// queue, with its record kept past its retention as long as it is unfinished. `None`
    /// when there is no such job.
    ///
    /// # Errors
    /// [`StoreError::Transition`] when the job is still pending or processing.
    async fn retry(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// The job's events with `seq > after`, oldest first (as far back as the history reaches).
    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<Event>, StoreError>;

    /// The tenant's events after `after`, oldest first, at most `limit` of them. Every change
    /// of every job of the tenant is appended to its feed in the same atomic write as the
    /// change itself.
    async fn feed(
        &self,
        tenant: &TenantId,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError>;

    /// The cursor of the tenant's newest event ([`FeedCursor::START`] before the first):
    /// reading the feed after it yields only events appended later.
    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError>;

    /// Takes up to `max` pending jobs of the given types for `worker`, starting their next
    /// attempt; waits up to `wait` for the first one.
    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// Keeps the lease alive and reports whether a cancel was requested.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`] once the job has moved on without this worker.
    async fn heartbeat(&self, worker: &WorkerId, lease: &Lease) -> Result<LeaseState, StoreError>;

    /// Records progress; the lease follows the new version.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`].
    async fn progress(&self, lease: &mut Lease, progress: Progress) -> Result<(), StoreError>;

    /// Completes the job with an optional result.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`], [`StoreError::ResultTooLarge`].
    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError>;

    /// Fails the attempt. With `retry_after` and attempts left the job is pending again and
    /// re-queued after that delay; otherwise it fails for good.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`].
    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError>;

    /// Acknowledges a cancel request: the processing job becomes canceled.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`].
    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError>;

    /// Hands an unfinished job back (worker shutting down): pending again, attempt not counted.
    ///
    /// # Errors
    /// [`StoreError::LeaseLost`].
    async fn release(&self, lease: Lease) -> Result<Job, StoreError>;

    /// Reclaims jobs whose lease expired (their worker vanished) and moves due retries into
    /// their queues. Run periodically by every worker; safe to run concurrently.
    async fn maintain(
        &self,
        worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError>;

    /// Takes up to `max` pending jobs of `tenant` of the given types run by external workers,
    /// starting their next attempt; waits up to `wait` for the first one. Only the tenant's
    /// own queues are read: another tenant's jobs are never handed out here, and types the
    /// catalog does not mark as external are skipped (their jobs wait in the shared queues
    /// that [`Store::claim`] reads).
    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;

    /// [`Store::maintain`] for the queues of external workers, every tenant's: reclaims the
    /// jobs whose lease expired (their worker went silent: offered again, or failed with
    /// `worker_lost` after the last attempt), moves due retries into their tenant's queue and
    /// sweeps finished jobs out of the listings. Run periodically by every api process (the
    /// workers' own maintenance does not cover these queues); safe to run concurrently.
    async fn maintain_external(&self, worker: &WorkerId) -> Result<Maintenance, StoreError>;

    /// The current lease of the tenant's processing job `id`, as of its latest write: what
    /// a process needs to write through a lease held by a remote worker. `None` when there is
    /// no such job, it belongs to another tenant, or it is not processing (its lease is gone).
    /// Compare [`Lease::token`] with the one the worker holds before writing through it.
    async fn lease(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Lease>, StoreError>;

    /// The tunables this store runs with: what a process serving remote workers tells them
    /// (the lease timeout, so they heartbeat at least three times as often) and checks before
    /// writing (the largest result).
    fn config(&self) -> &StoreConfig;

    /// This process's feed of signals. All receivers share one backend subscription.
    fn signals(&self) -> broadcast::Receiver<Signal>;

    /// The signals but events: cancel requests, revoked keys and resyncs. While a process
    /// holds no receiver of [`Store::signals`] (a worker's), the store does not even decode
    /// the events it is sent (and a Redis store opened without events is not sent them).
    fn controls(&self) -> broadcast::Receiver<Signal>;

    /// Checks the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A digest of what a submission asks for, to tell a replay from a different request that
/// reuses an `Idempotency-Key`.
///
/// Under a key naming a provider's event ([`crate::IdempotencyKey::names_event`]) every
/// submission is that event again: the provider's retry carries new signatures and times.
pub fn fingerprint(new: &NewJob) -> String {
    if new
        .idempotency_key
        .as_ref()
        .is_some_and(crate::IdempotencyKey::names_event)
    {
        return "event".to_owned();
    }
    #[derive(Serialize)]
    struct Fingerprinted<'a> {
        job_type: &'a str,
        payload: &'a serde_json::Value,
        metadata: &'a serde_json::Map<String, serde_json::Value>,
        timeout_s: u64,
        max_attempts: u32,
        // Not its secret: one generated for a submission without one differs every time.
        webhook: Option<(&'a str, &'a [crate::event::EventType])>,
    }
    let canonical = serde_json::to_vec(&Fingerprinted {
        job_type: new.job_type.as_str(),
        payload: &new.payload,
        metadata: &new.metadata,
        timeout_s: new.timeout.as_secs(),
        max_attempts: new.max_attempts,
        webhook: new
            .webhook
            .as_ref()
            .map(|hook| (hook.url.as_str(), hook.events.as_slice())),
    })
    .unwrap_or_default();
    let digest = Sha256::digest(canonical);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// How many times a compare-and-set retries against concurrent writers before giving up.
pub(crate) const CAS_ATTEMPTS: usize = 16;
