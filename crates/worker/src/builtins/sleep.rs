//! `demo.sleep {"seconds": S = 1}`: completes after `S` seconds with `{"slept": S}`, `S` echoed
//! exactly as given (`0`, `1`, `0.25`). With `S = 0` it is the benchmark's no-op job.

use std::time::Duration;

use async_trait::async_trait;
use herald_core::JobOutput;
use serde::Deserialize;
use serde_json::{Number, json};

use crate::builtins::canceled;
use crate::handler::{Handler, HandlerError, JobContext};

/// The job type's name.
pub const NAME: &str = "demo.sleep";

/// The longest sleep accepted: an hour.
pub const MAX_SECONDS: f64 = 3600.0;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    /// Kept as the JSON number it was, so the result echoes `1` as `1` and `0.5` as `0.5`.
    #[serde(default = "one_second")]
    seconds: Number,
}

fn one_second() -> Number {
    Number::from(1u8)
}

/// How long to sleep for `seconds`, or what is wrong with it.
fn duration(seconds: &Number) -> Result<Duration, String> {
    match seconds.as_f64() {
        Some(s) if (0.0..=MAX_SECONDS).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "`seconds` must be between 0 and {MAX_SECONDS}, not {seconds}"
        )),
    }
}

/// The `demo.sleep` handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sleep;

#[async_trait]
impl Handler for Sleep {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let params: Params = ctx.payload_as()?;
        let duration = duration(&params.seconds).map_err(|e| ctx.invalid_payload(e))?;
        if !duration.is_zero() {
            tokio::select! {
                () = ctx.cancelled() => return Err(canceled()),
                () = tokio::time::sleep(duration) => {}
            }
        }
        Ok(Some(JobOutput::json(&json!({ "slept": params.seconds }))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(raw: &str) -> Number {
        serde_json::from_str(raw).unwrap()
    }

    #[test]
    fn whole_fractional_and_zero_seconds_are_accepted() {
        assert_eq!(duration(&number("2")), Ok(Duration::from_secs(2)));
        assert_eq!(duration(&number("0.25")), Ok(Duration::from_millis(250)));
        assert_eq!(duration(&number("0")), Ok(Duration::ZERO));
        assert_eq!(duration(&number("3600")), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn negative_and_overlong_sleeps_are_refused_with_the_bounds() {
        for raw in ["-1", "3600.5", "1e300"] {
            let message = duration(&number(raw)).unwrap_err();
            assert!(message.contains("between 0 and 3600"), "{message}");
        }
    }

    #[test]
    fn a_payload_without_seconds_sleeps_one_second() {
        let params: Params = serde_json::from_value(json!({})).unwrap();
        assert_eq!(params.seconds, Number::from(1u8));
    }

    #[test]
    fn unknown_fields_and_strings_are_refused() {
        assert!(serde_json::from_value::<Params>(json!({"secs": 1})).is_err());
        assert!(serde_json::from_value::<Params>(json!({"seconds": "1"})).is_err());
    }
}
