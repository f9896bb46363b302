//! The Redis backend: jobs, queues, leases, histories and results in one Redis shared by
//! every Herald process.
//!
//! # Layout
//! - `keys`: the key layout (documented there, with every key's type and fields).
//! - `scripts`: the Lua scripts; one per atomic write, each documented in its file.
//! - `signals`: the one pub/sub subscription per store and the envelope it carries.
//! - `queue`: the consumer-group side: claim, heartbeat and maintenance.
//! - `outbox`: the notifier's side of the webhook outbox: its consumer group, reading and
//!   reclaiming entries.
//! - `webhooks`: [`WebhookStore`](super::WebhookStore): subscriptions and deliveries.
//! - `api_keys`: [`KeyStore`](super::KeyStore): API keys (a hash per key and a set of ids).
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
//! Each tenant's feed is a stream capped with `MAXLEN ~` (at least `event_log_max` entries
//! are kept) and trimmed by age with `MINID ~` (nothing older than the retention is kept, give
//! or take one stream node), and it expires once the tenant has been quiet for the retention;
//! an entry's id is its [`FeedCursor`]. A read serves an event only while it is younger than
//! its job type's retention (or the install's, when shorter: see
//! [`StoreConfig::feed_keep_of`]), by the server's clock, so nothing of an expired job is read
//! from a feed. Each entry names the entry before it (`prev`, kept across an expiry by the
//! feed's `:last` key), so the oldest entry kept names the newest one gone: a reader after
//! cursor `c` missed events exactly when that one is newer than `c`, or when an entry after
//! `c` is no longer served. (`XINFO STREAM`'s `max-deleted-entry-id` cannot tell: trimming
//! does not move it, only `XDEL` does.)
//!
//! # Queues and leases
//! Each job type run by Herald's workers has a stream with the consumer group `workers`; each
//! type run by external workers has one per tenant (see `keys` and [`RedisStore::queues_of`]). A pending job holds one
//! live entry (its id is in the job hash, field `entry`) or, while a retry waits for its
//! delay, a member of the type's delayed set. Claiming reads the entry with `XREADGROUP`;
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
//! for about a second, never more.
//! Blocking reads keep their own, longer timeouts (see `queue`).
//!
//! # Requirements
//! Redis 6.2 or later (`XAUTOCLAIM`, `ZRANGE … BYLEX REV`, exclusive `XRANGE` starts);
//! tested on 7.0. One Redis server (with replicas if wanted): a script touches keys of
//! several hash slots, so Redis Cluster is not supported yet, although the keys already carry
//! hash tags for it.

mod api_keys;
mod keys;
mod outbox;
mod queue;
mod scripts;
mod signals;
mod webhooks;

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
use std::time::Duration;

use ::redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use ::redis::streams::{StreamId, StreamRangeReply};
use ::redis::{
    Client, Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline, ProtocolVersion,
    RedisError, RedisFuture, ServerErrorKind, Value,
};
use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;

use self::keys::Keys;
use super::{
    CAS_ATTEMPTS, CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery,
    Maintenance, Signal, Store, StoreConfig, StoreError, fingerprint,
};
use crate::event::Event;
use crate::feed::{FeedCursor, FeedEntry, FeedPage};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobError, JobOutput, JobStatus, NewJob, Progress};
use crate::webhook::HookStatus;

/// The consumer group of every queue stream.
const GROUP: &str = "workers";
/// How many times in a row the client retries a lost connection before the command waiting
/// for it fails; the next command starts another round. Few and short, so that a Redis that
/// comes back is found within about [`MAX_RECONNECT_DELAY`].
const RECONNECT_RETRIES: usize = 3;
/// The longest pause between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How many feed entries a read asks for at once after it had to pass over entries the feed no
/// longer serves (see `feed`).
const FEED_SKIP_BATCH: usize = 256;
/// How many signals a slow listener may fall behind before it is told to resync.
const SIGNAL_CAPACITY: usize = 4096;

/// How long talking to Redis may take before the store gives up and answers
/// [`StoreError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisTimeouts {
    /// Opening a connection: TCP (and TLS) and the handshake.
    pub connect: Duration,
    /// One command (or pipeline, or script) on the shared connection, from the moment it is
    /// issued: waiting for a lost connection to come back is included. Blocking reads are not
    /// bounded by it: they wait as long as asked, plus a margin.
    pub command: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            command: Duration::from_secs(1),
        }
    }
}

/// The shared connection with every command bounded by the command timeout. The manager's own
/// response timeout only bounds a command sent on a live connection: a command issued while
/// the manager reconnects waits for the whole round of reconnection attempts.
#[derive(Clone)]
struct Bounded {
    conn: ConnectionManager,
    timeout: Duration,
}

impl Bounded {
    async fn bound<T>(
        timeout: Duration,
        command: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        tokio::time::timeout(timeout, command)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("Redis did not answer within {timeout:?}"),
                )
                .into())
            })
    }
}

impl ConnectionLike for Bounded {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(Self::bound(self.timeout, self.conn.req_packed_command(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(Self::bound(
            self.timeout,
            self.conn.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// Whether a Redis error means Redis cannot serve right now, rather than that the request
/// failed: the connection is down or timed out, or the server is loading its data, has no
/// primary to follow, is a replica refusing writes (a failover under way) or is busy running a
/// script.
fn is_unavailable(e: &RedisError) -> bool {
    match e.kind() {
        ErrorKind::Io
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::MasterNameNotFoundBySentinel
        | ErrorKind::NoValidReplicasFoundBySentinel
        | ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly,
        ) => true,
        ErrorKind::Extension => matches!(e.code(), Some("BUSY")),
        _ => false,
    }
}

/// A store on Redis, shared by every role of a process (and by every process of a
/// deployment through Redis itself).
pub struct RedisStore {
    /// The shared multiplexed connection for every command that does not block.
    conn: ConnectionManager,
    timeouts: RedisTimeouts,
    /// Opens the dedicated connections of blocking reads.
    client: Client,
    keys: Keys,
    config: StoreConfig,
    signals: broadcast::Sender<Signal>,
    /// Queues whose consumer group this process has made sure of.
    groups: Mutex<HashSet<String>>,
    /// Idle connections for blocking reads (see `queue`).
    blocking: Mutex<Vec<MultiplexedConnection>>,
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
    _subscription: signals::Subscription,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Maps a Redis error to the store's, saying what was being done: [`StoreError::Unavailable`]
/// when Redis cannot serve right now ([`is_unavailable`]), else [`StoreError::Backend`].
fn backend(context: &'static str) -> impl Fn(RedisError) -> StoreError {
    move |e| {
        let message = format!("failed to {context}: {e}");
        if is_unavailable(&e) {
            StoreError::Unavailable(message)
        } else {
            StoreError::Backend(message)
        }
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

/// What happens to a job's queue entry with a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QueueAction {
    /// Nothing (the job starts, or reports progress).
    Keep,
    /// The entry goes (acknowledged and deleted) and so does a waiting delayed retry.
    Drop,
    /// The entry goes and a fresh one joins the end of the queue.
    Requeue,
    /// The entry goes and the job waits in the delayed set until its retry is due.
    Delay(Duration),
}

/// A transition computed in Rust, ready for the script.
struct Change<'a> {
    /// The version the change was computed from: its `seq` is the compare-and-set guard.
    before: &'a Job,
    after: &'a Job,
    event: &'a Event,
    queue: QueueAction,
    /// The queue entry the job must still hold (a claim starting it), if any.
    expect_entry: Option<&'a str>,
    output: Option<&'a JobOutput>,
}

/// Where the jobs of one tenant and type wait (see [`RedisStore::queues_of`]).
#[derive(Debug, Clone)]
struct Queues {
    /// The queue stream.
    queue: String,
    /// Its retries waiting for their delay.
    delayed: String,
    /// The queue's member of `external-active`; `None` for a shared queue.
    active: Option<String>,
}

/// A job as stored: its record and its current queue entry ("" when it has none).
#[derive(Debug)]
struct Stored {
    job: Job,
    entry: String,
}

impl Stored {
    fn parse(id: &JobId, doc: &str, entry: Option<String>) -> Result<Self, StoreError> {
        Ok(Self {
            job: serde_json::from_str(doc).map_err(|e| corrupt("the record", id, e))?,
            entry: entry.unwrap_or_default(),
        })
    }
}

/// What one read of a feed found.
struct FeedBatch {
    /// The server's clock, in Unix milliseconds: the clock the cursors are taken from.
    now_ms: u64,
    /// The newest entry trimmed, or expired with the whole stream, if any.
    newest_gone: Option<FeedCursor>,
    entries: Vec<FeedEntry>,
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
    match webhooks::parse_hook_status(raw) {
        Ok(status) => Some(status),
        Err(e) => {
            tracing::warn!(job_id = %id, error = %e, "the webhook status of a job is unreadable");
            Some(HookStatus::WAITING)
        }
    }
}

impl RedisStore {
    /// Connects to the Redis at `url` and keeps every key under `prefix` (production uses
    /// `herald`; tests take a fresh prefix each), with the default [`RedisTimeouts`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is invalid, [`StoreError::Unavailable`] when Redis
    /// cannot be reached.
    pub async fn connect(url: &str, prefix: &str, config: StoreConfig) -> Result<Self, StoreError> {
        Self::connect_with(url, prefix, config, RedisTimeouts::default()).await
    }

    /// [`RedisStore::connect`] with the given timeouts.
    ///
    /// # Errors
    /// As [`RedisStore::connect`].
    pub async fn connect_with(
        url: &str,
        prefix: &str,
        config: StoreConfig,
        timeouts: RedisTimeouts,
    ) -> Result<Self, StoreError> {
        let info = url
            .into_connection_info()
            .map_err(backend("read the Redis URL"))?;
        // Commands speak RESP2 whatever the URL asks for, so replies have one shape; the
        // subscription sets RESP3 for itself.
        let client = Client::open(with_protocol(&info, ProtocolVersion::RESP2))
            .map_err(backend("open the Redis client"))?;
        let manager_config = manager_config(timeouts);
        let conn = ConnectionManager::new_with_config(client.clone(), manager_config)
            .await
            .map_err(backend("connect to Redis"))?;
        let keys = Keys::new(prefix);
        let (signals, _) = broadcast::channel(SIGNAL_CAPACITY);
        let subscription =
            signals::subscribe(info, keys.signals(), signals.clone(), timeouts).await?;
        Ok(Self {
            conn,
            timeouts,
            client,
            keys,
            config,
            signals,
            groups: Mutex::new(HashSet::new()),
            blocking: Mutex::new(Vec::new()),
            rotation: AtomicUsize::new(0),
            missing_groups: AtomicU32::new(0),
            outbox_group: AtomicBool::new(false),
            missing_outbox_group: AtomicU32::new(0),
            outbox_reclaimed_at: Mutex::new(None),
            _subscription: subscription,
        })
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

    /// A handle on the shared connection (cheap: it is multiplexed), every command on it
    /// bounded by the command timeout.
    fn conn(&self) -> Bounded {
        Bounded {
            conn: self.conn.clone(),
            timeout: self.timeouts.command,
        }
    }

    /// The job's record (with its webhook status) and queue entry, whoever its tenant.
    async fn read(&self, id: &JobId) -> Result<Option<Stored>, StoreError> {
        let (doc, entry, hook_events, hook_state): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
        ) = ::redis::cmd("HMGET")
            .arg(self.keys.job(id))
            .arg("doc")
            .arg("entry")
            .arg(&HOOK_FIELDS)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job"))?;
        let Some(doc) = doc else { return Ok(None) };
        let mut stored = Stored::parse(id, &doc, entry)?;
        stored.job.webhook = hook_status(id, hook_events.as_deref(), hook_state.as_deref());
        Ok(Some(stored))
    }

    /// How many entries a feed keeps at least. Never 0: a feed trimmed empty would lose the
    /// `prev` link that tells readers they missed events.
    fn feed_max(&self) -> usize {
        self.config.event_log_max.max(1)
    }

    /// How long a feed keeps events, in milliseconds (`MINID ~`, and the stream's expiry).
    fn feed_keep(&self) -> u64 {
        ttl_millis(self.config.retention)
    }

    /// How many entries the outbox keeps at least (`MAXLEN ~`).
    fn outbox_max(&self) -> usize {
        self.config.outbox_max.max(1)
    }

    /// One read of a tenant's feed, in one transaction: the server's clock, the newest entry
    /// gone (the oldest entry's `prev`, see `# Feeds`) and up to `count` entries after `from`.
    async fn read_feed(
        &self,
        tenant: &TenantId,
        from: FeedCursor,
        count: usize,
    ) -> Result<FeedBatch, StoreError> {
        let feed = self.keys.feed(tenant);
        // One transaction: the oldest entry, the clock and the page must come from the same
        // moment, or a trim in between could report as missed an entry the page holds.
        let ((secs, micros), oldest, page): ((u64, u64), StreamRangeReply, StreamRangeReply) =
            ::redis::pipe()
                .atomic()
                .cmd("TIME")
                .cmd("XRANGE")
                .arg(&feed)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .cmd("XRANGE")
                .arg(&feed)
                .arg(format!("({from}"))
                .arg("+")
                .arg("COUNT")
                .arg(count.min(i64::MAX as usize))
                .query_async(&mut self.conn())
                .await
                .map_err(backend("read a tenant's feed"))?;
        let newest_gone = oldest
            .ids
            .first()
            .map(|entry| prev_of(tenant, entry))
            .transpose()?
            .flatten();
        let entries = page
            .ids
            .iter()
            .map(|entry| feed_entry(tenant, entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedBatch {
            now_ms: secs.saturating_mul(1000).saturating_add(micros / 1000),
            newest_gone,
            entries,
        })
    }

    /// Applies a transition; `false` when the job moved on since `before` was read.
    async fn apply(&self, change: Change<'_>) -> Result<bool, StoreError> {
        let Change {
            before,
            after,
            event,
            queue,
            expect_entry,
            output,
        } = change;
        let (id, tenant, job_type) = (&after.id, &after.tenant, &after.job_type);
        let event_json = to_json(event)?;
        let (action, delay) = match queue {
            QueueAction::Keep => ("keep", Duration::ZERO),
            QueueAction::Drop => ("drop", Duration::ZERO),
            QueueAction::Requeue => ("requeue", Duration::ZERO),
            QueueAction::Delay(delay) => ("delay", delay),
        };
        // Never 0 for a finished job: the script reads 0 as "not finished".
        let retention = if after.status.is_terminal() {
            ttl_millis(self.config.retention_of(job_type))
        } else {
            0
        };
        let queues = self.queues_of(tenant, job_type);
        let (content_type, body) = match output {
            Some(output) if output.content_type.is_empty() => {
                ("application/octet-stream", &output.body[..])
            }
            Some(output) => (output.content_type.as_str(), &output.body[..]),
            None => ("", &[][..]),
        };
        let keys = &self.keys;
        let mut call = scripts::TRANSITION.prepare_invoke();
        call.key(keys.job(id))
            .key(keys.history(id))
            .key(keys.feed(tenant))
            .key(keys.cancel(id))
            .key(keys.payload(id))
            .key(keys.result(id))
            .key(&queues.queue)
            .key(&queues.delayed)
            .key(keys.expiring())
            .key(keys.index(tenant, Some(before.status), None))
            .key(keys.index(tenant, Some(after.status), None))
            .key(keys.index(tenant, Some(before.status), Some(job_type)))
            .key(keys.index(tenant, Some(after.status), Some(job_type)))
            .key(keys.outbox())
            .key(keys.wants(tenant))
            .key(keys.external_active())
            .key(keys.feed_last(tenant))
            .key(keys.bodies(id));
        call.arg(before.seq)
            .arg(after.seq)
            .arg(to_json(after)?)
            .arg(after.status.as_str())
            .arg(&event_json)
            .arg(id.to_string())
            .arg(self.config.history_max)
            .arg(self.feed_max())
            .arg(keys.signals())
            .arg(GROUP)
            .arg(expect_entry.unwrap_or(""))
            .arg(action)
            .arg(millis(delay.min(MAX_TTL)))
            .arg(retention)
            .arg(keys::expiring_member(tenant, job_type, after.status, id))
            .arg(content_type)
            .arg(body)
            .arg(if before.status == after.status {
                "0"
            } else {
                "1"
            })
            .arg(event.kind.as_str())
            .arg(job_type.as_str())
            .arg(tenant.as_str())
            .arg(self.outbox_max())
            .arg(queues.active.as_deref().unwrap_or(""))
            .arg(self.feed_keep());
        let applied: i64 = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("write a job transition"))?;
        Ok(applied == 1)
    }

    /// Applies a worker's transition of its leased job: a refused compare-and-set means the
    /// job moved on without this worker.
    async fn apply_leased(&self, change: Change<'_>) -> Result<(), StoreError> {
        if self.apply(change).await? {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }

    /// One page of ids from a listing index (of jobs, or of a subscription's deliveries),
    /// newest first, below `upper` (a ZRANGE BYLEX bound: `+` or `(<id>`).
    async fn index_page(
        &self,
        index: &str,
        upper: &str,
        count: usize,
        context: &'static str,
    ) -> Result<Vec<String>, StoreError> {
        ::redis::cmd("ZRANGE")
            .arg(index)
            .arg(upper)
            .arg("-")
            .arg("BYLEX")
            .arg("REV")
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut self.conn())
            .await
            .map_err(backend(context))
    }
}

/// How a connection manager connects, times out and reconnects (see the module's `# When Redis
/// is unreachable`).
fn manager_config(timeouts: RedisTimeouts) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.command))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(MAX_RECONNECT_DELAY)
}

/// The same server, speaking `protocol`.
fn with_protocol(info: &ConnectionInfo, protocol: ProtocolVersion) -> ConnectionInfo {
    let settings = info.redis_settings().clone().set_protocol(protocol);
    info.clone().set_redis_settings(settings)
}

/// A feed entry as stored: its id is the cursor, its `event` field the event.
fn feed_entry(tenant: &TenantId, entry: &StreamId) -> Result<FeedEntry, StoreError> {
    let cursor = entry.id.parse().map_err(|_| {
        StoreError::Corrupt(format!(
            "an entry of the feed of tenant {tenant} has the id `{}`",
            entry.id
        ))
    })?;
    let event = match entry.map.get("event") {
        Some(Value::BulkString(bytes)) => serde_json::from_slice(bytes).map_err(|e| {
            StoreError::Corrupt(format!(
                "the event at {cursor} in the feed of tenant {tenant}: {e}"
            ))
        })?,
        other => {
            return Err(StoreError::Corrupt(format!(
                "the entry {cursor} of the feed of tenant {tenant} holds no event: {other:?}"
            )));
        }
    };
    Ok(FeedEntry { cursor, event })
}

/// The `prev` of a feed entry: the id of the entry appended before it (`None` on the first).
fn prev_of(tenant: &TenantId, entry: &StreamId) -> Result<Option<FeedCursor>, StoreError> {
    let raw = match entry.map.get("prev") {
        None => return Ok(None),
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).ok(),
        Some(_) => None,
    };
    raw.and_then(|raw| raw.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the entry {} of the feed of tenant {tenant} names no readable `prev`",
                entry.id
            ))
        })
}

fn matches(job: &Job, tenant: &TenantId, query: &ListQuery) -> bool {
    &job.tenant == tenant
        && query.status.is_none_or(|status| job.status == status)
        && query.job_type.as_ref().is_none_or(|t| &job.job_type == t)
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        let id = JobId::generate();
        let (job, event) = Job::create(id, &new, Utc::now());
        let fingerprint = fingerprint(&new);
        let event_json = to_json(&event)?;
        let keys = &self.keys;
        let (tenant, job_type) = (&new.tenant, &new.job_type);
        let idempotency = new
            .idempotency_key
            .as_ref()
            .map(|key| keys.idempotency(tenant, key));
        let mut call = scripts::CREATE.prepare_invoke();
        // Without a key, KEYS[1] is a name the script never touches (it is still declared,
        // so the script's KEYS keep their positions).
        call.key(idempotency.as_deref().unwrap_or(&keys.job(&id)))
            .key(keys.job(&id))
            .key(keys.payload(&id))
            .key(keys.history(&id))
            .key(keys.feed(tenant))
            .key(self.queues_of(tenant, job_type).queue)
            .key(keys.index(tenant, None, None))
            .key(keys.index(tenant, Some(JobStatus::Pending), None))
            .key(keys.index(tenant, None, Some(job_type)))
            .key(keys.index(tenant, Some(JobStatus::Pending), Some(job_type)))
            .key(keys.outbox())
            .key(keys.wants(tenant))
            .key(keys.feed_last(tenant));
        // The webhook without its secret, which is kept apart, once: what the outbox copies.
        let hook = new
            .webhook
            .as_ref()
            .map(|hook| to_json(&hook.endpoint()))
            .transpose()?;
        call.arg(id.to_string())
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(format!("{id} {fingerprint}"))
            .arg(&fingerprint)
            .arg(ttl_millis(self.config.idempotency_ttl))
            .arg(keys.job_prefix())
            .arg(to_json(&job)?)
            .arg(job.seq)
            .arg(to_json(&new.payload)?)
            .arg(&event_json)
            .arg(tenant.as_str())
            .arg(self.config.history_max)
            .arg(self.feed_max())
            .arg(self.config.max_queue_len)
            .arg(GROUP)
            .arg(keys.signals())
            .arg(job.status.as_str())
            .arg(hook.as_deref().unwrap_or(""))
            .arg(
                new.webhook
                    .as_ref()
                    .map(|hook| keys::hook_events(&hook.endpoint()))
                    .unwrap_or_default(),
            )
            .arg(event.kind.as_str())
            .arg(job_type.as_str())
            .arg(self.outbox_max())
            .arg(self.feed_keep())
            .arg(
                new.webhook
                    .as_ref()
                    .map(|hook| hook.secret.expose())
                    .unwrap_or_default(),
            );
        let reply: Vec<String> = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("create a job"))?;
        match reply.first().map(String::as_str) {
            Some("created") => Ok(Created {
                job,
                replayed: false,
            }),
            Some("replayed") => {
                let doc = reply.get(1).map(String::as_str).unwrap_or_default();
                let mut earlier: Job = serde_json::from_str(doc).map_err(|e| {
                    StoreError::Corrupt(format!("a job replayed by idempotency key: {e}"))
                })?;
                let field = |i: usize| reply.get(i).map(String::as_str).filter(|f| !f.is_empty());
                earlier.webhook = hook_status(&earlier.id, field(2), field(3));
                Ok(Created {
                    job: earlier,
                    replayed: true,
                })
            }
            Some("mismatch") => Err(StoreError::IdempotencyMismatch),
            Some("full") => Err(StoreError::QueueFull(new.job_type)),
            other => Err(StoreError::Backend(format!(
                "failed to create a job: unexpected script reply {other:?}"
            ))),
        }
    }

    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        let stored = self.read(id).await?;
        Ok(stored.map(|s| s.job).filter(|job| &job.tenant == tenant))
    }

    async fn list(&self, tenant: &TenantId, query: &ListQuery) -> Result<JobPage, StoreError> {
        let limit = query.limit;
        if limit == 0 {
            return Ok(JobPage {
                jobs: Vec::new(),
                next_cursor: None,
            });
        }
        let index = self
            .keys
            .index(tenant, query.status, query.job_type.as_ref());
        let mut upper = query
            .before
            .map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        // One more than the page, to know whether another page follows.
        let wanted = limit + 1;
        let mut jobs = Vec::with_capacity(wanted);
        loop {
            let count = wanted - jobs.len();
            let ids = self
                .index_page(&index, &upper, count, "read a job listing")
                .await?;
            let Some(last) = ids.last() else { break };
            upper = format!("({last}");
            let mut pipe = ::redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET")
                    .arg(format!("{}{id}}}", self.keys.job_prefix()))
                    .arg("doc")
                    .arg(&HOOK_FIELDS);
            }
            let rows: Vec<(Option<String>, Option<String>, Option<String>)> = pipe
                .query_async(&mut self.conn())
                .await
                .map_err(backend("read listed jobs"))?;
            let mut gone = Vec::new();
            for (id, (doc, hook_events, hook_state)) in ids.iter().zip(rows) {
                let Some(doc) = doc else {
                    gone.push(id.as_str());
                    continue;
                };
                let mut job: Job = serde_json::from_str(&doc)
                    .map_err(|e| StoreError::Corrupt(format!("the record of job {id}: {e}")))?;
                job.webhook = hook_status(&job.id, hook_events.as_deref(), hook_state.as_deref());
                // The index and the record were read apart: a job that changed status in
                // between no longer belongs to a listing filtered by status.
                if matches(&job, tenant, query) {
                    jobs.push(job);
                }
            }
            if !gone.is_empty() {
                // Expired jobs that maintenance has not swept out of the index yet.
                ::redis::cmd("ZREM")
                    .arg(&index)
                    .arg(&gone)
                    .query_async::<()>(&mut self.conn())
                    .await
                    .map_err(backend("drop expired jobs from a listing"))?;
            }
            if ids.len() < count || jobs.len() >= wanted {
                break;
            }
        }
        let next_cursor = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(|job| job.id)
        } else {
            None
        };
        Ok(JobPage { jobs, next_cursor })
    }

    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError> {
        let Some(job) = self.get(tenant, id).await? else {
            return Ok(None);
        };
        if job.status != JobStatus::Completed || !job.has_result {
            return Ok(None);
        }
        let (content_type, body): (Option<String>, Option<Vec<u8>>) = ::redis::cmd("HMGET")
            .arg(self.keys.result(id))
            .arg("content_type")
            .arg("body")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job's result"))?;
        Ok(content_type
            .zip(body)
            .map(|(content_type, body)| JobOutput { content_type, body }))
    }

    async fn cancel(
        &self,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<CancelOutcome>, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(job) = self.get(tenant, id).await? else {
                return Ok(None);
            };
            match job.status {
                status if status.is_terminal() => {
                    return Ok(Some(CancelOutcome::AlreadyFinished(job)));
                }
                JobStatus::Pending => {
                    let (after, event) = job.cancel(Utc::now())?;
                    let change = Change {
                        before: &job,
                        after: &after,
                        event: &event,
                        queue: QueueAction::Drop,
                        expect_entry: None,
                        output: None,
                    };
                    if self.apply(change).await? {
                        return Ok(Some(CancelOutcome::Canceled(after)));
                    }
                }
                _ => {
                    let requested: i64 = scripts::CANCEL_REQUEST
                        .key(self.keys.job(id))
                        .key(self.keys.cancel(id))
                        .arg(self.keys.signals())
                        .arg(signals::cancel_envelope(id)?)
                        .invoke_async(&mut self.conn())
                        .await
                        .map_err(backend("request a job's cancellation"))?;
                    if requested == 1 {
                        return Ok(Some(CancelOutcome::Requested(job)));
                    }
                }
            }
            // The job moved between the read and the write (a worker took it, or it finished,
            // or went back to pending for a retry): decide again on its new state.
        }
        Err(StoreError::Backend(format!(
            "failed to cancel job {id}: it kept changing during {CAS_ATTEMPTS} attempts"
        )))
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let owner: Option<String> = ::redis::cmd("HGET")
            .arg(self.keys.job(id))
            .arg("tenant")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job's tenant"))?;
        if owner.as_deref() != Some(tenant.as_str()) {
            return Ok(Vec::new());
        }
        // History entry ids are `<seq>-0`: the range starts right after `after`.
        let reply: StreamRangeReply = ::redis::cmd("XRANGE")
            .arg(self.keys.history(id))
            .arg(after.saturating_add(1))
            .arg("+")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job's history"))?;
        reply
            .ids
            .iter()
            .filter_map(|entry| entry.map.get("event"))
            .map(|value| match value {
                Value::BulkString(bytes) => {
                    serde_json::from_slice::<Event>(bytes).map_err(|e| corrupt("an event", id, e))
                }
                other => Err(StoreError::Corrupt(format!(
                    "an event of job {id} is not a string: {other:?}"
                ))),
            })
            .collect()
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        let mut page = FeedPage {
            entries: Vec::new(),
            missed: false,
        };
        // Nothing follows the largest cursor (and Redis refuses it as an exclusive start).
        let last_possible = FeedCursor {
            ms: u64::MAX,
            n: u64::MAX,
        };
        let mut from = after;
        let mut first = true;
        while from != last_possible {
            // One entry at least, even for a limit of 0: whether the first one after `after`
            // is still served says whether the reader missed something. Once entries were
            // passed over (no longer served), more may follow: read on in batches of at least
            // `FEED_SKIP_BATCH`, so a page among many of them costs few round trips.
            let wanted = limit.saturating_sub(page.entries.len()).max(1);
            let count = if page.missed {
                wanted.max(FEED_SKIP_BATCH)
            } else {
                wanted
            };
            let batch = self.read_feed(tenant, from, count).await?;
            if first {
                page.missed |= batch.newest_gone.is_some_and(|gone| gone > after);
                first = false;
            }
            let full = batch.entries.len() == count;
            let oldest_kept = FeedCursor {
                ms: batch.now_ms.saturating_sub(self.feed_keep()),
                n: 0,
            };
            let mut jumped = false;
            for entry in batch.entries {
                if entry.cursor <= oldest_kept {
                    // Older than the feed keeps anything (`MINID ~` trims whole nodes): the
                    // rest of the window lies past these, where the read goes on.
                    page.missed = true;
                    from = from.max(oldest_kept);
                    jumped = true;
                    break;
                }
                from = entry.cursor;
                if !self.config.feed_serves(&entry, batch.now_ms) {
                    page.missed = true;
                } else if page.entries.len() < limit {
                    page.entries.push(entry);
                }
            }
            if !jumped && (!full || page.entries.len() >= limit) {
                break;
            }
        }
        Ok(page)
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        // `:last` outlives the stream: a feed that expired still ends where it did.
        let last: Option<String> = ::redis::cmd("GET")
            .arg(self.keys.feed_last(tenant))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read the end of a tenant's feed"))?;
        let last = match last {
            Some(last) => Some(last),
            None => {
                // A feed written before `:last` existed.
                let reply: StreamRangeReply = ::redis::cmd("XREVRANGE")
                    .arg(self.keys.feed(tenant))
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(backend("read the end of a tenant's feed"))?;
                reply.ids.into_iter().next().map(|entry| entry.id)
            }
        };
        match last {
            None => Ok(FeedCursor::START),
            Some(id) => id.parse().map_err(|_| {
                StoreError::Corrupt(format!(
                    "the feed of tenant {tenant} ends at an id `{id}` that is not a cursor"
                ))
            }),
        }
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_jobs(worker, types, max, wait).await
    }

    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.claim_external_jobs(worker, tenant, types, max, wait)
            .await
    }

    async fn lease(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Lease>, StoreError> {
        let Some(Stored { job, entry }) = self.read(id).await? else {
            return Ok(None);
        };
        if &job.tenant != tenant || job.status != JobStatus::Processing || entry.is_empty() {
            return Ok(None);
        }
        Ok(Some(Lease { job, entry }))
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: &Lease) -> Result<LeaseState, StoreError> {
        self.keep_lease(worker, lease).await
    }

    async fn progress(&self, lease: &mut Lease, progress: Progress) -> Result<(), StoreError> {
        let (after, event) = lease.job.report(progress, Utc::now())?;
        self.apply_leased(Change {
            before: &lease.job,
            after: &after,
            event: &event,
            queue: QueueAction::Keep,
            expect_entry: None,
            output: None,
        })
        .await?;
        lease.job = after;
        Ok(())
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError> {
        self.config.check_result(output.as_ref())?;
        let (after, event) = lease.job.complete(output.is_some(), Utc::now())?;
        self.apply_leased(Change {
            before: &lease.job,
            after: &after,
            event: &event,
            queue: QueueAction::Drop,
            expect_entry: None,
            output: output.as_ref(),
        })
        .await?;
        Ok(after)
    }

    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError> {
        let (after, event) = lease.job.fail(error, retry_after.is_some(), Utc::now())?;
        let queue = match retry_after {
            _ if after.status != JobStatus::Pending => QueueAction::Drop,
            Some(delay) if !delay.is_zero() => QueueAction::Delay(delay),
            _ => QueueAction::Requeue,
        };
        self.apply_leased(Change {
            before: &lease.job,
            after: &after,
            event: &event,
            queue,
            expect_entry: None,
            output: None,
        })
        .await?;
        Ok(after)
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        let (after, event) = lease.job.cancel(Utc::now())?;
        self.apply_leased(Change {
            before: &lease.job,
            after: &after,
            event: &event,
            queue: QueueAction::Drop,
            expect_entry: None,
            output: None,
        })
        .await?;
        Ok(after)
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        let (after, event) = lease.job.release(Utc::now())?;
        self.apply_leased(Change {
            before: &lease.job,
            after: &after,
            event: &event,
            queue: QueueAction::Requeue,
            expect_entry: None,
            output: None,
        })
        .await?;
        Ok(after)
    }

    async fn maintain(
        &self,
        worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        self.maintain_queues(worker, types).await
    }

    async fn maintain_external(&self, worker: &WorkerId) -> Result<Maintenance, StoreError> {
        self.maintain_external_queues(worker).await
    }

    fn signals(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        ::redis::cmd("PING")
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("ping Redis"))
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// The error a Redis server's answer `-<line>` becomes.
    fn server_error(line: &str) -> RedisError {
        ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes())
            .and_then(Value::extract_error)
            .expect_err("an error answer")
    }

    fn io_error(kind: io::ErrorKind) -> RedisError {
        io::Error::new(kind, "test").into()
    }

    #[test]
    fn a_redis_that_cannot_serve_right_now_is_unavailable() {
        for e in [
            io_error(io::ErrorKind::ConnectionRefused),
            io_error(io::ErrorKind::ConnectionReset),
            io_error(io::ErrorKind::BrokenPipe),
            io_error(io::ErrorKind::UnexpectedEof),
            io_error(io::ErrorKind::TimedOut),
            RedisError::from((
                ErrorKind::Io,
                "Multiplexed connection driver unexpectedly terminated",
            )),
            server_error("LOADING Redis is loading the dataset in memory"),
            server_error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ),
            server_error("READONLY You can't write against a read only replica."),
            server_error("TRYAGAIN Multiple keys request during rehashing of slot"),
            server_error("CLUSTERDOWN The cluster is down"),
            server_error("BUSY Redis is busy running a script."),
        ] {
            assert!(is_unavailable(&e), "{e} should be unavailable");
            assert!(
                matches!(backend("test")(e), StoreError::Unavailable(_)),
                "mapped to Unavailable"
            );
        }
    }

    #[test]
    fn a_redis_that_answers_with_an_error_is_a_backend_failure() {
        for e in [
            server_error("ERR unknown command 'NOPE'"),
            server_error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            server_error("NOSCRIPT No matching script."),
            server_error("NOPERM this user has no permissions to run the 'eval' command"),
            server_error("OOM command not allowed when used memory > 'maxmemory'."),
            RedisError::from((ErrorKind::AuthenticationFailed, "invalid password")),
            RedisError::from((ErrorKind::UnexpectedReturnType, "not an integer")),
        ] {
            assert!(!is_unavailable(&e), "{e} should not be unavailable");
            assert!(
                matches!(backend("test")(e), StoreError::Backend(_)),
                "mapped to Backend"
            );
        }
    }

    #[tokio::test]
    async fn a_command_that_outlasts_its_timeout_fails_as_unavailable() {
        let stuck = std::future::pending::<Result<(), RedisError>>();
        let e = Bounded::bound(Duration::from_millis(10), stuck)
            .await
            .expect_err("timed out");
        assert!(e.is_timeout(), "{e}");
        assert!(matches!(backend("test")(e), StoreError::Unavailable(_)));
    }
}
