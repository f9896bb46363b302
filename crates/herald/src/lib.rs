//! The `herald` process: builds the store and the roles from the configuration and
//! supervises them until shutdown. `main` and the tests start Herald the same way, through
//! [`Application::build`].
//!
//! # Layout
//! - [`config`] reads the command line, its `HERALD_…` environment twins and the
//!   configuration file's `[server]` settings.
//! - [`file`] reads the configuration file (`--config herald.toml`).
//! - [`job_types`] turns the built-in handlers and the file's job types into the worker's
//!   handlers and the catalog every role reads.
//! - [`keys`] runs `herald keys …` (API keys in Redis) and registers the bootstrap admin key.
//! - [`telemetry`] sets up logging.
//! - [`Application`] starts and supervises the api, worker and notifier roles.
//! - [`raise_open_files_limit`] lifts the process's file descriptor limit for many streams.

pub mod config;
pub mod file;
pub mod job_types;
pub mod keys;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::{RedisStore, RedisTimeouts};
use herald_core::store::{SharedKeyStore, SharedWebhookStore};
use herald_core::{SharedStore, StoreConfig};
use herald_notifier::{NotifierConfig, NotifierDeps, NotifierMetrics};
use herald_worker::{Registry as Handlers, Worker, WorkerConfig, WorkerMetrics};
use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Mode, Role, Settings};

/// Raises the soft limit on open files to the hard limit, and logs what it is now.
///
/// Every open event stream holds a socket: ten thousand browsers following their jobs need ten
/// thousand file descriptors, far beyond the usual soft limit of 1024. Raising the soft limit
/// up to the hard one needs no privilege; beyond it, the operator raises the hard limit
/// (`ulimit -Hn`, systemd's `LimitNOFILE`, Docker's `--ulimit nofile`).
pub fn raise_open_files_limit() {
    let before = match rlimit::Resource::NOFILE.get() {
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(%error, "cannot read the open files limit");
            return;
        }
    };
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) if now > before => {
            tracing::info!(
                before,
                now,
                "raised the open files limit (each event stream holds one)"
            );
        }
        Ok(now) => tracing::info!(
            limit = now,
            "the open files limit is already at its hard limit (each event stream holds one)"
        ),
        Err(error) => tracing::warn!(
            %error,
            limit = before,
            "cannot raise the open files limit; it bounds how many event streams can be open"
        ),
    }
}

/// The read token settings: the configured secrets, or — in development only — a random
/// secret of this process.
///
/// # Errors
/// Production mode with the api role and no `--token-secret`: api processes behind one load
/// balancer must share it, so a secret made up here would break their links.
fn read_tokens(args: &config::ServeArgs) -> anyhow::Result<herald_api::ReadTokens> {
    let current = match (&args.token_secret, args.mode) {
        (Some(secret), _) => secret.clone(),
        (None, Mode::Production) if args.runs(Role::Api) => anyhow::bail!(
            "production mode needs --token-secret (or HERALD_TOKEN_SECRET), at least 32 bytes \
             shared by every api process, to sign the read tokens of job links; make one with \
             `openssl rand -base64 48`"
        ),
        (None, _) => {
            if args.runs(Role::Api) {
                tracing::info!(
                    "no --token-secret: the read tokens of job links are signed with a random \
                     secret of this process, so they work on this process only and not after a \
                     restart; set --token-secret (shared by every api process) to keep them"
                );
            }
            herald_api::TokenSecret::generate()
        }
    };
    Ok(herald_api::ReadTokens {
        current,
        previous: args.token_secret_previous.clone(),
        ttl: args.token_ttl,
    })
}

/// A started Herald process: its roles running, its HTTP port bound.
pub struct Application {
    port: u16,
    roles: JoinSet<(&'static str, anyhow::Result<()>)>,
    shutdown: CancellationToken,
}

impl Application {
    /// Connects the backend, binds the API (if this process runs it) and starts every role,
    /// with the built-in job types and those of the configuration file. Everything stops when
    /// `shutdown` is cancelled.
    ///
    /// # Errors
    /// When the configuration's job types are invalid, the backend cannot be reached or the
    /// address cannot be bound.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        Self::build_with(settings, Handlers::with_builtins(), shutdown).await
    }

    /// [`Application::build`] with the job types of `handlers` (say, the built-ins and
    /// handlers of your own, embedding Herald in a Rust program) in place of the built-ins.
    ///
    /// # Errors
    /// As [`Application::build`].
    pub async fn build_with(
        settings: Settings,
        handlers: Handlers,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let Settings { serve: args, file } = settings;
        let limits = herald_core::JobLimits::default();
        let job_types::Assembled {
            handlers,
            job_types,
        } = job_types::assemble(handlers, file.as_ref(), &limits, args.max_body_bytes)?;
        let store_config = StoreConfig {
            retention: args.retention,
            lease_timeout: args.lease_timeout,
            job_types: job_types.clone(),
            ..StoreConfig::default()
        };
        // One backend behind the three traits: the webhook outbox is written by the job store's
        // own atomic writes, and API keys live beside the jobs they guard.
        type Backend = (SharedStore, SharedWebhookStore, SharedKeyStore);
        let (store, webhooks, keys): Backend = match &args.redis_url {
            None => {
                for (role, what) in [
                    (Role::Worker, "job will ever run"),
                    (Role::Notifier, "webhook will ever be sent"),
                ] {
                    if !args.runs(role) {
                        tracing::warn!(
                            "the embedded backend lives in this process only: without the {role:?} role no {what}"
                        );
                    }
                }
                let store = Arc::new(MemoryStore::new(store_config));
                (store.clone(), store.clone(), store)
            }
            Some(url) => {
                let timeouts = RedisTimeouts {
                    connect: args.redis_connect_timeout,
                    command: args.redis_command_timeout,
                };
                let store = Arc::new(
                    RedisStore::connect_with(url, &args.redis_prefix, store_config, timeouts)
                        .await
                        .context("failed to connect to Redis")?,
                );
                (store.clone(), store.clone(), store)
            }
        };
        if let Some(key) = &args.bootstrap_admin_key {
            keys::register_bootstrap(&*keys, key).await?;
        }
        if args.runs(Role::Api) {
            keys::check_mode(&*keys, args.mode, args.redis_url.is_some(), args.bind).await?;
        }
        let tokens = read_tokens(&args)?;
        let backend = if args.redis_url.is_some() {
            "redis"
        } else {
            "embedded memory"
        };

        let handlers = Arc::new(handlers);
        let mut registry = Registry::with_prefix("herald");
        let mut roles = JoinSet::new();

        if args.runs(Role::Worker) {
            let config = WorkerConfig {
                concurrency: args.concurrency as usize,
                heartbeat_interval: args.lease_timeout / 3,
                drain_timeout: args.shutdown_timeout,
                job_types: job_types.clone(),
                ..WorkerConfig::default()
            };
            let metrics = WorkerMetrics::register(&mut registry);
            let worker = Worker::new(Arc::clone(&store), Arc::clone(&handlers), config, metrics);
            let token = shutdown.clone();
            roles.spawn(async move {
                let outcome = worker.run(token).await.context("the worker role failed");
                ("worker", outcome)
            });
        }

        if args.runs(Role::Notifier) {
            let config = NotifierConfig {
                retry_schedule: args.webhook_retry_schedule.clone(),
                timeout: args.webhook_timeout,
                allow_private_targets: args.webhook_allow_private_targets,
                concurrency: args.webhook_concurrency as usize,
                endpoint_concurrency: args.webhook_endpoint_concurrency as usize,
                ..NotifierConfig::default()
            };
            let deps = NotifierDeps {
                store: Arc::clone(&webhooks),
                config,
                metrics: NotifierMetrics::register(&mut registry),
            };
            let token = shutdown.clone();
            roles.spawn(async move {
                let outcome = herald_notifier::run(deps, token)
                    .await
                    .context("the notifier role failed");
                ("notifier", outcome)
            });
        }

        // Every process listens on `--bind`: the whole API with the api role, otherwise only
        // the operations endpoints, so workers are probed and scraped like api processes.
        let api_metrics = herald_api::ApiMetrics::register(&mut registry);
        let listener = TcpListener::bind(args.bind)
            .with_context(|| format!("failed to bind {}", args.bind))?;
        let port = listener.local_addr()?.port();
        let config = herald_api::ApiConfig {
            job_types,
            limits,
            max_body_bytes: args.max_body_bytes,
            shutdown_timeout: args.shutdown_timeout,
            sse_heartbeat: args.sse_heartbeat,
            sse_retry: args.sse_retry,
            cors_origins: args.cors_origins.clone(),
            allow_private_targets: args.webhook_allow_private_targets,
            require_keys: args.mode == Mode::Production,
            tokens,
            rate_limit: herald_api::RateLimit {
                per_second: args.rate_limit,
                burst: args.rate_limit_burst,
            },
            auth_failure_rate_limit: herald_api::RateLimit {
                per_second: args.auth_failure_rate_limit,
                burst: args.auth_failure_rate_limit_burst,
            },
            trusted_proxies: args.trusted_proxies.clone(),
            max_streams_per_key: args.max_streams_per_key,
            max_waiters_per_key: args.max_waiters_per_key,
            max_json_depth: usize::from(args.max_json_depth),
            max_header_bytes: args.max_header_bytes as usize,
            client_request_timeout: args.client_request_timeout,
            client_disconnect_timeout: args.client_disconnect_timeout,
            keep_alive: args.keep_alive,
            ..herald_api::ApiConfig::default()
        };
        let deps = herald_api::ApiDeps {
            store: Arc::clone(&store),
            webhooks,
            keys,
            config,
            metrics: api_metrics,
            registry: Arc::new(registry),
        };
        let (server, surface) = if args.runs(Role::Api) {
            (herald_api::server(listener, deps, shutdown.clone()), "api")
        } else {
            let server = herald_api::operations_server(listener, deps, shutdown.clone());
            (server, "operations endpoints")
        };
        let server = server.context("failed to start the HTTP server")?;
        roles.spawn(async move {
            let outcome = server.await.context("the HTTP server failed");
            (surface, outcome)
        });

        tracing::info!(roles = ?args.roles, backend, bind = %args.bind, "herald started");
        Ok(Self {
            port,
            roles,
            shutdown,
        })
    }

    /// The port the process listens on (the API, or only its operations endpoints).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Waits until every role has stopped. A role that fails stops the others.
    ///
    /// # Errors
    /// The first role's failure.
    pub async fn run_until_stopped(mut self) -> anyhow::Result<()> {
        let mut first_failure = None;
        while let Some(joined) = self.roles.join_next().await {
            let (role, outcome) = joined.context("a role panicked")?;
            match outcome {
                Ok(()) => tracing::info!(role, "role stopped"),
                Err(error) => {
                    tracing::error!(
                        ?role,
                        error = format!("{error:#}"),
                        "role failed; stopping the others"
                    );
                    self.shutdown.cancel();
                    first_failure.get_or_insert(error);
                }
            }
        }
        first_failure.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::config::Cli;

    fn args(extra: &[&str]) -> config::ServeArgs {
        let mut argv = vec!["herald", "serve"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().serve_args()
    }

    #[test]
    fn production_needs_a_token_secret_for_the_api_and_development_makes_one_up() {
        let error = read_tokens(&args(&["--mode", "production"])).unwrap_err();
        assert!(error.to_string().contains("--token-secret"), "{error}");
        // Without the api role no token is ever issued or checked.
        assert!(read_tokens(&args(&["--mode", "production", "--roles", "worker"])).is_ok());

        let secret = "s".repeat(32);
        let tokens = read_tokens(&args(&["--mode", "production", "--token-secret", &secret]));
        let expected = herald_api::TokenSecret::new(secret.as_bytes()).unwrap();
        assert_eq!(tokens.unwrap().current.id(), expected.id());

        let first = read_tokens(&args(&[])).unwrap();
        let second = read_tokens(&args(&[])).unwrap();
        assert_ne!(first.current.id(), second.current.id());
    }
}
