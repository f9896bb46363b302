//! `demo.report {"rows": N = 1000, "rows_per_second": R = 500}`: builds a CSV of `N` rows at
//! about `R` rows per second, reporting progress ("row X of N") as it goes, and completes with
//! the CSV (`text/csv`: a header line, then one line per row).

use std::fmt::Write as _;
use std::time::Duration;

use async_trait::async_trait;
use herald_core::JobOutput;
use serde::Deserialize;
use tokio::time::Instant;

use crate::builtins::canceled;
use crate::handler::{Handler, HandlerError, JobContext};

/// The job type's name.
pub const NAME: &str = "demo.report";

/// The result's media type.
pub const CONTENT_TYPE: &str = "text/csv";

/// The CSV's first line.
pub const HEADER: &str = "row,value\n";

/// The most rows one report may have: about 14 MB of CSV, under the store's default 16 MiB
/// result limit.
pub const MAX_ROWS: u64 = 1_000_000;

/// The fastest pace accepted.
pub const MAX_ROWS_PER_SECOND: u64 = 1_000_000;

/// The least time between two wake-ups of the handler, each writing the rows that are due
/// and reporting once: a few progress reports per second at most.
const TICK: Duration = Duration::from_millis(200);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_rows")]
    rows: u64,
    #[serde(default = "default_rows_per_second")]
    rows_per_second: u64,
}

fn default_rows() -> u64 {
    1000
}

fn default_rows_per_second() -> u64 {
    500
}

impl Params {
    /// The parameters if they are within bounds, or what is wrong with them.
    fn check(self) -> Result<Self, String> {
        if self.rows > MAX_ROWS {
            return Err(format!(
                "`rows` must be at most {MAX_ROWS}, not {}",
                self.rows
            ));
        }
        if !(1..=MAX_ROWS_PER_SECOND).contains(&self.rows_per_second) {
            return Err(format!(
                "`rows_per_second` must be between 1 and {MAX_ROWS_PER_SECOND}, not {}",
                self.rows_per_second
            ));
        }
        Ok(self)
    }
}

/// How many rows are due `elapsed` after the start at `rate` rows per second.
fn rows_due(elapsed: Duration, rate: u64) -> u64 {
    // Float maths is exact enough here: the bounds keep the product far below 2^53.
    (elapsed.as_secs_f64() * rate as f64).floor() as u64
}

/// When the row after `written` is due.
fn next_row_at(started: Instant, written: u64, rate: u64) -> Instant {
    started + Duration::from_secs_f64((written + 1) as f64 / rate as f64)
}

/// How far `done` of `total` rows is, in percent (an empty report is done at once).
fn percent(done: u64, total: u64) -> u8 {
    (done.min(total) * 100)
        .checked_div(total)
        .and_then(|p| u8::try_from(p).ok())
        .unwrap_or(100)
}

/// Appends row `row` to the CSV: its number and a value derived from it, so the content is
/// deterministic and checkable.
fn push_row(csv: &mut String, row: u64) {
    // Writing into a String cannot fail.
    let _ = writeln!(csv, "{row},{}", row * 7919 % 10007);
}

/// The `demo.report` handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Report;

#[async_trait]
impl Handler for Report {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let params: Params = ctx.payload_as()?;
        let Params {
            rows,
            rows_per_second: rate,
        } = params.check().map_err(|e| ctx.invalid_payload(e))?;
        let mut csv = String::with_capacity(HEADER.len() + 14 * rows as usize);
        csv.push_str(HEADER);
        let started = Instant::now();
        let mut written = 0;
        loop {
            let due = rows_due(started.elapsed(), rate).min(rows);
            for row in written + 1..=due {
                push_row(&mut csv, row);
            }
            written = written.max(due);
            ctx.report(percent(written, rows), format!("row {written} of {rows}"))
                .await;
            if written == rows {
                break;
            }
            let wake = next_row_at(started, written, rate).max(Instant::now() + TICK);
            tokio::select! {
                () = ctx.cancelled() => return Err(canceled()),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
        Ok(Some(JobOutput {
            content_type: CONTENT_TYPE.to_owned(),
            body: csv.into_bytes(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(payload: serde_json::Value) -> Result<Params, String> {
        serde_json::from_value::<Params>(payload)
            .map_err(|e| e.to_string())
            .and_then(Params::check)
    }

    #[test]
    fn an_empty_payload_asks_for_a_thousand_rows_at_five_hundred_a_second() {
        assert_eq!(
            params(json!({})),
            Ok(Params {
                rows: 1000,
                rows_per_second: 500
            })
        );
    }

    #[test]
    fn out_of_bounds_and_unknown_parameters_are_refused_with_a_reason() {
        let too_many = params(json!({"rows": MAX_ROWS + 1})).unwrap_err();
        assert!(
            too_many.contains("`rows` must be at most 1000000"),
            "{too_many}"
        );
        let standstill = params(json!({"rows_per_second": 0})).unwrap_err();
        assert!(
            standstill.contains("`rows_per_second` must be between 1"),
            "{standstill}"
        );
        let negative = params(json!({"rows": -5})).unwrap_err();
        assert!(negative.contains("invalid value"), "{negative}");
        let unknown = params(json!({"columns": 3})).unwrap_err();
        assert!(unknown.contains("unknown field `columns`"), "{unknown}");
    }

    #[test]
    fn rows_fall_due_at_the_requested_pace() {
        assert_eq!(rows_due(Duration::ZERO, 500), 0);
        assert_eq!(rows_due(Duration::from_millis(200), 500), 100);
        assert_eq!(rows_due(Duration::from_secs(2), 500), 1000);
        let start = Instant::now();
        assert_eq!(next_row_at(start, 0, 4), start + Duration::from_millis(250));
        assert_eq!(next_row_at(start, 3, 4), start + Duration::from_secs(1));
    }

    #[test]
    fn percent_counts_done_rows_and_an_empty_report_is_complete() {
        assert_eq!(percent(0, 1000), 0);
        assert_eq!(percent(499, 1000), 49);
        assert_eq!(percent(1000, 1000), 100);
        assert_eq!(percent(0, 0), 100);
    }

    #[test]
    fn the_largest_report_fits_the_default_result_limit() {
        let mut csv = String::from(HEADER);
        push_row(&mut csv, MAX_ROWS);
        assert!(csv.len() - HEADER.len() <= 14);
        assert!(HEADER.len() + 14 * MAX_ROWS as usize <= 16 * 1024 * 1024);
    }
}
