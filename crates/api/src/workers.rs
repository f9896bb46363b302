//! External workers: processes outside Herald, in any language, that run the jobs of the types
//! the catalog marks as external, speaking plain HTTP (`/v1/workers/...`, the routes in
//! `routes::workers`). The protocol is the one Faktory and Temporal activities use: claim a job
//! (long poll), heartbeat while it runs (with progress), then complete, fail or release it.
//!
//! A claimed job's lease lives in the store like any worker's; the remote worker holds only its
//! **token** ([`Lease::token`], new on every hand-out of the job). Each call names the job and
//! the token; this process looks the lease up by id ([`Store::lease`]), checks the token is
//! still the job's current one, and writes through it — so every write stays a compare-and-set
//! on the job's `seq`, and any api process can serve any call. A token that no longer names
//! the job's lease (the job was reclaimed and handed out again, finished, canceled, timed out)
//! answers `409 lease-lost`; the worker then drops the job.
//!
//! Claims long-poll the store (a blocking read on Redis, a wake-up on the memory backend), so
//! each holds resources while it waits: a semaphore bounds them per process
//! (`ApiConfig::max_worker_claims`), and a claim beyond answers `503` with `Retry-After`. A
//! waiting claim answers `401` as soon as the key it was made with is revoked.
//!
//! Leases of remote workers that go silent must be reclaimed even when nobody claims: every
//! process with the api role runs [`maintain_until`], a pass of
//! [`Store::maintain_external`] every `ApiConfig::external_maintenance_interval`, over every
//! tenant's external queues that hold leases or waiting retries. (The workers' own maintenance
//! covers only the shared queues.)

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeDelta, Utc};
use herald_core::backoff::RetryPolicy;
use herald_core::store::{Claimed, Lease, LeaseState};
use herald_core::view::format_time;
use herald_core::{
    ErrorCode, FieldError, Job, JobError, JobId, JobOutput, JobType, JobTypes, Progress,
    SharedStore, StoreError, TenantId, WorkerId,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::body::from_body;
use crate::error::ApiError;
use crate::metrics::ApiMetrics;
use crate::resource::JobResource;
use crate::revocation::{ActingKey, KeyWatch, Revocations};

/// How many claims may be in progress at once in one process, by default.
pub const DEFAULT_MAX_CLAIMS: usize = 128;
/// How long a claim waits for a job when it names no `wait_s`.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(30);
/// How many job types one claim may name.
const MAX_CLAIM_TYPES: usize = 32;
/// The longest lease token and worker name accepted.
const MAX_TOKEN_LEN: usize = 256;
const MAX_WORKER_NAME_LEN: usize = 128;
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

/// Runs a maintenance pass of the external workers' queues every `interval` until `shutdown`.
/// A failed pass is logged and the next one tries again.
pub(crate) async fn maintain_until(
    store: SharedStore,
    worker: WorkerId,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    const WHAT: &str = "maintaining the external workers' queues";
    let mut failures = herald_core::backoff::FailureLog::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let outcome = store.maintain_external(&worker).await;
        if outcome.is_ok() {
            failures.succeeded(WHAT);
        }
        match outcome {
            Ok(done) if done.reclaimed > 0 || done.promoted > 0 => tracing::info!(
                reclaimed = done.reclaimed,
                promoted = done.promoted,
                "maintained the queues of external workers"
            ),
            Ok(_) => {}
            Err(e) => {
                failures.failed(WHAT, &e);
            }
        }
    }
}

/// The lease as a worker sees it: its token, when it runs out without a heartbeat, and when
/// the attempt itself times out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaseView {
    /// Names the lease in every later call about the job.
    pub token: String,
    /// When the lease runs out unless a heartbeat renews it.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// How long a heartbeat keeps the lease (the store's lease timeout), in seconds.
    pub timeout_s: f64,
    /// How often to heartbeat: a third of `timeout_s`.
    pub heartbeat_s: f64,
    /// When the attempt times out (`started_at` + the job's `timeout_s`): a heartbeat after it
    /// fails the attempt with code `timeout`.
    #[schema(required = true, format = DateTime)]
    pub deadline: Option<String>,
}

impl LeaseView {
    fn new(lease: &Lease, timeout: Duration, now: DateTime<Utc>) -> Self {
        let expires = TimeDelta::from_std(timeout).unwrap_or(TimeDelta::MAX);
        Self {
            token: lease.token().to_owned(),
            expires_at: format_time(&now.checked_add_signed(expires).unwrap_or(now)),
            timeout_s: timeout.as_secs_f64(),
            heartbeat_s: (timeout / 3).as_secs_f64(),
            deadline: deadline(&lease.job).map(|at| format_time(&at)),
        }
    }
}

/// When the attempt of a processing job times out.
fn deadline(job: &Job) -> Option<DateTime<Utc>> {
    let timeout = TimeDelta::try_seconds(i64::try_from(job.timeout_s).ok()?)?;
    job.started_at?.checked_add_signed(timeout)
}

/// A job handed to a worker.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedJob {
    pub job: JobResource<'static>,
    /// The job's payload, as submitted (any JSON value).
    pub payload: Value,
    pub lease: LeaseView,
}

/// What a heartbeat answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeartbeatAnswer {
    /// A client asked for the job to be canceled: stop, then send any final call (the job
    /// ends canceled).
    pub cancel_requested: bool,
    pub lease: LeaseView,
    pub job: JobResource<'static>,
}

/// What a final call (complete, fail, release) answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Finished {
    pub job: JobResource<'static>,
}

/// `POST /v1/workers/claim`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClaimRequest {
    /// 1 to 32 job types, each run by external workers.
    #[schema(value_type = Vec<JobType>, min_items = 1, max_items = 32)]
    types: Option<Vec<String>>,
    /// How long to wait for a job when none is waiting (0 to 60 seconds, default 30).
    #[schema(maximum = 60)]
    wait_s: Option<u64>,
    /// The worker's name, for the server's logs (1 to 128 visible ASCII characters).
    #[schema(min_length = 1, max_length = 128)]
    worker_id: Option<String>,
}

/// A valid claim.
#[derive(Debug)]
pub struct Claim {
    pub types: Vec<JobType>,
    pub wait: Duration,
    /// The worker's own name for itself, for the logs.
    pub worker_name: Option<String>,
}

impl Claim {
    /// Reads a claim: `types` (required, each a type the catalog gives to external workers),
    /// `wait_s` (0 to `max_wait`, default 30) and `worker_id` (optional).
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(body: &Value, job_types: &JobTypes, max_wait: Duration) -> Result<Self, ApiError> {
        let request: ClaimRequest = from_body(body).map_err(ApiError::Validation)?;
        let mut errors = Vec::new();
        let types = match request.types {
            None => {
                errors.push(FieldError::new("types", "is required"));
                Vec::new()
            }
            Some(raw) => parse_types(&raw, job_types)
                .map_err(|message| errors.push(FieldError::new("types", message)))
                .unwrap_or_default(),
        };
        let wait = match request.wait_s {
            None => DEFAULT_CLAIM_WAIT.min(max_wait),
            Some(s) if Duration::from_secs(s) > max_wait => {
                errors.push(FieldError::new(
                    "wait_s",
                    format!("must be between 0 and {}", max_wait.as_secs()),
                ));
                Duration::ZERO
            }
            Some(s) => Duration::from_secs(s),
        };
        let worker_name = request.worker_id.filter(|name| {
            let ok = !name.is_empty()
                && name.len() <= MAX_WORKER_NAME_LEN
                && name.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                errors.push(FieldError::new(
                    "worker_id",
                    format!("must be 1 to {MAX_WORKER_NAME_LEN} visible ASCII characters"),
                ));
            }
            ok
        });
        if errors.is_empty() {
            Ok(Self {
                types,
                wait,
                worker_name,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// The job types of a claim: at least one, each run by external workers; duplicates dropped.
fn parse_types(raw: &[String], job_types: &JobTypes) -> Result<Vec<JobType>, String> {
    if raw.is_empty() {
        return Err("must name at least one job type".to_owned());
    }
    if raw.len() > MAX_CLAIM_TYPES {
        return Err(format!("may name at most {MAX_CLAIM_TYPES} job types"));
    }
    let mut types: Vec<JobType> = Vec::with_capacity(raw.len());
    let mut refused = Vec::new();
    for name in raw {
        match JobType::parse(name) {
            Ok(job_type) if job_types.is_external(&job_type) => {
                if !types.contains(&job_type) {
                    types.push(job_type);
                }
            }
            _ => refused.push(format!("`{name}`")),
        }
    }
    if refused.is_empty() {
        Ok(types)
    } else {
        Err(format!(
            "{} {} not run by external workers (the catalog marks no such type as external)",
            refused.join(", "),
            if refused.len() == 1 { "is" } else { "are" }
        ))
    }
}

/// The lease token every call about a claimed job carries.
fn parse_token(raw: Option<String>, errors: &mut Vec<FieldError>) -> String {
    match raw {
        None => {
            errors.push(FieldError::new("lease", "is required"));
            String::new()
        }
        Some(token) if token.is_empty() || token.len() > MAX_TOKEN_LEN => {
            errors.push(FieldError::new(
                "lease",
                format!("must be the token of the claim's lease (1 to {MAX_TOKEN_LEN} characters)"),
            ));
            String::new()
        }
        Some(token) => token,
    }
}

/// `{"percent": 0-100, "message": "..."}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgressRequest {
    #[schema(value_type = u8, maximum = 100)]
    percent: Option<u64>,
    /// Cut to 1 KiB.
    message: Option<String>,
}

fn parse_progress(raw: &Value, errors: &mut Vec<FieldError>) -> Option<Progress> {
    let request: ProgressRequest = match from_body(raw) {
        Ok(request) => request,
        Err(bad) => {
            errors.extend(bad.into_iter().map(|e| {
                let field = if e.field == "body" {
                    "progress".to_owned()
                } else {
                    format!("progress.{}", e.field)
                };
                FieldError {
                    field,
                    message: e.message,
                }
            }));
            return None;
        }
    };
    match request.percent.map(u8::try_from) {
        Some(Ok(percent)) if percent <= 100 => Some(Progress::new(percent, request.message)),
        None => {
            errors.push(FieldError::new("progress.percent", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                "progress.percent",
                "must be between 0 and 100",
            ));
            None
        }
    }
}

/// `POST /v1/workers/jobs/{id}/heartbeat`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeartbeatRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// Recorded like any job's progress; the same progress sent again is not recorded twice.
    #[schema(value_type = Option<ProgressRequest>)]
    progress: Option<Value>,
}

/// A valid heartbeat.
#[derive(Debug)]
pub struct Heartbeat {
    pub token: String,
    pub progress: Option<Progress>,
}

impl Heartbeat {
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let request: HeartbeatRequest = from_body(body).map_err(ApiError::Validation)?;
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let progress = request
            .progress
            .filter(|p| !p.is_null())
            .and_then(|p| parse_progress(&p, &mut errors));
        if errors.is_empty() {
            Ok(Self { token, progress })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /v1/workers/jobs/{id}/complete`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// The result as any JSON value (served as `application/json`).
    result: Option<Value>,
    /// Or the result as bytes, standard base64; not with `result`.
    #[schema(format = Byte)]
    result_base64: Option<String>,
    /// The media type of `result_base64` (default `application/octet-stream`).
    content_type: Option<String>,
}

/// A valid completion.
#[derive(Debug)]
pub struct Completion {
    pub token: String,
    pub output: Option<JobOutput>,
}

impl Completion {
    /// Reads a completion: `lease`, and the result as JSON (`result`, stored as
    /// `application/json`) or as bytes (`result_base64` with an optional `content_type`,
    /// `application/octet-stream` by default); neither means no result.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let request: CompleteRequest = from_body(body).map_err(ApiError::Validation)?;
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let json = request.result.filter(|r| !r.is_null());
        let output = match (json, request.result_base64, request.content_type) {
            (Some(_), Some(_), _) => {
                errors.push(FieldError::new(
                    "result_base64",
                    "cannot be sent with `result`: send the result one way",
                ));
                None
            }
            (Some(_), None, Some(_)) => {
                errors.push(FieldError::new(
                    "content_type",
                    "goes with `result_base64`; a `result` is always application/json",
                ));
                None
            }
            (Some(value), None, None) => Some(JobOutput::json(&value)),
            (None, Some(encoded), content_type) => {
                let body = BASE64
                    .decode(encoded.trim())
                    .map_err(|e| {
                        errors.push(FieldError::new(
                            "result_base64",
                            format!("is not standard base64: {e}"),
                        ))
                    })
                    .ok();
                let content_type = match content_type {
                    None => Some("application/octet-stream".to_owned()),
                    Some(raw) if is_media_type(&raw) => Some(raw),
                    Some(_) => {
                        errors.push(FieldError::new(
                            "content_type",
                            "must be a media type such as `text/csv` or \
                             `text/csv; charset=utf-8`",
                        ));
                        None
                    }
                };
                body.zip(content_type)
                    .map(|(body, content_type)| JobOutput { content_type, body })
            }
            (None, None, Some(_)) => {
                errors.push(FieldError::new(
                    "content_type",
                    "goes with `result_base64`, which is missing",
                ));
                None
            }
            (None, None, None) => None,
        };
        if errors.is_empty() {
            Ok(Self { token, output })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Whether `raw` reads as a media type (`type/subtype`, optional parameters), safe to send
/// back as a `Content-Type`.
fn is_media_type(raw: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let essence = raw.split(';').next().unwrap_or_default().trim();
    raw.len() <= 255
        && raw.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && essence
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// `POST /v1/workers/jobs/{id}/fail`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FailRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// What went wrong (cut to 1 KiB).
    #[schema(value_type = String)]
    message: Option<String>,
    /// Retry per the type's policy while attempts remain (default `true`), or fail for good.
    retryable: Option<bool>,
}

/// A valid failure report.
#[derive(Debug)]
pub struct Failure {
    pub token: String,
    pub message: String,
    /// Retry per the type's policy while attempts remain (the default), or fail for good.
    pub retryable: bool,
}

impl Failure {
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let request: FailRequest = from_body(body).map_err(ApiError::Validation)?;
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let message = match request.message {
            None => {
                errors.push(FieldError::new("message", "is required"));
                String::new()
            }
            Some(message) if message.trim().is_empty() => {
                errors.push(FieldError::new("message", "must say what went wrong"));
                String::new()
            }
            Some(message) => message,
        };
        if errors.is_empty() {
            Ok(Self {
                token,
                message,
                retryable: request.retryable.unwrap_or(true),
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /v1/workers/jobs/{id}/release`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReleaseRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
}

/// Reads the lease token of a release.
///
/// # Errors
/// [`ApiError::Validation`] naming every bad field.
pub fn parse_release(body: &Value) -> Result<String, ApiError> {
    let request: ReleaseRequest = from_body(body).map_err(ApiError::Validation)?;
    let mut errors = Vec::new();
    let token = parse_token(request.lease, &mut errors);
    if errors.is_empty() {
        Ok(token)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// How a heartbeat went.
enum Beat {
    Alive(LeaseState, Lease),
    /// The attempt ran past its timeout and was failed.
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
    /// progress). A heartbeat past the attempt's deadline fails the attempt with code
    /// `timeout` (retried per the type's policy) and answers `409`.
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
                let now = Utc::now();
                if deadline(&lease.job).is_some_and(|at| now > at) {
                    return self.time_out(lease).await.map(Beat::TimedOut);
                }
                let state = self.store.heartbeat(&self.gate.id, &lease).await?;
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
            Beat::TimedOut(job) => Err(ApiError::LeaseLost(format!(
                "the attempt ran longer than the job's timeout of {} s: it failed with code \
                 `timeout` and is {}",
                job.timeout_s,
                if job.status.is_terminal() {
                    "failed for good (no attempt left)".to_owned()
                } else {
                    format!("{} for another attempt", job.status)
                }
            ))),
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
        self.finish(tenant, id, &completion.token, async |lease: Lease| {
            self.store.complete(lease, completion.output.clone()).await
        })
        .await
    }

    /// Fails the attempt: retried after the type's retry delay while attempts remain (unless
    /// not `retryable`), else failed for good with code `handler_error`.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`]; store failures.
    pub async fn fail(
        &self,
        tenant: &TenantId,
        id: JobId,
        failure: &Failure,
    ) -> Result<Finished, ApiError> {
        self.finish(tenant, id, &failure.token, async |lease: Lease| {
            let error = JobError::new(ErrorCode::HandlerError, failure.message.clone());
            let delay = failure.retryable.then(|| self.retry_delay(&lease.job));
            self.store.fail(lease, error, delay).await
        })
        .await
    }

    /// Hands the job back unstarted (the worker is stopping): pending again at the end of its
    /// queue, the attempt not counted.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`], [`ApiError::LeaseLost`]; store failures.
    pub async fn release(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
    ) -> Result<Finished, ApiError> {
        self.finish(tenant, id, token, async |lease: Lease| {
            self.store.release(lease).await
        })
        .await
    }

    /// A final call: renews the lease to learn of a cancel request, then cancels the job if
    /// one is pending, else writes `end`.
    async fn finish(
        &self,
        tenant: &TenantId,
        id: JobId,
        token: &str,
        end: impl AsyncFn(Lease) -> Result<Job, StoreError>,
    ) -> Result<Finished, ApiError> {
        let job = self
            .through_lease(tenant, id, token, async |lease: Lease| {
                let state = self.store.heartbeat(&self.gate.id, &lease).await?;
                if state.cancel_requested {
                    self.store.cancel_claimed(lease).await
                } else {
                    end(lease).await
                }
            })
            .await?;
        Ok(Finished {
            job: JobResource::new(&job),
        })
    }

    /// Fails an attempt that ran past its timeout, to be retried after the type's delay.
    async fn time_out(&self, lease: Lease) -> Result<Job, StoreError> {
        let timeout_s = lease.job.timeout_s;
        tracing::warn!(job_id = %lease.job.id, timeout_s, "an external worker's attempt timed out");
        let error = JobError::new(
            ErrorCode::Timeout,
            format!("the attempt ran longer than the job's timeout of {timeout_s} s"),
        );
        let delay = self.retry_delay(&lease.job);
        self.store.fail(lease, error, Some(delay)).await
    }

    /// The delay before the next attempt: the type's retry policy, else the default one.
    fn retry_delay(&self, job: &Job) -> Duration {
        self.job_types
            .retry(&job.job_type, RetryPolicy::default())
            .delay(job.attempt)
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

#[cfg(test)]
mod tests {
    use herald_core::{Runner, TypePolicy};
    use serde_json::json;

    use super::*;

    fn catalog() -> JobTypes {
        let mut types = JobTypes::new();
        types.insert(JobType::parse("demo.sleep").unwrap(), TypePolicy::default());
        types.insert(
            JobType::parse("video.transcode").unwrap(),
            TypePolicy {
                runner: Runner::External,
                ..TypePolicy::default()
            },
        );
        types
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_claim_names_external_types_and_waits_thirty_seconds_by_default() {
        let max = Duration::from_secs(60);
        let claim = Claim::parse(
            &json!({"types": ["video.transcode", "video.transcode"]}),
            &catalog(),
            max,
        )
        .unwrap();
        assert_eq!(claim.types, [JobType::parse("video.transcode").unwrap()]);
        assert_eq!(claim.wait, DEFAULT_CLAIM_WAIT);
        for body in [
            json!({"types": ["demo.sleep"]}),
            json!({"types": ["nope"]}),
            json!({"types": []}),
            json!({"types": ["bad name"]}),
            json!({}),
        ] {
            let err = Claim::parse(&body, &catalog(), max).unwrap_err();
            assert_eq!(fields(err), ["types"], "{body}");
        }
        let err = Claim::parse(
            &json!({"types": ["video.transcode"], "wait_s": 61, "worker_id": ""}),
            &catalog(),
            max,
        )
        .unwrap_err();
        assert_eq!(fields(err), ["wait_s", "worker_id"]);
    }

    #[test]
    fn a_completion_carries_json_or_bytes_with_their_media_type() {
        let json_result = Completion::parse(&json!({"lease": "t", "result": {"ok": 1}})).unwrap();
        let output = json_result.output.unwrap();
        assert_eq!(output.content_type, "application/json");
        assert_eq!(output.body, br#"{"ok":1}"#);

        let bytes = Completion::parse(
            &json!({"lease": "t", "result_base64": "YSxiCjEsMgo=", "content_type": "text/csv"}),
        )
        .unwrap()
        .output
        .unwrap();
        assert_eq!(
            (bytes.content_type.as_str(), &bytes.body[..]),
            ("text/csv", &b"a,b\n1,2\n"[..])
        );

        let none = Completion::parse(&json!({"lease": "t"})).unwrap();
        assert!(none.output.is_none());

        for (body, bad) in [
            (json!({"result": 1}), vec!["lease"]),
            (
                json!({"lease": "t", "result": 1, "result_base64": "AA=="}),
                vec!["result_base64"],
            ),
            (
                json!({"lease": "t", "result_base64": "***"}),
                vec!["result_base64"],
            ),
            (
                json!({"lease": "t", "result_base64": "AA==", "content_type": "csv"}),
                vec!["content_type"],
            ),
            (
                json!({"lease": "t", "content_type": "text/csv"}),
                vec!["content_type"],
            ),
            (json!({"lease": "t", "colour": "red"}), vec!["colour"]),
        ] {
            assert_eq!(fields(Completion::parse(&body).unwrap_err()), bad, "{body}");
        }
    }

    #[test]
    fn progress_is_a_percentage_with_an_optional_message() {
        let beat =
            Heartbeat::parse(&json!({"lease": "t", "progress": {"percent": 40, "message": "m"}}))
                .unwrap();
        assert_eq!(beat.progress, Some(Progress::new(40, Some("m".to_owned()))));
        for (progress, field) in [
            (json!({"percent": 101}), "progress.percent"),
            (json!({"percent": -1}), "progress.percent"),
            (json!({"message": "m"}), "progress.percent"),
            (json!({"percent": 1, "eta": 3}), "progress.eta"),
            (json!(7), "progress"),
        ] {
            let err = Heartbeat::parse(&json!({"lease": "t", "progress": progress})).unwrap_err();
            assert_eq!(fields(err), [field], "{progress}");
        }
    }

    #[test]
    fn a_failure_says_what_went_wrong_and_is_retryable_by_default() {
        let failure = Failure::parse(&json!({"lease": "t", "message": "disk full"})).unwrap();
        assert!(failure.retryable);
        let err = Failure::parse(&json!({"lease": "t", "message": " "})).unwrap_err();
        assert_eq!(fields(err), ["message"]);
    }

    #[test]
    fn media_types_are_checked_before_they_become_headers() {
        assert!(is_media_type("text/csv"));
        assert!(is_media_type("text/csv; charset=utf-8"));
        assert!(is_media_type("application/vnd.api+json"));
        for bad in ["csv", "text/", "/csv", "text/csv\r\nX-Evil: 1", "te xt/csv"] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }
}
