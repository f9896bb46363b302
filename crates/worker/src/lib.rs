//! Herald's job runtime: it claims jobs from the store, runs their handlers, keeps their leases
//! alive, enforces timeouts, honours cancel requests, schedules retries and hands unfinished
//! jobs back on shutdown. It knows nothing of HTTP; it programs against
//! [`herald_core::Store`] only, so it runs the same on the memory and the Redis backend.
//!
//! # Layout
//! - [`handler`]: the [`Handler`] trait job types implement and the [`JobContext`] they get.
//! - [`registry`]: [`Registry`], the job types this worker runs and their handlers.
//! - [`builtins`]: the contract's demo job types (`demo.report`, `demo.sleep`, `demo.fail`).
//! - [`handlers`]: the configurable job types: [`ExecHandler`] runs a command, [`HttpHandler`]
//!   calls an endpoint.
//! - [`config`]: [`WorkerConfig`], the runtime's tunables.
//! - [`metrics`]: [`WorkerMetrics`], the Prometheus metrics the runtime keeps.
//! - [`runtime`]: [`Worker`] itself: the claim loop, one job's run, the signal listener.
//!
//! ```no_run
//! # async fn demo(store: herald_core::SharedStore) -> Result<(), herald_worker::WorkerError> {
//! use std::sync::Arc;
//! use herald_worker::{Registry, Worker, WorkerConfig, WorkerMetrics};
//! use tokio_util::sync::CancellationToken;
//!
//! let mut metrics_registry = prometheus_client::registry::Registry::default();
//! let worker = Worker::new(
//!     store,
//!     Arc::new(Registry::with_builtins()),
//!     WorkerConfig::default(),
//!     WorkerMetrics::register(&mut metrics_registry),
//! );
//! let shutdown = CancellationToken::new();
//! worker.run(shutdown).await
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod builtins;
pub mod config;
pub mod handler;
pub mod handlers;
pub mod metrics;
pub mod registry;
pub mod runtime;

pub use config::WorkerConfig;
pub use handler::{Handler, HandlerError, JobContext};
pub use handlers::{ExecHandler, ExecSettings, HttpHandler, HttpSettings, SettingsError};
pub use metrics::WorkerMetrics;
pub use registry::Registry;
pub use runtime::{Outcome, Worker, WorkerError};
