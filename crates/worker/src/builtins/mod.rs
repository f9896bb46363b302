//! The contract's built-in job types, always present, for trying Herald out and for tests.
//! Each bounds its inputs, refuses a bad payload with a permanent error saying what is wrong,
//! and stops promptly when its job is canceled.
//!
//! - [`report`]: `demo.report`, a CSV built at a set pace, with progress.
//! - [`sleep`]: `demo.sleep`, completes after a while (0 s makes it the benchmark's no-op).
//! - [`fail`]: `demo.fail`, fails with the message it was given.

pub mod fail;
pub mod report;
pub mod sleep;

use std::sync::Arc;

use herald_core::JobType;

use crate::handler::{Handler, HandlerError};

/// Every built-in job type with its handler.
pub fn all() -> Vec<(JobType, Arc<dyn Handler>)> {
    vec![
        (builtin_type(report::NAME), Arc::new(report::Report)),
        (builtin_type(sleep::NAME), Arc::new(sleep::Sleep)),
        (builtin_type(fail::NAME), Arc::new(fail::Fail)),
    ]
}

fn builtin_type(name: &'static str) -> JobType {
    // The names are constants of this module, and a unit test registers every one of them:
    // this cannot fail at run time.
    JobType::parse(name).expect("built-in job type names are valid job types")
}

/// What a built-in handler answers once its job is canceled. The worker records the job as
/// `canceled` whatever the handler returns then; this only ends the attempt early.
fn canceled() -> HandlerError {
    HandlerError::permanent("the job was canceled")
}
