//! Leases: heartbeats, reclaiming a dead worker's job, fencing out zombies, releasing.

use std::time::Duration;

use herald_core::store::{StoreConfig, StoreError};
use herald_core::{ErrorCode, JobStatus, Progress, WorkerId};
use serde_json::json;

use crate::support::{Backend, job_type, new_job, new_job_with, open, open_default};

herald_testkit::on_every_backend!(
    a_dead_workers_job_is_reclaimed_and_a_zombie_write_is_refused,
    a_heartbeat_keeps_the_lease,
    a_lost_lease_on_the_last_attempt_fails_the_job_with_worker_lost,
    a_released_job_goes_back_to_the_queue_without_counting_the_attempt,
    writes_through_a_finished_lease_are_refused,
);

fn short_leases() -> StoreConfig {
    StoreConfig {
        lease_timeout: Duration::from_millis(300),
        ..StoreConfig::default()
    }
}

async fn a_dead_workers_job_is_reclaimed_and_a_zombie_write_is_refused(backend: Backend) {
    let h = open(backend, short_leases()).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let zombie = WorkerId::generate();
    let mut stale = h.claim_one_as(&zombie, "demo.sleep").await.lease;
    let rescuer = WorkerId::generate();
    let types = [job_type("demo.sleep")];
    herald_testkit::eventually(
        "the expired lease to be reclaimed",
        Duration::from_secs(10),
        || async {
            let report = h.store.maintain(&rescuer, &types).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let pending = h.get(&job).await;
    assert_eq!((pending.status, pending.attempt), (JobStatus::Pending, 1));
    let fresh = h.claim_one_as(&rescuer, "demo.sleep").await.lease;
    assert_eq!(fresh.job.attempt, 2);

    // The zombie wakes up and tries to write: every write is refused.
    assert!(matches!(
        h.store.heartbeat(&zombie, &stale).await,
        Err(StoreError::LeaseLost)
    ));
    let err = h
        .store
        .progress(&mut stale, Progress::new(90, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
    let err = h.store.complete(stale, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");

    let done = h.store.complete(fresh, None).await.unwrap();
    assert_eq!((done.status, done.attempt), (JobStatus::Completed, 2));
    assert_eq!(h.get(&job).await, done);
}

async fn a_heartbeat_keeps_the_lease(backend: Backend) {
    let h = open(backend, short_leases()).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let types = [job_type("demo.sleep")];
    let rescuer = WorkerId::generate();
    for _ in 0..12 {
        let state = h.store.heartbeat(&h.worker, &lease).await.unwrap();
        assert!(!state.cancel_requested);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            h.store.maintain(&rescuer, &types).await.unwrap().reclaimed,
            0
        );
    }
    assert_eq!(
        h.store.complete(lease, None).await.unwrap().status,
        JobStatus::Completed
    );
}

async fn a_lost_lease_on_the_last_attempt_fails_the_job_with_worker_lost(backend: Backend) {
    let h = open(backend, short_leases()).await;
    let job = h
        .create(new_job_with("demo.sleep", json!({}), |r| {
            r.max_attempts = Some(1)
        }))
        .await;
    let _abandoned = h.claim_one("demo.sleep").await;
    let types = [job_type("demo.sleep")];
    herald_testkit::eventually(
        "the expired lease to be reclaimed",
        Duration::from_secs(10),
        || async {
            let report = h.store.maintain(&h.worker, &types).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let failed = h.get(&job).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.map(|e| e.code), Some(ErrorCode::WorkerLost));
    assert!(h.claim_now("demo.sleep", 1).await.is_empty());
}

async fn a_released_job_goes_back_to_the_queue_without_counting_the_attempt(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let released = h.store.release(lease).await.unwrap();
    assert_eq!((released.status, released.attempt), (JobStatus::Pending, 0));
    let again = h.claim_one("demo.sleep").await.lease;
    assert_eq!((again.job.id, again.job.attempt), (job.id, 1));
}

async fn writes_through_a_finished_lease_are_refused(backend: Backend) {
    let h = open_default(backend).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let copy = lease.clone();
    h.store.complete(lease, None).await.unwrap();
    let err = h.store.release(copy).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
}
