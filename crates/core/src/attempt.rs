//! How an attempt ends: the one rule that Herald's own workers and the external workers'
//! service both apply when an attempt stops, so a job ends the same way whoever ran it.
//!
//! The caller says how the attempt stopped ([`Ending`]) and whether a client asked for the job
//! to be canceled; [`conclude`] answers the one final write that calls for ([`Conclusion`]):
//! - a cancel request, once known, wins over whatever the attempt did (a result that arrives
//!   after it is dropped; handing a canceled job back would only have the next worker cancel
//!   it);
//! - a timeout counts as an attempt like a retryable failure (code `timeout`);
//! - a retryable failure is retried while attempts remain, after the job type's
//!   [`RetryPolicy`] delay (with the one jitter of [`crate::backoff`]); otherwise the job fails
//!   for good;
//! - a lost lease writes nothing: the job has moved on without this worker.
//!
//! The callers resolve the policy the same way: the job type's own, else
//! [`RetryPolicy::default`] (one second, doubling up to five minutes).

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::backoff::RetryPolicy;
use crate::job::{ErrorCode, Job, JobError};

/// How an attempt stopped, as its worker saw it.
#[derive(Debug, Clone, PartialEq)]
pub enum Ending {
    /// The work is done: the handler returned its output (which the caller keeps, to write
    /// if the conclusion is [`Conclusion::Complete`]).
    Succeeded,
    /// The work failed; `retryable` says whether another attempt may do better.
    Failed { error: JobError, retryable: bool },
    /// The attempt ran past the job's timeout.
    TimedOut,
    /// The handler stopped, or was dropped, after a cancel request.
    Canceled,
    /// The worker is stopping and hands the job back unfinished.
    Released,
    /// The lease is gone: another worker owns the job now, or it ended meanwhile.
    Lost,
}

/// The final write an attempt calls for.
#[derive(Debug, Clone, PartialEq)]
pub enum Conclusion {
    /// The job completed, with the attempt's output.
    Complete,
    /// The attempt failed with `error`; the job is pending again and offered after `after`.
    Retry { error: JobError, after: Duration },
    /// The job failed for good with `error`.
    Fail(JobError),
    /// The job is canceled (the cancel request acknowledged).
    Cancel,
    /// The job is pending again at once, the attempt not counted.
    Release,
    /// Nothing to write: the job is no longer this worker's.
    Abandon,
}

/// The final write for an attempt of `job` (the job as leased: processing, its `attempt` the
/// one that ran) that stopped as `ending`, when a cancel of the job was requested or not, with
/// `policy` for the delay before a retry.
pub fn conclude(
    job: &Job,
    ending: Ending,
    cancel_requested: bool,
    policy: &RetryPolicy,
) -> Conclusion {
    match ending {
        Ending::Lost => Conclusion::Abandon,
        _ if cancel_requested => Conclusion::Cancel,
        Ending::Canceled => Conclusion::Cancel,
        Ending::Succeeded => Conclusion::Complete,
        Ending::Released => Conclusion::Release,
        Ending::TimedOut => retry_or_fail(job, timeout_error(job), true, policy),
        Ending::Failed { error, retryable } => retry_or_fail(job, error, retryable, policy),
    }
}

/// The error of an attempt that ran past the job's timeout.
pub fn timeout_error(job: &Job) -> JobError {
    JobError::new(
        ErrorCode::Timeout,
        format!(
            "the attempt ran longer than the job's timeout of {} s",
            job.timeout_s
        ),
    )
}

/// When the job's current attempt runs out of time: its start plus the job's timeout; `None`
/// before it started (or when the sum is past what a timestamp holds).
pub fn deadline(job: &Job) -> Option<DateTime<Utc>> {
    let timeout = TimeDelta::try_seconds(i64::try_from(job.timeout_s).ok()?)?;
    job.started_at?.checked_add_signed(timeout)
}

/// Whether the job's current attempt is past its deadline at `now`.
pub fn is_overdue(job: &Job, now: DateTime<Utc>) -> bool {
    deadline(job).is_some_and(|at| now > at)
}

/// Whether another attempt may follow the job's current one.
pub fn attempts_remain(job: &Job) -> bool {
    job.attempt < job.max_attempts
}

fn retry_or_fail(job: &Job, error: JobError, retryable: bool, policy: &RetryPolicy) -> Conclusion {
    if retryable && attempts_remain(job) {
        Conclusion::Retry {
            error,
            after: policy.delay(job.attempt),
        }
    } else {
        Conclusion::Fail(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::RETRY_JITTER;
    use crate::ids::JobId;
    use crate::job::JobStatus;
    use crate::testing::new_job;

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(2),
        max: Duration::from_secs(60),
    };

    /// A job as leased for its `attempt` of `max_attempts`, started at `started_at`.
    fn leased(attempt: u32, max_attempts: u32, started_at: DateTime<Utc>) -> Job {
        let mut new = new_job("demo.sleep");
        new.max_attempts = max_attempts;
        let (mut job, _) = Job::create(JobId::generate(), &new, started_at);
        job.status = JobStatus::Processing;
        job.attempt = attempt;
        job.started_at = Some(started_at);
        job
    }

    fn failure(retryable: bool) -> Ending {
        Ending::Failed {
            error: JobError::new(ErrorCode::HandlerError, "flaky"),
            retryable,
        }
    }

    /// Every ending an attempt can have, the lost lease aside.
    fn endings() -> Vec<Ending> {
        vec![
            Ending::Succeeded,
            failure(true),
            failure(false),
            Ending::TimedOut,
            Ending::Canceled,
            Ending::Released,
        ]
    }

    #[test]
    fn a_cancel_request_wins_over_whatever_the_attempt_did() {
        let job = leased(1, 3, Utc::now());
        for ending in endings() {
            assert_eq!(
                conclude(&job, ending.clone(), true, &POLICY),
                Conclusion::Cancel,
                "{ending:?} with a cancel requested"
            );
        }
    }

    #[test]
    fn a_lost_lease_writes_nothing_even_when_a_cancel_was_requested() {
        let job = leased(1, 3, Utc::now());
        for cancel_requested in [false, true] {
            assert_eq!(
                conclude(&job, Ending::Lost, cancel_requested, &POLICY),
                Conclusion::Abandon
            );
        }
    }

    #[test]
    fn without_a_cancel_request_each_ending_has_its_own_write() {
        let job = leased(1, 3, Utc::now());
        let conclude = |ending| conclude(&job, ending, false, &POLICY);
        assert_eq!(conclude(Ending::Succeeded), Conclusion::Complete);
        assert_eq!(conclude(Ending::Released), Conclusion::Release);
        assert_eq!(conclude(Ending::Canceled), Conclusion::Cancel);
        assert_eq!(
            conclude(failure(false)),
            Conclusion::Fail(JobError::new(ErrorCode::HandlerError, "flaky"))
        );
        assert!(matches!(
            conclude(failure(true)),
            Conclusion::Retry { error, .. } if error.code == ErrorCode::HandlerError
        ));
    }

    #[test]
    fn a_timeout_counts_as_an_attempt_and_is_retried_while_attempts_remain() {
        let job = leased(1, 2, Utc::now());
        match conclude(&job, Ending::TimedOut, false, &POLICY) {
            Conclusion::Retry { error, .. } => {
                assert_eq!(error.code, ErrorCode::Timeout);
                assert_eq!(
                    error.message,
                    "the attempt ran longer than the job's timeout of 5 s"
                );
            }
            other => panic!("expected a retry, got {other:?}"),
        }
        let last = leased(2, 2, Utc::now());
        assert_eq!(
            conclude(&last, Ending::TimedOut, false, &POLICY),
            Conclusion::Fail(timeout_error(&last))
        );
    }

    #[test]
    fn no_retry_when_the_attempts_are_exhausted() {
        for (attempt, max_attempts) in [(1, 1), (3, 3), (4, 3)] {
            let job = leased(attempt, max_attempts, Utc::now());
            assert!(!attempts_remain(&job));
            assert!(matches!(
                conclude(&job, failure(true), false, &POLICY),
                Conclusion::Fail(_)
            ));
        }
    }

    #[test]
    fn the_retry_delay_grows_with_the_attempt_within_its_jitter_and_cap() {
        for attempt in 1..=10 {
            let job = leased(attempt, 20, Utc::now());
            let exponential = POLICY
                .base
                .saturating_mul(2u32.pow(attempt - 1))
                .min(POLICY.max);
            let low = exponential.mul_f64(1.0 - RETRY_JITTER);
            let high = exponential.mul_f64(1.0 + RETRY_JITTER).min(POLICY.max);
            for _ in 0..20 {
                let Conclusion::Retry { after, .. } = conclude(&job, failure(true), false, &POLICY)
                else {
                    panic!("attempt {attempt} of 20 was not retried");
                };
                assert!(
                    (low..=high).contains(&after),
                    "attempt {attempt}: {after:?} outside {low:?}..={high:?}"
                );
            }
        }
    }

    #[test]
    fn an_attempt_is_overdue_only_after_its_start_plus_the_timeout() {
        let started = Utc::now();
        let job = leased(1, 1, started);
        assert_eq!(deadline(&job), Some(started + TimeDelta::seconds(5)));
        assert!(!is_overdue(&job, started + TimeDelta::seconds(5)));
        assert!(is_overdue(&job, started + TimeDelta::milliseconds(5001)));
        let mut unstarted = job.clone();
        unstarted.started_at = None;
        assert_eq!(deadline(&unstarted), None);
        assert!(!is_overdue(&unstarted, started + TimeDelta::days(1)));
        let mut endless = job;
        endless.timeout_s = u64::MAX;
        assert!(!is_overdue(&endless, started + TimeDelta::days(365)));
    }
}
