//! Retrying a finished job by hand: pending again and back in its queue, `seq` moving on,
//! each attempt listed with how it ended, and the record kept past its retention while it
//! runs again.

use std::time::Duration;

use herald_core::{
    AttemptDetail, AttemptOutcome, ErrorCode, EventType, JobError, JobId, JobStatus, StoreError,
};
use serde_json::json;

use crate::retention;
use crate::support::{Backend, new_job, open, open_default, open_with, other_tenant, tenant};

herald_testkit::on_every_backend!(
    a_failed_job_retried_runs_again_as_a_new_attempt,
    a_completed_or_canceled_job_is_retried_too_and_its_result_goes,
    an_unfinished_or_missing_job_is_not_retried,
    a_retried_job_outlives_the_retention_it_had_when_it_finished,
    a_job_canceled_while_processing_runs_its_retry_uncanceled,
    a_retry_into_a_full_queue_is_refused,
);

async fn a_failed_job_retried_runs_again_as_a_new_attempt(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let mut lease = h.claim_one("demo.sleep").await.lease;
    lease
        .job
        .note_attempt(AttemptDetail::answer(504, b"gateway timeout"));
    let error = JobError::new(ErrorCode::HandlerError, "the endpoint answered 504");
    let failed = h.store.fail(lease, error.clone(), None).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);

    let retried = h.store.retry(&tenant(), &job.id).await.unwrap().unwrap();
    assert_eq!(
        (retried.status, retried.seq, retried.error.clone()),
        (JobStatus::Pending, failed.seq + 1, None)
    );
    assert_eq!(h.get(&job).await, retried);
    let events = h
        .store
        .history(&tenant(), &job.id, failed.seq)
        .await
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventType::Pending]
    );

    let lease = h.claim_one("demo.sleep").await.lease;
    assert_eq!(lease.job.attempt, 2);
    let done = h.store.complete(lease, None).await.unwrap();
    let attempts: Vec<_> = done
        .attempts
        .iter()
        .map(|a| (a.attempt, a.outcome, a.error.clone(), a.detail.http_status))
        .collect();
    assert_eq!(
        attempts,
        [
            (1, Some(AttemptOutcome::Failed), Some(error), Some(504)),
            (2, Some(AttemptOutcome::Completed), None, None),
        ]
    );
    assert_eq!(
        done.attempts[0].detail.response_excerpt.as_deref(),
        Some("gateway timeout")
    );
    assert_eq!(h.get(&job).await, done);
}

async fn a_completed_or_canceled_job_is_retried_too_and_its_result_goes(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store
        .complete(lease, Some(herald_core::JobOutput::json(&json!({"n": 1}))))
        .await
        .unwrap();
    let retried = h.store.retry(&tenant(), &job.id).await.unwrap().unwrap();
    assert!(!retried.has_result);
    assert!(h.store.result(&tenant(), &job.id).await.unwrap().is_none());
    assert_eq!(h.claim_now("demo.sleep", 5).await.len(), 1);

    let pending = h.create(new_job("demo.sleep", json!({}))).await;
    h.store.cancel(&tenant(), &pending.id).await.unwrap();
    let again = h
        .store
        .retry(&tenant(), &pending.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.status, JobStatus::Pending);
    assert_eq!(h.claim_now("demo.sleep", 5).await.len(), 1);
}

async fn an_unfinished_or_missing_job_is_not_retried(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    assert!(matches!(
        h.store.retry(&tenant(), &job.id).await,
        Err(StoreError::Transition(_))
    ));
    let _lease = h.claim_one("demo.sleep").await;
    assert!(matches!(
        h.store.retry(&tenant(), &job.id).await,
        Err(StoreError::Transition(_))
    ));
    assert!(
        h.store
            .retry(&tenant(), &JobId::generate())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        h.store
            .retry(&other_tenant(), &job.id)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_retried_job_outlives_the_retention_it_had_when_it_finished(backend: Backend) {
    // `demo.sleep` is kept 300 ms once finished.
    let h = open(backend, retention::config()).await;
    let types = [herald_testkit::jobs::job_type("demo.sleep")];
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    h.store.retry(&tenant(), &job.id).await.unwrap().unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    h.store.maintain(&h.worker, &types).await.unwrap();
    let kept = h.store.get(&tenant(), &job.id).await.unwrap();
    assert_eq!(kept.map(|j| j.status), Some(JobStatus::Pending));
    // Finished again, it goes after its retention as before.
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    herald_testkit::eventually(
        "the job finished again to expire",
        Duration::from_secs(10),
        || async {
            h.store.maintain(&h.worker, &types).await.unwrap();
            h.store
                .get(&tenant(), &job.id)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
}

async fn a_job_canceled_while_processing_runs_its_retry_uncanceled(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.cancel(&tenant(), &job.id).await.unwrap();
    let canceled = h.store.cancel_claimed(lease).await.unwrap();
    assert_eq!(
        canceled.attempts.last().and_then(|a| a.outcome),
        Some(AttemptOutcome::Canceled)
    );
    h.store.retry(&tenant(), &job.id).await.unwrap().unwrap();
    let lease = h.claim_one("demo.sleep").await.lease;
    let state = h.store.heartbeat(&h.worker, &lease).await.unwrap();
    assert!(!state.cancel_requested);
}

async fn a_retry_into_a_full_queue_is_refused(backend: Backend) {
    let h = open_with(backend, |config| config.max_queue_len = 1).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    // Every partition's share of the bound taken.
    for _ in 0..h.bound_of(1) {
        h.create(new_job("demo.sleep", json!({}))).await;
    }
    let refused = h.store.retry(&tenant(), &job.id).await;
    assert!(
        matches!(refused, Err(StoreError::QueueFull(_))),
        "{refused:?}"
    );
    assert_eq!(h.get(&job).await.status, JobStatus::Completed);
}
