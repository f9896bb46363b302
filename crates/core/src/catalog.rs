//! The job types an install serves and how each of them runs: the catalog every role reads
//! from the same configuration. The api refuses other types and applies each type's limits
//! and defaults at submission; the worker claims the types it has handlers for, with their
//! concurrency and retry policy; the store keeps each type's finished jobs for the type's
//! retention and gives the types run by external workers a queue per tenant.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::backoff::RetryPolicy;
use crate::ids::JobType;
use crate::job::JobLimits;

/// Who runs the jobs of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Runner {
    /// A handler inside Herald's worker role (a built-in, `exec`, `http` or an embedded one).
    #[default]
    Herald,
    /// Workers outside Herald, in any language, claiming over HTTP (`/v1/workers/...`). Their
    /// jobs wait in a queue per tenant: a worker only ever sees its own tenant's jobs.
    External,
}

/// How one job type runs. `None` everywhere means the install's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypePolicy {
    pub runner: Runner,
    /// The timeout of a job that names none (`timeout_s`).
    pub timeout: Option<Duration>,
    /// The attempts of a job that names none (`max_attempts`).
    pub max_attempts: Option<u32>,
    /// The delays between attempts after a retryable failure.
    pub retry: Option<RetryPolicy>,
    /// How long a finished job (record, history, result) is kept.
    pub retention: Option<Duration>,
    /// The largest payload accepted, as JSON bytes.
    pub max_payload_bytes: Option<usize>,
    /// How many jobs of the type one worker process runs at once (within its overall
    /// concurrency).
    pub concurrency: Option<usize>,
}

/// The job types an install serves, each with its policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTypes {
    types: BTreeMap<JobType, TypePolicy>,
}

impl JobTypes {
    /// A catalog without any type.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `job_type` with `policy`, replacing what it had.
    pub fn insert(&mut self, job_type: JobType, policy: TypePolicy) -> &mut Self {
        self.types.insert(job_type, policy);
        self
    }

    /// The policy of `job_type`, if the install serves it.
    pub fn get(&self, job_type: &JobType) -> Option<&TypePolicy> {
        self.types.get(job_type)
    }

    /// Whether the install serves `job_type`.
    pub fn contains(&self, job_type: &JobType) -> bool {
        self.types.contains_key(job_type)
    }

    /// Whether jobs of `job_type` are run by external workers (and so queued per tenant).
    pub fn is_external(&self, job_type: &JobType) -> bool {
        self.get(job_type)
            .is_some_and(|policy| policy.runner == Runner::External)
    }

    /// Every type with its policy, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&JobType, &TypePolicy)> {
        self.types.iter()
    }

    /// The types run by external workers, in name order.
    pub fn external(&self) -> Vec<JobType> {
        self.iter()
            .filter(|(_, policy)| policy.runner == Runner::External)
            .map(|(job_type, _)| job_type.clone())
            .collect()
    }

    /// Whether the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// The submission limits of `job_type`: `base` with the type's own defaults and payload
    /// bound in place of the install's.
    pub fn limits(&self, job_type: &JobType, base: &JobLimits) -> JobLimits {
        let Some(policy) = self.get(job_type) else {
            return *base;
        };
        JobLimits {
            default_timeout: policy.timeout.unwrap_or(base.default_timeout),
            default_max_attempts: policy.max_attempts.unwrap_or(base.default_max_attempts),
            max_payload_bytes: policy.max_payload_bytes.unwrap_or(base.max_payload_bytes),
            ..*base
        }
    }

    /// How long finished jobs of `job_type` are kept, or `fallback` when the type names none.
    pub fn retention(&self, job_type: &JobType, fallback: Duration) -> Duration {
        self.get(job_type)
            .and_then(|policy| policy.retention)
            .unwrap_or(fallback)
    }

    /// The retry policy of `job_type`, or `fallback` when the type names none.
    pub fn retry(&self, job_type: &JobType, fallback: RetryPolicy) -> RetryPolicy {
        self.get(job_type)
            .and_then(|policy| policy.retry)
            .unwrap_or(fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> JobType {
        JobType::parse(raw).unwrap()
    }

    #[test]
    fn a_types_own_settings_replace_the_install_defaults_and_nothing_else() {
        let mut types = JobTypes::new();
        types.insert(
            name("report.build"),
            TypePolicy {
                timeout: Some(Duration::from_secs(30)),
                max_payload_bytes: Some(100),
                retention: Some(Duration::from_secs(60)),
                ..TypePolicy::default()
            },
        );
        let base = JobLimits::default();
        let limits = types.limits(&name("report.build"), &base);
        assert_eq!(limits.default_timeout, Duration::from_secs(30));
        assert_eq!(limits.max_payload_bytes, 100);
        assert_eq!(limits.default_max_attempts, base.default_max_attempts);
        assert_eq!(limits.max_timeout, base.max_timeout);
        let day = Duration::from_secs(86_400);
        assert_eq!(
            types.retention(&name("report.build"), day),
            Duration::from_secs(60)
        );
        assert_eq!(types.retention(&name("other"), day), day);
        assert_eq!(
            types.limits(&name("other"), &base).max_payload_bytes,
            base.max_payload_bytes
        );
    }

    #[test]
    fn external_types_are_told_apart() {
        let mut types = JobTypes::new();
        types.insert(name("demo.sleep"), TypePolicy::default());
        types.insert(
            name("video.transcode"),
            TypePolicy {
                runner: Runner::External,
                ..TypePolicy::default()
            },
        );
        assert!(types.is_external(&name("video.transcode")));
        assert!(!types.is_external(&name("demo.sleep")));
        assert!(!types.is_external(&name("unknown")));
        assert_eq!(types.external(), [name("video.transcode")]);
        assert!(types.contains(&name("demo.sleep")));
    }
}
