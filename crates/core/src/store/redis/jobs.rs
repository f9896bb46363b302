//! [`Store`] on Redis: creating, reading, listing and canceling jobs, and a leased job's
//! transitions (the claims, feeds and maintenance it hands to `queue`, `feed` and
//! `maintenance`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio::sync::broadcast;

use super::batch::Item;
use super::keys::Keys;
use super::listing::Found;
use super::transition::Change;
use super::{
    GROUP, HOOK_FIELDS, Partition, Stored, backend, corrupt, feed_keep, feed_max, hook_status,
    keys, outbox_max, record_of, signals, to_json, ttl_millis,
};
use crate::event::Event;
use crate::feed::{FeedCursor, FeedPage};
use crate::ids::{JobId, JobType, TenantId, WorkerId};
use crate::job::{Job, JobError, JobOutput, JobStatus, NewJob, Progress};
use crate::store::{
    CAS_ATTEMPTS, CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery,
    Maintenance, Signal, Store, StoreConfig, StoreError, fingerprint,
};

fn matches(job: &Job, tenant: &TenantId, query: &ListQuery) -> bool {
    &job.tenant == tenant
        && query.status.is_none_or(|status| job.status == status)
        && query.job_type.as_ref().is_none_or(|t| &job.job_type == t)
}

/// The head of every call of `create.lua`: its fixed keys and arguments.
pub(super) fn create_head(keys: &Keys, config: &StoreConfig) -> Item {
    let mut head = Item::default();
    head.key(keys.outbox());
    head.arg(ttl_millis(config.idempotency_ttl))
        .arg(keys.job_prefix())
        .arg(feed_max(config))
        .arg(config.max_queue_len)
        .arg(GROUP)
        .arg(keys.events())
        .arg(outbox_max(config))
        .arg(feed_keep(config));
    head
}

impl Partition {
    /// What a page of listed ids holds: the jobs `query` asks for.
    async fn read_listed(
        &self,
        tenant: &TenantId,
        query: &ListQuery,
        ids: Vec<String>,
    ) -> Result<Vec<Found<Job>>, StoreError> {
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.listed_job(id))
                .arg("last")
                .arg(&HOOK_FIELDS);
        }
        let rows: Vec<(Option<String>, Option<String>, Option<String>)> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read listed jobs"))?;
        ids.iter()
            .zip(rows)
            .map(|(id, (last, hook_events, hook_state))| {
                let Some(last) = last else {
                    return Ok(Found::Gone);
                };
                let mut job = record_of(&last)
                    .map_err(|e| StoreError::Corrupt(format!("the record of job {id}: {e}")))?;
                job.webhook = hook_status(&job.id, hook_events.as_deref(), hook_state.as_deref());
                // The index and the record were read apart: a job that changed status in
                // between no longer belongs to a listing filtered by status.
                Ok(if matches(&job, tenant, query) {
                    Found::Keep(job)
                } else {
                    Found::Skip
                })
            })
            .collect()
    }
}

impl Partition {
    /// Whether the queue `tenant`'s jobs of `job_type` wait in holds `max_queue_len` waiting
    /// jobs already, counted as `create.lua` does: its entries less those handed to workers.
    /// A check before a write, not inside it: concurrent retries may pass it together.
    async fn queue_full(&self, tenant: &TenantId, job_type: &JobType) -> Result<bool, StoreError> {
        let queue = self.queues_of(tenant, job_type).queue;
        let length: usize = ::redis::cmd("XLEN")
            .arg(&queue)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a queue's length"))?;
        if length < self.config.max_queue_len {
            return Ok(false);
        }
        let summary: ::redis::Value = ::redis::cmd("XPENDING")
            .arg(&queue)
            .arg(GROUP)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a queue's length"))?;
        let handed_out = match summary {
            ::redis::Value::Array(fields) => fields
                .first()
                .and_then(|count| ::redis::from_redis_value::<usize>(count.clone()).ok())
                .unwrap_or(0),
            _ => 0,
        };
        Ok(length.saturating_sub(handed_out) >= self.config.max_queue_len)
    }
}

#[async_trait]
impl Store for Partition {
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        let id = self.new_job_id();
        let (job, event) = Job::create(id, &new, Utc::now());
        let keys = &self.keys;
        let (tenant, job_type) = (&new.tenant, &new.job_type);
        let idempotency = new
            .idempotency_key
            .as_ref()
            .map(|key| keys.idempotency(tenant, key));
        // What the key guards: only a submission with a key needs it.
        let fingerprint = idempotency.as_ref().map(|_| fingerprint(&new));
        let mut item = Item::default();
        // Without a key, the job's own hash stands in for it (the script does not touch it as
        // an idempotency key), so every job has as many KEYS.
        item.key(idempotency.clone().unwrap_or_else(|| keys.job(&id)))
            .key(keys.job(&id))
            .key(keys.feed(tenant))
            .key(keys.feed_last(tenant))
            .key(self.queues_of(tenant, job_type).queue)
            .key(keys.index(tenant, JobStatus::Pending))
            .key(keys.wants(tenant));
        // The webhook without its secret, which is kept apart, once: what the outbox copies.
        let hook = new
            .webhook
            .as_ref()
            .map(|hook| to_json(&hook.endpoint()))
            .transpose()?;
        item.arg(id.to_string())
            .arg(if idempotency.is_some() { "1" } else { "0" })
            .arg(
                fingerprint
                    .as_deref()
                    .map_or_else(String::new, |f| format!("{id} {f}")),
            )
            .arg(fingerprint.as_deref().unwrap_or(""))
            .arg(job.seq)
            .arg(to_json(&new.payload)?)
            .arg(to_json(&event)?)
            .arg(tenant.as_str())
            .arg(hook.as_deref().unwrap_or(""))
            .arg(
                new.webhook
                    .as_ref()
                    .map(|hook| keys::hook_events(&hook.endpoint()))
                    .unwrap_or_default(),
            )
            .arg(event.kind.as_str())
            .arg(job_type.as_str())
            .arg(
                new.webhook
                    .as_ref()
                    .map(|hook| hook.secret.expose())
                    .unwrap_or_default(),
            );
        let reply = self.batchers.create.call(item).await?;
        let reply: Vec<String> = ::redis::from_redis_value(reply)
            .map_err(|e| StoreError::Backend(format!("failed to create a job: {e}")))?;
        match reply.first().map(String::as_str) {
            Some("created") => Ok(Created {
                job,
                replayed: false,
            }),
            Some("replayed") => {
                let last = reply.get(1).map(String::as_str).unwrap_or_default();
                let mut earlier = serde_json::from_str::<Event>(last)
                    .map_err(|e| {
                        StoreError::Corrupt(format!("a job replayed by idempotency key: {e}"))
                    })?
                    .job;
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
        // A job sits in the index of its status (pending and processing share one): a
        // listing of one status reads that index, a listing of every status merges them, and
        // what an index holds besides (a type, the other unfinished status) is filtered out
        // while reading.
        let statuses = match query.status {
            Some(status) => vec![status],
            None => JobStatus::ALL.to_vec(),
        };
        let mut indexes: Vec<String> = Vec::with_capacity(statuses.len());
        for status in statuses {
            let index = self.keys.index(tenant, status);
            if !indexes.contains(&index) {
                indexes.push(index);
            }
        }
        let filtered =
            query.job_type.is_some() || query.status.is_some_and(|status| !status.is_terminal());
        let scanned = self
            .scan(
                &indexes,
                query.before.map(|id| id.to_string()),
                query.limit,
                filtered,
                "read a job listing",
                |ids| self.read_listed(tenant, query, ids),
            )
            .await?;
        let next_cursor = scanned
            .next
            .as_deref()
            .map(JobId::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("a job listing index: {e}")))?;
        Ok(JobPage {
            jobs: scanned.items,
            next_cursor,
        })
    }

    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError> {
        let Some(job) = self.get(tenant, id).await? else {
            return Ok(None);
        };
        if job.status != JobStatus::Completed || !job.has_result {
            return Ok(None);
        }
        let (content_type, body): (Option<String>, Option<Vec<u8>>) = ::redis::cmd("HMGET")
            .arg(self.keys.job(id))
            .arg("result_type")
            .arg("result")
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
                    let step = job.cancel(Utc::now())?;
                    if self.apply(Change::new(&job, &step)).await? {
                        return Ok(Some(CancelOutcome::Canceled(step.job)));
                    }
                }
                _ => {
                    let requested: i64 = self
                        .scripts
                        .cancel_request
                        .key(self.keys.job(id))
                        .arg(self.keys.signals())
                        .arg(signals::cancel_envelope(id)?)
                        .invoke_async(&mut self.acked())
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

    async fn retry(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(job) = self.get(tenant, id).await? else {
                return Ok(None);
            };
            let step = job.retry(Utc::now())?;
            if self.queue_full(&job.tenant, &job.job_type).await? {
                return Err(StoreError::QueueFull(job.job_type));
            }
            if self.apply(Change::new(&job, &step)).await? {
                return Ok(Some(step.job));
            }
            // A terminal job does not move; it expired, or was retried meanwhile: look again.
        }
        Err(StoreError::Backend(format!(
            "failed to retry job {id}: it kept changing during {CAS_ATTEMPTS} attempts"
        )))
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<Event>, StoreError> {
        let job = self.keys.job(id);
        let (owner, seq): (Option<String>, Option<u64>) = ::redis::cmd("HMGET")
            .arg(&job)
            .arg("tenant")
            .arg("seq")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job's history"))?;
        let Some(seq) = seq.filter(|_| owner.as_deref() == Some(tenant.as_str())) else {
            return Ok(Vec::new());
        };
        // The history keeps the newest `history_max` events: nothing older is asked for.
        let first = after
            .saturating_add(1)
            .max(seq.saturating_sub(self.config.history_max as u64) + 1);
        if first > seq {
            return Ok(Vec::new());
        }
        let fields: Vec<String> = (first..=seq).map(keys::event_field).collect();
        let events: Vec<Option<Vec<u8>>> = ::redis::cmd("HMGET")
            .arg(&job)
            .arg(&fields)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a job's history"))?;
        // An event missing in the middle: the job expired between the two reads.
        events
            .into_iter()
            .map_while(|event| event)
            .map(|bytes| {
                serde_json::from_slice::<Event>(&bytes).map_err(|e| corrupt("an event", id, e))
            })
            .collect()
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        self.feed_page(tenant, after.position(self.index), limit)
            .await
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        Ok(FeedCursor::at(self.feed_end(tenant).await?))
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let queues: Vec<String> = types.iter().map(|t| self.keys.queue(t)).collect();
        self.claim_from(worker, &queues, max, wait).await
    }

    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        let queues = types
            .iter()
            .filter(|t| self.config.job_types.is_external(t))
            .map(|t| self.queues_of(tenant, t))
            .collect();
        self.claim_external_from(worker, queues, max, wait).await
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
        let step = lease.job.report(progress, Utc::now())?;
        self.apply_leased(Change::new(&lease.job, &step)).await?;
        lease.job = step.job;
        Ok(())
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError> {
        self.config.check_result(output.as_ref())?;
        let step = lease.job.complete(output.is_some(), Utc::now())?;
        self.apply_leased(Change {
            output: output.as_ref(),
            ..Change::new(&lease.job, &step)
        })
        .await?;
        Ok(step.job)
    }

    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError> {
        let step = lease.job.fail(error, retry_after, Utc::now())?;
        self.apply_leased(Change::new(&lease.job, &step)).await?;
        Ok(step.job)
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        let step = lease.job.cancel(Utc::now())?;
        self.apply_leased(Change::new(&lease.job, &step)).await?;
        Ok(step.job)
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        let step = lease.job.release(Utc::now())?;
        self.apply_leased(Change::new(&lease.job, &step)).await?;
        Ok(step.job)
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

    fn controls(&self) -> broadcast::Receiver<Signal> {
        self.signals.subscribe_controls()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        // A read of one of the store's keys rather than `PING`: on a Redis Cluster it goes to
        // the primary serving the store's slot, the one server whose absence matters.
        ::redis::cmd("EXISTS")
            .arg(self.keys.layout())
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("ping Redis"))
    }
}
