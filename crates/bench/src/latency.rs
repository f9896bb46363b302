//! Submit-to-completed latency, open loop: jobs are submitted at a fixed rate whatever the
//! server does, and each one is followed by long polls (`GET /v1/jobs/{id}?wait=N` with
//! `If-None-Match: "<seq>"`) until it is terminal.
//!
//! Latency runs from the moment a job was *scheduled* to be submitted, not from when the
//! tool got round to it, so a server (or a tool) that falls behind shows in the figures
//! instead of quietly lowering the rate (no coordinated omission).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use hyper::StatusCode;
use serde::Serialize;
use tokio::time::{Instant, sleep_until, timeout};

use crate::accept::truncate;
use crate::http::Pool;
use crate::stats::{self, Summary};
use crate::wire::JobBrief;

/// What rate, for how long, and how long one job may take before it counts as stuck.
#[derive(Debug, Clone)]
pub struct LatencySpec {
    pub body: Bytes,
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// The `wait` of each long poll, in seconds.
    pub wait_seconds: u32,
    /// One job's deadline, from submission to terminal state.
    pub job_deadline: Duration,
}

/// Figures for the jobs scheduled inside the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyReport {
    pub rate: f64,
    pub seconds: f64,
    pub scheduled: u64,
    pub completed: u64,
    /// Terminal, but not `completed`.
    pub not_completed: u64,
    /// Not terminal by the deadline.
    pub timed_out: u64,
    pub rejected: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Scheduled time to the `202`.
    pub submit: Summary,
    /// Scheduled time to the answer showing `completed`.
    pub completed_latency: Summary,
    /// Long polls per job, on average, and how many of them answered `304`.
    pub polls_per_job: f64,
    pub not_modified: u64,
    /// Most a submission started after its scheduled time: the tool's own lag.
    pub max_schedule_lag_ms: f64,
    pub connections_opened: usize,
}

enum Outcome {
    Completed {
        submit: Duration,
        total: Duration,
        polls: u64,
        not_modified: u64,
    },
    NotCompleted,
    Rejected(String),
}

/// Runs the open loop and summarises the window.
///
/// # Errors
/// Only when a histogram cannot be made; failed jobs are counted, not returned.
pub async fn run(pool: Arc<Pool>, spec: &LatencySpec) -> anyhow::Result<LatencyReport> {
    let interval = Duration::from_secs_f64(1.0 / spec.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let window_start = start + spec.warmup;
    let total = ((spec.warmup + spec.duration).as_secs_f64() * spec.rate).round() as u64;

    let mut tally = Tally::new(spec)?;
    let mut jobs = tokio::task::JoinSet::new();
    let mut max_lag = Duration::ZERO;
    for index in 0..total {
        let scheduled = start + interval.mul_f64(index as f64);
        sleep_until(scheduled).await;
        max_lag = max_lag.max(Instant::now() - scheduled);
        let measured = scheduled >= window_start;
        let (pool, body) = (Arc::clone(&pool), spec.body.clone());
        let (wait, deadline) = (spec.wait_seconds, spec.job_deadline);
        jobs.spawn(async move {
            let outcome = timeout(deadline, follow(&pool, body, wait, scheduled)).await;
            (measured, outcome.ok())
        });
        // Reap finished jobs as we go so the set stays small at high rates.
        while let Some(joined) = jobs.try_join_next() {
            tally.add(joined.context("a job task panicked")?);
        }
    }
    while let Some(joined) = jobs.join_next().await {
        tally.add(joined.context("a job task panicked")?);
    }
    let mut report = tally.report;
    report.submit = Summary::of(&tally.submit);
    report.completed_latency = Summary::of(&tally.completed);
    if report.completed > 0 {
        report.polls_per_job = tally.polls as f64 / report.completed as f64;
    }
    report.max_schedule_lag_ms = max_lag.as_secs_f64() * 1000.0;
    report.connections_opened = pool.opened();
    Ok(report)
}

/// The figures gathered so far.
struct Tally {
    report: LatencyReport,
    submit: Histogram<u64>,
    completed: Histogram<u64>,
    polls: u64,
}

impl Tally {
    fn new(spec: &LatencySpec) -> anyhow::Result<Self> {
        Ok(Self {
            report: LatencyReport {
                rate: spec.rate,
                seconds: spec.duration.as_secs_f64(),
                scheduled: 0,
                completed: 0,
                not_completed: 0,
                timed_out: 0,
                rejected: 0,
                errors: 0,
                first_error: None,
                submit: Summary::default(),
                completed_latency: Summary::default(),
                polls_per_job: 0.0,
                not_modified: 0,
                max_schedule_lag_ms: 0.0,
                connections_opened: 0,
            },
            submit: stats::histogram()?,
            completed: stats::histogram()?,
            polls: 0,
        })
    }

    /// Counts one job; warm-up jobs (`measured == false`) are not counted.
    fn add(&mut self, (measured, outcome): (bool, Option<anyhow::Result<Outcome>>)) {
        if !measured {
            return;
        }
        let report = &mut self.report;
        report.scheduled += 1;
        match outcome {
            Some(Ok(Outcome::Completed {
                submit,
                total,
                polls,
                not_modified,
            })) => {
                report.completed += 1;
                stats::record(&mut self.submit, submit);
                stats::record(&mut self.completed, total);
                self.polls += polls;
                report.not_modified += not_modified;
            }
            Some(Ok(Outcome::NotCompleted)) => report.not_completed += 1,
            Some(Ok(Outcome::Rejected(why))) => {
                report.rejected += 1;
                report.first_error.get_or_insert(why);
            }
            Some(Err(error)) => {
                report.errors += 1;
                report.first_error.get_or_insert(format!("{error:#}"));
            }
            None => report.timed_out += 1,
        }
    }
}

/// Submits one job, then long-polls it until it is terminal.
async fn follow(
    pool: &Pool,
    body: Bytes,
    wait: u32,
    scheduled: Instant,
) -> anyhow::Result<Outcome> {
    let target = pool.target();
    let reply = pool.send(target.post_json("/v1/jobs", body)?).await?;
    let submitted = Instant::now();
    if reply.status != StatusCode::ACCEPTED {
        let text = String::from_utf8_lossy(&reply.body);
        return Ok(Outcome::Rejected(format!(
            "POST /v1/jobs answered {}: {}",
            reply.status,
            truncate(&text)
        )));
    }
    let mut job: JobBrief =
        serde_json::from_slice(&reply.body).context("the 202 did not carry a job resource")?;
    let path = format!("/v1/jobs/{}?wait={wait}", job.id);
    let (mut polls, mut not_modified) = (0, 0);
    while !job.is_terminal() {
        let tag = format!("\"{}\"", job.seq);
        let reply = pool.send(target.get(&path, Some(&tag))?).await?;
        polls += 1;
        match reply.status {
            StatusCode::NOT_MODIFIED => not_modified += 1,
            StatusCode::OK => {
                job = serde_json::from_slice(&reply.body)
                    .context("a 200 poll did not carry a job resource")?;
            }
            other => {
                let text = String::from_utf8_lossy(&reply.body);
                bail!("GET {path} answered {other}: {}", truncate(&text));
            }
        }
    }
    if job.status != "completed" {
        return Ok(Outcome::NotCompleted);
    }
    Ok(Outcome::Completed {
        submit: submitted - scheduled,
        total: Instant::now() - scheduled,
        polls,
        not_modified,
    })
}
