//! What a job type's code implements ([`Handler`]) and what it is handed to work with
//! ([`JobContext`]): the job, its payload, progress reporting and cancellation.

use std::fmt;

use async_trait::async_trait;
use herald_core::{AttemptDetail, Job, JobOutput, Progress};
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The code behind one job type. The worker catches a handler's panic, so a handler that
/// panics costs that attempt (retried like a retryable error), not the worker.
///
/// A handler runs in its job's task, beside the lease's heartbeat: work that holds a thread
/// (a long computation, blocking I/O) belongs in `tokio::task::spawn_blocking`, or the lease
/// goes unrenewed while it runs.
///
/// A job type of your own, registered and run once on the embedded store (to serve it over
/// HTTP, hand the registry to `herald::Application::build_with`; see the `herald` crate's
/// `examples/custom_handler.rs`):
///
/// ```
/// use std::sync::Arc;
///
/// use async_trait::async_trait;
/// use herald_core::store::memory::MemoryStore;
/// use herald_core::{JobLimits, JobOutput, JobRequest, JobStatus, JobType, NewJob, Store, TenantId};
/// use herald_worker::{Handler, HandlerError, JobContext, Outcome, Registry, Worker};
///
/// /// `greet` `{"name": "..."}`: completes with a greeting.
/// struct Greet;
///
/// #[derive(serde::Deserialize)]
/// struct Payload {
///     name: String,
/// }
///
/// #[async_trait]
/// impl Handler for Greet {
///     async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
///         let payload: Payload = ctx.payload_as()?;
///         ctx.report(50, "thinking of something nice").await;
///         let greeting = serde_json::json!({ "greeting": format!("Hello, {}!", payload.name) });
///         Ok(Some(JobOutput::json(&greeting)))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = Arc::new(MemoryStore::new(Default::default()));
/// let mut registry = Registry::new();
/// registry.register(JobType::parse("greet").unwrap(), Arc::new(Greet));
/// let mut metrics = prometheus_client::registry::Registry::default();
/// let worker = Worker::new(
///     store.clone(),
///     Arc::new(registry),
///     Default::default(),
///     herald_worker::WorkerMetrics::register(&mut metrics),
/// );
///
/// let request = JobRequest {
///     job_type: Some("greet".to_owned()),
///     payload: Some(serde_json::json!({ "name": "Ada" })),
///     ..JobRequest::default()
/// };
/// let tenant = TenantId::default_tenant();
/// let new = NewJob::parse(tenant.clone(), request, None, &JobLimits::default()).unwrap();
/// let job = store.create(new).await.unwrap().job;
///
/// assert_eq!(worker.run_once().await, Outcome::Ran);
/// let done = store.get(&tenant, &job.id).await.unwrap().unwrap();
/// assert_eq!(done.status, JobStatus::Completed);
/// let result = store.result(&tenant, &job.id).await.unwrap().unwrap();
/// assert_eq!(result.body, br#"{"greeting":"Hello, Ada!"}"#);
/// # }
/// ```
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of a job. `Ok(Some(output))` completes the job with a result,
    /// `Ok(None)` without one.
    ///
    /// A handler should watch [`JobContext::cancelled`] at its await points: once a client
    /// cancels the job, the handler has the worker's `cancel_grace` to return before it is
    /// dropped. Whatever it returns then, the job ends `canceled`.
    ///
    /// # Errors
    /// A [`HandlerError`]: a retryable one is retried after a backoff while attempts remain,
    /// a permanent one fails the job at once. Both are recorded with code `handler_error`.
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError>;
}

/// Why a handler gave up on an attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HandlerError {
    /// What went wrong, for the job's `error.message` (cut to the contract's bound).
    pub message: String,
    /// Whether another attempt may succeed (a flaky dependency) or not (bad input).
    pub retryable: bool,
}

impl HandlerError {
    /// An error another attempt may not hit: the job is retried while attempts remain.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// An error every attempt would hit: the job fails at once.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Everything one attempt of a job gets: the job as it was claimed, its payload, a way to
/// report progress and a way to learn that the job was canceled.
pub struct JobContext {
    job: Job,
    payload: serde_json::Value,
    cancel: CancellationToken,
    progress: watch::Sender<Option<Progress>>,
    detail: watch::Sender<AttemptDetail>,
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        payload: serde_json::Value,
        cancel: CancellationToken,
        progress: watch::Sender<Option<Progress>>,
        detail: watch::Sender<AttemptDetail>,
    ) -> Self {
        Self {
            job,
            payload,
            cancel,
            progress,
            detail,
        }
    }

    /// The job as it was when this attempt started (`attempt` counts from 1).
    pub fn job(&self) -> &Job {
        &self.job
    }

    /// The payload the client submitted (`{}` when it sent none).
    pub fn payload(&self) -> &serde_json::Value {
        &self.payload
    }

    /// The payload as a typed value.
    ///
    /// # Errors
    /// A permanent [`HandlerError`] naming the job type and what serde found wrong: a payload
    /// that does not parse now never will.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, HandlerError> {
        T::deserialize(&self.payload).map_err(|e| self.invalid_payload(e))
    }

    /// The permanent error for a payload that parsed but makes no sense (out of bounds, say),
    /// worded like the ones [`JobContext::payload_as`] gives.
    pub fn invalid_payload(&self, detail: impl fmt::Display) -> HandlerError {
        HandlerError::permanent(format!(
            "invalid payload for `{}`: {detail}",
            self.job.job_type
        ))
    }

    /// Reports how far the job has come; an empty `message` reports the percentage alone.
    ///
    /// Returns at once: the worker keeps the latest report and writes it through its lease at
    /// most a few times per second, so a handler may report as often as it likes. The last
    /// report before the handler returns is always written before the job's final state.
    pub async fn report(&self, percent: u8, message: impl Into<String>) {
        let message = Some(message.into()).filter(|m| !m.is_empty());
        // `send_replace` stores the value even when nobody listens: the latest report wins.
        self.progress
            .send_replace(Some(Progress::new(percent, message)));
    }

    /// Records what this attempt learnt beyond its outcome (an endpoint's status and the start
    /// of its answer), listed with the attempt in the job's `attempts`. The latest call wins.
    pub fn note(&self, detail: AttemptDetail) {
        self.detail.send_replace(detail);
    }

    /// Completes once a client has canceled the job (or the worker gave up on the attempt).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Whether the job has been canceled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job_id", &self.job.id)
            .field("job_type", &self.job.job_type)
            .field("attempt", &self.job.attempt)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handler_errors_say_whether_they_may_be_retried() {
        assert!(HandlerError::retryable("flaky").retryable);
        assert!(!HandlerError::permanent("bad input").retryable);
        assert_eq!(
            HandlerError::permanent("bad input").to_string(),
            "bad input"
        );
    }
}
