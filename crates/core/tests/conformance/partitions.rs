//! A deployment spread over partitions on a Redis Cluster (the whole suite runs on one too, as
//! `partitioned::…`): its jobs land on every shard, a keyed submission is found by every
//! process, its partition count is kept, a waiting claim hears of work in any partition and
//! claims nothing it does not hand out, and subscriptions reach the jobs of every partition.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use herald_core::store::redis::{RedisOptions, RedisStore};
use herald_core::store::webhooks::WebhookStore;
use herald_core::store::{ListQuery, Store};
use herald_core::webhook::{Subscription, SubscriptionRequest};
use herald_core::{FeedCursor, Job, JobId, StoreConfig, WorkerId};
use herald_testkit::backend::PARTITIONS;
use herald_testkit::{Cluster, RedisServer};
use serde_json::json;

use crate::support::{job_type, new_job, tenant};

async fn connect(
    cluster: &Cluster,
    prefix: &str,
    partitions: Option<usize>,
    config: StoreConfig,
) -> Result<RedisStore, herald_core::StoreError> {
    let options = RedisOptions {
        partitions,
        ..RedisOptions::default()
    };
    RedisStore::connect_with(&cluster.url(), prefix, config, options).await
}

async fn spread(cluster: &Cluster, prefix: &str, config: StoreConfig) -> RedisStore {
    connect(cluster, prefix, Some(PARTITIONS), config)
        .await
        .expect("connect to the test Redis Cluster")
}

/// Creates `n` jobs without a key: they go round the partitions.
async fn create(store: &RedisStore, n: usize) -> Vec<Job> {
    let mut jobs = Vec::new();
    for i in 0..n {
        let created = store
            .create(new_job("demo.sleep", json!({ "n": i })))
            .await
            .unwrap();
        jobs.push(created.job);
    }
    jobs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_spreads_its_jobs_over_every_shard_and_reads_them_as_one() {
    let cluster = Cluster::shared();
    let prefix = RedisServer::fresh_prefix();
    let store = spread(&cluster, &prefix, StoreConfig::default()).await;
    let jobs = create(&store, 9).await;
    let partitions: BTreeSet<u8> = jobs.iter().map(|job| job.id.partition()).collect();
    assert_eq!(partitions, (0..3).collect(), "every partition holds jobs");
    let pattern = format!("{{{prefix}/*");
    let holders = tokio::task::spawn_blocking({
        let cluster = Arc::clone(&cluster);
        move || cluster.primaries_holding(&pattern)
    })
    .await
    .unwrap();
    assert_eq!(holders.len(), 3, "each shard serves a partition");

    // Listed as one, newest first, in pages that visit each job once.
    let mut listed = Vec::new();
    let mut before = None;
    loop {
        let query = ListQuery {
            status: None,
            job_type: None,
            limit: 4,
            before,
        };
        let page = store.list(&tenant(), &query).await.unwrap();
        listed.extend(page.jobs.iter().map(|job| job.id));
        match page.next_cursor {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    let mut newest_first: Vec<JobId> = jobs.iter().map(|job| job.id).collect();
    newest_first.reverse();
    assert_eq!(listed, newest_first);

    // Claimed from every partition, and each one's events in the feed in its order.
    let worker = WorkerId::generate();
    let mut done = BTreeSet::new();
    while done.len() < jobs.len() {
        let claimed = store
            .claim(
                &worker,
                &[job_type("demo.sleep")],
                9,
                Duration::from_secs(10),
            )
            .await
            .unwrap();
        assert!(!claimed.is_empty(), "every job is claimed");
        for claimed in claimed {
            let job = store.complete(claimed.lease, None).await.unwrap();
            assert!(done.insert(job.id), "claimed once");
        }
    }
    let feed = store
        .feed(&tenant(), &FeedCursor::START, 100)
        .await
        .unwrap();
    assert!(!feed.missed);
    assert_eq!(feed.entries.len(), 27);
    for job in &jobs {
        let seqs: Vec<u64> = feed
            .entries
            .iter()
            .filter(|entry| entry.event.job.id == job.id)
            .map(|entry| entry.event.seq())
            .collect();
        assert_eq!(seqs, [1, 2, 3], "job {} in order", job.id);
    }
    let head = store.feed_head(&tenant()).await.unwrap();
    assert_eq!(head, FeedCursor::START.after(&feed.entries));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_finds_a_keyed_submission_in_its_partition() {
    let cluster = Cluster::shared();
    let prefix = RedisServer::fresh_prefix();
    let one = spread(&cluster, &prefix, StoreConfig::default()).await;
    let other = spread(&cluster, &prefix, StoreConfig::default()).await;
    for i in 0..6 {
        let key = herald_core::IdempotencyKey::try_from(format!("order-{i}")).unwrap();
        let mut new = new_job("demo.sleep", json!({ "n": i }));
        new.idempotency_key = Some(key);
        let first = one.create(new.clone()).await.unwrap();
        let again = other.create(new).await.unwrap();
        assert!(!first.replayed && again.replayed, "submission {i}");
        assert_eq!(again.job.id, first.job.id);
        assert!(other.get(&tenant(), &first.job.id).await.unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_keeps_its_partition_count() {
    let cluster = Cluster::shared();
    let prefix = RedisServer::fresh_prefix();
    let store = spread(&cluster, &prefix, StoreConfig::default()).await;
    let job = create(&store, 1).await.remove(0);
    let refused = connect(&cluster, &prefix, Some(2), StoreConfig::default())
        .await
        .expect_err("another count is refused");
    assert!(
        refused
            .to_string()
            .contains("spread over 3 partition(s), not 2"),
        "{refused}"
    );
    // Without a count, a process takes the deployment's.
    let joined = connect(&cluster, &prefix, None, StoreConfig::default())
        .await
        .unwrap();
    assert!(joined.get(&tenant(), &job.id).await.unwrap().is_some());

    // A deployment of one partition (every deployment from before partitions) stays one.
    let single = RedisServer::fresh_prefix();
    let store = connect(&cluster, &single, None, StoreConfig::default())
        .await
        .unwrap();
    create(&store, 1).await;
    let refused = connect(&cluster, &single, Some(3), StoreConfig::default())
        .await
        .expect_err("a deployment of one partition is not spread later");
    assert!(refused.to_string().contains("not 3"), "{refused}");
    assert!(
        refused.to_string().contains("--redis-partitions"),
        "{refused}"
    );
    let slash = format!("{}/x", RedisServer::fresh_prefix());
    let slashed = connect(&cluster, &slash, Some(2), StoreConfig::default())
        .await
        .expect_err("a prefix with a slash is refused");
    assert!(slashed.to_string().contains("no `/`"), "{slashed}");
    // Refused before anything was recorded: the prefix still serves one partition.
    connect(&cluster, &slash, None, StoreConfig::default())
        .await
        .expect("a prefix with a slash serves one partition");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_claim_hears_of_work_in_any_partition_and_holds_nothing_it_did_not_hand_out() {
    let cluster = Cluster::shared();
    let prefix = RedisServer::fresh_prefix();
    let store = Arc::new(spread(&cluster, &prefix, StoreConfig::default()).await);
    let worker = WorkerId::generate();
    let types = [job_type("demo.sleep")];
    let idle = store
        .claim(&worker, &types, 1, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(idle.is_empty(), "nothing to claim: the wait ends empty");
    let waiting = tokio::spawn({
        let (store, worker, types) = (Arc::clone(&store), worker.clone(), types.clone());
        async move {
            store
                .claim(&worker, &types, 1, Duration::from_secs(30))
                .await
        }
    });
    // Most likely waiting on every partition by now; either way, what follows holds.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jobs = futures_util::future::join_all(
        (0..3).map(|i| store.create(new_job("demo.sleep", json!({ "n": i })))),
    )
    .await;
    let jobs: BTreeSet<JobId> = jobs.into_iter().map(|c| c.unwrap().job.id).collect();
    let first = waiting.await.unwrap().unwrap();
    assert_eq!(first.len(), 1, "a claim of one takes one");
    // The others wait in their queues for anyone: the wait claimed nothing.
    for id in jobs.iter().filter(|id| **id != first[0].lease.job.id) {
        let job = store.get(&tenant(), id).await.unwrap().unwrap();
        assert_eq!(job.status, herald_core::JobStatus::Pending, "job {id}");
    }
    let other = WorkerId::generate();
    let rest = store
        .claim(&other, &types, 5, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(rest.len(), 2, "another worker takes the other two");
    let mut claimed = first;
    claimed.extend(rest);
    let ids: BTreeSet<JobId> = claimed.iter().map(|c| c.lease.job.id).collect();
    assert_eq!(ids, jobs, "each job claimed once");
    assert!(claimed.iter().all(|c| c.lease.job.attempt == 1));
    assert!(
        store
            .claim(&worker, &types, 1, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    for claimed in claimed {
        store.complete(claimed.lease, None).await.unwrap();
    }
}

fn subscription(events: &[&str]) -> Subscription {
    Subscription::create(
        tenant(),
        SubscriptionRequest {
            url: Some("https://client.example/spread".to_owned()),
            events: Some(events.iter().map(|e| (*e).to_owned()).collect()),
            ..Default::default()
        },
        chrono::Utc::now(),
    )
    .unwrap()
}

/// Creates and completes one job in each partition; answers their ids.
async fn complete_in_every_partition(store: &RedisStore) -> BTreeSet<JobId> {
    let jobs = create(store, PARTITIONS).await;
    let worker = WorkerId::generate();
    for _ in 0..PARTITIONS {
        let claimed = store
            .claim(
                &worker,
                &[job_type("demo.sleep")],
                1,
                Duration::from_secs(10),
            )
            .await
            .unwrap()
            .remove(0);
        store.complete(claimed.lease, None).await.unwrap();
    }
    jobs.iter().map(|job| job.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_reaches_the_jobs_of_every_partition_and_follows_its_changes() {
    let cluster = Cluster::shared();
    let prefix = RedisServer::fresh_prefix();
    let store = spread(&cluster, &prefix, StoreConfig::default()).await;
    let sub = subscription(&["job.completed"]);
    assert!(store.put_subscription(&sub, None).await.unwrap());
    let jobs = complete_in_every_partition(&store).await;
    let mut reached = BTreeSet::new();
    while reached.len() < jobs.len() {
        let entries = store
            .read_outbox("n1", 10, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(!entries.is_empty(), "an entry for every completion");
        for entry in entries {
            reached.insert(entry.event.job.id);
            store
                .expand(&entry, &[], bytes::Bytes::new())
                .await
                .unwrap();
        }
    }
    assert_eq!(reached, jobs);

    // Disabled: no partition writes its events to the outbox any more.
    let disabled = sub.disabled("test", chrono::Utc::now());
    assert!(
        store
            .put_subscription(&disabled, Some(sub.version))
            .await
            .unwrap()
    );
    complete_in_every_partition(&store).await;
    let none = store
        .read_outbox("n1", 10, Duration::from_millis(500))
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(
        store.subscription(&tenant(), &sub.id).await.unwrap(),
        Some(disabled)
    );
    assert!(store.delete_subscription(&tenant(), &sub.id).await.unwrap());
    assert!(store.subscriptions(&tenant()).await.unwrap().is_empty());
}
