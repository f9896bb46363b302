//! Subscriptions: a tenant's standing orders for events, created, patched, rotated and
//! disabled as values (every change bumps the version the store compares-and-sets on).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{RetiredSecret, WebhookSecret, WebhookUrl, parse_events, parse_field};
use crate::event::EventType;
use crate::ids::{JobType, SubscriptionId, TenantId};
use crate::job::FieldError;

/// A tenant's standing order for events: every event of the listed types, of jobs of the
/// listed types (all types when the list is empty), goes to `url`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub tenant: TenantId,
    pub url: WebhookUrl,
    pub events: Vec<EventType>,
    pub job_types: Vec<JobType>,
    pub enabled: bool,
    /// Why it was disabled (`410 Gone`, failing for days, or by a client), while disabled.
    pub disabled_reason: Option<String>,
    pub secret: WebhookSecret,
    pub retired_secret: Option<RetiredSecret>,
    /// Bumped by every change: writes compare-and-set on it.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A subscription as the client sent it (`POST`) or the fields it changes (`PATCH`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewSubscription))]
pub struct SubscriptionRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "uri"))]
    pub url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<EventType>>))]
    pub events: Option<Vec<String>>,
    pub job_types: Option<Vec<String>>,
    pub secret: Option<String>,
    pub enabled: Option<bool>,
}

fn parse_job_types(raw: Vec<String>, errors: &mut Vec<FieldError>) -> Vec<JobType> {
    let mut types = Vec::new();
    for name in raw {
        match JobType::parse(&name) {
            Ok(t) if !types.contains(&t) => types.push(t),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new("job_types", e.0)),
        }
    }
    types
}

impl Subscription {
    /// A new subscription from a `POST /v1/webhooks` body. Without `events` it receives
    /// every event type; without `secret` one is generated.
    ///
    /// # Errors
    /// Every bad field.
    pub fn create(
        tenant: TenantId,
        request: SubscriptionRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if request.url.is_none() {
            errors.push(FieldError::new("url", "is required"));
        }
        let url = parse_field("url", request.url, WebhookUrl::parse, &mut errors);
        let events = parse_events("events", request.events, &EventType::ALL, &mut errors);
        let job_types = parse_job_types(request.job_types.unwrap_or_default(), &mut errors);
        let secret = match request.secret {
            None => Some(WebhookSecret::generate()),
            raw => parse_field("secret", raw, WebhookSecret::parse, &mut errors),
        };
        match (url, secret) {
            (Some(url), Some(secret)) if errors.is_empty() => Ok(Self {
                id: SubscriptionId::generate(),
                tenant,
                url,
                events,
                job_types,
                enabled: request.enabled.unwrap_or(true),
                disabled_reason: request
                    .enabled
                    .is_some_and(|on| !on)
                    .then(|| "disabled by a client".to_owned()),
                secret,
                retired_secret: None,
                version: 1,
                created_at: now,
                updated_at: now,
            }),
            _ => Err(errors),
        }
    }

    /// This subscription with the fields of a `PATCH` body changed. A secret cannot be set
    /// this way: it is rotated (see [`Subscription::rotated`]).
    ///
    /// # Errors
    /// Every bad field.
    pub fn patched(
        &self,
        request: SubscriptionRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut next = self.clone();
        if request.secret.is_some() {
            errors.push(FieldError::new(
                "secret",
                "cannot be changed by PATCH; rotate it with POST /v1/webhooks/{id}/rotate-secret",
            ));
        }
        if let Some(url) = parse_field("url", request.url, WebhookUrl::parse, &mut errors) {
            next.url = url;
        }
        if request.events.is_some() {
            next.events = parse_events("events", request.events, &[], &mut errors);
        }
        if let Some(types) = request.job_types {
            next.job_types = parse_job_types(types, &mut errors);
        }
        if let Some(enabled) = request.enabled {
            next.enabled = enabled;
            next.disabled_reason = (!enabled).then(|| "disabled by a client".to_owned());
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        next.version += 1;
        next.updated_at = now;
        Ok(next)
    }

    /// This subscription signing with `secret` from now on; the current secret keeps signing
    /// too for `grace`.
    pub fn rotated(&self, secret: WebhookSecret, grace: Duration, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.retired_secret = Some(RetiredSecret {
            secret: std::mem::replace(&mut next.secret, secret),
            expires_at: now + grace,
        });
        next.version += 1;
        next.updated_at = now;
        next
    }

    /// This subscription disabled by Herald, saying why.
    pub fn disabled(&self, reason: &str, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        next.enabled = false;
        next.disabled_reason = Some(reason.to_owned());
        next.version += 1;
        next.updated_at = now;
        next
    }

    /// Whether the event goes to this subscription: it is enabled, lists `kind`, and lists
    /// `job_type` or no job type at all.
    ///
    /// This is the rule, for every backend: the memory store applies it when it writes the
    /// outbox, the notifier when it expands an entry into deliveries, and the Redis store's
    /// wants counters encode it (one counter per event type for subscriptions of every job
    /// type, one per event and job type pair for filtered ones; none while disabled). The
    /// conformance suite checks both stores against it through random subscription changes.
    pub fn wants(&self, kind: EventType, job_type: &JobType) -> bool {
        self.enabled
            && self.events.contains(&kind)
            && (self.job_types.is_empty() || self.job_types.contains(job_type))
    }

    /// The secrets that sign a delivery sent at `now`: the current one, then the retired
    /// one while its grace lasts.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&WebhookSecret> {
        let retired = self
            .retired_secret
            .as_ref()
            .filter(|r| r.expires_at > now)
            .map(|r| &r.secret);
        std::iter::once(&self.secret).chain(retired).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A subscription to every event of every job type, as a bare `POST` makes it.
    fn to_everything(now: DateTime<Utc>) -> Subscription {
        let request = SubscriptionRequest {
            url: Some("https://client.example/h".to_owned()),
            ..Default::default()
        };
        Subscription::create(TenantId::default_tenant(), request, now).unwrap()
    }

    #[test]
    fn a_subscription_filters_by_event_type_and_job_type() {
        let now = Utc::now();
        let request = SubscriptionRequest {
            url: Some("https://client.example/h".to_owned()),
            events: Some(vec!["job.failed".to_owned(), "job.completed".to_owned()]),
            job_types: Some(vec!["demo.report".to_owned()]),
            ..Default::default()
        };
        let sub = Subscription::create(TenantId::default_tenant(), request, now).unwrap();
        assert_eq!(
            sub.events,
            [EventType::Failed, EventType::Completed],
            "as given"
        );
        let report = JobType::parse("demo.report").unwrap();
        let sleep = JobType::parse("demo.sleep").unwrap();
        assert!(sub.wants(EventType::Completed, &report));
        assert!(!sub.wants(EventType::Progress, &report));
        assert!(!sub.wants(EventType::Completed, &sleep));
        assert!(
            !sub.disabled("gone", now)
                .wants(EventType::Completed, &report)
        );

        let every = to_everything(now);
        assert_eq!(every.events, EventType::ALL.to_vec());
        assert!(every.wants(EventType::Progress, &sleep));
    }

    #[test]
    fn a_rotated_secret_keeps_signing_until_its_grace_ends() {
        let now = Utc::now();
        let sub = to_everything(now);
        let old = sub.secret.clone();
        let new = WebhookSecret::generate();
        let rotated = sub.rotated(new.clone(), Duration::from_secs(60), now);
        assert_eq!(rotated.version, sub.version + 1);
        assert_eq!(rotated.signing_secrets(now), [&new, &old]);
        let later = now + Duration::from_secs(61);
        assert_eq!(rotated.signing_secrets(later), [&new]);
    }
}
