//! Webhook subscriptions and their deliveries as the API manages them: create, read, change
//! (compare-and-set on the subscription's version), delete, rotate the secret, list and
//! retry deliveries, and replay a window of the tenant's feed ([`replay`]).
//!
//! Every target a client names — a subscription's `url`, a job's own `webhook.url` — passes
//! [`check_target`] first: an address in a private, loopback or link-local range is refused
//! with a `422` unless the operator allows such targets. The notifier checks again at send
//! time, on the addresses it actually connects to (DNS may change in between).
//!
//! A subscription's secret is shown twice at most: in the answer that creates it and in the
//! answer that rotates it. No other answer carries it ([`view`]).

pub mod replay;
pub mod view;

use chrono::Utc;
use herald_core::store::SharedWebhookStore;
use herald_core::store::webhooks::{DeliveryPage, DeliveryQuery};
use herald_core::webhook::{
    Delivery, DeliveryState, ROTATION_GRACE, Subscription, SubscriptionRequest, WebhookSecret,
    WebhookUrl,
};
use herald_core::{DeliveryId, EventType, FieldError, SharedStore, SubscriptionId, TenantId};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::query::query_field;

/// How many times a change re-reads the subscription and tries again when a concurrent
/// writer (another client, or the notifier disabling it) moved its version first.
const CAS_ATTEMPTS: usize = 5;

/// Refuses `url` when it is, or resolves to, a private, loopback or link-local address,
/// unless `allow_private`; the error names `field`.
///
/// # Errors
/// [`ApiError::Validation`] with the guard's reason.
pub async fn check_target(
    url: &WebhookUrl,
    field: &str,
    allow_private: bool,
) -> Result<(), ApiError> {
    herald_core::webhook::check_target(url.url(), allow_private)
        .await
        .map_err(|refused| ApiError::Validation(vec![FieldError::new(field, refused.to_string())]))
}

/// The webhook operations, over the process's stores.
pub struct Webhooks<'a> {
    /// The job store: its feed is what a replay re-sends.
    pub store: &'a SharedStore,
    pub webhooks: &'a SharedWebhookStore,
    /// Whether private, loopback and link-local targets are accepted.
    pub allow_private_targets: bool,
}

/// The body of `PATCH /v1/webhooks/{id}`: the fields to change; those left out stay. A
/// `secret` is refused: rotate it with `POST /v1/webhooks/{id}/rotate-secret`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionChange {
    /// A new target (the same checks as at creation).
    #[schema(format = "uri")]
    url: Option<String>,
    #[schema(value_type = Option<Vec<EventType>>)]
    events: Option<Vec<String>>,
    /// Empty: every job type.
    job_types: Option<Vec<String>>,
    #[schema(ignore)]
    secret: Option<String>,
    /// `false` pauses it; `true` resumes it, also after Herald disabled it.
    enabled: Option<bool>,
}

impl From<SubscriptionChange> for SubscriptionRequest {
    fn from(change: SubscriptionChange) -> Self {
        let SubscriptionChange {
            url,
            events,
            job_types,
            secret,
            enabled,
        } = change;
        Self {
            url,
            events,
            job_types,
            secret,
            enabled,
        }
    }
}

/// The body of `POST /v1/webhooks/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// The new secret; generated (`whsec_` and 32 random bytes) when left out.
    secret: Option<String>,
}

impl Webhooks<'_> {
    /// Creates a subscription from a `POST /v1/webhooks` request.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field, or a refused target;
    /// [`ApiError::LimitReached`] when the tenant holds the most subscriptions allowed.
    pub async fn create(
        &self,
        tenant: TenantId,
        request: SubscriptionRequest,
    ) -> Result<Subscription, ApiError> {
        let subscription =
            Subscription::create(tenant, request, Utc::now()).map_err(ApiError::Validation)?;
        check_target(&subscription.url, "url", self.allow_private_targets).await?;
        if self.webhooks.put_subscription(&subscription, None).await? {
            Ok(subscription)
        } else {
            // A fresh UUIDv7 already stored: not something a client can cause or fix.
            Err(ApiError::Internal(
                format!("subscription id {} is taken", subscription.id).into(),
            ))
        }
    }

    /// The tenant's subscriptions, oldest first (at most
    /// [`herald_core::webhook::MAX_SUBSCRIPTIONS`], so one page).
    ///
    /// # Errors
    /// Store failures.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Subscription>, ApiError> {
        Ok(self.webhooks.subscriptions(tenant).await?)
    }

    /// The tenant's subscription `id`.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] when the tenant has none by that id.
    pub async fn get(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Subscription, ApiError> {
        self.webhooks
            .subscription(tenant, id)
            .await?
            .ok_or_else(|| not_found("webhook", id))
    }

    /// Changes the fields a `PATCH /v1/webhooks/{id}` request names (`url`, `events`,
    /// `job_types`, `enabled`).
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field (a `secret` among them: it is rotated,
    /// not patched), or a refused target; [`ApiError::NotFound`];
    /// [`ApiError::WebhookConflict`] when concurrent writers kept winning.
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        change: SubscriptionChange,
    ) -> Result<Subscription, ApiError> {
        let request = SubscriptionRequest::from(change);
        // Checked once, before the loop: the target does not depend on the stored version.
        // An unparseable URL is left to `patched`, which names it with the other bad fields.
        if let Some(url) = request
            .url
            .as_deref()
            .and_then(|raw| WebhookUrl::parse(raw).ok())
        {
            check_target(&url, "url", self.allow_private_targets).await?;
        }
        let was_enabled = self.get(tenant, id).await?.enabled;
        let updated = self
            .change(tenant, id, |current| {
                current
                    .patched(request.clone(), Utc::now())
                    .map_err(ApiError::Validation)
            })
            .await?;
        if updated.enabled && !was_enabled {
            // Turned back on: its failures before count no more towards disabling it again.
            self.webhooks
                .endpoint_health(tenant, id, false, Utc::now())
                .await?;
        }
        Ok(updated)
    }

    /// Gives the subscription a new secret (the request's `secret`, else a generated one); the
    /// old secret keeps signing, next to the new one, for [`ROTATION_GRACE`].
    ///
    /// # Errors
    /// [`ApiError::Validation`] for a bad secret; [`ApiError::NotFound`];
    /// [`ApiError::WebhookConflict`] when concurrent writers kept winning.
    pub async fn rotate_secret(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        request: RotateRequest,
    ) -> Result<Subscription, ApiError> {
        let secret = match request.secret {
            Some(raw) => WebhookSecret::parse(&raw)
                .map_err(|e| ApiError::Validation(vec![FieldError::new("secret", e.0)]))?,
            None => WebhookSecret::generate(),
        };
        self.change(tenant, id, |current| {
            Ok(current.rotated(secret.clone(), ROTATION_GRACE, Utc::now()))
        })
        .await
    }

    /// Deletes the subscription. Its deliveries stay listed until they expire; those still
    /// scheduled die unsent.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub async fn delete(&self, tenant: &TenantId, id: &SubscriptionId) -> Result<(), ApiError> {
        if self.webhooks.delete_subscription(tenant, id).await? {
            Ok(())
        } else {
            Err(not_found("webhook", id))
        }
    }

    /// A page of the subscription's deliveries, newest first. A deleted subscription's
    /// deliveries stay listed while they are kept.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] when the tenant has no such subscription and no deliveries of it.
    pub async fn deliveries(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, ApiError> {
        let page = self.webhooks.deliveries(tenant, id, query).await?;
        if page.deliveries.is_empty()
            && page.next_cursor.is_none()
            && self.webhooks.subscription(tenant, id).await?.is_none()
        {
            return Err(not_found("webhook", id));
        }
        Ok(page)
    }

    /// The tenant's delivery `id`.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub async fn delivery(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Delivery, ApiError> {
        self.webhooks
            .delivery(tenant, id)
            .await?
            .ok_or_else(|| not_found("delivery", id))
    }

    /// Makes the delivery due at once: one more attempt for a dead or delivered one, the next
    /// attempt moved forward for one still retrying.
    ///
    /// # Errors
    /// [`ApiError::NotFound`]; [`ApiError::WebhookConflict`] when the delivery's subscription
    /// was deleted or is disabled, or its job has expired (the notifier would give the attempt
    /// up unsent).
    pub async fn retry(&self, tenant: &TenantId, id: &DeliveryId) -> Result<Delivery, ApiError> {
        let delivery = self.delivery(tenant, id).await?;
        // The body and a job's own webhook's secret are kept with the job, and went with it.
        if self.store.get(tenant, &delivery.job_id).await?.is_none() {
            return Err(ApiError::WebhookConflict(format!(
                "job {} has expired, and with it the event this delivery carries and the secret \
                 that signs it: the delivery cannot be sent again",
                delivery.job_id
            )));
        }
        if let Some(subscription) = delivery.subscription {
            match self.webhooks.subscription(tenant, &subscription).await? {
                None => {
                    return Err(ApiError::WebhookConflict(format!(
                        "webhook {subscription} was deleted; its deliveries cannot be retried"
                    )));
                }
                Some(sub) if !sub.enabled => return Err(disabled(&sub)),
                Some(_) => {}
            }
        }
        self.webhooks
            .retry_delivery(tenant, id)
            .await?
            .ok_or_else(|| not_found("delivery", id))
    }

    /// Applies `change` to the stored subscription and stores the result if nobody changed it
    /// in between; re-reads and tries again a few times otherwise.
    async fn change(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        change: impl Fn(&Subscription) -> Result<Subscription, ApiError>,
    ) -> Result<Subscription, ApiError> {
        for _ in 0..CAS_ATTEMPTS {
            let current = self.get(tenant, id).await?;
            let next = change(&current)?;
            if self
                .webhooks
                .put_subscription(&next, Some(current.version))
                .await?
            {
                return Ok(next);
            }
        }
        Err(ApiError::WebhookConflict(format!(
            "webhook {id} kept changing while this request tried to change it; try again"
        )))
    }
}

/// The query of `GET /v1/webhooks/{id}/deliveries`, kept as text so each bad value gets its
/// own message.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryState>)]
    status: Option<String>,
    /// At most this many deliveries (1 to 100, default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    #[param(value_type = Option<DeliveryId>)]
    cursor: Option<String>,
}

impl DeliveryParams {
    /// # Errors
    /// [`ApiError::InvalidParameters`] naming every bad parameter.
    pub fn parse(&self) -> Result<DeliveryQuery, ApiError> {
        let mut errors = Vec::new();
        let state = query_field(&mut errors, "status", &self.status, |raw| {
            raw.parse::<DeliveryState>().map_err(|e| e.0)
        });
        let before = query_field(&mut errors, "cursor", &self.cursor, |raw| {
            DeliveryId::parse(raw).map_err(|_| format!("`{raw}` is not a delivery cursor"))
        });
        let limit = query_field(&mut errors, "limit", &self.limit, |raw| {
            raw.parse()
                .ok()
                .filter(|n| (1..=DeliveryQuery::MAX_LIMIT).contains(n))
                .ok_or_else(|| format!("must be a number from 1 to {}", DeliveryQuery::MAX_LIMIT))
        });
        if !errors.is_empty() {
            return Err(ApiError::InvalidParameters(errors));
        }
        Ok(DeliveryQuery {
            state,
            limit: limit.unwrap_or(DeliveryQuery::DEFAULT_LIMIT),
            before,
        })
    }
}

fn not_found(what: &'static str, id: &impl std::fmt::Display) -> ApiError {
    ApiError::NotFound {
        what,
        id: id.to_string(),
    }
}

/// A disabled subscription, asked to send.
fn disabled(subscription: &Subscription) -> ApiError {
    let reason = subscription
        .disabled_reason
        .as_deref()
        .map(|reason| format!(" ({reason})"))
        .unwrap_or_default();
    ApiError::WebhookConflict(format!(
        "webhook {} is disabled{reason}; enable it first with PATCH {{\"enabled\": true}}",
        subscription.id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(status: &str, limit: &str, cursor: &str) -> DeliveryParams {
        let some = |s: &str| Some(s.to_owned());
        DeliveryParams {
            status: some(status),
            limit: some(limit),
            cursor: some(cursor),
        }
    }

    #[test]
    fn delivery_listing_parameters_default_and_are_each_checked() {
        let query = DeliveryParams::default().parse().unwrap();
        assert_eq!(query.limit, DeliveryQuery::DEFAULT_LIMIT);
        assert!(query.state.is_none() && query.before.is_none());

        let id = DeliveryId::generate();
        let query = params("dead", "5", &id.to_string()).parse().unwrap();
        assert_eq!(query.state, Some(DeliveryState::Dead));
        assert_eq!((query.limit, query.before), (5, Some(id)));

        let Err(ApiError::InvalidParameters(errors)) = params("lost", "0", "x").parse() else {
            panic!("expected invalid parameters");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "cursor", "limit"]);
    }
}
