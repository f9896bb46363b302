//! Request telemetry: an id per request (`tracing-actix-web`), echoed to the client as
//! `X-Request-Id` and named by the lines logged about the request, so a report can be matched
//! to the logs; a span per request carrying its method, route pattern and id, which every line
//! logged while serving the request then names; and the middleware that counts every answer
//! in the metrics and logs it (with the cause of any `5xx`, logged here and only here).
//!
//! The span is at `DEBUG` (`RUST_LOG=herald_api=debug` turns it on): recorded at the default
//! level, the logging layer's work for a span on every request took about a quarter of the
//! throughput of `POST /v1/jobs` (docs/benchmarks.md). The lines this middleware logs at
//! `WARN` and `ERROR` name the request id themselves.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage as _, web};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::routes::sources::INGEST_ROUTE;
use crate::state::AppState;

/// The response header naming the request's id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The span of one request: lean (method, route pattern, request id, then the status), and
/// at `DEBUG`, so that it costs nothing unless asked for; its fields are read only then. The
/// route is the pattern (`/v1/jobs/{id}`), never the raw path, and the client address is left
/// out: behind proxies only [`crate::http::address`] knows it.
pub(crate) struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing::debug_span!(
            "request",
            method = %request.method(),
            route = %request.match_pattern().unwrap_or_else(|| "unmatched".to_owned()),
            request_id = request
                .extensions()
                .get::<RequestId>()
                .map(tracing::field::display),
            status = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome {
            span.record("status", response.status().as_u16());
        }
    }
}

/// Middleware: records the request in the metrics and logs it (with the cause of a `5xx`).
///
/// It sits just inside the request span's layer, outside every other, and the layers inside it
/// answer their refusals (a `401`, a `429`, a `431`, a store that failed while a key was
/// looked up) as responses ([`crate::http::error::refuse`]), so every answer is counted and
/// every `5xx` logged here, whichever layer made it.
///
/// The route label is the matched pattern (`/v1/jobs/{id}`), never the raw path, so the label
/// set stays bounded; unmatched paths share the label `unmatched`.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub(crate) async fn telemetry(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let request_id = req.extensions().get::<RequestId>().copied();
    let mut response = next.call(req).await?;
    let elapsed = started.elapsed();
    if let Some(id) = request_id {
        // Written on the stack: the header value is the one copy made of it.
        let mut text = [0; 36];
        let text = id.hyphenated().encode_lower(&mut text);
        if let Ok(value) = HeaderValue::from_str(text) {
            response.headers_mut().insert(X_REQUEST_ID, value);
        }
    }
    let request_id = request_id.as_ref().map(tracing::field::display);

    let request = response.request();
    let method = request.method().as_str();
    let route = request.match_pattern();
    let route = route.as_deref().unwrap_or("unmatched");
    // An ingest token is a credential: the ingest route is logged, never a path that may
    // hold one (a mistyped one too).
    let path = if request.path().starts_with("/in/") {
        INGEST_ROUTE
    } else {
        request.path()
    };
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe_request(method, route, status, elapsed.as_secs_f64());
    }
    let millis = elapsed.as_millis();
    match response.response().error() {
        // Only an unexpected failure is an error; a full queue or an unreachable backend
        // (503) is the system working as designed under strain.
        Some(error) if status == 500 => {
            tracing::error!(method, path, status, millis, request_id, error = %error, "request failed");
        }
        Some(error) if status > 500 => {
            tracing::warn!(method, path, status, millis, request_id, error = %error, "request refused");
        }
        None if status >= 500 => {
            tracing::warn!(method, path, status, millis, request_id, "request refused");
        }
        // An access log line per request would cost more than the request at full load:
        // `RUST_LOG=herald_api=debug` turns it on.
        _ => tracing::debug!(method, path, status, millis, request_id, "request"),
    }
    Ok(response)
}
