//! Helpers shared by Herald's test suites.
//!
//! # Layout
//! - [`RedisServer`]: a private `redis-server` on a free loopback port, stopped on drop (or the
//!   server named by `HERALD_TEST_REDIS_URL`, with a fresh key prefix per test).
//! - [`eventually`]: poll a condition with a generous deadline instead of sleeping.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`Receiver`] (`receiver`): a real HTTP server standing in for a webhook endpoint, recording
//!   every request and answering as the test scripts it (fail, throttle, hang).

mod receiver;

pub use receiver::{Answer, Receiver, Request, Script};

use std::future::Future;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A Redis server for one test suite. Tests never touch a Redis they did not start, except
/// the one `HERALD_TEST_REDIS_URL` names explicitly; each test takes a fresh key prefix so
/// tests sharing a server cannot see each other's keys.
pub struct RedisServer {
    url: String,
    prefix: String,
    port: Option<u16>,
    child: Option<Child>,
    _dir: Option<TempDir>,
}

static PREFIX_COUNTER: AtomicU64 = AtomicU64::new(0);

impl RedisServer {
    /// Starts `redis-server` on a free port in a private directory, without persistence, or
    /// uses `HERALD_TEST_REDIS_URL` when set.
    ///
    /// # Panics
    /// When `redis-server` cannot be started: Redis tests must run, never silently skip.
    pub fn start() -> Self {
        if let Ok(url) = std::env::var("HERALD_TEST_REDIS_URL") {
            return Self {
                url,
                prefix: Self::fresh_prefix(),
                port: None,
                child: None,
                _dir: None,
            };
        }
        Self::start_private()
    }

    /// Starts a `redis-server` of this test's own even when `HERALD_TEST_REDIS_URL` is set: for
    /// tests that stop or break the server.
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_private() -> Self {
        let port = free_port();
        let dir = TempDir::new("redis");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed to run Herald's Redis tests (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            prefix: Self::fresh_prefix(),
            port: Some(port),
            child: Some(child),
            _dir: Some(dir),
        }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A key prefix of this handle's own, fresh for every `start()`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The port of a server this harness started (`None` for `HERALD_TEST_REDIS_URL`).
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// A key prefix no other test in this run uses.
    pub fn fresh_prefix() -> String {
        let n = PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed);
        format!("herald-test-{}-{n}", std::process::id())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let n = PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed);
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
