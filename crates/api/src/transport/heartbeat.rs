//! One clock for the heartbeats of every event stream of the process.
//!
//! A stream must never stay silent as long as proxies and clients wait
//! ([`heartbeat_interval`](crate::transport::sse::heartbeat_interval)), and its heartbeat is
//! also how a stream whose client vanished without closing its connection is found out (the
//! write fails). A timer per stream would cost every idle stream a timer of its own; instead
//! one task ticks [`SLOTS`] times per period, and each tick makes the streams of one slot due:
//! every stream gets a heartbeat once per period (the first one at most a period after it
//! opened), and the process's heartbeats are spread evenly over the period rather than sent in
//! one burst. A stream holds only a small shared flag and waker ([`Heartbeat`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Context;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How many groups of streams share the period, each made due at its own tick.
pub const SLOTS: usize = 16;

/// The process's heartbeat clock. Cheap to clone; every clone is the same clock.
#[derive(Clone, Default)]
pub struct Heartbeats {
    clock: Arc<Clock>,
}

#[derive(Default)]
struct Clock {
    slots: [Mutex<HashMap<u64, Arc<Beat>>>; SLOTS],
    next: AtomicU64,
}

/// What a stream and the clock share: whether a heartbeat is due, and whom to wake for it.
#[derive(Default)]
struct Beat {
    due: AtomicBool,
    waker: AtomicWaker,
}

impl Heartbeats {
    /// A stream's place on the clock, given up when the [`Heartbeat`] is dropped.
    pub fn join(&self) -> Heartbeat {
        let number = self.clock.next.fetch_add(1, Ordering::Relaxed);
        let beat = Arc::new(Beat::default());
        self.clock.slot(number).insert(number, Arc::clone(&beat));
        Heartbeat {
            clock: Arc::clone(&self.clock),
            number,
            beat,
        }
    }

    /// Makes every stream due once per `period`, a slot at a time, until `shutdown`.
    pub async fn run(self, period: Duration, shutdown: CancellationToken) {
        let slots = u32::try_from(SLOTS).unwrap_or(u32::MAX);
        let mut ticks = tokio::time::interval((period / slots).max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        for slot in (0..SLOTS).cycle() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            self.clock.beat(slot);
        }
    }

    /// Makes every stream due at once, as a whole period of ticks would.
    #[cfg(test)]
    pub(crate) fn beat_all(&self) {
        for slot in 0..SLOTS {
            self.clock.beat(slot);
        }
    }

    /// How many streams are on the clock.
    #[cfg(test)]
    fn streams(&self) -> usize {
        self.clock.slots.iter().map(|slot| lock(slot).len()).sum()
    }
}

impl Clock {
    fn slot(&self, number: u64) -> MutexGuard<'_, HashMap<u64, Arc<Beat>>> {
        let index = usize::try_from(number % SLOTS as u64).unwrap_or(0);
        lock(&self.slots[index])
    }

    /// Makes the streams of `slot` due and wakes them.
    fn beat(&self, slot: usize) {
        for beat in lock(&self.slots[slot]).values() {
            beat.due.store(true, Ordering::Release);
            beat.waker.wake();
        }
    }
}

/// Every critical section leaves the map consistent, so a poisoned lock is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One stream's place on the clock.
pub struct Heartbeat {
    clock: Arc<Clock>,
    number: u64,
    beat: Arc<Beat>,
}

impl Heartbeat {
    /// Whether a heartbeat is due (and, answering so, no longer due); when not, `cx` is woken
    /// once it is.
    pub fn poll_due(&self, cx: &Context<'_>) -> bool {
        self.beat.waker.register(cx.waker());
        self.beat.due.swap(false, Ordering::AcqRel)
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.clock.slot(self.number).remove(&self.number);
    }
}

#[cfg(test)]
mod tests {
    use futures_util::future::poll_fn;
    use std::task::Poll;

    use super::*;

    const PERIOD: Duration = Duration::from_secs(12);

    /// Waits until `heartbeat` is due; how long that took.
    async fn next_beat(heartbeat: &Heartbeat) -> Duration {
        let started = tokio::time::Instant::now();
        poll_fn(|cx| {
            if heartbeat.poll_due(cx) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        started.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn every_stream_is_due_once_per_period() {
        let heartbeats = Heartbeats::default();
        let shutdown = CancellationToken::new();
        tokio::spawn(heartbeats.clone().run(PERIOD, shutdown.clone()));
        let streams: Vec<Heartbeat> = (0..SLOTS + 3).map(|_| heartbeats.join()).collect();
        for _ in 0..3 {
            for heartbeat in &streams {
                let waited = next_beat(heartbeat).await;
                assert!(waited <= PERIOD, "{waited:?}");
            }
        }
        shutdown.cancel();
    }

    #[test]
    fn a_stream_leaves_the_clock_when_it_is_dropped() {
        let heartbeats = Heartbeats::default();
        let first = heartbeats.join();
        let second = heartbeats.join();
        assert_eq!(heartbeats.streams(), 2);
        drop(first);
        drop(second);
        assert_eq!(heartbeats.streams(), 0);
    }
}
