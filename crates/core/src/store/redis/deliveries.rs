//! The deliveries of [`WebhookStore`](crate::store::webhooks::WebhookStore) on Redis:
//! storing them (with the outbox acknowledgement that makes an expansion exactly-once),
//! claiming due ones (the lease is the due time moved to the end of the lease), recording an
//! attempt (compare-and-set on the attempt count) and listing a subscription's. Lua parses no
//! JSON: the state and attempt count a script compares sit in plain fields beside each doc,
//! and so does a job's webhook status, which a delivery of the job's own webhook writes.

use std::sync::Arc;
use std::time::Duration;

use ::redis::Value;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::batch::Item;
use super::listing::Found;
use super::outbox::NOTIFIER_GROUP;
use super::webhooks::parse_subscription;
use super::{Partition, backend, millis, to_json, ttl_millis};
use crate::ids::{DeliveryId, JobId, SubscriptionId, TenantId};
use crate::store::StoreError;
use crate::store::webhooks::{DeliveryPage, DeliveryQuery, DueDelivery};
use crate::webhook::{Delivery, DeliveryState, HookStatus, Subscription, WebhookSecret};

/// A job's webhook status as stored beside its record. Not [`HookStatus`]'s own encoding,
/// which is the wire's and keeps milliseconds only: what is read back must equal what the
/// delivery said.
#[derive(Serialize, Deserialize)]
struct StoredHookStatus {
    state: DeliveryState,
    attempts: u32,
    next_attempt_at: Option<DateTime<Utc>>,
}

fn encode_hook_status(status: HookStatus) -> Result<String, StoreError> {
    to_json(&StoredHookStatus {
        state: status.state,
        attempts: status.attempts,
        next_attempt_at: status.next_attempt_at,
    })
}

/// Reads back a job's webhook status stored by the delivery scripts.
pub(super) fn parse_hook_status(raw: &str) -> Result<HookStatus, serde_json::Error> {
    let stored: StoredHookStatus = serde_json::from_str(raw)?;
    Ok(HookStatus {
        state: stored.state,
        attempts: stored.attempts,
        next_attempt_at: stored.next_attempt_at,
    })
}

pub(super) fn parse_delivery(id: &str, doc: &[u8]) -> Result<Delivery, StoreError> {
    serde_json::from_slice(doc)
        .map_err(|e| StoreError::Corrupt(format!("the record of delivery {id}: {e}")))
}

/// What the claim's reply gave at an earlier place (`None` when it names no earlier row).
fn earlier<T: Clone>(rows: &[T], at: i64) -> Option<T> {
    usize::try_from(at)
        .ok()
        .and_then(|at| rows.get(at))
        .cloned()
}

pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{ms} ms is not a time")))
}

/// When a recorded delivery is due, as `record_delivery.lua` reads it: '' when it is off the
/// schedule.
fn due_arg(delivery: &Delivery) -> String {
    match delivery.next_attempt_at {
        Some(at) if delivery.state.is_scheduled() => at.timestamp_millis().max(0).to_string(),
        _ => String::new(),
    }
}

/// The job webhook status a delivery writes: its own for a job's webhook, none ('') for a
/// subscription's.
fn hook_status_arg(delivery: &Delivery) -> Result<String, StoreError> {
    match delivery.subscription {
        Some(_) => Ok(String::new()),
        None => encode_hook_status(delivery.hook_status()),
    }
}

impl Partition {
    /// Stores deliveries due at once, each sending the body of `bodies` it names (by index);
    /// with an outbox entry, acknowledges it in the same script. `false` when the entry was
    /// acknowledged already (nothing was stored).
    pub(super) async fn store_deliveries(
        &self,
        entry: Option<&str>,
        bodies: &[&[u8]],
        deliveries: impl Iterator<Item = (&Delivery, usize)>,
    ) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let mut call = self.scripts.store_deliveries.prepare_invoke();
        call.key(keys.outbox()).key(keys.due());
        call.arg(entry.unwrap_or(""))
            .arg(NOTIFIER_GROUP)
            .arg(ttl_millis(self.config.delivery_retention))
            .arg(self.config.deliveries_listed_max)
            .arg(self.config.history_max)
            .arg(bodies.len());
        for body in bodies {
            call.arg(*body);
        }
        // The deliveries of one event share their job: its key and id are written once.
        let mut job: Option<(JobId, String, String)> = None;
        for (delivery, body) in deliveries {
            if job.as_ref().is_some_and(|(id, ..)| *id != delivery.job_id) {
                job = None;
            }
            let (_, job, job_id) = job.get_or_insert_with(|| {
                let id = delivery.job_id;
                (id, keys.job(&id), id.to_string())
            });
            call.key(keys.delivery(&delivery.id)).key(&*job);
            match &delivery.subscription {
                Some(sub) => call.key(keys.deliveries(sub)),
                None => call.key(&*job),
            };
            call.arg(delivery.id.to_string())
                .arg(to_json(delivery)?)
                .arg(body + 1)
                .arg(delivery.tenant.as_str())
                .arg(
                    delivery
                        .subscription
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                )
                .arg(delivery.state.as_str())
                .arg(delivery.attempt_count)
                .arg(if delivery.state.is_scheduled() {
                    "1"
                } else {
                    ""
                })
                .arg(hook_status_arg(delivery)?)
                .arg(delivery.seq)
                .arg(job_id.as_str());
        }
        let stored: i64 = call
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("store webhook deliveries"))?;
        Ok(stored == 1)
    }

    /// Writes a delivery's new state if its attempt count is still `expected_attempts`;
    /// `due` overrides when it is due (`"now"`: by the server's clock).
    pub(super) async fn write_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
        due: Option<&str>,
    ) -> Result<bool, StoreError> {
        let due = due.map_or_else(|| due_arg(delivery), str::to_owned);
        let mut item = Item::default();
        item.key(self.keys.delivery(&delivery.id))
            .key(self.keys.job(&delivery.job_id));
        item.arg(delivery.id.to_string())
            .arg(expected_attempts)
            .arg(to_json(delivery)?)
            .arg(delivery.attempt_count)
            .arg(delivery.state.as_str())
            .arg(due)
            .arg(hook_status_arg(delivery)?)
            .arg(delivery.seq);
        // Concurrent records share one script call (see `batch`).
        let reply = self.batchers.record.call(item).await?;
        let written: i64 = ::redis::from_redis_value(reply).map_err(|e| {
            StoreError::Backend(format!("failed to record a webhook delivery: {e}"))
        })?;
        Ok(written == 1)
    }

    /// Leases up to `max` due deliveries for `lease`, with what sending each needs (see
    /// `WebhookStore::claim_due`).
    pub(super) async fn claim_due_deliveries(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut reply: Vec<Value> = self
            .scripts
            .claim_due
            .key(self.keys.due())
            .arg(max)
            .arg(millis(lease).max(1))
            .arg(self.keys.delivery_prefix())
            .arg(self.keys.subscriptions_prefix())
            .arg(self.keys.job_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("claim due webhook deliveries"))?;
        let rows = reply.len() / 5;
        let mut due = Vec::with_capacity(rows);
        // Each row's body and subscription, for the later rows that name them by place: the
        // deliveries of one event share one body, those of one subscription one parse.
        let mut bodies: Vec<Option<Bytes>> = Vec::with_capacity(rows);
        let mut subscriptions: Vec<Option<Arc<Subscription>>> = Vec::with_capacity(rows);
        for row in reply.chunks_mut(5) {
            let [
                Value::BulkString(id),
                Value::BulkString(doc),
                body,
                sub,
                secret,
            ] = row
            else {
                return Err(StoreError::Backend(format!(
                    "failed to claim due webhook deliveries: unexpected script reply {} values",
                    row.len()
                )));
            };
            let id = String::from_utf8_lossy(id);
            let body = match body {
                Value::BulkString(body) => Some(Bytes::from(std::mem::take(body))),
                Value::Int(at) => earlier(&bodies, *at).flatten(),
                _ => None,
            };
            bodies.push(body.clone());
            let subscription = match sub {
                Value::BulkString(doc) => parse_subscription(&id, doc).map(|s| Some(Arc::new(s))),
                Value::Int(at) => {
                    earlier(&subscriptions, *at)
                        .flatten()
                        .map(Some)
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("the subscription of delivery {id}"))
                        })
                }
                _ => Ok(None),
            };
            subscriptions.push(subscription.as_ref().ok().cloned().flatten());
            let parsed = subscription.and_then(|subscription| {
                let delivery = parse_delivery(&id, doc)?;
                let job_secret = match secret {
                    Value::BulkString(raw) => Some(
                        std::str::from_utf8(raw)
                            .ok()
                            .and_then(|raw| WebhookSecret::parse(raw).ok())
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "the webhook secret of the job of delivery {id}"
                                ))
                            })?,
                    ),
                    _ => None,
                };
                Ok((delivery, subscription, job_secret))
            });
            match parsed {
                Ok((delivery, subscription, job_secret)) => due.push(DueDelivery {
                    delivery,
                    body,
                    subscription,
                    job_secret,
                }),
                // One unreadable record must not hold up the others; it stays leased and
                // comes back when the lease runs out, its error logged each time.
                Err(e) => tracing::warn!(delivery_id = %id, error = %e, "skipping a delivery"),
            }
        }
        Ok(due)
    }

    /// One page of a subscription's deliveries, newest first (see
    /// `WebhookStore::deliveries`).
    pub(super) async fn list_deliveries(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        let index = [self.keys.deliveries(subscription)];
        let scanned = self
            .scan(
                &index,
                query.before.map(|id| id.to_string()),
                query.limit,
                query.state.is_some(),
                "read a subscription's deliveries",
                |ids| self.read_listed_deliveries(tenant, query, ids),
            )
            .await?;
        let matched = scanned.items;
        let mut pipe = ::redis::pipe();
        for id in &matched {
            pipe.cmd("HGET")
                .arg(self.keys.listed_delivery(id))
                .arg("doc");
        }
        let docs: Vec<Option<Vec<u8>>> = if matched.is_empty() {
            Vec::new()
        } else {
            pipe.query_async(&mut self.conn())
                .await
                .map_err(backend("read listed webhook deliveries"))?
        };
        let mut deliveries = Vec::with_capacity(matched.len());
        for (id, doc) in matched.iter().zip(docs) {
            // Expired between the two reads: as if it had been gone before.
            let Some(doc) = doc else { continue };
            let delivery = parse_delivery(id, &doc)?;
            // The state read with the tenant may have moved on since: the record decides.
            if query.state.is_none_or(|state| delivery.state == state) {
                deliveries.push(delivery);
            }
        }
        let next_cursor = scanned
            .next
            .as_deref()
            .map(DeliveryId::parse)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("a deliveries index: {e}")))?;
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }
}

impl Partition {
    /// What a page of listed delivery ids holds: those of the tenant in the state asked for.
    async fn read_listed_deliveries(
        &self,
        tenant: &TenantId,
        query: &DeliveryQuery,
        ids: Vec<String>,
    ) -> Result<Vec<Found<String>>, StoreError> {
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.cmd("HMGET")
                .arg(self.keys.listed_delivery(id))
                .arg("tenant")
                .arg("state");
        }
        let rows: Vec<(Option<String>, Option<String>)> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read listed webhook deliveries"))?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .map(|(id, (owner, state))| match owner {
                None => Found::Gone,
                // A subscription's deliveries all belong to its tenant: this index is another
                // tenant's, and lists nothing, not even a cursor, to this one.
                Some(owner) if owner != tenant.as_str() => Found::Foreign,
                Some(_) => {
                    let wanted = query
                        .state
                        .is_none_or(|wanted| state.as_deref() == Some(wanted.as_str()));
                    if wanted { Found::Keep(id) } else { Found::Skip }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    //! Quick checks against a private Redis of the delivery scripts' compare-and-set and the
    //! listing's pages; the behaviours of the trait are the conformance suite's.

    use super::*;
    use crate::store::redis::testing::{new_job, open, outbox_len, read_all, run, subscription};
    use crate::store::webhooks::WebhookStore;
    use crate::store::{Store, StoreConfig};
    use crate::webhook::{Attempt, AttemptResult, Target, render_body};

    #[tokio::test]
    async fn deliveries_are_expanded_once_leased_and_recorded_with_compare_and_set() {
        let config = StoreConfig {
            lease_timeout: Duration::from_millis(400),
            ..StoreConfig::default()
        };
        let (store, _redis) = open(config).await;
        let sub = subscription(&["job.completed"], &[]);
        assert!(store.put_subscription(&sub, None).await.unwrap());
        let hook = serde_json::json!({"url": "https://client.example/h"});
        let job = run(&store, new_job("demo.report", Some(hook)), false).await;
        let entry = read_all(&store).await.remove(0);
        let now = Utc::now();
        let own = Delivery::new(
            Target::Job(entry.hook.as_ref().unwrap()),
            &entry.tenant,
            &entry.event,
            now,
        );
        let subscribed =
            Delivery::new(Target::Subscription(&sub), &entry.tenant, &entry.event, now);
        let body = Bytes::from(render_body(&entry.event));
        let deliveries = [own.clone(), subscribed.clone()];
        store
            .expand(&entry, &deliveries, body.clone())
            .await
            .unwrap();
        assert_eq!(
            outbox_len(&store).await,
            0,
            "expanded entries leave the stream"
        );

        // A notifier that reclaimed the entry meanwhile expands it again: nothing happens.
        let again = [Delivery::new(
            Target::Subscription(&sub),
            &entry.tenant,
            &entry.event,
            now,
        )];
        store.expand(&entry, &again, body.clone()).await.unwrap();
        assert_eq!(store.delivery_stats().await.unwrap().scheduled, 2);
        assert_eq!(
            store.delivery(&entry.tenant, &again[0].id).await.unwrap(),
            None
        );
        assert_eq!(
            store.delivery(&entry.tenant, &own.id).await.unwrap(),
            Some(own.clone())
        );
        let other = TenantId::parse("acme").unwrap();
        assert_eq!(store.delivery(&other, &own.id).await.unwrap(), None);
        let read = store.get(&job.tenant, &job.id).await.unwrap().unwrap();
        assert_eq!(read.webhook, Some(own.hook_status()));

        // Claims lease: a second claim finds nothing until the lease runs out.
        let lease = Duration::from_millis(300);
        let claimed = store.claim_due(10, lease).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let claimed_sub = claimed
            .iter()
            .find(|d| d.delivery.id == subscribed.id)
            .unwrap();
        assert_eq!(claimed_sub.subscription.as_deref(), Some(&sub));
        assert_eq!(claimed_sub.body.as_ref(), Some(&body));
        assert!(store.claim_due(10, lease).await.unwrap().is_empty());
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        assert_eq!(store.claim_due(10, lease).await.unwrap().len(), 2);

        // Recording compares the attempt count.
        let at = Utc::now();
        let attempt = Attempt {
            at,
            status_code: Some(500),
            duration_ms: 3,
            error: Some("HTTP 500".to_owned()),
            response: None,
        };
        let retry_at = at + chrono::Duration::seconds(60);
        let retrying = own.attempted(attempt.clone(), AttemptResult::RetryAt(retry_at));
        assert!(store.record(&retrying, 0).await.unwrap());
        assert!(
            !store.record(&retrying, 0).await.unwrap(),
            "a stale attempt count"
        );
        let read = store.get(&job.tenant, &job.id).await.unwrap().unwrap();
        assert_eq!(read.webhook, Some(retrying.hook_status()));
        let delivered = subscribed.attempted(attempt, AttemptResult::Delivered);
        assert!(store.record(&delivered, 0).await.unwrap());
        let stats = store.delivery_stats().await.unwrap();
        assert_eq!(stats.scheduled, 1);
        assert_eq!(
            stats.oldest_due.map(|t| t.timestamp_millis()),
            Some(retry_at.timestamp_millis())
        );

        // A client's retry makes it due at once.
        let retried = store
            .retry_delivery(&entry.tenant, &delivered.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retried.state, DeliveryState::Pending);
        let claimed = store.claim_due(10, lease).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].delivery, retried);

        // A deferred delivery waits; the endpoint's failing streak starts once.
        store
            .defer(&retried.id, Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
        tokio::time::sleep(lease + Duration::from_millis(50)).await;
        assert!(store.claim_due(10, lease).await.unwrap().is_empty());
        let first = Utc::now();
        let since = store
            .endpoint_health(&entry.tenant, &sub.id, true, first)
            .await
            .unwrap();
        let later = first + chrono::Duration::seconds(5);
        let still = store
            .endpoint_health(&entry.tenant, &sub.id, true, later)
            .await
            .unwrap();
        assert_eq!(
            since.map(|t| t.timestamp_millis()),
            Some(first.timestamp_millis())
        );
        assert_eq!(still, since);
        assert_eq!(
            store
                .endpoint_health(&entry.tenant, &sub.id, false, later)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn a_claim_reads_each_body_and_subscription_once_and_shares_them() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let sub = subscription(&["job.completed"], &[]);
        assert!(store.put_subscription(&sub, None).await.unwrap());
        let job = run(&store, new_job("demo.report", None), false).await;
        let event = store
            .history(&job.tenant, &job.id, 0)
            .await
            .unwrap()
            .pop()
            .unwrap();
        let body = render_body(&event);
        let deliveries: Vec<_> = (0..3)
            .map(|_| {
                let d = Delivery::new(Target::Subscription(&sub), &job.tenant, &event, Utc::now());
                (d, body.clone())
            })
            .collect();
        store.enqueue(&deliveries).await.unwrap();

        let claimed = store.claim_due(10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(claimed.len(), 3);
        let first = claimed[0].subscription.as_ref().unwrap();
        assert_eq!(**first, sub);
        for due in &claimed {
            assert!(Arc::ptr_eq(due.subscription.as_ref().unwrap(), first));
            assert_eq!(due.body.as_deref(), Some(body.as_slice()));
        }
    }

    #[tokio::test]
    async fn a_subscriptions_deliveries_list_newest_first_in_pages() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let sub = subscription(&["job.completed"], &[]);
        assert!(store.put_subscription(&sub, None).await.unwrap());
        let job = run(&store, new_job("demo.report", None), false).await;
        let event = store
            .history(&job.tenant, &job.id, 0)
            .await
            .unwrap()
            .pop()
            .unwrap();
        let mut made = Vec::new();
        for _ in 0..5 {
            let d = Delivery::new(Target::Subscription(&sub), &job.tenant, &event, Utc::now());
            made.push(d.clone());
            store.enqueue(&[(d, Vec::new())]).await.unwrap();
        }
        made.reverse();
        let page = |before, state| DeliveryQuery {
            state,
            limit: 2,
            before,
        };
        let first = store
            .deliveries(&job.tenant, &sub.id, &page(None, None))
            .await
            .unwrap();
        assert_eq!(first.deliveries, made[..2]);
        assert_eq!(first.next_cursor, Some(made[1].id));
        let second = store
            .deliveries(&job.tenant, &sub.id, &page(first.next_cursor, None))
            .await
            .unwrap();
        assert_eq!(second.deliveries, made[2..4]);
        let third = store
            .deliveries(&job.tenant, &sub.id, &page(second.next_cursor, None))
            .await
            .unwrap();
        assert_eq!(third.deliveries, made[4..]);
        assert_eq!(third.next_cursor, None);

        let dead = made[3].abandoned("gone", Utc::now());
        assert!(store.record(&dead, 0).await.unwrap());
        let only_dead = store
            .deliveries(&job.tenant, &sub.id, &page(None, Some(DeliveryState::Dead)))
            .await
            .unwrap();
        assert_eq!(only_dead.deliveries, [dead]);
        assert_eq!(only_dead.next_cursor, None);
        let other = TenantId::parse("acme").unwrap();
        let none = store
            .deliveries(&other, &sub.id, &page(None, None))
            .await
            .unwrap();
        assert!(none.deliveries.is_empty());
    }
}
