//! Deliveries: one event on its way to one target, its attempts and states, the body every
//! attempt sends, and the job resource's glance at its own webhook ([`HookStatus`]).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{JobHookEndpoint, MAX_KEPT_ATTEMPTS, Subscription, WebhookUrl};
use crate::event::{Event, EventType};
use crate::ids::{DeliveryId, InvalidInput, JobId, JobType, SubscriptionId, TenantId};
use crate::view::{JobView, format_time};

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DeliveryState {
    /// Not attempted yet (or asked to be retried by a client).
    Pending,
    /// Failed at least once; the next attempt is scheduled.
    Retrying,
    /// A 2xx answered.
    Delivered,
    /// Every attempt failed, or its subscription was disabled or deleted.
    Dead,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 4] =
        [Self::Pending, Self::Retrying, Self::Delivered, Self::Dead];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Retrying => "retrying",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
        }
    }

    /// Whether the delivery is still on the schedule.
    pub fn is_scheduled(self) -> bool {
        matches!(self, Self::Pending | Self::Retrying)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryState {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| {
                InvalidInput(format!(
                    "`{s}` is not a delivery state (pending, retrying, delivered or dead)"
                ))
            })
    }
}

/// One try at sending a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// What went wrong, in a few words (`None` when delivered).
    pub error: Option<String>,
    /// The start of the endpoint's answer, bounded.
    pub response: Option<String>,
}

/// One event on its way to one target. Its id is the `webhook-id` of every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub tenant: TenantId,
    /// The subscription it goes to; `None` for the job's own webhook.
    pub subscription: Option<SubscriptionId>,
    pub job_id: JobId,
    pub job_type: JobType,
    pub event: EventType,
    pub seq: u64,
    pub url: WebhookUrl,
    // No secret, and no copy of the job: a subscription's secrets are read at send time (so a
    // rotation applies to deliveries already scheduled), a job's own webhook's secret and the
    // body are read from the job, and go with it.
    pub state: DeliveryState,
    /// How many attempts were made (the record keeps the newest [`MAX_KEPT_ATTEMPTS`]).
    pub attempt_count: u32,
    pub attempts: Vec<Attempt>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Delivery {
    /// A pending delivery of `event`, due at once, and the body every attempt will send.
    pub fn new(target: Target<'_>, tenant: &TenantId, event: &Event, now: DateTime<Utc>) -> Self {
        let (subscription, url) = match target {
            Target::Job(hook) => (None, hook.url.clone()),
            Target::Subscription(sub) => (Some(sub.id), sub.url.clone()),
        };
        Self {
            id: DeliveryId::of_job(&event.job.id),
            tenant: tenant.clone(),
            subscription,
            job_id: event.job.id,
            job_type: event.job.job_type.clone(),
            event: event.kind,
            seq: event.seq(),
            url,
            state: DeliveryState::Pending,
            attempt_count: 0,
            attempts: Vec::new(),
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
        }
    }

    /// This delivery after `attempt`: delivered, retried at `retry_at`, or dead.
    pub fn attempted(&self, attempt: Attempt, outcome: AttemptResult) -> Self {
        self.clone().into_attempted(attempt, outcome)
    }

    /// [`Delivery::attempted`], taking the delivery rather than copying it.
    pub fn into_attempted(self, attempt: Attempt, outcome: AttemptResult) -> Self {
        let mut next = self;
        next.updated_at = attempt.at;
        next.attempt_count += 1;
        next.attempts.push(attempt);
        if next.attempts.len() > MAX_KEPT_ATTEMPTS {
            next.attempts.remove(0);
        }
        (next.state, next.next_attempt_at) = match outcome {
            AttemptResult::Delivered => (DeliveryState::Delivered, None),
            AttemptResult::RetryAt(at) => (DeliveryState::Retrying, Some(at)),
            AttemptResult::Dead => (DeliveryState::Dead, None),
        };
        next
    }

    /// This delivery given up unsent (its subscription is gone or disabled): dead, with the
    /// reason as its last attempt.
    pub fn abandoned(&self, reason: &str, now: DateTime<Utc>) -> Self {
        self.clone().into_abandoned(reason, now)
    }

    /// [`Delivery::abandoned`], taking the delivery rather than copying it.
    pub fn into_abandoned(self, reason: &str, now: DateTime<Utc>) -> Self {
        // Recorded, and counted, as an attempt that failed without a request, so the history
        // says why the delivery died.
        let unsent = Attempt {
            at: now,
            status_code: None,
            duration_ms: 0,
            error: Some(reason.to_owned()),
            response: None,
        };
        self.into_attempted(unsent, AttemptResult::Dead)
    }

    /// This delivery due again at once, on a client's request. A dead delivery gets one
    /// more attempt; a scheduled one is moved forward.
    pub fn retried(&self, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        if !next.state.is_scheduled() {
            next.state = DeliveryState::Pending;
        }
        next.next_attempt_at = Some(now);
        next.updated_at = now;
        next
    }

    /// What the job resource shows of its own webhook.
    pub fn hook_status(&self) -> HookStatus {
        HookStatus {
            state: self.state,
            attempts: self.attempt_count,
            next_attempt_at: self.next_attempt_at,
        }
    }
}

/// What an attempt decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

/// A delivery's target.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Job(&'a JobHookEndpoint),
    Subscription(&'a Subscription),
}

/// The targets that want `event`: the job's own webhook, then the tenant's subscriptions.
pub fn targets<'a>(
    event: &Event,
    hook: Option<&'a JobHookEndpoint>,
    subscriptions: &'a [Subscription],
) -> Vec<Target<'a>> {
    let own = hook.filter(|h| h.wants(event.kind)).map(Target::Job);
    let subscribed = subscriptions
        .iter()
        .filter(|s| s.wants(event.kind, &event.job.job_type))
        .map(Target::Subscription);
    own.into_iter().chain(subscribed).collect()
}

/// The job resource's `webhook` field: its own webhook's latest delivery, at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HookStatus {
    pub state: DeliveryState,
    pub attempts: u32,
    #[serde(serialize_with = "rfc3339_opt")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

impl HookStatus {
    /// A job whose webhook has had nothing to send yet.
    pub const WAITING: HookStatus = HookStatus {
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at: None,
    };
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(t)),
        None => s.serialize_none(),
    }
}

/// The body of every delivery of `event`: `{"type", "timestamp", "data": <job resource>}`.
pub fn render_body(event: &Event) -> Vec<u8> {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "type")]
        kind: EventType,
        timestamp: String,
        data: &'a JobView,
    }
    let view = JobView::from(&event.job);
    serde_json::to_vec(&Body {
        kind: event.kind,
        timestamp: format_time(&event.job.updated_at),
        data: &view,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::JobHook;

    #[test]
    fn a_delivery_moves_from_pending_to_retrying_to_delivered() {
        let now = Utc::now();
        let hook = JobHook::parse(serde_json::json!({"url": "https://client.example/h"})).unwrap();
        let new = crate::testing::new_job("demo.sleep");
        let (_, event) = crate::job::Job::create(JobId::generate(), &new, now);
        let delivery = Delivery::new(Target::Job(&hook.endpoint()), &new.tenant, &event, now);
        assert_eq!(delivery.state, DeliveryState::Pending);
        assert_eq!(delivery.next_attempt_at, Some(now));
        let failed = Attempt {
            at: now,
            status_code: Some(500),
            duration_ms: 3,
            error: Some("HTTP 500".to_owned()),
            response: None,
        };
        let retrying = delivery.attempted(failed.clone(), AttemptResult::RetryAt(now));
        assert_eq!(retrying.state, DeliveryState::Retrying);
        let done = retrying.attempted(
            Attempt {
                error: None,
                status_code: Some(200),
                ..failed
            },
            AttemptResult::Delivered,
        );
        assert_eq!(done.hook_status().attempts, 2);
        assert_eq!(done.hook_status().state, DeliveryState::Delivered);
        assert_eq!(done.next_attempt_at, None);
        let unsent = delivery.abandoned("its webhook was deleted", now);
        assert_eq!(
            (unsent.state, unsent.attempt_count, unsent.attempts.len()),
            (DeliveryState::Dead, 1, 1)
        );
        assert_eq!(
            unsent.attempts[0].error.as_deref(),
            Some("its webhook was deleted")
        );

        let body: serde_json::Value = serde_json::from_slice(&render_body(&event)).unwrap();
        assert_eq!(body["type"], "job.pending");
        assert_eq!(body["data"]["id"], event.job.id.to_string());
    }
}
