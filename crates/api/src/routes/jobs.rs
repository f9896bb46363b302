//! The job resource: submit (`POST /v1/jobs`), poll and long poll (`GET /v1/jobs/{id}`), list,
//! cancel, retry, and fetch the result.

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use herald_core::store::{CancelOutcome, Created, ListQuery};
use herald_core::{FieldError, Job, JobId, JobRequest, JobStatus, JobType};
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::body::Body;
use crate::http::caller;
use crate::http::conditional::{IfNoneMatch, etag};
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{IdempotencyKeyHeader, JobPath, LinkSigner, Tenant};
use crate::http::limits;
use crate::http::query::query_field;
use crate::resource::JobResource;
use crate::routes::resource;
use crate::state::AppState;
use crate::submission::{Submission, parse_submission};
use crate::transport::poll::Polled;

/// Set on the answer to a submission that an earlier one with the same `Idempotency-Key`
/// created.
pub const IDEMPOTENT_REPLAYED: &str = "Idempotent-Replayed";

/// Registers the `/v1/jobs` routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/v1/jobs", "GET, POST")
            .to(__path_create_job, create_job)
            .to(__path_list_jobs, list_jobs),
    )
    .service(resource("/v1/jobs/{id}", "GET").to(__path_get_job, get_job))
    .service(resource("/v1/jobs/{id}/cancel", "POST").to(__path_cancel_job, cancel_job))
    .service(resource("/v1/jobs/{id}/retry", "POST").to(__path_retry_job, retry_job))
    .service(resource("/v1/jobs/{id}/result", "GET").to(__path_job_result, job_result));
}

/// Submit a job.
///
/// A `202` means the job is durably stored. With an `Idempotency-Key`, the same key (per
/// tenant, for 24 hours) with the same body answers the job it created first.
#[utoipa::path(
    post,
    path = "/v1/jobs",
    tag = "jobs",
    params(
        ("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters: a retried submission answers the job created first"),
    ),
    request_body(content = JobRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The job, stored. When Herald generated its webhook's secret, `webhook.secret` shows it, this once.",
            body = JobResource,
            headers(
                ("Location" = String, description = "`/v1/jobs/{id}`"),
                ("ETag" = String, description = "`\"<seq>\"`"),
                ("Retry-After" = u64, description = "Seconds before the first poll is worth it"),
                ("Idempotent-Replayed" = String, description = "`true` when an earlier request with the same key created the job"),
            )),
        (status = 400, description = "Malformed JSON, or a bad `Idempotency-Key` (`malformed-json`, `invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, each named in `errors` (`validation-error`), or an `Idempotency-Key` used with another request (`idempotency-key-reused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The job type's queue is full (`queue-full`)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds before resubmitting"))),
    ),
)]
// At DEBUG, like the request span (`crate::http::telemetry`): at the default level the
// logging layer's work for a span on every submission is a share of the accept rate.
#[tracing::instrument(level = "debug", skip_all, fields(job_id))]
async fn create_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    signer: LinkSigner,
    IdempotencyKeyHeader(key): IdempotencyKeyHeader,
    Body(request): Body<JobRequest>,
) -> Result<HttpResponse, ApiError> {
    let config = &state.config;
    let Submission {
        new,
        generated_secret,
    } = parse_submission(tenant, request, key, &config.limits, &config.job_types)?
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
    // The plain link: `Location` is for the API's clients, which hold a key.
    response.insert_header((header::LOCATION, resource.view.links.self_.as_str()));
    let resource = signer.sign(resource);
    if replayed {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    json_body(response, &resource)
}

/// The query of `GET /v1/jobs/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct PollParams {
    /// Long poll: wait up to this many seconds (0 to 60) for the job's `seq` to move past the
    /// tag named in `If-None-Match`, then answer `304`. Without `If-None-Match` it answers at
    /// once.
    #[param(value_type = Option<u64>, minimum = 0, maximum = 60)]
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

/// Poll a job, optionally waiting for it to change (long poll).
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}",
    tag = "jobs",
    params(
        ("id" = JobId, Path, description = "The job's id"),
        PollParams,
        ("token" = Option<String>, Query,
            description = "A browser read token of this job (as in the job's `links`): stands in for the API key, read-only"),
        ("If-None-Match" = Option<String>, Header,
            description = "The job's ETag as held (`\"4\"`, `W/\"4\"`, a list, or `*`): `304` while it is current"),
    ),
    responses(
        (status = 200, description = "The job", body = JobResource,
            headers(
                ("ETag" = String, description = "`\"<seq>\"`"),
                ("Cache-Control" = String, description = "`no-cache`"),
                ("Retry-After" = u64, description = "Only while the job can still change: seconds before polling again"),
            )),
        (status = 304, description = "The job has not changed from the tag in `If-None-Match` (after `wait`, for a long poll)",
            headers(
                ("ETag" = String, description = "`\"<seq>\"`"),
                ("Retry-After" = u64, description = "Only while the job can still change"),
            )),
        (status = 400, description = "`wait` is not a number of seconds from 0 to 60 (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job (also a malformed id) (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn get_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    signer: LinkSigner,
    params: web::Query<PollParams>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let wait = params.wait(state.config.max_wait)?;
    let known = IfNoneMatch::from_request(&req);
    // Only a poll that may wait holds a slot.
    let _slot = match (&known, wait) {
        (Some(_), Some(wait)) if !wait.is_zero() => Some(limits::acquire(&state.waiters, &req)?),
        _ => None,
    };
    let key = caller::caller(&req)?.acting_key();
    let polled = state
        .poller()
        .poll(&tenant, id, known.as_ref(), wait, key)
        .await?;
    Ok(match polled {
        Polled::Changed(job) => json_body(
            job_response(StatusCode::OK, &job),
            &signer.sign(JobResource::new(&job)),
        )?,
        Polled::NotModified(job) => job_response(StatusCode::NOT_MODIFIED, &job).finish(),
    })
}

/// The query of `GET /v1/jobs`, kept as text so each bad value gets its own message.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only jobs in this status.
    #[param(value_type = Option<JobStatus>)]
    status: Option<String>,
    /// Only jobs of this type.
    #[serde(rename = "type")]
    #[param(value_type = Option<String>)]
    job_type: Option<String>,
    /// At most this many jobs (1 to 100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(value_type = Option<JobId>)]
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

/// A page of jobs, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JobList<'a> {
    data: Vec<JobResource<'a>>,
    /// Pass it back as `cursor` for the next page; `null` on the last page.
    #[schema(required = true)]
    next_cursor: Option<JobId>,
}

/// List jobs, newest first.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(ListParams),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "A bad parameter, each named in `errors` (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_jobs(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    signer: LinkSigner,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.parse()?;
    let page = state.store.list(&tenant, &query).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
        .json(JobList {
            data: page
                .jobs
                .iter()
                .map(|job| signer.sign(JobResource::new(job)))
                .collect(),
            next_cursor: page.next_cursor,
        }))
}

/// Cancel a job: a pending one at once, a processing one is asked to stop.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/cancel",
    tag = "jobs",
    params(("id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 202, description = "The job: `canceled`, or still `processing` while its worker is asked to stop",
            body = JobResource,
            headers(
                ("ETag" = String, description = "`\"<seq>\"`"),
                ("Retry-After" = u64, description = "Only while the job can still change"),
            )),
        (status = 404, description = "No such job (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is already finished (`job-state-conflict`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn cancel_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    signer: LinkSigner,
) -> Result<HttpResponse, ApiError> {
    match state.store.cancel(&tenant, &id).await? {
        None => Err(ApiError::JobNotFound(id.to_string())),
        Some(CancelOutcome::Canceled(job) | CancelOutcome::Requested(job)) => {
            Ok(job_response(StatusCode::ACCEPTED, &job).json(signer.sign(JobResource::new(&job))))
        }
        Some(CancelOutcome::AlreadyFinished(job)) => {
            Err(ApiError::already_finished(id, job.status))
        }
    }
}

/// Run a finished job again as a new attempt.
///
/// A `completed`, `failed` or `canceled` job is pending again, back in its queue, with `seq`
/// moving on; it gets one attempt at least (the rest of its `max_attempts`, if it had
/// attempts left). Its earlier attempts stay listed in `attempts`.
#[utoipa::path(
    post,
    path = "/v1/jobs/{id}/retry",
    tag = "jobs",
    params(("id" = JobId, Path, description = "The job's id")),
    responses(
        (status = 202, description = "The job, `pending` again",
            body = JobResource,
            headers(
                ("ETag" = String, description = "`\"<seq>\"`"),
                ("Retry-After" = u64, description = "A polling hint"),
            )),
        (status = 404, description = "No such job (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is still pending or processing (`job-state-conflict`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn retry_job(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    signer: LinkSigner,
) -> Result<HttpResponse, ApiError> {
    let job = state
        .store
        .retry(&tenant, &id)
        .await?
        .ok_or_else(|| ApiError::JobNotFound(id.to_string()))?;
    Ok(job_response(StatusCode::ACCEPTED, &job).json(signer.sign(JobResource::new(&job))))
}

/// Fetch a completed job's result.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/result",
    tag = "jobs",
    params(
        ("id" = JobId, Path, description = "The job's id"),
        ("token" = Option<String>, Query,
            description = "A browser read token of this job (as in the job's `links`): stands in for the API key, read-only"),
    ),
    responses(
        (status = 200, description = "The result bytes, with the content type they were stored with (`application/json`, `text/csv`, …)",
            content(("*/*"))),
        (status = 404, description = "No such job (`not-found`), or it has no result: not completed yet, or completed without one (`result-not-available`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
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
        // The value `CacheControl(vec![NoCache])` writes, without building it each time.
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    if let Some(after) = poll_again_after(job.status) {
        response.insert_header((header::RETRY_AFTER, after.as_secs()));
    }
    response
}

/// `response` with `resource` as its JSON body, written into one buffer about the size of a
/// job (about 500 bytes plain): `HttpResponseBuilder::json` starts at 128 bytes and grows twice.
fn json_body(
    mut response: HttpResponseBuilder,
    resource: &JobResource<'_>,
) -> Result<HttpResponse, ApiError> {
    let mut body = Vec::with_capacity(640);
    serde_json::to_writer(&mut body, resource).map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(response
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body))
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
