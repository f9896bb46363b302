//! Revoking a key stops everything it opened, on both backends: its event streams (one job's,
//! the feed's) end, its waiting long polls (a job, the feed, an external worker's claim)
//! answer `401`, and the read tokens it minted are refused — while what another key of the
//! same tenant opened goes on.

use std::time::Duration;

use herald_core::TypePolicy;
use herald_core::apikey::PlainKey;
use herald_testkit::http_jobs::answer_json;
use herald_testkit::sse::SseStream;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::helpers::{TestApp, assert_problem, id_of};

/// The type external workers run in these tests.
const VIDEO: &str = "video.transcode";

/// How long a revocation may take to end what its key opened: generous, against a bound of
/// about a second.
const WITHIN: Duration = Duration::from_secs(5);

/// The app with [`VIDEO`] run by external workers, two keys of tenant `alpha` (`doomed`, to be
/// revoked, and `kept`) and an admin key; the client acts with `doomed`.
struct Keys {
    doomed: String,
    kept: String,
    admin: String,
}

async fn app_with_keys(on_redis: bool) -> (TestApp, Keys) {
    let builder = TestApp::builder().external_type(VIDEO, TypePolicy::default());
    let mut app = if on_redis {
        builder.redis().spawn().await
    } else {
        builder.spawn().await
    };
    let keys = Keys {
        doomed: app.create_key("alpha", false).await,
        kept: app.create_key("alpha", false).await,
        admin: app.create_key("ops", true).await,
    };
    app.use_key(Some(&keys.doomed));
    (app, keys)
}

/// Revokes `key` through the admin API, as an operator would.
async fn revoke(app: &TestApp, admin: &str, key: &str) {
    let id = PlainKey::parse(key).unwrap().id().to_string();
    let revoked = reqwest::Client::new()
        .delete(app.url(&format!("/v1/admin/keys/{id}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
}

/// A `GET` of `path` with `key` (none: as a browser following a token link) and headers.
fn get(
    app: &TestApp,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut request = reqwest::Client::new().get(app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
}

/// Sends `request` in a task: a long poll that waits.
fn spawn_poll(request: reqwest::RequestBuilder) -> JoinHandle<Response> {
    tokio::spawn(async move { request.send().await.expect("the poll is answered") })
}

/// The answer of a long poll that was waiting, which must come within [`WITHIN`].
async fn answer_of(poll: JoinHandle<Response>) -> Response {
    tokio::time::timeout(WITHIN, poll)
        .await
        .expect("the long poll answered soon after the revocation")
        .unwrap()
}

async fn assert_unauthorized(response: Response) -> Value {
    let problem = assert_problem(response, StatusCode::UNAUTHORIZED).await;
    assert_eq!(problem["type"], "https://herald.dev/problems/unauthorized");
    problem
}

/// Reads `stream` to its end, which must come within [`WITHIN`]; the events it still sent.
async fn end_of(stream: &mut SseStream) -> Vec<Value> {
    tokio::time::timeout(WITHIN, stream.events_to_end())
        .await
        .expect("the stream ended soon after the revocation")
        .iter()
        .map(|event| event.json())
        .collect()
}

/// A link of a job resource, a path with its `?token=`.
fn link(job: &Value, name: &str) -> String {
    job["links"][name].as_str().expect("a link").to_owned()
}

#[tokio::test]
async fn a_revoked_key_ends_its_streams_and_answers_its_waiting_long_polls_with_401() {
    for on_redis in [false, true] {
        let (app, keys) = app_with_keys(on_redis).await;
        let job = app.submit("demo.sleep").await;
        let id = id_of(&job).to_owned();
        let seq = job["seq"].as_u64().unwrap().to_string();
        let head = app.events_page("").await;
        let head: Value = head.json().await.unwrap();
        let cursor = head["next_cursor"].as_str().unwrap().to_owned();

        let mut job_stream = app.job_stream(&id, None).await;
        assert_eq!(job_stream.events(1).await[0].id(), seq);
        let mut feed = app.feed_stream("", None).await;
        let mut kept_feed = SseStream::new(
            get(
                &app,
                "/v1/events/stream",
                Some(&keys.kept),
                &[("Accept", "text/event-stream")],
            )
            .send()
            .await
            .unwrap(),
        );
        let etag = format!("\"{seq}\"");
        let job_poll = spawn_poll(get(
            &app,
            &format!("/v1/jobs/{id}?wait=30"),
            Some(&keys.doomed),
            &[("If-None-Match", &etag)],
        ));
        let feed_poll = spawn_poll(get(
            &app,
            &format!("/v1/events?after={cursor}&wait=30"),
            Some(&keys.doomed),
            &[],
        ));
        let claim = spawn_poll(
            reqwest::Client::new()
                .post(app.url("/v1/workers/claim"))
                .bearer_auth(&keys.doomed)
                .json(&json!({"types": [VIDEO], "wait_s": 30})),
        );
        app.wait_for_long_polls(3).await;

        revoke(&app, &keys.admin, &keys.doomed).await;

        for poll in [job_poll, feed_poll, claim] {
            let problem = assert_unauthorized(answer_of(poll).await).await;
            assert_eq!(
                problem["detail"], "the API key is not valid: unknown or revoked",
                "as a request with the revoked key is told (on redis: {on_redis})"
            );
        }
        assert!(
            end_of(&mut job_stream).await.is_empty(),
            "on redis: {on_redis}"
        );
        // The tenant's next job is not for the revoked key's feed; the other key's sees it.
        let next = reqwest::Client::new()
            .post(app.url("/v1/jobs"))
            .bearer_auth(&keys.kept)
            .json(&json!({"type": "demo.sleep"}))
            .send()
            .await
            .unwrap();
        assert_eq!(next.status(), StatusCode::ACCEPTED);
        let next: Value = next.json().await.unwrap();
        assert!(end_of(&mut feed).await.is_empty(), "on redis: {on_redis}");
        assert_eq!(kept_feed.events(1).await[0].json()["id"], next["id"]);

        // What the key's EventSource does next: reconnect, and be refused.
        assert_unauthorized(app.job_events(&id, Some(&seq)).await).await;
        assert_unauthorized(app.request(Method::GET, "/v1/events/stream").await).await;
    }
}

#[tokio::test]
async fn the_read_tokens_a_key_minted_die_with_it_and_end_what_they_opened() {
    for on_redis in [false, true] {
        let (app, keys) = app_with_keys(on_redis).await;
        let job = app.submit("demo.sleep").await;
        let id = id_of(&job).to_owned();
        let seq = job["seq"].as_u64().unwrap().to_string();
        // The same job as the other key of the tenant sees it: its links carry its own tokens.
        let kept_view =
            answer_json(get(&app, &format!("/v1/jobs/{id}"), Some(&keys.kept), &[])).await;

        let mut stream = SseStream::new(
            get(
                &app,
                &link(&job, "events"),
                None,
                &[("Accept", "text/event-stream")],
            )
            .send()
            .await
            .unwrap(),
        );
        assert_eq!(stream.events(1).await[0].id(), seq);
        let etag = format!("\"{seq}\"");
        let poll = spawn_poll(get(
            &app,
            &format!("{}&wait=30", link(&job, "self")),
            None,
            &[("If-None-Match", &etag)],
        ));
        app.wait_for_long_polls(1).await;

        revoke(&app, &keys.admin, &keys.doomed).await;

        let revoked = "the read token (`token=`) is not valid: the API key it was issued to has \
                       been revoked";
        let problem = assert_unauthorized(answer_of(poll).await).await;
        assert_eq!(problem["detail"], revoked, "on redis: {on_redis}");
        assert!(end_of(&mut stream).await.is_empty(), "on redis: {on_redis}");
        for name in ["self", "events", "result"] {
            let refused = get(&app, &link(&job, name), None, &[])
                .send()
                .await
                .unwrap();
            let problem = assert_unauthorized(refused).await;
            assert_eq!(problem["detail"], revoked, "{name} (on redis: {on_redis})");
        }
        // A token the other key minted for the same job still reads it.
        let still = get(&app, &link(&kept_view, "self"), None, &[])
            .send()
            .await
            .unwrap();
        assert_eq!(still.status(), StatusCode::OK, "on redis: {on_redis}");
    }
}
