//! `/healthz`, `/readyz` and `/metrics`.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_answers_200_while_the_process_runs() {
    let app = spawn_app().await;
    assert_eq!(
        app.request(Method::GET, "/healthz").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn readyz_answers_200_when_the_store_answers() {
    let app = spawn_app().await;
    assert_eq!(
        app.request(Method::GET, "/readyz").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_text_format() {
    let app = spawn_app().await;
    app.submit("demo.sleep").await;
    let replay = json!({"type": "demo.sleep"});
    app.post_job_with_key(&replay, Some("k")).await;
    app.post_job_with_key(&replay, Some("k")).await;

    let response = app.request(Method::GET, "/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            "herald_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"202\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("herald_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains("herald_jobs_accepted_total{job_type=\"demo.sleep\"} 2"),
        "replays are not counted: {text}"
    );
    assert!(text.contains("herald_long_polls_waiting 0"), "{text}");
    assert!(text.trim_end().ends_with("# EOF"));
}
