//! Webhooks: where job events are delivered, and what became of each delivery.
//!
//! Two kinds of target receive events: a job's own webhook (the `webhook` object of a
//! submission, [`JobHook`]) and a tenant's subscriptions ([`Subscription`], filtered by event
//! types and job types). Every state change that some target wants is written, in the same
//! atomic write as the change, to the store's outbox; the notifier expands each outbox entry
//! into one [`Delivery`] per matching target and sends it until a 2xx, its retry schedule
//! runs out (the delivery is dead) or its subscription is disabled.
//!
//! Signing and sending live in the notifier crate; this module holds the values both the api
//! and the notifier agree on, parsed at the edge like every other input.

//!
//! # Layout
//! - [`url`]: [`WebhookUrl`], an absolute http(s) URL without credentials.
//! - [`address`]: which addresses a webhook may be sent to (the guard against server-side
//!   request forgery), checked at registration here and at send time by the notifier.
//! - [`secret`]: signing secrets and their rotation.
//! - [`hook`]: a job's own webhook.
//! - [`subscription`]: a tenant's subscriptions.
//! - [`delivery`]: deliveries, their attempts and the body they send.

pub mod address;
pub mod delivery;
pub mod hook;
pub mod secret;
pub mod subscription;
pub mod url;

use std::time::Duration;

use crate::event::EventType;
use crate::ids::InvalidInput;
use crate::job::FieldError;

pub use address::{Refused, check_target};
pub use delivery::{
    Attempt, AttemptResult, Delivery, DeliveryState, HookStatus, Target, render_body, targets,
};
pub use hook::{JobHook, JobHookEndpoint, JobHookRequest};
pub use secret::{RetiredSecret, WebhookSecret};
pub use subscription::{Subscription, SubscriptionRequest};
pub use url::WebhookUrl;

/// The events a job's own webhook receives when its submission names none.
pub const DEFAULT_JOB_HOOK_EVENTS: [EventType; 3] =
    [EventType::Completed, EventType::Failed, EventType::Canceled];

/// How many subscriptions one tenant may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;

/// How many attempts a delivery keeps in its record (the newest; the count goes on).
pub const MAX_KEPT_ATTEMPTS: usize = 50;

/// How long a rotated-out secret keeps signing next to the new one, so receivers can roll
/// their configuration without rejecting deliveries (Svix's grace period).
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);

/// Parses an `events` field: a non-empty list of event type names, kept in the client's
/// order without duplicates. Missing means `default`.
fn parse_events(
    field: &str,
    raw: Option<Vec<String>>,
    default: &[EventType],
    errors: &mut Vec<FieldError>,
) -> Vec<EventType> {
    let Some(raw) = raw else {
        return default.to_vec();
    };
    if raw.is_empty() {
        errors.push(FieldError::new(field, "must name at least one event type"));
        return Vec::new();
    }
    let mut events = Vec::new();
    for name in raw {
        match name.parse::<EventType>() {
            Ok(kind) if !events.contains(&kind) => events.push(kind),
            Ok(_) => {}
            Err(e) => errors.push(FieldError::new(field, e.0)),
        }
    }
    events
}

fn parse_field<T>(
    field: &str,
    raw: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, InvalidInput>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    raw.and_then(|raw| {
        parse(&raw)
            .map_err(|e| errors.push(FieldError::new(field, e.0)))
            .ok()
    })
}
