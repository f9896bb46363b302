//! The external workers' routes (`/v1/workers/...`): claim a job, heartbeat it, then complete,
//! fail or release it. The protocol itself lives in [`crate::workers`].

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use serde_json::Value;

use crate::error::{ApiError, json_error, resource};
use crate::extract::{JobPath, Tenant};
use crate::startup::AppState;
use crate::workers::{Claim, Completion, Failure, Heartbeat, parse_release};

/// Registers the `/v1/workers` routes. `max_complete_bytes` bounds the body of a completion,
/// which carries the job's result (larger than other bodies may be).
pub fn configure(cfg: &mut web::ServiceConfig, max_complete_bytes: usize) {
    let results = web::JsonConfig::default()
        .limit(max_complete_bytes)
        .error_handler(json_error);
    cfg.service(resource("/v1/workers/claim", "POST").route(web::post().to(claim)))
        .service(
            resource("/v1/workers/jobs/{id}/heartbeat", "POST").route(web::post().to(heartbeat)),
        )
        .service(
            resource("/v1/workers/jobs/{id}/complete", "POST")
                .app_data(results)
                .route(web::post().to(complete)),
        )
        .service(resource("/v1/workers/jobs/{id}/fail", "POST").route(web::post().to(fail)))
        .service(resource("/v1/workers/jobs/{id}/release", "POST").route(web::post().to(release)));
}

/// `200` with `answer`, never cached.
fn ok(answer: &impl Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]))
        .json(answer)
}

#[tracing::instrument(skip_all, fields(job_id))]
async fn claim(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let claim = Claim::parse(&body, &state.config.job_types, state.config.max_wait)?;
    match state.workers().claim(&tenant, &claim).await? {
        Some(claimed) => {
            tracing::Span::current().record("job_id", tracing::field::display(claimed.job.view.id));
            Ok(ok(&claimed))
        }
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn heartbeat(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let heartbeat = Heartbeat::parse(&body)?;
    let answer = state.workers().heartbeat(&tenant, id, &heartbeat).await?;
    Ok(ok(&answer))
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn complete(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let completion = Completion::parse(&body)?;
    let answer = state.workers().complete(&tenant, id, &completion).await?;
    Ok(ok(&answer))
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn fail(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let failure = Failure::parse(&body)?;
    let answer = state.workers().fail(&tenant, id, &failure).await?;
    Ok(ok(&answer))
}

#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn release(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let token = parse_release(&body)?;
    let answer = state.workers().release(&tenant, id, &token).await?;
    Ok(ok(&answer))
}
