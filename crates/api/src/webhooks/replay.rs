//! Replay: re-send a window of the tenant's past events to one subscription, as new
//! deliveries (`POST /v1/webhooks/{id}/replay {"since", "until"}`), for an endpoint that was
//! down, misconfigured or just created.
//!
//! The events come from the tenant's feed, the same one `GET /v1/events` pages through: each
//! event's position in its partition is `<ms>-<n>`, the time it was appended, and a read
//! merges the partitions by it, so a window in time is a range of positions in every
//! partition. The feed is capped (100,000 events per tenant by default): a window older than
//! what it still holds replays what is left, and the answer says `missed`. Every event in the
//! window that the subscription wants *now* (its current `events` and `job_types`) becomes a
//! new delivery with a new id, due at once; receivers that deduplicate by the `webhook-id`
//! header see replays as new messages, and the body's `seq` tells which change it is.
//!
//! One request replays at most [`MAX_REPLAY`] deliveries; past that it stops at a millisecond
//! boundary and answers `truncated` with the `next_since` to continue from, so a follow-up
//! request neither skips nor repeats an event.

use chrono::{DateTime, Utc};
use herald_core::view::format_time;
use herald_core::webhook::{Delivery, Target, render_body};
use herald_core::{FeedCursor, FeedPosition, FieldError, SubscriptionId, TenantId};
use serde::{Deserialize, Serialize};

use super::{Webhooks, disabled};
use crate::http::error::ApiError;

/// The most deliveries one replay request creates.
pub const MAX_REPLAY: usize = 10_000;

/// How many feed entries one read of the store asks for.
const READ_BATCH: usize = 500;

/// The body of a replay request, as sent.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Replay the events appended from this time on.
    #[schema(value_type = String, format = DateTime)]
    since: Option<String>,
    /// Up to this time, included; defaults to now (a later time counts as now).
    #[schema(format = DateTime)]
    until: Option<String>,
}

/// The window of a replay: events appended from `since` to `until`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

impl ReplayWindow {
    /// Reads a replay request. `until` defaults to `now`, and a later one is cut to `now`:
    /// events after the request are delivered as they happen, not replayed too.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming a missing `since` and every bad or unknown field.
    pub fn parse(request: ReplayRequest, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        match Self::read(request.since, request.until, now, &mut errors) {
            Some(window) if errors.is_empty() => Ok(window),
            _ => Err(ApiError::Validation(errors)),
        }
    }

    /// The window of a request's `since` and `until`, as [`ReplayWindow::parse`] reads them;
    /// `None`, with every bad field in `errors`, when they make none.
    pub fn read(
        since: Option<String>,
        until: Option<String>,
        now: DateTime<Utc>,
        errors: &mut Vec<FieldError>,
    ) -> Option<Self> {
        let mut time = |field: &str, raw: Option<String>| {
            raw.and_then(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        errors.push(FieldError::new(
                            field,
                            format!("`{raw}` is not an RFC 3339 time: {e}"),
                        ))
                    })
                    .ok()
            })
        };
        let since_given = since.is_some();
        let since = time("since", since);
        let until = time("until", until);
        if !since_given {
            errors.push(FieldError::new("since", "is required"));
        }
        if let (Some(since), Some(until)) = (since, until)
            && since > until
        {
            errors.push(FieldError::new("until", "must not be before `since`"));
            return None;
        }
        since.map(|since| Self {
            since,
            until: until.map_or(now, |until| until.min(now)),
        })
    }

    /// The feed cursor to read after: every partition just before the first millisecond of
    /// the window.
    fn start(&self) -> FeedCursor {
        match u64::try_from(self.since.timestamp_millis()) {
            Ok(ms) if ms > 0 => FeedCursor::everywhere(FeedPosition {
                ms: ms - 1,
                n: u64::MAX,
            }),
            _ => FeedCursor::START,
        }
    }

    /// The last millisecond of the window (`None` when it ends before 1970).
    fn end_ms(&self) -> Option<u64> {
        u64::try_from(self.until.timestamp_millis()).ok()
    }
}

/// What a replay did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// New deliveries created.
    pub replayed: usize,
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
    /// True when the replay stopped at [`MAX_REPLAY`] before the end of the window.
    pub truncated: bool,
    /// When `truncated`: the `since` of the request that continues where this one stopped.
    #[schema(required = true, format = DateTime)]
    pub next_since: Option<String>,
    /// True when the feed no longer holds the start of the window (it is capped): events
    /// older than its oldest were not replayed.
    pub missed: bool,
}

impl Webhooks<'_> {
    /// Re-sends every event of the tenant's feed in `window` that the subscription wants, as
    /// new deliveries due at once.
    ///
    /// # Errors
    /// [`ApiError::NotFound`]; [`ApiError::WebhookConflict`] when the subscription is
    /// disabled; store failures (deliveries enqueued before the failure stay).
    pub async fn replay(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        window: ReplayWindow,
    ) -> Result<Replayed, ApiError> {
        let sub = self.get(tenant, id).await?;
        if !sub.enabled {
            return Err(disabled(&sub));
        }
        let mut answer = Replayed {
            replayed: 0,
            since: format_time(&window.since),
            until: format_time(&window.until),
            truncated: false,
            next_since: None,
            missed: false,
        };
        let Some(end_ms) = window.end_ms().filter(|_| window.since <= window.until) else {
            return Ok(answer);
        };
        let mut after = window.start();
        // The millisecond of the last event replayed: the bound is only checked between
        // milliseconds, so `next_since` (a time) never splits one.
        let mut last_ms = None;
        loop {
            let page = self.store.feed(tenant, &after, READ_BATCH).await?;
            answer.missed |= page.missed;
            if page.entries.is_empty() {
                return Ok(answer);
            }
            let now = Utc::now();
            let mut batch = Vec::new();
            let mut done = false;
            for entry in &page.entries {
                let ms = entry.position.ms;
                if ms > end_ms {
                    done = true;
                    break;
                }
                let event = &entry.event;
                if sub.wants(event.kind, &event.job.job_type) {
                    if answer.replayed >= MAX_REPLAY && last_ms != Some(ms) {
                        answer.truncated = true;
                        answer.next_since = i64::try_from(ms)
                            .ok()
                            .and_then(DateTime::from_timestamp_millis)
                            .map(|t| format_time(&t));
                        done = true;
                        break;
                    }
                    let delivery = Delivery::new(Target::Subscription(&sub), tenant, event, now);
                    batch.push((delivery, render_body(event)));
                    answer.replayed += 1;
                    last_ms = Some(ms);
                }
                after.advance(entry);
            }
            if !batch.is_empty() {
                self.webhooks.enqueue(&batch).await?;
            }
            if done {
                return Ok(answer);
            }
            for &(partition, position) in &page.passed {
                after.pass(partition, position);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::http::body::from_body;

    /// Reads `body` as the handler does: into a request, then into a window.
    fn parse(body: &Value, now: DateTime<Utc>) -> Result<ReplayWindow, ApiError> {
        ReplayWindow::parse(from_body(body).map_err(ApiError::Validation)?, now)
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-01-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn fields(body: Value) -> Vec<String> {
        match parse(&body, now()) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_window_needs_since_and_ends_now_at_the_latest() {
        let window = parse(&json!({"since": "2025-01-01T11:00:00Z"}), now()).unwrap();
        assert_eq!(window.until, now());
        let later = json!({"since": "2025-01-01T11:00:00+01:00", "until": "2030-01-01T00:00:00Z"});
        let window = parse(&later, now()).unwrap();
        assert_eq!(format_time(&window.since), "2025-01-01T10:00:00.000Z");
        assert_eq!(window.until, now());

        assert_eq!(fields(json!({})), ["since"]);
        assert_eq!(fields(json!({"since": "yesterday", "until": 5})), ["until"]);
        assert_eq!(fields(json!({"since": "yesterday"})), ["since"]);
        assert_eq!(
            fields(json!({"since": "2025-01-01T11:00:00Z", "from": 1})),
            ["from"]
        );
    }

    #[test]
    fn a_window_starts_reading_just_before_its_first_millisecond() {
        let window = parse(&json!({"since": "1970-01-01T00:00:00.005Z"}), now()).unwrap();
        let start = window.start();
        assert_eq!(start.position(0).next(), FeedPosition { ms: 5, n: 0 });
        assert_eq!(start.position(7), start.position(0));
        let epoch = parse(&json!({"since": "1960-01-01T00:00:00Z"}), now()).unwrap();
        assert_eq!(epoch.start(), FeedCursor::START);
    }
}
