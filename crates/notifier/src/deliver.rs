//! Sending: deliveries that are due are claimed (leased) from the store, signed and sent,
//! and each attempt is recorded with what comes next: delivered, retried on the schedule, or
//! dead. A `410 Gone` disables the subscription, and so do days of failures without a
//! success.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald_core::backoff::{Backoff, FailureLog, jitter};
use herald_core::store::webhooks::DueDelivery;
use herald_core::webhook::{Attempt, AttemptResult, Delivery, Subscription, WebhookUrl};
use herald_core::{SubscriptionId, TenantId};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, info, warn};

use crate::Context;
use crate::endpoints::Admission;
use crate::metrics::Outcome;
use crate::send::{AttemptOutcome, Outgoing, Verdict};
use crate::sign::{SigningKey, header_of};

/// Why a delivery whose event is no longer kept is given up unsent.
const EVENT_GONE: &str = "the event it carries is no longer kept: its job has expired, or has \
     moved on by more events than its history keeps";
/// Why a job's own webhook's delivery without a secret is given up unsent.
const JOB_EXPIRED: &str = "its job has expired, and with it the secret that signs it";

/// How many times a subscription write is retried against concurrent writers.
const DISABLE_ATTEMPTS: usize = 5;

/// Claims and sends due deliveries until `shutdown`, then lets attempts in flight finish
/// for up to one attempt timeout (what is cut short is sent again once its lease runs out).
pub(crate) async fn deliver_until(ctx: Arc<Context>, shutdown: CancellationToken) {
    let slots = Arc::new(Semaphore::new(ctx.config.concurrency.max(1)));
    let mut attempts = JoinSet::new();
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut failures = FailureLog::default();
    // When the soonest delivery put back for a busy endpoint is due again.
    let mut put_back_until = None;
    loop {
        while attempts.try_join_next().is_some() {}
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let mut permits = vec![first];
        permits.extend(
            std::iter::from_fn(|| Arc::clone(&slots).try_acquire_owned().ok())
                .take(ctx.config.batch.saturating_sub(1)),
        );
        let due = match ctx.store.claim_due(permits.len(), ctx.config.lease()).await {
            Ok(due) => {
                backoff.reset();
                failures.succeeded("claiming webhook deliveries");
                due
            }
            Err(e) => {
                let delay = backoff.next_delay();
                failures.failed("claiming webhook deliveries", &e);
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => continue,
                }
            }
        };
        if due.is_empty() {
            drop(permits);
            // Deliveries put back for a busy endpoint come due again before the next poll.
            let wake = put_back_until
                .take()
                .map_or(ctx.config.poll_interval, |until: Instant| {
                    until.saturating_duration_since(Instant::now())
                })
                .min(ctx.config.poll_interval);
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = ctx.due.notified() => {}
                () = tokio::time::sleep(wake) => {}
            }
            continue;
        }
        for (due, permit) in due.into_iter().zip(permits) {
            if let Some(wait) = start(&ctx, due, permit, &mut attempts).await {
                let until = Instant::now() + wait;
                put_back_until = Some(put_back_until.map_or(until, |soonest| soonest.min(until)));
            }
        }
    }
    let grace = ctx.config.timeout + Duration::from_secs(1);
    if tokio::time::timeout(grace, async {
        while attempts.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        info!(
            "webhook attempts still in flight at shutdown were cut short; they are sent \
             again once their lease runs out"
        );
    }
}

/// Starts one attempt, queues the delivery behind its endpoint's attempts, or puts it back
/// in the store when its endpoint is full, answering for how long. A queued delivery keeps
/// its permit: what this process holds, sending or queued, stays within the global limit, so
/// the claim loop waits for room instead of claiming deliveries only to put them back.
async fn start(
    ctx: &Arc<Context>,
    due: DueDelivery,
    permit: OwnedSemaphorePermit,
    attempts: &mut JoinSet<()>,
) -> Option<Duration> {
    // The endpoint's name is borrowed from a subscription's shared copy (the delivery itself
    // moves into the admission); only a job's own webhook's URL is copied.
    let subscription = due.subscription.clone();
    let own_url;
    let url = match &subscription {
        Some(sub) => sub.url.as_str(),
        None => {
            own_url = due.delivery.url.as_str().to_owned();
            &own_url
        }
    };
    match ctx.endpoints.admit(url, (due, permit)) {
        Admission::Now(first, slot) => {
            let ctx = Arc::clone(ctx);
            attempts.spawn(async move {
                let mut next = Some((first, slot));
                // The slot goes on to whatever queued behind it, until the queue is empty.
                while let Some(((due, _permit), slot)) = next {
                    // At DEBUG: at the default level it would be recorded for every delivery
                    // while no line inside it is logged; the lines that are name the delivery
                    // or subscription themselves.
                    let span = debug_span!("webhook_attempt", delivery_id = %due.delivery.id);
                    ctx.metrics.in_flight().inc();
                    attempt(&ctx, due).instrument(span).await;
                    ctx.metrics.in_flight().dec();
                    next = ctx.endpoints.next(slot);
                }
            });
            None
        }
        Admission::Queued => None,
        Admission::Full((due, _permit), wait) => {
            let at = Utc::now() + wait;
            if let Err(e) = ctx.store.defer(&due.delivery.id, at).await {
                // Its lease runs out and it comes back anyway.
                warn!(error = %e, delivery_id = %due.delivery.id, "putting a delivery back failed");
            }
            Some(wait)
        }
    }
}

/// Where the delivery goes: its subscription's URL as it is now (it may have been changed), or
/// the job's own webhook.
fn target_url<'a>(
    delivery: &'a Delivery,
    subscription: Option<&'a Arc<Subscription>>,
) -> &'a WebhookUrl {
    subscription.map_or(&delivery.url, |sub| &sub.url)
}

/// Signs and sends one delivery, then records what happened.
async fn attempt(ctx: &Context, due: DueDelivery) {
    let now = Utc::now();
    let DueDelivery {
        delivery,
        body,
        subscription,
        job_secret,
    } = due;
    // The body and a job's own webhook's secret are kept with the job and expire with it:
    // once it has expired, nothing of it may be sent.
    let Some(body) = body else {
        return abandon(ctx, delivery, EVENT_GONE).await;
    };
    let keys: Vec<SigningKey> = match (&delivery.subscription, &subscription, &job_secret) {
        // A subscription's secrets sign all its deliveries: prepared once, kept.
        (Some(_), Some(sub), _) if sub.enabled => ctx.keys.of(&sub.signing_secrets(now)),
        (Some(_), Some(_), _) => return abandon(ctx, delivery, "its webhook is disabled").await,
        (Some(_), None, _) => return abandon(ctx, delivery, "its webhook was deleted").await,
        // A job's own secret signs that job's few deliveries: not worth keeping.
        (None, _, Some(secret)) => vec![SigningKey::new(&secret.key())],
        (None, _, None) => return abandon(ctx, delivery, JOB_EXPIRED).await,
    };
    let id = delivery.id.to_string();
    let timestamp = now.timestamp();
    let signature = header_of(&keys, &id, timestamp, &body);
    let outcome = ctx
        .sender
        .send(Outgoing {
            url: target_url(&delivery, subscription.as_ref()).url(),
            msg_id: &id,
            timestamp,
            body,
            signature,
        })
        .await;
    let (result, metric) = decide(ctx, &delivery, &outcome, now);
    ctx.metrics.attempted(metric, outcome.duration);
    debug!(
        delivery_id = %delivery.id,
        status = ?outcome.status,
        outcome = metric.as_str(),
        "webhook attempt"
    );
    let verdict = outcome.verdict;
    let expected_attempts = delivery.attempt_count;
    let mut next = delivery.into_attempted(attempt_of(outcome, now), result);
    // The record says where it was sent: its subscription's URL may have changed.
    if let Some(sub) = &subscription
        && sub.url != next.url
    {
        next.url = sub.url.clone();
    }
    record(ctx, &next, expected_attempts).await;
    if let Some(sub) = &subscription
        && next.subscription.is_some()
    {
        if verdict == Verdict::Gone {
            disable(ctx, &sub.tenant, &sub.id, "the endpoint answered 410 Gone").await;
        } else {
            check_health(ctx, sub, verdict == Verdict::Delivered, now).await;
        }
    }
}

/// What comes after an attempt, and how the metrics count it.
fn decide(
    ctx: &Context,
    delivery: &Delivery,
    outcome: &AttemptOutcome,
    now: DateTime<Utc>,
) -> (AttemptResult, Outcome) {
    match outcome.verdict {
        Verdict::Delivered => (AttemptResult::Delivered, Outcome::Delivered),
        Verdict::Gone => (AttemptResult::Dead, Outcome::Gone),
        Verdict::Failed => {
            let failed = delivery.attempt_count as usize + 1;
            match ctx
                .config
                .retry_schedule
                .next_delay(failed, outcome.retry_after, jitter())
            {
                Some(delay) => (AttemptResult::RetryAt(now + delay), Outcome::Retrying),
                None => (AttemptResult::Dead, Outcome::Dead),
            }
        }
    }
}

fn attempt_of(outcome: AttemptOutcome, at: DateTime<Utc>) -> Attempt {
    Attempt {
        at,
        status_code: outcome.status,
        duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
        error: outcome.error,
        response: outcome.response_snippet,
    }
}

/// Gives a delivery up unsent: its subscription is gone or disabled, or its job expired.
async fn abandon(ctx: &Context, delivery: Delivery, reason: &str) {
    ctx.metrics.attempted(Outcome::Abandoned, Duration::ZERO);
    let expected_attempts = delivery.attempt_count;
    let next = delivery.into_abandoned(reason, Utc::now());
    record(ctx, &next, expected_attempts).await;
}

async fn record(ctx: &Context, next: &Delivery, expected_attempts: u32) {
    match ctx.store.record(next, expected_attempts).await {
        Ok(true) => {}
        Ok(false) => info!(
            delivery_id = %next.id,
            "another notifier recorded an attempt of this delivery first (its lease ran out)"
        ),
        // Unrecorded, the delivery comes back when its lease runs out and is sent again:
        // at least once.
        Err(e) => warn!(error = %e, delivery_id = %next.id, "recording a webhook attempt failed"),
    }
}

/// Notes the endpoint's health and disables a subscription that has failed for too long.
async fn check_health(ctx: &Context, sub: &Subscription, delivered: bool, now: DateTime<Utc>) {
    // A success only clears a failure streak: after one was recorded for this subscription,
    // the next ones in the following moment have nothing to clear, and skipping them saves a
    // store call per delivery to a healthy endpoint.
    if delivered && !ctx.healthy.note_success(sub.id) {
        return;
    }
    if !delivered {
        ctx.healthy.forget(sub.id);
    }
    let failing_since = match ctx
        .store
        .endpoint_health(&sub.tenant, &sub.id, !delivered, now)
        .await
    {
        Ok(since) => since,
        Err(e) => {
            warn!(error = %e, subscription_id = %sub.id, "recording a webhook endpoint's health failed");
            return;
        }
    };
    let Some(since) = failing_since else { return };
    let limit = ctx.config.disable_after;
    if (now - since).to_std().is_ok_and(|failing| failing >= limit) {
        let reason = format!(
            "every delivery failed for {}",
            humantime::format_duration(limit)
        );
        disable(ctx, &sub.tenant, &sub.id, &reason).await;
    }
}

/// Disables a subscription (compare-and-set, retried against concurrent changes).
async fn disable(ctx: &Context, tenant: &TenantId, id: &SubscriptionId, reason: &str) {
    for _ in 0..DISABLE_ATTEMPTS {
        let current = match ctx.store.subscription(tenant, id).await {
            Ok(Some(sub)) if sub.enabled => sub,
            Ok(_) => return,
            Err(e) => {
                warn!(error = %e, subscription_id = %id, "disabling a webhook subscription failed");
                return;
            }
        };
        let disabled = current.disabled(reason, Utc::now());
        match ctx
            .store
            .put_subscription(&disabled, Some(current.version))
            .await
        {
            Ok(true) => {
                warn!(subscription_id = %id, reason, "webhook subscription disabled");
                return;
            }
            Ok(false) => continue,
            Err(e) => {
                warn!(error = %e, subscription_id = %id, "disabling a webhook subscription failed");
                return;
            }
        }
    }
}
