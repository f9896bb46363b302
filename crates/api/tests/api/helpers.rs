//! `spawn_app()` and the `TestApp` it returns: one helper per endpoint, plus the steps a worker
//! would take, played through the store. Variants (a short heartbeat, a tiny subscriber
//! buffer, CORS origins, short histories, private webhook targets, types run by external
//! workers, short leases, read token secrets, a Redis backend, a key store wrapped to count its
//! reads) go through [`TestApp::builder`].

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use herald_api::{ApiConfig, ApiDeps, ApiMetrics, CorsOrigin, ReadTokens};
use herald_core::apikey::{ApiKey, PlainKey};
use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::RedisStore;
use herald_core::store::{
    Claimed, Lease, SharedKeyStore, SharedSourceStore, SharedWebhookStore, WebhookStore,
};
use herald_core::webhook::{Subscription, SubscriptionRequest};
use herald_core::{
    ErrorCode, JobError, JobLimits, JobOutput, JobRequest, JobType, JobTypes, NewJob, Progress,
    Runner, SharedStore, Store, StoreConfig, TenantId, TypePolicy, WorkerId,
};
pub use herald_testkit::http_jobs::id_of;
use herald_testkit::sse::SseStream;
use herald_testkit::{RedisServer, http_jobs};
use prometheus_client::registry::Registry;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The job types the test app accepts.
pub const KNOWN_TYPES: [&str; 3] = ["demo.sleep", "demo.report", "demo.fail"];

/// A running API over a fresh memory store (or a private Redis, see
/// [`TestAppBuilder::redis`]); stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    /// The job store and the webhook store, as the binary shares one backend for both. With
    /// [`TestAppBuilder::redis`] the server does not use it: go through `backend`.
    pub store: Arc<MemoryStore>,
    /// The store the server runs on, whichever the backend: `store`, or the Redis one.
    pub backend: SharedStore,
    /// The API keys of the server's backend.
    pub keys: SharedKeyStore,
    pub client: reqwest::Client,
    pub worker: WorkerId,
    /// Cancelling it stops the server, as the binary's signal handling would.
    pub shutdown: CancellationToken,
    /// The private Redis of an app built with [`TestAppBuilder::redis`], alive as long as it.
    _redis: Option<RedisServer>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts the real server on a free loopback port, with the defaults.
pub async fn spawn_app() -> TestApp {
    TestApp::builder().spawn().await
}

/// A variant of the test app: change what a test needs, then [`TestAppBuilder::spawn`].
pub struct TestAppBuilder {
    config: ApiConfig,
    store: StoreConfig,
    redis: bool,
    wrap_keys: Option<KeysWrapper>,
}

/// What [`TestAppBuilder::wrap_keys`] puts around the server's key store.
type KeysWrapper = Box<dyn FnOnce(SharedKeyStore) -> SharedKeyStore>;

impl TestAppBuilder {
    /// The longest silence on an event stream.
    pub fn sse_heartbeat(mut self, every: Duration) -> Self {
        self.config.sse_heartbeat = every;
        self
    }

    /// How many notices a stream or long poll may hold before the hub drops it.
    pub fn subscriber_buffer(mut self, notices: usize) -> Self {
        self.config.subscriber_buffer = notices;
        self
    }

    /// The browser origins allowed.
    pub fn cors_origins(mut self, origins: &[&str]) -> Self {
        self.config.cors_origins = origins
            .iter()
            .map(|o| CorsOrigin::parse(o).unwrap())
            .collect();
        self
    }

    /// How many events each job's history keeps.
    pub fn history_max(mut self, events: usize) -> Self {
        self.store.history_max = events;
        self
    }

    /// How long finished jobs are kept (and how long the feed keeps events).
    pub fn retention(mut self, retention: Duration) -> Self {
        self.store.retention = retention;
        self
    }

    /// How many events each tenant's feed keeps.
    pub fn feed_max(mut self, events: usize) -> Self {
        self.store.event_log_max = events;
        self
    }

    /// Accept webhook targets in private, loopback and link-local ranges.
    pub fn allow_private_targets(mut self) -> Self {
        self.config.allow_private_targets = true;
        self
    }

    /// Adds `name` to both catalogs (the API's and the store's) as a type run by external
    /// workers, with `policy` otherwise.
    pub fn external_type(mut self, name: &str, policy: TypePolicy) -> Self {
        let policy = TypePolicy {
            runner: Runner::External,
            ..policy
        };
        let job_type = JobType::parse(name).unwrap();
        self.config
            .job_types
            .insert(job_type.clone(), policy.clone());
        self.store.job_types.insert(job_type, policy);
        self
    }

    /// How long a claimed job may go without a heartbeat before it is reclaimed.
    pub fn lease_timeout(mut self, timeout: Duration) -> Self {
        self.store.lease_timeout = timeout;
        self
    }

    /// The largest result the store accepts.
    pub fn max_result_bytes(mut self, bytes: usize) -> Self {
        self.store.max_result_bytes = bytes;
        self
    }

    /// How often the server maintains the queues of external workers.
    pub fn external_maintenance_interval(mut self, every: Duration) -> Self {
        self.config.external_maintenance_interval = every;
        self
    }

    /// How many worker claims may be in progress at once.
    pub fn max_worker_claims(mut self, claims: usize) -> Self {
        self.config.max_worker_claims = claims;
        self
    }

    /// Any other setting of the API's configuration (the abuse limits, for instance).
    pub fn configure(mut self, change: impl FnOnce(&mut ApiConfig)) -> Self {
        change(&mut self.config);
        self
    }

    /// Production mode: every `/v1` request needs an API key, even while none exists.
    pub fn require_keys(mut self) -> Self {
        self.config.require_keys = true;
        self
    }

    /// The secrets and lifetime of browser read tokens.
    pub fn read_tokens(mut self, tokens: ReadTokens) -> Self {
        self.config.tokens = tokens;
        self
    }

    /// Serves the API over `wrap(keys)` instead of the key store itself (to count lookups,
    /// for instance); `TestApp::keys` stays the store itself.
    pub fn wrap_keys(
        mut self,
        wrap: impl FnOnce(SharedKeyStore) -> SharedKeyStore + 'static,
    ) -> Self {
        self.wrap_keys = Some(Box::new(wrap));
        self
    }

    /// Runs the server on a private Redis (`backend`) instead of the memory store.
    pub fn redis(mut self) -> Self {
        self.redis = true;
        self
    }

    /// Starts the real server on a free loopback port.
    pub async fn spawn(self) -> TestApp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let store = Arc::new(MemoryStore::new(self.store.clone()));
        let (backend, webhooks, keys, sources, redis): (
            SharedStore,
            SharedWebhookStore,
            SharedKeyStore,
            SharedSourceStore,
            _,
        ) = if self.redis {
            let redis = RedisServer::start();
            let on_redis = Arc::new(
                RedisStore::connect(redis.url(), &RedisServer::fresh_prefix(), self.store)
                    .await
                    .expect("connect to the test redis-server"),
            );
            (
                on_redis.clone(),
                on_redis.clone(),
                on_redis.clone(),
                on_redis,
                Some(redis),
            )
        } else {
            (
                store.clone(),
                store.clone(),
                store.clone(),
                store.clone(),
                None,
            )
        };
        let mut registry = Registry::with_prefix("herald");
        let metrics = ApiMetrics::register(&mut registry);
        let deps = ApiDeps {
            store: Arc::clone(&backend),
            webhooks,
            keys: match self.wrap_keys {
                Some(wrap) => wrap(Arc::clone(&keys)),
                None => Arc::clone(&keys),
            },
            sources,
            config: self.config,
            registry: Arc::new(registry),
            metrics,
        };
        let shutdown = CancellationToken::new();
        let server =
            herald_api::server(listener, deps, shutdown.clone()).expect("the server starts");
        tokio::spawn(server);
        TestApp {
            address,
            store,
            backend,
            keys,
            // Idle connections are dropped well before the server's keep-alive (5 s) closes
            // them: a request sent on a connection the server is closing at that moment
            // would fail without an answer, a race of the test's, not the server's.
            client: reqwest::Client::builder()
                .pool_idle_timeout(Duration::from_secs(1))
                .build()
                .expect("an HTTP client"),
            worker: WorkerId::generate(),
            shutdown,
            _redis: redis,
        }
    }
}

impl TestApp {
    /// A variant of the test app; `TestApp::builder().spawn()` is [`spawn_app`].
    pub fn builder() -> TestAppBuilder {
        let mut job_types = JobTypes::new();
        for name in KNOWN_TYPES {
            job_types.insert(JobType::parse(name).unwrap(), TypePolicy::default());
        }
        TestAppBuilder {
            config: ApiConfig {
                job_types,
                ..ApiConfig::default()
            },
            store: StoreConfig::default(),
            redis: false,
            wrap_keys: None,
        }
    }

    /// Stores a new API key of `tenant` straight through the store; returns the whole key.
    pub async fn create_key(&self, tenant: &str, admin: bool) -> String {
        let plain = PlainKey::generate();
        let tenant = TenantId::parse(tenant).unwrap();
        let key = ApiKey::new(&plain, tenant, "test".to_owned(), admin, chrono::Utc::now());
        assert!(self.keys.create_key(&key).await.unwrap());
        plain.reveal()
    }

    /// Sends `Authorization: Bearer <key>` with every request from now on (none with `None`).
    pub fn use_key(&mut self, key: Option<&str>) {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = key {
            let value = format!("Bearer {key}").parse().expect("a header value");
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        self.client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("a client");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Any request, for the cases the endpoint helpers do not cover.
    pub async fn request(&self, method: Method, path: &str) -> Response {
        self.client
            .request(method, self.url(path))
            .send()
            .await
            .expect("the request is answered")
    }

    /// `POST /v1/jobs` with a JSON body.
    pub async fn post_job(&self, body: &Value) -> Response {
        self.post_job_with_key(body, None).await
    }

    /// `POST /v1/jobs` with a JSON body and an optional `Idempotency-Key`.
    pub async fn post_job_with_key(&self, body: &Value, key: Option<&str>) -> Response {
        let mut request = self.client.post(self.url("/v1/jobs")).json(body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("the request is answered")
    }

    /// `POST /v1/jobs` with any body and content type.
    pub async fn post_job_raw(
        &self,
        body: impl Into<reqwest::Body>,
        content_type: &str,
    ) -> Response {
        self.client
            .post(self.url("/v1/jobs"))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("the request is answered")
    }

    /// Stores a job of another tenant, straight through the store.
    pub async fn submit_for_other_tenant(&self, job_type: &str) -> String {
        let request = JobRequest {
            job_type: Some(job_type.to_owned()),
            ..JobRequest::default()
        };
        let tenant = TenantId::parse("someone-else").unwrap();
        let new = NewJob::parse(tenant, request, None, &JobLimits::default()).unwrap();
        self.store.create(new).await.unwrap().job.id.to_string()
    }

    /// Submits a job of `job_type` and returns its resource.
    pub async fn submit(&self, job_type: &str) -> Value {
        let response = self.post_job(&json!({"type": job_type})).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        response.json().await.unwrap()
    }

    /// `GET /v1/jobs/{id}`.
    pub async fn get_job(&self, id: &str) -> Response {
        self.poll_job(id, "", None).await
    }

    /// `GET /v1/jobs/{id}?{query}` with an optional `If-None-Match`.
    /// Starts a long poll of the job (`?wait=<wait_s>`, `If-None-Match: "<seq>"`) in a task
    /// and returns once the server holds it waiting.
    pub async fn waiting_poll(
        &self,
        id: &str,
        wait_s: u64,
        seq: u64,
    ) -> tokio::task::JoinHandle<reqwest::Result<Response>> {
        let request = self
            .client
            .get(self.url(&format!("/v1/jobs/{id}?wait={wait_s}")))
            .header("If-None-Match", format!("\"{seq}\""));
        let poll = tokio::spawn(request.send());
        self.wait_for_long_polls(1).await;
        poll
    }

    /// Waits until the server counts `n` long polls (or claims) waiting.
    pub async fn wait_for_long_polls(&self, n: usize) {
        http_jobs::wait_for_long_polls(&self.client, &self.address, n, Duration::from_secs(10))
            .await;
    }

    pub async fn poll_job(&self, id: &str, query: &str, if_none_match: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(&format!("/v1/jobs/{id}?{query}")));
        if let Some(tag) = if_none_match {
            request = request.header("If-None-Match", tag);
        }
        request.send().await.expect("the request is answered")
    }

    /// `GET /v1/jobs?{query}`.
    pub async fn list_jobs(&self, query: &str) -> Response {
        self.request(Method::GET, &format!("/v1/jobs?{query}"))
            .await
    }

    /// `POST /v1/jobs/{id}/cancel`.
    pub async fn cancel_job(&self, id: &str) -> Response {
        self.request(Method::POST, &format!("/v1/jobs/{id}/cancel"))
            .await
    }

    /// `GET /v1/jobs/{id}/result`.
    pub async fn job_result(&self, id: &str) -> Response {
        self.request(Method::GET, &format!("/v1/jobs/{id}/result"))
            .await
    }

    /// `GET /v1/jobs/{id}/events` with an optional `Last-Event-ID`, as sent (any answer).
    pub async fn job_events(&self, id: &str, last_event_id: Option<&str>) -> Response {
        self.events_request(&format!("/v1/jobs/{id}/events"), last_event_id)
            .await
    }

    /// `GET /v1/jobs/{id}/events`, checked to be a stream.
    pub async fn job_stream(&self, id: &str, last_event_id: Option<&str>) -> SseStream {
        SseStream::new(self.job_events(id, last_event_id).await)
    }

    /// `GET /v1/events/stream?{query}`, checked to be a stream.
    pub async fn feed_stream(&self, query: &str, last_event_id: Option<&str>) -> SseStream {
        let path = format!("/v1/events/stream?{query}");
        SseStream::new(self.events_request(&path, last_event_id).await)
    }

    /// `GET {path}` as an `EventSource` asks for it.
    pub async fn events_request(&self, path: &str, last_event_id: Option<&str>) -> Response {
        let mut request = self
            .client
            .get(self.url(path))
            .header("Accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        request.send().await.expect("the request is answered")
    }

    /// `GET /v1/events?{query}`.
    pub async fn events_page(&self, query: &str) -> Response {
        self.request(Method::GET, &format!("/v1/events?{query}"))
            .await
    }

    /// `{method} {path}` with a JSON body.
    pub async fn send_json(&self, method: Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .json(body)
            .send()
            .await
            .expect("the request is answered")
    }

    /// `POST /v1/webhooks`.
    pub async fn post_webhook(&self, body: &Value) -> Response {
        self.send_json(Method::POST, "/v1/webhooks", body).await
    }

    /// Creates a subscription to `url` (all events, all job types) and returns the answer.
    pub async fn subscribe(&self, url: &str) -> Value {
        let response = self.post_webhook(&json!({"url": url})).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    /// `GET /v1/webhooks`.
    pub async fn list_webhooks(&self) -> Response {
        self.request(Method::GET, "/v1/webhooks").await
    }

    /// `GET /v1/webhooks/{id}`.
    pub async fn get_webhook(&self, id: &str) -> Response {
        self.request(Method::GET, &format!("/v1/webhooks/{id}"))
            .await
    }

    /// `PATCH /v1/webhooks/{id}`.
    pub async fn patch_webhook(&self, id: &str, body: &Value) -> Response {
        self.send_json(Method::PATCH, &format!("/v1/webhooks/{id}"), body)
            .await
    }

    /// `DELETE /v1/webhooks/{id}`.
    pub async fn delete_webhook(&self, id: &str) -> Response {
        self.request(Method::DELETE, &format!("/v1/webhooks/{id}"))
            .await
    }

    /// `POST /v1/webhooks/{id}/rotate-secret`, with an optional body.
    pub async fn rotate_secret(&self, id: &str, body: Option<&Value>) -> Response {
        let path = format!("/v1/webhooks/{id}/rotate-secret");
        match body {
            Some(body) => self.send_json(Method::POST, &path, body).await,
            None => self.request(Method::POST, &path).await,
        }
    }

    /// `POST /v1/webhooks/{id}/replay`.
    pub async fn replay(&self, id: &str, body: &Value) -> Response {
        self.send_json(Method::POST, &format!("/v1/webhooks/{id}/replay"), body)
            .await
    }

    /// `GET /v1/webhooks/{id}/deliveries?{query}`.
    pub async fn deliveries(&self, id: &str, query: &str) -> Response {
        self.request(
            Method::GET,
            &format!("/v1/webhooks/{id}/deliveries?{query}"),
        )
        .await
    }

    /// `GET /v1/deliveries/{id}`.
    pub async fn get_delivery(&self, id: &str) -> Response {
        self.request(Method::GET, &format!("/v1/deliveries/{id}"))
            .await
    }

    /// `POST /v1/deliveries/{id}/retry`.
    pub async fn retry_delivery(&self, id: &str) -> Response {
        self.request(Method::POST, &format!("/v1/deliveries/{id}/retry"))
            .await
    }

    /// Stores a subscription of another tenant, straight through the store.
    pub async fn subscribe_for_other_tenant(&self, url: &str) -> String {
        let request = SubscriptionRequest {
            url: Some(url.to_owned()),
            ..SubscriptionRequest::default()
        };
        let tenant = TenantId::parse("someone-else").unwrap();
        let sub = Subscription::create(tenant, request, chrono::Utc::now()).unwrap();
        assert!(self.store.put_subscription(&sub, None).await.unwrap());
        sub.id.to_string()
    }

    /// `POST /v1/workers/claim`.
    pub async fn worker_claim(&self, body: &Value) -> Response {
        self.send_json(Method::POST, "/v1/workers/claim", body)
            .await
    }

    /// `POST /v1/workers/jobs/{id}/{action}` (`heartbeat`, `complete`, `fail`, `release`).
    pub async fn worker_call(&self, id: &str, action: &str, body: &Value) -> Response {
        let path = format!("/v1/workers/jobs/{id}/{action}");
        self.send_json(Method::POST, &path, body).await
    }

    /// Plays a worker running the oldest pending job of `job_type` to completion.
    pub async fn run_to_completion(&self, job_type: &str) {
        let lease = self.claim(job_type).await;
        self.complete(lease, None).await;
    }

    /// The value of the metric line starting with `series` (name and labels), if any.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|value| value.trim().parse().unwrap())
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> String {
        let response = self.request(Method::GET, "/metrics").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    /// Plays a worker taking the oldest pending job of `job_type`.
    pub async fn claim(&self, job_type: &str) -> Lease {
        self.claim_with_payload(job_type).await.lease
    }

    /// Plays a worker taking the oldest pending job of `job_type`, with its payload.
    pub async fn claim_with_payload(&self, job_type: &str) -> Claimed {
        let types = [JobType::parse(job_type).unwrap()];
        let mut claimed = self
            .store
            .claim(&self.worker, &types, 1, Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1, "a pending {job_type} job to claim");
        claimed.remove(0)
    }

    /// Plays a worker reporting progress.
    pub async fn progress(&self, lease: &mut Lease, percent: u8) {
        let progress = Progress::new(percent, Some(format!("{percent}% done")));
        self.store.progress(lease, progress).await.unwrap();
    }

    /// Plays a worker reporting progress `percent` times in a row (1 % … `percent` %).
    pub async fn progress_to(&self, lease: &mut Lease, percent: u8) {
        for p in 1..=percent {
            self.progress(lease, p).await;
        }
    }

    /// Plays a worker failing its job for good.
    pub async fn fail(&self, lease: Lease, message: &str) {
        let error = JobError::new(ErrorCode::HandlerError, message);
        self.store.fail(lease, error, None).await.unwrap();
    }

    /// Plays a worker completing its job.
    pub async fn complete(&self, lease: Lease, output: Option<JobOutput>) {
        self.store.complete(lease, output).await.unwrap();
    }
}

/// Checks `response` is an RFC 9457 problem with `status` and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/problem+json",
        "problems are application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    assert!(
        body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://herald.dev/problems/"),
        "{body}"
    );
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["status"], status.as_u16(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// The `field`s of a problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("an errors list")
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

/// `(job id, event type)` pairs, as the feed tests summarise what they read.
pub fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(job, kind)| ((*job).to_owned(), (*kind).to_owned()))
        .collect()
}
