//! The Markdown of the BullMQ comparison: Herald ÷ BullMQ beside Herald ÷ baseline, in
//! `all`'s report and on its own for `herald-bench bullmq`.

use std::fmt::Write as _;

use super::{Opening, RedisPerJob, log_notes, top_commands, write_opening};
use crate::accept::AcceptReport;
use crate::bullmq::{BullmqFigures, BullmqPart, BullmqRun};
use crate::e2e::E2eReport;
use crate::run_all::Measured;

/// Herald's side of the comparison: its Redis accept and end-to-end phases, and the run's
/// baseline (where they ran).
pub struct HeraldSide<'a> {
    pub accept: Option<&'a Measured<AcceptReport>>,
    pub e2e: Option<&'a Measured<E2eReport>>,
    /// The bare baseline's accepted jobs/s.
    pub baseline: Option<f64>,
    pub workers: usize,
}

/// The comparison table, or the line saying why BullMQ was skipped.
pub fn comparison(out: &mut String, herald: &HeraldSide<'_>, part: &BullmqPart) {
    out.push_str("\n### Herald beside BullMQ: the same Redis, the same shape\n\n");
    let b = match part {
        BullmqPart::Skipped { reason } => {
            let _ = writeln!(out, "**BullMQ skipped**: {reason}.");
            return;
        }
        BullmqPart::Measured(b) => b,
    };
    let _ = writeln!(
        out,
        "BullMQ {} from npm (node {}), on the run's private Redis, flushed before each phase. \
         *End to end*: {} no-op jobs added with {} adds in flight, {} worker process{} × concurrency {} \
         (Herald's deployment and worker concurrency), a no-op processor, completed jobs kept \
         (`removeOnComplete: false`); completed jobs/s from the first add to the last completion. \
         *Accept*: `Queue.add` in a closed loop with {} adds in flight (as Herald's accept phase has \
         {} connections; the issue quoted BullMQ at 50 in flight) and no worker running, over a {} s \
         window after a warm-up; an add is a library call into Redis, Herald's a `POST` over HTTP.\n",
        b.version,
        b.node_version,
        b.e2e.figures.jobs,
        b.in_flight,
        b.workers,
        if b.workers == 1 { "" } else { "es" },
        b.concurrency,
        b.in_flight,
        b.add.figures.connections,
        b.add.figures.seconds,
    );
    let _ = writeln!(
        out,
        "| Measure | Herald, Redis ({} worker processes) | BullMQ {} | Herald ÷ BullMQ | Herald ÷ baseline | BullMQ ÷ baseline |\n\
         |---|---|---|---|---|---|",
        herald.workers, b.version
    );
    let rate =
        |value: Option<f64>| value.map_or_else(|| "not run".to_owned(), |v| format!("{v:.0}/s"));
    let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".to_owned(),
    };
    let throughput = |out: &mut String, what: &str, h: Option<f64>, bull: f64| {
        let _ = writeln!(
            out,
            "| {what} | {} | {bull:.0}/s | {} | {} | {} |",
            rate(h),
            over(h, Some(bull)),
            over(h, herald.baseline),
            over(Some(bull), herald.baseline)
        );
    };
    throughput(
        out,
        "No-op jobs completed end to end",
        herald.e2e.map(|m| m.figures.per_second()),
        b.e2e.figures.per_second(),
    );
    throughput(
        out,
        "Jobs accepted: `POST /v1/jobs` ↔ `Queue.add`",
        herald.accept.map(|m| m.figures.per_second()),
        b.add.figures.per_second(),
    );
    let latency = |r: &AcceptReport| format!("{:.2} / {:.2}", r.latency.p50_ms, r.latency.p99_ms);
    let _ = writeln!(
        out,
        "| Accept latency p50 / p99, ms | {} | {} | | | |",
        herald
            .accept
            .map_or_else(|| "not run".to_owned(), |m| latency(&m.figures)),
        latency(&b.add.figures)
    );
    let bull_cost = RedisPerJob::of(&b.e2e);
    let herald_cost = herald.e2e.map(RedisPerJob::of);
    let _ = writeln!(
        out,
        "| Redis CPU per completed job (end to end) | {} | {:.0} µs | {} | | |",
        herald_cost.map_or_else(|| "not run".to_owned(), |c| format!("{:.0} µs", c.micros)),
        bull_cost.micros,
        over(herald_cost.map(|c| c.micros), Some(bull_cost.micros))
    );
    let commands =
        |c: RedisPerJob| format!("{:.1} (in {:.1} script calls)", c.commands, c.script_calls);
    let _ = writeln!(
        out,
        "| Redis commands per completed job | {} | {} | {} | | |",
        herald_cost.map_or_else(|| "not run".to_owned(), commands),
        commands(bull_cost),
        over(herald_cost.map(|c| c.commands), Some(bull_cost.commands))
    );
}

/// The accept table's label for BullMQ's `Queue.add` row.
pub fn add_label(b: &BullmqFigures) -> String {
    format!(
        "BullMQ {}: `Queue.add` from one node process, no worker running ({} adds in flight)",
        b.version, b.in_flight
    )
}

/// The end-to-end table's deployment column for BullMQ.
pub fn e2e_topology(b: &BullmqFigures) -> String {
    format!(
        "one node process adding + {} node worker process{} × concurrency {}",
        b.workers,
        if b.workers == 1 { "" } else { "es" },
        b.concurrency
    )
}

/// What went wrong in the BullMQ phases: a skip, failed adds, failed or stuck jobs, and
/// what the node processes logged as `ERROR`.
pub fn complaints(notes: &mut Vec<String>, part: &BullmqPart) {
    let b = match part {
        BullmqPart::Skipped { reason } => {
            notes.push(format!("BullMQ skipped: {reason}"));
            return;
        }
        BullmqPart::Measured(b) => b,
    };
    let add = &b.add.figures;
    if add.errors > 0 {
        notes.push(format!(
            "BullMQ `Queue.add`: {} failed adds; first: {}",
            add.errors,
            add.first_error.as_deref().unwrap_or("?")
        ));
    }
    let e = &b.e2e.figures;
    if e.errors + e.failed + e.stuck > 0 || e.completed != e.accepted {
        notes.push(format!(
            "BullMQ end to end: {} added, {} completed, {} failed, {} stuck, {} failed adds; first: {}",
            e.accepted,
            e.completed,
            e.failed,
            e.stuck,
            e.errors,
            e.first_error.as_deref().unwrap_or("-")
        ));
    }
    log_notes(notes, "BullMQ `Queue.add`", &b.add.trouble);
    log_notes(notes, "BullMQ end to end", &b.e2e.trouble);
}

/// The report of `herald-bench bullmq`: the comparison, each phase's CPU, where Redis spent
/// its time, and what went wrong.
pub fn bullmq_markdown(run: &BullmqRun, command: &str) -> String {
    let mut out = String::new();
    write_opening(
        &mut out,
        &Opening {
            title: "Latest BullMQ comparison",
            command,
            took: "the run",
            at_start: "at the start",
            run: &run.run,
            load_at_end: &run.load_at_end,
        },
    );
    let _ = writeln!(
        out,
        "- Load: {} in flight, {} s warm-up then {} s measured for accept; {} jobs end to end; \
         the tool, Herald, BullMQ and Redis share the same {} cores (loopback)",
        run.connections,
        run.warmup_seconds,
        run.duration_seconds,
        run.e2e_jobs,
        run.run.machine.cpus
    );
    comparison(
        &mut out,
        &HeraldSide {
            accept: run.herald_accept.as_ref(),
            e2e: run.herald_e2e.as_ref(),
            baseline: None,
            workers: run.workers,
        },
        &run.bullmq,
    );
    let mut phases: Vec<(&str, &[crate::procs::CommandStat], &crate::run_all::Cpu)> = Vec::new();
    if let Some(m) = &run.herald_accept {
        phases.push(("Herald, accept", &m.redis_commands, &m.cpu));
    }
    if let Some(m) = &run.herald_e2e {
        phases.push(("Herald, end to end", &m.redis_commands, &m.cpu));
    }
    if let BullmqPart::Measured(b) = &run.bullmq {
        phases.push(("BullMQ, `Queue.add`", &b.add.redis_commands, &b.add.cpu));
        phases.push(("BullMQ, end to end", &b.e2e.redis_commands, &b.e2e.cpu));
    }
    if !phases.is_empty() {
        out.push_str("\n### CPU, % of one core\n\n");
        for (phase, _, cpu) in &phases {
            let _ = writeln!(out, "- {phase}: {}", cpu.describe());
        }
        out.push_str("\n### Where Redis spent its time (`INFO commandstats`, costliest first)\n\n");
        for (phase, stats, _) in &phases {
            let _ = writeln!(out, "- {phase}: {}", top_commands(stats, 8));
        }
    }
    out.push_str("\n### What went wrong\n\n");
    let mut notes = Vec::new();
    complaints(&mut notes, &run.bullmq);
    if let Some(m) = &run.herald_e2e {
        let e = &m.figures;
        if e.rejected + e.errors + e.failed + e.stuck > 0 || e.completed != e.accepted {
            notes.push(format!(
                "Herald end to end: {} accepted, {} completed, {} failed, {} stuck; first: {}",
                e.accepted,
                e.completed,
                e.failed,
                e.stuck,
                e.first_error.as_deref().unwrap_or("-")
            ));
        }
        log_notes(&mut notes, "Herald end to end", &m.trouble);
    }
    if let Some(m) = &run.herald_accept {
        let r = &m.figures;
        if r.non_accepted() + r.errors > 0 {
            notes.push(format!(
                "Herald accept: {} non-`202` answers and {} failed requests; first: {}",
                r.non_accepted(),
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            ));
        }
        log_notes(&mut notes, "Herald accept", &m.trouble);
    }
    if notes.is_empty() {
        out.push_str("Nothing: every job completed, no add or request failed, no `ERROR` line.\n");
    } else {
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procs::CommandStat;
    use crate::run_all::Cpu;
    use crate::stats::Summary;

    fn measured<T>(figures: T, redis_seconds: f64, commands: &[(&str, u64)]) -> Measured<T> {
        Measured {
            figures,
            cpu: Cpu {
                wall_seconds: 5.0,
                processes: vec![("redis-server".to_owned(), redis_seconds)],
            },
            load_after: "1.00 1.00 1.00".to_owned(),
            trouble: Vec::new(),
            redis_commands: commands
                .iter()
                .map(|&(command, calls)| CommandStat {
                    command: command.to_owned(),
                    calls,
                    usec: calls,
                })
                .collect(),
        }
    }

    fn e2e(completed: u64, seconds: f64) -> E2eReport {
        E2eReport {
            jobs: completed as usize,
            accepted: completed,
            rejected: 0,
            errors: 0,
            first_error: None,
            submit_seconds: seconds / 2.0,
            total_seconds: seconds,
            drained: true,
            completed,
            failed: 0,
            stuck: 0,
        }
    }

    fn accept(accepted: u64, p99_ms: f64) -> AcceptReport {
        AcceptReport {
            connections: 64,
            seconds: 10.0,
            accepted,
            other_statuses: Default::default(),
            answered_total: accepted,
            errors: 0,
            first_error: None,
            latency: Summary {
                count: accepted,
                p50_ms: 1.0,
                p90_ms: 2.0,
                p99_ms,
                max_ms: 9.0,
            },
        }
    }

    #[test]
    fn herald_is_divided_by_bullmq_beside_the_baseline() {
        // Herald: 4,000 jobs/s end to end at 200 µs and 50 commands of Redis per job;
        // BullMQ: 8,000 jobs/s at 50 µs and 12 commands.
        let herald_e2e = measured(
            e2e(20_000, 5.0),
            4.0,
            &[("evalsha", 60_000), ("zadd", 1_000_000)],
        );
        let herald_accept = measured(accept(100_000, 14.0), 1.0, &[]);
        let bullmq = BullmqPart::Measured(Box::new(BullmqFigures {
            version: "5.81.5".to_owned(),
            node_version: "v20.0.0".to_owned(),
            workers: 2,
            concurrency: 16,
            in_flight: 64,
            add: measured(accept(300_000, 4.0), 1.0, &[]),
            e2e: measured(
                e2e(40_000, 5.0),
                2.0,
                &[("evalsha", 80_000), ("hset", 480_000)],
            ),
        }));
        let mut out = String::new();
        let herald = HeraldSide {
            accept: Some(&herald_accept),
            e2e: Some(&herald_e2e),
            baseline: Some(50_000.0),
            workers: 2,
        };
        comparison(&mut out, &herald, &bullmq);
        assert!(out.contains("BullMQ 5.81.5 from npm"), "{out}");
        assert!(
            out.contains(
                "| No-op jobs completed end to end | 4000/s | 8000/s | 0.50 | 0.08 | 0.16 |"
            ),
            "{out}"
        );
        assert!(
            out.contains("| Jobs accepted: `POST /v1/jobs` ↔ `Queue.add` | 10000/s | 30000/s | 0.33 | 0.20 | 0.60 |"),
            "{out}"
        );
        assert!(out.contains("| 200 µs | 50 µs | 4.00 |"), "{out}");
        assert!(
            out.contains("50.0 (in 3.0 script calls) | 12.0 (in 2.0 script calls) | 4.17 |"),
            "{out}"
        );
    }

    #[test]
    fn a_skipped_bullmq_says_why() {
        let mut out = String::new();
        let herald = HeraldSide {
            accept: None,
            e2e: None,
            baseline: None,
            workers: 2,
        };
        let part = BullmqPart::Skipped {
            reason: "`node` is not usable here (not found)".to_owned(),
        };
        comparison(&mut out, &herald, &part);
        assert!(out.contains("**BullMQ skipped**: `node` is not usable here (not found)."));
        let mut notes = Vec::new();
        complaints(&mut notes, &part);
        assert_eq!(
            notes,
            ["BullMQ skipped: `node` is not usable here (not found)"]
        );
    }
}
