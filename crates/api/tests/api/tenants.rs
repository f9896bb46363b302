//! API keys and tenants over real HTTP: once a key exists every `/v1` request needs one (the
//! operations endpoints stay open), a key acts for its tenant only — another tenant's job,
//! result, event stream, feed, webhook, delivery and worker lease answer exactly like missing
//! ones — revocation takes effect at once, and the admin API is for admin keys.

use std::time::Duration;

use herald_core::TypePolicy;
use herald_core::apikey::PlainKey;
use reqwest::header::WWW_AUTHENTICATE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, id_of, spawn_app};

/// The type external workers run in these tests.
const VIDEO: &str = "video.transcode";

/// A target that is never called (no notifier runs in these tests).
const TARGET: &str = "https://client.example/hooks";

/// The app with [`VIDEO`] run by external workers and keys for tenants `alpha` and `beta`;
/// the client acts as `alpha`.
async fn two_tenants(on_redis: bool) -> (TestApp, String, String) {
    let builder = TestApp::builder().external_type(VIDEO, TypePolicy::default());
    let mut app = if on_redis {
        builder.redis().spawn().await
    } else {
        builder.spawn().await
    };
    let alpha = app.create_key("alpha", false).await;
    let beta = app.create_key("beta", false).await;
    app.use_key(Some(&alpha));
    (app, alpha, beta)
}

/// Checks `response` is `401 unauthorized` with the bearer challenge.
async fn assert_unauthorized(response: reqwest::Response) {
    assert_eq!(
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok()),
        Some("Bearer realm=\"herald\"")
    );
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "https://herald.dev/problems/unauthorized");
}

/// A `404` problem with its id taken out of the detail: what a missing and a foreign
/// resource must share.
async fn not_found_shape(response: reqwest::Response, id: &str) -> Value {
    let mut problem = assert_problem(response, StatusCode::NOT_FOUND).await;
    let detail = problem["detail"].as_str().unwrap().replace(id, "<id>");
    problem["detail"] = Value::String(detail);
    problem
}

/// A base64url character that is not `last`: the same key with its last character changed.
fn other_than(last: &str) -> &'static str {
    if last == "A" { "B" } else { "A" }
}

#[tokio::test]
async fn an_install_without_keys_is_open_and_one_key_closes_it() {
    let mut app = spawn_app().await;
    assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);

    let key = app.create_key("alpha", false).await;

    assert_unauthorized(app.list_jobs("").await).await;
    assert_unauthorized(app.post_job(&json!({"type": "demo.sleep"})).await).await;
    assert_unauthorized(app.request(Method::GET, "/v1/no-such-route").await).await;
    for header in [
        "Bearer".to_owned(),
        "Bearer nope".to_owned(),
        format!("Basic {key}"),
        format!("Bearer {}", PlainKey::generate().reveal()),
        format!(
            "Bearer {}{}",
            &key[..key.len() - 1],
            other_than(&key[key.len() - 1..])
        ),
    ] {
        let response = app
            .client
            .get(app.url("/v1/jobs"))
            .header("Authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        let body = response.text().await.unwrap();
        assert!(!body.contains(&key[20..]), "never the key: {body}");
    }
    for open in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        assert_eq!(
            app.request(Method::GET, open).await.status(),
            StatusCode::OK,
            "{open}"
        );
    }

    app.use_key(Some(&key));
    assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
    let lowercase = app
        .client
        .get(app.url("/v1/jobs"))
        .header("Authorization", format!("bearer {key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        lowercase.status(),
        StatusCode::OK,
        "the scheme is case-blind"
    );
}

#[tokio::test]
async fn production_mode_needs_a_key_even_while_none_exists() {
    let app = TestApp::builder().require_keys().spawn().await;

    assert_unauthorized(app.list_jobs("").await).await;
    assert_unauthorized(app.request(Method::GET, "/v1/admin/keys").await).await;
    assert_eq!(
        app.request(Method::GET, "/healthz").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn another_tenants_jobs_answer_like_missing_ones_on_every_job_route() {
    let (mut app, alpha, beta) = two_tenants(false).await;
    let theirs = id_of(&app.submit("demo.sleep").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    app.complete(
        lease,
        Some(herald_core::JobOutput {
            content_type: "text/plain".to_owned(),
            body: b"secret result".to_vec(),
        }),
    )
    .await;
    assert_eq!(app.job_result(&theirs).await.status(), StatusCode::OK);
    let pending = id_of(&app.submit("demo.sleep").await).to_owned();
    let missing = herald_core::JobId::generate().to_string();

    app.use_key(Some(&beta));
    for id in [&theirs, &pending] {
        for (path, method) in [
            (format!("/v1/jobs/{id}"), Method::GET),
            (format!("/v1/jobs/{id}?wait=1"), Method::GET),
            (format!("/v1/jobs/{id}/result"), Method::GET),
            (format!("/v1/jobs/{id}/cancel"), Method::POST),
        ] {
            let foreign = not_found_shape(app.request(method.clone(), &path).await, id).await;
            let path = path.replace(id.as_str(), &missing);
            let absent = not_found_shape(app.request(method, &path).await, &missing).await;
            assert_eq!(foreign, absent, "{path}");
        }
        let foreign = not_found_shape(app.job_events(id, None).await, id).await;
        let absent = not_found_shape(app.job_events(&missing, None).await, &missing).await;
        assert_eq!(foreign, absent);
        let resumed = app.job_events(id, Some("1")).await;
        assert_eq!(resumed.status(), StatusCode::NOT_FOUND);
    }
    let listed: Value = app.list_jobs("").await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "{listed}");
    let feed: Value = app.events_page("").await.json().await.unwrap();
    assert_eq!(feed["data"], json!([]), "{feed}");
    let feed: Value = app
        .events_page(&format!("job={theirs}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(feed["data"], json!([]), "{feed}");

    // Their job is still theirs, untouched by the cancel.
    app.use_key(Some(&alpha));
    let job: Value = app.get_job(&pending).await.json().await.unwrap();
    assert_eq!(job["status"], "pending");
    let listed: Value = app.list_jobs("").await.json().await.unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_tenants_event_streams_carry_only_its_own_jobs() {
    let (mut app, alpha, beta) = two_tenants(false).await;
    app.use_key(Some(&beta));
    let mut everything = app.feed_stream("", None).await;

    app.use_key(Some(&alpha));
    let theirs = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut named = {
        app.use_key(Some(&beta));
        app.feed_stream(&format!("job={theirs}"), None).await
    };
    app.use_key(Some(&alpha));
    app.run_to_completion("demo.sleep").await;
    app.use_key(Some(&beta));
    let mine = id_of(&app.submit("demo.report").await).to_owned();

    // Alpha's events happened first: had they leaked, they would come first.
    let first = everything.next_event().await.expect("an event");
    assert_eq!(first.json()["id"], mine.as_str(), "{:?}", first.json());
    assert_eq!(first.name(), "job.pending");
    named.expect_no_event_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn another_tenants_webhooks_and_deliveries_answer_like_missing_ones() {
    let (mut app, alpha, beta) = two_tenants(false).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    app.submit("demo.sleep").await;
    app.run_to_completion("demo.sleep").await;
    let sub = app.subscribe(TARGET).await;
    let sub = id_of(&sub).to_owned();
    let replayed: Value = app
        .replay(&sub, &json!({"since": since}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(replayed["replayed"], 3, "{replayed}");
    let page: Value = app.deliveries(&sub, "").await.json().await.unwrap();
    let delivery = page["data"][0]["id"].as_str().unwrap().to_owned();
    let missing_sub = herald_core::SubscriptionId::generate().to_string();
    let missing_delivery = herald_core::DeliveryId::generate().to_string();

    app.use_key(Some(&beta));
    let body = json!({"since": since});
    for (method, path, id, missing) in [
        (Method::GET, "/v1/webhooks/{}", &sub, &missing_sub),
        (Method::PATCH, "/v1/webhooks/{}", &sub, &missing_sub),
        (Method::DELETE, "/v1/webhooks/{}", &sub, &missing_sub),
        (
            Method::POST,
            "/v1/webhooks/{}/rotate-secret",
            &sub,
            &missing_sub,
        ),
        (
            Method::GET,
            "/v1/webhooks/{}/deliveries",
            &sub,
            &missing_sub,
        ),
        (Method::POST, "/v1/webhooks/{}/replay", &sub, &missing_sub),
        (
            Method::GET,
            "/v1/deliveries/{}",
            &delivery,
            &missing_delivery,
        ),
        (
            Method::POST,
            "/v1/deliveries/{}/retry",
            &delivery,
            &missing_delivery,
        ),
    ] {
        let send = |target: &str| {
            let path = path.replace("{}", target);
            let request = app.client.request(method.clone(), app.url(&path));
            match method {
                Method::PATCH => request.json(&json!({"enabled": false})),
                Method::POST if path.ends_with("replay") => request.json(&body),
                _ => request,
            }
        };
        let foreign = send(id).send().await.unwrap();
        let foreign = not_found_shape(foreign, id).await;
        let absent = send(missing).send().await.unwrap();
        let absent = not_found_shape(absent, missing).await;
        assert_eq!(foreign, absent, "{method} {path}");
    }
    let listed: Value = app.list_webhooks().await.json().await.unwrap();
    assert_eq!(listed["data"], json!([]), "{listed}");

    // Nothing beta asked for happened to alpha's subscription.
    app.use_key(Some(&alpha));
    let kept: Value = app.get_webhook(&sub).await.json().await.unwrap();
    assert_eq!(kept["enabled"], true, "{kept}");
    assert_eq!(app.get_delivery(&delivery).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn external_workers_claim_only_their_own_tenants_jobs() {
    for on_redis in [false, true] {
        let (mut app, alpha, beta) = two_tenants(on_redis).await;
        let theirs = app.post_job(&json!({"type": VIDEO})).await;
        assert_eq!(theirs.status(), StatusCode::ACCEPTED);
        let theirs = id_of(&theirs.json::<Value>().await.unwrap()).to_owned();

        app.use_key(Some(&beta));
        let claim = json!({"types": [VIDEO], "wait_s": 0});
        let response = app.worker_claim(&claim).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "not beta's job");

        app.use_key(Some(&alpha));
        let claimed: Value = app.worker_claim(&claim).await.json().await.unwrap();
        assert_eq!(claimed["job"]["id"], theirs.as_str(), "{claimed}");
        let token = claimed["lease"]["token"].as_str().unwrap().to_owned();

        app.use_key(Some(&beta));
        let missing = herald_core::JobId::generate().to_string();
        for action in ["heartbeat", "complete", "fail", "release"] {
            let mut body = json!({"lease": token});
            if action == "fail" {
                body["message"] = json!("not mine");
            }
            let foreign = app.worker_call(&theirs, action, &body).await;
            let foreign = not_found_shape(foreign, &theirs).await;
            let absent = app.worker_call(&missing, action, &body).await;
            let absent = not_found_shape(absent, &missing).await;
            assert_eq!(foreign, absent, "{action}");
        }

        // The lease is still alpha's.
        app.use_key(Some(&alpha));
        let response = app
            .worker_call(&theirs, "complete", &json!({"lease": token}))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "on redis: {on_redis}");
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_its_very_next_request() {
    for on_redis in [false, true] {
        let (mut app, alpha, _beta) = two_tenants(on_redis).await;
        let admin = app.create_key("ops", true).await;
        assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
        let id = PlainKey::parse(&alpha).unwrap().id().to_string();

        app.use_key(Some(&admin));
        let revoked = app
            .request(Method::DELETE, &format!("/v1/admin/keys/{id}"))
            .await;
        assert_eq!(revoked.status(), StatusCode::NO_CONTENT);

        app.use_key(Some(&alpha));
        assert_unauthorized(app.list_jobs("").await).await;
        app.use_key(Some(&admin));
        let again = app
            .request(Method::DELETE, &format!("/v1/admin/keys/{id}"))
            .await;
        assert_problem(again, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn the_admin_api_creates_lists_and_revokes_keys_for_admin_keys_only() {
    let (mut app, alpha, _beta) = two_tenants(false).await;
    let admin = app.create_key("ops", true).await;

    // A tenant's key is not an admin key.
    for (method, path) in [
        (Method::GET, "/v1/admin/keys"),
        (Method::POST, "/v1/admin/keys"),
        (Method::DELETE, "/v1/admin/keys/0123456789abcdef"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .json(&json!({"tenant": "alpha", "admin": true}))
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
        assert_eq!(problem["type"], "https://herald.dev/problems/forbidden");
    }

    app.use_key(Some(&admin));
    let created = app
        .send_json(
            Method::POST,
            "/v1/admin/keys",
            &json!({"tenant": "gamma", "name": "ci"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("hk_"), "{created}");
    assert_eq!(created["tenant"], "gamma");
    assert_eq!(created["name"], "ci");
    assert_eq!(created["admin"], false);
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with(&format!("hk_{id}_")));

    let listed: Value = app
        .request(Method::GET, "/v1/admin/keys")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 4, "{listed}");
    let secret = &key[key.len() - 40..];
    assert!(!listed.to_string().contains(secret), "never the secret");
    let gamma: Value = app
        .request(Method::GET, "/v1/admin/keys?tenant=gamma")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gamma["data"].as_array().unwrap().len(), 1);
    assert_eq!(gamma["data"][0]["id"], id.as_str());
    assert!(gamma["data"][0].get("key").is_none());
    let hint = gamma["data"][0]["hint"].as_str().unwrap();
    assert!(hint.ends_with(&key[key.len() - 4..]), "{hint}");

    // The new key acts for gamma, which sees nothing of alpha's.
    app.use_key(Some(&alpha));
    let alphas = id_of(&app.submit("demo.sleep").await).to_owned();
    app.use_key(Some(&key));
    assert_eq!(app.get_job(&alphas).await.status(), StatusCode::NOT_FOUND);
    let gammas = id_of(&app.submit("demo.sleep").await).to_owned();
    assert_eq!(app.get_job(&gammas).await.status(), StatusCode::OK);

    // Bad requests.
    app.use_key(Some(&admin));
    let bad = app
        .send_json(
            Method::POST,
            "/v1/admin/keys",
            &json!({"tenant": "no spaces", "name": "x\u{7}"}),
        )
        .await;
    let problem = assert_problem(bad, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tenant", "name"]);
    for id in ["nope", "0123456789abcdef"] {
        let response = app
            .request(Method::DELETE, &format!("/v1/admin/keys/{id}"))
            .await;
        assert_problem(response, StatusCode::NOT_FOUND).await;
    }
    let bad_query = app
        .request(Method::GET, "/v1/admin/keys?tenant=a%20b")
        .await;
    assert_problem(bad_query, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn an_open_install_creates_its_first_key_over_the_admin_api_and_closes() {
    let mut app = spawn_app().await;

    let created = app
        .send_json(
            Method::POST,
            "/v1/admin/keys",
            &json!({"tenant": "default", "admin": true}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let key = created.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_unauthorized(app.request(Method::GET, "/v1/admin/keys").await).await;
    app.use_key(Some(&key));
    assert_eq!(
        app.request(Method::GET, "/v1/admin/keys").await.status(),
        StatusCode::OK
    );
}
