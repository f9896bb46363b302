//! Facts about the machine a run was made on, written next to the figures: without them a
//! figure cannot be compared with anything.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

/// What the figures depend on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory: String,
    pub kernel: String,
    pub rustc: String,
    pub redis_server: String,
    pub herald_commit: String,
    /// `/proc/loadavg` when the run started: other work on the box depresses the figures.
    pub load_at_start: String,
}

impl Machine {
    /// Collects the facts; a fact that cannot be read is `unknown`.
    pub fn collect(redis_server: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(unknown),
            memory: field(&meminfo, "MemTotal")
                .and_then(|kb| kb.trim_end_matches(" kB").trim().parse::<u64>().ok())
                .map_or_else(unknown, |kb| {
                    format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0)
                }),
            kernel: output("uname", &["-sr"]),
            rustc: output("rustc", &["--version"]),
            redis_server: redis_version(redis_server),
            herald_commit: commit(),
            load_at_start: load_average(),
        }
    }
}

/// The three load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| unknown())
}

fn unknown() -> String {
    "unknown".to_owned()
}

/// The value of the first `key: value` line of a `/proc` file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|text| !text.is_empty())
        .unwrap_or_else(unknown)
}

/// `7.0.15` out of `Redis server v=7.0.15 sha=… malloc=… bits=64 build=…`.
fn redis_version(program: &Path) -> String {
    let full = output(&program.to_string_lossy(), &["--version"]);
    full.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map_or(full.clone(), str::to_owned)
}

/// The commit the workspace is at, marked when it has uncommitted changes.
fn commit() -> String {
    let head = output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|out| !out.stdout.is_empty());
    if dirty {
        format!("{head} + uncommitted changes")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fields_are_read_by_key() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: fpu\n";
        assert_eq!(field(text, "model name").as_deref(), Some("AMD EPYC"));
        assert_eq!(field(text, "cache size"), None);
    }
}
