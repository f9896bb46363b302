//! The worker runtime's tunables, with defaults that suit the store's 30 s lease.

use std::time::Duration;

use herald_core::backoff::RetryPolicy;
use herald_core::catalog::JobTypes;

/// How a [`Worker`](crate::Worker) claims, watches and ends jobs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How many jobs run at once.
    pub concurrency: usize,
    /// How often a running job's lease is renewed. Keep it well under the store's
    /// `lease_timeout` (a third or less), or a slow beat lets another worker reclaim the job.
    pub heartbeat_interval: Duration,
    /// How long one claim call waits in the store for work before the loop calls again.
    pub claim_wait: Duration,
    /// How often the worker asks the store to reclaim dead workers' jobs and to queue the
    /// retries that are due.
    pub maintenance_interval: Duration,
    /// The delays between the attempts of a job that failed with a retryable error, for job
    /// types without a policy of their own in `job_types`.
    pub retry: RetryPolicy,
    /// The job types' own settings: concurrency and retry policy.
    pub job_types: JobTypes,
    /// How long a handler has to return after its job is canceled before it is dropped.
    pub cancel_grace: Duration,
    /// On shutdown, how long running jobs may go on before they are handed back to the queue.
    pub drain_timeout: Duration,
    /// The least time between two progress writes of one job: a chatty handler's reports in
    /// between are coalesced into the latest.
    pub progress_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            concurrency: 16,
            heartbeat_interval: Duration::from_secs(10),
            claim_wait: Duration::from_secs(1),
            maintenance_interval: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            job_types: JobTypes::new(),
            cancel_grace: Duration::from_secs(5),
            drain_timeout: Duration::from_secs(30),
            progress_interval: Duration::from_millis(250),
        }
    }
}

impl WorkerConfig {
    /// Checks the values make a working runtime.
    ///
    /// # Errors
    /// A message naming the first setting that cannot work (zero concurrency, a zero interval,
    /// a retry base above its maximum).
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrency == 0 {
            return Err("concurrency must be at least 1".to_owned());
        }
        let intervals = [
            ("heartbeat_interval", self.heartbeat_interval),
            ("claim_wait", self.claim_wait),
            ("maintenance_interval", self.maintenance_interval),
            ("progress_interval", self.progress_interval),
        ];
        if let Some((name, _)) = intervals.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be longer than zero"));
        }
        let policies = std::iter::once(("the default", &self.retry)).chain(
            self.job_types
                .iter()
                .filter_map(|(name, policy)| Some((name.as_str(), policy.retry.as_ref()?))),
        );
        for (name, retry) in policies {
            if retry.base > retry.max {
                return Err(format!(
                    "{name} retry backoff: the base ({:?}) must not exceed the maximum ({:?})",
                    retry.base, retry.max
                ));
            }
        }
        if let Some((name, _)) = self
            .job_types
            .iter()
            .find(|(_, policy)| policy.concurrency == Some(0))
        {
            return Err(format!("{name}: concurrency must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_beat_well_inside_a_thirty_second_lease() {
        let config = WorkerConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert!(config.heartbeat_interval * 3 <= Duration::from_secs(30));
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        let zero_workers = WorkerConfig {
            concurrency: 0,
            ..WorkerConfig::default()
        };
        assert!(zero_workers.validate().unwrap_err().contains("concurrency"));
        let no_beat = WorkerConfig {
            heartbeat_interval: Duration::ZERO,
            ..WorkerConfig::default()
        };
        assert!(
            no_beat
                .validate()
                .unwrap_err()
                .contains("heartbeat_interval")
        );
        let inverted = WorkerConfig {
            retry: RetryPolicy {
                base: Duration::from_secs(10),
                max: Duration::from_secs(1),
            },
            ..WorkerConfig::default()
        };
        assert!(inverted.validate().unwrap_err().contains("retry backoff"));
    }
}
