//! The Markdown of the Server-Sent Events phases: memory per idle stream, deliveries and
//! latency across many streams, checked against the targets.

use std::fmt::Write as _;

use super::{Opening, backend_name, log_notes, met, ratio, write_opening};
use crate::run_sse::SseFigures;

/// Memory per idle stream, KiB: the target, at each idle phase of at least
/// [`SSE_MEMORY_TARGET_FROM`] streams.
const SSE_MEMORY_TARGET_KIB: f64 = 8.0;
/// The idle phases the memory target applies to: 10,000 streams and more (the smaller ones
/// show the fixed costs).
const SSE_MEMORY_TARGET_FROM: usize = 10_000;
/// Deliveries/s across the large stream count: the target.
const SSE_DELIVERY_TARGET: f64 = 40_000.0;
/// Publish-to-receive p99 across the large stream count, ms: the target.
const SSE_DELIVERY_P99_TARGET_MS: f64 = 100.0;
/// Publish-to-receive p99 at the small stream count, ms: the target.
const SSE_LATENCY_TARGET_MS: f64 = 25.0;

/// The Markdown of the SSE phases: command, machine, targets, each phase's figures.
pub fn sse_markdown(figures: &SseFigures, command: &str) -> String {
    let mut out = String::new();
    let m = &figures.run.machine;
    write_opening(
        &mut out,
        &Opening {
            title: "Latest SSE run",
            command,
            took: "the SSE phases",
            at_start: "at the start of the run",
            run: &figures.run,
            load_at_end: &figures.load_at_end,
        },
    );
    let _ = writeln!(
        out,
        "- Load: every stream its own HTTP/1.1 connection, on {} load thread(s) (current-thread runtimes); \
         the tool's open-files limit {}; {} s of events before a {} s measured window; \
         the tool, Herald and Redis share the same {} cores (loopback)",
        figures.threads,
        figures.open_files_limit,
        figures.warmup_seconds,
        figures.duration_seconds,
        m.cpus
    );

    out.push_str("\n### Targets\n\n");
    out.push_str(
        "| Target (issue) | Measured | Met | Nchan, measured for the issue |\n|---|---|---|---|\n",
    );
    for b in &figures.backends {
        let name = backend_name(b.backend);
        let largest = b.memory.iter().map(|m| m.figures.streams).max();
        for memory in b.memory.iter().filter(|m| {
            m.figures.streams >= SSE_MEMORY_TARGET_FROM || Some(m.figures.streams) == largest
        }) {
            let per = memory.figures.per_stream_kib();
            let _ = writeln!(
                out,
                "| {name}: memory per idle stream ≤ {SSE_MEMORY_TARGET_KIB:.0} KiB ({} streams) | {per:.1} KiB | {} | about 10 KB per connection |",
                memory.figures.streams,
                met(per <= SSE_MEMORY_TARGET_KIB)
            );
        }
        let d = &b.delivery.figures;
        let _ = writeln!(
            out,
            "| {name}: deliveries ≥ {SSE_DELIVERY_TARGET:.0}/s across {} streams | {:.0}/s ({} streams ended) | {} | about 50,000 events/s |",
            d.streams,
            d.delivered_per_second(),
            d.ended,
            met(d.delivered_per_second() >= SSE_DELIVERY_TARGET && d.ended == 0)
        );
        let _ = writeln!(
            out,
            "| {name}: publish-to-receive p99 < {SSE_DELIVERY_P99_TARGET_MS:.0} ms across {} streams | {:.1} ms | {} | |",
            d.streams,
            d.latency.p99_ms,
            met(d.latency.count > 0 && d.latency.p99_ms < SSE_DELIVERY_P99_TARGET_MS)
        );
        let l = &b.latency.figures;
        let _ = writeln!(
            out,
            "| {name}: publish-to-receive p99 < {SSE_LATENCY_TARGET_MS:.0} ms with {} streams | {:.1} ms | {} | p99 28 ms at 1,000 subscribers |",
            l.streams,
            l.latency.p99_ms,
            met(l.latency.count > 0 && l.latency.p99_ms < SSE_LATENCY_TARGET_MS)
        );
    }

    out.push_str(
        "\n### Memory per idle stream: `GET /v1/jobs/{id}/events` on jobs that do not change\n\n",
    );
    out.push_str(
        "| Backend | Deployment | Streams | Established in | API RSS before | API RSS with the streams | Per stream | Failed / ended | CPU, % of one core (whole phase) |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        for m in &b.memory {
            let f = &m.figures;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} s | {:.1} MiB | {:.1} MiB | {:.1} KiB | {} / {} | {} |",
                backend_name(b.backend),
                b.idle_topology,
                f.streams,
                f.established_seconds,
                f.rss_before_kib as f64 / 1024.0,
                f.rss_after_kib as f64 / 1024.0,
                f.per_stream_kib(),
                f.failed,
                f.ended,
                m.cpu.describe()
            );
        }
    }

    out.push_str(
        "\n### Deliveries and latency: `GET /v1/events/stream?types=job.progress`, long `demo.report` jobs publishing\n\n",
    );
    out.push_str(
        "| Backend | Deployment | Streams | Jobs | Published events/s | Offered deliveries/s | Delivered/s | Delivered ÷ offered | p50 ms | p90 ms | p99 ms | max ms | Failed / ended | CPU in the window, % of one core |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for b in &figures.backends {
        for m in [&b.delivery, &b.latency] {
            let f = &m.figures;
            let offered = f.offered_per_second();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.1} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} / {} | {} |",
                backend_name(b.backend),
                b.busy_topology,
                f.streams,
                f.jobs,
                f.published_per_second(),
                offered,
                f.delivered_per_second(),
                ratio(f.delivered_per_second(), offered),
                f.latency.p50_ms,
                f.latency.p90_ms,
                f.latency.p99_ms,
                f.latency.max_ms,
                f.failed,
                f.ended,
                f.window_cpu.describe()
            );
        }
    }
    out.push_str(
        "\n*Published* is what the first stream received in the window (every stream follows the same \
         events); *offered* is that times the streams. Latency is the receive time minus the event's \
         `updated_at`, which has millisecond precision (the contract's), so each figure may be up to \
         1 ms high.\n",
    );

    out.push_str("\n### What went wrong\n\n");
    let mut notes = Vec::new();
    for b in &figures.backends {
        let name = backend_name(b.backend);
        for m in &b.memory {
            let f = &m.figures;
            if f.failed + f.ended > 0 {
                notes.push(format!(
                    "{name}, {} idle streams: {} failed to open, {} ended; first: {}",
                    f.streams,
                    f.failed,
                    f.ended,
                    f.first_error.as_deref().unwrap_or("-")
                ));
            }
            log_notes(
                &mut notes,
                &format!("{name}, {} idle streams", f.streams),
                &m.trouble,
            );
        }
        for (label, m) in [("deliveries", &b.delivery), ("latency", &b.latency)] {
            let f = &m.figures;
            if f.failed + f.ended + f.unparsed > 0 {
                notes.push(format!(
                    "{name} {label}, {} streams: {} failed to open, {} ended by the server (a stream on \
                     the feed never ends unless dropped), {} events without a readable `updated_at`; first: {}",
                    f.streams,
                    f.failed,
                    f.ended,
                    f.unparsed,
                    f.first_error.as_deref().unwrap_or("-")
                ));
            }
            log_notes(&mut notes, &format!("{name} {label}"), &m.trouble);
        }
    }
    if notes.is_empty() {
        out.push_str(
            "Every stream opened and none ended; no `ERROR` or `WARN` line in any server log \
             (beyond the expected start-up warning that no API keys are configured).\n",
        );
    } else {
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}
