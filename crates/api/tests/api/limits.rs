//! The abuse limits: the request rate per caller, open event streams and waiting long polls
//! per caller (given back as soon as a client leaves), failed authentications per client
//! address and the memory of unknown keys, the nesting depth of JSON bodies, and slow clients.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_api::{ApiConfig, RateLimit, TrustedProxy};
use herald_core::TenantId;
use herald_core::apikey::{ApiKey, ApiKeyId, PlainKey};
use herald_core::store::{KeyStore, SharedKeyStore, StoreError};
use herald_testkit::eventually;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::{TestApp, TestAppBuilder};

const GENEROUS: Duration = Duration::from_secs(20);

/// Well within one heartbeat (15 s by default), yet generous for a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(5);

async fn assert_too_many(response: Response) -> Value {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "https://herald.dev/problems/rate-limited");
    assert_eq!(problem["status"], 429);
    problem
}

#[tokio::test]
async fn a_caller_past_its_burst_gets_429_while_other_keys_and_probes_do_not() {
    let burst = 5;
    let mut app = TestApp::builder()
        .require_keys()
        .configure(|config| {
            config.rate_limit = RateLimit {
                per_second: 1,
                burst,
            }
        })
        .spawn()
        .await;
    let first = app.create_key("acme", false).await;
    let second = app.create_key("acme", false).await;
    app.use_key(Some(&first));

    // The bucket starts full: the whole burst goes through.
    for _ in 0..burst {
        assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
    }
    // At one request a second, a hundred more cannot all go through.
    let mut refused = None;
    for _ in 0..100 {
        let response = app.list_jobs("").await;
        if response.status() != StatusCode::OK {
            refused = Some(response);
            break;
        }
    }
    let problem = assert_too_many(refused.expect("a refusal")).await;
    assert!(problem["detail"].as_str().unwrap().contains("per second"));

    assert_eq!(
        app.request(Method::GET, "/healthz").await.status(),
        StatusCode::OK
    );
    app.use_key(Some(&second));
    assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);

    app.use_key(Some(&first));
    eventually("the bucket to refill", GENEROUS, || async {
        (app.list_jobs("").await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_open_install_is_not_throttled_as_one_caller() {
    let app = TestApp::builder()
        .configure(|config| {
            config.rate_limit = RateLimit {
                per_second: 1,
                burst: 2,
            };
            config.max_waiters_per_key = 1;
        })
        .spawn()
        .await;
    for _ in 0..20 {
        assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_rate_of_zero_limits_nothing() {
    let mut app = TestApp::builder()
        .require_keys()
        .configure(|config| config.rate_limit = RateLimit::OFF)
        .spawn()
        .await;
    let key = app.create_key("acme", false).await;
    app.use_key(Some(&key));
    for _ in 0..300 {
        assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
    }
}

/// An app built from `builder`, without rate limits but with `limit`, a key used by its
/// requests, and a pending job.
async fn one_key_with(
    builder: TestAppBuilder,
    limit: impl FnOnce(&mut ApiConfig),
) -> (TestApp, Value) {
    let mut app = builder
        .require_keys()
        .configure(|config| {
            config.rate_limit = RateLimit::OFF;
            limit(config);
        })
        .spawn()
        .await;
    let key = app.create_key("acme", false).await;
    app.use_key(Some(&key));
    let job = app.submit("demo.sleep").await;
    (app, job)
}

/// An app built from `builder` where a key may hold two event streams, used by its requests,
/// and a pending job.
async fn two_streams_per_key(builder: TestAppBuilder) -> (TestApp, Value) {
    one_key_with(builder, |config| config.max_streams_per_key = 2).await
}

#[tokio::test]
async fn a_caller_holding_its_streams_gets_429_until_one_closes() {
    let (app, job) =
        two_streams_per_key(TestApp::builder().sse_heartbeat(Duration::from_millis(100))).await;
    let id = job["id"].as_str().unwrap();

    let first = app.job_stream(id, None).await;
    let _second = app.feed_stream("", None).await;
    assert_too_many(app.job_events(id, None).await).await;
    assert_too_many(app.events_request("/v1/events/stream", None).await).await;

    // The server notices the departed client (at once: its connection closes).
    drop(first);
    let third = eventually("a stream slot to free up", GENEROUS, || async {
        let response = app.job_events(id, None).await;
        (response.status() == StatusCode::OK).then_some(response)
    })
    .await;
    drop(third);
}

#[tokio::test]
async fn a_stream_whose_client_leaves_gives_its_slot_back_at_once() {
    // The default heartbeat (15 s): only noticing the closed connection itself frees the slot
    // within the few seconds allowed here.
    let builder = TestApp::builder()
        .configure(|config| assert_eq!(config.sse_heartbeat, Duration::from_secs(15)));
    let (app, job) = two_streams_per_key(builder).await;
    let id = job["id"].as_str().unwrap();
    let bookkeeping = |kind: &'static str, key: &'static str| {
        let app = &app;
        async move {
            [
                app.metric(&format!("herald_sse_streams_open{{kind=\"{kind}\"}}"))
                    .await,
                app.metric(&format!("herald_hub_subscribers{{key=\"{key}\"}}"))
                    .await,
            ]
        }
    };

    let mut first = app.job_stream(id, None).await;
    first.next_event().await.expect("the job's current state");
    let mut feed = app.feed_stream("", None).await;
    feed.next().await.expect("the stream's retry hint");
    assert_too_many(app.job_events(id, None).await).await;
    assert_eq!(bookkeeping("job", "job").await, [Some(1.0); 2]);

    // The client closes the connection, as an EventSource does before reconnecting.
    let left = std::time::Instant::now();
    drop(first);
    eventually("the job stream to be dropped", PROMPTLY, || async {
        (bookkeeping("job", "job").await == [Some(0.0); 2]).then_some(())
    })
    .await;
    let mut reconnected = app.job_stream(id, None).await;
    reconnected
        .next_event()
        .await
        .expect("the job's current state");
    assert!(
        left.elapsed() < PROMPTLY,
        "the slot came back after {:?}",
        left.elapsed()
    );

    // A feed stream alike.
    assert_eq!(bookkeeping("feed", "tenant").await, [Some(1.0); 2]);
    drop(feed);
    eventually("the feed stream to be dropped", PROMPTLY, || async {
        (bookkeeping("feed", "tenant").await == [Some(0.0); 2]).then_some(())
    })
    .await;
    assert_eq!(app.job_events(id, None).await.status(), StatusCode::OK);
}

/// An app where a key may hold one long poll, used by its requests, and a pending job.
async fn one_long_poll_per_key() -> (TestApp, Value) {
    one_key_with(TestApp::builder(), |config| config.max_waiters_per_key = 1).await
}

#[tokio::test]
async fn a_caller_holding_its_long_polls_gets_429_but_plain_polls_go_through() {
    let (app, job) = one_long_poll_per_key().await;
    let id = job["id"].as_str().unwrap();
    let seq = job["seq"].as_u64().unwrap();

    let waiting = app.waiting_poll(id, 30, seq).await;
    let tag = format!("\"{seq}\"");
    assert_too_many(app.poll_job(id, "wait=30", Some(&tag)).await).await;
    assert_too_many(app.events_page("wait=30").await).await;
    assert_eq!(app.get_job(id).await.status(), StatusCode::OK);
    assert_eq!(
        app.poll_job(id, "wait=30", None).await.status(),
        StatusCode::OK,
        "without If-None-Match a poll does not wait"
    );

    // The waiting poll answers when the job changes, and gives its slot back.
    assert!(app.cancel_job(id).await.status().is_success());
    let answered = waiting.await.unwrap().unwrap();
    assert_eq!(answered.status(), StatusCode::OK, "the job changed");
    assert_eq!(
        app.events_page("wait=1").await.status(),
        StatusCode::OK,
        "the slot is free again"
    );
}

#[tokio::test]
async fn a_long_poll_whose_client_leaves_gives_its_slot_back_at_once() {
    let (app, job) = one_long_poll_per_key().await;
    let id = job["id"].as_str().unwrap();
    let seq = job["seq"].as_u64().unwrap();

    let waiting = app.waiting_poll(id, 60, seq).await;
    assert_too_many(app.events_page("wait=30").await).await;
    // The client gives up: its connection closes long before the 60 s wait is over.
    waiting.abort();
    eventually("the long poll to be dropped", PROMPTLY, || async {
        (app.metric("herald_long_polls_waiting").await == Some(0.0)).then_some(())
    })
    .await;
    assert_eq!(
        app.events_page("wait=1").await.status(),
        StatusCode::OK,
        "the slot is free again"
    );
}

/// Sends `GET /v1/jobs` through `client` until it answers `429`, at most `tries` times; checks
/// the refusal and says how many `401`s came first.
async fn unauthorized_until_429(app: &TestApp, client: &reqwest::Client, tries: usize) -> usize {
    for refused in 0..tries {
        let response = client.get(app.url("/v1/jobs")).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let problem = assert_too_many(response).await;
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("failed authentication"), "{detail}");
            return refused;
        }
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    panic!("{tries} failed authentications, and no 429");
}

/// Sends `GET /v1/jobs` through `client` `times` times; how many answered `401`.
async fn unauthorized(app: &TestApp, client: &reqwest::Client, times: usize) -> usize {
    let mut count = 0;
    for _ in 0..times {
        let response = client.get(app.url("/v1/jobs")).send().await.unwrap();
        if response.status() == StatusCode::UNAUTHORIZED {
            count += 1;
        } else {
            assert_too_many(response).await;
        }
    }
    count
}

fn client_with(key: Option<&str>, forwarded_for: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(key) = key {
        headers.insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    if let Some(address) = forwarded_for {
        headers.insert("x-forwarded-for", address.parse().unwrap());
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

#[tokio::test]
async fn failed_authentications_from_one_address_get_429_after_the_burst_while_valid_keys_go_through()
 {
    let burst = 5;
    let app = TestApp::builder()
        .require_keys()
        .configure(|config| {
            config.rate_limit = RateLimit::OFF;
            config.auth_failure_rate_limit = RateLimit {
                per_second: 1,
                burst,
            };
        })
        .spawn()
        .await;
    let valid = app.create_key("acme", false).await;
    let unknown = PlainKey::generate().reveal();

    // Without a key: the burst answers 401, then the address is refused.
    let refused = unauthorized_until_429(&app, &client_with(None, None), 100).await;
    assert!(refused >= burst as usize, "{refused} 401s before the 429");
    // The same address with an unknown key, or a malformed one, fares no better: one bucket.
    for key in [unknown.as_str(), "hk_nonsense"] {
        let client = client_with(Some(key), None);
        assert!(unauthorized(&app, &client, burst as usize).await < burst as usize);
    }
    // A valid key from the same address is not held back, however many requests it sends.
    let good = client_with(Some(&valid), None);
    for _ in 0..3 * burst {
        let response = good.get(app.url("/v1/jobs")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // Another address has a bucket of its own.
    let elsewhere = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()
        .unwrap();
    assert_eq!(
        unauthorized(&app, &elsewhere, burst as usize).await,
        burst as usize
    );
    // Probes and scrapers are never limited.
    assert_eq!(
        app.request(Method::GET, "/healthz").await.status(),
        StatusCode::OK
    );
    eventually("the address's bucket to refill", GENEROUS, || async {
        let response = app.list_jobs("").await;
        (response.status() == StatusCode::UNAUTHORIZED).then_some(())
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_failures_count_against_the_forwarded_client_only() {
    let burst = 5;
    let limit = RateLimit {
        per_second: 1,
        burst,
    };
    let behind_proxy = TestApp::builder()
        .require_keys()
        .configure(|config| {
            config.auth_failure_rate_limit = limit;
            config.trusted_proxies = vec![TrustedProxy::parse("127.0.0.0/8").unwrap()];
        })
        .spawn()
        .await;
    let first = client_with(None, Some("203.0.113.1"));
    unauthorized_until_429(&behind_proxy, &first, 100).await;
    // Through two proxies, the client is the hop before the trusted ones.
    let second = client_with(None, Some("203.0.113.2, 127.0.0.9"));
    assert_eq!(
        unauthorized(&behind_proxy, &second, burst as usize).await,
        burst as usize,
        "another client behind the proxy has a bucket of its own"
    );

    // Without trusted proxies the header is the client's word, and counts for nothing.
    let direct = TestApp::builder()
        .require_keys()
        .configure(|config| config.auth_failure_rate_limit = limit)
        .spawn()
        .await;
    unauthorized_until_429(&direct, &first, 100).await;
    assert!(
        unauthorized(&direct, &second, burst as usize).await < burst as usize,
        "a forged X-Forwarded-For does not buy a new bucket"
    );
}

/// How often the server read the key store: keys by id, and whether any exists.
#[derive(Default)]
struct Lookups {
    by_id: AtomicUsize,
    any: AtomicUsize,
}

impl Lookups {
    fn by_id(&self) -> usize {
        self.by_id.load(Ordering::SeqCst)
    }

    fn any(&self) -> usize {
        self.any.load(Ordering::SeqCst)
    }

    /// Wraps the server's key store to count in `self`.
    fn counting(self: &Arc<Self>) -> impl FnOnce(SharedKeyStore) -> SharedKeyStore + 'static {
        let lookups = Arc::clone(self);
        move |inner| Arc::new(CountingKeys { inner, lookups })
    }
}

/// A key store that counts its reads in [`Lookups`].
struct CountingKeys {
    inner: SharedKeyStore,
    lookups: Arc<Lookups>,
}

#[async_trait]
impl KeyStore for CountingKeys {
    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        self.inner.create_key(key).await
    }

    async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        self.lookups.by_id.fetch_add(1, Ordering::SeqCst);
        self.inner.key(id).await
    }

    async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        self.inner.keys(tenant).await
    }

    async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
        self.inner.revoke_key(id).await
    }

    async fn has_keys(&self) -> Result<bool, StoreError> {
        self.lookups.any.fetch_add(1, Ordering::SeqCst);
        self.inner.has_keys().await
    }
}

#[tokio::test]
async fn unknown_and_revoked_keys_are_not_looked_up_on_every_request_but_valid_keys_are() {
    let lookups = Arc::new(Lookups::default());
    let mut app = TestApp::builder()
        .require_keys()
        .configure(|config| config.auth_failure_rate_limit = RateLimit::OFF)
        .wrap_keys(lookups.counting())
        .spawn()
        .await;
    let revoked = app.create_key("acme", false).await;
    let revoked_id = PlainKey::parse(&revoked).unwrap().id().clone();
    assert!(app.keys.revoke_key(&revoked_id).await.unwrap());
    let requests = 100;

    for key in [PlainKey::generate().reveal(), revoked] {
        app.use_key(Some(&key));
        let before = lookups.by_id();
        for _ in 0..requests {
            assert_eq!(app.list_jobs("").await.status(), StatusCode::UNAUTHORIZED);
        }
        let looked_up = lookups.by_id() - before;
        // Once, and once more for every few seconds the requests took.
        assert!(
            (1..=5).contains(&looked_up),
            "{requests} requests with one unknown key: {looked_up} lookups"
        );
    }

    // A valid key is read on every request, so its revocation takes effect at once.
    let valid = app.create_key("acme", false).await;
    app.use_key(Some(&valid));
    let before = lookups.by_id();
    for _ in 0..10 {
        assert_eq!(app.list_jobs("").await.status(), StatusCode::OK);
    }
    assert_eq!(lookups.by_id() - before, 10);
    let valid_id = PlainKey::parse(&valid).unwrap().id().clone();
    assert!(app.keys.revoke_key(&valid_id).await.unwrap());
    assert_eq!(app.list_jobs("").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_development_install_with_keys_refuses_requests_without_one_without_counting_keys_each_time()
 {
    let lookups = Arc::new(Lookups::default());
    let mut app = TestApp::builder()
        .configure(|config| config.auth_failure_rate_limit = RateLimit::OFF)
        .wrap_keys(lookups.counting())
        .spawn()
        .await;
    assert_eq!(app.list_jobs("").await.status(), StatusCode::OK, "open");
    let key = app.create_key("acme", false).await;
    // The first key closes the install at once.
    let before = lookups.any();
    let requests = 100;
    for _ in 0..requests {
        assert_eq!(app.list_jobs("").await.status(), StatusCode::UNAUTHORIZED);
    }
    let counted = lookups.any() - before;
    assert!(
        (1..=5).contains(&counted),
        "{requests} requests without a key: keys counted {counted} times"
    );
    // Revoking the last key opens the install again, a few seconds later at most.
    let id = PlainKey::parse(&key).unwrap().id().clone();
    assert!(app.keys.revoke_key(&id).await.unwrap());
    app.use_key(None);
    eventually("the install to be open again", GENEROUS, || async {
        (app.list_jobs("").await.status() == StatusCode::OK).then_some(())
    })
    .await;
}

fn nested(depth: usize) -> String {
    format!(
        r#"{{"type": "demo.sleep", "payload": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

#[tokio::test]
async fn a_body_nested_deeper_than_the_bound_is_a_422_naming_the_body() {
    let app = TestApp::builder()
        .configure(|config| config.max_json_depth = 8)
        .spawn()
        .await;
    // The body object is one level, the payload seven more: just within the bound.
    let within = app.post_job_raw(nested(7), "application/json").await;
    assert_eq!(within.status(), StatusCode::ACCEPTED);

    let response = app.post_job_raw(nested(8), "application/json").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/validation-error"
    );
    assert_eq!(problem["errors"][0]["field"], "body");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("deeper than 8")
    );
}

#[tokio::test]
async fn a_body_deeper_than_serde_allows_is_our_problem_not_a_500() {
    let app = TestApp::builder().spawn().await;
    for depth in [200, 100_000] {
        let response = app.post_job_raw(nested(depth), "application/json").await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{depth}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "body");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_head_is_cut_off() {
    let app = TestApp::builder()
        .configure(|config| config.client_request_timeout = Duration::from_millis(300))
        .spawn()
        .await;
    let address = app.address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(GENEROUS, socket.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut by the configured 300 ms, not actix's default 5 s: {:?}",
        started.elapsed()
    );
    // Closed, with at most a `408` said first (a reset is a close too).
    if read.is_ok() && !answer.is_empty() {
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

#[tokio::test]
async fn headers_larger_than_the_bound_are_a_431_problem() {
    let app = TestApp::builder()
        .configure(|config| config.max_header_bytes = 4096)
        .spawn()
        .await;
    let big = "x".repeat(5000);
    let response = app
        .client
        .get(app.url("/v1/jobs"))
        .header("X-Padding", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/headers-too-large"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("4096"),
        "{problem}"
    );
    // Within the bound, the same request goes through.
    let fine = app
        .client
        .get(app.url("/v1/jobs"))
        .header("X-Padding", "x".repeat(1000))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), StatusCode::OK);
}
