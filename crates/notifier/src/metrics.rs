//! The notifier's Prometheus metrics, registered under the `notifier_` prefix: attempts by
//! outcome, attempt latency, attempts in flight, events expanded, and the delivery queue
//! (scheduled deliveries and how overdue the oldest one is).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// How one attempt (or a delivery given up unsent) ended, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A 2xx answered.
    Delivered,
    /// It failed; another attempt is scheduled.
    Retrying,
    /// It failed and the schedule is over.
    Dead,
    /// `410 Gone`: the subscription is disabled.
    Gone,
    /// Not sent: its subscription was deleted or disabled.
    Abandoned,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Self::Delivered,
        Self::Retrying,
        Self::Dead,
        Self::Gone,
        Self::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Gone => "gone",
            Self::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The notifier's metrics. Cheap to clone: clones share their values.
#[derive(Debug, Clone)]
pub struct NotifierMetrics {
    attempts: Family<OutcomeLabels, Counter>,
    /// The family's counters, in the order of [`Outcome::ALL`], looked up once rather than
    /// at every attempt.
    by_outcome: [Counter; 5],
    attempt_duration: Histogram,
    in_flight: Gauge,
    expanded: Counter,
    scheduled: Gauge,
    oldest_due_age: Gauge<f64, AtomicU64>,
}

impl NotifierMetrics {
    /// Creates the metrics and registers them in `registry` under the `notifier_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let attempts = Family::<OutcomeLabels, Counter>::default();
        let by_outcome = Outcome::ALL.map(|outcome| {
            attempts
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.as_str(),
                })
                .clone()
        });
        let metrics = Self {
            attempts,
            by_outcome,
            // 1 ms to about 65 s, doubling: from a local receiver to a timeout.
            attempt_duration: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            in_flight: Gauge::default(),
            expanded: Counter::default(),
            scheduled: Gauge::default(),
            oldest_due_age: Gauge::default(),
        };
        let registry = registry.sub_registry_with_prefix("notifier");
        registry.register(
            "deliveries",
            "Delivery attempts by outcome (and deliveries given up unsent)",
            metrics.attempts.clone(),
        );
        registry.register_with_unit(
            "attempt_duration",
            "How long delivery attempts took, request to response",
            Unit::Seconds,
            metrics.attempt_duration.clone(),
        );
        registry.register(
            "attempts_in_flight",
            "Delivery attempts this process is making now",
            metrics.in_flight.clone(),
        );
        registry.register(
            "events_expanded",
            "Outbox events this process expanded into deliveries",
            metrics.expanded.clone(),
        );
        registry.register(
            "deliveries_scheduled",
            "Deliveries waiting for their next attempt, across all notifiers",
            metrics.scheduled.clone(),
        );
        registry.register_with_unit(
            "oldest_due_delivery_age",
            "How long the most overdue delivery has been due (0 when none is)",
            Unit::Seconds,
            metrics.oldest_due_age.clone(),
        );
        metrics
    }

    pub(crate) fn attempted(&self, outcome: Outcome, took: Duration) {
        self.by_outcome[outcome as usize].inc();
        if outcome != Outcome::Abandoned {
            self.attempt_duration.observe(took.as_secs_f64());
        }
    }

    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    pub(crate) fn expanded(&self, events: u64) {
        self.expanded.inc_by(events);
    }

    pub(crate) fn queue(&self, scheduled: u64, oldest_due_age: Duration) {
        self.scheduled
            .set(i64::try_from(scheduled).unwrap_or(i64::MAX));
        self.oldest_due_age.set(oldest_due_age.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_counts_under_its_own_label() {
        let mut registry = Registry::default();
        let metrics = NotifierMetrics::register(&mut registry);
        for (times, outcome) in (1..).zip(Outcome::ALL) {
            for _ in 0..times {
                metrics.attempted(outcome, Duration::from_millis(1));
            }
        }
        for (times, outcome) in (1..).zip(Outcome::ALL) {
            let counted = metrics
                .attempts
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.as_str(),
                })
                .get();
            assert_eq!(counted, times, "{}", outcome.as_str());
        }
    }
}
