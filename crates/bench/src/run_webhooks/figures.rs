//! What the webhook phases are asked to do and what they measured: the plan, each phase's
//! figures and the one-line summaries printed as they finish.

use std::time::Duration;

use serde::Serialize;

use crate::run_all::{Backend, Measured, RunFacts};
use crate::stats::Summary;

/// The webhook phases, to run some of them only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookPhase {
    /// Deliveries per second (a drain).
    Throughput,
    /// State change to receipt at a fixed rate.
    Latency,
    /// Healthy endpoints' deliveries per second with and without a hanging one.
    Isolation,
}

/// What the webhook phases need besides the shared plan.
#[derive(Debug, Clone)]
pub struct WebhookPlan {
    /// Endpoints (one subscription each) of the throughput phase.
    pub endpoints: usize,
    /// No-op jobs of the throughput phase.
    pub jobs: usize,
    /// Healthy endpoints of the isolation phases.
    pub isolation_endpoints: usize,
    /// No-op jobs of each isolation phase.
    pub isolation_jobs: usize,
    /// Pairs of isolation drains (one without, one with the hanging endpoint).
    pub isolation_rounds: usize,
    /// Jobs (and so deliveries) per second in the latency phase.
    pub rate: f64,
    /// Longest wait for a drain (and for the jobs before it).
    pub drain_timeout: Duration,
    /// Threads of the receiver's runtime.
    pub receiver_threads: usize,
    /// Extra arguments for every Herald process.
    pub herald_args: Vec<String>,
    /// The phases to run.
    pub phases: Vec<WebhookPhase>,
}

/// One drain: deliveries received as fast as Herald sends them.
#[derive(Debug, Clone, Serialize)]
pub struct DrainFigures {
    /// `drain`: notifier started after the jobs completed; `live`: notifier running while
    /// the jobs are submitted.
    pub method: String,
    /// Answering endpoints, one subscription each.
    pub endpoints: usize,
    /// Endpoints that never answer, one subscription each.
    pub hanging: usize,
    pub events_per_subscription: usize,
    pub jobs: usize,
    pub jobs_completed: u64,
    /// Submission to all jobs done (the e2e figure).
    pub jobs_seconds: f64,
    pub jobs_per_second: f64,
    /// Deliveries the answering endpoints should get, and got (distinct `webhook-id`s).
    pub expected: u64,
    pub received: u64,
    pub duplicates: u64,
    pub without_id: u64,
    /// Requests that reached the hanging endpoints.
    pub hung: u64,
    /// Connections the receiver accepted.
    pub connections: u64,
    /// Whether every expected delivery arrived before the timeout.
    pub drained: bool,
    /// From the start (notifier started, or first submission) to the first and the last
    /// receipt.
    pub first_after_seconds: f64,
    pub last_after_seconds: f64,
    /// Deliveries/s between the 10 % and the 90 % receipt.
    pub steady_per_second: f64,
    /// Deliveries/s from the first to the last receipt.
    pub overall_per_second: f64,
    /// Deliveries/s in each whole second after the first receipt.
    pub per_second_series: Vec<u64>,
    pub first_error: Option<String>,
}

impl DrainFigures {
    /// The steady rate in jobs whose deliveries were all made, per second.
    pub fn job_equivalent_per_second(&self) -> f64 {
        let per_job = (self.endpoints * self.events_per_subscription).max(1) as f64;
        self.steady_per_second / per_job
    }
}

/// The latency phase.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigures {
    pub rate: f64,
    pub window_seconds: f64,
    pub scheduled: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Distinct deliveries received, in all; how many accepted jobs never got one.
    pub received: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub unparsed: u64,
    /// Deliveries received in the window, per second.
    pub window_per_second: f64,
    /// Receipt minus `updated_at`, deliveries received in the window.
    pub latency: Summary,
    /// Most a submission started after its scheduled time: the tool's own lag.
    pub max_schedule_lag_ms: f64,
    pub connections: u64,
}

/// One backend's webhook phases.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookBackendFigures {
    pub backend: Backend,
    pub topology: String,
    pub throughput: Option<Measured<DrainFigures>>,
    pub latency: Option<Measured<LatencyFigures>>,
    /// The isolation drains, in the order they ran (none when the phase was left out).
    pub isolation_without: Vec<Measured<DrainFigures>>,
    pub isolation_with: Vec<Measured<DrainFigures>>,
}

impl WebhookBackendFigures {
    /// Mean healthy deliveries/s of the isolation drains without the hanging endpoint.
    pub fn isolation_without_rate(&self) -> f64 {
        mean_rate(&self.isolation_without)
    }

    /// Mean healthy deliveries/s of the isolation drains with the hanging endpoint.
    pub fn isolation_with_rate(&self) -> f64 {
        mean_rate(&self.isolation_with)
    }

    /// Healthy deliveries/s with the hanging endpoint ÷ without it.
    pub fn isolation_ratio(&self) -> f64 {
        let without = self.isolation_without_rate();
        if without > 0.0 {
            self.isolation_with_rate() / without
        } else {
            0.0
        }
    }

    /// Whether every isolation drain received everything.
    pub fn isolation_drained(&self) -> bool {
        self.isolation_without
            .iter()
            .chain(&self.isolation_with)
            .all(|m| m.figures.drained)
    }
}

fn mean_rate(drains: &[Measured<DrainFigures>]) -> f64 {
    if drains.is_empty() {
        return 0.0;
    }
    drains
        .iter()
        .map(|m| m.figures.steady_per_second)
        .sum::<f64>()
        / drains.len() as f64
}

/// CPU seconds of Herald's processes (every process whose name starts with `herald-` but
/// the tool) per delivery received, µs.
pub fn herald_micros_per_delivery(m: &Measured<DrainFigures>) -> f64 {
    let herald: f64 = m
        .cpu
        .processes
        .iter()
        .filter(|(name, _)| name.starts_with("herald-") && name != "herald-bench")
        .map(|(_, seconds)| seconds)
        .sum();
    herald / m.figures.received.max(1) as f64 * 1e6
}

/// The webhook part of a run.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookFigures {
    #[serde(flatten)]
    pub run: RunFacts,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub receiver_threads: usize,
    pub herald_args: Vec<String>,
    pub backends: Vec<WebhookBackendFigures>,
    pub load_at_end: String,
}

/// One line about a drain.
pub fn describe_drain(d: &DrainFigures) -> String {
    format!(
        "{:.0} deliveries/s steady (10–90 %), {:.0}/s first to last; {} of {} received ({}), first after {:.2} s, last after {:.2} s; \
         {} duplicates, {} hung requests, {} connections; jobs {} of {} completed at {:.0}/s{}",
        d.steady_per_second,
        d.overall_per_second,
        d.received,
        d.expected,
        if d.drained { "all" } else { "NOT all" },
        d.first_after_seconds,
        d.last_after_seconds,
        d.duplicates,
        d.hung,
        d.connections,
        d.jobs_completed,
        d.jobs,
        d.jobs_per_second,
        d.first_error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

/// One line about a latency phase.
pub fn describe_latency(l: &LatencyFigures) -> String {
    format!(
        "state change to receipt p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} deliveries ({:.0}/s in the window); \
         {} accepted, {} received, {} missing, {} duplicates, {} unparsed, {} rejected, {} errors{}",
        l.latency.p50_ms,
        l.latency.p90_ms,
        l.latency.p99_ms,
        l.latency.max_ms,
        l.latency.count,
        l.window_per_second,
        l.accepted,
        l.received,
        l.missing,
        l.duplicates,
        l.unparsed,
        l.rejected,
        l.errors,
        l.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}
