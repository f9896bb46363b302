//! The upkeep of the external workers' queues that no claim triggers: leases of workers gone
//! silent are reclaimed and due retries queued again, by every process with the api role.

use std::time::Duration;

use herald_core::{SharedStore, WorkerId};
use tokio_util::sync::CancellationToken;

/// Runs a maintenance pass of the external workers' queues every `interval` until `shutdown`.
/// A failed pass is logged and the next one tries again.
pub(crate) async fn maintain_until(
    store: SharedStore,
    worker: WorkerId,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    const WHAT: &str = "maintaining the external workers' queues";
    let mut failures = herald_core::backoff::FailureLog::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let outcome = store.maintain_external(&worker).await;
        if outcome.is_ok() {
            failures.succeeded(WHAT);
        }
        match outcome {
            Ok(done) if done.reclaimed > 0 || done.promoted > 0 => tracing::info!(
                reclaimed = done.reclaimed,
                promoted = done.promoted,
                "maintained the queues of external workers"
            ),
            Ok(_) => {}
            Err(e) => {
                failures.failed(WHAT, &e);
            }
        }
    }
}
