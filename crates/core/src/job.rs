//! The stored job and its state machine.
//!
//! Every change of a job goes through one of the transition methods here. Each returns the
//! next version of the job (its `seq` one higher) together with the event that announces it;
//! the store then persists both atomically, checking that nobody else moved the job first
//! (the `seq` the change was computed from is the fencing token). Both backends share this
//! code, so they cannot disagree about what is allowed.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventType};
use crate::ids::{IdempotencyKey, InvalidInput, JobId, JobType, TenantId};
use crate::webhook::{HookStatus, JobHook};

/// Where a job is in its life. `completed`, `failed` and `canceled` are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    Pending,
    Processing,
    Completed,
    Failed,
    Canceled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        Self::Pending,
        Self::Processing,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
        }
    }

    /// Terminal states never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                InvalidInput(format!(
                    "`{s}` is not a status: pending, processing, completed, failed or canceled"
                ))
            })
    }
}

/// Stable codes of why a job did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ErrorCode {
    /// The attempt ran longer than the job's `timeout_s`.
    Timeout,
    /// The handler reported an error.
    HandlerError,
    /// The job was canceled by a client.
    Canceled,
    /// The worker running the attempt vanished (crash, partition) on the last attempt.
    WorkerLost,
    /// The handler produced a result larger than the configured limit.
    ResultTooLarge,
}

/// Why a job failed or was canceled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobError {
    pub code: ErrorCode,
    pub message: String,
}

impl JobError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: truncate(message.into(), MAX_MESSAGE_BYTES),
        }
    }
}

/// How far a processing job has come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Progress {
    #[cfg_attr(feature = "openapi", schema(maximum = 100))]
    pub percent: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub message: Option<String>,
}

impl Progress {
    /// Builds a progress report, clamping `percent` to 100 and bounding the message.
    pub fn new(percent: u8, message: Option<String>) -> Self {
        Self {
            percent: percent.min(100),
            message: message.map(|m| truncate(m, MAX_MESSAGE_BYTES)),
        }
    }
}

/// Messages (errors, progress) are cut to this many bytes so a handler cannot bloat history.
pub const MAX_MESSAGE_BYTES: usize = 1024;

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Limits applied to a job when it is submitted.
#[derive(Debug, Clone, Copy)]
pub struct JobLimits {
    pub default_timeout: Duration,
    pub max_timeout: Duration,
    pub default_max_attempts: u32,
    pub max_attempts: u32,
    pub max_payload_bytes: usize,
    pub max_metadata_bytes: usize,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            default_timeout: Duration::from_secs(600),
            max_timeout: Duration::from_secs(24 * 3600),
            default_max_attempts: 3,
            max_attempts: 25,
            max_payload_bytes: 256 * 1024,
            max_metadata_bytes: 16 * 1024,
        }
    }
}

/// A field-level complaint about a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// A submission as the client sent it, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewJobRequest))]
pub struct JobRequest {
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "demo.report"))]
    pub job_type: Option<String>,
    #[serde(default)]
    pub payload: Option<serde_json::Value>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub timeout_s: Option<u64>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
    /// The job's own webhook, validated by [`JobHook::parse`].
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::webhook::JobHookRequest>))]
    pub webhook: Option<serde_json::Value>,
}

/// How many bytes `value` takes as compact JSON, counted as it is written rather than
/// written out (`usize::MAX` if it cannot be encoded).
pub fn json_len(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(bytes.len());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(usize::MAX, |()| count.0)
}

/// A validated submission, ready to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub tenant: TenantId,
    pub job_type: JobType,
    pub payload: serde_json::Value,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub idempotency_key: Option<IdempotencyKey>,
    /// Where the job's own events go, if anywhere.
    pub webhook: Option<JobHook>,
}

impl NewJob {
    /// Validates a submission against `limits`, reporting every bad field at once.
    ///
    /// # Errors
    /// The list of fields that are missing or out of bounds.
    pub fn parse(
        tenant: TenantId,
        request: JobRequest,
        idempotency_key: Option<IdempotencyKey>,
        limits: &JobLimits,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let job_type = match request.job_type.as_deref() {
            None => {
                errors.push(FieldError::new("type", "is required"));
                None
            }
            Some(raw) => JobType::parse(raw)
                .map_err(|e| errors.push(FieldError::new("type", e.0)))
                .ok(),
        };
        let payload = request
            .payload
            .unwrap_or(serde_json::Value::Object(Default::default()));
        let payload_len = json_len(&payload);
        if payload_len > limits.max_payload_bytes {
            errors.push(FieldError::new(
                "payload",
                format!("must be at most {} bytes of JSON", limits.max_payload_bytes),
            ));
        }
        let timeout = match request.timeout_s {
            None => limits.default_timeout,
            Some(0) => {
                errors.push(FieldError::new("timeout_s", "must be at least 1"));
                limits.default_timeout
            }
            Some(s) if Duration::from_secs(s) > limits.max_timeout => {
                errors.push(FieldError::new(
                    "timeout_s",
                    format!("must be at most {}", limits.max_timeout.as_secs()),
                ));
                limits.default_timeout
            }
            Some(s) => Duration::from_secs(s),
        };
        let max_attempts = match request.max_attempts {
            None => limits.default_max_attempts,
            Some(n) if n == 0 || n > limits.max_attempts => {
                errors.push(FieldError::new(
                    "max_attempts",
                    format!("must be between 1 and {}", limits.max_attempts),
                ));
                limits.default_max_attempts
            }
            Some(n) => n,
        };
        let metadata = match request.metadata {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => {
                let len = json_len(&map);
                if len > limits.max_metadata_bytes {
                    errors.push(FieldError::new(
                        "metadata",
                        format!(
                            "must be at most {} bytes of JSON",
                            limits.max_metadata_bytes
                        ),
                    ));
                }
                map
            }
            Some(_) => {
                errors.push(FieldError::new("metadata", "must be a JSON object"));
                serde_json::Map::new()
            }
        };
        let webhook = match request.webhook {
            None | Some(serde_json::Value::Null) => None,
            Some(raw) => JobHook::parse(raw)
                .map_err(|hook_errors| errors.extend(hook_errors))
                .ok(),
        };
        match job_type {
            Some(job_type) if errors.is_empty() => Ok(Self {
                tenant,
                job_type,
                payload,
                timeout,
                max_attempts,
                metadata,
                idempotency_key,
                webhook,
            }),
            _ => Err(errors),
        }
    }
}

/// The stored job, everything but its payload and result (kept apart: they can be large and
/// are not part of the resource that every event carries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub tenant: TenantId,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub status: JobStatus,
    pub seq: u64,
    pub progress: Option<Progress>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub timeout_s: u64,
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub error: Option<JobError>,
    pub has_result: bool,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Its attempts, oldest first: the newest [`ATTEMPTS_KEPT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<JobAttempt>,
    /// Its own webhook's latest delivery, when it has a webhook. Kept apart from the record
    /// (the notifier writes it without moving `seq`) and filled in by the store's reads.
    #[serde(skip)]
    pub webhook: Option<HookStatus>,
}

/// A change that the job's current status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} job cannot be {action}")]
pub struct TransitionError {
    pub from: JobStatus,
    pub action: &'static str,
}

/// How many attempts a job's record lists: the newest (a job retried by hand again and again
/// may have run more).
pub const ATTEMPTS_KEPT: usize = 25;

/// How much of an answer an attempt keeps ([`AttemptDetail::response_excerpt`]).
pub const EXCERPT_BYTES: usize = 1024;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AttemptOutcome {
    Completed,
    /// The handler reported an error (or its result was too large).
    Failed,
    /// The attempt ran longer than the job's `timeout_s`.
    Timeout,
    /// A client canceled the job while this attempt ran.
    Canceled,
    /// The worker running it stopped responding and its lease ran out.
    WorkerLost,
}

impl AttemptOutcome {
    /// The outcome of an attempt that ended with `error`.
    fn of(error: &JobError) -> Self {
        match error.code {
            ErrorCode::Timeout => Self::Timeout,
            ErrorCode::Canceled => Self::Canceled,
            ErrorCode::WorkerLost => Self::WorkerLost,
            ErrorCode::HandlerError | ErrorCode::ResultTooLarge => Self::Failed,
        }
    }
}

/// What a handler learnt about its attempt beyond its outcome: for the `http` handler, the
/// endpoint's status and the start of its answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The first KiB of the answer, as text (invalid UTF-8 replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
}

impl AttemptDetail {
    /// The detail of an answer with `status` whose body starts with `body`.
    pub fn answer(status: u16, body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]).into_owned();
        Self {
            http_status: Some(status),
            response_excerpt: Some(truncate(text, EXCERPT_BYTES)),
        }
    }
}

/// One attempt of a job: when it ran and how it ended (`finished_at` and `outcome` are empty
/// while it runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobAttempt {
    /// Counts from 1, as the job's `attempt` does.
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub outcome: Option<AttemptOutcome>,
    #[serde(default)]
    pub error: Option<JobError>,
    #[serde(default, flatten)]
    pub detail: AttemptDetail,
}

/// What a transition does to the job's place in its queue: the one rule every store follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueEffect {
    /// Nothing: the job starts (its queue entry becomes its lease) or reports progress.
    Keep,
    /// The job leaves its queue: its entry (or lease) goes, and so does a retry waiting for
    /// its delay.
    Drop,
    /// The entry goes and a fresh one joins the end of the queue.
    Requeue,
    /// The entry goes and the job waits out the delay, then joins the end of the queue.
    Delay(Duration),
}

/// What a transition makes of a job: its next version, the event announcing it and what it
/// does to the job's place in its queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub job: Job,
    pub event: Event,
    pub queue: QueueEffect,
}

/// The outcome of a transition.
pub type Transition = Result<Step, TransitionError>;

impl Job {
    /// The first version of a job (`seq` 1, pending) and its `job.pending` event.
    pub fn create(id: JobId, new: &NewJob, now: DateTime<Utc>) -> (Job, Event) {
        let job = Job {
            id,
            tenant: new.tenant.clone(),
            job_type: new.job_type.clone(),
            status: JobStatus::Pending,
            seq: 1,
            progress: None,
            attempt: 0,
            max_attempts: new.max_attempts,
            timeout_s: new.timeout.as_secs(),
            metadata: new.metadata.clone(),
            error: None,
            has_result: false,
            created_at: now,
            started_at: None,
            updated_at: now,
            finished_at: None,
            attempts: Vec::new(),
            webhook: new.webhook.as_ref().map(|_| HookStatus::WAITING),
        };
        let event = Event::new(EventType::Pending, &job);
        (job, event)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s)
    }

    fn next(&self, status: JobStatus, now: DateTime<Utc>) -> Job {
        let mut job = self.clone();
        job.status = status;
        job.seq += 1;
        job.updated_at = now;
        if status.is_terminal() {
            job.finished_at = Some(now);
        }
        job
    }

    fn require(&self, status: JobStatus, action: &'static str) -> Result<(), TransitionError> {
        if self.status == status {
            Ok(())
        } else {
            Err(TransitionError {
                from: self.status,
                action,
            })
        }
    }

    /// Records what the handler learnt about the running attempt, to be kept with its
    /// outcome by the transition that ends it.
    pub fn note_attempt(&mut self, detail: AttemptDetail) {
        if let Some(running) = self.running_attempt() {
            running.detail = detail;
        }
    }

    /// The record of the attempt under way, if any.
    fn running_attempt(&mut self) -> Option<&mut JobAttempt> {
        let attempt = self.attempt;
        self.attempts
            .last_mut()
            .filter(|a| a.attempt == attempt && a.finished_at.is_none())
    }

    /// Closes the record of the attempt under way with `outcome`.
    fn end_attempt(
        &mut self,
        outcome: AttemptOutcome,
        error: Option<&JobError>,
        now: DateTime<Utc>,
    ) {
        if let Some(running) = self.running_attempt() {
            running.finished_at = Some(now);
            running.outcome = Some(outcome);
            running.error = error.cloned();
        }
    }

    /// A worker takes the job: the next attempt starts.
    ///
    /// # Errors
    /// Unless the job is pending.
    pub fn start(&self, now: DateTime<Utc>) -> Transition {
        self.require(JobStatus::Pending, "started")?;
        let mut job = self.next(JobStatus::Processing, now);
        job.attempt += 1;
        job.started_at = Some(now);
        job.progress = None;
        job.error = None;
        job.attempts.push(JobAttempt {
            attempt: job.attempt,
            started_at: now,
            finished_at: None,
            outcome: None,
            error: None,
            detail: AttemptDetail::default(),
        });
        if job.attempts.len() > ATTEMPTS_KEPT {
            job.attempts.remove(0);
        }
        Ok(step(job, EventType::Processing, QueueEffect::Keep))
    }

    /// The handler reports how far it has come.
    ///
    /// # Errors
    /// Unless the job is processing.
    pub fn report(&self, progress: Progress, now: DateTime<Utc>) -> Transition {
        self.require(JobStatus::Processing, "given progress")?;
        let mut job = self.next(JobStatus::Processing, now);
        job.progress = Some(progress);
        Ok(step(job, EventType::Progress, QueueEffect::Keep))
    }

    /// The attempt succeeded.
    ///
    /// # Errors
    /// Unless the job is processing.
    pub fn complete(&self, has_result: bool, now: DateTime<Utc>) -> Transition {
        self.require(JobStatus::Processing, "completed")?;
        let mut job = self.next(JobStatus::Completed, now);
        job.end_attempt(AttemptOutcome::Completed, None, now);
        job.has_result = has_result;
        job.progress = Some(Progress::new(100, job.progress.and_then(|p| p.message)));
        Ok(step(job, EventType::Completed, QueueEffect::Drop))
    }

    /// The attempt failed. With a `retry_after` and attempts left the job goes back to
    /// pending, to join its queue again after that delay (at once for a zero delay);
    /// otherwise it fails for good.
    ///
    /// # Errors
    /// Unless the job is processing.
    pub fn fail(
        &self,
        error: JobError,
        retry_after: Option<Duration>,
        now: DateTime<Utc>,
    ) -> Transition {
        self.require(JobStatus::Processing, "failed")?;
        if let Some(delay) = retry_after.filter(|_| self.attempt < self.max_attempts) {
            let mut job = self.next(JobStatus::Pending, now);
            job.end_attempt(AttemptOutcome::of(&error), Some(&error), now);
            let queue = if delay.is_zero() {
                QueueEffect::Requeue
            } else {
                QueueEffect::Delay(delay)
            };
            return Ok(step(job, EventType::Pending, queue));
        }
        let mut job = self.next(JobStatus::Failed, now);
        job.end_attempt(AttemptOutcome::of(&error), Some(&error), now);
        job.error = Some(error);
        Ok(step(job, EventType::Failed, QueueEffect::Drop))
    }

    /// The worker holding the job vanished and its lease ran out: the attempt counts as lost
    /// and the job is retried at once, or fails with `worker_lost` when no attempt is left.
    ///
    /// # Errors
    /// Unless the job is processing.
    pub fn lose_lease(&self, now: DateTime<Utc>) -> Transition {
        let error = JobError::new(
            ErrorCode::WorkerLost,
            format!(
                "the worker running attempt {} stopped responding",
                self.attempt
            ),
        );
        self.fail(error, Some(Duration::ZERO), now)
    }

    /// A worker shutting down hands the job back untouched: the attempt is not counted.
    ///
    /// # Errors
    /// Unless the job is processing.
    pub fn release(&self, now: DateTime<Utc>) -> Transition {
        self.require(JobStatus::Processing, "released")?;
        let mut job = self.next(JobStatus::Pending, now);
        if job.running_attempt().is_some() {
            job.attempts.pop();
        }
        job.attempt -= 1;
        job.started_at = None;
        job.progress = None;
        Ok(step(job, EventType::Pending, QueueEffect::Requeue))
    }

    /// The job is canceled: at once when pending, or when the worker acknowledges a cancel
    /// request on a processing job.
    ///
    /// # Errors
    /// When the job is already terminal.
    pub fn cancel(&self, now: DateTime<Utc>) -> Transition {
        if self.status.is_terminal() {
            return Err(TransitionError {
                from: self.status,
                action: "canceled",
            });
        }
        let message = if self.status == JobStatus::Pending {
            "canceled before it started"
        } else {
            "canceled while processing"
        };
        let mut job = self.next(JobStatus::Canceled, now);
        let error = JobError::new(ErrorCode::Canceled, message);
        job.end_attempt(AttemptOutcome::Canceled, Some(&error), now);
        job.error = Some(error);
        Ok(step(job, EventType::Canceled, QueueEffect::Drop))
    }

    /// A finished job runs again, by hand: it is pending again and joins the end of its
    /// queue, for one more attempt at least (its remaining attempts, if it had any left, as
    /// after a completion). Its error, progress and result are cleared; its attempts stay
    /// listed.
    ///
    /// # Errors
    /// Unless the job is terminal.
    pub fn retry(&self, now: DateTime<Utc>) -> Transition {
        if !self.status.is_terminal() {
            return Err(TransitionError {
                from: self.status,
                action: "retried",
            });
        }
        let mut job = self.next(JobStatus::Pending, now);
        job.finished_at = None;
        job.started_at = None;
        job.error = None;
        job.progress = None;
        job.has_result = false;
        job.max_attempts = job.max_attempts.max(job.attempt + 1);
        Ok(step(job, EventType::Pending, QueueEffect::Requeue))
    }
}

fn step(job: Job, kind: EventType, queue: QueueEffect) -> Step {
    let event = Event::new(kind, &job);
    Step { job, event, queue }
}

/// A job's result: bytes and their media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutput {
    pub content_type: String,
    pub body: Vec<u8>,
}

impl JobOutput {
    /// A JSON result.
    pub fn json(value: &serde_json::Value) -> Self {
        Self {
            content_type: "application/json".to_owned(),
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `job` started, and its attempt failed with `error` (retryable when `retry`).
    fn start_and_fail(
        job: &Job,
        error: &JobError,
        retry: bool,
        now: DateTime<Utc>,
    ) -> (Job, Event) {
        let retry_after = retry.then_some(Duration::ZERO);
        let Step { job, event, .. } = job
            .start(now)
            .unwrap()
            .job
            .fail(error.clone(), retry_after, now)
            .unwrap();
        (job, event)
    }

    fn pending() -> Job {
        let request = JobRequest {
            job_type: Some("demo.sleep".into()),
            max_attempts: Some(2),
            ..Default::default()
        };
        let new = NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .expect("valid");
        Job::create(JobId::generate(), &new, Utc::now()).0
    }

    #[test]
    fn a_job_walks_pending_processing_progress_completed_with_seq_rising_by_one() {
        let now = Utc::now();
        let job = pending();
        assert_eq!(
            (job.status, job.seq, job.attempt),
            (JobStatus::Pending, 1, 0)
        );
        let Step { job, event: ev, .. } = job.start(now).unwrap();
        assert_eq!(
            (job.status, job.seq, job.attempt),
            (JobStatus::Processing, 2, 1)
        );
        assert_eq!(ev.kind, EventType::Processing);
        let Step { job, event: ev, .. } = job
            .report(Progress::new(40, Some("page 4".into())), now)
            .unwrap();
        assert_eq!((ev.kind, job.seq), (EventType::Progress, 3));
        let Step {
            job,
            event: ev,
            queue,
        } = job.complete(true, now).unwrap();
        assert_eq!(queue, QueueEffect::Drop);
        assert_eq!(
            (ev.kind, job.seq, job.status),
            (EventType::Completed, 4, JobStatus::Completed)
        );
        assert!(job.finished_at.is_some());
        assert_eq!(job.progress.unwrap().percent, 100);
    }

    #[test]
    fn terminal_jobs_never_change_again() {
        let now = Utc::now();
        let done = pending()
            .start(now)
            .unwrap()
            .job
            .complete(false, now)
            .unwrap()
            .job;
        assert!(done.start(now).is_err());
        assert!(done.cancel(now).is_err());
        assert!(
            done.fail(JobError::new(ErrorCode::Timeout, "x"), None, now)
                .is_err()
        );
        assert!(done.report(Progress::new(1, None), now).is_err());
    }

    #[test]
    fn a_failed_attempt_is_retried_until_attempts_run_out() {
        let now = Utc::now();
        let err = JobError::new(ErrorCode::HandlerError, "boom");
        let (job, ev) = start_and_fail(&pending(), &err, true, now);
        assert_eq!(
            (job.status, ev.kind, job.attempt),
            (JobStatus::Pending, EventType::Pending, 1)
        );
        let (job, ev) = start_and_fail(&job, &err, true, now);
        assert_eq!(
            (job.status, ev.kind, job.attempt),
            (JobStatus::Failed, EventType::Failed, 2)
        );
        assert_eq!(job.error, Some(err));
    }

    #[test]
    fn a_retry_waits_its_delay_and_a_zero_delay_requeues_at_once() {
        let now = Utc::now();
        let err = JobError::new(ErrorCode::HandlerError, "boom");
        let started = pending().start(now).unwrap().job;
        let delay = Duration::from_secs(3);
        let later = started.fail(err.clone(), Some(delay), now).unwrap();
        assert_eq!(later.queue, QueueEffect::Delay(delay));
        let at_once = started.fail(err, Some(Duration::ZERO), now).unwrap();
        assert_eq!(at_once.queue, QueueEffect::Requeue);
    }

    #[test]
    fn a_permanent_failure_is_not_retried() {
        let now = Utc::now();
        let err = JobError::new(ErrorCode::HandlerError, "bad input");
        let (job, _) = start_and_fail(&pending(), &err, false, now);
        assert_eq!(job.status, JobStatus::Failed);
    }

    #[test]
    fn a_lost_lease_on_the_last_attempt_fails_with_worker_lost() {
        let now = Utc::now();
        let lost = pending().start(now).unwrap().job.lose_lease(now).unwrap();
        assert_eq!(lost.queue, QueueEffect::Requeue);
        let job = lost.job;
        assert_eq!(job.status, JobStatus::Pending);
        let job = job.start(now).unwrap().job.lose_lease(now).unwrap().job;
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.unwrap().code, ErrorCode::WorkerLost);
    }

    #[test]
    fn a_released_job_gets_its_attempt_back() {
        let now = Utc::now();
        let job = pending().start(now).unwrap().job.release(now).unwrap().job;
        assert_eq!((job.status, job.attempt), (JobStatus::Pending, 0));
    }

    #[test]
    fn cancel_is_immediate_when_pending() {
        let Step { job, event: ev, .. } = pending().cancel(Utc::now()).unwrap();
        assert_eq!(
            (job.status, ev.kind),
            (JobStatus::Canceled, EventType::Canceled)
        );
        assert_eq!(job.error.unwrap().code, ErrorCode::Canceled);
    }

    #[test]
    fn each_attempt_is_listed_with_how_it_ended() {
        let now = Utc::now();
        let timeout = JobError::new(ErrorCode::Timeout, "ran past 1s");
        let (job, _) = start_and_fail(&pending(), &timeout, true, now);
        let mut started = job.start(now).unwrap().job;
        started.note_attempt(AttemptDetail::answer(200, b"ok"));
        let done = started.complete(false, now).unwrap().job;
        let listed: Vec<_> = done
            .attempts
            .iter()
            .map(|a| (a.attempt, a.outcome, a.error.clone(), a.detail.http_status))
            .collect();
        assert_eq!(
            listed,
            [
                (1, Some(AttemptOutcome::Timeout), Some(timeout), None),
                (2, Some(AttemptOutcome::Completed), None, Some(200)),
            ]
        );
        assert!(done.attempts.iter().all(|a| a.finished_at == Some(now)));
    }

    #[test]
    fn a_released_attempt_is_not_listed_and_a_canceled_one_is() {
        let now = Utc::now();
        let released = pending().start(now).unwrap().job.release(now).unwrap().job;
        assert!(released.attempts.is_empty());
        let canceled = released.start(now).unwrap().job.cancel(now).unwrap().job;
        assert_eq!(canceled.attempts.len(), 1);
        assert_eq!(canceled.attempts[0].outcome, Some(AttemptOutcome::Canceled));
        assert!(pending().cancel(now).unwrap().job.attempts.is_empty());
    }

    #[test]
    fn an_attempt_keeps_the_first_kib_of_the_answer() {
        let detail = AttemptDetail::answer(502, "é".repeat(1000).as_bytes());
        let excerpt = detail.response_excerpt.unwrap();
        assert!(excerpt.len() <= EXCERPT_BYTES && excerpt.len() > EXCERPT_BYTES - 4);
    }

    #[test]
    fn only_a_finished_job_is_retried_and_it_gets_one_more_attempt_at_least() {
        let now = Utc::now();
        let err = JobError::new(ErrorCode::HandlerError, "boom");
        assert!(pending().retry(now).is_err());
        assert!(pending().start(now).unwrap().job.retry(now).is_err());
        let (once, _) = start_and_fail(&pending(), &err, true, now);
        let (failed, _) = start_and_fail(&once, &err, true, now);
        assert_eq!((failed.status, failed.attempt), (JobStatus::Failed, 2));
        let Step { job, event, queue } = failed.retry(now).unwrap();
        assert_eq!(
            (job.status, event.kind, queue, job.seq),
            (
                JobStatus::Pending,
                EventType::Pending,
                QueueEffect::Requeue,
                failed.seq + 1
            )
        );
        assert_eq!(
            (job.error.clone(), job.finished_at, job.max_attempts),
            (None, None, 3)
        );
        let (again, _) = start_and_fail(&job, &err, true, now);
        assert_eq!((again.status, again.attempt), (JobStatus::Failed, 3));
        assert_eq!(again.attempts.len(), 3);
        let completed = pending()
            .start(now)
            .unwrap()
            .job
            .complete(true, now)
            .unwrap()
            .job;
        let retried = completed.retry(now).unwrap().job;
        assert_eq!((retried.has_result, retried.max_attempts), (false, 2));
    }

    #[test]
    fn the_record_keeps_the_newest_attempts() {
        let now = Utc::now();
        let err = JobError::new(ErrorCode::HandlerError, "boom");
        let mut job = pending();
        for _ in 0..ATTEMPTS_KEPT + 3 {
            job = start_and_fail(&job, &err, false, now)
                .0
                .retry(now)
                .unwrap()
                .job;
        }
        assert_eq!(job.attempts.len(), ATTEMPTS_KEPT);
        assert_eq!(job.attempts[0].attempt, 4);
    }

    #[test]
    fn statuses_round_trip_through_their_contract_strings() {
        for status in JobStatus::ALL {
            assert_eq!(status.to_string().parse::<JobStatus>(), Ok(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert!("done".parse::<JobStatus>().is_err());
    }

    #[test]
    fn submissions_report_every_bad_field() {
        let request = JobRequest {
            job_type: None,
            timeout_s: Some(0),
            max_attempts: Some(0),
            metadata: Some(serde_json::json!([1])),
            ..Default::default()
        };
        let errors = NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["type", "timeout_s", "max_attempts", "metadata"]);
    }
}
