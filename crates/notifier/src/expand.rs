//! Expansion: outbox entries become deliveries, one per target that wants the event.
//!
//! The outbox is read as a consumer group, so an entry read by a notifier that dies before
//! expanding it comes back to another; expanding stores the deliveries and acknowledges the
//! entry in one write, so an entry is expanded exactly once however often it is read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::stream::{self, StreamExt};
use herald_core::backoff::{Backoff, FailureLog};
use herald_core::store::webhooks::OutboxEntry;
use herald_core::webhook::{Delivery, Subscription, render_body, targets};
use herald_core::{StoreError, TenantId};
use tokio_util::sync::CancellationToken;

use crate::Context;

/// How long one read of the outbox waits for an entry.
const READ_WAIT: Duration = Duration::from_secs(1);
/// How many entries of one read are expanded at once.
const EXPANSIONS_IN_FLIGHT: usize = 32;

/// Expands outbox entries until `shutdown`, waking the sender after each batch.
pub(crate) async fn expand_until(ctx: Arc<Context>, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut failures = FailureLog::default();
    loop {
        let read = tokio::select! {
            () = shutdown.cancelled() => return,
            read = ctx.store.read_outbox(&ctx.consumer, ctx.config.batch, READ_WAIT) => read,
        };
        let result = match read {
            Ok(entries) if entries.is_empty() => Ok(()),
            Ok(entries) => expand_batch(&ctx, entries).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                backoff.reset();
                failures.succeeded("expanding webhook events");
            }
            Err(e) => {
                let delay = backoff.next_delay();
                failures.failed("expanding webhook events", &e);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Expands one read's entries; an entry whose expansion fails stays unacknowledged and is
/// read again later.
async fn expand_batch(ctx: &Context, entries: Vec<OutboxEntry>) -> Result<(), StoreError> {
    let mut subscriptions: HashMap<TenantId, Vec<Subscription>> = HashMap::new();
    for entry in &entries {
        if !subscriptions.contains_key(&entry.tenant) {
            let subs = ctx.store.subscriptions(&entry.tenant).await?;
            subscriptions.insert(entry.tenant.clone(), subs);
        }
    }
    let subscriptions = &subscriptions;
    let results: Vec<Result<(), StoreError>> = stream::iter(entries)
        .map(|entry| async move {
            let subs = subscriptions
                .get(&entry.tenant)
                .map_or(&[][..], Vec::as_slice);
            let (deliveries, body) = deliveries_of(&entry, subs);
            ctx.store.expand(&entry, &deliveries, body).await
        })
        .buffer_unordered(EXPANSIONS_IN_FLIGHT)
        .collect()
        .await;
    let expanded = results.iter().filter(|r| r.is_ok()).count();
    ctx.metrics.expanded(expanded as u64);
    if expanded > 0 {
        ctx.due.notify_one();
    }
    results.into_iter().collect()
}

/// The deliveries of one event, one per target that wants it, and the body they all send
/// (rendered once, stored once).
fn deliveries_of(entry: &OutboxEntry, subscriptions: &[Subscription]) -> (Vec<Delivery>, Bytes) {
    let targets = targets(&entry.event, entry.hook.as_ref(), subscriptions);
    if targets.is_empty() {
        return (Vec::new(), Bytes::new());
    }
    let now = Utc::now();
    let deliveries = targets
        .into_iter()
        .map(|target| Delivery::new(target, &entry.tenant, &entry.event, now))
        .collect();
    (deliveries, Bytes::from(render_body(&entry.event)))
}
