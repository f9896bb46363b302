//! Browser read tokens over real HTTP: with keys in force, a job's links carry a job-scoped
//! signed token (`?token=`) with which a client that holds no key — a browser's EventSource,
//! a plain poll — reads that job and nothing else; tokens expire, cannot be tampered with, and
//! survive a rotation of the signing secret while the previous one is kept. An open install
//! keeps its links plain.

use std::time::Duration;

use herald_api::{ReadTokens, TokenSecret};
use herald_core::{JobId, JobOutput, TenantId};
use herald_testkit::eventually;
use herald_testkit::sse::SseStream;
use reqwest::header::{AUTHORIZATION, LOCATION};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, id_of, spawn_app};

fn secret(fill: char) -> TokenSecret {
    TokenSecret::new(fill.to_string().repeat(40)).unwrap()
}

fn read_tokens(current: char, previous: Option<char>, ttl: Duration) -> ReadTokens {
    ReadTokens {
        current: secret(current),
        previous: previous.map(secret),
        ttl,
    }
}

/// An app whose client acts as tenant `alpha` with a key, signing tokens with `tokens`.
async fn with_keys(tokens: ReadTokens) -> TestApp {
    let mut app = TestApp::builder().read_tokens(tokens).spawn().await;
    let alpha = app.create_key("alpha", false).await;
    app.use_key(Some(&alpha));
    app
}

/// A GET of `link` (a path and query) as a browser would send it: no `Authorization`.
async fn browser_get(app: &TestApp, link: &str) -> Response {
    reqwest::Client::new()
        .get(app.url(link))
        .send()
        .await
        .expect("the request is answered")
}

/// The token of a link (`…?token=<token>`).
fn token_of(link: &Value) -> String {
    let link = link.as_str().expect("a link");
    let (_, token) = link.split_once("?token=").expect("a link with a token");
    token.to_owned()
}

async fn assert_unauthorized(response: Response) -> Value {
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "https://herald.dev/problems/unauthorized");
    problem
}

#[tokio::test]
async fn with_keys_in_force_a_created_jobs_links_carry_a_read_token() {
    let app = with_keys(ReadTokens::default()).await;
    let response = app
        .post_job(&serde_json::json!({"type": "demo.sleep"}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let job: Value = response.json().await.unwrap();
    let id = id_of(&job);
    assert_eq!(location, format!("/v1/jobs/{id}"), "Location stays plain");
    let token = token_of(&job["links"]["self"]);
    assert!(token.starts_with("v2."), "{token}");
    assert_eq!(job["links"]["self"], format!("/v1/jobs/{id}?token={token}"));
    assert_eq!(
        job["links"]["events"],
        format!("/v1/jobs/{id}/events?token={token}")
    );
    assert_eq!(
        job["links"]["result"],
        format!("/v1/jobs/{id}/result?token={token}")
    );

    // The key's own GET and list answers carry tokens too.
    let polled: Value = app.get_job(id).await.json().await.unwrap();
    assert!(token_of(&polled["links"]["self"]).starts_with("v2."));
    let listed: Value = app.list_jobs("").await.json().await.unwrap();
    assert!(token_of(&listed["data"][0]["links"]["events"]).starts_with("v2."));
}

#[tokio::test]
async fn an_open_install_keeps_its_links_plain() {
    let app = spawn_app().await;
    let job = app.submit("demo.sleep").await;
    let id = id_of(&job);
    assert_eq!(job["links"]["self"], format!("/v1/jobs/{id}"));
    assert_eq!(job["links"]["events"], format!("/v1/jobs/{id}/events"));
    let polled: Value = app.get_job(id).await.json().await.unwrap();
    assert_eq!(polled["links"]["self"], format!("/v1/jobs/{id}"));
}

#[tokio::test]
async fn the_token_alone_polls_streams_and_fetches_the_result_of_its_job() {
    let app = with_keys(ReadTokens::default()).await;
    let job = app.submit("demo.report").await;
    let id = id_of(&job).to_owned();
    let token = token_of(&job["links"]["self"]);

    // Without a token, the key is missed.
    assert_unauthorized(browser_get(&app, &format!("/v1/jobs/{id}")).await).await;

    let polled = browser_get(&app, job["links"]["self"].as_str().unwrap()).await;
    assert_eq!(polled.status(), StatusCode::OK);
    let polled: Value = polled.json().await.unwrap();
    assert_eq!(polled["id"], id.as_str());
    // The answer carries the same token on: polling with it does not extend its life.
    assert_eq!(token_of(&polled["links"]["self"]), token);

    // Like a browser's EventSource: no header at all, the token in the URL.
    let response = browser_get(&app, job["links"]["events"].as_str().unwrap()).await;
    assert!(response.headers().get(AUTHORIZATION).is_none());
    let mut stream = SseStream::new(response);
    let first = stream.next_event().await.expect("the current state");
    assert_eq!(first.name(), "job.pending");
    assert_eq!(first.json()["id"], id.as_str());

    let lease = app.claim("demo.report").await;
    let output = JobOutput {
        content_type: "text/csv".to_owned(),
        body: b"a,b\n".to_vec(),
    };
    app.complete(lease, Some(output)).await;
    let rest = stream.events_to_end().await;
    assert_eq!(rest.last().map(|e| e.name()), Some("job.completed"));

    let result = browser_get(&app, job["links"]["result"].as_str().unwrap()).await;
    assert_eq!(result.status(), StatusCode::OK);
    assert_eq!(result.bytes().await.unwrap().as_ref(), b"a,b\n");
}

#[tokio::test]
async fn a_token_opens_nothing_but_reading_its_own_job() {
    let app = with_keys(ReadTokens::default()).await;
    let job = app.submit("demo.sleep").await;
    let id = id_of(&job).to_owned();
    let token = token_of(&job["links"]["self"]);
    let sibling = id_of(&app.submit("demo.sleep").await).to_owned();
    let foreign = app.submit_for_other_tenant("demo.sleep").await;

    for path in [
        format!("/v1/jobs/{sibling}"),
        format!("/v1/jobs/{sibling}/events"),
        format!("/v1/jobs/{foreign}"),
        format!("/v1/jobs/{foreign}/events"),
        "/v1/jobs".to_owned(),
        "/v1/events".to_owned(),
        "/v1/events/stream".to_owned(),
        "/v1/webhooks".to_owned(),
        "/v1/admin/keys".to_owned(),
        format!("/v1/jobs/{id}/nothing"),
    ] {
        let response = browser_get(&app, &format!("{path}?token={token}")).await;
        let problem = assert_unauthorized(response).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("read token"),
            "{path}: {problem}"
        );
    }

    // A write, even on its own job, is refused and changes nothing.
    let cancel = reqwest::Client::new()
        .post(app.url(&format!("/v1/jobs/{id}/cancel?token={token}")))
        .send()
        .await
        .unwrap();
    assert_unauthorized(cancel).await;
    let polled: Value = app.get_job(&id).await.json().await.unwrap();
    assert_eq!(polled["status"], "pending");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = with_keys(read_tokens('a', None, Duration::from_secs(1))).await;
    let job = app.submit("demo.sleep").await;
    let link = job["links"]["self"].as_str().unwrap().to_owned();
    let problem = eventually("the token to expire", Duration::from_secs(5), || async {
        let response = browser_get(&app, &link).await;
        (response.status() == StatusCode::UNAUTHORIZED)
            .then_some(response.json::<Value>().await.unwrap())
    })
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("expired"),
        "{problem}"
    );
}

#[tokio::test]
async fn a_tampered_token_is_refused() {
    let app = with_keys(ReadTokens::default()).await;
    let job = app.submit("demo.sleep").await;
    let link = job["links"]["self"].as_str().unwrap();
    // One character of the signature changed (not the last, whose low bits are padding).
    let at = link.len() - 5;
    let changed = if &link[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{changed}{}", &link[..at], &link[at + 1..]);
    assert_unauthorized(browser_get(&app, &tampered).await).await;
    let garbage = format!("/v1/jobs/{}?token=v2.nope", id_of(&job));
    assert_unauthorized(browser_get(&app, &garbage).await).await;
}

#[tokio::test]
async fn after_a_rotation_tokens_of_the_previous_secret_verify_and_unknown_ones_do_not() {
    let ttl = Duration::from_secs(600);
    let app = with_keys(read_tokens('n', Some('o'), ttl)).await;
    let job = app.submit("demo.sleep").await;
    let id = JobId::parse(id_of(&job)).unwrap();
    let alpha = TenantId::parse("alpha").unwrap();
    let now = chrono::Utc::now().timestamp();

    let before_rotation = read_tokens('o', None, ttl).issue(&alpha, &id, None, now);
    let response = browser_get(&app, &format!("/v1/jobs/{id}?token={before_rotation}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let polled: Value = response.json().await.unwrap();
    // Carried on re-signed with the current secret, with the same expiry.
    let carried = token_of(&polled["links"]["self"]);
    assert_ne!(carried, before_rotation);
    let current = read_tokens('n', None, ttl).verify(&carried, now).unwrap();
    assert_eq!(current.expires, now + 600);

    let unknown = read_tokens('x', None, ttl).issue(&alpha, &id, None, now);
    assert_unauthorized(browser_get(&app, &format!("/v1/jobs/{id}?token={unknown}")).await).await;
}
