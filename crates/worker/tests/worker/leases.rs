//! Leases: kept alive by heartbeats, reclaimed from a vanished worker, handed back on
//! shutdown.

use std::time::Duration;

use herald_core::{EventType, JobStatus, WorkerId};
use serde_json::json;

use crate::support::{
    Backend, Harness, count_events, job_type, result_json, submit, wait_for_status,
};

async fn heartbeats_keep_a_lease_alive_beyond_the_lease_timeout(backend: Backend) {
    let mut app = Harness::new(backend)
        .store_config(|c| c.lease_timeout = Duration::from_secs(1))
        .worker_config(|c| c.heartbeat_interval = Duration::from_millis(200))
        .start()
        .await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 2.5})).await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    assert_eq!(done.attempt, 1, "the lease was never reclaimed");
    assert_eq!(
        count_events(&app.store, job.id, EventType::Processing).await,
        1
    );
    app.stop().await.unwrap();
}

async fn a_job_whose_worker_vanished_is_reclaimed_and_run_again(backend: Backend) {
    let built = Harness::new(backend)
        .store_config(|c| c.lease_timeout = Duration::from_millis(300))
        .build()
        .await;
    let job = submit(&built.store, "demo.sleep", json!({"seconds": 0})).await;
    // Another worker claims the job and is never heard of again.
    let vanished = WorkerId::generate();
    let claimed = built
        .store
        .claim(&vanished, &[job_type("demo.sleep")], 1, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    let mut app = crate::support::Running::from(built);

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;
    assert_eq!(done.attempt, 2);
    assert_eq!(result_json(&app.store, job.id).await, json!({"slept": 0}));
    app.stop().await.unwrap();
}

async fn graceful_shutdown_lets_a_short_job_finish(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 0.5})).await;
    wait_for_status(&app.store, job.id, JobStatus::Processing).await;
    let store = app.store.clone();

    app.stop().await.unwrap();

    let done = store
        .get(&crate::support::tenant(), &job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.status, JobStatus::Completed);
}

async fn graceful_shutdown_hands_an_unfinished_job_back_with_its_attempt_not_counted(
    backend: Backend,
) {
    let mut app = Harness::new(backend)
        .worker_config(|c| c.drain_timeout = Duration::from_millis(300))
        .start()
        .await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 60})).await;
    wait_for_status(&app.store, job.id, JobStatus::Processing).await;
    let store = app.store.clone();

    app.stop().await.unwrap();

    let released = store
        .get(&crate::support::tenant(), &job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((released.status, released.attempt), (JobStatus::Pending, 0));
    assert_eq!(count_events(&store, job.id, EventType::Pending).await, 2);
}

herald_testkit::on_both_backends!(
    heartbeats_keep_a_lease_alive_beyond_the_lease_timeout,
    a_job_whose_worker_vanished_is_reclaimed_and_run_again,
    graceful_shutdown_lets_a_short_job_finish,
    graceful_shutdown_hands_an_unfinished_job_back_with_its_attempt_not_counted,
);
