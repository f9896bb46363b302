//! The Server-Sent Events phases of a run (`herald-bench sse`, and the end of `all`): memory
//! per idle stream, event deliveries per second across many streams, and publish-to-receive
//! latency, each on a fresh deployment with one API process.
//!
//! - **Memory**: N pending jobs (no worker runs, so none changes), one
//!   `GET /v1/jobs/{id}/events` stream on each; the API process's `VmRSS` before the streams
//!   open and once all are established gives the bytes per idle stream.
//! - **Deliveries** and **latency**: N streams on the tenant's feed,
//!   `GET /v1/events/stream?types=job.progress`, while long `demo.report` jobs each publish
//!   about 4 progress events per second; every stream receives every event. Latency is the
//!   receive time minus the event's `updated_at` (same clock; the contract gives milliseconds).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use serde::Serialize;
use tokio::time::{Instant, sleep};

use crate::http::{Conn, Target};
use crate::machine::{self, Machine};
use crate::procs;
use crate::run_all::{
    Backend, Cpu, CpuProbe, Deployment, Measured, Plan, RunFacts, RunStart, Runner, open_run,
};
use crate::sse::{self, StreamSpec, Streams};
use crate::stats::Summary;
use crate::wire::JobBrief;

/// A job that stays pending (no worker) or sleeps through the phase: its stream stays idle.
const IDLE_JOB: &str = r#"{"type":"demo.sleep","payload":{"seconds":3600}}"#;

/// A report of 600,000 rows at 1,000 rows/s: ten minutes of progress, longer than any phase.
/// The worker coalesces progress writes to one per 250 ms, so about 4 events/s per job.
const REPORT_JOB: &str =
    r#"{"type":"demo.report","payload":{"rows":600000,"rows_per_second":1000}}"#;

/// The feed stream every delivery and latency stream follows.
const FEED_PATH: &str = "/v1/events/stream?types=job.progress";

/// Longest wait for all streams to be established.
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(120);

/// What the SSE phases need besides the shared plan.
#[derive(Debug, Clone)]
pub struct SsePlan {
    /// Idle streams of the memory phases (each count is one phase).
    pub idle_streams: Vec<usize>,
    /// Streams of the deliveries phase.
    pub streams: usize,
    /// Streams of the latency phase.
    pub latency_streams: usize,
    /// `demo.report` jobs publishing progress in the deliveries phase.
    pub jobs: usize,
    /// `demo.report` jobs publishing progress in the latency phase.
    pub latency_jobs: usize,
    /// Load threads holding the streams.
    pub threads: usize,
}

/// Memory per idle stream.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryFigures {
    pub streams: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub established_seconds: f64,
    pub failed: u64,
    pub ended: u64,
    pub first_error: Option<String>,
}

impl MemoryFigures {
    /// RSS growth per stream, KiB.
    pub fn per_stream_kib(&self) -> f64 {
        (self.rss_after_kib as f64 - self.rss_before_kib as f64) / self.streams.max(1) as f64
    }
}

/// Deliveries and latency over a measured window with every stream open.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryFigures {
    pub streams: usize,
    pub jobs: usize,
    pub established_seconds: f64,
    pub window_seconds: f64,
    /// Events received on all streams in the window.
    pub delivered: u64,
    /// Events the first stream received in the window: what each stream was offered.
    pub published: u64,
    /// Streams that could not be opened; streams the server ended (a dropped, lagging
    /// subscriber) before the window's end.
    pub failed: u64,
    pub ended: u64,
    /// Events whose `updated_at` could not be read.
    pub unparsed: u64,
    pub first_error: Option<String>,
    /// Receive time minus `updated_at`, events received in the window.
    pub latency: Summary,
    /// CPU use during the window only (opening the streams excluded).
    pub window_cpu: Cpu,
}

impl DeliveryFigures {
    pub fn delivered_per_second(&self) -> f64 {
        self.delivered as f64 / self.window_seconds.max(1e-9)
    }

    pub fn published_per_second(&self) -> f64 {
        self.published as f64 / self.window_seconds.max(1e-9)
    }

    /// What the server had to deliver: every published event to every stream.
    pub fn offered_per_second(&self) -> f64 {
        self.published_per_second() * self.streams as f64
    }
}

/// One backend's SSE phases.
#[derive(Debug, Clone, Serialize)]
pub struct SseBackendFigures {
    pub backend: Backend,
    /// What served the memory phases, and the delivery and latency phases.
    pub idle_topology: String,
    pub busy_topology: String,
    pub memory: Vec<Measured<MemoryFigures>>,
    pub delivery: Measured<DeliveryFigures>,
    pub latency: Measured<DeliveryFigures>,
}

/// The SSE part of a run.
#[derive(Debug, Clone, Serialize)]
pub struct SseFigures {
    #[serde(flatten)]
    pub run: RunFacts,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub threads: usize,
    pub open_files_limit: u64,
    pub backends: Vec<SseBackendFigures>,
    pub load_at_end: String,
}

/// Runs the SSE phases on a private Redis of their own (`herald-bench sse`).
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run(plan: &Plan) -> anyhow::Result<SseFigures> {
    let (machine, redis) = open_run(plan, "sse").await?;
    let mut runner = Runner {
        plan,
        redis: &redis,
        phase: 0,
    };
    let outcome = run_phases(&mut runner, machine).await;
    redis.proc.stop().await?;
    outcome
}

/// Runs the SSE phases with `runner` (its Redis, its phase numbering).
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run_phases(runner: &mut Runner<'_>, machine: Machine) -> anyhow::Result<SseFigures> {
    let plan = runner.plan;
    let sse_plan = plan.sse.as_ref().context("the run has no SSE plan")?;
    let most = sse_plan
        .idle_streams
        .iter()
        .copied()
        .chain([sse_plan.streams, sse_plan.latency_streams])
        .max()
        .unwrap_or(0);
    let open_files_limit = sse::raise_open_files(most)?;
    let started = RunStart::now();
    let mut backends = Vec::new();
    for &backend in &plan.backends {
        let (name, idle_topology, busy_topology) = match backend {
            Backend::Embedded => (
                "embedded",
                "one process, all roles (jobs sleeping or pending)".to_owned(),
                "one process, all roles".to_owned(),
            ),
            Backend::Redis => (
                "redis",
                "one api process, no worker running (jobs pending)".to_owned(),
                format!(
                    "one api process + {} worker process{}",
                    plan.workers,
                    if plan.workers == 1 { "" } else { "es" }
                ),
            ),
        };
        let mut memory = Vec::new();
        for &streams in &sse_plan.idle_streams {
            eprintln!("\n== {name}: memory of {streams} idle job streams ({idle_topology})");
            let deployment = runner.deploy(backend, 0).await?;
            let measured = memory_phase(runner, deployment, streams).await?;
            eprintln!("   {}", describe_memory(&measured.figures));
            memory.push(measured);
        }
        eprintln!(
            "\n== {name}: deliveries across {} feed streams, {} report jobs ({busy_topology})",
            sse_plan.streams, sse_plan.jobs
        );
        let deployment = runner.deploy(backend, plan.workers).await?;
        let delivery = busy_phase(runner, deployment, sse_plan.streams, sse_plan.jobs).await?;
        eprintln!("   {}", describe_delivery(&delivery.figures));
        eprintln!(
            "\n== {name}: latency with {} feed streams, {} report jobs ({busy_topology})",
            sse_plan.latency_streams, sse_plan.latency_jobs
        );
        let deployment = runner.deploy(backend, plan.workers).await?;
        let latency = busy_phase(
            runner,
            deployment,
            sse_plan.latency_streams,
            sse_plan.latency_jobs,
        )
        .await?;
        eprintln!("   {}", describe_delivery(&latency.figures));
        backends.push(SseBackendFigures {
            backend,
            idle_topology,
            busy_topology,
            memory,
            delivery,
            latency,
        });
    }
    Ok(SseFigures {
        run: started.facts(machine, &plan.herald_bin),
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        threads: sse_plan.threads,
        open_files_limit,
        backends,
        load_at_end: machine::load_average(),
    })
}

/// The process serving the API in a deployment (the first one started).
fn api_pid(deployment: &Deployment) -> anyhow::Result<u32> {
    deployment
        .procs
        .first()
        .map(procs::Proc::pid)
        .context("the deployment has no process")
}

async fn memory_phase(
    runner: &Runner<'_>,
    deployment: Deployment,
    streams: usize,
) -> anyhow::Result<Measured<MemoryFigures>> {
    let pid = api_pid(&deployment)?;
    let target = Arc::clone(&deployment.target);
    let threads = runner.plan.sse.as_ref().map_or(1, |sse| sse.threads);
    runner
        .measure(deployment, async move {
            let ids = submit(&target, IDLE_JOB, streams).await?;
            // Let the server settle after the submissions (an embedded worker starts some).
            sleep(Duration::from_secs(1)).await;
            let rss_before_kib = sse::rss_kib(pid).context("failed to read the API's RSS")?;
            let paths = ids
                .iter()
                .map(|id| format!("/v1/jobs/{id}/events"))
                .collect();
            let (load, established_seconds) = open_streams(&target, paths, threads).await?;
            sleep(Duration::from_secs(1)).await;
            let rss_after_kib = sse::rss_kib(pid).context("failed to read the API's RSS")?;
            let counts = load.counts();
            let first_error = load.first_error();
            load.stop().await?;
            // An embedded worker is running some of the sleeping jobs and would give them 30 s
            // to finish on SIGTERM.
            cancel(&target, &ids).await?;
            Ok(MemoryFigures {
                streams,
                rss_before_kib,
                rss_after_kib,
                established_seconds,
                failed: counts.failed,
                ended: counts.ended,
                first_error,
            })
        })
        .await
}

async fn busy_phase(
    runner: &Runner<'_>,
    deployment: Deployment,
    streams: usize,
    jobs: usize,
) -> anyhow::Result<Measured<DeliveryFigures>> {
    let target = Arc::clone(&deployment.target);
    let plan = runner.plan;
    let sse_plan = plan.sse.as_ref().context("the run has no SSE plan")?;
    let (threads, warmup, duration) = (sse_plan.threads, plan.warmup, plan.duration);
    let cpu = CpuProbe::of(
        &deployment.procs,
        deployment.uses_redis.then_some(runner.redis),
    );
    runner
        .measure(deployment, async move {
            let paths = vec![FEED_PATH.to_owned(); streams];
            let (load, established_seconds) = open_streams(&target, paths, threads).await?;
            let ids = match submit_staggered(&target, jobs).await {
                Ok(ids) => ids,
                Err(error) => {
                    load.stop().await?;
                    return Err(error);
                }
            };
            sleep(warmup).await;
            let before = load.counts();
            let cpu_before = cpu.sample();
            let window_started = Instant::now();
            load.record(true);
            sleep(duration).await;
            load.record(false);
            let after = load.counts();
            let window_seconds = window_started.elapsed().as_secs_f64();
            let window_cpu = cpu.since(&cpu_before, window_seconds);
            let first_error = load.first_error();
            let latency = load.stop().await?;
            // Workers give running jobs 30 s to finish on SIGTERM: cancel the reports so the
            // deployment stops at once.
            cancel(&target, &ids).await?;
            Ok(DeliveryFigures {
                streams,
                jobs,
                established_seconds,
                window_seconds,
                delivered: after.events - before.events,
                published: after.probe_events - before.probe_events,
                failed: after.failed,
                ended: after.ended,
                unparsed: after.unparsed,
                first_error,
                latency: Summary::of(&latency),
                window_cpu,
            })
        })
        .await
}

/// Opens a stream on each of `paths` and waits until all are established: the streams and
/// how long that took, in seconds.
async fn open_streams(
    target: &Arc<Target>,
    paths: Vec<String>,
    threads: usize,
) -> anyhow::Result<(Streams, f64)> {
    let load = Streams::start(&StreamSpec {
        target: Arc::clone(target),
        paths,
        threads,
        opening_at_once: 256,
        open_timeout: Duration::from_secs(30),
    })?;
    match load.wait_established(ESTABLISH_TIMEOUT).await {
        Ok(took) => Ok((load, took.as_secs_f64())),
        Err(error) => {
            load.stop().await?;
            Err(error)
        }
    }
}

/// Submits `count` report jobs spread over one progress period (250 ms), so that their
/// progress events are spread over time as independent jobs' would be, not published in
/// bursts of `count` at once.
async fn submit_staggered(target: &Arc<Target>, count: usize) -> anyhow::Result<Vec<String>> {
    let gap = Duration::from_millis(250) / u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        ids.extend(submit(target, REPORT_JOB, 1).await?);
        sleep(gap).await;
    }
    Ok(ids)
}

/// Asks for each job to be canceled.
async fn cancel(target: &Arc<Target>, ids: &[String]) -> anyhow::Result<()> {
    let mut conn = Conn::open(target).await?;
    for id in ids {
        let request = target.post_json(&format!("/v1/jobs/{id}/cancel"), Bytes::new())?;
        let reply = tokio::time::timeout(Duration::from_secs(10), conn.send(request))
            .await
            .context("no answer to a cancel within 10 s")??;
        if !reply.status.is_success() {
            bail!(
                "POST /v1/jobs/{id}/cancel: {}: {}",
                reply.status,
                crate::accept::truncate(&String::from_utf8_lossy(&reply.body))
            );
        }
    }
    Ok(())
}

/// Submits `count` copies of `body` over a few connections; returns the jobs' ids.
async fn submit(
    target: &Arc<Target>,
    body: &'static str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    const CONNECTIONS: usize = 16;
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..CONNECTIONS.min(count) {
        let share = count / CONNECTIONS + usize::from(index < count % CONNECTIONS);
        let target = Arc::clone(target);
        tasks.spawn(async move {
            let mut conn = Conn::open(&target).await?;
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let request = target.post_json("/v1/jobs", Bytes::from_static(body.as_bytes()))?;
                let reply = tokio::time::timeout(Duration::from_secs(10), conn.send(request))
                    .await
                    .context("no answer to POST /v1/jobs within 10 s")??;
                if reply.status != hyper::StatusCode::ACCEPTED {
                    bail!(
                        "POST /v1/jobs: {}: {}",
                        reply.status,
                        crate::accept::truncate(&String::from_utf8_lossy(&reply.body))
                    );
                }
                let job: JobBrief =
                    serde_json::from_slice(&reply.body).context("a 202 without a job resource")?;
                ids.push(job.id);
            }
            anyhow::Ok(ids)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = tasks.join_next().await {
        ids.extend(joined.context("a submitting task panicked")??);
    }
    Ok(ids)
}

/// One line about a memory phase.
pub fn describe_memory(m: &MemoryFigures) -> String {
    format!(
        "{:.1} KiB per idle stream: API RSS {} KiB before, {} KiB with {} streams (established in {:.1} s); failed {}, ended {}{}",
        m.per_stream_kib(),
        m.rss_before_kib,
        m.rss_after_kib,
        m.streams,
        m.established_seconds,
        m.failed,
        m.ended,
        m.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

/// One line about a deliveries or latency phase.
pub fn describe_delivery(d: &DeliveryFigures) -> String {
    format!(
        "{:.0} deliveries/s across {} streams ({:.1} events/s published, {:.0}/s offered); latency p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} events; failed {}, ended {}, unparsed {}; CPU {}{}",
        d.delivered_per_second(),
        d.streams,
        d.published_per_second(),
        d.offered_per_second(),
        d.latency.p50_ms,
        d.latency.p99_ms,
        d.latency.max_ms,
        d.latency.count,
        d.failed,
        d.ended,
        d.unparsed,
        d.window_cpu.describe(),
        d.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}
