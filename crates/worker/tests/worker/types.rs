//! Job types' own policies: a type's concurrency bounds its running jobs within the worker's,
//! and a type's retry policy replaces the worker's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::backoff::RetryPolicy;
use herald_core::{JobOutput, JobStatus, TypePolicy};
use herald_worker::{Handler, HandlerError, JobContext};
use serde_json::json;
use tokio::sync::watch;

use crate::support::{
    Backend, Flaky, Harness, job_type, submit, submit_with, wait_for, wait_for_status,
};

/// Counts the jobs running at once and keeps them running until the gate opens.
#[derive(Clone)]
struct Gauge {
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

#[async_trait]
impl Handler for Gauge {
    async fn run(&self, _ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let mut gate = self.gate.clone();
        let opened = gate.wait_for(|open| *open).await.is_ok();
        self.running.fetch_sub(1, Ordering::SeqCst);
        opened
            .then_some(None)
            .ok_or_else(|| HandlerError::permanent("the gate was dropped"))
    }
}

async fn a_type_with_its_own_concurrency_runs_no_more_of_its_jobs_at_once(backend: Backend) {
    let (open, gate) = watch::channel(false);
    let gauge = Gauge {
        running: Arc::default(),
        peak: Arc::default(),
        gate,
    };
    let mut app = Harness::new(backend)
        .handler("test.gauge", gauge.clone())
        .worker_config(|config| {
            config.concurrency = 4;
            config.job_types.insert(
                job_type("test.gauge"),
                TypePolicy {
                    concurrency: Some(2),
                    ..TypePolicy::default()
                },
            );
        })
        .start()
        .await;
    let mut gauged = Vec::new();
    for _ in 0..5 {
        gauged.push(submit(&app.store, "test.gauge", json!({})).await);
    }
    herald_testkit::eventually(
        "two gauged jobs to run",
        crate::support::PATIENCE,
        || async { (gauge.running.load(Ordering::SeqCst) == 2).then_some(()) },
    )
    .await;

    // Other types still get the worker's free slots, and while their jobs come and go the
    // claim loop goes round again and again without taking a third gauged job.
    for _ in 0..3 {
        let quick = submit(&app.store, "demo.sleep", json!({"seconds": 0})).await;
        wait_for_status(&app.store, quick.id, JobStatus::Completed).await;
    }
    assert_eq!(gauge.running.load(Ordering::SeqCst), 2);
    let waiting = app
        .store
        .get(&crate::support::tenant(), &gauged[4].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.status, JobStatus::Pending);

    open.send_replace(true);
    for job in &gauged {
        wait_for_status(&app.store, job.id, JobStatus::Completed).await;
    }
    assert_eq!(gauge.peak.load(Ordering::SeqCst), 2);
    app.stop().await.unwrap();
}

async fn a_types_retry_policy_replaces_the_workers(backend: Backend) {
    let mut app = Harness::new(backend)
        .handler("test.flaky", Flaky)
        .handler("test.patient", Flaky)
        .worker_config(|config| {
            config.job_types.insert(
                job_type("test.patient"),
                TypePolicy {
                    retry: Some(RetryPolicy {
                        base: Duration::from_secs(3600),
                        max: Duration::from_secs(3600),
                    }),
                    ..TypePolicy::default()
                },
            );
        })
        .start()
        .await;
    let two_attempts = |r: &mut herald_core::JobRequest| r.max_attempts = Some(2);
    let patient = submit_with(&app.store, "test.patient", json!({}), two_attempts).await;
    let hasty = submit_with(&app.store, "test.flaky", json!({}), two_attempts).await;

    // The worker's own policy (milliseconds in these tests) has retried the hasty job...
    let failed = wait_for_status(&app.store, hasty.id, JobStatus::Failed).await;
    assert_eq!(failed.attempt, 2);
    // ...while the patient one waits out its hour after its first attempt.
    // (Pending, processing, pending again: the third version.)
    let waiting = wait_for(&app.store, patient.id, "the first attempt to fail", |job| {
        job.status == JobStatus::Pending && job.seq >= 3
    })
    .await;
    assert_eq!(waiting.attempt, 1);
    app.stop().await.unwrap();
}

herald_testkit::on_both_backends!(
    a_type_with_its_own_concurrency_runs_no_more_of_its_jobs_at_once,
    a_types_retry_policy_replaces_the_workers,
);
