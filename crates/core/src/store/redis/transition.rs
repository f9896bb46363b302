//! Writing a job's transition: Rust computes the next version and its event, and one script
//! applies them only if the job's `seq` still equals the one read (see the backend's `# How a
//! change is written`).

use std::time::Duration;

use super::batch::Item;
use super::keys::Keys;
use super::{
    GROUP, MAX_TTL, Partition, feed_keep, feed_max, keys, millis, outbox_max, to_json, ttl_millis,
};
use crate::job::{Job, JobOutput, QueueEffect, Step};
use crate::store::{StoreConfig, StoreError};

/// A transition computed in Rust (a [`Step`] of the state machine), ready for the script.
pub(super) struct Change<'a> {
    /// The version the change was computed from: its `seq` is the compare-and-set guard.
    pub(super) before: &'a Job,
    pub(super) step: &'a Step,
    /// The queue entry the job must still hold (a claim starting it), if any.
    pub(super) expect_entry: Option<&'a str>,
    pub(super) output: Option<&'a JobOutput>,
}

impl<'a> Change<'a> {
    /// The change from `before` made by `step`; it expects no particular entry and stores no
    /// result.
    pub(super) fn new(before: &'a Job, step: &'a Step) -> Self {
        Self {
            before,
            step,
            expect_entry: None,
            output: None,
        }
    }
}

/// The head of every call of `transition.lua`: its fixed keys and arguments.
pub(super) fn head(keys: &Keys, config: &StoreConfig) -> Item {
    let mut head = Item::default();
    head.key(keys.outbox())
        .key(keys.expiring())
        .key(keys.external_active());
    head.arg(config.history_max)
        .arg(feed_max(config))
        .arg(keys.events())
        .arg(GROUP)
        .arg(outbox_max(config))
        .arg(feed_keep(config));
    head
}

impl Partition {
    /// Applies a transition; `false` when the job moved on since `before` was read.
    /// Concurrent transitions share one script call (see `batch`).
    pub(super) async fn apply(&self, change: Change<'_>) -> Result<bool, StoreError> {
        let Change {
            before,
            step:
                Step {
                    job: after,
                    event,
                    queue,
                },
            expect_entry,
            output,
        } = change;
        let (id, tenant, job_type) = (&after.id, &after.tenant, &after.job_type);
        let (action, delay) = match *queue {
            QueueEffect::Keep => ("keep", Duration::ZERO),
            QueueEffect::Drop => ("drop", Duration::ZERO),
            QueueEffect::Requeue => ("requeue", Duration::ZERO),
            QueueEffect::Delay(delay) => ("delay", delay),
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
        let mut item = Item::default();
        item.key(keys.job(id))
            .key(keys.feed(tenant))
            .key(keys.feed_last(tenant))
            .key(queues.queue)
            .key(queues.delayed)
            .key(keys.index(tenant, before.status))
            .key(keys.index(tenant, after.status))
            .key(keys.wants(tenant));
        item.arg(before.seq)
            .arg(after.seq)
            .arg(after.status.as_str())
            .arg(to_json(event)?)
            .arg(id.to_string())
            .arg(expect_entry.unwrap_or(""))
            .arg(action)
            .arg(millis(delay.min(MAX_TTL)))
            .arg(retention)
            // A job finishing joins the expiring set; one retried leaves it.
            .arg(keys::expiring_member(
                tenant,
                if after.status.is_terminal() {
                    after.status
                } else {
                    before.status
                },
                id,
            ))
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
            .arg(queues.active.as_deref().unwrap_or(""));
        let reply = self.batchers.transition.call(item).await?;
        let applied: i64 = ::redis::from_redis_value(reply)
            .map_err(|e| StoreError::Backend(format!("failed to write a job transition: {e}")))?;
        Ok(applied == 1)
    }

    /// Applies a worker's transition of its leased job: a refused compare-and-set means the
    /// job moved on without this worker.
    pub(super) async fn apply_leased(&self, change: Change<'_>) -> Result<(), StoreError> {
        if self.apply(change).await? {
            Ok(())
        } else {
            Err(StoreError::LeaseLost)
        }
    }
}
