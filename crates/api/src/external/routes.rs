//! The external workers' routes (`/v1/workers/...`): claim a job, heartbeat it, then complete,
//! fail or release it. The protocol itself lives in [`crate::external`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use herald_core::JobId;
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::external::{
    Claim, ClaimRequest, ClaimedJob, CompleteRequest, Completion, FailRequest, Failure, Finished,
    Heartbeat, HeartbeatAnswer, HeartbeatRequest, ReleaseRequest, parse_release,
};
use crate::http::body::Body;
use crate::http::caller;
use crate::http::error::{ApiError, Problem, json_error};
use crate::http::extract::{JobPath, Tenant};
use crate::routes::resource;
use crate::state::AppState;

/// Registers the `/v1/workers` routes. `max_complete_bytes` bounds the body of a completion,
/// which carries the job's result (larger than other bodies may be).
pub fn configure(cfg: &mut ServiceConfig, max_complete_bytes: usize) {
    let results = web::JsonConfig::default()
        .limit(max_complete_bytes)
        .error_handler(json_error);
    cfg.service(resource("/v1/workers/claim", "POST").to(__path_claim, claim))
        .service(
            resource("/v1/workers/jobs/{id}/heartbeat", "POST").to(__path_heartbeat, heartbeat),
        )
        .service(
            resource("/v1/workers/jobs/{id}/complete", "POST")
                .app_data(results)
                .to(__path_complete, complete),
        )
        .service(resource("/v1/workers/jobs/{id}/fail", "POST").to(__path_fail, fail))
        .service(resource("/v1/workers/jobs/{id}/release", "POST").to(__path_release, release));
}

/// `200` with `answer`, never cached.
fn ok(answer: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(answer)
}

/// Claim the tenant's oldest pending job of some types run by external workers, waiting
/// up to `wait_s` for one (long poll).
#[utoipa::path(
    post,
    path = "/v1/workers/claim",
    tag = "workers",
    request_body(content = ClaimRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "A job, now `processing`, its payload and its lease", body = ClaimedJob,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 204, description = "No job came within `wait_s` (or the server is stopping): claim again"),
        (status = 422, description = "A bad field, named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The server holds as many claims as it allows (`too-many-claims`)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds before claiming again"))),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id))]
async fn claim(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    Body(request): Body<ClaimRequest>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let claim = Claim::parse(request, &state.config.job_types, state.config.max_wait)?;
    let key = caller::caller(&req)?.acting_key();
    match state.workers().claim(&tenant, &claim, key).await? {
        Some(claimed) => {
            tracing::Span::current().record("job_id", tracing::field::display(claimed.job.view.id));
            Ok(ok(&claimed))
        }
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

/// Renew a claimed job's lease, optionally reporting progress.
#[utoipa::path(
    post,
    path = "/v1/workers/jobs/{id}/heartbeat",
    tag = "workers",
    params(("id" = JobId, Path, description = "The claimed job's id")),
    request_body(content = HeartbeatRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The renewed lease; `cancel_requested` says a client asked to cancel the job", body = HeartbeatAnswer,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such job for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The token is not the job's current lease: drop the job (`lease-lost`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn heartbeat(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    Body(request): Body<HeartbeatRequest>,
) -> Result<HttpResponse, ApiError> {
    let heartbeat = Heartbeat::parse(request)?;
    let answer = state.workers().heartbeat(&tenant, id, &heartbeat).await?;
    Ok(ok(&answer))
}

/// Complete a claimed job, with its result (JSON, or bytes in base64) or none.
#[utoipa::path(
    post,
    path = "/v1/workers/jobs/{id}/complete",
    tag = "workers",
    params(("id" = JobId, Path, description = "The claimed job's id")),
    request_body(content = CompleteRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The job, `completed` (or `canceled` when a client asked)", body = Finished,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such job for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The token is not the job's current lease: drop the job (`lease-lost`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the limit (`payload-too-large`), or the result is larger than the store accepts (`result-too-large`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn complete(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    Body(request): Body<CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let completion = Completion::parse(request)?;
    let answer = state.workers().complete(&tenant, id, &completion).await?;
    Ok(ok(&answer))
}

/// Fail a claimed job's attempt: retried while attempts remain unless `retryable` is false.
#[utoipa::path(
    post,
    path = "/v1/workers/jobs/{id}/fail",
    tag = "workers",
    params(("id" = JobId, Path, description = "The claimed job's id")),
    request_body(content = FailRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The job: `pending` again for a retry, or `failed`", body = Finished,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such job for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The token is not the job's current lease: drop the job (`lease-lost`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn fail(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    Body(request): Body<FailRequest>,
) -> Result<HttpResponse, ApiError> {
    let failure = Failure::parse(request)?;
    let answer = state.workers().fail(&tenant, id, &failure).await?;
    Ok(ok(&answer))
}

/// Hand a claimed job back unfinished: `pending` again, the attempt not counted.
#[utoipa::path(
    post,
    path = "/v1/workers/jobs/{id}/release",
    tag = "workers",
    params(("id" = JobId, Path, description = "The claimed job's id")),
    request_body(content = ReleaseRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The job, `pending` again (or `canceled` when a client asked)", body = Finished,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such job for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The token is not the job's current lease: drop the job (`lease-lost`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn release(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    Body(request): Body<ReleaseRequest>,
) -> Result<HttpResponse, ApiError> {
    let token = parse_release(request)?;
    let answer = state.workers().release(&tenant, id, &token).await?;
    Ok(ok(&answer))
}
