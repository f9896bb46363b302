//! Maintenance of the job queues, run periodically by every worker (for the shared queues)
//! and every api process (for the external workers' queues); safe to run concurrently:
//! reclaiming the leases of workers that went silent (`XAUTOCLAIM` of entries idle longer
//! than the lease timeout), promoting due retries from the delayed sets, deleting idle
//! consumers, and sweeping expired jobs out of the listing indexes.

use std::time::Duration;

use ::redis::RedisError;
use ::redis::streams::StreamAutoClaimReply;
use chrono::Utc;

use super::queue::{Delivered, Fate, fate, lost_group};
use super::transition::Change;
use super::{GROUP, Partition, Queues, Stored, backend, keys, millis};
use crate::ids::{JobType, TenantId, WorkerId};
use crate::store::{Maintenance, StoreError};

/// How many entries one maintenance pass reclaims or promotes per page.
const MAINTENANCE_BATCH: usize = 100;
/// How many pages of idle entries one pass reclaims per queue; the next pass does the rest.
const RECLAIM_PAGES: usize = 10;
/// How many expired jobs one pass sweeps out of the listing indexes.
const SWEEP_BATCH: usize = 500;
/// Consumers (one per worker process ever run) holding nothing are deleted after this long
/// idle; live workers read far more often.
pub(super) const CONSUMER_MAX_IDLE: Duration = Duration::from_secs(3600);

impl Partition {
    pub(super) async fn maintain_queues(
        &self,
        worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        let mut done = Maintenance::default();
        for job_type in types {
            let queues = Queues {
                queue: self.keys.queue(job_type),
                delayed: self.keys.delayed(job_type),
                active: None,
            };
            let pass = self.maintain_queue(worker, &queues).await?;
            done.reclaimed += pass.reclaimed;
            done.promoted += pass.promoted;
        }
        self.sweep_expired().await?;
        Ok(done)
    }

    /// Maintains every tenant's queues of external types that may hold leases or delayed
    /// retries (the `external-active` set), taking out those that hold neither any more.
    pub(super) async fn maintain_external_queues(
        &self,
        worker: &WorkerId,
    ) -> Result<Maintenance, StoreError> {
        let active = self.keys.external_active();
        let mut done = Maintenance::default();
        let mut cursor = 0u64;
        loop {
            let (next, members): (u64, Vec<String>) = ::redis::cmd("SSCAN")
                .arg(&active)
                .arg(cursor)
                .arg("COUNT")
                .arg(MAINTENANCE_BATCH)
                .query_async(&mut self.conn())
                .await
                .map_err(backend("read the active external queues"))?;
            for member in members {
                let Some((tenant, job_type)) = keys::parse_active_member(&member)
                    .filter(|(_, job_type)| self.config.job_types.is_external(job_type))
                else {
                    // Unreadable, or of a type no longer run by external workers (the catalog
                    // changed): left as it is for a process whose catalog still has it.
                    continue;
                };
                // One tenant's queue failing must not hold up every other tenant's: it is
                // logged, and the next pass tries it again.
                match self
                    .maintain_external_queue(worker, &member, &tenant, &job_type)
                    .await
                {
                    Ok(pass) => {
                        done.reclaimed += pass.reclaimed;
                        done.promoted += pass.promoted;
                    }
                    Err(e) => tracing::warn!(
                        %tenant,
                        %job_type,
                        error = %e,
                        "failed to maintain an external queue; retrying at the next pass"
                    ),
                }
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        self.sweep_expired().await?;
        Ok(done)
    }

    /// One tenant's queue of an external type: maintained, then retired from the active set if
    /// it holds neither a lease nor a retry any more.
    async fn maintain_external_queue(
        &self,
        worker: &WorkerId,
        member: &str,
        tenant: &TenantId,
        job_type: &JobType,
    ) -> Result<Maintenance, StoreError> {
        let queues = self.queues_of(tenant, job_type);
        let pass = self.maintain_queue(worker, &queues).await?;
        let _: i64 = self
            .scripts
            .forget_idle_queue
            .key(self.keys.external_active())
            .key(&queues.queue)
            .key(&queues.delayed)
            .arg(member)
            .arg(GROUP)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("retire an idle external queue"))?;
        Ok(pass)
    }

    /// One queue's maintenance: reclaims expired leases, promotes due retries and prunes
    /// consumers long idle.
    async fn maintain_queue(
        &self,
        worker: &WorkerId,
        queues: &Queues,
    ) -> Result<Maintenance, StoreError> {
        let queue = &queues.queue;
        self.ensure_group(queue).await?;
        let reclaimed = self.reclaim(worker, queue).await?;
        let promoted: usize = self
            .scripts
            .promote
            .key(&queues.delayed)
            .key(queue)
            .arg(MAINTENANCE_BATCH)
            .arg(GROUP)
            .arg(self.keys.job_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("promote due retries"))?;
        let min_idle = CONSUMER_MAX_IDLE.max(self.config.lease_timeout.saturating_mul(10));
        let _: i64 = self
            .scripts
            .prune_consumers
            .key(queue)
            .arg(GROUP)
            .arg(millis(min_idle))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("prune idle consumers"))?;
        Ok(Maintenance {
            reclaimed,
            promoted,
        })
    }

    /// Takes over the entries idle longer than the lease timeout and recovers their jobs.
    async fn reclaim(&self, worker: &WorkerId, queue: &str) -> Result<usize, StoreError> {
        let mut reclaimed = 0;
        let mut cursor = "0-0".to_owned();
        for _ in 0..RECLAIM_PAGES {
            let reply: Result<StreamAutoClaimReply, RedisError> = ::redis::cmd("XAUTOCLAIM")
                .arg(queue)
                .arg(GROUP)
                .arg(worker.as_str())
                .arg(millis(self.config.lease_timeout))
                .arg(&cursor)
                .arg("COUNT")
                .arg(MAINTENANCE_BATCH)
                .query_async(&mut self.conn())
                .await;
            let reply = match reply {
                Ok(reply) => reply,
                Err(e) if lost_group(&e) => {
                    // A recreated group has no pending list: nothing to reclaim.
                    self.recreate_groups(&[queue]).await?;
                    break;
                }
                Err(e) => return Err(backend("reclaim expired leases")(e)),
            };
            for entry in &reply.claimed {
                if let Some(d) = self.delivered(queue, entry).await?
                    && self.recover(&d).await?
                {
                    reclaimed += 1;
                }
            }
            cursor = reply.next_stream_id;
            if cursor == "0-0" {
                break;
            }
        }
        Ok(reclaimed)
    }

    /// Recovers the job of an entry whose holder went silent: a running job loses its lease
    /// (retried, or failed with `worker_lost` after its last attempt), a job read but never
    /// started goes back in line, a stale entry is dropped. `true` when a job was recovered.
    async fn recover(&self, delivered: &Delivered) -> Result<bool, StoreError> {
        let stored = self.read(&delivered.job).await?;
        match (fate(stored.as_ref(), &delivered.entry), stored) {
            (Fate::Start, _) => self.hand_back(delivered).await,
            (Fate::Running, Some(Stored { job, .. })) => {
                let step = job.lose_lease(Utc::now())?;
                let attempt = job.attempt;
                tracing::warn!(job_id = %job.id, attempt, "a worker went silent; reclaiming");
                // A refused write means the job moved since it was read: its worker is alive
                // after all (or finished), so there is nothing to recover and no retry.
                self.apply(Change {
                    expect_entry: Some(&delivered.entry),
                    ..Change::new(&job, &step)
                })
                .await
            }
            _ => {
                self.drop_entry(&delivered.queue, &delivered.entry).await?;
                Ok(false)
            }
        }
    }

    /// Drops finished jobs whose retention ran out from the listing indexes.
    async fn sweep_expired(&self) -> Result<(), StoreError> {
        let members: Vec<String> = self
            .scripts
            .sweep
            .key(self.keys.expiring())
            .arg(SWEEP_BATCH)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("sweep expired jobs"))?;
        if members.is_empty() {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        for member in &members {
            let Some((tenant, status, id)) = super::keys::parse_expiring_member(member) else {
                tracing::warn!(%member, "dropping an unreadable member of the expiring set");
                continue;
            };
            pipe.cmd("ZREM")
                .arg(self.keys.index(&tenant, status))
                .arg(id.to_string())
                .ignore();
        }
        pipe.cmd("ZREM")
            .arg(self.keys.expiring())
            .arg(&members)
            .ignore();
        pipe.query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("drop expired jobs from the listings"))
    }
}
