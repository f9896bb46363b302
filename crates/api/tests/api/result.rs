//! `GET /v1/jobs/{id}/result`: `404` until the job completes, then its bytes.

use herald_core::JobOutput;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::helpers::{assert_problem, id_of, spawn_app};

#[tokio::test]
async fn the_result_is_a_404_problem_until_the_job_completes() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.report").await).to_owned();

    let problem = assert_problem(app.job_result(&id).await, StatusCode::NOT_FOUND).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/result-not-available"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("not completed"),
        "{problem}"
    );

    app.claim("demo.report").await;
    let problem = assert_problem(app.job_result(&id).await, StatusCode::NOT_FOUND).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("processing"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_completed_jobs_result_is_served_with_its_content_type() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.report").await).to_owned();
    let lease = app.claim("demo.report").await;
    let csv = b"id,name\n1,ada\n".to_vec();
    let output = JobOutput {
        content_type: "text/csv".to_owned(),
        body: csv.clone(),
    };
    app.complete(lease, Some(output)).await;

    let response = app.job_result(&id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/csv");
    assert_eq!(response.bytes().await.unwrap().to_vec(), csv);

    let job: Value = app.get_job(&id).await.json().await.unwrap();
    assert_eq!(job["result_url"], format!("/v1/jobs/{id}/result"));
}

#[tokio::test]
async fn a_job_completed_without_a_result_says_so() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    app.complete(lease, None).await;

    let problem = assert_problem(app.job_result(&id).await, StatusCode::NOT_FOUND).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("without a result"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_result_of_an_unknown_job_is_a_404_problem() {
    let app = spawn_app().await;
    let problem = assert_problem(app.job_result("nope").await, StatusCode::NOT_FOUND).await;
    assert_eq!(problem["type"], "https://herald.dev/problems/not-found");
}
