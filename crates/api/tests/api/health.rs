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

#[tokio::test]
async fn a_scraper_that_prefers_the_prometheus_text_format_gets_it() {
    let app = spawn_app().await;
    app.submit("demo.sleep").await;
    let response = app
        .client
        .get(app.url("/metrics"))
        .header("Accept", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let vary = response.headers()["vary"].to_str().unwrap();
    assert!(
        vary.split(',').any(|name| name.trim() == "Accept"),
        "caches keep the formats apart: {vary}"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE herald_http_requests_total counter\n"),
        "{text}"
    );
    assert!(!text.contains("# EOF"), "{text}");

    // Prometheus's own default ranks OpenMetrics first.
    let response = app
        .client
        .get(app.url("/metrics"))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    assert!(response.text().await.unwrap().ends_with("# EOF\n"));
}

#[tokio::test]
async fn every_answer_names_its_request_id_and_each_request_has_its_own() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for path in ["/healthz", "/v1/jobs", "/v1/no-such-route"] {
        let response = app.request(Method::GET, path).await;
        let id = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let id = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(id.get_version_num(), 7, "{path}");
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3);
}
