//! Signed, durable webhooks, end to end: real `herald` processes deliver to a real HTTP
//! receiver on loopback, and every signature is checked by the Standard Webhooks reference
//! library (`standardwebhooks`), not by Herald's own signing code.
//!
//! The processes run with `--webhook-allow-private-targets` (the receiver is on loopback), a
//! retry schedule of seconds rather than hours, and a short attempt timeout, so retries,
//! dead deliveries and timeouts happen within a test's time.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use herald_testkit::{Answer, Receiver, RedisServer, Request, Script, eventually};
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::support::{
    Herald, client, create_webhook, follow, get_delivery, get_job, get_json, is_terminal, on_redis,
    post_json, submit, webhook_deliveries,
};

/// A `whsec_` secret of the Standard Webhooks form (24 bytes, base64).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Another one, for rotations.
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// A plain secret, which signs with its UTF-8 bytes.
const PLAIN_SECRET: &str = "a-plain-shared-secret-of-utf8";

/// Generous bounds: CI has two cores and runs tests in parallel.
const WITHIN: Duration = Duration::from_secs(60);

/// The flags every webhook test passes: loopback targets allowed, a retry `schedule` of
/// seconds, and an attempt `timeout`.
fn webhook_flags<'a>(schedule: &'a str, timeout: &'a str) -> Vec<&'a str> {
    vec![
        "--webhook-allow-private-targets",
        "--webhook-retry-schedule",
        schedule,
        "--webhook-timeout",
        timeout,
    ]
}

/// One process with every role on `redis`.
async fn start_herald(redis: &RedisServer, schedule: &str, timeout: &str) -> Herald {
    let flags = webhook_flags(schedule, timeout);
    Herald::start_ready(&on_redis(redis, "api,worker,notifier", &flags)).await
}

/// A short `demo.sleep` job whose own webhook goes to `url`, signed with `secret` (or a
/// secret Herald generates).
fn job_with_webhook(url: &str, secret: Option<&str>) -> Value {
    let mut hook = json!({"url": url});
    if let Some(secret) = secret {
        hook["secret"] = json!(secret);
    }
    json!({"type": "demo.sleep", "payload": {"seconds": 0.1}, "webhook": hook})
}

/// A short `demo.sleep` job without a webhook of its own.
fn plain_job() -> Value {
    json!({"type": "demo.sleep", "payload": {"seconds": 0.1}})
}

/// The reference library's verifier for `secret`: a `whsec_` secret signs with its decoded
/// bytes, any other with its UTF-8 bytes (docs/api.md, "What an endpoint receives").
fn reference_verifier(secret: &str) -> standardwebhooks::Webhook {
    if secret.starts_with("whsec_") {
        standardwebhooks::Webhook::new(secret).expect("a valid whsec_ secret")
    } else {
        standardwebhooks::Webhook::from_bytes(secret.as_bytes().to_vec())
            .expect("a secret of bytes")
    }
}

/// Checks `request`'s signature with the reference library.
fn assert_signed(request: &Request, secret: &str) {
    if let Err(e) = reference_verifier(secret).verify(&request.body, &request.headers) {
        panic!("the reference library rejects the delivery ({e}): {request:?}");
    }
}

/// The `v1,<base64>` signatures of `request`'s `webhook-signature` header.
fn signatures(request: &Request) -> Vec<String> {
    request
        .header("webhook-signature")
        .expect("a webhook-signature header")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `signature` alone, in place of the request's header, verifies with `secret`.
fn verifies_alone(request: &Request, signature: &str, secret: &str) -> bool {
    let mut headers = request.headers.clone();
    headers.insert(
        "webhook-signature",
        HeaderValue::from_str(signature).expect("a header value"),
    );
    reference_verifier(secret)
        .verify(&request.body, &headers)
        .is_ok()
}

fn body(request: &Request) -> Value {
    request.json()
}

fn webhook_id(request: &Request) -> String {
    request
        .header("webhook-id")
        .unwrap_or_else(|| panic!("no webhook-id header: {request:?}"))
        .to_owned()
}

/// Whether `request` is the `job.completed` delivery of job `id`.
fn is_completed_of(request: &Request, id: &str) -> bool {
    let body = body(request);
    body["type"] == "job.completed" && body["data"]["id"] == id
}

/// Waits until `path` received the `job.completed` delivery of job `id`; returns the
/// requests to `path`.
async fn wait_for_completed(receiver: &Receiver, path: &str, id: &str) -> Vec<Request> {
    receiver
        .wait_until(&format!("job.completed of {id} at {path}"), WITHIN, |all| {
            all.iter().any(|r| r.path == path && is_completed_of(r, id))
        })
        .await;
    receiver.requests_to(path)
}

fn time(value: &Value) -> DateTime<Utc> {
    let raw = value
        .as_str()
        .unwrap_or_else(|| panic!("a time, not {value}"));
    DateTime::parse_from_rfc3339(raw)
        .unwrap_or_else(|e| panic!("`{raw}` is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

fn id_of(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {resource}"))
        .to_owned()
}

/// Waits until the job's own webhook shows `state`, and returns the job.
async fn wait_for_hook_state(api: &Herald, id: &str, state: &str) -> Value {
    eventually(
        &format!("job {id}'s webhook to be {state}"),
        WITHIN,
        || async {
            let job = get_job(api, id).await;
            (job["webhook"]["state"] == state).then_some(job)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_own_webhook_gets_one_signed_completed_delivery_and_the_job_shows_it_delivered() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;

    let job = submit(&api, job_with_webhook(&receiver.url("/own"), None)).await;
    let id = id_of(&job);
    let secret = job["webhook"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("a generated secret in the 202: {job}"))
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(job["webhook"]["state"], "pending", "{job}");
    assert_eq!(job["webhook"]["attempts"], 0, "{job}");

    let requests = wait_for_completed(&receiver, "/own", &id).await;
    let delivery = requests
        .iter()
        .find(|r| is_completed_of(r, &id))
        .expect("the completed delivery");
    assert_eq!(delivery.method, "POST");
    assert_signed(delivery, &secret);
    let timestamp: i64 = delivery
        .header("webhook-timestamp")
        .expect("a webhook-timestamp")
        .parse()
        .expect("Unix seconds");
    assert!(
        (Utc::now().timestamp() - timestamp).abs() < 120,
        "a timestamp of now: {timestamp}"
    );
    assert!(
        delivery
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{delivery:?}"
    );

    let sent = body(delivery);
    assert!(sent["timestamp"].is_string(), "{sent}");
    let data = &sent["data"];
    assert_eq!(data["status"], "completed", "{sent}");
    assert_eq!(data["type"], "demo.sleep", "{sent}");
    let polled = wait_for_hook_state(&api, &id, "delivered").await;
    assert_eq!(
        data["seq"], polled["seq"],
        "the body's seq is the job's: {sent} vs {polled}"
    );
    assert_eq!(polled["webhook"]["attempts"], 1, "{polled}");
    assert!(polled["webhook"]["next_attempt_at"].is_null(), "{polled}");
    assert!(
        polled["webhook"].get("secret").is_none() && !polled.to_string().contains(&secret),
        "no secret after creation: {polled}"
    );

    // The webhook-id is the delivery's id.
    let record = get_delivery(&api, &webhook_id(delivery)).await;
    assert_eq!(record["state"], "delivered", "{record}");
    assert_eq!(record["attempt_count"], 1, "{record}");
    assert_eq!(record["job_id"], id, "{record}");
    assert_eq!(record["event_type"], "job.completed", "{record}");
    assert!(
        record["webhook_id"].is_null(),
        "the job's own webhook: {record}"
    );
    assert!(!record.to_string().contains(&secret), "{record}");

    // Only the terminal events by default: the one completed delivery, nothing else.
    let to_own = receiver.requests_to("/own");
    assert_eq!(to_own.len(), 1, "{to_own:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_gets_every_event_of_its_job_type_in_seq_and_others_get_nothing() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;

    // Every event of report jobs, signed with a plain secret.
    let reports = create_webhook(
        &api,
        json!({"url": receiver.url("/reports"), "job_types": ["demo.report"], "secret": PLAIN_SECRET}),
    )
    .await;
    assert_eq!(reports["enabled"], true, "{reports}");
    assert_eq!(reports["secret"], PLAIN_SECRET, "{reports}");
    let reports_id = id_of(&reports);
    // Every event of another job type.
    let sleeps = create_webhook(
        &api,
        json!({"url": receiver.url("/sleeps"), "job_types": ["demo.sleep"]}),
    )
    .await;
    assert!(
        sleeps["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "a generated secret: {sleeps}"
    );
    // Report jobs, but only their failures.
    let failures = create_webhook(
        &api,
        json!({"url": receiver.url("/failures"), "events": ["job.failed"], "job_types": ["demo.report"]}),
    )
    .await;
    assert_eq!(failures["events"], json!(["job.failed"]), "{failures}");

    let job = submit(
        &api,
        json!({"type": "demo.report", "payload": {"rows": 200, "rows_per_second": 400}}),
    )
    .await;
    let id = id_of(&job);
    let seen = follow(&api, &id, WITHIN, is_terminal).await;
    let last = seen.last().expect("the final version");
    assert_eq!(last["status"], "completed", "{last}");
    let final_seq = last["seq"].as_u64().expect("a seq");

    let requests = wait_for_completed(&receiver, "/reports", &id).await;
    let mut by_seq: HashMap<u64, Value> = HashMap::new();
    let mut ids = HashSet::new();
    for request in &requests {
        assert_signed(request, PLAIN_SECRET);
        ids.insert(webhook_id(request));
        let event = body(request);
        assert_eq!(event["data"]["id"], id, "{event}");
        let seq = event["data"]["seq"].as_u64().expect("a seq");
        // Each body's type agrees with the snapshot it carries.
        let status = match event["type"].as_str() {
            Some("job.pending") => "pending",
            Some("job.processing" | "job.progress") => "processing",
            Some("job.completed") => "completed",
            other => panic!("an unexpected event type {other:?}: {event}"),
        };
        assert_eq!(event["data"]["status"], status, "{event}");
        if let Some(earlier) = by_seq.insert(seq, event.clone()) {
            panic!("seq {seq} delivered twice: {earlier} and {event}");
        }
    }
    assert_eq!(ids.len(), requests.len(), "every event is its own delivery");
    let seqs: BTreeSet<u64> = by_seq.keys().copied().collect();
    let first = *seqs.first().expect("events");
    assert_eq!(
        seqs,
        (first..=final_seq).collect::<BTreeSet<u64>>(),
        "every seq up to the final one, without gaps"
    );
    assert_eq!(
        by_seq[&first]["type"], "job.pending",
        "the first event is job.pending"
    );
    assert_eq!(by_seq[&final_seq]["type"], "job.completed");
    assert!(
        by_seq.values().any(|e| e["type"] == "job.progress"),
        "progress events are delivered too"
    );

    // The listing has them all; the other subscriptions have nothing. (An event is expanded
    // into all its deliveries at once, so the completed one being here means theirs would be.)
    let listed = webhook_deliveries(&api, &reports_id, "?limit=100").await;
    assert_eq!(listed.len(), requests.len(), "{listed:?}");
    for other in [&sleeps, &failures] {
        let listed = webhook_deliveries(&api, &id_of(other), "").await;
        assert!(listed.is_empty(), "{other}: {listed:?}");
    }
    assert!(receiver.requests_to("/sleeps").is_empty());
    assert!(receiver.requests_to("/failures").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_twice_gets_three_attempts_with_one_webhook_id_and_the_job_shows_retrying()
 {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    // Retries ~3 s apart (±20 %): long enough to see the job's webhook retrying.
    let api = start_herald(&redis, "3s,3s,3s", "5s").await;
    receiver.respond("/own", Script::statuses([500, 500, 200]));
    receiver.respond("/subscribed", Script::statuses([500, 500, 200]));
    let subscription = create_webhook(
        &api,
        json!({"url": receiver.url("/subscribed"), "events": ["job.completed"], "secret": SECRET}),
    )
    .await;

    let job = submit(&api, job_with_webhook(&receiver.url("/own"), Some(SECRET))).await;
    let id = id_of(&job);
    assert!(
        job["webhook"].get("secret").is_none(),
        "a secret the client gave is not echoed: {job}"
    );

    // While the receiver fails, a poller sees the webhook retrying, and when.
    let retrying = eventually("the job's webhook to be retrying", WITHIN, || async {
        let job = get_job(&api, &id).await;
        (job["webhook"]["state"] == "retrying").then_some(job)
    })
    .await;
    let hook = &retrying["webhook"];
    assert!(
        hook["attempts"]
            .as_u64()
            .is_some_and(|n| (1..3).contains(&n)),
        "{retrying}"
    );
    let next = time(&hook["next_attempt_at"]);
    assert!(
        next > time(&retrying["finished_at"]),
        "the next attempt is after the failed one: {retrying}"
    );

    let delivered = wait_for_hook_state(&api, &id, "delivered").await;
    assert_eq!(delivered["webhook"]["attempts"], 3, "{delivered}");
    assert!(
        delivered["webhook"]["next_attempt_at"].is_null(),
        "{delivered}"
    );

    for path in ["/own", "/subscribed"] {
        let requests = receiver.wait_for_to(path, 3, WITHIN).await;
        assert_eq!(requests.len(), 3, "{path}: {requests:?}");
        let answered: Vec<_> = requests.iter().map(|r| r.answered).collect();
        assert_eq!(answered, [Some(500), Some(500), Some(200)], "{path}");
        let first_id = webhook_id(&requests[0]);
        for (request, earlier) in requests.iter().skip(1).zip(&requests) {
            assert_eq!(
                webhook_id(request),
                first_id,
                "{path}: the same webhook-id on retries"
            );
            let gap = request.received_at - earlier.received_at;
            assert!(
                gap >= Duration::from_secs(2),
                "{path}: a retry came {gap:?} after the failure, before the ~3 s schedule"
            );
        }
        for request in &requests {
            assert_signed(request, SECRET);
            assert!(is_completed_of(request, &id), "{request:?}");
        }
    }

    // The subscription's delivery history shows each attempt.
    let listed = webhook_deliveries(&api, &id_of(&subscription), "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let delivery = &listed[0];
    assert_eq!(
        delivery["id"],
        webhook_id(&receiver.requests_to("/subscribed")[0])
    );
    assert_eq!(delivery["state"], "delivered", "{delivery}");
    assert_eq!(delivery["attempt_count"], 3, "{delivery}");
    assert_eq!(delivery["job_id"], id, "{delivery}");
    assert_eq!(delivery["seq"], delivered["seq"], "{delivery}");
    let attempts = delivery["attempts"].as_array().expect("attempts");
    let codes: Vec<_> = attempts.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(codes, [json!(500), json!(500), json!(200)], "{delivery}");
    for attempt in attempts {
        assert!(attempt["duration_ms"].is_u64(), "{attempt}");
        time(&attempt["at"]);
    }
    for failed in &attempts[..2] {
        let error = failed["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("500"),
            "the error names the status: {failed}"
        );
    }
    assert!(attempts[2]["error"].is_null(), "{delivery}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_holds_the_next_attempt_back_longer_than_the_schedule() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;
    receiver.respond(
        "/throttled",
        Script::Sequence(vec![
            Answer::status(429).header("Retry-After", "3"),
            Answer::default(),
        ]),
    );

    let job = submit(
        &api,
        job_with_webhook(&receiver.url("/throttled"), Some(SECRET)),
    )
    .await;
    let id = id_of(&job);
    let requests = receiver.wait_for_to("/throttled", 2, WITHIN).await;
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(
        gap >= Duration::from_millis(2500),
        "the retry came {gap:?} after a `Retry-After: 3`"
    );
    assert_eq!(webhook_id(&requests[0]), webhook_id(&requests[1]));
    let job = wait_for_hook_state(&api, &id, "delivered").await;
    assert_eq!(job["webhook"]["attempts"], 2, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_410_gone_disables_the_subscription_and_its_delivery_is_dead() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;
    receiver.respond("/gone", Script::status(410));
    let subscription = create_webhook(
        &api,
        json!({"url": receiver.url("/gone"), "events": ["job.completed"]}),
    )
    .await;
    let sub_id = id_of(&subscription);

    let first = id_of(&submit(&api, plain_job()).await);
    wait_for_completed(&receiver, "/gone", &first).await;
    let disabled = eventually("the subscription to be disabled", WITHIN, || async {
        let sub = get_json(&api, &format!("/v1/webhooks/{sub_id}")).await;
        (sub["enabled"] == false).then_some(sub)
    })
    .await;
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{disabled}"
    );
    let listed = webhook_deliveries(&api, &sub_id, "").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["state"], "dead", "{listed:?}");
    assert_eq!(
        listed[0]["attempt_count"], 1,
        "no retry after a 410: {listed:?}"
    );
    assert_eq!(listed[0]["attempts"][0]["status_code"], 410, "{listed:?}");
    assert_eq!(
        webhook_deliveries(&api, &sub_id, "?status=dead")
            .await
            .len(),
        1
    );

    // A later event goes to the job's own webhook, and not to the disabled subscription.
    let later = id_of(&submit(&api, job_with_webhook(&receiver.url("/marker"), None)).await);
    wait_for_completed(&receiver, "/marker", &later).await;
    eventually(
        "no delivery of the disabled subscription to be scheduled",
        WITHIN,
        || async {
            let listed = webhook_deliveries(&api, &sub_id, "").await;
            listed
                .iter()
                .all(|d| d["state"] == "dead" || d["state"] == "delivered")
                .then_some(())
        },
    )
    .await;
    let to_gone = receiver.requests_to("/gone");
    assert_eq!(
        to_gone.len(),
        1,
        "the disabled subscription got more: {to_gone:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_costs_one_timeout_and_does_not_hold_up_a_healthy_endpoint() {
    const JOBS: usize = 5;
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    // A long first retry: each hanging delivery makes one attempt during the test.
    let api = start_herald(&redis, "60s", "2s").await;
    receiver.respond("/hang", Script::Hang);
    let hanging = create_webhook(
        &api,
        json!({"url": receiver.url("/hang"), "events": ["job.completed"]}),
    )
    .await;
    create_webhook(
        &api,
        json!({"url": receiver.url("/healthy"), "events": ["job.completed"]}),
    )
    .await;

    let mut ids = Vec::new();
    for _ in 0..JOBS {
        ids.push(id_of(&submit(&api, plain_job()).await));
    }
    let healthy = receiver.wait_for_to("/healthy", JOBS, WITHIN).await;
    let hung = receiver.wait_for_to("/hang", JOBS, WITHIN).await;
    let arrival = |requests: &[Request], id: &str| -> Instant {
        requests
            .iter()
            .find(|r| is_completed_of(r, id))
            .unwrap_or_else(|| panic!("no delivery of {id}: {requests:?}"))
            .received_at
    };
    for id in &ids {
        // Both deliveries of an event leave together; had the healthy one waited behind the
        // hanging one, it would have come after that attempt's 2 s timeout.
        let healthy_at = arrival(&healthy, id);
        let hung_at = arrival(&hung, id);
        assert!(
            healthy_at < hung_at + Duration::from_secs(2),
            "job {id}: the healthy endpoint got its delivery {:?} after the hanging one",
            healthy_at - hung_at
        );
    }

    // Each hanging delivery failed once, by the timeout, and waits for its next attempt.
    let hanging_id = id_of(&hanging);
    let listed = eventually("every hanging attempt to time out", WITHIN, || async {
        let listed = webhook_deliveries(&api, &hanging_id, "").await;
        (listed.len() == JOBS && listed.iter().all(|d| d["attempt_count"] == 1)).then_some(listed)
    })
    .await;
    for delivery in &listed {
        assert_eq!(delivery["state"], "retrying", "{delivery}");
        let attempt = &delivery["attempts"][0];
        assert!(attempt["status_code"].is_null(), "{attempt}");
        let error = attempt["error"].as_str().unwrap_or_default().to_lowercase();
        assert!(
            error.contains("timed out") || error.contains("timeout"),
            "the error names the timeout: {attempt}"
        );
    }
    assert_eq!(
        receiver.requests_to("/hang").len(),
        JOBS,
        "one attempt each"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_dead_after_its_schedule_is_listed_and_a_manual_retry_delivers_it_with_the_same_id()
 {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;
    receiver.respond("/down", Script::status(500));
    receiver.respond("/own-down", Script::status(500));
    let subscription = create_webhook(
        &api,
        json!({"url": receiver.url("/down"), "events": ["job.completed"], "secret": SECRET}),
    )
    .await;
    let sub_id = id_of(&subscription);

    let id = id_of(
        &submit(
            &api,
            job_with_webhook(&receiver.url("/own-down"), Some(SECRET)),
        )
        .await,
    );
    let dead = eventually("the delivery to be dead", WITHIN, || async {
        let listed = webhook_deliveries(&api, &sub_id, "?status=dead").await;
        (listed.len() == 1).then(|| listed[0].clone())
    })
    .await;
    assert_eq!(
        dead["attempt_count"], 3,
        "the first attempt and two retries: {dead}"
    );
    assert!(dead["next_attempt_at"].is_null(), "{dead}");
    assert!(
        webhook_deliveries(&api, &sub_id, "?status=delivered")
            .await
            .is_empty()
    );
    let job = wait_for_hook_state(&api, &id, "dead").await;
    assert_eq!(job["webhook"]["attempts"], 3, "{job}");
    assert!(job["webhook"]["next_attempt_at"].is_null(), "{job}");
    assert_eq!(receiver.requests_to("/down").len(), 3);

    // The endpoints are fixed; a client asks for another try.
    receiver.respond("/down", Script::status(200));
    receiver.respond("/own-down", Script::status(200));
    let delivery_id = id_of(&dead);
    let own_id = webhook_id(&receiver.requests_to("/own-down")[0]);
    for retried in [&delivery_id, &own_id] {
        let (status, answer) =
            post_json(&api, &format!("/v1/deliveries/{retried}/retry"), json!({})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
        assert_eq!(answer["id"], retried.as_str(), "{answer}");
    }

    for (path, id_sent) in [("/down", &delivery_id), ("/own-down", &own_id)] {
        let requests = receiver.wait_for_to(path, 4, WITHIN).await;
        let last = requests.last().expect("the retry");
        assert_eq!(
            &webhook_id(last),
            id_sent,
            "{path}: the same webhook-id after a retry"
        );
        assert_eq!(last.answered, Some(200));
        assert_signed(last, SECRET);
    }
    let delivered = eventually("the retried delivery to be delivered", WITHIN, || async {
        let delivery = get_delivery(&api, &delivery_id).await;
        (delivery["state"] == "delivered").then_some(delivery)
    })
    .await;
    assert_eq!(delivered["attempt_count"], 4, "{delivered}");
    let job = wait_for_hook_state(&api, &id, "delivered").await;
    assert_eq!(job["webhook"]["attempts"], 4, "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_resends_a_window_of_earlier_events_as_new_deliveries() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;

    let since = Utc::now() - chrono::Duration::seconds(1);
    let mut in_window = Vec::new();
    for _ in 0..2 {
        let id = id_of(&submit(&api, plain_job()).await);
        follow(&api, &id, WITHIN, is_terminal).await;
        in_window.push(id);
    }
    let until = Utc::now();
    // The feed's times have millisecond grain: step past `until` before the next job.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let after = id_of(&submit(&api, plain_job()).await);
    follow(&api, &after, WITHIN, is_terminal).await;

    // Subscribed only now: the earlier events were never delivered to it.
    let subscription = create_webhook(
        &api,
        json!({"url": receiver.url("/replayed"), "events": ["job.completed"], "secret": SECRET}),
    )
    .await;
    let sub_id = id_of(&subscription);
    let (status, replayed) = post_json(
        &api,
        &format!("/v1/webhooks/{sub_id}/replay"),
        json!({"since": since.to_rfc3339(), "until": until.to_rfc3339()}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["replayed"], 2, "{replayed}");

    let requests = receiver.wait_for_to("/replayed", 2, WITHIN).await;
    let mut got: Vec<String> = requests
        .iter()
        .map(|r| {
            assert_signed(r, SECRET);
            let event = body(r);
            assert_eq!(event["type"], "job.completed", "{event}");
            event["data"]["id"].as_str().expect("a job id").to_owned()
        })
        .collect();
    got.sort();
    in_window.sort();
    assert_eq!(
        got, in_window,
        "the window's completed events, not {after}'s"
    );

    let listed = webhook_deliveries(&api, &sub_id, "").await;
    let listed_ids: HashSet<&str> = listed.iter().filter_map(|d| d["id"].as_str()).collect();
    let sent_ids: HashSet<String> = requests.iter().map(webhook_id).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        sent_ids.iter().all(|id| listed_ids.contains(id.as_str())),
        "the replayed deliveries are listed: {listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notifier_killed_mid_flight_loses_no_delivery() {
    const JOBS: usize = 20;
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    // Plenty of retries: nothing should die of the outage, however the attempts fall.
    let flags = webhook_flags("1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s", "2s");
    let api = Herald::start_ready(&on_redis(&redis, "api,worker", &flags)).await;
    let doomed = Herald::start(&on_redis(&redis, "notifier", &flags)).await;
    receiver.respond("/crash", Script::Hang);

    let mut ids = Vec::new();
    for _ in 0..JOBS {
        ids.push(id_of(
            &submit(
                &api,
                job_with_webhook(&receiver.url("/crash"), Some(SECRET)),
            )
            .await,
        ));
    }
    // Some deliveries are in flight (hanging), others scheduled or not yet expanded.
    receiver.wait_for_to("/crash", 5, WITHIN).await;
    doomed.signal("KILL");
    receiver.respond("/crash", Script::status(200));
    let _rescuer = Herald::start(&on_redis(&redis, "notifier", &flags)).await;

    // A killed notifier's leases run out after 2 × timeout + 10 s, and outbox entries it read
    // but did not expand are reclaimed after ~30 s: be generous.
    let delivered_jobs = |requests: &[Request]| -> HashSet<String> {
        requests
            .iter()
            .filter(|r| r.path == "/crash" && r.answered == Some(200))
            .map(|r| {
                body(r)["data"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    let requests = receiver
        .wait_until(
            &format!("all {JOBS} jobs' completed events to be delivered"),
            Duration::from_secs(120),
            |all| delivered_jobs(all).len() == JOBS,
        )
        .await;
    let delivered = delivered_jobs(&requests);
    assert_eq!(delivered, ids.iter().cloned().collect::<HashSet<_>>());
    let mut webhook_ids = HashSet::new();
    for request in requests.iter().filter(|r| r.answered == Some(200)) {
        assert_signed(request, SECRET);
        assert_eq!(body(request)["type"], "job.completed");
        webhook_ids.insert(webhook_id(request));
    }
    assert_eq!(
        webhook_ids.len(),
        JOBS,
        "one delivery per job, whatever the retries"
    );
    for id in &ids {
        wait_for_hook_state(&api, id, "delivered").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_targets_are_refused_without_the_allow_private_targets_flag() {
    let herald = Herald::start_ready(&[]).await;
    let receiver = Receiver::start().await;
    let port = receiver.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/hooks"),
        format!("http://[::1]:{port}/"),
        format!("http://127.1.2.3:{port}/"),
    ] {
        for (path, body, field) in [
            ("/v1/webhooks", json!({"url": url}), "url"),
            ("/v1/jobs", job_with_webhook(&url, None), "webhook.url"),
        ] {
            let answer = client()
                .post(herald.url(path))
                .json(&body)
                .send()
                .await
                .expect("POST");
            assert_eq!(
                answer.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} {url}"
            );
            let content_type = answer.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                content_type.starts_with("application/problem+json"),
                "{content_type}"
            );
            let problem: Value = answer.json().await.expect("problem JSON");
            assert_eq!(problem["status"], 422, "{problem}");
            let errors = problem["errors"].as_array().expect("errors");
            assert!(
                errors.iter().any(|e| e["field"] == field),
                "{path} {url}: the error names {field}: {problem}"
            );
        }
    }
    let listed = get_json(&herald, "/v1/webhooks").await;
    assert_eq!(listed["data"], json!([]), "{listed}");
    assert!(receiver.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_backend_delivers_a_jobs_webhook_with_the_default_setup() {
    // `cargo run`'s setup: every role, the embedded backend, default schedule and timeout.
    let herald = Herald::start_ready(&["--webhook-allow-private-targets"]).await;
    let receiver = Receiver::start().await;
    let job = submit(
        &herald,
        job_with_webhook(&receiver.url("/embedded"), Some(SECRET)),
    )
    .await;
    let id = id_of(&job);
    let requests = wait_for_completed(&receiver, "/embedded", &id).await;
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_signed(&requests[0], SECRET);
    let polled = wait_for_hook_state(&herald, &id, "delivered").await;
    assert_eq!(body(&requests[0])["data"]["seq"], polled["seq"]);
    assert_eq!(polled["webhook"]["attempts"], 1, "{polled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_secret_rotation_deliveries_are_signed_with_both_the_new_and_the_old_secret() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let api = start_herald(&redis, "1s,1s", "5s").await;
    let subscription = create_webhook(
        &api,
        json!({"url": receiver.url("/rotated"), "events": ["job.completed"], "secret": SECRET}),
    )
    .await;
    let sub_id = id_of(&subscription);

    let (status, rotated) = post_json(
        &api,
        &format!("/v1/webhooks/{sub_id}/rotate-secret"),
        json!({"secret": OTHER_SECRET}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["secret"], OTHER_SECRET, "{rotated}");
    assert!(
        time(&rotated["previous_secret_expires_at"]) > Utc::now(),
        "the old secret keeps signing for a while: {rotated}"
    );

    let id = id_of(&submit(&api, plain_job()).await);
    let requests = wait_for_completed(&receiver, "/rotated", &id).await;
    let delivery = &requests[0];
    assert_signed(delivery, OTHER_SECRET);
    assert_signed(delivery, SECRET);
    let signed = signatures(delivery);
    assert_eq!(
        signed.len(),
        2,
        "two signatures in the grace period: {signed:?}"
    );
    for secret in [OTHER_SECRET, SECRET] {
        let valid: Vec<_> = signed
            .iter()
            .filter(|s| verifies_alone(delivery, s, secret))
            .collect();
        assert_eq!(
            valid.len(),
            1,
            "exactly one signature is {secret}'s: {signed:?}"
        );
    }

    // A rotation without a body generates the new secret.
    let (status, generated) = post_json(
        &api,
        &format!("/v1/webhooks/{sub_id}/rotate-secret"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{generated}");
    let fresh = generated["secret"]
        .as_str()
        .expect("a new secret")
        .to_owned();
    assert!(
        fresh.starts_with("whsec_") && fresh != OTHER_SECRET,
        "{generated}"
    );
    let id = id_of(&submit(&api, plain_job()).await);
    let requests = wait_for_completed(&receiver, "/rotated", &id).await;
    let delivery = requests
        .iter()
        .find(|r| is_completed_of(r, &id))
        .expect("the delivery");
    assert_signed(delivery, &fresh);
    assert_signed(delivery, OTHER_SECRET);
}
