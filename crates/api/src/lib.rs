//! Herald's HTTP API: submit jobs, poll them (plainly or by long poll), follow them as
//! Server-Sent Events (one job, or many through the tenant's feed), read the feed as JSON pages,
//! cancel jobs, fetch their results, manage webhook subscriptions and their deliveries, serve
//! external workers (claim, heartbeat, complete, fail, release over HTTP), and the health and
//! metrics endpoints. `docs/api.md` is the reference of its wire contract.
//!
//! The crate is a library: the `herald` binary binds the socket, builds [`ApiDeps`] and calls
//! [`server`], handing it the process's shutdown token.
//!
//! # Layout
//! - [`startup`]: [`server`] and `create_app`, which composes every route and middleware;
//!   `state`: the `AppState` every handler shares, built once per server; `tasks`: the
//!   server's background tasks, supervised (one that fails ends the server with an error).
//! - [`routes`]: one module per resource, each with its `configure`; handlers are thin. Each
//!   handler's `#[utoipa::path]` feeds the OpenAPI document served by [`routes::openapi`].
//! - [`http`]: what every request goes through, whatever it asks for: problem+json errors
//!   ([`ApiError`]), extractors, JSON bodies with every bad field named, API keys and browser
//!   read tokens, client addresses, entity tags, abuse limits, CORS, metrics and request
//!   telemetry.
//! - [`transport`]: how a job's changes reach clients that wait for them: polling (plain and
//!   long), Server-Sent Events (one job, or many through the tenant's feed), the per-process
//!   [`Hub`] fanning the store's signals out to them, and the watch on the keys that opened
//!   them ([`transport::revocation`]).
//! - [`external`]: the protocol of external workers (processes outside Herald that claim jobs
//!   over HTTP): its wire types, the calls it serves, the maintenance of their queues, and its
//!   routes.
//! - [`submission`]: a request body becomes a validated `NewJob` (and its webhook's target is
//!   checked).
//! - [`resource`]: the job resource as the API answers it (the job's own webhook status).
//! - [`webhooks`]: subscriptions, their deliveries, retries and replays; their views.

#![forbid(unsafe_code)]

pub mod console;
pub mod external;
pub mod http;
pub mod inbound;
pub mod resource;
pub mod routes;
pub mod startup;
pub(crate) mod state;
pub mod submission;
pub(crate) mod tasks;
pub mod transport;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use herald_core::store::{SharedKeyStore, SharedSourceStore, SharedWebhookStore};
use herald_core::{JobLimits, JobTypes, SharedStore};
use prometheus_client::registry::Registry;

pub use http::address::TrustedProxy;
pub use http::cors::CorsOrigin;
pub use http::error::ApiError;
pub use http::limits::{MAX_JSON_DEPTH, RateLimit};
pub use http::metrics::ApiMetrics;
pub use http::token::{MAX_TOKEN_TTL, ReadTokens, TokenSecret};
pub use startup::{Serving, operations_server, server};
pub use transport::hub::Hub;

/// What the API accepts.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Bounds applied to every submission.
    pub limits: JobLimits,
    /// The job types the install serves, with their limits and defaults; a submission of any
    /// other type is refused. Empty by default: the binary fills it from its configuration.
    pub job_types: JobTypes,
    /// The largest request body accepted, in bytes (larger answer `413`).
    pub max_body_bytes: usize,
    /// The longest long poll (`?wait=`) a client may ask for.
    pub max_wait: Duration,
    /// How long a graceful stop waits for requests in flight (long polls answer and event
    /// streams end at once).
    pub shutdown_timeout: Duration,
    /// The longest silence on an event stream, which keeps proxies from cutting the stream: a
    /// comment comes after four fifths of it ([`transport::sse::heartbeat_interval`]). At most
    /// [`MAX_SSE_HEARTBEAT`]. (A client that closes its connection is noticed at once, not at
    /// the next heartbeat.)
    pub sse_heartbeat: Duration,
    /// How long an `EventSource` should wait before reconnecting (the stream's first `retry:`).
    pub sse_retry: Duration,
    /// How many notices a stream or long poll may hold unread before the hub drops it as
    /// lagging (its stream ends; the client resumes with `Last-Event-ID`).
    pub subscriber_buffer: usize,
    /// Browser origins allowed to call the API (CORS); none by default.
    pub cors_origins: Vec<CorsOrigin>,
    /// Accept webhook targets in private, loopback and link-local ranges
    /// (`--webhook-allow-private-targets`, for development and tests). Off by default: such
    /// targets are refused at registration with a `422`.
    pub allow_private_targets: bool,
    /// How many worker claims (`POST /v1/workers/claim`) may be in progress at once in this
    /// process; beyond, a claim answers `503` with `Retry-After`. On Redis each waiting claim
    /// holds a connection of its own for its blocking read.
    pub max_worker_claims: usize,
    /// How often this process maintains the queues of external workers: reclaims the jobs of
    /// workers that stopped heartbeating and moves due retries back into their queues.
    pub external_maintenance_interval: Duration,
    /// Whether every `/v1` request needs an API key (production mode). Off (development
    /// mode), a request without a key is let in as the default tenant while the store holds
    /// no key at all; once one exists, keys are needed all the same. See [`http::auth`].
    pub require_keys: bool,
    /// The secrets and lifetime of browser read tokens (see [`http::token`]). By default a random
    /// secret of this process: tokens then work on this process only.
    pub tokens: ReadTokens,
    /// How fast one caller (an API key; a tenant for read tokens and open installs) may send
    /// `/v1` requests to this process; faster answers `429` (see [`http::limits`]).
    pub rate_limit: RateLimit,
    /// How fast requests that fail authentication (no key where one is needed; a malformed,
    /// unknown or revoked key; a bad read token) may come from one client address to this
    /// process; beyond, they answer `429` instead of `401` (see [`http::limits`]).
    pub auth_failure_rate_limit: RateLimit,
    /// The reverse proxies whose `X-Forwarded-For` names the client address (see
    /// [`http::address`]); none by default: the client is the TCP peer.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// How many event streams one caller may hold open on this process at once (`0`: no
    /// limit); beyond, `429`.
    pub max_streams_per_key: usize,
    /// How many long polls (`?wait=`) one caller may hold waiting on this process at once
    /// (`0`: no limit); beyond, `429`.
    pub max_waiters_per_key: usize,
    /// How deep arrays and objects may nest in a JSON body; deeper answers `422`. At most
    /// [`MAX_JSON_DEPTH`].
    pub max_json_depth: usize,
    /// How many bytes a request's header fields (names and values) may add up to; more
    /// answers `431`. actix-web itself refuses a request head over 128 KiB.
    pub max_header_bytes: usize,
    /// How long a client has to send a request's head once connected (slow clients are cut).
    pub client_request_timeout: Duration,
    /// How long a closing connection may take to shut down before it is dropped.
    pub client_disconnect_timeout: Duration,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Duration,
    /// Whether the api serves the web console at `/console` ([`console`]).
    pub console: bool,
}

/// The longest heartbeat interval allowed: the contract promises a comment at least every 15 s.
pub const MAX_SSE_HEARTBEAT: Duration = Duration::from_secs(15);

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            limits: JobLimits::default(),
            job_types: JobTypes::new(),
            max_body_bytes: 1024 * 1024,
            max_wait: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            sse_heartbeat: MAX_SSE_HEARTBEAT,
            sse_retry: Duration::from_secs(3),
            subscriber_buffer: transport::hub::DEFAULT_SUBSCRIBER_BUFFER,
            cors_origins: Vec::new(),
            allow_private_targets: false,
            max_worker_claims: external::DEFAULT_MAX_CLAIMS,
            external_maintenance_interval: Duration::from_secs(1),
            require_keys: false,
            tokens: ReadTokens::default(),
            rate_limit: RateLimit::default(),
            auth_failure_rate_limit: RateLimit::AUTH_FAILURES,
            trusted_proxies: Vec::new(),
            max_streams_per_key: 100,
            max_waiters_per_key: 100,
            max_json_depth: 64,
            max_header_bytes: 32 * 1024,
            client_request_timeout: Duration::from_secs(5),
            client_disconnect_timeout: Duration::from_secs(1),
            keep_alive: Duration::from_secs(5),
            console: true,
        }
    }
}

/// Everything the API needs from the process that runs it.
///
/// ```no_run
/// # use std::sync::Arc;
/// # fn build(
/// #     store: herald_core::SharedStore,
/// #     webhooks: herald_core::store::SharedWebhookStore,
/// #     keys: herald_core::store::SharedKeyStore,
/// #     sources: herald_core::store::SharedSourceStore,
/// # ) -> herald_api::ApiDeps {
/// use prometheus_client::registry::Registry;
///
/// let mut registry = Registry::default();
/// let metrics = herald_api::ApiMetrics::register(&mut registry);
/// // … other roles register their metrics here, then the registry is frozen:
/// herald_api::ApiDeps {
///     store,
///     webhooks,
///     keys,
///     sources,
///     config: herald_api::ApiConfig::default(),
///     registry: Arc::new(registry),
///     metrics,
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct ApiDeps {
    pub store: SharedStore,
    /// Webhook subscriptions and deliveries; the same backend as `store` (one `MemoryStore`
    /// or `RedisStore` cast to both traits).
    pub webhooks: SharedWebhookStore,
    /// The API keys requests authenticate with; the same backend again.
    pub keys: SharedKeyStore,
    /// Inbound sources and their request logs; the same backend again.
    pub sources: SharedSourceStore,
    pub config: ApiConfig,
    /// The process's registry, served at `/metrics`.
    pub registry: Arc<Registry>,
    /// The API's own metrics, registered in `registry` by [`ApiMetrics::register`].
    pub metrics: ApiMetrics,
}
