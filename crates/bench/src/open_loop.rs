//! Open-loop single requests: request *i* is due at `start + i / rate` whatever the server
//! does, and is one `POST` whose answer ends it (no follow-up, unlike [`crate::latency`],
//! which follows each job until it completes).
//!
//! Each answer's latency is counted from the moment the request was *due* (so a server or a
//! tool falling behind shows in the figures: no coordinated omission) and, beside it, from
//! the moment it was handed to the client (which waits for a free connection or opens one).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::StatusCode;
use serde::Serialize;
use tokio::time::{Instant, sleep_until, timeout};

use crate::accept::{HeaderMaker, truncate};
use crate::http::Pool;
use crate::stats::{self, Summary};

/// What to send, at what rate, for how long.
#[derive(Debug, Clone)]
pub struct OpenLoopSpec {
    pub path: String,
    pub body: Bytes,
    /// Headers of request *i*: `apply(headers, 0, i)`.
    pub headers: Option<HeaderMaker>,
    /// The answer that counts as a success.
    pub expect: StatusCode,
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// No answer within this counts as an error.
    pub request_timeout: Duration,
}

/// Figures for the requests due inside the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct OpenLoopReport {
    pub rate: f64,
    pub seconds: f64,
    /// Requests due in the window.
    pub scheduled: u64,
    /// Of those, answered with the expected status.
    pub succeeded: u64,
    /// Other answers, by status.
    pub other_statuses: BTreeMap<u16, u64>,
    /// No answer (connection errors, timeouts).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Due time to the expected answer.
    pub latency: Summary,
    /// Handed to the client to the expected answer.
    pub sent_latency: Summary,
    /// Most a request was handed over after it was due: the tool's own lag.
    pub max_schedule_lag_ms: f64,
    pub connections_opened: usize,
}

impl OpenLoopReport {
    /// Requests due in the window that did not get the expected answer.
    pub fn failed(&self) -> u64 {
        self.other_statuses.values().sum::<u64>() + self.errors
    }
}

/// What became of one request.
enum Outcome {
    Succeeded { due: Duration, sent: Duration },
    Other(u16, String),
    Failed(String),
}

/// Runs the open loop and summarises the window.
///
/// # Errors
/// Only when a histogram cannot be made or a request cannot be built; failed requests are
/// counted, not returned.
pub async fn run(pool: Arc<Pool>, spec: &OpenLoopSpec) -> anyhow::Result<OpenLoopReport> {
    let interval = Duration::from_secs_f64(1.0 / spec.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let window_start = start + spec.warmup;
    let total = ((spec.warmup + spec.duration).as_secs_f64() * spec.rate).round() as u64;

    let mut tally = Tally {
        report: OpenLoopReport {
            rate: spec.rate,
            seconds: spec.duration.as_secs_f64(),
            scheduled: 0,
            succeeded: 0,
            other_statuses: BTreeMap::new(),
            errors: 0,
            first_error: None,
            latency: Summary::default(),
            sent_latency: Summary::default(),
            max_schedule_lag_ms: 0.0,
            connections_opened: 0,
        },
        due: stats::histogram()?,
        sent: stats::histogram()?,
    };
    let mut requests = tokio::task::JoinSet::new();
    let mut max_lag = Duration::ZERO;
    for index in 0..total {
        let due = start + interval.mul_f64(index as f64);
        sleep_until(due).await;
        max_lag = max_lag.max(Instant::now() - due);
        let measured = due >= window_start;
        let mut request = pool.target().post_json(&spec.path, spec.body.clone())?;
        if let Some(headers) = &spec.headers {
            headers.apply(request.headers_mut(), 0, index);
        }
        let (pool, expect, limit) = (Arc::clone(&pool), spec.expect, spec.request_timeout);
        requests.spawn(async move {
            let sent = Instant::now();
            let outcome = match timeout(limit, pool.send(request)).await {
                Ok(Ok(reply)) if reply.status == expect => {
                    let answered = Instant::now();
                    Outcome::Succeeded {
                        due: answered - due,
                        sent: answered - sent,
                    }
                }
                Ok(Ok(reply)) => Outcome::Other(
                    reply.status.as_u16(),
                    format!(
                        "{}: {}",
                        reply.status,
                        truncate(&String::from_utf8_lossy(&reply.body))
                    ),
                ),
                Ok(Err(error)) => Outcome::Failed(format!("{error:#}")),
                Err(_) => Outcome::Failed(format!("no answer within {limit:?}")),
            };
            (measured, outcome)
        });
        // Reap finished requests as we go so the set stays small.
        while let Some(joined) = requests.try_join_next() {
            tally.add(joined.context("a request task panicked")?);
        }
    }
    while let Some(joined) = requests.join_next().await {
        tally.add(joined.context("a request task panicked")?);
    }
    let mut report = tally.report;
    report.latency = Summary::of(&tally.due);
    report.sent_latency = Summary::of(&tally.sent);
    report.max_schedule_lag_ms = max_lag.as_secs_f64() * 1000.0;
    report.connections_opened = pool.opened();
    Ok(report)
}

/// The figures gathered so far.
struct Tally {
    report: OpenLoopReport,
    due: Histogram<u64>,
    sent: Histogram<u64>,
}

impl Tally {
    /// Counts one request; those due in the warm-up (`measured == false`) are not counted.
    fn add(&mut self, (measured, outcome): (bool, Outcome)) {
        if !measured {
            return;
        }
        let report = &mut self.report;
        report.scheduled += 1;
        match outcome {
            Outcome::Succeeded { due, sent } => {
                report.succeeded += 1;
                stats::record(&mut self.due, due);
                stats::record(&mut self.sent, sent);
            }
            Outcome::Other(status, why) => {
                *report.other_statuses.entry(status).or_default() += 1;
                report.first_error.get_or_insert(why);
            }
            Outcome::Failed(why) => {
                report.errors += 1;
                report.first_error.get_or_insert(why);
            }
        }
    }
}
