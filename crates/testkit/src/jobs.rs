//! The submissions, job types and tenants that store-level tests build, valid by construction.

use herald_core::{
    IdempotencyKey, Job, JobLimits, JobRequest, JobType, NewJob, SharedStore, TenantId,
};

/// The tenant of an open install, which the tests use unless they say otherwise.
pub fn tenant() -> TenantId {
    TenantId::default_tenant()
}

/// A second tenant, for tests of what one tenant cannot see of another.
pub fn other_tenant() -> TenantId {
    TenantId::parse("acme").expect("valid tenant")
}

/// The job type `name`.
///
/// # Panics
/// When `name` is not a valid job type.
pub fn job_type(name: &str) -> JobType {
    JobType::parse(name).expect("valid job type")
}

/// A valid submission of `kind` with `payload`, for [`tenant`].
pub fn new_job(kind: &str, payload: serde_json::Value) -> NewJob {
    new_job_with(kind, payload, |_| {})
}

/// [`new_job`] with the request tweaked first (timeout, attempts, metadata…).
///
/// # Panics
/// When the tweaked request is not a valid submission.
pub fn new_job_with(
    kind: &str,
    payload: serde_json::Value,
    tweak: impl FnOnce(&mut JobRequest),
) -> NewJob {
    let mut request = JobRequest {
        job_type: Some(kind.to_owned()),
        payload: Some(payload),
        ..JobRequest::default()
    };
    tweak(&mut request);
    NewJob::parse(tenant(), request, None, &JobLimits::default()).expect("valid submission")
}

/// The same submission, for `tenant`.
pub fn for_tenant(mut new: NewJob, tenant: TenantId) -> NewJob {
    new.tenant = tenant;
    new
}

/// The same submission, with the idempotency key `key`.
pub fn with_key(mut new: NewJob, key: &str) -> NewJob {
    new.idempotency_key = Some(IdempotencyKey::try_from(key).expect("valid key"));
    new
}

/// Submits a job of `kind` with `payload` to `store`.
pub async fn submit(store: &SharedStore, kind: &str, payload: serde_json::Value) -> Job {
    submit_with(store, kind, payload, |_| {}).await
}

/// Submits a job with the request tweaked first (timeout, attempts).
///
/// # Panics
/// When the submission is invalid or the store refuses it.
pub async fn submit_with(
    store: &SharedStore,
    kind: &str,
    payload: serde_json::Value,
    tweak: impl FnOnce(&mut JobRequest),
) -> Job {
    let new = new_job_with(kind, payload, tweak);
    store.create(new).await.expect("create").job
}
