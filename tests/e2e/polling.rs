//! Several processes on one Redis: jobs submitted to one api process, run by two worker
//! processes, observed by long polls on another api process.

use std::time::Duration;

use herald_testkit::RedisServer;
use herald_testkit::http_jobs::answer_json;
use serde_json::json;

use crate::support::{Herald, client, follow, is_terminal, on_redis, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_submitted_to_one_api_are_run_by_two_workers_and_long_polled_on_another_api() {
    let redis = RedisServer::start();
    let front = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let back = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let w1 = Herald::start(&on_redis(&redis, "worker", &[])).await;
    let _w2 = Herald::start(&on_redis(&redis, "worker", &[])).await;

    let mut ids = Vec::new();
    for i in 0..20 {
        let job = submit(
            &front,
            json!({"type": "demo.sleep", "payload": {"seconds": 0.3}, "metadata": {"n": i}}),
        )
        .await;
        ids.push(job["id"].as_str().expect("id").to_owned());
    }
    let report = submit(
        &front,
        json!({"type": "demo.report", "payload": {"rows": 100, "rows_per_second": 100}}),
    )
    .await;
    ids.push(report["id"].as_str().expect("id").to_owned());

    let mut polls = Vec::new();
    for id in ids.clone() {
        let base = back.base.clone();
        polls.push(tokio::spawn(async move {
            let api = Herald::attach(base);
            follow(&api, &id, Duration::from_secs(120), is_terminal).await
        }));
    }
    for poll in polls {
        let seen = poll.await.expect("poll task");
        let last = seen.last().expect("final");
        assert_eq!(last["status"], "completed", "{last}");
        assert_eq!(last["attempt"], 1);
    }

    // Worker processes serve the operations endpoints only: probed and scraped, no job API.
    let metrics = client()
        .get(w1.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("herald_worker_jobs_finished_total"),
        "a worker's /metrics shows its jobs: {metrics}"
    );
    let ready = client().get(w1.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    let no_api = client().get(w1.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(no_api.status(), reqwest::StatusCode::NOT_FOUND);

    let listed = answer_json(client().get(back.url("/v1/jobs?status=completed&limit=100"))).await;
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(ids.len()));
}
