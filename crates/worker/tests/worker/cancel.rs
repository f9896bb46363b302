//! Cancel requests: fast through the store's signals, or by heartbeat without them, and a
//! handler that ignores them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use herald_core::store::CancelOutcome;
use herald_core::{ErrorCode, JobStatus};
use herald_testkit::eventually;
use serde_json::json;

use crate::support::{Backend, Harness, PATIENCE, Stubborn, submit, tenant, wait_for_status};

async fn canceling_a_running_job_ends_it_canceled_promptly(backend: Backend) {
    // A heartbeat far away: only the signal can make the cancel prompt.
    let mut app = Harness::new(backend)
        .worker_config(|c| c.heartbeat_interval = Duration::from_secs(10))
        .start()
        .await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 60})).await;
    wait_for_status(&app.store, job.id, JobStatus::Processing).await;

    let asked = Instant::now();
    let outcome = app.store.cancel(&tenant(), &job.id).await.unwrap();
    assert!(matches!(outcome, Some(CancelOutcome::Requested(_))));

    let canceled = wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(canceled.error.unwrap().code, ErrorCode::Canceled);
    app.stop().await.unwrap();
}

async fn without_signals_a_cancel_request_arrives_with_the_next_heartbeat(backend: Backend) {
    let mut app = Harness::new(backend).without_signals().start().await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 60})).await;
    wait_for_status(&app.store, job.id, JobStatus::Processing).await;

    app.store.cancel(&tenant(), &job.id).await.unwrap();

    wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    app.stop().await.unwrap();
}

async fn a_handler_that_ignores_cancellation_is_dropped_after_the_grace(backend: Backend) {
    let dropped = Arc::new(AtomicBool::new(false));
    let mut app = Harness::new(backend)
        .worker_config(|c| c.cancel_grace = Duration::from_millis(300))
        .handler(
            "test.stubborn",
            Stubborn {
                dropped: Arc::clone(&dropped),
            },
        )
        .start()
        .await;
    let job = submit(&app.store, "test.stubborn", json!({})).await;
    wait_for_status(&app.store, job.id, JobStatus::Processing).await;

    app.store.cancel(&tenant(), &job.id).await.unwrap();

    wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    eventually("the stubborn handler to be dropped", PATIENCE, || async {
        dropped.load(Ordering::SeqCst).then_some(())
    })
    .await;
    app.stop().await.unwrap();
}

herald_testkit::on_both_backends!(
    canceling_a_running_job_ends_it_canceled_promptly,
    without_signals_a_cancel_request_arrives_with_the_next_heartbeat,
    a_handler_that_ignores_cancellation_is_dropped_after_the_grace,
);
