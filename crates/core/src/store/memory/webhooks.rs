//! The memory backend's webhook side: subscriptions, the outbox and deliveries, under the
//! store's one mutex.
//!
//! It mirrors the Redis layout. The outbox is a bounded queue of unread entries plus the
//! entries read but not yet expanded (a consumer group's pending list): an entry idle with a
//! reader for [`RECLAIM_AFTER`] goes to the next read, as `XAUTOCLAIM` hands it on. Deliveries
//! are records (their document: the body they send is kept with their job, by event, and goes
//! with it) with a schedule ordered by due time, a per-subscription index for listing (newest
//! first, capped) and an expiry queue for their retention.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::time::Instant;

use std::sync::MutexGuard;

use super::{MAX_SCAN, MemoryStore, Record, State};
use crate::event::Event;
use crate::ids::{DeliveryId, JobId, SubscriptionId, TenantId};
use crate::store::webhooks::{
    DeliveryPage, DeliveryQuery, DeliveryQueueStats, DueDelivery, OutboxEntry, WebhookStore,
};
use crate::store::{StoreConfig, StoreError};
use crate::webhook::{Delivery, JobHook, MAX_SUBSCRIPTIONS, Subscription};

/// How long an outbox entry read but not expanded stays with its reader before another read
/// takes it (the reader died), like the Redis consumer group's reclaim.
pub(super) const RECLAIM_AFTER: Duration = Duration::from_secs(30);

/// An entry read by a notifier and not expanded yet.
struct Pending {
    entry: OutboxEntry,
    read_at: Instant,
}

/// A stored delivery: its document and where it sits on the schedule (`None` once delivered
/// or dead). The body it sends is kept with its job ([`Record`]'s `bodies`).
struct Stored {
    delivery: Delivery,
    due: Option<DateTime<Utc>>,
}

/// Every webhook structure of the memory store.
#[derive(Default)]
pub(super) struct Hooks {
    /// Each tenant's subscriptions by id.
    subscriptions: HashMap<TenantId, BTreeMap<SubscriptionId, Subscription>>,
    /// Entries no notifier has read yet, oldest first, by their number.
    unread: VecDeque<(u64, OutboxEntry)>,
    /// Entries read but not expanded, by their number.
    pending: BTreeMap<u64, Pending>,
    /// The same entries by when they were (last) read, to find the idle ones.
    pending_since: BTreeSet<(Instant, u64)>,
    /// The number of the last entry appended.
    last_entry: u64,
    /// Whether the outbox is dropping entries (warned once until a notifier reads again).
    overflowing: bool,
    deliveries: HashMap<DeliveryId, Stored>,
    /// Scheduled deliveries by due time (leased ones at the end of their lease).
    schedule: BTreeSet<(DateTime<Utc>, DeliveryId)>,
    /// Each subscription's newest deliveries, for listing (ids are time-ordered).
    listed: HashMap<(TenantId, SubscriptionId), BTreeSet<DeliveryId>>,
    /// Deliveries by expiry: insertion-ordered because the retention is fixed.
    expiring: VecDeque<(Instant, DeliveryId)>,
    /// Since when each subscription's endpoint has been failing.
    failing_since: HashMap<(TenantId, SubscriptionId), DateTime<Utc>>,
}

/// `now + d`, saturating.
fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Hooks {
    /// Appends `event` to the outbox when the job's own webhook or one of its tenant's
    /// subscriptions wants it, dropping the oldest entry beyond `max`. Answers whether it
    /// appended.
    pub(super) fn announce(&mut self, hook: Option<&JobHook>, event: &Event, max: usize) -> bool {
        let tenant = &event.job.tenant;
        let wanted = hook.is_some_and(|h| h.wants(event.kind))
            || self.subscriptions.get(tenant).is_some_and(|subs| {
                subs.values()
                    .any(|s| s.wants(event.kind, &event.job.job_type))
            });
        if !wanted {
            return false;
        }
        while self.unread.len() + self.pending.len() >= max.max(1) {
            self.drop_oldest_entry();
        }
        self.last_entry += 1;
        let n = self.last_entry;
        self.unread.push_back((
            n,
            OutboxEntry {
                id: n.to_string(),
                tenant: tenant.clone(),
                event: event.clone(),
                hook: hook.map(JobHook::endpoint),
            },
        ));
        true
    }

    /// Drops the oldest outbox entry, read or not, as a capped stream trims its head.
    fn drop_oldest_entry(&mut self) {
        let oldest_unread = self.unread.front().map(|(n, _)| *n);
        let oldest_pending = self.pending.first_key_value().map(|(n, _)| *n);
        let dropped = match (oldest_unread, oldest_pending) {
            (Some(u), Some(p)) if p < u => self.drop_pending(p),
            (Some(_), _) => self.unread.pop_front().map(|(_, e)| e),
            (None, Some(p)) => self.drop_pending(p),
            (None, None) => None,
        };
        if let Some(entry) = dropped
            && !self.overflowing
        {
            self.overflowing = true;
            tracing::warn!(
                entry = %entry.id,
                job_id = %entry.event.job.id,
                event = %entry.event.kind,
                "the webhook outbox is full: dropping its oldest entries (is the notifier running?)"
            );
        }
    }

    fn drop_pending(&mut self, n: u64) -> Option<OutboxEntry> {
        let pending = self.pending.remove(&n)?;
        self.pending_since.remove(&(pending.read_at, n));
        Some(pending.entry)
    }

    /// Up to `max` entries: first those idle with a reader for `reclaim_after`, then unread
    /// ones. Each is pending with this read until expanded.
    fn read(&mut self, max: usize, now: Instant, reclaim_after: Duration) -> Vec<OutboxEntry> {
        let mut entries = Vec::new();
        let idle: Vec<(Instant, u64)> = self
            .pending_since
            .iter()
            .take_while(|(read_at, _)| now.duration_since(*read_at) >= reclaim_after)
            .take(max)
            .copied()
            .collect();
        for key in idle {
            self.pending_since.remove(&key);
            if let Some(pending) = self.pending.get_mut(&key.1) {
                pending.read_at = now;
                self.pending_since.insert((now, key.1));
                entries.push(pending.entry.clone());
            }
        }
        while entries.len() < max {
            let Some((n, entry)) = self.unread.pop_front() else {
                break;
            };
            entries.push(entry.clone());
            self.pending.insert(
                n,
                Pending {
                    entry,
                    read_at: now,
                },
            );
            self.pending_since.insert((now, n));
        }
        if !entries.is_empty() {
            self.overflowing = false;
        }
        entries
    }

    /// Acknowledges a pending entry; `false` when it was not pending (expanded already).
    fn ack(&mut self, id: &str) -> bool {
        id.parse::<u64>()
            .ok()
            .and_then(|n| self.drop_pending(n))
            .is_some()
    }

    /// Puts the delivery on the schedule at `due`, or takes it off with `None`.
    fn reschedule(&mut self, id: DeliveryId, due: Option<DateTime<Utc>>) {
        let Some(stored) = self.deliveries.get_mut(&id) else {
            return;
        };
        if let Some(old) = stored.due.take() {
            self.schedule.remove(&(old, id));
        }
        if let Some(at) = due {
            self.schedule.insert((at, id));
            stored.due = Some(at);
        }
    }

    /// Stores a new delivery, due at once.
    fn insert(
        &mut self,
        jobs: &mut HashMap<JobId, Box<Record>>,
        delivery: &Delivery,
        body: &Bytes,
        now: (Instant, DateTime<Utc>),
        config: &StoreConfig,
    ) {
        let id = delivery.id;
        let fresh = !self.deliveries.contains_key(&id);
        // The same delivery stored again (a write retried) replaces the first, not adds to it.
        self.reschedule(id, None);
        self.deliveries.insert(
            id,
            Stored {
                delivery: delivery.clone(),
                due: None,
            },
        );
        // The body goes with the job, and with the event out of its history: none for a job
        // that has expired already, or an event its history no longer keeps.
        let history_max = u64::try_from(config.history_max).unwrap_or(u64::MAX);
        if let Some(record) = jobs.get_mut(&delivery.job_id).filter(|r| {
            r.job.tenant == delivery.tenant && delivery.seq > r.job.seq.saturating_sub(history_max)
        }) {
            record.bodies.insert(delivery.seq, body.clone());
        }
        self.reschedule(id, Some(now.1));
        note_hook_status(jobs, delivery);
        if fresh {
            self.expiring
                .push_back((now.0 + config.delivery_retention, id));
        }
        if let Some(subscription) = delivery.subscription {
            let listed = self
                .listed
                .entry((delivery.tenant.clone(), subscription))
                .or_default();
            listed.insert(id);
            // Older records stay readable by id until they expire; they are no longer listed.
            while listed.len() > config.deliveries_listed_max.max(1) {
                listed.pop_first();
            }
        }
    }

    /// Removes deliveries that have outlived their retention.
    pub(super) fn sweep(&mut self, now: Instant) {
        while let Some((at, id)) = self.expiring.front().copied() {
            if at > now {
                break;
            }
            self.expiring.pop_front();
            self.reschedule(id, None);
            if let Some(stored) = self.deliveries.remove(&id)
                && let Some(subscription) = stored.delivery.subscription
            {
                let key = (stored.delivery.tenant, subscription);
                if let Some(listed) = self.listed.get_mut(&key) {
                    listed.remove(&id);
                    if listed.is_empty() {
                        self.listed.remove(&key);
                    }
                }
            }
        }
    }

    fn subscription(&self, tenant: &TenantId, id: &SubscriptionId) -> Option<&Subscription> {
        self.subscriptions.get(tenant).and_then(|subs| subs.get(id))
    }

    /// The tenant's stored delivery.
    fn owned(&mut self, tenant: &TenantId, id: &DeliveryId) -> Option<&mut Stored> {
        self.deliveries
            .get_mut(id)
            .filter(|s| &s.delivery.tenant == tenant)
    }
}

/// Writes a job-hook delivery's state to its job's `webhook` status, unless a delivery of a
/// later event of the job has shown its own already.
fn note_hook_status(jobs: &mut HashMap<JobId, Box<Record>>, delivery: &Delivery) {
    if delivery.subscription.is_some() {
        return;
    }
    if let Some(record) = jobs.get_mut(&delivery.job_id).filter(|r| {
        r.job.tenant == delivery.tenant
            && r.hook.is_some()
            && r.hook_status.is_none_or(|(shown, _)| delivery.seq >= shown)
    }) {
        record.hook_status = Some((delivery.seq, delivery.hook_status()));
    }
}

impl MemoryStore {
    /// The state, with the deliveries that outlived their retention gone (a check of the
    /// expiry queue's head when none did).
    fn lock_swept(&self) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.hooks.sweep(Instant::now());
        state
    }
}

#[async_trait]
impl WebhookStore for MemoryStore {
    async fn put_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let hooks = &mut state.hooks;
        match expected_version {
            None => {
                let subs = hooks
                    .subscriptions
                    .entry(subscription.tenant.clone())
                    .or_default();
                if subs.contains_key(&subscription.id) {
                    return Ok(false);
                }
                if subs.len() >= MAX_SUBSCRIPTIONS {
                    return Err(StoreError::LimitReached(format!(
                        "a tenant may hold at most {MAX_SUBSCRIPTIONS} webhook subscriptions"
                    )));
                }
                subs.insert(subscription.id, subscription.clone());
            }
            Some(version) => {
                let stored = hooks
                    .subscriptions
                    .get_mut(&subscription.tenant)
                    .and_then(|subs| subs.get_mut(&subscription.id));
                match stored {
                    Some(stored) if stored.version == version => {
                        *stored = subscription.clone();
                    }
                    _ => return Ok(false),
                }
            }
        }
        Ok(true)
    }

    async fn subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        Ok(self.lock().hooks.subscription(tenant, id).cloned())
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError> {
        let state = self.lock();
        let mut subs: Vec<Subscription> = state
            .hooks
            .subscriptions
            .get(tenant)
            .map(|subs| subs.values().cloned().collect())
            .unwrap_or_default();
        subs.sort_by_key(|s| (s.created_at, s.id));
        Ok(subs)
    }

    async fn delete_subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let hooks = &mut state.hooks;
        let Some(subs) = hooks.subscriptions.get_mut(tenant) else {
            return Ok(false);
        };
        let removed = subs.remove(id).is_some();
        if subs.is_empty() {
            hooks.subscriptions.remove(tenant);
        }
        hooks.failing_since.remove(&(tenant.clone(), *id));
        Ok(removed)
    }

    async fn read_outbox(
        &self,
        _consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            // Register for a wake-up before looking, so an append in between is not missed.
            let notified = self.outbox_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let entries = self
                .lock()
                .hooks
                .read(max, Instant::now(), self.reclaim_after);
            if !entries.is_empty() || max == 0 {
                return Ok(entries);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn expand(
        &self,
        entry: &OutboxEntry,
        deliveries: &[Delivery],
        body: Bytes,
    ) -> Result<(), StoreError> {
        let mut state = self.lock_swept();
        let now = (Instant::now(), Utc::now());
        let state = &mut *state;
        if !state.hooks.ack(&entry.id) {
            return Ok(());
        }
        for delivery in deliveries {
            state
                .hooks
                .insert(&mut state.jobs, delivery, &body, now, &self.config);
        }
        Ok(())
    }

    async fn enqueue(&self, deliveries: &[(Delivery, Vec<u8>)]) -> Result<(), StoreError> {
        let mut state = self.lock_swept();
        let now = (Instant::now(), Utc::now());
        let state = &mut *state;
        for (delivery, body) in deliveries {
            let body = Bytes::copy_from_slice(body);
            state
                .hooks
                .insert(&mut state.jobs, delivery, &body, now, &self.config);
        }
        Ok(())
    }

    async fn claim_due(&self, max: usize, lease: Duration) -> Result<Vec<DueDelivery>, StoreError> {
        let mut state = self.lock_swept();
        let state = &mut *state;
        let hooks = &mut state.hooks;
        let now = Utc::now();
        let due: Vec<DeliveryId> = hooks
            .schedule
            .iter()
            .take_while(|(at, _)| *at <= now)
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        let leased_until = after(now, lease);
        let mut claimed = Vec::with_capacity(due.len());
        // One copy of each subscription per claim, shared by its deliveries.
        let mut shared: HashMap<SubscriptionId, Arc<Subscription>> = HashMap::new();
        for id in due {
            hooks.reschedule(id, Some(leased_until));
            let Some(stored) = hooks.deliveries.get(&id) else {
                continue;
            };
            let delivery = &stored.delivery;
            let subscription = delivery.subscription.and_then(|id| {
                let sub = hooks.subscription(&delivery.tenant, &id)?;
                Some(Arc::clone(
                    shared.entry(id).or_insert_with(|| Arc::new(sub.clone())),
                ))
            });
            // What is kept with the job: nothing once it has expired.
            let job = state
                .jobs
                .get(&delivery.job_id)
                .filter(|r| r.job.tenant == delivery.tenant);
            claimed.push(DueDelivery {
                delivery: delivery.clone(),
                body: job.and_then(|r| r.bodies.get(&delivery.seq).cloned()),
                subscription,
                job_secret: job
                    .filter(|_| delivery.subscription.is_none())
                    .and_then(|r| r.hook.as_ref())
                    .map(|hook| hook.secret.clone()),
            });
        }
        Ok(claimed)
    }

    async fn defer(&self, id: &DeliveryId, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.lock_swept();
        let hooks = &mut state.hooks;
        // Only a delivery still on the schedule: one recorded meanwhile stays where it is.
        if hooks.deliveries.get(id).is_some_and(|s| s.due.is_some()) {
            hooks.reschedule(*id, Some(at));
        }
        Ok(())
    }

    async fn record(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> Result<bool, StoreError> {
        let mut state = self.lock_swept();
        let state = &mut *state;
        let hooks = &mut state.hooks;
        let Some(stored) = hooks.deliveries.get_mut(&delivery.id) else {
            return Ok(false);
        };
        if stored.delivery.attempt_count != expected_attempts {
            return Ok(false);
        }
        stored.delivery = delivery.clone();
        let due = delivery
            .state
            .is_scheduled()
            .then(|| delivery.next_attempt_at.unwrap_or_else(Utc::now));
        hooks.reschedule(delivery.id, due);
        note_hook_status(&mut state.jobs, delivery);
        Ok(true)
    }

    async fn endpoint_health(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        failed: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut state = self.lock();
        let failing = &mut state.hooks.failing_since;
        let key = (tenant.clone(), *id);
        if failed {
            Ok(Some(*failing.entry(key).or_insert(now)))
        } else {
            failing.remove(&key);
            Ok(None)
        }
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        Ok(self
            .lock_swept()
            .hooks
            .owned(tenant, id)
            .map(|s| s.delivery.clone()))
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        let state = self.lock_swept();
        let hooks = &state.hooks;
        let Some(listed) = hooks.listed.get(&(tenant.clone(), *subscription)) else {
            return Ok(DeliveryPage {
                deliveries: Vec::new(),
                next_cursor: None,
            });
        };
        let upper = query.before.unwrap_or(DeliveryId::MAX);
        // As in job listings: past MAX_SCAN examined deliveries the page ends early, with a
        // cursor to go on from, so a filter that matches little does not hold the lock long.
        let mut deliveries: Vec<Delivery> = Vec::new();
        let mut examined = 0;
        let mut last_examined = None;
        for id in listed.range(..upper).rev() {
            let Some(stored) = hooks.deliveries.get(id) else {
                continue;
            };
            if deliveries.len() == query.limit || examined == MAX_SCAN {
                let next_cursor = if deliveries.len() == query.limit {
                    deliveries.last().map(|d| d.id)
                } else {
                    last_examined
                };
                return Ok(DeliveryPage {
                    deliveries,
                    next_cursor,
                });
            }
            examined += 1;
            last_examined = Some(*id);
            if query.state.is_none_or(|s| stored.delivery.state == s) {
                deliveries.push(stored.delivery.clone());
            }
        }
        Ok(DeliveryPage {
            deliveries,
            next_cursor: None,
        })
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let mut state = self.lock_swept();
        let state = &mut *state;
        let now = Utc::now();
        let Some(stored) = state.hooks.owned(tenant, id) else {
            return Ok(None);
        };
        let retried = stored.delivery.retried(now);
        stored.delivery = retried.clone();
        state.hooks.reschedule(*id, Some(now));
        note_hook_status(&mut state.jobs, &retried);
        Ok(Some(retried))
    }

    async fn delivery_stats(&self) -> Result<DeliveryQueueStats, StoreError> {
        let state = self.lock_swept();
        let schedule = &state.hooks.schedule;
        Ok(DeliveryQueueStats {
            scheduled: u64::try_from(schedule.len()).unwrap_or(u64::MAX),
            oldest_due: schedule.first().map(|(at, _)| *at),
        })
    }
}

#[cfg(test)]
mod tests {
    //! What only the memory backend can show quickly: its reclaim time and exact trimming.

    use serde_json::json;

    use super::*;
    use crate::job::{JobLimits, JobRequest, NewJob};
    use crate::store::Store;
    use crate::webhook::SubscriptionRequest;

    fn store(config: StoreConfig, reclaim_after: Duration) -> MemoryStore {
        let mut store = MemoryStore::new(config);
        store.reclaim_after = reclaim_after;
        store
    }

    async fn subscribe_to_everything(store: &MemoryStore) {
        let request = SubscriptionRequest {
            url: Some("https://subscriber.example/events".to_owned()),
            ..Default::default()
        };
        let sub = Subscription::create(TenantId::default_tenant(), request, Utc::now()).unwrap();
        assert!(store.put_subscription(&sub, None).await.unwrap());
    }

    fn new_job() -> NewJob {
        let request = JobRequest {
            job_type: Some("demo.sleep".to_owned()),
            payload: Some(json!({})),
            ..Default::default()
        };
        NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_entry_read_but_not_expanded_goes_to_a_later_read_once_idle() {
        let store = store(StoreConfig::default(), Duration::from_millis(200));
        subscribe_to_everything(&store).await;
        store.create(new_job()).await.unwrap();
        let short = Duration::from_millis(50);

        let read = store.read_outbox("a", 10, short).await.unwrap();
        assert_eq!(read.len(), 1);
        assert!(store.read_outbox("b", 10, short).await.unwrap().is_empty());
        // Reader `a` died: once the entry was idle long enough, `b` gets it.
        let again = herald_testkit::eventually(
            "the idle entry to be handed out again",
            Duration::from_secs(10),
            || async {
                let again = store.read_outbox("b", 10, short).await.unwrap();
                (!again.is_empty()).then_some(again)
            },
        )
        .await;
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, read[0].id);

        store.expand(&again[0], &[], Bytes::new()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            store.read_outbox("c", 10, short).await.unwrap().is_empty(),
            "an expanded entry is never handed out again"
        );
    }

    #[tokio::test]
    async fn a_full_outbox_drops_its_oldest_entries() {
        let config = StoreConfig {
            outbox_max: 3,
            ..StoreConfig::default()
        };
        let store = store(config, RECLAIM_AFTER);
        subscribe_to_everything(&store).await;
        let mut jobs = Vec::new();
        for _ in 0..5 {
            jobs.push(store.create(new_job()).await.unwrap().job.id);
        }
        let read = store
            .read_outbox("a", 10, Duration::from_millis(50))
            .await
            .unwrap();
        let read: Vec<JobId> = read.iter().map(|e| e.event.job.id).collect();
        assert_eq!(read, jobs[2..]);

        // Entries being expanded count too: the oldest of them go first.
        store.create(new_job()).await.unwrap();
        let state = store.lock();
        assert_eq!(state.hooks.pending.len() + state.hooks.unread.len(), 3);
        assert_eq!(
            state.hooks.pending.keys().copied().collect::<Vec<_>>(),
            [4, 5]
        );
    }
}
