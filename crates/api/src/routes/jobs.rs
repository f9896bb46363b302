//! The job resource: submit (`POST /v1/jobs`), poll and long poll (`GET /v1/jobs/{id}`), list,
//! cancel, and fetch the result.

use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use herald_core::store::{CancelOutcome, Created, ListQuery};
use herald_core::{FieldError, Job, JobId, JobStatus, JobType};
use serde::{Deserialize, Serialize};

use crate::conditional::{IfNoneMatch, etag};
use crate::error::{ApiError, resource};
use crate::extract::{IdempotencyKeyHeader, JobPath, Tenant, query_field};
use crate::poll::Polled;
use crate::resource::JobResource;
use crate::startup::AppState;
use crate::submission::{Submission, parse_submission};

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
    let Submission {
        new,
        generated_secret,
    } = parse_submission(tenant, &body, key, &config.limits, &config.job_types)?
        .checked(config.allow_private_targets)
        .await?;
    let Created { job, replayed } = state.store.create(new).await?;
    tracing::Span::current().record("job_id", tracing::field::display(job.id));
    if !replayed {
        state.metrics.job_accepted(job.job_type.as_str());
    }
    // A replayed submission answers the job created first, whose secret was shown then (the
    // one generated for this request was never stored).
    let secret = generated_secret.filter(|_| !replayed);
    let resource = JobResource::revealing(&job, secret.as_ref());
    let mut response = job_response(StatusCode::ACCEPTED, &job);
    response.insert_header((header::LOCATION, resource.view.links.self_.as_str()));
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    Ok(response.json(resource))
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
        Polled::Changed(job) => job_response(StatusCode::OK, &job).json(JobResource::new(&job)),
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
        let status = query_field(&mut errors, "status", &self.status, |raw| {
            raw.parse::<JobStatus>().map_err(|e| e.0)
        });
        let job_type = query_field(&mut errors, "type", &self.job_type, |raw| {
            JobType::parse(raw).map_err(|e| e.0)
        });
        let before = query_field(&mut errors, "cursor", &self.cursor, |raw| {
            JobId::parse(raw).map_err(|e| e.0)
        });
        let limit = query_field(&mut errors, "limit", &self.limit, |raw| {
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

/// A page of jobs.
#[derive(Debug, Serialize)]
struct JobList<'a> {
    data: Vec<JobResource<'a>>,
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
            data: page.jobs.iter().map(JobResource::new).collect(),
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
            Ok(job_response(StatusCode::ACCEPTED, &job).json(JobResource::new(&job)))
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
