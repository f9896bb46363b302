//! Webhook subscriptions (`/v1/webhooks`: create, list, read, change, delete, rotate the
//! secret, replay past events) and their deliveries (`/v1/webhooks/{id}/deliveries`,
//! `/v1/deliveries/{id}`, retry).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use herald_core::webhook::SubscriptionRequest;
use herald_core::{DeliveryId, SubscriptionId};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::body::Body;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{DeliveryPath, OptionalJson, Tenant, WebhookPath};
use crate::routes::{no_cache, resource};
use crate::state::AppState;
use crate::webhooks::replay::{ReplayRequest, ReplayWindow, Replayed};
use crate::webhooks::view::{
    DeliveryList, DeliveryView, RevealedSecret, SubscriptionList, SubscriptionView,
};
use crate::webhooks::{DeliveryParams, RotateRequest, SubscriptionChange};

/// Registers the `/v1/webhooks` and `/v1/deliveries` routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/v1/webhooks", "GET, POST")
            .to(__path_create_webhook, create_webhook)
            .to(__path_list_webhooks, list_webhooks),
    )
    .service(
        resource("/v1/webhooks/{id}", "GET, PATCH, DELETE")
            .to(__path_get_webhook, get_webhook)
            .to(__path_update_webhook, update_webhook)
            .to(__path_delete_webhook, delete_webhook),
    )
    .service(
        resource("/v1/webhooks/{id}/rotate-secret", "POST").to(__path_rotate_secret, rotate_secret),
    )
    .service(
        resource("/v1/webhooks/{id}/deliveries", "GET").to(__path_list_deliveries, list_deliveries),
    )
    .service(resource("/v1/webhooks/{id}/replay", "POST").to(__path_replay, replay))
    .service(resource("/v1/deliveries/{id}", "GET").to(__path_get_delivery, get_delivery))
    .service(
        resource("/v1/deliveries/{id}/retry", "POST").to(__path_retry_delivery, retry_delivery),
    );
}

/// Subscribe an endpoint to the tenant's job events.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body(content = SubscriptionRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The subscription and its secret (shown this once)", body = RevealedSecret,
            headers(("Location" = String, description = "`/v1/webhooks/{id}`"))),
        (status = 409, description = "The tenant already holds 256 subscriptions (`limit-reached`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, each named in `errors`, including a private target (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id))]
async fn create_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    Body(request): Body<SubscriptionRequest>,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().create(tenant, request).await?;
    tracing::Span::current().record("webhook_id", tracing::field::display(sub.id));
    let answer = RevealedSecret::created(&sub);
    Ok(no_cache(HttpResponse::Created())
        .insert_header((header::LOCATION, answer.subscription.links.self_.as_str()))
        .json(answer))
}

/// List the tenant's subscriptions, oldest first (always one page).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every subscription of the tenant", body = SubscriptionList),
    ),
)]
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

/// Read a subscription.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn get_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().get(&tenant, &id).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SubscriptionView::from(&sub)))
}

/// Change a subscription: fields left out stay.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id")),
    request_body(content = SubscriptionChange, content_type = "application/json"),
    responses(
        (status = 200, description = "The subscription, changed", body = SubscriptionView),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The change kept losing to concurrent ones; try again (`webhook-state-conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, each named in `errors`; a `secret` (rotate it instead) (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn update_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    Body(change): Body<SubscriptionChange>,
) -> Result<HttpResponse, ApiError> {
    let sub = state.webhooks().update(&tenant, &id, change).await?;
    Ok(no_cache(HttpResponse::Ok()).json(SubscriptionView::from(&sub)))
}

/// Delete a subscription; its scheduled deliveries die unsent, its history stays listed.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{id}",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn delete_webhook(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
) -> Result<HttpResponse, ApiError> {
    state.webhooks().delete(&tenant, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Rotate a subscription's secret; the previous one keeps signing too for 24 hours.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id")),
    request_body(content = Option<RotateRequest>, description = "Optional: the new secret, else one is generated", content_type = "application/json"),
    responses(
        (status = 200, description = "The subscription, its new secret and when the previous one stops signing", body = RevealedSecret),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The change kept losing to concurrent ones (`webhook-state-conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad `secret` or unknown fields (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn rotate_secret(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    OptionalJson(request): OptionalJson<RotateRequest>,
) -> Result<HttpResponse, ApiError> {
    let sub = state
        .webhooks()
        .rotate_secret(&tenant, &id, request.unwrap_or_default())
        .await?;
    Ok(no_cache(HttpResponse::Ok()).json(RevealedSecret::rotated(&sub)))
}

/// A subscription's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{id}/deliveries",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id"), DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "A bad `status`, `limit` or `cursor`, each named in `errors` (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
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

/// Re-send past events of the tenant's feed to a subscription, as new deliveries.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{id}/replay",
    tag = "webhooks",
    params(("id" = SubscriptionId, Path, description = "The subscription's id")),
    request_body(content = ReplayRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "What was replayed; with `truncated`, send again from `next_since`", body = Replayed),
        (status = 404, description = "No such subscription for this tenant, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The subscription is disabled (`webhook-state-conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or bad `since`, a bad `until`, unknown fields (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(webhook_id = %id))]
async fn replay(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    WebhookPath(id): WebhookPath,
    Body(request): Body<ReplayRequest>,
) -> Result<HttpResponse, ApiError> {
    let window = ReplayWindow::parse(request, Utc::now())?;
    let replayed = state.webhooks().replay(&tenant, &id, window).await?;
    Ok(HttpResponse::Accepted().json(replayed))
}

/// Read a delivery (any of the tenant's, a job's own webhook's too).
#[utoipa::path(
    get,
    path = "/v1/deliveries/{id}",
    tag = "webhooks",
    params(("id" = DeliveryId, Path, description = "The delivery's id (its `webhook-id`)")),
    responses(
        (status = 200, description = "The delivery", body = DeliveryView),
        (status = 404, description = "No such delivery for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(delivery_id = %id))]
async fn get_delivery(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    DeliveryPath(id): DeliveryPath,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks().delivery(&tenant, &id).await?;
    Ok(no_cache(HttpResponse::Ok()).json(DeliveryView::from(&delivery)))
}

/// Attempt a delivery again, now.
#[utoipa::path(
    post,
    path = "/v1/deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = DeliveryId, Path, description = "The delivery's id (its `webhook-id`)")),
    responses(
        (status = 202, description = "The delivery, due at once", body = DeliveryView),
        (status = 404, description = "No such delivery for this tenant (`not-found`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its subscription is disabled or was deleted, or its job has expired (`webhook-state-conflict`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(delivery_id = %id))]
async fn retry_delivery(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    DeliveryPath(id): DeliveryPath,
) -> Result<HttpResponse, ApiError> {
    let delivery = state.webhooks().retry(&tenant, &id).await?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(&delivery)))
}
