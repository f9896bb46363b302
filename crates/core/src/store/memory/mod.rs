//! The embedded backend: every job, queue and history in this process's memory.
//!
//! It is the default of `herald serve` (nothing to install) and a product feature for
//! development and small installs, not a test double: it passes the same conformance suite as
//! the Redis backend. One mutex guards the whole state and is never held across an `.await`,
//! so every change is as atomic as a Redis script; claimers wait on a [`Notify`] instead of
//! polling.
//!
//! The webhook side (subscriptions, the outbox and deliveries) lives in [`webhooks`], under the
//! same mutex: a job change and its outbox entry are one write. API keys live in [`keys`],
//! under a mutex of their own.
//!
//! Queues are keyed by [`QueueKey`]: one per job type for Herald's own workers, one per tenant
//! and type for the types run by external workers (see the store's `# Queues`).

mod keys;
mod webhooks;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use super::{
    CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery, Maintenance, Signal,
    Store, StoreConfig, StoreError, fingerprint,
};
use crate::event::Event;
use crate::feed::{FeedCursor, FeedEntry, FeedPage};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobError, JobOutput, JobStatus, NewJob, Progress, Transition};
use crate::webhook::{HookStatus, JobHook};
use webhooks::Hooks;

/// How many jobs one listing examines at most before it answers with what it found.
const MAX_SCAN: usize = 10_000;

/// How many signals a slow listener may fall behind before it is told to resync.
const SIGNAL_BUFFER: usize = 16 * 1024;

/// The longest span added to a clock reading: a century is "forever" for a job, and adding
/// more could overflow the clock (which panics).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The instant `after` from now, a century at most.
fn later(after: Duration) -> Instant {
    Instant::now() + after.min(FOREVER)
}

/// A store in this process's memory.
pub struct MemoryStore {
    state: Mutex<State>,
    /// Wakes claimers when a job is enqueued.
    work: Notify,
    /// Wakes notifiers when an entry is appended to the webhook outbox.
    outbox_ready: Notify,
    /// How long an outbox entry read but not expanded stays with its reader before another
    /// read takes it back (the reader died).
    reclaim_after: Duration,
    signals: broadcast::Sender<Signal>,
    config: StoreConfig,
    /// The API keys by id (see [`keys`]).
    api_keys: Mutex<BTreeMap<crate::apikey::ApiKeyId, crate::apikey::ApiKey>>,
}

struct Record {
    job: Job,
    payload: serde_json::Value,
    output: Option<JobOutput>,
    history: VecDeque<Event>,
    cancel_requested: bool,
    /// The job's own webhook, kept apart from the job (it holds a secret, kept here only).
    hook: Option<JobHook>,
    /// The bodies of its webhook deliveries, by event `seq`, for the events its history keeps:
    /// kept with the job, gone with it.
    bodies: HashMap<u64, Vec<u8>>,
    /// The delivery state of that webhook shown on the job, written by the notifier's writes,
    /// with the `seq` of the event it delivers: a delivery of an older event does not
    /// overwrite what a newer one showed.
    hook_status: Option<(u64, HookStatus)>,
}

impl Record {
    /// The job as reads show it: with its own webhook's delivery state.
    fn view(&self) -> Job {
        let mut job = self.job.clone();
        job.webhook = self.hook_status();
        job
    }

    fn hook_status(&self) -> Option<HookStatus> {
        self.hook.as_ref().map(|_| {
            self.hook_status
                .map_or(HookStatus::WAITING, |(_, status)| status)
        })
    }
}

/// The queue a job waits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum QueueKey {
    /// The queue of a type run by Herald's workers, shared by every tenant.
    Shared(JobType),
    /// One tenant's queue of a type run by external workers.
    Tenant(TenantId, JobType),
}

impl QueueKey {
    fn is_external(&self) -> bool {
        matches!(self, Self::Tenant(..))
    }
}

/// A claimed queue entry: the lease a worker holds.
struct Held {
    job_id: JobId,
    queue: QueueKey,
    worker: WorkerId,
    last_beat: Instant,
}

struct Remembered {
    job_id: JobId,
    fingerprint: String,
}

#[derive(Default)]
struct State {
    jobs: HashMap<JobId, Record>,
    /// Every job of every tenant, for listing newest first (ids are time-ordered).
    index: BTreeSet<(TenantId, JobId)>,
    queues: HashMap<QueueKey, VecDeque<JobId>>,
    /// Retries waiting for their delay, by due time (the counter keeps keys unique).
    delayed: BTreeMap<(Instant, u64), (QueueKey, JobId)>,
    /// The leases, by entry (the lease's token).
    held: HashMap<String, Held>,
    /// The entry each processing job is held under, for [`Store::lease`].
    leases: HashMap<JobId, String>,
    idempotency: HashMap<(TenantId, String), Remembered>,
    /// Finished jobs by expiry time. Ordered, not queued: a job type may keep its jobs for
    /// longer or shorter than the install's retention, so expiries do not come in the order
    /// the jobs finished.
    expiring_jobs: BTreeSet<(Instant, JobId)>,
    /// Idempotency keys by expiry time: one fixed TTL, so they expire in insertion order.
    expiring_keys: VecDeque<(Instant, (TenantId, String))>,
    feeds: HashMap<TenantId, Feed>,
    counter: u64,
    hooks: Hooks,
}

impl State {
    /// Records a lease on `held.job_id` under `entry`.
    fn hold(&mut self, entry: String, held: Held) {
        self.leases.insert(held.job_id, entry.clone());
        self.held.insert(entry, held);
    }

    /// Ends the lease `entry`, if it is still held.
    fn let_go(&mut self, entry: &str) -> Option<Held> {
        let held = self.held.remove(entry)?;
        if self.leases.get(&held.job_id).is_some_and(|e| e == entry) {
            self.leases.remove(&held.job_id);
        }
        Some(held)
    }
}

/// One tenant's feed: its newest events, oldest first.
#[derive(Default)]
struct Feed {
    entries: VecDeque<FeedEntry>,
    /// The newest cursor: kept when every entry is gone, like Redis's `:last`.
    last: FeedCursor,
    /// The newest cursor trimmed away, to tell a reader it missed events.
    trimmed_through: Option<FeedCursor>,
}

/// The clock feed cursors are taken from, in Unix milliseconds.
fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default()
}

impl Feed {
    /// Appends `event` at a cursor above every earlier one, trimming the oldest beyond `max`
    /// and those older than `keep`.
    fn append(&mut self, event: Event, max: usize, keep: Duration) -> FeedEntry {
        let now_ms = now_ms();
        self.last = if now_ms > self.last.ms {
            FeedCursor { ms: now_ms, n: 0 }
        } else {
            self.last.next()
        };
        let entry = FeedEntry {
            cursor: self.last,
            event,
        };
        self.entries.push_back(entry.clone());
        while self.entries.len() > max {
            self.trimmed_through = self.entries.pop_front().map(|e| e.cursor);
        }
        self.trim_older_than(keep, now_ms);
        entry
    }

    /// Drops the entries older than `keep` at `now_ms`.
    fn trim_older_than(&mut self, keep: Duration, now_ms: u64) {
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        while self
            .entries
            .front()
            .is_some_and(|e| now_ms.saturating_sub(e.cursor.ms) >= keep)
        {
            self.trimmed_through = self.entries.pop_front().map(|e| e.cursor);
        }
    }
}

impl MemoryStore {
    pub fn new(config: StoreConfig) -> Self {
        let (signals, _) = broadcast::channel(SIGNAL_BUFFER);
        Self {
            state: Mutex::new(State::default()),
            work: Notify::new(),
            outbox_ready: Notify::new(),
            reclaim_after: webhooks::RECLAIM_AFTER,
            signals,
            config,
            api_keys: Mutex::default(),
        }
    }

    fn api_keys(&self) -> MutexGuard<'_, BTreeMap<crate::apikey::ApiKeyId, crate::apikey::ApiKey>> {
        // Every change to the map is a single insert or remove: a panic cannot leave it
        // half-written.
        self.api_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: every change is
        // computed first and then written field by field without fallible steps.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The queue the jobs of `tenant` of `job_type` wait in.
    fn queue_of(&self, tenant: &TenantId, job_type: &JobType) -> QueueKey {
        if self.config.job_types.is_external(job_type) {
            QueueKey::Tenant(tenant.clone(), job_type.clone())
        } else {
            QueueKey::Shared(job_type.clone())
        }
    }

    /// Stores the outcome of a transition: record, history, the tenant's feed, the webhook
    /// outbox, signal, expiry.
    fn apply(&self, state: &mut State, (mut job, event): (Job, Event)) -> Job {
        if job.status.is_terminal() {
            let at = later(self.config.retention_of(&job.job_type));
            state.expiring_jobs.insert((at, job.id));
        }
        if let Some(record) = state.jobs.get_mut(&job.id) {
            record.job = job.clone();
            record.history.push_back(event.clone());
            while record.history.len() > self.config.history_max {
                record.history.pop_front();
            }
            // Webhook bodies are kept for the events the history keeps.
            let history_max = u64::try_from(self.config.history_max).unwrap_or(u64::MAX);
            if let Some(left) = job.seq.checked_sub(history_max) {
                record.bodies.remove(&left);
            }
            job.webhook = record.hook_status();
            if state
                .hooks
                .announce(record.hook.as_ref(), &event, self.config.outbox_max)
            {
                self.outbox_ready.notify_waiters();
            }
        }
        let entry = state.feeds.entry(job.tenant.clone()).or_default().append(
            event,
            self.config.event_log_max,
            self.config.retention,
        );
        // Nobody listening is fine: signals are best effort.
        let _ = self.signals.send(Signal::Event(Arc::new(entry)));
        job
    }

    fn enqueue(&self, state: &mut State, queue: QueueKey, id: JobId) {
        state.queues.entry(queue).or_default().push_back(id);
        self.work.notify_waiters();
    }

    /// Puts a job that is pending again (retried, released, reclaimed) at the end of its queue.
    fn requeue(&self, state: &mut State, job: &Job) {
        let queue = self.queue_of(&job.tenant, &job.job_type);
        self.enqueue(state, queue, job.id);
    }

    /// Writes a change computed from `lease.job`, provided the lease still holds: its entry is
    /// still claimed and the stored job has not moved past the version the worker knows.
    fn write_through_lease(
        &self,
        state: &mut State,
        lease: &Lease,
        change: impl FnOnce(&Job) -> Transition,
    ) -> Result<Job, StoreError> {
        let current = state
            .jobs
            .get(&lease.job.id)
            .filter(|_| state.held.contains_key(&lease.entry))
            .ok_or(StoreError::LeaseLost)?;
        if current.job.seq != lease.job.seq {
            return Err(StoreError::LeaseLost);
        }
        let transition = change(&lease.job)?;
        Ok(self.apply(state, transition))
    }

    /// Drops every feed's events older than the retention, also a quiet tenant's.
    fn trim_feeds(&self, state: &mut State) {
        let now_ms = now_ms();
        for feed in state.feeds.values_mut() {
            feed.trim_older_than(self.config.retention, now_ms);
        }
    }

    /// Removes what has outlived its retention.
    fn sweep(state: &mut State, now: Instant) {
        state.hooks.sweep(now);
        while let Some(&(at, id)) = state.expiring_jobs.first() {
            if at > now {
                break;
            }
            state.expiring_jobs.pop_first();
            if let Some(record) = state.jobs.remove(&id) {
                state.index.remove(&(record.job.tenant, id));
            }
        }
        while let Some((at, _)) = state.expiring_keys.front() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = state.expiring_keys.pop_front() {
                state.idempotency.remove(&key);
            }
        }
    }

    fn take(&self, worker: &WorkerId, queues: &[QueueKey], max: usize) -> Vec<Claimed> {
        let mut state = self.lock();
        let now = Utc::now();
        let mut claimed = Vec::new();
        for queue in queues {
            while claimed.len() < max {
                let Some(id) = state.queues.get_mut(queue).and_then(VecDeque::pop_front) else {
                    break;
                };
                // An entry whose job was canceled or expired meanwhile is simply dropped.
                let Some(record) = state.jobs.get(&id) else {
                    continue;
                };
                let Ok(transition) = record.job.start(now) else {
                    continue;
                };
                let payload = record.payload.clone();
                let job = self.apply(&mut state, transition);
                state.counter += 1;
                let entry = format!("lease-{}", state.counter);
                state.hold(
                    entry.clone(),
                    Held {
                        job_id: id,
                        queue: queue.clone(),
                        worker: worker.clone(),
                        last_beat: Instant::now(),
                    },
                );
                claimed.push(Claimed {
                    lease: Lease { job, entry },
                    payload,
                });
            }
        }
        claimed
    }

    /// Takes up to `max` jobs from `queues`, waiting up to `wait` for the first one.
    async fn claim_from(
        &self,
        worker: &WorkerId,
        queues: &[QueueKey],
        max: usize,
        wait: Duration,
    ) -> Vec<Claimed> {
        let deadline = later(wait);
        loop {
            // Register for a wake-up before looking, so an enqueue in between is not missed.
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = self.take(worker, queues, max);
            if !claimed.is_empty() {
                return claimed;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    /// Reclaims the leases of the queues `mine` picks whose worker went silent: each job is
    /// offered again, or fails with `worker_lost` after its last attempt.
    fn reclaim(&self, state: &mut State, now: Instant, mine: impl Fn(&QueueKey) -> bool) -> usize {
        let expired: Vec<String> = state
            .held
            .iter()
            .filter(|(_, h)| {
                mine(&h.queue) && now.duration_since(h.last_beat) > self.config.lease_timeout
            })
            .map(|(entry, _)| entry.clone())
            .collect();
        let mut reclaimed = 0;
        for entry in expired {
            let Some(held) = state.let_go(&entry) else {
                continue;
            };
            let Some(record) = state.jobs.get(&held.job_id) else {
                continue;
            };
            if let Ok(transition) = record.job.lose_lease(Utc::now()) {
                let job = self.apply(state, transition);
                if job.status == JobStatus::Pending {
                    self.enqueue(state, held.queue, job.id);
                }
                reclaimed += 1;
            }
        }
        reclaimed
    }

    /// Moves the due retries of the queues `mine` picks into their queue.
    fn promote(&self, state: &mut State, now: Instant, mine: impl Fn(&QueueKey) -> bool) -> usize {
        let due: Vec<(Instant, u64)> = state
            .delayed
            .range(..=(now, u64::MAX))
            .filter(|(_, (queue, _))| mine(queue))
            .map(|(key, _)| *key)
            .collect();
        let mut promoted = 0;
        for key in due {
            if let Some((queue, id)) = state.delayed.remove(&key) {
                self.enqueue(state, queue, id);
                promoted += 1;
            }
        }
        promoted
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        Self::sweep(&mut state, now);
        let key = new
            .idempotency_key
            .as_ref()
            .map(|k| (new.tenant.clone(), k.as_str().to_owned()));
        let print = key.as_ref().map(|_| fingerprint(&new));
        // A key whose job has expired is free again.
        if let Some(key) = &key
            && let Some(seen) = state.idempotency.get(key)
            && let Some(record) = state.jobs.get(&seen.job_id)
        {
            if Some(&seen.fingerprint) != print.as_ref() {
                return Err(StoreError::IdempotencyMismatch);
            }
            return Ok(Created {
                job: record.view(),
                replayed: true,
            });
        }
        let queue = self.queue_of(&new.tenant, &new.job_type);
        let queued = state.queues.get(&queue).map_or(0, VecDeque::len);
        if queued >= self.config.max_queue_len {
            return Err(StoreError::QueueFull(new.job_type));
        }
        let (job, event) = Job::create(JobId::generate(), &new, Utc::now());
        state.jobs.insert(
            job.id,
            Record {
                job: job.clone(),
                payload: new.payload,
                output: None,
                history: VecDeque::new(),
                cancel_requested: false,
                hook: new.webhook,
                bodies: HashMap::new(),
                hook_status: None,
            },
        );
        state.index.insert((job.tenant.clone(), job.id));
        if let (Some(key), Some(fingerprint)) = (key, print) {
            state
                .expiring_keys
                .push_back((now + self.config.idempotency_ttl, key.clone()));
            state.idempotency.insert(
                key,
                Remembered {
                    job_id: job.id,
                    fingerprint,
                },
            );
        }
        let job = self.apply(&mut state, (job, event));
        self.enqueue(&mut state, queue, job.id);
        Ok(Created {
            job,
            replayed: false,
        })
    }

    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        let state = self.lock();
        Ok(state
            .jobs
            .get(id)
            .filter(|r| &r.job.tenant == tenant)
            .map(Record::view))
    }

    async fn list(&self, tenant: &TenantId, query: &ListQuery) -> Result<JobPage, StoreError> {
        let state = self.lock();
        let lower = (tenant.clone(), JobId::MIN);
        let upper = (tenant.clone(), query.before.unwrap_or(JobId::MAX));
        let matches = |job: &Job| {
            query.status.is_none_or(|s| job.status == s)
                && query.job_type.as_ref().is_none_or(|t| &job.job_type == t)
        };
        // A filter that matches little must not hold the lock over every job kept: past
        // MAX_SCAN examined jobs the page ends early, with a cursor to go on from.
        let mut jobs = Vec::new();
        let mut examined = 0;
        let mut last_examined = None;
        for (_, id) in state.index.range(lower..upper).rev() {
            let Some(record) = state.jobs.get(id) else {
                continue;
            };
            if jobs.len() == query.limit || examined == MAX_SCAN {
                let resume_after = if jobs.len() == query.limit {
                    jobs.last().map(|j: &Job| j.id)
                } else {
                    last_examined
                };
                return Ok(JobPage {
                    jobs,
                    next_cursor: resume_after,
                });
            }
            examined += 1;
            last_examined = Some(*id);
            if matches(&record.job) {
                jobs.push(record.view());
            }
        }
        Ok(JobPage {
            jobs,
            next_cursor: None,
        })
    }

    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError> {
        let state = self.lock();
        Ok(state
            .jobs
            .get(id)
            .filter(|r| &r.job.tenant == tenant && r.job.status == JobStatus::Completed)
            .and_then(|r| r.output.clone()))
    }

    async fn cancel(
        &self,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<CancelOutcome>, StoreError> {
        let mut state = self.lock();
        let Some(record) = state.jobs.get_mut(id).filter(|r| &r.job.tenant == tenant) else {
            return Ok(None);
        };
        let outcome = match record.job.status {
            JobStatus::Pending => {
                let transition = record.job.cancel(Utc::now())?;
                CancelOutcome::Canceled(self.apply(&mut state, transition))
            }
            JobStatus::Processing => {
                record.cancel_requested = true;
                let _ = self.signals.send(Signal::CancelRequested(*id));
                CancelOutcome::Requested(record.view())
            }
            _ => CancelOutcome::AlreadyFinished(record.view()),
        };
        Ok(Some(outcome))
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let state = self.lock();
        Ok(state
            .jobs
            .get(id)
            .filter(|r| &r.job.tenant == tenant)
            .map(|r| {
                r.history
                    .iter()
                    .filter(|e| e.seq() > after)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        let state = self.lock();
        let Some(feed) = state.feeds.get(tenant) else {
            return Ok(FeedPage {
                entries: Vec::new(),
                missed: false,
            });
        };
        let now_ms = now_ms();
        let start = feed.entries.partition_point(|e| e.cursor <= after);
        let mut page = FeedPage {
            entries: Vec::new(),
            missed: feed.trimmed_through.is_some_and(|t| t > after),
        };
        // As on Redis: an event older than its type's retention is no longer served, and a
        // reader with such an event after its cursor missed it.
        for entry in feed.entries.range(start..) {
            if !self.config.feed_serves(entry, now_ms) {
                page.missed = true;
            } else if page.entries.len() < limit {
                page.entries.push(entry.clone());
            } else {
                break;
            }
        }
        Ok(page)
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        Ok(self
            .lock()
            .feeds
            .get(tenant)
            .map_or(FeedCursor::START, |f| f.last))
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let queues: Vec<QueueKey> = types.iter().cloned().map(QueueKey::Shared).collect();
        Ok(self.claim_from(worker, &queues, max, wait).await)
    }

    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let queues: Vec<QueueKey> = types
            .iter()
            .filter(|t| self.config.job_types.is_external(t))
            .map(|t| QueueKey::Tenant(tenant.clone(), t.clone()))
            .collect();
        Ok(self.claim_from(worker, &queues, max, wait).await)
    }

    async fn lease(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Lease>, StoreError> {
        let state = self.lock();
        let Some(record) = state
            .jobs
            .get(id)
            .filter(|r| &r.job.tenant == tenant && r.job.status == JobStatus::Processing)
        else {
            return Ok(None);
        };
        Ok(state
            .leases
            .get(id)
            .filter(|entry| state.held.contains_key(*entry))
            .map(|entry| Lease {
                job: record.view(),
                entry: entry.clone(),
            }))
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: &Lease) -> Result<LeaseState, StoreError> {
        let mut state = self.lock();
        let current_seq = state.jobs.get(&lease.job.id).map(|r| r.job.seq);
        let held = state
            .held
            .get_mut(&lease.entry)
            .filter(|h| &h.worker == worker && current_seq == Some(lease.job.seq))
            .ok_or(StoreError::LeaseLost)?;
        held.last_beat = Instant::now();
        let cancel_requested = state
            .jobs
            .get(&lease.job.id)
            .is_some_and(|r| r.cancel_requested);
        Ok(LeaseState { cancel_requested })
    }

    async fn progress(&self, lease: &mut Lease, progress: Progress) -> Result<(), StoreError> {
        let mut state = self.lock();
        let job =
            self.write_through_lease(&mut state, lease, |job| job.report(progress, Utc::now()))?;
        lease.job = job;
        Ok(())
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError> {
        self.config.check_result(output.as_ref())?;
        let mut state = self.lock();
        let has_result = output.is_some();
        let job = self.write_through_lease(&mut state, &lease, |job| {
            job.complete(has_result, Utc::now())
        })?;
        state.let_go(&lease.entry);
        if let Some(record) = state.jobs.get_mut(&job.id) {
            record.output = output;
        }
        Ok(job)
    }

    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError> {
        let mut state = self.lock();
        let job = self.write_through_lease(&mut state, &lease, |job| {
            job.fail(error, retry_after.is_some(), Utc::now())
        })?;
        state.let_go(&lease.entry);
        if job.status == JobStatus::Pending {
            let queue = self.queue_of(&job.tenant, &job.job_type);
            match retry_after.filter(|d| !d.is_zero()) {
                None => self.enqueue(&mut state, queue, job.id),
                Some(delay) => {
                    state.counter += 1;
                    let key = (later(delay), state.counter);
                    state.delayed.insert(key, (queue, job.id));
                }
            }
        }
        Ok(job)
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        let mut state = self.lock();
        let job = self.write_through_lease(&mut state, &lease, |job| job.cancel(Utc::now()))?;
        state.let_go(&lease.entry);
        Ok(job)
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        let mut state = self.lock();
        let job = self.write_through_lease(&mut state, &lease, |job| job.release(Utc::now()))?;
        state.let_go(&lease.entry);
        // Back of the queue, as on Redis (a stream only appends).
        self.requeue(&mut state, &job);
        Ok(job)
    }

    async fn maintain(
        &self,
        _worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let ours = |queue: &QueueKey| matches!(queue, QueueKey::Shared(t) if types.contains(t));
        let report = Maintenance {
            reclaimed: self.reclaim(&mut state, now, ours),
            // Every shared queue's retries, whichever types this worker runs (as before the
            // queues of external workers existed).
            promoted: self.promote(&mut state, now, |queue| !queue.is_external()),
        };
        Self::sweep(&mut state, now);
        self.trim_feeds(&mut state);
        Ok(report)
    }

    async fn maintain_external(&self, _worker: &WorkerId) -> Result<Maintenance, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let report = Maintenance {
            reclaimed: self.reclaim(&mut state, now, QueueKey::is_external),
            promoted: self.promote(&mut state, now, QueueKey::is_external),
        };
        Self::sweep(&mut state, now);
        self.trim_feeds(&mut state);
        Ok(report)
    }

    fn signals(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
