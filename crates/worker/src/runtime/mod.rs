//! The [`Worker`]: it claims jobs as slots free up, runs each in a task of its own, keeps the
//! store maintained (dead workers' jobs reclaimed, due retries queued) and, on shutdown, lets
//! running jobs drain before handing the rest back.
//!
//! - [`job`]: one job's run, from claim to the final write.
//! - [`signals`]: the running jobs by id, and the listener routing cancel requests to them.

mod job;
mod signals;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use herald_core::store::Claimed;
use herald_core::{JobType, SharedStore, WorkerId};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{Instrument, debug, error, info, warn};

use crate::config::WorkerConfig;
use crate::metrics::{Finished, TypeMetrics, WorkerMetrics};
use crate::registry::Registry;
use herald_core::backoff::{Backoff, FailureLog};
use signals::InFlight;

/// The first pause after the store fails a claim; it doubles up to [`STORE_BACKOFF_MAX`].
const STORE_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// The longest pause between two claims while the store keeps failing: short, so that jobs run
/// again within moments of the store's return (a failing claim costs little: the store bounds
/// how long it waits for its backend).
const STORE_BACKOFF_MAX: Duration = Duration::from_secs(2);
/// How long a claim waits for more slots to free up while jobs queue: under a backlog, a
/// claim's round trips then serve many jobs rather than the one or two whose slots happened
/// to be free. Short against any job that is not a no-op.
const GATHER_WAIT: Duration = Duration::from_millis(2);

/// Why the worker could not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A setting in [`WorkerConfig`] cannot work.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// The registry has no job type, so there is nothing to claim.
    #[error("the worker has no handlers registered: there is no job type to claim")]
    NoHandlers,
}

/// What [`Worker::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It claimed a job and ran it to its end.
    Ran,
    /// No job was waiting (or the store could not be reached).
    Empty,
}

/// A job runtime over a store: claims the registry's job types and runs their handlers.
pub struct Worker {
    inner: Arc<Inner>,
}

/// What the worker's tasks share.
struct Inner {
    id: WorkerId,
    store: SharedStore,
    registry: Arc<Registry>,
    types: Vec<JobType>,
    config: WorkerConfig,
    metrics: WorkerMetrics,
    /// The metrics of each type claimed, resolved once.
    type_metrics: BTreeMap<JobType, TypeMetrics>,
    in_flight: InFlight,
    /// The slots of the types with a concurrency of their own (within `config.concurrency`).
    type_slots: BTreeMap<JobType, Arc<Semaphore>>,
    /// Told whenever a job ends, so a claim loop waiting for a type's slot looks again.
    slot_freed: Arc<Notify>,
}

/// What a running job holds: a slot of the worker and, for a type with a concurrency of its
/// own, a slot of its type. Dropping it frees both and wakes the claim loop.
struct Slots {
    _worker: Option<OwnedSemaphorePermit>,
    own: Option<OwnedSemaphorePermit>,
    freed: Arc<Notify>,
}

impl Drop for Slots {
    fn drop(&mut self) {
        // The type's slot is released before the loop is told, or it could look too early.
        drop(self.own.take());
        self.freed.notify_one();
    }
}

impl Worker {
    /// A worker with a fresh [`WorkerId`], claiming every job type of `registry`.
    pub fn new(
        store: SharedStore,
        registry: Arc<Registry>,
        config: WorkerConfig,
        metrics: WorkerMetrics,
    ) -> Self {
        let types = registry.types();
        let type_slots = types
            .iter()
            .filter_map(|job_type| {
                let own = config.job_types.get(job_type)?.concurrency?;
                Some((job_type.clone(), Arc::new(Semaphore::new(own))))
            })
            .collect();
        let type_metrics = types
            .iter()
            .map(|job_type| (job_type.clone(), metrics.of_type(job_type)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                id: WorkerId::generate(),
                store,
                registry,
                types,
                config,
                metrics,
                type_metrics,
                in_flight: InFlight::default(),
                type_slots,
                slot_freed: Arc::new(Notify::new()),
            }),
        }
    }

    /// The name this worker claims jobs under.
    pub fn id(&self) -> &WorkerId {
        &self.inner.id
    }

    /// Claims and runs jobs until `shutdown` is cancelled, then lets running jobs finish for up
    /// to `drain_timeout` and hands back those that did not. Store failures are logged and
    /// retried with a bounded backoff; they never end the loop.
    ///
    /// # Errors
    /// [`WorkerError::Config`] for a configuration that cannot work and
    /// [`WorkerError::NoHandlers`] for an empty registry, both before anything is claimed.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let inner = self.inner;
        inner.config.validate().map_err(WorkerError::Config)?;
        if inner.types.is_empty() {
            return Err(WorkerError::NoHandlers);
        }
        let span = tracing::info_span!("worker", worker_id = %inner.id);
        async move {
            info!(
                types = ?inner.types.iter().map(JobType::as_str).collect::<Vec<_>>(),
                concurrency = inner.config.concurrency,
                "worker started"
            );
            // Subscribe before the first claim so no cancel request for a claimed job is missed.
            let signals = inner.store.controls();
            let listener = AbortOnDropHandle::new(tokio::spawn({
                let inner = Arc::clone(&inner);
                async move { signals::listen(signals, &inner.in_flight).await }.in_current_span()
            }));
            let maintenance = AbortOnDropHandle::new(tokio::spawn(
                Arc::clone(&inner)
                    .maintain_until(shutdown.clone())
                    .in_current_span(),
            ));
            let mut jobs = JoinSet::new();
            Arc::clone(&inner).claim_until(&shutdown, &mut jobs).await;
            if !jobs.is_empty() {
                info!(
                    running = jobs.len(),
                    drain_timeout = ?inner.config.drain_timeout,
                    "draining running jobs"
                );
            }
            while let Some(joined) = jobs.join_next().await {
                log_job_task_end(joined);
            }
            // The maintenance loop ends on `shutdown` by itself; the listener outlives the jobs.
            drop(maintenance);
            drop(listener);
            info!("worker stopped");
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Runs one maintenance pass, claims at most one job (waiting up to `claim_wait`) and runs
    /// it to its end: the worker driven step by step, for tests and tools. Cancel requests
    /// reach the job as in [`Worker::run`]; there is no shutdown to drain for.
    pub async fn run_once(&self) -> Outcome {
        let inner = &self.inner;
        if inner.types.is_empty() {
            return Outcome::Empty;
        }
        let signals = inner.store.controls();
        inner.maintain_once(&mut FailureLog::default()).await;
        let claimed = match inner
            .store
            .claim(&inner.id, &inner.types, 1, inner.config.claim_wait)
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                warn!(error = %e, "claiming a job failed");
                return Outcome::Empty;
            }
        };
        if claimed.is_empty() {
            return Outcome::Empty;
        }
        let never = CancellationToken::new();
        let run = async {
            for job in claimed {
                inner.run_job(job, &never).await;
            }
        };
        let listen = async {
            signals::listen(signals, &inner.in_flight).await;
            // A closed feed leaves cancels to the heartbeat; the job must not be cut short.
            std::future::pending::<()>().await;
        };
        // `listen` never completes: the select ends with the run.
        tokio::select! {
            () = run => {}
            () = listen => {}
        }
        Outcome::Ran
    }
}

impl Inner {
    /// Claims jobs as slots free up and spawns one task per job, until `shutdown`.
    async fn claim_until(self: Arc<Self>, shutdown: &CancellationToken, jobs: &mut JoinSet<()>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        let mut backoff = Backoff::new(STORE_BACKOFF_MIN, STORE_BACKOFF_MAX);
        let mut failures = FailureLog::default();
        // The last claim took all it asked for: more jobs are waiting.
        let mut backlog = false;
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.cancelled() => return,
                permit = Arc::clone(&slots).acquire_owned() => match permit {
                    Ok(permit) => permit,
                    // The semaphore is never closed; should it be, there is nothing to run.
                    Err(_) => return,
                },
            };
            while let Some(joined) = jobs.try_join_next() {
                log_job_task_end(joined);
            }
            let mut permits = vec![first];
            permits.extend(std::iter::from_fn(|| {
                Arc::clone(&slots).try_acquire_owned().ok()
            }));
            let Some((types, room)) = self.claimable() else {
                // Every type is at its own limit: wait until a job ends.
                drop(permits);
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = self.slot_freed.notified() => continue,
                }
            };
            permits.truncate(room);
            if backlog {
                let wanted = room.min(self.config.concurrency.div_ceil(2));
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return,
                    () = gather(&slots, &mut permits, wanted) => {}
                }
            }
            let asked = permits.len();
            // Not raced against `shutdown`: dropping a claim halfway could strand the jobs it
            // took, and it returns within `claim_wait` anyway.
            let claimed = match self
                .store
                .claim(&self.id, &types, asked, self.config.claim_wait)
                .await
            {
                Ok(claimed) => {
                    backoff.reset();
                    failures.succeeded("claiming jobs");
                    debug!(asked, claimed = claimed.len(), "claimed");
                    backlog = claimed.len() == asked;
                    claimed
                }
                Err(e) => {
                    backlog = false;
                    let delay = backoff.next_delay();
                    failures.failed("claiming jobs", &e);
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(delay) => continue,
                    }
                }
            };
            if shutdown.is_cancelled() {
                // Claimed as shutdown began: hand them back untouched rather than start them.
                for job in claimed {
                    self.release_unstarted(job).await;
                }
                return;
            }
            // One worker slot per job: the claim took no more than `permits.len()`.
            let mut permits = permits.into_iter();
            for job in claimed {
                let slots = Slots {
                    _worker: permits.next(),
                    own: self.type_slot(&job.lease.job.job_type),
                    freed: Arc::clone(&self.slot_freed),
                };
                let inner = Arc::clone(&self);
                let shutdown = shutdown.clone();
                jobs.spawn(
                    async move {
                        let _slots = slots;
                        inner.run_job(job, &shutdown).await;
                    }
                    .in_current_span(),
                );
            }
        }
    }

    /// The types a claim may take now (those without a limit of their own, and those with
    /// room under it) and how many jobs it may take at most: no more than the smallest room,
    /// so whichever types the jobs turn out to be, each fits. `None` when every type is full.
    fn claimable(&self) -> Option<(Vec<JobType>, usize)> {
        let mut room = usize::MAX;
        let types: Vec<JobType> = self
            .types
            .iter()
            .filter(|job_type| match self.type_slots.get(*job_type) {
                None => true,
                Some(slots) => {
                    let available = slots.available_permits();
                    room = room.min(available);
                    available > 0
                }
            })
            .cloned()
            .collect();
        (!types.is_empty()).then_some((types, room.max(1)))
    }

    /// A slot of the job's type, if its type has a concurrency of its own. Only the claim loop
    /// takes these, and it claimed no more than there was room for, so one is free.
    fn type_slot(&self, job_type: &JobType) -> Option<OwnedSemaphorePermit> {
        let slots = self.type_slots.get(job_type)?;
        let slot = Arc::clone(slots).try_acquire_owned();
        if slot.is_err() {
            warn!(%job_type, "claimed a job beyond its type's concurrency");
        }
        slot.ok()
    }

    /// Hands back a job claimed too late to start.
    async fn release_unstarted(&self, claimed: Claimed) {
        let job_type = claimed.lease.job.job_type.clone();
        let outcome = match self.store.release(claimed.lease).await {
            Ok(_) => Finished::Released,
            Err(e) => {
                info!(error = %e, "could not hand back a job claimed during shutdown");
                Finished::Lost
            }
        };
        self.metrics.finished(&job_type, outcome, Duration::ZERO);
    }

    /// Runs a maintenance pass every `maintenance_interval` until `shutdown`.
    async fn maintain_until(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.config.maintenance_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut failures = FailureLog::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => self.maintain_once(&mut failures).await,
            }
        }
    }

    /// Reclaims dead workers' jobs and queues due retries; a failure waits for the next pass.
    async fn maintain_once(&self, failures: &mut FailureLog) {
        let outcome = self.store.maintain(&self.id, &self.types).await;
        if outcome.is_ok() {
            failures.succeeded("maintenance");
        }
        match outcome {
            Ok(done) if done.reclaimed > 0 || done.promoted > 0 => {
                debug!(
                    reclaimed = done.reclaimed,
                    promoted = done.promoted,
                    "maintenance"
                );
            }
            Ok(_) => {}
            Err(e) => {
                failures.failed("maintenance", &e);
            }
        }
    }
}

/// Adds to `permits` (one slot each) until it holds `wanted`, waiting up to [`GATHER_WAIT`]
/// for slots to free up; past the wait it keeps what it has.
async fn gather(slots: &Arc<Semaphore>, permits: &mut Vec<OwnedSemaphorePermit>, wanted: usize) {
    let Some(missing) = wanted.checked_sub(permits.len()).filter(|n| *n > 0) else {
        return;
    };
    let missing = u32::try_from(missing).unwrap_or(u32::MAX);
    let more = Arc::clone(slots).acquire_many_owned(missing);
    // A timeout gives back whatever part of `more` it held.
    if let Ok(Ok(mut more)) = tokio::time::timeout(GATHER_WAIT, more).await {
        while more.num_permits() > 1 {
            let Some(one) = more.split(1) else { break };
            permits.push(one);
        }
        permits.push(more);
    }
}

/// Job tasks end on their own; one that panicked is a bug in the runtime, not in a handler
/// (a handler's panic is caught where it runs), so it is logged loudly.
fn log_job_task_end(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined {
        error!(error = %e, "a job task ended abnormally");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn gathering_takes_the_free_slots_it_wants_one_permit_each() {
        let slots = Arc::new(Semaphore::new(4));
        let busy = Arc::clone(&slots).acquire_many_owned(3).await.unwrap();
        let mut permits = vec![Arc::clone(&slots).try_acquire_owned().unwrap()];
        drop(busy);
        gather(&slots, &mut permits, 3).await;
        assert_eq!(permits.len(), 3);
        assert!(permits.iter().all(|p| p.num_permits() == 1));
        assert_eq!(slots.available_permits(), 1);
    }

    #[tokio::test]
    async fn gathering_keeps_what_it_has_when_no_slot_frees_up_in_time() {
        let slots = Arc::new(Semaphore::new(2));
        let _busy = Arc::clone(&slots).try_acquire_owned().unwrap();
        let mut permits = vec![Arc::clone(&slots).try_acquire_owned().unwrap()];
        gather(&slots, &mut permits, 2).await;
        assert_eq!(permits.len(), 1);
        gather(&slots, &mut permits, 1).await;
        assert_eq!(permits.len(), 1);
    }
}
