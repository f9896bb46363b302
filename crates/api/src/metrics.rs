//! The API's Prometheus metrics and the middleware that records every request: a counter by
//! method, route pattern and status, a latency histogram, and one log line per request (with
//! the cause of any `5xx`, logged here and only here).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::startup::AppState;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct JobTypeLabels {
    job_type: String,
}

/// Latency buckets from 1 ms to about 65 s, so long polls (up to 60 s) land in a bucket too.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The API's metrics. Cheap to clone: clones share their values.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    jobs_accepted: Family<JobTypeLabels, Counter>,
    long_polls_waiting: Gauge,
}

impl ApiMetrics {
    /// Creates the API's metrics and registers them in `registry` (the binary's registry carries
    /// the `herald_` prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            jobs_accepted: Family::default(),
            long_polls_waiting: Gauge::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            metrics.requests.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by method and route pattern",
            Unit::Seconds,
            metrics.latency.clone(),
        );
        registry.register(
            "jobs_accepted",
            "Jobs accepted by POST /v1/jobs (replays not counted), by type",
            metrics.jobs_accepted.clone(),
        );
        registry.register(
            "long_polls_waiting",
            "Long polls waiting for their job to change",
            metrics.long_polls_waiting.clone(),
        );
        metrics
    }

    /// Counts a job accepted for the first time.
    pub fn job_accepted(&self, job_type: &str) {
        self.jobs_accepted
            .get_or_create(&JobTypeLabels {
                job_type: job_type.to_owned(),
            })
            .inc();
    }

    /// Counts a long poll as waiting until the returned guard is dropped.
    pub fn long_poll_waiting(&self) -> WaitingGuard {
        self.long_polls_waiting.inc();
        WaitingGuard(self.long_polls_waiting.clone())
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let (method, route) = (method.to_owned(), route.to_owned());
        self.latency
            .get_or_create(&RouteLabels {
                method: method.clone(),
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// Keeps a long poll counted in `herald_long_polls_waiting`; dropping it stops counting.
#[derive(Debug)]
pub struct WaitingGuard(Gauge);

impl Drop for WaitingGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware: records the request in the metrics and logs it (with the cause of a `5xx`).
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
    let response = next.call(req).await?;
    let elapsed = started.elapsed();

    let request = response.request();
    let method = request.method().as_str();
    let path = request.path();
    let route = request.match_pattern();
    let route = route.as_deref().unwrap_or("unmatched");
    let status = response.status().as_u16();
    if let Some(metrics) = metrics {
        metrics.observe(method, route, status, elapsed.as_secs_f64());
    }
    let millis = elapsed.as_millis();
    match response.response().error() {
        // Only an unexpected failure is an error; a full queue or an unreachable backend
        // (503) is the system working as designed under strain.
        Some(error) if status == 500 => {
            tracing::error!(method, path, status, millis, error = %error, "request failed");
        }
        Some(error) if status > 500 => {
            tracing::warn!(method, path, status, millis, error = %error, "request refused");
        }
        // An access log line per request would cost more than the request at full load:
        // `RUST_LOG=herald_api=debug` turns it on.
        _ => tracing::debug!(method, path, status, millis, "request"),
    }
    Ok(response)
}
