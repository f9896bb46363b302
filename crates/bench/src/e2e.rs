//! End-to-end throughput: submit `N` no-op jobs as fast as `C` connections allow, then wait
//! until none is pending or processing, and count the completed ones by listing them.
//!
//! Completion is watched through `GET /v1/jobs?status=…&limit=1` every 10 ms rather than
//! by long-polling every job: `N` long polls would load the API far more than the workers.
//! The run assumes the deployment holds no other jobs (`all` starts a fresh one per phase).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::StatusCode;
use serde::Serialize;
use tokio::time::{Instant, sleep, timeout};

use crate::accept::truncate;
use crate::http::{Conn, Target, query_escape};
use crate::wire::Page;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WATCH_INTERVAL: Duration = Duration::from_millis(10);

/// How many jobs, over how many connections, and how long to wait for them at most.
#[derive(Debug, Clone)]
pub struct E2eSpec {
    pub target: Arc<Target>,
    pub body: Bytes,
    pub jobs: usize,
    pub connections: usize,
    pub timeout: Duration,
}

/// What happened to the jobs.
#[derive(Debug, Clone, Serialize)]
pub struct E2eReport {
    pub jobs: usize,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// From the first submission to the last `202`.
    pub submit_seconds: f64,
    /// From the first submission to the moment nothing was pending or processing.
    pub total_seconds: f64,
    /// Whether everything finished before the timeout.
    pub drained: bool,
    /// Counted by listing, after draining.
    pub completed: u64,
    pub failed: u64,
    /// Still pending or processing at the timeout (`0` when drained).
    pub stuck: u64,
}

impl E2eReport {
    /// Completed jobs per second, end to end.
    pub fn per_second(&self) -> f64 {
        if self.total_seconds > 0.0 {
            self.completed as f64 / self.total_seconds
        } else {
            0.0
        }
    }
}

/// Submits, waits, counts.
///
/// # Errors
/// When the server cannot be reached or answers listings with something other than a page.
pub async fn run(spec: &E2eSpec) -> anyhow::Result<E2eReport> {
    let remaining = Arc::new(AtomicUsize::new(spec.jobs));
    let started = Instant::now();
    let mut submitters = tokio::task::JoinSet::new();
    for _ in 0..spec.connections.clamp(1, spec.jobs.max(1)) {
        let conn = Conn::open(&spec.target).await?;
        let (target, body, remaining) = (
            Arc::clone(&spec.target),
            spec.body.clone(),
            Arc::clone(&remaining),
        );
        submitters.spawn(async move { submit(conn, &target, &body, &remaining).await });
    }
    let mut report = E2eReport {
        jobs: spec.jobs,
        accepted: 0,
        rejected: 0,
        errors: 0,
        first_error: None,
        submit_seconds: 0.0,
        total_seconds: 0.0,
        drained: false,
        completed: 0,
        failed: 0,
        stuck: 0,
    };
    while let Some(joined) = submitters.join_next().await {
        let tally = joined.context("a submitter panicked")??;
        report.accepted += tally.accepted;
        report.rejected += tally.rejected;
        report.errors += tally.errors;
        if report.first_error.is_none() {
            report.first_error = tally.first_error;
        }
    }
    report.submit_seconds = started.elapsed().as_secs_f64();

    let mut watcher = Conn::open(&spec.target).await?;
    let deadline = started + spec.timeout;
    loop {
        let pending = count_up_to(&mut watcher, &spec.target, "pending", 1).await?;
        let processing = count_up_to(&mut watcher, &spec.target, "processing", 1).await?;
        if pending == 0 && processing == 0 {
            report.drained = true;
            report.total_seconds = started.elapsed().as_secs_f64();
            break;
        }
        if Instant::now() >= deadline {
            report.total_seconds = started.elapsed().as_secs_f64();
            let cap = spec.jobs + 1;
            report.stuck = count_up_to(&mut watcher, &spec.target, "pending", cap).await?
                + count_up_to(&mut watcher, &spec.target, "processing", cap).await?;
            break;
        }
        sleep(WATCH_INTERVAL).await;
    }
    // Counting by listing also checks that every accepted job is there: none lost.
    report.completed = count_up_to(&mut watcher, &spec.target, "completed", spec.jobs + 1).await?;
    report.failed = count_up_to(&mut watcher, &spec.target, "failed", spec.jobs + 1).await?;
    Ok(report)
}

struct Tally {
    accepted: u64,
    rejected: u64,
    errors: u64,
    first_error: Option<String>,
}

/// Takes jobs off the shared count and submits them one after the other on one connection.
async fn submit(
    mut conn: Conn,
    target: &Target,
    body: &Bytes,
    remaining: &AtomicUsize,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        accepted: 0,
        rejected: 0,
        errors: 0,
        first_error: None,
    };
    while remaining
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
    {
        let request = target.post_json("/v1/jobs", body.clone())?;
        match timeout(REQUEST_TIMEOUT, conn.send(request)).await {
            Ok(Ok(reply)) if reply.status == StatusCode::ACCEPTED => tally.accepted += 1,
            Ok(Ok(reply)) => {
                tally.rejected += 1;
                let text = String::from_utf8_lossy(&reply.body);
                tally
                    .first_error
                    .get_or_insert_with(|| format!("{}: {}", reply.status, truncate(&text)));
                if conn.is_closed() {
                    conn = Conn::open(target).await?;
                }
            }
            outcome => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| match outcome {
                    Ok(Err(error)) => format!("{error:#}"),
                    _ => format!("no answer within {REQUEST_TIMEOUT:?}"),
                });
                conn = Conn::open(target).await?;
            }
        }
    }
    Ok(tally)
}

/// How many jobs have `status`, counting at most `cap` (pages of 100).
async fn count_up_to(
    conn: &mut Conn,
    target: &Target,
    status: &str,
    cap: usize,
) -> anyhow::Result<u64> {
    let limit = cap.min(100);
    let mut counted = 0;
    let mut cursor: Option<String> = None;
    // Bounded: never more pages than the cap needs, plus one.
    for _ in 0..=cap.div_ceil(limit) {
        let mut path = format!("/v1/jobs?status={status}&limit={limit}");
        if let Some(cursor) = &cursor {
            path.push_str("&cursor=");
            path.push_str(&query_escape(cursor));
        }
        let reply = timeout(REQUEST_TIMEOUT, conn.send(target.get(&path, None)?))
            .await
            .with_context(|| format!("no answer to GET {path}"))??;
        if reply.status != StatusCode::OK {
            let text = String::from_utf8_lossy(&reply.body);
            bail!("GET {path} answered {}: {}", reply.status, truncate(&text));
        }
        let page: Page = serde_json::from_slice(&reply.body)
            .with_context(|| format!("GET {path} did not answer a page of jobs"))?;
        counted += page.data.len();
        match page.next_cursor {
            Some(next) if counted < cap && !page.data.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(counted as u64)
}
