//! Operations endpoints: `/healthz` (the process answers), `/readyz` (the backend answers too)
//! and `/metrics` (Prometheus).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::{ApiError, resource};
use crate::startup::AppState;

/// The media type `prometheus_client::encoding::text` produces.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Registers `/healthz`, `/readyz` and `/metrics`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/healthz", "GET").route(web::get().to(healthz)))
        .service(resource("/readyz", "GET").route(web::get().to(readyz)))
        .service(resource("/metrics", "GET").route(web::get().to(metrics)));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(ApiError::NotReady)?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &state.registry)
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(HttpResponse::Ok().content_type(OPENMETRICS).body(body))
}
