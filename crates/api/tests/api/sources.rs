//! Inbound webhooks over HTTP: sources managed under `/v1/sources`, providers' requests to
//! `POST /in/{token}` verified on their raw bytes, stored as jobs before the answer, deduplicated,
//! logged (accepted, duplicate, rejected) and counted; `POST /v1/jobs/{id}/retry` and a source's
//! replay of a window. Requests are signed here as each provider documents it (the end-to-end
//! tests sign with the providers' own libraries).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::Utc;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TestApp {
    /// Creates a source; answers its `201` body.
    async fn create_source(&self, body: &Value) -> Value {
        let response = self.send_json(Method::POST, "/v1/sources", body).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// Posts `body` with `headers` to a source's ingest URL.
    async fn ingest(
        &self,
        source: &Value,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(self.url(source["ingest_url"].as_str().unwrap()))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request
            .send()
            .await
            .expect("the ingest request is answered")
    }

    /// The source's request log (with `query`).
    async fn requests(&self, source: &Value, query: &str) -> Value {
        let path = format!(
            "/v1/sources/{}/requests{query}",
            source["id"].as_str().unwrap()
        );
        let response = self.request(Method::GET, &path).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The job `id` as the API shows it.
    async fn job(&self, id: &str) -> Value {
        self.get_job(id).await.json().await.unwrap()
    }
}

/// GitHub's headers for `body` signed with `secret`, as event `delivery`.
fn github(secret: &str, delivery: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-hub-signature-256",
            format!("sha256={}", hex(&hmac_sha256(secret.as_bytes(), body))),
        ),
        ("x-github-delivery", delivery.to_owned()),
        ("x-github-event", "push".to_owned()),
        ("content-type", "application/json".to_owned()),
    ]
}

/// Stripe's header for `body` signed with `secret` at `t`.
fn stripe(secret: &str, t: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(body);
    vec![(
        "stripe-signature",
        format!("t={t},v1={}", hex(&hmac_sha256(secret.as_bytes(), &signed))),
    )]
}

async fn github_source(app: &TestApp) -> Value {
    app.create_source(&json!({
        "name": "github", "job_type": "demo.sleep",
        "verify": {"scheme": "github", "secret": "It's a Secret to Everybody"},
    }))
    .await
}

#[tokio::test]
async fn a_source_is_created_with_its_ingest_url_and_secret_shown_once() {
    let app = spawn_app().await;
    let created = app
        .create_source(&json!({
            "name": "stripe-live", "job_type": "demo.sleep",
            "verify": {"scheme": "stripe", "secret": "whsec_test", "tolerance_s": 300},
            "dedupe": {"json_pointer": "/id"},
            "response": {"status": 200},
        }))
        .await;
    assert_eq!(created["secret"], "whsec_test");
    assert_eq!(
        created["verify"],
        json!({"scheme": "stripe", "tolerance_s": 300})
    );
    assert_eq!(created["dedupe"], json!({"json_pointer": "/id"}));
    assert_eq!(created["response"], json!({"status": 200}));
    let url = created["ingest_url"].as_str().unwrap();
    // At least 128 random bits: 32 random bytes, base64url.
    assert!(url.starts_with("/in/") && url.len() >= 4 + 43, "{url}");
    let id = created["id"].as_str().unwrap();
    for read in [
        app.request(Method::GET, &format!("/v1/sources/{id}"))
            .await
            .json::<Value>()
            .await
            .unwrap(),
        app.request(Method::GET, "/v1/sources")
            .await
            .json::<Value>()
            .await
            .unwrap()["data"][0]
            .clone(),
    ] {
        assert_eq!(read["id"], created["id"]);
        assert_eq!(read["ingest_url"], created["ingest_url"]);
        assert!(read.get("secret").is_none(), "{read}");
    }
    let generated = app
        .create_source(
            &json!({"name": "gh", "job_type": "demo.sleep", "verify": {"scheme": "github"}}),
        )
        .await;
    assert_eq!(generated["secret"].as_str().unwrap().len(), 64);
    assert_ne!(generated["ingest_url"], created["ingest_url"]);
}

#[tokio::test]
async fn a_bad_source_gets_a_problem_naming_every_field() {
    let app = spawn_app().await;
    let response = app
        .send_json(
            Method::POST,
            "/v1/sources",
            &json!({"name": "", "job_type": "no.such.type",
                "verify": {"scheme": "stripe", "secret": ""}, "response": {"status": 500}}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "verify.secret", "response.status"]);
    let unknown_type = app
        .send_json(
            Method::POST,
            "/v1/sources",
            &json!({"name": "s", "job_type": "no.such.type", "verify": {"scheme": "github"}}),
        )
        .await;
    let problem = assert_problem(unknown_type, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "job_type");
}

#[tokio::test]
async fn scheme_none_is_refused_in_production_mode() {
    let mut app = TestApp::builder().require_keys().spawn().await;
    let key = app.create_key("acme", false).await;
    app.use_key(Some(&key));
    let response = app
        .send_json(
            Method::POST,
            "/v1/sources",
            &json!({"name": "open", "job_type": "demo.sleep", "verify": {"scheme": "none"}}),
        )
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "verify.scheme");
}

#[tokio::test]
async fn a_verified_request_is_stored_as_a_job_before_the_answer() {
    let app = spawn_app().await;
    let source = github_source(&app).await;
    let body = br#"{"ref": "refs/heads/main",   "zen": "Keep it logically awesome."}"#.to_vec();
    let response = app
        .ingest(
            &source,
            &github("It's a Secret to Everybody", "d-1", &body),
            body.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert!(response.headers().get("idempotent-replayed").is_none());
    let answer: Value = response.json().await.unwrap();
    let job_id = answer["id"].as_str().unwrap();
    let job = app.job(job_id).await;
    assert_eq!(
        (job["type"].as_str(), job["status"].as_str()),
        (Some("demo.sleep"), Some("pending"))
    );
    assert_eq!(job["metadata"]["source"], source["id"]);
    let claimed = app.claim_with_payload("demo.sleep").await;
    let payload = claimed.payload;
    assert_eq!(payload["source"], source["id"]);
    assert_eq!(payload["method"], "POST");
    assert_eq!(payload["body"].as_str().unwrap().as_bytes(), body);
    assert_eq!(payload["headers"]["x-github-delivery"], "d-1");
    assert_eq!(payload["headers"]["content-type"], "application/json");
    assert!(payload["received_at"].as_str().is_some());
    let log = app.requests(&source, "").await;
    assert_eq!(log["data"][0]["outcome"], "accepted");
    assert_eq!(log["data"][0]["job_id"], job_id);
    assert_eq!(log["data"][0]["dedupe_key"], "d-1");
}

#[tokio::test]
async fn a_bad_signature_is_refused_logged_with_its_reason_and_makes_no_job() {
    let app = spawn_app().await;
    let source = github_source(&app).await;
    let body = b"{}".to_vec();
    let wrong = app
        .ingest(
            &source,
            &github("another secret", "d-1", &body),
            body.clone(),
        )
        .await;
    let problem = assert_problem(wrong, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["detail"], "the signature does not match");
    let unsigned = app.ingest(&source, &[], body).await;
    let problem = assert_problem(unsigned, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("x-hub-signature-256"),
        "{problem}"
    );
    let log = app.requests(&source, "?outcome=rejected").await;
    let reasons: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 2);
    assert!(
        log["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["job_id"].is_null())
    );
    let jobs: Value = app.list_jobs("").await.json().await.unwrap();
    assert!(jobs["data"].as_array().unwrap().is_empty());
    assert_eq!(
        app.metric(&format!(
            "herald_inbound_requests_total{{source=\"{}\",outcome=\"rejected\"}}",
            source["id"].as_str().unwrap()
        ))
        .await,
        Some(2.0)
    );
    // A deleted source's series go with it.
    let id = source["id"].as_str().unwrap();
    let deleted = app
        .request(Method::DELETE, &format!("/v1/sources/{id}"))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!app.metrics().await.contains(id));
}

#[tokio::test]
async fn a_providers_retry_answers_the_first_job_and_never_makes_a_second() {
    let app = spawn_app().await;
    let source = app
        .create_source(&json!({
            "name": "stripe", "job_type": "demo.sleep",
            "verify": {"scheme": "stripe", "secret": "whsec_test"},
            "response": {"status": 200},
        }))
        .await;
    let body = br#"{"id": "evt_1", "type": "charge.succeeded"}"#.to_vec();
    let now = Utc::now().timestamp();
    let first = app
        .ingest(&source, &stripe("whsec_test", now, &body), body.clone())
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    // Stripe's retry: the same event, signed again a little later.
    let retry = app
        .ingest(&source, &stripe("whsec_test", now + 5, &body), body)
        .await;
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    let jobs: Value = app.list_jobs("").await.json().await.unwrap();
    assert_eq!(jobs["data"].as_array().unwrap().len(), 1);
    let log = app.requests(&source, "").await;
    let outcomes: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["duplicate", "accepted"]);
    assert_eq!(log["data"][0]["dedupe_key"], "evt_1");
}

#[tokio::test]
async fn a_stale_stripe_timestamp_is_refused() {
    let app = spawn_app().await;
    let source = app
        .create_source(&json!({
            "name": "stripe", "job_type": "demo.sleep",
            "verify": {"scheme": "stripe", "secret": "whsec_test", "tolerance_s": 60},
        }))
        .await;
    let body = br#"{"id": "evt_2"}"#.to_vec();
    let stale = Utc::now().timestamp() - 600;
    let response = app
        .ingest(&source, &stripe("whsec_test", stale, &body), body)
        .await;
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("tolerance 60 s"),
        "{problem}"
    );
}

#[tokio::test]
async fn each_scheme_verifies_what_its_provider_sends() {
    let app = spawn_app().await;
    let body = "{\"n\": 1}".as_bytes().to_vec();
    let standard = app
        .create_source(&json!({"name": "sw", "job_type": "demo.sleep",
            "verify": {"scheme": "standard-webhooks"}, "response": {"status": 204}}))
        .await;
    let secret = standard["secret"].as_str().unwrap();
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let ts = Utc::now().timestamp().to_string();
    let signed = [b"msg_1.", ts.as_bytes(), b".", &body].concat();
    let response = app
        .ingest(
            &standard,
            &[
                ("webhook-id", "msg_1".to_owned()),
                ("webhook-timestamp", ts.clone()),
                (
                    "webhook-signature",
                    format!("v1,{}", BASE64.encode(hmac_sha256(&key, &signed))),
                ),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    let shopify = app
        .create_source(&json!({"name": "shop", "job_type": "demo.sleep",
            "verify": {"scheme": "shopify", "secret": "shpss_x"}}))
        .await;
    let signature = BASE64.encode(hmac_sha256(b"shpss_x", &body));
    let response = app
        .ingest(
            &shopify,
            &[
                ("x-shopify-hmac-sha256", signature),
                ("x-shopify-webhook-id", "w-1".to_owned()),
            ],
            body.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let generic = app
        .create_source(&json!({"name": "custom", "job_type": "demo.sleep",
            "verify": {"scheme": "hmac", "secret": "k", "header": "X-Signature",
                "encoding": "base64", "prefix": "sha256="}}))
        .await;
    let signature = format!("sha256={}", BASE64.encode(hmac_sha256(b"k", &body)));
    let response = app
        .ingest(&generic, &[("x-signature", signature)], body.clone())
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);

    let basic = app
        .create_source(&json!({"name": "basic", "job_type": "demo.sleep",
            "verify": {"scheme": "basic", "username": "hook", "password": "p4ss"}}))
        .await;
    assert_eq!(basic["secret"], "p4ss");
    let good = format!("Basic {}", BASE64.encode("hook:p4ss"));
    let bad = format!("Basic {}", BASE64.encode("hook:wrong"));
    assert_eq!(
        app.ingest(&basic, &[("authorization", good)], body.clone())
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        app.ingest(&basic, &[("authorization", bad)], body.clone())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    // The credentials stay out of the job: the basic source's is the fourth.
    for _ in 0..3 {
        app.claim_with_payload("demo.sleep").await;
    }
    let claimed = app.claim_with_payload("demo.sleep").await;
    assert_eq!(claimed.payload["source"], basic["id"]);
    assert!(claimed.payload["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn a_body_that_is_not_utf8_survives_byte_for_byte() {
    let app = spawn_app().await;
    let source = app
        .create_source(&json!({"name": "raw", "job_type": "demo.sleep",
            "verify": {"scheme": "hmac", "secret": "k", "header": "x-sig"}}))
        .await;
    let body = vec![0xff, 0x00, 0xfe, 0x80, b'a'];
    let response = app
        .ingest(
            &source,
            &[("x-sig", hex(&hmac_sha256(b"k", &body)))],
            body.clone(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let claimed = app.claim_with_payload("demo.sleep").await;
    assert!(claimed.payload.get("body").is_none());
    let decoded = BASE64
        .decode(claimed.payload["body_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, body);
}

#[tokio::test]
async fn an_unknown_token_is_404_and_an_oversize_body_413() {
    let app = spawn_app().await;
    let response = reqwest::Client::new()
        .post(app.url("/in/no-such-token"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let source = github_source(&app).await;
    let body = vec![b'x'; 1024 * 1024 + 1];
    let response = app
        .ingest(
            &source,
            &github("It's a Secret to Everybody", "d", &body),
            body,
        )
        .await;
    assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    let id = source["id"].as_str().unwrap();
    let response = app
        .request(Method::DELETE, &format!("/v1/sources/{id}"))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let body = b"{}".to_vec();
    let response = app
        .ingest(
            &source,
            &github("It's a Secret to Everybody", "d", &body),
            body,
        )
        .await;
    assert_problem(response, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn a_rotated_secret_is_accepted_with_the_previous_one_during_the_grace() {
    let app = spawn_app().await;
    let source = github_source(&app).await;
    let id = source["id"].as_str().unwrap();
    let rotated = app
        .send_json(
            Method::POST,
            &format!("/v1/sources/{id}/rotate-secret"),
            &json!({"secret": "new secret", "grace_s": 3600}),
        )
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert_eq!(rotated["secret"], "new secret");
    assert!(rotated["previous_secret_expires_at"].is_string());
    let body = b"{}".to_vec();
    for (secret, delivery) in [("new secret", "a"), ("It's a Secret to Everybody", "b")] {
        let response = app
            .ingest(&source, &github(secret, delivery, &body), body.clone())
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{secret}");
    }
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/v1/sources/{id}"),
            &json!({"name": "renamed", "verify": {"secret": "sneaky"}}),
        )
        .await;
    let problem = assert_problem(patched, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "verify.secret");
    let patched = app
        .send_json(
            Method::PATCH,
            &format!("/v1/sources/{id}"),
            &json!({"name": "renamed"}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(patched.json::<Value>().await.unwrap()["name"], "renamed");
}

#[tokio::test]
async fn the_request_log_pages_and_checks_its_parameters() {
    let app = spawn_app().await;
    let source = github_source(&app).await;
    let body = b"{}".to_vec();
    for n in 0..3 {
        app.ingest(
            &source,
            &github("It's a Secret to Everybody", &format!("d{n}"), &body),
            body.clone(),
        )
        .await;
    }
    let first = app.requests(&source, "?limit=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["data"][0]["dedupe_key"], "d2");
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app
        .requests(&source, &format!("?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["data"][0]["dedupe_key"], "d0");
    assert!(rest["next_cursor"].is_null());
    let id = source["id"].as_str().unwrap();
    let bad = app
        .request(
            Method::GET,
            &format!("/v1/sources/{id}/requests?outcome=lost&limit=0&cursor=x"),
        )
        .await;
    let problem = assert_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn another_tenants_source_is_not_found() {
    let mut app = spawn_app().await;
    let source = github_source(&app).await;
    let id = source["id"].as_str().unwrap();
    let key = app.create_key("other", false).await;
    app.use_key(Some(&key));
    for path in [
        format!("/v1/sources/{id}"),
        format!("/v1/sources/{id}/requests"),
    ] {
        assert_problem(app.request(Method::GET, &path).await, StatusCode::NOT_FOUND).await;
    }
    assert_problem(
        app.request(Method::DELETE, &format!("/v1/sources/{id}"))
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    let listed: Value = app
        .request(Method::GET, "/v1/sources")
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_finished_job_is_retried_and_an_unfinished_one_is_refused() {
    let app = spawn_app().await;
    let job = app.submit("demo.sleep").await;
    let id = job["id"].as_str().unwrap();
    let retry = |id: String| {
        let app = &app;
        async move {
            app.request(Method::POST, &format!("/v1/jobs/{id}/retry"))
                .await
        }
    };
    assert_problem(retry(id.to_owned()).await, StatusCode::CONFLICT).await;
    let lease = app.claim("demo.sleep").await;
    app.fail(lease, "the receiver timed out").await;
    let response = retry(id.to_owned()).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()["etag"], "\"4\"");
    let retried: Value = response.json().await.unwrap();
    assert_eq!(
        (retried["status"].as_str(), retried["seq"].as_u64()),
        (Some("pending"), Some(4))
    );
    assert_eq!(retried["attempts"][0]["outcome"], "failed");
    assert_eq!(
        retried["attempts"][0]["error"]["message"],
        "the receiver timed out"
    );
    assert!(retried["attempts"][0]["duration_ms"].is_u64());
    let lease = app.claim("demo.sleep").await;
    app.complete(lease, None).await;
    let done = app.job(id).await;
    assert_eq!(done["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(done["attempts"][1]["outcome"], "completed");
    assert_problem(
        retry(uuid::Uuid::now_v7().to_string()).await,
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn a_replay_runs_again_the_jobs_of_a_window_of_one_status() {
    let app = spawn_app().await;
    let source = github_source(&app).await;
    let id = source["id"].as_str().unwrap();
    let since = Utc::now() - chrono::TimeDelta::seconds(1);
    let body = b"{}".to_vec();
    for n in 0..3 {
        let response = app
            .ingest(
                &source,
                &github("It's a Secret to Everybody", &format!("d{n}"), &body),
                body.clone(),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
    }
    // Two fail, one completes.
    for n in 0..3 {
        let lease = app.claim("demo.sleep").await;
        if n < 2 {
            app.fail(lease, "the receiver timed out").await;
        } else {
            app.complete(lease, None).await;
        }
    }
    let replay = |body: Value| {
        let app = &app;
        async move {
            app.send_json(Method::POST, &format!("/v1/sources/{id}/replay"), &body)
                .await
        }
    };
    let response = replay(json!({"since": since.to_rfc3339(), "status": "failed"})).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let replayed: Value = response.json().await.unwrap();
    assert_eq!(replayed["replayed"], 2);
    let pending: Value = app.list_jobs("status=pending").await.json().await.unwrap();
    assert_eq!(pending["data"].as_array().unwrap().len(), 2, "{pending:#}");
    // The window is over: nothing more in it is failed, and a later window is empty.
    let again: Value = replay(json!({"since": since.to_rfc3339(), "status": "failed"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["replayed"], 0);
    let later: Value = replay(json!({"since": Utc::now().to_rfc3339()}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(later["replayed"], 0);
    let bad = replay(json!({"status": "pending"})).await;
    let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["since", "status"]);
}

#[tokio::test]
async fn a_capture_larger_than_its_types_payload_bound_is_413_and_makes_no_job() {
    let app = TestApp::builder()
        .configure(|config| config.limits.max_payload_bytes = 4096)
        .spawn()
        .await;
    let source = github_source(&app).await;
    let body = vec![b'x'; 5000];
    let response = app
        .ingest(
            &source,
            &github("It's a Secret to Everybody", "big", &body),
            body,
        )
        .await;
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("4096"),
        "{problem}"
    );
    let jobs: Value = app.list_jobs("").await.json().await.unwrap();
    assert!(jobs["data"].as_array().unwrap().is_empty());
}
