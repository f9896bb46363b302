//! The API's Prometheus metrics: requests by method, route pattern and status with their
//! latency (recorded by [`crate::http::telemetry`]), the gauges and counters of the event
//! streams and of the hub that feeds them; and the exposition of a whole registry in the
//! format the scraper asks for ([`Exposition`]).
//!
//! The series a request lands in are resolved once per route, method and status
//! ([`RequestSeries`]) and the jobs-accepted counter once per type: at full load, building
//! the owned label strings and hashing them into the families on every request cost a share
//! of `POST /v1/jobs` (docs/benchmarks.md).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, PoisonError, RwLock};

use herald_core::SourceId;
use herald_core::inbound::Outcome;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

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

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct InboundLabels {
    source: String,
    outcome: &'static str,
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

/// The counter and histogram one answer is recorded in: those of its method, route pattern and
/// status.
#[derive(Debug, Clone)]
struct Series {
    method: Box<str>,
    status: u16,
    requests: Counter,
    latency: Histogram,
}

impl Series {
    fn is(&self, method: &str, status: u16) -> bool {
        self.status == status && *self.method == *method
    }
}

/// The request series resolved so far, by route pattern. Bounded like the families' label
/// sets: route patterns, methods and statuses are few.
type RequestSeries = HashMap<Box<str>, Vec<Series>>;

/// The API's metrics. Cheap to clone: clones share their values.
#[derive(Debug, Clone)]
pub struct ApiMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    request_series: Arc<RwLock<RequestSeries>>,
    jobs_accepted: Family<JobTypeLabels, Counter>,
    /// The counters of `jobs_accepted` resolved so far, by job type (the install's few).
    accepted_by_type: Arc<RwLock<HashMap<Box<str>, Counter>>>,
    long_polls_waiting: Gauge,
    streams_open: Family<StreamLabels, Gauge>,
    stream_events_sent: Family<StreamLabels, Counter>,
    streams_lagged: Family<StreamLabels, Counter>,
    hub_subscribers: Family<HubLabels, Gauge>,
    inbound_requests: Family<InboundLabels, Counter>,
    /// The counters of `inbound_requests` resolved so far, by source and outcome; bounded by
    /// the sources a process meets (it starts over past [`MAX_SOURCE_SERIES`]).
    inbound_by_source: Arc<RwLock<HashMap<(SourceId, &'static str), Counter>>>,
}

/// How many source and outcome pairs keep their resolved counter.
const MAX_SOURCE_SERIES: usize = 30_000;

impl ApiMetrics {
    /// Creates the API's metrics and registers them in `registry` (the binary's registry carries
    /// the `herald_` prefix).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            request_series: Arc::default(),
            jobs_accepted: Family::default(),
            accepted_by_type: Arc::default(),
            long_polls_waiting: Gauge::default(),
            streams_open: Family::default(),
            stream_events_sent: Family::default(),
            streams_lagged: Family::default(),
            hub_subscribers: Family::default(),
            inbound_requests: Family::default(),
            inbound_by_source: Arc::default(),
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
            "inbound_requests",
            "Requests received by inbound sources (POST /in/{token}), by source id and outcome \
             (accepted, duplicate, rejected)",
            metrics.inbound_requests.clone(),
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

    /// The count of events written to streams of `kind`, for a stream to hold: counting is then
    /// one atomic add, without looking the label up for every event.
    pub fn stream_events_sent(&self, kind: StreamKind) -> Counter {
        self.stream_events_sent
            .get_or_create(&StreamLabels { kind })
            .clone()
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

    /// Counts a request received by inbound source `source` with `outcome`.
    pub(crate) fn inbound_request(&self, source: SourceId, outcome: &'static str) {
        let key = (source, outcome);
        if let Some(counter) = self
            .inbound_by_source
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            counter.inc();
            return;
        }
        let counter = self
            .inbound_requests
            .get_or_create(&InboundLabels {
                source: source.to_string(),
                outcome,
            })
            .clone();
        counter.inc();
        let mut resolved = self
            .inbound_by_source
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if resolved.len() >= MAX_SOURCE_SERIES {
            resolved.clear();
        }
        resolved.insert(key, counter);
    }

    /// Drops the series of a deleted source, so that sources coming and going do not grow
    /// the exposition.
    pub(crate) fn forget_source(&self, source: SourceId) {
        let mut resolved = self
            .inbound_by_source
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for outcome in Outcome::ALL.map(Outcome::as_str) {
            resolved.remove(&(source, outcome));
            self.inbound_requests.remove(&InboundLabels {
                source: source.to_string(),
                outcome,
            });
        }
    }

    /// Counts a job accepted for the first time.
    pub fn job_accepted(&self, job_type: &str) {
        if let Some(counter) = self
            .accepted_by_type
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(job_type)
        {
            counter.inc();
            return;
        }
        let counter = self
            .jobs_accepted
            .get_or_create(&JobTypeLabels {
                job_type: job_type.to_owned(),
            })
            .clone();
        counter.inc();
        self.accepted_by_type
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job_type.into(), counter);
    }

    /// Counts a long poll as waiting until the returned guard is dropped.
    pub fn long_poll_waiting(&self) -> WaitingGuard {
        self.long_polls_waiting.inc();
        WaitingGuard(self.long_polls_waiting.clone())
    }

    pub(crate) fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let record = |series: &Series| {
            series.latency.observe(seconds);
            series.requests.inc();
        };
        let resolved = self
            .request_series
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = resolved
            .get(route)
            .and_then(|known| known.iter().find(|s| s.is(method, status)))
        {
            record(series);
            return;
        }
        drop(resolved);
        record(&self.resolve_series(method, route, status));
    }

    /// The series of `method`, `route` and `status`, from the families, remembered for the
    /// next answer like it.
    fn resolve_series(&self, method: &str, route: &str, status: u16) -> Series {
        let latency = self
            .latency
            .get_or_create(&RouteLabels {
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .clone();
        let requests = self
            .requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .clone();
        let series = Series {
            method: method.into(),
            status,
            requests,
            latency,
        };
        let mut resolved = self
            .request_series
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let known = resolved.entry(route.into()).or_default();
        // Another thread may have resolved it meanwhile: both share the families' values.
        if !known.iter().any(|s| s.is(method, status)) {
            known.push(series.clone());
        }
        series
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

/// How many subscriptions the hub holds right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubCounts {
    /// Jobs with at least one subscriber.
    pub jobs: usize,
    /// Tenants with at least one subscriber.
    pub tenants: usize,
    /// Subscriptions to a job.
    pub job_subscribers: usize,
    /// Subscriptions to a tenant.
    pub tenant_subscribers: usize,
}

/// How a registry is written out for a scraper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0 text, what `prometheus_client` writes: the default.
    OpenMetrics,
    /// The Prometheus text format 0.0.4, for scrapers that ask for `text/plain`.
    PrometheusText,
}

impl Exposition {
    /// The format a scraper asks for in its `Accept` header: the Prometheus text format when
    /// it ranks `text/plain` (or `text/*`) above every OpenMetrics type, OpenMetrics otherwise
    /// (no header, `*/*`, OpenMetrics first, or nothing either format answers).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let mut best: Option<(f32, Self)> = None;
        for range in accept.unwrap_or_default().split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|param| param.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, q)| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                "application/openmetrics-text" | "application/*" | "*/*" => Self::OpenMetrics,
                "text/plain" | "text/*" => Self::PrometheusText,
                _ => continue,
            };
            // The first of equal rank wins: the scraper listed it first.
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, format));
            }
        }
        best.map_or(Self::OpenMetrics, |(_, format)| format)
    }

    /// The `Content-Type` of the answer.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Self::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Writes out every metric of `registry`.
    ///
    /// # Errors
    /// When a metric cannot be encoded.
    pub fn encode(self, registry: &Registry) -> Result<String, std::fmt::Error> {
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, registry)?;
        Ok(match self {
            Self::OpenMetrics => body,
            Self::PrometheusText => to_prometheus_text(&body),
        })
    }
}

/// The same samples in the Prometheus text format: a counter's `# HELP` and `# TYPE` name its
/// samples (`…_total`), `unknown` is `untyped`, and the `# UNIT` and `# EOF` lines, which that
/// format does not have, go.
fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            let rest = if prefix == "# TYPE " && rest == "unknown" {
                "untyped"
            } else {
                rest
            };
            let name = if counters.contains(name) {
                format!("{name}_total")
            } else {
                name.to_owned()
            };
            Some(format!("{prefix}{name} {rest}"))
        });
        match descriptor {
            Some(line) => text.push_str(&line),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrapers_get_the_prometheus_text_format_only_when_they_prefer_it() {
        use Exposition::{OpenMetrics, PrometheusText};
        assert_eq!(Exposition::negotiate(None), OpenMetrics);
        assert_eq!(Exposition::negotiate(Some("*/*")), OpenMetrics);
        assert_eq!(Exposition::negotiate(Some("text/plain")), PrometheusText);
        assert_eq!(
            Exposition::negotiate(Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")),
            PrometheusText
        );
        // What Prometheus sends by default: OpenMetrics first.
        assert_eq!(
            Exposition::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                 version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            OpenMetrics
        );
        // Prometheus told to scrape the classic format.
        assert_eq!(
            Exposition::negotiate(Some("text/plain;version=0.0.4;q=0.9,*/*;q=0.1")),
            PrometheusText
        );
        assert_eq!(
            Exposition::negotiate(Some("text/plain;q=0, application/json")),
            OpenMetrics
        );
    }

    #[test]
    fn requests_land_in_the_series_of_their_method_route_and_status() {
        let mut registry = Registry::with_prefix("herald");
        let metrics = ApiMetrics::register(&mut registry);
        for _ in 0..3 {
            metrics.observe_request("POST", "/v1/jobs", 202, 0.0005);
        }
        metrics.observe_request("POST", "/v1/jobs", 422, 0.0005);
        metrics.observe_request("GET", "/v1/jobs", 200, 0.0005);
        metrics.job_accepted("demo.sleep");
        metrics.job_accepted("demo.sleep");
        let text = Exposition::OpenMetrics.encode(&registry).unwrap();
        for sample in [
            r#"herald_http_requests_total{method="POST",route="/v1/jobs",status="202"} 3"#,
            r#"herald_http_requests_total{method="POST",route="/v1/jobs",status="422"} 1"#,
            r#"herald_http_requests_total{method="GET",route="/v1/jobs",status="200"} 1"#,
            r#"herald_http_request_duration_seconds_count{method="POST",route="/v1/jobs"} 4"#,
            r#"herald_http_request_duration_seconds_count{method="GET",route="/v1/jobs"} 1"#,
            r#"herald_jobs_accepted_total{job_type="demo.sleep"} 2"#,
        ] {
            assert!(text.contains(&format!("{sample}\n")), "{sample} in {text}");
        }
    }

    #[test]
    fn the_prometheus_text_names_counters_by_their_samples_and_has_no_eof() {
        let mut registry = Registry::with_prefix("herald");
        let metrics = ApiMetrics::register(&mut registry);
        metrics.job_accepted("demo.sleep");
        let open = Exposition::OpenMetrics.encode(&registry).unwrap();
        assert!(
            open.contains("# TYPE herald_jobs_accepted counter\n"),
            "{open}"
        );
        assert!(open.ends_with("# EOF\n"));
        let text = Exposition::PrometheusText.encode(&registry).unwrap();
        assert!(
            text.contains("# TYPE herald_jobs_accepted_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP herald_jobs_accepted_total "),
            "{text}"
        );
        assert!(
            text.contains("herald_jobs_accepted_total{job_type=\"demo.sleep\"} 1\n"),
            "{text}"
        );
        assert!(
            !text.contains("# EOF") && !text.contains("# UNIT"),
            "{text}"
        );
        // Every sample line is the same in both formats.
        let samples = |body: &str| -> Vec<String> {
            body.lines()
                .filter(|line| !line.starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(samples(&open), samples(&text));
    }
}
