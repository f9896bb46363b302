//! Delays between the attempts of a job that failed with a retryable error ([`retry_delay`]).
//! The worker's own retries of a failing store use [`herald_core::backoff::Backoff`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// How far jitter moves a retry delay either way: ±20 %, so jobs that failed together (a
/// dependency went down) do not all come back in the same instant.
pub const RETRY_JITTER: f64 = 0.2;

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

#[cfg(test)]
mod tests {
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
