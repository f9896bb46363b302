//! Webhooks: the outbox every wanted job change writes, expanding it into deliveries,
//! leasing and recording them, the job resource's `webhook` status, retries, listings,
//! subscriptions, endpoint health and queue statistics.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use herald_core::store::StoreError;
use herald_core::store::webhooks::{
    DeliveryPage, DeliveryQuery, DeliveryQueueStats, DueDelivery, OutboxEntry,
};
use herald_core::webhook::{
    Attempt, AttemptResult, Delivery, DeliveryState, HookStatus, JobHook, MAX_SUBSCRIPTIONS,
    Subscription, SubscriptionRequest, Target, render_body, targets,
};
use herald_core::{
    DeliveryId, ErrorCode, Event, EventType, Job, JobError, JobId, NewJob, Progress,
    SubscriptionId, TenantId,
};
use herald_testkit::eventually;
use serde_json::json;

use crate::support::{
    Backend, Harness, job_type, new_job, new_job_with, open, open_default, open_with, other_tenant,
    tenant,
};

herald_testkit::on_every_backend!(
    a_job_with_a_webhook_writes_an_outbox_entry_for_each_event_its_hook_wants_and_no_other,
    an_enabled_subscription_gets_entries_for_its_event_types_from_any_job_of_its_tenant,
    a_disabled_or_deleted_subscription_stops_its_entries,
    another_tenants_subscription_and_jobs_without_targets_write_nothing,
    expand_stores_the_deliveries_due_at_once_with_their_body_and_acknowledges_the_entry,
    expanding_the_same_entry_twice_stores_nothing_more,
    a_claimed_delivery_comes_with_its_subscription_as_it_is_now,
    a_claimed_delivery_is_leased_until_its_lease_runs_out,
    a_recorded_attempt_reschedules_the_delivery_at_its_next_attempt,
    a_record_with_stale_attempts_is_refused_and_writes_nothing,
    a_delivered_or_dead_delivery_is_off_the_schedule,
    the_job_resource_shows_its_own_webhooks_delivery_state,
    a_job_without_a_webhook_shows_no_webhook_status,
    a_delivery_of_an_older_event_does_not_overwrite_the_jobs_webhook_status,
    a_retry_makes_a_dead_delivery_due_again,
    another_tenants_delivery_cannot_be_read_or_retried,
    deliveries_are_listed_newest_first_with_a_state_filter,
    paging_deliveries_with_the_cursor_visits_each_once,
    a_subscription_lists_only_its_newest_deliveries_up_to_the_cap,
    a_delivery_is_forgotten_once_its_retention_ends,
    a_subscription_write_with_a_stale_version_is_refused,
    subscriptions_are_listed_oldest_first_and_deleted_per_tenant,
    a_tenant_holds_at_most_the_maximum_number_of_subscriptions,
    endpoint_health_reports_the_first_failure_until_a_success,
    delivery_stats_count_scheduled_deliveries_and_the_oldest_due,
    a_delivery_claimed_after_its_job_expired_comes_without_its_body_or_secret,
    a_job_keeps_the_bodies_of_its_deliveries_for_the_events_its_history_keeps,
);

const CONSUMER: &str = "conformance";
const HOOK_URL: &str = "https://client.example/hook";
const SUBSCRIBER_URL: &str = "https://subscriber.example/events";

/// A job of `demo.sleep` whose own webhook wants `events` (the default ones when `None`).
fn hooked_job(events: Option<&[&str]>) -> NewJob {
    new_job_with("demo.sleep", json!({}), |request| {
        let mut hook = json!({"url": HOOK_URL});
        if let Some(events) = events {
            hook["events"] = json!(events);
        }
        request.webhook = Some(hook);
    })
}

/// A new subscription of `tenant` to `events` (every event type when `None`).
fn subscription_of(tenant: TenantId, events: Option<&[&str]>) -> Subscription {
    let request = SubscriptionRequest {
        url: Some(SUBSCRIBER_URL.to_owned()),
        events: events.map(|events| events.iter().map(|e| (*e).to_owned()).collect()),
        ..Default::default()
    };
    Subscription::create(tenant, request, Utc::now()).expect("a valid subscription")
}

/// Writes `sub` if the stored one is still at `version` (or, for `None`, if there is none);
/// whether it was written.
async fn put_subscription(h: &Harness, sub: &Subscription, version: Option<u64>) -> bool {
    h.hooks.put_subscription(sub, version).await.unwrap()
}

/// The default tenant's subscription `id`, if it has one.
async fn stored_subscription(h: &Harness, id: &SubscriptionId) -> Option<Subscription> {
    h.hooks.subscription(&tenant(), id).await.unwrap()
}

/// Deletes the default tenant's subscription `id`; whether it had one.
async fn delete_subscription(h: &Harness, id: &SubscriptionId) -> bool {
    h.hooks.delete_subscription(&tenant(), id).await.unwrap()
}

/// The default tenant's delivery `id`, if it has one.
async fn stored_delivery(h: &Harness, id: &DeliveryId) -> Option<Delivery> {
    h.hooks.delivery(&tenant(), id).await.unwrap()
}

/// Makes the default tenant's delivery `id` due again; the delivery, if it has one.
async fn retry_delivery(h: &Harness, id: &DeliveryId) -> Option<Delivery> {
    h.hooks.retry_delivery(&tenant(), id).await.unwrap()
}

async fn subscribe(h: &Harness, tenant: TenantId, events: Option<&[&str]>) -> Subscription {
    let sub = subscription_of(tenant, events);
    assert!(put_subscription(h, &sub, None).await);
    sub
}

/// Claims the one waiting `demo.sleep` job and completes it.
async fn complete_one(h: &Harness) -> Job {
    let claimed = h.claim_one("demo.sleep").await;
    h.store.complete(claimed.lease, None).await.unwrap()
}

/// Reads exactly `n` outbox entries, waiting a generous while for them, then checks no more
/// come.
async fn read_entries(h: &Harness, n: usize) -> Vec<OutboxEntry> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut entries = Vec::new();
    while entries.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} outbox entries, read {entries:?}"
        );
        let read = h
            .hooks
            .read_outbox(CONSUMER, n - entries.len(), Duration::from_secs(5))
            .await
            .unwrap();
        entries.extend(read);
    }
    assert_outbox_empty(h).await;
    entries
}

async fn assert_outbox_empty(h: &Harness) {
    let more = h
        .hooks
        .read_outbox(CONSUMER, 10, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(more.is_empty(), "unexpected outbox entries: {more:?}");
}

fn kinds(entries: &[OutboxEntry]) -> Vec<EventType> {
    entries.iter().map(|e| e.event.kind).collect()
}

/// What a notifier makes of an entry: one delivery per target that wants it.
async fn deliveries_of(h: &Harness, entry: &OutboxEntry) -> Vec<(Delivery, Bytes)> {
    let subs = h.hooks.subscriptions(&entry.tenant).await.unwrap();
    let body = Bytes::from(render_body(&entry.event));
    targets(&entry.event, entry.hook.as_ref(), &subs)
        .into_iter()
        .map(|target| {
            let delivery = Delivery::new(target, &entry.tenant, &entry.event, Utc::now());
            (delivery, body.clone())
        })
        .collect()
}

/// Expands `entry` into `deliveries`, which share one body.
async fn expand(h: &Harness, entry: &OutboxEntry, deliveries: &[(Delivery, Bytes)]) {
    let body = deliveries
        .first()
        .map(|(_, body)| body.clone())
        .unwrap_or_default();
    let deliveries: Vec<Delivery> = deliveries.iter().map(|(d, _)| d.clone()).collect();
    h.hooks.expand(entry, &deliveries, body).await.unwrap();
}

/// Expands every entry into its deliveries; answers what was stored.
async fn expand_all(h: &Harness, entries: &[OutboxEntry]) -> Vec<(Delivery, Bytes)> {
    let mut stored = Vec::new();
    for entry in entries {
        let deliveries = deliveries_of(h, entry).await;
        expand(h, entry, &deliveries).await;
        stored.extend(deliveries);
    }
    stored
}

/// A hooked job completed and its one delivery expanded: the delivery.
async fn one_job_hook_delivery(h: &Harness) -> (Job, Delivery) {
    let job = h.create(hooked_job(None)).await;
    complete_one(h).await;
    let entries = read_entries(h, 1).await;
    let mut stored = expand_all(h, &entries).await;
    assert_eq!(stored.len(), 1);
    (job, stored.remove(0).0)
}

async fn claim_due(h: &Harness, lease: Duration) -> Vec<DueDelivery> {
    h.hooks.claim_due(10, lease).await.unwrap()
}

fn ids(due: &[DueDelivery]) -> HashSet<DeliveryId> {
    due.iter().map(|d| d.delivery.id).collect()
}

/// `t` cut to whole milliseconds, the precision both backends keep.
fn whole_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).expect("a representable time")
}

fn failed_attempt() -> Attempt {
    Attempt {
        at: whole_ms(Utc::now()),
        status_code: Some(500),
        duration_ms: 12,
        error: Some("HTTP 500".to_owned()),
        response: Some("oops".to_owned()),
    }
}

fn successful_attempt() -> Attempt {
    Attempt {
        at: whole_ms(Utc::now()),
        status_code: Some(200),
        duration_ms: 7,
        error: None,
        response: None,
    }
}

/// A pending event of a job that is not stored (deliveries do not need it to be).
fn some_event() -> Event {
    Job::create(
        JobId::generate(),
        &new_job("demo.sleep", json!({})),
        Utc::now(),
    )
    .1
}

/// Stores `n` deliveries to `sub` outside the outbox, oldest first.
async fn enqueue_to(h: &Harness, sub: &Subscription, n: usize) -> Vec<Delivery> {
    let mut deliveries = Vec::new();
    for _ in 0..n {
        let event = some_event();
        let delivery = Delivery::new(Target::Subscription(sub), &sub.tenant, &event, Utc::now());
        h.hooks
            .enqueue(&[(delivery.clone(), render_body(&event))])
            .await
            .unwrap();
        deliveries.push(delivery);
    }
    deliveries
}

async fn a_job_with_a_webhook_writes_an_outbox_entry_for_each_event_its_hook_wants_and_no_other(
    backend: Backend,
) {
    let h = open_default(backend).await;
    let new = hooked_job(None);
    let hook = new.webhook.clone();
    let job = h.create(new).await;
    complete_one(&h).await;
    let entries = read_entries(&h, 1).await;
    assert_eq!(kinds(&entries), [EventType::Completed]);
    assert_eq!(entries[0].tenant, tenant());
    assert_eq!(entries[0].event.job.id, job.id);
    assert_eq!(
        entries[0].hook,
        hook.as_ref().map(JobHook::endpoint),
        "its URL and events, not its secret"
    );
    assert!(
        entries[0].event.job.webhook.is_none(),
        "an event's snapshot carries no webhook status"
    );

    // A hook that names its events gets those, the non-terminal ones too.
    let picky = h
        .create(hooked_job(Some(&["job.pending", "job.failed"])))
        .await;
    let claimed = h.claim_one("demo.sleep").await;
    h.store
        .fail(
            claimed.lease,
            JobError::new(ErrorCode::HandlerError, "boom"),
            None,
        )
        .await
        .unwrap();
    let entries = read_entries(&h, 2).await;
    assert_eq!(kinds(&entries), [EventType::Pending, EventType::Failed]);
    assert!(entries.iter().all(|e| e.event.job.id == picky.id));
}

async fn an_enabled_subscription_gets_entries_for_its_event_types_from_any_job_of_its_tenant(
    backend: Backend,
) {
    let h = open_default(backend).await;
    subscribe(&h, tenant(), Some(&["job.completed"])).await;
    let first = h.create(new_job("demo.sleep", json!({}))).await;
    let second = h.create(new_job("demo.sleep", json!({}))).await;
    complete_one(&h).await;
    complete_one(&h).await;
    let entries = read_entries(&h, 2).await;
    assert_eq!(
        kinds(&entries),
        [EventType::Completed, EventType::Completed]
    );
    let jobs: HashSet<JobId> = entries.iter().map(|e| e.event.job.id).collect();
    assert_eq!(jobs, HashSet::from([first.id, second.id]));
    assert!(entries.iter().all(|e| e.hook.is_none()));
}

async fn a_disabled_or_deleted_subscription_stops_its_entries(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), Some(&["job.completed"])).await;
    let disabled = sub.disabled("disabled by a client", Utc::now());
    assert!(put_subscription(&h, &disabled, Some(sub.version)).await);
    h.create(new_job("demo.sleep", json!({}))).await;
    complete_one(&h).await;
    assert_outbox_empty(&h).await;

    let other = subscribe(&h, tenant(), Some(&["job.completed"])).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    complete_one(&h).await;
    assert_eq!(kinds(&read_entries(&h, 1).await), [EventType::Completed]);

    assert!(delete_subscription(&h, &other.id).await);
    h.create(new_job("demo.sleep", json!({}))).await;
    complete_one(&h).await;
    assert_outbox_empty(&h).await;
}

async fn another_tenants_subscription_and_jobs_without_targets_write_nothing(backend: Backend) {
    let h = open_default(backend).await;
    subscribe(&h, other_tenant(), None).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let canceled = h.create(new_job("demo.sleep", json!({}))).await;
    complete_one(&h).await;
    h.store.cancel(&tenant(), &canceled.id).await.unwrap();
    assert_outbox_empty(&h).await;
}

async fn expand_stores_the_deliveries_due_at_once_with_their_body_and_acknowledges_the_entry(
    backend: Backend,
) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), Some(&["job.completed"])).await;
    let new = hooked_job(None);
    let secret = new.webhook.as_ref().map(|hook| hook.secret.clone());
    let job = h.create(new).await;
    complete_one(&h).await;
    let entries = read_entries(&h, 1).await;
    let stored = expand_all(&h, &entries).await;
    assert_eq!(
        stored.len(),
        2,
        "one to the job's hook, one to the subscription"
    );

    let due = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(due.len(), 2);
    for (delivery, body) in &stored {
        let claimed = due
            .iter()
            .find(|d| d.delivery.id == delivery.id)
            .expect("every stored delivery is due at once");
        assert_eq!(&claimed.delivery, delivery);
        assert_eq!(claimed.body.as_ref(), Some(body));
        assert_eq!(claimed.delivery.job_id, job.id);
        assert_eq!(claimed.delivery.event, EventType::Completed);
        match delivery.subscription {
            None => {
                assert!(claimed.subscription.is_none());
                assert_eq!(claimed.delivery.url.as_str(), HOOK_URL);
                assert_eq!(claimed.job_secret, secret, "read from its job");
            }
            Some(id) => {
                assert_eq!(id, sub.id);
                assert_eq!(claimed.subscription.as_deref(), Some(&sub));
                assert_eq!(claimed.job_secret, None);
            }
        }
        let read = stored_delivery(&h, &delivery.id).await;
        assert_eq!(read.as_ref(), Some(delivery));
    }
    let body: serde_json::Value =
        serde_json::from_slice(due[0].body.as_deref().unwrap_or_default()).unwrap();
    assert_eq!(body["type"], "job.completed");
    assert_eq!(body["data"]["id"], job.id.to_string());
    // Acknowledged: no read hands the entry out again.
    assert_outbox_empty(&h).await;
}

async fn expanding_the_same_entry_twice_stores_nothing_more(backend: Backend) {
    let h = open_default(backend).await;
    h.create(hooked_job(None)).await;
    complete_one(&h).await;
    let entries = read_entries(&h, 1).await;
    expand_all(&h, &entries).await;
    // A second notifier that reclaimed the entry expands it again, with deliveries of its own.
    let again = deliveries_of(&h, &entries[0]).await;
    assert_eq!(again.len(), 1);
    expand(&h, &entries[0], &again).await;

    let stats = h.hooks.delivery_stats().await.unwrap();
    assert_eq!(stats.scheduled, 1);
    assert_eq!(claim_due(&h, Duration::from_secs(30)).await.len(), 1);
    assert!(stored_delivery(&h, &again[0].0.id).await.is_none());
}

async fn a_claimed_delivery_comes_with_its_subscription_as_it_is_now(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    let gone = subscribe(&h, tenant(), None).await;
    let kept = enqueue_to(&h, &sub, 1).await.remove(0);
    let orphan = enqueue_to(&h, &gone, 1).await.remove(0);

    let patched = sub
        .patched(
            SubscriptionRequest {
                url: Some("https://moved.example/events".to_owned()),
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap();
    assert!(put_subscription(&h, &patched, Some(sub.version)).await);
    assert!(delete_subscription(&h, &gone.id).await);

    let due = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(due.len(), 2);
    for claimed in due {
        if claimed.delivery.id == kept.id {
            assert_eq!(claimed.subscription.as_deref(), Some(&patched));
        } else {
            assert_eq!(claimed.delivery.id, orphan.id);
            assert!(
                claimed.subscription.is_none(),
                "its subscription was deleted"
            );
        }
    }
}

async fn a_claimed_delivery_is_leased_until_its_lease_runs_out(backend: Backend) {
    let h = open_default(backend).await;
    let (_, delivery) = one_job_hook_delivery(&h).await;
    let lease = Duration::from_secs(1);
    let first = claim_due(&h, lease).await;
    assert_eq!(ids(&first), HashSet::from([delivery.id]));
    assert!(
        claim_due(&h, lease).await.is_empty(),
        "a leased delivery is not claimed twice"
    );
    // The notifier that claimed it was killed mid-send: once the lease runs out it comes back.
    let again = claim_eventually(&h, "the delivery to come back once its lease ran out").await;
    assert_eq!(ids(&again), HashSet::from([delivery.id]));
    assert_eq!(again[0].delivery, delivery);
}

/// Claims until something is due (a lease ran out, a retry came due), within a bound.
async fn claim_eventually(h: &Harness, what: &str) -> Vec<DueDelivery> {
    eventually(what, Duration::from_secs(15), || async {
        let due = claim_due(h, Duration::from_secs(30)).await;
        (!due.is_empty()).then_some(due)
    })
    .await
}

async fn a_recorded_attempt_reschedules_the_delivery_at_its_next_attempt(backend: Backend) {
    let h = open_default(backend).await;
    let (_, delivery) = one_job_hook_delivery(&h).await;
    assert_eq!(claim_due(&h, Duration::from_secs(30)).await.len(), 1);

    let retry_at = whole_ms(Utc::now() + TimeDelta::milliseconds(2000));
    let retrying = delivery.attempted(failed_attempt(), AttemptResult::RetryAt(retry_at));
    assert!(h.hooks.record(&retrying, 0).await.unwrap());
    let stored = stored_delivery(&h, &delivery.id)
        .await
        .expect("the delivery is stored");
    assert_eq!(stored, retrying);
    assert_eq!(
        (stored.state, stored.attempt_count, stored.attempts.len()),
        (DeliveryState::Retrying, 1, 1)
    );
    assert_eq!(stored.attempts[0].status_code, Some(500));

    assert!(
        claim_due(&h, Duration::from_secs(30)).await.is_empty(),
        "not claimable before its next attempt"
    );
    let due = claim_eventually(&h, "the delivery to be due at its next attempt").await;
    assert!(Utc::now() >= retry_at);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery, retrying);
}

async fn a_record_with_stale_attempts_is_refused_and_writes_nothing(backend: Backend) {
    let h = open_default(backend).await;
    let (_, delivery) = one_job_hook_delivery(&h).await;
    claim_due(&h, Duration::from_secs(30)).await;
    let later = whole_ms(Utc::now() + TimeDelta::hours(1));
    let first = delivery.attempted(failed_attempt(), AttemptResult::RetryAt(later));
    assert!(h.hooks.record(&first, 0).await.unwrap());

    // A second notifier claimed it after the first one's lease ran out, and both record.
    let stale = delivery.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(!h.hooks.record(&stale, 0).await.unwrap());
    let stored = stored_delivery(&h, &delivery.id).await;
    assert_eq!(stored, Some(first.clone()));
    let stats = h.hooks.delivery_stats().await.unwrap();
    assert_eq!(stats.scheduled, 1, "still on the schedule");
    assert_eq!(stats.oldest_due, Some(later));

    let done = first.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&done, 1).await.unwrap());
    assert_eq!(stored_delivery(&h, &delivery.id).await, Some(done));
}

async fn a_delivered_or_dead_delivery_is_off_the_schedule(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    let deliveries = enqueue_to(&h, &sub, 3).await;
    assert_eq!(h.hooks.delivery_stats().await.unwrap().scheduled, 3);
    let claimed = claim_due(&h, Duration::from_millis(500)).await;
    assert_eq!(claimed.len(), 3);

    let delivered = deliveries[0].attempted(successful_attempt(), AttemptResult::Delivered);
    let dead = deliveries[1].attempted(failed_attempt(), AttemptResult::Dead);
    let abandoned = deliveries[2].abandoned("its subscription was deleted", Utc::now());
    assert!(h.hooks.record(&delivered, 0).await.unwrap());
    assert!(h.hooks.record(&dead, 0).await.unwrap());
    assert!(h.hooks.record(&abandoned, 0).await.unwrap());

    assert_eq!(
        h.hooks.delivery_stats().await.unwrap(),
        DeliveryQueueStats {
            scheduled: 0,
            oldest_due: None
        }
    );
    // Even once their short lease has run out, none comes back.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(claim_due(&h, Duration::from_secs(30)).await.is_empty());
    let mut states = Vec::new();
    for d in [&delivered, &dead, &abandoned] {
        let stored = stored_delivery(&h, &d.id).await;
        states.push(stored.map(|d| d.state));
    }
    assert_eq!(
        states,
        [
            Some(DeliveryState::Delivered),
            Some(DeliveryState::Dead),
            Some(DeliveryState::Dead)
        ]
    );
}

async fn the_job_resource_shows_its_own_webhooks_delivery_state(backend: Backend) {
    let h = open_default(backend).await;
    // A subscription's deliveries do not touch the job's own status.
    subscribe(&h, tenant(), None).await;
    let created = h.create(hooked_job(None)).await;
    assert_eq!(created.webhook, Some(HookStatus::WAITING));
    assert_eq!(h.get(&created).await.webhook, Some(HookStatus::WAITING));

    let job = complete_one(&h).await;
    // pending, processing, completed to the subscription; completed to the hook too.
    let entries = read_entries(&h, 3).await;
    let stored = expand_all(&h, &entries).await;
    assert_eq!(stored.len(), 4);
    let (own, _) = stored
        .iter()
        .find(|(d, _)| d.subscription.is_none())
        .expect("a delivery to the job's own webhook");
    let pending = h.get(&job).await.webhook.expect("a webhook status");
    assert_eq!(
        (pending.state, pending.attempts),
        (DeliveryState::Pending, 0)
    );

    // The subscription's deliveries are attempted and fail; the job's status does not move.
    let due = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(due.len(), 4);
    for claimed in due.iter().filter(|d| d.delivery.subscription.is_some()) {
        let dead = claimed
            .delivery
            .attempted(failed_attempt(), AttemptResult::Dead);
        assert!(h.hooks.record(&dead, 0).await.unwrap());
    }
    assert_eq!(h.get(&job).await.webhook, Some(pending));

    let retry_at = whole_ms(Utc::now() + TimeDelta::minutes(5));
    let retrying = own.attempted(failed_attempt(), AttemptResult::RetryAt(retry_at));
    assert!(h.hooks.record(&retrying, 0).await.unwrap());
    let expected = HookStatus {
        state: DeliveryState::Retrying,
        attempts: 1,
        next_attempt_at: Some(retry_at),
    };
    assert_eq!(h.get(&job).await.webhook, Some(expected));
    let listed = h
        .store
        .list(
            &tenant(),
            &herald_core::store::ListQuery {
                status: None,
                job_type: None,
                limit: 10,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.jobs[0].webhook, Some(expected));

    let delivered = retrying.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&delivered, 1).await.unwrap());
    assert_eq!(
        h.get(&job).await.webhook,
        Some(HookStatus {
            state: DeliveryState::Delivered,
            attempts: 2,
            next_attempt_at: None,
        })
    );
    // The status never leaks into the job's history.
    let history = h.store.history(&tenant(), &job.id, 0).await.unwrap();
    assert!(history.iter().all(|e| e.job.webhook.is_none()));
}

async fn a_delivery_of_an_older_event_does_not_overwrite_the_jobs_webhook_status(backend: Backend) {
    let h = open_default(backend).await;
    h.create(hooked_job(Some(&["job.processing", "job.completed"])))
        .await;
    let job = complete_one(&h).await;
    let entries = read_entries(&h, 2).await;
    let stored = expand_all(&h, &entries).await;
    let of = |kind: EventType| {
        stored
            .iter()
            .map(|(d, _)| d)
            .find(|d| d.event == kind)
            .expect("a delivery of each event")
    };
    let (processing, completed) = (of(EventType::Processing), of(EventType::Completed));

    let delivered = completed.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&delivered, 0).await.unwrap());
    let dead = processing.attempted(failed_attempt(), AttemptResult::Dead);
    assert!(h.hooks.record(&dead, 0).await.unwrap());

    let shown = h.get(&job).await.webhook.expect("a webhook status");
    assert_eq!(
        (shown.state, shown.attempts),
        (DeliveryState::Delivered, 1),
        "the completed event's delivery stays shown"
    );
}

async fn a_job_without_a_webhook_shows_no_webhook_status(backend: Backend) {
    let h = open_default(backend).await;
    subscribe(&h, tenant(), None).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    assert_eq!(job.webhook, None);
    let done = complete_one(&h).await;
    let entries = read_entries(&h, 3).await;
    expand_all(&h, &entries).await;
    for claimed in claim_due(&h, Duration::from_secs(30)).await {
        let delivered = claimed
            .delivery
            .attempted(successful_attempt(), AttemptResult::Delivered);
        assert!(h.hooks.record(&delivered, 0).await.unwrap());
    }
    assert_eq!(h.get(&done).await.webhook, None);
}

async fn a_retry_makes_a_dead_delivery_due_again(backend: Backend) {
    let h = open_default(backend).await;
    let (job, delivery) = one_job_hook_delivery(&h).await;
    claim_due(&h, Duration::from_secs(30)).await;
    let dead = delivery.attempted(failed_attempt(), AttemptResult::Dead);
    assert!(h.hooks.record(&dead, 0).await.unwrap());
    assert!(claim_due(&h, Duration::from_secs(30)).await.is_empty());
    assert_eq!(
        h.get(&job).await.webhook.map(|s| s.state),
        Some(DeliveryState::Dead)
    );

    let retried = retry_delivery(&h, &delivery.id)
        .await
        .expect("the delivery exists");
    assert_eq!(retried.state, DeliveryState::Pending);
    assert_eq!(retried.attempt_count, 1, "its attempts are kept");
    assert!(retried.next_attempt_at.is_some());
    assert_eq!(
        stored_delivery(&h, &delivery.id).await,
        Some(retried.clone())
    );
    assert_eq!(
        h.get(&job).await.webhook.map(|s| (s.state, s.attempts)),
        Some((DeliveryState::Pending, 1))
    );
    let due = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(ids(&due), HashSet::from([delivery.id]));
    // One more attempt, recorded against the attempts it had.
    let delivered = retried.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&delivered, 1).await.unwrap());
}

async fn another_tenants_delivery_cannot_be_read_or_retried(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    // More than one listing page examines, so a page cut short would show a cursor.
    let delivery = enqueue_to(&h, &sub, 600).await.remove(0);
    let (hooks, other, id) = (&h.hooks, other_tenant(), &delivery.id);
    assert!(hooks.delivery(&other, id).await.unwrap().is_none());
    assert!(hooks.retry_delivery(&other, id).await.unwrap().is_none());
    assert!(retry_delivery(&h, &DeliveryId::generate()).await.is_none());
    let page = hooks.deliveries(&other, &sub.id, &query(10)).await.unwrap();
    assert!(page.deliveries.is_empty());
    assert!(page.next_cursor.is_none());
    assert!(hooks.subscription(&other, &sub.id).await.unwrap().is_none());
}

fn query(limit: usize) -> DeliveryQuery {
    DeliveryQuery {
        state: None,
        limit,
        before: None,
    }
}

fn delivery_ids(deliveries: &[Delivery]) -> Vec<DeliveryId> {
    deliveries.iter().map(|d| d.id).collect()
}

/// The ids of `deliveries`, newest first (ids grow with time).
fn newest_first(deliveries: &[Delivery]) -> Vec<DeliveryId> {
    let mut ids = delivery_ids(deliveries);
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

/// The first page, of up to ten, of the deliveries of `sub`.
async fn first_page(h: &Harness, sub: &Subscription) -> DeliveryPage {
    h.hooks
        .deliveries(&tenant(), &sub.id, &query(10))
        .await
        .unwrap()
}

async fn deliveries_are_listed_newest_first_with_a_state_filter(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    let elsewhere = subscribe(&h, tenant(), None).await;
    let deliveries = enqueue_to(&h, &sub, 5).await;
    enqueue_to(&h, &elsewhere, 2).await;
    claim_due(&h, Duration::from_secs(30)).await;
    for d in &deliveries[..2] {
        let dead = d.attempted(failed_attempt(), AttemptResult::Dead);
        assert!(h.hooks.record(&dead, 0).await.unwrap());
    }

    let newest_first = newest_first(&deliveries);
    let page = first_page(&h, &sub).await;
    assert_eq!(delivery_ids(&page.deliveries), newest_first);
    assert!(page.next_cursor.is_none());
    assert_eq!(
        page.deliveries.last().map(|d| d.state),
        Some(DeliveryState::Dead)
    );

    let dead = h
        .hooks
        .deliveries(
            &tenant(),
            &sub.id,
            &DeliveryQuery {
                state: Some(DeliveryState::Dead),
                ..query(10)
            },
        )
        .await
        .unwrap();
    let mut expected = delivery_ids(&deliveries[..2]);
    expected.reverse();
    assert_eq!(delivery_ids(&dead.deliveries), expected);
    assert!(dead.deliveries.iter().all(|d| d.attempt_count == 1));

    let pending = h
        .hooks
        .deliveries(
            &tenant(),
            &sub.id,
            &DeliveryQuery {
                state: Some(DeliveryState::Pending),
                ..query(10)
            },
        )
        .await
        .unwrap();
    assert_eq!(pending.deliveries.len(), 3);
    assert!(
        pending
            .deliveries
            .iter()
            .all(|d| d.state == DeliveryState::Pending)
    );
}

async fn paging_deliveries_with_the_cursor_visits_each_once(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    let deliveries = enqueue_to(&h, &sub, 7).await;
    let newest_first = newest_first(&deliveries);

    let mut seen = Vec::new();
    let mut before = None;
    for _ in 0..10 {
        let page = h
            .hooks
            .deliveries(&tenant(), &sub.id, &DeliveryQuery { before, ..query(3) })
            .await
            .unwrap();
        assert!(page.deliveries.len() <= 3);
        seen.extend(delivery_ids(&page.deliveries));
        match page.next_cursor {
            Some(cursor) => before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, newest_first, "every delivery once, newest first");
}

async fn a_subscription_lists_only_its_newest_deliveries_up_to_the_cap(backend: Backend) {
    let h = open_with(backend, |c| c.deliveries_listed_max = 3).await;
    let sub = subscribe(&h, tenant(), None).await;
    let deliveries = enqueue_to(&h, &sub, 5).await;
    let newest_first = newest_first(&deliveries);
    let page = first_page(&h, &sub).await;
    if h.backend.partitioned() {
        // Each partition lists its share of the cap, its newest.
        let listed = delivery_ids(&page.deliveries);
        assert!(listed.len() <= h.bound_of(3) && listed[0] == newest_first[0]);
        assert!(listed.iter().all(|id| newest_first.contains(id)));
    } else {
        assert_eq!(delivery_ids(&page.deliveries), newest_first[..3]);
    }
    assert!(page.next_cursor.is_none());
}

async fn a_delivery_is_forgotten_once_its_retention_ends(backend: Backend) {
    let h = open_with(backend, |c| c.delivery_retention = Duration::from_secs(1)).await;
    let sub = subscribe(&h, tenant(), None).await;
    let delivery = enqueue_to(&h, &sub, 1).await.remove(0);
    claim_due(&h, Duration::from_secs(30)).await;
    let delivered = delivery.attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&delivered, 0).await.unwrap());
    assert!(stored_delivery(&h, &delivery.id).await.is_some());
    eventually(
        "the delivery to expire",
        Duration::from_secs(15),
        || async {
            let gone = stored_delivery(&h, &delivery.id).await.is_none();
            let unlisted = h
                .hooks
                .deliveries(&tenant(), &sub.id, &query(10))
                .await
                .unwrap()
                .deliveries
                .is_empty();
            (gone && unlisted).then_some(())
        },
    )
    .await;
    assert!(retry_delivery(&h, &delivery.id).await.is_none());
}

async fn a_subscription_write_with_a_stale_version_is_refused(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), Some(&["job.completed"])).await;
    assert_eq!(stored_subscription(&h, &sub.id).await, Some(sub.clone()));

    let change = |url: &str| SubscriptionRequest {
        url: Some(url.to_owned()),
        ..Default::default()
    };
    let first = sub
        .patched(change("https://first.example/"), Utc::now())
        .unwrap();
    let second = sub
        .patched(change("https://second.example/"), Utc::now())
        .unwrap();
    assert!(put_subscription(&h, &first, Some(sub.version)).await);
    assert!(
        !put_subscription(&h, &second, Some(sub.version)).await,
        "computed from a version that moved on"
    );
    assert_eq!(stored_subscription(&h, &sub.id).await, Some(first.clone()));

    let missing = subscription_of(tenant(), None);
    assert!(!put_subscription(&h, &missing, Some(1)).await);
    assert!(stored_subscription(&h, &missing.id).await.is_none());
}

async fn subscriptions_are_listed_oldest_first_and_deleted_per_tenant(backend: Backend) {
    let h = open_default(backend).await;
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(subscribe(&h, tenant(), None).await);
    }
    let theirs = subscribe(&h, other_tenant(), None).await;
    assert_eq!(h.hooks.subscriptions(&tenant()).await.unwrap(), created);
    assert_eq!(
        h.hooks.subscriptions(&other_tenant()).await.unwrap(),
        vec![theirs.clone()]
    );

    assert!(
        !delete_subscription(&h, &theirs.id).await,
        "another tenant's subscription"
    );
    assert!(delete_subscription(&h, &created[1].id).await);
    assert!(!delete_subscription(&h, &created[1].id).await);
    assert!(stored_subscription(&h, &created[1].id).await.is_none());
    assert_eq!(
        h.hooks.subscriptions(&tenant()).await.unwrap(),
        [created[0].clone(), created[2].clone()]
    );
    assert!(
        h.hooks
            .subscription(&other_tenant(), &theirs.id)
            .await
            .unwrap()
            .is_some()
    );
}

async fn a_tenant_holds_at_most_the_maximum_number_of_subscriptions(backend: Backend) {
    let h = open_default(backend).await;
    let writes = (0..MAX_SUBSCRIPTIONS).map(|_| {
        let hooks = &h.hooks;
        async move {
            let sub = subscription_of(tenant(), None);
            hooks.put_subscription(&sub, None).await.unwrap();
            sub
        }
    });
    let created = futures_util::future::join_all(writes).await;
    assert_eq!(
        h.hooks.subscriptions(&tenant()).await.unwrap().len(),
        MAX_SUBSCRIPTIONS
    );

    let one_too_many = subscription_of(tenant(), None);
    assert!(matches!(
        h.hooks.put_subscription(&one_too_many, None).await,
        Err(StoreError::LimitReached(_))
    ));
    // Changing one is still allowed, and the limit is the tenant's own.
    let disabled = created[0].disabled("disabled by a client", Utc::now());
    assert!(
        h.hooks
            .put_subscription(&disabled, Some(created[0].version))
            .await
            .unwrap()
    );
    subscribe(&h, other_tenant(), None).await;

    assert!(delete_subscription(&h, &created[1].id).await);
    assert!(put_subscription(&h, &one_too_many, None).await);
}

async fn endpoint_health_reports_the_first_failure_until_a_success(backend: Backend) {
    let h = open_default(backend).await;
    let sub = subscribe(&h, tenant(), None).await;
    let t0 = whole_ms(Utc::now());
    let health = |failed: bool, at: DateTime<Utc>| {
        let hooks = &h.hooks;
        let id = sub.id;
        async move {
            hooks
                .endpoint_health(&tenant(), &id, failed, at)
                .await
                .unwrap()
        }
    };
    assert_eq!(health(true, t0).await, Some(t0));
    assert_eq!(health(true, t0 + TimeDelta::hours(1)).await, Some(t0));
    assert_eq!(health(true, t0 + TimeDelta::days(2)).await, Some(t0));
    assert_eq!(health(false, t0 + TimeDelta::days(3)).await, None);
    let again = t0 + TimeDelta::days(4);
    assert_eq!(health(true, again).await, Some(again));

    // Another subscription's endpoint has its own record.
    let other = subscribe(&h, tenant(), None).await;
    assert_eq!(
        h.hooks
            .endpoint_health(&tenant(), &other.id, false, again)
            .await
            .unwrap(),
        None
    );
    assert_eq!(health(true, again + TimeDelta::hours(1)).await, Some(again));
}

async fn delivery_stats_count_scheduled_deliveries_and_the_oldest_due(backend: Backend) {
    let h = open_default(backend).await;
    assert_eq!(
        h.hooks.delivery_stats().await.unwrap(),
        DeliveryQueueStats::default()
    );
    let sub = subscribe(&h, tenant(), None).await;
    let before = whole_ms(Utc::now());
    let deliveries = enqueue_to(&h, &sub, 3).await;
    let stats = h.hooks.delivery_stats().await.unwrap();
    assert_eq!(stats.scheduled, 3);
    let oldest = stats.oldest_due.expect("an oldest due delivery");
    assert!(oldest >= before && oldest <= Utc::now(), "{oldest}");

    // Being sent still counts; delivered does not.
    let claimed = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(claimed.len(), 3);
    assert_eq!(h.hooks.delivery_stats().await.unwrap().scheduled, 3);
    let delivered = deliveries[0].attempted(successful_attempt(), AttemptResult::Delivered);
    assert!(h.hooks.record(&delivered, 0).await.unwrap());
    let later = whole_ms(Utc::now() + TimeDelta::minutes(5));
    let retrying = deliveries[1].attempted(failed_attempt(), AttemptResult::RetryAt(later));
    assert!(h.hooks.record(&retrying, 0).await.unwrap());
    let stats = h.hooks.delivery_stats().await.unwrap();
    assert_eq!(stats.scheduled, 2);
    // The third is leased for 30 s, the second due in 5 min: the lease ends first.
    let oldest = stats.oldest_due.expect("an oldest due delivery");
    assert!(oldest > Utc::now() && oldest < later, "{oldest}");
}

async fn a_delivery_claimed_after_its_job_expired_comes_without_its_body_or_secret(
    backend: Backend,
) {
    // `demo.sleep` jobs kept for 300 ms.
    let h = open(backend, crate::retention::config()).await;
    let sub = subscribe(&h, tenant(), Some(&["job.completed"])).await;
    let job = h.create(hooked_job(None)).await;
    complete_one(&h).await;
    let entries = read_entries(&h, 1).await;
    let stored = expand_all(&h, &entries).await;
    assert_eq!(stored.len(), 2);
    eventually("the job to expire", Duration::from_secs(10), || async {
        h.store
            .maintain(&h.worker, &[job_type("demo.sleep")])
            .await
            .unwrap();
        let gone = h.store.get(&tenant(), &job.id).await.unwrap().is_none();
        gone.then_some(())
    })
    .await;

    let due = claim_due(&h, Duration::from_secs(30)).await;
    assert_eq!(due.len(), 2, "still due, to be given up with a reason");
    for claimed in &due {
        assert_eq!(claimed.body, None, "nothing of the expired job is sent");
        assert_eq!(claimed.job_secret, None, "its secret went with it");
    }
    let to_sub = due
        .iter()
        .find(|d| d.delivery.subscription.is_some())
        .unwrap();
    assert_eq!(to_sub.subscription.as_deref(), Some(&sub));
}

async fn a_job_keeps_the_bodies_of_its_deliveries_for_the_events_its_history_keeps(
    backend: Backend,
) {
    let h = open_with(backend, |c| c.history_max = 3).await;
    subscribe(
        &h,
        tenant(),
        Some(&["job.pending", "job.processing", "job.progress"]),
    )
    .await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let mut expanded = expand_all(&h, &read_entries(&h, 1).await).await;
    let mut lease = h.claim_one("demo.sleep").await.lease;
    expanded.extend(expand_all(&h, &read_entries(&h, 1).await).await);
    for percent in [10, 20] {
        h.store
            .progress(&mut lease, Progress::new(percent, None))
            .await
            .unwrap();
        expanded.extend(expand_all(&h, &read_entries(&h, 1).await).await);
    }
    // Four more events before the notifier catches up: the oldest of them has already left
    // the history when it is expanded.
    for percent in [30, 40, 50, 60] {
        h.store
            .progress(&mut lease, Progress::new(percent, None))
            .await
            .unwrap();
    }
    expanded.extend(expand_all(&h, &read_entries(&h, 4).await).await);
    assert_eq!(lease.job.seq, 8);
    assert_eq!(expanded.len(), 8);

    let due = claim_due(&h, Duration::from_secs(30)).await;
    let mut kept: Vec<(u64, bool)> = due
        .iter()
        .map(|d| (d.delivery.seq, d.body.is_some()))
        .collect();
    kept.sort();
    let expected: Vec<(u64, bool)> = (1..=8).map(|seq| (seq, seq > 5)).collect();
    assert_eq!(
        kept, expected,
        "bodies for the three events the history keeps"
    );
}
