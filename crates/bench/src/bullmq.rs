//! The BullMQ phases: the queue a user would otherwise pick, measured on the run's private
//! Redis in the shape of Herald's own phases, so that the report can put Herald ÷ BullMQ
//! beside Herald ÷ baseline.
//!
//! BullMQ ([`VERSION`], pinned) is installed from npm into a scratch folder outside the
//! repository (next to this tool's binary under `target/`, kept between runs). The node
//! program that drives it, `crates/bench/bullmq/bench.mjs`, is compiled into the tool and
//! written next to that install at run time. Without `node` or `npm`, or when the install
//! fails, the phases are skipped and the report says why.
//!
//! - **`Queue.add`**: one node process adds no-op jobs in a closed loop with as many adds in
//!   flight as Herald's accept phase has connections (64), no worker running; warm-up and
//!   window as Herald's.
//! - **End to end**: as many worker processes as Herald's Redis deployment has (2), each with
//!   Herald's worker concurrency (16 unless `--concurrency`), a no-op processor, completed
//!   jobs kept (`removeOnComplete: false`); the same N jobs added with the same number in
//!   flight; completed jobs/s from the first add to the last completion, watched every 10 ms.
//!
//! Every node process is a [`Proc`] like Herald's: ended when the phase ends, killed on an
//! error or if the tool dies, and bounded by a limit of its own (`--limit-seconds`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::{Instant, sleep};

use crate::accept::AcceptReport;
use crate::e2e::E2eReport;
use crate::procs::{self, Proc};
use crate::run_all::{
    Backend, Measured, Plan, RunFacts, RunStart, Runner, describe_accept, describe_e2e, open_run,
};
use crate::stats::Summary;

/// The BullMQ measured: the newest 5.x on npm when the comparison was added (issue 12 quoted
/// 5.81).
pub const VERSION: &str = "5.81.5";

/// Herald's default `--concurrency` (jobs one worker process runs at once): BullMQ's workers
/// get the same when the run does not set one.
pub const HERALD_DEFAULT_CONCURRENCY: u32 = 16;

/// The node program, written next to the install at run time.
const PROGRAM: &str = include_str!("../bullmq/bench.mjs");
const PROGRAM_FILE: &str = "herald-bench-bullmq.mjs";

/// What the node program logs once connected, and before its figures.
const READY: &str = "herald-bench-bullmq ready";
const RESULT: &str = "herald-bench-bullmq result ";

/// The queue's name (Redis is flushed between phases, so one name serves every phase).
const QUEUE: &str = "herald-bench";

/// Longest `npm install`, and longest `node --version` or `npm --version`.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
const VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Margin given to a node process past its phase's own bound, and to the tool's wait for
/// its figures.
const LIMIT_MARGIN: Duration = Duration::from_secs(60);

/// How often the tool looks for the producer's figures.
const RESULT_POLL: Duration = Duration::from_millis(20);

/// A usable BullMQ install: node, and a folder holding `node_modules/bullmq` and the program.
#[derive(Debug, Clone)]
pub struct Install {
    pub node_version: String,
    dir: PathBuf,
}

impl Install {
    fn program(&self) -> PathBuf {
        self.dir.join(PROGRAM_FILE)
    }
}

/// What became of the BullMQ phases.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BullmqPart {
    /// Not run, or failed: why.
    Skipped {
        reason: String,
    },
    Measured(Box<BullmqFigures>),
}

/// BullMQ's figures, in the shapes of Herald's accept and end-to-end phases.
#[derive(Debug, Clone, Serialize)]
pub struct BullmqFigures {
    pub version: String,
    pub node_version: String,
    pub workers: usize,
    pub concurrency: u32,
    /// Adds in flight, in both phases.
    pub in_flight: usize,
    /// `Queue.add`, closed loop, no worker running: `accepted` counts resolved adds.
    pub add: Measured<AcceptReport>,
    /// End to end: `accepted` counts added jobs, `submit_seconds` the time to add them all.
    pub e2e: Measured<E2eReport>,
}

/// `herald-bench bullmq`: the BullMQ phases on a private Redis of their own, beside Herald's
/// Redis accept and end-to-end phases when the plan has the Redis backend.
#[derive(Debug, Clone, Serialize)]
pub struct BullmqRun {
    #[serde(flatten)]
    pub run: RunFacts,
    pub connections: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub e2e_jobs: usize,
    pub workers: usize,
    pub herald_accept: Option<Measured<AcceptReport>>,
    pub herald_e2e: Option<Measured<E2eReport>>,
    pub bullmq: BullmqPart,
    pub load_at_end: String,
}

/// Runs `herald-bench bullmq`. Every child is stopped before this returns.
///
/// # Errors
/// When Redis or Herald cannot be started or one of Herald's phases fails (a failing BullMQ
/// phase is reported as skipped instead).
pub async fn run_alone(plan: &Plan) -> anyhow::Result<BullmqRun> {
    let started = RunStart::now();
    let (machine, redis) = open_run(plan, "bullmq").await?;
    let install = install(&plan.log_dir).await;
    let outcome = async {
        let mut runner = Runner {
            plan,
            redis: &redis,
            phase: 0,
        };
        let mut herald = (None, None);
        if plan.backends.contains(&Backend::Redis) {
            eprintln!("\n== redis: accept (one api process, no worker running)");
            let accept = runner.accept(Backend::Redis, 0).await?;
            eprintln!("   {}", describe_accept(&accept.figures));
            eprintln!(
                "\n== redis: end to end, {} no-op jobs (one api process + {} worker processes)",
                plan.e2e_jobs, plan.workers
            );
            let e2e = runner.e2e(Backend::Redis).await?;
            eprintln!("   {}", describe_e2e(&e2e.figures));
            herald = (Some(accept), Some(e2e));
        }
        let bullmq = run_phases(&mut runner, &install, &plan.bullmq()).await;
        anyhow::Ok((herald, bullmq))
    }
    .await;
    redis.proc.stop().await?;
    let ((herald_accept, herald_e2e), bullmq) = outcome?;
    Ok(BullmqRun {
        run: started.facts(machine, &plan.herald_bin),
        connections: plan.connections,
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        e2e_jobs: plan.e2e_jobs,
        workers: plan.workers,
        herald_accept,
        herald_e2e,
        bullmq,
        load_at_end: crate::machine::load_average(),
    })
}

/// The BullMQ phases' sizes, taken from the run's plan so that they match Herald's.
#[derive(Debug, Clone)]
pub struct BullmqPlan {
    pub in_flight: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub jobs: usize,
    pub timeout: Duration,
    pub workers: usize,
    pub concurrency: u32,
}

/// Finds node and npm and installs the pinned BullMQ, or says why the phases are skipped.
/// Runs before any measured phase: the install loads the box.
pub async fn install(log_dir: &Path) -> Result<Install, String> {
    let node_version = tool_version("node", log_dir).await?;
    tool_version("npm", log_dir).await?;
    let dir = install_dir(log_dir);
    if installed_version(&dir).as_deref() != Some(VERSION) {
        eprintln!(
            "installing bullmq {VERSION} from npm into {} (kept for later runs)",
            dir.display()
        );
        npm_install(&dir, log_dir)
            .await
            .map_err(|e| format!("`npm install bullmq@{VERSION}` failed: {e:#}"))?;
    }
    let install = Install { node_version, dir };
    std::fs::write(install.program(), PROGRAM).map_err(|e| {
        format!(
            "failed to write the node program into {}: {e}",
            install.dir.display()
        )
    })?;
    Ok(install)
}

/// `v20.1.0` from `node --version`, or why not.
async fn tool_version(program: &str, log_dir: &Path) -> Result<String, String> {
    let missing = |why: String| format!("`{program}` is not usable here ({why})");
    let name = format!("{program}-version");
    let proc = Proc::spawn(&name, Path::new(program), ["--version"], &[], log_dir)
        .map_err(|e| missing(format!("{e:#}")))?;
    let log = proc.log().to_path_buf();
    let status = proc
        .wait(VERSION_TIMEOUT)
        .await
        .map_err(|e| missing(format!("{e:#}")))?;
    let said = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        return Err(missing(format!(
            "`{program} --version` exited with {status}"
        )));
    }
    Ok(said.trim().to_owned())
}

/// Where BullMQ is installed: next to this tool's binary (`target/release/bullmq-<version>`
/// when the tool runs from the workspace), so that later runs reuse it; under the run's log
/// folder where that folder cannot be written.
fn install_dir(log_dir: &Path) -> PathBuf {
    let name = format!("bullmq-{VERSION}");
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|dir| std::fs::create_dir_all(dir).is_ok())
        .unwrap_or_else(|| log_dir.join(name))
}

/// The version of `node_modules/bullmq` in `dir`, if any.
fn installed_version(dir: &Path) -> Option<String> {
    let manifest = dir.join("node_modules/bullmq/package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let parsed: serde_json::Value = serde_json::from_str(&text).ok()?;
    parsed.get("version")?.as_str().map(str::to_owned)
}

/// `npm install` of exactly [`VERSION`] into `dir`, without running any package's install
/// scripts.
async fn npm_install(dir: &Path, log_dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let manifest = serde_json::json!({
        "name": "herald-bench-bullmq",
        "private": true,
        "description": "Written by herald-bench: the BullMQ its bullmq phases measure",
        "dependencies": { "bullmq": VERSION },
    });
    std::fs::write(dir.join("package.json"), manifest.to_string())
        .context("failed to write package.json")?;
    let prefix = dir.to_string_lossy().into_owned();
    let args = [
        "install",
        "--prefix",
        prefix.as_str(),
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--update-notifier=false",
    ];
    let proc = Proc::spawn("npm-install", Path::new("npm"), args, &[], log_dir)?;
    let log = proc.log().to_path_buf();
    let status = proc.wait(INSTALL_TIMEOUT).await?;
    if !status.success() || installed_version(dir).as_deref() != Some(VERSION) {
        bail!(
            "npm exited with {status}; the end of {}:\n{}",
            log.display(),
            procs::tail(&log, 2000)
        );
    }
    Ok(())
}

/// Runs the BullMQ phases on `runner`'s Redis, or says why not. A phase that fails is
/// reported as skipped, with its error: the rest of the run stands.
pub async fn run_phases(
    runner: &mut Runner<'_>,
    install: &Result<Install, String>,
    plan: &BullmqPlan,
) -> BullmqPart {
    let install = match install {
        Ok(install) => install,
        Err(reason) => {
            eprintln!("\n== BullMQ: skipped: {reason}");
            return BullmqPart::Skipped {
                reason: reason.clone(),
            };
        }
    };
    if plan.workers == 0 {
        let reason = "no worker processes (`--workers 0`) to run BullMQ's jobs".to_owned();
        eprintln!("\n== BullMQ: skipped: {reason}");
        return BullmqPart::Skipped { reason };
    }
    match measure(runner, install, plan).await {
        Ok(figures) => BullmqPart::Measured(Box::new(figures)),
        Err(error) => {
            let reason = format!("the BullMQ phases failed: {error:#}");
            eprintln!("   {reason}");
            BullmqPart::Skipped { reason }
        }
    }
}

async fn measure(
    runner: &mut Runner<'_>,
    install: &Install,
    plan: &BullmqPlan,
) -> anyhow::Result<BullmqFigures> {
    eprintln!(
        "\n== BullMQ {VERSION}: `Queue.add`, {} in flight, no worker running",
        plan.in_flight
    );
    let add = runner.bullmq_add(install, plan).await?;
    eprintln!("   {}", describe_accept(&add.figures));
    eprintln!(
        "\n== BullMQ {VERSION}: end to end, {} no-op jobs ({} worker processes × concurrency {})",
        plan.jobs, plan.workers, plan.concurrency
    );
    let e2e = runner.bullmq_e2e(install, plan).await?;
    eprintln!("   {}", describe_e2e(&e2e.figures));
    Ok(BullmqFigures {
        version: VERSION.to_owned(),
        node_version: install.node_version.clone(),
        workers: plan.workers,
        concurrency: plan.concurrency,
        in_flight: plan.in_flight,
        add,
        e2e,
    })
}

/// What `bench.mjs add` prints.
#[derive(Debug, Deserialize)]
struct AddResult {
    in_flight: usize,
    seconds: f64,
    added: u64,
    errors: u64,
    first_error: Option<String>,
    latency: Summary,
}

impl From<AddResult> for AcceptReport {
    fn from(r: AddResult) -> Self {
        Self {
            connections: r.in_flight,
            seconds: r.seconds,
            accepted: r.added,
            other_statuses: Default::default(),
            // Not counted by the node program.
            answered_total: 0,
            errors: r.errors,
            first_error: r.first_error,
            latency: r.latency,
        }
    }
}

/// What `bench.mjs e2e` prints.
#[derive(Debug, Deserialize)]
struct E2eResult {
    jobs: usize,
    added: u64,
    errors: u64,
    first_error: Option<String>,
    add_seconds: f64,
    total_seconds: f64,
    drained: bool,
    completed: u64,
    failed: u64,
    stuck: u64,
}

impl From<E2eResult> for E2eReport {
    fn from(r: E2eResult) -> Self {
        Self {
            jobs: r.jobs,
            accepted: r.added,
            rejected: 0,
            errors: r.errors,
            first_error: r.first_error,
            submit_seconds: r.add_seconds,
            total_seconds: r.total_seconds,
            drained: r.drained,
            completed: r.completed,
            failed: r.failed,
            stuck: r.stuck,
        }
    }
}

impl Runner<'_> {
    async fn bullmq_add(
        &mut self,
        install: &Install,
        plan: &BullmqPlan,
    ) -> anyhow::Result<Measured<AcceptReport>> {
        let bound = plan.warmup + plan.duration;
        let args = [
            ("in-flight", plan.in_flight.to_string()),
            ("warmup-ms", plan.warmup.as_millis().to_string()),
            ("duration-ms", plan.duration.as_millis().to_string()),
        ];
        let measured = self
            .bullmq_phase::<AddResult>(install, "add", &args, 0, plan.concurrency, bound)
            .await?;
        Ok(map_figures(measured, AcceptReport::from))
    }

    async fn bullmq_e2e(
        &mut self,
        install: &Install,
        plan: &BullmqPlan,
    ) -> anyhow::Result<Measured<E2eReport>> {
        let args = [
            ("in-flight", plan.in_flight.to_string()),
            ("jobs", plan.jobs.to_string()),
            ("timeout-ms", plan.timeout.as_millis().to_string()),
        ];
        let measured = self
            .bullmq_phase::<E2eResult>(
                install,
                "e2e",
                &args,
                plan.workers,
                plan.concurrency,
                plan.timeout,
            )
            .await?;
        Ok(map_figures(measured, E2eReport::from))
    }

    /// Starts `workers` worker processes and a producer (`mode`), waits until all are
    /// connected, then measures from the producer's start signal to its figures.
    async fn bullmq_phase<R: DeserializeOwned>(
        &mut self,
        install: &Install,
        mode: &str,
        mode_args: &[(&str, String)],
        workers: usize,
        concurrency: u32,
        bound: Duration,
    ) -> anyhow::Result<Measured<R>> {
        self.phase += 1;
        let phase = self.phase;
        let log_dir = self.plan.log_dir.as_path();
        let node = Path::new("node");
        let common = |mode: &str| {
            let limit = (bound + LIMIT_MARGIN).as_secs().to_string();
            [
                install.program().to_string_lossy().into_owned(),
                mode.to_owned(),
                "--redis-url".to_owned(),
                self.redis.url.clone(),
                "--queue".to_owned(),
                QUEUE.to_owned(),
                "--limit-seconds".to_owned(),
                limit,
            ]
        };
        let mut args = common(mode).to_vec();
        for (name, value) in mode_args {
            args.extend([format!("--{name}"), value.clone()]);
        }
        let mut procs = vec![Proc::spawn(
            &format!("{phase:02}-bullmq-producer"),
            node,
            args,
            &[],
            log_dir,
        )?];
        for index in 1..=workers {
            let mut args = common("worker").to_vec();
            args.extend(["--concurrency".to_owned(), concurrency.to_string()]);
            let name = format!("{phase:02}-bullmq-worker-{index}");
            procs.push(Proc::spawn(&name, node, args, &[], log_dir)?);
        }
        for proc in &mut procs {
            proc.wait_logged(READY).await?;
        }
        let producer = procs[0].pid();
        let log = procs[0].log().to_path_buf();
        let deadline = Instant::now() + bound + LIMIT_MARGIN;
        self.measure_procs(procs, true, async move {
            procs::signal_child(producer, libc::SIGUSR2)?;
            result_of(producer, &log, deadline).await
        })
        .await
    }
}

/// Waits for the producer's figures in its log.
async fn result_of<R: DeserializeOwned>(
    pid: u32,
    log: &Path,
    deadline: Instant,
) -> anyhow::Result<R> {
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(json) = text.lines().find_map(|line| line.strip_prefix(RESULT)) {
            return serde_json::from_str(json)
                .with_context(|| format!("unreadable figures in {}", log.display()));
        }
        if !procs::child_running(pid) {
            bail!(
                "the BullMQ producer exited without its figures; the end of {}:\n{}",
                log.display(),
                procs::tail(log, 2000)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the BullMQ producer gave no figures in time; the end of {}:\n{}",
                log.display(),
                procs::tail(log, 2000)
            );
        }
        sleep(RESULT_POLL).await;
    }
}

fn map_figures<A, B>(m: Measured<A>, f: impl FnOnce(A) -> B) -> Measured<B> {
    Measured {
        figures: f(m.figures),
        cpu: m.cpu,
        load_after: m.load_after,
        trouble: m.trouble,
        redis_commands: m.redis_commands,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_producers_figures_read_as_the_tools_reports() {
        let add: AddResult = serde_json::from_str(
            r#"{"in_flight":64,"seconds":10,"added":300000,"errors":0,"first_error":null,
                "latency":{"count":300000,"p50_ms":1.5,"p90_ms":2.5,"p99_ms":4.0,"max_ms":9.0}}"#,
        )
        .unwrap();
        let add = AcceptReport::from(add);
        assert!((add.per_second() - 30_000.0).abs() < 1e-6);
        assert!((add.latency.p99_ms - 4.0).abs() < 1e-9);

        let e2e: E2eResult = serde_json::from_str(
            r#"{"jobs":50000,"added":50000,"errors":0,"first_error":null,"add_seconds":2.0,
                "total_seconds":5.0,"drained":true,"completed":50000,"failed":0,"stuck":0}"#,
        )
        .unwrap();
        let e2e = E2eReport::from(e2e);
        assert!((e2e.per_second() - 10_000.0).abs() < 1e-6);
        assert_eq!(e2e.accepted, 50_000);
    }

    #[test]
    fn an_install_is_recognised_by_its_version() {
        let dir = std::env::temp_dir().join(format!("herald-bench-bullmq-{}", std::process::id()));
        assert_eq!(installed_version(&dir), None);
        let manifest = dir.join("node_modules/bullmq");
        std::fs::create_dir_all(&manifest).unwrap();
        std::fs::write(manifest.join("package.json"), r#"{"version":"5.81.5"}"#).unwrap();
        assert_eq!(installed_version(&dir).as_deref(), Some("5.81.5"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
