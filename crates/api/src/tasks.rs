//! The background tasks of one server (the hub's fan-out and key re-checks, the upkeep of the
//! external workers' queues, the stop on shutdown), run under supervision instead of
//! detached: one that panics, or ends while the process is not shutting down, fails the server
//! future with its name and cause, so the binary logs it, stops its other roles and exits with
//! a non-zero code for the orchestrator to restart it. A restart inside the process would have
//! to rebuild what the task held (every subscriber of the hub, say) and could hide a bug that
//! strikes again at once; a new process starts clean.

use std::any::Any;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Named tasks, each expected to run until `shutdown`.
pub(crate) struct Tasks {
    running: JoinSet<(&'static str, Option<String>)>,
    shutdown: CancellationToken,
}

impl Tasks {
    pub(crate) fn new(shutdown: CancellationToken) -> Self {
        Self {
            running: JoinSet::new(),
            shutdown,
        }
    }

    /// Runs `task`, called `name` in what is logged if it fails. Call within a Tokio runtime.
    pub(crate) fn spawn(
        &mut self,
        name: &'static str,
        task: impl Future<Output = ()> + Send + 'static,
    ) {
        self.running.spawn(async move {
            let panic = AssertUnwindSafe(task).catch_unwind().await.err();
            (name, panic.map(|payload| panic_message(payload.as_ref())))
        });
    }

    /// Waits for the first task to fail: to panic, or to end before shutdown. Tasks that end
    /// after shutdown was asked for are done; with none left this never returns.
    pub(crate) async fn failure(&mut self) -> io::Error {
        while let Some(joined) = self.running.join_next().await {
            let failure = match joined {
                Ok((name, Some(panic))) => format!("the {name} panicked: {panic}"),
                Ok((_, None)) if self.shutdown.is_cancelled() => continue,
                Ok((name, None)) => format!("the {name} ended while the server was running"),
                Err(e) => format!("a background task failed: {e}"),
            };
            tracing::error!(failure, "background task failed");
            return io::Error::other(failure);
        }
        std::future::pending().await
    }
}

/// What a panic said, when it said it as text.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_fails_with_its_name_and_message() {
        let mut tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("quiet one", std::future::pending());
        tasks.spawn("hub", async { panic!("lost the thread") });
        let failure = tasks.failure().await.to_string();
        assert_eq!(failure, "the hub panicked: lost the thread");
    }

    #[tokio::test]
    async fn a_task_that_ends_before_shutdown_fails() {
        let mut tasks = Tasks::new(CancellationToken::new());
        tasks.spawn("maintenance", async {});
        let failure = tasks.failure().await.to_string();
        assert_eq!(
            failure,
            "the maintenance ended while the server was running"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_that_end_at_shutdown_are_done() {
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new(shutdown.clone());
        let token = shutdown.clone();
        tasks.spawn("stop waiter", async move { token.cancelled().await });
        shutdown.cancel();
        let waited = tokio::time::timeout(Duration::from_millis(200), tasks.failure()).await;
        assert!(waited.is_err(), "no failure to report");
    }
}
