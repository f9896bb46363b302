//! The Markdown of the inbound-webhooks phases: ingested requests/s beside accepted jobs/s in
//! the same run, the ingest latency open loop, and what Redis did per request.

use std::fmt::Write as _;

use super::webhooks::busy_note;
use super::{Opening, backend_name, log_notes, met, ratio, top_commands, write_opening};
use crate::accept::AcceptReport;
use crate::procs::CommandStat;
use crate::run_all::{Backend, Measured};
use crate::run_inbound::{ACCEPT_JOB, InboundFigures, JOB_TYPE};

/// Ingested requests/s at least this share of accepted jobs/s: the target.
const INGEST_OVER_ACCEPT_TARGET: f64 = 0.8;
/// Ingest p99 at the open loop's rate, ms: the target.
const INGEST_P99_TARGET_MS: f64 = 10.0;

/// The Markdown of the inbound phases: command, machine, targets, each phase's figures.
pub fn inbound_markdown(figures: &InboundFigures, command: &str) -> String {
    let mut out = String::new();
    let m = &figures.run.machine;
    write_opening(
        &mut out,
        &Opening {
            title: "Latest inbound run",
            command,
            took: "the inbound phases",
            at_start: "at the start of the run",
            run: &figures.run,
            load_at_end: &figures.load_at_end,
        },
    );
    let _ = writeln!(
        out,
        "- Deployment: a fresh Herald process per phase, every role, `--config` declaring `{JOB_TYPE}` as \
         `handler = \"external\"` (nobody claims its jobs); otherwise defaults. One source, scheme \
         `github`, dedupe by `x-github-delivery` (the scheme's default), answering `202`"
    );
    let _ = writeln!(
        out,
        "- Load: {} keep-alive connections on {} load thread(s), {} s warm-up, {} s window; accept \
         sends `{ACCEPT_JOB}`, ingest a GitHub `push` event of {} bytes with {} and a new \
         `x-github-delivery` in every request; the open loop sends the same requests at {:.0}/s; \
         the tool, Herald and Redis share the same {} cores (loopback)",
        figures.connections,
        figures.threads,
        figures.warmup_seconds,
        figures.duration_seconds,
        figures.body_bytes,
        figures
            .headers
            .iter()
            .filter(|h| h.as_str() != "x-github-delivery")
            .map(|h| format!("`{h}`"))
            .collect::<Vec<_>>()
            .join(", "),
        figures.rate,
        m.cpus
    );

    out.push_str("\n### Targets\n\n");
    out.push_str("| Target | Measured | Met |\n|---|---|---|\n");
    for b in &figures.backends {
        let name = backend_name(b.backend);
        let (accept, ingest) = (&b.accept.figures, &b.ingest.figures);
        let _ = writeln!(
            out,
            "| {name}: ingest ≥ {INGEST_OVER_ACCEPT_TARGET} × accept | {:.0}/s against {:.0}/s: {:.2} × | {} |",
            ingest.per_second(),
            accept.per_second(),
            b.ratio(),
            met(clean(ingest) && clean(accept) && b.ratio() >= INGEST_OVER_ACCEPT_TARGET)
        );
        let l = &b.latency.figures;
        let _ = writeln!(
            out,
            "| {name}: ingest p99 < {INGEST_P99_TARGET_MS:.0} ms at {:.0} requests/s | {:.2} ms{} | {} |",
            l.rate,
            l.latency.p99_ms,
            if l.failed() > 0 {
                format!(" ({} of {} not `202`)", l.failed(), l.scheduled)
            } else {
                String::new()
            },
            met(l.succeeded > 0 && l.failed() == 0 && l.latency.p99_ms < INGEST_P99_TARGET_MS)
        );
    }

    out.push_str(
        "\nBeside the target, the same ratio against submissions as large as an ingest's job \
         (their payload the capture an ingest makes of the event): what the ingest path itself \
         costs, apart from storing a larger job.\n\n",
    );
    for b in &figures.backends {
        let _ = writeln!(
            out,
            "- {}: ingest {:.0}/s against {:.0}/s: {:.2} ×",
            backend_name(b.backend),
            b.ingest.figures.per_second(),
            b.accept_captured.figures.per_second(),
            b.ratio_to_captured()
        );
    }

    out.push_str("\n### Closed loop: accepted jobs and ingested requests per second\n\n");
    out.push_str(
        "| Backend | Phase | Requests/s (`202`) | ÷ accept | p50 ms | p90 ms | p99 ms | max ms | Non-202 | Errors | CPU, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let base = b.accept.figures.per_second();
        for (phase, m) in [
            ("accept: `POST /v1/jobs`", &b.accept),
            ("accept, an ingest's capture as payload", &b.accept_captured),
            ("ingest: `POST /in/{token}`", &b.ingest),
        ] {
            let r = &m.figures;
            let _ = writeln!(
                out,
                "| {} | {phase} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
                backend_name(b.backend),
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
    }

    let _ = writeln!(
        out,
        "\n### Ingest latency: open loop at {:.0} requests/s\n",
        figures.rate
    );
    out.push_str(
        "Each request is due at `start + i / rate` whatever the server does; its latency runs \
         from when it was due to its `202` (no coordinated omission), and, beside it, from when \
         the tool handed it to its client (a free connection or a new one).\n\n",
    );
    out.push_str(
        "| Backend | Due in the window | `202` | Non-202 / errors | p50 ms | p90 ms | p99 ms | max ms | Sent → `202` p99 ms | Tool's max lag ms | Connections | CPU in the phase, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let l = &b.latency.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} / {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.1} | {} | {} |",
            backend_name(b.backend),
            l.scheduled,
            l.succeeded,
            l.other_statuses.values().sum::<u64>(),
            l.errors,
            l.latency.p50_ms,
            l.latency.p90_ms,
            l.latency.p99_ms,
            l.latency.max_ms,
            l.sent_latency.p99_ms,
            l.max_schedule_lag_ms,
            l.connections_opened,
            b.latency.cpu.describe()
        );
    }

    for b in figures
        .backends
        .iter()
        .filter(|b| b.backend == Backend::Redis)
    {
        out.push_str(
            "\n### Redis per request (`INFO commandstats` over the whole phase, warm-up included)\n\n",
        );
        out.push_str(
            "Writes of one kind from concurrent requests share one script call (group commit), \
             so a script's calls per request can be below one. A command a Lua script runs is \
             counted on its own line and again inside the script's (`evalsha`) time.\n\n",
        );
        for (phase, m) in [
            ("accept", &b.accept),
            ("accept of a capture", &b.accept_captured),
            ("ingest", &b.ingest),
        ] {
            let _ = writeln!(out, "- {phase}: {}", per_request(m));
        }
    }

    out.push_str("\n### What went wrong\n\n");
    let mut notes = Vec::new();
    for b in &figures.backends {
        let name = backend_name(b.backend);
        for (phase, m) in [
            ("accept", &b.accept),
            ("accept of a capture", &b.accept_captured),
            ("ingest", &b.ingest),
        ] {
            let r = &m.figures;
            if !clean(r) {
                notes.push(format!(
                    "{name} {phase}: {} non-`202` answers {:?} and {} failed requests; first: {}",
                    r.non_accepted(),
                    r.other_statuses,
                    r.errors,
                    r.first_error.as_deref().unwrap_or("?")
                ));
            }
            busy_note(&mut notes, &format!("{name} {phase}"), &m.cpu);
            log_notes(&mut notes, &format!("{name} {phase}"), &m.trouble);
        }
        let l = &b.latency.figures;
        if l.failed() > 0 {
            notes.push(format!(
                "{name} ingest latency: {} non-`202` answers {:?} and {} failed requests of {}; first: {}",
                l.other_statuses.values().sum::<u64>(),
                l.other_statuses,
                l.errors,
                l.scheduled,
                l.first_error.as_deref().unwrap_or("?")
            ));
        }
        busy_note(
            &mut notes,
            &format!("{name} ingest latency"),
            &b.latency.cpu,
        );
        log_notes(
            &mut notes,
            &format!("{name} ingest latency"),
            &b.latency.trouble,
        );
    }
    if notes.is_empty() {
        out.push_str(
            "Every request was answered `202`; nothing else used the CPU; no `ERROR` or `WARN` \
             line in any server log (beyond the expected start-up warning that no API keys are \
             configured).\n",
        );
    } else {
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// Whether a closed loop got nothing but `202`s.
fn clean(r: &AcceptReport) -> bool {
    r.non_accepted() == 0 && r.errors == 0
}

/// Redis's commands and CPU per request answered in a closed-loop phase.
fn per_request(m: &Measured<AcceptReport>) -> String {
    let answered = m.figures.answered_total.max(1) as f64;
    let scripts: u64 = calls(&m.redis_commands, |c| c.starts_with("eval"));
    let others: u64 = calls(&m.redis_commands, |c| !c.starts_with("eval"));
    let redis_cpu = m
        .cpu
        .processes
        .iter()
        .find(|(name, _)| name == "redis-server")
        .map_or(0.0, |(_, seconds)| *seconds);
    let per: Vec<String> = m
        .redis_commands
        .iter()
        .take(8)
        .map(|c| format!("`{}` {:.2}", c.command, c.calls as f64 / answered))
        .collect();
    format!(
        "{} answers; Redis CPU {:.0} µs, {:.2} script calls and {:.2} other commands per request \
         (per request: {}); costliest: {}",
        m.figures.answered_total,
        redis_cpu / answered * 1e6,
        scripts as f64 / answered,
        others as f64 / answered,
        per.join(", "),
        top_commands(&m.redis_commands, 6)
    )
}

fn calls(stats: &[CommandStat], wanted: impl Fn(&str) -> bool) -> u64 {
    stats
        .iter()
        .filter(|c| wanted(&c.command))
        .map(|c| c.calls)
        .sum()
}
