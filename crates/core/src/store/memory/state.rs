//! What the embedded backend keeps, under its one mutex: the job records, the queues and
//! leases, the retries waiting for their delay, idempotency keys, expiries and the tenants'
//! feeds.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::webhooks::Hooks;
use crate::event::Event;
use crate::feed::{FeedEntry, FeedPosition};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobOutput};
use crate::webhook::{HookStatus, JobHook};

/// A job as the backend keeps it: its record, payload, result, history and webhook.
pub(super) struct Record {
    pub(super) job: Job,
    pub(super) payload: serde_json::Value,
    pub(super) output: Option<JobOutput>,
    /// Its events, each shared with the tenant's feed and the signal that announced it.
    pub(super) history: VecDeque<Arc<FeedEntry>>,
    pub(super) cancel_requested: bool,
    /// The job's own webhook, kept apart from the job (it holds a secret, kept here only).
    pub(super) hook: Option<JobHook>,
    /// The bodies of its webhook deliveries, by event `seq`, for the events its history keeps:
    /// kept with the job, gone with it.
    pub(super) bodies: HashMap<u64, bytes::Bytes>,
    /// The delivery state of that webhook shown on the job, written by the notifier's writes,
    /// with the `seq` of the event it delivers: a delivery of an older event does not
    /// overwrite what a newer one showed.
    pub(super) hook_status: Option<(u64, HookStatus)>,
    /// When a finished job goes (its entry in `expiring_jobs`); `None` while unfinished.
    pub(super) expires_at: Option<Instant>,
}

impl Record {
    /// The job as reads show it: with its own webhook's delivery state.
    pub(super) fn view(&self) -> Job {
        let mut job = self.job.clone();
        job.webhook = self.hook_status();
        job
    }

    pub(super) fn hook_status(&self) -> Option<HookStatus> {
        self.hook.as_ref().map(|_| {
            self.hook_status
                .map_or(HookStatus::WAITING, |(_, status)| status)
        })
    }
}

/// The queue a job waits in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum QueueKey {
    /// The queue of a type run by Herald's workers, shared by every tenant.
    Shared(JobType),
    /// One tenant's queue of a type run by external workers.
    Tenant(TenantId, JobType),
}

impl QueueKey {
    pub(super) fn is_external(&self) -> bool {
        matches!(self, Self::Tenant(..))
    }
}

/// A claimed queue entry: the lease a worker holds.
pub(super) struct Held {
    pub(super) job_id: JobId,
    pub(super) queue: QueueKey,
    pub(super) worker: WorkerId,
    pub(super) last_beat: Instant,
}

/// What an idempotency key remembers: the job it created and the submission's fingerprint.
pub(super) struct Remembered {
    pub(super) job_id: JobId,
    pub(super) fingerprint: String,
}

/// Everything the store's one mutex guards.
#[derive(Default)]
pub(super) struct State {
    /// Boxed: the map keeps every job until it expires and grows by rehashing, which moves
    /// each entry under the lock; a pointer moves faster than a whole record.
    pub(super) jobs: HashMap<JobId, Box<Record>>,
    /// Every job of every tenant, for listing newest first (ids are time-ordered).
    pub(super) index: BTreeSet<(TenantId, JobId)>,
    pub(super) queues: HashMap<QueueKey, VecDeque<JobId>>,
    /// Retries waiting for their delay, by due time (the counter keeps keys unique).
    pub(super) delayed: BTreeMap<(Instant, u64), (QueueKey, JobId)>,
    /// The leases, by entry (the lease's token).
    pub(super) held: HashMap<String, Held>,
    /// The entry each processing job is held under, for [`Store::lease`].
    pub(super) leases: HashMap<JobId, String>,
    pub(super) idempotency: HashMap<(TenantId, String), Remembered>,
    /// Finished jobs by expiry time. Ordered, not queued: a job type may keep its jobs for
    /// longer or shorter than the install's retention, so expiries do not come in the order
    /// the jobs finished.
    pub(super) expiring_jobs: BTreeSet<(Instant, JobId)>,
    /// Idempotency keys by expiry time: one fixed TTL, so they expire in insertion order.
    pub(super) expiring_keys: VecDeque<(Instant, (TenantId, String))>,
    pub(super) feeds: HashMap<TenantId, Feed>,
    pub(super) counter: u64,
    pub(super) hooks: Hooks,
}

impl State {
    /// Records a lease on `held.job_id` under `entry`.
    pub(super) fn hold(&mut self, entry: String, held: Held) {
        self.leases.insert(held.job_id, entry.clone());
        self.held.insert(entry, held);
    }

    /// Ends the lease `entry`, if it is still held.
    pub(super) fn let_go(&mut self, entry: &str) -> Option<Held> {
        let held = self.held.remove(entry)?;
        if self.leases.get(&held.job_id).is_some_and(|e| e == entry) {
            self.leases.remove(&held.job_id);
        }
        Some(held)
    }
}

/// One tenant's feed: its newest events, oldest first.
#[derive(Default)]
pub(super) struct Feed {
    /// Shared with the jobs' histories and the signals: an event is built once.
    pub(super) entries: VecDeque<Arc<FeedEntry>>,
    /// The newest position: kept when every entry is gone, like Redis's `feed-last`.
    pub(super) last: FeedPosition,
    /// The newest position trimmed away, to tell a reader it missed events.
    pub(super) trimmed_through: Option<FeedPosition>,
}

/// The clock feed cursors are taken from, in Unix milliseconds.
pub(super) fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default()
}

impl Feed {
    /// Appends `event` at a cursor above every earlier one, trimming the oldest beyond `max`
    /// and those older than `keep`.
    pub(super) fn append(&mut self, event: Event, max: usize, keep: Duration) -> Arc<FeedEntry> {
        let now_ms = now_ms();
        self.last = if now_ms > self.last.ms {
            FeedPosition { ms: now_ms, n: 0 }
        } else {
            self.last.next()
        };
        // One feed, one partition.
        let entry = Arc::new(FeedEntry {
            partition: 0,
            position: self.last,
            event,
        });
        self.entries.push_back(Arc::clone(&entry));
        while self.entries.len() > max {
            self.trimmed_through = self.entries.pop_front().map(|e| e.position);
        }
        self.trim_older_than(keep, now_ms);
        entry
    }

    /// Drops the entries older than `keep` at `now_ms`.
    pub(super) fn trim_older_than(&mut self, keep: Duration, now_ms: u64) {
        let keep = u64::try_from(keep.as_millis()).unwrap_or(u64::MAX);
        while self
            .entries
            .front()
            .is_some_and(|e| now_ms.saturating_sub(e.position.ms) >= keep)
        {
            self.trimmed_through = self.entries.pop_front().map(|e| e.position);
        }
    }
}
