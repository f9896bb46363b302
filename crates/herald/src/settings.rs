//! What a process is configured with: one [`Settings`] tree, a section per concern, every
//! value checked at start-up into its type. The tree is read from defaults < the
//! configuration file's `[server]` table < `HERALD_…` variables < flags, and each role's
//! runtime configuration is built from its section here.
//!
//! Every setting is one `herald serve` flag ([`crate::cli::ServeArgs`]), with a `HERALD_…`
//! twin and a `[server]` key of the same name; one table in the `layers` module says where in
//! the tree each one goes. [`values`] parses what people write, for clap and for the tree
//! alike.

mod layers;
#[cfg(test)]
mod tests;
pub mod values;

use std::net::SocketAddr;
use std::time::Duration;

use clap::ValueEnum;
use herald_api::TokenSecret;
use herald_api::{CorsOrigin, TrustedProxy};
use herald_core::apikey::PlainKey;
use herald_core::store::redis::{RedisAck, RedisTimeouts};
use herald_core::{JobLimits, JobTypes, StoreConfig};
use herald_notifier::NotifierConfig;
use herald_notifier::schedule::RetrySchedule;
use herald_worker::WorkerConfig;
use serde::Deserialize;

pub use self::layers::{Invocation, SettingsError};
pub use self::values::RedisUrl;
use self::values::de;
use crate::file::ConfigFile;

/// How strictly the API asks for keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Open while no API key exists (every request acts for the default tenant, with a loud
    /// warning at start-up); as soon as one exists, every request needs one.
    Development,
    /// Every request needs an API key; refuses to start while none exists.
    Production,
}

/// A role a process plays. Without `--roles`, a process plays all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The HTTP API: jobs, polling, health and metrics.
    Api,
    /// Claims and runs jobs.
    Worker,
    /// Delivers webhooks.
    Notifier,
}

/// When a write to Redis is acknowledged (`--redis-ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ack {
    /// Once the primary has it.
    Local,
    /// Once a replica has it too (`WAIT 1`).
    Replicated,
}

/// How the process logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Everything a process is configured with. What each setting means is its flag's help
/// (`herald --help`).
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub backend: Backend,
    pub jobs: JobSettings,
    pub api: ApiSettings,
    pub worker: WorkerSettings,
    pub notifier: NotifierSettings,
    /// The configuration file, if one was given: its job types, which
    /// [`crate::job_types`] turns into handlers and policies.
    #[serde(skip)]
    pub file: Option<ConfigFile>,
}

/// The process as a whole: where it listens, what it plays, how strict it is.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    #[serde(deserialize_with = "de::from_str")]
    pub bind: SocketAddr,
    #[serde(deserialize_with = "de::roles")]
    pub roles: Vec<Role>,
    pub mode: Mode,
    #[serde(deserialize_with = "de::duration")]
    pub shutdown_timeout: Duration,
    #[serde(default, deserialize_with = "de::plain_key")]
    pub bootstrap_admin_key: Option<PlainKey>,
}

impl ServerSettings {
    /// Whether this process plays `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// Where jobs, webhooks and keys live: in this process, or in a Redis that processes share.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "BackendFields")]
pub enum Backend {
    /// The embedded in-memory backend: one process, nothing survives it.
    Memory,
    Redis(RedisSettings),
}

/// A shared Redis.
#[derive(Debug, Clone)]
pub struct RedisSettings {
    pub url: RedisUrl,
    /// Prefix of every key Herald writes, so installs can share a Redis.
    pub prefix: String,
    pub timeouts: RedisTimeouts,
    pub ack: RedisAck,
    /// How many partitions the keys are spread over; `None` takes the deployment's.
    pub partitions: Option<usize>,
}

/// The backend's settings as they are written: a Redis URL or none.
#[derive(Deserialize)]
struct BackendFields {
    #[serde(default, deserialize_with = "de::redis_url")]
    url: Option<RedisUrl>,
    prefix: String,
    #[serde(deserialize_with = "de::duration")]
    connect_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    command_timeout: Duration,
    ack: Ack,
    #[serde(deserialize_with = "de::duration")]
    ack_timeout: Duration,
    #[serde(default, deserialize_with = "de::redis_partitions")]
    partitions: Option<usize>,
}

impl From<BackendFields> for Backend {
    fn from(fields: BackendFields) -> Self {
        match fields.url {
            None => Self::Memory,
            Some(url) => Self::Redis(RedisSettings {
                url,
                prefix: fields.prefix,
                timeouts: RedisTimeouts {
                    connect: fields.connect_timeout,
                    command: fields.command_timeout,
                },
                ack: match fields.ack {
                    Ack::Local => RedisAck::Local,
                    Ack::Replicated => RedisAck::Replicated {
                        timeout: fields.ack_timeout,
                    },
                },
                partitions: fields.partitions,
            }),
        }
    }
}

/// How long jobs are held, by any role.
#[derive(Debug, Clone, Deserialize)]
pub struct JobSettings {
    #[serde(deserialize_with = "de::duration")]
    pub lease_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub retention: Duration,
}

impl JobSettings {
    /// The store's configuration, with the install's job types.
    pub fn store_config(&self, job_types: JobTypes) -> StoreConfig {
        StoreConfig {
            retention: self.retention,
            lease_timeout: self.lease_timeout,
            job_types,
            ..StoreConfig::default()
        }
    }
}

/// The HTTP API: limits, streams, browsers, read tokens.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    #[serde(deserialize_with = "de::from_str")]
    pub max_body_bytes: usize,
    #[serde(deserialize_with = "de::heartbeat")]
    pub sse_heartbeat: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub sse_retry: Duration,
    #[serde(default, deserialize_with = "de::cors_origins")]
    pub cors_origins: Vec<CorsOrigin>,
    pub tokens: TokenSettings,
    pub rate_limit: RateSettings,
    pub auth_failure_rate_limit: RateSettings,
    #[serde(default, deserialize_with = "de::trusted_proxies")]
    pub trusted_proxies: Vec<TrustedProxy>,
    #[serde(deserialize_with = "de::from_str")]
    pub max_streams_per_key: usize,
    #[serde(deserialize_with = "de::from_str")]
    pub max_waiters_per_key: usize,
    #[serde(deserialize_with = "de::json_depth")]
    pub max_json_depth: u16,
    #[serde(deserialize_with = "de::header_bytes")]
    pub max_header_bytes: u32,
    #[serde(deserialize_with = "de::duration")]
    pub client_request_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub client_disconnect_timeout: Duration,
    #[serde(deserialize_with = "de::duration")]
    pub keep_alive: Duration,
    #[serde(deserialize_with = "de::from_str")]
    pub console: bool,
}

/// The secrets that sign job links' read tokens, and how long a token lives.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSettings {
    #[serde(default, deserialize_with = "de::token_secret")]
    pub secret: Option<TokenSecret>,
    #[serde(default, deserialize_with = "de::token_secret")]
    pub previous: Option<TokenSecret>,
    #[serde(deserialize_with = "de::token_ttl")]
    pub ttl: Duration,
}

/// A token bucket: its rate (0: no limit) and size.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct RateSettings {
    #[serde(deserialize_with = "de::from_str")]
    pub per_second: u32,
    #[serde(deserialize_with = "de::burst")]
    pub burst: u32,
}

impl From<RateSettings> for herald_api::RateLimit {
    fn from(rate: RateSettings) -> Self {
        Self {
            per_second: rate.per_second,
            burst: rate.burst,
        }
    }
}

/// The worker role.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkerSettings {
    #[serde(deserialize_with = "de::worker_concurrency")]
    pub concurrency: u32,
}

/// The notifier role: how webhooks are sent and retried.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifierSettings {
    #[serde(deserialize_with = "de::from_str")]
    pub retry_schedule: RetrySchedule,
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// Also read by the api, which checks targets when a job or subscription names one.
    #[serde(deserialize_with = "de::from_str")]
    pub allow_private_targets: bool,
    #[serde(deserialize_with = "de::webhook_concurrency")]
    pub concurrency: u32,
    #[serde(deserialize_with = "de::webhook_endpoint_concurrency")]
    pub endpoint_concurrency: u32,
}

impl From<&NotifierSettings> for NotifierConfig {
    fn from(notifier: &NotifierSettings) -> Self {
        Self {
            retry_schedule: notifier.retry_schedule.clone(),
            timeout: notifier.timeout,
            allow_private_targets: notifier.allow_private_targets,
            concurrency: notifier.concurrency as usize,
            endpoint_concurrency: notifier.endpoint_concurrency as usize,
            ..Self::default()
        }
    }
}

impl Settings {
    /// The worker role's configuration: its section, heartbeats at a third of the lease, and
    /// the shutdown's drain time.
    pub fn worker_config(&self, job_types: JobTypes) -> WorkerConfig {
        WorkerConfig {
            concurrency: self.worker.concurrency as usize,
            heartbeat_interval: self.jobs.lease_timeout / 3,
            drain_timeout: self.server.shutdown_timeout,
            job_types,
            ..WorkerConfig::default()
        }
    }

    /// The api's configuration (also that of the operations endpoints every process serves).
    pub fn api_config(
        &self,
        job_types: JobTypes,
        limits: JobLimits,
        tokens: herald_api::ReadTokens,
    ) -> herald_api::ApiConfig {
        let api = &self.api;
        herald_api::ApiConfig {
            job_types,
            limits,
            max_body_bytes: api.max_body_bytes,
            shutdown_timeout: self.server.shutdown_timeout,
            sse_heartbeat: api.sse_heartbeat,
            sse_retry: api.sse_retry,
            cors_origins: api.cors_origins.clone(),
            allow_private_targets: self.notifier.allow_private_targets,
            require_keys: self.server.mode == Mode::Production,
            tokens,
            rate_limit: api.rate_limit.into(),
            auth_failure_rate_limit: api.auth_failure_rate_limit.into(),
            trusted_proxies: api.trusted_proxies.clone(),
            max_streams_per_key: api.max_streams_per_key,
            max_waiters_per_key: api.max_waiters_per_key,
            max_json_depth: usize::from(api.max_json_depth),
            max_header_bytes: api.max_header_bytes as usize,
            client_request_timeout: api.client_request_timeout,
            client_disconnect_timeout: api.client_disconnect_timeout,
            keep_alive: api.keep_alive,
            console: api.console,
            ..herald_api::ApiConfig::default()
        }
    }
}
