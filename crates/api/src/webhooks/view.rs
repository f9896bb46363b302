//! The wire views of subscriptions and deliveries. Built from the stored values; no view
//! carries a secret except [`RevealedSecret`], the answer of the two requests that set one.

use chrono::{DateTime, Utc};
use herald_core::view::format_time;
use herald_core::webhook::{Attempt, Delivery, DeliveryState, Subscription};
use herald_core::{DeliveryId, EventType, JobId, JobType, SubscriptionId};
use serde::Serialize;

/// A webhook subscription as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionView {
    pub id: SubscriptionId,
    pub url: String,
    pub events: Vec<EventType>,
    /// Empty: every job type.
    pub job_types: Vec<JobType>,
    pub enabled: bool,
    /// Why it is disabled (by a client, `410 Gone`, or failing for days), while disabled.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub links: SubscriptionLinks,
}

/// Where the subscription's other resources live.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriptionLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub deliveries: String,
}

impl SubscriptionLinks {
    pub fn for_subscription(id: &SubscriptionId) -> Self {
        let base = format!("/v1/webhooks/{id}");
        Self {
            deliveries: format!("{base}/deliveries"),
            self_: base,
        }
    }
}

impl From<&Subscription> for SubscriptionView {
    fn from(sub: &Subscription) -> Self {
        Self {
            id: sub.id,
            url: sub.url.to_string(),
            events: sub.events.clone(),
            job_types: sub.job_types.clone(),
            enabled: sub.enabled,
            disabled_reason: sub.disabled_reason.clone(),
            created_at: format_time(&sub.created_at),
            updated_at: format_time(&sub.updated_at),
            links: SubscriptionLinks::for_subscription(&sub.id),
        }
    }
}

/// The answer of a request that set a subscription's secret (creation, rotation): the
/// subscription and its secret, which no later answer shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedSecret<'a> {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The secret that signs its deliveries: shown here only, keep it.
    #[schema(value_type = String)]
    pub secret: &'a str,
    /// After a rotation: until when the previous secret keeps signing too.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
}

impl<'a> RevealedSecret<'a> {
    /// The answer to the request that created `sub`.
    pub fn created(sub: &'a Subscription) -> Self {
        Self {
            subscription: SubscriptionView::from(sub),
            secret: sub.secret.expose(),
            previous_secret_expires_at: None,
        }
    }

    /// The answer to the request that rotated `sub`'s secret.
    pub fn rotated(sub: &'a Subscription) -> Self {
        Self {
            previous_secret_expires_at: sub
                .retired_secret
                .as_ref()
                .map(|retired| format_time(&retired.expires_at)),
            ..Self::created(sub)
        }
    }
}

/// A list of subscriptions: all of the tenant's (they are bounded), so never a next page.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubscriptionList {
    pub data: Vec<SubscriptionView>,
    /// Always `null`: a tenant's subscriptions fit one page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One event on its way to one endpoint, with its attempts. Never carries a secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: DeliveryId,
    /// The subscription it goes to; `null` for a job's own webhook.
    #[schema(required = true)]
    pub webhook_id: Option<SubscriptionId>,
    pub job_id: JobId,
    pub job_type: JobType,
    pub event_type: EventType,
    /// The job's `seq` of the event, as in its body.
    pub seq: u64,
    pub url: String,
    pub state: DeliveryState,
    /// Attempts made; `attempts` lists the newest of them.
    pub attempt_count: u32,
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub attempts: Vec<AttemptView>,
    pub links: DeliveryLinks,
}

/// Where the delivery's related resources live.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub job: String,
}

/// One try at sending a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AttemptView {
    #[schema(format = DateTime)]
    pub at: String,
    /// `null` when the endpoint did not answer (timeout, connection refused).
    #[schema(required = true)]
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    #[schema(required = true)]
    pub error: Option<String>,
    /// The start of the endpoint's answer.
    #[schema(required = true)]
    pub response: Option<String>,
}

fn format_opt(t: Option<&DateTime<Utc>>) -> Option<String> {
    t.map(format_time)
}

impl From<&Attempt> for AttemptView {
    fn from(attempt: &Attempt) -> Self {
        Self {
            at: format_time(&attempt.at),
            status_code: attempt.status_code,
            duration_ms: attempt.duration_ms,
            error: attempt.error.clone(),
            response: attempt.response.clone(),
        }
    }
}

impl From<&Delivery> for DeliveryView {
    fn from(delivery: &Delivery) -> Self {
        Self {
            id: delivery.id,
            webhook_id: delivery.subscription,
            job_id: delivery.job_id,
            job_type: delivery.job_type.clone(),
            event_type: delivery.event,
            seq: delivery.seq,
            url: delivery.url.to_string(),
            state: delivery.state,
            attempt_count: delivery.attempt_count,
            next_attempt_at: format_opt(delivery.next_attempt_at.as_ref()),
            created_at: format_time(&delivery.created_at),
            updated_at: format_time(&delivery.updated_at),
            attempts: delivery.attempts.iter().map(AttemptView::from).collect(),
            links: DeliveryLinks {
                self_: format!("/v1/deliveries/{}", delivery.id),
                job: format!("/v1/jobs/{}", delivery.job_id),
            },
        }
    }
}

/// A page of deliveries, newest first; `next_cursor` is set while older ones may remain.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub data: Vec<DeliveryView>,
    #[schema(required = true)]
    pub next_cursor: Option<DeliveryId>,
}

#[cfg(test)]
mod tests {
    use herald_core::TenantId;
    use herald_core::webhook::{SubscriptionRequest, WebhookSecret};

    use super::*;

    fn subscription() -> Subscription {
        let request = SubscriptionRequest {
            url: Some("https://client.example/hooks".to_owned()),
            events: Some(vec!["job.completed".to_owned()]),
            ..Default::default()
        };
        Subscription::create(TenantId::default_tenant(), request, Utc::now()).unwrap()
    }

    #[test]
    fn a_subscription_view_never_carries_a_secret() {
        let sub = subscription();
        let value = serde_json::to_value(SubscriptionView::from(&sub)).unwrap();
        assert!(!value.to_string().contains(sub.secret.expose()));
        assert!(value.get("secret").is_none());
        assert_eq!(value["events"], serde_json::json!(["job.completed"]));
        assert_eq!(value["job_types"], serde_json::json!([]));
        assert_eq!(value["links"]["self"], format!("/v1/webhooks/{}", sub.id));
    }

    #[test]
    fn a_rotation_reveals_the_new_secret_and_when_the_old_one_stops() {
        let sub = subscription();
        let created = serde_json::to_value(RevealedSecret::created(&sub)).unwrap();
        assert_eq!(created["secret"], sub.secret.expose());
        assert!(created.get("previous_secret_expires_at").is_none());
        assert_eq!(created["id"], sub.id.to_string());

        let new = WebhookSecret::generate();
        let rotated = sub.rotated(new.clone(), std::time::Duration::from_secs(60), Utc::now());
        let value = serde_json::to_value(RevealedSecret::rotated(&rotated)).unwrap();
        assert_eq!(value["secret"], new.expose());
        assert!(value["previous_secret_expires_at"].is_string());
    }
}
