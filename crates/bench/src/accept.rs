//! Closed-loop acceptance load: `C` keep-alive connections each send the next `POST` as soon
//! as the previous answer arrives, for a warm-up and then a measured window.
//!
//! Connections are spread over `T` load threads, each with its own current-thread runtime:
//! no work stealing, no cross-thread wake-ups, so the tool uses as little of the shared CPU
//! as the rate allows.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::Full;
use hyper::header::HeaderMap;
use hyper::{Request, StatusCode};
use serde::Serialize;
use tokio::time::{Instant, sleep_until, timeout};

use crate::http::{Conn, Target};
use crate::stats::{self, Summary};

/// No answer within this is counted as an error and the connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The body `accept` submits: a no-op job.
pub const NOOP_JOB: &str = r#"{"type":"demo.sleep","payload":{"seconds":0}}"#;

/// What to load and for how long.
#[derive(Debug, Clone)]
pub struct AcceptSpec {
    pub target: Arc<Target>,
    pub path: String,
    pub body: Bytes,
    /// Headers to add to each request besides `Host`, `Content-Type` and the API key.
    pub headers: Option<HeaderMaker>,
    pub connections: usize,
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
}

/// Sets the extra headers of one request, given the index of the stream it belongs to (here
/// its connection, 0 to `C - 1` across every load thread; an open loop is stream 0) and its
/// number in that stream (from 0): a provider's event id that differs per request, say.
#[derive(Clone)]
pub struct HeaderMaker(Arc<MakeHeaders>);

/// `(headers, stream, number)`: see [`HeaderMaker`].
type MakeHeaders = dyn Fn(&mut HeaderMap, usize, u64) + Send + Sync;

impl HeaderMaker {
    pub fn new(make: impl Fn(&mut HeaderMap, usize, u64) + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }

    /// Adds the headers of request `number` on connection `connection` to `headers`.
    pub fn apply(&self, headers: &mut HeaderMap, connection: usize, number: u64) {
        (self.0)(headers, connection, number);
    }
}

impl fmt::Debug for HeaderMaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeaderMaker")
    }
}

/// The measured window's figures.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptReport {
    pub connections: usize,
    pub seconds: f64,
    /// `202 Accepted` answers completed inside the window.
    pub accepted: u64,
    /// Other answers inside the window, by status.
    pub other_statuses: BTreeMap<u16, u64>,
    /// Answers of any status over the whole run, warm-up included: what the server's own
    /// counters (Redis's `INFO commandstats`) cover.
    pub answered_total: u64,
    /// Failed requests (connection errors, timeouts) over the whole run.
    pub errors: u64,
    /// The first error met, to say what went wrong.
    pub first_error: Option<String>,
    /// Latency of the `202` answers.
    pub latency: Summary,
}

impl AcceptReport {
    /// Accepted jobs per second in the window.
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.accepted as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// Answers other than `202` in the window.
    pub fn non_accepted(&self) -> u64 {
        self.other_statuses.values().sum()
    }
}

/// What one connection saw.
struct ConnStats {
    accepted: u64,
    other_statuses: BTreeMap<u16, u64>,
    answered_total: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Histogram<u64>,
}

/// Runs the load and returns the window's figures.
///
/// # Errors
/// When a load thread cannot start or no connection can be opened at all.
pub async fn run(spec: &AcceptSpec) -> anyhow::Result<AcceptReport> {
    let threads = spec.threads.clamp(1, spec.connections.max(1));
    // Start a little later than now, so every thread has opened its connections first.
    let start = Instant::now() + Duration::from_millis(300);
    let window_start = start + spec.warmup;
    let window_end = window_start + spec.duration;

    let mut waiting = Vec::with_capacity(threads);
    let mut first = 0;
    for index in 0..threads {
        let share = spec.connections / threads + usize::from(index < spec.connections % threads);
        let connections = first..first + share;
        first += share;
        let spec = spec.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("load-{index}"))
            .spawn(move || {
                let outcome = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("failed to build a load runtime")
                    .and_then(|runtime| {
                        runtime.block_on(load_thread(
                            &spec,
                            connections,
                            start,
                            window_start,
                            window_end,
                        ))
                    });
                let _ = done.send(outcome);
            })
            .context("failed to start a load thread")?;
        waiting.push(result);
    }

    let mut latency = stats::histogram()?;
    let mut report = AcceptReport {
        connections: spec.connections,
        seconds: spec.duration.as_secs_f64(),
        accepted: 0,
        other_statuses: BTreeMap::new(),
        answered_total: 0,
        errors: 0,
        first_error: None,
        latency: Summary::default(),
    };
    for result in waiting {
        let per_conn = result.await.context("a load thread died")??;
        for conn in per_conn {
            report.accepted += conn.accepted;
            for (status, count) in conn.other_statuses {
                *report.other_statuses.entry(status).or_default() += count;
            }
            report.answered_total += conn.answered_total;
            report.errors += conn.errors;
            if report.first_error.is_none() {
                report.first_error = conn.first_error;
            }
            stats::merge(&mut latency, &conn.latency)?;
        }
    }
    report.latency = Summary::of(&latency);
    Ok(report)
}

/// The requests one connection sends: the same body and path, headers made per request.
struct Load {
    target: Arc<Target>,
    path: String,
    body: Bytes,
    headers: Option<HeaderMaker>,
    /// The connection's index, for `headers`.
    connection: usize,
}

impl Load {
    fn request(&self, number: u64) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut request = self.target.post_json(&self.path, self.body.clone())?;
        if let Some(headers) = &self.headers {
            headers.apply(request.headers_mut(), self.connection, number);
        }
        Ok(request)
    }
}

async fn load_thread(
    spec: &AcceptSpec,
    connections: std::ops::Range<usize>,
    start: Instant,
    window_start: Instant,
    window_end: Instant,
) -> anyhow::Result<Vec<ConnStats>> {
    let mut tasks = tokio::task::JoinSet::new();
    let count = connections.len();
    for connection in connections {
        let conn = Conn::open(&spec.target).await?;
        let load = Load {
            target: Arc::clone(&spec.target),
            path: spec.path.clone(),
            body: spec.body.clone(),
            headers: spec.headers.clone(),
            connection,
        };
        tasks.spawn(async move {
            sleep_until(start).await;
            drive(conn, &load, window_start, window_end).await
        });
    }
    let mut out = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        out.push(joined.context("a load task panicked")??);
    }
    Ok(out)
}

/// One connection's closed loop: send, wait for the answer, record it if it landed in the
/// window, repeat until the window ends.
async fn drive(
    mut conn: Conn,
    load: &Load,
    window_start: Instant,
    window_end: Instant,
) -> anyhow::Result<ConnStats> {
    let target = load.target.as_ref();
    let mut number = 0;
    let mut stats = ConnStats {
        accepted: 0,
        other_statuses: BTreeMap::new(),
        answered_total: 0,
        errors: 0,
        first_error: None,
        latency: stats::histogram()?,
    };
    loop {
        let sent = Instant::now();
        if sent >= window_end {
            break;
        }
        let request = load.request(number)?;
        number += 1;
        let outcome = timeout(REQUEST_TIMEOUT, conn.send(request)).await;
        let answered = Instant::now();
        let in_window = answered >= window_start && answered <= window_end;
        if matches!(outcome, Ok(Ok(_))) {
            stats.answered_total += 1;
        }
        let failure = match outcome {
            Ok(Ok(reply)) if reply.status == StatusCode::ACCEPTED => {
                if in_window {
                    stats.accepted += 1;
                    stats::record(&mut stats.latency, answered - sent);
                }
                None
            }
            Ok(Ok(reply)) => {
                if in_window {
                    *stats
                        .other_statuses
                        .entry(reply.status.as_u16())
                        .or_default() += 1;
                }
                if stats.first_error.is_none() {
                    let body = String::from_utf8_lossy(&reply.body);
                    stats.first_error = Some(format!("{}: {}", reply.status, truncate(&body)));
                }
                conn.is_closed()
                    .then(|| "the server closed the connection".to_owned())
            }
            Ok(Err(error)) => Some(format!("{error:#}")),
            Err(_) => Some(format!("no answer within {REQUEST_TIMEOUT:?}")),
        };
        if let Some(failure) = failure {
            stats.errors += 1;
            stats.first_error.get_or_insert(failure);
            match reconnect(target, window_end).await {
                Some(fresh) => conn = fresh,
                None => break,
            }
        }
    }
    Ok(stats)
}

/// A fresh connection, retried every 20 ms until `until` (then `None`: the run is over).
async fn reconnect(target: &Target, until: Instant) -> Option<Conn> {
    while Instant::now() < until {
        if let Ok(conn) = Conn::open(target).await {
            return Some(conn);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// The first 200 characters of an answer, for error messages.
pub fn truncate(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
