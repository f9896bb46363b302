//! [`WebhookStore`], [`KeyStore`] and [`SourceStore`] over partitions: subscriptions written
//! to partition 0 and copied to every other, the outbox and due deliveries read from every
//! partition, each delivery in its job's partition; API keys, endpoint health and inbound
//! sources with their request logs in partition 0.
//!
//! # Copies of subscriptions
//! The job scripts decide whether an event goes to the outbox from the tenant's wants
//! counters, and a delivery claim reads its subscription, both in the job's partition: each
//! partition holds a copy of every subscription. A write goes to partition 0 first, which
//! alone compares versions (the copies follow it), then to every other partition
//! (`mirror_subscription.lua`: a copy only ever moves to a newer version, and a deletion
//! leaves its version behind, so copies written late or twice cannot bring an older state
//! back). Partition 0's write also marks the subscription in its `subs-unmirrored`, in the
//! same script; once every copy is written the writer takes its mark off, unless another
//! write (or a later one of its own) marked it since. A writer that stopped half-way (Redis unavailable, the process killed)
//! leaves its mark, and every process with the store open copies the marked subscriptions
//! again every few seconds ([`repair`]). Until then, a partition's copy may be behind: events
//! of its jobs follow the subscription as it was.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::future::try_join_all;
use tokio::task::JoinHandle;

use super::super::Partition;
use super::super::connection::backend;
use super::super::outbox::NOTIFIER_GROUP;
use super::{RedisStore, merge};
use crate::apikey::{ApiKey, ApiKeyId};
use crate::ids::{DeliveryId, SourceId, SubscriptionId, TenantId};
use crate::inbound::{RequestRecord, Source};
use crate::store::StoreError;
use crate::store::keys::KeyStore;
use crate::store::sources::{RequestPage, RequestQuery, SourceStore};
use crate::store::webhooks::{
    DeliveryPage, DeliveryQuery, DeliveryQueueStats, DueDelivery, OutboxEntry, WebhookStore,
};
use crate::webhook::{Delivery, Subscription};

/// How often every process copies the subscriptions a writer left half-copied.
const REPAIR_EVERY: Duration = Duration::from_secs(5);
/// How many marked subscriptions one round of the repair copies at most.
const REPAIR_BATCH: usize = 100;

/// A subscription as partition 0 holds it, to copy.
struct Copy {
    /// Its record; `None` once deleted.
    doc: Option<Vec<u8>>,
    /// Its version as the versions hash holds it (`d<version>` once deleted).
    version: String,
    /// Its wants fields, space-separated.
    fields: String,
}

/// The field of `subs-unmirrored` naming a subscription.
fn mark_of(tenant: &TenantId, id: &SubscriptionId) -> String {
    format!("{tenant} {id}")
}

impl Partition {
    /// Takes the mark off unless another write marked it since.
    async fn forget_mirrored(&self, field: &str, mark: i64) -> Result<(), StoreError> {
        self.scripts
            .forget_mirrored
            .key(self.keys.unmirrored())
            .arg(field)
            .arg(mark)
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(backend("unmark a copied subscription"))
    }

    /// Some of the marked subscriptions, with their marks.
    async fn unmirrored(&self) -> Result<Vec<(String, i64)>, StoreError> {
        ::redis::cmd("HRANDFIELD")
            .arg(self.keys.unmirrored())
            .arg(REPAIR_BATCH)
            .arg("WITHVALUES")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read the subscriptions to copy"))
    }

    /// The subscription as this partition holds it; `None` when it never held it.
    async fn copy_of(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Option<Copy>, StoreError> {
        let id = id.to_string();
        // One transaction: a write in between would pair one version's record with another's
        // version.
        let (doc, version, fields): (Option<Vec<u8>>, Option<String>, Option<String>) =
            ::redis::pipe()
                .atomic()
                .cmd("HGET")
                .arg(self.keys.subscriptions(tenant))
                .arg(&id)
                .cmd("HGET")
                .arg(self.keys.subscription_versions(tenant))
                .arg(&id)
                .cmd("HGET")
                .arg(self.keys.subscription_wanted(tenant))
                .arg(&id)
                .query_async(&mut self.conn())
                .await
                .map_err(backend("read a subscription to copy"))?;
        Ok(version.map(|version| Copy {
            doc,
            version,
            fields: fields.unwrap_or_default(),
        }))
    }

    /// Makes this partition's copy `copy`, unless it is as new already.
    async fn write_copy(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        copy: &Copy,
    ) -> Result<(), StoreError> {
        let keys = &self.keys;
        self.scripts
            .mirror_subscription
            .key(keys.subscriptions(tenant))
            .key(keys.subscription_versions(tenant))
            .key(keys.subscription_wanted(tenant))
            .key(keys.wants(tenant))
            .key(keys.failing())
            .arg(id.to_string())
            .arg(copy.doc.as_deref().unwrap_or_default())
            .arg(&copy.version)
            .arg(&copy.fields)
            .invoke_async::<()>(&mut self.acked())
            .await
            .map_err(backend("copy a webhook subscription"))
    }
}

/// Copies the subscription from partition 0 (`parts[0]`) to every other partition, then
/// takes off the mark `mark` unless another write marked it since.
async fn mirror(
    parts: &[Arc<Partition>],
    tenant: &TenantId,
    id: &SubscriptionId,
    mark: i64,
) -> Result<(), StoreError> {
    let Some((first, others)) = parts.split_first() else {
        return Ok(());
    };
    if let Some(copy) = first.copy_of(tenant, id).await? {
        try_join_all(others.iter().map(|part| part.write_copy(tenant, id, &copy))).await?;
    }
    first.forget_mirrored(&mark_of(tenant, id), mark).await
}

/// One round of the repair: copies the marked subscriptions again.
async fn repair_round(parts: &[Arc<Partition>]) -> Result<usize, StoreError> {
    let marked = parts[0].unmirrored().await?;
    let mut copied = 0;
    for (field, mark) in marked {
        let parsed = field.split_once(' ').and_then(|(tenant, id)| {
            Some((
                TenantId::parse(tenant).ok()?,
                SubscriptionId::parse(id).ok()?,
            ))
        });
        let Some((tenant, id)) = parsed else {
            tracing::warn!(%field, "dropping an unreadable mark of a subscription to copy");
            parts[0].forget_mirrored(&field, mark).await?;
            continue;
        };
        mirror(parts, &tenant, &id, mark).await?;
        copied += 1;
    }
    Ok(copied)
}

/// Starts the repair: every [`REPAIR_EVERY`], the subscriptions a writer left half-copied are
/// copied again, until the task is aborted (with its store).
pub(super) fn repair(parts: &[Arc<Partition>]) -> JoinHandle<()> {
    let parts = parts.to_vec();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(REPAIR_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match repair_round(&parts).await {
                Ok(0) => {}
                Ok(copied) => {
                    tracing::info!(copied, "copied subscriptions a writer left half-copied")
                }
                Err(e) => tracing::debug!(error = %e, "could not copy subscriptions yet"),
            }
        }
    })
}

impl RedisStore {
    /// The partition a delivery id names: its job's.
    fn of_delivery(&self, id: &DeliveryId) -> &Partition {
        self.named(id.partition())
    }

    /// Writes the subscription's copies after a write to partition 0 marked `mark`. A failure
    /// is left to the repair: the write itself stands.
    async fn copy_subscription(&self, tenant: &TenantId, id: &SubscriptionId, mark: i64) {
        if let Err(e) = mirror(&self.parts, tenant, id, mark).await {
            tracing::warn!(error = %e, subscription = %id, "a subscription's copies are behind until the repair copies them");
        }
    }
}

#[async_trait]
impl WebhookStore for RedisStore {
    async fn put_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        if let Some(only) = self.only() {
            return only.put_subscription(subscription, expected_version).await;
        }
        let (tenant, id) = (&subscription.tenant, &subscription.id);
        let (marks, field) = (self.first().keys.unmirrored(), mark_of(tenant, id));
        let (stored, mark) = self
            .first()
            .write_subscription(subscription, expected_version, Some((&marks, &field)))
            .await?;
        self.copy_subscription(tenant, id, mark).await;
        Ok(stored)
    }

    async fn subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        self.first().subscription(tenant, id).await
    }

    async fn subscriptions(&self, tenant: &TenantId) -> Result<Vec<Subscription>, StoreError> {
        self.first().subscriptions(tenant).await
    }

    async fn delete_subscription(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
    ) -> Result<bool, StoreError> {
        if let Some(only) = self.only() {
            return only.delete_subscription(tenant, id).await;
        }
        let (marks, field) = (self.first().keys.unmirrored(), mark_of(tenant, id));
        let (deleted, mark) = self
            .first()
            .remove_subscription(tenant, id, Some((&marks, &field)))
            .await?;
        self.copy_subscription(tenant, id, mark).await;
        Ok(deleted)
    }

    async fn read_outbox(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if let Some(only) = self.only() {
            return only.read_outbox(consumer, max, wait).await;
        }
        let reader = format!("outbox {consumer}");
        let consumer = consumer.to_owned();
        self.outbox
            .read(
                &self.parts,
                self.start(),
                reader,
                (max, wait),
                (
                    move |part: Arc<Partition>, count| {
                        let consumer = consumer.clone();
                        async move { part.read_outbox(&consumer, count, Duration::ZERO).await }
                    },
                    |part: Arc<Partition>, wait| async move {
                        part.watch(&[part.keys.outbox()], NOTIFIER_GROUP, wait)
                            .await
                    },
                ),
            )
            .await
    }

    async fn expand(
        &self,
        entry: &OutboxEntry,
        deliveries: &[Delivery],
        body: Bytes,
    ) -> Result<(), StoreError> {
        self.of_job(&entry.event.job.id)
            .expand(entry, deliveries, body)
            .await
    }

    async fn enqueue(&self, deliveries: &[(Delivery, Vec<u8>)]) -> Result<(), StoreError> {
        if let Some(only) = self.only() {
            return only.enqueue(deliveries).await;
        }
        for part in &self.parts {
            let own: Vec<(Delivery, Vec<u8>)> = deliveries
                .iter()
                .filter(|(delivery, _)| self.of_delivery(&delivery.id).index == part.index)
                .cloned()
                .collect();
            part.enqueue(&own).await?;
        }
        Ok(())
    }

    async fn claim_due(&self, max: usize, lease: Duration) -> Result<Vec<DueDelivery>, StoreError> {
        let (count, start) = (self.parts.len(), self.start());
        let mut due = Vec::new();
        let mut failed = None;
        for i in 0..count {
            if due.len() >= max {
                break;
            }
            let part = &self.parts[(start + i) % count];
            // What other partitions gave is handed out (it is leased): a partition that
            // cannot be read answers for itself only when nothing was.
            match part.claim_due(max - due.len(), lease).await {
                Ok(claimed) => due.extend(claimed),
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        match failed {
            Some(e) if due.is_empty() => Err(e),
            _ => Ok(due),
        }
    }

    async fn defer(&self, id: &DeliveryId, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.of_delivery(id).defer(id, at).await
    }

    async fn record(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
    ) -> Result<bool, StoreError> {
        self.of_delivery(&delivery.id)
            .record(delivery, expected_attempts)
            .await
    }

    async fn endpoint_health(
        &self,
        tenant: &TenantId,
        id: &SubscriptionId,
        failed: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.first().endpoint_health(tenant, id, failed, now).await
    }

    async fn delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.of_delivery(id).delivery(tenant, id).await
    }

    async fn deliveries(
        &self,
        tenant: &TenantId,
        subscription: &SubscriptionId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StoreError> {
        if let Some(only) = self.only() {
            return only.deliveries(tenant, subscription, query).await;
        }
        let pages = try_join_all(
            self.parts
                .iter()
                .map(|part| part.deliveries(tenant, subscription, query)),
        )
        .await?;
        let (deliveries, next_cursor) = merge::newest_first(
            pages
                .into_iter()
                .map(|page| (page.deliveries, page.next_cursor))
                .collect(),
            |delivery: &Delivery| delivery.id,
            query.limit,
        );
        Ok(DeliveryPage {
            deliveries,
            next_cursor,
        })
    }

    async fn retry_delivery(
        &self,
        tenant: &TenantId,
        id: &DeliveryId,
    ) -> Result<Option<Delivery>, StoreError> {
        self.of_delivery(id).retry_delivery(tenant, id).await
    }

    async fn delivery_stats(&self) -> Result<DeliveryQueueStats, StoreError> {
        let all = try_join_all(self.parts.iter().map(|part| part.delivery_stats())).await?;
        Ok(DeliveryQueueStats {
            scheduled: all.iter().map(|stats| stats.scheduled).sum(),
            oldest_due: all.iter().filter_map(|stats| stats.oldest_due).min(),
        })
    }
}

#[async_trait]
impl KeyStore for RedisStore {
    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        self.first().create_key(key).await
    }

    async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.first().key(id).await
    }

    async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        self.first().keys(tenant).await
    }

    async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
        self.first().revoke_key(id).await
    }

    async fn has_keys(&self) -> Result<bool, StoreError> {
        self.first().has_keys().await
    }
}

#[async_trait]
impl SourceStore for RedisStore {
    async fn create_source(&self, source: &Source) -> Result<(), StoreError> {
        self.first().create_source(source).await
    }

    async fn source(&self, tenant: &TenantId, id: &SourceId) -> Result<Option<Source>, StoreError> {
        self.first().source(tenant, id).await
    }

    async fn sources(&self, tenant: &TenantId) -> Result<Vec<Source>, StoreError> {
        self.first().sources(tenant).await
    }

    async fn source_by_token(&self, token: &str) -> Result<Option<Source>, StoreError> {
        self.first().source_by_token(token).await
    }

    async fn update_source(&self, source: &Source) -> Result<bool, StoreError> {
        self.first().update_source(source).await
    }

    async fn delete_source(&self, tenant: &TenantId, id: &SourceId) -> Result<bool, StoreError> {
        self.first().delete_source(tenant, id).await
    }

    async fn record_request(
        &self,
        source: &SourceId,
        record: &RequestRecord,
    ) -> Result<(), StoreError> {
        self.first().record_request(source, record).await
    }

    async fn requests(
        &self,
        source: &SourceId,
        query: &RequestQuery,
    ) -> Result<RequestPage, StoreError> {
        self.first().requests(source, query).await
    }

    async fn requests_between(
        &self,
        source: &SourceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        self.first().requests_between(source, since, until).await
    }
}

#[cfg(test)]
mod tests {
    use herald_testkit::RedisServer;

    use super::*;
    use crate::store::StoreConfig;
    use crate::store::redis::RedisOptions;
    use crate::store::redis::testing::subscription;

    async fn spread(redis: &RedisServer) -> RedisStore {
        let options = RedisOptions {
            partitions: Some(3),
            ..RedisOptions::default()
        };
        RedisStore::connect_with(
            redis.url(),
            &RedisServer::fresh_prefix(),
            StoreConfig::default(),
            options,
        )
        .await
        .unwrap()
    }

    /// The version each partition's copy holds.
    async fn versions(store: &RedisStore, sub: &Subscription) -> Vec<Option<String>> {
        let mut versions = Vec::new();
        for part in &store.parts {
            let copy = part.copy_of(&sub.tenant, &sub.id).await.unwrap();
            versions.push(copy.map(|copy| copy.version));
        }
        versions
    }

    /// The wants counters each partition holds for the tenant.
    async fn wants(store: &RedisStore, sub: &Subscription) -> Vec<Vec<(String, i64)>> {
        let mut all = Vec::new();
        for part in &store.parts {
            let counters: Vec<(String, i64)> = ::redis::cmd("HGETALL")
                .arg(part.keys.wants(&sub.tenant))
                .query_async(&mut part.conn())
                .await
                .unwrap();
            all.push(counters);
        }
        all
    }

    #[tokio::test]
    async fn copies_follow_partition_0_and_a_half_copied_write_is_repaired() {
        let redis = RedisServer::start();
        let store = spread(&redis).await;
        let sub = subscription(&["job.completed"], &[]);
        assert!(store.put_subscription(&sub, None).await.unwrap());
        let one = Some(sub.version.to_string());
        assert_eq!(
            versions(&store, &sub).await,
            [one.clone(), one.clone(), one]
        );
        let counted = vec![("job.completed".to_owned(), 1)];
        assert_eq!(wants(&store, &sub).await, vec![counted.clone(); 3]);
        assert!(store.parts[0].unmirrored().await.unwrap().is_empty());

        // A writer that stops after partition 0: its mark stays, and the repair copies it.
        let first = &store.parts[0];
        let (marks, field) = (first.keys.unmirrored(), mark_of(&sub.tenant, &sub.id));
        let disabled = sub.disabled("test", Utc::now());
        let (stored, mark) = first
            .write_subscription(&disabled, Some(sub.version), Some((&marks, &field)))
            .await
            .unwrap();
        assert!(stored && mark >= 1);
        let two = Some(disabled.version.to_string());
        assert_eq!(
            versions(&store, &sub).await[1],
            Some(sub.version.to_string())
        );
        assert_eq!(repair_round(&store.parts).await.unwrap(), 1);
        assert_eq!(
            versions(&store, &sub).await,
            [two.clone(), two.clone(), two]
        );
        assert_eq!(wants(&store, &sub).await, vec![Vec::new(); 3]);
        assert!(first.unmirrored().await.unwrap().is_empty());
        assert_eq!(repair_round(&store.parts).await.unwrap(), 0);

        // A copy written late, of an older version, changes nothing.
        let stale = Copy {
            doc: Some(serde_json::to_vec(&sub).unwrap()),
            version: sub.version.to_string(),
            fields: "job.completed".to_owned(),
        };
        store.parts[1]
            .write_copy(&sub.tenant, &sub.id, &stale)
            .await
            .unwrap();
        assert_eq!(
            store.subscription(&sub.tenant, &sub.id).await.unwrap(),
            Some(disabled.clone())
        );
        assert_eq!(wants(&store, &sub).await, vec![Vec::new(); 3]);

        // Deleted: a deletion's version stays behind, so no late copy brings it back.
        assert!(
            store
                .delete_subscription(&sub.tenant, &sub.id)
                .await
                .unwrap()
        );
        let gone = Some(format!("d{}", disabled.version));
        assert_eq!(
            versions(&store, &sub).await,
            [gone.clone(), gone.clone(), gone]
        );
        let late = Copy {
            doc: Some(serde_json::to_vec(&disabled).unwrap()),
            version: disabled.version.to_string(),
            fields: String::new(),
        };
        store.parts[2]
            .write_copy(&sub.tenant, &sub.id, &late)
            .await
            .unwrap();
        let copy = store.parts[2]
            .copy_of(&sub.tenant, &sub.id)
            .await
            .unwrap()
            .unwrap();
        assert!(copy.doc.is_none());
        assert!(store.subscriptions(&sub.tenant).await.unwrap().is_empty());
        // A later version, written in any order, is newer than an earlier deletion.
        let newer = Copy {
            doc: Some(b"{}".to_vec()),
            version: "10".to_owned(),
            fields: String::new(),
        };
        store.parts[2]
            .write_copy(&sub.tenant, &sub.id, &newer)
            .await
            .unwrap();
        let copy = store.parts[2]
            .copy_of(&sub.tenant, &sub.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(copy.version, "10");
        // A deletion's version deletes, whatever record comes with it.
        let deleted = Copy {
            doc: Some(b"{}".to_vec()),
            version: "d11".to_owned(),
            fields: "job.completed".to_owned(),
        };
        store.parts[2]
            .write_copy(&sub.tenant, &sub.id, &deleted)
            .await
            .unwrap();
        let copy = store.parts[2]
            .copy_of(&sub.tenant, &sub.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((copy.doc, copy.version.as_str()), (None, "d11"));
        assert_eq!(wants(&store, &sub).await, vec![Vec::new(); 3]);
    }
}
