//! Behaviours only the Redis backend has: its one pub/sub subscription surviving a dropped
//! connection, consumer groups recreated after Redis lost them, expiry of finished jobs,
//! capped streams, blocking reads that do not hold up other commands, and where the queues of
//! external workers live.
//!
//! Tests that kill connections or flush data run on a `redis-server` of their own
//! (`PrivateRedis`), even when `HERALD_TEST_REDIS_URL` names a shared server; the others share
//! the suite's server, each under its own key prefix.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::store::redis::{RedisOptions, RedisStore};
use herald_core::store::{Claimed, ListQuery, Signal, Store, StoreConfig};
use herald_core::{
    ErrorCode, Job, JobError, JobOutput, JobStatus, JobType, Progress, TenantId, TypePolicy,
    WorkerId,
};
use herald_testkit::backend;
use herald_testkit::{PrivateRedis, RedisServer, eventually};
use redis::AsyncCommands;
use serde_json::json;

use crate::support::{
    EXTERNAL, external_types, for_tenant, job_type, new_job, next_signal, tenant,
    with_external_types,
};

/// A store on a fresh prefix of `redis` (the suite's shared server, or a [`PrivateRedis`] for
/// the tests that kill connections or flush data), a raw connection to poke at its keys, and
/// the prefix.
struct Fixture<S = Arc<RedisServer>> {
    store: Arc<RedisStore>,
    raw: redis::aio::MultiplexedConnection,
    prefix: String,
    redis: S,
}

impl Fixture {
    /// On the server the suite shares: for tests that touch only their own keys.
    async fn open(config: StoreConfig) -> Self {
        Self::on(RedisServer::shared(), config).await
    }
}

impl Fixture<PrivateRedis> {
    /// On a server of this test's own, whatever `HERALD_TEST_REDIS_URL` says: for tests that
    /// kill connections or flush data.
    async fn private(config: StoreConfig) -> Self {
        Self::on(RedisServer::start_private(), config).await
    }
}

impl<S: Deref<Target = RedisServer>> Fixture<S> {
    async fn on(redis: S, config: StoreConfig) -> Self {
        let (store, prefix) = backend::connect(&redis, config).await;
        let raw = redis::Client::open(redis.url())
            .expect("a valid url")
            .get_multiplexed_async_connection()
            .await
            .expect("a raw connection");
        Self {
            store: Arc::new(store),
            raw,
            prefix,
            redis,
        }
    }

    fn key(&self, suffix: &str) -> String {
        format!("{{{}}}:{suffix}", self.prefix)
    }

    /// Submits a job of `kind` with an empty payload.
    async fn create(&self, kind: &str) -> Job {
        self.store
            .create(new_job(kind, json!({})))
            .await
            .unwrap()
            .job
    }

    /// Claims up to `max` jobs of `kinds` as `worker`, waiting at most `wait`.
    async fn claim(
        &self,
        worker: &WorkerId,
        kinds: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Vec<Claimed> {
        self.store.claim(worker, kinds, max, wait).await.unwrap()
    }

    /// Reads the next entry of the queue stream `queue` as a consumer that then dies without
    /// starting the job.
    async fn read_and_die(&mut self, queue: &str) {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg("workers")
            .arg("doomed")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(self.key(queue))
            .arg(">")
            .query_async(&mut self.raw)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscription_comes_back_after_its_connection_is_killed_and_says_resync() {
    let mut f = Fixture::private(StoreConfig::default()).await;
    let mut signals = f.store.signals();
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(killed, 1, "the store holds exactly one subscription");
    next_signal(&mut signals, "Resync", |s| matches!(s, Signal::Resync)).await;

    // Subscribed again: events flow as before.
    let job = f.create("demo.sleep").await;
    next_signal(
        &mut signals,
        "the new job's event",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &job.id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_shares_one_subscription_and_other_processes_are_heard() {
    let mut f = Fixture::open(StoreConfig::default()).await;
    let _listeners: Vec<_> = (0..10).map(|_| f.store.signals()).collect();
    let other = RedisStore::connect(f.redis.url(), &f.prefix, StoreConfig::default())
        .await
        .unwrap();
    let channel = f.key("signals");
    let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(&channel)
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(
        subscribers, 2,
        "one subscription per store, however many listeners"
    );

    let mut signals = f.store.signals();
    let job = other
        .create(new_job("demo.sleep", json!({})))
        .await
        .unwrap()
        .job;
    next_signal(
        &mut signals,
        "the other store's event",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &job.id),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_without_events_hears_cancel_requests_and_is_sent_no_events() {
    let mut f = Fixture::open(StoreConfig::default()).await;
    let quiet = RedisStore::connect_with(
        f.redis.url(),
        &f.prefix,
        StoreConfig::default(),
        RedisOptions {
            events: false,
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let mut subscribers = redis::cmd("PUBSUB");
    subscribers
        .arg("NUMSUB")
        .arg(f.key("signals"))
        .arg(f.key("events"));
    let (_, signals, _, events): (String, i64, String, i64) =
        subscribers.query_async(&mut f.raw).await.unwrap();
    assert_eq!(
        (signals, events),
        (2, 1),
        "only the store with events hears them"
    );

    let mut heard = quiet.signals();
    let job = f.create("demo.sleep").await;
    f.claim(
        &WorkerId::generate(),
        &[job_type("demo.sleep")],
        1,
        Duration::ZERO,
    )
    .await;
    f.store.cancel(&tenant(), &job.id).await.unwrap();
    let signal = next_signal(&mut heard, "the cancel request", |s| {
        !matches!(s, Signal::Resync)
    })
    .await;
    assert!(
        matches!(signal, Signal::CancelRequested(id) if id == job.id),
        "the first signal is the cancel request, no event before it: {signal:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_group_lost_with_the_data_is_recreated() {
    let mut f = Fixture::private(StoreConfig::default()).await;
    let kinds = [job_type("demo.sleep")];
    let worker = WorkerId::generate();
    f.create("demo.sleep").await;
    assert_eq!(f.claim(&worker, &kinds, 1, Duration::ZERO).await.len(), 1);

    // A Redis restarted without persistence: the queue and its group are gone, while this
    // process still believes the group exists.
    f.redis.flush_all();
    let started = Instant::now();
    let found = f
        .claim(&worker, &kinds, 1, Duration::from_millis(200))
        .await;
    assert!(found.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "recreating the group backs off, briefly"
    );
    let job = f.create("demo.sleep").await;
    let claimed = f.claim(&worker, &kinds, 1, Duration::from_secs(5)).await;
    assert_eq!(
        claimed.iter().map(|c| c.lease.job.id).collect::<Vec<_>>(),
        [job.id]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroyed_group_is_recreated_and_still_delivers_the_waiting_jobs() {
    let mut f = Fixture::open(StoreConfig::default()).await;
    let kinds = [job_type("demo.sleep")];
    let worker = WorkerId::generate();
    // The group exists (and this process knows it) before the jobs arrive.
    assert!(f.claim(&worker, &kinds, 1, Duration::ZERO).await.is_empty());
    let first = f.create("demo.sleep").await;
    let second = f.create("demo.sleep").await;
    let destroyed: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg(f.key("queue:demo.sleep"))
        .arg("workers")
        .query_async(&mut f.raw)
        .await
        .unwrap();
    assert_eq!(destroyed, 1);
    let claimed = f.claim(&worker, &kinds, 5, Duration::from_secs(1)).await;
    let ids: Vec<_> = claimed.iter().map(|c| c.lease.job.id).collect();
    assert_eq!(
        ids,
        [first.id, second.id],
        "entries added before the group are delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_expire_after_the_retention_and_running_ones_do_not() {
    let f = Fixture::open(StoreConfig {
        retention: Duration::from_secs(600),
        ..StoreConfig::default()
    })
    .await;
    let worker = WorkerId::generate();
    let done = f.create("demo.report").await;
    let running = f.create("demo.report").await;
    let mut claimed = f
        .claim(&worker, &[job_type("demo.report")], 2, Duration::ZERO)
        .await;
    assert_eq!(claimed.len(), 2);
    let lease = claimed.remove(0).lease;
    assert_eq!(lease.job.id, done.id);
    let output = JobOutput::json(&json!({"ok": true}));
    f.store.complete(lease, Some(output)).await.unwrap();

    let mut raw = f.raw.clone();
    let job_key = |id: &herald_core::JobId| f.key(&format!("job:{id}"));
    // A job is one hash: its history, payload and result expire with its record.
    let key = job_key(&done.id);
    let ttl: i64 = raw.pttl(&key).await.unwrap();
    assert!(
        (590_000..=600_000).contains(&ttl),
        "{key} expires in {ttl} ms"
    );
    let fields: Vec<String> = raw.hkeys(&key).await.unwrap();
    for field in ["last", "payload", "result", "event:1", "event:3"] {
        assert!(fields.iter().any(|f| f == field), "{key} lacks {field}");
    }
    let key = job_key(&running.id);
    let ttl: i64 = raw.pttl(&key).await.unwrap();
    assert_eq!(ttl, -1, "{key} of a running job must not expire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_jobs_leave_the_listings() {
    let f = Fixture::open(StoreConfig {
        retention: Duration::from_millis(200),
        ..StoreConfig::default()
    })
    .await;
    let worker = WorkerId::generate();
    let kinds = [job_type("demo.sleep")];
    let gone = f.create("demo.sleep").await;
    let lease = f.claim(&worker, &kinds, 1, Duration::ZERO).await;
    f.store
        .complete(lease.into_iter().next().unwrap().lease, None)
        .await
        .unwrap();
    let kept = f.create("demo.sleep").await;

    let all = ListQuery {
        status: None,
        job_type: None,
        limit: 10,
        before: None,
    };
    eventually(
        "the finished job to expire",
        Duration::from_secs(10),
        || async {
            let page = f.store.list(&tenant(), &all).await.unwrap();
            (page.jobs.iter().map(|j| j.id).collect::<Vec<_>>() == [kept.id]).then_some(())
        },
    )
    .await;
    // Maintenance sweeps the indexes the listing did not read.
    f.store.maintain(&worker, &kinds).await.unwrap();
    let mut raw = f.raw.clone();
    let index = |status: &str| f.key(&format!("jobs:default/{status}"));
    for key in [index("completed")] {
        let members: Vec<String> = raw.zrange(&key, 0, -1).await.unwrap();
        assert!(
            !members.contains(&gone.id.to_string()),
            "{key} still lists the expired job"
        );
    }
    let active: Vec<String> = raw.zrange(index("active"), 0, -1).await.unwrap();
    assert_eq!(active, [kept.id.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histories_are_capped_exactly_and_feeds_approximately() {
    let mut f = Fixture::open(StoreConfig {
        history_max: 5,
        event_log_max: 10,
        ..StoreConfig::default()
    })
    .await;
    let worker = WorkerId::generate();
    let job = f.create("demo.report").await;
    let claimed = f
        .claim(&worker, &[job_type("demo.report")], 1, Duration::ZERO)
        .await;
    let mut lease = claimed.into_iter().next().unwrap().lease;
    for percent in 0..300u16 {
        let progress = Progress::new((percent % 100) as u8, None);
        f.store.progress(&mut lease, progress).await.unwrap();
    }
    let fields: Vec<String> = f
        .raw
        .hkeys(f.key(&format!("job:{}", job.id)))
        .await
        .unwrap();
    let history_len = fields.iter().filter(|f| f.starts_with("event:")).count();
    assert_eq!(history_len, 5);
    let history = f.store.history(&tenant(), &job.id, 0).await.unwrap();
    let seqs: Vec<u64> = history.iter().map(|e| e.seq()).collect();
    let last = lease.job.seq;
    assert_eq!(seqs, (last - 4..=last).collect::<Vec<_>>());
    // `MAXLEN ~` trims whole nodes (at most 100 entries or 4 KiB by default): bounded, and
    // never below the cap.
    let feed_len: usize = f.raw.xlen(f.key("feed:default")).await.unwrap();
    assert!(
        (10..110).contains(&feed_len),
        "the feed was not trimmed to about 10: {feed_len}"
    );
    let log: bool = f.raw.exists(f.key("events")).await.unwrap();
    assert!(!log, "no process-wide event log any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_feed_entry_names_the_one_before_it() {
    let mut f = Fixture::open(StoreConfig::default()).await;
    for _ in 0..3 {
        f.create("demo.sleep").await;
    }
    let entries: redis::streams::StreamRangeReply =
        f.raw.xrange_all(f.key("feed:default")).await.unwrap();
    let ids: Vec<&str> = entries.ids.iter().map(|e| e.id.as_str()).collect();
    let prevs: Vec<Option<String>> = entries.ids.iter().map(|e| e.get("prev")).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        prevs,
        [None, Some(ids[0].to_owned()), Some(ids[1].to_owned())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_read_by_a_claimer_that_died_before_starting_it_is_requeued() {
    let mut f = Fixture::open(StoreConfig {
        lease_timeout: Duration::from_millis(200),
        ..StoreConfig::default()
    })
    .await;
    let kinds = [job_type("demo.sleep")];
    let rescuer = WorkerId::generate();
    // The group exists once a worker has looked at the queue.
    f.claim(&rescuer, &kinds, 1, Duration::ZERO).await;
    let job = f.create("demo.sleep").await;
    // A claimer reads the entry and dies before starting the job.
    f.read_and_die("queue:demo.sleep").await;
    assert!(
        f.claim(&rescuer, &kinds, 1, Duration::ZERO)
            .await
            .is_empty()
    );
    eventually(
        "the unstarted job to be requeued",
        Duration::from_secs(10),
        || async {
            let report = f.store.maintain(&rescuer, &kinds).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let claimed = f.claim(&rescuer, &kinds, 1, Duration::ZERO).await;
    let lease = &claimed[0].lease;
    assert_eq!(
        (lease.job.id, lease.job.attempt, lease.job.seq),
        (job.id, 1, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_claim_does_not_hold_up_other_commands() {
    let f = Fixture::open(StoreConfig::default()).await;
    let store = Arc::clone(&f.store);
    let waiting = tokio::spawn(async move {
        let worker = WorkerId::generate();
        store
            .claim(
                &worker,
                &[job_type("demo.sleep")],
                1,
                Duration::from_secs(3),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    for _ in 0..5 {
        f.store.ping().await.unwrap();
        f.store
            .get(&tenant(), &herald_core::JobId::generate())
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "commands waited behind the blocking read: {:?}",
        started.elapsed()
    );
    assert!(!waiting.is_finished(), "the claim gave up before its wait");
    // A claim longer than the default response timeout (0.5 s) still ends cleanly, empty.
    assert!(waiting.await.unwrap().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_canceled_while_waiting_for_its_retry_is_never_promoted() {
    let f = Fixture::open(StoreConfig::default()).await;
    let worker = WorkerId::generate();
    let kinds = [job_type("demo.sleep")];
    let job = f.create("demo.sleep").await;
    let lease = f.claim(&worker, &kinds, 1, Duration::ZERO).await;
    let error = herald_core::JobError::new(herald_core::ErrorCode::HandlerError, "later");
    let lease = lease.into_iter().next().unwrap().lease;
    f.store
        .fail(lease, error, Some(Duration::from_millis(100)))
        .await
        .unwrap();
    let canceled = f.store.cancel(&tenant(), &job.id).await.unwrap();
    assert!(matches!(
        canceled,
        Some(herald_core::store::CancelOutcome::Canceled(_))
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = f.store.maintain(&worker, &kinds).await.unwrap();
    assert_eq!(report.promoted, 0);
    assert!(f.claim(&worker, &kinds, 1, Duration::ZERO).await.is_empty());
    let job = f.store.get(&tenant(), &job.id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Canceled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_blocked_while_redis_loses_its_data_recovers() {
    let mut f = Fixture::private(StoreConfig::default()).await;
    let store = Arc::clone(&f.store);
    let worker = WorkerId::generate();
    let blocked = tokio::spawn(async move {
        store
            .claim(
                &worker,
                &[job_type("demo.sleep")],
                1,
                Duration::from_secs(2),
            )
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The blocked read is ended by Redis ("UNBLOCKED the stream key no longer exists").
    f.redis.flush_all();
    let found = blocked
        .await
        .unwrap()
        .expect("the claim recovers instead of failing");
    assert!(found.is_empty());
    let job = f.create("demo.sleep").await;
    let claimed = f
        .claim(
            &WorkerId::generate(),
            &[job_type("demo.sleep")],
            1,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        claimed.iter().map(|c| c.lease.job.id).collect::<Vec<_>>(),
        [job.id]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_redis_outage_the_store_and_its_subscription_come_back() {
    let mut server = RedisServer::start_private();
    let (store, _prefix) = backend::connect(&server, StoreConfig::default()).await;
    let mut signals = store.signals();
    server.kill();
    // Longer than the connection manager's own reconnection attempts (about 6 s): the
    // store has to keep trying by itself.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert!(store.ping().await.is_err());
    server.restart();
    next_signal(&mut signals, "Resync", |s| matches!(s, Signal::Resync)).await;
    let job = eventually(
        "the store to write again",
        Duration::from_secs(10),
        || async {
            store
                .create(new_job("demo.sleep", json!({})))
                .await
                .ok()
                .map(|c| c.job)
        },
    )
    .await;
    next_signal(
        &mut signals,
        "the new job's event",
        |s| matches!(s, Signal::Event(e) if e.job_id() == &job.id),
    )
    .await;
    let claimed = store
        .claim(
            &WorkerId::generate(),
            &[job_type("demo.sleep")],
            1,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_jobs_wait_in_their_tenants_own_stream() {
    let mut f = Fixture::open(with_external_types()).await;
    let job = f.create(EXTERNAL).await;
    let other = TenantId::parse("acme").unwrap();
    f.store
        .create(for_tenant(new_job(EXTERNAL, json!({})), other))
        .await
        .unwrap();
    let mine: u64 = f
        .raw
        .xlen(f.key("external-queue:default/video.transcode"))
        .await
        .unwrap();
    let theirs: u64 = f
        .raw
        .xlen(f.key("external-queue:acme/video.transcode"))
        .await
        .unwrap();
    let shared: bool = f.raw.exists(f.key("queue:video.transcode")).await.unwrap();
    assert_eq!((mine, theirs, shared), (1, 1, false));
    let entry: String = f
        .raw
        .hget(f.key(&format!("job:{}", job.id)), "entry")
        .await
        .unwrap();
    let ids: redis::streams::StreamRangeReply = f
        .raw
        .xrange_all(f.key("external-queue:default/video.transcode"))
        .await
        .unwrap();
    assert_eq!(
        ids.ids[0].id, entry,
        "the job names its entry in its tenant's queue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_queue_is_maintained_only_while_it_holds_leases_or_retries() {
    let mut f = Fixture::open(with_external_types()).await;
    let worker = WorkerId::generate();
    let active = f.key("external-active");
    let member = format!("default {EXTERNAL}");
    f.create(EXTERNAL).await;
    let mut claimed = f
        .store
        .claim_external(&worker, &tenant(), &[job_type(EXTERNAL)], 1, Duration::ZERO)
        .await
        .unwrap();
    let lease = claimed.remove(0).lease;
    let is_member = |raw: &mut redis::aio::MultiplexedConnection| {
        let (active, member) = (active.clone(), member.clone());
        let mut raw = raw.clone();
        async move { raw.sismember::<_, _, bool>(active, member).await.unwrap() }
    };
    assert!(
        is_member(&mut f.raw).await,
        "a queue holding a lease is visited"
    );
    f.store.maintain_external(&worker).await.unwrap();
    assert!(is_member(&mut f.raw).await, "it still holds the lease");

    let error = JobError::new(ErrorCode::HandlerError, "later");
    f.store
        .fail(lease, error, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    f.store.maintain_external(&worker).await.unwrap();
    assert!(is_member(&mut f.raw).await, "a delayed retry is waiting");

    let job_id = {
        let delayed: Vec<String> = f
            .raw
            .zrange(f.key("external-delayed:default/video.transcode"), 0, -1)
            .await
            .unwrap();
        assert_eq!(delayed.len(), 1);
        herald_core::JobId::parse(&delayed[0]).unwrap()
    };
    f.store.cancel(&tenant(), &job_id).await.unwrap();
    f.store.maintain_external(&worker).await.unwrap();
    assert!(
        !is_member(&mut f.raw).await,
        "a queue with neither leases nor retries is no longer visited"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_job_read_by_a_claimer_that_died_before_starting_it_is_requeued() {
    let mut f = Fixture::open(StoreConfig {
        lease_timeout: Duration::from_millis(200),
        ..with_external_types()
    })
    .await;
    let rescuer = WorkerId::generate();
    let kinds = [job_type(EXTERNAL)];
    // A claim makes the group (and marks the queue for maintenance) before reading.
    f.store
        .claim_external(&rescuer, &tenant(), &kinds, 1, Duration::ZERO)
        .await
        .unwrap();
    let job = f.create(EXTERNAL).await;
    f.read_and_die("external-queue:default/video.transcode")
        .await;
    eventually(
        "the unstarted job to be requeued",
        Duration::from_secs(10),
        || async {
            let report = f.store.maintain_external(&rescuer).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let claimed = f
        .store
        .claim_external(&rescuer, &tenant(), &kinds, 1, Duration::ZERO)
        .await
        .unwrap();
    let lease = &claimed[0].lease;
    assert_eq!((lease.job.id, lease.job.attempt), (job.id, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_types_retention_sets_the_expiry_of_its_finished_jobs() {
    let mut job_types = external_types();
    job_types.insert(
        job_type("demo.sleep"),
        TypePolicy {
            retention: Some(Duration::from_secs(60)),
            ..TypePolicy::default()
        },
    );
    let mut f = Fixture::open(StoreConfig {
        retention: Duration::from_secs(600),
        job_types,
        ..StoreConfig::default()
    })
    .await;
    let worker = WorkerId::generate();
    let mut ttl_of = async |kind: &str| {
        let job = f.create(kind).await;
        let mut claimed = f.claim(&worker, &[job_type(kind)], 1, Duration::ZERO).await;
        f.store
            .complete(claimed.remove(0).lease, None)
            .await
            .unwrap();
        let ttl: i64 = f.raw.pttl(f.key(&format!("job:{}", job.id))).await.unwrap();
        ttl
    };
    let own = ttl_of("demo.sleep").await;
    assert!((50_000..=60_000).contains(&own), "{own} ms");
    let default = ttl_of("demo.report").await;
    assert!((590_000..=600_000).contains(&default), "{default} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_is_trimmed_by_age_and_expires_when_its_tenant_goes_quiet() {
    let retention = Duration::from_secs(2);
    let mut f = Fixture::open(StoreConfig {
        retention,
        ..StoreConfig::default()
    })
    .await;
    let feed = f.key("feed:default");
    let last = f.key("feed-last:default");
    // More than a stream node holds (100 entries), so `MINID ~` has a whole node to drop.
    for _ in 0..150 {
        f.create("demo.sleep").await;
    }
    let ttl: i64 = f.raw.pttl(&feed).await.unwrap();
    assert!((0..=2000).contains(&ttl), "the feed expires: {ttl} ms");
    let newest: String = f.raw.get(&last).await.unwrap();
    let no_expiry: i64 = f.raw.pttl(&last).await.unwrap();
    assert_eq!(no_expiry, -1, "the newest cursor outlives the feed");

    tokio::time::sleep(retention + Duration::from_millis(100)).await;
    let fresh = f.create("demo.sleep").await;
    let len: usize = f.raw.xlen(&feed).await.unwrap();
    assert!(
        len < 100,
        "the aged-out node was trimmed: {len} entries left"
    );
    let entries: redis::streams::StreamRangeReply = f.raw.xrange_all(&feed).await.unwrap();
    let appended = entries.ids.last().unwrap();
    assert_eq!(appended.get::<String>("prev"), Some(newest.clone()));

    // Quiet for the retention: the stream is gone, its newest cursor is not.
    eventually(
        "the quiet feed to expire",
        Duration::from_secs(10),
        || async {
            let exists: bool = f.raw.clone().exists(&feed).await.unwrap();
            (!exists).then_some(())
        },
    )
    .await;
    let head = f.store.feed_head(&tenant()).await.unwrap();
    assert_eq!(Some(head.to_string()), Some(appended.id.clone()));
    let next = f.create("demo.sleep").await;
    let page = f.store.feed(&tenant(), &head, 100).await.unwrap();
    assert!(!page.missed);
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].event.job.id, next.id);
    assert_ne!(next.id, fresh.id);
    let newest: String = f.raw.get(&last).await.unwrap();
    let behind = f
        .store
        .feed(&tenant(), &newest.parse().unwrap(), 100)
        .await
        .unwrap();
    assert!(behind.entries.is_empty() && !behind.missed);
    let older = f
        .store
        .feed(&tenant(), &herald_core::FeedCursor::START, 100)
        .await
        .unwrap();
    assert!(older.missed, "the expired feed's events were missed");
}

/// Every value stored under the fixture's prefix, by key, as text.
async fn dump(f: &Fixture) -> Vec<(String, String)> {
    let mut raw = f.raw.clone();
    let names: Vec<String> = raw.keys(format!("{{{}}}:*", f.prefix)).await.unwrap();
    let mut dumped = Vec::new();
    for name in names {
        let kind: String = redis::cmd("TYPE")
            .arg(&name)
            .query_async(&mut raw)
            .await
            .unwrap();
        let value: redis::Value = match kind.as_str() {
            "string" => raw.get(&name).await.unwrap(),
            "hash" => raw.hgetall(&name).await.unwrap(),
            "stream" => raw.xrange_all(&name).await.unwrap(),
            "zset" => raw.zrange(&name, 0, -1).await.unwrap(),
            "set" => raw.smembers(&name).await.unwrap(),
            "list" => raw.lrange(&name, 0, -1).await.unwrap(),
            _ => continue,
        };
        dumped.push((name, format!("{value:?}")));
    }
    dumped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_webhook_secret_is_kept_once_with_the_job_and_goes_with_it() {
    use herald_core::store::WebhookStore;
    use herald_core::webhook::{
        Attempt, AttemptResult, Delivery, JobHook, Subscription, SubscriptionRequest, render_body,
        targets,
    };

    let retention = Duration::from_secs(3);
    let f = Fixture::open(StoreConfig {
        retention,
        ..StoreConfig::default()
    })
    .await;
    let subscription = Subscription::create(
        tenant(),
        SubscriptionRequest {
            url: Some("https://subscriber.example/events".to_owned()),
            ..Default::default()
        },
        chrono::Utc::now(),
    )
    .unwrap();
    assert!(f.store.put_subscription(&subscription, None).await.unwrap());
    let secret = format!("per-job-secret-{}", herald_core::JobId::generate());
    let marker = format!("metadata-{}", herald_core::JobId::generate());
    let mut new = crate::support::new_job_with("demo.sleep", json!({}), |request| {
        request.metadata = Some(json!({"marker": marker}));
    });
    new.webhook = Some(
        JobHook::parse(json!({"url": "https://client.example/hook", "secret": secret})).unwrap(),
    );
    let job = f.store.create(new).await.unwrap().job;
    let worker = WorkerId::generate();
    let mut claimed = f
        .claim(&worker, &[job_type("demo.sleep")], 1, Duration::ZERO)
        .await;
    f.store
        .complete(claimed.remove(0).lease, None)
        .await
        .unwrap();

    // The notifier's side: expand every entry, send, record an attempt.
    let entries = f
        .store
        .read_outbox("n", 100, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(!entries.is_empty());
    let subs = [subscription];
    let mut made = Vec::new();
    for entry in &entries {
        let body = render_body(&entry.event);
        let deliveries: Vec<_> = targets(&entry.event, entry.hook.as_ref(), &subs)
            .into_iter()
            .map(|target| Delivery::new(target, &entry.tenant, &entry.event, chrono::Utc::now()))
            .collect();
        f.store
            .expand(entry, &deliveries, body.into())
            .await
            .unwrap();
        made.extend(deliveries);
    }
    assert!(made.iter().any(|d| d.subscription.is_none()));
    let due = f
        .store
        .claim_due(100, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(due.len(), made.len());
    for due in &due {
        let failed = Attempt {
            at: chrono::Utc::now(),
            status_code: Some(500),
            duration_ms: 1,
            error: Some("HTTP 500".to_owned()),
            response: None,
        };
        let next = due.delivery.attempted(
            failed,
            AttemptResult::RetryAt(chrono::Utc::now() + chrono::Duration::hours(1)),
        );
        assert!(f.store.record(&next, 0).await.unwrap());
    }

    // The secret is in the job's own record, and nowhere else: not in the outbox, not in a
    // delivery record.
    let job_key = f.key(&format!("job:{}", job.id));
    let holding: Vec<String> = dump(&f)
        .await
        .into_iter()
        .filter(|(_, value)| value.contains(&secret))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(holding, [job_key]);

    // Once the job has expired, neither the secret nor anything of the job is left.
    eventually(
        "the job and everything of it to expire",
        Duration::from_secs(20),
        || async {
            let left: Vec<(String, String)> = dump(&f)
                .await
                .into_iter()
                .filter(|(_, value)| value.contains(&secret) || value.contains(&marker))
                .collect();
            left.is_empty().then_some(())
        },
    )
    .await;
    for delivery in &made {
        let kept = f.store.delivery(&tenant(), &delivery.id).await.unwrap();
        assert!(kept.is_some(), "the delivery record itself stays listed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suites_redis_refuses_what_spans_hash_slots_as_cluster_does() {
    // The suite runs on a one-node cluster (see the test kit) so that every script and
    // multi-key command above is checked to stay within one slot; this says the check is live.
    if std::env::var_os("HERALD_TEST_REDIS_URL").is_some() {
        return;
    }
    let mut f = Fixture::open(StoreConfig::default()).await;
    let spanning: redis::RedisResult<()> = redis::cmd("EVAL")
        .arg("return redis.call('set', KEYS[1], '1')")
        .arg(2)
        .arg(f.key("a"))
        .arg("{elsewhere}:b")
        .query_async(&mut f.raw)
        .await;
    let error = spanning.expect_err("a script given keys of two slots must be refused");
    assert_eq!(error.code(), Some("CROSSSLOT"), "{error}");
    f.create("demo.sleep").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_holding_another_layout_is_refused_with_what_to_do() {
    let redis = RedisServer::shared();
    let prefix = RedisServer::fresh_prefix();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    // The earlier layout kept every API key's id in `<prefix>:apikeys`.
    let _: () = raw
        .sadd(
            format!("{prefix}:apikeys"),
            "0193d3c5-0000-7000-8000-000000000000",
        )
        .await
        .unwrap();
    let refused = RedisStore::connect(redis.url(), &prefix, StoreConfig::default())
        .await
        .expect_err("a store must not run over data it cannot read");
    let message = refused.to_string();
    assert!(
        message.contains(&format!("`{prefix}:apikeys`")),
        "{message}"
    );
    assert!(message.contains("--redis-prefix"), "{message}");

    // The one-slot layout before the layout was recorded: data, and no record of its layout.
    let unmarked = RedisServer::fresh_prefix();
    let _: () = raw
        .zadd(format!("{{{unmarked}}}:expiring"), "acme completed x", 1)
        .await
        .unwrap();
    let message = RedisStore::connect(redis.url(), &unmarked, StoreConfig::default())
        .await
        .expect_err("a store must not run over data it cannot read")
        .to_string();
    assert!(
        message.contains(&format!("`{{{unmarked}}}:expiring`")),
        "{message}"
    );

    // A layout recorded by another version.
    let other = RedisServer::fresh_prefix();
    let _: () = raw.set(format!("{{{other}}}:layout"), "9").await.unwrap();
    let message = RedisStore::connect(redis.url(), &other, StoreConfig::default())
        .await
        .expect_err("a store must not run over data it cannot read")
        .to_string();
    assert!(
        message.contains(&format!("`{{{other}}}:layout`")),
        "{message}"
    );

    // A fresh prefix is marked with this version's layout, and a store starts on it again.
    let fresh = RedisServer::fresh_prefix();
    RedisStore::connect(redis.url(), &fresh, StoreConfig::default())
        .await
        .unwrap();
    let layout: Option<String> = raw.get(format!("{{{fresh}}}:layout")).await.unwrap();
    assert!(layout.is_some(), "a fresh prefix records its layout");
    RedisStore::connect(redis.url(), &fresh, StoreConfig::default())
        .await
        .unwrap();
}
