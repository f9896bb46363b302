//! Canceling: at once when pending, by request when processing, never when finished.

use std::time::Duration;

use herald_core::store::{CancelOutcome, Signal};
use herald_core::{ErrorCode, EventType, JobId, JobStatus};
use serde_json::json;

use crate::support::{Backend, new_job, open_default, tenant};

herald_testkit::on_every_backend!(
    canceling_a_pending_job_is_immediate_and_no_worker_gets_it,
    canceling_a_processing_job_asks_its_worker_to_stop,
    canceling_a_finished_job_changes_nothing,
    canceling_a_missing_job_finds_nothing,
);

async fn canceling_a_pending_job_is_immediate_and_no_worker_gets_it(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let outcome = h.store.cancel(&tenant(), &job.id).await.unwrap();
    let Some(CancelOutcome::Canceled(canceled)) = outcome else {
        panic!("expected Canceled, got {outcome:?}");
    };
    assert_eq!((canceled.status, canceled.seq), (JobStatus::Canceled, 2));
    assert_eq!(
        canceled.error.as_ref().map(|e| e.code),
        Some(ErrorCode::Canceled)
    );
    assert_eq!(h.get(&job).await, canceled);
    assert!(h.claim_now("demo.sleep", 5).await.is_empty());
    let last = h.store.history(&tenant(), &job.id, 1).await.unwrap();
    assert_eq!(
        last.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [EventType::Canceled]
    );
}

async fn canceling_a_processing_job_asks_its_worker_to_stop(backend: Backend) {
    let h = open_default(backend).await;
    let mut signals = h.store.signals();
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    assert!(
        !h.store
            .heartbeat(&h.worker, &lease)
            .await
            .unwrap()
            .cancel_requested
    );

    let outcome = h.store.cancel(&tenant(), &job.id).await.unwrap();
    let Some(CancelOutcome::Requested(still)) = outcome else {
        panic!("expected Requested, got {outcome:?}");
    };
    assert_eq!(still.status, JobStatus::Processing);
    assert!(
        h.store
            .heartbeat(&h.worker, &lease)
            .await
            .unwrap()
            .cancel_requested
    );
    loop {
        let signal = tokio::time::timeout(Duration::from_secs(10), signals.recv())
            .await
            .expect("a cancel signal within 10 s")
            .expect("open channel");
        if matches!(signal, Signal::CancelRequested(id) if id == job.id) {
            break;
        }
    }

    let canceled = h.store.cancel_claimed(lease).await.unwrap();
    assert_eq!(canceled.status, JobStatus::Canceled);
    assert_eq!(h.get(&job).await, canceled);
}

async fn canceling_a_finished_job_changes_nothing(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let done = h.store.complete(lease, None).await.unwrap();
    let outcome = h.store.cancel(&tenant(), &job.id).await.unwrap();
    assert!(
        matches!(outcome, Some(CancelOutcome::AlreadyFinished(ref j)) if *j == done),
        "{outcome:?}"
    );
    assert_eq!(h.get(&job).await, done);
}

async fn canceling_a_missing_job_finds_nothing(backend: Backend) {
    let h = open_default(backend).await;
    assert!(
        h.store
            .cancel(&tenant(), &JobId::generate())
            .await
            .unwrap()
            .is_none()
    );
}
