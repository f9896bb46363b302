//! `demo.fail {"message": "..."}`: fails at once, permanently, with that message (recorded
//! with code `handler_error`), to show what a failed job looks like on every transport.

use async_trait::async_trait;
use herald_core::JobOutput;
use serde::Deserialize;

use crate::handler::{Handler, HandlerError, JobContext};

/// The job type's name.
pub const NAME: &str = "demo.fail";

/// The message when the payload names none.
pub const DEFAULT_MESSAGE: &str = "demo.fail failed, as it was asked to";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    DEFAULT_MESSAGE.to_owned()
}

/// The `demo.fail` handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fail;

#[async_trait]
impl Handler for Fail {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let params: Params = ctx.payload_as()?;
        Err(HandlerError::permanent(params.message))
    }
}
