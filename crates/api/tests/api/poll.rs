//! `GET /v1/jobs/{id}`: entity tags, conditional reads, the long poll and its polling hints.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, ETAG, RETRY_AFTER};
use serde_json::Value;

use crate::helpers::{assert_problem, error_fields, id_of, spawn_app};

#[tokio::test]
async fn a_job_is_served_with_its_seq_as_etag_and_no_cache() {
    let app = spawn_app().await;
    let job = app.submit("demo.sleep").await;
    let response = app.get_job(id_of(&job)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[ETAG], "\"1\"");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, job);
}

#[tokio::test]
async fn if_none_match_with_the_current_tag_answers_304_without_a_body() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    for tag in ["\"1\"", "W/\"1\"", "\"7\", \"1\"", "*"] {
        let response = app.poll_job(&id, "", Some(tag)).await;
        assert_eq!(
            response.status(),
            StatusCode::NOT_MODIFIED,
            "If-None-Match: {tag}"
        );
        assert_eq!(response.headers()[ETAG], "\"1\"");
        assert!(response.bytes().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn if_none_match_with_an_old_tag_answers_the_current_job() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    app.claim("demo.sleep").await;
    let response = app.poll_job(&id, "", Some("\"1\"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[ETAG], "\"2\"");
}

#[tokio::test]
async fn a_long_poll_returns_when_the_job_changes() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let started = Instant::now();
    let poll = app.waiting_poll(&id, 30, 1).await;

    app.claim("demo.sleep").await;

    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[ETAG], "\"2\"");
    let job: Value = response.json().await.unwrap();
    assert_eq!(job["status"], "processing");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered long before its wait ran out"
    );
}

#[tokio::test]
async fn a_long_poll_answers_at_once_when_the_client_names_no_version() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let started = Instant::now();
    let response = app.poll_job(&id, "wait=30", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_long_poll_answers_at_once_when_the_job_is_already_past_the_clients_version() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    app.claim("demo.sleep").await;
    let started = Instant::now();
    let response = app.poll_job(&id, "wait=30", Some("\"1\"")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[ETAG], "\"2\"");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_long_poll_on_an_unchanged_job_answers_304_after_the_wait() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let started = Instant::now();
    let response = app.poll_job(&id, "wait=1", Some("\"1\"")).await;
    let elapsed = started.elapsed();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[ETAG], "\"1\"");
    assert!(
        elapsed >= Duration::from_millis(900),
        "waited only {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(20), "waited {elapsed:?}");
    assert!(
        app.metrics().await.contains("herald_long_polls_waiting 0"),
        "the finished poll no longer counts as waiting"
    );
}

#[tokio::test]
async fn a_wait_beyond_60_seconds_or_not_a_number_is_a_400_problem() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    for query in ["wait=61", "wait=soon", "wait=-1"] {
        let response = app.poll_job(&id, query, Some("\"1\"")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), ["wait"], "{query}");
    }
    let response = app.poll_job(&id, "wait=60", None).await;
    assert_eq!(response.status(), StatusCode::OK, "60 is allowed");
}

#[tokio::test]
async fn retry_after_is_sent_only_while_the_job_can_still_change() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let retry_after = |response: &reqwest::Response| {
        response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let pending = app.get_job(&id).await;
    assert_eq!(retry_after(&pending).as_deref(), Some("2"));

    let mut lease = app.claim("demo.sleep").await;
    let processing = app.get_job(&id).await;
    assert_eq!(retry_after(&processing).as_deref(), Some("1"));
    app.progress(&mut lease, 50).await;
    let not_modified = app.poll_job(&id, "", Some("\"3\"")).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(retry_after(&not_modified).as_deref(), Some("1"));

    app.complete(lease, None).await;
    let completed = app.get_job(&id).await;
    assert_eq!(retry_after(&completed), None);
    let job: Value = completed.json().await.unwrap();
    assert_eq!(job["status"], "completed");
}

#[tokio::test]
async fn unknown_and_malformed_job_ids_are_404_problems() {
    let app = spawn_app().await;
    for id in ["0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d", "not-a-job-id"] {
        let problem = assert_problem(app.get_job(id).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["type"], "https://herald.dev/problems/not-found");
        let response = app.poll_job(id, "wait=5", Some("\"1\"")).await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn another_tenants_job_is_answered_exactly_like_a_missing_one() {
    let app = spawn_app().await;
    let theirs = app.submit_for_other_tenant("demo.sleep").await;
    let missing = "0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d";
    for id in [theirs.as_str(), missing] {
        let problem = assert_problem(app.get_job(id).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["detail"], format!("there is no job `{id}`"));
        assert_problem(app.cancel_job(id).await, StatusCode::NOT_FOUND).await;
        let problem = assert_problem(app.job_result(id).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["type"], "https://herald.dev/problems/not-found");
    }
    let page: Value = app.list_jobs("").await.json().await.unwrap();
    assert_eq!(
        page["data"],
        serde_json::json!([]),
        "their jobs are not listed either"
    );
}
