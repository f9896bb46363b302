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

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::event::{Event, EventType};
use crate::ids::{DeliveryId, InvalidInput, JobId, JobType, SubscriptionId, TenantId};
use crate::job::FieldError;
use crate::view::{JobView, format_time};

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

/// Where deliveries go: an absolute `http` or `https` URL with a host and no credentials.
/// Shown as the client wrote it; requests go to its parsed form.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl {
    raw: String,
    url: Url,
}

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    /// # Errors
    /// When `raw` is not an absolute http(s) URL with a host, carries credentials or a
    /// fragment, or is longer than [`WebhookUrl::MAX_LEN`].
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        let url = Url::parse(raw).map_err(|e| InvalidInput(format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidInput("must be an http or https URL".to_owned()));
        }
        if url.host().is_none() {
            return Err(InvalidInput("must name a host".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidInput(
                "must not carry credentials; authenticate deliveries by their signature".to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(InvalidInput("must not have a fragment".to_owned()));
        }
        Ok(Self {
            raw: raw.to_owned(),
            url,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<WebhookUrl> for String {
    fn from(url: WebhookUrl) -> Self {
        url.raw
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.as_str())
    }
}

/// A signing secret. `whsec_<base64>` (the Standard Webhooks form, what Herald generates)
/// signs with the decoded bytes; any other string signs with its UTF-8 bytes. Never printed
/// by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecret(String);

impl WebhookSecret {
    const PREFIX: &'static str = "whsec_";
    const MAX_LEN: usize = 256;

    /// A fresh secret of 32 random bytes (within the Standard Webhooks bounds of 24 to 64),
    /// `whsec_`-prefixed.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        key[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        key[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self(format!("{}{}", Self::PREFIX, BASE64.encode(key)))
    }

    /// Any non-empty string of at most 256 characters without control characters: as the
    /// contract says, `whsec_<base64>` signs with the decoded bytes and anything else
    /// (including a `whsec_` string whose rest is not base64) with its UTF-8 bytes.
    ///
    /// # Errors
    /// An empty or longer secret, or one holding control characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty()
            || raw.chars().count() > Self::MAX_LEN
            || raw.chars().any(char::is_control)
        {
            return Err(InvalidInput(format!(
                "must be 1 to {} characters without control characters (`whsec_` and base64 \
                 signs with the decoded bytes, anything else with its UTF-8 bytes)",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The HMAC key this secret signs with.
    pub fn key(&self) -> Vec<u8> {
        self.0
            .strip_prefix(Self::PREFIX)
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .filter(|key| !key.is_empty())
            .unwrap_or_else(|| self.0.as_bytes().to_vec())
    }

    /// The secret itself, for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebhookSecret {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<WebhookSecret> for String {
    fn from(secret: WebhookSecret) -> Self {
        secret.0
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

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

/// A signing secret replaced by a rotation, still signing until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: WebhookSecret,
    pub expires_at: DateTime<Utc>,
}

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

    /// Whether the event goes to this subscription.
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
            id: DeliveryId::generate(),
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
        let mut next = self.clone();
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
        // Recorded, and counted, as an attempt that failed without a request, so the history
        // says why the delivery died.
        let unsent = Attempt {
            at: now,
            status_code: None,
            duration_ms: 0,
            error: Some(reason.to_owned()),
            response: None,
        };
        self.attempted(unsent, AttemptResult::Dead)
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

    #[test]
    fn a_webhook_url_must_be_absolute_http_without_credentials() {
        assert!(WebhookUrl::parse("https://client.example/hooks?x=1").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/").is_ok());
        let bare = WebhookUrl::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(bare.as_str(), "http://127.0.0.1:9000", "shown as written");
        assert_eq!(bare.url().as_str(), "http://127.0.0.1:9000/");
        for bad in [
            "ftp://client.example/",
            "/relative",
            "https://user:pw@client.example/",
            "https://client.example/#frag",
            "not a url",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://client.example/{}", "a".repeat(2048));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn a_whsec_secret_signs_with_its_decoded_bytes_and_any_other_with_its_text() {
        let generated = WebhookSecret::generate();
        assert!(generated.expose().starts_with("whsec_"));
        assert_eq!(generated.key().len(), 32);
        assert_eq!(WebhookSecret::parse(generated.expose()).unwrap(), generated);
        let plain = WebhookSecret::parse("hunter2").unwrap();
        assert_eq!(plain.key(), b"hunter2");
        let not_base64 = WebhookSecret::parse("whsec_not base64!").unwrap();
        assert_eq!(not_base64.key(), b"whsec_not base64!");
        assert_eq!(
            WebhookSecret::parse("whsec_dGVzdA==").unwrap().key(),
            b"test"
        );
        assert!(WebhookSecret::parse("").is_err());
        assert!(WebhookSecret::parse("tab\there").is_err());
        assert!(WebhookSecret::parse(&"x".repeat(257)).is_err());
        assert_eq!(format!("{generated:?}"), "WebhookSecret(..)");
    }

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

        let every = Subscription::create(
            TenantId::default_tenant(),
            SubscriptionRequest {
                url: Some("https://client.example/h".to_owned()),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        assert_eq!(every.events, EventType::ALL.to_vec());
        assert!(every.wants(EventType::Progress, &sleep));
    }

    #[test]
    fn a_rotated_secret_keeps_signing_until_its_grace_ends() {
        let now = Utc::now();
        let sub = Subscription::create(
            TenantId::default_tenant(),
            SubscriptionRequest {
                url: Some("https://client.example/h".to_owned()),
                ..Default::default()
            },
            now,
        )
        .unwrap();
        let old = sub.secret.clone();
        let new = WebhookSecret::generate();
        let rotated = sub.rotated(new.clone(), Duration::from_secs(60), now);
        assert_eq!(rotated.version, sub.version + 1);
        assert_eq!(rotated.signing_secrets(now), [&new, &old]);
        let later = now + Duration::from_secs(61);
        assert_eq!(rotated.signing_secrets(later), [&new]);
    }

    #[test]
    fn a_delivery_moves_from_pending_to_retrying_to_delivered() {
        let now = Utc::now();
        let hook = JobHook::parse(serde_json::json!({"url": "https://client.example/h"})).unwrap();
        let new = crate::job::NewJob {
            tenant: TenantId::default_tenant(),
            job_type: JobType::parse("demo.sleep").unwrap(),
            payload: serde_json::json!({}),
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            metadata: Default::default(),
            idempotency_key: None,
            webhook: None,
        };
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
