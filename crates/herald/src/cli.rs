//! The command line: `herald [serve]` with every setting as a flag (its help, its
//! `HERALD_…` twin, its default and its check), `herald keys …`, and the client commands
//! `herald jobs|webhooks|sources …` ([`crate::client`]). The serve flags'
//! values are not read from [`ServeArgs`]: [`crate::settings`] layers them over the
//! configuration file into the settings tree.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use herald_api::TokenSecret;
use herald_api::{CorsOrigin, TrustedProxy};
use herald_core::TenantId;
use herald_core::apikey::{ApiKeyId, PlainKey};
use herald_notifier::schedule::RetrySchedule;

use crate::client::{JobsArgs, SourcesArgs, WebhooksArgs};
use crate::settings::values::{self, RedisUrl};
use crate::settings::{Ack, LogFormat, Mode, Role};

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
    /// Submits, lists, follows, cancels and retries jobs on a running Herald.
    Jobs(JobsArgs),
    /// Lists webhook subscriptions and their deliveries; retries a delivery, replays a window.
    Webhooks(WebhooksArgs),
    /// Lists inbound webhook sources and the requests they received; replays a window.
    Sources(SourcesArgs),
}

/// `herald keys …`: API keys in the Redis a deployment shares. (The embedded backend keeps
/// its keys in the server process: see `--bootstrap-admin-key` and the admin API.)
#[derive(Debug, Clone, Parser)]
pub struct KeysArgs {
    /// The Redis the servers use.
    #[arg(long, env = "HERALD_REDIS_URL", global = true, value_parser = values::redis_url, hide_env_values = true)]
    pub redis_url: Option<RedisUrl>,

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

/// Every setting of `herald serve` as a flag: its help, its `HERALD_…` twin, its default and
/// its check. The values are not read from here: [`crate::settings`] takes each one's text with
/// where it came from (default, variable, flag) and layers them over the configuration file.
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
    /// `redis://` or `rediss://` (one server), `redis+sentinel://H:P[,H:P…]/MASTER`,
    /// `redis+cluster://H:P[,H:P…]` or `rediss+cluster://…`.
    #[arg(long, env = "HERALD_REDIS_URL", value_parser = values::redis_url, hide_env_values = true)]
    pub redis_url: Option<RedisUrl>,

    /// Prefix of every Redis key Herald writes, so installs can share a Redis.
    #[arg(long, env = "HERALD_REDIS_PREFIX", default_value = "herald")]
    pub redis_prefix: String,

    /// How long opening a connection to Redis may take (TCP, TLS and the handshake).
    #[arg(long, env = "HERALD_REDIS_CONNECT_TIMEOUT", default_value = "1s", value_parser = values::duration)]
    pub redis_connect_timeout: Duration,

    /// How long one Redis command may take, waiting for a lost connection to come back included;
    /// past it the request answers 503 (`backend-unavailable`). Blocking reads (workers waiting
    /// for jobs) wait as long as they ask for, whatever this says.
    #[arg(long, env = "HERALD_REDIS_COMMAND_TIMEOUT", default_value = "1s", value_parser = values::duration)]
    pub redis_command_timeout: Duration,

    /// When a write to Redis is acknowledged (a `202`, a worker's completion, a recorded webhook
    /// attempt, …): `local` once the primary has it; `replicated` once a replica has it too
    /// (`WAIT 1`), so that a failover cannot lose it. Without a replica's confirmation within
    /// --redis-ack-timeout the request answers 503, and a retry with the same
    /// `Idempotency-Key` finds the job rather than making a second one.
    #[arg(long, env = "HERALD_REDIS_ACK", value_enum, default_value_t = Ack::Local)]
    pub redis_ack: Ack,

    /// How long a replica may take to confirm a write under `--redis-ack replicated`.
    #[arg(long, env = "HERALD_REDIS_ACK_TIMEOUT", default_value = "1s", value_parser = values::duration)]
    pub redis_ack_timeout: Duration,

    /// How many partitions the Redis keys are spread over (1 to 64), each under a hash tag of
    /// its own: on a Redis Cluster, that many slots spread over its shards, so that adding
    /// shards adds throughput. Set by the first process to start on a prefix (default 1) and
    /// fixed from then on; a process started without it takes the deployment's, and one
    /// started with another number refuses to start.
    #[arg(long, env = "HERALD_REDIS_PARTITIONS", value_parser = values::redis_partitions)]
    pub redis_partitions: Option<usize>,

    /// Roles of this process, comma-separated (default: all).
    #[arg(
        long,
        env = "HERALD_ROLES",
        value_delimiter = ',',
        default_value = "api,worker,notifier"
    )]
    pub roles: Vec<Role>,

    /// Jobs one worker process runs at the same time.
    #[arg(long, env = "HERALD_CONCURRENCY", default_value_t = 16, value_parser = values::worker_concurrency)]
    pub concurrency: u32,

    /// How long a running job may go without its worker's heartbeat before another worker
    /// takes it over (heartbeats are sent at a third of this).
    #[arg(long, env = "HERALD_LEASE_TIMEOUT", default_value = "30s", value_parser = values::duration)]
    pub lease_timeout: Duration,

    /// How long finished jobs (record, history, result) are kept.
    #[arg(long, env = "HERALD_RETENTION", default_value = "48h", value_parser = values::duration)]
    pub retention: Duration,

    /// On SIGTERM, how long running jobs may finish before they are handed back to the queue
    /// and open requests are cut.
    #[arg(long, env = "HERALD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = values::duration)]
    pub shutdown_timeout: Duration,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest silence on an event stream (at most 15s): a comment comes after four fifths of it.
    #[arg(long, env = "HERALD_SSE_HEARTBEAT", default_value = "15s", value_parser = values::heartbeat)]
    pub sse_heartbeat: Duration,

    /// How long a browser's EventSource waits before reconnecting (the streams' `retry:` hint).
    #[arg(long, env = "HERALD_SSE_RETRY", default_value = "3s", value_parser = values::duration)]
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
    #[arg(long, env = "HERALD_WEBHOOK_TIMEOUT", default_value = "15s", value_parser = values::duration)]
    pub webhook_timeout: Duration,

    /// Permits webhook targets on loopback, private and link-local addresses (development
    /// and tests; refused by default).
    #[arg(long, env = "HERALD_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,

    /// Webhook attempts one notifier process makes at the same time, across all endpoints.
    #[arg(long, env = "HERALD_WEBHOOK_CONCURRENCY", default_value_t = 512, value_parser = values::webhook_concurrency)]
    pub webhook_concurrency: u32,

    /// Webhook attempts one notifier process makes at the same time to one endpoint (URL).
    #[arg(long, env = "HERALD_WEBHOOK_ENDPOINT_CONCURRENCY", default_value_t = 32, value_parser = values::webhook_endpoint_concurrency)]
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
    #[arg(long, env = "HERALD_TOKEN_TTL", default_value = "1h", value_parser = values::token_ttl)]
    pub token_ttl: Duration,

    /// Requests per second one caller (an API key; a tenant for read tokens and open installs)
    /// may send to `/v1` on this process, on average; 0 turns the limit off. Per process: N
    /// replicas allow N times as much.
    #[arg(long, env = "HERALD_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit: u32,

    /// How many requests one caller may send at once after a quiet spell (the bucket's size).
    #[arg(long, env = "HERALD_RATE_LIMIT_BURST", default_value_t = 200, value_parser = values::burst)]
    pub rate_limit_burst: u32,

    /// Requests failing authentication (no key where one is needed; a malformed, unknown or
    /// revoked key; a bad read token) one client address may send per second to this process,
    /// on average; beyond, they answer 429 instead of 401. 0 turns the limit off.
    #[arg(long, env = "HERALD_AUTH_FAILURE_RATE_LIMIT", default_value_t = 5)]
    pub auth_failure_rate_limit: u32,

    /// How many failing requests one client address may send at once before that limit bites.
    #[arg(long, env = "HERALD_AUTH_FAILURE_RATE_LIMIT_BURST", default_value_t = 20, value_parser = values::burst)]
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
    #[arg(long, env = "HERALD_MAX_JSON_DEPTH", default_value_t = 64, value_parser = values::json_depth)]
    pub max_json_depth: u16,

    /// How many bytes a request's header fields may add up to; more answers 431 (actix-web
    /// itself refuses a request head over 128 KiB).
    #[arg(long, env = "HERALD_MAX_HEADER_BYTES", default_value_t = 32 * 1024, value_parser = values::header_bytes)]
    pub max_header_bytes: u32,

    /// How long a client has to send a request's head once connected; slower ones are cut.
    #[arg(long, env = "HERALD_CLIENT_REQUEST_TIMEOUT", default_value = "5s", value_parser = values::duration)]
    pub client_request_timeout: Duration,

    /// How long a closing connection may take to shut down before it is dropped.
    #[arg(long, env = "HERALD_CLIENT_DISCONNECT_TIMEOUT", default_value = "1s", value_parser = values::duration)]
    pub client_disconnect_timeout: Duration,

    /// How long an idle keep-alive connection stays open.
    #[arg(long, env = "HERALD_KEEP_ALIVE", default_value = "5s", value_parser = values::duration)]
    pub keep_alive: Duration,

    /// Serves the web console at `/console` (api role); `--console false` turns it off.
    #[arg(long, env = "HERALD_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
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

/// Parses a secret with `parse`, refusing it with `parse`'s message alone: clap's own
/// message would repeat the value.
fn secret<T>(
    cmd: &clap::Command,
    value: &std::ffi::OsStr,
    parse: fn(&str) -> Result<T, String>,
) -> Result<T, clap::Error> {
    let not_utf8 = || "is not UTF-8".to_owned();
    value
        .to_str()
        .ok_or_else(not_utf8)
        .and_then(parse)
        .map_err(|message| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{message}\n"),
            )
            .with_cmd(cmd)
        })
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
        secret(cmd, value, values::plain_key)
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
        secret(cmd, value, values::token_secret)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

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
        assert_eq!(
            args.redis_url.as_ref().map(RedisUrl::expose),
            Some("redis://127.0.0.1:1")
        );
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
}
