//! Helpers shared by Herald's test suites.
//!
//! # Layout
//! - [`RedisServer`]: a private `redis-server` on a free loopback port, stopped on drop (or the
//!   server named by `HERALD_TEST_REDIS_URL`, with a fresh key prefix per test); a private one
//!   can be killed, frozen, thawed and restarted on its port ([`RedisServer::start_durable`]
//!   keeps its data across a restart).
//! - [`eventually`]: poll a condition with a generous deadline instead of sleeping.
//! - [`free_port`]: a loopback port nobody listens on right now.
//! - [`Receiver`] (`receiver`): a real HTTP server standing in for a webhook endpoint, recording
//!   every request and answering as the test scripts it (fail, throttle, hang); with a
//!   callback and recording off, the load tool's endpoint too.
//! - [`http_jobs`]: job bodies and small waits the HTTP suites share (a job's id, whether it
//!   is final, `n` long polls waiting).
//! - [`sse`]: one Server-Sent Events parser (the WHATWG EventSource rules, fed bytes as they
//!   arrive) and a stream reader over `reqwest` with a bounded wait on every read.

pub mod http_jobs;
mod receiver;
pub mod sse;

pub use receiver::{Answer, Receiver, ReceiverBuilder, Request, Script};

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
    /// The private server's directory (its append-only file, when durable).
    dir: Option<TempDir>,
    /// Whether the private server writes every change to its append-only file before answering.
    durable: bool,
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
                dir: None,
                durable: false,
            };
        }
        Self::start_private()
    }

    /// [`RedisServer::start_private`] with every write in an append-only file, synced before
    /// Redis answers: a [`RedisServer::restart`] after a [`RedisServer::kill`] finds every
    /// acknowledged write, as a Redis run with `appendfsync always` would.
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_durable() -> Self {
        Self::launch(free_port(), TempDir::new("redis"), true)
    }

    /// Starts a `redis-server` of this test's own even when `HERALD_TEST_REDIS_URL` is set: for
    /// tests that stop or break the server.
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_private() -> Self {
        Self::launch(free_port(), TempDir::new("redis"), false)
    }

    fn launch(port: u16, dir: TempDir, durable: bool) -> Self {
        let child = Self::spawn(port, &dir, durable);
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            prefix: Self::fresh_prefix(),
            port: Some(port),
            child: Some(child),
            dir: Some(dir),
            durable,
        }
    }

    /// Starts `redis-server` on `port` in `dir` and waits until it accepts connections.
    fn spawn(port: u16, dir: &TempDir, durable: bool) -> Child {
        let persistence: &[&str] = if durable {
            &["--appendonly", "yes", "--appendfsync", "always"]
        } else {
            &["--appendonly", "no"]
        };
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--protected-mode", "no"])
            .args(persistence)
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
        child
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("a server this harness started (start_private or start_durable)")
    }

    /// Kills the server at once (`SIGKILL`): connections drop, the port refuses.
    ///
    /// # Panics
    /// On a server this harness did not start.
    pub fn kill(&mut self) {
        let child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on its port, in its directory: a durable server comes back with
    /// its data; the others come back empty.
    ///
    /// # Panics
    /// On a server this harness did not start, or one that is still running.
    pub fn restart(&mut self) {
        let running = self.child().try_wait().expect("try_wait").is_none();
        assert!(!running, "restart() needs the server killed first");
        let (Some(port), Some(dir)) = (self.port, self.dir.as_ref()) else {
            unreachable!("a private server has a port and a directory");
        };
        self.child = Some(Self::spawn(port, dir, self.durable));
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing answers, as with a
    /// Redis stuck or paused by its host.
    ///
    /// # Panics
    /// On a server this harness did not start.
    pub fn freeze(&mut self) {
        self.signal("STOP");
    }

    /// Thaws a frozen server (`SIGCONT`).
    ///
    /// # Panics
    /// On a server this harness did not start.
    pub fn thaw(&mut self) {
        self.signal("CONT");
    }

    fn signal(&mut self, name: &str) {
        let pid = self.child().id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
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
            // A frozen server must be thawed before it can die.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
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
