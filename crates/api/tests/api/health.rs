//! `/healthz`, `/readyz` and `/metrics`.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;

use herald_api::RateLimit;

use crate::helpers::{TestApp, spawn_app};

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

#[tokio::test]
async fn answers_made_by_middleware_are_counted_like_any_other() {
    let mut app = TestApp::builder()
        .require_keys()
        .configure(|config| {
            config.max_header_bytes = 4096;
            config.rate_limit = RateLimit {
                per_second: 1,
                burst: 1,
            };
        })
        .spawn()
        .await;
    // Refused by authentication: no key, then a key that does not exist.
    assert_eq!(
        app.request(Method::GET, "/v1/jobs").await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.use_key(Some(&format!("hk_0123456789abcdef_{}", "A".repeat(43))));
    assert_eq!(
        app.request(Method::GET, "/v1/jobs").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Refused by the header bound, before authentication.
    let padded = app
        .client
        .get(app.url("/v1/jobs/0193a000-0000-7000-8000-000000000000"))
        .header("X-Padding", "x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(padded.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // Refused by the rate limit: a burst of one, so the second request is refused.
    let key = app.create_key("acme", false).await;
    app.use_key(Some(&key));
    let answers = [
        app.request(Method::GET, "/v1/jobs").await.status(),
        app.request(Method::GET, "/v1/jobs").await.status(),
    ];
    assert_eq!(answers, [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);

    let text = app.metrics().await;
    for series in [
        "herald_http_requests_total{method=\"GET\",route=\"/v1/jobs\",status=\"401\"} 2",
        "herald_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"431\"} 1",
        "herald_http_requests_total{method=\"GET\",route=\"/v1/jobs\",status=\"200\"} 1",
        "herald_http_requests_total{method=\"GET\",route=\"/v1/jobs\",status=\"429\"} 1",
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
}
