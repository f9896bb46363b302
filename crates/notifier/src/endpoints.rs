//! Per-endpoint concurrency: at most `limit` attempts to one URL at a time in this process,
//! so an endpoint that hangs holds a few slots and delays only its own deliveries.
//!
//! A delivery whose endpoint is full waits in a short local queue (at most `limit` of them):
//! the attempt that frees a slot takes the next one in line with the same slot, so a busy
//! endpoint's slots never sit idle. The queue is short so that a queued delivery is sent
//! within about one attempt time, well inside its lease. Beyond it, the delivery goes back to
//! the store (a killed process must not hold a backlog hostage), due again about when a slot
//! should be free for it: the endpoint keeps a virtual queue, the n-th delivery put back
//! waiting n / `limit` attempt times, an attempt time being the endpoint's typical one or,
//! when its attempts in flight are already older than that (it hangs), the age of the
//! youngest of them. So a backlog is spread over the time it takes to drain instead of
//! coming back all at once and being put back again and again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shortest a delivery to a full endpoint is put back for.
const MIN_DEFER: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Endpoint<T> {
    in_flight: usize,
    /// Deliveries waiting here for a slot, oldest first.
    queued: VecDeque<T>,
    /// Deliveries put back while it was full, less the attempts finished since: how many
    /// are (about) waiting in the store for a slot.
    put_back: usize,
    /// A moving average of how long its attempts take.
    typical: Duration,
    last_started: Instant,
}

/// The endpoints this process is sending to, and what waits for each.
#[derive(Debug)]
pub(crate) struct Endpoints<T> {
    limit: usize,
    max_defer: Duration,
    /// By URL; the name is shared with the endpoint's slots, not copied for each.
    open: Mutex<HashMap<Arc<str>, Endpoint<T>>>,
}

/// What became of an item offered to its endpoint.
#[derive(Debug)]
pub(crate) enum Admission<T> {
    /// A slot is free: send it now.
    Now(T, Slot<T>),
    /// It waits in the endpoint's queue; an attempt that finishes will take it.
    Queued,
    /// The endpoint and its queue are full: put it back for this long.
    Full(T, Duration),
}

/// One attempt's hold on its endpoint; dropping it frees the slot (and leaves anything
/// queued to the next attempt to start there, or to [`Endpoints::next`]).
#[derive(Debug)]
pub(crate) struct Slot<T> {
    endpoints: Arc<Endpoints<T>>,
    key: Arc<str>,
    started: Instant,
    released: bool,
}

impl<T> Endpoints<T> {
    /// `limit` attempts (and as many queued deliveries) per endpoint; a full endpoint's
    /// deliveries are put back for at most `max_defer` (the attempt timeout: by then a slot
    /// has freed).
    pub(crate) fn new(limit: usize, max_defer: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            max_defer: max_defer.max(MIN_DEFER),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// Offers `item` to the endpoint named `key`.
    pub(crate) fn admit(self: &Arc<Self>, key: &str, item: T) -> Admission<T> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        // Looked up by the borrowed name first: a name is copied once per endpoint opened.
        let (key, endpoint) = match open.get_key_value(key) {
            Some((name, _)) => {
                let name = Arc::clone(name);
                let endpoint = open.get_mut(&*name).expect("the endpoint just found");
                (name, endpoint)
            }
            None => {
                let name: Arc<str> = Arc::from(key);
                let endpoint = open.entry(Arc::clone(&name)).or_insert(Endpoint {
                    in_flight: 0,
                    queued: VecDeque::new(),
                    put_back: 0,
                    typical: Duration::ZERO,
                    last_started: now,
                });
                (name, endpoint)
            }
        };
        if endpoint.in_flight < self.limit {
            endpoint.in_flight += 1;
            endpoint.last_started = now;
            return Admission::Now(item, self.slot(key, now));
        }
        if endpoint.queued.len() < self.limit {
            endpoint.queued.push_back(item);
            return Admission::Queued;
        }
        let attempt_time = endpoint
            .typical
            .max(now.duration_since(endpoint.last_started));
        endpoint.put_back += 1;
        let turns = u32::try_from(endpoint.put_back.div_ceil(self.limit)).unwrap_or(u32::MAX);
        let wait = attempt_time
            .saturating_mul(turns)
            .clamp(MIN_DEFER, self.max_defer);
        Admission::Full(item, wait)
    }

    /// After an attempt: the next item queued on the slot's endpoint, sent with the same
    /// slot, or `None` with the slot freed. One step, so nothing queued is left behind by
    /// the last attempt going away.
    pub(crate) fn next(self: &Arc<Self>, mut slot: Slot<T>) -> Option<(T, Slot<T>)> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let endpoint = open.get_mut(&slot.key)?;
        endpoint.typical = (endpoint.typical * 7 + now.duration_since(slot.started)) / 8;
        endpoint.put_back = endpoint.put_back.saturating_sub(1);
        if let Some(item) = endpoint.queued.pop_front() {
            endpoint.last_started = now;
            slot.started = now;
            return Some((item, slot));
        }
        slot.released = true;
        Self::free(&mut open, &slot.key);
        None
    }

    fn slot(self: &Arc<Self>, key: Arc<str>, now: Instant) -> Slot<T> {
        Slot {
            endpoints: Arc::clone(self),
            key,
            started: now,
            released: false,
        }
    }

    fn free(open: &mut HashMap<Arc<str>, Endpoint<T>>, key: &str) {
        if let Some(endpoint) = open.get_mut(key) {
            endpoint.in_flight = endpoint.in_flight.saturating_sub(1);
            // Forgotten once idle, so the map holds only endpoints with attempts in flight.
            if endpoint.in_flight == 0 && endpoint.queued.is_empty() {
                open.remove(key);
            }
        }
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        // Reached without `next` only when an attempt's task ends abnormally (a panic, or
        // the runtime shutting down): the slot must not stay taken.
        if !self.released {
            let mut open = self
                .endpoints
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            Endpoints::free(&mut open, &self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now<T: std::fmt::Debug>(admission: Admission<T>) -> Slot<T> {
        match admission {
            Admission::Now(_, slot) => slot,
            other => panic!("expected a slot, got {other:?}"),
        }
    }

    fn full<T: std::fmt::Debug>(admission: Admission<T>) -> Duration {
        match admission {
            Admission::Full(_, wait) => wait,
            other => panic!("expected it to be put back, got {other:?}"),
        }
    }

    #[test]
    fn a_full_endpoint_queues_a_few_then_puts_the_rest_back() {
        let endpoints = Endpoints::new(2, Duration::from_secs(15));
        let a = now(endpoints.admit("http://a/", 1));
        let _b = now(endpoints.admit("http://a/", 2));
        assert!(matches!(endpoints.admit("http://a/", 3), Admission::Queued));
        assert!(matches!(endpoints.admit("http://a/", 4), Admission::Queued));
        let wait = full(endpoints.admit("http://a/", 5));
        assert!(wait >= MIN_DEFER && wait <= Duration::from_secs(15));
        now(endpoints.admit("http://b/", 6));

        let (item, a) = endpoints.next(a).expect("the oldest queued goes next");
        assert_eq!(item, 3);
        let (item, a) = endpoints.next(a).unwrap();
        assert_eq!(item, 4);
        assert!(
            endpoints.next(a).is_none(),
            "nothing left: the slot is freed"
        );
        now(endpoints.admit("http://a/", 7));
    }

    #[test]
    fn a_hanging_endpoint_is_put_back_for_longer_as_its_attempts_age() {
        let endpoints = Endpoints::new(1, Duration::from_millis(200));
        let _hanging = now(endpoints.admit("http://slow/", ()));
        assert!(matches!(
            endpoints.admit("http://slow/", ()),
            Admission::Queued
        ));
        std::thread::sleep(Duration::from_millis(60));
        let wait = full(endpoints.admit("http://slow/", ()));
        assert!(wait >= Duration::from_millis(60), "{wait:?}");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            full(endpoints.admit("http://slow/", ())),
            Duration::from_millis(200),
            "never longer than the cap"
        );
    }

    #[test]
    fn a_backlog_put_back_is_spread_over_the_time_it_takes_to_drain() {
        let endpoints = Endpoints::new(2, Duration::from_secs(15));
        let _a = now(endpoints.admit("http://busy/", ()));
        let _b = now(endpoints.admit("http://busy/", ()));
        for _ in 0..2 {
            endpoints.admit("http://busy/", ());
        }
        std::thread::sleep(Duration::from_millis(30));
        let waits: Vec<Duration> = (0..6)
            .map(|_| full(endpoints.admit("http://busy/", ())))
            .collect();
        assert!(waits.windows(2).all(|w| w[0] <= w[1]), "{waits:?}");
        assert!(
            waits[5] >= waits[0] * 3,
            "later ones wait more turns: {waits:?}"
        );
    }

    #[test]
    fn idle_endpoints_are_forgotten_and_a_dropped_slot_is_freed() {
        let endpoints = Endpoints::new(1, Duration::from_secs(1));
        let slot = now(endpoints.admit("http://a/", ()));
        assert!(endpoints.next(slot).is_none());
        assert!(endpoints.open.lock().unwrap().is_empty());
        drop(now(endpoints.admit("http://a/", ())));
        assert!(endpoints.open.lock().unwrap().is_empty());
    }
}
