//! Inbound webhook sources (`/v1/sources`: create, list, read, change, delete, rotate the
//! secret, the request log, replay a window) and the ingest endpoint providers post to
//! (`POST /in/{token}`, authenticated by its token, not an API key). See [`crate::inbound`].

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use herald_core::SourceId;
use herald_core::inbound::SourceRequest;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::body::Body;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{OptionalJson, SourcePath, Tenant};
use crate::inbound::view::{RequestList, RevealedSource, SourceList, SourceView};
use crate::inbound::{Ingest, ReplayRequest, Replayed, RequestParams, RotateRequest};
use crate::routes::jobs::IDEMPOTENT_REPLAYED;
use crate::routes::{no_cache, resource};
use crate::state::AppState;

/// The ingest endpoint's route: the token in its path is a credential, kept out of logs.
pub const INGEST_ROUTE: &str = "/in/{token}";

/// Registers the `/v1/sources` and `/in/{token}` routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/v1/sources", "GET, POST")
            .to(__path_create_source, create_source)
            .to(__path_list_sources, list_sources),
    )
    .service(
        resource("/v1/sources/{id}", "GET, PATCH, DELETE")
            .to(__path_get_source, get_source)
            .to(__path_update_source, update_source)
            .to(__path_delete_source, delete_source),
    )
    .service(
        resource("/v1/sources/{id}/rotate-secret", "POST").to(__path_rotate_secret, rotate_secret),
    )
    .service(resource("/v1/sources/{id}/requests", "GET").to(__path_list_requests, list_requests))
    .service(resource("/v1/sources/{id}/replay", "POST").to(__path_replay, replay))
    .service(resource(INGEST_ROUTE, "POST").to(__path_ingest, ingest));
}

/// Create a source: a front door for one provider.
#[utoipa::path(
    post,
    path = "/v1/sources",
    tag = "sources",
    request_body(content = SourceRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The source, its ingest URL and its secret (shown this once)", body = RevealedSource,
            headers(("Location" = String, description = "`/v1/sources/{id}`"))),
        (status = 409, description = "The tenant already holds 1000 sources (`limit-reached`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, each named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id))]
async fn create_source(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    Body(request): Body<SourceRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = state.inbound().create(tenant, request).await?;
    tracing::Span::current().record("source_id", tracing::field::display(source.id));
    let answer = RevealedSource::from(&source);
    Ok(no_cache(HttpResponse::Created())
        .insert_header((header::LOCATION, answer.source.links.self_.as_str()))
        .json(answer))
}

/// List the tenant's sources, oldest first (always one page).
#[utoipa::path(
    get,
    path = "/v1/sources",
    tag = "sources",
    responses((status = 200, description = "Every source of the tenant", body = SourceList)),
)]
#[tracing::instrument(skip_all)]
async fn list_sources(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
) -> Result<HttpResponse, ApiError> {
    let sources = state.inbound().list(&tenant).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SourceList {
        data: sources.iter().map(SourceView::from).collect(),
        next_cursor: None,
    }))
}

/// Read a source.
#[utoipa::path(
    get,
    path = "/v1/sources/{id}",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id")),
    responses(
        (status = 200, description = "The source", body = SourceView),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn get_source(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
) -> Result<HttpResponse, ApiError> {
    let source = state.inbound().get(&tenant, &id).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SourceView::from(&source)))
}

/// Change a source: fields left out stay; `verify` may change the scheme's parameters, not
/// the scheme or the secret.
#[utoipa::path(
    patch,
    path = "/v1/sources/{id}",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id")),
    request_body(content = SourceRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The source, changed", body = SourceView),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The change kept losing to concurrent ones; try again (`source-state-conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, each named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn update_source(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
    Body(request): Body<SourceRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = state.inbound().update(&tenant, &id, request).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SourceView::from(&source)))
}

/// Delete a source: its ingest URL answers `404` from now on; the jobs it made stay.
#[utoipa::path(
    delete,
    path = "/v1/sources/{id}",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn delete_source(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
) -> Result<HttpResponse, ApiError> {
    state.inbound().delete(&tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a source's secret; the previous one is still accepted for the grace (24 hours by
/// default).
#[utoipa::path(
    post,
    path = "/v1/sources/{id}/rotate-secret",
    operation_id = "rotate_source_secret",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id")),
    request_body(content = Option<RotateRequest>, description = "Optional: the new secret (else one is generated) and the grace", content_type = "application/json"),
    responses(
        (status = 200, description = "The source, its new secret and when the previous one stops being accepted", body = RevealedSource),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The change kept losing to concurrent ones (`source-state-conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `secret` or `grace_s`, or a source of scheme `none` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn rotate_secret(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
    OptionalJson(request): OptionalJson<RotateRequest>,
) -> Result<HttpResponse, ApiError> {
    let source = state
        .inbound()
        .rotate_secret(&tenant, &id, request.unwrap_or_default())
        .await?;
    Ok(no_cache(HttpResponse::Ok()).json(RevealedSource::from(&source)))
}

/// The requests a source received, newest first: accepted, duplicate and rejected.
#[utoipa::path(
    get,
    path = "/v1/sources/{id}/requests",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id"), RequestParams),
    responses(
        (status = 200, description = "A page of requests", body = RequestList),
        (status = 400, description = "A bad `outcome`, `limit` or `cursor`, each named in `errors` (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn list_requests(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
    params: web::Query<RequestParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.parse()?;
    let page = state.inbound().requests(&tenant, &id, &query).await?;
    Ok(no_cache(HttpResponse::Ok()).json(RequestList {
        data: page.requests,
        next_cursor: page.next_cursor,
    }))
}

/// Run again the finished jobs of the requests a source received in a window, as by
/// `POST /v1/jobs/{id}/retry`.
#[utoipa::path(
    post,
    path = "/v1/sources/{id}/replay",
    operation_id = "replay_source",
    tag = "sources",
    params(("id" = SourceId, Path, description = "The source's id")),
    request_body(content = ReplayRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "How many jobs run again", body = Replayed),
        (status = 404, description = "No such source for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or bad `since`, a bad `until` or `status`, unknown fields (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(source_id = %id))]
async fn replay(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    SourcePath(id): SourcePath,
    Body(request): Body<ReplayRequest>,
) -> Result<HttpResponse, ApiError> {
    let replayed = state.inbound().replay(&tenant, &id, request).await?;
    Ok(HttpResponse::Accepted().json(replayed))
}

/// The answer to a provider: the job's id.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Captured {
    id: herald_core::JobId,
}

/// Receive a provider's webhook: verified, stored as a job, then answered.
///
/// No API key: the token in the path is the credential. Any body (bounded like every
/// request body) in any content type; the signature is checked on its raw bytes.
#[utoipa::path(
    post,
    path = "/in/{token}",
    tag = "sources",
    params(("token" = String, Path, description = "The source's ingest token")),
    request_body(content = String, description = "The provider's request, as it sends it", content_type = "*/*"),
    responses(
        (status = 200, description = "Stored (the source's configured status: 200, 201 or 202); a provider's retry of an event already stored answers that job with `Idempotent-Replayed: true`", body = Captured),
        (status = 204, description = "Stored, for a source configured to answer 204"),
        (status = 401, description = "The signature or credentials do not verify; recorded as rejected (`signature-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No source has this token (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than the limit, or the captured request than the job type's payload bound (`payload-too-large`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The job could not be stored right now; the provider retries (`backend-unavailable`, `queue-full`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id))]
async fn ingest(
    state: web::Data<AppState>,
    request: HttpRequest,
    token: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config.max_body_bytes;
    let too_large = || ApiError::PayloadTooLarge { limit };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::MalformedJson(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    let answered = state
        .inbound()
        .ingest(&token, Ingest::of(&request, body.freeze()))
        .await?;
    tracing::Span::current().record("job_id", tracing::field::display(answered.job));
    let status = actix_web::http::StatusCode::from_u16(answered.status)
        .unwrap_or(actix_web::http::StatusCode::ACCEPTED);
    let mut response = HttpResponse::build(status);
    if answered.duplicate {
        response.insert_header((IDEMPOTENT_REPLAYED, "true"));
    }
    if answered.status == 204 {
        return Ok(response.finish());
    }
    Ok(response.json(Captured { id: answered.job }))
}
