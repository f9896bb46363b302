//! [`WebhookStore`] on Redis: subscriptions with their wants counters, endpoint health, and
//! the trait's delivery operations (their writes and reads are `deliveries`).
//!
//! Every write that must move several keys together is one script (see `scripts/`):
//! storing or deleting a subscription (its record, version and wants counters), storing
//! deliveries (with the outbox acknowledgement that makes an expansion exactly-once),
//! claiming due deliveries and recording an attempt. Lua parses no JSON: the version a
//! subscription script compares sits in a plain field beside each doc.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::time::Duration;

use super::deliveries::{from_millis, parse_delivery};
use super::{Partition, backend, keys, to_json};
use crate::ids::{DeliveryId, SubscriptionId, TenantId};
use crate::store::webhooks::{
    DeliveryPage, DeliveryQuery, DeliveryQueueStats, DueDelivery, OutboxEntry, WebhookStore,
};
use crate::store::{CAS_ATTEMPTS, StoreError};
use crate::webhook::{Delivery, MAX_SUBSCRIPTIONS, Subscription};

pub(super) fn parse_subscription(id: &str, doc: &[u8]) -> Result<Subscription, StoreError> {
    serde_json::from_slice(doc)
        .map_err(|e| StoreError::Corrupt(format!("the record of subscription {id}: {e}")))
}

impl Partition {
    /// [`WebhookStore::put_subscription`], marking the subscription in `marks` (field `mark`)
    /// in the same write when given (partition 0 of a store spread over partitions); answers
    /// whether it was stored, and the mark's count after the write (0 without one).
    pub(super) async fn write_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
        marks: Option<(&str, &str)>,
    ) -> Result<(bool, i64), StoreError> {
        let tenant = &subscription.tenant;
        let keys = &self.keys;
        let mut script = self
            .scripts
            .put_subscription
            .key(keys.subscriptions(tenant));
        script
            .key(keys.subscription_versions(tenant))
            .key(keys.subscription_wanted(tenant))
            .key(keys.wants(tenant))
            .arg(subscription.id.to_string())
            .arg(to_json(subscription)?)
            .arg(subscription.version.to_string())
            .arg(expected_version.map(|v| v.to_string()).unwrap_or_default())
            .arg(keys::wants_fields(subscription).join(" "))
            .arg(MAX_SUBSCRIPTIONS);
        if let Some((marks, mark)) = marks {
            script.key(marks).arg(mark);
        }
        let (stored, mark): (i64, i64) = script
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("store a webhook subscription"))?;
        match stored {
            -1 => Err(StoreError::LimitReached(format!(
                "a tenant holds at most {MAX_SUBSCRIPTIONS} webhook subscriptions"
            ))),
            stored => Ok((stored == 1, mark)),
        }
    }

    /// [`WebhookStore::delete_subscription`], marking as
    /// [`Partition::write_subscription`] does.
    pub(super) async fn remove_subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        marks: Option<(&str, &str)>,
    ) -> Result<(bool, i64), StoreError> {
        let keys = &self.keys;
        let mut script = self
            .scripts
            .delete_subscription
            .key(keys.subscriptions(tenant));
        script
            .key(keys.subscription_versions(tenant))
            .key(keys.subscription_wanted(tenant))
            .key(keys.wants(tenant))
            .key(keys.failing())
            .arg(id.to_string());
        if let Some((marks, mark)) = marks {
            script.key(marks).arg(mark);
        }
        let (deleted, mark): (i64, i64) = script
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("delete a webhook subscription"))?;
        Ok((deleted == 1, mark))
    }
}

#[async_trait]
impl WebhookStore for Partition {
    async fn put_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let (stored, _) = self
            .write_subscription(subscription, expected_version, None)
            .await?;
        Ok(stored)
    }

    async fn subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        let doc: Option<Vec<u8>> = ::redis::cmd("HGET")
            .arg(self.keys.subscriptions(tenant))
            .arg(id.to_string())
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a webhook subscription"))?;
        let id = id.to_string();
        Ok(doc
            .map(|doc| parse_subscription(&id, &doc))
            .transpose()?
            .filter(|sub| &sub.tenant == tenant))
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError> {
        let docs: Vec<(String, Vec<u8>)> = ::redis::cmd("HGETALL")
            .arg(self.keys.subscriptions(tenant))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read webhook subscriptions"))?;
        let mut subs = docs
            .iter()
            .map(|(id, doc)| parse_subscription(id, doc))
            .collect::<Result<Vec<_>, _>>()?;
        subs.retain(|sub| &sub.tenant == tenant);
        // Ids are UUIDv7: by id is by creation time.
        subs.sort_by_key(|sub| sub.id);
        Ok(subs)
    }

    async fn delete_subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<bool, StoreError> {
        let (deleted, _) = self.remove_subscription(tenant, id, None).await?;
        Ok(deleted)
    }

    async fn read_outbox(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.read_outbox_entries(consumer, max, wait).await
    }

    async fn expand(
        &self,
        entry: &OutboxEntry,
        deliveries: &[Delivery],
        body: Bytes,
    ) -> Result<(), StoreError> {
        // The body goes once, whatever the number of deliveries sending it.
        let bodies: &[&[u8]] = if deliveries.is_empty() { &[] } else { &[&body] };
        let deliveries = deliveries.iter().map(|delivery| (delivery, 0));
        if !self
            .store_deliveries(Some(&entry.id), bodies, deliveries)
            .await?
        {
            tracing::debug!(entry = %entry.id, "an outbox entry was expanded already");
        }
        Ok(())
    }

    async fn enqueue(&self, deliveries: &[(Delivery, Vec<u8>)]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let bodies: Vec<&[u8]> = deliveries.iter().map(|(_, body)| body.as_slice()).collect();
        let deliveries = deliveries
            .iter()
            .enumerate()
            .map(|(at, (delivery, _))| (delivery, at));
        self.store_deliveries(None, &bodies, deliveries)
            .await
            .map(|_| ())
    }

    async fn claim_due(&self, max: usize, lease: Duration) -> Result<Vec<DueDelivery>, StoreError> {
        self.claim_due_deliveries(max, lease).await
    }

    async fn defer(&self, id: &DeliveryId, at: DateTime<Utc>) -> Result<(), StoreError> {
        ::redis::cmd("ZADD")
            .arg(self.keys.due())
            .arg("XX")
            .arg(at.timestamp_millis().max(0))
            .arg(id.to_string())
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("defer a webhook delivery"))
    }

    async fn record(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> Result<bool, StoreError> {
        self.write_delivery(delivery, expected_attempts, None).await
    }

    async fn endpoint_health(
        &self,
        _tenant: &TenantId,
        id: &SubscriptionId,
        failed: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let (failing, id) = (self.keys.failing(), id.to_string());
        if !failed {
            ::redis::cmd("HDEL")
                .arg(&failing)
                .arg(&id)
                .query_async::<()>(&mut self.conn())
                .await
                .map_err(backend("note a webhook endpoint's success"))?;
            return Ok(None);
        }
        let (since,): (Option<i64>,) = ::redis::pipe()
            .atomic()
            .cmd("HSETNX")
            .arg(&failing)
            .arg(&id)
            .arg(now.timestamp_millis())
            .ignore()
            .cmd("HGET")
            .arg(&failing)
            .arg(&id)
            .query_async(&mut self.conn())
            .await
            .map_err(backend("note a webhook endpoint's failure"))?;
        since.map(from_millis).transpose()
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        let doc: Option<Vec<u8>> = ::redis::cmd("HGET")
            .arg(self.keys.delivery(id))
            .arg("doc")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a webhook delivery"))?;
        let id = id.to_string();
        Ok(doc
            .map(|doc| parse_delivery(&id, &doc))
            .transpose()?
            .filter(|d| &d.tenant == tenant))
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        self.list_deliveries(tenant, subscription, query).await
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(delivery) = self.delivery(tenant, id).await? else {
                return Ok(None);
            };
            let retried = delivery.retried(Utc::now());
            // Due by the server's clock, like every other "at once" of the schedule.
            if self
                .write_delivery(&retried, delivery.attempt_count, Some("now"))
                .await?
            {
                return Ok(Some(retried));
            }
            // An attempt was recorded in between: retry from the newer record.
        }
        Err(StoreError::Backend(format!(
            "failed to retry delivery {id}: it kept changing during {CAS_ATTEMPTS} attempts"
        )))
    }

    async fn delivery_stats(&self) -> Result<DeliveryQueueStats, StoreError> {
        let due = self.keys.due();
        let (scheduled, oldest): (u64, Vec<(String, f64)>) = ::redis::pipe()
            .atomic()
            .cmd("ZCARD")
            .arg(&due)
            .cmd("ZRANGE")
            .arg(&due)
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read the webhook delivery schedule"))?;
        let oldest_due = oldest
            .first()
            // Scores are whole milliseconds, well within an f64's exact integers.
            .map(|(_, score)| from_millis(*score as i64))
            .transpose()?;
        Ok(DeliveryQueueStats {
            scheduled,
            oldest_due,
        })
    }
}

#[cfg(test)]
mod tests {
    //! Quick checks against a private Redis of what only this backend can get wrong (the
    //! outbox writes in the job scripts, the wants counters, the script CAS); the behaviours
    //! of the trait are the conformance suite's.

    use super::*;
    use crate::event::EventType;
    use crate::store::redis::testing::{new_job, open, outbox_len, read_all, run, subscription};
    use crate::store::{Store, StoreConfig};
    use crate::webhook::{HookStatus, SubscriptionRequest};

    #[tokio::test]
    async fn a_jobs_own_webhook_gets_an_outbox_entry_per_wanted_event_only() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let hook = serde_json::json!({"url": "https://client.example/h"});
        let job = run(&store, new_job("demo.report", Some(hook.clone())), false).await;
        let entries = read_all(&store).await;
        let kinds: Vec<_> = entries.iter().map(|e| e.event.kind).collect();
        assert_eq!(
            kinds,
            [EventType::Completed],
            "only the terminal event by default"
        );
        assert_eq!(entries[0].event.job.id, job.id);
        assert_eq!(entries[0].tenant, TenantId::default_tenant());
        let entry_hook = entries[0].hook.as_ref().unwrap();
        assert_eq!(entry_hook.url.as_str(), "https://client.example/h");

        // The webhook is no part of the record or its events; the status shows it waits.
        let read = store.get(&job.tenant, &job.id).await.unwrap().unwrap();
        assert_eq!(read.webhook, Some(HookStatus::WAITING));
        let history = store.history(&job.tenant, &job.id, 0).await.unwrap();
        assert!(history.iter().all(|e| e.job.webhook.is_none()));

        let every = serde_json::json!({"url": "https://client.example/h",
            "events": ["job.pending", "job.processing", "job.failed"]});
        run(&store, new_job("demo.report", Some(every)), true).await;
        let kinds: Vec<_> = read_all(&store)
            .await
            .iter()
            .map(|e| e.event.kind)
            .collect();
        assert_eq!(
            kinds,
            [EventType::Pending, EventType::Processing, EventType::Failed]
        );
    }

    #[tokio::test]
    async fn a_replayed_submission_shows_its_jobs_webhook_status() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let mut new = new_job(
            "demo.report",
            Some(
                serde_json::json!({"url": "https://client.example/h", "secret": "a-long-enough-secret"}),
            ),
        );
        new.idempotency_key = Some(crate::ids::IdempotencyKey::try_from("k-1").unwrap());
        let created = store.create(new.clone()).await.unwrap();
        let replayed = store.create(new).await.unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.job.webhook, Some(HookStatus::WAITING));
        assert_eq!(replayed.job, created.job);
    }

    #[tokio::test]
    async fn jobs_nobody_wants_write_nothing_to_the_outbox() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let plain = run(&store, new_job("demo.report", None), false).await;
        assert_eq!(outbox_len(&store).await, 0);
        assert_eq!(
            store
                .get(&plain.tenant, &plain.id)
                .await
                .unwrap()
                .unwrap()
                .webhook,
            None
        );

        // Subscriptions to other events, other job types, or disabled, want nothing either.
        let failed_only = subscription(&["job.failed"], &[]);
        assert!(store.put_subscription(&failed_only, None).await.unwrap());
        let other_type = subscription(&["job.completed"], &["demo.other"]);
        assert!(store.put_subscription(&other_type, None).await.unwrap());
        let off = subscription(&["job.completed"], &[]);
        let off = off.disabled("by a test", Utc::now());
        assert!(store.put_subscription(&off, None).await.unwrap());
        run(&store, new_job("demo.report", None), false).await;
        assert_eq!(outbox_len(&store).await, 0);

        // Until one wants it.
        run(&store, new_job("demo.report", None), true).await;
        let entries = read_all(&store).await;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].event.kind, EventType::Failed);
        assert!(entries[0].hook.is_none());
        run(&store, new_job("demo.other", None), false).await;
        assert_eq!(read_all(&store).await.len(), 1, "the typed subscription");
    }

    #[tokio::test]
    async fn subscription_writes_keep_the_wants_counters_exact() {
        let (store, _redis) = open(StoreConfig::default()).await;
        let tenant = TenantId::default_tenant();
        let wants = || async {
            let counts: Vec<(String, i64)> = ::redis::cmd("HGETALL")
                .arg(store.keys.wants(&tenant))
                .query_async(&mut store.conn())
                .await
                .unwrap();
            let mut counts = counts;
            counts.sort();
            counts
        };
        let a = subscription(&["job.completed", "job.failed"], &[]);
        let b = subscription(&["job.completed"], &["demo.report"]);
        assert!(store.put_subscription(&a, None).await.unwrap());
        assert!(!store.put_subscription(&a, None).await.unwrap(), "id taken");
        assert!(store.put_subscription(&b, None).await.unwrap());
        assert_eq!(
            wants().await,
            [
                ("job.completed".to_owned(), 1),
                ("job.completed/demo.report".to_owned(), 1),
                ("job.failed".to_owned(), 1),
            ]
        );
        let patched = a
            .patched(
                SubscriptionRequest {
                    events: Some(vec!["job.failed".to_owned()]),
                    ..Default::default()
                },
                Utc::now(),
            )
            .unwrap();
        assert!(!store.put_subscription(&patched, Some(7)).await.unwrap());
        assert!(
            store
                .put_subscription(&patched, Some(a.version))
                .await
                .unwrap()
        );
        assert!(
            !store
                .put_subscription(&patched, Some(a.version))
                .await
                .unwrap()
        );
        let disabled = b.disabled("410 Gone", Utc::now());
        assert!(
            store
                .put_subscription(&disabled, Some(b.version))
                .await
                .unwrap()
        );
        assert_eq!(wants().await, [("job.failed".to_owned(), 1)]);
        assert_eq!(
            store.subscription(&tenant, &a.id).await.unwrap(),
            Some(patched.clone())
        );
        let listed: Vec<_> = store.subscriptions(&tenant).await.unwrap();
        assert_eq!(listed, [patched, disabled]);
        assert!(store.delete_subscription(&tenant, &a.id).await.unwrap());
        assert!(!store.delete_subscription(&tenant, &a.id).await.unwrap());
        assert!(wants().await.is_empty());
        let other = TenantId::parse("acme").unwrap();
        assert_eq!(store.subscription(&other, &b.id).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_tenant_holds_at_most_the_limit_of_subscriptions() {
        let (store, _redis) = open(StoreConfig::default()).await;
        for _ in 0..MAX_SUBSCRIPTIONS {
            let sub = subscription(&["job.completed"], &[]);
            assert!(store.put_subscription(&sub, None).await.unwrap());
        }
        let one_more = subscription(&["job.completed"], &[]);
        assert!(matches!(
            store.put_subscription(&one_more, None).await,
            Err(StoreError::LimitReached(_))
        ));
        let counts: Option<i64> = ::redis::cmd("HGET")
            .arg(store.keys.wants(&TenantId::default_tenant()))
            .arg("job.completed")
            .query_async(&mut store.conn())
            .await
            .unwrap();
        assert_eq!(counts, Some(MAX_SUBSCRIPTIONS as i64));
    }

    #[tokio::test]
    async fn outbox_entries_a_notifier_left_come_back_and_unreadable_ones_go() {
        let config = StoreConfig {
            lease_timeout: Duration::from_millis(300),
            ..StoreConfig::default()
        };
        let (store, _redis) = open(config).await;
        let hook = serde_json::json!({"url": "https://client.example/h"});
        run(&store, new_job("demo.report", Some(hook)), false).await;
        let _: String = ::redis::cmd("XADD")
            .arg(store.keys.outbox())
            .arg("*")
            .arg("tenant")
            .arg("default")
            .arg("event")
            .arg("not json")
            .query_async(&mut store.conn())
            .await
            .unwrap();
        let read = store.read_outbox("dead", 10, Duration::ZERO).await.unwrap();
        assert_eq!(read.len(), 1, "the unreadable entry is dropped");
        assert_eq!(outbox_len(&store).await, 1);
        assert!(
            store
                .read_outbox("alive", 10, Duration::from_millis(50))
                .await
                .unwrap()
                .is_empty()
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let back = store
            .read_outbox("alive", 10, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].id, read[0].id);
        store.expand(&back[0], &[], Bytes::new()).await.unwrap();
        assert_eq!(outbox_len(&store).await, 0);

        // Redis lost the group: the next read recreates it.
        let _: () = ::redis::cmd("DEL")
            .arg(store.keys.outbox())
            .query_async(&mut store.conn())
            .await
            .unwrap();
        run(
            &store,
            new_job(
                "demo.report",
                Some(serde_json::json!({"url": "https://client.example/h"})),
            ),
            false,
        )
        .await;
        let after_loss = store
            .read_outbox("alive", 10, Duration::from_millis(100))
            .await
            .unwrap();
        assert_eq!(after_loss.len(), 1);
    }
}
