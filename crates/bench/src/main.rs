//! `herald-bench`: Herald's load tool. It measures accepted jobs/s for `POST /v1/jobs`,
//! no-op jobs completed end to end, and submit-to-completed latency observed by long
//! polling, next to a bare actix-web + one-Redis-round-trip baseline measured in the same
//! run, so that the figures can be read as ratios on a noisy machine; Server-Sent Events:
//! memory per idle stream, deliveries/s across many streams, publish-to-receive latency; and
//! webhooks: deliveries/s, state-change-to-receipt latency, isolation from a hanging endpoint;
//! and inbound webhooks: signed provider requests ingested per second beside jobs accepted per
//! second, and the ingest latency at a fixed rate.
//!
//! Every run is bounded in time and count, loads loopback addresses only, and ends every
//! process it started (also on an error or ctrl-c).
//!
//! # Layout
//! - [`http`]: a lean keep-alive HTTP/1.1 client (and a small pool for long polls).
//! - [`accept`]: closed-loop `POST /v1/jobs` load; [`e2e`]: end-to-end throughput;
//!   [`latency`]: open-loop submit-to-completed latency.
//! - [`baseline`]: the bare actix-web + Redis server the figures are divided by.
//! - [`procs`]: child processes (private `redis-server`, Herald, the baseline) and their logs.
//! - [`sse`]: thousands of Server-Sent Events streams held open; [`run_sse`]: the SSE phases
//!   (memory per idle stream, deliveries/s, publish-to-receive latency).
//! - [`receiver`]: the webhook receiver inside the tool; [`run_webhooks`]: the webhook phases
//!   (deliveries/s, latency, isolation from a hanging endpoint).
//! - [`run_inbound`]: the inbound-webhooks phases (`POST /in/{token}` beside `POST /v1/jobs`);
//!   [`open_loop`]: open-loop single requests at a fixed rate.
//! - [`bullmq`]: BullMQ, installed from npm, in the shape of the accept and end-to-end phases.
//! - [`run_all`]: the `all` orchestration; [`report`]: its Markdown; [`machine`]: the box.

mod accept;
mod baseline;
mod bullmq;
mod e2e;
mod http;
mod latency;
mod machine;
mod open_loop;
mod procs;
mod receiver;
mod report;
mod run_all;
mod run_inbound;
mod run_sse;
mod run_webhooks;
mod sse;
mod stats;
mod wire;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};

use crate::http::{Pool, Target};
use crate::run_all::Backend;

/// Longest phase the tool agrees to run: every run is bounded.
const MAX_PHASE: Duration = Duration::from_secs(600);

/// Herald's load tool.
#[derive(Debug, Parser)]
#[command(name = "herald-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Closed-loop `POST /v1/jobs` (a no-op `demo.sleep`) against a running Herald.
    Accept {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// The bare baseline: starts an actix-web server doing one Redis `INCR` per request and
    /// loads it exactly as `accept` loads Herald.
    Baseline {
        /// Redis for the baseline (loopback only); without it, a private `redis-server`.
        #[arg(long)]
        redis_url: Option<String>,
        /// The `redis-server` program, for the private one.
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        /// Where child processes write their logs (default: a new directory under /tmp).
        #[arg(long)]
        log_dir: Option<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// Submits N no-op jobs as fast as possible, then waits until all are done.
    E2e {
        #[command(flatten)]
        server: ServerArgs,
        /// Jobs to submit.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        jobs: u64,
        /// Concurrent submitting connections.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
        connections: u64,
        /// Longest wait for all jobs to finish.
        #[arg(long, default_value = "60s", value_parser = phase_duration)]
        timeout: Duration,
    },
    /// Open loop at a fixed rate: each job is long-polled until completed.
    Latency {
        #[command(flatten)]
        server: ServerArgs,
        #[command(flatten)]
        open_loop: OpenLoopArgs,
    },
    /// A whole run: private Redis, the baseline, Herald on each backend, every phase; prints a
    /// Markdown report and can write it into docs/benchmarks.md.
    All {
        #[command(flatten)]
        herald: HeraldArgs,
        /// Worker processes on Redis (besides the one api process).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=16))]
        workers: u64,
        /// `--concurrency` passed to Herald's worker role (default: Herald's own default).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Jobs in the end-to-end phase.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        e2e_jobs: u64,
        /// Longest wait for the end-to-end jobs.
        #[arg(long, default_value = "60s", value_parser = phase_duration)]
        e2e_timeout: Duration,
        /// Rate of the latency phase, jobs/s.
        #[arg(long, default_value_t = 1000.0, value_parser = rate)]
        rate: f64,
        #[command(flatten)]
        load: LoadArgs,
        #[command(flatten)]
        output: OutputArgs,
        #[command(flatten)]
        sse: SseArgs,
        /// Leave out the Server-Sent Events phases.
        #[arg(long)]
        no_sse: bool,
        #[command(flatten)]
        webhooks: WebhookArgs,
        /// Leave out the webhook phases.
        #[arg(long)]
        no_webhooks: bool,
        /// Leave out the BullMQ phases (otherwise run right after Herald's job phases, where
        /// `node` and `npm` are found).
        #[arg(long)]
        no_bullmq: bool,
    },
    /// BullMQ (installed from npm) on a private Redis in the shape of the accept and
    /// end-to-end phases, beside Herald's Redis accept and end-to-end phases in the same run;
    /// prints a Markdown comparison.
    Bullmq {
        /// The Herald binary (default: `herald` next to this tool, i.e. target/release/herald).
        #[arg(long)]
        herald_bin: Option<PathBuf>,
        /// The `redis-server` program; the tool starts its own on a free loopback port.
        #[arg(long, default_value = "redis-server")]
        redis_server: PathBuf,
        /// Measure BullMQ alone, without Herald's phases.
        #[arg(long)]
        no_herald: bool,
        /// Worker processes, for Herald and for BullMQ alike.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
        workers: u64,
        /// Jobs one worker process runs at once, for Herald (`--concurrency`) and BullMQ alike
        /// (default: Herald's own default, 16).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Jobs in the end-to-end phases.
        #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        e2e_jobs: u64,
        /// Longest wait for the end-to-end jobs.
        #[arg(long, default_value = "60s", value_parser = phase_duration)]
        e2e_timeout: Duration,
        #[command(flatten)]
        load: LoadArgs,
        /// Also write every figure as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where child processes write their logs (default: a new directory under /tmp).
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// The Server-Sent Events phases alone: private Redis, Herald on each backend; memory per
    /// idle stream, deliveries/s across many streams, publish-to-receive latency. Prints a
    /// Markdown report and can write it into docs/benchmarks.md (its own markers).
    Sse {
        #[command(flatten)]
        herald: HeraldArgs,
        /// Worker processes on Redis running the publishing jobs.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
        workers: u64,
        /// `--concurrency` passed to Herald's worker role (default: Herald's own default).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Events flowing before the measured window.
        #[arg(long, default_value = "2s", value_parser = phase_duration)]
        warmup: Duration,
        /// Measured window of the deliveries and latency phases.
        #[arg(long, default_value = "10s", value_parser = phase_duration)]
        duration: Duration,
        #[command(flatten)]
        sse: SseArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The webhook phases alone: private Redis, Herald on each backend delivering to a
    /// receiver inside the tool; deliveries/s, state-change-to-receipt latency, isolation
    /// from a hanging endpoint. Prints a Markdown report and can write it into
    /// docs/benchmarks.md (its own markers).
    Webhooks {
        #[command(flatten)]
        herald: HeraldArgs,
        /// Deliveries before the latency phase's measured window.
        #[arg(long, default_value = "2s", value_parser = phase_duration)]
        warmup: Duration,
        /// The latency phase's measured window.
        #[arg(long, default_value = "10s", value_parser = phase_duration)]
        duration: Duration,
        #[command(flatten)]
        webhooks: WebhookArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The inbound-webhooks phases: private Redis, Herald on each backend with a job type no
    /// worker runs (`handler = "external"`) and one GitHub source; accepted jobs/s of
    /// `POST /v1/jobs` beside ingested requests/s of `POST /in/{token}` (signed, a new event
    /// each) in the same closed loop, then the ingest latency open loop at a fixed rate. Prints
    /// a Markdown report and can write it into docs/benchmarks.md (its own markers).
    Inbound {
        #[command(flatten)]
        herald: HeraldArgs,
        #[command(flatten)]
        load: LoadArgs,
        /// Rate of the ingest latency phase, requests/s.
        #[arg(long, default_value_t = 1000.0, value_parser = rate)]
        rate: f64,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The baseline server itself (started by `baseline` and `all`).
    #[command(hide = true)]
    ServeBaseline {
        #[arg(long)]
        bind: SocketAddr,
        #[arg(long)]
        redis_url: String,
        /// actix-web workers (default: actix's own, one per CPU, as Herald).
        #[arg(long)]
        workers: Option<usize>,
    },
}

/// Which Herald the whole-run commands (`all`, `sse`, `webhooks`, `inbound`) start, and on
/// what.
#[derive(Debug, Args)]
struct HeraldArgs {
    /// The Herald binary (default: `herald` next to this tool, i.e. target/release/herald).
    #[arg(long)]
    herald_bin: Option<PathBuf>,
    /// The `redis-server` program; the tool starts its own on a free loopback port.
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// Backends to measure.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Backend::Embedded, Backend::Redis])]
    backends: Vec<Backend>,
    /// `RUST_LOG` for Herald (default: Herald's own default, `info`).
    #[arg(long)]
    herald_log: Option<String>,
}

impl HeraldArgs {
    /// A plan that runs only what is common to every phase: the caller sets the rest. The
    /// job phases' settings here are unused by the SSE and webhook phases, and neither of
    /// those is planned.
    fn plan(
        self,
        output: &OutputArgs,
        (warmup, duration): (Duration, Duration),
    ) -> anyhow::Result<run_all::Plan> {
        Ok(run_all::Plan {
            herald_bin: checked_herald_bin(self.herald_bin)?,
            redis_server: self.redis_server,
            log_dir: output.log_dir.clone().unwrap_or_else(default_log_dir),
            backends: self.backends,
            connections: 64,
            threads: 1,
            warmup,
            duration,
            e2e_jobs: 0,
            e2e_timeout: Duration::ZERO,
            rate: 0.0,
            workers: 0,
            concurrency: None,
            herald_log: self.herald_log,
            sse: None,
            webhooks: None,
            bullmq: false,
        })
    }
}

/// Writes one section of docs/benchmarks.md between its own markers.
type SectionWriter = fn(&Path, &str) -> anyhow::Result<()>;

/// Where the whole-run commands put what they measured.
#[derive(Debug, Args)]
struct OutputArgs {
    /// Write the report into this Markdown file, between its herald-bench markers (each of
    /// `all`'s job, SSE and webhook sections, and `sse`, `webhooks` and `inbound`, have their
    /// own).
    #[arg(long)]
    write: Option<PathBuf>,
    /// Also write every figure as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Where child processes write their logs (default: a new directory under /tmp).
    #[arg(long)]
    log_dir: Option<PathBuf>,
}

impl OutputArgs {
    /// Prints every section of the report, writes the figures as JSON if asked, and each
    /// section into the Markdown file if asked.
    fn emit(
        &self,
        figures: &impl serde::Serialize,
        sections: &[(String, SectionWriter)],
    ) -> anyhow::Result<()> {
        for (markdown, _) in sections {
            println!("\n{markdown}");
        }
        write_json(self.json.as_deref(), figures)?;
        if let Some(path) = &self.write {
            for (markdown, write) in sections {
                write(path, markdown)?;
            }
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}

/// Writes every figure as JSON at `path`, if given.
fn write_json(path: Option<&Path>, figures: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let text = serde_json::to_string_pretty(figures).context("failed to encode JSON")?;
        std::fs::write(path, text)
            .with_context(|| format!("failed to write {}", path.display()))?;
    }
    Ok(())
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// Herald's base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API key, sent as `Authorization: Bearer …`.
    #[arg(long, env = "HERALD_BENCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl ServerArgs {
    fn target(&self) -> anyhow::Result<Arc<Target>> {
        Ok(Arc::new(Target::parse(&self.url, self.api_key.as_deref())?))
    }
}

#[derive(Debug, Clone, Args)]
struct LoadArgs {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    connections: u64,
    /// Load threads, each with a current-thread runtime. The tool shares the CPU with the
    /// server, so one is usually best.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: u64,
    /// Load before measuring.
    #[arg(long, default_value = "2s", value_parser = phase_duration)]
    warmup: Duration,
    /// Measured time per phase.
    #[arg(long, default_value = "10s", value_parser = phase_duration)]
    duration: Duration,
}

/// The Server-Sent Events phases' sizes.
#[derive(Debug, Clone, Args)]
struct SseArgs {
    /// Streams in the deliveries phase.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    sse_streams: u64,
    /// Idle streams of the memory phases, one phase each, comma-separated: 19,000 is about as
    /// many as one api process holds under a 20,000 open-files limit.
    #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000, 19_000],
          value_parser = clap::value_parser!(u64).range(1..=50_000))]
    sse_idle_streams: Vec<u64>,
    /// Streams in the latency phase.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=50_000))]
    sse_latency_streams: u64,
    /// Long `demo.report` jobs publishing progress (about 4 events/s each) in the deliveries
    /// phase: 3 offer 10,000 streams about 120,000 deliveries/s, three times the target.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    sse_jobs: u64,
    /// Report jobs in the latency phase: 10 offer 1,000 streams about 40,000 deliveries/s.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=64))]
    sse_latency_jobs: u64,
    /// Load threads holding the streams (one current-thread runtime each).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
    sse_threads: u64,
}

impl SseArgs {
    fn plan(&self) -> anyhow::Result<run_sse::SsePlan> {
        let mut idle_streams = self
            .sse_idle_streams
            .iter()
            .map(|&n| usize::try_from(n))
            .collect::<Result<Vec<_>, _>>()?;
        idle_streams.sort_unstable();
        idle_streams.dedup();
        Ok(run_sse::SsePlan {
            idle_streams,
            streams: usize::try_from(self.sse_streams)?,
            latency_streams: usize::try_from(self.sse_latency_streams)?,
            jobs: usize::try_from(self.sse_jobs)?,
            latency_jobs: usize::try_from(self.sse_latency_jobs)?,
            threads: usize::try_from(self.sse_threads)?,
        })
    }
}

/// The webhook phases' sizes.
#[derive(Debug, Clone, Args)]
struct WebhookArgs {
    /// Endpoints of the throughput phase, one subscription each to `job.pending`,
    /// `job.processing` and `job.completed`: each job makes 3 × this many deliveries.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=200))]
    webhook_endpoints: u64,
    /// No-op jobs of the throughput phase.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    webhook_jobs: u64,
    /// Healthy endpoints of the isolation phases (one more hangs in the second).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=200))]
    webhook_isolation_endpoints: u64,
    /// No-op jobs of each isolation phase (each makes one delivery per endpoint).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    webhook_isolation_jobs: u64,
    /// Pairs of isolation drains, alternated: without the hanging endpoint, with it; then
    /// with, without; …
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=5))]
    webhook_isolation_rounds: u64,
    /// Jobs per second in the latency phase, each with its own webhook: deliveries/s offered.
    #[arg(long, default_value_t = 1000.0, value_parser = rate)]
    webhook_rate: f64,
    /// Longest wait for the jobs and then the deliveries of one drain.
    #[arg(long, default_value = "60s", value_parser = phase_duration)]
    webhook_drain_timeout: Duration,
    /// Threads of the receiver's runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=16))]
    webhook_receiver_threads: u64,
    /// The webhook phases to run.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [
        run_webhooks::WebhookPhase::Throughput,
        run_webhooks::WebhookPhase::Latency,
        run_webhooks::WebhookPhase::Isolation,
    ])]
    webhook_phases: Vec<run_webhooks::WebhookPhase>,
    /// An extra argument for every Herald process of the webhook phases, repeatable, like
    /// `--herald-arg=--webhook-concurrency=1024`.
    #[arg(long, allow_hyphen_values = true)]
    herald_arg: Vec<String>,
}

impl WebhookArgs {
    fn plan(&self) -> anyhow::Result<run_webhooks::WebhookPlan> {
        Ok(run_webhooks::WebhookPlan {
            endpoints: usize::try_from(self.webhook_endpoints)?,
            jobs: usize::try_from(self.webhook_jobs)?,
            isolation_endpoints: usize::try_from(self.webhook_isolation_endpoints)?,
            isolation_jobs: usize::try_from(self.webhook_isolation_jobs)?,
            isolation_rounds: usize::try_from(self.webhook_isolation_rounds)?,
            rate: self.webhook_rate,
            drain_timeout: self.webhook_drain_timeout,
            receiver_threads: usize::try_from(self.webhook_receiver_threads)?,
            herald_args: self.herald_arg.clone(),
            phases: self.webhook_phases.clone(),
        })
    }
}

#[derive(Debug, Args)]
struct OpenLoopArgs {
    /// Jobs submitted per second.
    #[arg(long, default_value_t = 1000.0, value_parser = rate)]
    rate: f64,
    #[arg(long, default_value = "2s", value_parser = phase_duration)]
    warmup: Duration,
    #[arg(long, default_value = "10s", value_parser = phase_duration)]
    duration: Duration,
    /// The `wait` of each long poll, seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=60))]
    wait: u32,
    /// Most connections open at once (a waiting long poll holds one).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=8192))]
    max_connections: u64,
}

fn phase_duration(raw: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(raw)
        .map_err(|e| format!("`{raw}` is not a duration like 10s: {e}"))?;
    if parsed > MAX_PHASE {
        return Err(format!("at most {MAX_PHASE:?}: every run is bounded"));
    }
    Ok(parsed)
}

fn rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (1.0..=100_000.0).contains(&r) => Ok(r),
        _ => Err(format!("`{raw}` is not a rate from 1 to 100000 jobs/s")),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::ServeBaseline {
        bind,
        redis_url,
        workers,
    } = &cli.command
    {
        return baseline::serve(*bind, redis_url, *workers);
    }
    // The orchestration (and any child spawned) lives on this main thread for the whole run:
    // the children's PR_SET_PDEATHSIG is tied to it. Load threads have runtimes of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to build the runtime")?;
    let finished = runtime.block_on(async {
        tokio::select! {
            outcome = run(cli.command) => Some(outcome),
            signal = interrupted() => signal.err().map(Err),
        }
    });
    // On a signal the running command has been dropped by now, and with it every child
    // (killed on drop); say so and exit like an interrupted command line tool does.
    finished.unwrap_or_else(|| {
        eprintln!("interrupted: every process this run started has been stopped");
        std::process::exit(130)
    })
}

async fn interrupted() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("failed to listen for SIGTERM")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

async fn run(command: Command) -> anyhow::Result<()> {
    let noop = Bytes::from_static(accept::NOOP_JOB.as_bytes());
    match command {
        Command::Accept { server, load } => {
            let spec = accept_spec(server.target()?, &load);
            let report = accept::run(&spec).await?;
            println!("{}", run_all::describe_accept(&report));
        }
        Command::Baseline {
            redis_url,
            redis_server,
            log_dir,
            load,
        } => {
            let log_dir = log_dir.unwrap_or_else(default_log_dir);
            std::fs::create_dir_all(&log_dir)
                .with_context(|| format!("failed to create {}", log_dir.display()))?;
            let private = match &redis_url {
                Some(url) => {
                    check_loopback_redis(url)?;
                    None
                }
                None => Some(procs::RedisServer::start(&redis_server, &log_dir).await?),
            };
            let url = redis_url
                .or_else(|| private.as_ref().map(|r| r.url.clone()))
                .context("no Redis")?;
            let outcome = run_baseline(&url, &log_dir, &load).await;
            if let Some(private) = private {
                private.proc.stop().await?;
            }
            println!("{}", run_all::describe_accept(&outcome?));
        }
        Command::E2e {
            server,
            jobs,
            connections,
            timeout,
        } => {
            let spec = e2e::E2eSpec {
                target: server.target()?,
                body: noop,
                jobs: usize::try_from(jobs)?,
                connections: usize::try_from(connections)?,
                timeout,
            };
            let report = e2e::run(&spec).await?;
            println!("{}", run_all::describe_e2e(&report));
        }
        Command::Latency { server, open_loop } => {
            let pool = Arc::new(Pool::new(
                server.target()?,
                usize::try_from(open_loop.max_connections)?,
            ));
            let spec = latency::LatencySpec {
                body: noop,
                rate: open_loop.rate,
                warmup: open_loop.warmup,
                duration: open_loop.duration,
                wait_seconds: open_loop.wait,
                job_deadline: Duration::from_secs(u64::from(open_loop.wait) * 3),
            };
            let report = latency::run(pool, &spec).await?;
            println!("{}", run_all::describe_latency(&report));
        }
        Command::All {
            herald,
            workers,
            concurrency,
            e2e_jobs,
            e2e_timeout,
            rate,
            load,
            output,
            sse,
            no_sse,
            webhooks,
            no_webhooks,
            no_bullmq,
        } => {
            let plan = run_all::Plan {
                connections: usize::try_from(load.connections)?,
                threads: usize::try_from(load.threads)?,
                e2e_jobs: usize::try_from(e2e_jobs)?,
                e2e_timeout,
                rate,
                workers: usize::try_from(workers)?,
                concurrency,
                sse: if no_sse { None } else { Some(sse.plan()?) },
                webhooks: if no_webhooks {
                    None
                } else {
                    Some(webhooks.plan()?)
                },
                bullmq: !no_bullmq,
                ..herald.plan(&output, (load.warmup, load.duration))?
            };
            let figures = run_all::run(&plan).await?;
            let command = command_line();
            let mut sections: Vec<(String, SectionWriter)> =
                vec![(report::markdown(&figures, &command), report::write_section)];
            if let Some(sse) = &figures.sse {
                sections.push((
                    report::sse_markdown(sse, &command),
                    report::write_sse_section,
                ));
            }
            if let Some(webhooks) = &figures.webhooks {
                sections.push((
                    report::webhooks_markdown(webhooks, &command),
                    report::write_webhooks_section,
                ));
            }
            output.emit(&figures, &sections)?;
        }
        Command::Sse {
            herald,
            workers,
            concurrency,
            warmup,
            duration,
            sse,
            output,
        } => {
            let plan = run_all::Plan {
                workers: usize::try_from(workers)?,
                concurrency,
                sse: Some(sse.plan()?),
                ..herald.plan(&output, (warmup, duration))?
            };
            let figures = run_sse::run(&plan).await?;
            let markdown = report::sse_markdown(&figures, &command_line());
            output.emit(&figures, &[(markdown, report::write_sse_section)])?;
        }
        Command::Webhooks {
            herald,
            warmup,
            duration,
            webhooks,
            output,
        } => {
            let plan = run_all::Plan {
                webhooks: Some(webhooks.plan()?),
                ..herald.plan(&output, (warmup, duration))?
            };
            let figures = run_webhooks::run(&plan).await?;
            let markdown = report::webhooks_markdown(&figures, &command_line());
            output.emit(&figures, &[(markdown, report::write_webhooks_section)])?;
        }
        Command::Inbound {
            herald,
            load,
            rate,
            output,
        } => {
            let plan = run_all::Plan {
                connections: usize::try_from(load.connections)?,
                threads: usize::try_from(load.threads)?,
                rate,
                ..herald.plan(&output, (load.warmup, load.duration))?
            };
            let figures = run_inbound::run(&plan).await?;
            let markdown = report::inbound_markdown(&figures, &command_line());
            output.emit(&figures, &[(markdown, report::write_inbound_section)])?;
        }
        Command::Bullmq {
            herald_bin,
            redis_server,
            no_herald,
            workers,
            concurrency,
            e2e_jobs,
            e2e_timeout,
            load,
            json,
            log_dir,
        } => {
            let (herald_bin, backends) = if no_herald {
                (
                    herald_bin.unwrap_or_else(run_all::default_herald_bin),
                    vec![],
                )
            } else {
                (checked_herald_bin(herald_bin)?, vec![Backend::Redis])
            };
            let plan = run_all::Plan {
                herald_bin,
                redis_server,
                log_dir: log_dir.unwrap_or_else(default_log_dir),
                backends,
                connections: usize::try_from(load.connections)?,
                threads: usize::try_from(load.threads)?,
                warmup: load.warmup,
                duration: load.duration,
                e2e_jobs: usize::try_from(e2e_jobs)?,
                e2e_timeout,
                rate: 0.0,
                workers: usize::try_from(workers)?,
                concurrency,
                herald_log: None,
                sse: None,
                webhooks: None,
                bullmq: true,
            };
            let figures = bullmq::run_alone(&plan).await?;
            println!("\n{}", report::bullmq_markdown(&figures, &command_line()));
            write_json(json.as_deref(), &figures)?;
        }
        Command::ServeBaseline { .. } => bail!("serve-baseline runs outside the runtime"),
    }
    Ok(())
}

/// The Herald binary to run, which must exist.
fn checked_herald_bin(herald_bin: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let herald_bin = herald_bin.unwrap_or_else(run_all::default_herald_bin);
    if !herald_bin.is_file() {
        bail!(
            "no Herald binary at {}: build it with `cargo build --release -p herald` or pass --herald-bin",
            herald_bin.display()
        );
    }
    Ok(herald_bin)
}

fn accept_spec(target: Arc<Target>, load: &LoadArgs) -> accept::AcceptSpec {
    accept::AcceptSpec {
        target,
        path: "/v1/jobs".to_owned(),
        body: Bytes::from_static(accept::NOOP_JOB.as_bytes()),
        headers: None,
        connections: usize::try_from(load.connections).unwrap_or(64),
        threads: usize::try_from(load.threads).unwrap_or(1),
        warmup: load.warmup,
        duration: load.duration,
    }
}

/// Starts the baseline server as a child and loads it.
async fn run_baseline(
    redis_url: &str,
    log_dir: &std::path::Path,
    load: &LoadArgs,
) -> anyhow::Result<accept::AcceptReport> {
    let (server, target) = run_all::start_baseline(redis_url, log_dir).await?;
    let report = accept::run(&accept_spec(target, load)).await;
    server.stop().await?;
    report
}

/// Refuses a Redis outside loopback: the tool never reaches past this machine.
fn check_loopback_redis(url: &str) -> anyhow::Result<()> {
    let info = redis::IntoConnectionInfo::into_connection_info(url).context("invalid Redis URL")?;
    match info.addr() {
        redis::ConnectionAddr::Tcp(host, port) => {
            Target::parse(&format!("http://{host}:{port}"), None)
                .map(drop)
                .with_context(|| format!("Redis at {url} is not on loopback"))
        }
        redis::ConnectionAddr::Unix(_) => Ok(()),
        _ => bail!("Redis at {url}: only plain TCP on loopback or a Unix socket"),
    }
}

fn default_log_dir() -> PathBuf {
    std::env::temp_dir().join(format!("herald-bench-{}", std::process::id()))
}

/// The command as someone would type it to reproduce the run.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).map(|a| shell_quote(&a)).collect();
    format!("cargo run --release -p herald-bench -- {}", args.join(" "))
}

fn shell_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@".contains(c))
    {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn webhook_phases_and_extra_herald_flags_parse() {
        let cli = Cli::try_parse_from([
            "herald-bench",
            "webhooks",
            "--webhook-phases",
            "throughput,isolation",
            "--herald-arg=--webhook-concurrency=1024",
            "--herald-arg",
            "--webhook-endpoint-concurrency=8",
        ])
        .unwrap();
        let Command::Webhooks { webhooks, .. } = cli.command else {
            panic!("not the webhooks command");
        };
        let plan = webhooks.plan().unwrap();
        assert_eq!(
            plan.phases,
            [
                run_webhooks::WebhookPhase::Throughput,
                run_webhooks::WebhookPhase::Isolation
            ]
        );
        assert_eq!(
            plan.herald_args,
            [
                "--webhook-concurrency=1024",
                "--webhook-endpoint-concurrency=8"
            ]
        );
        assert_eq!((plan.endpoints, plan.isolation_endpoints), (10, 50));
    }

    #[test]
    fn the_inbound_command_takes_the_load_and_a_rate() {
        let cli = Cli::try_parse_from([
            "herald-bench",
            "inbound",
            "--backends",
            "redis",
            "--rate",
            "500",
            "--write",
            "docs/benchmarks.md",
        ])
        .unwrap();
        let Command::Inbound {
            herald, load, rate, ..
        } = cli.command
        else {
            panic!("not the inbound command");
        };
        assert_eq!(herald.backends, [Backend::Redis]);
        assert_eq!((load.connections, load.threads), (64, 1));
        assert_eq!(load.duration, Duration::from_secs(10));
        assert!((rate - 500.0).abs() < f64::EPSILON);
    }

    #[test]
    fn phases_are_bounded() {
        assert!(phase_duration("10s").is_ok());
        assert!(phase_duration("2h").is_err());
        assert!(rate("0").is_err());
        assert!(rate("1000").is_ok());
    }

    #[test]
    fn redis_outside_loopback_is_refused() {
        assert!(check_loopback_redis("redis://127.0.0.1:6400").is_ok());
        assert!(check_loopback_redis("redis://10.1.2.3:6379").is_err());
    }

    #[test]
    fn arguments_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("docs/benchmarks.md"), "docs/benchmarks.md");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
