//! The embedded backend: every job, queue and history in this process's memory.
//!
//! It is the default of `herald serve` (nothing to install) and a product feature for
//! development and small installs, not a test double: it passes the same conformance suite as
//! the Redis backend. One mutex guards the whole state and is never held across an `.await`,
//! so every change is as atomic as a Redis script; claimers wait on a [`Notify`] instead of
//! polling.
//!
//! The webhook side (subscriptions, the outbox and deliveries) lives in [`webhooks`], under the
//! same mutex: a job change and its outbox entry are one write.

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
}

struct Record {
    job: Job,
    payload: serde_json::Value,
    output: Option<JobOutput>,
    history: VecDeque<Event>,
    cancel_requested: bool,
    /// The job's own webhook, kept apart from the job (it holds a secret).
    hook: Option<JobHook>,
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

/// A claimed queue entry: the lease a worker holds.
struct Held {
    job_id: JobId,
    job_type: JobType,
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
    queues: HashMap<JobType, VecDeque<JobId>>,
    /// Retries waiting for their delay, by due time (the counter keeps keys unique).
    delayed: BTreeMap<(Instant, u64), (JobType, JobId)>,
    held: HashMap<String, Held>,
    idempotency: HashMap<(TenantId, String), Remembered>,
    /// Expiry times are insertion-ordered because the TTLs are fixed, so queues suffice.
    expiring_jobs: VecDeque<(Instant, JobId)>,
    expiring_keys: VecDeque<(Instant, (TenantId, String))>,
    feeds: HashMap<TenantId, Feed>,
    counter: u64,
    hooks: Hooks,
}

/// One tenant's feed: its newest events, oldest first.
#[derive(Default)]
struct Feed {
    entries: VecDeque<FeedEntry>,
    last: FeedCursor,
    /// The newest cursor trimmed away, to tell a reader it missed events.
    trimmed_through: Option<FeedCursor>,
}

impl Feed {
    /// Appends `event` at a cursor above every earlier one, trimming the oldest beyond `max`.
    fn append(&mut self, event: Event, max: usize) -> FeedEntry {
        let now_ms = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
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
        entry
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
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied change: every change is
        // computed first and then written field by field without fallible steps.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores the outcome of a transition: record, history, the tenant's feed, the webhook
    /// outbox, signal, expiry.
    fn apply(&self, state: &mut State, (mut job, event): (Job, Event)) -> Job {
        let now = Instant::now();
        if job.status.is_terminal() {
            state
                .expiring_jobs
                .push_back((now + self.config.retention, job.id));
        }
        if let Some(record) = state.jobs.get_mut(&job.id) {
            record.job = job.clone();
            record.history.push_back(event.clone());
            while record.history.len() > self.config.history_max {
                record.history.pop_front();
            }
            job.webhook = record.hook_status();
            if state
                .hooks
                .announce(record.hook.as_ref(), &event, self.config.outbox_max)
            {
                self.outbox_ready.notify_waiters();
            }
        }
        let entry = state
            .feeds
            .entry(job.tenant.clone())
            .or_default()
            .append(event, self.config.event_log_max);
        // Nobody listening is fine: signals are best effort.
        let _ = self.signals.send(Signal::Event(Arc::new(entry)));
        job
    }

    fn enqueue(&self, state: &mut State, job_type: &JobType, id: JobId) {
        state
            .queues
            .entry(job_type.clone())
            .or_default()
            .push_back(id);
        self.work.notify_waiters();
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

    /// Removes what has outlived its retention.
    fn sweep(state: &mut State, now: Instant) {
        state.hooks.sweep(now);
        while let Some((at, id)) = state.expiring_jobs.front().cloned() {
            if at > now {
                break;
            }
            state.expiring_jobs.pop_front();
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

    fn take(&self, worker: &WorkerId, types: &[JobType], max: usize) -> Vec<Claimed> {
        let mut state = self.lock();
        let now = Utc::now();
        let mut claimed = Vec::new();
        for job_type in types {
            while claimed.len() < max {
                let Some(id) = state.queues.get_mut(job_type).and_then(VecDeque::pop_front) else {
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
                state.held.insert(
                    entry.clone(),
                    Held {
                        job_id: id,
                        job_type: job_type.clone(),
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
        let queued = state.queues.get(&new.job_type).map_or(0, VecDeque::len);
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
        self.enqueue(&mut state, &job.job_type, job.id);
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
        let start = feed.entries.partition_point(|e| e.cursor <= after);
        Ok(FeedPage {
            entries: feed.entries.range(start..).take(limit).cloned().collect(),
            missed: feed.trimmed_through.is_some_and(|t| t > after),
        })
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
        let deadline = Instant::now() + wait;
        loop {
            // Register for a wake-up before looking, so an enqueue in between is not missed.
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = self.take(worker, types, max);
            if !claimed.is_empty() {
                return Ok(claimed);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
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
        state.held.remove(&lease.entry);
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
        state.held.remove(&lease.entry);
        if job.status == JobStatus::Pending {
            match retry_after.filter(|d| !d.is_zero()) {
                None => self.enqueue(&mut state, &job.job_type, job.id),
                Some(delay) => {
                    state.counter += 1;
                    let key = (Instant::now() + delay, state.counter);
                    state.delayed.insert(key, (job.job_type.clone(), job.id));
                }
            }
        }
        Ok(job)
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        let mut state = self.lock();
        let job = self.write_through_lease(&mut state, &lease, |job| job.cancel(Utc::now()))?;
        state.held.remove(&lease.entry);
        Ok(job)
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        let mut state = self.lock();
        let job = self.write_through_lease(&mut state, &lease, |job| job.release(Utc::now()))?;
        state.held.remove(&lease.entry);
        // Back of the queue, as on Redis (a stream only appends).
        self.enqueue(&mut state, &job.job_type, job.id);
        Ok(job)
    }

    async fn maintain(
        &self,
        _worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        let mut state = self.lock();
        let now = Instant::now();
        let mut report = Maintenance::default();
        let expired: Vec<String> = state
            .held
            .iter()
            .filter(|(_, h)| {
                types.contains(&h.job_type)
                    && now.duration_since(h.last_beat) > self.config.lease_timeout
            })
            .map(|(entry, _)| entry.clone())
            .collect();
        for entry in expired {
            let Some(held) = state.held.remove(&entry) else {
                continue;
            };
            let Some(record) = state.jobs.get(&held.job_id) else {
                continue;
            };
            if let Ok(transition) = record.job.lose_lease(Utc::now()) {
                let job = self.apply(&mut state, transition);
                if job.status == JobStatus::Pending {
                    self.enqueue(&mut state, &job.job_type, job.id);
                }
                report.reclaimed += 1;
            }
        }
        while let Some(entry) = state.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let (job_type, id) = entry.remove();
            self.enqueue(&mut state, &job_type, id);
            report.promoted += 1;
        }
        Self::sweep(&mut state, now);
        Ok(report)
    }

    fn signals(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
