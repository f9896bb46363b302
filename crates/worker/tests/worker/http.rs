//! The `http` handler against a real HTTP server on loopback (the testkit's `Receiver`): a
//! slow endpoint, retries on 503, failure on 400, bounds, cancel. The handler never touches
//! the store, so these run on the memory backend only.

use std::time::{Duration, Instant};

use herald_core::{ErrorCode, JobStatus};
use herald_testkit::{Answer, Receiver, Script, free_port};
use herald_worker::{HttpHandler, HttpSettings};
use serde_json::json;

use crate::support::{
    Backend, Harness, PATIENCE, fails_at_once, result, run_one_until, submit, tenant,
    wait_for_status,
};

/// What a gateway in front of the endpoint would wait at most, in this test's terms: the
/// slow endpoint takes longer.
const GATEWAY_TIMEOUT: Duration = Duration::from_secs(1);

fn handler(settings: HttpSettings) -> HttpHandler {
    HttpHandler::new(settings).expect("valid http settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_completes_the_job_with_its_answer() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Always(
            Answer::status(200)
                .header("content-type", "text/html; charset=utf-8")
                .body("<p>invoice 42</p>")
                .after(GATEWAY_TIMEOUT * 5 / 2),
        ),
    );
    let mut settings = HttpSettings::new(receiver.url("/render"));
    settings
        .headers
        .insert("Authorization".to_owned(), "Bearer t0ken".to_owned());
    settings
        .headers
        .insert("X-Team".to_owned(), "billing".to_owned());
    let mut app = Harness::new(Backend::Memory)
        .handler("test.http", handler(settings))
        .start()
        .await;
    let started = Instant::now();
    let job = submit(&app.store, "test.http", json!({"invoice": 42})).await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    assert!(
        started.elapsed() > GATEWAY_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(done.attempt, 1);
    let output = result(&app.store, job.id).await;
    assert_eq!(output.content_type, "text/html; charset=utf-8");
    assert_eq!(output.body, b"<p>invoice 42</p>");
    let requests = receiver.requests_to("/render");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.json::<serde_json::Value>(), json!({"invoice": 42}));
    let id = job.id.to_string();
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("idempotency-key"), Some(id.as_str()));
    assert_eq!(request.header("herald-job-id"), Some(id.as_str()));
    assert_eq!(request.header("herald-job-type"), Some("test.http"));
    assert_eq!(request.header("herald-attempt"), Some("1"));
    assert_eq!(request.header("authorization"), Some("Bearer t0ken"));
    assert_eq!(request.header("x-team"), Some("billing"));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_is_retried_with_the_same_idempotency_key_and_the_next_attempt_completes() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Sequence(vec![
            Answer::status(503).body("busy, try later"),
            Answer::status(200)
                .header("content-type", "application/json")
                .body(r#"{"ok":true}"#),
        ]),
    );
    let (mut app, done) = run_one_until(
        "test.http",
        handler(HttpSettings::new(receiver.url("/render"))),
        |r| r.max_attempts = Some(3),
        JobStatus::Completed,
    )
    .await;

    assert_eq!(done.attempt, 2);
    let requests = receiver.requests_to("/render");
    let answered: Vec<_> = requests.iter().map(|r| r.answered).collect();
    assert_eq!(answered, [Some(503), Some(200)]);
    let attempts: Vec<_> = requests
        .iter()
        .map(|r| r.header("herald-attempt"))
        .collect();
    assert_eq!(attempts, [Some("1"), Some("2")]);
    let id = done.id.to_string();
    assert!(
        requests
            .iter()
            .all(|r| r.header("idempotency-key") == Some(id.as_str()))
    );
    assert_eq!(result(&app.store, done.id).await.body, br#"{"ok":true}"#);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_stays_unavailable_fails_the_job_naming_the_status_and_body() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Always(Answer::status(503).body("busy,\n  try later")),
    );
    let (mut app, failed) = run_one_until(
        "test.http",
        handler(HttpSettings::new(receiver.url("/render"))),
        |r| r.max_attempts = Some(2),
        JobStatus::Failed,
    )
    .await;

    assert_eq!(failed.attempt, 2);
    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::HandlerError);
    assert_eq!(
        error.message,
        "the endpoint answered 503 Service Unavailable: busy, try later"
    );
    assert_eq!(receiver.requests_to("/render").len(), 2);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_the_job_at_once() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Always(Answer::status(400).body(r#"{"error": "no such invoice"}"#)),
    );
    let (mut app, message) = fails_at_once(
        "test.http",
        handler(HttpSettings::new(receiver.url("/render"))),
    )
    .await;
    assert!(message.contains("400 Bad Request"), "{message}");
    assert!(message.contains("no such invoice"), "{message}");
    assert_eq!(receiver.requests_to("/render").len(), 1);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed_and_fails_the_job() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/old",
        Script::Always(Answer::status(302).header("location", "/new")),
    );
    let (mut app, failed) = run_one_until(
        "test.http",
        handler(HttpSettings::new(receiver.url("/old"))),
        |_| {},
        JobStatus::Failed,
    )
    .await;

    assert_eq!(failed.attempt, 1);
    let message = failed.error.unwrap().message;
    assert!(message.contains("302 Found"), "{message}");
    assert!(message.contains("Location: /new"), "{message}");
    assert!(receiver.requests_to("/new").is_empty());
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_answer_completes_the_job_without_a_result() {
    let receiver = Receiver::start().await;
    receiver.respond("/render", Script::status(204));
    let (mut app, done) = run_one_until(
        "test.http",
        handler(HttpSettings::new(receiver.url("/render"))),
        |_| {},
        JobStatus::Completed,
    )
    .await;

    assert!(!done.has_result);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_over_the_limit_fails_the_job_at_once() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Always(Answer::status(200).body("0123456789")),
    );
    let mut settings = HttpSettings::new(receiver.url("/render"));
    settings.max_response_bytes = 4;
    let (mut app, message) = fails_at_once("test.http", handler(settings)).await;
    assert!(
        message.contains("max_response_bytes (4 bytes)"),
        "{message}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_retried_and_named() {
    let url = format!("http://127.0.0.1:{}/render", free_port());
    let (mut app, failed) = run_one_until(
        "test.http",
        handler(HttpSettings::new(url)),
        |r| r.max_attempts = Some(2),
        JobStatus::Failed,
    )
    .await;

    assert_eq!(failed.attempt, 2);
    let message = failed.error.unwrap().message;
    assert!(
        message.starts_with("the request to http://127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("refused"), "{message}");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_an_http_job_abandons_its_request_promptly() {
    let receiver = Receiver::start().await;
    receiver.respond("/render", Script::Hang);
    let mut app = Harness::new(Backend::Memory)
        .worker_config(|c| c.cancel_grace = PATIENCE)
        .handler(
            "test.http",
            handler(HttpSettings::new(receiver.url("/render"))),
        )
        .start()
        .await;
    let job = submit(&app.store, "test.http", json!({})).await;
    receiver.wait_for_to("/render", 1, PATIENCE).await;

    let asked = Instant::now();
    app.store.cancel(&tenant(), &job.id).await.unwrap();

    wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    // Well within the grace: the handler itself gave up on the request.
    assert!(asked.elapsed() < PATIENCE / 2, "{:?}", asked.elapsed());
    app.stop().await.unwrap();
}
