//! Inbound webhooks end to end: `herald` processes on a private Redis, requests signed by the
//! providers' own libraries (`tests/e2e/inbound/sign.mjs`: `@octokit/webhooks-methods`,
//! `stripe`, `standardwebhooks`; Shopify's documented HMAC), captured, forwarded by the `http`
//! handler to an internal receiver as they came, deduplicated, refused, retried one by one and
//! replayed by window, and never lost when the worker forwarding them is killed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use herald_testkit::RedisServer;
use herald_testkit::{Answer, Receiver, Script};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::job_types::Scratch;
use crate::support::{Herald, client, follow, get_json, is_terminal, on_redis, post_json};

/// Headers for `body` signed by the provider's own library (see the module doc).
fn sign(
    scheme: &str,
    secret: &str,
    body: &str,
    id: Option<&str>,
    timestamp: Option<i64>,
) -> Vec<(String, String)> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("e2e/inbound/sign.mjs");
    let mut child = Command::new("node")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/test installs the signers with `npm ci` in tests/e2e/inbound)");
    let input =
        json!({"scheme": scheme, "secret": secret, "body": body, "id": id, "timestamp": timestamp});
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("the signer reads its input");
    let output = child.wait_with_output().expect("the signer ends");
    assert!(
        output.status.success(),
        "the {scheme} signer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let headers: serde_json::Map<String, Value> =
        serde_json::from_slice(&output.stdout).expect("the signer prints a JSON object");
    headers
        .into_iter()
        .map(|(name, value)| (name, value.as_str().expect("a header value").to_owned()))
        .collect()
}

/// The `[job_types]` forwarding each provider's events to `receiver` as they came: attempts
/// time out after `timeout`, `max_attempts` each.
fn config(scratch: &Scratch, receiver: &Receiver, timeout: &str, max_attempts: u32) -> String {
    let mut text = String::new();
    for provider in ["github", "stripe", "standard", "shopify"] {
        text.push_str(&format!(
            r#"
[job_types."{provider}.event"]
handler = "http"
url = "{url}"
forward = "original"
timeout = "{timeout}"
max_attempts = {max_attempts}
retry_backoff = {{ base = "1s", max = "1s" }}
"#,
            url = receiver.url(&format!("/{provider}")),
        ));
    }
    scratch.write("herald.toml", &text)
}

/// An api and a worker on `redis` with `config`.
async fn herald(redis: &RedisServer, config: &str) -> (Herald, Herald) {
    let api = Herald::start_ready(&on_redis(redis, "api", &["--config", config])).await;
    let worker = Herald::start(&on_redis(
        redis,
        "worker",
        &["--config", config, "--lease-timeout", "2s"],
    ))
    .await;
    (api, worker)
}

/// Creates a source; answers its `201` body (with its secret).
async fn source(api: &Herald, body: Value) -> Value {
    let (status, created) = post_json(api, "/v1/sources", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// Posts `body` with `headers` to the source's ingest URL.
async fn ingest(
    api: &Herald,
    source: &Value,
    headers: &[(String, String)],
    body: &str,
) -> reqwest::Response {
    let mut request = client()
        .post(api.url(source["ingest_url"].as_str().unwrap()))
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
        .send()
        .await
        .expect("the ingest request is answered")
}

/// The job id an accepted ingest request answered.
async fn job_of(response: reqwest::Response) -> String {
    assert!(response.status().is_success(), "{}", response.status());
    let answer: Value = response.json().await.expect("a JSON answer");
    answer["id"].as_str().expect("a job id").to_owned()
}

/// The source's request log, newest first.
async fn requests(api: &Herald, source: &Value) -> Vec<Value> {
    let path = format!("/v1/sources/{}/requests", source["id"].as_str().unwrap());
    get_json(api, &path).await["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_providers_own_signature_is_verified_and_the_request_forwarded_as_it_came() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let scratch = Scratch::new("inbound-forward");
    let config = config(&scratch, &receiver, "30s", 3);
    let (api, _worker) = herald(&redis, &config).await;
    for path in ["/github", "/stripe", "/standard", "/shopify"] {
        receiver.respond(path, Script::Always(Answer::status(200).body("ok")));
    }

    let github = source(
        &api,
        json!({"name": "github", "job_type": "github.event",
        "verify": {"scheme": "github", "secret": "gh-secret"}}),
    )
    .await;
    let stripe = source(&api, json!({"name": "stripe", "job_type": "stripe.event",
        "verify": {"scheme": "stripe", "secret": "whsec_stripe_test"}, "response": {"status": 200}})).await;
    let standard = source(
        &api,
        json!({"name": "standard", "job_type": "standard.event",
        "verify": {"scheme": "standard-webhooks"}, "response": {"status": 204}}),
    )
    .await;
    let shopify = source(
        &api,
        json!({"name": "shopify", "job_type": "shopify.event",
        "verify": {"scheme": "shopify", "secret": "shpss_test"}}),
    )
    .await;
    let standard_secret = standard["secret"].as_str().unwrap();

    // Bodies as providers write them: spacing and non-ASCII text a re-encoding would change.
    let cases = [
        (
            &github,
            "github",
            "gh-secret",
            r#"{"ref":"refs/heads/main", "pusher": {"name": "Zoë"}}"#,
            "x-hub-signature-256",
        ),
        (
            &stripe,
            "stripe",
            "whsec_stripe_test",
            r#"{"id": "evt_1", "type": "charge.succeeded",  "amount": 4200}"#,
            "stripe-signature",
        ),
        (
            &standard,
            "standard-webhooks",
            standard_secret,
            r#"{"type":"invoice.paid","data":{"note":"naïve"}}"#,
            "webhook-signature",
        ),
        (
            &shopify,
            "shopify",
            "shpss_test",
            r#"{"id": 820982911946154508, "email": "jon@example.com"}"#,
            "x-shopify-hmac-sha256",
        ),
    ];
    for (source, scheme, secret, body, signature) in cases {
        let mut headers = sign(scheme, secret, body, None, None);
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        let response = ingest(&api, source, &headers, body).await;
        let status = response.status();
        let job = if status == StatusCode::NO_CONTENT {
            // A 204 carries no id: the log names the job.
            requests(&api, source).await[0]["job_id"]
                .as_str()
                .unwrap()
                .to_owned()
        } else {
            job_of(response).await
        };
        let seen = follow(&api, &job, Duration::from_secs(60), is_terminal).await;
        let done = seen.last().unwrap();
        assert_eq!(done["status"], "completed", "{scheme}: {done}");
        assert_eq!(done["attempts"][0]["http_status"], 200, "{done}");
        assert_eq!(done["attempts"][0]["response_excerpt"], "ok", "{done}");
        let path = format!(
            "/{}",
            source["job_type"]
                .as_str()
                .unwrap()
                .trim_end_matches(".event")
        );
        let forwarded = receiver
            .wait_for_to(&path, 1, Duration::from_secs(30))
            .await;
        let forwarded = forwarded.last().unwrap();
        assert_eq!(forwarded.body, body.as_bytes(), "{scheme}");
        assert_eq!(forwarded.header("content-type"), Some("application/json"));
        let sent = headers.iter().find(|(name, _)| name == signature).unwrap();
        assert_eq!(
            forwarded.header(signature),
            Some(sent.1.as_str()),
            "{scheme}"
        );
        assert_eq!(forwarded.header("herald-job-id"), Some(job.as_str()));
        assert_eq!(forwarded.header("herald-attempt"), Some("1"));
        assert_eq!(requests(&api, source).await[0]["outcome"], "accepted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_stale_timestamps_and_provider_retries_are_refused_or_deduplicated() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    let scratch = Scratch::new("inbound-refused");
    let config = config(&scratch, &receiver, "30s", 3);
    let (api, _worker) = herald(&redis, &config).await;
    let github = source(
        &api,
        json!({"name": "github", "job_type": "github.event",
        "verify": {"scheme": "github", "secret": "gh-secret"}}),
    )
    .await;
    let stripe = source(
        &api,
        json!({"name": "stripe", "job_type": "stripe.event",
        "verify": {"scheme": "stripe", "secret": "whsec_stripe_test", "tolerance_s": 300}}),
    )
    .await;
    let standard = source(
        &api,
        json!({"name": "standard", "job_type": "standard.event",
        "verify": {"scheme": "standard-webhooks"}}),
    )
    .await;

    let body = r#"{"zen": "Design for failure."}"#;
    let forged = sign("github", "not-the-secret", body, None, None);
    let response = ingest(&api, &github, &forged, body).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let stale = sign(
        "stripe",
        "whsec_stripe_test",
        r#"{"id": "evt_old"}"#,
        None,
        Some(Utc::now().timestamp() - 900),
    );
    let response = ingest(&api, &stripe, &stale, r#"{"id": "evt_old"}"#).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("tolerance 300 s"),
        "{problem}"
    );

    // A provider's retry: the same message id, signed again seconds later.
    let secret = standard["secret"].as_str().unwrap();
    let body = r#"{"type": "user.created"}"#;
    let now = Utc::now().timestamp();
    let first = sign(
        "standard-webhooks",
        secret,
        body,
        Some("msg_2Lh9"),
        Some(now - 10),
    );
    let retry = sign(
        "standard-webhooks",
        secret,
        body,
        Some("msg_2Lh9"),
        Some(now),
    );
    let first = job_of(ingest(&api, &standard, &first, body).await).await;
    let response = ingest(&api, &standard, &retry, body).await;
    assert_eq!(response.headers()["idempotent-replayed"], "true");
    assert_eq!(job_of(response).await, first);
    let seen = follow(&api, &first, Duration::from_secs(60), is_terminal).await;
    assert_eq!(seen.last().unwrap()["status"], "completed");
    // Its job completed once it was forwarded: one event, one job, one forward.
    assert_eq!(receiver.requests_to("/standard").len(), 1);

    let outcomes = |log: Vec<Value>| -> Vec<(String, Option<String>)> {
        log.iter()
            .map(|r| {
                (
                    r["outcome"].as_str().unwrap().to_owned(),
                    r["reason"].as_str().map(str::to_owned),
                )
            })
            .collect()
    };
    assert_eq!(
        outcomes(requests(&api, &github).await),
        [(
            "rejected".to_owned(),
            Some("the signature does not match".to_owned())
        )]
    );
    let stripe_log = requests(&api, &stripe).await;
    assert_eq!(stripe_log[0]["outcome"], "rejected");
    assert!(stripe_log[0]["job_id"].is_null());
    let standard_log = outcomes(requests(&api, &standard).await);
    assert_eq!(
        standard_log
            .iter()
            .map(|(o, _)| o.as_str())
            .collect::<Vec<_>>(),
        ["duplicate", "accepted"]
    );
    let jobs = get_json(&api, "/v1/jobs").await;
    assert_eq!(jobs["data"].as_array().unwrap().len(), 1, "{jobs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_times_out_is_fixed_then_one_event_retried_and_a_window_replayed() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    receiver.respond("/stripe", Script::Hang);
    let scratch = Scratch::new("inbound-timeout");
    let config = config(&scratch, &receiver, "1s", 1);
    let (api, _worker) = herald(&redis, &config).await;
    let stripe = source(
        &api,
        json!({"name": "stripe", "job_type": "stripe.event",
        "verify": {"scheme": "stripe", "secret": "whsec_stripe_test"}}),
    )
    .await;
    let since = Utc::now() - chrono::TimeDelta::seconds(1);
    let mut jobs = Vec::new();
    for n in 0..3 {
        let body = format!(r#"{{"id": "evt_{n}", "type": "invoice.paid"}}"#);
        let headers = sign("stripe", "whsec_stripe_test", &body, None, None);
        jobs.push(job_of(ingest(&api, &stripe, &headers, &body).await).await);
    }
    for job in &jobs {
        let seen = follow(&api, job, Duration::from_secs(60), is_terminal).await;
        let failed = seen.last().unwrap();
        assert_eq!(failed["status"], "failed", "{failed}");
        assert_eq!(failed["error"]["code"], "timeout", "{failed}");
        assert_eq!(failed["attempts"][0]["outcome"], "timeout", "{failed}");
        assert!(
            failed["attempts"][0].get("http_status").is_none(),
            "{failed}"
        );
    }

    // The receiver is fixed; one event is retried by hand, then the rest of the window.
    receiver.respond(
        "/stripe",
        Script::Always(Answer::status(200).body("received")),
    );
    let (status, retried) =
        post_json(&api, &format!("/v1/jobs/{}/retry", jobs[0]), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert_eq!(retried["status"], "pending");
    let seen = follow(&api, &jobs[0], Duration::from_secs(60), is_terminal).await;
    let done = seen.last().unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let attempts = done["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{done}");
    assert_eq!(attempts[1]["http_status"], 200);
    assert_eq!(attempts[1]["response_excerpt"], "received");

    let path = format!("/v1/sources/{}/replay", stripe["id"].as_str().unwrap());
    let (status, replayed) = post_json(
        &api,
        &path,
        json!({"since": since.to_rfc3339(), "status": "failed"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replayed}");
    assert_eq!(replayed["replayed"], 2, "{replayed}");
    for job in &jobs[1..] {
        let seen = follow(&api, job, Duration::from_secs(60), is_terminal).await;
        assert_eq!(seen.last().unwrap()["status"], "completed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_forward_loses_nothing() {
    let redis = RedisServer::start();
    let receiver = Receiver::start().await;
    receiver.respond("/github", Script::Hang);
    let scratch = Scratch::new("inbound-kill");
    let config = config(&scratch, &receiver, "5m", 3);
    let (api, doomed) = herald(&redis, &config).await;
    let github = source(
        &api,
        json!({"name": "github", "job_type": "github.event",
        "verify": {"scheme": "github", "secret": "gh-secret"}}),
    )
    .await;
    let body = r#"{"action": "opened", "number": 7}"#;
    let headers = sign("github", "gh-secret", body, Some("delivery-7"), None);
    let job = job_of(ingest(&api, &github, &headers, body).await).await;

    // The worker is forwarding it (the receiver holds the request) when it is killed.
    receiver
        .wait_for_to("/github", 1, Duration::from_secs(30))
        .await;
    doomed.signal("KILL");
    receiver.respond("/github", Script::status(200));
    let _rescuer = Herald::start(&on_redis(
        &redis,
        "worker",
        &["--config", &config, "--lease-timeout", "2s"],
    ))
    .await;

    let seen = follow(&api, &job, Duration::from_secs(90), is_terminal).await;
    let done = seen.last().unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempt"], 2, "{done}");
    assert_eq!(done["attempts"][0]["outcome"], "worker_lost", "{done}");
    let forwarded = receiver.requests_to("/github");
    assert_eq!(forwarded.len(), 2);
    for (n, request) in forwarded.iter().enumerate() {
        assert_eq!(request.body, body.as_bytes());
        assert_eq!(request.header("herald-job-id"), Some(job.as_str()));
        assert_eq!(request.header("x-github-delivery"), Some("delivery-7"));
        assert_eq!(
            request.header("herald-attempt"),
            Some((n + 1).to_string().as_str())
        );
    }
}
