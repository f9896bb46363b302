//! Building the app and running the server: [`server`] for the binary, `create_app` composing
//! every route, extractor configuration and middleware.

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use herald_core::SharedStore;
use herald_core::store::SharedKeyStore;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;
use utoipa::OpenApi as _;
use utoipa_actix_web::AppExt as _;

use crate::external::{self, ExternalWorkers, maintain_until};
use crate::http::error::{json_error, query_error, route_not_found};
use crate::http::limits::{self, FailureLimiter, KeysExist, RateLimiter, Slots, UnknownKeys};
use crate::http::telemetry::{RequestSpan, telemetry};
use crate::http::{auth, cors};
use crate::inbound::cache::SourceCache;
use crate::routes::openapi::{ApiDoc, Document};
use crate::state::AppState;
use crate::tasks::Tasks;
use crate::transport::hub::Hub;
use crate::transport::sse::heartbeat_interval;
use crate::{ApiDeps, routes};

/// Which routes a server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Surface {
    /// The whole API.
    Api,
    /// Only `/healthz`, `/readyz` and `/metrics`: for processes without the api role.
    Operations,
}

/// Serves the API on `listener` until `shutdown` is cancelled, then stops gracefully: requests
/// in flight get up to `config.shutdown_timeout`, long polls answer and event streams end at
/// once. Starts the process's [`Hub`] too, tied to the same token, and — when the catalog has
/// types run by external workers — the maintenance of their queues (leases of workers gone
/// silent reclaimed, due retries queued; see [`crate::external`]), all supervised: the
/// returned [`Serving`] fails if one of them panics or stops early. Leaves signal handling to
/// the caller. The returned server must be awaited (or spawned) to run; call this within a
/// Tokio runtime.
///
/// # Errors
/// When the listener cannot be used (for instance, it is not listening).
pub fn server(
    listener: TcpListener,
    deps: ApiDeps,
    shutdown: CancellationToken,
) -> std::io::Result<Serving> {
    serve(listener, deps, shutdown, Surface::Api)
}

/// Serves only the operations endpoints (`/healthz`, `/readyz`, `/metrics`), for a process
/// that runs other roles than the api: orchestrators probe it and Prometheus scrapes it like
/// any other. Stops like [`server`].
///
/// # Errors
/// When the listener cannot be used.
pub fn operations_server(
    listener: TcpListener,
    deps: ApiDeps,
    shutdown: CancellationToken,
) -> std::io::Result<Serving> {
    serve(listener, deps, shutdown, Surface::Operations)
}

fn serve(
    listener: TcpListener,
    deps: ApiDeps,
    shutdown: CancellationToken,
    surface: Surface,
) -> std::io::Result<Serving> {
    let mut tasks = Tasks::new(shutdown.clone());
    let hub = Hub::start(
        &deps.store,
        SharedKeyStore::clone(&deps.keys),
        deps.config.subscriber_buffer,
        heartbeat_interval(deps.config.sse_heartbeat),
        deps.metrics.clone(),
        &mut tasks,
        shutdown.clone(),
    );
    let shutdown_timeout = deps.config.shutdown_timeout.as_secs();
    let external = ExternalWorkers::new(deps.config.max_worker_claims, shutdown.clone());
    if surface == Surface::Api && !deps.config.job_types.external().is_empty() {
        let maintenance = maintain_until(
            SharedStore::clone(&deps.store),
            external.id().clone(),
            deps.config.external_maintenance_interval,
            shutdown.clone(),
        );
        tasks.spawn("maintenance of the external workers' queues", maintenance);
    }
    let rate_limiter = RateLimiter::new(deps.config.rate_limit);
    let auth_failures = FailureLimiter::new(deps.config.auth_failure_rate_limit);
    let streams = Slots::new("event streams", deps.config.max_streams_per_key);
    let waiters = Slots::new("long polls", deps.config.max_waiters_per_key);
    let client_request_timeout = deps.config.client_request_timeout;
    let client_disconnect_timeout = deps.config.client_disconnect_timeout;
    let keep_alive = deps.config.keep_alive;
    let state = web::Data::new(AppState {
        store: deps.store,
        webhooks: deps.webhooks,
        keys: deps.keys,
        sources: deps.sources,
        source_cache: SourceCache::default(),
        config: deps.config,
        hub,
        metrics: deps.metrics,
        registry: deps.registry,
        external,
        rate_limiter,
        auth_failures,
        unknown_keys: UnknownKeys::default(),
        keys_exist: KeysExist::default(),
        streams,
        waiters,
    });
    let server = HttpServer::new(move || create_app(state.clone(), surface))
        // A peer that closes its side of the connection is gone: actix then drops the
        // connection and the answer in progress at once, so an event stream (its slot, its
        // gauge, its hub subscription) or a long poll ends when its client leaves, not when a
        // later heartbeat fails to write. Only a client that shuts down its sending side and
        // still expects an answer would lose it, and HTTP/1.1 clients (browsers, EventSource,
        // curl, proxies) do not do that.
        .h1_allow_half_closed(false)
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(shutdown_timeout)
        .client_request_timeout(client_request_timeout)
        .client_disconnect_timeout(client_disconnect_timeout)
        .keep_alive(keep_alive)
        .run();
    let handle = server.handle();
    tasks.spawn("stop on shutdown", async move {
        shutdown.cancelled().await;
        handle.stop(true).await;
    });
    Ok(Serving::new(server, tasks))
}

/// A running server and its background tasks: awaiting it runs the server until it stops
/// (after shutdown), or until a background task fails (see the `tasks` module), whichever first.
#[must_use = "a server does nothing unless awaited or spawned"]
pub struct Serving(Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>);

impl Serving {
    fn new(server: Server, mut tasks: Tasks) -> Self {
        Self(Box::pin(async move {
            tokio::select! {
                stopped = server => stopped,
                failure = tasks.failure() => Err(failure),
            }
        }))
    }
}

impl Future for Serving {
    type Output = std::io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// The app: every resource's routes (each documented in the OpenAPI document as it is
/// registered), extractor error handlers that answer problem+json, API key authentication of
/// `/v1` ([`auth`]), the per-caller limits ([`limits`]), CORS for the configured browser
/// origins, the telemetry middleware (outside all of them, so it sees preflights too) inside
/// the request span and id, and a problem+json `404` for unknown routes.
pub(crate) fn create_app(
    state: web::Data<AppState>,
    surface: Surface,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let json = web::JsonConfig::default()
        .limit(state.config.max_body_bytes)
        .error_handler(json_error);
    let cors = cors::middleware(&state.config.cors_origins);
    // A completion carries a job's result, which may be larger than other bodies: as large as
    // the store accepts, base64-encoded, with room for the rest of the body.
    let max_complete_bytes = state
        .config
        .max_body_bytes
        .max(state.store.config().max_result_bytes / 3 * 4 + 64 * 1024);
    let (app, operations) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(|cfg| {
            if surface == Surface::Api {
                routes::jobs::configure(cfg);
                routes::events::configure(cfg);
                routes::webhooks::configure(cfg);
                routes::sources::configure(cfg);
                external::routes::configure(cfg, max_complete_bytes);
                routes::admin::configure(cfg);
                routes::openapi::configure(cfg);
            }
        })
        .configure(routes::health::configure)
        .split_for_parts();
    // The console's pages are not API operations: they stay out of the OpenAPI document.
    let console = surface == Surface::Api && state.config.console;
    let app = app.configure(|cfg| {
        if console {
            crate::console::configure(cfg);
        }
    });
    app.app_data(state)
        .app_data(Document::new(operations))
        .app_data(json)
        .app_data(web::QueryConfig::default().error_handler(query_error))
        // Inside authentication, so they know the caller: the rate limit counts each request
        // against its caller's bucket; the depth limit guards every JSON body.
        .wrap(from_fn(limits::limit_json_depth))
        .wrap(from_fn(limits::rate_limit))
        .wrap(from_fn(auth::authenticate))
        // Before anything reads the headers, keys included.
        .wrap(from_fn(limits::limit_header_bytes))
        // Outside authentication: CORS answers preflights before any key is asked for, and
        // adds its headers to a `401` so a browser can read it.
        .wrap(cors)
        .wrap(from_fn(cors::refusals_as_problems))
        .wrap(from_fn(telemetry))
        // Outermost: the request's span and id exist before anything else runs.
        .wrap(TracingLogger::<RequestSpan>::new())
        .default_service(web::to(route_not_found))
}
