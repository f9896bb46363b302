//! `herald-bench all`: one whole, reproducible run. A private `redis-server`, then for each
//! phase a fresh deployment (the baseline server, or Herald on one backend), loaded, sampled
//! for CPU time, checked for complaints in its log, and stopped. Fresh deployments keep the
//! phases apart: no backlog of one phase is worked off during the next.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use tokio::time::Instant;

use crate::accept::{self, AcceptReport, AcceptSpec};
use crate::bullmq::{self, BullmqPart, BullmqPlan};
use crate::e2e::{self, E2eReport, E2eSpec};
use crate::http::{Pool, Target};
use crate::latency::{self, LatencyReport, LatencySpec};
use crate::machine::{self, Machine};
use crate::procs::{self, LogTrouble, Proc, RedisServer};

/// Which Herald backends to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// One process, every role, the in-memory backend.
    Embedded,
    /// One api process and `--workers` worker processes on the private Redis.
    Redis,
}

/// Everything `all` needs to know.
#[derive(Debug, Clone)]
pub struct Plan {
    pub herald_bin: PathBuf,
    pub redis_server: PathBuf,
    pub log_dir: PathBuf,
    pub backends: Vec<Backend>,
    pub connections: usize,
    pub threads: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub e2e_jobs: usize,
    pub e2e_timeout: Duration,
    pub rate: f64,
    pub workers: usize,
    pub concurrency: Option<u32>,
    pub herald_log: Option<String>,
    /// The SSE phases; `None` leaves them out.
    pub sse: Option<crate::run_sse::SsePlan>,
    /// The webhook phases; `None` leaves them out.
    pub webhooks: Option<crate::run_webhooks::WebhookPlan>,
    /// Whether to run the BullMQ phases after Herald's job phases.
    pub bullmq: bool,
}

impl Plan {
    /// The BullMQ phases in the shape of Herald's: the same adds in flight as connections,
    /// window, jobs, timeout, worker processes and worker concurrency.
    pub fn bullmq(&self) -> BullmqPlan {
        BullmqPlan {
            in_flight: self.connections,
            warmup: self.warmup,
            duration: self.duration,
            jobs: self.e2e_jobs,
            timeout: self.e2e_timeout,
            workers: self.workers,
            concurrency: self
                .concurrency
                .unwrap_or(bullmq::HERALD_DEFAULT_CONCURRENCY),
        }
    }
}

/// Starts the baseline server (this tool's `serve-baseline`) on `redis_url` and waits until
/// it answers.
///
/// # Errors
/// When it cannot be started or does not answer.
pub async fn start_baseline(
    redis_url: &str,
    log_dir: &Path,
) -> anyhow::Result<(Proc, Arc<Target>)> {
    let addr = procs::free_addr()?;
    let exe = std::env::current_exe().context("failed to find the tool's own binary")?;
    let args = [
        "serve-baseline".to_owned(),
        "--bind".to_owned(),
        addr.to_string(),
        "--redis-url".to_owned(),
        redis_url.to_owned(),
    ];
    let mut proc = Proc::spawn("baseline", &exe, args, &[], log_dir)?;
    let target = Arc::new(Target::new(addr, None)?);
    proc.wait_http_ready(&target, "/healthz").await?;
    Ok((proc, target))
}

/// CPU time each process used during a phase.
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub wall_seconds: f64,
    /// `(process, CPU seconds)`.
    pub processes: Vec<(String, f64)>,
}

/// CPU time of some processes, Redis, the tool itself and the whole machine, sampled at will,
/// for a window inside a phase.
pub struct CpuProbe {
    /// `(name, /proc/<pid>/stat)`.
    stats: Vec<(String, String)>,
}

/// One reading of a [`CpuProbe`].
pub struct CpuSample {
    processes: Vec<f64>,
    machine: Option<procs::MachineCpu>,
}

impl CpuProbe {
    /// Watches `processes`, Redis when given, and the tool.
    pub fn of<'a>(
        processes: impl IntoIterator<Item = &'a Proc>,
        redis: Option<&RedisServer>,
    ) -> Self {
        let mut stats: Vec<(String, String)> = processes
            .into_iter()
            .map(|p| (short_name(p.name()), format!("/proc/{}/stat", p.pid())))
            .collect();
        if let Some(redis) = redis {
            stats.push((
                "redis-server".to_owned(),
                format!("/proc/{}/stat", redis.proc.pid()),
            ));
        }
        stats.push(("herald-bench".to_owned(), "/proc/self/stat".to_owned()));
        Self { stats }
    }

    pub fn sample(&self) -> CpuSample {
        CpuSample {
            processes: self
                .stats
                .iter()
                .map(|(_, path)| procs::cpu_seconds_of(path).unwrap_or(0.0))
                .collect(),
            machine: procs::MachineCpu::read(),
        }
    }

    /// The CPU used since `before`, with what other processes and softirq took meanwhile.
    pub fn since(&self, before: &CpuSample, wall_seconds: f64) -> Cpu {
        let after = self.sample();
        let mut processes: Vec<(String, f64)> = self
            .stats
            .iter()
            .zip(before.processes.iter().zip(&after.processes))
            .map(|((name, _), (from, to))| (name.clone(), to - from))
            .collect();
        if let (Some(from), Some(to)) = (before.machine, after.machine) {
            let ours: f64 = processes.iter().map(|(_, seconds)| seconds).sum();
            let other = (to.process_seconds - from.process_seconds - ours).max(0.0);
            processes.push(("other processes".to_owned(), other));
            processes.push((
                "kernel softirq".to_owned(),
                to.softirq_seconds - from.softirq_seconds,
            ));
        }
        Cpu {
            wall_seconds,
            processes,
        }
    }
}

impl Cpu {
    /// `api 95%, redis-server 40%, …`: percent of one core over the phase.
    pub fn describe(&self) -> String {
        self.processes
            .iter()
            .map(|(name, seconds)| {
                format!(
                    "{name} {:.0}%",
                    seconds / self.wall_seconds.max(1e-9) * 100.0
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One phase's figures with what it cost and what the servers logged.
#[derive(Debug, Clone, Serialize)]
pub struct Measured<T> {
    pub figures: T,
    pub cpu: Cpu,
    pub load_after: String,
    /// `(process, trouble)` for processes that logged errors or warnings.
    pub trouble: Vec<(String, LogTrouble)>,
    /// Where Redis spent its time during the phase (Redis phases only), costliest first.
    pub redis_commands: Vec<procs::CommandStat>,
}

/// A backend's phases.
#[derive(Debug, Clone, Serialize)]
pub struct BackendFigures {
    pub backend: Backend,
    /// What served the accept phase.
    pub accept_topology: String,
    pub accept: Measured<AcceptReport>,
    /// Redis only: the same load with the workers running and draining the queue.
    pub accept_with_workers: Option<Measured<AcceptReport>>,
    pub e2e_topology: String,
    pub e2e: Measured<E2eReport>,
    pub latency: Measured<LatencyReport>,
}

/// What every report says of its run: where, which Herald, when and for how long.
#[derive(Debug, Clone, Serialize)]
pub struct RunFacts {
    pub machine: Machine,
    /// The Herald binary measured and when it was built.
    pub herald_bin: String,
    pub started_at: String,
    pub wall_seconds: f64,
}

/// When a run started.
pub struct RunStart {
    at: String,
    instant: std::time::Instant,
}

impl RunStart {
    pub fn now() -> Self {
        Self {
            at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            instant: std::time::Instant::now(),
        }
    }

    /// The run's facts, as it ends.
    pub fn facts(self, machine: Machine, herald_bin: &Path) -> RunFacts {
        RunFacts {
            machine,
            herald_bin: describe_binary(herald_bin),
            started_at: self.at,
            wall_seconds: self.instant.elapsed().as_secs_f64(),
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    #[serde(flatten)]
    pub run: RunFacts,
    pub connections: usize,
    pub threads: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub e2e_jobs: usize,
    pub rate: f64,
    pub workers: usize,
    pub concurrency: Option<u32>,
    pub herald_log: Option<String>,
    pub baseline: Measured<AcceptReport>,
    pub backends: Vec<BackendFigures>,
    pub load_at_end: String,
    /// BullMQ in the shape of the job phases, run right after them; `None` when left out.
    pub bullmq: Option<BullmqPart>,
    /// The SSE phases, run after the others.
    pub sse: Option<crate::run_sse::SseFigures>,
    /// The webhook phases, run last.
    pub webhooks: Option<crate::run_webhooks::WebhookFigures>,
}

/// Readies a run: its log folder, the machine's description (with the load now) and a private
/// Redis, announcing both on stderr.
///
/// # Errors
/// When the log folder cannot be made or Redis cannot be started.
pub async fn open_run(plan: &Plan, name: &str) -> anyhow::Result<(Machine, RedisServer)> {
    let machine = Machine::collect(&plan.redis_server);
    std::fs::create_dir_all(&plan.log_dir)
        .with_context(|| format!("failed to create {}", plan.log_dir.display()))?;
    eprintln!(
        "herald-bench {name}: logs in {}; load average {}",
        plan.log_dir.display(),
        machine.load_at_start
    );
    let redis = RedisServer::start(&plan.redis_server, &plan.log_dir).await?;
    eprintln!("private redis-server at {}", redis.url);
    Ok((machine, redis))
}

/// Runs every phase and returns the figures. Every child is stopped before this returns,
/// on success or error (dropped children are killed).
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run(plan: &Plan) -> anyhow::Result<Figures> {
    let started = RunStart::now();
    let (machine, redis) = open_run(plan, "all").await?;
    // Installing BullMQ loads the box: before any measured phase.
    let install = if plan.bullmq {
        Some(bullmq::install(&plan.log_dir).await)
    } else {
        None
    };

    let outcome = run_phases(plan, &redis, install.as_ref()).await;
    let sse = match (&outcome, &plan.sse) {
        (Ok(_), Some(_)) => {
            // Phase numbers go on from the job phases' (they name logs and key prefixes).
            let mut runner = Runner {
                plan,
                redis: &redis,
                phase: 50,
            };
            Some(crate::run_sse::run_phases(&mut runner, machine.clone()).await)
        }
        _ => None,
    };
    let webhooks = match (&outcome, &plan.webhooks) {
        (Ok(_), Some(_)) => Some(
            // Phase numbers go on from the SSE phases'.
            crate::run_webhooks::run_phases(plan, &redis, machine.clone(), 80).await,
        ),
        _ => None,
    };
    redis.proc.stop().await?;
    let JobPhases {
        baseline,
        backends,
        bullmq,
    } = outcome?;
    let sse = sse.transpose()?;
    let webhooks = webhooks.transpose()?;
    Ok(Figures {
        run: started.facts(machine, &plan.herald_bin),
        connections: plan.connections,
        threads: plan.threads,
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        e2e_jobs: plan.e2e_jobs,
        rate: plan.rate,
        workers: plan.workers,
        concurrency: plan.concurrency,
        herald_log: plan.herald_log.clone(),
        baseline,
        backends,
        load_at_end: machine::load_average(),
        bullmq,
        sse,
        webhooks,
    })
}

/// The job phases' figures.
struct JobPhases {
    baseline: Measured<AcceptReport>,
    backends: Vec<BackendFigures>,
    bullmq: Option<BullmqPart>,
}

async fn run_phases(
    plan: &Plan,
    redis: &RedisServer,
    bullmq_install: Option<&Result<bullmq::Install, String>>,
) -> anyhow::Result<JobPhases> {
    let mut runner = Runner {
        plan,
        redis,
        phase: 0,
    };

    eprintln!("\n== baseline: actix-web + one Redis INCR per request");
    let baseline = runner.baseline().await?;
    eprintln!("   {}", describe_accept(&baseline.figures));

    let mut backends = Vec::new();
    for &backend in &plan.backends {
        let name = match backend {
            Backend::Embedded => "embedded",
            Backend::Redis => "redis",
        };
        // The accept phase measures the API alone where the topology allows it, as the
        // baseline (and BullMQ's `Queue.add` phase) has no consumer either.
        let accept_topology = match backend {
            Backend::Embedded => "one process, all roles".to_owned(),
            Backend::Redis => "one api process, no worker running".to_owned(),
        };
        let e2e_topology = match backend {
            Backend::Embedded => "one process, all roles".to_owned(),
            Backend::Redis => format!(
                "one api process + {} worker process{}",
                plan.workers,
                if plan.workers == 1 { "" } else { "es" }
            ),
        };

        eprintln!("\n== {name}: accept ({accept_topology})");
        let accept = runner.accept(backend, 0).await?;
        eprintln!("   {}", describe_accept(&accept.figures));

        let accept_with_workers = if backend == Backend::Redis && plan.workers > 0 {
            eprintln!("\n== {name}: accept, {e2e_topology} draining the queue");
            let measured = runner.accept(backend, plan.workers).await?;
            eprintln!("   {}", describe_accept(&measured.figures));
            Some(measured)
        } else {
            None
        };

        eprintln!(
            "\n== {name}: end to end, {} no-op jobs ({e2e_topology})",
            plan.e2e_jobs
        );
        let e2e = runner.e2e(backend).await?;
        eprintln!("   {}", describe_e2e(&e2e.figures));

        eprintln!(
            "\n== {name}: submit-to-completed latency at {} jobs/s",
            plan.rate
        );
        let latency = runner.latency(backend).await?;
        eprintln!("   {}", describe_latency(&latency.figures));

        backends.push(BackendFigures {
            backend,
            accept_topology,
            accept,
            accept_with_workers,
            e2e_topology,
            e2e,
            latency,
        });
    }
    // Right after Herald's job phases, so that the two are measured in the same window.
    let bullmq = match bullmq_install {
        Some(install) => Some(bullmq::run_phases(&mut runner, install, &plan.bullmq()).await),
        None => None,
    };
    Ok(JobPhases {
        baseline,
        backends,
        bullmq,
    })
}

/// A started set of processes and the address of its API.
pub(crate) struct Deployment {
    pub(crate) procs: Vec<Proc>,
    pub(crate) target: Arc<Target>,
    /// Whether the private Redis takes part (its CPU time is then part of the phase's).
    pub(crate) uses_redis: bool,
}

pub(crate) struct Runner<'a> {
    pub(crate) plan: &'a Plan,
    pub(crate) redis: &'a RedisServer,
    pub(crate) phase: usize,
}

impl Runner<'_> {
    fn accept_spec(&self, target: Arc<Target>) -> AcceptSpec {
        AcceptSpec {
            target,
            path: "/v1/jobs".to_owned(),
            body: Bytes::from_static(accept::NOOP_JOB.as_bytes()),
            headers: None,
            connections: self.plan.connections,
            threads: self.plan.threads,
            warmup: self.plan.warmup,
            duration: self.plan.duration,
        }
    }

    async fn baseline(&mut self) -> anyhow::Result<Measured<AcceptReport>> {
        let (proc, target) = start_baseline(&self.redis.url, &self.plan.log_dir).await?;
        let deployment = Deployment {
            procs: vec![proc],
            target,
            uses_redis: true,
        };
        let spec = self.accept_spec(Arc::clone(&deployment.target));
        self.measure(deployment, async move { accept::run(&spec).await })
            .await
    }

    pub(crate) async fn accept(
        &mut self,
        backend: Backend,
        workers: usize,
    ) -> anyhow::Result<Measured<AcceptReport>> {
        let deployment = self.deploy(backend, workers).await?;
        let spec = self.accept_spec(Arc::clone(&deployment.target));
        self.measure(deployment, async move { accept::run(&spec).await })
            .await
    }

    pub(crate) async fn e2e(&mut self, backend: Backend) -> anyhow::Result<Measured<E2eReport>> {
        let deployment = self.deploy(backend, self.plan.workers).await?;
        let spec = E2eSpec {
            target: Arc::clone(&deployment.target),
            body: Bytes::from_static(accept::NOOP_JOB.as_bytes()),
            jobs: self.plan.e2e_jobs,
            connections: self.plan.connections,
            timeout: self.plan.e2e_timeout,
        };
        self.measure(deployment, async move { e2e::run(&spec).await })
            .await
    }

    async fn latency(&mut self, backend: Backend) -> anyhow::Result<Measured<LatencyReport>> {
        let deployment = self.deploy(backend, self.plan.workers).await?;
        let pool = Arc::new(Pool::new(Arc::clone(&deployment.target), 1024));
        let spec = LatencySpec {
            body: Bytes::from_static(accept::NOOP_JOB.as_bytes()),
            rate: self.plan.rate,
            warmup: self.plan.warmup,
            duration: self.plan.duration,
            wait_seconds: 10,
            job_deadline: Duration::from_secs(30),
        };
        self.measure(deployment, async move { latency::run(pool, &spec).await })
            .await
    }

    /// Starts Herald for one phase: embedded (one process, every role) or Redis (one api
    /// process and `workers` worker processes, under a key prefix of their own).
    pub(crate) async fn deploy(
        &mut self,
        backend: Backend,
        workers: usize,
    ) -> anyhow::Result<Deployment> {
        self.phase += 1;
        let mut envs = vec![("NO_COLOR".to_owned(), "1".to_owned())];
        if let Some(filter) = &self.plan.herald_log {
            envs.push(("RUST_LOG".to_owned(), filter.clone()));
        }
        let addr = procs::free_addr()?;
        let target = Arc::new(Target::new(addr, None)?);
        let mut common = Vec::new();
        if let Some(concurrency) = self.plan.concurrency {
            common.extend(["--concurrency".to_owned(), concurrency.to_string()]);
        }
        let herald = self.plan.herald_bin.as_path();
        let log_dir = self.plan.log_dir.as_path();
        let phase = self.phase;
        let mut procs = Vec::new();
        match backend {
            Backend::Embedded => {
                let mut args = serve_args(addr.to_string());
                args.extend(common);
                let name = format!("{phase:02}-herald-embedded");
                procs.push(Proc::spawn(&name, herald, args, &envs, log_dir)?);
            }
            Backend::Redis => {
                let prefix = format!("herald-bench-{}-{phase}", std::process::id());
                let redis = ["--redis-url".to_owned(), self.redis.url.clone()];
                let prefix = ["--redis-prefix".to_owned(), prefix];
                let mut args = serve_args(addr.to_string());
                args.extend(redis.clone());
                args.extend(prefix.clone());
                args.extend(["--roles".to_owned(), "api".to_owned()]);
                let name = format!("{phase:02}-herald-api");
                procs.push(Proc::spawn(&name, herald, args, &envs, log_dir)?);
                for index in 1..=workers {
                    // A worker-only process binds nothing, but give it a free address anyway
                    // so a future health port cannot collide with the api's.
                    let mut args = serve_args(procs::free_addr()?.to_string());
                    args.extend(redis.clone());
                    args.extend(prefix.clone());
                    args.extend(["--roles".to_owned(), "worker".to_owned()]);
                    args.extend(common.clone());
                    let name = format!("{phase:02}-herald-worker-{index}");
                    procs.push(Proc::spawn(&name, herald, args, &envs, log_dir)?);
                }
            }
        }
        for proc in &mut procs {
            if proc.name().contains("worker") {
                proc.wait_logged("herald started").await?;
            } else {
                proc.wait_http_ready(&target, "/readyz").await?;
            }
        }
        Ok(Deployment {
            procs,
            target,
            uses_redis: backend == Backend::Redis,
        })
    }

    /// Runs one phase on a deployment: CPU time sampled around it, the deployment stopped
    /// and its logs scanned afterwards, Redis emptied for the next phase.
    pub(crate) async fn measure<T>(
        &self,
        deployment: Deployment,
        phase: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<Measured<T>> {
        self.measure_procs(deployment.procs, deployment.uses_redis, phase)
            .await
    }

    /// [`Runner::measure`] for any set of processes (not only Herald's: BullMQ's too), with
    /// the private Redis taking part or not.
    pub(crate) async fn measure_procs<T>(
        &self,
        procs: Vec<Proc>,
        uses_redis: bool,
        phase: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<Measured<T>> {
        let sample = |procs: &[Proc]| {
            let mut taken: Vec<(String, f64)> = procs
                .iter()
                .map(|p| (short_name(p.name()), p.cpu_seconds().unwrap_or(0.0)))
                .collect();
            if uses_redis {
                taken.push((
                    "redis-server".to_owned(),
                    self.redis.proc.cpu_seconds().unwrap_or(0.0),
                ));
            }
            taken.push((
                "herald-bench".to_owned(),
                procs::cpu_seconds_of("/proc/self/stat").unwrap_or(0.0),
            ));
            taken
        };
        if uses_redis {
            self.redis.reset_stats().await?;
        }
        let before = sample(&procs);
        let machine_before = procs::MachineCpu::read();
        let started = Instant::now();
        let figures = phase.await;
        let wall_seconds = started.elapsed().as_secs_f64();
        let after = sample(&procs);
        let machine_after = procs::MachineCpu::read();
        let load_after = machine::load_average();
        let redis_commands = if uses_redis {
            self.redis.command_stats().await?
        } else {
            Vec::new()
        };
        let logs: Vec<(String, PathBuf)> = procs
            .iter()
            .map(|p| (short_name(p.name()), p.log().to_path_buf()))
            .collect();
        for proc in procs {
            proc.stop().await?;
        }
        self.redis.flush().await?;
        let figures = figures?;
        let mut processes: Vec<(String, f64)> = before
            .into_iter()
            .zip(after)
            .map(|((name, from), (_, to))| (name, to - from))
            .collect();
        // What the machine did besides: other processes (a compile would show here) and the
        // kernel's softirq time, mostly loopback networking, which no process is billed for.
        if let (Some(from), Some(to)) = (machine_before, machine_after) {
            let ours: f64 = processes.iter().map(|(_, seconds)| seconds).sum();
            let other = (to.process_seconds - from.process_seconds - ours).max(0.0);
            processes.push(("other processes".to_owned(), other));
            processes.push((
                "kernel softirq".to_owned(),
                to.softirq_seconds - from.softirq_seconds,
            ));
        }
        let trouble = procs::troubled(logs);
        Ok(Measured {
            figures,
            cpu: Cpu {
                wall_seconds,
                processes,
            },
            load_after,
            trouble,
            redis_commands,
        })
    }
}

fn serve_args(bind: String) -> Vec<String> {
    vec!["serve".to_owned(), "--bind".to_owned(), bind]
}

/// `herald-worker-1` out of `07-herald-worker-1`.
pub(crate) fn short_name(name: &str) -> String {
    name.split_once('-')
        .filter(|(phase, _)| phase.chars().all(|c| c.is_ascii_digit()))
        .map_or(name, |(_, rest)| rest)
        .to_owned()
}

/// One line about an accept run, for progress output.
pub fn describe_accept(r: &AcceptReport) -> String {
    format!(
        "{:.0} jobs/s; latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms; non-202 {}, errors {}{}",
        r.per_second(),
        r.latency.p50_ms,
        r.latency.p90_ms,
        r.latency.p99_ms,
        r.latency.max_ms,
        r.non_accepted(),
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

/// One line about an end-to-end run.
pub fn describe_e2e(r: &E2eReport) -> String {
    format!(
        "{:.0} completed jobs/s ({} of {} completed in {:.2} s, submitted in {:.2} s); failed {}, stuck {}, rejected {}, errors {}{}",
        r.per_second(),
        r.completed,
        r.jobs,
        r.total_seconds,
        r.submit_seconds,
        r.failed,
        r.stuck,
        r.rejected,
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

/// One line about a latency run.
pub fn describe_latency(r: &LatencyReport) -> String {
    format!(
        "submit-to-completed p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} jobs; submit p99 {:.2} ms; {:.2} polls/job; not completed {}, timed out {}, rejected {}, errors {}{}",
        r.completed_latency.p50_ms,
        r.completed_latency.p90_ms,
        r.completed_latency.p99_ms,
        r.completed_latency.max_ms,
        r.completed,
        r.submit.p99_ms,
        r.polls_per_job,
        r.not_completed,
        r.timed_out,
        r.rejected,
        r.errors,
        r.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

/// `target/release/herald, built 2025-01-01 10:00 UTC`: a stale binary measures old code.
pub(crate) fn describe_binary(path: &Path) -> String {
    let built = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| {
            chrono::DateTime::<chrono::Utc>::from(t)
                .format("%Y-%m-%d %H:%M UTC")
                .to_string()
        })
        .unwrap_or_else(|_| "at an unknown time".to_owned());
    format!("{}, built {built}", path.display())
}

/// The default Herald binary: next to this tool's own (`target/release/herald` when the tool
/// runs as `cargo run --release -p herald-bench`), else relative to the working directory.
pub fn default_herald_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("herald")))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| Path::new("target/release/herald").to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_numbers_are_dropped_from_process_names() {
        assert_eq!(short_name("07-herald-worker-1"), "herald-worker-1");
        assert_eq!(short_name("redis-server"), "redis-server");
    }
}
