//! Embedding Herald in a Rust program: a job type of your own, written in Rust, served next to
//! the built-ins and the configuration file's types, with every transport (polling, SSE,
//! webhooks) for free.
//!
//! ```sh
//! cargo run -p herald --example custom_handler -- --bind 127.0.0.1:8080
//! curl -s -X POST localhost:8080/v1/jobs -H 'content-type: application/json' \
//!      -d '{"type": "text.shout", "payload": {"text": "hello", "times": 3}}'
//! ```
//!
//! It takes every flag, `HERALD_…` variable and `--config` file the `herald` binary takes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use herald::Application;
use herald::settings::Settings;
use herald_core::{JobOutput, JobType};
use herald_worker::{Handler, HandlerError, JobContext, Registry};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// `text.shout` `{"text": "...", "times": N}`: the text in capitals, N times, one a second,
/// reporting progress as it goes.
struct Shout;

#[derive(Deserialize)]
struct ShoutPayload {
    text: String,
    #[serde(default = "one")]
    times: u8,
}

fn one() -> u8 {
    1
}

#[async_trait]
impl Handler for Shout {
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        // A payload that does not parse fails the job at once (a permanent error).
        let payload: ShoutPayload = ctx.payload_as()?;
        if payload.times == 0 {
            return Err(ctx.invalid_payload("`times` must be at least 1"));
        }
        let mut shouted = Vec::new();
        for round in 1..=payload.times {
            tokio::select! {
                // Stop promptly when a client cancels the job.
                () = ctx.cancelled() => return Err(HandlerError::permanent("canceled")),
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            shouted.push(payload.text.to_uppercase());
            let percent =
                u8::try_from(u16::from(round) * 100 / u16::from(payload.times)).unwrap_or(100);
            ctx.report(percent, format!("round {round} of {}", payload.times))
                .await;
        }
        Ok(Some(JobOutput::json(
            &serde_json::json!({ "shouted": shouted }),
        )))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_command_line()?;
    herald::telemetry::init(settings.log.format);

    let mut handlers = Registry::with_builtins();
    handlers.register(JobType::parse("text.shout")?, Arc::new(Shout));

    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                shutdown.cancel();
            }
        }
    });
    let app = Application::build_with(settings, handlers, shutdown).await?;
    tracing::info!(
        port = app.port(),
        "serving text.shout next to the built-ins"
    );
    app.run_until_stopped().await
}
