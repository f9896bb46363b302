//! Child processes the tool starts (its private `redis-server`, Herald, the baseline server)
//! and makes sure to end: a [`Proc`] is stopped with SIGTERM (then SIGKILL) when the run is
//! done, killed when dropped on an error or ctrl-c, and killed by the kernel if the tool
//! itself dies (`PR_SET_PDEATHSIG`).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

use crate::http::{Conn, Target};

/// How long a child may take to start or to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A free loopback port (the kernel's pick; it is free again once the probe is dropped).
///
/// # Errors
/// When no port can be bound.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let probe =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("failed to find a free port")?;
    probe
        .local_addr()
        .context("failed to read the probe's port")
}

/// A child process, with its output in a log file.
pub struct Proc {
    name: String,
    child: Child,
    pid: u32,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` with `args` and `envs`, its stdout and stderr in `log_dir/name.log`.
    ///
    /// # Errors
    /// When the log file cannot be created or the program cannot be started.
    pub fn spawn<I, S>(
        name: &str,
        program: &Path,
        args: I,
        envs: &[(String, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let log = log_dir.join(format!("{name}.log"));
        let out =
            File::create(&log).with_context(|| format!("failed to create {}", log.display()))?;
        let err = out.try_clone().context("failed to share the log file")?;
        let mut command = Command::new(program);
        // Only what the run decides configures a child: a HERALD_… variable in the tool's
        // own environment (say HERALD_REDIS_URL) would silently change the deployment.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("HERALD_") {
                command.env_remove(key);
            }
        }
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // SAFETY: the closure runs in the child between fork and exec and only calls
        // prctl(2), which is async-signal-safe. PR_SET_PDEATHSIG fires when the *thread*
        // that forked exits: children are spawned from the main thread's runtime, which
        // lives as long as the tool.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .spawn()
            .with_context(|| format!("failed to start {}", program.display()))?;
        let pid = child.id().context("the child has no pid")?;
        Ok(Self {
            name: name.to_owned(),
            child,
            pid,
            log,
        })
    }

    /// Its name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// CPU time it has used so far (user + system), from `/proc`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        cpu_seconds_of(&format!("/proc/{}/stat", self.pid))
    }

    /// Fails, with the end of its log, if it has exited.
    ///
    /// # Errors
    /// When the process is no longer running.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait().context("failed to check a child")? {
            bail!(
                "{} exited ({status}); the end of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 2000)
            );
        }
        Ok(())
    }

    /// Waits until `GET path` answers `200`.
    ///
    /// # Errors
    /// When the process exits or does not answer within 30 s.
    pub async fn wait_http_ready(&mut self, target: &Target, path: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            if let Ok(mut conn) = Conn::open(target).await {
                let request = target.get(path, None)?;
                if let Ok(Ok(reply)) = timeout(Duration::from_secs(2), conn.send(request)).await
                    && reply.status.is_success()
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer GET {path} within {START_TIMEOUT:?}",
                    self.name
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until its log contains `line` (for processes without an HTTP port).
    ///
    /// # Errors
    /// When the process exits or does not log it within 30 s.
    pub async fn wait_logged(&mut self, line: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            self.check_alive()?;
            let logged = std::fs::read_to_string(&self.log).unwrap_or_default();
            if logged.contains(line) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not log `{line}` within {START_TIMEOUT:?}",
                    self.name
                );
            }
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for it to exit by itself (a short-lived command), killing it past `limit`.
    ///
    /// # Errors
    /// When it runs past `limit` or waiting for it fails.
    pub async fn wait(mut self, limit: Duration) -> anyhow::Result<std::process::ExitStatus> {
        match timeout(limit, self.child.wait()).await {
            Ok(waited) => waited.context("failed to wait for a child"),
            Err(_) => {
                self.child.kill().await.context("failed to kill a child")?;
                bail!("{} did not finish within {limit:?}: killed", self.name)
            }
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s.
    ///
    /// # Errors
    /// When waiting for the process fails.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self
            .child
            .try_wait()
            .context("failed to check a child")?
            .is_some()
        {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.pid).context("pid out of range")?;
        // SAFETY: kill(2) with a pid this process spawned and has not reaped yet, so the
        // pid cannot have been reused by an unrelated process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        match timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(waited) => {
                waited.context("failed to wait for a child")?;
            }
            Err(_) => {
                eprintln!(
                    "{} ignored SIGTERM for {STOP_TIMEOUT:?}: killing it",
                    self.name
                );
                self.child.kill().await.context("failed to kill a child")?;
            }
        }
        Ok(())
    }
}

/// The state letter and parent pid of process `pid`, from `/proc/<pid>/stat`.
fn state_and_parent(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

/// Whether the child `pid` (of a [`Proc`] held elsewhere) is still running: not gone, not a
/// zombie waiting to be reaped.
pub fn child_running(pid: u32) -> bool {
    state_and_parent(pid).is_some_and(|(state, _)| !matches!(state, 'Z' | 'X'))
}

/// Sends `signal` (a start signal, say) to `pid`, a running child of this process (of a
/// [`Proc`] held elsewhere).
///
/// # Errors
/// When `pid` is not a running child of this process, or the signal cannot be sent.
pub fn signal_child(pid: u32, signal: libc::c_int) -> anyhow::Result<()> {
    if !child_running(pid)
        || state_and_parent(pid).map(|(_, parent)| parent) != Some(std::process::id())
    {
        bail!("process {pid} is not a running child of this tool");
    }
    let pid = libc::pid_t::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) on our own child that has not been reaped (its parent is this process
    // and it is not a zombie), so its pid cannot have been reused by another process.
    if unsafe { libc::kill(pid, signal) } == -1 {
        return Err(std::io::Error::last_os_error()).context("failed to signal a child");
    }
    Ok(())
}

/// User + system CPU seconds of the process whose `stat` file is at `path`.
pub fn cpu_seconds_of(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may hold spaces: count fields after its closing ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf(3) only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy)]
pub struct MachineCpu {
    /// User and system time of all processes (what per-process figures add up to).
    pub process_seconds: f64,
    /// Time in softirq handlers, mostly network processing (loopback here).
    pub softirq_seconds: f64,
}

impl MachineCpu {
    /// Reads `/proc/stat`; `None` where it cannot be read.
    pub fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // SAFETY: sysconf(3) only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        if ticks <= 0.0 {
            return None;
        }
        // user, nice, system, idle, iowait, irq, softirq, …
        let at = |i: usize| fields.get(i).copied().unwrap_or(0.0);
        Some(Self {
            process_seconds: (at(0) + at(1) + at(2)) / ticks,
            softirq_seconds: at(6) / ticks,
        })
    }
}

/// The last `bytes` of a log file, for error messages.
pub fn tail(path: &Path, bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if file
        .seek(SeekFrom::Start(len.saturating_sub(bytes)))
        .is_err()
    {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Counts the log lines of each level Herald writes that hint at trouble, plus the first
/// of them, so a report can say whether the server complained under load.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LogTrouble {
    pub errors: u64,
    pub warnings: u64,
    pub first: Option<String>,
}

/// The processes whose logs (`(process, log)`) hold `ERROR` or `WARN` lines, with what
/// [`scan_log`] found in each.
pub fn troubled(logs: Vec<(String, PathBuf)>) -> Vec<(String, LogTrouble)> {
    logs.into_iter()
        .map(|(name, path)| (name, scan_log(&path)))
        .filter(|(_, t)| t.errors + t.warnings > 0)
        .collect()
}

/// Scans a log for `ERROR` and `WARN` lines (the start-up warning about running without API
/// keys is expected and not counted).
fn scan_log(path: &Path) -> LogTrouble {
    let mut trouble = LogTrouble::default();
    let Ok(text) = std::fs::read(path) else {
        return trouble;
    };
    for line in String::from_utf8_lossy(&text).lines() {
        let plain = strip_ansi(line);
        let is_error = plain.contains(" ERROR ");
        let is_warning = plain.contains(" WARN ") && !plain.contains("no API keys are configured");
        if is_error {
            trouble.errors += 1;
        } else if is_warning {
            trouble.warnings += 1;
        }
        if (is_error || is_warning) && trouble.first.is_none() {
            trouble.first = Some(crate::accept::truncate(&plain));
        }
    }
    trouble
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // Skip up to and including the final byte of the escape sequence.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The tool's private Redis: loopback only, no persistence, ended with the run.
pub struct RedisServer {
    pub proc: Proc,
    pub url: String,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits for `PING`.
    ///
    /// # Errors
    /// When it cannot be started or does not answer within 30 s.
    pub async fn start(program: &Path, log_dir: &Path) -> anyhow::Result<Self> {
        let addr = free_addr()?;
        let port = addr.port().to_string();
        let args = [
            "--port",
            port.as_str(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
        ];
        let mut proc = Proc::spawn("redis-server", program, args, &[], log_dir)?;
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).context("invalid Redis URL")?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            proc.check_alive()?;
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                break;
            }
            if Instant::now() >= deadline {
                bail!("redis-server did not answer PING within {START_TIMEOUT:?}");
            }
            sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { proc, url })
    }

    /// A connection whose answers may take long (a big FLUSHALL), unlike the client's
    /// default 500 ms.
    async fn patient_connection(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let client = redis::Client::open(self.url.as_str()).context("invalid Redis URL")?;
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(Duration::from_secs(120)));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("failed to connect to the private Redis")
    }

    /// Zeroes the per-command statistics, at the start of a phase.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn reset_stats(&self) -> anyhow::Result<()> {
        let mut conn = self.patient_connection().await?;
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async::<()>(&mut conn)
            .await
            .context("failed to reset Redis's statistics")
    }

    /// The per-command statistics since the last reset, costliest first.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn command_stats(&self) -> anyhow::Result<Vec<CommandStat>> {
        let mut conn = self.patient_connection().await?;
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .context("failed to read Redis's command statistics")?;
        Ok(parse_command_stats(&info))
    }

    /// Empties it between phases, so each phase starts from the same state.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn flush(&self) -> anyhow::Result<()> {
        // Emptying a million keys takes longer than the client's default 500 ms answer
        // timeout; FLUSHALL ASYNC would free them during the next phase instead, on its CPU.
        let mut conn = self.patient_connection().await?;
        redis::cmd("FLUSHALL")
            .arg("SYNC")
            .query_async::<()>(&mut conn)
            .await
            .context("failed to flush the private Redis")
    }
}

/// One Redis command's share of a phase (`INFO commandstats`). A command a script runs is
/// counted on its own line and also inside the script's (`evalsha`) time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandStat {
    pub command: String,
    pub calls: u64,
    pub usec: u64,
}

/// Parses `cmdstat_evalsha:calls=60075,usec=2569583,usec_per_call=42.77,…` lines.
fn parse_command_stats(info: &str) -> Vec<CommandStat> {
    let mut stats: Vec<CommandStat> = info
        .lines()
        .filter_map(|line| {
            let (name, fields) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some(CommandStat {
                command: name.to_owned(),
                calls: field("calls")?,
                usec: field("usec")?,
            })
        })
        .collect();
    stats.sort_by_key(|stat| std::cmp::Reverse(stat.usec));
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_own_cpu_time_can_be_read() {
        assert!(cpu_seconds_of("/proc/self/stat").is_some());
    }

    #[test]
    fn the_machines_cpu_time_can_be_read() {
        let cpu = MachineCpu::read().unwrap();
        assert!(cpu.process_seconds > 0.0);
    }

    #[test]
    fn colour_codes_do_not_hide_log_levels() {
        let line = "2025-01-01T00:00:00Z \u{1b}[31mERROR\u{1b}[0m herald: request failed";
        assert_eq!(
            strip_ansi(line),
            "2025-01-01T00:00:00Z ERROR herald: request failed"
        );
    }

    #[test]
    fn command_statistics_are_read_costliest_first() {
        let info = "# Commandstats\r\ncmdstat_zadd:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\ncmdstat_evalsha:calls=3,usec=120,usec_per_call=40.00,rejected_calls=0,failed_calls=0\r\n";
        let stats = parse_command_stats(info);
        assert_eq!(stats.len(), 2);
        assert_eq!(
            (stats[0].command.as_str(), stats[0].calls, stats[0].usec),
            ("evalsha", 3, 120)
        );
    }

    #[tokio::test]
    async fn a_start_signal_reaches_a_running_child_only() {
        let dir = std::env::temp_dir().join(format!("herald-bench-signal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A shell that says when SIGUSR2 arrives.
        let script = "trap 'echo started' USR2; echo ready; while :; do sleep 0.05; done";
        let mut waiter = Proc::spawn("waiter", Path::new("sh"), ["-c", script], &[], &dir).unwrap();
        waiter.wait_logged("ready").await.unwrap();
        assert!(child_running(waiter.pid()));
        signal_child(waiter.pid(), libc::SIGUSR2).unwrap();
        waiter.wait_logged("started").await.unwrap();
        waiter.stop().await.unwrap();

        // One that has exited but is not reaped yet (a zombie) is not signalled.
        let quitter = Proc::spawn("quitter", Path::new("true"), [""; 0], &[], &dir).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child_running(quitter.pid()) {
            assert!(Instant::now() < deadline, "the child did not exit");
            sleep(Duration::from_millis(20)).await;
        }
        assert!(signal_child(quitter.pid(), libc::SIGUSR2).is_err());
        assert!(
            quitter
                .wait(Duration::from_secs(30))
                .await
                .unwrap()
                .success()
        );
        assert!(signal_child(1, libc::SIGUSR2).is_err(), "not our child");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn free_ports_are_loopback() {
        assert!(free_addr().unwrap().ip().is_loopback());
    }
}
