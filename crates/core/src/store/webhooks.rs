//! The webhook side of the store: subscriptions, the outbox of events that some target
//! wants, and deliveries with their schedule, attempts and dead letters.
//!
//! The outbox is written by the job store itself, in the same atomic write as the change it
//! announces, whenever the job's own webhook or one of its tenant's enabled subscriptions
//! wants the event: nothing a target wants is lost between a state change and the notifier.
//! The notifier reads it as a consumer group ([`WebhookStore::read_outbox`]: entries a dead
//! notifier held come back), expands each entry into deliveries and acknowledges it in one
//! write ([`WebhookStore::expand`]), then sends what is due ([`WebhookStore::claim_due`]),
//! recording each attempt ([`WebhookStore::record`]). A claimed delivery is leased: a
//! notifier killed mid-send leaves it to be claimed again when the lease runs out.
//!
//! Nothing of a job outlives its retention here either: a delivery record names its job and
//! event (ids, types, `seq`) but holds no copy of them and no secret. The body it sends is kept
//! with its job, once per event (for the events the job's history keeps), and a job's own
//! webhook's secret is kept once, in the job's record; both expire with the job. A delivery claimed after its job expired comes without a
//! body ([`DueDelivery::body`]): it cannot be sent any more.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::event::Event;
use crate::ids::{DeliveryId, SubscriptionId, TenantId};
use crate::store::StoreError;
use crate::webhook::{Delivery, DeliveryState, JobHookEndpoint, Subscription, WebhookSecret};

/// A webhook store shared by every role of a process.
pub type SharedWebhookStore = Arc<dyn WebhookStore>;

/// An event some target wants, as the outbox holds it.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// The backend's handle on the entry, for [`WebhookStore::expand`].
    pub id: String,
    pub tenant: crate::ids::TenantId,
    pub event: Event,
    /// The job's own webhook, if it has one (its secret stays with the job).
    pub hook: Option<JobHookEndpoint>,
}

/// A delivery handed to a notifier to send now.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery: Delivery,
    /// The request body, the same on every attempt. It is kept with the delivery's job, while
    /// the job's history keeps the event, and expires with it: `None` once the job has expired
    /// (nothing of it may be sent) or has moved on by more events than its history keeps.
    /// Shared, not copied: the deliveries of one event claimed together hold the same bytes.
    pub body: Option<Bytes>,
    /// The delivery's subscription as it is now (`None` for a job's own webhook, or when the
    /// subscription was deleted). Shared: the deliveries of one claim to the same subscription
    /// hold one copy, read and parsed once.
    pub subscription: Option<Arc<Subscription>>,
    /// The secret of the job's own webhook, read from the job (where it is kept once, and
    /// expires with it): `None` for a subscription's delivery, or once the job has expired.
    pub job_secret: Option<WebhookSecret>,
}

/// Filters and paging of a subscription's deliveries (newest first).
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub state: Option<DeliveryState>,
    /// 1 to [`DeliveryQuery::MAX_LIMIT`].
    pub limit: usize,
    /// Only deliveries older than this one (the previous page's `next_cursor`).
    pub before: Option<DeliveryId>,
}

impl DeliveryQuery {
    pub const MAX_LIMIT: usize = 100;
    pub const DEFAULT_LIMIT: usize = 20;
}

/// One page of deliveries; `next_cursor` is set while older ones may remain. With a state
/// filter a page may hold fewer than `limit` (each page examines a bounded number).
#[derive(Debug, Clone)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    pub next_cursor: Option<DeliveryId>,
}

/// The delivery queue at a glance, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryQueueStats {
    /// Deliveries on the schedule (due now or later, or being sent).
    pub scheduled: u64,
    /// When the earliest of them is due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// Subscriptions, the outbox and deliveries.
///
/// # Errors
/// Every method answers [`StoreError::Unavailable`] when the backend cannot be reached and
/// [`StoreError::Backend`] when it fails otherwise; the others are named on each method.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Stores a subscription: a new one when `expected_version` is `None`, else a replacement
    /// of the stored one if its version is still `expected_version`. Answers `false` when
    /// the stored subscription moved on or vanished (re-read and try again).
    ///
    /// # Errors
    /// [`StoreError::LimitReached`] when the tenant holds
    /// [`crate::webhook::MAX_SUBSCRIPTIONS`] already.
    async fn put_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError>;

    /// The tenant's subscription, or `None` (also when it belongs to another tenant).
    async fn subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;

    /// The tenant's subscriptions, oldest first.
    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError>;

    /// Deletes the tenant's subscription; `false` when there was none. Its deliveries stay
    /// listed until they expire; those still scheduled die unsent.
    async fn delete_subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<bool, StoreError>;

    /// Up to `max` outbox entries for `consumer`, waiting up to `wait` for the first: entries
    /// no notifier has read yet, and entries a notifier read but did not expand for a while
    /// (it died).
    async fn read_outbox(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError>;

    /// Stores the deliveries of an outbox entry, due at once, and acknowledges the entry, in
    /// one write. `body` is the event's request body, the same for every delivery: it is
    /// kept once, with the event's job, and expires with it; the delivery records themselves
    /// hold no secret and no copy of the job. Does nothing when the entry was acknowledged
    /// already (by another notifier that reclaimed it), so an entry is expanded exactly once.
    async fn expand(
        &self,
        entry: &OutboxEntry,
        deliveries: &[Delivery],
        body: Bytes,
    ) -> Result<(), StoreError>;

    /// Stores deliveries made outside the outbox (a replay), due at once.
    async fn enqueue(&self, deliveries: &[(Delivery, Vec<u8>)]) -> Result<(), StoreError>;

    /// Takes up to `max` deliveries that are due, leasing each for `lease`: until the lease
    /// runs out, or an attempt is recorded, no other claim returns it.
    async fn claim_due(&self, max: usize, lease: Duration) -> Result<Vec<DueDelivery>, StoreError>;

    /// Hands a claimed delivery back unattempted, due again at `at` (its endpoint is busy).
    async fn defer(&self, id: &DeliveryId, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// Records the delivery's new state after an attempt (or after giving it up): writes the
    /// record, schedules it at `next_attempt_at` or takes it off the schedule, and updates
    /// the job's webhook status when it is the job's own webhook. Answers `false`, writing
    /// nothing, when another notifier recorded an attempt since `expected_attempts` (the
    /// lease ran out and the delivery was claimed again).
    async fn record(&self, delivery: &Delivery, expected_attempts: u32)
    -> Result<bool, StoreError>;

    /// Notes whether the latest attempt to the subscription's endpoint failed; answers since
    /// when it has been failing without a success in between (`None` when it just worked).
    async fn endpoint_health(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        failed: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The tenant's delivery, or `None`.
    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError>;

    /// The subscription's deliveries, newest first.
    async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError>;

    /// Makes the tenant's delivery due at once (one more attempt for a dead or delivered
    /// one). `None` when there is no such delivery.
    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError>;

    /// The delivery queue at a glance.
    async fn delivery_stats(&self) -> Result<DeliveryQueueStats, StoreError>;
}
