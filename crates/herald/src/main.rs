//! The `herald` binary: load config, init tracing (and lift the open files limit), bind,
//! supervise the roles until a signal. `herald keys …` manages API keys instead, and
//! `herald jobs|webhooks|sources …` are clients of a running Herald.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::Context;
use herald::Application;
use herald::settings::Invocation;
use tokio_util::sync::CancellationToken;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let settings = match Invocation::from_command_line()? {
        Invocation::Serve(settings) => *settings,
        Invocation::Keys(args) => {
            herald::keys::run(args, &mut std::io::stdout(), &mut std::io::stderr()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Client(command) => return Ok(herald::client::run(command).await),
    };
    herald::telemetry::init(settings.log.format);
    herald::raise_open_files_limit();
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let app = Application::build(settings, shutdown)
        .await
        .context("failed to start herald")?;
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// The first SIGTERM or ctrl-c starts a graceful shutdown; a second one exits at once.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        tracing::error!("cannot listen for SIGTERM; stop herald with ctrl-c");
        return;
    };
    for round in 0..2 {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        if round == 0 {
            tracing::info!(
                "shutting down: no new work is taken, running jobs finish or are handed back"
            );
            shutdown.cancel();
        }
    }
    tracing::warn!("second signal: exiting at once");
    std::process::exit(130);
}
