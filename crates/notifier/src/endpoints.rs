//! Per-endpoint concurrency: at most `limit` attempts to one URL at a time in this process,
//! so an endpoint that hangs holds a few slots and delays only its own deliveries.
//!
//! A delivery whose endpoint is full is not queued in memory (a killed process would hold
//! it hostage): it goes back to the store, due again after about as long as a slot should
//! take to free up: the endpoint's typical attempt time, or, when its attempts in flight are
//! already older than that (it hangs), the age of the youngest of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The shortest and longest a delivery to a full endpoint is put back for.
const MIN_DEFER: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Endpoint {
    in_flight: usize,
    /// A moving average of how long its attempts take.
    typical: Duration,
    last_started: Instant,
}

/// The endpoints this process is sending to.
#[derive(Debug)]
pub(crate) struct Endpoints {
    limit: usize,
    max_defer: Duration,
    open: Mutex<HashMap<String, Endpoint>>,
}

/// One attempt's hold on its endpoint; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    endpoints: Arc<Endpoints>,
    key: String,
    started: Instant,
}

impl Endpoints {
    /// `limit` attempts per endpoint; a full endpoint's deliveries are put back for at most
    /// `max_defer` (the attempt timeout: by then a slot has freed).
    pub(crate) fn new(limit: usize, max_defer: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            max_defer: max_defer.max(MIN_DEFER),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot on the endpoint, or how long to put the delivery back for when it is full.
    pub(crate) fn try_acquire(self: &Arc<Self>, key: &str) -> Result<Slot, Duration> {
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let endpoint = open.entry(key.to_owned()).or_insert(Endpoint {
            in_flight: 0,
            typical: Duration::ZERO,
            last_started: now,
        });
        if endpoint.in_flight >= self.limit {
            let youngest = now.duration_since(endpoint.last_started);
            return Err(endpoint
                .typical
                .max(youngest)
                .clamp(MIN_DEFER, self.max_defer));
        }
        endpoint.in_flight += 1;
        endpoint.last_started = now;
        Ok(Slot {
            endpoints: Arc::clone(self),
            key: key.to_owned(),
            started: now,
        })
    }

    fn release(&self, key: &str, took: Duration) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(endpoint) = open.get_mut(key) {
            endpoint.in_flight = endpoint.in_flight.saturating_sub(1);
            endpoint.typical = (endpoint.typical * 7 + took) / 8;
            // Forgotten once idle, so the map holds only endpoints with attempts in flight.
            if endpoint.in_flight == 0 {
                open.remove(key);
            }
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.endpoints.release(&self.key, self.started.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_endpoint_refuses_more_until_a_slot_frees() {
        let endpoints = Endpoints::new(2, Duration::from_secs(15));
        let a = endpoints.try_acquire("http://a/").unwrap();
        let _b = endpoints.try_acquire("http://a/").unwrap();
        let defer = endpoints.try_acquire("http://a/").unwrap_err();
        assert!(defer >= MIN_DEFER && defer <= Duration::from_secs(15));
        assert!(
            endpoints.try_acquire("http://b/").is_ok(),
            "another endpoint is not held back"
        );
        drop(a);
        assert!(endpoints.try_acquire("http://a/").is_ok());
    }

    #[test]
    fn a_hanging_endpoint_is_put_back_for_longer_as_its_attempts_age() {
        let endpoints = Endpoints::new(1, Duration::from_millis(200));
        let _hanging = endpoints.try_acquire("http://slow/").unwrap();
        std::thread::sleep(Duration::from_millis(60));
        let defer = endpoints.try_acquire("http://slow/").unwrap_err();
        assert!(defer >= Duration::from_millis(60), "{defer:?}");
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(
            endpoints.try_acquire("http://slow/").unwrap_err(),
            Duration::from_millis(200),
            "never longer than the cap"
        );
    }

    #[test]
    fn idle_endpoints_are_forgotten() {
        let endpoints = Endpoints::new(1, Duration::from_secs(1));
        drop(endpoints.try_acquire("http://a/").unwrap());
        assert!(endpoints.open.lock().unwrap().is_empty());
    }
}
