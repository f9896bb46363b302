//! A Redis Cluster whose slots move. Once `redis-cli --cluster reshard` has moved the slot of
//! a store's keys to another primary, the store's very next command of every kind follows it
//! — a transaction (a feed read), a pipelined read (a job, a listing), a script (a creation,
//! a completion), a blocking claim — and so does the sharded subscription: a resync, then the
//! events published on the new primary. A cluster that lets in only a user with a password is
//! reached with the URL's, by every kind of connection, and a wrong password is refused
//! without being shown. (The rest of the suite runs on a Cluster too, as `cluster::…`.)

use std::time::Duration;

use herald_core::store::redis::RedisStore;
use herald_core::store::{ListQuery, Signal, Store};
use herald_core::{FeedCursor, JobStatus, StoreConfig, WorkerId};
use herald_testkit::{Cluster, GUARD_PASSWORD, RedisServer};
use serde_json::json;

use crate::support::{job_type, new_job, next_signal, tenant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_its_slot_moves_the_store_follows_it_with_every_kind_of_command() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let prefix = RedisServer::fresh_prefix();
    let store = RedisStore::connect(&cluster.url(), &prefix, StoreConfig::default())
        .await
        .expect("connect to the cluster");
    let slot = cluster.slot_of(&prefix);
    let before = cluster.owner_of(slot);
    let worker = WorkerId::generate();
    let kind = [job_type("demo.sleep")];
    let first = store
        .create(new_job("demo.sleep", json!({"n": 1})))
        .await
        .unwrap()
        .job;
    let lease = store
        .claim(&worker, &kind, 1, Duration::from_secs(10))
        .await
        .unwrap()
        .remove(0)
        .lease;
    let waiting = store
        .create(new_job("demo.sleep", json!({"n": 2})))
        .await
        .unwrap()
        .job;
    let mut signals = store.signals();

    let cluster = tokio::task::spawn_blocking(move || {
        cluster.reshard(slot);
        cluster
    })
    .await
    .unwrap();
    assert_ne!(cluster.owner_of(slot), before, "the slot moved");

    // No command has gone to the cluster since the move: each of these is the first of its
    // kind to find the slot gone.
    let feed = store
        .feed(&tenant(), &FeedCursor::START, 100)
        .await
        .expect("a transaction follows the slot");
    assert_eq!(feed.entries.len(), 3, "two creations and a start");
    let read = store
        .get(&waiting.tenant, &waiting.id)
        .await
        .expect("a pipelined read follows the slot")
        .expect("the waiting job");
    assert_eq!(read.status, JobStatus::Pending);
    let query = ListQuery {
        status: None,
        job_type: None,
        limit: 10,
        before: None,
    };
    let listed = store
        .list(&tenant(), &query)
        .await
        .expect("a listing follows the slot");
    assert_eq!(listed.jobs.len(), 2);
    let done = store
        .complete(lease, None)
        .await
        .expect("a script follows the slot");
    assert_eq!(done.id, first.id);
    let claimed = store
        .claim(&worker, &kind, 1, Duration::from_secs(10))
        .await
        .expect("a blocking claim follows the slot");
    assert_eq!(claimed[0].lease.job.id, waiting.id);

    // The subscription followed too: it says resync, then carries the new primary's events.
    next_signal(&mut signals, "Resync", |s| matches!(s, Signal::Resync)).await;
    let last = store
        .create(new_job("demo.sleep", json!({"n": 3})))
        .await
        .unwrap()
        .job;
    next_signal(
        &mut signals,
        "an event published on the new primary",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &last.id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_asks_for_a_user_and_password_is_reached_with_the_urls() {
    let cluster = tokio::task::spawn_blocking(Cluster::start_guarded)
        .await
        .unwrap();
    let url = cluster.url();
    assert!(url.contains(GUARD_PASSWORD));
    let prefix = RedisServer::fresh_prefix();
    let store = RedisStore::connect(&url, &prefix, StoreConfig::default())
        .await
        .expect("connect with the URL's user and password");
    let worker = WorkerId::generate();
    let kind = [job_type("demo.sleep")];
    let mut signals = store.signals();

    // The shared connection (a creation), a blocking read (a claim waiting for it) and the
    // subscription (its event) all sign in.
    let (claimed, created) = tokio::join!(
        store.claim(&worker, &kind, 1, Duration::from_secs(30)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            store.create(new_job("demo.sleep", json!({}))).await
        }
    );
    let job = created.expect("a creation signs in").job;
    let claimed = claimed.expect("a blocking claim signs in");
    assert_eq!(claimed[0].lease.job.id, job.id);
    next_signal(
        &mut signals,
        "the creation's event",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &job.id),
    )
    .await;

    let wrong = url.replace(GUARD_PASSWORD, "not-the-password");
    let refused = RedisStore::connect(&wrong, &prefix, StoreConfig::default())
        .await
        .expect_err("a wrong password is refused");
    let said = refused.to_string();
    assert!(!said.contains("not-the-password"), "{said}");
    drop(cluster);
}
