//! A job's own webhook: the `webhook` object of a submission ([`JobHook`]) and what the
//! outbox and the deliveries carry of it, without its secret ([`JobHookEndpoint`]).

use serde::{Deserialize, Serialize};

use super::{DEFAULT_JOB_HOOK_EVENTS, WebhookSecret, WebhookUrl, parse_events, parse_field};
use crate::event::EventType;
use crate::job::FieldError;

/// A job's own webhook as the client sent it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobHookRequest {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = "uri"))]
    pub url: Option<String>,
    pub secret: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<EventType>>))]
    pub events: Option<Vec<String>>,
}

/// A job's own webhook: where its events go, signed with its secret. The store keeps the
/// secret once, with the job, and it expires with the job; everything else sees the webhook
/// as its [`JobHookEndpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobHook {
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    pub events: Vec<EventType>,
}

/// A job's own webhook without its secret: where its events go and which ones. What the
/// outbox and the deliveries carry; the secret is read from the job when a delivery is
/// signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobHookEndpoint {
    pub url: WebhookUrl,
    pub events: Vec<EventType>,
}

impl JobHookEndpoint {
    /// Whether the job's own webhook wants an event of `kind`: it lists it. The same rule as
    /// [`JobHook::wants`]; the Redis store's scripts apply it to the list the job record keeps.
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }
}

impl JobHook {
    /// Validates the `webhook` object of a submission; fields are reported as `webhook.<name>`.
    /// Without a `secret` one is generated (the submission's answer hands it out, once).
    ///
    /// # Errors
    /// Every bad field.
    pub fn parse(value: serde_json::Value) -> Result<Self, Vec<FieldError>> {
        let request: JobHookRequest = serde_json::from_value(value)
            .map_err(|e| vec![FieldError::new("webhook", e.to_string())])?;
        let mut errors = Vec::new();
        if request.url.is_none() {
            errors.push(FieldError::new("webhook.url", "is required"));
        }
        let url = parse_field("webhook.url", request.url, WebhookUrl::parse, &mut errors);
        let secret = match request.secret {
            None => Some(WebhookSecret::generate()),
            raw => parse_field("webhook.secret", raw, WebhookSecret::parse, &mut errors),
        };
        let events = parse_events(
            "webhook.events",
            request.events,
            &DEFAULT_JOB_HOOK_EVENTS,
            &mut errors,
        );
        match (url, secret) {
            (Some(url), Some(secret)) if errors.is_empty() => Ok(Self {
                url,
                secret,
                events,
            }),
            _ => Err(errors),
        }
    }

    /// Whether the job's own webhook wants an event of `kind`: it lists it (every kind of
    /// job: the webhook belongs to one job).
    pub fn wants(&self, kind: EventType) -> bool {
        self.events.contains(&kind)
    }

    /// The webhook without its secret.
    pub fn endpoint(&self) -> JobHookEndpoint {
        JobHookEndpoint {
            url: self.url.clone(),
            events: self.events.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_hook_defaults_to_the_terminal_events_and_a_generated_secret() {
        let hook = JobHook::parse(serde_json::json!({"url": "https://client.example/h"})).unwrap();
        assert_eq!(hook.events, DEFAULT_JOB_HOOK_EVENTS.to_vec());
        assert!(hook.secret.expose().starts_with("whsec_"));

        let errors =
            JobHook::parse(serde_json::json!({"events": ["job.nope"], "secret": ""})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["webhook.url", "webhook.secret", "webhook.events"]);
        assert!(JobHook::parse(serde_json::json!({"url": "https://a.example", "x": 1})).is_err());
    }
}
