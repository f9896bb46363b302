//! External workers over HTTP (`/v1/workers/...`): claiming (long poll, bounded, tenant-scoped,
//! external types only), heartbeats with progress, completing with JSON or bytes, failing with
//! retries, releasing, lost leases (`409`), missing jobs (`404`), cancel requests and timeouts —
//! and a worker written in Python with nothing but its standard library.
//!
//! The scenarios where the store matters most run on both backends (`memory::` and `redis::`).

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_core::backoff::RetryPolicy;
use herald_core::{JobLimits, JobRequest, NewJob, TenantId, TypePolicy};
use herald_testkit::eventually;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestAppBuilder, assert_problem, error_fields, id_of};

/// The type external workers run in these tests.
const VIDEO: &str = "video.transcode";

/// The test app with [`VIDEO`] run by external workers.
fn builder() -> TestAppBuilder {
    TestApp::builder().external_type(VIDEO, TypePolicy::default())
}

/// `builder` on the backend asked for.
async fn spawn(builder: TestAppBuilder, on_redis: bool) -> TestApp {
    if on_redis {
        builder.redis().spawn().await
    } else {
        builder.spawn().await
    }
}

/// Submits a job of [`VIDEO`] with the fields of `extra`; returns its id.
async fn submit(app: &TestApp, extra: Value) -> String {
    let mut body = json!({"type": VIDEO});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    let response = app.post_job(&body).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let job: Value = response.json().await.unwrap();
    id_of(&job).to_owned()
}

/// Claims a job of [`VIDEO`], waiting up to 10 s for one; the `200` answer.
async fn claim(app: &TestApp) -> Value {
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 10}))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "a job to claim");
    response.json().await.unwrap()
}

/// A claim of [`VIDEO`] waiting up to `wait_s`, sent in a task: it returns once the server
/// counts the claim as waiting.
async fn waiting_claim(
    app: &TestApp,
    wait_s: u64,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let waiting = tokio::spawn(
        app.client
            .post(app.url("/v1/workers/claim"))
            .json(&json!({"types": [VIDEO], "wait_s": wait_s}))
            .send(),
    );
    app.wait_for_long_polls(1).await;
    waiting
}

/// The lease token of a claim's answer.
fn token(claimed: &Value) -> String {
    claimed["lease"]["token"]
        .as_str()
        .expect("a lease token")
        .to_owned()
}

/// `POST /v1/workers/jobs/{id}/{action}` with the lease `token` and the fields of `extra`.
async fn call(
    app: &TestApp,
    id: &str,
    action: &str,
    token: &str,
    extra: Value,
) -> reqwest::Response {
    let mut body = json!({"lease": token});
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    app.worker_call(id, action, &body).await
}

/// `call` expecting `200`; the answer.
async fn call_ok(app: &TestApp, id: &str, action: &str, token: &str, extra: Value) -> Value {
    let response = call(app, id, action, token, extra).await;
    assert_eq!(response.status(), StatusCode::OK, "{action} of job {id}");
    response.json().await.unwrap()
}

/// The smallest valid body of `action` besides the lease: a failure needs its message.
fn least(action: &str) -> Value {
    match action {
        "fail" => json!({"message": "late"}),
        _ => json!({}),
    }
}

/// `call` with the least valid body, expecting `409 lease-lost`; the problem.
async fn assert_lease_lost(app: &TestApp, id: &str, action: &str, token: &str) -> Value {
    let response = call(app, id, action, token, least(action)).await;
    let problem = assert_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(
        problem["type"], "https://herald.dev/problems/lease-lost",
        "{action}: {problem}"
    );
    problem
}

async fn job(app: &TestApp, id: &str) -> Value {
    let response = app.get_job(id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// Runs each scenario on the memory backend and on a private Redis.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(false).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(true).await
                }
            )*
        }
    };
}

on_both_backends!(
    a_claimed_job_is_heartbeaten_with_progress_and_completed_with_a_json_result,
    a_waiting_claim_takes_a_job_submitted_meanwhile,
    a_silent_workers_job_is_offered_again_and_its_late_calls_answer_409,
    a_retryable_failure_is_retried_per_the_types_policy_and_a_permanent_one_fails_the_job,
);

async fn a_claimed_job_is_heartbeaten_with_progress_and_completed_with_a_json_result(
    on_redis: bool,
) {
    let app = spawn(builder(), on_redis).await;
    let id = submit(
        &app,
        json!({"payload": {"source": "s3://in.mp4"}, "metadata": {"order": "42"}}),
    )
    .await;

    let claimed = claim(&app).await;
    assert_eq!(claimed["job"]["id"], id.as_str());
    assert_eq!(claimed["job"]["status"], "processing");
    assert_eq!(claimed["job"]["attempt"], 1);
    assert_eq!(claimed["job"]["metadata"], json!({"order": "42"}));
    assert_eq!(claimed["payload"], json!({"source": "s3://in.mp4"}));
    let lease = &claimed["lease"];
    assert_eq!(lease["timeout_s"], 30.0, "{lease}");
    assert_eq!(lease["heartbeat_s"], 10.0, "{lease}");
    assert!(
        lease["expires_at"].is_string() && lease["deadline"].is_string(),
        "{lease}"
    );
    let token = token(&claimed);

    let progress = json!({"progress": {"percent": 40, "message": "frame 40 of 100"}});
    let beat = call_ok(&app, &id, "heartbeat", &token, progress.clone()).await;
    assert_eq!(beat["cancel_requested"], false);
    assert_eq!(
        beat["lease"]["token"],
        token.as_str(),
        "the lease stays the same"
    );
    assert_eq!(beat["job"]["progress"]["percent"], 40);
    // Pollers (and streams, and webhooks) see the progress like any other.
    let polled = job(&app, &id).await;
    assert_eq!(
        polled["progress"],
        json!({"percent": 40, "message": "frame 40 of 100"})
    );
    // A heartbeat without progress, or repeating it, changes nothing a client sees.
    let seq = polled["seq"].clone();
    call_ok(&app, &id, "heartbeat", &token, json!({})).await;
    call_ok(&app, &id, "heartbeat", &token, progress).await;
    assert_eq!(job(&app, &id).await["seq"], seq);

    let done = call_ok(
        &app,
        &id,
        "complete",
        &token,
        json!({"result": {"frames": 100, "url": "s3://out.mp4"}}),
    )
    .await;
    assert_eq!(done["job"]["status"], "completed");
    assert_eq!(
        done["job"]["result_url"],
        format!("/v1/jobs/{id}/result").as_str()
    );
    let result = app.job_result(&id).await;
    assert_eq!(result.status(), StatusCode::OK);
    assert_eq!(result.headers()[CONTENT_TYPE], "application/json");
    let result: Value = result.json().await.unwrap();
    assert_eq!(result, json!({"frames": 100, "url": "s3://out.mp4"}));
}

async fn a_waiting_claim_takes_a_job_submitted_meanwhile(on_redis: bool) {
    let app = spawn(builder(), on_redis).await;
    let waiting = waiting_claim(&app, 30).await;
    let id = submit(&app, json!({})).await;
    let response = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the claim answered before its 30 s wait ran out")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let claimed: Value = response.json().await.unwrap();
    assert_eq!(claimed["job"]["id"], id.as_str());
}

async fn a_silent_workers_job_is_offered_again_and_its_late_calls_answer_409(on_redis: bool) {
    let app = spawn(
        builder()
            .lease_timeout(Duration::from_secs(1))
            .external_maintenance_interval(Duration::from_millis(50)),
        on_redis,
    )
    .await;
    let id = submit(&app, json!({})).await;
    let silent = claim(&app).await;
    let stale = token(&silent);
    assert_eq!(silent["lease"]["timeout_s"], 1.0);

    // The first worker never heartbeats: once its lease runs out the server reclaims the job
    // by itself, and a waiting claim gets it.
    let fresh = claim(&app).await;
    assert_eq!(fresh["job"]["id"], id.as_str());
    assert_eq!(fresh["job"]["attempt"], 2);
    let current = token(&fresh);
    assert_ne!(current, stale, "a new hand-out, a new token");
    // The second worker heartbeats as a worker should (five times per lease), so its lease
    // outlives this test's steps however slow the machine.
    let beating = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/v1/workers/jobs/{id}/heartbeat")),
        );
        let body = json!({"lease": current});
        tokio::spawn(async move {
            loop {
                let beat = client.post(&url).json(&body).send().await.unwrap();
                assert_eq!(beat.status(), StatusCode::OK, "the live worker's heartbeat");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    for action in ["heartbeat", "complete", "fail", "release"] {
        let problem = assert_lease_lost(&app, &id, action, &stale).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("handed out again"),
            "{problem}"
        );
    }
    let polled = job(&app, &id).await;
    assert_eq!(
        (polled["status"].as_str(), &polled["attempt"]),
        (Some("processing"), &json!(2))
    );
    assert!(!beating.is_finished(), "the live worker kept its lease");
    beating.abort();

    let done = call_ok(&app, &id, "complete", &current, json!({"result": "ok"})).await;
    assert_eq!(done["job"]["status"], "completed");
    assert_eq!(done["job"]["attempt"], 2);
    // Calls after the end answer 409 too: the job moved on.
    let problem = assert_lease_lost(&app, &id, "heartbeat", &current).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("completed"),
        "{problem}"
    );
}

async fn a_retryable_failure_is_retried_per_the_types_policy_and_a_permanent_one_fails_the_job(
    on_redis: bool,
) {
    let quick = TypePolicy {
        retry: Some(RetryPolicy {
            base: Duration::from_millis(50),
            max: Duration::from_millis(100),
        }),
        ..TypePolicy::default()
    };
    let app = spawn(
        TestApp::builder()
            .external_type(VIDEO, quick)
            .external_maintenance_interval(Duration::from_millis(50)),
        on_redis,
    )
    .await;
    let id = submit(&app, json!({"max_attempts": 3})).await;

    let first = claim(&app).await;
    let retried = call_ok(
        &app,
        &id,
        "fail",
        &token(&first),
        json!({"message": "the transcoder crashed"}),
    )
    .await;
    assert_eq!(retried["job"]["status"], "pending");
    assert_eq!(retried["job"]["attempt"], 1);

    // Due after the type's short delay, and back in the queue by the server's maintenance.
    let second = claim(&app).await;
    assert_eq!(second["job"]["id"], id.as_str());
    assert_eq!(second["job"]["attempt"], 2);
    let failed = call_ok(
        &app,
        &id,
        "fail",
        &token(&second),
        json!({"message": "no codec for this input", "retryable": false}),
    )
    .await;
    assert_eq!(failed["job"]["status"], "failed");
    assert_eq!(
        failed["job"]["error"],
        json!({"code": "handler_error", "message": "no codec for this input"})
    );
    assert_eq!(job(&app, &id).await["status"], "failed");
}

#[tokio::test]
async fn a_binary_result_larger_than_other_bodies_is_stored_with_its_content_type() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({})).await;
    let claimed = claim(&app).await;
    // More than the 1 MiB other bodies may be, once encoded.
    let csv = "frame,ms\n".repeat(150_000);
    let done = call_ok(
        &app,
        &id,
        "complete",
        &token(&claimed),
        json!({"result_base64": BASE64.encode(&csv), "content_type": "text/csv"}),
    )
    .await;
    assert_eq!(done["job"]["status"], "completed");
    let result = app.job_result(&id).await;
    assert_eq!(result.status(), StatusCode::OK);
    assert_eq!(result.headers()[CONTENT_TYPE], "text/csv");
    assert_eq!(result.text().await.unwrap(), csv);
}

#[tokio::test]
async fn a_result_larger_than_the_store_accepts_is_refused_and_the_job_kept() {
    let app = builder().max_result_bytes(1000).spawn().await;
    let id = submit(&app, json!({})).await;
    let claimed = claim(&app).await;
    let token = token(&claimed);
    let response = call(
        &app,
        &id,
        "complete",
        &token,
        json!({"result": {"blob": "x".repeat(2000)}}),
    )
    .await;
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/result-too-large"
    );
    assert_eq!(job(&app, &id).await["status"], "processing");
    let done = call_ok(&app, &id, "complete", &token, json!({"result": "small"})).await;
    assert_eq!(done["job"]["status"], "completed");
}

#[tokio::test]
async fn a_claim_answers_204_when_no_job_comes_within_its_wait() {
    let app = builder().spawn().await;
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 0}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let started = Instant::now();
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 1}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered after {:?}, before its wait",
        started.elapsed()
    );
}

#[tokio::test]
async fn only_types_run_by_external_workers_may_be_claimed() {
    let app = builder().spawn().await;
    for body in [
        json!({"types": ["demo.sleep"]}),
        json!({"types": [VIDEO, "never.heard.of"]}),
        json!({"types": []}),
        json!({"types": "video.transcode"}),
        json!({"wait_s": 1}),
    ] {
        let response = app.worker_claim(&body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["types"], "{body}: {problem}");
    }
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 61, "colour": "red"}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = error_fields(&problem);
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["colour"],
        "unknown fields are named first: {problem}"
    );
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 61}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["wait_s"]);
}

#[tokio::test]
async fn bad_calls_about_a_claimed_job_name_their_fields() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({})).await;
    let claimed = claim(&app).await;
    let token = token(&claimed);
    for (action, body, field) in [
        ("heartbeat", json!({}), "lease"),
        (
            "heartbeat",
            json!({"lease": token, "progress": {"percent": 101}}),
            "progress.percent",
        ),
        (
            "complete",
            json!({"lease": token, "result": 1, "result_base64": "AA=="}),
            "result_base64",
        ),
        (
            "complete",
            json!({"lease": token, "result_base64": "AA==", "content_type": "csv"}),
            "content_type",
        ),
        ("fail", json!({"lease": token}), "message"),
        ("release", json!({"lease": token, "why": "bored"}), "why"),
    ] {
        let response = app.worker_call(&id, action, &body).await;
        let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(
            error_fields(&problem),
            [field],
            "{action} {body}: {problem}"
        );
    }
    let response = app
        .client
        .post(app.url(&format!("/v1/workers/jobs/{id}/heartbeat")))
        .header(CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    // None of it touched the job.
    assert_eq!(job(&app, &id).await["status"], "processing");
}

#[tokio::test]
async fn another_tenants_job_and_unknown_ids_answer_404() {
    let app = builder().spawn().await;
    let request = JobRequest {
        job_type: Some(VIDEO.to_owned()),
        ..JobRequest::default()
    };
    let tenant = TenantId::parse("someone-else").unwrap();
    let new = NewJob::parse(tenant, request, None, &JobLimits::default()).unwrap();
    let theirs = app.backend.create(new).await.unwrap().job.id.to_string();

    // Their job is not ours to claim…
    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 0}))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // …nor to name: exactly like a job that does not exist.
    let unknown = herald_core::JobId::generate().to_string();
    for id in [theirs.as_str(), unknown.as_str(), "not-a-job-id"] {
        for action in ["heartbeat", "complete", "fail", "release"] {
            let response = call(&app, id, action, "any-token", least(action)).await;
            let problem = assert_problem(response, StatusCode::NOT_FOUND).await;
            assert_eq!(
                problem["type"], "https://herald.dev/problems/not-found",
                "{action} {id}"
            );
        }
    }
}

#[tokio::test]
async fn a_wrong_token_answers_409_and_leaves_the_job_with_its_worker() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({})).await;
    let claimed = claim(&app).await;
    for action in ["heartbeat", "complete", "fail", "release"] {
        assert_lease_lost(&app, &id, action, "not-the-token").await;
    }
    let polled = job(&app, &id).await;
    assert_eq!(polled["status"], "processing");
    let done = call_ok(&app, &id, "complete", &token(&claimed), json!({})).await;
    assert_eq!(done["job"]["status"], "completed");
    assert_eq!(
        done["job"]["result_url"],
        Value::Null,
        "completed without a result"
    );
}

#[tokio::test]
async fn a_lease_of_herald_s_own_workers_cannot_be_taken_over_through_the_worker_routes() {
    let app = builder().spawn().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    assert_lease_lost(&app, &id, "complete", lease.token()).await;
    assert_eq!(job(&app, &id).await["status"], "processing");
}

#[tokio::test]
async fn a_cancel_request_reaches_the_worker_and_its_final_call_cancels_the_job() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({})).await;
    let claimed = claim(&app).await;
    let token = token(&claimed);
    let beat = call_ok(&app, &id, "heartbeat", &token, json!({})).await;
    assert_eq!(beat["cancel_requested"], false);

    let response = app.cancel_job(&id).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let beat = call_ok(&app, &id, "heartbeat", &token, json!({})).await;
    assert_eq!(beat["cancel_requested"], true);
    assert_eq!(beat["job"]["status"], "processing");

    // The worker finished anyway: the cancel request decides.
    let done = call_ok(&app, &id, "complete", &token, json!({"result": "late"})).await;
    assert_eq!(done["job"]["status"], "canceled");
    assert_eq!(done["job"]["error"]["code"], "canceled");
    assert_eq!(app.job_result(&id).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_released_job_is_offered_again_without_counting_the_attempt() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({})).await;
    let first = claim(&app).await;
    let released = call_ok(&app, &id, "release", &token(&first), json!({})).await;
    assert_eq!(released["job"]["status"], "pending");
    assert_eq!(released["job"]["attempt"], 0);

    let again = claim(&app).await;
    assert_eq!(again["job"]["id"], id.as_str());
    assert_eq!(again["job"]["attempt"], 1);
    assert_ne!(token(&again), token(&first));
}

#[tokio::test]
async fn a_heartbeat_past_the_jobs_timeout_fails_the_attempt_with_timeout() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({"timeout_s": 1, "max_attempts": 1})).await;
    let claimed = claim(&app).await;
    let token = token(&claimed);
    let problem = eventually(
        "a heartbeat past the timeout to be refused",
        Duration::from_secs(15),
        || async {
            let response = call(&app, &id, "heartbeat", &token, json!({})).await;
            match response.status() {
                StatusCode::OK => None,
                _ => Some(assert_problem(response, StatusCode::CONFLICT).await),
            }
        },
    )
    .await;
    assert_eq!(problem["type"], "https://herald.dev/problems/lease-lost");
    assert!(
        problem["detail"].as_str().unwrap().contains("timeout"),
        "{problem}"
    );
    let failed = job(&app, &id).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "timeout");
}

#[tokio::test]
async fn claims_beyond_the_bound_answer_503_and_a_stopping_server_ends_waiting_ones() {
    let app = builder().max_worker_claims(1).spawn().await;
    let waiting = waiting_claim(&app, 60).await;

    let response = app
        .worker_claim(&json!({"types": [VIDEO], "wait_s": 0}))
        .await;
    assert!(response.headers().contains_key(RETRY_AFTER));
    let problem = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/too-many-claims"
    );

    app.shutdown.cancel();
    let response = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the waiting claim answered when the server stopped")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_python_worker_runs_a_job_over_plain_http() {
    let app = builder().spawn().await;
    let id = submit(&app, json!({"payload": {"words": ["herald", "worker"]}})).await;

    // The example worker of the docs, run as it is.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/external_worker.py"
    );
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&app.address)
        .arg(VIDEO)
        .arg("--once")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the Python worker finished within 60 s")
        .expect("python3 runs (it is required for this test)");
    assert!(
        output.status.success(),
        "the Python worker failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("it printed the job");
    assert_eq!(printed["id"], id.as_str());

    let done = job(&app, &id).await;
    assert_eq!(done["status"], "completed");
    let result: Value = app.job_result(&id).await.json().await.unwrap();
    assert_eq!(
        result,
        json!({"upper": ["HERALD", "WORKER"], "worker": "python"})
    );
    // Its progress went out like any other: the job's event history holds it.
    let events = app.job_stream(&id, Some("0")).await.events_to_end().await;
    let names: Vec<&str> = events.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        [
            "job.pending",
            "job.processing",
            "job.progress",
            "job.completed"
        ]
    );
    assert_eq!(
        events[2].json()["progress"],
        json!({"percent": 50, "message": "2 words read"})
    );
}
