//! Token buckets: one per caller for the request rate, one per client address for failed
//! authentications. `governor` keeps them (its GCRA holds a bucket as one timestamp per key);
//! this module bounds how many it keeps and turns a refusal into how long to wait.

use std::fmt;
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use governor::Quota;
use governor::clock::{Clock, DefaultClock, Reference as _};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;

use super::{RateLimit, Subject, lock, whole_seconds};
use crate::http::address::ClientAddress;
use crate::http::error::ApiError;

/// The most buckets (callers seen recently) a process keeps; beyond, idle ones are dropped.
const MAX_BUCKETS: usize = 100_000;

/// How often buckets that have refilled (idle callers) are dropped.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

type Buckets<K, C> =
    governor::RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

impl RateLimit {
    /// The bucket's quota: `burst` requests at once, refilled at `per_second`; `None` when the
    /// limit is off.
    fn quota(self) -> Option<Quota> {
        let per_second = NonZeroU32::new(self.per_second)?;
        // A burst smaller than one request would refuse everything.
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        Some(Quota::per_second(per_second).allow_burst(burst))
    }
}

/// The buckets of one process, one per subject (a caller, or a client address), at most
/// [`MAX_BUCKETS`] of them.
pub(crate) struct RateLimiter<K = Subject, C = DefaultClock>
where
    K: Clone + Eq + Hash,
    C: Clock,
{
    quota: Option<Quota>,
    clock: C,
    /// Replaced as a whole when full of busy subjects; read-locked by every check.
    buckets: RwLock<Buckets<K, C>>,
    swept: Mutex<C::Instant>,
}

impl<K: Clone + Eq + Hash, C: Clock> fmt::Debug for RateLimiter<K, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("quota", &self.quota)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + Eq + Hash> RateLimiter<K> {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<K: Clone + Eq + Hash, C: Clock + Clone> RateLimiter<K, C> {
    fn with_clock(rate: RateLimit, clock: C) -> Self {
        let quota = rate.quota();
        // An unused quota for a limit that is off: no bucket is ever made with it.
        let buckets = Buckets::dashmap_with_clock(
            quota.unwrap_or(Quota::per_second(NonZeroU32::MIN)),
            clock.clone(),
        );
        Self {
            quota,
            swept: Mutex::new(clock.now()),
            clock,
            buckets: RwLock::new(buckets),
        }
    }

    /// Counts one request of `subject`.
    ///
    /// # Errors
    /// How long until the subject may send again, when its bucket is empty.
    pub(crate) fn check(&self, subject: &K) -> Result<(), Duration> {
        let Some(quota) = self.quota else {
            return Ok(());
        };
        self.sweep(quota);
        let buckets = self.buckets.read().unwrap_or_else(|e| e.into_inner());
        buckets
            .check_key(subject)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops the buckets that have refilled, every [`SWEEP_EVERY`] or when [`MAX_BUCKETS`] are
    /// held; if all are still busy then, forgets them all.
    fn sweep(&self, quota: Quota) {
        let now = self.clock.now();
        let full = self.len() >= MAX_BUCKETS;
        {
            let mut swept = lock(&self.swept);
            if !full && Duration::from(now.duration_since(*swept)) < SWEEP_EVERY {
                return;
            }
            *swept = now;
        }
        let mut buckets = self.buckets.write().unwrap_or_else(|e| e.into_inner());
        buckets.retain_recent();
        if buckets.len() >= MAX_BUCKETS {
            // As many callers busy at once as the map holds: forgetting them all lets a
            // burst through once, which beats growing without bound.
            tracing::warn!(buckets = MAX_BUCKETS, "rate limiter full: buckets reset");
            *buckets = Buckets::dashmap_with_clock(quota, self.clock.clone());
        }
    }

    fn len(&self) -> usize {
        self.buckets.read().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Requests that failed authentication, counted per client address.
#[derive(Debug)]
pub(crate) struct FailureLimiter<C: Clock = DefaultClock> {
    rate: RateLimit,
    buckets: RateLimiter<ClientAddress, C>,
}

impl FailureLimiter {
    pub(crate) fn new(rate: RateLimit) -> Self {
        Self {
            rate,
            buckets: RateLimiter::new(rate),
        }
    }
}

impl<C: Clock + Clone> FailureLimiter<C> {
    /// The answer to a request from `address` that failed authentication with `refusal`:
    /// `refusal` itself while the address's bucket holds a token (it takes one), else a `429`.
    /// A request with no known address (not over TCP) is not counted.
    pub(crate) fn charge(&self, address: Option<ClientAddress>, refusal: ApiError) -> ApiError {
        let Some(address) = address else {
            return refusal;
        };
        match self.buckets.check(&address) {
            Ok(()) => refusal,
            Err(wait) => {
                tracing::debug!(%address, "too many failed authentications");
                ApiError::RateLimited {
                    detail: format!(
                        "more than {} requests that failed authentication came from this \
                         address (refilling at {} per second); retry after Retry-After, with a \
                         valid key",
                        self.rate.burst, self.rate.per_second
                    ),
                    retry_after: whole_seconds(wait),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;
    use herald_core::{JobId, TenantId};

    use super::*;

    /// The same subject for the same name: a read token of one job of that tenant.
    fn subject(tenant: &str) -> Subject {
        let job = JobId::parse("01900000-0000-7000-8000-000000000000").unwrap();
        Subject::Token(TenantId::parse(tenant).unwrap(), job)
    }

    fn limiter(
        per_second: u32,
        burst: u32,
    ) -> (RateLimiter<Subject, FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::with_clock(RateLimit { per_second, burst }, clock.clone());
        (limiter, clock)
    }

    #[test]
    fn a_bucket_lets_a_burst_through_then_refills_at_the_rate() {
        let (limiter, clock) = limiter(2, 3);
        let a = subject("acme");
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        let wait = limiter.check(&a).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert_eq!(whole_seconds(wait), Duration::from_secs(1));
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check(&a).is_ok());
        assert!(limiter.check(&a).is_err());
        // A long rest refills up to the burst, never beyond.
        clock.advance(Duration::from_secs(3600));
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        assert!(limiter.check(&a).is_err());
    }

    #[test]
    fn callers_have_buckets_of_their_own() {
        let (limiter, _clock) = limiter(1, 1);
        assert!(limiter.check(&subject("acme")).is_ok());
        assert!(limiter.check(&subject("acme")).is_err());
        assert!(limiter.check(&subject("globex")).is_ok());
    }

    #[test]
    fn idle_buckets_are_swept_away() {
        let (limiter, clock) = limiter(10, 10);
        assert!(limiter.check(&subject("acme")).is_ok());
        assert_eq!(limiter.len(), 1);
        clock.advance(SWEEP_EVERY);
        assert!(limiter.check(&subject("globex")).is_ok());
        assert_eq!(limiter.len(), 1, "acme's refilled bucket is forgotten");
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let (limiter, _clock) = limiter(0, 0);
        for _ in 0..10_000 {
            assert!(limiter.check(&subject("acme")).is_ok());
        }
        assert_eq!(limiter.len(), 0);
    }

    #[test]
    fn failed_authentications_turn_into_429_once_an_address_has_used_its_burst() {
        let clock = FakeRelativeClock::default();
        let rate = RateLimit {
            per_second: 1,
            burst: 2,
        };
        let limiter = FailureLimiter {
            rate,
            buckets: RateLimiter::with_clock(rate, clock.clone()),
        };
        let here = Some(ClientAddress::of([192, 0, 2, 1].into()));
        let there = Some(ClientAddress::of([192, 0, 2, 2].into()));
        let refused = || ApiError::Unauthorized("no");
        for _ in 0..2 {
            assert!(matches!(
                limiter.charge(here, refused()),
                ApiError::Unauthorized(_)
            ));
        }
        let ApiError::RateLimited { retry_after, .. } = limiter.charge(here, refused()) else {
            panic!("a 429 after the burst");
        };
        assert_eq!(retry_after, Duration::from_secs(1));
        assert!(matches!(
            limiter.charge(there, refused()),
            ApiError::Unauthorized(_)
        ));
        assert!(matches!(
            limiter.charge(None, refused()),
            ApiError::Unauthorized(_)
        ));
        clock.advance(Duration::from_secs(1));
        assert!(matches!(
            limiter.charge(here, refused()),
            ApiError::Unauthorized(_)
        ));
    }
}
