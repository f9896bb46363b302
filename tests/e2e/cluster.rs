//! Herald on a Redis Cluster (three primaries, a replica each) with `--redis-ack replicated`,
//! while the hash slot of its keys changes hands mid-load — moved to another primary by
//! `redis-cli --cluster reshard`, or taken over by its replica when its primary is killed
//! (`SIGKILL`), in a deployment of one partition and of three: every job that got a `202`
//! completes, its webhook arrives under one
//! `webhook-id`, no `Idempotency-Key` makes two jobs, and an event stream opened before the
//! change hears the jobs after it (the sharded subscription follows the slot), itself or, when
//! it fell behind meanwhile, through the reconnection an EventSource makes.

use std::sync::Arc;

use herald_core::store::redis::partition_tag;
use herald_testkit::sse::SseStream;
use herald_testkit::{Cluster, Receiver, RedisServer, eventually};
use serde_json::json;

use crate::failover::{
    LOOPS, WITHIN, every_accepted_job_completes_once, replicated_on, submit_loop,
};
use crate::support::{Herald, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_migrated_mid_load_loses_nothing_and_streams_follow_it() {
    under_load_while(1, |cluster, slot| {
        cluster.reshard(slot);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_primary_killed_mid_load_loses_no_acknowledged_job() {
    under_load_while(1, kill_and_rejoin).await;
}

/// The same over three partitions, one a shard: the shard of one of them fails over while
/// the others go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitions_primary_killed_mid_load_loses_no_acknowledged_job() {
    under_load_while(3, kill_and_rejoin).await;
}

fn kill_and_rejoin(cluster: &Cluster, slot: u16) {
    cluster.fail_over(slot);
    // Back as the new primary's replica, as its supervisor would start it: until then no
    // write to its slots can be confirmed, and submissions there get 503s.
    cluster.rejoin();
}

/// Runs an api and a worker-and-notifier on a cluster of their own, the deployment spread
/// over `partitions`, submits jobs from several loops, has `change` move the slot of one
/// partition once some are done, and checks that nothing was lost and the stream followed.
async fn under_load_while(partitions: usize, change: impl FnOnce(&Cluster, u16) + Send + 'static) {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = cluster.url();
    let prefix = RedisServer::fresh_prefix();
    // Every key of a partition carries its hash tag: one slot. One partition's tag is the
    // prefix; of several, the second partition's is moved.
    let tag = if partitions == 1 {
        prefix.clone()
    } else {
        partition_tag(&prefix, 1, partitions).unwrap()
    };
    let slot = cluster.slot_of(&format!("{{{tag}}}"));
    let before = cluster.owner_of(slot);
    let receiver = Receiver::start().await;
    let count = partitions.to_string();
    let args = |roles| {
        let mut args = replicated_on(&url, &prefix, roles);
        args.extend(["--redis-partitions", count.as_str()]);
        args
    };
    let api = Arc::new(Herald::start_ready(&args("api")).await);
    let _worker = Herald::start(&args("worker,notifier")).await;
    let feed = api.url("/v1/events/stream?types=job.completed");
    let mut stream = SseStream::open(&feed, None).await.patience(WITHIN);

    let hook = receiver.url("/hook");
    let loops: Vec<_> = (0..LOOPS)
        .map(|n| tokio::spawn(submit_loop(Arc::clone(&api), hook.clone(), n)))
        .collect();
    eventually("some jobs done", WITHIN, || async {
        (receiver.requests().len() >= 10).then_some(())
    })
    .await;
    let cluster = tokio::task::spawn_blocking(move || {
        change(&cluster, slot);
        cluster
    })
    .await
    .unwrap();
    assert_ne!(
        before,
        cluster.owner_of(slot),
        "another primary serves the slot"
    );
    every_accepted_job_completes_once(&api, &receiver, loops).await;

    // A job submitted once the slot has changed hands is heard on the stream opened before —
    // or, where that stream was let go for falling behind while Redis could not be read, on
    // the stream an EventSource reconnects to with the last id it saw.
    let marker = submit(
        &api,
        json!({"type": "demo.sleep", "payload": {"seconds": 0}}),
    )
    .await;
    let mut last_id: Option<String> = None;
    let mut reconnections = 0;
    loop {
        let Some(event) = stream.next_event().await else {
            reconnections += 1;
            assert!(reconnections <= 3, "the stream keeps ending");
            stream = SseStream::open(&feed, last_id.as_deref())
                .await
                .patience(WITHIN);
            continue;
        };
        last_id = Some(event.id().to_owned());
        if event.json()["id"] == marker["id"] {
            break;
        }
    }
    drop(cluster);
}
