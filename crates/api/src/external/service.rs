//! The external workers' calls served: claims bounded per process, and every write through a
//! lease named by its token, checked against the job's current lease.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use herald_core::attempt::{self, Conclusion, Ending};
use herald_core::backoff::RetryPolicy;
use herald_core::store::{Claimed, Lease, LeaseState};
use herald_core::{
    ErrorCode, Job, JobError, JobId, JobOutput, JobStatus, JobTypes, SharedStore, StoreError,
    TenantId, WorkerId,
};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::http::caller::ActingKey;
use crate::http::error::ApiError;
use crate::http::metrics::ApiMetrics;
use crate::resource::JobResource;
use crate::transport::revocation::{KeyWatch, Revocations};

use super::protocol::{
    Claim, ClaimedJob, Completion, Failure, Finished, Heartbeat, HeartbeatAnswer, LeaseView,
};

/// How many claims may be in progress at once in one process, by default.
pub const DEFAULT_MAX_CLAIMS: usize = 128;
/// How often a write through a lease is tried again after it lost a race with another write
/// through the same lease (the worker's heartbeat and its final call crossing, say).
const LEASE_WRITE_ATTEMPTS: usize = 5;

/// What the external-worker routes share: the name this process claims under and the bound
/// on claims in progress.
pub(crate) struct ExternalWorkers {
    /// This process's consumer name in the queues. Heartbeats go through it too: on Redis a
    /// heartbeat takes the lease over for the process that served it, so any api process can
    /// serve any call.
    id: WorkerId,
    claims: Arc<Semaphore>,
    max_claims: usize,
    shutdown: CancellationToken,
}

impl ExternalWorkers {
    pub(crate) fn new(max_claims: usize, shutdown: CancellationToken) -> Self {
        // More permits than a semaphore holds would panic; nobody means that many anyway.
        let max_claims = max_claims.min(Semaphore::MAX_PERMITS);
        Self {
            id: WorkerId::generate(),
            claims: Arc::new(Semaphore::new(max_claims)),
            max_claims,
            shutdown,
        }
    }

    pub(crate) fn id(&self) -> &WorkerId {
        &self.id
    }
}

/// How a heartbeat went.
enum Beat {
    Alive(LeaseState, Lease),
    /// The attempt ran past its timeout and was concluded (failed, retried or canceled).
    TimedOut(Job),
}

/// The external-worker protocol over one store: each method is one call of a worker.
pub(crate) struct Workers<'a> {
    pub store: &'a SharedStore,
    pub job_types: &'a JobTypes,
    pub metrics: &'a ApiMetrics,
    pub gate: &'a ExternalWorkers,
    pub revocations: &'a Revocations,
}

impl Workers<'_> {
    fn lease_timeout(&self) -> Duration {
        self.store.config().lease_timeout
    }

    /// Hands the tenant's oldest pending job of the claimed types to the caller, waiting up
    /// to the claim's `wait` for one, for as long as `key` is not revoked; `None` when none
    /// came (or the process is stopping).
    ///
    /// # Errors
    /// [`ApiError::ClaimsBusy`] when the process holds as many claims as it allows; `401`
    /// when `key` is revoked before or while the claim waits; store failures.
    pub async fn claim(
        &self,
        tenant: &TenantId,
        claim: &Claim,
        key: Option<ActingKey>,
    ) -> Result<Option<ClaimedJob>, ApiError> {
        let _permit = Arc::clone(&self.gate.claims)
            .try_acquire_owned()
            .map_err(|_| ApiError::ClaimsBusy {
                limit: self.gate.max_claims,
            })?;
        let waits = !claim.wait.is_zero();
        // Only a claim that may wait watches its key: one that does not is over at once.
        let watch = if waits {
            self.revocations.watch(key).await?
        } else {
            KeyWatch::default()
        };
        let _waiting = waits.then(|| self.metrics.long_poll_waiting());
        let claimed = tokio::select! {
            biased;
            // Stopping: answer now, so the worker claims again elsewhere.
            () = self.gate.shutdown.cancelled() => return Ok(None),
            // A revoked key claims nothing more: the claim is dropped as when the process
            // stops.
            () = watch.revoked() => return Err(watch.refusal()),
            claimed = self.store.claim_external(
                &self.gate.id,
                tenant,
                &claim.types,
                1,
                claim.wait,
            ) => claimed?,
        };
        let Some(Claimed { lease, payload }) = claimed.into_iter().next() else {
            return Ok(None);
        };
        tracing::info!(
            job_id = %lease.job.id,
            job_type = %lease.job.job_type,
            attempt = lease.job.attempt,
            worker = claim.worker_name.as_deref().unwrap_or("-"),
            "an external worker claimed a job"
        );
        Ok(Some(ClaimedJob {
            job: JobResource::new(&lease.job),
            payload,
            lease: LeaseView::new(&lease, self.lease_timeout(), Utc::now()),
        }))
    }

    /// Renews the lease and records the progress, if any (unless it repeats the job's current
    /// progress). A heartbeat past the attempt's deadline ends the attempt as timed out
    /// ([`attempt::conclude`]: failed with code `timeout` and retried per the type's policy,
    /// or canceled when a cancel was requested) and answers `409`.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`]; store failures.
    pub async fn heartbeat(
        &self,
        tenant: &TenantId,
        id: JobId,
        heartbeat: &Heartbeat,
    ) -> Result<HeartbeatAnswer, ApiError> {
        let beat = self
            .through_lease(tenant, id, &heartbeat.token, async |mut lease: Lease| {
                let state = self.store.heartbeat(&self.gate.id, &lease).await?;
                if attempt::is_overdue(&lease.job, Utc::now()) {
                    tracing::warn!(
                        job_id = %lease.job.id,
                        timeout_s = lease.job.timeout_s,
                        "an external worker's attempt timed out"
                    );
                    let job = self
                        .end(lease, Ending::TimedOut, state.cancel_requested, None)
                        .await?;
                    return Ok(Beat::TimedOut(job));
                }
                if let Some(progress) = &heartbeat.progress
                    && lease.job.progress.as_ref() != Some(progress)
                {
                    self.store.progress(&mut lease, progress.clone()).await?;
                }
                Ok(Beat::Alive(state, lease))
            })
            .await?;
        match beat {
            Beat::Alive(state, lease) => Ok(HeartbeatAnswer {
                cancel_requested: state.cancel_requested,
                lease: LeaseView::new(&lease, self.lease_timeout(), Utc::now()),
                job: JobResource::new(&lease.job),
            }),
            Beat::TimedOut(job) => {
                let now = match job.status {
                    JobStatus::Canceled => "it is canceled, as a client asked".to_owned(),
                    status if status.is_terminal() => {
                        "it failed with code `timeout`, for good (no attempt left)".to_owned()
                    }
                    status => {
                        format!("it failed with code `timeout` and is {status} for another attempt")
                    }
                };
                Err(ApiError::LeaseLost(format!(
                    "the attempt ran longer than the job's timeout of {} s: {now}",
                    job.timeout_s
                )))
            }
        }
    }

    /// Completes the job with the worker's result — or, when a client asked for it to be
    /// canceled meanwhile, cancels it (as Herald's own workers do).
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`], [`ApiError::ResultTooLarge`];
    /// store failures.
    pub async fn complete(
        &self,
        tenant: &TenantId,
        id: JobId,
        completion: &Completion,
    ) -> Result<Finished, ApiError> {
        // Before anything is written: a result too large leaves the job with its worker.
        self.store
            .config()
            .check_result(completion.output.as_ref())?;
        self.finish(
            tenant,
            id,
            &completion.token,
            || Ending::Succeeded,
            completion.output.as_ref(),
        )
        .await
    }

    /// Fails the attempt: retried after the type's retry delay while attempts remain (unless
    /// not `retryable`), else failed for good with code `handler_error`; canceled instead when
    /// a cancel was requested.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`]; store failures.
    pub async fn fail(
        &self,
        tenant: &TenantId,
        id: JobId,
        failure: &Failure,
    ) -> Result<Finished, ApiError> {
        let ending = || Ending::Failed {
            error: JobError::new(ErrorCode::HandlerError, failure.message.clone()),
            retryable: failure.retryable,
        };
        self.finish(tenant, id, &failure.token, ending, None).await
    }

    /// Hands the job back unstarted (the worker is stopping): pending again at the end of its
    /// queue, the attempt not counted; canceled instead when a cancel was requested.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`]; store failures.
    pub async fn release(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
    ) -> Result<Finished, ApiError> {
        self.finish(tenant, id, token, || Ending::Released, None)
            .await
    }

    /// A final call: renews the lease to learn of a cancel request, then writes what the
    /// attempt's `ending` calls for ([`attempt::conclude`]), with `output` for a completion.
    async fn finish(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
        ending: impl Fn() -> Ending,
        output: Option<&JobOutput>,
    ) -> Result<Finished, ApiError> {
        let job = self
            .through_lease(tenant, id, token, async |lease: Lease| {
                let state = self.store.heartbeat(&self.gate.id, &lease).await?;
                self.end(lease, ending(), state.cancel_requested, output.cloned())
                    .await
            })
            .await?;
        Ok(Finished {
            job: JobResource::new(&job),
        })
    }

    /// Writes what an attempt that stopped as `ending` calls for, by the one rule every
    /// worker's attempts end by, with the type's retry policy, else the default one (the same
    /// as Herald's own workers').
    async fn end(
        &self,
        lease: Lease,
        ending: Ending,
        cancel_requested: bool,
        output: Option<JobOutput>,
    ) -> Result<Job, StoreError> {
        let policy = self
            .job_types
            .retry(&lease.job.job_type, RetryPolicy::default());
        match attempt::conclude(&lease.job, ending, cancel_requested, &policy) {
            Conclusion::Complete => self.store.complete(lease, output).await,
            Conclusion::Retry { error, after } => self.store.fail(lease, error, Some(after)).await,
            Conclusion::Fail(error) => self.store.fail(lease, error, None).await,
            Conclusion::Cancel => self.store.cancel_claimed(lease).await,
            Conclusion::Release => self.store.release(lease).await,
            // Only a worker that saw its lease go concludes so; a call here holds the lease.
            Conclusion::Abandon => Err(StoreError::LeaseLost),
        }
    }

    /// Runs `write` through the current lease of the tenant's job `id`, provided `token` names
    /// it. A write refused because the job moved meanwhile is tried again on the job's new
    /// version while `token` still names its lease: two calls through one lease (a heartbeat
    /// crossing the final call) must not cost the worker its job.
    async fn through_lease<T>(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
        write: impl AsyncFn(Lease) -> Result<T, StoreError>,
    ) -> Result<T, ApiError> {
        for _ in 0..LEASE_WRITE_ATTEMPTS {
            let lease = self.current_lease(tenant, id, token).await?;
            match write(lease).await {
                Err(StoreError::LeaseLost) => {}
                done => return done.map_err(ApiError::from),
            }
        }
        Err(ApiError::LeaseLost(format!(
            "job {id} kept changing under this lease during {LEASE_WRITE_ATTEMPTS} attempts; \
             heartbeat again"
        )))
    }

    /// The job's current lease if `token` names it.
    async fn current_lease(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
    ) -> Result<Lease, ApiError> {
        match self.store.lease(tenant, &id).await? {
            Some(lease) if !self.job_types.is_external(&lease.job.job_type) => {
                Err(ApiError::LeaseLost(format!(
                    "job {id} is of type `{}`, which Herald's own workers run: it has no lease an \
                     external worker can hold",
                    lease.job.job_type
                )))
            }
            Some(lease) if lease.token() == token => Ok(lease),
            Some(_) => Err(ApiError::LeaseLost(format!(
                "this lease on job {id} was lost: the job was handed out again (its worker went \
                 silent for longer than the lease timeout, or it was retried); drop it"
            ))),
            None => match self.store.get(tenant, &id).await? {
                None => Err(ApiError::JobNotFound(id.to_string())),
                Some(job) => Err(ApiError::LeaseLost(format!(
                    "this lease on job {id} was lost: the job is {} now; drop it",
                    job.status
                ))),
            },
        }
    }
}
