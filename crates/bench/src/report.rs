//! The Markdown report of an `all` run, and writing it into `docs/benchmarks.md` between
//! markers so the hand-written analysis around it survives the next run.
//!
//! The job phases' section is made here, the SSE phases' in `sse` and the webhook phases' in
//! `webhooks`, each opening with the same lines and closing on what went wrong.

mod sse;
mod webhooks;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

pub use self::sse::sse_markdown;
pub use self::webhooks::webhooks_markdown;
use crate::accept::AcceptReport;
use crate::run_all::{Backend, Figures, Measured, RunFacts};

const BEGIN: &str = "<!-- herald-bench:begin -->";
const END: &str = "<!-- herald-bench:end -->";
/// The SSE phases' figures have markers of their own, so `sse --write` replaces only them.
const SSE_BEGIN: &str = "<!-- herald-bench:sse:begin -->";
const SSE_END: &str = "<!-- herald-bench:sse:end -->";
/// And so do the webhook phases'.
const WEBHOOKS_BEGIN: &str = "<!-- herald-bench:webhooks:begin -->";
const WEBHOOKS_END: &str = "<!-- herald-bench:webhooks:end -->";

/// The issue's bare actix + one Redis round trip ceiling on this machine class, jobs/s: the
/// absolute targets divided by it give the ratios that should hold on a noisier box.
const ISSUE_BASELINE: f64 = 23_000.0;

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
    measured: String,
    met: Option<bool>,
    /// Measured ÷ this run's baseline, and target ÷ the issue's baseline (throughput only).
    ratio: Option<(f64, f64)>,
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
    out.push_str(
        "| Target (issue) | Measured | Met | Measured ÷ this run's baseline | Target ÷ 23,000/s |\n\
         |---|---|---|---|---|\n",
    );
    for t in targets(figures) {
        let met = match t.met {
            Some(true) => "met",
            Some(false) => "**not met**",
            None => "not measured",
        };
        let (measured_ratio, target_ratio) =
            t.ratio.map_or(("".to_owned(), "".to_owned()), |(m, t)| {
                (format!("{m:.2}"), format!("{t:.2}"))
            });
        let _ = writeln!(
            out,
            "| {} | {} | {met} | {measured_ratio} | {target_ratio} |",
            t.what, t.measured
        );
    }

    let base = figures.baseline.figures.per_second();
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

    out.push_str("\n### No-op jobs end to end (submit all, then wait until none is pending or processing)\n\n");
    out.push_str(
        "| Backend | Deployment | Jobs | Completed | Failed | Stuck | Submitted in | All done in | Completed jobs/s | × baseline | CPU, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let e = &b.e2e.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {:.2} s | {:.2} s | {:.0} | {:.2} | {} |",
            backend_name(b.backend),
            b.e2e_topology,
            e.jobs,
            e.completed,
            e.failed,
            e.stuck,
            e.submit_seconds,
            e.total_seconds,
            e.per_second(),
            ratio(e.per_second(), base),
            b.e2e.cpu.describe()
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
    let mut phases: Vec<(&str, &[crate::procs::CommandStat])> = vec![
        ("baseline", &figures.baseline.redis_commands),
        ("accept, api alone", &redis.accept.redis_commands),
    ];
    if let Some(m) = &redis.accept_with_workers {
        phases.push(("accept, workers draining", &m.redis_commands));
    }
    phases.push(("end to end", &redis.e2e.redis_commands));
    phases.push(("latency", &redis.latency.redis_commands));
    for (phase, stats) in phases {
        let top: Vec<String> = stats
            .iter()
            .take(6)
            .map(|c| {
                format!(
                    "`{}` {} × {:.1} µs",
                    c.command,
                    c.calls,
                    c.usec as f64 / c.calls.max(1) as f64
                )
            })
            .collect();
        let _ = writeln!(out, "- {phase}: {}", top.join(", "));
    }
    let e2e = &redis.e2e;
    let completed = e2e.figures.completed.max(1) as f64;
    let redis_cpu = e2e
        .cpu
        .processes
        .iter()
        .find(|(name, _)| name == "redis-server")
        .map_or(0.0, |(_, seconds)| *seconds);
    let calls = |name: &str| {
        e2e.redis_commands
            .iter()
            .find(|c| c.command == name)
            .map_or(0, |c| c.calls)
    };
    let _ = writeln!(
        out,
        "\nEnd to end, each completed job cost Redis {:.0} µs of CPU ({:.1} script calls and {:.1} commands \
         in all per job); one Redis thread can give at most 1 s / that = {:.0} jobs/s, with a core \
         to itself.",
        redis_cpu / completed * 1e6,
        (calls("evalsha") + calls("eval")) as f64 / completed,
        (e2e.redis_commands
            .iter()
            .filter(|c| !matches!(c.command.as_str(), "evalsha" | "eval"))
            .map(|c| c.calls)
            .sum::<u64>() as f64
            / completed),
        if redis_cpu > 0.0 {
            completed / redis_cpu
        } else {
            0.0
        }
    );
    out
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

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Embedded => "embedded",
        Backend::Redis => "Redis",
    }
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 { value / base } else { 0.0 }
}

fn targets(figures: &Figures) -> Vec<Target> {
    let base = figures.baseline.figures.per_second();
    let find = |backend| figures.backends.iter().find(|b| b.backend == backend);
    let throughput = |what: &str, value: Option<f64>, target: f64| Target {
        what: what.to_owned(),
        measured: value.map_or_else(String::new, |v| format!("{v:.0}/s")),
        met: value.map(|v| v >= target),
        ratio: value.map(|v| (ratio(v, base), target / ISSUE_BASELINE)),
    };
    let under = |what: String, value: Option<f64>, limit: f64| Target {
        what,
        measured: value.map_or_else(String::new, |v| format!("{v:.2} ms")),
        met: value.map(|v| v < limit),
        ratio: None,
    };
    let redis = find(Backend::Redis);
    let embedded = find(Backend::Embedded);
    let mut out = vec![
        throughput(
            "Redis: accepted jobs/s ≥ 15,000",
            redis.map(|b| b.accept.figures.per_second()),
            15_000.0,
        ),
        under(
            "Redis: accept p99 < 15 ms".to_owned(),
            redis.map(|b| b.accept.figures.latency.p99_ms),
            15.0,
        ),
        throughput(
            "Embedded: accepted jobs/s ≥ 30,000",
            embedded.map(|b| b.accept.figures.per_second()),
            30_000.0,
        ),
        throughput(
            &format!(
                "Redis, {} worker processes: no-op jobs completed end to end ≥ 7,500/s",
                figures.workers
            ),
            redis.map(|b| b.e2e.figures.per_second()),
            7_500.0,
        ),
    ];
    for (name, backend) in [("Redis", redis), ("Embedded", embedded)] {
        out.push(under(
            format!(
                "{name}: submit-to-completed p99 < 20 ms at {} jobs/s",
                figures.rate
            ),
            backend.map(|b| b.latency.figures.completed_latency.p99_ms),
            20.0,
        ));
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
