//! The Markdown report of an `all` run, and writing it into `docs/benchmarks.md` between
//! markers so the hand-written analysis around it survives the next run.
//!
//! The job phases' section is made here, the SSE phases' in `sse`, the webhook phases' in
//! `webhooks` and the inbound-webhooks phases' in `inbound`, each opening with the same lines
//! and closing on what went wrong.

mod bullmq;
mod inbound;
mod sse;
mod webhooks;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

pub use self::bullmq::bullmq_markdown;
pub use self::inbound::inbound_markdown;
pub use self::sse::sse_markdown;
pub use self::webhooks::webhooks_markdown;
use crate::accept::AcceptReport;
use crate::bullmq::BullmqPart;
use crate::e2e::E2eReport;
use crate::run_all::{Backend, Figures, Measured, RunFacts};

const BEGIN: &str = "<!-- herald-bench:begin -->";
const END: &str = "<!-- herald-bench:end -->";
/// The SSE phases' figures have markers of their own, so `sse --write` replaces only them.
const SSE_BEGIN: &str = "<!-- herald-bench:sse:begin -->";
const SSE_END: &str = "<!-- herald-bench:sse:end -->";
/// And so do the webhook phases'.
const WEBHOOKS_BEGIN: &str = "<!-- herald-bench:webhooks:begin -->";
const WEBHOOKS_END: &str = "<!-- herald-bench:webhooks:end -->";
/// And the inbound-webhooks phases'.
const INBOUND_BEGIN: &str = "<!-- herald-bench:inbound:begin -->";
const INBOUND_END: &str = "<!-- herald-bench:inbound:end -->";

/// Issue 12's targets.
mod target {
    /// Redis end to end, × BullMQ in the same shape.
    pub const E2E_OVER_BULLMQ: f64 = 1.2;
    /// Redis accept, × the bare baseline, and its p99, ms.
    pub const REDIS_ACCEPT_OVER_BASELINE: f64 = 0.45;
    pub const REDIS_ACCEPT_P99_MS: f64 = 15.0;
    /// Embedded accept, × the bare baseline.
    pub const EMBEDDED_ACCEPT_OVER_BASELINE: f64 = 0.6;
    /// Memory per idle SSE stream, KiB, at each of these stream counts.
    pub const IDLE_STREAM_KIB: f64 = 8.0;
    pub const IDLE_STREAM_COUNTS: [usize; 2] = [10_000, 19_000];
    /// Notifier CPU per delivery, µs.
    pub const NOTIFIER_MICROS: f64 = 70.0;
    /// Redis CPU per completed no-op job, µs, and commands per job (about).
    pub const REDIS_MICROS_PER_JOB: f64 = 80.0;
    pub const REDIS_COMMANDS_PER_JOB: f64 = 15.0;
}

/// What every section opens with: which run, on what, under what load.
struct Opening<'a> {
    title: &'a str,
    command: &'a str,
    /// What the wall time measures: `the whole run`, `the SSE phases`…
    took: &'a str,
    /// How the load at the start is named.
    at_start: &'a str,
    run: &'a RunFacts,
    load_at_end: &'a str,
}

/// Writes the section's title and its command, date, machine, Herald and load lines.
fn write_opening(out: &mut String, o: &Opening<'_>) {
    let (run, m) = (o.run, &o.run.machine);
    let _ = writeln!(out, "## {}\n", o.title);
    let _ = writeln!(out, "- Command: `{}`", o.command);
    let _ = writeln!(
        out,
        "- Date: {}; {} took {:.0} s",
        run.started_at, o.took, run.wall_seconds
    );
    let _ = writeln!(
        out,
        "- Machine: {} CPUs ({}), {} memory, {}; {}; redis-server {}",
        m.cpus, m.cpu_model, m.memory, m.kernel, m.rustc, m.redis_server
    );
    let _ = writeln!(
        out,
        "- Herald: `{}`; workspace at commit {}",
        run.herald_bin, m.herald_commit
    );
    let _ = writeln!(
        out,
        "- Load average (1, 5, 15 min): {} {}, {} at the end",
        m.load_at_start, o.at_start, o.load_at_end
    );
}

/// One target of the issue, checked against this run.
struct Target {
    what: String,
    /// What was measured, or why nothing was.
    measured: String,
    /// `0.35 × BullMQ`, `1.4 × the limit`…
    ratio: String,
    met: Option<bool>,
}

/// The report: the command, the machine, targets, and every phase's figures.
pub fn markdown(figures: &Figures, command: &str) -> String {
    let mut out = String::new();
    let m = &figures.run.machine;
    write_opening(
        &mut out,
        &Opening {
            title: "Latest run",
            command,
            took: "the whole run",
            at_start: "at the start",
            run: &figures.run,
            load_at_end: &figures.load_at_end,
        },
    );
    let _ = writeln!(
        out,
        "- Load: {} keep-alive connections on {} load thread(s), {} s warm-up then {} s measured per phase; \
         the load tool, Herald and Redis share the same {} cores (loopback)",
        figures.connections,
        figures.threads,
        figures.warmup_seconds,
        figures.duration_seconds,
        m.cpus
    );
    let _ = writeln!(
        out,
        "- Herald settings: defaults{}{}",
        figures
            .concurrency
            .map(|c| format!(", `--concurrency {c}`"))
            .unwrap_or_default(),
        figures
            .herald_log
            .as_deref()
            .map(|f| format!(", `RUST_LOG={f}`"))
            .unwrap_or_else(|| ", Herald's default log filter (`info`)".to_owned())
    );

    out.push_str("\n### Targets\n\n");
    out.push_str("| Target (issue 12) | Measured | Ratio | Met |\n|---|---|---|---|\n");
    for t in targets(figures) {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "not measured",
        };
        let _ = writeln!(out, "| {} | {} | {} | {met} |", t.what, t.measured, t.ratio);
    }

    let base = figures.baseline.figures.per_second();
    let redis = figures
        .backends
        .iter()
        .find(|b| b.backend == Backend::Redis);
    if let Some(part) = &figures.bullmq {
        bullmq::comparison(
            &mut out,
            &bullmq::HeraldSide {
                accept: redis.map(|b| &b.accept),
                e2e: redis.map(|b| &b.e2e),
                baseline: Some(base),
                workers: figures.workers,
            },
            part,
        );
    }
    out.push_str("\n### Accepting jobs: `POST /v1/jobs`, closed loop\n\n");
    out.push_str(
        "| Server | Jobs/s | × baseline | p50 ms | p90 ms | p99 ms | max ms | non-202 | errors | CPU, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    accept_row(
        &mut out,
        "baseline: actix-web + one Redis `INCR`",
        &figures.baseline,
        base,
    );
    for b in &figures.backends {
        let label = format!("{}: {}", backend_name(b.backend), b.accept_topology);
        accept_row(&mut out, &label, &b.accept, base);
        if let Some(with_workers) = &b.accept_with_workers {
            let label = format!("{}: {}, draining", backend_name(b.backend), b.e2e_topology);
            accept_row(&mut out, &label, with_workers, base);
        }
    }
    if let Some(BullmqPart::Measured(b)) = &figures.bullmq {
        accept_row(&mut out, &bullmq::add_label(b), &b.add, base);
    }

    out.push_str("\n### No-op jobs end to end (submit all, then wait until none is pending or processing)\n\n");
    out.push_str(
        "| Backend | Deployment | Jobs | Completed | Failed | Stuck | Submitted in | All done in | Completed jobs/s | × baseline | CPU, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        e2e_row(
            &mut out,
            backend_name(b.backend),
            &b.e2e_topology,
            &b.e2e,
            base,
        );
    }
    if let Some(BullmqPart::Measured(b)) = &figures.bullmq {
        e2e_row(
            &mut out,
            &format!("BullMQ {}", b.version),
            &bullmq::e2e_topology(b),
            &b.e2e,
            base,
        );
    }

    let _ = writeln!(
        out,
        "\n### Submit-to-completed latency: open loop at {} jobs/s, long polls with `If-None-Match`\n",
        figures.rate
    );
    out.push_str(
        "| Backend | Deployment | Jobs | p50 ms | p90 ms | p99 ms | max ms | `202` p99 ms | Polls/job | Not completed / timed out / errors | CPU, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let l = &b.latency.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {} / {} / {} | {} |",
            backend_name(b.backend),
            b.e2e_topology,
            l.completed,
            l.completed_latency.p50_ms,
            l.completed_latency.p90_ms,
            l.completed_latency.p99_ms,
            l.completed_latency.max_ms,
            l.submit.p99_ms,
            l.polls_per_job,
            l.not_completed,
            l.timed_out,
            l.errors + l.rejected,
            b.latency.cpu.describe()
        );
    }

    out.push_str(&redis_time(figures));

    out.push_str("\n### What the servers logged and answered\n\n");
    let notes = complaints(figures);
    if notes.is_empty() {
        out.push_str(
            "No non-`202` answer, no request error, and no `ERROR` or `WARN` line in any server log \
             (beyond the expected start-up warning that no API keys are configured).\n",
        );
    } else {
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// Where Redis spent its time in each Redis phase, and its CPU per job end to end: on one
/// box, Redis's single thread is the first thing to run out.
fn redis_time(figures: &Figures) -> String {
    let mut out = String::new();
    let Some(redis) = figures
        .backends
        .iter()
        .find(|b| b.backend == Backend::Redis)
    else {
        return out;
    };
    out.push_str("\n### Where Redis spent its time (`INFO commandstats`, costliest first)\n\n");
    out.push_str(
        "A command a Lua script runs is counted on its own line and again inside the script's \
         (`evalsha`) time.\n\n",
    );
    let mut phases: Vec<(String, &[crate::procs::CommandStat])> = vec![
        ("baseline".to_owned(), &figures.baseline.redis_commands),
        ("accept, api alone".to_owned(), &redis.accept.redis_commands),
    ];
    if let Some(m) = &redis.accept_with_workers {
        phases.push(("accept, workers draining".to_owned(), &m.redis_commands));
    }
    phases.push(("end to end".to_owned(), &redis.e2e.redis_commands));
    phases.push(("latency".to_owned(), &redis.latency.redis_commands));
    if let Some(BullmqPart::Measured(b)) = &figures.bullmq {
        let name = format!("BullMQ {}", b.version);
        phases.push((format!("{name}, `Queue.add`"), &b.add.redis_commands));
        phases.push((format!("{name}, end to end"), &b.e2e.redis_commands));
    }
    for (phase, stats) in phases {
        let _ = writeln!(out, "- {phase}: {}", top_commands(stats, 6));
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "End to end, each completed job cost Redis {}",
        RedisPerJob::of(&redis.e2e).describe()
    );
    if let Some(BullmqPart::Measured(b)) = &figures.bullmq {
        let _ = writeln!(
            out,
            "\nBullMQ {}, end to end, each completed job cost Redis {}",
            b.version,
            RedisPerJob::of(&b.e2e).describe()
        );
    }
    out
}

/// The costliest `n` commands of a phase, `` `evalsha` 1000 × 70.0 µs, … ``.
fn top_commands(stats: &[crate::procs::CommandStat], n: usize) -> String {
    stats
        .iter()
        .take(n)
        .map(|c| {
            format!(
                "`{}` {} × {:.1} µs",
                c.command,
                c.calls,
                c.usec as f64 / c.calls.max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What one completed job cost Redis in an end-to-end phase: the same accounting for Herald
/// and for BullMQ.
#[derive(Debug, Clone, Copy)]
struct RedisPerJob {
    /// `redis-server` CPU time, µs.
    micros: f64,
    /// Lua script calls (`evalsha`, `eval`).
    script_calls: f64,
    /// Every other command, including those the scripts ran.
    commands: f64,
}

impl RedisPerJob {
    fn of(e2e: &Measured<E2eReport>) -> Self {
        let completed = e2e.figures.completed.max(1) as f64;
        let redis_cpu = e2e
            .cpu
            .processes
            .iter()
            .find(|(name, _)| name == "redis-server")
            .map_or(0.0, |(_, seconds)| *seconds);
        let is_script =
            |c: &&crate::procs::CommandStat| matches!(c.command.as_str(), "evalsha" | "eval");
        let scripts: u64 = e2e
            .redis_commands
            .iter()
            .filter(is_script)
            .map(|c| c.calls)
            .sum();
        let all: u64 = e2e.redis_commands.iter().map(|c| c.calls).sum();
        Self {
            micros: redis_cpu / completed * 1e6,
            script_calls: scripts as f64 / completed,
            commands: (all - scripts) as f64 / completed,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{:.0} µs of CPU ({:.1} script calls and {:.1} commands in all per job); one Redis \
             thread can give at most 1 s / that = {:.0} jobs/s, with a core to itself.",
            self.micros,
            self.script_calls,
            self.commands,
            if self.micros > 0.0 {
                1e6 / self.micros
            } else {
                0.0
            }
        )
    }
}

fn accept_row(out: &mut String, label: &str, m: &Measured<AcceptReport>, base: f64) {
    let r = &m.figures;
    let _ = writeln!(
        out,
        "| {label} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
        r.per_second(),
        ratio(r.per_second(), base),
        r.latency.p50_ms,
        r.latency.p90_ms,
        r.latency.p99_ms,
        r.latency.max_ms,
        r.non_accepted(),
        r.errors,
        m.cpu.describe()
    );
}

fn e2e_row(out: &mut String, name: &str, topology: &str, m: &Measured<E2eReport>, base: f64) {
    let e = &m.figures;
    let _ = writeln!(
        out,
        "| {name} | {topology} | {} | {} | {} | {} | {:.2} s | {:.2} s | {:.0} | {:.2} | {} |",
        e.jobs,
        e.completed,
        e.failed,
        e.stuck,
        e.submit_seconds,
        e.total_seconds,
        e.per_second(),
        ratio(e.per_second(), base),
        m.cpu.describe()
    );
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Embedded => "embedded",
        Backend::Redis => "Redis",
    }
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 { value / base } else { 0.0 }
}

/// Issue 12's targets, each with what this run measured.
fn targets(figures: &Figures) -> Vec<Target> {
    let base = figures.baseline.figures.per_second();
    let find = |backend| figures.backends.iter().find(|b| b.backend == backend);
    let redis = find(Backend::Redis);
    let embedded = find(Backend::Embedded);
    let not_measured = |what: String, why: &str| Target {
        what,
        measured: why.to_owned(),
        ratio: String::new(),
        met: None,
    };
    // At most `limit`: the ratio is to the limit.
    let at_most = |what: String, value: f64, shown: String, limit: f64| Target {
        what,
        measured: shown,
        ratio: format!("{:.2} × the limit", ratio(value, limit)),
        met: Some(value <= limit),
    };
    let over_baseline = |what: String, accepted: Option<f64>, at_least: f64| match accepted {
        Some(value) => Target {
            what,
            measured: format!("{value:.0}/s; baseline {base:.0}/s"),
            ratio: format!("{:.2} × baseline", ratio(value, base)),
            met: Some(ratio(value, base) >= at_least),
        },
        None => not_measured(what, "backend not run"),
    };
    let mut out = Vec::new();

    let what = format!(
        "Redis, {} worker processes: no-op jobs end to end ≥ {:.1} × BullMQ in the same shape",
        figures.workers,
        target::E2E_OVER_BULLMQ
    );
    out.push(match (redis, &figures.bullmq) {
        (Some(r), Some(BullmqPart::Measured(b))) => {
            let (herald, bullmq) = (r.e2e.figures.per_second(), b.e2e.figures.per_second());
            Target {
                what,
                measured: format!("{herald:.0}/s; BullMQ {} {bullmq:.0}/s", b.version),
                ratio: format!("{:.2} × BullMQ", ratio(herald, bullmq)),
                met: Some(ratio(herald, bullmq) >= target::E2E_OVER_BULLMQ),
            }
        }
        (None, _) => not_measured(what, "Redis backend not run"),
        (_, Some(BullmqPart::Skipped { .. })) => not_measured(what, "BullMQ skipped (see below)"),
        (_, None) => not_measured(what, "BullMQ left out (`--no-bullmq`)"),
    });
    out.push(over_baseline(
        format!(
            "Redis: accepted jobs/s ≥ {:.2} × the bare baseline",
            target::REDIS_ACCEPT_OVER_BASELINE
        ),
        redis.map(|b| b.accept.figures.per_second()),
        target::REDIS_ACCEPT_OVER_BASELINE,
    ));
    let what = format!("Redis: accept p99 < {:.0} ms", target::REDIS_ACCEPT_P99_MS);
    out.push(match redis {
        Some(b) => {
            let p99 = b.accept.figures.latency.p99_ms;
            Target {
                met: Some(p99 < target::REDIS_ACCEPT_P99_MS),
                ..at_most(
                    what,
                    p99,
                    format!("{p99:.2} ms"),
                    target::REDIS_ACCEPT_P99_MS,
                )
            }
        }
        None => not_measured(what, "Redis backend not run"),
    });
    out.push(over_baseline(
        format!(
            "Embedded: accepted jobs/s ≥ {:.1} × the bare baseline",
            target::EMBEDDED_ACCEPT_OVER_BASELINE
        ),
        embedded.map(|b| b.accept.figures.per_second()),
        target::EMBEDDED_ACCEPT_OVER_BASELINE,
    ));

    out.extend(idle_stream_targets(figures, &not_measured, &at_most));

    let what = format!(
        "Notifier ≤ {:.0} µs of CPU per delivery (Redis, the notifier process in the throughput drain)",
        target::NOTIFIER_MICROS
    );
    let drain = figures.webhooks.as_ref().and_then(|w| {
        w.backends
            .iter()
            .find(|b| b.backend == Backend::Redis)
            .and_then(|b| b.throughput.as_ref())
    });
    let notifier = drain.and_then(|m| {
        let (_, seconds) = m
            .cpu
            .processes
            .iter()
            .find(|(name, _)| name == "herald-notifier")?;
        Some((
            seconds / m.figures.received.max(1) as f64 * 1e6,
            m.figures.received,
        ))
    });
    out.push(match notifier {
        Some((micros, received)) => at_most(
            what,
            micros,
            format!("{micros:.0} µs over {received} deliveries"),
            target::NOTIFIER_MICROS,
        ),
        None if figures.webhooks.is_none() => {
            not_measured(what, "webhook phases left out (`--no-webhooks`)")
        }
        None => not_measured(what, "no Redis throughput drain in this run"),
    });

    let what_cpu = format!(
        "Redis CPU per completed no-op job ≤ {:.0} µs (Redis end to end)",
        target::REDIS_MICROS_PER_JOB
    );
    let what_commands = format!(
        "Redis commands per completed no-op job ≤ about {:.0}",
        target::REDIS_COMMANDS_PER_JOB
    );
    match redis {
        Some(b) => {
            let cost = RedisPerJob::of(&b.e2e);
            out.push(at_most(
                what_cpu,
                cost.micros,
                format!("{:.0} µs", cost.micros),
                target::REDIS_MICROS_PER_JOB,
            ));
            out.push(at_most(
                what_commands,
                cost.commands,
                format!(
                    "{:.1} (in {:.1} script calls)",
                    cost.commands, cost.script_calls
                ),
                target::REDIS_COMMANDS_PER_JOB,
            ));
        }
        None => {
            out.push(not_measured(what_cpu, "Redis backend not run"));
            out.push(not_measured(what_commands, "Redis backend not run"));
        }
    }
    out
}

/// Memory per idle stream at each of the target's stream counts, for each backend the SSE
/// phases measured.
fn idle_stream_targets(
    figures: &Figures,
    not_measured: &dyn Fn(String, &str) -> Target,
    at_most: &dyn Fn(String, f64, String, f64) -> Target,
) -> Vec<Target> {
    let what = |name: &str, streams: usize| {
        format!(
            "{name}: idle SSE stream ≤ {:.0} KiB at {} streams",
            target::IDLE_STREAM_KIB,
            thousands(streams)
        )
    };
    let Some(sse) = &figures.sse else {
        return target::IDLE_STREAM_COUNTS
            .iter()
            .map(|&n| not_measured(what("Idle streams", n), "SSE phases left out (`--no-sse`)"))
            .collect();
    };
    let mut out = Vec::new();
    for b in &sse.backends {
        let name = backend_name(b.backend);
        for streams in target::IDLE_STREAM_COUNTS {
            let what = what(name, streams);
            out.push(
                match b.memory.iter().find(|m| m.figures.streams == streams) {
                    Some(m) => {
                        let kib = m.figures.per_stream_kib();
                        at_most(what, kib, format!("{kib:.1} KiB"), target::IDLE_STREAM_KIB)
                    }
                    None => not_measured(what, "not among this run's stream counts"),
                },
            );
        }
    }
    out
}

/// `19,000` for 19000.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Everything a reader should know went wrong: refused requests, errors, stuck jobs, and
/// complaints in the servers' logs.
fn complaints(figures: &Figures) -> Vec<String> {
    let mut notes = Vec::new();
    let mut accept_notes = |label: &str, m: &Measured<AcceptReport>| {
        let r = &m.figures;
        if r.non_accepted() > 0 || r.errors > 0 {
            notes.push(format!(
                "{label}: {} non-`202` answers {:?} and {} failed requests; first: {}",
                r.non_accepted(),
                r.other_statuses,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            ));
        }
    };
    accept_notes("baseline", &figures.baseline);
    for b in &figures.backends {
        let name = backend_name(b.backend);
        accept_notes(&format!("{name} accept"), &b.accept);
        if let Some(m) = &b.accept_with_workers {
            accept_notes(&format!("{name} accept with workers"), m);
        }
    }
    for b in &figures.backends {
        let name = backend_name(b.backend);
        let e = &b.e2e.figures;
        if e.rejected + e.errors + e.failed + e.stuck > 0 || e.completed != e.accepted {
            notes.push(format!(
                "{name} end to end: {} accepted, {} completed, {} failed, {} stuck, {} rejected, {} errors; first: {}",
                e.accepted,
                e.completed,
                e.failed,
                e.stuck,
                e.rejected,
                e.errors,
                e.first_error.as_deref().unwrap_or("-")
            ));
        }
        let l = &b.latency.figures;
        if l.not_completed + l.timed_out + l.rejected + l.errors > 0 {
            notes.push(format!(
                "{name} latency: {} not completed, {} timed out, {} rejected, {} errors; first: {}",
                l.not_completed,
                l.timed_out,
                l.rejected,
                l.errors,
                l.first_error.as_deref().unwrap_or("-")
            ));
        }
    }
    if let Some(part) = &figures.bullmq {
        bullmq::complaints(&mut notes, part);
    }
    log_notes(&mut notes, "baseline", &figures.baseline.trouble);
    for b in &figures.backends {
        let name = backend_name(b.backend);
        log_notes(&mut notes, &format!("{name} accept"), &b.accept.trouble);
        if let Some(m) = &b.accept_with_workers {
            log_notes(
                &mut notes,
                &format!("{name} accept with workers"),
                &m.trouble,
            );
        }
        log_notes(&mut notes, &format!("{name} end to end"), &b.e2e.trouble);
        log_notes(&mut notes, &format!("{name} latency"), &b.latency.trouble);
    }
    notes
}

/// Notes every `ERROR` and `WARN` line a phase's processes logged.
fn log_notes(notes: &mut Vec<String>, phase: &str, trouble: &[(String, crate::procs::LogTrouble)]) {
    for (process, t) in trouble {
        notes.push(format!(
            "{phase}, {process} logged {} `ERROR` and {} `WARN` lines; first: `{}`",
            t.errors,
            t.warnings,
            t.first.as_deref().unwrap_or("?")
        ));
    }
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "**not met**" }
}

/// Puts `section` between the markers of the file at `path`, keeping everything around
/// them; a file without markers gets the section appended, a missing file is created.
///
/// # Errors
/// When the file cannot be read or written.
pub fn write_section(path: &Path, section: &str) -> anyhow::Result<()> {
    write_between(path, section, BEGIN, END)
}

/// Puts the SSE `section` between the SSE markers of the file at `path`, like
/// [`write_section`].
///
/// # Errors
/// When the file cannot be read or written.
pub fn write_sse_section(path: &Path, section: &str) -> anyhow::Result<()> {
    write_between(path, section, SSE_BEGIN, SSE_END)
}

/// Puts the webhook `section` between the webhook markers of the file at `path`, like
/// [`write_section`].
///
/// # Errors
/// When the file cannot be read or written.
pub fn write_webhooks_section(path: &Path, section: &str) -> anyhow::Result<()> {
    write_between(path, section, WEBHOOKS_BEGIN, WEBHOOKS_END)
}

/// Puts the inbound `section` between the inbound markers of the file at `path`, like
/// [`write_section`].
///
/// # Errors
/// When the file cannot be read or written.
pub fn write_inbound_section(path: &Path, section: &str) -> anyhow::Result<()> {
    write_between(path, section, INBOUND_BEGIN, INBOUND_END)
}

fn write_between(
    path: &Path,
    section: &str,
    begin_marker: &str,
    end_marker: &str,
) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::from(
            "# Benchmarks\n\nFigures from `herald-bench` (crates/bench); the section between the \
             markers below is rewritten by `herald-bench all --write docs/benchmarks.md`.\n\n",
        ),
        Err(error) => {
            return Err(error).with_context(|| format!("failed to read {}", path.display()));
        }
    };
    let block = format!("{begin_marker}\n{section}{end_marker}\n");
    let updated = match (existing.find(begin_marker), existing.find(end_marker)) {
        (Some(begin), Some(end)) if begin < end => {
            let after = existing[end + end_marker.len()..].trim_start_matches('\n');
            format!("{}{block}{}", &existing[..begin], after_gap(after))
        }
        _ => format!("{}\n{block}", existing.trim_end()),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create {}", dir.display()))?;
    }
    std::fs::write(path, updated).with_context(|| format!("failed to write {}", path.display()))
}

fn after_gap(after: &str) -> String {
    if after.is_empty() {
        String::new()
    } else {
        format!("\n{after}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_replaces_only_what_is_between_the_markers() {
        let dir = std::env::temp_dir().join(format!("herald-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("benchmarks.md");
        std::fs::write(
            &path,
            format!("intro\n\n{BEGIN}\nold\n{END}\n\n## Analysis\nkept\n"),
        )
        .unwrap();
        write_section(&path, "new\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!("intro\n\n{BEGIN}\nnew\n{END}\n\n## Analysis\nkept\n")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_sse_section_and_the_jobs_section_are_written_apart() {
        let dir = std::env::temp_dir().join(format!("herald-bench-sse-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("benchmarks.md");
        std::fs::write(
            &path,
            format!(
                "intro\n\n{BEGIN}\njobs\n{END}\n\n## SSE\n\n{SSE_BEGIN}\nold\n{SSE_END}\n\nafter\n"
            ),
        )
        .unwrap();
        write_sse_section(&path, "streams\n").unwrap();
        write_section(&path, "more jobs\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "intro\n\n{BEGIN}\nmore jobs\n{END}\n\n## SSE\n\n{SSE_BEGIN}\nstreams\n{SSE_END}\n\nafter\n"
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stream_counts_read_with_thousands_separated() {
        assert_eq!(thousands(19_000), "19,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(950), "950");
    }

    #[test]
    fn a_missing_file_is_created_with_the_section() {
        let dir = std::env::temp_dir().join(format!("herald-bench-new-{}", std::process::id()));
        let path = dir.join("docs").join("benchmarks.md");
        write_section(&path, "figures\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# Benchmarks"));
        assert!(text.contains(&format!("{BEGIN}\nfigures\n{END}\n")));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
