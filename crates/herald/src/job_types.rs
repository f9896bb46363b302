//! The job types of an install: the built-in and embedded handlers, plus those of the
//! configuration file, each with its policy. Turns every `[job_types."name"]` table into a
//! [`TypePolicy`] for the catalog and, for `exec` and `http`, a handler for the worker.
//!
//! ```toml
//! [job_types."report.build"]
//! handler = "exec"                    # exec | http | external; omitted: a built-in's policy
//! command = ["python3", "/srv/reports/build.py"]
//! concurrency = 4                     # per worker process
//! timeout = "10m"                     # default `timeout_s` of its jobs
//! max_attempts = 3                    # default `max_attempts` of its jobs
//! retry_backoff = { base = "5s", max = "10m" }
//! retention = "7d"                    # how long finished jobs are kept
//! max_payload_bytes = 65536
//! ```

use std::sync::Arc;
use std::time::Duration;

use herald_core::backoff::RetryPolicy;
use herald_core::{JobLimits, JobType, JobTypes, Runner, TypePolicy};
use herald_worker::Registry;
use herald_worker::handlers::{ExecHandler, ExecSettings, HttpHandler, HttpSettings};
use serde::Deserialize;
use toml::{Table, Value};

use crate::file::{ConfigFile, FileError};

/// The handlers the worker runs and the catalog every role reads.
#[derive(Debug)]
pub struct Assembled {
    pub handlers: Registry,
    pub job_types: JobTypes,
}

/// Builds the install's job types: every type of `handlers` (the built-ins and any embedded
/// ones) with the install's defaults, then each type of the configuration `file`, checked
/// against `limits` (its timeout, attempts and payload bound may not exceed the install's
/// ceilings) and `max_body_bytes`.
///
/// # Errors
/// A [`FileError::Invalid`] naming the job type and the setting that is wrong.
pub fn assemble(
    mut handlers: Registry,
    file: Option<&ConfigFile>,
    limits: &JobLimits,
    max_body_bytes: usize,
) -> Result<Assembled, FileError> {
    let mut job_types = JobTypes::new();
    for job_type in handlers.types() {
        job_types.insert(job_type, TypePolicy::default());
    }
    let Some(file) = file else {
        return Ok(Assembled {
            handlers,
            job_types,
        });
    };
    for (name, table) in &file.job_types {
        let invalid = |message: String| FileError::Invalid {
            path: file.path.clone(),
            message: format!("job type `{name}`: {message}"),
        };
        let job_type = JobType::parse(name).map_err(|e| invalid(e.0))?;
        let mut table = table.clone();
        let mut policy = take_policy(&mut table, limits, max_body_bytes).map_err(invalid)?;
        let handler = take_string(&mut table, "handler").map_err(invalid)?;
        if handler.is_some() && handlers.contains(&job_type) {
            return Err(invalid(
                "is a built-in type: its handler is fixed (leave `handler` out to set its policy)"
                    .to_owned(),
            ));
        }
        match handler.as_deref() {
            None if handlers.contains(&job_type) => no_more_keys(&table).map_err(invalid)?,
            None => {
                return Err(invalid(
                    "`handler` is required: exec, http or external (only built-in types may leave it out)"
                        .to_owned(),
                ));
            }
            Some("exec") => {
                let settings: ExecSettings = settings(table).map_err(invalid)?;
                let handler = ExecHandler::new(settings).map_err(|e| invalid(e.to_string()))?;
                handlers.register(job_type.clone(), Arc::new(handler));
            }
            Some("http") => {
                let settings: HttpSettings = settings(table).map_err(invalid)?;
                let handler = HttpHandler::new(settings).map_err(|e| invalid(e.to_string()))?;
                handlers.register(job_type.clone(), Arc::new(handler));
            }
            Some("external") => {
                no_more_keys(&table).map_err(invalid)?;
                if policy.concurrency.is_some() {
                    return Err(invalid(
                        "`concurrency` applies to Herald's own workers; external workers choose how many jobs they claim"
                            .to_owned(),
                    ));
                }
                policy.runner = Runner::External;
            }
            Some(other) => {
                return Err(invalid(format!(
                    "unknown handler `{other}`: exec, http or external"
                )));
            }
        }
        job_types.insert(job_type, policy);
    }
    Ok(Assembled {
        handlers,
        job_types,
    })
}

/// Takes the settings every handler shares out of a job type's table.
fn take_policy(
    table: &mut Table,
    limits: &JobLimits,
    max_body_bytes: usize,
) -> Result<TypePolicy, String> {
    let timeout = take_duration(table, "timeout")?;
    if let Some(timeout) = timeout.filter(|t| *t > limits.max_timeout) {
        return Err(format!(
            "`timeout` ({}) must be at most {}",
            humantime::format_duration(timeout),
            humantime::format_duration(limits.max_timeout)
        ));
    }
    let max_attempts = take_integer(table, "max_attempts", 1, u64::from(limits.max_attempts))?
        .map(|n| u32::try_from(n).unwrap_or(limits.max_attempts));
    let retry = match table.remove("retry_backoff") {
        None => None,
        Some(Value::Table(mut backoff)) => {
            let defaults = RetryPolicy::default();
            let base = take_duration(&mut backoff, "base")?.unwrap_or(defaults.base);
            let max = take_duration(&mut backoff, "max")?.unwrap_or(defaults.max.max(base));
            if let Some(key) = backoff.keys().next() {
                return Err(format!(
                    "unknown setting `retry_backoff.{key}`: it takes `base` and `max`"
                ));
            }
            if base > max {
                return Err("`retry_backoff.base` must not exceed `retry_backoff.max`".to_owned());
            }
            Some(RetryPolicy { base, max })
        }
        Some(_) => {
            return Err(
                "`retry_backoff` must be a table like { base = \"5s\", max = \"10m\" }".to_owned(),
            );
        }
    };
    let retention = take_duration(table, "retention")?;
    let max_payload_bytes = take_integer(table, "max_payload_bytes", 2, max_body_bytes as u64)?
        .map(|n| usize::try_from(n).unwrap_or(max_body_bytes));
    let concurrency =
        take_integer(table, "concurrency", 1, 10_000)?.map(|n| usize::try_from(n).unwrap_or(1));
    Ok(TypePolicy {
        runner: Runner::Herald,
        timeout,
        max_attempts,
        retry,
        retention,
        max_payload_bytes,
        concurrency,
    })
}

/// A handler's own settings, from what is left of its table.
fn settings<T: for<'de> Deserialize<'de>>(table: Table) -> Result<T, String> {
    Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_owned())
}

fn no_more_keys(table: &Table) -> Result<(), String> {
    match table.keys().next() {
        Some(key) => Err(format!(
            "unknown setting `{key}` (the handler takes no settings of its own)"
        )),
        None => Ok(()),
    }
}

fn take_string(table: &mut Table, key: &str) -> Result<Option<String>, String> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!(
            "`{key}` must be a string, not {}",
            other.type_str()
        )),
    }
}

fn take_duration(table: &mut Table, key: &str) -> Result<Option<Duration>, String> {
    let Some(raw) = take_string(table, key)? else {
        return Ok(None);
    };
    let parsed = humantime::parse_duration(&raw)
        .map_err(|e| format!("`{key}`: `{raw}` is not a duration like 30s, 5m or 48h: {e}"))?;
    if parsed.is_zero() {
        return Err(format!("`{key}` must be longer than zero"));
    }
    Ok(Some(parsed))
}

fn take_integer(table: &mut Table, key: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
    match table.remove(key) {
        None => Ok(None),
        Some(Value::Integer(n)) => u64::try_from(n)
            .ok()
            .filter(|n| (min..=max).contains(n))
            .map(Some)
            .ok_or_else(|| format!("`{key}` must be between {min} and {max}, not {n}")),
        Some(other) => Err(format!(
            "`{key}` must be a whole number, not {}",
            other.type_str()
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn assemble_text(text: &str) -> Result<Assembled, String> {
        let file = ConfigFile::parse(Path::new("herald.toml"), text).map_err(|e| e.to_string())?;
        assemble(
            Registry::with_builtins(),
            Some(&file),
            &JobLimits::default(),
            1024 * 1024,
        )
        .map_err(|e| e.to_string())
    }

    fn name(raw: &str) -> JobType {
        JobType::parse(raw).unwrap()
    }

    #[test]
    fn without_a_file_the_builtins_are_the_catalog() {
        let assembled = assemble(
            Registry::with_builtins(),
            None,
            &JobLimits::default(),
            1 << 20,
        )
        .unwrap();
        let names: Vec<_> = assembled
            .job_types
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        assert_eq!(names, ["demo.fail", "demo.report", "demo.sleep"]);
    }

    #[test]
    fn every_handler_and_policy_setting_is_read() {
        let assembled = assemble_text(
            r#"
            [job_types."report.build"]
            handler = "exec"
            command = ["sh", "-c", "echo '{}'"]
            concurrency = 2
            timeout = "10m"
            max_attempts = 5
            retry_backoff = { base = "2s", max = "1m" }
            retention = "7d"
            max_payload_bytes = 4096

            [job_types."legacy.export"]
            handler = "http"
            url = "http://127.0.0.1:9/export"

            [job_types."video.transcode"]
            handler = "external"
            timeout = "2h"

            [job_types."demo.sleep"]
            concurrency = 1
            "#,
        )
        .unwrap();
        let types = &assembled.job_types;
        let report = types.get(&name("report.build")).unwrap();
        assert_eq!(
            report,
            &TypePolicy {
                runner: Runner::Herald,
                timeout: Some(Duration::from_secs(600)),
                max_attempts: Some(5),
                retry: Some(RetryPolicy {
                    base: Duration::from_secs(2),
                    max: Duration::from_secs(60),
                }),
                retention: Some(Duration::from_secs(7 * 86_400)),
                max_payload_bytes: Some(4096),
                concurrency: Some(2),
            }
        );
        assert!(types.is_external(&name("video.transcode")));
        assert_eq!(types.get(&name("demo.sleep")).unwrap().concurrency, Some(1));
        let handlers = &assembled.handlers;
        assert!(handlers.contains(&name("report.build")));
        assert!(handlers.contains(&name("legacy.export")));
        assert!(!handlers.contains(&name("video.transcode")));
        assert!(handlers.contains(&name("demo.report")));
    }

    #[test]
    fn bad_job_types_are_named_with_the_setting_that_is_wrong() {
        let cases = [
            (
                "[job_types.\"x\"]\ncommand = [\"true\"]\n",
                "`handler` is required",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"shell\"\n",
                "unknown handler `shell`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"exec\"\ncomand = [\"true\"]\n",
                "comand",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\ntimeout = \"soon\"\n",
                "`timeout`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\ntimeout = \"48h\"\n",
                "at most",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\nmax_attempts = 0\n",
                "`max_attempts`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\nconcurrency = 2\n",
                "`concurrency`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\nurl = \"http://a\"\n",
                "`url`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\nmax_payload_bytes = 9999999\n",
                "`max_payload_bytes`",
            ),
            (
                "[job_types.\"x\"]\nhandler = \"external\"\nretry_backoff = { base = \"1m\", max = \"1s\" }\n",
                "retry_backoff.base",
            ),
            (
                "[job_types.\"demo.sleep\"]\nhandler = \"external\"\n",
                "built-in",
            ),
            (
                "[job_types.\"bad name!\"]\nhandler = \"external\"\n",
                "bad name!",
            ),
        ];
        for (text, expected) in cases {
            let err = assemble_text(text).map(|_| ()).unwrap_err();
            assert!(err.contains("herald.toml"), "{err}");
            assert!(err.contains(expected), "for {text:?}: {err}");
        }
    }
}
