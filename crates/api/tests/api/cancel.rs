//! `POST /v1/jobs/{id}/cancel`: at once when pending, a request when processing, `409` when
//! finished.

use reqwest::StatusCode;
use serde_json::Value;

use herald_core::Store;

use crate::helpers::{assert_problem, id_of, spawn_app};

#[tokio::test]
async fn canceling_a_pending_job_cancels_it_at_once() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();

    let response = app.cancel_job(&id).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "canceled");
    assert_eq!(job["error"]["code"], "canceled");

    let job: Value = app.get_job(&id).await.json().await.unwrap();
    assert_eq!(job["status"], "canceled");
}

#[tokio::test]
async fn canceling_a_processing_job_asks_its_worker_to_stop() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let lease = app.claim("demo.sleep").await;

    let response = app.cancel_job(&id).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    assert_eq!(
        job["status"], "processing",
        "the worker has not stopped yet"
    );

    let state = app.store.heartbeat(&app.worker, &lease).await.unwrap();
    assert!(state.cancel_requested, "the worker learns of the request");
}

#[tokio::test]
async fn canceling_a_finished_job_is_a_409_problem() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    app.complete(lease, None).await;

    let problem = assert_problem(app.cancel_job(&id).await, StatusCode::CONFLICT).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/job-state-conflict"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("completed"),
        "{problem}"
    );
}

#[tokio::test]
async fn canceling_an_unknown_job_is_a_404_problem() {
    let app = spawn_app().await;
    let response = app.cancel_job("0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d").await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}
