//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the backend answers too)
//! and `/metrics` (Prometheus).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::error::{ApiError, Problem};
use crate::http::metrics::Exposition;
use crate::routes::resource;
use crate::state::AppState;

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/healthz", "GET").to(__path_healthz, healthz))
        .service(resource("/readyz", "GET").to(__path_readyz, readyz))
        .service(resource("/metrics", "GET").to(__path_metrics, metrics));
}

/// The body of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)),
)]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the process answers and so does its store backend.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Health),
        (status = 503, description = "The backend does not answer (`not-ready`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(ApiError::NotReady)?;
    Ok(HttpResponse::Ok().json(Health { status: "ready" }))
}

/// Prometheus metrics of the process, in the OpenMetrics text format, or the Prometheus text
/// format (0.0.4) for a scraper whose `Accept` prefers `text/plain`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "The metrics (`text/plain; version=0.0.4` instead when the scraper's `Accept` prefers it)", body = String,
            content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8"),
    ),
)]
async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let accept = req.headers().get(header::ACCEPT);
    let format = Exposition::negotiate(accept.and_then(|value| value.to_str().ok()));
    let body = format
        .encode(&state.registry)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(HttpResponse::Ok()
        .content_type(format.media_type())
        // The answer depends on `Accept`: a cache must not hand one format to the other.
        .insert_header((header::VARY, "Accept"))
        .body(body))
}
