//! [`RedisStore`]: a deployment's keys in one partition or spread over several, and what
//! routes each operation to its partition and merges what spans them.
//!
//! A partition (`Partition`) is the whole key layout (see `keys`) under a hash tag of its
//! own, served by its own scripts; on a Redis Cluster, different partitions can live on
//! different shards, which is how adding shards adds throughput. With one partition (the
//! default), its tag is the prefix's, `{herald}`, and the store is that one partition.
//!
//! - **Jobs.** A job lives in one partition, which its id names ([`JobId::partition`]), and
//!   everything of it is there: its hash, queue entry, feed entries, outbox entries,
//!   deliveries and their bodies. A submission with an `Idempotency-Key` goes to the
//!   partition the tenant and key hash to, so its replays find it; one without goes round the
//!   partitions. Every script still touches the keys of one slot.
//! - **Feeds.** A tenant's feed is one stream per partition. A [`FeedCursor`] holds a
//!   position in each; a read reads every partition after its position and merges the pages
//!   by time (`merge`). Each partition's stream keeps its `prev` links, so whether a reader
//!   missed events stays exact.
//! - **Queues and the outbox.** Claims and outbox reads take from every partition: first
//!   without waiting, from a partition that changes each time, then, when none had anything,
//!   waiting on all of them at once (`gather`).
//! - **Listings** merge the partitions' pages, newest first (`merge`).
//! - **Subscriptions** are written to partition 0, then copied to every other one, where the
//!   job scripts count the wants and the delivery claims read them (`webhooks`).
//! - **API keys** and endpoint health live in partition 0.
//!
//! How many partitions a deployment has is recorded when it first starts
//! (`{prefix}:partitions`) and cannot change: a job's partition is its id's, and an
//! idempotency key's a hash modulo the count.

mod gather;
mod merge;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::try_join_all;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use self::gather::Gather;
use super::address::Address;
use super::connection::{Bounded, Primary, backend};
use super::keys::{Keys, check_partitioned_prefix};
use super::{GROUP, Partition, RedisOptions, SIGNAL_CAPACITY, check_layout, plain};
use crate::feed::{FeedCursor, FeedPage, MAX_PARTITIONS};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobError, JobOutput, NewJob, Progress};
use crate::store::{
    CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery, Maintenance, Signal,
    Signals, Store, StoreConfig, StoreError,
};

/// A store on Redis, shared by every role of a process (and by every process of a
/// deployment through Redis itself).
pub struct RedisStore {
    /// Partition `i` at index `i`; never empty.
    parts: Vec<Arc<Partition>>,
    config: StoreConfig,
    /// Shared with every partition, whose subscriptions announce here.
    signals: Signals,
    /// Where the next submission without an idempotency key goes, and where the next read
    /// over every partition starts.
    turn: AtomicUsize,
    /// The waits of claims on every partition.
    claims: Gather,
    /// The same for outbox reads.
    outbox: Gather,
    /// Copies subscriptions whose writer stopped half-way (see `webhooks`); none with one
    /// partition.
    repair: Option<JoinHandle<()>>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        if let Some(repair) = &self.repair {
            repair.abort();
        }
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("partitions", &self.parts.len())
            .field("first", &self.parts[0])
            .finish_non_exhaustive()
    }
}

/// How many partitions the deployment under the prefix has: as recorded by the first store
/// to start on it, which records `wanted` (or 1). Refuses `wanted` when it is another number.
async fn partitions_of(
    conn: &mut Bounded,
    keys: &Keys,
    wanted: Option<usize>,
) -> Result<usize, StoreError> {
    let look = backend("read how many partitions the deployment has");
    let (recorded, marked): (Option<usize>, bool) = ::redis::pipe()
        .atomic()
        .cmd("GET")
        .arg(keys.partitions())
        .cmd("EXISTS")
        .arg(keys.layout())
        .query_async(conn)
        .await
        .map_err(&look)?;
    // A deployment that ran before partitions existed has one.
    let recorded = match recorded.or(marked.then_some(1)) {
        Some(recorded) => recorded,
        None => {
            ::redis::cmd("SET")
                .arg(keys.partitions())
                .arg(wanted.unwrap_or(1))
                .arg("NX")
                .query_async::<()>(conn)
                .await
                .map_err(backend("record how many partitions the deployment has"))?;
            // Another process may have started at the same moment: its record stands.
            ::redis::cmd("GET")
                .arg(keys.partitions())
                .query_async::<Option<usize>>(conn)
                .await
                .map_err(&look)?
                .unwrap_or(1)
        }
    };
    if !(1..=MAX_PARTITIONS).contains(&recorded) {
        return Err(StoreError::Corrupt(format!(
            "`{}` says the deployment has {recorded} partitions",
            keys.partitions()
        )));
    }
    match wanted {
        Some(wanted) if wanted != recorded => Err(StoreError::Backend(format!(
            "the deployment under this Redis key prefix is spread over {recorded} \
             partition(s), not {wanted}: its jobs and idempotency keys would be looked for in \
             the wrong places. Start with --redis-partitions {recorded} (or without it), or \
             choose another --redis-prefix"
        ))),
        _ => Ok(recorded),
    }
}

/// What maintaining every partition did, or the first failure once each was visited: a
/// partition that cannot be maintained holds up none of the others.
fn summed(outcomes: Vec<Result<Maintenance, StoreError>>) -> Result<Maintenance, StoreError> {
    let mut total = Maintenance::default();
    for outcome in outcomes {
        let done = outcome?;
        total.reclaimed += done.reclaimed;
        total.promoted += done.promoted;
    }
    Ok(total)
}

impl RedisStore {
    /// Connects to the Redis at `url` and keeps every key under `prefix` (production uses
    /// `herald`; tests take a fresh prefix each), with the default [`RedisOptions`].
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL is invalid, [`StoreError::Unavailable`] when Redis
    /// cannot be reached.
    pub async fn connect(url: &str, prefix: &str, config: StoreConfig) -> Result<Self, StoreError> {
        Self::connect_with(url, prefix, config, RedisOptions::default()).await
    }

    /// [`RedisStore::connect`] with the given options.
    ///
    /// # Errors
    /// As [`RedisStore::connect`]; [`StoreError::Backend`] too when the deployment under
    /// the prefix has another number of partitions.
    pub async fn connect_with(
        url: &str,
        prefix: &str,
        config: StoreConfig,
        options: RedisOptions,
    ) -> Result<Self, StoreError> {
        if let Some(wanted) = options.partitions {
            if !(1..=MAX_PARTITIONS).contains(&wanted) {
                return Err(StoreError::Backend(format!(
                    "a deployment has 1 to {MAX_PARTITIONS} partitions, not {wanted}"
                )));
            }
            // Before anything is recorded under the prefix.
            if wanted > 1 {
                check_partitioned_prefix(prefix)?;
            }
        }
        // Commands speak RESP2 whatever the URL asks for, so replies have one shape; the
        // subscriptions set RESP3 for themselves.
        let primary = Primary::connect(Address::parse(url)?, options.timeouts, options.ack).await?;
        let base = Keys::new(prefix)?;
        let mut conn = plain(&primary, options.timeouts);
        let count = partitions_of(&mut conn, &base, options.partitions).await?;
        check_layout(&mut conn, prefix, &base).await?;
        let signals = Signals::new(SIGNAL_CAPACITY);
        let mut parts = Vec::with_capacity(count);
        for index in 0..count {
            let keys = if count == 1 {
                base.clone()
            } else {
                Keys::partition(prefix, index, count)?
            };
            // A queue's bound, and a subscription's listed deliveries, are the deployment's:
            // each partition holds its share.
            let share = StoreConfig {
                max_queue_len: config.max_queue_len.div_ceil(count),
                deliveries_listed_max: config.deliveries_listed_max.div_ceil(count),
                ..config.clone()
            };
            let part = Partition::open(
                Arc::clone(&primary),
                keys,
                index,
                count > 1,
                share,
                options,
                signals.clone(),
            )
            .await?;
            parts.push(Arc::new(part));
        }
        if count > 1 {
            let tags: Vec<&str> = parts.iter().map(|part| part.keys.tag()).collect();
            tracing::info!(partitions = count, tags = ?tags, "the deployment's keys are spread over partitions");
        }
        let repair = (count > 1).then(|| webhooks::repair(&parts));
        Ok(Self {
            parts,
            claims: Gather::default(),
            config,
            signals,
            turn: AtomicUsize::new(0),
            outbox: Gather::default(),
            repair,
        })
    }

    /// The only partition, when there is one: everything goes straight to it.
    fn only(&self) -> Option<&Partition> {
        match &self.parts[..] {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The one partition of a store that has one, for the backend's own unit tests.
    #[cfg(test)]
    pub(in crate::store::redis) fn only_partition(&self) -> Arc<Partition> {
        assert_eq!(self.parts.len(), 1, "a store of one partition");
        Arc::clone(&self.parts[0])
    }

    /// Partition 0: API keys, endpoint health and the subscriptions as written.
    fn first(&self) -> &Partition {
        &self.parts[0]
    }

    /// The partition a job or delivery id names: its last byte, modulo the count (an id made
    /// here names its partition itself; any other id names one too, where it is not found).
    fn named(&self, partition: u8) -> &Partition {
        &self.parts[usize::from(partition) % self.parts.len()]
    }

    fn of_job(&self, id: &JobId) -> &Partition {
        self.named(id.partition())
    }

    /// The partition of a leased job.
    fn leased(&self, lease: &Lease) -> &Partition {
        self.of_job(&lease.job.id)
    }

    /// Where a submission goes: with an idempotency key, where the tenant and key hash to
    /// (its replays go there too); without one, the next partition in turn.
    fn creating(&self, new: &NewJob) -> &Partition {
        let count = self.parts.len();
        let index = match &new.idempotency_key {
            Some(key) => {
                let named = format!("{}/{}", new.tenant, key.as_str());
                usize::from(crc16::State::<crc16::XMODEM>::calculate(named.as_bytes())) % count
            }
            None => self.turn.fetch_add(1, Ordering::Relaxed) % count,
        };
        &self.parts[index]
    }

    /// Where the next read over every partition starts, a different one each time, so that
    /// no partition's work always comes first.
    fn start(&self) -> usize {
        self.turn.fetch_add(1, Ordering::Relaxed) % self.parts.len()
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        self.creating(&new).create(new).await
    }

    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.of_job(id).get(tenant, id).await
    }

    async fn list(&self, tenant: &TenantId, query: &ListQuery) -> Result<JobPage, StoreError> {
        if let Some(only) = self.only() {
            return only.list(tenant, query).await;
        }
        let pages = try_join_all(self.parts.iter().map(|part| part.list(tenant, query))).await?;
        let (jobs, next_cursor) = merge::newest_first(
            pages
                .into_iter()
                .map(|page| (page.jobs, page.next_cursor))
                .collect(),
            |job: &Job| job.id,
            query.limit,
        );
        Ok(JobPage { jobs, next_cursor })
    }

    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError> {
        self.of_job(id).result(tenant, id).await
    }

    async fn cancel(
        &self,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<CancelOutcome>, StoreError> {
        self.of_job(id).cancel(tenant, id).await
    }

    async fn retry(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.of_job(id).retry(tenant, id).await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<crate::event::Event>, StoreError> {
        self.of_job(id).history(tenant, id, after).await
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        if let Some(only) = self.only() {
            return only.feed(tenant, after, limit).await;
        }
        let pages = try_join_all(
            self.parts
                .iter()
                .map(|part| part.feed_page(tenant, after.position(part.index), limit)),
        )
        .await?;
        Ok(merge::feed(pages, limit))
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        if let Some(only) = self.only() {
            return only.feed_head(tenant).await;
        }
        let ends = try_join_all(self.parts.iter().map(|part| part.feed_end(tenant))).await?;
        Ok(FeedCursor::of(ends))
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if let Some(only) = self.only() {
            return only.claim(worker, types, max, wait).await;
        }
        let reader = format!("claim {worker} {types:?}");
        let (claimer, types) = (worker.clone(), types.to_vec());
        let queues = types.clone();
        self.claims
            .read(
                &self.parts,
                self.start(),
                reader,
                (max, wait),
                (
                    move |part: Arc<Partition>, count| {
                        let (worker, types) = (claimer.clone(), types.clone());
                        async move { part.claim(&worker, &types, count, Duration::ZERO).await }
                    },
                    move |part: Arc<Partition>, wait| {
                        let streams: Vec<String> =
                            queues.iter().map(|t| part.keys.queue(t)).collect();
                        async move { part.watch(&streams, GROUP, wait).await }
                    },
                ),
            )
            .await
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: &Lease) -> Result<LeaseState, StoreError> {
        self.leased(lease).heartbeat(worker, lease).await
    }

    async fn progress(&self, lease: &mut Lease, progress: Progress) -> Result<(), StoreError> {
        let part = self.of_job(&lease.job.id);
        part.progress(lease, progress).await
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError> {
        self.leased(&lease).complete(lease, output).await
    }

    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError> {
        self.leased(&lease).fail(lease, error, retry_after).await
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        self.leased(&lease).cancel_claimed(lease).await
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        self.leased(&lease).release(lease).await
    }

    async fn maintain(
        &self,
        worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        let mut outcomes = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            outcomes.push(part.maintain(worker, types).await);
        }
        summed(outcomes)
    }

    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if let Some(only) = self.only() {
            return only.claim_external(worker, tenant, types, max, wait).await;
        }
        let reader = format!("external {worker} {tenant} {types:?}");
        let (claimer, owner, types) = (worker.clone(), tenant.clone(), types.to_vec());
        let (tenant, queues) = (tenant.clone(), types.clone());
        self.claims
            .read(
                &self.parts,
                self.start(),
                reader,
                (max, wait),
                (
                    move |part: Arc<Partition>, count| {
                        let (worker, tenant, types) =
                            (claimer.clone(), owner.clone(), types.clone());
                        async move {
                            part.claim_external(&worker, &tenant, &types, count, Duration::ZERO)
                                .await
                        }
                    },
                    move |part: Arc<Partition>, wait| {
                        let streams = part.external_queues(&tenant, &queues);
                        async move { part.watch(&streams, GROUP, wait).await }
                    },
                ),
            )
            .await
    }

    async fn maintain_external(&self, worker: &WorkerId) -> Result<Maintenance, StoreError> {
        let mut outcomes = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            outcomes.push(part.maintain_external(worker).await);
        }
        summed(outcomes)
    }

    async fn lease(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Lease>, StoreError> {
        self.of_job(id).lease(tenant, id).await
    }

    fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn signals(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe()
    }

    fn controls(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe_controls()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        try_join_all(self.parts.iter().map(|part| part.ping())).await?;
        Ok(())
    }
}
