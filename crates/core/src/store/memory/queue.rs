//! The embedded backend's queues: taking jobs (waiting for one on a `Notify` rather than
//! polling), and the maintenance that reclaims the leases of silent workers and promotes due
//! retries.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::state::{Held, QueueKey, State};
use super::{MemoryStore, later};
use crate::ids::WorkerId;
use crate::store::{Claimed, Lease};

impl MemoryStore {
    /// Takes up to `max` jobs from `queues` at once, starting each.
    fn take(&self, worker: &WorkerId, queues: &[QueueKey], max: usize) -> Vec<Claimed> {
        let mut state = self.lock();
        let now = Utc::now();
        let mut claimed = Vec::new();
        for queue in queues {
            while claimed.len() < max {
                let Some(id) = state.queues.get_mut(queue).and_then(VecDeque::pop_front) else {
                    break;
                };
                // An entry whose job was canceled or expired meanwhile is simply dropped.
                let Some(record) = state.jobs.get(&id) else {
                    continue;
                };
                let Ok(transition) = record.job.start(now) else {
                    continue;
                };
                let payload = record.payload.clone();
                let job = self.apply(&mut state, transition);
                state.counter += 1;
                let entry = format!("lease-{}", state.counter);
                state.hold(
                    entry.clone(),
                    Held {
                        job_id: id,
                        queue: queue.clone(),
                        worker: worker.clone(),
                        last_beat: Instant::now(),
                    },
                );
                claimed.push(Claimed {
                    lease: Lease { job, entry },
                    payload,
                });
            }
        }
        claimed
    }

    /// Takes up to `max` jobs from `queues`, waiting up to `wait` for the first one.
    pub(super) async fn claim_from(
        &self,
        worker: &WorkerId,
        queues: &[QueueKey],
        max: usize,
        wait: Duration,
    ) -> Vec<Claimed> {
        let deadline = later(wait);
        loop {
            // Register for a wake-up before looking, so an enqueue in between is not missed.
            let notified = self.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = self.take(worker, queues, max);
            if !claimed.is_empty() {
                return claimed;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }

    /// Reclaims the leases of the queues `mine` picks whose worker went silent: each job is
    /// offered again, or fails with `worker_lost` after its last attempt.
    pub(super) fn reclaim(
        &self,
        state: &mut State,
        now: Instant,
        mine: impl Fn(&QueueKey) -> bool,
    ) -> usize {
        let expired: Vec<String> = state
            .held
            .iter()
            .filter(|(_, h)| {
                mine(&h.queue) && now.duration_since(h.last_beat) > self.config.lease_timeout
            })
            .map(|(entry, _)| entry.clone())
            .collect();
        let mut reclaimed = 0;
        for entry in expired {
            let Some(held) = state.let_go(&entry) else {
                continue;
            };
            let Some(record) = state.jobs.get(&held.job_id) else {
                continue;
            };
            if let Ok(step) = record.job.lose_lease(Utc::now()) {
                self.apply(state, step);
                reclaimed += 1;
            }
        }
        reclaimed
    }

    /// Moves the due retries of the queues `mine` picks into their queue.
    pub(super) fn promote(
        &self,
        state: &mut State,
        now: Instant,
        mine: impl Fn(&QueueKey) -> bool,
    ) -> usize {
        let due: Vec<(Instant, u64)> = state
            .delayed
            .range(..=(now, u64::MAX))
            .filter(|(_, (queue, _))| mine(queue))
            .map(|(key, _)| *key)
            .collect();
        let mut promoted = 0;
        for key in due {
            if let Some((queue, id)) = state.delayed.remove(&key) {
                self.enqueue(state, queue, id);
                promoted += 1;
            }
        }
        promoted
    }
}
