//! Herald on Redis behind Sentinel, with `--redis-ack replicated`, while the primary is killed
//! (`SIGKILL`) mid-load, the replica promoted and the old primary brought back as its replica:
//! every job that got a `202` completes, and its webhook arrives (more than once only with the
//! same `webhook-id`, which the receiver drops). Submissions refused meanwhile (`503`) are sent
//! again with the same `Idempotency-Key` and never make a second job. The loads and the checks
//! serve the Cluster tests too (`cluster`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use herald_testkit::{Receiver, RedisServer, Sentinels, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::{Herald, client, get_job};

/// Generous bounds: CI has two cores and runs tests in parallel.
pub(crate) const WITHIN: Duration = Duration::from_secs(120);
/// Jobs each submitting loop has accepted before it stops.
const PER_LOOP: usize = 40;
pub(crate) const LOOPS: usize = 4;

/// `herald serve` arguments for `roles` on the Redis at `url` (Sentinels or a Cluster),
/// acknowledging writes once a replica has them.
pub(crate) fn replicated_on<'a>(url: &'a str, prefix: &'a str, roles: &'a str) -> Vec<&'a str> {
    vec![
        "--redis-url",
        url,
        "--redis-prefix",
        prefix,
        "--roles",
        roles,
        "--redis-ack",
        "replicated",
        "--webhook-allow-private-targets",
        "--webhook-retry-schedule",
        "1s,1s,1s,1s,1s",
        "--lease-timeout",
        "3s",
    ]
}

/// Submits `PER_LOOP` jobs one after the other, each sent again with its key until it is
/// accepted; answers the ids of the accepted jobs, by key.
pub(crate) async fn submit_loop(
    api: Arc<Herald>,
    hook: String,
    n: usize,
) -> HashMap<String, String> {
    let mut accepted = HashMap::new();
    for i in 0..PER_LOOP {
        let key = format!("failover-{n}-{i}");
        let body = json!({
            "type": "demo.sleep",
            "payload": {"seconds": 0.05},
            "webhook": {"url": hook},
        });
        let deadline = tokio::time::Instant::now() + WITHIN;
        loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{key} was never accepted"
            );
            let answer = client()
                .post(api.url("/v1/jobs"))
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(answer) if answer.status() == StatusCode::ACCEPTED => {
                    let job: Value = answer.json().await.expect("job JSON");
                    let id = job["id"].as_str().expect("id").to_owned();
                    accepted.insert(key, id);
                    break;
                }
                Ok(answer) => {
                    assert_eq!(
                        answer.status(),
                        StatusCode::SERVICE_UNAVAILABLE,
                        "{key}: only a 503 while Redis fails over or reshards"
                    );
                }
                Err(e) => panic!("{key}: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_killed_mid_load_loses_no_acknowledged_job_under_replicated_acks() {
    let sentinels = tokio::task::spawn_blocking(Sentinels::start).await.unwrap();
    let url = sentinels.url();
    let prefix = RedisServer::fresh_prefix();
    let receiver = Receiver::start().await;
    let api = Arc::new(Herald::start_ready(&replicated_on(&url, &prefix, "api")).await);
    let _worker = Herald::start(&replicated_on(&url, &prefix, "worker,notifier")).await;

    let hook = receiver.url("/hook");
    let loops: Vec<_> = (0..LOOPS)
        .map(|n| tokio::spawn(submit_loop(Arc::clone(&api), hook.clone(), n)))
        .collect();
    // Kill the primary once the load is under way.
    let received_before = eventually("some jobs done", WITHIN, || async {
        let n = receiver.requests().len();
        (n >= 10).then_some(n)
    })
    .await;
    // The killed server comes back as a replica of the new primary, as its supervisor and
    // the Sentinels would make it: until then nothing can be confirmed, and submissions get
    // 503s.
    let sentinels = tokio::task::spawn_blocking(move || {
        sentinels.fail_over();
        sentinels.rejoin();
        sentinels
    })
    .await
    .unwrap();
    every_accepted_job_completes_once(&api, &receiver, loops).await;
    assert!(received_before >= 10);
    drop(sentinels);
}

/// Waits for the submitting loops, then checks that every job they got a `202` for completes,
/// that no key made two jobs, and that each completion's webhook arrives under one
/// `webhook-id` (sent again only under the same one).
pub(crate) async fn every_accepted_job_completes_once(
    api: &Herald,
    receiver: &Receiver,
    loops: Vec<tokio::task::JoinHandle<HashMap<String, String>>>,
) {
    let mut accepted = HashMap::new();
    for submitting in loops {
        accepted.extend(submitting.await.unwrap());
    }
    assert_eq!(accepted.len(), LOOPS * PER_LOOP);
    let ids: HashSet<String> = accepted.values().cloned().collect();
    assert_eq!(ids.len(), accepted.len(), "a key made two jobs");

    // Every accepted job completes...
    let done = Mutex::new(HashSet::new());
    eventually("every accepted job to complete", WITHIN, || async {
        let mut done = done.lock().await;
        for id in ids.difference(&done.clone()) {
            if get_job(api, id).await["status"] == "completed" {
                done.insert(id.clone());
            }
        }
        (done.len() == ids.len()).then_some(())
    })
    .await;
    // ...and its webhook arrives, once per webhook-id.
    let completed = eventually("every completion's webhook", WITHIN, || async {
        let mut by_webhook_id = HashMap::new();
        for request in receiver.requests() {
            let body: Value = request.json();
            if body["type"] == "job.completed" {
                let webhook_id = request.header("webhook-id").expect("webhook-id").to_owned();
                let job = body["data"]["id"].as_str().unwrap_or_default().to_owned();
                by_webhook_id.insert(webhook_id, job);
            }
        }
        let jobs: HashSet<String> = by_webhook_id.values().cloned().collect();
        (ids.is_subset(&jobs)).then_some(by_webhook_id)
    })
    .await;
    let jobs: Vec<&String> = completed.values().filter(|j| ids.contains(*j)).collect();
    let distinct: HashSet<&&String> = jobs.iter().collect();
    assert_eq!(
        jobs.len(),
        distinct.len(),
        "a job's completion came under two webhook-ids"
    );
}
