//! The jobs running on this worker, by id, and the listener that routes the store's signals to
//! them: a cancel request reaches its handler at once instead of at the next heartbeat, and a
//! resync (signals may have been missed) makes every running job heartbeat now.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use herald_core::JobId;
use herald_core::store::Signal;
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

/// The running jobs' cancel tokens and resync bells.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    jobs: Mutex<HashMap<JobId, Bells>>,
}

#[derive(Debug)]
struct Bells {
    cancel: CancellationToken,
    resync: Arc<Notify>,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashMap<JobId, Bells>> {
        // The map stays consistent whatever panicked while holding it: every change is a
        // single insert or remove.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Routes signals for `id` to `cancel` and the returned registration until it is dropped.
    pub(crate) fn register(&self, id: JobId, cancel: CancellationToken) -> Registration<'_> {
        let resync = Arc::new(Notify::new());
        self.lock().insert(
            id,
            Bells {
                cancel,
                resync: resync.clone(),
            },
        );
        Registration {
            in_flight: self,
            id,
            resync,
        }
    }

    fn cancel(&self, id: &JobId) {
        if let Some(bells) = self.lock().get(id) {
            tracing::info!(job_id = %id, "cancel requested");
            bells.cancel.cancel();
        }
    }

    fn resync_all(&self) {
        for bells in self.lock().values() {
            // `notify_one` keeps a permit when the job is not waiting right now: not lost.
            bells.resync.notify_one();
        }
    }
}

/// A running job's entry in [`InFlight`]; removed on drop.
pub(crate) struct Registration<'a> {
    in_flight: &'a InFlight,
    id: JobId,
    resync: Arc<Notify>,
}

impl Registration<'_> {
    /// Completes when the job should heartbeat at once (signals may have been missed).
    pub(crate) async fn resync_requested(&self) {
        self.resync.notified().await;
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.id);
    }
}

/// Routes the store's signals to the running jobs until the store's feed closes. Job events
/// and revoked keys are not for the worker and are skipped.
pub(crate) async fn listen(mut signals: broadcast::Receiver<Signal>, in_flight: &InFlight) {
    use broadcast::error::RecvError;
    loop {
        match signals.recv().await {
            Ok(Signal::CancelRequested(id)) => in_flight.cancel(&id),
            Ok(Signal::Resync) => in_flight.resync_all(),
            Ok(Signal::Event(_) | Signal::KeyRevoked(_)) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "the signal listener fell behind; resyncing");
                in_flight.resync_all();
            }
            Err(RecvError::Closed) => {
                tracing::debug!("the store's signal feed closed; cancels now arrive by heartbeat");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn cancel_requests_reach_only_their_job_and_resyncs_reach_all() {
        let in_flight = InFlight::default();
        let (a, b) = (JobId::generate(), JobId::generate());
        let (cancel_a, cancel_b) = (CancellationToken::new(), CancellationToken::new());
        let reg_a = in_flight.register(a, cancel_a.clone());
        let reg_b = in_flight.register(b, cancel_b.clone());
        let (tx, rx) = broadcast::channel(8);
        tx.send(Signal::CancelRequested(a)).unwrap();
        tx.send(Signal::CancelRequested(JobId::generate())).unwrap();
        tx.send(Signal::Resync).unwrap();
        drop(tx);
        listen(rx, &in_flight).await;
        assert!(cancel_a.is_cancelled());
        assert!(!cancel_b.is_cancelled());
        for registration in [&reg_a, &reg_b] {
            tokio::time::timeout(Duration::from_secs(5), registration.resync_requested())
                .await
                .expect("every running job is told to resync");
        }
    }

    #[test]
    fn a_finished_job_no_longer_receives_signals() {
        let in_flight = InFlight::default();
        let id = JobId::generate();
        let cancel = CancellationToken::new();
        drop(in_flight.register(id, cancel.clone()));
        in_flight.cancel(&id);
        assert!(!cancel.is_cancelled());
    }
}
