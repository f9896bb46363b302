//! The `herald` process: builds the store and the roles from the settings and supervises
//! them until shutdown. `main` and the tests start Herald the same way, through
//! [`Application::build`].
//!
//! # Layout
//! - [`cli`] defines the command line: every setting as a flag with its `HERALD_…` twin, and
//!   `herald keys …`.
//! - [`settings`] is the settings tree (a section per role, the backend, the server), layered
//!   from defaults, the configuration file, the environment and the flags, and the roles'
//!   configurations built from it.
//! - [`file`] reads the configuration file (`--config herald.toml`).
//! - [`job_types`] turns the built-in handlers and the file's job types into the worker's
//!   handlers and the catalog every role reads.
//! - [`keys`] runs `herald keys …` (API keys in Redis) and registers the bootstrap admin key.
//! - [`client`] runs `herald jobs|webhooks|sources …`, a client of a running Herald's API.
//! - [`telemetry`] sets up logging.
//! - [`Application`] starts and supervises the api, worker and notifier roles.
//! - [`raise_open_files_limit`] lifts the process's file descriptor limit for many streams.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod file;
pub mod job_types;
pub mod keys;
pub mod settings;
pub mod telemetry;

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::Context;
use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::{RedisOptions, RedisStore};
use herald_core::store::{
    KeyStore, SharedKeyStore, SharedSourceStore, SharedWebhookStore, SourceStore, Store,
    WebhookStore,
};
use herald_core::{JobLimits, SharedStore, StoreConfig};
use herald_notifier::{NotifierDeps, NotifierMetrics};
use herald_worker::{Registry as Handlers, Worker, WorkerMetrics};
use prometheus_client::registry::Registry;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::settings::{Backend, Mode, Role, Settings};
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
fn read_tokens(settings: &Settings) -> anyhow::Result<herald_api::ReadTokens> {
    let server = &settings.server;
    let tokens = &settings.api.tokens;
    let current = match (&tokens.secret, server.mode) {
        (Some(secret), _) => secret.clone(),
        (None, Mode::Production) if server.runs(Role::Api) => anyhow::bail!(
            "production mode needs --token-secret (or HERALD_TOKEN_SECRET), at least 32 bytes \
             shared by every api process, to sign the read tokens of job links; make one with \
             `openssl rand -base64 48`"
        ),
        (None, _) => {
            if server.runs(Role::Api) {
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
        previous: tokens.previous.clone(),
        ttl: tokens.ttl,
    })
}

/// The backend opened behind its four traits: the webhook outbox is written by the job
/// store's own atomic writes, and API keys and inbound sources live beside the jobs.
struct Stores {
    jobs: SharedStore,
    webhooks: SharedWebhookStore,
    keys: SharedKeyStore,
    sources: SharedSourceStore,
}

impl Stores {
    /// Opens the configured backend.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    async fn open(settings: &Settings, config: StoreConfig) -> anyhow::Result<Self> {
        match &settings.backend {
            Backend::Memory => {
                for (role, what) in [
                    (Role::Worker, "job will ever run"),
                    (Role::Notifier, "webhook will ever be sent"),
                ] {
                    if !settings.server.runs(role) {
                        tracing::warn!(
                            "the embedded backend lives in this process only: without the {role:?} role no {what}"
                        );
                    }
                }
                Ok(Self::behind(Arc::new(MemoryStore::new(config))))
            }
            Backend::Redis(redis) => {
                let url = redis.url.expose();
                // Only the api serves event streams and long polls: a process without it is
                // not sent every job event.
                let options = RedisOptions {
                    timeouts: redis.timeouts,
                    events: settings.server.runs(Role::Api),
                    ack: redis.ack,
                    partitions: redis.partitions,
                };
                let store = RedisStore::connect_with(url, &redis.prefix, config, options)
                    .await
                    .context("failed to connect to Redis")?;
                Ok(Self::behind(Arc::new(store)))
            }
        }
    }

    /// One backend as the four stores.
    fn behind<B: Store + WebhookStore + KeyStore + SourceStore + 'static>(backend: Arc<B>) -> Self {
        Self {
            jobs: backend.clone(),
            webhooks: backend.clone(),
            keys: backend.clone(),
            sources: backend,
        }
    }
}

/// What a process runs until shutdown: its roles and its HTTP server.
type Roles = JoinSet<(&'static str, anyhow::Result<()>)>;

/// A started Herald process: its roles running, its HTTP port bound.
pub struct Application {
    port: u16,
    roles: Roles,
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
        let server = &settings.server;
        let limits = JobLimits::default();
        let job_types::Assembled {
            handlers,
            job_types,
        } = job_types::assemble(
            handlers,
            settings.file.as_ref(),
            &limits,
            settings.api.max_body_bytes,
        )?;
        let stores = Stores::open(&settings, settings.jobs.store_config(job_types.clone())).await?;
        let on_redis = matches!(settings.backend, Backend::Redis(_));
        if let Some(key) = &server.bootstrap_admin_key {
            keys::register_bootstrap(&*stores.keys, key).await?;
        }
        if server.runs(Role::Api) {
            keys::check_mode(&*stores.keys, server.mode, on_redis, server.bind).await?;
        }
        let tokens = read_tokens(&settings)?;

        let mut registry = Registry::with_prefix("herald");
        let mut roles = JoinSet::new();
        if server.runs(Role::Worker) {
            let worker = Worker::new(
                stores.jobs.clone(),
                Arc::new(handlers),
                settings.worker_config(job_types.clone()),
                WorkerMetrics::register(&mut registry),
            );
            let token = shutdown.clone();
            roles.spawn(async move {
                let outcome = worker.run(token).await;
                ("worker", outcome.context("the worker role failed"))
            });
        }
        if server.runs(Role::Notifier) {
            let deps = NotifierDeps {
                store: stores.webhooks.clone(),
                config: (&settings.notifier).into(),
                metrics: NotifierMetrics::register(&mut registry),
            };
            let token = shutdown.clone();
            roles.spawn(async move {
                let outcome = herald_notifier::run(deps, token).await;
                ("notifier", outcome.context("the notifier role failed"))
            });
        }
        let config = settings.api_config(job_types, limits, tokens);
        let port = serve(&settings, stores, config, registry, &mut roles, &shutdown)?;

        let backend = if on_redis { "redis" } else { "embedded memory" };
        tracing::info!(roles = ?server.roles, backend, bind = %server.bind, "herald started");
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

/// Binds `--bind` and starts the HTTP server among the `roles`: the whole API with the api
/// role, otherwise only the operations endpoints, so workers are probed and scraped like api
/// processes. Returns the bound port.
///
/// # Errors
/// When the address cannot be bound or the server cannot start.
fn serve(
    settings: &Settings,
    stores: Stores,
    config: herald_api::ApiConfig,
    mut registry: Registry,
    roles: &mut Roles,
    shutdown: &CancellationToken,
) -> anyhow::Result<u16> {
    let bind = settings.server.bind;
    let metrics = herald_api::ApiMetrics::register(&mut registry);
    let listener = TcpListener::bind(bind).with_context(|| format!("failed to bind {bind}"))?;
    let port = listener.local_addr()?.port();
    let deps = herald_api::ApiDeps {
        store: stores.jobs,
        webhooks: stores.webhooks,
        keys: stores.keys,
        sources: stores.sources,
        config,
        metrics,
        registry: Arc::new(registry),
    };
    let (server, surface) = if settings.server.runs(Role::Api) {
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
    Ok(port)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[&str]) -> Settings {
        let mut argv = vec!["herald", "serve"];
        argv.extend_from_slice(extra);
        Settings::load(argv).unwrap()
    }

    #[test]
    fn production_needs_a_token_secret_for_the_api_and_development_makes_one_up() {
        let error = read_tokens(&settings(&["--mode", "production"])).unwrap_err();
        assert!(error.to_string().contains("--token-secret"), "{error}");
        // Without the api role no token is ever issued or checked.
        assert!(read_tokens(&settings(&["--mode", "production", "--roles", "worker"])).is_ok());

        let secret = "s".repeat(32);
        let tokens = read_tokens(&settings(&[
            "--mode",
            "production",
            "--token-secret",
            &secret,
        ]));
        let expected = herald_api::TokenSecret::new(secret.as_bytes()).unwrap();
        assert_eq!(tokens.unwrap().current.id(), expected.id());

        let first = read_tokens(&settings(&[])).unwrap();
        let second = read_tokens(&settings(&[])).unwrap();
        assert_ne!(first.current.id(), second.current.id());
    }
}
