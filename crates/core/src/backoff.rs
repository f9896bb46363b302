//! Backoffs: [`RetryPolicy`], the delays between the attempts of a job that failed with a
//! retryable error, and [`Backoff`], for the loops that retry a failing store (the worker's
//! claims, the notifier's reads) so they slow down instead of spinning, and recover at once;
//! [`FailureLog`] has such loops say so once per outage rather than at every retry.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How far jitter moves a retry delay either way: ±20 %, so jobs that failed together (a
/// dependency went down) do not all come back in the same instant.
pub const RETRY_JITTER: f64 = 0.2;

/// The delays between a job's attempts: `base · 2^(attempt-1)`, capped at `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// One second, doubling up to five minutes: the policy of a job type that names none, for
    /// Herald's own workers and external workers alike (see [`crate::attempt`]).
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The delay before the attempt after `attempt` (counting from 1), with fresh jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        retry_delay(attempt, self.base, self.max, jitter())
    }
}

/// The delay before the attempt after `attempt` (which counts from 1): `base · 2^(attempt-1)`
/// capped at `max`, then moved by up to ±[`RETRY_JITTER`] according to `jitter` (0 to 1; 0.5
/// leaves it unchanged) and capped at `max` again. Never panics, whatever the inputs.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1);
    let exponential = base.saturating_mul(2u32.saturating_pow(doublings)).min(max);
    let jitter = if jitter.is_nan() {
        0.5
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let factor = 1.0 - RETRY_JITTER + 2.0 * RETRY_JITTER * jitter;
    Duration::try_from_secs_f64(exponential.as_secs_f64() * factor)
        .unwrap_or(max)
        .min(max)
}

/// A uniformly distributed number in `[0, 1)`, good enough for jitter. Each `RandomState` is
/// seeded afresh, so hashing nothing with it yields a new random 64-bit value without a
/// dependency on a random number crate.
pub fn jitter() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    // The top 53 bits fill an f64's mantissa exactly.
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A bounded exponential backoff for retrying the store: `min`, doubling up to `max`, back to
/// `min` after a success. Keeps a failing backend from turning a loop into a busy loop.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            next: min,
            min,
            max,
        }
    }

    /// The delay to wait now; the next one will be twice as long, up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }

    /// Starts over from `min` (the store answered again).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// What a loop that keeps retrying a failing store logs: a warning when the failures start,
/// a debug line for each one after, and a line when it works again. An outage of Redis is then
/// a pair of lines per loop, not one every retry.
#[derive(Debug, Default)]
pub struct FailureLog {
    failing: bool,
}

impl FailureLog {
    /// Records a failure of `what` (a gerund: "claiming jobs"); `true` when it starts a streak
    /// (and was logged as a warning).
    pub fn failed(&mut self, what: &str, error: &dyn std::fmt::Display) -> bool {
        let first = !self.failing;
        self.failing = true;
        if first {
            tracing::warn!(
                %error,
                "{what} failed; retrying, and saying so again once it works"
            );
        } else {
            tracing::debug!(%error, "{what} failed again");
        }
        first
    }

    /// Records a success of `what`; `true` when it ends a streak of failures (and was logged).
    pub fn succeeded(&mut self, what: &str) -> bool {
        let recovered = std::mem::take(&mut self.failing);
        if recovered {
            tracing::info!("{what} works again");
        }
        recovered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streak_of_failures_is_announced_once_and_its_end_once() {
        let mut log = FailureLog::default();
        assert!(!log.succeeded("claiming jobs"));
        assert!(log.failed("claiming jobs", &"connection refused"));
        assert!(!log.failed("claiming jobs", &"connection refused"));
        assert!(!log.failed("claiming jobs", &"timed out"));
        assert!(log.succeeded("claiming jobs"));
        assert!(!log.succeeded("claiming jobs"));
        assert!(log.failed("claiming jobs", &"connection refused"));
    }

    #[test]
    fn store_backoff_doubles_to_its_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let delays: Vec<_> = (0..5).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::from_millis(100));
    }
}

#[cfg(test)]
mod retry_tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);
    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    #[test]
    fn retry_delays_double_from_the_base_without_jitter() {
        let delays: Vec<_> = (1..=5)
            .map(|attempt| retry_delay(attempt, SECOND, FIVE_MINUTES, 0.5).as_secs_f64())
            .collect();
        assert_eq!(delays, [1.0, 2.0, 4.0, 8.0, 16.0]);
    }

    #[test]
    fn retry_delays_are_capped_at_the_maximum_even_for_absurd_attempts() {
        assert_eq!(retry_delay(10, SECOND, FIVE_MINUTES, 0.5), FIVE_MINUTES);
        assert_eq!(
            retry_delay(u32::MAX, SECOND, FIVE_MINUTES, 1.0),
            FIVE_MINUTES
        );
        assert_eq!(
            retry_delay(64, Duration::MAX, Duration::MAX, 1.0),
            Duration::MAX
        );
    }

    #[test]
    fn jitter_moves_a_delay_by_at_most_a_fifth_either_way() {
        assert_eq!(
            retry_delay(1, SECOND, FIVE_MINUTES, 0.0),
            SECOND.mul_f64(0.8)
        );
        assert_eq!(
            retry_delay(1, SECOND, FIVE_MINUTES, 1.0),
            SECOND.mul_f64(1.2)
        );
        // Out-of-range jitter is clamped rather than trusted; NaN counts as none.
        assert_eq!(
            retry_delay(1, SECOND, FIVE_MINUTES, 7.0),
            SECOND.mul_f64(1.2)
        );
        assert_eq!(retry_delay(1, SECOND, FIVE_MINUTES, f64::NAN), SECOND);
    }

    #[test]
    fn attempt_zero_is_treated_like_the_first() {
        assert_eq!(
            retry_delay(0, SECOND, FIVE_MINUTES, 0.5),
            retry_delay(1, SECOND, FIVE_MINUTES, 0.5)
        );
    }

    #[test]
    fn jitter_stays_in_the_unit_interval_and_varies() {
        let samples: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(samples.windows(2).any(|w| w[0] != w[1]));
    }
}
