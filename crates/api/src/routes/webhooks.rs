//! Webhook subscriptions (`/v1/webhooks`: create, list, read, change, delete, rotate the
//! secret, replay past events) and their deliveries (`/v1/webhooks/{id}/deliveries`,
//! `/v1/deliveries/{id}`, retry).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde_json::Value;

use crate::error::{ApiError, resource};
use crate::extract::{DeliveryPath, OptionalJson, Tenant, WebhookPath};
use crate::startup::AppState;
use crate::webhooks::DeliveryParams;
use crate::webhooks::replay::ReplayWindow;
use crate::webhooks::view::{
    DeliveryList, DeliveryView, RevealedSecret, SubscriptionList, SubscriptionView,
};

/// Registers the `/v1/webhooks` and `/v1/deliveries` routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/v1/webhooks", "GET, POST")
            .route(web::post().to(create_webhook))
            .route(web::get().to(list_webhooks)),
    )
    .service(
        resource("/v1/webhooks/{id}", "GET, PATCH, DELETE")
            .route(web::get().to(get_webhook))
            .route(web::patch().to(update_webhook))
            .route(web::delete().to(delete_webhook)),
    )
    .service(
        resource("/v1/webhooks/{id}/rotate-secret", "POST").route(web::post().to(rotate_secret)),
    )
    .service(resource("/v1/webhooks/{id}/deliveries", "GET").route(web::get().to(list_deliveries)))
    .service(resource("/v1/webhooks/{id}/replay", "POST").route(web::post().to(replay)))
    .service(resource("/v1/deliveries/{id}", "GET").route(web::get().to(get_delivery)))
    .service(resource("/v1/deliveries/{id}/retry", "POST").route(web::post().to(retry_delivery)));
}

/// Answers that describe a resource that may change at any time.
fn no_cache(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response.insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]));
    response
}

#[tracing::instrument(skip_all, fields(webhook_id))]
async fn create_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().create(tenant, &body).await?;
    tracing::Span::current().record("webhook_id", tracing::field::display(sub.id));
    let answer = RevealedSecret::created(&sub);
    Ok(no_cache(HttpResponse::Created())
        .insert_header((header::LOCATION, answer.subscription.links.self_.as_str()))
        .json(answer))
}

#[tracing::instrument(skip_all)]
async fn list_webhooks(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
) -> Result<HttpResponse, ApiError> {
    let subs = state.webhooks().list(&tenant).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SubscriptionList {
        data: subs.iter().map(SubscriptionView::from).collect(),
        next_cursor: None,
    }))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn get_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().get(&tenant, &id).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SubscriptionView::from(&sub)))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn update_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().update(&tenant, &id, &body).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SubscriptionView::from(&sub)))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn delete_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
) -> Result<HttpResponse, ApiError> {
    state.webhooks().delete(&tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn rotate_secret(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    OptionalJson(body): OptionalJson<Value>,
) -> Result<HttpResponse, ApiError> {
    let sub = state
        .webhooks()
        .rotate_secret(&tenant, &id, body.as_ref())
        .await?;
    Ok(no_cache(HttpResponse::Ok()).json(RevealedSecret::rotated(&sub)))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn list_deliveries(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    params: web::Query<DeliveryParams>,
) -> Result<HttpResponse, ApiError> {
    let query = params.parse()?;
    let page = state.webhooks().deliveries(&tenant, &id, &query).await?;
    Ok(no_cache(HttpResponse::Ok()).json(DeliveryList {
        data: page.deliveries.iter().map(DeliveryView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn replay(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let window = ReplayWindow::parse(&body, Utc::now())?;
    let replayed = state.webhooks().replay(&tenant, &id, window).await?;
    Ok(HttpResponse::Accepted().json(replayed))
}

#[tracing::instrument(skip_all, fields(delivery_id = %id))]
async fn get_delivery(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    DeliveryPath(id): DeliveryPath,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks().delivery(&tenant, &id).await?;
    Ok(no_cache(HttpResponse::Ok()).json(DeliveryView::from(&delivery)))
}

#[tracing::instrument(skip_all, fields(delivery_id = %id))]
async fn retry_delivery(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    DeliveryPath(id): DeliveryPath,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks().retry(&tenant, &id).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(&delivery)))
}
