//! CORS: browser origins on the allow-list may call the API and read what it exposes; others
//! get no CORS headers at all.

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem, id_of, spawn_app};

const ALLOWED: &str = "https://app.example";
const FOREIGN: &str = "https://evil.example";

async fn app_allowing_one_origin() -> TestApp {
    TestApp::builder()
        .cors_origins(&[ALLOWED, "http://localhost:5173"])
        .spawn()
        .await
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated names of a header, lowercase.
fn names(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

async fn preflight(app: &TestApp, origin: &str, method: &str, headers: &str) -> reqwest::Response {
    app.client
        .request(Method::OPTIONS, app.url("/v1/jobs"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_told_what_it_may_send() {
    let app = app_allowing_one_origin().await;
    let response = preflight(
        &app,
        ALLOWED,
        "POST",
        "authorization, content-type, idempotency-key",
    )
    .await;
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(
        header(headers, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let methods = names(headers, "access-control-allow-methods");
    for method in ["get", "post", "patch", "delete", "options"] {
        assert!(methods.contains(&method.to_owned()), "{methods:?}");
    }
    let allowed = names(headers, "access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "if-none-match",
        "last-event-id",
    ] {
        assert!(allowed.contains(&name.to_owned()), "{allowed:?}");
    }
    assert!(header(headers, "access-control-max-age").is_some());

    let response = preflight(&app, "http://localhost:5173", "GET", "last-event-id").await;
    assert!(response.status().is_success(), "{}", response.status());
}

#[tokio::test]
async fn answers_to_an_allowed_origin_expose_the_headers_clients_need() {
    let app = app_allowing_one_origin().await;
    let response = app
        .client
        .post(app.url("/v1/jobs"))
        .header("Origin", ALLOWED)
        .json(&json!({"type": "demo.sleep"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let headers = response.headers().clone();
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let exposed = names(&headers, "access-control-expose-headers");
    for name in [
        "etag",
        "location",
        "retry-after",
        "last-event-id",
        "idempotent-replayed",
    ] {
        assert!(exposed.contains(&name.to_owned()), "{exposed:?}");
    }

    // The event stream too, which a page follows with EventSource.
    let id = id_of(&response.json().await.unwrap()).to_owned();
    let stream = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}/events")))
        .header("Origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(
        header(stream.headers(), "access-control-allow-origin"),
        Some(ALLOWED)
    );
}

#[tokio::test]
async fn a_foreign_origin_gets_no_cors_headers() {
    let app = app_allowing_one_origin().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let response = app
        .client
        .get(app.url(&format!("/v1/jobs/{id}")))
        .header("Origin", FOREIGN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "served, but the browser withholds it"
    );
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );

    let response = preflight(&app, FOREIGN, "POST", "content-type").await;
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(problem["type"], "https://herald.dev/problems/cors-refused");
}

#[tokio::test]
async fn without_configured_origins_no_origin_is_allowed() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    let response = preflight(&app, ALLOWED, "GET", "").await;
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
}
