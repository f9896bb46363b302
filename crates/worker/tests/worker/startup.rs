//! Starting a worker, and driving one step by step.

use std::sync::Arc;
use std::time::Duration;

use herald_core::StoreConfig;
use herald_core::store::memory::MemoryStore;
use herald_worker::{Outcome, Registry, Worker, WorkerConfig, WorkerError, WorkerMetrics};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::support::{Backend, Harness, result_json, submit};

fn worker(registry: Registry, config: WorkerConfig) -> Worker {
    let mut metrics = prometheus_client::registry::Registry::default();
    Worker::new(
        Arc::new(MemoryStore::new(StoreConfig::default())),
        Arc::new(registry),
        config,
        WorkerMetrics::register(&mut metrics),
    )
}

#[tokio::test]
async fn a_worker_without_handlers_refuses_to_start() {
    let outcome = worker(Registry::new(), WorkerConfig::default())
        .run(CancellationToken::new())
        .await;
    assert!(matches!(outcome, Err(WorkerError::NoHandlers)));
}

#[tokio::test]
async fn a_worker_with_a_setting_that_cannot_work_refuses_to_start() {
    let config = WorkerConfig {
        claim_wait: Duration::ZERO,
        ..WorkerConfig::default()
    };
    let outcome = worker(Registry::with_builtins(), config)
        .run(CancellationToken::new())
        .await;
    let Err(WorkerError::Config(message)) = outcome else {
        panic!("expected a configuration error, got {outcome:?}");
    };
    assert!(message.contains("claim_wait"), "{message}");
}

#[tokio::test]
async fn run_once_answers_empty_when_no_job_waits_and_ran_after_running_one() {
    let built = Harness::new(Backend::Memory).build().await;
    assert_eq!(built.worker.run_once().await, Outcome::Empty);

    let job = submit(&built.store, "demo.sleep", json!({"seconds": 0})).await;

    assert_eq!(built.worker.run_once().await, Outcome::Ran);
    assert_eq!(result_json(&built.store, job.id).await, json!({"slept": 0}));
    assert_eq!(built.worker.run_once().await, Outcome::Empty);
}

#[tokio::test]
async fn a_stopped_worker_returns_promptly_when_idle() {
    let mut app = Harness::new(Backend::Memory).start().await;
    app.stop().await.unwrap();
}
