//! A harness that starts a worker over a fresh store of either backend, the test handlers,
//! and a store wrapper that can fail on demand.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::JobTypes;
use herald_core::backoff::RetryPolicy;
use herald_core::store::{
    CancelOutcome, Claimed, Created, JobPage, Lease, LeaseState, ListQuery, Maintenance, Signal,
};
use herald_core::{
    Event, EventType, FeedCursor, FeedPage, Job, JobError, JobId, JobOutput, JobRequest, JobStatus,
    JobType, NewJob, Progress, SharedStore, Store, StoreConfig, StoreError, TenantId, WorkerId,
};
pub use herald_testkit::backend::Backend;
use herald_testkit::backend::Stores;
use herald_testkit::eventually;
pub use herald_testkit::jobs::{job_type, submit, submit_with, tenant};
use herald_worker::{
    Handler, HandlerError, JobContext, Registry, Worker, WorkerConfig, WorkerError, WorkerMetrics,
};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest any test waits for a state.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Timings short enough for tests, still with a heartbeat well inside the lease.
pub fn fast_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        heartbeat_interval: Duration::from_millis(200),
        claim_wait: Duration::from_millis(200),
        maintenance_interval: Duration::from_millis(50),
        retry: RetryPolicy {
            base: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        job_types: JobTypes::new(),
        cancel_grace: Duration::from_secs(1),
        drain_timeout: Duration::from_secs(5),
        progress_interval: Duration::from_millis(50),
    }
}

/// Builds a worker over a fresh store (a private `redis-server` for Redis); variants through
/// its methods.
pub struct Harness {
    backend: Backend,
    store_config: StoreConfig,
    worker_config: WorkerConfig,
    registry: Registry,
    faulty: bool,
    mute_signals: bool,
}

impl Harness {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            store_config: StoreConfig::default(),
            worker_config: fast_config(),
            registry: Registry::with_builtins(),
            faulty: false,
            mute_signals: false,
        }
    }

    pub fn store_config(mut self, tweak: impl FnOnce(&mut StoreConfig)) -> Self {
        tweak(&mut self.store_config);
        self
    }

    pub fn worker_config(mut self, tweak: impl FnOnce(&mut WorkerConfig)) -> Self {
        tweak(&mut self.worker_config);
        self
    }

    pub fn handler(mut self, name: &str, handler: impl Handler) -> Self {
        self.registry.register(job_type(name), Arc::new(handler));
        self
    }

    /// Puts the [`Faulty`] wrapper between the worker and the store.
    pub fn faulty(mut self) -> Self {
        self.faulty = true;
        self
    }

    /// Closes the worker's signal feed: cancel requests then arrive by heartbeat only.
    pub fn without_signals(mut self) -> Self {
        self.faulty = true;
        self.mute_signals = true;
        self
    }

    /// A worker that is not running yet, to drive with `run_once`.
    pub async fn build(self) -> Built {
        let stores = self.backend.open(self.store_config).await;
        let backing = Arc::clone(&stores.store);
        let faults = Arc::new(Faulty::new(Arc::clone(&backing), self.mute_signals));
        let store: SharedStore = if self.faulty {
            faults.clone()
        } else {
            Arc::clone(&backing)
        };
        let mut metrics = prometheus_client::registry::Registry::with_prefix("herald");
        let worker = Worker::new(
            store,
            Arc::new(self.registry),
            self.worker_config,
            WorkerMetrics::register(&mut metrics),
        );
        Built {
            store: backing,
            faults,
            worker,
            metrics,
            _stores: stores,
        }
    }

    /// A running worker.
    pub async fn start(self) -> Running {
        Running::from(self.build().await)
    }
}

pub struct Built {
    /// The store itself (never faulty), for the test's own reads and writes.
    pub store: SharedStore,
    pub faults: Arc<Faulty>,
    pub worker: Worker,
    pub metrics: prometheus_client::registry::Registry,
    _stores: Stores,
}

pub struct Running {
    pub store: SharedStore,
    pub faults: Arc<Faulty>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), WorkerError>>,
    pub metrics: prometheus_client::registry::Registry,
    _stores: Stores,
}

impl From<Built> for Running {
    /// Starts the built worker.
    fn from(built: Built) -> Self {
        let Built {
            store,
            faults,
            worker,
            metrics,
            _stores,
        } = built;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(worker.run(shutdown.clone()));
        Self {
            store,
            faults,
            shutdown,
            task,
            metrics,
            _stores,
        }
    }
}

impl Running {
    /// Shuts the worker down and waits for `run` to return.
    pub async fn stop(&mut self) -> Result<(), WorkerError> {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, &mut self.task)
            .await
            .expect("the worker stops within the test's patience")
            .expect("the worker task does not panic")
    }

    /// The metrics in Prometheus text.
    pub fn metrics_text(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.metrics).unwrap();
        text
    }
}

/// A worker on the memory backend running `handler` as the job type `kind`, and one job of
/// that type submitted with `payload`, the submission tweaked.
pub async fn start_with_job(
    kind: &str,
    handler: impl Handler,
    payload: serde_json::Value,
    tweak: impl FnOnce(&mut JobRequest),
) -> (Running, Job) {
    let app = Harness::new(Backend::Memory)
        .handler(kind, handler)
        .start()
        .await;
    let job = submit_with(&app.store, kind, payload, tweak).await;
    (app, job)
}

/// [`start_with_job`] with an empty payload, and the job once it has `status`.
pub async fn run_one_until(
    kind: &str,
    handler: impl Handler,
    tweak: impl FnOnce(&mut JobRequest),
    status: JobStatus,
) -> (Running, Job) {
    let (app, job) = start_with_job(kind, handler, serde_json::json!({}), tweak).await;
    let job = wait_for_status(&app.store, job.id, status).await;
    (app, job)
}

/// Runs one job of `kind`, allowed three attempts, until it fails; checks that it failed on
/// its first attempt (a permanent failure is not retried) and answers its error message.
pub async fn fails_at_once(kind: &str, handler: impl Handler) -> (Running, String) {
    let (app, failed) = run_one_until(
        kind,
        handler,
        |r| r.max_attempts = Some(3),
        JobStatus::Failed,
    )
    .await;
    assert_eq!(failed.attempt, 1, "a permanent failure is not retried");
    let error = failed.error.expect("a failed job says why");
    (app, error.message)
}

/// Waits until the job satisfies `done`, and answers it.
pub async fn wait_for(
    store: &SharedStore,
    id: JobId,
    what: &str,
    done: impl Fn(&Job) -> bool,
) -> Job {
    eventually(what, PATIENCE, || async {
        let job = store.get(&tenant(), &id).await.unwrap()?;
        done(&job).then_some(job)
    })
    .await
}

/// Waits until the job has the status.
pub async fn wait_for_status(store: &SharedStore, id: JobId, status: JobStatus) -> Job {
    wait_for(store, id, &format!("the job to be {status}"), |job| {
        job.status == status
    })
    .await
}

/// The job's whole history.
pub async fn history(store: &SharedStore, id: JobId) -> Vec<Event> {
    store.history(&tenant(), &id, 0).await.unwrap()
}

/// How many events of `kind` the job's history holds.
pub async fn count_events(store: &SharedStore, id: JobId, kind: EventType) -> usize {
    history(store, id)
        .await
        .iter()
        .filter(|e| e.kind == kind)
        .count()
}

pub async fn result(store: &SharedStore, id: JobId) -> JobOutput {
    store
        .result(&tenant(), &id)
        .await
        .unwrap()
        .expect("a completed job has a result")
}

pub async fn result_json(store: &SharedStore, id: JobId) -> serde_json::Value {
    let output = result(store, id).await;
    assert_eq!(output.content_type, "application/json");
    serde_json::from_slice(&output.body).unwrap()
}

/// Always fails with a retryable error naming the attempt.
pub struct Flaky;

#[async_trait]
impl Handler for Flaky {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        Err(HandlerError::retryable(format!(
            "flaky on attempt {}",
            ctx.job().attempt
        )))
    }
}

/// Panics.
pub struct Panicky;

#[async_trait]
impl Handler for Panicky {
    async fn run(&self, _ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        panic!("the handler lost its marbles");
    }
}

/// Ignores cancellation and sleeps a minute; `dropped` is set once its future is dropped.
pub struct Stubborn {
    pub dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[async_trait]
impl Handler for Stubborn {
    async fn run(&self, _ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let _flag = SetOnDrop(Arc::clone(&self.dropped));
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(None)
    }
}

/// Reports `steps` times, `pause` apart, then completes.
pub struct Chatty {
    pub steps: u32,
    pub pause: Duration,
}

#[async_trait]
impl Handler for Chatty {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        for step in 1..=self.steps {
            let percent = (step * 100 / self.steps) as u8;
            ctx.report(percent, format!("step {step}")).await;
            tokio::time::sleep(self.pause).await;
        }
        Ok(None)
    }
}

/// A store that forwards to another, but answers `Backend` errors to claims, heartbeats and
/// maintenance while `failing` is set, and whose signal feed may be closed from the start, leaving
/// the heartbeat as the only way a cancel request arrives.
pub struct Faulty {
    inner: SharedStore,
    pub failing: AtomicBool,
    /// How many calls it has failed.
    pub failures: AtomicUsize,
    /// How many of those were claims.
    pub failed_claims: AtomicUsize,
    mute_signals: bool,
}

impl Faulty {
    fn new(inner: SharedStore, mute_signals: bool) -> Self {
        Self {
            inner,
            failing: AtomicBool::new(false),
            failures: AtomicUsize::new(0),
            failed_claims: AtomicUsize::new(0),
            mute_signals,
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Backend("injected failure".to_owned()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl Store for Faulty {
    async fn create(&self, new: NewJob) -> Result<Created, StoreError> {
        self.inner.create(new).await
    }

    async fn get(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.inner.get(tenant, id).await
    }

    async fn list(&self, tenant: &TenantId, query: &ListQuery) -> Result<JobPage, StoreError> {
        self.inner.list(tenant, query).await
    }

    async fn result(&self, tenant: &TenantId, id: &JobId) -> Result<Option<JobOutput>, StoreError> {
        self.inner.result(tenant, id).await
    }

    async fn cancel(
        &self,
        tenant: &TenantId,
        id: &JobId,
    ) -> Result<Option<CancelOutcome>, StoreError> {
        self.inner.cancel(tenant, id).await
    }

    async fn retry(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Job>, StoreError> {
        self.inner.retry(tenant, id).await
    }

    async fn history(
        &self,
        tenant: &TenantId,
        id: &JobId,
        after: u64,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.history(tenant, id, after).await
    }

    async fn feed(
        &self,
        tenant: &TenantId,
        after: &FeedCursor,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        self.inner.feed(tenant, after, limit).await
    }

    async fn feed_head(&self, tenant: &TenantId) -> Result<FeedCursor, StoreError> {
        self.inner.feed_head(tenant).await
    }

    async fn claim(
        &self,
        worker: &WorkerId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.check().inspect_err(|_| {
            self.failed_claims.fetch_add(1, Ordering::SeqCst);
        })?;
        self.inner.claim(worker, types, max, wait).await
    }

    async fn heartbeat(&self, worker: &WorkerId, lease: &Lease) -> Result<LeaseState, StoreError> {
        self.check()?;
        self.inner.heartbeat(worker, lease).await
    }

    async fn progress(&self, lease: &mut Lease, progress: Progress) -> Result<(), StoreError> {
        self.inner.progress(lease, progress).await
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Result<Job, StoreError> {
        self.inner.complete(lease, output).await
    }

    async fn fail(
        &self,
        lease: Lease,
        error: JobError,
        retry_after: Option<Duration>,
    ) -> Result<Job, StoreError> {
        self.inner.fail(lease, error, retry_after).await
    }

    async fn cancel_claimed(&self, lease: Lease) -> Result<Job, StoreError> {
        self.inner.cancel_claimed(lease).await
    }

    async fn release(&self, lease: Lease) -> Result<Job, StoreError> {
        self.inner.release(lease).await
    }

    async fn maintain(
        &self,
        worker: &WorkerId,
        types: &[JobType],
    ) -> Result<Maintenance, StoreError> {
        self.check()?;
        self.inner.maintain(worker, types).await
    }

    async fn claim_external(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        types: &[JobType],
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.check()?;
        self.inner
            .claim_external(worker, tenant, types, max, wait)
            .await
    }

    async fn maintain_external(&self, worker: &WorkerId) -> Result<Maintenance, StoreError> {
        self.check()?;
        self.inner.maintain_external(worker).await
    }

    async fn lease(&self, tenant: &TenantId, id: &JobId) -> Result<Option<Lease>, StoreError> {
        self.check()?;
        self.inner.lease(tenant, id).await
    }

    fn config(&self) -> &StoreConfig {
        self.inner.config()
    }

    fn signals(&self) -> broadcast::Receiver<Signal> {
        if self.mute_signals {
            // A feed whose sender is gone: closed from the start.
            broadcast::channel(1).1
        } else {
            self.inner.signals()
        }
    }

    fn controls(&self) -> broadcast::Receiver<Signal> {
        if self.mute_signals {
            broadcast::channel(1).1
        } else {
            self.inner.controls()
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.ping().await
    }
}
