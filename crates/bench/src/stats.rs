//! Latency histograms (HdrHistogram, microsecond resolution) and their summaries.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency a histogram holds: longer ones are recorded as this (a minute is far
/// past any timeout the tool uses).
const MAX_MICROS: u64 = 60_000_000;

/// A histogram of latencies in microseconds, 3 significant digits.
///
/// # Errors
/// Never in practice: the bounds are constants that HdrHistogram accepts.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3)
        .map_err(|e| anyhow::anyhow!("failed to create a histogram: {e}"))
}

/// Records one latency, clamped into the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    let micros = u64::try_from(latency.as_micros()).unwrap_or(MAX_MICROS);
    histogram.saturating_record(micros.clamp(1, MAX_MICROS));
}

/// Adds `from` into `into`.
///
/// # Errors
/// Never in practice: every histogram here has the same bounds.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) -> anyhow::Result<()> {
    into.add(from)
        .map_err(|e| anyhow::anyhow!("failed to merge histograms: {e}"))
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    /// The summary of `histogram` (all zero when it is empty).
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: histogram.len(),
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_in_milliseconds() {
        let mut h = histogram().unwrap();
        for ms in 1..=100 {
            record(&mut h, Duration::from_millis(ms));
        }
        let summary = Summary::of(&h);
        assert_eq!(summary.count, 100);
        assert!((summary.p50_ms - 50.0).abs() < 0.1, "{summary:?}");
        assert!((summary.p99_ms - 99.0).abs() < 0.1, "{summary:?}");
        assert!((summary.max_ms - 100.0).abs() < 0.1, "{summary:?}");
    }

    #[test]
    fn an_empty_histogram_summarises_to_zero() {
        assert_eq!(Summary::of(&histogram().unwrap()).count, 0);
    }

    #[test]
    fn latencies_past_the_range_are_clamped() {
        let mut h = histogram().unwrap();
        record(&mut h, Duration::from_secs(3600));
        assert!(Summary::of(&h).max_ms >= 59_000.0);
    }
}
