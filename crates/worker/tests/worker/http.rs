//! The `http` handler against a real HTTP server on loopback (the testkit's `Receiver`): a
//! slow endpoint, retries on 503, failure on 400, bounds, cancel. The handler never touches
//! the store, so these run on the memory backend only.

use std::time::{Duration, Instant};

use herald_core::{AttemptOutcome, ErrorCode, Job, JobRequest, JobStatus};
use herald_testkit::{Answer, Receiver, Script, free_port};
use herald_worker::handlers::http::Forward;
use herald_worker::{HttpHandler, HttpSettings};
use serde_json::json;

use crate::support::{
    Backend, Harness, PATIENCE, Running, fails_at_once, result, run_one_until, start_with_job,
    submit, tenant, wait_for_status,
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

/// An `http` handler with `forward = "original"`, sending the captured headers named by
/// `forward_headers` (the defaults without it).
fn original(url: String, forward_headers: Option<&[&str]>) -> HttpHandler {
    let mut settings = HttpSettings::new(url);
    settings.forward = Forward::Original;
    settings.forward_headers =
        forward_headers.map(|names| names.iter().map(|&name| name.to_owned()).collect());
    handler(settings)
}

/// Runs one job of `test.http` with `payload` through `handler`, allowed `max_attempts`,
/// until it has `status`.
async fn run_payload_until(
    handler: HttpHandler,
    payload: serde_json::Value,
    tweak: impl FnOnce(&mut JobRequest),
    status: JobStatus,
) -> (Running, Job) {
    let (app, job) = start_with_job("test.http", handler, payload, tweak).await;
    let job = wait_for_status(&app.store, job.id, status).await;
    (app, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_original_sends_the_captured_body_and_headers_as_they_came() {
    let receiver = Receiver::start().await;
    receiver.respond("/hook", Script::Always(Answer::status(200).body("thanks")));
    // Odd spacing, key order and an escaped character: re-serializing would change it.
    let body = "{ \"zeta\" :1,\n  \"action\":\"opened\" , \"name\": \"caf\u{e9} \\u00e9\" }\n";
    let payload = json!({
        "source": "github",
        "received_at": "2024-05-01T12:00:00Z",
        "method": "POST",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "x-hub-signature-256": "sha256=abc123",
            "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "x-github-event": "pull_request",
            "x-forwarded-for": "203.0.113.7",
        },
        "body": body,
    });
    let mut settings = HttpSettings::new(receiver.url("/hook"));
    settings.forward = Forward::Original;
    settings
        .headers
        .insert("Authorization".to_owned(), "Bearer t0ken".to_owned());
    let (mut app, done) = run_payload_until(
        handler(settings),
        payload,
        |r| r.max_attempts = Some(3),
        JobStatus::Completed,
    )
    .await;

    assert_eq!(done.attempt, 1);
    assert_eq!(result(&app.store, done.id).await.body, b"thanks");
    let requests = receiver.requests_to("/hook");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        &request.body[..],
        body.as_bytes(),
        "the body goes byte for byte"
    );
    let id = done.id.to_string();
    assert_eq!(
        request.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(request.header("x-hub-signature-256"), Some("sha256=abc123"));
    assert_eq!(
        request.header("x-github-delivery"),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    assert_eq!(request.header("x-github-event"), Some("pull_request"));
    assert_eq!(request.header("herald-job-id"), Some(id.as_str()));
    assert_eq!(request.header("herald-attempt"), Some("1"));
    assert_eq!(request.header("authorization"), Some("Bearer t0ken"));
    for absent in ["x-forwarded-for", "herald-job-type", "idempotency-key"] {
        assert_eq!(request.header(absent), None, "{absent} is not sent");
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_original_sends_a_binary_body_byte_for_byte() {
    let receiver = Receiver::start().await;
    let bytes = [0xff_u8, 0x00, 0xfe, 0x80, 0x0d, 0x0a];
    let payload = json!({
        "source": "bin",
        "method": "POST",
        "headers": {"content-type": "application/octet-stream"},
        "body_base64": "/wD+gA0K",
    });
    let (mut app, _) = run_payload_until(
        original(receiver.url("/hook"), None),
        payload,
        |_| {},
        JobStatus::Completed,
    )
    .await;

    let requests = receiver.requests_to("/hook");
    assert_eq!(requests.len(), 1);
    assert_eq!(&requests[0].body[..], &bytes[..]);
    assert_eq!(
        requests[0].header("content-type"),
        Some("application/octet-stream")
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_headers_names_which_captured_headers_go() {
    let receiver = Receiver::start().await;
    let payload = json!({
        "headers": {
            "content-type": "text/plain",
            "x-custom": "yes",
            "stripe-signature": "t=1,v1=abc",
            "x-other": "no",
        },
        "body": "hello",
    });
    let (mut app, done) = run_payload_until(
        original(receiver.url("/hook"), Some(&["X-Custom"])),
        payload,
        |_| {},
        JobStatus::Completed,
    )
    .await;

    let requests = receiver.requests_to("/hook");
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(&request.body[..], b"hello");
    assert_eq!(request.header("x-custom"), Some("yes"));
    assert_eq!(request.header("content-type"), Some("text/plain"));
    assert_eq!(request.header("stripe-signature"), None);
    assert_eq!(request.header("x-other"), None);
    let id = done.id.to_string();
    assert_eq!(request.header("herald-job-id"), Some(id.as_str()));
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_that_is_not_a_captured_request_fails_the_job_at_once() {
    let receiver = Receiver::start().await;
    for payload in [
        json!({"headers": 5}),
        json!({"headers": {}, "body": "text", "body_base64": "dGV4dA=="}),
        json!({"headers": {}, "body_base64": "not base64!"}),
        json!({"rows": 5}),
    ] {
        let (mut app, failed) = run_payload_until(
            original(receiver.url("/hook"), None),
            payload.clone(),
            |r| r.max_attempts = Some(3),
            JobStatus::Failed,
        )
        .await;

        assert_eq!(failed.attempt, 1, "{payload}: a bad payload is not retried");
        let error = failed.error.unwrap();
        assert_eq!(error.code, ErrorCode::HandlerError, "{payload}");
        assert!(
            error.message.contains("invalid payload"),
            "{payload}: {}",
            error.message
        );
        assert_eq!(failed.attempts.len(), 1, "{payload}");
        assert_eq!(
            failed.attempts[0].outcome,
            Some(AttemptOutcome::Failed),
            "{payload}"
        );
        app.stop().await.unwrap();
    }
    assert!(receiver.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_answer_is_listed_with_its_attempt() {
    let receiver = Receiver::start().await;
    receiver.respond(
        "/render",
        Script::Sequence(vec![
            Answer::status(503).body("busy, try later"),
            Answer::status(200).body("ok"),
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
    let listed: Vec<_> = done
        .attempts
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.outcome,
                a.detail.http_status,
                a.detail.response_excerpt.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                1,
                Some(AttemptOutcome::Failed),
                Some(503),
                Some("busy, try later")
            ),
            (2, Some(AttemptOutcome::Completed), Some(200), Some("ok")),
        ]
    );
    let first_error = done.attempts[0].error.as_ref().expect("attempt 1 says why");
    assert_eq!(first_error.code, ErrorCode::HandlerError);
    assert!(
        first_error.message.contains("503"),
        "{}",
        first_error.message
    );
    assert_eq!(done.attempts[1].error, None);
    for attempt in &done.attempts {
        let finished = attempt.finished_at.expect("a finished attempt has an end");
        assert!(finished >= attempt.started_at, "{attempt:?}");
    }
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_attempt_is_listed_as_a_timeout() {
    let receiver = Receiver::start().await;
    // The first request never gets an answer; the second is answered at once.
    receiver.respond(
        "/render",
        Script::Sequence(vec![Answer::hang(), Answer::status(200).body("ok")]),
    );
    let (mut app, done) = run_one_until(
        "test.http",
        handler(HttpSettings::new(receiver.url("/render"))),
        |r| {
            r.timeout_s = Some(1);
            r.max_attempts = Some(2);
        },
        JobStatus::Completed,
    )
    .await;

    assert_eq!(done.attempt, 2);
    assert_eq!(done.attempts.len(), 2);
    let timed_out = &done.attempts[0];
    assert_eq!(timed_out.attempt, 1);
    assert_eq!(timed_out.outcome, Some(AttemptOutcome::Timeout));
    assert_eq!(
        timed_out.error.as_ref().map(|e| e.code),
        Some(ErrorCode::Timeout)
    );
    assert_eq!(timed_out.detail.http_status, None);
    assert_eq!(timed_out.detail.response_excerpt, None);
    assert!(timed_out.finished_at.is_some());
    let answered = &done.attempts[1];
    assert_eq!(answered.outcome, Some(AttemptOutcome::Completed));
    assert_eq!(answered.detail.http_status, Some(200));
    let requests = receiver.requests_to("/render");
    let statuses: Vec<_> = requests.iter().map(|r| r.answered).collect();
    assert_eq!(
        statuses,
        [None, Some(200)],
        "the first request was in flight"
    );
    app.stop().await.unwrap();
}

#[test]
fn forward_settings_are_checked() {
    let refused = |settings: HttpSettings| HttpHandler::new(settings).unwrap_err().to_string();

    let mut settings = HttpSettings::new("http://127.0.0.1:9/hook");
    settings.forward_headers = Some(vec!["x-custom".to_owned()]);
    let message = refused(settings);
    assert!(message.starts_with("`forward_headers`"), "{message}");

    for reserved in [
        "content-length",
        "Content-Length",
        "content-type",
        "herald-job-id",
        "idempotency-key",
        "host",
    ] {
        let mut settings = HttpSettings::new("http://127.0.0.1:9/hook");
        settings.forward = Forward::Original;
        settings.forward_headers = Some(vec!["x-custom".to_owned(), reserved.to_owned()]);
        let message = refused(settings);
        assert!(
            message.starts_with("`forward_headers"),
            "{reserved}: {message}"
        );
        assert!(message.contains("sets itself"), "{reserved}: {message}");
    }

    let mut settings = HttpSettings::new("http://127.0.0.1:9/hook");
    settings.forward = Forward::Original;
    settings.forward_headers = Some(vec!["Bad Name".to_owned()]);
    let message = refused(settings);
    assert!(message.starts_with("`forward_headers"), "{message}");

    // What does work: forward original with and without a list, and from the config's words.
    let mut settings = HttpSettings::new("http://127.0.0.1:9/hook");
    settings.forward = Forward::Original;
    HttpHandler::new(settings.clone()).expect("the default forward headers");
    settings.forward_headers = Some(vec!["X-Custom".to_owned(), "stripe-signature".to_owned()]);
    HttpHandler::new(settings).expect("a list of forward headers");
    let parsed: HttpSettings = serde_json::from_value(json!({
        "url": "http://127.0.0.1:9/hook",
        "forward": "original",
        "forward_headers": ["x-custom"],
    }))
    .unwrap();
    assert_eq!(parsed.forward, Forward::Original);
    assert_eq!(
        HttpSettings::new("http://a.example").forward,
        Forward::Payload
    );
}
