//! Builders the unit tests share (compiled for tests only).

use std::time::Duration;

use crate::ids::{JobType, TenantId};
use crate::job::NewJob;

/// A submission of a `job_type` job in the default tenant: an empty payload, a 5 s timeout,
/// one attempt, no idempotency key and no webhook.
pub(crate) fn new_job(job_type: &str) -> NewJob {
    NewJob {
        tenant: TenantId::default_tenant(),
        job_type: JobType::parse(job_type).unwrap(),
        payload: serde_json::json!({}),
        timeout: Duration::from_secs(5),
        max_attempts: 1,
        metadata: Default::default(),
        idempotency_key: None,
        webhook: None,
    }
}
