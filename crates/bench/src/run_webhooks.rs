//! The webhook phases (`herald-bench webhooks`, and the end of `all`): deliveries per second,
//! state-change-to-receipt latency, and isolation from a hanging endpoint, each on a fresh
//! deployment delivering to the tool's own [`Receiver`].
//!
//! Deployments: on Redis, one `--roles api,worker` process and one `--roles notifier`
//! process; embedded, one process with every role. Every Herald process gets
//! `--webhook-allow-private-targets` (the receiver is on loopback).
//!
//! - **Throughput** (a *drain*): subscriptions on `E` endpoints, each to `job.pending`,
//!   `job.processing` and `job.completed`, so each no-op job makes `3 E` deliveries. On Redis
//!   the jobs are submitted and completed with no notifier running (their events wait in the
//!   outbox), then the notifier process is started and the figure is the rate at which the
//!   receiver gets the deliveries: the delivery engine alone (expansion, claims, signing,
//!   sending, recording), not job throughput. Embedded has no separate notifier: the jobs are
//!   submitted as fast as possible and the notifier delivers while they run.
//! - **Latency**: each job carries its own webhook (`"webhook": {"url", "secret"}`, terminal
//!   events by default: one delivery per job); jobs are submitted open loop at a fixed rate
//!   with the notifier running, and each delivery received in the window counts its receipt
//!   time minus the job's `updated_at` (same clock; milliseconds).
//! - **Isolation**: drains of 50 endpoints subscribed to `job.completed`, with and without
//!   one more subscription whose endpoint never answers, alternated (without, with, with,
//!   without, … so that a drift of the machine weighs on both alike); the healthy endpoints'
//!   mean rate with the hanging one over the mean rate without it.
//!
//! A drain's rate is taken between the receipts of the 10 % and the 90 % delivery, leaving
//! out the notifier's start and the last stragglers; the rate from first to last receipt is
//! given next to it.

mod figures;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use hyper::StatusCode;
use tokio::time::sleep;

pub use self::figures::{
    DrainFigures, LatencyFigures, WebhookBackendFigures, WebhookFigures, WebhookPhase, WebhookPlan,
    describe_drain, describe_latency, herald_micros_per_delivery,
};
use crate::accept::{NOOP_JOB, truncate};
use crate::e2e::{self, E2eSpec};
use crate::http::{Conn, Pool, Target};
use crate::machine::{self, Machine};
use crate::procs::{self, CommandStat, Proc, RedisServer};
use crate::receiver::{Behaviour, Receiver};
use crate::run_all::{
    Backend, Cpu, CpuProbe, CpuSample, Measured, Plan, RunStart, open_run, short_name,
};
use crate::stats::Summary;

/// The secret of the latency phase's per-job webhooks (any string of 16+ characters signs).
const JOB_HOOK_SECRET: &str = "herald-bench-webhook-secret";

/// Events of the throughput phase's subscriptions: three deliveries per no-op job.
const THROUGHPUT_EVENTS: [&str; 3] = ["job.pending", "job.processing", "job.completed"];

/// Events of the isolation phases' subscriptions.
const ISOLATION_EVENTS: [&str; 1] = ["job.completed"];

/// A drain that receives nothing new for this long has stalled: stop waiting.
const STALL: Duration = Duration::from_secs(15);

/// Connections submitting jobs.
const SUBMIT_CONNECTIONS: usize = 64;

/// Runs the webhook phases on a private Redis of their own (`herald-bench webhooks`).
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run(plan: &Plan) -> anyhow::Result<WebhookFigures> {
    let (machine, redis) = open_run(plan, "webhooks").await?;
    let outcome = run_phases(plan, &redis, machine, 0).await;
    redis.proc.stop().await?;
    outcome
}

/// Runs the webhook phases on `redis`, numbering phases (logs, key prefixes) from `phase`.
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run_phases(
    plan: &Plan,
    redis: &RedisServer,
    machine: Machine,
    phase: usize,
) -> anyhow::Result<WebhookFigures> {
    let webhooks = plan
        .webhooks
        .as_ref()
        .context("the run has no webhook plan")?;
    let started = RunStart::now();
    let mut runner = WebhookRunner {
        plan,
        webhooks,
        redis,
        phase,
    };
    let mut backends = Vec::new();
    for &backend in &plan.backends {
        let (name, topology) = match backend {
            Backend::Embedded => ("embedded", "one process, all roles".to_owned()),
            Backend::Redis => (
                "redis",
                "one `--roles api,worker` process + one `--roles notifier` process".to_owned(),
            ),
        };
        let mut throughput = None;
        if webhooks.phases.contains(&WebhookPhase::Throughput) {
            let per_job = webhooks.endpoints * THROUGHPUT_EVENTS.len();
            eprintln!(
                "\n== {name}: webhook throughput, {} jobs × {} endpoints × {} events = {} deliveries ({topology})",
                webhooks.jobs,
                webhooks.endpoints,
                THROUGHPUT_EVENTS.len(),
                webhooks.jobs * per_job
            );
            let measured = runner
                .drain(
                    backend,
                    webhooks.endpoints,
                    0,
                    &THROUGHPUT_EVENTS,
                    webhooks.jobs,
                )
                .await?;
            eprintln!("   {}", describe_drain(&measured.figures));
            throughput = Some(measured);
        }

        let mut latency = None;
        if webhooks.phases.contains(&WebhookPhase::Latency) {
            eprintln!(
                "\n== {name}: webhook latency, per-job webhooks at {} jobs/s",
                webhooks.rate
            );
            let measured = runner.latency(backend).await?;
            eprintln!("   {}", describe_latency(&measured.figures));
            latency = Some(measured);
        }

        let (mut isolation_without, mut isolation_with) = (Vec::new(), Vec::new());
        let rounds = if webhooks.phases.contains(&WebhookPhase::Isolation) {
            webhooks.isolation_rounds.max(1)
        } else {
            0
        };
        for round in 0..rounds {
            // Without, with; then with, without: a drift of the machine weighs on both.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for hanging in order {
                eprintln!(
                    "\n== {name}: isolation (round {}), {} jobs × {} healthy endpoints{}",
                    round + 1,
                    webhooks.isolation_jobs,
                    webhooks.isolation_endpoints,
                    if hanging > 0 {
                        " + 1 endpoint that never answers"
                    } else {
                        ", none hanging"
                    }
                );
                let measured = runner
                    .drain(
                        backend,
                        webhooks.isolation_endpoints,
                        hanging,
                        &ISOLATION_EVENTS,
                        webhooks.isolation_jobs,
                    )
                    .await?;
                eprintln!("   {}", describe_drain(&measured.figures));
                if hanging > 0 {
                    isolation_with.push(measured);
                } else {
                    isolation_without.push(measured);
                }
            }
        }
        let figures = WebhookBackendFigures {
            backend,
            topology,
            throughput,
            latency,
            isolation_without,
            isolation_with,
        };
        if rounds > 0 {
            eprintln!(
                "   healthy deliveries/s with a hanging endpoint ÷ without: {:.2}",
                figures.isolation_ratio()
            );
        }
        backends.push(figures);
    }
    Ok(WebhookFigures {
        run: started.facts(machine, &plan.herald_bin),
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        receiver_threads: webhooks.receiver_threads,
        herald_args: webhooks.herald_args.clone(),
        backends,
        load_at_end: machine::load_average(),
    })
}

/// Herald for one phase.
struct Herald {
    backend: Backend,
    target: Arc<Target>,
    /// The embedded process, or the api+worker process.
    procs: Vec<Proc>,
    /// Redis only, once started.
    notifier: Option<Proc>,
    /// What every Redis process of the deployment is started with.
    redis_args: Vec<String>,
}

impl Herald {
    fn check_alive(&mut self) -> anyhow::Result<()> {
        for proc in self.procs.iter_mut().chain(self.notifier.as_mut()) {
            proc.check_alive()?;
        }
        Ok(())
    }

    fn logs(&self) -> Vec<(String, PathBuf)> {
        self.procs
            .iter()
            .chain(self.notifier.as_ref())
            .map(|p| (short_name(p.name()), p.log().to_path_buf()))
            .collect()
    }

    /// Stops the notifier first (its attempts in flight end as the receiver answers), then
    /// the rest.
    async fn stop(self) -> anyhow::Result<()> {
        if let Some(notifier) = self.notifier {
            notifier.stop().await?;
        }
        for proc in self.procs {
            proc.stop().await?;
        }
        Ok(())
    }
}

struct WebhookRunner<'a> {
    plan: &'a Plan,
    webhooks: &'a WebhookPlan,
    redis: &'a RedisServer,
    phase: usize,
}

impl WebhookRunner<'_> {
    /// Starts Herald: embedded (every role), or on Redis the api+worker process and, when
    /// `notifier`, the notifier process.
    async fn start(&mut self, backend: Backend, notifier: bool) -> anyhow::Result<Herald> {
        self.phase += 1;
        let addr = procs::free_addr()?;
        let target = Arc::new(Target::new(addr, None)?);
        let phase = self.phase;
        let redis_args = match backend {
            Backend::Embedded => Vec::new(),
            Backend::Redis => vec![
                "--redis-url".to_owned(),
                self.redis.url.clone(),
                "--redis-prefix".to_owned(),
                format!("herald-bench-{}-webhooks-{phase}", std::process::id()),
            ],
        };
        let (name, roles) = match backend {
            Backend::Embedded => (format!("{phase:02}-herald-embedded"), None),
            Backend::Redis => (format!("{phase:02}-herald-api-worker"), Some("api,worker")),
        };
        let mut args = self.serve_args(addr.to_string(), roles);
        args.extend(redis_args.iter().cloned());
        let mut proc = Proc::spawn(
            &name,
            &self.plan.herald_bin,
            args,
            &self.envs(),
            &self.plan.log_dir,
        )?;
        proc.wait_http_ready(&target, "/readyz").await?;
        let mut herald = Herald {
            backend,
            target,
            procs: vec![proc],
            notifier: None,
            redis_args,
        };
        if backend == Backend::Redis && notifier {
            self.start_notifier(&mut herald)?;
            if let Some(notifier) = herald.notifier.as_mut() {
                notifier.wait_logged("notifier started").await?;
            }
        }
        Ok(herald)
    }

    /// Starts the Redis deployment's notifier process (without waiting for it).
    fn start_notifier(&self, herald: &mut Herald) -> anyhow::Result<()> {
        // A notifier binds nothing; give it a free address anyway so that nothing collides.
        let mut args = self.serve_args(procs::free_addr()?.to_string(), Some("notifier"));
        args.extend(herald.redis_args.iter().cloned());
        let name = format!("{:02}-herald-notifier", self.phase);
        herald.notifier = Some(Proc::spawn(
            &name,
            &self.plan.herald_bin,
            args,
            &self.envs(),
            &self.plan.log_dir,
        )?);
        Ok(())
    }

    fn serve_args(&self, bind: String, roles: Option<&str>) -> Vec<String> {
        let mut args = vec![
            "serve".to_owned(),
            "--bind".to_owned(),
            bind,
            "--webhook-allow-private-targets".to_owned(),
        ];
        if let Some(roles) = roles {
            args.extend(["--roles".to_owned(), roles.to_owned()]);
        }
        args.extend(self.webhooks.herald_args.iter().cloned());
        args
    }

    fn envs(&self) -> Vec<(String, String)> {
        let mut envs = vec![("NO_COLOR".to_owned(), "1".to_owned())];
        if let Some(filter) = &self.plan.herald_log {
            envs.push(("RUST_LOG".to_owned(), filter.clone()));
        }
        envs
    }

    /// Stops the deployment and the receiver, scans the logs, empties Redis.
    async fn finish<T>(
        &self,
        herald: Herald,
        receiver: Receiver,
        figures: anyhow::Result<(T, Cpu, Vec<CommandStat>)>,
    ) -> anyhow::Result<Measured<T>> {
        // Hanging attempts get their answer now, so the notifier stops at once.
        receiver.release_hangs();
        let logs = herald.logs();
        let stopped = herald.stop().await;
        receiver.stop();
        self.redis.flush().await?;
        let (figures, cpu, redis_commands) = figures?;
        stopped?;
        let trouble = procs::troubled(logs);
        Ok(Measured {
            figures,
            cpu,
            load_after: machine::load_average(),
            trouble,
            redis_commands,
        })
    }

    /// A drain: `endpoints` answering and `hanging` hanging endpoints, one subscription each
    /// to `events`, and `jobs` no-op jobs.
    async fn drain(
        &mut self,
        backend: Backend,
        endpoints: usize,
        hanging: usize,
        events: &[&str],
        jobs: usize,
    ) -> anyhow::Result<Measured<DrainFigures>> {
        let mut behaviours = vec![Behaviour::Answer; endpoints];
        behaviours.extend(std::iter::repeat_n(Behaviour::Hang, hanging));
        let receiver = Receiver::start(&behaviours, self.webhooks.receiver_threads).await?;
        // Embedded: the notifier runs from the start, in the one process.
        let mut herald = self.start(backend, false).await?;
        let figures = self
            .drain_in(&mut herald, &receiver, endpoints, hanging, events, jobs)
            .await;
        self.finish(herald, receiver, figures).await
    }

    async fn drain_in(
        &self,
        herald: &mut Herald,
        receiver: &Receiver,
        endpoints: usize,
        hanging: usize,
        events: &[&str],
        jobs: usize,
    ) -> anyhow::Result<(DrainFigures, Cpu, Vec<CommandStat>)> {
        let mut conn = Conn::open(&herald.target).await?;
        for index in 0..endpoints + hanging {
            subscribe(&mut conn, &herald.target, &receiver.url(index), events).await?;
        }
        let spec = E2eSpec {
            target: Arc::clone(&herald.target),
            body: Bytes::from_static(NOOP_JOB.as_bytes()),
            jobs,
            connections: SUBMIT_CONNECTIONS,
            timeout: self.webhooks.drain_timeout,
        };
        let redis = herald.backend == Backend::Redis;
        let (method, start, cpu, before, e2e) = if redis {
            // The jobs first, their events waiting in the outbox; then the notifier.
            let e2e = e2e::run(&spec).await?;
            self.redis.reset_stats().await?;
            let start = Instant::now();
            self.start_notifier(herald)?;
            let cpu = CpuProbe::of(
                herald.procs.iter().chain(herald.notifier.as_ref()),
                (herald.backend == Backend::Redis).then_some(self.redis),
            );
            let before = cpu.sample();
            ("drain", start, cpu, before, e2e)
        } else {
            let cpu = CpuProbe::of(
                herald.procs.iter().chain(herald.notifier.as_ref()),
                (herald.backend == Backend::Redis).then_some(self.redis),
            );
            let before = cpu.sample();
            let start = Instant::now();
            let e2e = e2e::run(&spec).await?;
            ("live", start, cpu, before, e2e)
        };
        let per_job = (endpoints * events.len()) as u64;
        let expected = e2e.completed * per_job;
        let drained = wait_for(
            herald,
            receiver,
            expected,
            start,
            self.webhooks.drain_timeout,
        )
        .await?;
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu.since(&before, wall);
        let redis_commands = if redis {
            self.redis.command_stats().await?
        } else {
            Vec::new()
        };
        let counts = receiver.counts();
        let times = receiver.times();
        let timeline = Timeline::of(&times, start);
        let first_error = (e2e.completed < e2e.jobs as u64).then(|| {
            format!(
                "{} of {} jobs completed ({} rejected, {} errors, {} failed, {} stuck); first: {}",
                e2e.completed,
                e2e.jobs,
                e2e.rejected,
                e2e.errors,
                e2e.failed,
                e2e.stuck,
                e2e.first_error.as_deref().unwrap_or("-")
            )
        });
        let figures = DrainFigures {
            method: method.to_owned(),
            endpoints,
            hanging,
            events_per_subscription: events.len(),
            jobs,
            jobs_completed: e2e.completed,
            jobs_seconds: e2e.total_seconds,
            jobs_per_second: e2e.per_second(),
            expected,
            received: counts.unique,
            duplicates: counts.duplicates,
            without_id: counts.without_id,
            hung: counts.hung,
            connections: counts.connections,
            drained,
            first_after_seconds: timeline.first,
            last_after_seconds: timeline.last,
            steady_per_second: timeline.steady_per_second,
            overall_per_second: timeline.overall_per_second,
            per_second_series: timeline.series,
            first_error,
        };
        Ok((figures, cpu, redis_commands))
    }

    /// The latency phase: per-job webhooks, open loop at the plan's rate.
    async fn latency(&mut self, backend: Backend) -> anyhow::Result<Measured<LatencyFigures>> {
        let receiver =
            Receiver::start(&[Behaviour::Answer], self.webhooks.receiver_threads).await?;
        let mut herald = self.start(backend, true).await?;
        let figures = self.latency_in(&mut herald, &receiver).await;
        self.finish(herald, receiver, figures).await
    }

    async fn latency_in(
        &self,
        herald: &mut Herald,
        receiver: &Receiver,
    ) -> anyhow::Result<(LatencyFigures, Cpu, Vec<CommandStat>)> {
        let body = serde_json::json!({
            "type": "demo.sleep",
            "payload": {"seconds": 0},
            "webhook": {"url": receiver.url(0), "secret": JOB_HOOK_SECRET},
        });
        let body = Bytes::from(serde_json::to_vec(&body).context("failed to encode a job")?);
        let rate = self.webhooks.rate;
        let (warmup, duration) = (self.plan.warmup, self.plan.duration);
        let pool = Arc::new(Pool::new(Arc::clone(&herald.target), 512));
        let cpu = CpuProbe::of(
            herald.procs.iter().chain(herald.notifier.as_ref()),
            (herald.backend == Backend::Redis).then_some(self.redis),
        );
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = tokio::time::Instant::now() + Duration::from_millis(100);
        let window_start = start + warmup;
        let window_end = window_start + duration;
        let total = ((warmup + duration).as_secs_f64() * rate).round() as u64;
        let mut submissions = tokio::task::JoinSet::new();
        let mut tally = SubmitTally::default();
        let mut max_lag = Duration::ZERO;
        let mut window: Option<CpuSample> = None;
        if herald.backend == Backend::Redis {
            self.redis.reset_stats().await?;
        }
        for index in 0..total {
            let scheduled = start + interval.mul_f64(index as f64);
            tokio::time::sleep_until(scheduled).await;
            if window.is_none() && scheduled >= window_start {
                receiver.record(true);
                window = Some(cpu.sample());
            }
            max_lag = max_lag.max(tokio::time::Instant::now() - scheduled);
            let (pool, body) = (Arc::clone(&pool), body.clone());
            submissions.spawn(async move {
                let request = pool.target().post_json("/v1/jobs", body)?;
                tokio::time::timeout(Duration::from_secs(10), pool.send(request))
                    .await
                    .context("no answer to POST /v1/jobs within 10 s")?
            });
            while let Some(joined) = submissions.try_join_next() {
                tally.add(joined.context("a submission panicked")?);
            }
        }
        tokio::time::sleep_until(window_end).await;
        receiver.record(false);
        let window_seconds = duration.as_secs_f64();
        let window_cpu = window.map(|before| cpu.since(&before, window_seconds));
        while let Some(joined) = submissions.join_next().await {
            tally.add(joined.context("a submission panicked")?);
        }
        let drained_start = Instant::now();
        wait_for(
            herald,
            receiver,
            tally.accepted,
            drained_start,
            self.webhooks.drain_timeout,
        )
        .await?;
        let redis_commands = if herald.backend == Backend::Redis {
            self.redis.command_stats().await?
        } else {
            Vec::new()
        };
        let counts = receiver.counts();
        let latency = Summary::of(&receiver.latency());
        let figures = LatencyFigures {
            rate,
            window_seconds,
            scheduled: total,
            accepted: tally.accepted,
            rejected: tally.rejected,
            errors: tally.errors,
            first_error: tally.first_error,
            received: counts.unique,
            missing: tally.accepted.saturating_sub(counts.unique),
            duplicates: counts.duplicates,
            unparsed: counts.unparsed,
            window_per_second: latency.count as f64 / window_seconds.max(1e-9),
            latency,
            max_schedule_lag_ms: max_lag.as_secs_f64() * 1000.0,
            connections: counts.connections,
        };
        let cpu = window_cpu.unwrap_or(Cpu {
            wall_seconds: 0.0,
            processes: Vec::new(),
        });
        Ok((figures, cpu, redis_commands))
    }
}

/// What the latency phase's submissions came to.
#[derive(Debug, Default)]
struct SubmitTally {
    accepted: u64,
    rejected: u64,
    errors: u64,
    first_error: Option<String>,
}

impl SubmitTally {
    fn add(&mut self, outcome: anyhow::Result<crate::http::Reply>) {
        match outcome {
            Ok(reply) if reply.status == StatusCode::ACCEPTED => self.accepted += 1,
            Ok(reply) => {
                self.rejected += 1;
                self.first_error.get_or_insert_with(|| {
                    format!(
                        "POST /v1/jobs: {}: {}",
                        reply.status,
                        truncate(&String::from_utf8_lossy(&reply.body))
                    )
                });
            }
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }
}

/// Creates a subscription of `url` to `events`.
async fn subscribe(
    conn: &mut Conn,
    target: &Target,
    url: &str,
    events: &[&str],
) -> anyhow::Result<()> {
    let body = serde_json::json!({"url": url, "events": events});
    let body = Bytes::from(serde_json::to_vec(&body).context("failed to encode a subscription")?);
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        conn.send(target.post_json("/v1/webhooks", body)?),
    )
    .await
    .context("no answer to POST /v1/webhooks within 10 s")??;
    if reply.status != StatusCode::CREATED {
        bail!(
            "POST /v1/webhooks {url}: {}: {}",
            reply.status,
            truncate(&String::from_utf8_lossy(&reply.body))
        );
    }
    Ok(())
}

/// Waits until the receiver has `expected` distinct deliveries, nothing new arrived for
/// [`STALL`], or `timeout` from `start` passed; whether all arrived.
async fn wait_for(
    herald: &mut Herald,
    receiver: &Receiver,
    expected: u64,
    start: Instant,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let deadline = start + timeout;
    let mut last = (receiver.counts().unique, Instant::now());
    loop {
        let now = receiver.counts().unique;
        if now >= expected {
            return Ok(true);
        }
        herald.check_alive()?;
        if now != last.0 {
            last = (now, Instant::now());
        }
        if Instant::now() >= deadline || last.1.elapsed() >= STALL {
            eprintln!(
                "   gave up waiting: {now} of {expected} deliveries after {:.1} s",
                start.elapsed().as_secs_f64()
            );
            return Ok(false);
        }
        sleep(Duration::from_millis(10)).await;
    }
}

/// Rates out of the receipt times of a drain.
#[derive(Debug, Default, PartialEq)]
struct Timeline {
    first: f64,
    last: f64,
    steady_per_second: f64,
    overall_per_second: f64,
    series: Vec<u64>,
}

impl Timeline {
    fn of(times: &[Instant], start: Instant) -> Self {
        let mut offsets: Vec<f64> = times
            .iter()
            .map(|t| t.saturating_duration_since(start).as_secs_f64())
            .collect();
        offsets.sort_by(f64::total_cmp);
        let (Some(&first), Some(&last)) = (offsets.first(), offsets.last()) else {
            return Self::default();
        };
        let n = offsets.len();
        let rate = |from: usize, to: usize| {
            let span = offsets[to] - offsets[from];
            if span > 0.0 {
                (to - from) as f64 / span
            } else {
                0.0
            }
        };
        let mut series = Vec::new();
        for offset in &offsets {
            let second = ((offset - first).floor()) as usize;
            if series.len() <= second {
                series.resize(second + 1, 0);
            }
            series[second] += 1;
        }
        Self {
            first,
            last,
            steady_per_second: rate(n / 10, (n * 9 / 10).min(n - 1)),
            overall_per_second: rate(0, n - 1),
            series,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steady_rate_leaves_out_the_first_and_last_tenth() {
        let start = Instant::now();
        // 100 deliveries: 10 stragglers over the first second, then 80 over one second,
        // then 10 stragglers over another second.
        let mut times = Vec::new();
        for i in 0..10 {
            times.push(start + Duration::from_millis(100 * i));
        }
        for i in 0..80 {
            times.push(start + Duration::from_millis(1000 + 1000 * i / 80));
        }
        for i in 0..10 {
            times.push(start + Duration::from_millis(2000 + 100 * i));
        }
        let timeline = Timeline::of(&times, start);
        assert!(
            (timeline.steady_per_second - 80.0).abs() < 2.0,
            "{timeline:?}"
        );
        assert!(timeline.overall_per_second < 40.0, "{timeline:?}");
        assert_eq!(timeline.series, vec![10, 80, 10]);
        assert_eq!(timeline.first, 0.0);
    }

    #[test]
    fn an_empty_drain_has_no_rate() {
        assert_eq!(Timeline::of(&[], Instant::now()), Timeline::default());
    }
}
