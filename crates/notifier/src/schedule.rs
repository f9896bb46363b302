//! When to try a failed delivery again: the retry schedule, its jitter and the receiver's
//! `Retry-After`.
//!
//! The first attempt is immediate; the schedule lists the delays after each failure (by
//! default Svix's `5s,5m,30m,2h,5h,10h,10h`, so eight attempts spread over about 28 hours).
//! When the schedule is exhausted the delivery is dead.
//!
//! Everything here is a pure function of its inputs (the caller supplies the jitter and the
//! current time) so the arithmetic is tested without clocks or randomness. The jitter is
//! core's, the one every retry in Herald uses ([`herald_core::backoff::jitter`]): it moves a
//! delay by up to ±20 % ([`herald_core::backoff::RETRY_JITTER`]), so a burst of failures (an
//! endpoint that went down for everyone at once) does not come back as a burst of retries.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use herald_core::backoff::retry_delay;

/// The longest wait a receiver's `Retry-After` can impose. A longer (or hostile) value is cut
/// to this, so one header cannot park a delivery for a year.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The delays between attempts, after the immediate first one.
///
/// Parsed from and displayed as a comma-separated list of humantime durations
/// (`5s,5m,30m,2h,5h,10h,10h`). The empty string is the empty schedule: one attempt and no
/// retries. Every delay is greater than zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// Why a retry schedule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// Two commas with nothing between them, or a trailing comma.
    #[error("retry schedule entry {position} is empty (expected e.g. 5s,5m,30m,2h)")]
    EmptyEntry {
        /// 1-based position in the list.
        position: usize,
    },
    /// Not a duration humantime understands.
    #[error(
        "retry schedule entry {position} `{entry}` is not a duration (expected e.g. 5s, 5m, 2h): {reason}"
    )]
    Invalid {
        /// 1-based position in the list.
        position: usize,
        /// The entry as written.
        entry: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A zero delay would retry in a tight loop.
    #[error("retry schedule entry {position} `{entry}` is zero; every delay must be positive")]
    Zero {
        /// 1-based position in the list.
        position: usize,
        /// The entry as written.
        entry: String,
    },
}

impl RetrySchedule {
    /// A schedule from its delays.
    ///
    /// # Errors
    /// [`ScheduleError::Zero`] when a delay is zero.
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if let Some(index) = delays.iter().position(Duration::is_zero) {
            return Err(ScheduleError::Zero {
                position: index + 1,
                entry: "0s".to_owned(),
            });
        }
        Ok(Self(delays))
    }

    /// The delays, in order.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The number of retries: attempts in all are one more.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no retries at all (a failed first attempt is final).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How long to wait before the next attempt, once `failed_attempts` attempts have failed;
    /// `None` when the schedule is exhausted and the delivery is dead.
    ///
    /// - `failed_attempts == 0`: nothing has failed yet, so the (first) attempt is due now,
    ///   `Some(ZERO)`.
    /// - Otherwise the delay is `schedule[failed_attempts - 1]`, moved by up to ±20 % according
    ///   to `jitter`, in core's terms: 0 to 1, 0.5 leaves it unchanged, out of range clamped,
    ///   NaN taken as 0.5. Pass [`herald_core::backoff::jitter()`] in production.
    /// - `retry_after` (the receiver's `Retry-After` on a 429 or 503) can only lengthen the
    ///   wait, up to [`MAX_RETRY_AFTER`]: a receiver asking to be called back sooner than the
    ///   schedule gets the schedule (a `Retry-After: 0` must not become a tight loop), one
    ///   asking for longer is obeyed within the cap. It never adds attempts: a dead delivery
    ///   stays dead.
    #[must_use]
    pub fn next_delay(
        &self,
        failed_attempts: usize,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let Some(index) = failed_attempts.checked_sub(1) else {
            return Some(Duration::ZERO);
        };
        let scheduled = spread(*self.0.get(index)?, jitter);
        Some(match retry_after {
            Some(asked) => scheduled.max(asked.min(MAX_RETRY_AFTER)),
            None => scheduled,
        })
    }
}

/// `delay` moved by core's jitter rule: the delay of a first retry whose base is `delay`,
/// without a cap (saturating rather than panicking on absurd configured delays).
fn spread(delay: Duration, jitter: f64) -> Duration {
    retry_delay(1, delay, Duration::MAX, jitter)
}

impl Default for RetrySchedule {
    /// Svix's schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        Self(
            [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .into_iter()
            .map(Duration::from_secs)
            .collect(),
        )
    }
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    /// Parses `5s,5m,30m,2h` (whitespace around entries ignored; `""` is no retries).
    ///
    /// # Errors
    /// An empty entry, an entry humantime cannot parse, or a zero delay, naming the entry.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.trim().is_empty() {
            return Ok(Self(Vec::new()));
        }
        text.split(',')
            .enumerate()
            .map(|(index, entry)| {
                let position = index + 1;
                let entry = entry.trim();
                if entry.is_empty() {
                    return Err(ScheduleError::EmptyEntry { position });
                }
                let delay =
                    humantime::parse_duration(entry).map_err(|e| ScheduleError::Invalid {
                        position,
                        entry: entry.to_owned(),
                        reason: e.to_string(),
                    })?;
                if delay.is_zero() {
                    return Err(ScheduleError::Zero {
                        position,
                        entry: entry.to_owned(),
                    });
                }
                Ok(delay)
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for RetrySchedule {
    /// The comma-separated form that [`FromStr`] reads back (`5s,5m,30m,2h,5h,10h,10h`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, delay) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", humantime::format_duration(*delay))?;
        }
        Ok(())
    }
}

/// The wait a `Retry-After` header value asks for, relative to `now`.
///
/// Accepts delay-seconds (`120`) and an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the
/// obsolete RFC 850 and asctime forms, per RFC 9110 §10.2.3). A date already past is a wait of
/// zero. Anything else (negative, fractional, garbage) is `None`: the header is ignored.
#[must_use]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too large for u64 is still "a very long time": the cap applies later.
        return Some(value.parse().map_or(Duration::MAX, Duration::from_secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Core's jitter that leaves a delay as it is.
    const NO_JITTER: f64 = 0.5;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn the_default_is_svix_schedule() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.delays(),
            [
                secs(5),
                secs(300),
                secs(1800),
                secs(7200),
                secs(18000),
                secs(36000),
                secs(36000)
            ]
        );
        assert_eq!(schedule.len(), 7);
        assert_eq!(schedule.to_string(), "5s,5m,30m,2h,5h,10h,10h");
    }

    #[test]
    fn the_contract_example_parses_to_the_default() {
        let parsed: RetrySchedule = "5s,5m,30m,2h,5h,10h,10h".parse().unwrap();
        assert_eq!(parsed, RetrySchedule::default());
    }

    #[test]
    fn parsing_ignores_whitespace_around_entries() {
        let parsed: RetrySchedule = " 1s , 1m 30s,250ms ".parse().unwrap();
        assert_eq!(
            parsed.delays(),
            [secs(1), secs(90), Duration::from_millis(250)]
        );
    }

    #[test]
    fn display_round_trips_through_parse() {
        for text in ["5s,5m,30m,2h,5h,10h,10h", "1s", "250ms,1m 30s,1day", ""] {
            let schedule: RetrySchedule = text.parse().unwrap();
            let again: RetrySchedule = schedule.to_string().parse().unwrap();
            assert_eq!(again, schedule, "{text:?} displayed as {schedule}");
        }
    }

    #[test]
    fn an_empty_string_means_no_retries() {
        let schedule: RetrySchedule = "".parse().unwrap();
        assert!(schedule.is_empty());
        assert_eq!(
            schedule.next_delay(0, None, NO_JITTER),
            Some(Duration::ZERO)
        );
        assert_eq!(schedule.next_delay(1, None, NO_JITTER), None);
        let blank: RetrySchedule = "  ".parse().unwrap();
        assert!(blank.is_empty());
    }

    #[test]
    fn empty_entries_are_refused_with_their_position() {
        assert_eq!(
            "5s,,5m".parse::<RetrySchedule>(),
            Err(ScheduleError::EmptyEntry { position: 2 })
        );
        assert_eq!(
            "5s,".parse::<RetrySchedule>(),
            Err(ScheduleError::EmptyEntry { position: 2 })
        );
    }

    #[test]
    fn garbage_is_refused_naming_the_entry() {
        let err = "5s,soon".parse::<RetrySchedule>().unwrap_err();
        assert!(
            matches!(err, ScheduleError::Invalid { position: 2, ref entry, .. } if entry == "soon")
        );
        assert!(err.to_string().contains("`soon`"), "{err}");
        assert!("5".parse::<RetrySchedule>().is_err(), "a unit is required");
        assert!("-5s".parse::<RetrySchedule>().is_err());
    }

    #[test]
    fn zero_delays_are_refused() {
        let err = "5s,0s".parse::<RetrySchedule>().unwrap_err();
        assert_eq!(
            err,
            ScheduleError::Zero {
                position: 2,
                entry: "0s".to_owned()
            }
        );
        assert!(RetrySchedule::new(vec![secs(1), Duration::ZERO]).is_err());
        assert!(RetrySchedule::new(vec![secs(1)]).is_ok());
    }

    #[test]
    fn the_first_attempt_is_immediate() {
        assert_eq!(
            RetrySchedule::default().next_delay(0, None, 1.0),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn each_failure_waits_its_scheduled_delay_without_jitter() {
        let schedule = RetrySchedule::default();
        for (failed, expected) in (1..).zip(schedule.delays()) {
            assert_eq!(
                schedule.next_delay(failed, None, NO_JITTER),
                Some(*expected)
            );
        }
    }

    #[test]
    fn the_delivery_is_dead_once_the_schedule_is_exhausted() {
        let schedule = RetrySchedule::default();
        assert!(schedule.next_delay(7, None, NO_JITTER).is_some());
        assert_eq!(schedule.next_delay(8, None, NO_JITTER), None);
        assert_eq!(schedule.next_delay(100, Some(secs(1)), NO_JITTER), None);
    }

    #[test]
    fn jitter_spreads_the_delay_by_at_most_twenty_percent() {
        let schedule = RetrySchedule::default();
        let at = |jitter| schedule.next_delay(2, None, jitter).unwrap().as_secs_f64();
        let near = |got: f64, want: f64| (got - want).abs() < 1e-6;
        assert!(near(at(1.0), 360.0), "{}", at(1.0));
        assert!(near(at(0.0), 240.0), "{}", at(0.0));
        assert!(near(at(0.75), 330.0), "{}", at(0.75));
        // Out-of-range and NaN jitter cannot escape the band.
        assert!(near(at(7.0), 360.0), "{}", at(7.0));
        assert!(near(at(-7.0), 240.0), "{}", at(-7.0));
        assert_eq!(at(f64::NAN), 300.0);
    }

    #[test]
    fn retry_after_longer_than_the_schedule_is_honoured() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.next_delay(1, Some(secs(120)), NO_JITTER),
            Some(secs(120))
        );
    }

    #[test]
    fn retry_after_shorter_than_the_schedule_does_not_hurry_the_retry() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.next_delay(2, Some(secs(1)), NO_JITTER),
            Some(secs(300))
        );
        assert_eq!(
            schedule.next_delay(1, Some(Duration::ZERO), NO_JITTER),
            Some(secs(5))
        );
    }

    #[test]
    fn retry_after_is_capped_at_a_day() {
        let schedule = RetrySchedule::default();
        assert_eq!(
            schedule.next_delay(1, Some(secs(365 * 86_400)), NO_JITTER),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            schedule.next_delay(1, Some(Duration::MAX), NO_JITTER),
            Some(MAX_RETRY_AFTER)
        );
    }

    #[test]
    fn absurd_configured_delays_do_not_overflow() {
        let schedule = RetrySchedule::new(vec![Duration::MAX]).unwrap();
        assert_eq!(schedule.next_delay(1, None, 1.0), Some(Duration::MAX));
    }

    #[test]
    fn production_jitter_keeps_every_delay_in_its_band() {
        let schedule = RetrySchedule::default();
        for _ in 0..1000 {
            let delay = schedule
                .next_delay(1, None, herald_core::backoff::jitter())
                .unwrap();
            assert!(
                (Duration::from_millis(4000)..=Duration::from_millis(6000)).contains(&delay),
                "{delay:?}"
            );
        }
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("7", now), Some(secs(7)));
        assert_eq!(parse_retry_after(" 120 ", now), Some(secs(120)));
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::MAX)
        );
    }

    #[test]
    fn retry_after_reads_http_dates() {
        // 2015-10-21T07:28:00Z
        let now = SystemTime::UNIX_EPOCH + secs(1_445_412_480);
        for date in [
            "Wed, 21 Oct 2015 07:30:00 GMT",
            "Wednesday, 21-Oct-15 07:30:00 GMT",
            "Wed Oct 21 07:30:00 2015",
        ] {
            assert_eq!(parse_retry_after(date, now), Some(secs(120)), "{date}");
        }
    }

    #[test]
    fn a_retry_after_date_in_the_past_means_now() {
        let now = SystemTime::UNIX_EPOCH + secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_malformed_retry_after_is_ignored() {
        let now = SystemTime::now();
        for value in [
            "",
            "-5",
            "1.5",
            "soon",
            "5s",
            "Wed, 32 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(value, now), None, "{value:?}");
        }
    }
}
