//! Helpers shared by Herald's test suites.
//!
//! # Layout
//! - [`RedisServer`] (`redis`): a private `redis-server` on a free loopback port, stopped on
//!   drop (or the server named by `HERALD_TEST_REDIS_URL`, with a fresh key prefix per test),
//!   also shared by a suite's tests ([`RedisServer::shared`]); only a [`PrivateRedis`], always a
//!   server of the test's own, can be killed, frozen, thawed, restarted on its port and flushed
//!   ([`RedisServer::start_durable`] keeps its data across a restart).
//! - [`Sentinels`] (`sentinel`): a primary, a replica and three Sentinels on free loopback
//!   ports, shared by a suite's tests or failed over by one of its own.
//! - [`backend`]: the memory or the Redis backend of the store, opened for one test, and
//!   [`on_both_backends!`] to run a test on each.
//! - [`jobs`]: the submissions, job types and tenants store-level tests build.
//! - [`props`]: the configuration of every property test: a seed printed to rerun a failure,
//!   fixed on CI, and failures kept in `proptest-regressions/`.
//! - [`eventually`]: poll a condition with a generous deadline instead of sleeping.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`Receiver`] (`receiver`): a real HTTP server standing in for a webhook endpoint, recording
//!   every request and answering as the test scripts it (fail, throttle, hang); with a
//!   callback and recording off, the load tool's endpoint too.
//! - [`http_jobs`]: job bodies and small waits the HTTP suites share (a job's id, whether it
//!   is final, `n` long polls waiting).
//! - [`sse`]: one Server-Sent Events parser (the WHATWG EventSource rules, fed bytes as they
//!   arrive) and a stream reader over `reqwest` with a bounded wait on every read.

pub mod backend;
mod cluster;
pub mod http_jobs;
pub mod jobs;
pub mod props;
mod receiver;
mod redis;
mod sentinel;
pub mod sse;

pub use cluster::Cluster;
pub use receiver::{Answer, Receiver, ReceiverBuilder, Request, Script};
pub use redis::{GUARD_PASSWORD, GUARD_USER, PrivateRedis, RedisServer};
pub use sentinel::Sentinels;

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let n = redis::next_number();
        let path = std::env::temp_dir().join(format!("herald-{label}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("cannot create a temporary directory");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `check` until it yields `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
