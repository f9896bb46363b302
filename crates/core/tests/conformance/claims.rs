//! Claiming: waiting for work, types, concurrency, retries and their delays.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use herald_core::store::StoreConfig;
use herald_core::{ErrorCode, JobError, JobStatus, WorkerId};
use serde_json::json;

use crate::support::{Backend, job_type, new_job, new_job_with, open, open_default};

herald_testkit::on_every_backend!(
    claim_returns_nothing_when_no_job_is_waiting,
    a_claim_waits_as_long_as_asked_past_the_command_timeout,
    a_waiting_claim_wakes_when_a_job_arrives,
    claim_takes_only_the_types_asked_for,
    jobs_are_claimed_oldest_first,
    concurrent_claimers_never_share_a_job,
    a_retryable_failure_requeues_the_job_until_attempts_run_out,
    a_delayed_retry_waits_for_its_delay,
    a_permanent_failure_fails_at_once,
);

async fn claim_returns_nothing_when_no_job_is_waiting(backend: Backend) {
    let h = open_default(backend).await;
    assert!(h.claim_now("demo.sleep", 5).await.is_empty());
}

/// A claim may wait much longer than one command may take (1 s by default on Redis): waiting
/// is not a failure.
async fn a_claim_waits_as_long_as_asked_past_the_command_timeout(backend: Backend) {
    let h = open_default(backend).await;
    let claimed = h
        .store
        .claim(
            &h.worker,
            &[job_type("demo.sleep")],
            1,
            Duration::from_secs(3),
        )
        .await
        .expect("a long wait for work is not an error");
    assert!(claimed.is_empty());
}

async fn a_waiting_claim_wakes_when_a_job_arrives(backend: Backend) {
    let h = open_default(backend).await;
    let store = Arc::clone(&h.store);
    let worker = h.worker.clone();
    let waiting = tokio::spawn(async move {
        store
            .claim(
                &worker,
                &[job_type("demo.sleep")],
                1,
                Duration::from_secs(30),
            )
            .await
            .expect("claim")
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let claimed = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the waiting claim woke up before its 30 s wait ran out")
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].lease.job.id, job.id);
}

async fn claim_takes_only_the_types_asked_for(backend: Backend) {
    let h = open_default(backend).await;
    h.create(new_job("demo.fail", json!({}))).await;
    assert!(h.claim_now("demo.sleep", 5).await.is_empty());
    assert_eq!(h.claim_now("demo.fail", 5).await.len(), 1);
}

async fn jobs_are_claimed_oldest_first(backend: Backend) {
    let h = open_default(backend).await;
    let first = h.create(new_job("demo.sleep", json!({}))).await;
    let second = h.create(new_job("demo.sleep", json!({}))).await;
    let claimed: Vec<_> = h
        .claim_now("demo.sleep", 5)
        .await
        .iter()
        .map(|l| l.job.id)
        .collect();
    assert_eq!(claimed, [first.id, second.id]);
}

async fn concurrent_claimers_never_share_a_job(backend: Backend) {
    let h = open_default(backend).await;
    let mut ids = HashSet::new();
    for _ in 0..40 {
        ids.insert(h.create(new_job("demo.sleep", json!({}))).await.id);
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Arc::clone(&h.store);
        tasks.push(tokio::spawn(async move {
            let worker = WorkerId::generate();
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim(
                        &worker,
                        &[job_type("demo.sleep")],
                        3,
                        Duration::from_millis(200),
                    )
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|c| c.lease.job.id));
            }
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), unique.len(), "a job was claimed twice");
    assert_eq!(unique, ids);
}

async fn a_retryable_failure_requeues_the_job_until_attempts_run_out(backend: Backend) {
    let h = open_default(backend).await;
    let job = h
        .create(new_job_with("demo.sleep", json!({}), |r| {
            r.max_attempts = Some(2)
        }))
        .await;
    let error = JobError::new(ErrorCode::HandlerError, "flaky");
    let lease = h.claim_one("demo.sleep").await.lease;
    let retried = h
        .store
        .fail(lease, error.clone(), Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!((retried.status, retried.attempt), (JobStatus::Pending, 1));
    let lease = h.claim_one("demo.sleep").await.lease;
    assert_eq!(lease.job.attempt, 2);
    let failed = h
        .store
        .fail(lease, error.clone(), Some(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error, Some(error));
    assert_eq!(h.get(&job).await, failed);
    assert!(h.claim_now("demo.sleep", 5).await.is_empty());
}

async fn a_delayed_retry_waits_for_its_delay(backend: Backend) {
    let h = open(backend, StoreConfig::default()).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let error = JobError::new(ErrorCode::HandlerError, "later");
    h.store
        .fail(lease, error, Some(Duration::from_millis(500)))
        .await
        .unwrap();
    let types = [job_type("demo.sleep")];
    let report = h.store.maintain(&h.worker, &types).await.unwrap();
    assert_eq!(report.promoted, 0, "promoted before its delay ran out");
    assert!(h.claim_now("demo.sleep", 1).await.is_empty());
    let report = herald_testkit::eventually(
        "the retry to be promoted",
        Duration::from_secs(10),
        || async {
            let report = h.store.maintain(&h.worker, &types).await.unwrap();
            (report.promoted > 0).then_some(report)
        },
    )
    .await;
    assert_eq!(report.promoted, 1);
    assert_eq!(h.claim_one("demo.sleep").await.lease.job.attempt, 2);
}

async fn a_permanent_failure_fails_at_once(backend: Backend) {
    let h = open_default(backend).await;
    h.create(new_job("demo.fail", json!({"message": "no"})))
        .await;
    let lease = h.claim_one("demo.fail").await.lease;
    let error = JobError::new(ErrorCode::HandlerError, "no");
    let failed = h.store.fail(lease, error, None).await.unwrap();
    assert_eq!((failed.status, failed.attempt), (JobStatus::Failed, 1));
    assert_eq!(failed.error.map(|e| e.message), Some("no".to_owned()));
}
