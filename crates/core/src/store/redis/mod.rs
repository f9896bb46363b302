//! The Redis backend: jobs, queues, leases, histories and results in one Redis shared by
//! every Herald process.
//!
//! # Layout
//! - `partitioned`: [`RedisStore`] itself, over one partition or several (each a
//!   `Partition`: the whole key layout under a hash tag of its own): what routes each
//!   operation to its partition and merges what spans them.
//! - `connection`: the shared connection, its timeouts and reconnection, and which errors
//!   mean Redis is unavailable.
//! - `keys`: the key layout (documented there, with every key's type and fields).
//! - `scripts`: the Lua scripts; one per atomic write, each documented in its file.
//! - `batch`: group commit, concurrent writes of one kind sharing one script call.
//! - `listing`: the one paged scan of listing indexes behind job and delivery listings.
//! - `jobs`: [`Store`](super::Store) on one partition: creating, reading, listing and
//!   canceling jobs, and a leased job's transitions.
//! - `transition`: writing one transition with compare-and-set.
//! - `feed`: reading tenants' feeds (see `# Feeds` there).
//! - `signals`: the one pub/sub subscription per store and the envelope it carries.
//! - `queue`: the consumer-group side: claiming, blocking reads and heartbeats.
//! - `maintenance`: reclaiming the leases of vanished workers, promoting due retries and
//!   sweeping expired jobs out of the listings.
//! - `outbox`: the notifier's side of the webhook outbox: its consumer group, reading and
//!   reclaiming entries.
//! - `webhooks`: [`WebhookStore`](super::WebhookStore) on one partition: subscriptions and
//!   endpoint health.
//! - `deliveries`: the deliveries of that store: storing, claiming, recording and listing.
//! - `api_keys`: [`KeyStore`](super::KeyStore) on one partition: API keys (a hash per key and
//!   a set of ids).
//!
//! # How a change is written
//! Rust reads the job, computes the next version and its event with the state machine in
//! [`crate::job`], and hands both to one script that applies them only if the job's `seq`
//! still equals the one read (compare-and-set). The script also appends the history and the
//! tenant's feed, moves the queue entry, updates the listing indexes, sets the expiry of a
//! finished job and publishes the event with its feed cursor. Lua never parses JSON: Rust
//! passes everything precomputed. A refused compare-and-set is a lost lease for a worker's
//! write, and a re-read and retry for a client's cancel.
//!
//! # Feeds
//! Each tenant's feed is a stream capped by count and trimmed by age; each entry names the
//! one before it, so a reader can tell when it missed events (see `feed`).
//!
//! # Queues and leases
//! Each job type run by Herald's workers has a stream with the consumer group `workers`; each
//! type run by external workers has one per tenant (see `keys` and
//! `Partition::queues_of`). A pending job holds one live entry (its id is in the job hash,
//! field `entry`) or, while a retry waits for its delay, a member of the type's delayed set.
//! Claiming reads the entry with `XREADGROUP`;
//! while the job runs the entry stays in the group's pending list, and that pending entry is
//! the lease: heartbeats reset its idle time, and maintenance reclaims entries idle longer
//! than the lease timeout with `XAUTOCLAIM`. Entries are deleted when acknowledged, so a
//! stream only holds live work.
//!
//! # Webhooks
//! The job scripts also write the webhook outbox, in the same atomic write as the change, when
//! the job's own webhook wants the event (its hash's `hook_events`) or an enabled subscription
//! of its tenant does (the tenant's wants counters, see `keys`): a job without a webhook in a
//! tenant without subscriptions pays one `HMGET` and writes nothing. The outbox is a stream
//! read by the consumer group `notifier`; expanding an entry into deliveries acknowledges and
//! deletes it in one script, so the stream only holds events not yet expanded. Deliveries are
//! hashes scheduled in one sorted set of due times; a claim leases a delivery by moving its
//! score to the end of the lease. A job's webhook status (`Job::webhook`) lives beside its
//! record, in fields the notifier writes without moving `seq`.
//!
//! # When Redis is unreachable
//! Every command on the shared connection is bounded by the command timeout, and that bound
//! covers waiting for a reconnection too ([`RedisTimeouts`]): while Redis is down, frozen or
//! still loading its data, a command fails within about that long with
//! [`StoreError::Unavailable`] instead of waiting through the client's reconnection attempts.
//! The client reconnects in rounds of a few attempts with short pauses: a Redis that returns
//! during a round is found by its next attempt. A round that failed is only followed by another
//! when a command comes, and that command fails at once (the round's error) while starting it:
//! with traffic (or `/readyz` probes) the first commands after Redis returns may still fail,
//! for about a second, never more. Blocking reads keep their own, longer timeouts (see
//! `queue`). The connection and the error classification are `connection`'s.
//!
//! # Requirements
//! Redis 6.2 or later (`XAUTOCLAIM`, `ZRANGE … BYLEX REV`, exclusive `XRANGE` starts);
//! tested on 7.0. Every key carries its partition's hash tag (see `keys`), so each script and
//! each multi-key command touches one slot, as Redis Cluster requires.
//!
//! # What a job costs
//! A job is one hash (record, payload, history, result, webhook bodies), so a change is one
//! `HSET` and a finished job's expiry one `PEXPIRE`; it sits in the listing index of its status
//! only. Concurrent creations share one script call, and so do concurrent transitions (`batch`):
//! what a call pays once — a feed's newest cursor read and written, the feed trimmed and its
//! expiry renewed, a tenant's wants counters, one `PUBLISH` — is shared by every job in it.

mod address;
mod api_keys;
mod batch;
mod connection;
mod deliveries;
mod feed;
mod jobs;
mod keys;
mod listing;
mod maintenance;
mod outbox;
mod partitioned;
mod queue;
mod scripts;
mod signals;
mod sources;
#[cfg(test)]
mod testing;
mod transition;
mod webhooks;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::RedisError;

use self::connection::{Bounded, Dedicated, Primary, backend};
pub use self::connection::{RedisAck, RedisTimeouts};
use self::keys::Keys;
pub use self::keys::partition_tag;
pub use self::partitioned::RedisStore;
use self::scripts::Scripts;
use super::{Signals, StoreConfig, StoreError};
use crate::event::Event;
use crate::ids::{JobId, JobType, TenantId};
use crate::job::Job;
use crate::webhook::HookStatus;

/// The consumer group of every queue stream.
const GROUP: &str = "workers";
/// How many signals a slow listener may fall behind before it is told to resync.
const SIGNAL_CAPACITY: usize = 4096;

/// One partition of a store on Redis (see `partitioned`): every key of it under one hash tag.
pub(super) struct Partition {
    /// The primary, and the shared multiplexed connection to it for every command that does
    /// not block.
    primary: Arc<Primary>,
    timeouts: RedisTimeouts,
    ack: RedisAck,
    keys: Keys,
    /// Which partition of the deployment this is (0 when it has one).
    index: usize,
    /// Whether the deployment has more than one partition: then a job's id names its
    /// partition ([`JobId::partition`]).
    partitioned: bool,
    /// The scripts for this kind of Redis (one server or a cluster).
    scripts: &'static Scripts,
    config: StoreConfig,
    signals: Signals,
    /// Queues whose consumer group this process has made sure of.
    groups: Mutex<HashSet<String>>,
    /// Idle connections for blocking reads (see `queue`), each with the primary it goes to.
    blocking: Mutex<Vec<(u64, Dedicated)>>,
    /// Rotates the queue read first, so a busy type cannot starve the others.
    rotation: AtomicUsize,
    /// Consecutive reads that found their consumer group missing: paces the recreation.
    missing_groups: AtomicU32,
    /// Whether this process has made sure the outbox has its consumer group.
    outbox_group: AtomicBool,
    /// Consecutive outbox reads that found its consumer group missing.
    missing_outbox_group: AtomicU32,
    /// When this process last reclaimed outbox entries a notifier left idle.
    outbox_reclaimed_at: Mutex<Option<tokio::time::Instant>>,
    /// Group commit of creations and transitions (see `batch`).
    batchers: batch::Batchers,
    _subscription: signals::Subscription,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

fn corrupt(what: &str, id: &JobId, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what} of job {id}: {e}"))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("failed to encode: {e}")))
}

/// Milliseconds for Redis, saturating (a duration beyond `u64` milliseconds is "forever").
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The longest expiry handed to Redis: a century is "forever" for a job, while a larger value
/// would make Redis refuse the whole write (`invalid expire time`).
const MAX_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// An expiry in milliseconds as Redis accepts it: at least 1 ms, at most [`MAX_TTL`].
fn ttl_millis(duration: Duration) -> u64 {
    millis(duration.clamp(Duration::from_millis(1), MAX_TTL))
}

/// Keys that every deployment of the first layout (names without the prefix's hash tag) had
/// once it had run a job or held an API key.
const FIRST_LAYOUT_KEYS: [&str; 4] = ["outbox", "expiring", "apikeys", "due"];

/// The layout this version writes, as `{p}:layout` records it. The one-slot layout before the
/// record existed kept each job's record in a `doc` field and had an index per unfinished
/// status; it is told apart by keys it had once it had run a job or held an API key.
const LAYOUT: &str = "2";

/// Refuses to run on a prefix that holds data of another layout: its jobs and API keys would
/// go unseen (see docs/architecture.md, "Upgrading"). A prefix without data is marked with
/// this version's layout.
async fn check_layout(conn: &mut Bounded, prefix: &str, keys: &Keys) -> Result<(), StoreError> {
    let unmarked = [keys.outbox(), keys.expiring(), keys.api_keys(), keys.due()];
    let look = backend("look for data of an earlier Herald");
    let layout: Option<String> = ::redis::cmd("GET")
        .arg(keys.layout())
        .query_async(conn)
        .await
        .map_err(&look)?;
    // One command a key: the first layout's keys each hash to a slot of their own, which a
    // Redis Cluster serves from any of its shards.
    let mut found = Vec::new();
    for key in FIRST_LAYOUT_KEYS
        .iter()
        .map(|name| format!("{prefix}:{name}"))
        .chain(unmarked.iter().cloned())
    {
        let exists: bool = ::redis::cmd("EXISTS")
            .arg(key)
            .query_async(conn)
            .await
            .map_err(&look)?;
        found.push(exists);
    }
    let (first, later) = found.split_at(FIRST_LAYOUT_KEYS.len());
    let other = FIRST_LAYOUT_KEYS
        .iter()
        .zip(first)
        .find_map(|(name, found)| found.then(|| format!("{prefix}:{name}")))
        .or_else(|| match &layout {
            Some(layout) if layout != LAYOUT => Some(keys.layout()),
            Some(_) => None,
            None => unmarked
                .iter()
                .zip(later)
                .find_map(|(key, found)| found.then(|| key.clone())),
        });
    if let Some(key) = other {
        return Err(StoreError::Backend(format!(
            "Redis holds data that another version of Herald stored under the prefix `{prefix}` \
             (`{key}`, and more under `{prefix}:*`), in a layout this version does not read: \
             its jobs and API keys would go unseen. Let that version finish its jobs, recreate \
             the API keys and delete the old keys (`redis-cli --scan --pattern '{prefix}:*'` \
             and `'{{{prefix}}}:*'` list them), or choose another --redis-prefix"
        )));
    }
    if layout.is_none() {
        ::redis::cmd("SET")
            .arg(keys.layout())
            .arg(LAYOUT)
            .arg("NX")
            .query_async::<()>(conn)
            .await
            .map_err(backend("record the key layout"))?;
    }
    Ok(())
}

/// How many entries a feed keeps at least. Never 0: a feed trimmed empty would lose the `prev`
/// link that tells readers they missed events.
fn feed_max(config: &StoreConfig) -> usize {
    config.event_log_max.max(1)
}

/// How long a feed keeps events, in milliseconds (`MINID ~`, and the stream's expiry).
fn feed_keep(config: &StoreConfig) -> u64 {
    ttl_millis(config.retention)
}

/// How many entries the outbox keeps at least (`MAXLEN ~`).
fn outbox_max(config: &StoreConfig) -> usize {
    config.outbox_max.max(1)
}

/// A handle on the primary's shared connection, every command bounded by the command timeout.
fn plain(primary: &Arc<Primary>, timeouts: RedisTimeouts) -> Bounded {
    Bounded {
        primary: Arc::clone(primary),
        timeout: timeouts.command,
        confirm: None,
    }
}

/// A handle for acknowledged writes: under [`RedisAck::Replicated`], each command waits for a
/// replica's confirmation too, within the command timeout plus the confirmation's.
fn acknowledging(primary: &Arc<Primary>, timeouts: RedisTimeouts, ack: RedisAck) -> Bounded {
    match ack {
        RedisAck::Local => plain(primary, timeouts),
        RedisAck::Replicated { timeout } => Bounded {
            primary: Arc::clone(primary),
            timeout: timeouts.command + timeout,
            confirm: Some(timeout),
        },
    }
}

/// Where the jobs of one tenant and type wait (see [`Partition::queues_of`]).
#[derive(Debug, Clone)]
struct Queues {
    /// The queue stream.
    queue: String,
    /// Its retries waiting for their delay.
    delayed: String,
    /// The queue's member of `external-active`; `None` for a shared queue.
    active: Option<String>,
}

/// How a [`RedisStore`] connects, besides its URL, prefix and tunables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisOptions {
    pub timeouts: RedisTimeouts,
    /// Whether [`Store::signals`](crate::store::Store::signals) carries job events. A process
    /// that serves no event streams and no long polls (one running only workers or the
    /// notifier) does without them, and Redis then does not send it every event of the
    /// deployment. Cancel requests, revoked keys and resyncs come either way.
    pub events: bool,
    /// When a write is acknowledged: on the primary, or once a replica has it too.
    pub ack: RedisAck,
    /// How many partitions the deployment's keys are spread over (1 to
    /// [`MAX_PARTITIONS`](crate::feed::MAX_PARTITIONS)): each is a hash slot of its own, so on
    /// a Redis Cluster they can be served by different shards. Fixed when the deployment
    /// first starts; `None` is whatever it has (1 for a new one).
    pub partitions: Option<usize>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeouts: RedisTimeouts::default(),
            events: true,
            ack: RedisAck::Local,
            partitions: None,
        }
    }
}

/// A job's record as its hash keeps it: the snapshot of its latest event (`last`, the newest
/// entry of its history too), so a change sends Redis the job once, inside its event.
fn record_of(last: &str) -> Result<Job, serde_json::Error> {
    serde_json::from_str::<Event>(last).map(|event| event.job)
}

/// A job as stored: its record and its current queue entry ("" when it has none).
#[derive(Debug)]
struct Stored {
    job: Job,
    entry: String,
}

impl Stored {
    /// A job's record from its hash's `last` (its latest event) and `entry`.
    fn parse(id: &JobId, last: &str, entry: Option<String>) -> Result<Self, StoreError> {
        Ok(Self {
            job: record_of(last).map_err(|e| corrupt("the record", id, e))?,
            entry: entry.unwrap_or_default(),
        })
    }
}

/// The fields of a job hash that say what became of its own webhook, read with its record.
const HOOK_FIELDS: [&str; 2] = ["hook_events", "hook_state"];

/// A job's webhook status from its hash's `hook_events` (set when it has a webhook) and
/// `hook_state` (set once a delivery exists). An unreadable state reads as waiting: it is a
/// display, and must not make the job itself unreadable.
fn hook_status(
    id: &JobId,
    hook_events: Option<&str>,
    hook_state: Option<&str>,
) -> Option<HookStatus> {
    hook_events?;
    let Some(raw) = hook_state else {
        return Some(HookStatus::WAITING);
    };
    match deliveries::parse_hook_status(raw) {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(job_id = %id, error = %e, "the webhook status of a job is unreadable");
            Some(HookStatus::WAITING)
        }
    }
}

impl Partition {
    /// Opens partition `index` of a deployment over `primary`, its keys named by `keys`,
    /// announcing what it hears to `signals` (shared by every partition of the store).
    async fn open(
        primary: Arc<Primary>,
        keys: Keys,
        index: usize,
        partitioned: bool,
        config: StoreConfig,
        options: RedisOptions,
        signals: Signals,
    ) -> Result<Self, StoreError> {
        let RedisOptions {
            timeouts,
            events,
            ack,
            ..
        } = options;
        let mut channels = vec![keys.signals()];
        if events {
            channels.push(keys.events());
        }
        let subscription = signals::subscribe(
            Arc::clone(&primary),
            channels,
            index,
            signals.clone(),
            timeouts,
        )
        .await?;
        let mut record_head = batch::Item::default();
        record_head.key(keys.due());
        let mut requests_head = batch::Item::default();
        requests_head.arg(config.source_requests_max.max(1));
        let scripts = Scripts::of(primary.is_cluster());
        let batchers = batch::Batchers::start(
            scripts,
            &acknowledging(&primary, timeouts, ack),
            batch::Heads {
                create: jobs::create_head(&keys, &config),
                transition: transition::head(&keys, &config),
                record: record_head,
                requests: requests_head,
            },
        );
        Ok(Self {
            primary,
            timeouts,
            ack,
            keys,
            index,
            partitioned,
            scripts,
            config,
            signals,
            groups: Mutex::new(HashSet::new()),
            blocking: Mutex::new(Vec::new()),
            rotation: AtomicUsize::new(0),
            missing_groups: AtomicU32::new(0),
            outbox_group: AtomicBool::new(false),
            missing_outbox_group: AtomicU32::new(0),
            outbox_reclaimed_at: Mutex::new(None),
            batchers,
            _subscription: subscription,
        })
    }

    /// A fresh id for a job of this partition.
    fn new_job_id(&self) -> JobId {
        if self.partitioned {
            // At most `MAX_PARTITIONS` (64) partitions: the index fits a byte.
            JobId::generate_in(u8::try_from(self.index).unwrap_or(u8::MAX))
        } else {
            JobId::generate()
        }
    }

    /// Where the jobs of `tenant` of `job_type` wait: the type's shared queue, or for a type
    /// the catalog gives to external workers, the tenant's own queue of it. Every write that
    /// queues a job asks here, so a job never lands in the other kind of queue.
    fn queues_of(&self, tenant: &TenantId, job_type: &JobType) -> Queues {
        if self.config.job_types.is_external(job_type) {
            Queues {
                queue: self.keys.external_queue(tenant, job_type),
                delayed: self.keys.external_delayed(tenant, job_type),
                active: Some(keys::active_member(tenant, job_type)),
            }
        } else {
            Queues {
                queue: self.keys.queue(job_type),
                delayed: self.keys.delayed(job_type),
                active: None,
            }
        }
    }

    /// The streams of `tenant`'s own queues of those of `types` run by external workers.
    fn external_queues(&self, tenant: &TenantId, types: &[JobType]) -> Vec<String> {
        types
            .iter()
            .filter(|t| self.config.job_types.is_external(t))
            .map(|t| self.queues_of(tenant, t).queue)
            .collect()
    }

    /// A handle on the shared connection (cheap: it is multiplexed), every command on it
    /// bounded by the command timeout.
    fn conn(&self) -> Bounded {
        plain(&self.primary, self.timeouts)
    }

    /// [`Partition::conn`] for the writes that are acknowledged to whoever asked for them (a
    /// `202`, a completion, a recorded delivery): under [`RedisAck::Replicated`], each only
    /// once a replica has it.
    fn acked(&self) -> Bounded {
        acknowledging(&self.primary, self.timeouts, self.ack)
    }

    /// The job's record (with its webhook status) and queue entry, whoever its tenant.
    async fn read(&self, id: &JobId) -> Result<Option<Stored>, StoreError> {
        let (last, entry, hook_events, hook_state): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = ::redis::cmd("HMGET")
            .arg(self.keys.job(id))
            .arg("last")
            .arg("entry")
            .arg(&HOOK_FIELDS)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job"))?;
        let Some(last) = last else { return Ok(None) };
        let mut stored = Stored::parse(id, &last, entry)?;
        stored.job.webhook = hook_status(id, hook_events.as_deref(), hook_state.as_deref());
        Ok(Some(stored))
    }

    /// How long a feed keeps events, in milliseconds (`MINID ~`, and the stream's expiry).
    fn feed_keep(&self) -> u64 {
        feed_keep(&self.config)
    }

    /// Creates `group` on `stream` (and the stream) from id 0, so entries added before the
    /// group are delivered too; a group that exists already is fine.
    async fn create_group(
        &self,
        stream: &str,
        group: &str,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let created: Result<(), RedisError> = ::redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn())
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(backend(context)(e)),
            _ => Ok(()),
        }
    }
}
