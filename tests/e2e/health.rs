//! Operations endpoints tell an orchestrator the truth: alive while the process runs, ready only
//! while the backend answers.

use std::time::Duration;

use herald_testkit::{RedisServer, eventually};
use reqwest::StatusCode;

use crate::support::{Herald, client, on_redis};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_redis_is_gone_and_healthz_stays_up() {
    // Stopped mid-test: never a shared server.
    let redis = RedisServer::start_private();
    let api = Herald::start_ready(&on_redis(&redis, "api", &[])).await;

    drop(redis);
    let answer = eventually(
        "/readyz to report the lost backend",
        Duration::from_secs(60),
        || async {
            let answer = client().get(api.url("/readyz")).send().await.ok()?;
            (answer.status() == StatusCode::SERVICE_UNAVAILABLE).then_some(answer)
        },
    )
    .await;
    let content_type = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(problem["status"], 503);

    let alive = client().get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
}
