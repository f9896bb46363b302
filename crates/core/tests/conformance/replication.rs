//! Redis with a replica. Behind Sentinel the store finds the primary through the Sentinels,
//! and after the primary is killed (`SIGKILL`) and the replica promoted, finds the new one by
//! itself — commands, blocking claims and the signals subscription alike — with nothing lost
//! that the replica had. (The rest of the suite runs on Sentinel too, as `sentinel::…`.)
//! With replicated acknowledgements a write is acknowledged only once the replica has it, and
//! without a replica it fails as unavailable.

use std::time::Duration;

use chrono::Utc;
use herald_core::apikey::{ApiKey, PlainKey};
use herald_core::store::redis::{RedisAck, RedisOptions, RedisStore};
use herald_core::store::{KeyStore, ListQuery, Signal, Store, StoreError};
use herald_core::{JobStatus, StoreConfig, WorkerId};
use herald_testkit::{RedisServer, Sentinels, eventually};
use serde_json::json;

use crate::support::{job_type, new_job, next_signal, tenant, with_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failover_the_store_follows_the_new_primary_and_keeps_what_was_replicated() {
    let sentinels = tokio::task::spawn_blocking(Sentinels::start).await.unwrap();
    let store = RedisStore::connect(
        &sentinels.url(),
        &RedisServer::fresh_prefix(),
        StoreConfig::default(),
    )
    .await
    .expect("connect through the Sentinels");
    let worker = WorkerId::generate();
    let kind = [job_type("demo.sleep")];
    let before = store
        .create(new_job("demo.sleep", json!({"n": 1})))
        .await
        .unwrap()
        .job;
    let waiting = store
        .create(new_job("demo.sleep", json!({"n": 2})))
        .await
        .unwrap()
        .job;
    let lease = store
        .claim(&worker, &kind, 1, Duration::from_secs(10))
        .await
        .unwrap()
        .remove(0)
        .lease;
    assert_eq!(lease.job.id, before.id);
    let mut signals = store.signals();

    // The old primary comes back at once as the new one's replica: a connection to its
    // address finds a replica that refuses writes (`READONLY`), which must send the store to
    // the Sentinels as surely as a dead server does.
    let sentinels = tokio::task::spawn_blocking(move || {
        sentinels.replicate();
        let new = sentinels.fail_over();
        sentinels.rejoin();
        (sentinels, new)
    })
    .await
    .unwrap();
    let (_sentinels, new_primary) = sentinels;

    // Until the store has found the new primary, Redis is unavailable: a prompt 503, never
    // another error.
    let after = eventually(
        "the store to write on the new primary",
        Duration::from_secs(60),
        || async {
            match store.create(new_job("demo.sleep", json!({"n": 3}))).await {
                Ok(created) => Some(created.job),
                Err(StoreError::Unavailable(_)) => None,
                Err(e) => panic!("a failover must only make Redis unavailable: {e}"),
            }
        },
    )
    .await;
    let direct = redis::Client::open(format!("redis://127.0.0.1:{new_primary}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let on_new_primary: u64 = redis::cmd("DBSIZE")
        .query_async(&mut direct.clone())
        .await
        .unwrap();
    assert!(on_new_primary > 0, "the new primary holds the jobs");

    // What the replica had survived: the running job completes with its lease, the waiting
    // one is claimed, and both read back.
    store
        .complete(lease, None)
        .await
        .expect("complete on the new primary");
    let mut ids = Vec::new();
    while ids.len() < 2 {
        let claimed = store
            .claim(&worker, &kind, 2, Duration::from_secs(10))
            .await
            .expect("a blocking claim on the new primary");
        assert!(!claimed.is_empty(), "both waiting jobs are claimed");
        ids.extend(claimed.into_iter().map(|c| c.lease.job.id));
    }
    ids.sort();
    let mut expected = vec![waiting.id, after.id];
    expected.sort();
    assert_eq!(ids, expected);
    let done = store
        .get(&before.tenant, &before.id)
        .await
        .unwrap()
        .expect("the first job");
    assert_eq!(done.status, JobStatus::Completed);

    // The subscription moved too: it says resync, then carries the new primary's events.
    next_signal(&mut signals, "Resync", |s| matches!(s, Signal::Resync)).await;
    let last = store
        .create(new_job("demo.sleep", json!({"n": 4})))
        .await
        .unwrap()
        .job;
    next_signal(
        &mut signals,
        "an event published by the new primary",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &last.id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinels_that_do_not_know_the_name_make_redis_unavailable() {
    let sentinels = Sentinels::shared();
    let url = sentinels.url().replace("/herald", "/no-such-primary");
    let refused = RedisStore::connect(&url, &RedisServer::fresh_prefix(), StoreConfig::default())
        .await
        .expect_err("no primary by that name");
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
}

/// Options acknowledging each write once a replica has it, waiting for that up to `wait`.
fn replicated(wait: Duration) -> RedisOptions {
    RedisOptions {
        ack: RedisAck::Replicated { timeout: wait },
        ..RedisOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replicated_write_is_on_the_replica_when_it_is_acknowledged() {
    let sentinels = Sentinels::shared();
    let prefix = RedisServer::fresh_prefix();
    let options = replicated(Duration::from_secs(30));
    let store =
        RedisStore::connect_with(&sentinels.url(), &prefix, StoreConfig::default(), options)
            .await
            .expect("connect through the Sentinels");
    let mut replica =
        redis::Client::open(format!("redis://127.0.0.1:{}", sentinels.replica_port()))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
    let job_key = |id: &herald_core::JobId| format!("{{{prefix}}}:job:{id}");

    // A script (batched), then the transitions of a claim and a completion.
    let job = store
        .create(new_job("demo.sleep", json!({})))
        .await
        .unwrap()
        .job;
    let stored: bool = redis::cmd("EXISTS")
        .arg(job_key(&job.id))
        .query_async(&mut replica)
        .await
        .unwrap();
    assert!(
        stored,
        "the replica has the job once its creation is acknowledged"
    );
    let lease = store
        .claim(
            &WorkerId::generate(),
            &[job_type("demo.sleep")],
            1,
            Duration::from_secs(10),
        )
        .await
        .unwrap()
        .remove(0)
        .lease;
    store.complete(lease, None).await.unwrap();
    let status: Option<String> = redis::cmd("HGET")
        .arg(job_key(&job.id))
        .arg("status")
        .query_async(&mut replica)
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("completed"));

    // A transaction (a key's record and the set of keys).
    let plain = PlainKey::generate();
    let key = ApiKey::new(&plain, tenant(), "replicated".to_owned(), false, Utc::now());
    assert!(store.create_key(&key).await.unwrap());
    let keys: u64 = redis::cmd("SCARD")
        .arg(format!("{{{prefix}}}:apikeys"))
        .query_async(&mut replica)
        .await
        .unwrap();
    assert_eq!(
        keys, 1,
        "the replica has the key once its creation is acknowledged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replica_a_replicated_write_fails_as_unavailable_and_its_key_finds_it_later() {
    let redis = RedisServer::shared();
    let prefix = RedisServer::fresh_prefix();
    let options = replicated(Duration::from_millis(100));
    let store = RedisStore::connect_with(redis.url(), &prefix, StoreConfig::default(), options)
        .await
        .unwrap();
    let local = RedisStore::connect(redis.url(), &prefix, StoreConfig::default())
        .await
        .unwrap();
    let submission = || with_key(new_job("demo.sleep", json!({})), "replicated-1");

    let refused = store
        .create(submission())
        .await
        .expect_err("no replica confirms");
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
    let key = ApiKey::new(
        &PlainKey::generate(),
        tenant(),
        "k".to_owned(),
        false,
        Utc::now(),
    );
    let refused = store
        .create_key(&key)
        .await
        .expect_err("no replica confirms");
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");

    // The primary has the job: the same key finds it rather than making a second one.
    let first = local.create(submission()).await.unwrap();
    assert!(
        first.replayed,
        "the refused submission was stored on the primary"
    );
    let page = local
        .list(
            &tenant(),
            &ListQuery {
                status: None,
                job_type: None,
                limit: ListQuery::MAX_LIMIT,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.jobs.len(), 1);
}
