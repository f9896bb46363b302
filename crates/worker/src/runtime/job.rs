//! One job's run: the handler, with its panics caught, raced against the heartbeat, the job's
//! timeout, cancellation and shutdown, with its progress reports coalesced on the way; then
//! the one final write that records how the attempt ended, as core's
//! [`attempt::conclude`] decides it for every kind of worker.
//!
//! Every write goes through the lease, and the store refuses it once the job has moved on
//! without this worker ([`StoreError::LeaseLost`]): the runtime then lets go of the job
//! quietly, because another worker owns it and refusing the zombie's write was right.
//!
//! The handler runs in the job's own task rather than one of its own: a short job is over at
//! its first poll, before any timer, waiter or signal route is set up for it, and it costs no
//! task hand-off. Its span is at DEBUG level, so the job's few INFO and WARN lines name the job
//! themselves.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use herald_core::attempt::{self, Conclusion, Ending};
use herald_core::store::{Claimed, Lease};
use herald_core::{
    AttemptDetail, ErrorCode, Job, JobError, JobId, JobOutput, JobStatus, Progress, StoreError,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::Inner;
use herald_core::backoff::Backoff;

use crate::handler::{HandlerError, JobContext};
use crate::metrics::Finished;

/// How many times a final write (complete, fail, cancel, release) is retried while the store
/// fails, a few seconds in all. Past that the lease runs out and another worker retries the
/// job: at least once, never lost.
const FINAL_WRITE_RETRIES: u32 = 5;

/// Why the race around a running handler ended.
enum Stop {
    /// The handler returned (or panicked).
    Returned(Result<Option<JobOutput>, HandlerError>),
    /// The attempt ran past the job's timeout.
    TimedOut,
    /// The job was canceled and the handler did not return within `cancel_grace`.
    Canceled,
    /// Shutdown: the handler did not return within `drain_timeout`.
    Drained,
    /// The lease was lost: another worker owns the job now.
    Lost,
}

/// What a handler answers.
type Returned = Result<Option<JobOutput>, HandlerError>;

/// A handler's run, a panic in it caught as the run's end. Dropping it (timeout, lost lease,
/// shutdown) stops the handler where it waits.
type HandlerRun<'a> =
    CatchUnwind<AssertUnwindSafe<Pin<Box<dyn Future<Output = Returned> + Send + 'a>>>>;

/// One running attempt: its lease (the version this worker last wrote), its cancel token, its
/// handler's run and its progress reports.
struct Attempt<'a> {
    lease: Lease,
    cancel: CancellationToken,
    handler: HandlerRun<'a>,
    progress: ProgressFeed,
    /// What the handler noted about the attempt ([`JobContext::note`]).
    detail: watch::Receiver<AttemptDetail>,
}

/// The store refused a write through the lease: the job has moved on without this worker.
struct LeaseLost;

/// The coalescing of a job's progress reports: the handler overwrites one slot, the runtime
/// writes the latest at most once per `progress_interval`.
struct ProgressFeed {
    reports: watch::Receiver<Option<Progress>>,
    /// The last report written, to skip writing the same one twice.
    written: Option<Progress>,
    /// A report arrived that is not written yet.
    pending: bool,
    /// The handler still holds its side (it may drop its context before returning).
    open: bool,
    /// The earliest time of the next write.
    next_write: Instant,
}

impl ProgressFeed {
    /// The latest report if it is not written yet, marking it seen either way (so `changed`
    /// waits for the next one).
    fn take_unwritten(&mut self) -> Option<Progress> {
        let latest = self.reports.borrow_and_update().clone();
        latest.filter(|p| Some(p) != self.written.as_ref())
    }
}

impl Inner {
    /// Runs one claimed job to its end and records how it ended.
    #[tracing::instrument(
        level = "debug",
        name = "job",
        skip_all,
        fields(
            job_id = %claimed.lease.job.id,
            job_type = %claimed.lease.job.job_type,
            attempt = claimed.lease.job.attempt,
        )
    )]
    pub(super) async fn run_job(&self, claimed: Claimed, shutdown: &CancellationToken) {
        let _running = self.metrics.running();
        let started = Instant::now();
        // Resolved up front: the job moves into its run. A type this worker does not claim has
        // no handles of its own (the store handed out something else); it is counted anyway.
        let metrics = match self.type_metrics.get(&claimed.lease.job.job_type) {
            Some(metrics) => Cow::Borrowed(metrics),
            None => Cow::Owned(self.metrics.of_type(&claimed.lease.job.job_type)),
        };
        debug!("job started");
        let finished = self.drive(claimed, shutdown).await;
        let ran = started.elapsed();
        debug!(outcome = finished.as_str(), ?ran, "job ended");
        metrics.finished(finished, ran);
    }

    async fn drive(&self, claimed: Claimed, shutdown: &CancellationToken) -> Finished {
        let Claimed { lease, payload } = claimed;
        let Some(handler) = self.registry.get(&lease.job.job_type) else {
            // The claim named only registered types, so the store handed out something else:
            // fail the job rather than hand it back to be claimed here again and again.
            let error = JobError::new(
                ErrorCode::HandlerError,
                format!(
                    "no handler for job type `{}` on this worker",
                    lease.job.job_type
                ),
            );
            error!(job_id = %lease.job.id, "claimed a job of a type this worker has no handler for");
            return self.fail(lease, error, None).await;
        };
        let cancel = CancellationToken::new();
        let (reports, receiver) = watch::channel(None);
        let (noted, detail) = watch::channel(AttemptDetail::default());
        let ctx = JobContext::new(lease.job.clone(), payload, cancel.clone(), reports, noted);
        // A panic ends this attempt, not the worker.
        let run = AssertUnwindSafe(handler.run(ctx)).catch_unwind();
        let mut attempt = Attempt {
            lease,
            cancel,
            handler: run,
            progress: ProgressFeed {
                reports: receiver,
                written: None,
                pending: false,
                open: true,
                next_write: Instant::now(),
            },
            detail,
        };
        let stop = self.race(&mut attempt, shutdown).await;
        self.conclude(attempt, stop).await
    }

    /// Runs the handler to its end, keeping the lease alive and its progress written, unless
    /// the timeout, a cancel (past its grace), shutdown (past the drain) or a lost lease
    /// comes first.
    async fn race(&self, attempt: &mut Attempt<'_>, shutdown: &CancellationToken) -> Stop {
        let config = &self.config;
        let Attempt {
            lease,
            cancel,
            handler,
            progress,
            ..
        } = attempt;
        // A short job's handler is done at its first poll: it needs no timer, no waiter and
        // no signal route.
        let first = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *handler).poll(cx))).await;
        if let Poll::Ready(caught) = first {
            return Stop::Returned(handler_result(&lease.job.id, caught));
        }
        let registration = self.in_flight.register(lease.job.id, cancel.clone());
        let timeout_at = Instant::now() + lease.job.timeout();
        let mut next_beat = Instant::now() + config.heartbeat_interval;
        // One timer for the beats and the timeout, set to whichever comes first.
        let clock = tokio::time::sleep_until(next_beat.min(timeout_at));
        tokio::pin!(clock);
        let mut cancel_deadline = None;
        let mut drain_deadline = None;
        loop {
            tokio::select! {
                biased;
                caught = &mut *handler => {
                    return Stop::Returned(handler_result(&lease.job.id, caught));
                }
                () = until(cancel_deadline) => return Stop::Canceled,
                () = until(drain_deadline) => return Stop::Drained,
                () = &mut clock => {
                    // Past a cancel, the handler's grace replaces its timeout.
                    let timing_out = cancel_deadline.is_none();
                    if timing_out && Instant::now() >= timeout_at {
                        return Stop::TimedOut;
                    }
                    if Instant::now() >= next_beat {
                        if let Err(LeaseLost) = self.beat(lease, cancel).await {
                            return Stop::Lost;
                        }
                        next_beat = Instant::now() + config.heartbeat_interval;
                    }
                    let next = if timing_out { next_beat.min(timeout_at) } else { next_beat };
                    clock.as_mut().reset(next);
                }
                () = registration.resync_requested() => {
                    if let Err(LeaseLost) = self.beat(lease, cancel).await {
                        return Stop::Lost;
                    }
                }
                () = cancel.cancelled(), if cancel_deadline.is_none() => {
                    info!(
                        job_id = %lease.job.id,
                        grace = ?config.cancel_grace,
                        "job canceled; waiting for the handler to stop"
                    );
                    cancel_deadline = Some(Instant::now() + config.cancel_grace);
                }
                () = shutdown.cancelled(), if drain_deadline.is_none() => {
                    drain_deadline = Some(Instant::now() + config.drain_timeout);
                }
                changed = progress.reports.changed(), if progress.open && !progress.pending => {
                    match changed {
                        Ok(()) => progress.pending = true,
                        Err(_) => progress.open = false,
                    }
                }
                () = tokio::time::sleep_until(progress.next_write), if progress.pending => {
                    progress.pending = false;
                    if let Err(LeaseLost) = self.write_progress(lease, progress).await {
                        return Stop::Lost;
                    }
                }
            }
        }
    }

    /// Records how the attempt ended with the one final write it calls for.
    async fn conclude(&self, attempt: Attempt<'_>, stop: Stop) -> Finished {
        let Attempt {
            mut lease,
            cancel,
            handler,
            mut progress,
            detail,
        } = attempt;
        // Whatever the handler is still doing is no longer wanted.
        drop(handler);
        let cancel_requested = cancel.is_cancelled();
        // The handler's last report, perhaps held back by the rate limit, must land before the
        // final state (unless a cancel decides that state, whatever the handler did).
        if matches!(stop, Stop::Returned(_))
            && !cancel_requested
            && let Err(LeaseLost) = self.write_progress(&mut lease, &mut progress).await
        {
            info!(
                job_id = %lease.job.id,
                "lease lost while writing the last progress report; abandoning the job"
            );
            return Finished::Lost;
        }
        let mut output = None;
        let ending = match stop {
            Stop::Lost => Ending::Lost,
            Stop::Returned(Ok(returned)) => {
                output = returned;
                Ending::Succeeded
            }
            Stop::Returned(Err(e)) => {
                info!(
                    job_id = %lease.job.id,
                    error = %e.message,
                    retryable = e.retryable,
                    "the handler failed"
                );
                Ending::Failed {
                    error: JobError::new(ErrorCode::HandlerError, e.message),
                    retryable: e.retryable,
                }
            }
            Stop::Canceled => {
                warn!(
                    job_id = %lease.job.id,
                    grace = ?self.config.cancel_grace,
                    "the handler did not stop within its grace after cancel; dropped it"
                );
                Ending::Canceled
            }
            Stop::TimedOut => {
                cancel.cancel();
                warn!(
                    job_id = %lease.job.id,
                    timeout_s = lease.job.timeout_s,
                    "the attempt timed out"
                );
                Ending::TimedOut
            }
            Stop::Drained => {
                info!(
                    job_id = %lease.job.id,
                    drain_timeout = ?self.config.drain_timeout,
                    "shutting down: the handler did not finish within the drain timeout"
                );
                Ending::Released
            }
        };
        lease.job.note_attempt(detail.borrow().clone());
        let policy = self
            .config
            .job_types
            .retry(&lease.job.job_type, self.config.retry);
        match attempt::conclude(&lease.job, ending, cancel_requested, &policy) {
            Conclusion::Complete => self.complete(lease, output).await,
            Conclusion::Retry { error, after } => self.fail(lease, error, Some(after)).await,
            Conclusion::Fail(error) => self.fail(lease, error, None).await,
            Conclusion::Cancel => self.cancel_claimed(lease).await,
            Conclusion::Release => self.release(lease).await,
            Conclusion::Abandon => {
                info!(
                    job_id = %lease.job.id,
                    "lease lost: the job has moved on without this worker; abandoning it"
                );
                Finished::Lost
            }
        }
    }

    /// Renews the lease; a requested cancel cancels the job's token.
    async fn beat(&self, lease: &Lease, cancel: &CancellationToken) -> Result<(), LeaseLost> {
        match self.store.heartbeat(&self.id, lease).await {
            Ok(state) => {
                if state.cancel_requested && !cancel.is_cancelled() {
                    info!(job_id = %lease.job.id, "cancel requested (seen by heartbeat)");
                    cancel.cancel();
                }
                Ok(())
            }
            Err(StoreError::LeaseLost) => Err(LeaseLost),
            Err(e) => {
                warn!(
                    job_id = %lease.job.id,
                    error = %e,
                    "heartbeat failed; retrying at the next beat"
                );
                Ok(())
            }
        }
    }

    /// Writes the latest progress report, unless it was written already.
    async fn write_progress(
        &self,
        lease: &mut Lease,
        feed: &mut ProgressFeed,
    ) -> Result<(), LeaseLost> {
        let Some(progress) = feed.take_unwritten() else {
            return Ok(());
        };
        feed.next_write = Instant::now() + self.config.progress_interval;
        match self.store.progress(lease, progress.clone()).await {
            Ok(()) => {
                feed.written = Some(progress);
                Ok(())
            }
            Err(StoreError::LeaseLost) => Err(LeaseLost),
            Err(e) => {
                // Progress is informative: a later report (or the final state) supersedes it.
                warn!(
                    job_id = %lease.job.id,
                    error = %e,
                    "a progress report could not be written; dropping it"
                );
                Ok(())
            }
        }
    }

    async fn complete(&self, lease: Lease, output: Option<JobOutput>) -> Finished {
        let written = self
            .final_write("complete", &lease.job.id, || {
                self.store.complete(lease.clone(), output.clone())
            })
            .await;
        match written {
            Err(too_large @ StoreError::ResultTooLarge { .. }) => {
                warn!(
                    job_id = %lease.job.id,
                    error = %too_large,
                    "the handler's result is too large"
                );
                let error = JobError::new(ErrorCode::ResultTooLarge, too_large.to_string());
                self.fail(lease, error, None).await
            }
            written => settle(&lease.job.id, written, |_| Finished::Completed),
        }
    }

    async fn fail(&self, lease: Lease, error: JobError, retry_after: Option<Duration>) -> Finished {
        let written = self
            .final_write("fail", &lease.job.id, || {
                self.store.fail(lease.clone(), error.clone(), retry_after)
            })
            .await;
        settle(&lease.job.id, written, |job| {
            if job.status == JobStatus::Pending {
                Finished::Retried
            } else {
                Finished::Failed
            }
        })
    }

    async fn cancel_claimed(&self, lease: Lease) -> Finished {
        let written = self
            .final_write("cancel", &lease.job.id, || {
                self.store.cancel_claimed(lease.clone())
            })
            .await;
        settle(&lease.job.id, written, |_| Finished::Canceled)
    }

    async fn release(&self, lease: Lease) -> Finished {
        let written = self
            .final_write("release", &lease.job.id, || {
                self.store.release(lease.clone())
            })
            .await;
        settle(&lease.job.id, written, |_| Finished::Released)
    }

    /// Runs a final write, retrying it a few times with backoff while the backend fails.
    async fn final_write<F, Fut>(
        &self,
        what: &str,
        job: &JobId,
        mut write: F,
    ) -> Result<Job, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Job, StoreError>>,
    {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut retries = 0;
        loop {
            match write().await {
                Err(e @ (StoreError::Backend(_) | StoreError::Unavailable(_)))
                    if retries < FINAL_WRITE_RETRIES =>
                {
                    retries += 1;
                    let delay = backoff.next_delay();
                    warn!(
                        job_id = %job,
                        error = %e,
                        retry_in = ?delay,
                        "could not {what} the job; retrying"
                    );
                    tokio::time::sleep(delay).await;
                }
                written => return written,
            }
        }
    }
}

/// What a final write's answer means for the metrics, logging the failures.
fn settle(
    id: &JobId,
    written: Result<Job, StoreError>,
    finished: impl FnOnce(&Job) -> Finished,
) -> Finished {
    match written {
        Ok(job) => finished(&job),
        Err(StoreError::LeaseLost) => {
            info!(
                job_id = %id,
                "lease lost before the final write: the job has moved on without this worker"
            );
            Finished::Lost
        }
        Err(e) => {
            error!(
                job_id = %id,
                error = %e,
                "could not record how the job ended; its lease will run out and it will be retried"
            );
            Finished::Lost
        }
    }
}

/// The handler's answer, with a panic turned into a retryable error.
fn handler_result(id: &JobId, caught: Result<Returned, Box<dyn Any + Send>>) -> Returned {
    caught.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string payload".to_owned());
        let message = format!("the handler panicked: {what}");
        error!(job_id = %id, error = %message, "the handler did not return");
        Err(HandlerError::retryable(message))
    })
}

/// Completes at `deadline`, or never without one.
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_a_retryable_error_naming_the_panic() {
        let caught = AssertUnwindSafe(async {
            if true {
                panic!("boom at row 7");
            }
            Ok(None)
        })
        .catch_unwind()
        .await;
        let error = handler_result(&JobId::generate(), caught).unwrap_err();
        assert!(error.retryable);
        assert_eq!(error.message, "the handler panicked: boom at row 7");
    }

    #[tokio::test]
    async fn a_missing_deadline_never_fires() {
        let fired = tokio::time::timeout(Duration::from_millis(20), until(None)).await;
        assert!(fired.is_err());
        until(Some(Instant::now())).await;
    }
}
