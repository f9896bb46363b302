//! The job resource: submit (`POST /v1/jobs`), poll and long poll (`GET /v1/jobs/{id}`), list,
//! cancel, and fetch the result.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use herald_core::store::{CancelOutcome, Created, ListQuery};
use herald_core::{FieldError, Job, JobId, JobStatus, JobType, JobView};
use serde::{Deserialize, Serialize};

use crate::conditional::{IfNoneMatch, etag};
use crate::error::{ApiError, resource};
use crate::extract::{IdempotencyKeyHeader, JobPath, Tenant};
use crate::poll::Polled;
use crate::startup::AppState;
use crate::submission::parse_submission;

/// Set on the answer to a submission that an earlier one with the same `Idempotency-Key`
/// created.
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// Registers the `/v1/jobs` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/v1/jobs", "GET, POST")
            .route(web::post().to(create_job))
            .route(web::get().to(list_jobs)),
    )
    .service(resource("/v1/jobs/{id}", "GET").route(web::get().to(get_job)))
    .service(resource("/v1/jobs/{id}/cancel", "POST").route(web::post().to(cancel_job)))
    .service(resource("/v1/jobs/{id}/result", "GET").route(web::get().to(job_result)));
}

#[tracing::instrument(skip_all, fields(job_id))]
async fn create_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let config = &state.config;
    let new = parse_submission(tenant, &body, key, &config.limits, &config.known_types)?;
    let Created { job, replayed } = state.store.create(new).await?;
    tracing::Span::current().record("job_id", tracing::field::display(job.id));
    if !replayed {
        state.metrics.job_accepted(job.job_type.as_str());
    }
    let view = JobView::from(&job);
    let mut response = job_response(StatusCode::ACCEPTED, &job);
    response.insert_header((header::LOCATION, view.links.self_.as_str()));
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(response.json(view))
}

/// The query of `GET /v1/jobs/{id}`.
#[derive(Debug, Deserialize)]
struct PollParams {
    wait: Option<String>,
}

impl PollParams {
    /// The long poll's wait, from 0 to `max` seconds.
    fn wait(&self, max: Duration) -> Result<Option<Duration>, ApiError> {
        let Some(raw) = self.wait.as_deref().filter(|raw| !raw.is_empty()) else {
            return Ok(None);
        };
        match raw.parse::<u64>() {
            Ok(seconds) if seconds <= max.as_secs() => Ok(Some(Duration::from_secs(seconds))),
            _ => Err(ApiError::InvalidParameters(vec![FieldError::new(
                "wait",
                format!(
                    "must be a whole number of seconds from 0 to {}",
                    max.as_secs()
                ),
            )])),
        }
    }
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn get_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    params: web::Query<PollParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let wait = params.wait(state.config.max_wait)?;
    let known = IfNoneMatch::from_request(&req);
    let polled = state
        .poller()
        .poll(&tenant, id, known.as_ref(), wait)
        .await?;
    Ok(match polled {
        Polled::Changed(job) => job_response(StatusCode::OK, &job).json(JobView::from(&job)),
        Polled::NotModified(job) => job_response(StatusCode::NOT_MODIFIED, &job).finish(),
    })
}

/// The query of `GET /v1/jobs`, kept as text so each bad value gets its own message.
#[derive(Debug, Deserialize)]
struct ListParams {
    status: Option<String>,
    #[serde(rename = "type")]
    job_type: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl ListParams {
    fn parse(&self) -> Result<ListQuery, ApiError> {
        let mut errors = Vec::new();
        let status = parse_field(&mut errors, "status", &self.status, |raw| {
            raw.parse::<JobStatus>().map_err(|e| e.0)
        });
        let job_type = parse_field(&mut errors, "type", &self.job_type, |raw| {
            JobType::parse(raw).map_err(|e| e.0)
        });
        let before = parse_field(&mut errors, "cursor", &self.cursor, |raw| {
            JobId::parse(raw).map_err(|e| e.0)
        });
        let limit = parse_field(&mut errors, "limit", &self.limit, |raw| {
            raw.parse()
                .ok()
                .filter(|n| (1..=ListQuery::MAX_LIMIT).contains(n))
                .ok_or_else(|| format!("must be a number from 1 to {}", ListQuery::MAX_LIMIT))
        });
        if !errors.is_empty() {
            return Err(ApiError::InvalidParameters(errors));
        }
        Ok(ListQuery {
            status,
            job_type,
            limit: limit.unwrap_or(ListQuery::DEFAULT_LIMIT),
            before,
        })
    }
}

/// Parses an optional query parameter (empty counts as absent), noting a bad value in `errors`.
fn parse_field<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let raw = raw.as_deref().filter(|raw| !raw.is_empty())?;
    parse(raw)
        .map_err(|message| errors.push(FieldError::new(field, message)))
        .ok()
}

/// A page of jobs.
#[derive(Debug, Serialize)]
struct JobList {
    data: Vec<JobView>,
    next_cursor: Option<JobId>,
}

#[tracing::instrument(skip_all)]
async fn list_jobs(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.parse()?;
    let page = state.store.list(&tenant, &query).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
        .json(JobList {
            data: page.jobs.iter().map(JobView::from).collect(),
            next_cursor: page.next_cursor,
        }))
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn cancel_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
) -> Result<HttpResponse, ApiError> {
    match state.store.cancel(&tenant, &id).await? {
        None => Err(ApiError::JobNotFound(id.to_string())),
        Some(CancelOutcome::Canceled(job) | CancelOutcome::Requested(job)) => {
            Ok(job_response(StatusCode::ACCEPTED, &job).json(JobView::from(&job)))
        }
        Some(CancelOutcome::AlreadyFinished(job)) => {
            Err(ApiError::already_finished(id, job.status))
        }
    }
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn job_result(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
) -> Result<HttpResponse, ApiError> {
    if let Some(output) = state.store.result(&tenant, &id).await? {
        return Ok(HttpResponse::Ok()
            .content_type(output.content_type)
            .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
            .body(output.body));
    }
    // No result: say why, which takes a look at the job.
    match state.store.get(&tenant, &id).await? {
        None => Err(ApiError::JobNotFound(id.to_string())),
        Some(job) => Err(ApiError::result_not_available(id, job.status)),
    }
}

/// An answer about `job`: its entity tag, no caching without revalidation, and for a job that
/// may still change, a hint of when to poll again.
fn job_response(status: StatusCode, job: &Job) -> HttpResponseBuilder {
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::ETAG, etag(job.seq)))
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]));
    if let Some(after) = poll_again_after(job.status) {
        response.insert_header((header::RETRY_AFTER, after.as_secs()));
    }
    response
}

/// When a poller should look again: soon while the job runs, a little later while it waits,
/// never once it is final.
fn poll_again_after(status: JobStatus) -> Option<Duration> {
    match status {
        JobStatus::Processing => Some(Duration::from_secs(1)),
        JobStatus::Pending => Some(Duration::from_secs(2)),
        JobStatus::Completed | JobStatus::Failed | JobStatus::Canceled => None,
    }
}
