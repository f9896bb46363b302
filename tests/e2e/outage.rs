//! A Redis outage costs a client about a second, not a hang: while Redis is killed or frozen,
//! every request that needs it answers `503` problem+json with `Retry-After` at once, `/readyz`
//! says not ready on every role, and everything works again when Redis returns, without
//! restarting Herald. A submission that timed out but landed later is found again by its
//! `Idempotency-Key`, never stored twice.

use std::time::{Duration, Instant};

use herald_testkit::{Receiver, RedisServer, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Herald, client, follow, get_job, get_json, is_terminal, on_redis, redis_connection,
    signal_subscribers, sleep_job, submit,
};

/// Well under the ~9.5 s the client's reconnection rounds used to hold every request, and
/// well over the one-second command timeout, so a loaded machine does not make it flaky.
const PROMPTLY: Duration = Duration::from_secs(3);

/// Sends one request and checks it is refused at once with a `503` problem of type `kind` and
/// a `Retry-After`.
async fn assert_refused_promptly(
    herald: &Herald,
    method: Method,
    path: &str,
    body: Option<Value>,
    kind: &str,
) {
    let mut request = client().request(method.clone(), herald.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let started = Instant::now();
    let answer = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let took = started.elapsed();
    assert_eq!(
        answer.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "{method} {path}"
    );
    assert!(took < PROMPTLY, "{method} {path} took {took:?}");
    let headers = answer.headers().clone();
    assert_eq!(headers["content-type"], "application/problem+json");
    let retry_after: u64 = headers["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: Retry-After in seconds"));
    assert!(
        retry_after >= 1,
        "{method} {path}: Retry-After {retry_after}"
    );
    let problem: Value = answer.json().await.expect("a problem document");
    assert_eq!(
        problem["type"],
        format!("https://herald.dev/problems/{kind}"),
        "{method} {path}: {problem}"
    );
    assert_eq!(problem["status"], 503);
}

/// Every kind of request a client or an orchestrator makes, refused promptly, twice over: the
/// first requests find the connection broken, the later ones find the client reconnecting.
/// `worker` is the process without the api role, serving only the operations endpoints.
async fn assert_outage_answered_promptly(api: &Herald, worker: &Herald, id: &str) {
    for _ in 0..2 {
        assert_refused_promptly(
            api,
            Method::POST,
            "/v1/jobs",
            Some(sleep_job(0.1, 1)),
            "backend-unavailable",
        )
        .await;
        let job = format!("/v1/jobs/{id}");
        assert_refused_promptly(api, Method::GET, &job, None, "backend-unavailable").await;
        assert_refused_promptly(api, Method::GET, "/readyz", None, "not-ready").await;
        assert_refused_promptly(worker, Method::GET, "/readyz", None, "not-ready").await;
    }
}

/// After Redis returns: both processes ready again and subscribed to the signals again, the
/// job finished before the outage still there, nothing left behind by the refused submissions,
/// and the worker and the notifier running a new job and its webhook.
async fn assert_recovered(redis: &RedisServer, api: &Herald, worker: &Herald, id: &str) {
    api.wait_ready().await;
    worker.wait_ready().await;
    eventually(
        "both processes to subscribe to the signals again",
        Duration::from_secs(60),
        || async { (signal_subscribers(redis).await == 2).then_some(()) },
    )
    .await;
    assert_eq!(get_job(api, id).await["status"], "completed");
    let listed = get_json(api, "/v1/jobs").await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .expect("a page of jobs")
        .iter()
        .filter_map(|job| job["id"].as_str())
        .collect();
    assert_eq!(ids, [id], "a refused submission left a job behind");
    let receiver = Receiver::start().await;
    let mut with_webhook = sleep_job(0.1, 1);
    with_webhook["webhook"] = json!({"url": receiver.url("/after-the-outage")});
    let again = submit(api, with_webhook).await;
    let again = again["id"].as_str().expect("id");
    let seen = follow(api, again, Duration::from_secs(60), is_terminal).await;
    assert_eq!(seen.last().expect("a final version")["status"], "completed");
    let delivered = receiver
        .wait_for_to("/after-the-outage", 1, Duration::from_secs(60))
        .await;
    assert_eq!(delivered[0].json::<Value>()["data"]["id"], again);
}

/// An api process and a process with the worker and notifier roles on `redis`, and a job they
/// completed.
async fn deployment_with_a_finished_job(redis: &RedisServer) -> (Herald, Herald, String) {
    // The webhook receiver is on loopback.
    let private = ["--webhook-allow-private-targets"];
    let api = Herald::start_ready(&on_redis(redis, "api", &private)).await;
    let worker = Herald::start_ready(&on_redis(redis, "worker,notifier", &private)).await;
    let job = submit(&api, sleep_job(0.1, 1)).await;
    let id = job["id"].as_str().expect("id").to_owned();
    let seen = follow(&api, &id, Duration::from_secs(60), is_terminal).await;
    assert_eq!(seen.last().expect("a final version")["status"], "completed");
    (api, worker, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_killed_requests_answer_503_at_once_and_work_again_after_its_restart() {
    // Killed and restarted mid-test, keeping its data: never a shared server.
    let mut redis = RedisServer::start_durable();
    let (api, worker, id) = deployment_with_a_finished_job(&redis).await;

    redis.kill();
    assert_outage_answered_promptly(&api, &worker, &id).await;
    // The refusals came from the authentication layer (it asks the store whether any key
    // exists) before any handler ran: counted all the same.
    assert_refusals_counted(&api).await;

    redis.restart();
    assert_recovered(&redis, &api, &worker, &id).await;
}

/// The api's `/metrics` counts the `503`s of [`assert_outage_answered_promptly`].
async fn assert_refusals_counted(api: &Herald) {
    let metrics = client()
        .get(api.url("/metrics"))
        .send()
        .await
        .expect("/metrics answers without Redis")
        .text()
        .await
        .expect("the metrics");
    for series in [
        "herald_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"503\"} 2",
        "herald_http_requests_total{method=\"GET\",route=\"/v1/jobs/{id}\",status=\"503\"} 2",
        "herald_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 2",
    ] {
        assert!(
            metrics.contains(series),
            "{series} missing from:\n{metrics}"
        );
    }
}

/// A server that accepts connections and never answers, as a Redis host whose process hangs
/// would: reconnecting to it takes the whole connect timeout, every attempt.
struct Unresponsive {
    task: tokio::task::JoinHandle<()>,
}

impl Unresponsive {
    async fn listen(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind the port Redis left");
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        Self { task }
    }

    /// Closes the listener and every connection, and frees the port.
    async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_accepts_connections_but_never_answers_requests_still_answer_503_at_once() {
    let mut redis = RedisServer::start_durable();
    let (api, worker, id) = deployment_with_a_finished_job(&redis).await;

    redis.kill();
    let port = redis.port().expect("a private server");
    let unresponsive = Unresponsive::listen(port).await;
    assert_outage_answered_promptly(&api, &worker, &id).await;

    unresponsive.close().await;
    redis.restart();
    assert_recovered(&redis, &api, &worker, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_frozen_requests_answer_503_at_once_and_work_again_once_it_thaws() {
    let mut redis = RedisServer::start_private();
    let (api, worker, id) = deployment_with_a_finished_job(&redis).await;

    redis.freeze();
    assert_outage_answered_promptly(&api, &worker, &id).await;

    redis.thaw();
    assert_recovered(&redis, &api, &worker, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_that_timed_out_but_landed_later_is_returned_by_its_retry_with_the_same_key() {
    let redis = RedisServer::start_private();
    let api = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let submit_with_key = || {
        client()
            .post(api.url("/v1/jobs"))
            .header("Idempotency-Key", "order-42")
            .json(&sleep_job(0.1, 1))
            .send()
    };

    // A first submission loads the submission script into Redis: the write held below is then
    // the script itself, not a lookup of it that would fail once run.
    let first = submit(&api, sleep_job(0.1, 1)).await;

    // Redis holds every write for a while and runs it afterwards: the api gives up on the
    // submission first, yet the job is stored once the pause ends.
    let mut admin = redis_connection(&redis).await;
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(5000)
        .arg("WRITE")
        .query_async(&mut admin)
        .await
        .expect("CLIENT PAUSE");
    let started = Instant::now();
    let refused = submit_with_key().await.expect("POST /v1/jobs");
    let took = started.elapsed();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < PROMPTLY, "the submission took {took:?}");
    assert!(refused.headers().contains_key("retry-after"));

    // The client retries as told: once Redis has run the held write, the retry answers the
    // job that write created.
    let replayed = eventually(
        "the retried submission to be accepted",
        Duration::from_secs(60),
        || async {
            let answer = submit_with_key().await.ok()?;
            (answer.status() == StatusCode::ACCEPTED).then_some(answer)
        },
    )
    .await;
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    let job: Value = replayed.json().await.expect("job JSON");
    let listed = get_json(&api, "/v1/jobs").await;
    let ids: Vec<&Value> = listed["data"]
        .as_array()
        .expect("a page of jobs")
        .iter()
        .map(|job| &job["id"])
        .collect();
    assert_eq!(ids, [&job["id"], &first["id"]], "one job per submission");
}
