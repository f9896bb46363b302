//! Reading the [`Settings`] tree: the defaults, the configuration file's `[server]` table,
//! the `HERALD_…` variables and the flags, each a [`figment`] provider merged over the one
//! before. Every setting is one flag; [`PLACES`] says where in the tree its value goes.
//!
//! Clap reads the command line and the environment (the variables are the flags' twins, with
//! their help) and checks their values; the file's values are checked when the tree is
//! extracted, by the same functions ([`super::values`]), so a mistake reads alike wherever it
//! was made.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::Settings;
use crate::cli::{Cli, KeysArgs};
use crate::client::{ClientCommand, EXIT_ERROR, JobsArgs, SourcesArgs, WebhooksArgs};
use crate::file::{ConfigFile, FileError, flag_value};

/// The commands that are clients of a running Herald.
const CLIENT_COMMANDS: [&str; 3] = ["jobs", "webhooks", "sources"];

/// Every setting by its flag's long name (`bind`; a file key may write `-` or `_`), with
/// its place in [`Settings`].
const PLACES: &[(&str, &str)] = &[
    ("bind", "server.bind"),
    ("roles", "server.roles"),
    ("mode", "server.mode"),
    ("shutdown_timeout", "server.shutdown_timeout"),
    ("bootstrap_admin_key", "server.bootstrap_admin_key"),
    ("log_format", "log.format"),
    ("redis_url", "backend.url"),
    ("redis_prefix", "backend.prefix"),
    ("redis_connect_timeout", "backend.connect_timeout"),
    ("redis_command_timeout", "backend.command_timeout"),
    ("redis_ack", "backend.ack"),
    ("redis_ack_timeout", "backend.ack_timeout"),
    ("redis_partitions", "backend.partitions"),
    ("lease_timeout", "jobs.lease_timeout"),
    ("retention", "jobs.retention"),
    ("max_body_bytes", "api.max_body_bytes"),
    ("sse_heartbeat", "api.sse_heartbeat"),
    ("sse_retry", "api.sse_retry"),
    ("cors_origins", "api.cors_origins"),
    ("token_secret", "api.tokens.secret"),
    ("token_secret_previous", "api.tokens.previous"),
    ("token_ttl", "api.tokens.ttl"),
    ("rate_limit", "api.rate_limit.per_second"),
    ("rate_limit_burst", "api.rate_limit.burst"),
    (
        "auth_failure_rate_limit",
        "api.auth_failure_rate_limit.per_second",
    ),
    (
        "auth_failure_rate_limit_burst",
        "api.auth_failure_rate_limit.burst",
    ),
    ("trusted_proxies", "api.trusted_proxies"),
    ("max_streams_per_key", "api.max_streams_per_key"),
    ("max_waiters_per_key", "api.max_waiters_per_key"),
    ("max_json_depth", "api.max_json_depth"),
    ("max_header_bytes", "api.max_header_bytes"),
    ("client_request_timeout", "api.client_request_timeout"),
    ("client_disconnect_timeout", "api.client_disconnect_timeout"),
    ("keep_alive", "api.keep_alive"),
    ("console", "api.console"),
    ("concurrency", "worker.concurrency"),
    ("webhook_retry_schedule", "notifier.retry_schedule"),
    ("webhook_timeout", "notifier.timeout"),
    (
        "webhook_allow_private_targets",
        "notifier.allow_private_targets",
    ),
    ("webhook_concurrency", "notifier.concurrency"),
    (
        "webhook_endpoint_concurrency",
        "notifier.endpoint_concurrency",
    ),
];

/// Every flag [`PLACES`] holds, sorted.
#[cfg(test)]
pub(super) fn flags() -> Vec<String> {
    let mut flags: Vec<String> = PLACES.iter().map(|(flag, _)| (*flag).to_owned()).collect();
    flags.sort();
    flags
}

/// Why the settings cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A bad flag or environment value (clap prints it, with usage, and picks the exit code).
    #[error(transparent)]
    Cli(#[from] clap::Error),
    /// A bad configuration file.
    #[error(transparent)]
    File(#[from] FileError),
}

/// What the command line asks for: serving, managing keys, or a client command.
#[derive(Debug)]
pub enum Invocation {
    Serve(Box<Settings>),
    Keys(KeysArgs),
    Client(ClientCommand),
}

impl Invocation {
    /// What a command line (its first item is the program name) asks for, with the process
    /// environment.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn parse<I, T>(argv: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(argv)?;
        match matches.subcommand() {
            Some(("keys", keys)) => return Ok(Self::Keys(KeysArgs::from_arg_matches(keys)?)),
            Some(("jobs", jobs)) => {
                let args = JobsArgs::from_arg_matches(jobs)?;
                return Ok(Self::Client(ClientCommand::Jobs(args)));
            }
            Some(("webhooks", webhooks)) => {
                let args = WebhooksArgs::from_arg_matches(webhooks)?;
                return Ok(Self::Client(ClientCommand::Webhooks(args)));
            }
            Some(("sources", sources)) => {
                let args = SourcesArgs::from_arg_matches(sources)?;
                return Ok(Self::Client(ClientCommand::Sources(args)));
            }
            _ => {}
        }
        Settings::from_matches(serve_matches(&matches)).map(|s| Self::Serve(Box::new(s)))
    }

    /// What this process's command line asks for; a usage error, `--help` or `--version`
    /// prints as clap formats it and exits the process (a client command's usage error with
    /// [`EXIT_ERROR`], as its other failures).
    ///
    /// # Errors
    /// A configuration file that cannot be read or holds a bad setting.
    pub fn from_command_line() -> anyhow::Result<Self> {
        let argv: Vec<OsString> = std::env::args_os().collect();
        let client = argv.iter().skip(1).any(|arg| {
            arg.to_str()
                .is_some_and(|arg| CLIENT_COMMANDS.contains(&arg))
        });
        match Self::parse(argv) {
            Err(SettingsError::Cli(e)) if client && e.use_stderr() => {
                let _ = e.print();
                std::process::exit(i32::from(EXIT_ERROR));
            }
            parsed => exit_on_usage(parsed),
        }
    }
}

impl Settings {
    /// Settings from a command line (its first item is the program name) and the process
    /// environment: with `--config` (or `HERALD_CONFIG`), the file's `[server]` settings stand
    /// in for the defaults, so the environment and the flags still win over them. The
    /// settings of `herald keys …` are the defaults.
    ///
    /// # Errors
    /// [`SettingsError::Cli`] for a bad flag or variable, [`SettingsError::File`] for a file
    /// that cannot be read, has a bad shape or holds a bad setting (named with its key).
    pub fn load<I, T>(argv: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(argv)?;
        Self::from_matches(serve_matches(&matches))
    }

    /// Settings from this process's command line and environment, as [`Invocation`] reads
    /// them (for a program that embeds Herald and has no `keys` command of its own).
    ///
    /// # Errors
    /// As [`Invocation::from_command_line`].
    pub fn from_command_line() -> anyhow::Result<Self> {
        exit_on_usage(Self::load(std::env::args_os()))
    }

    /// The layers under the flags of `matches` (clap has checked them and their variables),
    /// merged and checked into the tree.
    fn from_matches(matches: &ArgMatches) -> Result<Self, SettingsError> {
        let mut defaults = Layer::new("the defaults");
        let mut environment = Layer::new("the environment");
        let mut flags = Layer::new("the command line");
        for (flag, place) in PLACES {
            let Some(raw) = matches.get_raw(flag) else {
                continue;
            };
            let raw: Vec<_> = raw.map(|value| value.to_string_lossy()).collect();
            let layer = match matches.value_source(flag) {
                Some(ValueSource::CommandLine) => &mut flags,
                Some(ValueSource::EnvVariable) => &mut environment,
                _ => &mut defaults,
            };
            layer.insert(place, raw.join(","));
        }
        let file = match matches.get_one::<PathBuf>("config") {
            Some(path) => Some(ConfigFile::load(path)?),
            None => None,
        };
        let mut figment = Figment::from(defaults);
        if let Some(file) = &file {
            figment = figment.merge(file_layer(file)?);
        }
        let mut settings: Self = figment
            .merge(environment)
            .merge(flags)
            .extract()
            .map_err(|error| explain(&error, file.as_ref()))?;
        settings.file = file;
        Ok(settings)
    }
}

/// What a process does with its command line's outcome: a usage error, `--help` or
/// `--version` prints as clap formats it and exits (with clap's code); a bad configuration
/// file is an error to report.
fn exit_on_usage<T>(loaded: Result<T, SettingsError>) -> anyhow::Result<T> {
    match loaded {
        Ok(loaded) => Ok(loaded),
        Err(SettingsError::Cli(e)) => e.exit(),
        Err(e) => Err(anyhow::Error::new(e).context("failed to read the configuration")),
    }
}

/// The serve flags' matches: those of `herald serve`, or of the bare `herald`.
fn serve_matches(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some(("serve", serve)) => serve,
        _ => matches,
    }
}

/// The file's `[server]` table as a layer, each key at its setting's place.
///
/// # Errors
/// [`FileError::Invalid`] for a key that is no setting or a value no flag takes.
fn file_layer(file: &ConfigFile) -> Result<Layer, FileError> {
    let invalid = |message: String| FileError::Invalid {
        path: file.path.clone(),
        message,
    };
    let mut layer = Layer::new(file_source(file));
    for (key, value) in &file.server {
        let flag = key.replace('-', "_");
        let Some((_, place)) = PLACES.iter().find(|(known, _)| *known == flag) else {
            let known: Vec<&str> = PLACES.iter().map(|(flag, _)| *flag).collect();
            return Err(invalid(format!(
                "unknown setting `server.{key}`; the [server] table takes {}",
                known.join(", ")
            )));
        };
        let value = flag_value(value).map_err(|e| invalid(format!("`server.{key}` {e}")))?;
        layer.insert(place, value);
    }
    Ok(layer)
}

fn file_source(file: &ConfigFile) -> String {
    format!("the configuration file {}", file.path.display())
}

/// A value the tree refused, named by its `[server]` key and where it came from. Flags and
/// variables were checked by clap with the same functions, so in practice it is the file's.
fn explain(error: &figment::Error, file: Option<&ConfigFile>) -> SettingsError {
    let place = error.path.join(".");
    let key = PLACES
        .iter()
        .find(|(_, known)| *known == place)
        .map_or(place.as_str(), |(flag, _)| flag);
    let message = format!("`server.{key}`: {}", error.kind);
    let source = error.metadata.as_ref().map(|m| m.name.to_string());
    match file {
        Some(file) if source.is_none() || source == Some(file_source(file)) => FileError::Invalid {
            path: file.path.clone(),
            message,
        }
        .into(),
        _ => clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!(
                "{message} (from {})\n",
                source.as_deref().unwrap_or("the settings")
            ),
        )
        .into(),
    }
}

/// One source of settings, as text a flag would take, at their places in the tree.
struct Layer {
    name: String,
    values: Dict,
}

impl Layer {
    fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            values: Dict::new(),
        }
    }

    /// Sets the value at `place` (`api.tokens.ttl`), making the tables on the way.
    fn insert(&mut self, place: &str, value: String) {
        let mut table = &mut self.values;
        let mut parts = place.split('.').peekable();
        while let Some(part) = parts.next() {
            if parts.peek().is_none() {
                table.insert(part.to_owned(), Value::from(value));
                return;
            }
            let entry = table
                .entry(part.to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            let Value::Dict(_, inner) = entry else {
                unreachable!("PLACES holds no setting inside another");
            };
            table = inner;
        }
    }
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.values.clone()))
    }
}
