//! The Markdown of the webhook phases: deliveries per second in drains, state change to
//! receipt latency, isolation from a hanging endpoint, and where Redis spent its time.

use std::fmt::Write as _;

use super::{Opening, backend_name, log_notes, met, write_opening};
use crate::run_all::{Backend, Measured};
use crate::run_webhooks::{
    DrainFigures, WebhookBackendFigures, WebhookFigures, herald_micros_per_delivery,
};

/// Deliveries/s of the throughput drain: the target.
const WEBHOOK_DELIVERY_TARGET: f64 = 5_000.0;
/// State change to receipt p99, ms: the target.
const WEBHOOK_LATENCY_TARGET_MS: f64 = 50.0;
/// Healthy deliveries/s with a hanging endpoint at least this share of those without.
const WEBHOOK_ISOLATION_TARGET: f64 = 0.9;

/// The Markdown of the webhook phases: command, machine, targets, each phase's figures.
pub fn webhooks_markdown(figures: &WebhookFigures, command: &str) -> String {
    let mut out = String::new();
    let m = &figures.run.machine;
    write_opening(
        &mut out,
        &Opening {
            title: "Latest webhooks run",
            command,
            took: "the webhook phases",
            at_start: "at the start of the run",
            run: &figures.run,
            load_at_end: &figures.load_at_end,
        },
    );
    let extra = if figures.herald_args.is_empty() {
        String::new()
    } else {
        format!(" `{}`", figures.herald_args.join(" "))
    };
    let _ = writeln!(
        out,
        "- Herald settings: `--webhook-allow-private-targets`{extra}, otherwise defaults (webhook \
         concurrency 512, 32 per endpoint, timeout 15 s)"
    );
    let _ = writeln!(
        out,
        "- Receiver: a hyper HTTP/1.1 server inside the tool on {} thread(s), one loopback port per \
         endpoint, answering `200` with an empty body at once; the tool, Herald and Redis share the \
         same {} cores; latency window {} s after {} s of warm-up",
        figures.receiver_threads, m.cpus, figures.duration_seconds, figures.warmup_seconds
    );

    out.push_str("\n### Targets\n\n");
    out.push_str("| Target (issue) | Measured | Met |\n|---|---|---|\n");
    for b in &figures.backends {
        let name = backend_name(b.backend);
        if let Some(t) = b.throughput.as_ref().map(|m| &m.figures) {
            let _ = writeln!(
                out,
                "| {name}: deliveries ≥ {WEBHOOK_DELIVERY_TARGET:.0}/s ({} endpoints, {}) | {:.0}/s{} | {} |",
                t.endpoints,
                drain_method(t),
                t.steady_per_second,
                if t.drained { "" } else { " (not all received)" },
                met(t.drained && t.steady_per_second >= WEBHOOK_DELIVERY_TARGET)
            );
        }
        if let Some(l) = b.latency.as_ref().map(|m| &m.figures) {
            let _ = writeln!(
                out,
                "| {name}: state change → receipt p99 < {WEBHOOK_LATENCY_TARGET_MS:.0} ms at {:.0} deliveries/s | {:.1} ms | {} |",
                l.rate,
                l.latency.p99_ms,
                met(l.latency.count > 0
                    && l.missing == 0
                    && l.latency.p99_ms < WEBHOOK_LATENCY_TARGET_MS)
            );
        }
        if b.isolation_with.is_empty() || b.isolation_without.is_empty() {
            continue;
        }
        let ratio = b.isolation_ratio();
        let healthy = b.isolation_with.first().map_or(0, |m| m.figures.endpoints);
        let _ = writeln!(
            out,
            "| {name}: {healthy} healthy endpoints with 1 hanging: deliveries/s within 10 % of without | {:.0}/s against {:.0}/s ({}): {:+.1} % | {} |",
            b.isolation_with_rate(),
            b.isolation_without_rate(),
            match b.isolation_with.len() {
                1 => "one drain each".to_owned(),
                n => format!("mean of {n} drains each"),
            },
            (ratio - 1.0) * 100.0,
            met(b.isolation_drained() && ratio >= WEBHOOK_ISOLATION_TARGET)
        );
    }

    out.push_str("\n### Deliveries per second (drains)\n\n");
    out.push_str(
        "*Drain*: the jobs ran with no notifier, their events waiting in the outbox; then the \
         notifier process was started. *Live*: the notifier ran while the jobs were submitted as fast \
         as possible. Times are from the notifier's start (drain) or the first submission (live). \
         The isolation drains ran alternated: without the hanging endpoint, with it, with it, \
         without it, …\n\n",
    );
    out.push_str(
        "| Backend | Phase | Method | Endpoints (+ hanging) | Events per subscription | Jobs | Deliveries received / expected | Duplicates | First after | Last after | Deliveries/s, 10–90 % | Deliveries/s, first to last | Jobs/s equivalent | Jobs/s (jobs alone) | Receiver connections | Herald CPU per delivery | CPU during the drain, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        for (phase, m) in drains(b) {
            let d = &m.figures;
            let _ = writeln!(
                out,
                "| {} | {phase} | {} | {}{} | {} | {} | {} / {} | {} | {:.2} s | {:.2} s | {:.0} | {:.0} | {:.0} | {:.0} | {} | {:.0} µs | {} |",
                backend_name(b.backend),
                drain_method(d),
                d.endpoints,
                if d.hanging > 0 {
                    format!(" (+ {})", d.hanging)
                } else {
                    String::new()
                },
                d.events_per_subscription,
                d.jobs_completed,
                d.received,
                d.expected,
                d.duplicates,
                d.first_after_seconds,
                d.last_after_seconds,
                d.steady_per_second,
                d.overall_per_second,
                d.job_equivalent_per_second(),
                d.jobs_per_second,
                d.connections,
                herald_micros_per_delivery(m),
                m.cpu.describe()
            );
        }
    }
    out.push_str("\nDeliveries received in each second from the first receipt on:\n\n");
    for b in &figures.backends {
        for (phase, m) in drains(b) {
            let series: Vec<String> = m
                .figures
                .per_second_series
                .iter()
                .map(u64::to_string)
                .collect();
            let _ = writeln!(
                out,
                "- {} {phase}: {}",
                backend_name(b.backend),
                series.join(", ")
            );
        }
    }

    out.push_str(
        "\n### Latency: per-job webhooks, open loop, state change (`updated_at`) to receipt\n\n",
    );
    out.push_str(
        "| Backend | Deployment | Offered/s | Received in the window/s | p50 ms | p90 ms | p99 ms | max ms | Accepted / received / missing | Duplicates | Rejected / errors | CPU in the window, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let Some(measured) = &b.latency else {
            continue;
        };
        let l = &measured.figures;
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} | {} / {} / {} | {} | {} / {} | {} |",
            backend_name(b.backend),
            b.topology,
            l.rate,
            l.window_per_second,
            l.latency.p50_ms,
            l.latency.p90_ms,
            l.latency.p99_ms,
            l.latency.max_ms,
            l.accepted,
            l.received,
            l.missing,
            l.duplicates,
            l.rejected,
            l.errors,
            measured.cpu.describe()
        );
    }
    out.push_str(
        "\nLatency is the receipt time (the request's head read by the receiver) minus the job's \
         `updated_at` in the body, which has millisecond precision, so each figure may be up to 1 ms \
         high.\n",
    );

    for b in figures
        .backends
        .iter()
        .filter(|b| b.backend == Backend::Redis)
    {
        out.push_str("\n### Where Redis spent its time (`INFO commandstats`, costliest first)\n\n");
        out.push_str(
            "A command a Lua script runs is counted on its own line and again inside the script's \
             (`evalsha`) time.\n\n",
        );
        for (phase, m) in drains(b) {
            let redis_cpu = m
                .cpu
                .processes
                .iter()
                .find(|(name, _)| name == "redis-server")
                .map_or(0.0, |(_, seconds)| *seconds);
            let _ = writeln!(
                out,
                "- {phase}: Redis CPU {:.0} µs per delivery; {}",
                redis_cpu / m.figures.received.max(1) as f64 * 1e6,
                top_commands(&m.redis_commands)
            );
        }
        if let Some(latency) = &b.latency {
            let _ = writeln!(
                out,
                "- latency (whole phase, jobs included): {}",
                top_commands(&latency.redis_commands)
            );
        }
    }

    out.push_str("\n### What went wrong\n\n");
    let mut notes = Vec::new();
    for b in &figures.backends {
        let name = backend_name(b.backend);
        for (phase, m) in drains(b) {
            let d = &m.figures;
            if !d.drained || d.duplicates + d.without_id > 0 || d.first_error.is_some() {
                notes.push(format!(
                    "{name} {phase}: {} of {} deliveries received{}, {} duplicates, {} without a `webhook-id`{}",
                    d.received,
                    d.expected,
                    if d.drained { "" } else { " (gave up waiting)" },
                    d.duplicates,
                    d.without_id,
                    d.first_error
                        .as_deref()
                        .map(|e| format!("; jobs: {e}"))
                        .unwrap_or_default()
                ));
            }
            busy_note(&mut notes, &format!("{name} {phase}"), &m.cpu);
            log_notes(&mut notes, &format!("{name} {phase}"), &m.trouble);
        }
        let Some(latency) = &b.latency else {
            continue;
        };
        let l = &latency.figures;
        if l.missing + l.duplicates + l.unparsed + l.rejected + l.errors > 0 {
            notes.push(format!(
                "{name} latency: {} accepted jobs got no delivery, {} duplicates, {} bodies without a readable `updated_at`, {} rejected, {} errors; first: {}",
                l.missing,
                l.duplicates,
                l.unparsed,
                l.rejected,
                l.errors,
                l.first_error.as_deref().unwrap_or("-")
            ));
        }
        busy_note(&mut notes, &format!("{name} latency"), &latency.cpu);
        log_notes(&mut notes, &format!("{name} latency"), &latency.trouble);
    }
    if notes.is_empty() {
        out.push_str(
            "Every expected delivery arrived, none twice; every job was accepted and completed; \
             nothing else used the CPU; no `ERROR` or `WARN` line in any server log (beyond the \
             expected start-up warning that no API keys are configured).\n",
        );
    } else {
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// A backend's drains, labelled, in report order.
fn drains(b: &WebhookBackendFigures) -> Vec<(String, &Measured<DrainFigures>)> {
    let mut out: Vec<(String, &Measured<DrainFigures>)> = b
        .throughput
        .iter()
        .map(|m| ("throughput".to_owned(), m))
        .collect();
    for (label, drains) in [
        ("none hanging", &b.isolation_without),
        ("1 hanging", &b.isolation_with),
    ] {
        for (i, m) in drains.iter().enumerate() {
            out.push((format!("isolation, {label} ({})", i + 1), m));
        }
    }
    out
}

fn top_commands(stats: &[crate::procs::CommandStat]) -> String {
    stats
        .iter()
        .take(8)
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

/// Notes a phase during which processes the run did not start used more than a tenth of a
/// core: its figures are depressed.
pub(super) fn busy_note(notes: &mut Vec<String>, phase: &str, cpu: &crate::run_all::Cpu) {
    let other = cpu
        .processes
        .iter()
        .find(|(name, _)| name == "other processes")
        .map_or(0.0, |(_, seconds)| *seconds);
    let share = other / cpu.wall_seconds.max(1e-9);
    if share > 0.1 {
        notes.push(format!(
            "{phase}: other processes on the box (not started by this run) used {:.0} % of a core: \
             this phase's figures are depressed",
            share * 100.0
        ));
    }
}

fn drain_method(d: &DrainFigures) -> &'static str {
    if d.method == "drain" { "drain" } else { "live" }
}
