//! API keys end to end: a `herald` on Redis in production mode refuses to start without a
//! key; `herald keys create` makes one, after which it starts, answers a request with the key
//! and refuses one without; `herald keys revoke` shuts the key out of the running process, and
//! ends what the key opened on every api process — event streams, waiting long polls, the read
//! tokens it minted — even on a process whose subscription to Redis was cut at the time.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use herald_testkit::http_jobs::{answer_json, wait_for_long_polls};
use herald_testkit::sse::SseStream;
use herald_testkit::{RedisServer, eventually, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::support::{Herald, client, herald_binary, kill_pubsub_of, on_redis, pubsub_clients_of};

/// Runs `herald keys …` against `redis` and waits for it.
fn keys(redis: &RedisServer, args: &[&str]) -> Output {
    Command::new(herald_binary())
        .arg("keys")
        .args(args)
        .args(["--redis-url", redis.url(), "--redis-prefix", redis.prefix()])
        .env_remove("HERALD_MODE")
        .env_remove("HERALD_BOOTSTRAP_ADMIN_KEY")
        .output()
        .expect("run herald keys")
}

/// The read token secret production mode needs (`--token-secret`), shared by the tests.
const TOKEN_SECRET: &str = "e2e-token-secret-of-at-least-32-bytes";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn production_mode_on_redis_starts_only_with_a_key_and_then_requires_it() {
    let redis = RedisServer::start();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut args = on_redis(
        &redis,
        "api,worker,notifier",
        &["--mode", "production", "--token-secret", TOKEN_SECRET],
    );

    // No key yet: it refuses to start, and says how to make one.
    let mut refused = Command::new(herald_binary())
        .arg("serve")
        .args(["--bind", &bind])
        .args(&args)
        .env_remove("HERALD_BOOTSTRAP_ADMIN_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald");
    let status = eventually("herald to refuse to start", Duration::from_secs(30), || {
        let exited = refused.try_wait().expect("try_wait");
        async move { exited }
    })
    .await;
    assert!(!status.success());
    let stderr = text(&refused.wait_with_output().expect("its output").stderr);
    assert!(
        stderr.contains("production mode needs an API key")
            && stderr.contains("herald keys create --tenant"),
        "{stderr}"
    );

    // Without --redis-url, `herald keys` explains where the embedded backend's keys live.
    let embedded = Command::new(herald_binary())
        .args(["keys", "list"])
        .env_remove("HERALD_REDIS_URL")
        .output()
        .expect("run herald keys");
    assert!(!embedded.status.success());
    assert!(
        text(&embedded.stderr).contains("--bootstrap-admin-key"),
        "{}",
        text(&embedded.stderr)
    );

    let created = keys(
        &redis,
        &["create", "--tenant", "acme", "--name", "ci", "--admin"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let key = text(&created.stdout).trim().to_owned();
    assert!(key.starts_with("hk_"), "{key}");
    let id = key["hk_".len()..].split('_').next().unwrap().to_owned();
    let listed = keys(&redis, &["list", "--tenant", "acme"]);
    let listing = text(&listed.stdout);
    assert!(
        listed.status.success() && listing.contains(&id),
        "{listing}"
    );
    assert!(
        !listing.contains(&key[key.len() - 40..]),
        "never the secret"
    );

    args.push("--webhook-allow-private-targets");
    let herald = Herald::start_ready(&args).await;
    let http = client();
    let anonymous = http.get(herald.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let submitted = http
        .post(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .json(&json!({"type": "demo.sleep", "payload": {"seconds": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::ACCEPTED);
    let listed = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        http.get(herald.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Revoked from another process: the running server refuses the key on its next request.
    let revoked = keys(&redis, &["revoke", &id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let refused = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_embedded_backend_in_production_mode_starts_with_a_bootstrap_admin_key() {
    let generated = Command::new(herald_binary())
        .args(["keys", "generate"])
        .output()
        .expect("run herald keys generate");
    assert!(generated.status.success());
    let key = text(&generated.stdout).trim().to_owned();

    let herald = Herald::start_with_env(
        &["--mode", "production"],
        &[
            ("HERALD_BOOTSTRAP_ADMIN_KEY", key.as_str()),
            ("HERALD_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    herald.wait_ready().await;
    let http = client();
    let anonymous = http.get(herald.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let created = http
        .post(herald.url("/v1/admin/keys"))
        .bearer_auth(&key)
        .json(&json!({"tenant": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let acme: serde_json::Value = created.json().await.unwrap();
    let listed = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(acme["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
}

/// How long a revocation may take to end what its key opened on any process: generous, against
/// a bound of about a second.
const REVOCATION_BOUND: Duration = Duration::from_secs(5);

/// A key of `tenant` made with `herald keys create`: the whole key and its id.
fn create_key(redis: &RedisServer, tenant: &str) -> (String, String) {
    let created = keys(redis, &["create", "--tenant", tenant]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let key = text(&created.stdout).trim().to_owned();
    let id = key["hk_".len()..].split('_').next().unwrap().to_owned();
    (key, id)
}

/// Two api processes in production mode on `redis` (A and B), sharing the token secret.
async fn two_apis(redis: &RedisServer) -> (Herald, Herald) {
    let args = on_redis(
        redis,
        "api",
        &["--mode", "production", "--token-secret", TOKEN_SECRET],
    );
    let a = Herald::start_ready(&args).await;
    let b = Herald::start_ready(&args).await;
    (a, b)
}

/// `GET path` of `api`, with `key` (none: a token in the path).
fn get(api: &Herald, path: &str, key: Option<&str>) -> reqwest::RequestBuilder {
    let request = client().get(api.url(path));
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

/// Submits a `demo.sleep` job to `api` with `key`: its resource.
async fn submit_as(api: &Herald, key: &str) -> Value {
    let submitted = client()
        .post(api.url("/v1/jobs"))
        .bearer_auth(key)
        .json(&json!({"type": "demo.sleep", "payload": {"seconds": 0}}))
        .send()
        .await
        .expect("POST /v1/jobs");
    assert_eq!(submitted.status(), StatusCode::ACCEPTED);
    submitted.json().await.expect("job JSON")
}

/// Opens the event stream at `path` of `api`, with `key` (none: a token in the path).
async fn open_stream(api: &Herald, path: &str, key: Option<&str>) -> SseStream {
    let url = api.url(path);
    let request = get(api, path, key).header("Accept", "text/event-stream");
    let response = request.send().await.expect("the stream is answered");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    SseStream::new(response).patience(Duration::from_secs(30))
}

/// Starts a long poll (`GET path` with `key` and `headers`) in a task.
fn long_poll(
    api: &Herald,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
) -> JoinHandle<reqwest::Response> {
    let mut request = get(api, path, key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    tokio::spawn(async move { request.send().await.expect("the long poll is answered") })
}

/// The answer of a long poll that was waiting: `401` within [`REVOCATION_BOUND`].
async fn refused_in_time(poll: JoinHandle<reqwest::Response>) {
    let answer = tokio::time::timeout(REVOCATION_BOUND, poll)
        .await
        .expect("the long poll answered soon after the revocation")
        .expect("the poll task");
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = answer.json().await.expect("a problem");
    assert_eq!(problem["type"], "https://herald.dev/problems/unauthorized");
}

/// `GET path` of `api` with `key`: its status.
async fn status_of(api: &Herald, path: &str, key: Option<&str>) -> StatusCode {
    get(api, path, key)
        .send()
        .await
        .expect("an answer")
        .status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_ends_its_streams_long_polls_and_tokens_on_every_api_process() {
    let redis = RedisServer::start();
    let (key, id) = create_key(&redis, "acme");
    let (kept, _) = create_key(&redis, "acme");
    let (a, b) = two_apis(&redis).await;
    let job = submit_as(&a, &key).await;
    let job_id = job["id"].as_str().unwrap().to_owned();
    let etag = format!("\"{}\"", job["seq"]);
    let self_link = job["links"]["self"].as_str().unwrap().to_owned();
    let events_link = job["links"]["events"].as_str().unwrap().to_owned();

    // On B: what a dashboard, a poller and a browser hold open with the key (or its token).
    let mut feed = open_stream(&b, "/v1/events/stream", Some(&key)).await;
    let mut job_stream = open_stream(&b, &format!("/v1/jobs/{job_id}/events"), Some(&key)).await;
    let mut token_stream = open_stream(&b, &events_link, None).await;
    for stream in [&mut job_stream, &mut token_stream] {
        let first = stream.next_event().await;
        assert_eq!(
            first.expect("the job's state").json()["id"],
            job_id.as_str()
        );
    }
    let mut kept_feed = open_stream(&b, "/v1/events/stream", Some(&kept)).await;
    let job_poll = long_poll(
        &b,
        &format!("/v1/jobs/{job_id}?wait=30"),
        Some(&key),
        &[("If-None-Match", &etag)],
    );
    let page = answer_json(get(&b, "/v1/events?limit=1000", Some(&key))).await;
    let head = page["next_cursor"].as_str().unwrap().to_owned();
    let feed_poll = long_poll(
        &b,
        &format!("/v1/events?after={head}&wait=30"),
        Some(&key),
        &[],
    );
    let token_poll = long_poll(
        &b,
        &format!("{self_link}&wait=30"),
        None,
        &[("If-None-Match", &etag)],
    );
    wait_for_long_polls(&client(), &b.base, 3, Duration::from_secs(30)).await;

    let revoked = keys(&redis, &["revoke", &id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));

    for poll in [job_poll, feed_poll, token_poll] {
        refused_in_time(poll).await;
    }
    for stream in [&mut feed, &mut job_stream, &mut token_stream] {
        stream.expect_end_within(REVOCATION_BOUND).await;
    }
    // Refused everywhere from now on: the key, its token, on either process.
    for api in [&a, &b] {
        assert_eq!(
            status_of(api, "/v1/events/stream", Some(&key)).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(api, &self_link, None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(api, &events_link, None).await,
            StatusCode::UNAUTHORIZED
        );
    }
    // The tenant's other key was not touched: its stream goes on.
    let other = submit_as(&a, &kept).await;
    let seen = kept_feed.next_event().await;
    assert_eq!(
        seen.expect("the other key's feed goes on").json()["id"],
        other["id"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_missed_while_a_process_was_cut_off_from_redis_still_ends_its_streams() {
    let redis = RedisServer::start();
    let (key, id) = create_key(&redis, "acme");
    let (_a, b) = two_apis(&redis).await;
    let mut feed = open_stream(&b, "/v1/events/stream", Some(&key)).await;

    // B is frozen while its subscription is cut, so the revocation is published while it
    // listens to nothing: it never hears it, and learns it only by re-checking the key once
    // its subscription is back.
    b.signal("STOP");
    let cut = kill_pubsub_of(&redis, &b).await;
    let revoked = keys(&redis, &["revoke", &id]);
    b.signal("CONT");
    assert_eq!(cut, 1, "B held one subscription");
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));

    feed.expect_end_within(REVOCATION_BOUND).await;
    eventually("B to subscribe again", Duration::from_secs(30), || async {
        (pubsub_clients_of(&redis, &b).await.len() == 1).then_some(())
    })
    .await;
}
