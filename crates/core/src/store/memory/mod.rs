//! The embedded backend: every job, queue and history in this process's memory.
//!
//! It is the default of `herald serve` (nothing to install) and a product feature for
//! development and small installs, not a test double: it passes the same conformance suite as
//! the Redis backend. One mutex guards the whole state and is never held across an `.await`,
//! so every change is as atomic as a Redis script; claimers wait on a [`Notify`] instead of
//! polling.
//!
//! The webhook side (subscriptions, the outbox and deliveries) lives in `webhooks`, under the
//! same mutex: a job change and its outbox entry are one write. API keys live in `keys`,
//! under a mutex of their own.
//!
//! Queues are keyed by `QueueKey`: one per job type for Herald's own workers, one per tenant
//! and type for the types run by external workers (see the store's `# Queues`).
//!
//! # Layout
//! - `state`: what the mutex guards (records, queues, leases, expiries, feeds).
//! - `queue`: taking jobs, and reclaiming silent workers' leases and promoting due retries.
//! - `webhooks` and `keys`: the webhook and key stores.
//! - this module: [`MemoryStore`] and its [`Store`] impl.

mod keys;
mod queue;
mod sources;
mod state;
mod webhooks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use self::state::{QueueKey, Record, Remembered, State, now_ms};
use super::{
    CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery, Maintenance, Signal,
    Signals, Store, StoreConfig, StoreError, fingerprint,
};
use crate::event::Event;
use crate::feed::{FeedCursor, FeedEntry, FeedPage};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{
    Job, JobError, JobOutput, JobStatus, NewJob, Progress, QueueEffect, Step, Transition,
};

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
    signals: Signals,
    config: StoreConfig,
    /// The API keys by id (see [`keys`]).
    api_keys: Mutex<BTreeMap<crate::apikey::ApiKeyId, crate::apikey::ApiKey>>,
    /// The inbound sources and their request logs (see [`sources`]).
    sources: Mutex<sources::Sources>,
}

impl MemoryStore {
    pub fn new(config: StoreConfig) -> Self {
        let signals = Signals::new(SIGNAL_BUFFER);
        Self {
            state: Mutex::new(State::default()),
            work: Notify::new(),
            outbox_ready: Notify::new(),
            reclaim_after: webhooks::RECLAIM_AFTER,
            signals,
            config,
            api_keys: Mutex::default(),
            sources: Mutex::default(),
        }
    }

    fn api_keys(&self) -> MutexGuard<'_, BTreeMap<crate::apikey::ApiKeyId, crate::apikey::ApiKey>> {
        // Every change to the map is a single insert or remove: a panic cannot leave it
        // half-written.
        self.api_keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn inbound(&self) -> MutexGuard<'_, sources::Sources> {
        // Every change is computed first and written without fallible steps.
        self.sources.lock().unwrap_or_else(PoisonError::into_inner)
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
    /// outbox, signal, expiry, and the job's place in its queue as the step says (an entry that
    /// goes is dropped when a claim meets it).
    fn apply(&self, state: &mut State, step: Step) -> Job {
        let Step {
            mut job,
            event,
            queue,
        } = step;
        self.place(state, &job, queue);
        if let Some(record) = state.jobs.get_mut(&job.id) {
            record.job = job.clone();
        }
        self.record(state, job.id, event);
        if let Some(record) = state.jobs.get(&job.id) {
            job.webhook = record.hook_status();
        }
        job
    }

    /// Puts `job` where its queue effect says and, once it is final, on its way out.
    fn place(&self, state: &mut State, job: &Job, queue: QueueEffect) {
        match queue {
            QueueEffect::Keep | QueueEffect::Drop => {}
            QueueEffect::Requeue => self.requeue(state, job),
            QueueEffect::Delay(delay) => {
                state.counter += 1;
                let key = (later(delay), state.counter);
                let queue = self.queue_of(&job.tenant, &job.job_type);
                state.delayed.insert(key, (queue, job.id));
            }
        }
        let expires_at = job.status.is_terminal().then(|| {
            let at = later(self.config.retention_of(&job.job_type));
            state.expiring_jobs.insert((at, job.id));
            at
        });
        if let Some(record) = state.jobs.get_mut(&job.id) {
            record.expires_at = expires_at;
        }
    }

    /// Records `event` of job `id` (whose record holds the job already): the tenant's feed,
    /// the job's history, the webhook outbox, and the signal. The event is built once and
    /// shared by all of them.
    fn record(&self, state: &mut State, id: JobId, event: Event) {
        let entry = state
            .feeds
            .entry(event.job.tenant.clone())
            .or_default()
            .append(event, self.config.event_log_max, self.config.retention);
        if let Some(record) = state.jobs.get_mut(&id) {
            record.history.push_back(Arc::clone(&entry));
            while record.history.len() > self.config.history_max {
                record.history.pop_front();
            }
            // Webhook bodies are kept for the events the history keeps.
            let history_max = u64::try_from(self.config.history_max).unwrap_or(u64::MAX);
            if let Some(left) = entry.event.seq().checked_sub(history_max) {
                record.bodies.remove(&left);
            }
            if state
                .hooks
                .announce(record.hook.as_ref(), &entry.event, self.config.outbox_max)
            {
                self.outbox_ready.notify_waiters();
            }
        }
        self.signals.send(Signal::Event(Arc::new(entry.into())));
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
            // A job retried since it was due here is unfinished, or finished again and due
            // later: it stays.
            if state
                .jobs
                .get(&id)
                .is_some_and(|r| r.expires_at == Some(at))
                && let Some(record) = state.jobs.remove(&id)
            {
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
        // The record takes the job; the answer is the one copy.
        let mut created = job.clone();
        state.jobs.insert(
            job.id,
            Box::new(Record {
                job,
                payload: new.payload,
                output: None,
                history: VecDeque::new(),
                cancel_requested: false,
                hook: new.webhook,
                bodies: HashMap::new(),
                hook_status: None,
                expires_at: None,
            }),
        );
        state.index.insert((created.tenant.clone(), created.id));
        if let (Some(key), Some(fingerprint)) = (key, print) {
            state
                .expiring_keys
                .push_back((now + self.config.idempotency_ttl, key.clone()));
            state.idempotency.insert(
                key,
                Remembered {
                    job_id: created.id,
                    fingerprint,
                },
            );
        }
        // A new job joins the end of its queue, as one pending again does.
        self.place(&mut state, &created, QueueEffect::Requeue);
        self.record(&mut state, created.id, event);
        if let Some(record) = state.jobs.get(&created.id) {
            created.webhook = record.hook_status();
        }
        Ok(Created {
            job: created,
            replayed: false,
        })
    }

    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        let state = self.lock();
        Ok(state
            .jobs
            .get(id)
            .filter(|r| &r.job.tenant == tenant)
            .map(|r| r.view()))
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
                self.signals.send(Signal::CancelRequested(*id));
                CancelOutcome::Requested(record.view())
            }
            _ => CancelOutcome::AlreadyFinished(record.view()),
        };
        Ok(Some(outcome))
    }

    async fn retry(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        let mut state = self.lock();
        let Some(record) = state.jobs.get_mut(id).filter(|r| &r.job.tenant == tenant) else {
            return Ok(None);
        };
        let transition = record.job.retry(Utc::now())?;
        let queue = self.queue_of(tenant, &transition.job.job_type);
        if state.queues.get(&queue).map_or(0, VecDeque::len) >= self.config.max_queue_len {
            return Err(StoreError::QueueFull(transition.job.job_type));
        }
        if let Some(record) = state.jobs.get_mut(id) {
            record.cancel_requested = false;
            record.output = None;
        }
        Ok(Some(self.apply(&mut state, transition)))
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
                    .filter(|e| e.event.seq() > after)
                    .map(|e| e.event.clone())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        let state = self.lock();
        let Some(feed) = state.feeds.get(tenant) else {
            return Ok(FeedPage::default());
        };
        let now_ms = now_ms();
        let after = after.position(0);
        let start = feed.entries.partition_point(|e| e.position <= after);
        let mut page = FeedPage::default();
        // How far the read passed over events it does not return, as on Redis.
        let mut passed = after;
        if let Some(trimmed) = feed.trimmed_through.filter(|t| *t > after) {
            page.missed = true;
            passed = trimmed;
        }
        // As on Redis: an event older than its type's retention is no longer served, and a
        // reader with such an event after its cursor missed it.
        for entry in feed.entries.range(start..) {
            let full = page.entries.len() >= limit;
            if !self.config.feed_serves(entry, now_ms) {
                page.missed = true;
                if !full {
                    passed = passed.max(entry.position);
                }
            } else if !full {
                page.entries.push(FeedEntry::clone(entry));
            } else {
                break;
            }
        }
        if passed > after {
            page.passed.push((0, passed));
        }
        Ok(page)
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        Ok(self
            .lock()
            .feeds
            .get(tenant)
            .map_or(FeedCursor::START, |f| FeedCursor::at(f.last)))
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
            job.fail(error, retry_after, Utc::now())
        })?;
        state.let_go(&lease.entry);
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
        // Back of the queue, as on Redis (a stream only appends).
        let job = self.write_through_lease(&mut state, &lease, |job| job.release(Utc::now()))?;
        state.let_go(&lease.entry);
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

    fn controls(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe_controls()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
