//! The worker's Prometheus metrics: how attempts ended, how many run now, how long they ran.
//!
//! Registered under the `worker_` prefix of the registry given, so behind the binary's own
//! prefix they read `herald_worker_jobs_finished_total`, `herald_worker_jobs_in_flight` and
//! `herald_worker_job_duration_seconds`.

use std::time::Duration;

use herald_core::JobType;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// How one attempt of a job ended on this worker, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finished {
    /// The job completed.
    Completed,
    /// The job failed for good.
    Failed,
    /// The attempt failed and the job waits for its next one.
    Retried,
    /// The job was canceled.
    Canceled,
    /// The worker shut down and handed the job back.
    Released,
    /// The lease was lost: another worker owns the job, or its final write did not land.
    Lost,
}

impl Finished {
    /// Every outcome, in declared order (a `TypeMetrics` indexes its counters by it).
    const ALL: [Self; 6] = [
        Self::Completed,
        Self::Failed,
        Self::Retried,
        Self::Canceled,
        Self::Released,
        Self::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Retried => "retried",
            Self::Canceled => "canceled",
            Self::Released => "released",
            Self::Lost => "lost",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    job_type: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TypeLabels {
    job_type: String,
}

type DurationFamily = Family<TypeLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms to about 45 min, doubling: from no-op jobs to long reports.
    Histogram::new(exponential_buckets(0.005, 2.0, 20))
}

/// The worker's metrics. Cheap to clone: clones share their values.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    finished: Family<OutcomeLabels, Counter>,
    in_flight: Gauge,
    duration: DurationFamily,
}

impl WorkerMetrics {
    /// Creates the metrics and registers them in `registry` under the `worker_` prefix.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            finished: Family::default(),
            in_flight: Gauge::default(),
            duration: Family::new_with_constructor(duration_histogram),
        };
        let worker = registry.sub_registry_with_prefix("worker");
        worker.register(
            "jobs_finished",
            "Job attempts ended on this worker, by job type and outcome \
             (completed, failed, retried, canceled, released, lost)",
            metrics.finished.clone(),
        );
        worker.register(
            "jobs_in_flight",
            "Jobs running on this worker now",
            metrics.in_flight.clone(),
        );
        worker.register_with_unit(
            "job_duration",
            "How long job attempts ran on this worker, from claim to final write",
            Unit::Seconds,
            metrics.duration.clone(),
        );
        metrics
    }

    /// Counts a running job until the guard is dropped, however its run ends.
    pub(crate) fn running(&self) -> InFlightGuard {
        self.in_flight.inc();
        InFlightGuard(self.in_flight.clone())
    }

    /// The metrics of `job_type`'s jobs, resolved once so that recording a job's end neither
    /// builds labels nor looks them up.
    pub(crate) fn of_type(&self, job_type: &JobType) -> TypeMetrics {
        let finished = Finished::ALL.map(|outcome| {
            let labels = OutcomeLabels {
                job_type: job_type.as_str().to_owned(),
                outcome: outcome.as_str(),
            };
            self.finished.get_or_create(&labels).clone()
        });
        let labels = TypeLabels {
            job_type: job_type.as_str().to_owned(),
        };
        TypeMetrics {
            finished,
            duration: self.duration.get_or_create(&labels).clone(),
        }
    }

    /// Records how an attempt of a `job_type` job ended and how long it ran.
    pub(crate) fn finished(&self, job_type: &JobType, outcome: Finished, ran: Duration) {
        let labels = OutcomeLabels {
            job_type: job_type.as_str().to_owned(),
            outcome: outcome.as_str(),
        };
        self.finished.get_or_create(&labels).inc();
        let labels = TypeLabels {
            job_type: labels.job_type,
        };
        self.duration
            .get_or_create(&labels)
            .observe(ran.as_secs_f64());
    }
}

/// One job type's share of [`WorkerMetrics`], from [`WorkerMetrics::of_type`].
#[derive(Debug, Clone)]
pub(crate) struct TypeMetrics {
    /// By outcome, in the order of `Finished::ALL`.
    finished: [Counter; 6],
    duration: Histogram,
}

impl TypeMetrics {
    /// Records how an attempt ended and how long it ran.
    pub(crate) fn finished(&self, outcome: Finished, ran: Duration) {
        // `Finished::ALL` lists the outcomes in their declared order.
        self.finished[outcome as usize].inc();
        self.duration.observe(ran.as_secs_f64());
    }
}

/// Decrements the in-flight gauge on drop.
pub(crate) struct InFlightGuard(Gauge);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn finished_jobs_are_counted_by_type_and_outcome() {
        let mut registry = Registry::with_prefix("herald");
        let metrics = WorkerMetrics::register(&mut registry);
        let sleep = JobType::parse("demo.sleep").unwrap();
        metrics.finished(&sleep, Finished::Completed, Duration::from_millis(3));
        metrics.finished(&sleep, Finished::Retried, Duration::from_millis(3));
        metrics.finished(&sleep, Finished::Completed, Duration::from_millis(3));
        let guard = metrics.running();
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            r#"herald_worker_jobs_finished_total{job_type="demo.sleep",outcome="completed"} 2"#
        ));
        assert!(text.contains(
            r#"herald_worker_jobs_finished_total{job_type="demo.sleep",outcome="retried"} 1"#
        ));
        assert!(text.contains("herald_worker_jobs_in_flight 1"));
        assert!(
            text.contains(r#"herald_worker_job_duration_seconds_count{job_type="demo.sleep"} 3"#)
        );
        metrics
            .of_type(&sleep)
            .finished(Finished::Lost, Duration::from_millis(3));
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            r#"herald_worker_jobs_finished_total{job_type="demo.sleep",outcome="lost"} 1"#
        ));
        assert!(
            text.contains(r#"herald_worker_job_duration_seconds_count{job_type="demo.sleep"} 4"#)
        );
        drop(guard);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains("herald_worker_jobs_in_flight 0"));
    }
}
