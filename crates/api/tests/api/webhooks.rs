//! Webhooks through the API: subscriptions (`/v1/webhooks`), their secrets, the guard against
//! private targets, deliveries and their retry, replays of past events, and a job's own
//! webhook as its resource shows it.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use herald_core::store::{Store, WebhookStore};
use herald_core::webhook::{Attempt, AttemptResult, Delivery, DeliveryState, Subscription};
use herald_core::{DeliveryId, SubscriptionId, TenantId};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, error_fields, id_of, spawn_app};

/// A target that is not private and does not resolve, so the registration check passes
/// without the network.
const PUBLIC_TARGET: &str = "https://client.example/hooks";

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("a time"))
        .expect("an RFC 3339 time")
        .with_timezone(&Utc)
}

fn a_minute_ago() -> String {
    (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Submits `n` jobs of `job_type` and plays a worker completing each.
async fn complete_jobs(app: &TestApp, job_type: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(id_of(&app.submit(job_type).await).to_owned());
        app.run_to_completion(job_type).await;
    }
    ids
}

async fn json_of(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

#[tokio::test]
async fn creating_a_webhook_answers_201_with_its_secret_and_location_and_never_shows_the_secret_again()
 {
    let app = spawn_app().await;
    let response = app
        .post_webhook(&json!({"url": PUBLIC_TARGET, "events": ["job.failed", "job.completed"]}))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = id_of(&created);
    assert_eq!(location, format!("/v1/webhooks/{id}"));
    assert_eq!(created["url"], PUBLIC_TARGET);
    assert_eq!(
        created["events"],
        json!(["job.failed", "job.completed"]),
        "events are kept as the client gave them"
    );
    assert_eq!(created["job_types"], json!([]));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["disabled_reason"], Value::Null);
    assert_eq!(created["links"]["self"], location);
    assert_eq!(created["created_at"], created["updated_at"]);
    let secret = created["secret"].as_str().unwrap().to_owned();

    let fetched = json_of(app.get_webhook(id).await, StatusCode::OK).await;
    assert!(fetched.get("secret").is_none(), "{fetched}");
    assert!(!fetched.to_string().contains(&secret));
    assert_eq!(fetched["id"], created["id"]);
    assert_eq!(fetched["events"], created["events"]);

    let list = json_of(app.list_webhooks().await, StatusCode::OK).await;
    assert_eq!(list["next_cursor"], Value::Null);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], created["id"]);
    assert!(!list.to_string().contains(&secret));
}

#[tokio::test]
async fn a_webhook_receives_every_event_of_every_job_type_unless_told_otherwise() {
    let app = spawn_app().await;
    let created = app.subscribe(PUBLIC_TARGET).await;
    assert_eq!(
        created["events"],
        json!([
            "job.pending",
            "job.processing",
            "job.progress",
            "job.completed",
            "job.failed",
            "job.canceled"
        ])
    );
    assert_eq!(created["job_types"], json!([]));
}

#[tokio::test]
async fn a_generated_secret_is_whsec_and_a_given_one_is_kept_but_never_echoed_later() {
    let app = spawn_app().await;
    let generated = app.subscribe(PUBLIC_TARGET).await;
    assert!(
        generated["secret"].as_str().unwrap().starts_with("whsec_"),
        "{generated}"
    );

    let given = "my-own-shared-secret-123";
    let response = app
        .post_webhook(&json!({"url": PUBLIC_TARGET, "secret": given}))
        .await;
    let created = json_of(response, StatusCode::CREATED).await;
    assert_eq!(created["secret"], given);
    let id = id_of(&created);
    let stored = stored_subscription(&app, id).await;
    assert_eq!(stored.secret.expose(), given, "deliveries sign with it");

    let fetched = app.get_webhook(id).await.text().await.unwrap();
    assert!(!fetched.contains(given), "{fetched}");
    let list = app.list_webhooks().await.text().await.unwrap();
    assert!(!list.contains(given), "{list}");
}

#[tokio::test]
async fn invalid_webhooks_are_422_problems_naming_each_bad_field() {
    let app = spawn_app().await;
    for (body, fields) in [
        (json!({}), vec!["url"]),
        (json!({"url": "not a url"}), vec!["url"]),
        (json!({"url": "ftp://client.example/hooks"}), vec!["url"]),
        (
            json!({"url": PUBLIC_TARGET, "events": ["job.nope"]}),
            vec!["events"],
        ),
        (json!({"url": PUBLIC_TARGET, "events": []}), vec!["events"]),
        (
            json!({"url": PUBLIC_TARGET, "job_types": ["has space"]}),
            vec!["job_types"],
        ),
        (json!({"url": PUBLIC_TARGET, "secret": ""}), vec!["secret"]),
        (
            json!({"url": PUBLIC_TARGET, "colour": "red"}),
            vec!["colour"],
        ),
        (
            json!({"url": PUBLIC_TARGET, "enabled": "yes"}),
            vec!["enabled"],
        ),
        (json!(["not", "an", "object"]), vec!["body"]),
    ] {
        let problem = assert_problem(
            app.post_webhook(&body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(
            problem["type"], "https://herald.dev/problems/validation-error",
            "{body}"
        );
        assert_eq!(error_fields(&problem), fields, "{body}: {problem}");
    }

    let malformed = app
        .client
        .post(app.url("/v1/webhooks"))
        .header(CONTENT_TYPE, "application/json")
        .body("{\"url\": ")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/malformed-json"
    );

    let list = json_of(app.list_webhooks().await, StatusCode::OK).await;
    assert_eq!(list["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn private_targets_are_refused_at_registration_by_default() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5:8080/hooks",
        "http://[::1]/",
    ] {
        let problem = assert_problem(
            app.post_webhook(&json!({"url": url})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), ["url"], "{url}: {problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("private, loopback or link-local"),
            "{problem}"
        );
    }

    // Nor can a subscription be moved there later.
    let created = app.subscribe(PUBLIC_TARGET).await;
    let problem = assert_problem(
        app.patch_webhook(id_of(&created), &json!({"url": "http://127.0.0.1:9/"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["url"]);
    let fetched = json_of(app.get_webhook(id_of(&created)).await, StatusCode::OK).await;
    assert_eq!(fetched["url"], PUBLIC_TARGET);
}

#[tokio::test]
async fn private_targets_are_accepted_when_the_configuration_allows_them() {
    let app = TestApp::builder().allow_private_targets().spawn().await;
    for url in ["http://127.0.0.1:9/", "http://localhost/"] {
        let response = app.post_webhook(&json!({"url": url})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{url}");
    }
    let job = app
        .post_job(&json!({"type": "demo.sleep", "webhook": {"url": "http://127.0.0.1:9/"}}))
        .await;
    assert_eq!(job.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn patching_a_webhook_changes_its_filters_and_enabled_and_bumps_updated_at() {
    let app = spawn_app().await;
    let created = app.subscribe(PUBLIC_TARGET).await;
    let id = id_of(&created);
    tokio::time::sleep(Duration::from_millis(5)).await;

    let patch = json!({
        "events": ["job.completed"],
        "job_types": ["demo.report"],
        "enabled": false,
        "url": "https://other.example/hooks"
    });
    let patched = json_of(app.patch_webhook(id, &patch).await, StatusCode::OK).await;
    assert_eq!(patched["events"], json!(["job.completed"]));
    assert_eq!(patched["job_types"], json!(["demo.report"]));
    assert_eq!(patched["url"], "https://other.example/hooks");
    assert_eq!(patched["enabled"], false);
    assert!(patched["disabled_reason"].is_string(), "{patched}");
    assert!(patched.get("secret").is_none());
    assert_eq!(patched["created_at"], created["created_at"]);
    assert!(time(&patched["updated_at"]) > time(&created["updated_at"]));

    let enabled = json_of(
        app.patch_webhook(id, &json!({"enabled": true})).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["disabled_reason"], Value::Null);
    assert_eq!(
        enabled["events"], patched["events"],
        "fields left out stay as they were"
    );
    let fetched = json_of(app.get_webhook(id).await, StatusCode::OK).await;
    assert_eq!(fetched, enabled);
}

#[tokio::test]
async fn a_webhook_turned_back_on_starts_a_new_failure_streak() {
    let app = spawn_app().await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    let sub = SubscriptionId::parse(&id).unwrap();
    let tenant = TenantId::default_tenant();
    let long_ago = Utc::now() - chrono::TimeDelta::days(6);
    app.store
        .endpoint_health(&tenant, &sub, true, long_ago)
        .await
        .unwrap();
    for enabled in [false, true] {
        json_of(
            app.patch_webhook(&id, &json!({"enabled": enabled})).await,
            StatusCode::OK,
        )
        .await;
    }
    let now = Utc::now();
    let since = app
        .store
        .endpoint_health(&tenant, &sub, true, now)
        .await
        .unwrap();
    assert_eq!(
        since,
        Some(now),
        "failures from before it was disabled must not disable it again at once"
    );
}

#[tokio::test]
async fn a_secret_cannot_be_patched_only_rotated() {
    let app = spawn_app().await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    let problem = assert_problem(
        app.patch_webhook(&id, &json!({"secret": "a-new-long-enough-secret"}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["secret"]);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("rotate-secret")
    );
    let problem = assert_problem(
        app.patch_webhook(&id, &json!({"events": ["job.nope"], "colour": 1}))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["colour"]);
}

#[tokio::test]
async fn deleting_a_webhook_answers_204_and_then_404() {
    let app = spawn_app().await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();

    let deleted = app.delete_webhook(&id).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(deleted.bytes().await.unwrap().is_empty());

    assert_problem(app.get_webhook(&id).await, StatusCode::NOT_FOUND).await;
    assert_problem(app.delete_webhook(&id).await, StatusCode::NOT_FOUND).await;
    let list = json_of(app.list_webhooks().await, StatusCode::OK).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn another_tenants_webhook_is_answered_like_a_missing_one() {
    let app = spawn_app().await;
    let theirs = app.subscribe_for_other_tenant(PUBLIC_TARGET).await;
    let missing = SubscriptionId::generate().to_string();

    for id in [theirs.as_str(), missing.as_str(), "not-a-uuid"] {
        let problem = assert_problem(app.get_webhook(id).await, StatusCode::NOT_FOUND).await;
        assert_eq!(problem["type"], "https://herald.dev/problems/not-found");
        assert_problem(
            app.patch_webhook(id, &json!({"enabled": false})).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_problem(app.rotate_secret(id, None).await, StatusCode::NOT_FOUND).await;
        assert_problem(app.deliveries(id, "").await, StatusCode::NOT_FOUND).await;
        assert_problem(
            app.replay(id, &json!({"since": a_minute_ago()})).await,
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_problem(app.delete_webhook(id).await, StatusCode::NOT_FOUND).await;
    }
    let list = json_of(app.list_webhooks().await, StatusCode::OK).await;
    assert_eq!(list["data"], json!([]));

    let tenant = TenantId::parse("someone-else").unwrap();
    let id = SubscriptionId::parse(&theirs).unwrap();
    let still = app.store.subscription(&tenant, &id).await.unwrap().unwrap();
    assert!(still.enabled, "untouched by the other tenant's requests");
}

#[tokio::test]
async fn rotating_the_secret_returns_a_new_one_and_the_old_one_keeps_signing_for_a_while() {
    let app = spawn_app().await;
    let created = app.subscribe(PUBLIC_TARGET).await;
    let id = id_of(&created);
    let old = created["secret"].as_str().unwrap();

    let rotated = json_of(app.rotate_secret(id, None).await, StatusCode::OK).await;
    let new = rotated["secret"].as_str().unwrap();
    assert!(new.starts_with("whsec_"));
    assert_ne!(new, old);
    assert_eq!(rotated["id"], created["id"]);
    let grace_ends = time(&rotated["previous_secret_expires_at"]);
    assert!(grace_ends > Utc::now() + chrono::Duration::hours(23));

    let stored = stored_subscription(&app, id).await;
    let signing: Vec<_> = stored
        .signing_secrets(Utc::now())
        .into_iter()
        .map(|s| s.expose().to_owned())
        .collect();
    assert_eq!(signing, [new, old]);

    let given = json_of(
        app.rotate_secret(id, Some(&json!({"secret": "my-next-shared-secret"})))
            .await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(given["secret"], "my-next-shared-secret");

    let problem = assert_problem(
        app.rotate_secret(id, Some(&json!({"secret": ""}))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(error_fields(&problem), ["secret"]);

    let fetched = app.get_webhook(id).await.text().await.unwrap();
    assert!(!fetched.contains("my-next-shared-secret") && !fetched.contains(new));
}

#[tokio::test]
async fn a_replay_creates_pending_deliveries_of_the_events_the_webhook_wants() {
    let app = spawn_app().await;
    let since = a_minute_ago();
    let completed = complete_jobs(&app, "demo.sleep", 3).await;
    complete_jobs(&app, "demo.report", 1).await;
    let created = app
        .post_webhook(&json!({
            "url": PUBLIC_TARGET,
            "events": ["job.completed"],
            "job_types": ["demo.sleep"],
        }))
        .await;
    let created = json_of(created, StatusCode::CREATED).await;
    let secret = created["secret"].as_str().unwrap();
    let id = id_of(&created);

    let answer = json_of(
        app.replay(id, &json!({"since": since})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(answer["replayed"], 3, "{answer}");
    assert_eq!(answer["truncated"], false);
    assert_eq!(answer["next_since"], Value::Null);
    assert_eq!(answer["missed"], false);
    assert_eq!(answer["since"], since.as_str());
    assert!(time(&answer["until"]) <= Utc::now());

    let page = json_of(app.deliveries(id, "").await, StatusCode::OK).await;
    assert!(!page.to_string().contains(secret), "never the secret");
    let deliveries = page["data"].as_array().unwrap();
    assert_eq!(deliveries.len(), 3);
    assert_eq!(page["next_cursor"], Value::Null);
    let mut jobs: Vec<_> = deliveries
        .iter()
        .map(|d| d["job_id"].as_str().unwrap().to_owned())
        .collect();
    jobs.reverse();
    assert_eq!(jobs, completed, "newest first");
    for delivery in deliveries {
        assert_eq!(delivery["webhook_id"], created["id"]);
        assert_eq!(delivery["event_type"], "job.completed");
        assert_eq!(delivery["job_type"], "demo.sleep");
        assert_eq!(delivery["url"], PUBLIC_TARGET);
        assert_eq!(delivery["state"], "pending");
        assert_eq!(delivery["attempt_count"], 0);
        assert_eq!(delivery["attempts"], json!([]));
        assert!(delivery["seq"].as_u64().unwrap() >= 3);
        assert!(delivery["next_attempt_at"].is_string());
        let one = json_of(
            app.get_delivery(delivery["id"].as_str().unwrap()).await,
            StatusCode::OK,
        )
        .await;
        assert_eq!(&one, delivery);
    }

    // A window that ends before the jobs ran replays nothing.
    let before = json!({"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"});
    let answer = json_of(app.replay(id, &before).await, StatusCode::ACCEPTED).await;
    assert_eq!(answer["replayed"], 0);
}

#[tokio::test]
async fn a_replay_past_what_the_feed_keeps_replays_what_is_left_and_says_so() {
    let app = TestApp::builder().feed_max(2).spawn().await;
    let since = a_minute_ago();
    for _ in 0..3 {
        app.submit("demo.sleep").await;
    }
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    let answer = json_of(
        app.replay(&id, &json!({"since": since})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    assert_eq!(answer["replayed"], 2, "{answer}");
    assert_eq!(answer["missed"], true);
}

#[tokio::test]
async fn bad_replay_requests_are_refused() {
    let app = spawn_app().await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    for (body, fields) in [
        (json!({}), vec!["since"]),
        (json!({"since": "yesterday"}), vec!["since"]),
        (
            json!({"since": a_minute_ago(), "until": "soon"}),
            vec!["until"],
        ),
        (json!({"since": a_minute_ago(), "from": 1}), vec!["from"]),
        (
            json!({"since": Utc::now().to_rfc3339(), "until": a_minute_ago()}),
            vec!["until"],
        ),
    ] {
        let problem = assert_problem(
            app.replay(&id, &body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error_fields(&problem), fields, "{body}");
    }

    app.patch_webhook(&id, &json!({"enabled": false})).await;
    let problem = assert_problem(
        app.replay(&id, &json!({"since": a_minute_ago()})).await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/webhook-state-conflict"
    );
    assert!(problem["detail"].as_str().unwrap().contains("enable"));
}

#[tokio::test]
async fn deliveries_are_filtered_by_status_and_paged_by_cursor() {
    let app = spawn_app().await;
    let since = a_minute_ago();
    complete_jobs(&app, "demo.sleep", 5).await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    let answer = json_of(
        app.replay(&id, &json!({"since": since})).await,
        StatusCode::ACCEPTED,
    )
    .await;
    // pending, processing and completed of each job
    assert_eq!(answer["replayed"], 15);

    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = json_of(
            app.deliveries(&id, &format!("limit=4&cursor={cursor}"))
                .await,
            StatusCode::OK,
        )
        .await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 4);
        seen.extend(data.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 15);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first, each once");

    let pending = json_of(
        app.deliveries(&id, "status=pending&limit=100").await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 15);
    let dead = json_of(app.deliveries(&id, "status=dead").await, StatusCode::OK).await;
    assert_eq!(dead["data"], json!([]));

    for (query, field) in [
        ("status=lost", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("cursor=nope", "cursor"),
    ] {
        let problem =
            assert_problem(app.deliveries(&id, query).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
}

#[tokio::test]
async fn retrying_a_dead_delivery_answers_202_and_makes_it_due_now() {
    let app = spawn_app().await;
    let since = a_minute_ago();
    complete_jobs(&app, "demo.sleep", 1).await;
    let id = id_of(
        &app.post_webhook(&json!({"url": PUBLIC_TARGET, "events": ["job.completed"]}))
            .await
            .json::<Value>()
            .await
            .unwrap(),
    )
    .to_owned();
    app.replay(&id, &json!({"since": since})).await;
    let page = json_of(app.deliveries(&id, "").await, StatusCode::OK).await;
    let delivery_id = page["data"][0]["id"].as_str().unwrap().to_owned();

    // Plays the notifier giving the delivery up.
    let tenant = TenantId::default_tenant();
    let stored: Delivery = app
        .store
        .delivery(&tenant, &DeliveryId::parse(&delivery_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    let attempt = Attempt {
        at: Utc::now(),
        status_code: Some(500),
        duration_ms: 12,
        error: Some("HTTP 500".to_owned()),
        response: Some("oops".to_owned()),
    };
    let dead = stored.attempted(attempt, AttemptResult::Dead);
    assert!(app.store.record(&dead, 0).await.unwrap());
    let listed = json_of(app.deliveries(&id, "status=dead").await, StatusCode::OK).await;
    let listed = &listed["data"][0];
    assert_eq!(listed["id"], delivery_id.as_str());
    assert_eq!(listed["attempt_count"], 1);
    assert_eq!(listed["next_attempt_at"], Value::Null);
    assert_eq!(listed["attempts"][0]["status_code"], 500);
    assert_eq!(listed["attempts"][0]["duration_ms"], 12);
    assert_eq!(listed["attempts"][0]["error"], "HTTP 500");
    assert_eq!(listed["attempts"][0]["response"], "oops");

    let before = Utc::now();
    let retried = json_of(app.retry_delivery(&delivery_id).await, StatusCode::ACCEPTED).await;
    assert_eq!(retried["id"], delivery_id.as_str());
    assert_eq!(retried["state"], "pending");
    let due = time(&retried["next_attempt_at"]);
    assert!(due >= before - chrono::Duration::milliseconds(1) && due <= Utc::now());
    assert_eq!(
        retried["attempt_count"], 1,
        "the attempts made stay counted"
    );
    let stored = app
        .store
        .delivery(&tenant, &DeliveryId::parse(&delivery_id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.state, DeliveryState::Pending);

    for unknown in [DeliveryId::generate().to_string(), "nope".to_owned()] {
        assert_problem(app.retry_delivery(&unknown).await, StatusCode::NOT_FOUND).await;
        assert_problem(app.get_delivery(&unknown).await, StatusCode::NOT_FOUND).await;
    }

    // A disabled webhook's deliveries wait for it to be enabled again.
    app.patch_webhook(&id, &json!({"enabled": false})).await;
    assert_problem(app.retry_delivery(&delivery_id).await, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn a_deleted_webhooks_deliveries_stay_listed() {
    let app = spawn_app().await;
    let since = a_minute_ago();
    complete_jobs(&app, "demo.sleep", 1).await;
    let id = id_of(&app.subscribe(PUBLIC_TARGET).await).to_owned();
    app.replay(&id, &json!({"since": since})).await;
    assert_eq!(
        app.delete_webhook(&id).await.status(),
        StatusCode::NO_CONTENT
    );
    let page = json_of(app.deliveries(&id, "").await, StatusCode::OK).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let delivery_id = page["data"][0]["id"].as_str().unwrap();
    let problem = assert_problem(app.retry_delivery(delivery_id).await, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("deleted"));
}

#[tokio::test]
async fn a_job_submitted_with_a_webhook_shows_its_status_and_its_generated_secret_only_in_the_202()
{
    let app = spawn_app().await;
    let response = app
        .post_job(&json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET}}))
        .await;
    let accepted = json_of(response, StatusCode::ACCEPTED).await;
    let secret = accepted["webhook"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{accepted}");
    assert_eq!(accepted["webhook"]["state"], "pending");
    assert_eq!(accepted["webhook"]["attempts"], 0);
    assert_eq!(accepted["webhook"]["next_attempt_at"], Value::Null);
    let id = id_of(&accepted);

    let polled = json_of(app.get_job(id).await, StatusCode::OK).await;
    assert_eq!(
        polled["webhook"],
        json!({"state": "pending", "attempts": 0, "next_attempt_at": null})
    );
    let listed = app.list_jobs("").await.text().await.unwrap();
    assert!(listed.contains("\"webhook\":{"), "{listed}");
    let page = app.events_page("").await.text().await.unwrap();
    let canceled = app.cancel_job(id).await.text().await.unwrap();
    for answer in [polled.to_string(), listed, page, canceled] {
        assert!(
            !answer.contains(&secret),
            "the secret is shown once: {answer}"
        );
    }
}

#[tokio::test]
async fn a_job_without_a_webhook_has_no_webhook_field() {
    let app = spawn_app().await;
    let accepted = app.submit("demo.sleep").await;
    assert!(accepted.get("webhook").is_none(), "{accepted}");
    let polled = json_of(app.get_job(id_of(&accepted)).await, StatusCode::OK).await;
    assert!(polled.get("webhook").is_none(), "{polled}");
}

#[tokio::test]
async fn a_job_webhook_with_its_own_secret_never_echoes_it() {
    let app = spawn_app().await;
    let given = "the-clients-own-secret";
    let body = json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET, "secret": given}});
    let accepted = app.post_job(&body).await.text().await.unwrap();
    assert!(!accepted.contains(given), "{accepted}");
    let accepted: Value = serde_json::from_str(&accepted).unwrap();
    assert!(accepted["webhook"].get("secret").is_none());
    assert_eq!(accepted["webhook"]["state"], "pending");
}

#[tokio::test]
async fn an_idempotent_replay_of_a_submission_does_not_show_the_secret_again() {
    let app = spawn_app().await;
    let body = json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET}});
    let first = app.post_job_with_key(&body, Some("order-7")).await;
    let first = json_of(first, StatusCode::ACCEPTED).await;
    assert!(first["webhook"]["secret"].is_string());

    let second = app.post_job_with_key(&body, Some("order-7")).await;
    assert_eq!(second.headers()["Idempotent-Replayed"], "true");
    let second = json_of(second, StatusCode::ACCEPTED).await;
    assert_eq!(id_of(&first), id_of(&second));
    assert!(second["webhook"].get("secret").is_none(), "{second}");
    assert_eq!(second["webhook"]["state"], "pending");
}

#[tokio::test]
async fn a_job_webhook_with_bad_fields_or_a_private_target_is_a_422_problem() {
    let app = spawn_app().await;
    for (webhook, fields) in [
        (json!({"url": "ftp://client.example/"}), vec!["webhook.url"]),
        (
            json!({"events": ["job.nope"]}),
            vec!["webhook.url", "webhook.events"],
        ),
        (json!({"url": "http://127.0.0.1:9/"}), vec!["webhook.url"]),
        (json!({"url": "http://localhost/"}), vec!["webhook.url"]),
    ] {
        let body = json!({"type": "demo.sleep", "webhook": webhook});
        let problem =
            assert_problem(app.post_job(&body).await, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), fields, "{body}");
    }
    let page = json_of(app.list_jobs("").await, StatusCode::OK).await;
    assert_eq!(page["data"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_job_shows_when_its_webhook_is_retrying() {
    let app = spawn_app().await;
    let body = json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET}});
    let id = id_of(&app.post_job(&body).await.json::<Value>().await.unwrap()).to_owned();
    app.run_to_completion("demo.sleep").await;

    // Plays the notifier: expand the completion into the job's delivery, fail it once.
    let delivery = expand_own_delivery(&app, &id).await;
    let retry_at = Utc::now() + chrono::Duration::seconds(5);
    let attempt = Attempt {
        at: Utc::now(),
        status_code: Some(503),
        duration_ms: 3,
        error: Some("HTTP 503".to_owned()),
        response: None,
    };
    let retrying = delivery.attempted(attempt, AttemptResult::RetryAt(retry_at));
    assert!(app.store.record(&retrying, 0).await.unwrap());

    let polled = json_of(app.get_job(&id).await, StatusCode::OK).await;
    assert_eq!(polled["webhook"]["state"], "retrying", "{polled}");
    assert_eq!(polled["webhook"]["attempts"], 1);
    let next = time(&polled["webhook"]["next_attempt_at"]);
    assert!((next - retry_at).num_milliseconds().abs() <= 1);
    assert!(polled["webhook"].get("secret").is_none());
}

#[tokio::test]
async fn a_long_poll_woken_by_a_change_still_shows_the_jobs_webhook() {
    let app = spawn_app().await;
    let body = json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET}});
    let id = id_of(&app.post_job(&body).await.json::<Value>().await.unwrap()).to_owned();
    let poll = app.waiting_poll(&id, 30, 1).await;

    app.claim("demo.sleep").await;

    let job = json_of(poll.await.unwrap().unwrap(), StatusCode::OK).await;
    assert_eq!(job["status"], "processing");
    assert_eq!(job["webhook"]["state"], "pending", "{job}");
}

/// Plays the notifier: expands the terminal event of job `id` into its own webhook's delivery.
async fn expand_own_delivery(app: &TestApp, id: &str) -> Delivery {
    let entries = app
        .store
        .read_outbox("test", 10, Duration::from_secs(1))
        .await
        .unwrap();
    let entry = entries
        .iter()
        .find(|e| e.event.job.id.to_string() == id)
        .expect("the job's terminal event in the outbox");
    let hook = entry.hook.as_ref().expect("the job's own webhook");
    let delivery = Delivery::new(
        herald_core::webhook::Target::Job(hook),
        &entry.tenant,
        &entry.event,
        Utc::now(),
    );
    let body = herald_core::webhook::render_body(&entry.event);
    app.store
        .expand(entry, std::slice::from_ref(&delivery), body.into())
        .await
        .unwrap();
    delivery
}

#[tokio::test]
async fn a_delivery_whose_job_has_expired_cannot_be_retried() {
    let app = TestApp::builder()
        .retention(Duration::from_millis(300))
        .spawn()
        .await;
    let body = json!({"type": "demo.sleep", "webhook": {"url": PUBLIC_TARGET}});
    let id = id_of(&app.post_job(&body).await.json::<Value>().await.unwrap()).to_owned();
    app.run_to_completion("demo.sleep").await;
    let delivery = expand_own_delivery(&app, &id).await;
    let delivery_id = delivery.id.to_string();
    json_of(app.get_delivery(&delivery_id).await, StatusCode::OK).await;

    herald_testkit::eventually("the job to expire", Duration::from_secs(10), || async {
        // Maintenance is what sweeps the memory backend.
        app.store
            .maintain(&herald_core::WorkerId::generate(), &[])
            .await
            .unwrap();
        (app.get_job(&id).await.status() == StatusCode::NOT_FOUND).then_some(())
    })
    .await;
    let problem =
        assert_problem(app.retry_delivery(&delivery_id).await, StatusCode::CONFLICT).await;
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("expired"), "{detail}");
    // The record stays readable, as a delivery; nothing of the job is in it.
    let read = json_of(app.get_delivery(&delivery_id).await, StatusCode::OK).await;
    assert_eq!(read["state"], "pending");
}

/// Subscription `id` of the default tenant, as stored.
async fn stored_subscription(app: &TestApp, id: &str) -> Subscription {
    app.store
        .subscription(
            &TenantId::default_tenant(),
            &SubscriptionId::parse(id).unwrap(),
        )
        .await
        .unwrap()
        .expect("the subscription is stored")
}
