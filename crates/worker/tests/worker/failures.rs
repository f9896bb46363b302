//! Attempts that go wrong: timeouts, retryable and permanent errors, panics, oversized
//! results, and a store that fails for a while.

use herald_core::{ErrorCode, EventType, JobStatus};
use herald_testkit::eventually;
use herald_worker::Outcome;
use serde_json::json;
use std::sync::atomic::Ordering;

use crate::support::{
    Backend, Flaky, Harness, PATIENCE, Panicky, count_events, history, submit, submit_with,
    wait_for_status,
};

async fn an_attempt_past_its_timeout_is_retried_then_fails_with_code_timeout(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let job = submit_with(&app.store, "demo.sleep", json!({"seconds": 60}), |r| {
        r.timeout_s = Some(1);
        r.max_attempts = Some(2);
    })
    .await;

    let failed = wait_for_status(&app.store, job.id, JobStatus::Failed).await;

    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::Timeout);
    assert!(
        error.message.contains("timeout of 1 s"),
        "{}",
        error.message
    );
    assert_eq!(failed.attempt, 2);
    let kinds: Vec<EventType> = history(&app.store, job.id)
        .await
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventType::Pending,
            EventType::Processing,
            EventType::Pending,
            EventType::Processing,
            EventType::Failed
        ]
    );
    app.stop().await.unwrap();
}

async fn a_retryable_failure_is_retried_as_attempt_two_then_fails_after_max_attempts(
    backend: Backend,
) {
    let built = Harness::new(backend)
        .handler("test.flaky", Flaky)
        .build()
        .await;
    let job = submit_with(&built.store, "test.flaky", json!({}), |r| {
        r.max_attempts = Some(2)
    })
    .await;

    assert_eq!(built.worker.run_once().await, Outcome::Ran);
    let retried = built
        .store
        .get(&crate::support::tenant(), &job.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retried.status, retried.attempt), (JobStatus::Pending, 1));

    // The retry waits out its backoff; `run_once` queues it once it is due.
    eventually("the second attempt to run", PATIENCE, || async {
        (built.worker.run_once().await == Outcome::Ran).then_some(())
    })
    .await;
    let failed = wait_for_status(&built.store, job.id, JobStatus::Failed).await;
    assert_eq!(failed.attempt, 2);
    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::HandlerError);
    assert_eq!(error.message, "flaky on attempt 2");
    assert_eq!(built.worker.run_once().await, Outcome::Empty);
}

async fn a_panicking_handler_does_not_kill_the_worker(backend: Backend) {
    let mut app = Harness::new(backend)
        .handler("test.panicky", Panicky)
        .start()
        .await;
    let doomed = submit_with(&app.store, "test.panicky", json!({}), |r| {
        r.max_attempts = Some(2)
    })
    .await;

    let failed = wait_for_status(&app.store, doomed.id, JobStatus::Failed).await;
    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::HandlerError);
    assert_eq!(
        error.message,
        "the handler panicked: the handler lost its marbles"
    );
    assert_eq!(
        failed.attempt, 2,
        "a panic is retried like a retryable error"
    );

    let next = submit(&app.store, "demo.sleep", json!({"seconds": 0})).await;
    wait_for_status(&app.store, next.id, JobStatus::Completed).await;
    assert!(!app.task.is_finished());
    app.stop().await.unwrap();
}

async fn an_oversized_result_fails_the_job_with_result_too_large(backend: Backend) {
    let mut app = Harness::new(backend)
        .store_config(|c| c.max_result_bytes = 64)
        .start()
        .await;
    let job = submit(
        &app.store,
        "demo.report",
        json!({"rows": 100, "rows_per_second": 100_000}),
    )
    .await;

    let failed = wait_for_status(&app.store, job.id, JobStatus::Failed).await;

    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::ResultTooLarge);
    assert!(
        error.message.contains("limit of 64 bytes"),
        "{}",
        error.message
    );
    assert_eq!(failed.attempt, 1);
    app.stop().await.unwrap();
}

async fn a_failing_store_slows_the_worker_down_but_does_not_stop_it(backend: Backend) {
    let mut app = Harness::new(backend).faulty().start().await;
    app.faults.failing.store(true, Ordering::SeqCst);
    // A claim already waiting inside the store when the faults began could still take the job:
    // submit only once the claim loop has come round to a failing claim.
    eventually("a claim to fail", PATIENCE, || async {
        (app.faults.failed_claims.load(Ordering::SeqCst) >= 1).then_some(())
    })
    .await;
    let job = submit(&app.store, "demo.sleep", json!({"seconds": 0})).await;
    // Several more claims fail; the loop backs off and keeps going.
    eventually("several claims to fail", PATIENCE, || async {
        (app.faults.failed_claims.load(Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    assert!(!app.task.is_finished());
    assert_eq!(
        count_events(&app.store, job.id, EventType::Processing).await,
        0
    );

    app.faults.failing.store(false, Ordering::SeqCst);

    wait_for_status(&app.store, job.id, JobStatus::Completed).await;
    app.stop().await.unwrap();
}

herald_testkit::on_both_backends!(
    an_attempt_past_its_timeout_is_retried_then_fails_with_code_timeout,
    a_retryable_failure_is_retried_as_attempt_two_then_fails_after_max_attempts,
    a_panicking_handler_does_not_kill_the_worker,
    an_oversized_result_fails_the_job_with_result_too_large,
    a_failing_store_slows_the_worker_down_but_does_not_stop_it,
);
