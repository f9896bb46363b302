//! The job resource of the wire contract, shared by polling, SSE and webhooks.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::ids::JobId;
use crate::job::{AttemptOutcome, Job, JobAttempt, JobError, JobStatus, Progress};

/// The job as clients see it. Built from the stored [`Job`]; never carries the payload or any
/// secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobView {
    pub id: JobId,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "demo.report"))]
    pub job_type: String,
    pub status: JobStatus,
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub progress: Option<Progress>,
    pub attempt: u32,
    pub max_attempts: u32,
    pub timeout_s: u64,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub error: Option<JobError>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub result_url: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub finished_at: Option<DateTime<Utc>>,
    /// Each attempt so far (the newest 25), oldest first.
    pub attempts: Vec<AttemptView>,
    pub links: JobLinks,
}

/// One attempt of a job: when it ran, how it ended, and for the `http` handler the
/// endpoint's status and the first KiB of its answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttemptView {
    pub attempt: u32,
    #[serde(serialize_with = "rfc3339")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it ran, once it ended.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub duration_ms: Option<u64>,
    /// Empty while it runs.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub outcome: Option<AttemptOutcome>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub error: Option<JobError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_excerpt: Option<String>,
}

impl From<&JobAttempt> for AttemptView {
    fn from(attempt: &JobAttempt) -> Self {
        Self {
            attempt: attempt.attempt,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
            duration_ms: attempt.finished_at.map(|end| {
                u64::try_from((end - attempt.started_at).num_milliseconds()).unwrap_or(0)
            }),
            outcome: attempt.outcome,
            error: attempt.error.clone(),
            http_status: attempt.detail.http_status,
            response_excerpt: attempt.detail.response_excerpt.clone(),
        }
    }
}

/// The path of the job resources, before the id.
const BASE: &str = "/v1/jobs/";

/// The length of a hyphenated UUID.
const ID_LEN: usize = 36;

/// Where the job's other representations live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub events: String,
    pub result: String,
}

impl JobLinks {
    pub fn for_job(id: &JobId) -> Self {
        // Built by appending rather than formatting three times: every answer about a job
        // carries its links.
        let mut self_ = String::with_capacity(BASE.len() + ID_LEN);
        self_.push_str(BASE);
        // Writing to a `String` cannot fail.
        let _ = write!(self_, "{id}");
        let with = |tail: &str| {
            let mut link = String::with_capacity(self_.len() + tail.len());
            link.push_str(&self_);
            link.push_str(tail);
            link
        };
        Self {
            events: with("/events"),
            result: with("/result"),
            self_,
        }
    }
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        let links = JobLinks::for_job(&job.id);
        let result_url =
            (job.status == JobStatus::Completed && job.has_result).then(|| links.result.clone());
        Self {
            id: job.id,
            job_type: job.job_type.to_string(),
            status: job.status,
            seq: job.seq,
            progress: job.progress.clone(),
            attempt: job.attempt,
            max_attempts: job.max_attempts,
            timeout_s: job.timeout_s,
            metadata: job.metadata.clone(),
            error: job.error.clone(),
            result_url,
            created_at: job.created_at,
            started_at: job.started_at,
            updated_at: job.updated_at,
            finished_at: job.finished_at,
            attempts: job.attempts.iter().map(AttemptView::from).collect(),
            links,
        }
    }
}

/// RFC 3339 in UTC with millisecond precision and a `Z`, the same everywhere.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(t))
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}
