//! The API's Prometheus metrics and the middleware that records every request: a counter by
//! method, route pattern and status, a latency histogram, and one log line per request (with
//! the cause of any `5xx`, logged here and only here). Also the gauges and counters of the
//! event streams and of the hub that feeds them.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::state::AppState;
use crate::transport::hub::HubCounts;

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

/// The two kinds of event stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamKind {
    /// `GET /v1/jobs/{id}/events`: one job.
    Job,
    /// `GET /v1/events/stream`: many jobs of a tenant.
    Feed,
}

impl StreamKind {
    /// The label value: `job` or `feed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Feed => "feed",
        }
    }
}

impl EncodeLabelValue for StreamKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamLabels {
    kind: StreamKind,
}

/// What a hub subscription is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum HubKey {
    Job,
    Tenant,
}

impl EncodeLabelValue for HubKey {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            Self::Job => "job",
            Self::Tenant => "tenant",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HubLabels {
    key: HubKey,
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
    streams_open: Family<StreamLabels, Gauge>,
    stream_events_sent: Family<StreamLabels, Counter>,
    streams_lagged: Family<StreamLabels, Counter>,
    hub_subscribers: Family<HubLabels, Gauge>,
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
            streams_open: Family::default(),
            stream_events_sent: Family::default(),
            streams_lagged: Family::default(),
            hub_subscribers: Family::default(),
        };
        // Present from the start (at 0), so dashboards and alerts need not wait for a client.
        for kind in [StreamKind::Job, StreamKind::Feed] {
            let labels = StreamLabels { kind };
            metrics.streams_open.get_or_create(&labels).set(0);
            metrics.stream_events_sent.get_or_create(&labels).inc_by(0);
            metrics.streams_lagged.get_or_create(&labels).inc_by(0);
        }
        metrics.set_hub_counts(HubCounts::default());
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
        registry.register(
            "sse_streams_open",
            "Server-Sent Events streams open right now, by kind (job, feed)",
            metrics.streams_open.clone(),
        );
        registry.register(
            "sse_events_sent",
            "Events written to Server-Sent Events streams, by kind",
            metrics.stream_events_sent.clone(),
        );
        registry.register(
            "sse_streams_lagged",
            "Server-Sent Events streams dropped because their client fell behind, by kind",
            metrics.streams_lagged.clone(),
        );
        registry.register(
            "hub_subscribers",
            "Subscriptions held by the hub (streams and long polls), by key (job, tenant)",
            metrics.hub_subscribers.clone(),
        );
        metrics
    }

    /// Counts a stream of `kind` as open until the returned guard is dropped.
    pub fn stream_opened(&self, kind: StreamKind) -> StreamGuard {
        let gauge = self
            .streams_open
            .get_or_create(&StreamLabels { kind })
            .clone();
        gauge.inc();
        StreamGuard(gauge)
    }

    /// Counts an event written to a stream of `kind`.
    pub fn stream_event_sent(&self, kind: StreamKind) {
        self.stream_events_sent
            .get_or_create(&StreamLabels { kind })
            .inc();
    }

    /// Counts a stream of `kind` dropped by the hub because its client fell behind.
    pub(crate) fn stream_lagged(&self, kind: StreamKind) {
        self.streams_lagged
            .get_or_create(&StreamLabels { kind })
            .inc();
    }

    /// Records how many subscriptions the hub holds.
    pub(crate) fn set_hub_counts(&self, counts: HubCounts) {
        let set = |key, n: usize| {
            self.hub_subscribers
                .get_or_create(&HubLabels { key })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        set(HubKey::Job, counts.job_subscribers);
        set(HubKey::Tenant, counts.tenant_subscribers);
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

/// Keeps a stream counted in `herald_sse_streams_open`; dropping it stops counting.
#[derive(Debug)]
pub struct StreamGuard(Gauge);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Middleware: records the request in the metrics and logs it (with the cause of a `5xx`).
///
/// It is the outermost layer, and the layers inside it answer their refusals (a `401`, a
/// `429`, a `431`, a store that failed while a key was looked up) as responses
/// ([`crate::http::error::refuse`]), so every answer is counted and every `5xx` logged here,
/// whichever layer made it.
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
        None if status >= 500 => {
            tracing::warn!(method, path, status, millis, "request refused");
        }
        // An access log line per request would cost more than the request at full load:
        // `RUST_LOG=herald_api=debug` turns it on.
        _ => tracing::debug!(method, path, status, millis, "request"),
    }
    Ok(response)
}
