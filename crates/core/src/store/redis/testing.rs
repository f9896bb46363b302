//! What the backend's own unit tests share: a store on a private Redis, and jobs and
//! subscriptions run through it (compiled for tests only).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use herald_testkit::RedisServer;

use super::{Partition, RedisStore};
use crate::ids::{TenantId, WorkerId};
use crate::job::{Job, NewJob};
use crate::store::webhooks::{OutboxEntry, WebhookStore};
use crate::store::{Store, StoreConfig};
use crate::webhook::{JobHook, Subscription, SubscriptionRequest};

/// The one partition of a fresh store on a private Redis.
pub(super) async fn open(config: StoreConfig) -> (Arc<Partition>, RedisServer) {
    let redis = RedisServer::start();
    let store = RedisStore::connect(redis.url(), &RedisServer::fresh_prefix(), config)
        .await
        .unwrap();
    (store.only_partition(), redis)
}

pub(super) fn new_job(kind: &str, hook: Option<serde_json::Value>) -> NewJob {
    NewJob {
        timeout: Duration::from_secs(30),
        webhook: hook.map(|raw| JobHook::parse(raw).unwrap()),
        ..crate::testing::new_job(kind)
    }
}

pub(super) fn subscription(events: &[&str], job_types: &[&str]) -> Subscription {
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
pub(super) async fn run(store: &Partition, new: NewJob, fail: bool) -> Job {
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

pub(super) async fn outbox_len(store: &Partition) -> u64 {
    ::redis::cmd("XLEN")
        .arg(store.keys.outbox())
        .query_async(&mut store.conn())
        .await
        .unwrap()
}

pub(super) async fn read_all(store: &Partition) -> Vec<OutboxEntry> {
    store.read_outbox("n1", 100, Duration::ZERO).await.unwrap()
}
