//! The consumer-group side of the backend: claiming jobs and keeping leases — of the shared
//! queues Herald's workers read, and of the tenants' queues external workers read (the same
//! streams and groups, visited through the `external-active` set rather than by type).
//! Maintenance of the same queues is `maintenance`'s.
//!
//! Blocking reads (`XREADGROUP … BLOCK`) never run on the shared multiplexed connection: a
//! blocked command holds up every command queued behind it on its connection. They take a
//! dedicated connection from a small pool instead, with a response timeout longer than the
//! block (the client's default of 0.5 s would cut every wait short), and a connection whose
//! read did not complete is dropped rather than reused.

use std::collections::HashSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ::redis::streams::{StreamId, StreamReadReply};
use ::redis::{RedisError, Value};
use chrono::Utc;

use super::connection::Dedicated;
use super::transition::Change;
use super::{GROUP, Partition, Queues, Stored, backend, corrupt, millis};
use crate::ids::{JobId, WorkerId};
use crate::job::JobStatus;
use crate::store::{CAS_ATTEMPTS, Claimed, Lease, LeaseState, StoreError};

/// How much longer than its block a blocking read may take before the client gives up.
pub(super) const BLOCK_MARGIN: Duration = Duration::from_secs(5);
/// The longest single blocking read.
pub(super) const MAX_BLOCK: Duration = Duration::from_secs(24 * 3600);
/// How many idle blocking connections a store keeps.
const BLOCKING_POOL_MAX: usize = 8;
/// The pause after the n-th consecutive read that found its consumer group gone: from 50 ms
/// doubling to 5 s, so a Redis that keeps losing its groups cannot make workers spin.
const GROUP_BACKOFF_MIN: Duration = Duration::from_millis(50);
const GROUP_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The id up to which consumer group `group` has handed out entries, from an `XINFO GROUPS`
/// reply.
fn last_delivered(groups: &Value, group: &str) -> Option<String> {
    let text = |value: &Value| match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(text) => Some(text.clone()),
        _ => None,
    };
    let Value::Array(groups) = groups else {
        return None;
    };
    groups.iter().find_map(|fields| {
        let Value::Array(fields) = fields else {
            return None;
        };
        let field = |name: &str| {
            fields
                .chunks(2)
                .find(|pair| text(&pair[0]).as_deref() == Some(name))
                .and_then(|pair| pair.get(1).and_then(text))
        };
        (field("name").as_deref() == Some(group))
            .then(|| field("last-delivered-id"))
            .flatten()
    })
}

/// A job's record as a claim reads it: its latest event, its queue entry and its payload.
type Record = (Option<String>, Option<String>, Option<String>);

/// A queue entry handed to this worker (by `XREADGROUP`, or `XAUTOCLAIM` in maintenance).
#[derive(Debug)]
pub(super) struct Delivered {
    pub(super) queue: String,
    pub(super) entry: String,
    pub(super) job: JobId,
}

/// What to do with a delivered entry, given the job's stored state.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fate {
    /// The pending job waits for this very entry: start it.
    Start,
    /// The entry is stale (the job finished, vanished, or holds another entry): drop it.
    Drop,
    /// The entry is the lease of a running job. Delivered to a claimer again (the group was
    /// recreated), it is left alone: the worker's heartbeat takes it back. Found idle by
    /// maintenance, it means the job's worker went silent.
    Running,
}

pub(super) fn fate(stored: Option<&Stored>, entry: &str) -> Fate {
    match stored {
        Some(s) if s.entry == entry && s.job.status == JobStatus::Pending => Fate::Start,
        Some(s) if s.entry == entry && s.job.status == JobStatus::Processing => Fate::Running,
        _ => Fate::Drop,
    }
}

pub(super) fn job_of(entry: &StreamId) -> Option<JobId> {
    match entry.map.get("job")? {
        Value::BulkString(bytes) => JobId::parse(std::str::from_utf8(bytes).ok()?).ok(),
        _ => None,
    }
}

/// The group is gone (NOGROUP), or a blocked read ended because its stream was deleted
/// (UNBLOCKED): both mean Redis lost the queue, typically in a restart without persistence.
pub(super) fn lost_group(e: &RedisError) -> bool {
    matches!(e.code(), Some("NOGROUP" | "UNBLOCKED"))
}

/// The pause before recreating a consumer group found missing for the `streak`-th time in a
/// row: from 50 ms doubling to 5 s.
pub(super) fn group_backoff(streak: u32) -> Duration {
    GROUP_BACKOFF_MIN
        .saturating_mul(1 << streak.min(16))
        .min(GROUP_BACKOFF_MAX)
}

impl Partition {
    /// Makes sure `queue` has its consumer group (once per process and queue, and again after
    /// a read found it missing). From id 0: entries added before the group are delivered too.
    pub(super) async fn ensure_group(&self, queue: &str) -> Result<(), StoreError> {
        let known = |groups: &HashSet<String>| groups.contains(queue);
        if known(&self.groups.lock().unwrap_or_else(PoisonError::into_inner)) {
            return Ok(());
        }
        self.create_group(queue, GROUP, "create a queue's consumer group")
            .await?;
        self.groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(queue.to_owned());
        Ok(())
    }

    /// Forgets that `queues` had their group and recreates them, after a pause that grows
    /// while groups keep going missing.
    pub(super) async fn recreate_groups(&self, queues: &[&str]) -> Result<(), StoreError> {
        let pause = group_backoff(self.missing_groups.fetch_add(1, Ordering::Relaxed));
        tracing::warn!(
            ?pause,
            "a queue's consumer group is missing (Redis lost its data, or the stream is moving to another Cluster node); recreating it"
        );
        {
            let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
            for queue in queues {
                groups.remove(*queue);
            }
        }
        tokio::time::sleep(pause).await;
        for queue in queues {
            self.ensure_group(queue).await?;
        }
        Ok(())
    }

    /// Claims from a tenant's own queues that external workers run, marking them active first.
    pub(super) async fn claim_external_from(
        &self,
        worker: &WorkerId,
        queues: Vec<Queues>,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let members: Vec<&str> = queues.iter().filter_map(|q| q.active.as_deref()).collect();
        if !members.is_empty() && max > 0 {
            // Before reading: should this claimer die between reading an entry and starting
            // its job, the entry's queue is still visited by maintenance, which hands it back.
            ::redis::cmd("SADD")
                .arg(self.keys.external_active())
                .arg(&members)
                .query_async::<()>(&mut self.conn())
                .await
                .map_err(backend("mark a tenant's queues active"))?;
        }
        let names: Vec<String> = queues.into_iter().map(|q| q.queue).collect();
        self.claim_from(worker, &names, max, wait).await
    }

    /// Takes up to `max` jobs from `queues` (stream names), waiting up to `wait` for the first.
    pub(super) async fn claim_from(
        &self,
        worker: &WorkerId,
        queues: &[String],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        if queues.is_empty() || max == 0 {
            // Nothing can arrive: wait as asked so a caller's loop does not spin.
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        for queue in queues {
            self.ensure_group(queue).await?;
        }
        let mut delivered = self.read_entries(worker, queues, max, wait).await?;
        // More than asked for (one read over several queues): the rest goes back in line.
        let excess = delivered.split_off(delivered.len().min(max));
        for d in &excess {
            self.hand_back(d).await?;
        }
        let records = self.read_batch(&delivered).await?;
        // The starts are independent: sent together, they share round trips on the
        // multiplexed connection instead of paying one each.
        let outcomes = futures_util::future::join_all(
            delivered
                .iter()
                .zip(records)
                .map(|(d, (stored, payload))| self.start(worker, d, stored, payload)),
        )
        .await;
        let mut claimed = Vec::new();
        let mut first_error = None;
        for (d, outcome) in delivered.iter().zip(outcomes) {
            match outcome {
                Ok(Some(job)) => claimed.push(job),
                Ok(None) => {}
                // A failed entry stays in the pending list and maintenance deals with it.
                Err(e) => {
                    tracing::warn!(error = %e, entry = %d.entry, "failed to start a claimed job");
                    first_error.get_or_insert(e);
                }
            }
        }
        // Jobs already started must reach their worker: an error only answers an empty claim.
        match first_error {
            Some(e) if claimed.is_empty() => Err(e),
            _ => Ok(claimed),
        }
    }

    /// Reads up to `max` new entries: first without blocking, one queue after the other
    /// (starting with a different one each time, so a busy type cannot starve the others);
    /// then, if none was waiting, blocking on all of them for up to `wait`.
    async fn read_entries(
        &self,
        worker: &WorkerId,
        queues: &[String],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Delivered>, StoreError> {
        let mut delivered = Vec::new();
        let first = self.rotation.fetch_add(1, Ordering::Relaxed) % queues.len();
        for i in 0..queues.len() {
            let remaining = max - delivered.len();
            if remaining == 0 {
                break;
            }
            let one = std::slice::from_ref(&queues[(first + i) % queues.len()]);
            let reply = self
                .read_group(&mut self.conn(), worker, one, remaining, None)
                .await?;
            delivered.extend(reply);
        }
        if !delivered.is_empty() || wait.is_zero() {
            return Ok(delivered);
        }
        let (generation, mut conn) = self.blocking_connection().await?;
        conn.set_response_timeout(wait.min(MAX_BLOCK) + BLOCK_MARGIN);
        let read = self
            .read_group(&mut conn, worker, queues, max, Some(wait))
            .await;
        self.after_blocking(generation, conn, &read);
        read
    }

    /// Waits up to `wait` until one of `streams` holds an entry that its consumer group
    /// `group` has not handed out yet, without reading it for anyone: a store spread over
    /// partitions waits so on each of them at once, then claims where there is work (see
    /// `partitioned`). The wait starts from where each group has read up to, so an entry added
    /// after the caller last looked, even before this call, ends it at once.
    pub(super) async fn watch(
        &self,
        streams: &[String],
        group: &str,
        wait: Duration,
    ) -> Result<(), StoreError> {
        if streams.is_empty() {
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        for stream in streams {
            pipe.cmd("XINFO").arg("GROUPS").arg(stream);
        }
        let groups: Vec<Value> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read how far a queue's readers are"))?;
        // A group not there yet (made by the next claim) has read nothing.
        let ids: Vec<String> = groups
            .iter()
            .map(|groups| last_delivered(groups, group).unwrap_or_else(|| "0-0".to_owned()))
            .collect();
        let block = wait.clamp(Duration::from_millis(1), MAX_BLOCK);
        let (generation, mut conn) = self.blocking_connection().await?;
        conn.set_response_timeout(block + BLOCK_MARGIN);
        let read: Result<Value, StoreError> = ::redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(millis(block))
            .arg("STREAMS")
            .arg(streams)
            .arg(&ids)
            .query_async(&mut conn)
            .await
            .map_err(backend("wait for work in a queue"));
        self.after_blocking(generation, conn, &read);
        read.map(|_| ())
    }

    /// After a blocking read on a dedicated connection: a connection whose read completed is
    /// kept for the next one; one that failed (or whose future was dropped mid-read) is closed,
    /// and if Redis was unavailable, the primary is looked for again (see `Primary`).
    pub(super) fn after_blocking<T>(
        &self,
        generation: u64,
        conn: Dedicated,
        read: &Result<T, StoreError>,
    ) {
        match read {
            Ok(_) => self.return_blocking(generation, conn),
            Err(StoreError::Unavailable(_)) => self.primary.suspect(),
            Err(_) => {}
        }
    }

    /// Keeps a dedicated connection for the next blocking read, unless it goes to a primary
    /// that is no longer the current one.
    fn return_blocking(&self, generation: u64, conn: Dedicated) {
        if !self.primary.is_current(generation) {
            return;
        }
        let mut pool = self.blocking.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < BLOCKING_POOL_MAX {
            pool.push((generation, conn));
        }
    }

    /// An idle dedicated connection to the current primary for a blocking read, or a new
    /// one, with the primary it goes to.
    pub(super) async fn blocking_connection(&self) -> Result<(u64, Dedicated), StoreError> {
        loop {
            let idle = self
                .blocking
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match idle {
                Some((generation, conn)) if self.primary.is_current(generation) => {
                    return Ok((generation, conn));
                }
                Some(_) => {}
                None => break,
            }
        }
        // Each read sets its own response timeout, from its block time.
        let (conn, generation) = self.primary.dedicated(MAX_BLOCK + BLOCK_MARGIN).await?;
        Ok((generation, conn))
    }

    /// `XREADGROUP` of new entries, blocking up to `block` if given. A lost group is
    /// recreated once, after a pause, and the read tried again within what is left of `block`.
    async fn read_group(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        worker: &WorkerId,
        queues: &[String],
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Delivered>, StoreError> {
        let started = tokio::time::Instant::now();
        let read = |block: Option<Duration>| {
            let mut cmd = ::redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(GROUP)
                .arg(worker.as_str())
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                // BLOCK 0 would mean forever; a day is as long as any caller means.
                let block = block.clamp(Duration::from_millis(1), MAX_BLOCK);
                cmd.arg("BLOCK").arg(millis(block));
            }
            cmd.arg("STREAMS").arg(queues);
            for _ in queues {
                cmd.arg(">");
            }
            cmd
        };
        let mut reply: Result<Option<StreamReadReply>, RedisError> =
            read(block).query_async(conn).await;
        if let Err(e) = &reply
            && lost_group(e)
        {
            let names: Vec<&str> = queues.iter().map(String::as_str).collect();
            self.recreate_groups(&names).await?;
            let left = block.map(|block| block.saturating_sub(started.elapsed()));
            reply = read(left).query_async(conn).await;
        }
        let reply = reply.map_err(backend("read a job queue"))?;
        self.missing_groups.store(0, Ordering::Relaxed);
        let mut delivered = Vec::new();
        for key in reply.map(|r| r.keys).unwrap_or_default() {
            for entry in &key.ids {
                if let Some(d) = self.delivered(&key.key, entry).await? {
                    delivered.push(d);
                }
            }
        }
        Ok(delivered)
    }

    /// The delivery of `entry` from `queue`; an entry that names no job (not written by
    /// Herald) has nothing to run and is dropped.
    pub(super) async fn delivered(
        &self,
        queue: &str,
        entry: &StreamId,
    ) -> Result<Option<Delivered>, StoreError> {
        let Some(job) = job_of(entry) else {
            tracing::warn!(%queue, entry = %entry.id, "dropping a queue entry that names no job");
            self.drop_entry(queue, &entry.id).await?;
            return Ok(None);
        };
        Ok(Some(Delivered {
            queue: queue.to_owned(),
            entry: entry.id.clone(),
            job,
        }))
    }

    /// The records and payloads of the jobs of a claimed batch, in one round trip.
    async fn read_batch(
        &self,
        delivered: &[Delivered],
    ) -> Result<Vec<(Option<Stored>, Option<String>)>, StoreError> {
        if delivered.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for d in delivered {
            pipe.cmd("HMGET")
                .arg(self.keys.job(&d.job))
                .arg("last")
                .arg("entry")
                .arg("payload");
        }
        let records: Vec<Record> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read claimed jobs"))?;
        delivered
            .iter()
            .zip(records)
            .map(|(d, (last, entry, payload))| {
                let stored = last
                    .map(|last| Stored::parse(&d.job, &last, entry))
                    .transpose()?;
                Ok((stored, payload))
            })
            .collect()
    }

    /// Starts the job of a delivered entry, if it still waits for that entry. `None` when the
    /// entry turned out stale (it is dropped) or is the lease of a job running elsewhere.
    async fn start(
        &self,
        worker: &WorkerId,
        delivered: &Delivered,
        mut stored: Option<Stored>,
        payload: Option<String>,
    ) -> Result<Option<Claimed>, StoreError> {
        let id = &delivered.job;
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                stored = self.read(id).await?;
            }
            match fate(stored.as_ref(), &delivered.entry) {
                Fate::Drop => {
                    self.drop_entry(&delivered.queue, &delivered.entry).await?;
                    return Ok(None);
                }
                Fate::Running => {
                    tracing::debug!(job_id = %id, "a running job's lease came again; left alone");
                    return Ok(None);
                }
                Fate::Start => {}
            }
            let Some(Stored { job, .. }) = stored.take() else {
                return Ok(None);
            };
            // Read before starting: a job that cannot be given its payload must not start.
            // (It stays unstarted in this worker's pending list, and maintenance requeues it.)
            let payload = match payload.as_deref() {
                Some(raw) => {
                    serde_json::from_str(raw).map_err(|e| corrupt("the payload", id, e))?
                }
                None => {
                    return Err(StoreError::Corrupt(format!(
                        "the payload of job {id} is missing"
                    )));
                }
            };
            let step = job.start(Utc::now())?;
            let change = Change {
                expect_entry: Some(&delivered.entry),
                ..Change::new(&job, &step)
            };
            if self.apply(change).await? {
                tracing::debug!(job_id = %id, %worker, "claimed");
                return Ok(Some(Claimed {
                    lease: Lease {
                        job: step.job,
                        entry: delivered.entry.clone(),
                    },
                    payload,
                }));
            }
            // Canceled in the meantime, most likely: look again.
        }
        Err(StoreError::Backend(format!(
            "failed to start job {id}: it kept changing during {CAS_ATTEMPTS} attempts"
        )))
    }

    /// Acknowledges and deletes an entry nobody needs any more.
    pub(super) async fn drop_entry(&self, queue: &str, entry: &str) -> Result<(), StoreError> {
        ::redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(queue)
            .arg(GROUP)
            .arg(entry)
            .ignore()
            .cmd("XDEL")
            .arg(queue)
            .arg(entry)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("drop a stale queue entry"))
    }

    /// Puts the pending job of an entry read but not started back at the end of its queue;
    /// drops the entry if it is stale. `true` when the job was re-queued.
    pub(super) async fn hand_back(&self, delivered: &Delivered) -> Result<bool, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let stored = self.read(&delivered.job).await?;
            let seq = match (fate(stored.as_ref(), &delivered.entry), stored) {
                (Fate::Start, Some(stored)) => stored.job.seq,
                (Fate::Running, _) => return Ok(false),
                _ => {
                    self.drop_entry(&delivered.queue, &delivered.entry).await?;
                    return Ok(false);
                }
            };
            let requeued: i64 = self
                .scripts
                .requeue
                .key(self.keys.job(&delivered.job))
                .key(&delivered.queue)
                .arg(seq)
                .arg(&delivered.entry)
                .arg(GROUP)
                .arg(delivered.job.to_string())
                .invoke_async(&mut self.conn())
                .await
                .map_err(backend("put a job back in its queue"))?;
            if requeued == 1 {
                return Ok(true);
            }
            // Canceled in the meantime, most likely: look again.
        }
        Ok(false)
    }

    pub(super) async fn keep_lease(
        &self,
        worker: &WorkerId,
        lease: &Lease,
    ) -> Result<LeaseState, StoreError> {
        let id = &lease.job.id;
        let state: i64 = self
            .scripts
            .heartbeat
            .key(self.keys.job(id))
            .key(self.queues_of(&lease.job.tenant, &lease.job.job_type).queue)
            .arg(lease.job.seq)
            .arg(GROUP)
            .arg(worker.as_str())
            .arg(&lease.entry)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("renew a lease"))?;
        match state {
            -1 => Err(StoreError::LeaseLost),
            requested => Ok(LeaseState {
                cancel_requested: requested == 1,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Job, NewJob};

    fn stored(entry: &str) -> Stored {
        let new = NewJob {
            max_attempts: 2,
            ..crate::testing::new_job("demo.sleep")
        };
        let (job, _) = Job::create(JobId::generate(), &new, Utc::now());
        Stored {
            job,
            entry: entry.to_owned(),
        }
    }

    #[test]
    fn only_the_entry_a_pending_job_waits_for_starts_it() {
        let pending = stored("1-0");
        assert_eq!(fate(Some(&pending), "1-0"), Fate::Start);
        assert_eq!(fate(Some(&pending), "2-0"), Fate::Drop);
        assert_eq!(fate(None, "1-0"), Fate::Drop);
        let mut running = stored("1-0");
        running.job = running.job.start(Utc::now()).unwrap().job;
        assert_eq!(fate(Some(&running), "1-0"), Fate::Running);
        assert_eq!(fate(Some(&running), "0-1"), Fate::Drop);
        let mut done = stored("");
        done.job = running.job.cancel(Utc::now()).unwrap().job;
        assert_eq!(fate(Some(&done), "1-0"), Fate::Drop);
    }
}
