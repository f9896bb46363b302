//! Herald's webhook notifier: turns job events into signed HTTP deliveries, retried on a
//! schedule until they succeed or die.
//!
//! # Layout
//! - [`sign`]: Standard Webhooks signatures (`webhook-signature: v1,<base64 HMAC-SHA256>`).
//! - [`schedule`]: the retry schedule, jitter and `Retry-After`.
//! - [`ssrf`]: the DNS resolver that applies core's address policy at send time (private,
//!   loopback and link-local targets refused).
//! - [`send`]: one HTTP delivery attempt and its outcome.
//! - [`run`](mod@run): the role itself ([`run()`]): `expand` turns outbox events into deliveries,
//!   `deliver` claims due ones and sends them through per-endpoint slots (`endpoints`),
//!   recording every attempt.
//! - [`config`] and [`metrics`]: its settings and its Prometheus metrics.

#![forbid(unsafe_code)]

pub mod config;
mod deliver;
mod endpoints;
mod expand;
pub mod metrics;
pub mod run;
pub mod schedule;
pub mod send;
pub mod sign;
pub mod ssrf;

pub use config::NotifierConfig;
pub use metrics::NotifierMetrics;
pub(crate) use run::Context;
pub use run::{NotifierDeps, run};
