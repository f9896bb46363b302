//! Reading a job for a poll, and the long poll: waiting, without polling the backend, until the
//! job moves past the version the client holds.
//!
//! The long poll registers with the [`Hub`] first, then reads the job, so a change landing
//! between the read and the wait still wakes it. A resync is only a hint to re-read the store
//! (the source of truth); the wait ends when the re-read shows a newer `seq`, when the
//! client's `wait` runs out, when the process shuts down, or — answering `401` — when the key
//! the poll acts with is revoked. An event newer than the client's
//! version is answered from its own snapshot, without a read — unless the job has a webhook of
//! its own, whose status only a read shows.

use std::time::Duration;

use herald_core::{Job, JobId, SharedStore, TenantId};

use crate::http::caller::ActingKey;
use crate::http::conditional::IfNoneMatch;
use crate::http::error::ApiError;
use crate::http::metrics::ApiMetrics;
use crate::transport::hub::{Hub, Listener, Notice};

/// What a poll found.
#[derive(Debug)]
pub enum Polled {
    /// The client does not hold this version: send it.
    Changed(Job),
    /// The client holds this version already: `304`.
    NotModified(Job),
}

/// What a poll needs from the process.
pub struct Poller<'a> {
    pub store: &'a SharedStore,
    pub hub: &'a Hub,
    pub metrics: &'a ApiMetrics,
}

impl Poller<'_> {
    /// Reads job `id`; with `known` (the client's `If-None-Match`) and `wait`, waits up to
    /// `wait` for the job to move past the version the client holds, for as long as `key`
    /// is not revoked.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`] when the tenant has no such job; `401` when `key` is revoked
    /// before or while the poll waits; store failures.
    pub async fn poll(
        &self,
        tenant: &TenantId,
        id: JobId,
        known: Option<&IfNoneMatch>,
        wait: Option<Duration>,
        key: Option<ActingKey>,
    ) -> Result<Polled, ApiError> {
        let Some(known) = known else {
            return Ok(Polled::Changed(self.read(tenant, id).await?));
        };
        let Some(wait) = wait else {
            let job = self.read(tenant, id).await?;
            return Ok(if known.matches(job.seq) {
                Polled::NotModified(job)
            } else {
                Polled::Changed(job)
            });
        };

        let deadline = tokio::time::Instant::now() + wait;
        let watch = self.hub.revocations().watch(key).await?;
        let mut subscription = self
            .hub
            .subscribe_job(id, Listener::LongPoll)
            .until_revoked(&watch);
        let job = self.read(tenant, id).await?;
        if !known.matches(job.seq) {
            return Ok(Polled::Changed(job));
        }
        let held = job.seq;
        let _waiting = self.metrics.long_poll_waiting();
        loop {
            let notice = tokio::select! {
                notice = subscription.recv() => notice,
                () = tokio::time::sleep_until(deadline) => return Ok(Polled::NotModified(job)),
            };
            match notice {
                // Shutting down: answer now so the client retries elsewhere.
                None => return Ok(Polled::NotModified(job)),
                Some(Notice::Revoked) => return Err(watch.refusal()),
                // An old event (the store is already past it for us): nothing new to read.
                Some(Notice::Event(entry)) if entry.event.seq() <= held => continue,
                // The event carries the whole job as of that change: no need to read it back.
                // (The hub matches by id only, so the tenant is checked here.) Its snapshot
                // lacks the webhook status, though, so a job with a webhook is read back.
                Some(Notice::Event(entry))
                    if entry.event.job.tenant == *tenant && job.webhook.is_none() =>
                {
                    return Ok(Polled::Changed(entry.event.job.clone()));
                }
                Some(Notice::Event(_) | Notice::Resync) => {}
                // The hub let this subscription go (its queue was full): subscribe again,
                // then re-read, so nothing in between is missed.
                Some(Notice::Lagged) => {
                    subscription = self
                        .hub
                        .subscribe_job(id, Listener::LongPoll)
                        .until_revoked(&watch);
                }
            }
            let now = self.read(tenant, id).await?;
            if now.seq != held {
                return Ok(Polled::Changed(now));
            }
        }
    }

    async fn read(&self, tenant: &TenantId, id: JobId) -> Result<Job, ApiError> {
        self.store
            .get(tenant, &id)
            .await?
            .ok_or_else(|| ApiError::JobNotFound(id.to_string()))
    }
}
