//! Abuse limits: how much one caller may ask of one api process.
//!
//! - A **rate limit** per caller ([`rate_limit`], a middleware inside [`crate::http::auth`], so
//!   the caller is known): a token bucket per API key (per tenant for a read token or an open
//!   install), refilled at `rate.per_second`, holding at most `rate.burst`. An empty bucket
//!   answers `429 rate-limited` with `Retry-After`. Only `/v1` is limited; the probes and the
//!   scrapers (`/healthz`, `/readyz`, `/metrics`) are not.
//! - **Slots** (`Slots`): how many event streams, and how many long polls, one caller may hold
//!   open at once. A slot is a guard: dropping it (the stream ends or the poll answers, for
//!   whatever reason) gives it back.
//! - A bound on the **nesting depth** of JSON bodies ([`limit_json_depth`]), checked on the
//!   bytes as they arrive, before any parser sees them.
//! - A rate limit of **failed authentications** per client address (`FailureLimiter`, used
//!   by [`crate::http::auth`]): requests with no key where one is needed, or a malformed,
//!   unknown or revoked key, or a bad read token, draw from their address's bucket; an empty
//!   bucket turns their `401` into `429` with `Retry-After`. Requests that authenticate draw nothing, so a
//!   valid key works from any address, and an open install is not throttled.
//! - A short memory of **unknown key ids** (`UnknownKeys`): an id the store did not hold is
//!   not looked up again for a few seconds, so a client repeating a wrong or revoked key costs
//!   no store read per request; likewise that keys exist (`KeysExist`), so requests without
//!   a key on a development install that has keys cost none either.
//!
//! The token buckets are `governor`'s (its GCRA is a token bucket kept as one timestamp per
//! caller); the rest is small enough to keep here.
//!
//! Everything is in memory and per process: behind a balancer, N replicas allow N times the
//! rate. Size the limits per process (`docs/security.md`).

mod depth;
mod memory;
mod middleware;
mod rate;
mod slots;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use herald_core::apikey::ApiKeyId;
use herald_core::{JobId, TenantId};

use crate::http::caller::Caller;

pub(crate) use memory::{KeysExist, UnknownKeys};
pub use middleware::{limit_header_bytes, limit_json_depth, rate_limit};
pub(crate) use rate::{FailureLimiter, RateLimiter};
pub(crate) use slots::{Slot, Slots, acquire};

/// The deepest JSON nesting serde_json itself accepts; a bound above it would never be reached.
pub const MAX_JSON_DEPTH: usize = 128;

/// How fast one caller may send requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, on average; `0` turns the limit off.
    pub per_second: u32,
    /// How many requests may come at once after a quiet spell (the bucket's size).
    pub burst: u32,
}

impl RateLimit {
    /// No limit at all.
    pub const OFF: Self = Self {
        per_second: 0,
        burst: 0,
    };

    /// The default limit of failed authentications per client address: a client that keeps
    /// failing is slowed down soon, while one that mistyped its key a few times is not.
    pub const AUTH_FAILURES: Self = Self {
        per_second: 5,
        burst: 20,
    };
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 100,
            burst: 200,
        }
    }
}

/// Whom a limit counts against: the API key, or the job of a read token (each browser
/// following a job holds its own token). An open install's requests (no key, no token) count
/// against nobody: with no key there is no one to tell apart, and one bucket shared by every
/// client would throttle the whole install; put keys in force to limit callers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    Key(ApiKeyId),
    Token(TenantId, JobId),
}

impl Subject {
    /// `None` for a request of an open install, which no limit counts.
    pub(crate) fn of(caller: &Caller) -> Option<Self> {
        if let Some(key) = &caller.key {
            return Some(Self::Key(key.clone()));
        }
        caller
            .read_token
            .as_ref()
            .map(|grant| Self::Token(grant.tenant.clone(), grant.job))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps stay consistent between statements: a panic elsewhere leaves them usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Whole seconds to wait, at least one (`Retry-After` has no fractions).
fn whole_seconds(wait: Duration) -> Duration {
    Duration::from_secs(wait.as_secs_f64().ceil().max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        assert_eq!(whole_seconds(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            whole_seconds(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn an_open_installs_requests_count_against_nobody() {
        assert_eq!(Subject::of(&Caller::open()), None);
    }
}
