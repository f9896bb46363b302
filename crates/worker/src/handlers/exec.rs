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

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use herald_core::job::MAX_MESSAGE_BYTES;
use herald_core::{Job, JobOutput};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio_util::sync::CancellationToken;
use tracing::{debug, trace, warn};

use super::{DEFAULT_MAX_RESULT_BYTES, SettingsError, check_result_bound, is_content_type};
use crate::handler::{Handler, HandlerError, JobContext};

/// The longest stdout line read; a longer one is skipped (and logged), not the job failed.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How much of the end of stderr is kept for the error message of a failed command.
pub const STDERR_TAIL_BYTES: usize = 2 * 1024;

/// How long stdout and stderr are still read after the command exited and its group was
/// killed. Only a process that left the group (`setsid`) can hold them open that long; past
/// this the attempt ends without the rest of its output rather than waiting for it.
const OUTPUT_DRAIN: Duration = Duration::from_secs(5);

/// The variables Herald sets itself; the settings may not name them.
const RESERVED_VARIABLES: [&str; 4] = [
    "HERALD_JOB_ID",
    "HERALD_JOB_TYPE",
    "HERALD_ATTEMPT",
    "HERALD_RESULT_PATH",
];

/// The result file's name inside the attempt's private directory.
const RESULT_FILE: &str = "result";

/// The settings of one `exec` job type: the keys of its `[job_types."name"]` table (less the
/// ones every job type shares).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecSettings {
    /// The program and its arguments, run as they are, without a shell. A program name without
    /// a `/` is looked up in the command's `PATH`. Required, not empty.
    pub command: Vec<String>,
    /// The names of the variables passed through from Herald's own environment, with their
    /// values as they were when the handler was built; the command gets no others (but
    /// `set_env` and Herald's own). Default `["PATH"]`.
    #[serde(default = "default_env")]
    pub env: Vec<String>,
    /// Variables with fixed values, set after the passed-through ones (so they win). Default
    /// none. Their values are kept out of logs.
    #[serde(default)]
    pub set_env: BTreeMap<String, String>,
    /// Where the command runs; it must be a directory when the handler is built. Default:
    /// Herald's own working directory.
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    /// The content type of a result the command writes to `HERALD_RESULT_PATH`. Default
    /// `application/octet-stream`.
    #[serde(default = "default_result_content_type")]
    pub result_content_type: String,
    /// The largest result file accepted; a larger one fails the job. Default 16 MiB, at most
    /// [`super::MAX_RESULT_BYTES_CEILING`]. (The store's own result limit applies as well.)
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: usize,
}

fn default_env() -> Vec<String> {
    vec!["PATH".to_owned()]
}

fn default_result_content_type() -> String {
    "application/octet-stream".to_owned()
}

fn default_max_result_bytes() -> usize {
    DEFAULT_MAX_RESULT_BYTES
}

impl ExecSettings {
    /// Settings that run `command` with every other setting at its default.
    pub fn new(command: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            command: command.into_iter().map(Into::into).collect(),
            env: default_env(),
            set_env: BTreeMap::new(),
            working_dir: None,
            result_content_type: default_result_content_type(),
            max_result_bytes: default_max_result_bytes(),
        }
    }
}

impl fmt::Debug for ExecSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `set_env` often carries tokens: its names are shown, its values never.
        f.debug_struct("ExecSettings")
            .field("command", &self.command)
            .field("env", &self.env)
            .field("set_env", &self.set_env.keys().collect::<Vec<_>>())
            .field("working_dir", &self.working_dir)
            .field("result_content_type", &self.result_content_type)
            .field("max_result_bytes", &self.max_result_bytes)
            .finish()
    }
}

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
        match settings.command.first() {
            None => {
                return Err(SettingsError::invalid(
                    "command",
                    "must name a program: [\"program\", \"argument\", …]",
                ));
            }
            Some(program) if program.is_empty() => {
                return Err(SettingsError::invalid(
                    "command",
                    "must start with a program name, not an empty string",
                ));
            }
            Some(_) => {}
        }
        if settings.command.iter().any(|arg| arg.contains('\0')) {
            return Err(SettingsError::invalid(
                "command",
                "must not contain NUL bytes",
            ));
        }
        for name in &settings.env {
            check_variable_name("env", name)?;
        }
        for (name, value) in &settings.set_env {
            let key = format!("set_env.{name}");
            check_variable_name(&key, name)?;
            if value.contains('\0') {
                return Err(SettingsError::invalid(key, "must not contain NUL bytes"));
            }
        }
        if let Some(dir) = &settings.working_dir
            && !dir.is_dir()
        {
            return Err(SettingsError::invalid(
                "working_dir",
                format!("`{}` is not a directory", dir.display()),
            ));
        }
        if !is_content_type(&settings.result_content_type) {
            return Err(SettingsError::invalid(
                "result_content_type",
                format!(
                    "must be a content type like `text/csv`, not `{}`",
                    settings.result_content_type
                ),
            ));
        }
        check_result_bound("max_result_bytes", settings.max_result_bytes)?;
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

/// Reads stdout line by line: reports progress, keeps the last JSON result.
async fn read_stdout(
    stdout: Option<impl AsyncRead + Unpin>,
    ctx: &JobContext,
    last_json: &mut Option<Value>,
) {
    let Some(stdout) = stdout else { return };
    let mut lines = LineReader::new(BufReader::new(stdout), MAX_LINE_BYTES);
    loop {
        match lines.next_line().await {
            Ok(Some(Line::Complete(line))) => match parse_line(line) {
                Parsed::Progress { percent, message } => ctx.report(percent, message).await,
                Parsed::Result(value) => *last_json = Some(value),
                Parsed::Text => {
                    trace!(line = %String::from_utf8_lossy(line), "command output");
                }
            },
            Ok(Some(Line::TooLong)) => {
                warn!(
                    limit = MAX_LINE_BYTES,
                    "skipped a line of the command's stdout longer than the limit"
                );
            }
            Ok(None) => return,
            Err(e) => {
                warn!(error = %e, "cannot read the command's stdout");
                return;
            }
        }
    }
}

/// Reads a stream to its end, keeping its tail.
async fn read_tail(stream: Option<impl AsyncRead + Unpin>, tail: &mut Tail) {
    let Some(mut stream) = stream else { return };
    let mut buffer = vec![0; 8 * 1024];
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => return,
            Ok(n) => tail.push(&buffer[..n]),
            Err(e) => {
                warn!(error = %e, "cannot read the command's stderr");
                return;
            }
        }
    }
}

/// What one stdout line means.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// `{"progress": 40, "message": "…"}`.
    Progress { percent: u8, message: String },
    /// Any other JSON: a candidate for the result (the last one wins).
    Result(Value),
    /// Not JSON: a log line.
    Text,
}

fn parse_line(line: &[u8]) -> Parsed {
    let Ok(value) = serde_json::from_slice::<Value>(line) else {
        return Parsed::Text;
    };
    let progress = value
        .as_object()
        .and_then(|object| object.get("progress"))
        .and_then(Value::as_f64);
    match progress {
        Some(progress) => Parsed::Progress {
            percent: percent(progress),
            message: value
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        },
        None => Parsed::Result(value),
    }
}

/// A reported progress as a whole percentage, clamped to 0–100.
fn percent(raw: f64) -> u8 {
    // In range after the clamp, so the cast neither wraps nor saturates.
    raw.clamp(0.0, 100.0).round() as u8
}

/// One line from a [`LineReader`].
#[derive(Debug, PartialEq)]
enum Line<'a> {
    /// The line without its `\n` (or `\r\n`).
    Complete(&'a [u8]),
    /// A line longer than the limit, skipped whole.
    TooLong,
}

/// Splits a stream into lines of bounded length, so a command printing megabytes without a
/// newline costs a bounded buffer, and skips over a long line rather than stopping (a
/// command whose stdout is no longer read would block on its next write).
struct LineReader<R> {
    inner: R,
    max: usize,
    line: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            max,
            line: Vec::new(),
        }
    }

    /// The next line, `None` at the end of the stream.
    async fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // The end: a last line without its newline still counts.
                return Ok(if too_long {
                    Some(Line::TooLong)
                } else if self.line.is_empty() {
                    None
                } else {
                    Some(Line::Complete(trim_cr(&self.line)))
                });
            }
            let newline = available.iter().position(|&b| b == b'\n');
            let chunk = &available[..newline.unwrap_or(available.len())];
            if !too_long {
                if self.line.len() + chunk.len() > self.max {
                    too_long = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(chunk);
                }
            }
            let used = newline.map_or(available.len(), |at| at + 1);
            self.inner.consume(used);
            if newline.is_some() {
                return Ok(Some(if too_long {
                    Line::TooLong
                } else {
                    Line::Complete(trim_cr(&self.line))
                }));
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The last bytes of a stream.
struct Tail {
    bytes: Vec<u8>,
    max: usize,
    /// Bytes were dropped from the front: the first ones kept may be half a character.
    cut: bool,
}

impl Tail {
    fn new(max: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(max),
            max,
            cut: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        let overflow = (self.bytes.len() + chunk.len()).saturating_sub(self.max);
        if overflow == 0 {
            self.bytes.extend_from_slice(chunk);
            return;
        }
        self.cut = true;
        if chunk.len() >= self.max {
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&chunk[chunk.len() - self.max..]);
        } else {
            self.bytes.drain(..overflow);
            self.bytes.extend_from_slice(chunk);
        }
    }

    /// The tail as text (invalid UTF-8 replaced), without surrounding whitespace.
    fn text(&self) -> String {
        let start = if self.cut {
            // Skip UTF-8 continuation bytes left by the cut.
            self.bytes
                .iter()
                .position(|b| b & 0xC0 != 0x80)
                .unwrap_or(self.bytes.len())
        } else {
            0
        };
        String::from_utf8_lossy(&self.bytes[start..])
            .trim()
            .to_owned()
    }
}

/// `command exited with status N: <end of stderr>`, within [`MAX_MESSAGE_BYTES`]: the end of
/// stderr is kept, since that is where a program says why it gave up (the store would cut
/// the end instead).
fn failure_message(status: ExitStatus, stderr: &str) -> String {
    let head = format!("command {}", describe_exit(status));
    if stderr.is_empty() {
        return head;
    }
    let room = MAX_MESSAGE_BYTES.saturating_sub(head.len() + 2);
    format!("{head}: {}", super::tail(stderr, room))
}

/// `exited with status 3`, `was killed by signal 9 (SIGKILL)`.
fn describe_exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal).map_or("unknown", Signal::as_str);
            format!("was killed by signal {signal} ({name})")
        }
        (None, None) => format!("ended: {status}"),
    }
}

/// Checks one variable name of `env` or `set_env`.
fn check_variable_name(key: &str, name: &str) -> Result<(), SettingsError> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return Err(SettingsError::invalid(
            key,
            format!("names a variable `{name}`, which cannot be one (empty, or holds `=` or NUL)"),
        ));
    }
    if RESERVED_VARIABLES.contains(&name) {
        return Err(SettingsError::invalid(
            key,
            format!("names `{name}`, which Herald sets itself"),
        ));
    }
    Ok(())
}

/// What an attempt leaves behind until it is dropped. The fields drop in order: the group
/// is killed before its directory is removed, so nothing is still writing into it.
struct Cleanup {
    group: Group,
    _scratch: Scratch,
}

/// The command's process group, sent SIGKILL when dropped unless [`Group::kill`] did already.
struct Group {
    /// The group's id (the command's pid); `None` once killed, because after the command was
    /// reaped and its group emptied the id may be reused by an unrelated process.
    id: Option<Pid>,
}

impl Group {
    fn of(child: &Child) -> Self {
        let id = child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw);
        Self { id }
    }

    /// Sends `signal` to every process of the group.
    fn signal(&self, signal: Signal) {
        let Some(id) = self.id else { return };
        match killpg(id, signal) {
            // ESRCH: nobody is left in the group.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => {
                warn!(
                    group = id.as_raw(),
                    %signal,
                    error = %e,
                    "cannot signal the command's process group"
                );
            }
        }
    }

    /// Kills whatever is left of the group, once.
    fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        self.id = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // The only cleanup that runs when the runtime drops the handler: no await here.
        self.kill();
    }
}

/// A private directory for one attempt (mode 0700, a fresh name), removed on drop.
struct Scratch {
    path: PathBuf,
}

/// Makes directory names unique within this process.
static SCRATCH_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    fn create(job: &Job) -> io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        // `create` (not `create_all`) refuses a path that exists, so a directory planted in
        // the shared temp dir is never used; a few fresh names get past any collision.
        for _ in 0..8 {
            let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "herald-exec-{}-{}-{}-{n}",
                job.id,
                job.attempt,
                std::process::id()
            ));
            match builder.create(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every name tried was taken",
        ))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Blocking, in a drop that may run on the runtime: unlinking a directory of one file
        // is quick, and a drop cannot await.
        if let Err(e) = std::fs::remove_dir_all(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            warn!(
                path = %self.path.display(),
                error = %e,
                "cannot remove the attempt's temporary directory"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(value: Value) -> ExecSettings {
        ExecSettings::deserialize(value).unwrap()
    }

    fn rejected(value: Value) -> String {
        ExecHandler::new(settings(value)).unwrap_err().to_string()
    }

    #[test]
    fn settings_take_their_defaults() {
        let settings = settings(json!({"command": ["true"]}));
        assert_eq!(settings.env, ["PATH"]);
        assert!(settings.set_env.is_empty());
        assert_eq!(settings.working_dir, None);
        assert_eq!(settings.result_content_type, "application/octet-stream");
        assert_eq!(settings.max_result_bytes, 16 * 1024 * 1024);
        assert!(ExecHandler::new(settings).is_ok());
    }

    #[test]
    fn unknown_settings_are_refused_by_name() {
        let error = ExecSettings::deserialize(json!({"command": ["true"], "comand": []}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("comand"), "{error}");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_key() {
        assert!(rejected(json!({"command": []})).starts_with("`command`"));
        assert!(rejected(json!({"command": [""]})).starts_with("`command`"));
        assert!(rejected(json!({"command": ["a\u{0}b"]})).starts_with("`command`"));
        assert!(rejected(json!({"command": ["true"], "env": ["A=B"]})).starts_with("`env`"));
        assert!(
            rejected(json!({"command": ["true"], "env": ["HERALD_JOB_ID"]}))
                .contains("Herald sets itself")
        );
        assert!(
            rejected(json!({"command": ["true"], "set_env": {"HERALD_RESULT_PATH": "/x"}}))
                .starts_with("`set_env.HERALD_RESULT_PATH`")
        );
        assert!(
            rejected(json!({"command": ["true"], "working_dir": "/nonexistent/herald"}))
                .starts_with("`working_dir`")
        );
        assert!(
            rejected(json!({"command": ["true"], "result_content_type": "csv"}))
                .starts_with("`result_content_type`")
        );
        assert!(
            rejected(json!({"command": ["true"], "max_result_bytes": 0}))
                .starts_with("`max_result_bytes`")
        );
    }

    #[test]
    fn fixed_values_stay_out_of_debug_output() {
        let settings = settings(json!({"command": ["true"], "set_env": {"TOKEN": "s3cret"}}));
        let printed = format!("{settings:?}");
        assert!(printed.contains("TOKEN"), "{printed}");
        assert!(!printed.contains("s3cret"), "{printed}");
    }

    #[test]
    fn progress_lines_are_reports_and_other_json_lines_are_results() {
        assert_eq!(
            parse_line(br#"{"progress": 42, "message": "row 42"}"#),
            Parsed::Progress {
                percent: 42,
                message: "row 42".to_owned()
            }
        );
        assert_eq!(
            parse_line(br#"{"progress": 33.5}"#),
            Parsed::Progress {
                percent: 34,
                message: String::new()
            }
        );
        assert_eq!(
            parse_line(br#"{"progress": 250, "message": 7}"#),
            Parsed::Progress {
                percent: 100,
                message: String::new()
            }
        );
        assert_eq!(
            parse_line(br#"{"progress": -3}"#),
            Parsed::Progress {
                percent: 0,
                message: String::new()
            }
        );
        assert_eq!(
            parse_line(br#"{"progress": "half"}"#),
            Parsed::Result(json!({"progress": "half"}))
        );
        assert_eq!(parse_line(b"[1, 2]"), Parsed::Result(json!([1, 2])));
        assert_eq!(parse_line(b"building row 7..."), Parsed::Text);
        assert_eq!(parse_line(b""), Parsed::Text);
        assert_eq!(parse_line(b"\xff\xfe"), Parsed::Text);
    }

    async fn lines_of(input: &[u8], max: usize) -> Vec<Option<Vec<u8>>> {
        // A tiny buffer, so lines arrive in many pieces as they would from a pipe.
        let mut reader = LineReader::new(BufReader::with_capacity(3, input), max);
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(match line {
                Line::Complete(bytes) => Some(bytes.to_vec()),
                Line::TooLong => None,
            });
        }
        lines
    }

    #[tokio::test]
    async fn lines_are_split_bounded_and_a_long_one_is_skipped_whole() {
        let lines = lines_of(b"one\r\ntwo-is-too-long\nthree\n\nlast", 8).await;
        assert_eq!(
            lines,
            [
                Some(b"one".to_vec()),
                None,
                Some(b"three".to_vec()),
                Some(Vec::new()),
                Some(b"last".to_vec()),
            ]
        );
        assert_eq!(lines_of(b"", 8).await, Vec::<Option<Vec<u8>>>::new());
        assert_eq!(lines_of(b"endless-without-newline", 8).await, [None]);
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_and_whole_characters() {
        let mut tail = Tail::new(8);
        tail.push(b"abc");
        assert_eq!(tail.text(), "abc");
        tail.push(b"defghij");
        assert_eq!(tail.text(), "cdefghij");
        tail.push("0123456é".as_bytes());
        // Nine bytes of which the last eight are kept: the first is `1`.
        assert_eq!(tail.text(), "123456é");
        let mut tail = Tail::new(4);
        tail.push("xéab".as_bytes());
        tail.push(b"c");
        // The cut fell inside `é`: its second byte is skipped.
        assert_eq!(tail.text(), "abc");
    }

    #[test]
    fn a_failure_message_keeps_the_end_of_stderr_within_the_bound() {
        let status = ExitStatus::from_raw(3 << 8);
        assert_eq!(
            failure_message(status, "disk full"),
            "command exited with status 3: disk full"
        );
        assert_eq!(failure_message(status, ""), "command exited with status 3");
        let long = format!("{}THE END", "x".repeat(5000));
        let message = failure_message(status, &long);
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        assert!(message.starts_with("command exited with status 3: xxx"));
        assert!(message.ends_with("THE END"));
        let killed = ExitStatus::from_raw(9);
        assert_eq!(
            failure_message(killed, ""),
            "command was killed by signal 9 (SIGKILL)"
        );
    }

    #[test]
    fn percentages_are_rounded_and_clamped() {
        assert_eq!(percent(0.4), 0);
        assert_eq!(percent(99.5), 100);
        assert_eq!(percent(1e300), 100);
        assert_eq!(percent(-1.0), 0);
    }
}
