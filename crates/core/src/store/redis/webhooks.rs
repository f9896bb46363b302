//! [`WebhookStore`] on Redis: subscriptions with their wants counters, the expansion of
//! outbox entries into deliveries, and the delivery schedule with its leases.
//!
//! Every write that must move several keys together is one script (see `scripts/`):
//! storing or deleting a subscription (its record, version and wants counters), storing
//! deliveries (with the outbox acknowledgement that makes an expansion exactly-once),
//! claiming due deliveries (the lease is the due time moved to the end of the lease) and
//! recording an attempt (compare-and-set on the attempt count). Lua parses no JSON: the
//! version, state and attempt count a script compares sit in plain fields beside each doc.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::outbox::NOTIFIER_GROUP;
use super::{CAS_ATTEMPTS, RedisStore, backend, keys, millis, scripts, to_json, ttl_millis};
use crate::ids::{DeliveryId, SubscriptionId, TenantId};
use crate::store::StoreError;
use crate::store::webhooks::{
    DeliveryPage, DeliveryQuery, DeliveryQueueStats, DueDelivery, OutboxEntry, WebhookStore,
};
use crate::webhook::{
    Delivery, DeliveryState, HookStatus, MAX_SUBSCRIPTIONS, Subscription, WebhookSecret,
};

/// How many deliveries one page of a listing examines at least, and per delivery asked for:
/// with a state filter a page may hold fewer than asked (see [`DeliveryPage`]).
const MIN_EXAMINED: usize = 500;
const EXAMINED_PER_RESULT: usize = 5;

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

fn parse_delivery(id: &str, doc: &[u8]) -> Result<Delivery, StoreError> {
    serde_json::from_slice(doc)
        .map_err(|e| StoreError::Corrupt(format!("the record of delivery {id}: {e}")))
}

fn parse_subscription(id: &str, doc: &[u8]) -> Result<Subscription, StoreError> {
    serde_json::from_slice(doc)
        .map_err(|e| StoreError::Corrupt(format!("the record of subscription {id}: {e}")))
}

fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
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

impl RedisStore {
    /// Stores deliveries due at once; with an outbox entry, acknowledges it in the same
    /// script. `false` when the entry was acknowledged already (nothing was stored).
    async fn store_deliveries(
        &self,
        entry: Option<&str>,
        deliveries: &[(Delivery, Vec<u8>)],
    ) -> Result<bool, StoreError> {
        let keys = &self.keys;
        let mut call = scripts::STORE_DELIVERIES.prepare_invoke();
        call.key(keys.outbox()).key(keys.due());
        call.arg(entry.unwrap_or(""))
            .arg(NOTIFIER_GROUP)
            .arg(ttl_millis(self.config.delivery_retention))
            .arg(self.config.deliveries_listed_max)
            .arg(self.config.history_max);
        for (delivery, body) in deliveries {
            let job = keys.job(&delivery.job_id);
            call.key(keys.delivery(&delivery.id))
                .key(&job)
                .key(keys.bodies(&delivery.job_id));
            match &delivery.subscription {
                Some(sub) => call.key(keys.deliveries(sub)),
                None => call.key(&job),
            };
            call.arg(delivery.id.to_string())
                .arg(to_json(delivery)?)
                .arg(body.as_slice())
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
                .arg(delivery.job_id.to_string());
        }
        let stored: i64 = call
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("store webhook deliveries"))?;
        Ok(stored == 1)
    }

    /// Writes a delivery's new state if its attempt count is still `expected_attempts`;
    /// `due` overrides when it is due (`"now"`: by the server's clock).
    async fn write_delivery(
        &self,
        delivery: &Delivery,
        expected_attempts: u32,
        due: Option<&str>,
    ) -> Result<bool, StoreError> {
        let due = due.map_or_else(|| due_arg(delivery), str::to_owned);
        let written: i64 = scripts::RECORD_DELIVERY
            .key(self.keys.delivery(&delivery.id))
            .key(self.keys.due())
            .key(self.keys.job(&delivery.job_id))
            .arg(delivery.id.to_string())
            .arg(expected_attempts)
            .arg(to_json(delivery)?)
            .arg(delivery.attempt_count)
            .arg(delivery.state.as_str())
            .arg(due)
            .arg(hook_status_arg(delivery)?)
            .arg(delivery.seq)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("record a webhook delivery"))?;
        Ok(written == 1)
    }
}

#[async_trait]
impl WebhookStore for RedisStore {
    async fn put_subscription(
        &self,
        subscription: &Subscription,
        expected_version: Option<u64>,
    ) -> Result<bool, StoreError> {
        let tenant = &subscription.tenant;
        let keys = &self.keys;
        let stored: i64 = scripts::PUT_SUBSCRIPTION
            .key(keys.subscriptions(tenant))
            .key(keys.subscription_versions(tenant))
            .key(keys.subscription_wanted(tenant))
            .key(keys.wants(tenant))
            .arg(subscription.id.to_string())
            .arg(to_json(subscription)?)
            .arg(subscription.version.to_string())
            .arg(expected_version.map(|v| v.to_string()).unwrap_or_default())
            .arg(keys::wants_fields(subscription).join(" "))
            .arg(MAX_SUBSCRIPTIONS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("store a webhook subscription"))?;
        match stored {
            -1 => Err(StoreError::LimitReached(format!(
                "a tenant holds at most {MAX_SUBSCRIPTIONS} webhook subscriptions"
            ))),
            stored => Ok(stored == 1),
        }
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
        let keys = &self.keys;
        let deleted: i64 = scripts::DELETE_SUBSCRIPTION
            .key(keys.subscriptions(tenant))
            .key(keys.subscription_versions(tenant))
            .key(keys.subscription_wanted(tenant))
            .key(keys.wants(tenant))
            .key(keys.failing())
            .arg(id.to_string())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("delete a webhook subscription"))?;
        Ok(deleted == 1)
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
        deliveries: &[(Delivery, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if !self.store_deliveries(Some(&entry.id), deliveries).await? {
            tracing::debug!(entry = %entry.id, "an outbox entry was expanded already");
        }
        Ok(())
    }

    async fn enqueue(&self, deliveries: &[(Delivery, Vec<u8>)]) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        self.store_deliveries(None, deliveries).await.map(|_| ())
    }

    async fn claim_due(&self, max: usize, lease: Duration) -> Result<Vec<DueDelivery>, StoreError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let reply: Vec<Option<Vec<u8>>> = scripts::CLAIM_DUE
            .key(self.keys.due())
            .arg(max)
            .arg(millis(lease).max(1))
            .arg(self.keys.delivery_prefix())
            .arg(self.keys.subscriptions_prefix())
            .arg(self.keys.job_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("claim due webhook deliveries"))?;
        let mut due = Vec::new();
        for row in reply.chunks(5) {
            let [Some(id), Some(doc), body, sub, secret] = row else {
                return Err(StoreError::Backend(format!(
                    "failed to claim due webhook deliveries: unexpected script reply {} values",
                    row.len()
                )));
            };
            let id = String::from_utf8_lossy(id);
            let parsed = parse_delivery(&id, doc).and_then(|delivery| {
                let subscription = sub
                    .as_deref()
                    .map(|doc| parse_subscription(&id, doc))
                    .transpose()?;
                let job_secret = secret
                    .as_deref()
                    .map(|raw| {
                        std::str::from_utf8(raw)
                            .ok()
                            .and_then(|raw| WebhookSecret::parse(raw).ok())
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "the webhook secret of the job of delivery {id}"
                                ))
                            })
                    })
                    .transpose()?;
                Ok((delivery, subscription, job_secret))
            });
            match parsed {
                Ok((delivery, subscription, job_secret)) => due.push(DueDelivery {
                    delivery,
                    body: body.clone(),
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
        let limit = query.limit;
        if limit == 0 {
            return Ok(DeliveryPage {
                deliveries: Vec::new(),
                next_cursor: None,
            });
        }
        let index = self.keys.deliveries(subscription);
        let budget = limit.saturating_mul(EXAMINED_PER_RESULT).max(MIN_EXAMINED);
        let mut upper = query
            .before
            .map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let mut matched: Vec<String> = Vec::new();
        let mut examined = 0;
        let mut last_examined: Option<String> = None;
        let mut more = false;
        loop {
            if examined >= budget {
                more = true;
                break;
            }
            // Without a filter every record found is listed: one beyond the page tells
            // whether another page follows. With one, read further ahead.
            let factor = if query.state.is_some() {
                EXAMINED_PER_RESULT
            } else {
                1
            };
            let count = ((limit - matched.len()) * factor + 1).min(budget - examined);
            let ids = self
                .index_page(&index, &upper, count, "read a subscription's deliveries")
                .await?;
            let mut pipe = ::redis::pipe();
            for id in &ids {
                pipe.cmd("HMGET")
                    .arg(format!("{}{id}}}", self.keys.delivery_prefix()))
                    .arg("tenant")
                    .arg("state");
            }
            let rows: Vec<(Option<String>, Option<String>)> = if ids.is_empty() {
                Vec::new()
            } else {
                pipe.query_async(&mut self.conn())
                    .await
                    .map_err(backend("read listed webhook deliveries"))?
            };
            let mut gone = Vec::new();
            for (id, (owner, state)) in ids.iter().zip(rows) {
                if matched.len() == limit {
                    more = true;
                    break;
                }
                examined += 1;
                last_examined = Some(id.clone());
                let Some(owner) = owner else {
                    gone.push(id.as_str());
                    continue;
                };
                if owner != tenant.as_str() {
                    // A subscription's deliveries all belong to its tenant: this index is
                    // another tenant's, and lists nothing, not even a cursor, to this one.
                    return Ok(DeliveryPage {
                        deliveries: Vec::new(),
                        next_cursor: None,
                    });
                }
                let state_matches = query
                    .state
                    .is_none_or(|wanted| state.as_deref() == Some(wanted.as_str()));
                if state_matches {
                    matched.push(id.clone());
                }
            }
            if !gone.is_empty() {
                // Expired deliveries: the index forgets them as it meets them.
                ::redis::cmd("ZREM")
                    .arg(&index)
                    .arg(&gone)
                    .query_async::<()>(&mut self.conn())
                    .await
                    .map_err(backend("drop expired deliveries from a listing"))?;
            }
            if more || ids.len() < count {
                break;
            }
            if let Some(last) = ids.last() {
                upper = format!("({last}");
            }
        }
        let mut pipe = ::redis::pipe();
        for id in &matched {
            pipe.cmd("HGET")
                .arg(format!("{}{id}}}", self.keys.delivery_prefix()))
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
        let next_cursor = if more {
            last_examined
                .as_deref()
                .map(DeliveryId::parse)
                .transpose()
                .map_err(|e| StoreError::Corrupt(format!("a deliveries index: {e}")))?
        } else {
            None
        };
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

    use herald_testkit::RedisServer;

    use super::*;
    use crate::event::EventType;
    use crate::ids::{JobType, WorkerId};
    use crate::job::{Job, NewJob};
    use crate::store::{Store, StoreConfig};
    use crate::webhook::{
        Attempt, AttemptResult, JobHook, SubscriptionRequest, Target, render_body,
    };

    async fn open(config: StoreConfig) -> (RedisStore, RedisServer) {
        let redis = RedisServer::start();
        let store = RedisStore::connect(redis.url(), &RedisServer::fresh_prefix(), config)
            .await
            .unwrap();
        (store, redis)
    }

    fn new_job(kind: &str, hook: Option<serde_json::Value>) -> NewJob {
        NewJob {
            tenant: TenantId::default_tenant(),
            job_type: JobType::parse(kind).unwrap(),
            payload: serde_json::json!({}),
            timeout: Duration::from_secs(30),
            max_attempts: 1,
            metadata: Default::default(),
            idempotency_key: None,
            webhook: hook.map(|raw| JobHook::parse(raw).unwrap()),
        }
    }

    fn subscription(events: &[&str], job_types: &[&str]) -> Subscription {
        Subscription::create(
            TenantId::default_tenant(),
            SubscriptionRequest {
                url: Some("https://client.example/subscribed".to_owned()),
                events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
                job_types: Some(job_types.iter().map(|t| (*t).to_owned()).collect()),
                ..Default::default()
            },
            Utc::now(),
        )
        .unwrap()
    }

    /// Creates, starts and finishes a job (completed, or failed when `fail`).
    async fn run(store: &RedisStore, new: NewJob, fail: bool) -> Job {
        let kind = new.job_type.clone();
        let job = store.create(new).await.unwrap().job;
        let worker = WorkerId::generate();
        let mut claimed = store
            .claim(&worker, &[kind], 1, Duration::from_secs(5))
            .await
            .unwrap();
        let lease = claimed.remove(0).lease;
        assert_eq!(lease.job.id, job.id);
        if fail {
            let error = crate::job::JobError::new(crate::job::ErrorCode::HandlerError, "it broke");
            store.fail(lease, error, None).await.unwrap()
        } else {
            store.complete(lease, None).await.unwrap()
        }
    }

    async fn outbox_len(store: &RedisStore) -> u64 {
        ::redis::cmd("XLEN")
            .arg(store.keys.outbox())
            .query_async(&mut store.conn())
            .await
            .unwrap()
    }

    async fn read_all(store: &RedisStore) -> Vec<OutboxEntry> {
        store.read_outbox("n1", 100, Duration::ZERO).await.unwrap()
    }

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
        let body = render_body(&entry.event);
        let deliveries = [
            (own.clone(), body.clone()),
            (subscribed.clone(), body.clone()),
        ];
        store.expand(&entry, &deliveries).await.unwrap();
        assert_eq!(
            outbox_len(&store).await,
            0,
            "expanded entries leave the stream"
        );

        // A notifier that reclaimed the entry meanwhile expands it again: nothing happens.
        let again = [(
            Delivery::new(Target::Subscription(&sub), &entry.tenant, &entry.event, now),
            body.clone(),
        )];
        store.expand(&entry, &again).await.unwrap();
        assert_eq!(store.delivery_stats().await.unwrap().scheduled, 2);
        assert_eq!(
            store.delivery(&entry.tenant, &again[0].0.id).await.unwrap(),
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
        assert_eq!(claimed_sub.subscription.as_ref(), Some(&sub));
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
        store.expand(&back[0], &[]).await.unwrap();
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
