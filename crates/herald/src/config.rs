//! Command line, environment and configuration file: every flag has a `HERALD_…` twin and a
//! `[server]` key in the file; values are checked here, once, into typed settings. Flags win
//! over the environment, which wins over the file, which wins over the defaults: the file's
//! settings become the command line's defaults before it is parsed ([`Settings::load`]).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use herald_api::{CorsOrigin, MAX_SSE_HEARTBEAT, TrustedProxy};
use herald_api::{MAX_TOKEN_TTL, TokenSecret};
use herald_core::TenantId;
use herald_core::apikey::{ApiKeyId, PlainKey};
use herald_notifier::schedule::RetrySchedule;

use crate::file::{ConfigFile, FileError, flag_value};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald: 202 Accepted now, then every change of the job by polling, Server-Sent Events and signed webhooks",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Without a command, `herald` serves: `herald --bind …` is `herald serve --bind …`.
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The serve settings of this command line, with or without the `serve` command (the
    /// defaults for `herald keys`, which does not serve).
    pub fn serve_args(self) -> ServeArgs {
        match self.command {
            Some(Command::Serve(args)) => args,
            Some(Command::Keys(_)) | None => self.serve,
        }
    }
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing would only complicate clap's derive"
)]
pub enum Command {
    /// Runs the server: the api, worker and notifier roles (any of them), on Redis or the
    /// embedded backend.
    Serve(ServeArgs),
    /// Manages API keys in Redis: create, list, revoke; or generates one for
    /// `--bootstrap-admin-key`.
    Keys(KeysArgs),
}

/// `herald keys …`: API keys in the Redis a deployment shares. (The embedded backend keeps
/// its keys in the server process: see `--bootstrap-admin-key` and the admin API.)
#[derive(Debug, Clone, Parser)]
pub struct KeysArgs {
    /// The Redis the servers use.
    #[arg(long, env = "HERALD_REDIS_URL", global = true)]
    pub redis_url: Option<String>,

    /// The servers' key prefix.
    #[arg(
        long,
        env = "HERALD_REDIS_PREFIX",
        default_value = "herald",
        global = true
    )]
    pub redis_prefix: String,

    #[command(subcommand)]
    pub action: KeysAction,
}

/// What `herald keys` does.
#[derive(Debug, Clone, Subcommand)]
pub enum KeysAction {
    /// Creates a key and prints it, once: only a digest of it is stored.
    Create {
        /// The tenant every request made with the key acts for.
        #[arg(long, value_parser = tenant)]
        tenant: TenantId,
        /// What the key is for, for people.
        #[arg(long, default_value = "")]
        name: String,
        /// The key may manage keys (`/v1/admin/keys`).
        #[arg(long)]
        admin: bool,
    },
    /// Lists keys (never their secrets), oldest first.
    List {
        /// Only this tenant's keys.
        #[arg(long, value_parser = tenant)]
        tenant: Option<TenantId>,
    },
    /// Revokes a key at once, for every server.
    Revoke {
        /// The key's id (`hk_<id>_…`; `herald keys list` shows it).
        #[arg(value_parser = key_id)]
        id: ApiKeyId,
    },
    /// Prints a fresh key without storing it: for `--bootstrap-admin-key`.
    Generate,
}

/// How strictly the API asks for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Open while no API key exists (every request acts for the default tenant, with a loud
    /// warning at start-up); as soon as one exists, every request needs one.
    Development,
    /// Every request needs an API key; refuses to start while none exists.
    Production,
}

/// A role a process plays. Without `--roles`, a process plays all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// The HTTP API: jobs, polling, health and metrics.
    Api,
    /// Claims and runs jobs.
    Worker,
    /// Delivers webhooks.
    Notifier,
}

/// How the process logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

#[derive(Debug, Clone, Parser)]
pub struct ServeArgs {
    /// A TOML configuration file: `[server]` settings (any flag, by its long name) and the job
    /// types under `[job_types."name"]`.
    #[arg(long, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address the HTTP API listens on.
    #[arg(long, env = "HERALD_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Redis to share with other processes; without it, the embedded in-memory backend.
    #[arg(long, env = "HERALD_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key Herald writes, so installs can share a Redis.
    #[arg(long, env = "HERALD_REDIS_PREFIX", default_value = "herald")]
    pub redis_prefix: String,

    /// How long opening a connection to Redis may take (TCP, TLS and the handshake).
    #[arg(long, env = "HERALD_REDIS_CONNECT_TIMEOUT", default_value = "1s", value_parser = duration)]
    pub redis_connect_timeout: Duration,

    /// How long one Redis command may take, waiting for a lost connection to come back included;
    /// past it the request answers 503 (`backend-unavailable`). Blocking reads (workers waiting
    /// for jobs) wait as long as they ask for, whatever this says.
    #[arg(long, env = "HERALD_REDIS_COMMAND_TIMEOUT", default_value = "1s", value_parser = duration)]
    pub redis_command_timeout: Duration,

    /// Roles of this process, comma-separated (default: all).
    #[arg(
        long,
        env = "HERALD_ROLES",
        value_delimiter = ',',
        default_value = "api,worker,notifier"
    )]
    pub roles: Vec<Role>,

    /// Jobs one worker process runs at the same time.
    #[arg(long, env = "HERALD_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// How long a running job may go without its worker's heartbeat before another worker
    /// takes it over (heartbeats are sent at a third of this).
    #[arg(long, env = "HERALD_LEASE_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub lease_timeout: Duration,

    /// How long finished jobs (record, history, result) are kept.
    #[arg(long, env = "HERALD_RETENTION", default_value = "48h", value_parser = duration)]
    pub retention: Duration,

    /// On SIGTERM, how long running jobs may finish before they are handed back to the queue
    /// and open requests are cut.
    #[arg(long, env = "HERALD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub shutdown_timeout: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest silence on an event stream: a comment is sent at least this often (at most 15s).
    #[arg(long, env = "HERALD_SSE_HEARTBEAT", default_value = "15s", value_parser = heartbeat)]
    pub sse_heartbeat: Duration,

    /// How long a browser's EventSource waits before reconnecting (the streams' `retry:` hint).
    #[arg(long, env = "HERALD_SSE_RETRY", default_value = "3s", value_parser = duration)]
    pub sse_retry: Duration,

    /// Browser origins allowed to call the API (CORS), comma-separated, like
    /// `https://app.example,http://localhost:5173` (default: none).
    #[arg(long, env = "HERALD_CORS_ORIGINS", value_delimiter = ',', value_parser = CorsOrigin::parse)]
    pub cors_origins: Vec<CorsOrigin>,

    /// Delays between webhook attempts after the immediate first one, comma-separated; after
    /// the last, a delivery is dead. Each is spread by ±20 % jitter.
    #[arg(
        long,
        env = "HERALD_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub webhook_retry_schedule: RetrySchedule,

    /// How long one webhook attempt may take before it counts as failed.
    #[arg(long, env = "HERALD_WEBHOOK_TIMEOUT", default_value = "15s", value_parser = duration)]
    pub webhook_timeout: Duration,

    /// Permits webhook targets on loopback, private and link-local addresses (development
    /// and tests; refused by default).
    #[arg(long, env = "HERALD_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,

    /// Webhook attempts one notifier process makes at the same time, across all endpoints.
    #[arg(long, env = "HERALD_WEBHOOK_CONCURRENCY", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub webhook_concurrency: u32,

    /// Webhook attempts one notifier process makes at the same time to one endpoint (URL).
    #[arg(long, env = "HERALD_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub webhook_endpoint_concurrency: u32,

    /// Log format.
    #[arg(long, env = "HERALD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// `development` runs open while no API key exists (and says so loudly); `production`
    /// requires a key on every request and refuses to start without one.
    #[arg(long, env = "HERALD_MODE", value_enum, default_value_t = Mode::Development)]
    pub mode: Mode,

    /// An admin API key for the default tenant, registered at start-up (make one with
    /// `herald keys generate`). How the embedded backend, whose keys live in the server
    /// process, gets its first key; works on Redis too.
    #[arg(long, env = "HERALD_BOOTSTRAP_ADMIN_KEY", value_parser = PlainKeyParser, hide_env_values = true)]
    pub bootstrap_admin_key: Option<PlainKey>,

    /// The secret (at least 32 bytes) that signs the browser read tokens in job links
    /// (`?token=`). Every api process must share it. Without it, a development process makes
    /// a random one (tokens then work on that process only); production mode refuses to start.
    #[arg(long, env = "HERALD_TOKEN_SECRET", value_parser = TokenSecretParser, hide_env_values = true)]
    pub token_secret: Option<TokenSecret>,

    /// The signing secret before the last rotation: its tokens are still accepted (never
    /// issued) until they expire. Drop it one `--token-ttl` after rotating.
    #[arg(long, env = "HERALD_TOKEN_SECRET_PREVIOUS", value_parser = TokenSecretParser, hide_env_values = true)]
    pub token_secret_previous: Option<TokenSecret>,

    /// How long a read token is valid (at most 24h).
    #[arg(long, env = "HERALD_TOKEN_TTL", default_value = "1h", value_parser = token_ttl)]
    pub token_ttl: Duration,

    /// Requests per second one caller (an API key; a tenant for read tokens and open installs)
    /// may send to `/v1` on this process, on average; 0 turns the limit off. Per process: N
    /// replicas allow N times as much.
    #[arg(long, env = "HERALD_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,

    /// How many requests one caller may send at once after a quiet spell (the bucket's size).
    #[arg(long, env = "HERALD_RATE_LIMIT_BURST", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Requests failing authentication (no key where one is needed; a malformed, unknown or
    /// revoked key; a bad read token) one client address may send per second to this process,
    /// on average; beyond, they answer 429 instead of 401. 0 turns the limit off.
    #[arg(long, env = "HERALD_AUTH_FAILURE_RATE_LIMIT", default_value_t = 5)]
    pub auth_failure_rate_limit: u32,

    /// How many failing requests one client address may send at once before that limit bites.
    #[arg(long, env = "HERALD_AUTH_FAILURE_RATE_LIMIT_BURST", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_failure_rate_limit_burst: u32,

    /// Reverse proxies whose `X-Forwarded-For` names the client address, comma-separated
    /// addresses or networks (like `10.0.0.0/8,fd00::/8`). None by default: the client address
    /// is the TCP peer, and the header is ignored.
    #[arg(long, env = "HERALD_TRUSTED_PROXIES", value_delimiter = ',', value_parser = TrustedProxy::parse)]
    pub trusted_proxies: Vec<TrustedProxy>,

    /// Event streams one caller may hold open on this process at once (0: no limit).
    #[arg(long, env = "HERALD_MAX_STREAMS_PER_KEY", default_value_t = 100)]
    pub max_streams_per_key: usize,

    /// Long polls (`?wait=`) one caller may hold waiting on this process at once (0: no limit).
    #[arg(long, env = "HERALD_MAX_WAITERS_PER_KEY", default_value_t = 100)]
    pub max_waiters_per_key: usize,

    /// How deep arrays and objects may nest in a JSON request body (1 to 128).
    #[arg(long, env = "HERALD_MAX_JSON_DEPTH", default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=128))]
    pub max_json_depth: u16,

    /// How many bytes a request's header fields may add up to; more answers 431 (actix-web
    /// itself refuses a request head over 128 KiB).
    #[arg(long, env = "HERALD_MAX_HEADER_BYTES", default_value_t = 32 * 1024, value_parser = clap::value_parser!(u32).range(1024..=131_072))]
    pub max_header_bytes: u32,

    /// How long a client has to send a request's head once connected; slower ones are cut.
    #[arg(long, env = "HERALD_CLIENT_REQUEST_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub client_request_timeout: Duration,

    /// How long a closing connection may take to shut down before it is dropped.
    #[arg(long, env = "HERALD_CLIENT_DISCONNECT_TIMEOUT", default_value = "1s", value_parser = duration)]
    pub client_disconnect_timeout: Duration,

    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "HERALD_KEEP_ALIVE", default_value = "5s", value_parser = duration)]
    pub keep_alive: Duration,
}

impl ServeArgs {
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
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

/// Everything a process is configured with: the serve settings and, if one was given, the
/// configuration file (whose job types [`crate::job_types`] turns into handlers).
#[derive(Debug, Clone)]
pub struct Settings {
    pub serve: ServeArgs,
    pub file: Option<ConfigFile>,
}

impl Settings {
    /// Settings from a command line (its first item is the program name) and the process
    /// environment: with `--config` (or `HERALD_CONFIG`), the file's `[server]` settings stand
    /// in for the defaults, so the environment and the flags still win over them.
    ///
    /// # Errors
    /// [`SettingsError::Cli`] for a bad flag or value (also one from the file, named by its
    /// flag), [`SettingsError::File`] for a file that cannot be read or has a bad shape.
    pub fn load<I, T>(argv: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
        let first = Cli::try_parse_from(&argv)?.serve_args();
        let Some(path) = first.config.clone() else {
            return Ok(Self {
                serve: first,
                file: None,
            });
        };
        let file = ConfigFile::load(&path)?;
        let command = with_file_defaults(Cli::command(), &file)?;
        let matches = command.try_get_matches_from(&argv)?;
        let serve = Cli::from_arg_matches(&matches)?.serve_args();
        Ok(Self {
            serve,
            file: Some(file),
        })
    }
}

/// What the command line asks for: serving, or managing keys.
#[derive(Debug)]
pub enum Invocation {
    Serve(Box<Settings>),
    Keys(KeysArgs),
}

impl Invocation {
    /// What this process's command line asks for; like [`Settings::from_command_line`], a
    /// usage error, `--help` or `--version` prints and exits.
    ///
    /// # Errors
    /// As [`Settings::from_command_line`].
    pub fn from_command_line() -> anyhow::Result<Self> {
        match Cli::try_parse() {
            Ok(Cli {
                command: Some(Command::Keys(args)),
                ..
            }) => Ok(Self::Keys(args)),
            Ok(_) => Settings::from_command_line().map(|s| Self::Serve(Box::new(s))),
            Err(e) => e.exit(),
        }
    }
}

impl Settings {
    /// Settings from this process's command line and environment, as the `herald` binary
    /// reads them: a usage error, `--help` or `--version` prints as clap formats it and
    /// exits the process.
    ///
    /// # Errors
    /// A configuration file that cannot be read or has a bad shape.
    pub fn from_command_line() -> anyhow::Result<Self> {
        match Self::load(std::env::args_os()) {
            Ok(settings) => Ok(settings),
            Err(SettingsError::Cli(e)) => e.exit(),
            Err(e) => Err(anyhow::Error::new(e).context("failed to read the configuration")),
        }
    }
}

/// `command` with the file's `[server]` settings as the defaults of their flags, both on the
/// bare `herald` and on `herald serve`.
fn with_file_defaults(
    mut command: clap::Command,
    file: &ConfigFile,
) -> Result<clap::Command, FileError> {
    let invalid = |message: String| FileError::Invalid {
        path: file.path.clone(),
        message,
    };
    let settable: Vec<String> = command
        .get_arguments()
        .filter(|arg| arg.get_long().is_some())
        .map(|arg| arg.get_id().to_string())
        .filter(|id| !matches!(id.as_str(), "config" | "help" | "version"))
        .collect();
    for (key, value) in &file.server {
        let id = key.replace('-', "_");
        if !settable.contains(&id) {
            return Err(invalid(format!(
                "unknown setting `server.{key}`; the [server] table takes {}",
                settable.join(", ")
            )));
        }
        let value = flag_value(value).map_err(|e| invalid(format!("`server.{key}` {e}")))?;
        command = command
            .mut_arg(&id, |arg| arg.default_value(value.clone()))
            .mut_subcommand("serve", |serve| {
                serve.mut_arg(&id, |arg| arg.default_value(value))
            });
    }
    Ok(command)
}

fn tenant(raw: &str) -> Result<TenantId, String> {
    TenantId::parse(raw).map_err(|e| e.0)
}

fn key_id(raw: &str) -> Result<ApiKeyId, String> {
    // Accept the whole key or its `hk_<id>_` start too: the id is what counts.
    let id = raw
        .strip_prefix(herald_core::apikey::KEY_PREFIX)
        .map_or(raw, |rest| rest.split('_').next().unwrap_or(rest));
    ApiKeyId::parse(id).map_err(|e| e.0)
}

/// Parses `--bootstrap-admin-key`. Not a plain function parser: clap would repeat the value
/// in its error, and a mistyped key is still a secret.
#[derive(Debug, Clone, Copy)]
struct PlainKeyParser;

impl clap::builder::TypedValueParser for PlainKeyParser {
    type Value = PlainKey;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<PlainKey, clap::Error> {
        value
            .to_str()
            .and_then(|raw| PlainKey::parse(raw).ok())
            .ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    "the bootstrap admin key is not an API key (`hk_<key id>_<secret>`; make \
                     one with `herald keys generate`)\n",
                )
                .with_cmd(cmd)
            })
    }
}

/// Parses `--token-secret` and `--token-secret-previous` without ever repeating the value.
#[derive(Debug, Clone, Copy)]
struct TokenSecretParser;

impl clap::builder::TypedValueParser for TokenSecretParser {
    type Value = TokenSecret;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<TokenSecret, clap::Error> {
        value
            .to_str()
            .and_then(|raw| TokenSecret::new(raw.as_bytes()).ok())
            .ok_or_else(|| {
                clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    "a token secret must be at least 32 bytes of UTF-8 (make one with \
                     `openssl rand -base64 48`)\n",
                )
                .with_cmd(cmd)
            })
    }
}

/// A read token lifetime: a duration of at most [`MAX_TOKEN_TTL`].
fn token_ttl(raw: &str) -> Result<Duration, String> {
    let parsed = duration(raw)?;
    if parsed > MAX_TOKEN_TTL {
        return Err(format!(
            "must be at most {}: a leaked link should not read a job for longer",
            humantime::format_duration(MAX_TOKEN_TTL)
        ));
    }
    Ok(parsed)
}

fn duration(raw: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(raw)
        .map_err(|e| format!("`{raw}` is not a duration like 30s, 5m or 48h: {e}"))?;
    if parsed.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(parsed)
}

/// A heartbeat interval: a duration of at most [`MAX_SSE_HEARTBEAT`], which the contract
/// promises.
fn heartbeat(raw: &str) -> Result<Duration, String> {
    let parsed = duration(raw)?;
    if parsed > MAX_SSE_HEARTBEAT {
        return Err(format!(
            "must be at most {}: clients and proxies count on a comment at least that often",
            humantime::format_duration(MAX_SSE_HEARTBEAT)
        ));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let mut argv = vec!["herald", "serve"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map(Cli::serve_args)
    }

    #[test]
    fn defaults_run_every_role_on_the_embedded_backend() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.roles, [Role::Api, Role::Worker, Role::Notifier]);
        assert!(args.redis_url.is_none());
        assert_eq!(args.webhook_retry_schedule, RetrySchedule::default());
        assert_eq!(args.webhook_timeout, Duration::from_secs(15));
        assert!(!args.webhook_allow_private_targets);
        assert_eq!(args.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(args.lease_timeout, Duration::from_secs(30));
        assert_eq!(args.redis_connect_timeout, Duration::from_secs(1));
        assert_eq!(args.redis_command_timeout, Duration::from_secs(1));
        assert_eq!(args.retention, Duration::from_secs(48 * 3600));
        assert_eq!(args.sse_heartbeat, Duration::from_secs(15));
        assert_eq!(args.sse_retry, Duration::from_secs(3));
        assert!(args.cors_origins.is_empty());
    }

    #[test]
    fn the_mode_is_development_unless_production_is_asked_for() {
        let args = parse(&[]).unwrap();
        assert_eq!(args.mode, Mode::Development);
        assert!(args.bootstrap_admin_key.is_none());
        let args = parse(&["--mode", "production"]).unwrap();
        assert_eq!(args.mode, Mode::Production);
        assert!(parse(&["--mode", "staging"]).is_err());
    }

    #[test]
    fn a_bootstrap_admin_key_is_parsed_and_a_bad_one_is_refused_without_echoing_it() {
        let key = PlainKey::generate();
        let args = parse(&["--bootstrap-admin-key", &key.reveal()]).unwrap();
        assert_eq!(args.bootstrap_admin_key, Some(key.clone()));
        assert!(!format!("{args:?}").contains(&key.reveal()));

        let typo = format!("{}!", key.reveal());
        let error = parse(&["--bootstrap-admin-key", &typo])
            .unwrap_err()
            .to_string();
        assert!(error.contains("herald keys generate"), "{error}");
        assert!(!error.contains(&typo), "{error}");
    }

    #[test]
    fn token_settings_are_parsed_bounded_and_never_echoed() {
        let args = parse(&[]).unwrap();
        assert!(args.token_secret.is_none() && args.token_secret_previous.is_none());
        assert_eq!(args.token_ttl, Duration::from_secs(3600));

        let current = "c".repeat(32);
        let previous = "p".repeat(40);
        let args = parse(&[
            "--token-secret",
            &current,
            "--token-secret-previous",
            &previous,
            "--token-ttl",
            "10m",
        ])
        .unwrap();
        assert!(args.token_secret.is_some() && args.token_secret_previous.is_some());
        assert_eq!(args.token_ttl, Duration::from_secs(600));
        let debug = format!("{args:?}");
        assert!(
            !debug.contains(&current) && !debug.contains(&previous),
            "{debug}"
        );

        let short = "s".repeat(31);
        let error = parse(&["--token-secret", &short]).unwrap_err().to_string();
        assert!(error.contains("at least 32 bytes"), "{error}");
        assert!(!error.contains(&short), "{error}");
        assert!(parse(&["--token-ttl", "25h"]).is_err());
    }

    #[test]
    fn keys_commands_parse_with_their_redis_settings() {
        let cli = Cli::try_parse_from([
            "herald",
            "keys",
            "create",
            "--tenant",
            "acme",
            "--admin",
            "--redis-url",
            "redis://127.0.0.1:1",
        ])
        .unwrap();
        let Some(Command::Keys(args)) = cli.command else {
            panic!("a keys command");
        };
        assert_eq!(args.redis_url.as_deref(), Some("redis://127.0.0.1:1"));
        assert!(matches!(
            args.action,
            KeysAction::Create { admin: true, ref tenant, .. } if tenant.as_str() == "acme"
        ));
        let cli = Cli::try_parse_from(["herald", "keys", "revoke", "hk_0123456789abcdef_x"]);
        let Some(Command::Keys(args)) = cli.unwrap().command else {
            panic!("a keys command");
        };
        assert!(
            matches!(args.action, KeysAction::Revoke { ref id } if id.as_str() == "0123456789abcdef")
        );
        assert!(Cli::try_parse_from(["herald", "keys", "create", "--tenant", "a b"]).is_err());
    }

    #[test]
    fn a_bare_herald_serves_with_the_defaults() {
        let args = Cli::try_parse_from(["herald"]).unwrap().serve_args();
        assert_eq!(args.roles, [Role::Api, Role::Worker, Role::Notifier]);
    }

    #[test]
    fn serve_flags_work_without_the_serve_command() {
        let args = Cli::try_parse_from(["herald", "--bind", "127.0.0.1:9999", "--roles", "worker"])
            .unwrap()
            .serve_args();
        assert_eq!(args.bind.to_string(), "127.0.0.1:9999");
        assert_eq!(args.roles, [Role::Worker]);
    }

    #[test]
    fn roles_are_a_comma_separated_list() {
        assert_eq!(parse(&["--roles", "worker"]).unwrap().roles, [Role::Worker]);
        assert_eq!(
            parse(&["--roles", "api,worker"]).unwrap().roles,
            [Role::Api, Role::Worker]
        );
        assert_eq!(
            parse(&["--roles", "notifier"]).unwrap().roles,
            [Role::Notifier]
        );
        assert!(parse(&["--roles", "janitor"]).is_err());
    }

    #[test]
    fn webhook_settings_have_flags() {
        let args = parse(&[
            "--webhook-retry-schedule",
            "1s,2s",
            "--webhook-timeout",
            "2s",
            "--webhook-allow-private-targets",
        ])
        .unwrap();
        assert_eq!(
            args.webhook_retry_schedule.delays(),
            [Duration::from_secs(1), Duration::from_secs(2)]
        );
        assert_eq!(args.webhook_timeout, Duration::from_secs(2));
        assert!(args.webhook_allow_private_targets);
        assert!(parse(&["--webhook-retry-schedule", "5s,soon"]).is_err());
    }

    #[test]
    fn abuse_limits_have_flags_and_env_twins() {
        let defaults = parse(&[]).unwrap();
        assert_eq!((defaults.rate_limit, defaults.rate_limit_burst), (100, 200));
        assert_eq!(defaults.max_streams_per_key, 100);
        assert_eq!(defaults.max_waiters_per_key, 100);
        assert_eq!(defaults.max_json_depth, 64);
        assert_eq!(defaults.max_header_bytes, 32 * 1024);
        assert_eq!(defaults.client_request_timeout, Duration::from_secs(5));
        let args = parse(&[
            "--rate-limit",
            "0",
            "--rate-limit-burst",
            "7",
            "--max-streams-per-key",
            "3",
            "--max-waiters-per-key",
            "4",
            "--max-json-depth",
            "16",
            "--client-request-timeout",
            "2s",
            "--client-disconnect-timeout",
            "500ms",
            "--keep-alive",
            "10s",
        ])
        .unwrap();
        assert_eq!((args.rate_limit, args.rate_limit_burst), (0, 7));
        assert_eq!((args.max_streams_per_key, args.max_waiters_per_key), (3, 4));
        assert_eq!(args.max_json_depth, 16);
        assert_eq!(args.client_request_timeout, Duration::from_secs(2));
        assert_eq!(args.client_disconnect_timeout, Duration::from_millis(500));
        assert_eq!(args.keep_alive, Duration::from_secs(10));
        assert!(parse(&["--max-json-depth", "129"]).is_err());
        assert_eq!(
            parse(&["--max-header-bytes", "4096"])
                .unwrap()
                .max_header_bytes,
            4096
        );
        assert!(parse(&["--max-header-bytes", "200000"]).is_err());
        assert!(parse(&["--rate-limit-burst", "0"]).is_err());
    }

    #[test]
    fn failed_authentications_are_limited_per_address_by_flags_with_env_twins() {
        let defaults = parse(&[]).unwrap();
        assert_eq!(
            (
                defaults.auth_failure_rate_limit,
                defaults.auth_failure_rate_limit_burst
            ),
            (5, 20)
        );
        assert!(defaults.trusted_proxies.is_empty());
        let args = parse(&[
            "--auth-failure-rate-limit",
            "0",
            "--auth-failure-rate-limit-burst",
            "3",
            "--trusted-proxies",
            "10.0.0.0/8,192.168.1.7",
        ])
        .unwrap();
        assert_eq!(
            (
                args.auth_failure_rate_limit,
                args.auth_failure_rate_limit_burst
            ),
            (0, 3)
        );
        assert_eq!(
            args.trusted_proxies,
            [
                TrustedProxy::parse("10.0.0.0/8").unwrap(),
                TrustedProxy::parse("192.168.1.7").unwrap()
            ]
        );
        assert!(parse(&["--auth-failure-rate-limit-burst", "0"]).is_err());
        let error = parse(&["--trusted-proxies", "10.0.0.0/40"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an IP address or network"), "{error}");
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(
            parse(&["--lease-timeout", "2s"]).unwrap().lease_timeout,
            Duration::from_secs(2)
        );
        assert!(parse(&["--lease-timeout", "soon"]).is_err());
        assert!(parse(&["--lease-timeout", "0s"]).is_err());
        let redis = parse(&[
            "--redis-connect-timeout",
            "250ms",
            "--redis-command-timeout",
            "3s",
        ])
        .unwrap();
        assert_eq!(redis.redis_connect_timeout, Duration::from_millis(250));
        assert_eq!(redis.redis_command_timeout, Duration::from_secs(3));
        assert!(parse(&["--redis-command-timeout", "0s"]).is_err());
        assert!(parse(&["--concurrency", "0"]).is_err());
    }

    #[test]
    fn heartbeats_longer_than_15_seconds_are_refused() {
        assert_eq!(
            parse(&["--sse-heartbeat", "500ms"]).unwrap().sse_heartbeat,
            Duration::from_millis(500)
        );
        assert!(parse(&["--sse-heartbeat", "15s"]).is_ok());
        let err = parse(&["--sse-heartbeat", "16s"]).unwrap_err().to_string();
        assert!(err.contains("at most 15s"), "{err}");
        assert!(parse(&["--sse-heartbeat", "0s"]).is_err());
    }

    /// Settings from a command line with a configuration file of `text`.
    fn load_with_file(text: &str, args: &[&str]) -> Result<Settings, SettingsError> {
        let dir = std::env::temp_dir().join(format!("herald-config-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("herald.toml");
        std::fs::write(&path, text).unwrap();
        let mut argv = vec!["herald".to_owned(), "serve".to_owned()];
        argv.push(format!("--config={}", path.display()));
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        let loaded = Settings::load(argv);
        std::fs::remove_dir_all(&dir).unwrap();
        loaded
    }

    fn uuid_like() -> String {
        format!(
            "{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        )
    }

    #[test]
    fn the_files_server_settings_replace_the_defaults_and_flags_win_over_them() {
        let text = r#"
            [server]
            bind = "127.0.0.1:9191"
            concurrency = 3
            roles = ["api", "worker"]
            webhook_allow_private_targets = true
            lease-timeout = "7s"
        "#;
        let serve = load_with_file(text, &[]).unwrap().serve;
        assert_eq!(serve.bind.to_string(), "127.0.0.1:9191");
        assert_eq!(serve.concurrency, 3);
        assert_eq!(serve.roles, [Role::Api, Role::Worker]);
        assert!(serve.webhook_allow_private_targets);
        assert_eq!(serve.lease_timeout, Duration::from_secs(7));
        // Untouched settings keep their defaults.
        assert_eq!(serve.retention, Duration::from_secs(48 * 3600));

        let serve = load_with_file(text, &["--concurrency", "5"]).unwrap().serve;
        assert_eq!(serve.concurrency, 5);
    }

    #[test]
    fn a_bad_server_setting_in_the_file_is_named() {
        let err = load_with_file(
            "[server]
bnid = \"x\"
",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.bnid") && err.contains("bind"), "{err}");
        let err = load_with_file(
            "[server]
concurrency = 0
",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("concurrency"), "{err}");
        let err = load_with_file(
            "[server]
config = \"other.toml\"
",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("server.config"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let argv = ["herald", "--config", "/nonexistent/herald.toml"];
        let err = Settings::load(argv).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/herald.toml"), "{err}");
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list_of_origins() {
        let args = parse(&["--cors-origins", "https://a.example,http://localhost:5173"]).unwrap();
        let origins: Vec<&str> = args.cors_origins.iter().map(CorsOrigin::as_str).collect();
        assert_eq!(origins, ["https://a.example", "http://localhost:5173"]);
        let err = parse(&["--cors-origins", "https://a.example/app"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://a.example/app"), "{err}");
    }
}
