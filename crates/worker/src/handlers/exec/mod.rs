//! `exec`: runs a configured command for each attempt of a job, Unix only.
//!
//! ```toml
//! [job_types."report.build"]
//! handler = "exec"
//! command = ["python3", "/srv/reports/build.py", "--fast"]
//! env = ["PATH", "LANG"]                        # passed through from Herald's environment
//! set_env = { REPORTS_BUCKET = "s3://reports" } # fixed variables
//! working_dir = "/srv/reports"
//! result_content_type = "text/csv"
//! max_result_bytes = 16777216
//! ```
//!
//! # The protocol
//! - **Input.** The command starts without a shell, in a cleared environment holding the
//!   `env` allow-list, `set_env`, and `HERALD_JOB_ID`, `HERALD_JOB_TYPE`, `HERALD_ATTEMPT`
//!   (from 1) and `HERALD_RESULT_PATH`. The payload arrives on stdin as one line of JSON,
//!   then stdin is closed; a command that does not read it is fine.
//! - **Progress.** Each stdout line is read (up to [`MAX_LINE_BYTES`]; longer lines are
//!   skipped). A JSON object with a numeric `progress` (0 to 100, clamped and rounded) and an
//!   optional string `message` is a progress report: `{"progress": 40, "message": "row 4 of
//!   10"}`.
//! - **Result.** After exit status 0, the file at `HERALD_RESULT_PATH`, if the command wrote
//!   one, is the result, served as `result_content_type` (at most `max_result_bytes`, else
//!   the job fails). Without that file, the last stdout line that is JSON but not a progress
//!   report is the result, as compact `application/json`. Without either, the job completes
//!   without a result. Lines that are not JSON are logs, ignored.
//! - **Failure.** A non-zero exit status or a signal is a retryable error naming it, followed
//!   by the end of stderr (the last [`STDERR_TAIL_BYTES`]); a command that cannot be started
//!   fails the job at once.
//! - **Stopping.** The command runs in a process group of its own, with everything it starts.
//!   On cancel the group gets SIGTERM and the command its `cancel_grace` to exit; when the
//!   runtime gives up on the attempt (timeout, lost lease, the grace spent, shutdown) the
//!   group gets SIGKILL. Once the command exits the rest of its group is killed too: no
//!   process outlives its job.

//!
//! # Layout
//! - `settings`: [`ExecSettings`], the job type's table, and the checks made at start-up.
//! - `output`: stdout read line by line into progress and a result; the tail of stderr.
//! - `group`: the process group killed whole when an attempt ends, and its private directory.
//! - here: [`ExecHandler`], which runs one attempt with them.

mod group;
mod output;
mod settings;

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::{Job, JobOutput};
use nix::sys::signal::Signal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use self::group::{Cleanup, Group, Scratch};
use self::output::{Tail, describe_exit, failure_message, read_stdout, read_tail};
pub use self::settings::ExecSettings;
use super::SettingsError;
use crate::handler::{Handler, HandlerError, JobContext};

/// The longest stdout line read; a longer one is skipped (and logged), not the job failed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much of the end of stderr is kept for the error message of a failed command.
pub const STDERR_TAIL_BYTES: usize = 2 * 1024;

/// How long stdout and stderr are still read after the command exited and its group was
/// killed. Only a process that left the group (`setsid`) can hold them open that long; past
/// this the attempt ends without the rest of its output rather than waiting for it.
const OUTPUT_DRAIN: Duration = Duration::from_secs(5);

/// The result file's name inside the attempt's private directory.
const RESULT_FILE: &str = "result";

/// The `exec` handler: runs its command once per attempt. See the [module](self) for the
/// protocol between Herald and the command.
pub struct ExecHandler {
    settings: ExecSettings,
    /// The `env` allow-list resolved against Herald's environment at start-up: what the
    /// command gets does not change under a running install.
    inherited: Vec<(String, OsString)>,
}

impl ExecHandler {
    /// Checks `settings` and resolves the `env` allow-list against Herald's environment.
    ///
    /// # Errors
    /// A [`SettingsError::Invalid`] naming the key that cannot work: an empty `command`, a
    /// variable name that is empty, holds `=` or is one Herald sets itself, a NUL byte in an
    /// argument or value, a `working_dir` that is not a directory, a `result_content_type`
    /// that is not `type/subtype`, or a `max_result_bytes` out of bounds.
    pub fn new(settings: ExecSettings) -> Result<Self, SettingsError> {
        settings.check()?;
        let inherited = settings
            .env
            .iter()
            .filter_map(|name| std::env::var_os(name).map(|value| (name.clone(), value)))
            .collect();
        Ok(Self {
            settings,
            inherited,
        })
    }

    fn program(&self) -> &str {
        self.settings.command.first().map_or("", String::as_str)
    }

    /// The command of one attempt, its environment built from scratch.
    fn command(&self, job: &Job, result_path: &Path) -> Command {
        let mut command = Command::new(self.program());
        command
            .args(self.settings.command.iter().skip(1))
            .env_clear()
            .envs(self.inherited.iter().map(|(name, value)| (name, value)))
            .envs(&self.settings.set_env)
            .env("HERALD_JOB_ID", job.id.to_string())
            .env("HERALD_JOB_TYPE", job.job_type.as_str())
            .env("HERALD_ATTEMPT", job.attempt.to_string())
            .env("HERALD_RESULT_PATH", result_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own (its id is the command's pid): whatever the command starts
            // can be signalled with it, and a terminal's ctrl-c to Herald does not reach it.
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &self.settings.working_dir {
            command.current_dir(dir);
        }
        command
    }

    /// The file the command left at `HERALD_RESULT_PATH`, if any.
    async fn result_file(&self, path: &Path) -> Result<Option<JobOutput>, HandlerError> {
        let limit = self.settings.max_result_bytes;
        // Non-blocking: opening a FIFO left there would otherwise wait for a writer forever.
        let opened = tokio::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
            .await;
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(HandlerError::retryable(format!(
                    "cannot open the result file: {e}"
                )));
            }
        };
        let metadata = file.metadata().await.map_err(|e| {
            HandlerError::retryable(format!("cannot read the result file's size: {e}"))
        })?;
        if !metadata.is_file() {
            return Err(HandlerError::permanent(
                "the command left something other than a regular file at HERALD_RESULT_PATH",
            ));
        }
        let too_large = |size: u64| {
            HandlerError::permanent(format!(
                "the result file is {size} bytes, more than max_result_bytes ({limit} bytes)"
            ))
        };
        if metadata.len() > limit as u64 {
            return Err(too_large(metadata.len()));
        }
        let mut body = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(limit));
        // Bounded again while reading: the size checked is only what the file had then.
        file.take(limit as u64 + 1)
            .read_to_end(&mut body)
            .await
            .map_err(|e| HandlerError::retryable(format!("cannot read the result file: {e}")))?;
        if body.len() > limit {
            return Err(too_large(body.len() as u64));
        }
        Ok(Some(JobOutput {
            content_type: self.settings.result_content_type.clone(),
            body,
        }))
    }
}

impl fmt::Debug for ExecHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecHandler")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Handler for ExecHandler {
    #[tracing::instrument(name = "exec", skip_all, fields(program = %self.program()))]
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let payload = serde_json::to_vec(ctx.payload())
            .map_err(|e| HandlerError::permanent(format!("cannot encode the payload: {e}")))?;
        // A plain `mkdir`, blocking but brief.
        let scratch = Scratch::create(ctx.job()).map_err(|e| {
            HandlerError::retryable(format!(
                "cannot create the attempt's temporary directory: {e}"
            ))
        })?;
        let result_path = scratch.path().join(RESULT_FILE);
        let mut child = self
            .command(ctx.job(), &result_path)
            .spawn()
            .map_err(|e| cannot_start(self.program(), e))?;
        // From here on, dropping this future (timeout, lost lease, the cancel grace spent,
        // shutdown) kills the whole group before the directory is removed.
        let mut cleanup = Cleanup {
            group: Group::of(&child),
            _scratch: scratch,
        };
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        let exited = CancellationToken::new();
        let mut last_json = None;
        let mut stderr_tail = Tail::new(STDERR_TAIL_BYTES);
        let waiting = async {
            let status = wait_or_terminate(&mut child, &ctx, &cleanup.group).await;
            // The command is gone: so is everything it started, which also closes the pipes
            // its background children still held.
            cleanup.group.kill();
            exited.cancel();
            status
        };
        let streams = async {
            let all = async {
                tokio::join!(
                    feed_stdin(stdin, &payload),
                    read_stdout(stdout, &ctx, &mut last_json),
                    read_tail(stderr, &mut stderr_tail),
                )
            };
            tokio::select! {
                _ = all => {}
                () = drain_deadline(&exited) => {
                    warn!(
                        drain = ?OUTPUT_DRAIN,
                        "the command's output stayed open after it exited (a process outside \
                         its group holds it); stopped reading it"
                    );
                }
            }
        };
        let (status, ()) = tokio::join!(waiting, streams);
        let status = status.map_err(|e| {
            HandlerError::retryable(format!("cannot wait for `{}`: {e}", self.program()))
        })?;
        if ctx.is_cancelled() {
            // The runtime records the job canceled whatever this says.
            return Err(HandlerError::permanent(format!(
                "the job was canceled; the command {}",
                describe_exit(status)
            )));
        }
        if !status.success() {
            return Err(HandlerError::retryable(failure_message(
                status,
                &stderr_tail.text(),
            )));
        }
        if let Some(output) = self.result_file(&result_path).await? {
            return Ok(Some(output));
        }
        Ok(last_json.map(|value| JobOutput::json(&value)))
    }
}

/// The permanent error of a command that cannot be started: another attempt would not find
/// the program either.
fn cannot_start(program: &str, e: io::Error) -> HandlerError {
    HandlerError::permanent(format!("cannot start `{program}`: {e}"))
}

/// Waits for the command to exit; once the job is canceled, asks its group to stop first.
async fn wait_or_terminate(
    child: &mut Child,
    ctx: &JobContext,
    group: &Group,
) -> io::Result<ExitStatus> {
    tokio::select! {
        status = child.wait() => status,
        () = ctx.cancelled() => {
            debug!("job canceled: sending SIGTERM to the command's process group");
            group.signal(Signal::SIGTERM);
            // A command that ignores SIGTERM is dropped by the runtime after `cancel_grace`,
            // and its group is killed then.
            child.wait().await
        }
    }
}

/// Completes [`OUTPUT_DRAIN`] after the command exited.
async fn drain_deadline(exited: &CancellationToken) {
    exited.cancelled().await;
    tokio::time::sleep(OUTPUT_DRAIN).await;
}

/// Writes the payload and a newline to the command's stdin, then closes it.
async fn feed_stdin(stdin: Option<ChildStdin>, payload: &[u8]) {
    let Some(mut stdin) = stdin else { return };
    let written = async {
        stdin.write_all(payload).await?;
        stdin.write_all(b"\n").await?;
        stdin.shutdown().await
    }
    .await;
    match written {
        Ok(()) => {}
        // The command exited or closed its stdin without reading the payload: its choice.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            debug!("the command did not read its payload");
        }
        Err(e) => warn!(error = %e, "cannot write the payload to the command's stdin"),
    }
}
