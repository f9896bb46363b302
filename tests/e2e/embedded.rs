//! One `herald serve` process on the embedded backend: the README walk-through.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Herald, follow, get_result, is_terminal, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_job_runs_with_progress_and_its_csv_can_be_downloaded() {
    let herald = Herald::start_ready(&[]).await;
    let job = submit(
        &herald,
        json!({"type": "demo.report", "payload": {"rows": 200, "rows_per_second": 200}}),
    )
    .await;
    let id = job["id"].as_str().expect("id");
    assert_eq!(job["status"], "pending");

    let seen = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    let last = seen.last().expect("final");
    assert_eq!(last["status"], "completed", "{last}");
    assert!(
        seen.iter().any(|j| j["status"] == "processing"
            && j["progress"]["percent"].as_u64().is_some_and(|p| p < 100)),
        "no progress was seen on the way: {seen:?}"
    );

    let result = get_result(&herald, id).await;
    assert_eq!(result.status(), StatusCode::OK);
    let content_type = result.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let csv = result.text().await.unwrap();
    assert_eq!(csv.lines().count(), 201, "a header and 200 rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_jobs_sleep_and_fail_as_the_contract_says() {
    let herald = Herald::start_ready(&[]).await;
    let sleeper = submit(
        &herald,
        json!({"type": "demo.sleep", "payload": {"seconds": 0.2}}),
    )
    .await;
    let failer = submit(
        &herald,
        json!({"type": "demo.fail", "payload": {"message": "out of paper"}}),
    )
    .await;

    let id = sleeper["id"].as_str().unwrap();
    let done = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    assert_eq!(done.last().unwrap()["status"], "completed");
    let slept: serde_json::Value = get_result(&herald, id).await.json().await.unwrap();
    assert_eq!(slept, json!({"slept": 0.2}));

    let id = failer["id"].as_str().unwrap();
    let failed = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    let last = failed.last().unwrap();
    assert_eq!(last["status"], "failed");
    assert_eq!(
        last["error"],
        json!({"code": "handler_error", "message": "out of paper"})
    );
}
