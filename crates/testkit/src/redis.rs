//! Redis servers for tests: [`RedisServer`] for any test, [`PrivateRedis`] for the tests that
//! stop, freeze, restart or flush the server.
//!
//! The rule that destructive tests never touch a shared Redis lives in the types: only a
//! [`PrivateRedis`] has the destructive operations, and it is always a `redis-server` this
//! process started, whatever `HERALD_TEST_REDIS_URL` says. A destructive test therefore never
//! skips and never harms a server it does not own.
//!
//! The server a suite shares ([`RedisServer::shared`]) runs in cluster mode as a cluster of
//! one node holding every slot: it serves like a plain Redis, except that a script or command
//! whose keys span hash slots fails (`CROSSSLOT`), as on Redis Cluster. Every suite on it
//! (the store conformance suite, the worker's) therefore checks that Herald keeps each write
//! and each multi-key read within one slot.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::ops::Deref;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::{TempDir, free_port};

/// A Redis server for one test or one suite. Tests never touch a Redis they did not start,
/// except the one `HERALD_TEST_REDIS_URL` names explicitly; each test takes a fresh key prefix
/// so tests sharing a server cannot see each other's keys.
pub struct RedisServer {
    url: String,
    prefix: String,
    /// The server process when this harness started it (`None` for `HERALD_TEST_REDIS_URL`).
    process: Option<Process>,
}

/// A `redis-server` this harness started, stopped on drop.
pub(crate) struct Process {
    pub(crate) port: u16,
    /// The cluster bus port of a cluster node (Redis's default, the port + 10,000, is
    /// out of range for a third of the ports the system hands out).
    bus_port: Option<u16>,
    child: Child,
    /// Its directory (its append-only file, when durable).
    dir: TempDir,
    mode: Mode,
}

/// How a harness's `redis-server` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Without persistence.
    Plain,
    /// Writing every change to its append-only file before answering.
    Durable,
    /// In cluster mode, the one node of its cluster, holding every slot (without persistence).
    OneNodeCluster,
    /// In cluster mode, a node for a cluster of several (see `cluster`), calling a silent
    /// node down after three seconds (without persistence). A guarded node refuses every
    /// client but the user [`GUARD_USER`] with the password [`GUARD_PASSWORD`] (the default
    /// user is off), and its replicas sign in as that user.
    ClusterNode { guarded: bool },
    /// A replica of the server on the port (without persistence).
    Replica { of: u16 },
    /// A Sentinel monitoring the primary on the port as `herald`, with a quorum of 2 (see
    /// `sentinel`).
    Sentinel { monitors: u16 },
    /// Speaking TLS only, with a certificate for `localhost` and `127.0.0.1` signed by a CA of
    /// its own (`ca.pem` in its directory), not asking clients for theirs (without
    /// persistence).
    Tls,
}

static PREFIX_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The server the tests of this process share while any of them holds it.
static SHARED: Mutex<Weak<RedisServer>> = Mutex::new(Weak::new());

impl RedisServer {
    /// Starts `redis-server` on a free port in a private directory, without persistence, or
    /// uses `HERALD_TEST_REDIS_URL` when set.
    ///
    /// # Panics
    /// When `redis-server` cannot be started: Redis tests must run, never silently skip.
    pub fn start() -> Self {
        match std::env::var("HERALD_TEST_REDIS_URL") {
            Ok(url) => Self {
                url,
                prefix: Self::fresh_prefix(),
                process: None,
            },
            Err(_) => Self::launch(Mode::Plain),
        }
    }

    /// The server of this test process, as [`RedisServer::start`] would give it, shared by
    /// every test that holds it at the same time and stopped once none does: tests that only
    /// read and write under their own prefix need not each pay for a server. Take a fresh
    /// prefix per test with [`RedisServer::fresh_prefix`].
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn shared() -> Arc<Self> {
        shared(&SHARED, || match std::env::var("HERALD_TEST_REDIS_URL") {
            Ok(_) => Self::start(),
            Err(_) => Self::launch(Mode::OneNodeCluster),
        })
    }

    /// A server of this test's own, even when `HERALD_TEST_REDIS_URL` is set: for tests that
    /// stop, freeze, restart or flush the server.
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_private() -> PrivateRedis {
        PrivateRedis(Self::launch(Mode::Plain))
    }

    /// A server of this test's own that speaks TLS only (`rediss://localhost:<port>`), its
    /// certificate signed by a CA of its own: [`RedisServer::ca_file`] is the file a client
    /// must trust (`SSL_CERT_FILE`).
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_tls() -> PrivateRedis {
        let mut server = Self::launch(Mode::Tls);
        server.url = format!("rediss://localhost:{}", server.port().expect("a port"));
        PrivateRedis(server)
    }

    /// The CA that signed a TLS server's certificate (see [`RedisServer::start_tls`]).
    pub fn ca_file(&self) -> Option<std::path::PathBuf> {
        let process = self.process.as_ref()?;
        (process.mode == Mode::Tls).then(|| process.dir.0.join("ca.pem"))
    }

    /// [`RedisServer::start_private`] with every write in an append-only file, synced before
    /// Redis answers: a [`PrivateRedis::restart`] after a [`PrivateRedis::kill`] finds every
    /// acknowledged write, as a Redis run with `appendfsync always` would.
    ///
    /// # Panics
    /// When `redis-server` cannot be started.
    pub fn start_durable() -> PrivateRedis {
        PrivateRedis(Self::launch(Mode::Durable))
    }

    /// Starts a server on free ports.
    fn launch(mode: Mode) -> Self {
        let process = Process::launch(mode);
        Self {
            url: format!("redis://127.0.0.1:{}", process.port),
            prefix: Self::fresh_prefix(),
            process: Some(process),
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
        self.process.as_ref().map(|p| p.port)
    }

    /// A key prefix no other test in this run uses.
    pub fn fresh_prefix() -> String {
        format!("herald-test-{}-{}", std::process::id(), next_number())
    }
}

/// What `slot` holds while any test holds it, or else a new one from `start`, held there (and
/// stopped once no test holds it any more).
pub(crate) fn shared<T>(slot: &Mutex<Weak<T>>, start: impl FnOnce() -> T) -> Arc<T> {
    let mut shared = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(value) = shared.upgrade() {
        return value;
    }
    let value = Arc::new(start());
    *shared = Arc::downgrade(&value);
    value
}

/// The next number of this process, for names no other test uses.
pub(crate) fn next_number() -> u64 {
    PREFIX_COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The user a guarded cluster node lets in (see [`Mode::ClusterNode`]).
pub const GUARD_USER: &str = "herald";
/// That user's password.
pub const GUARD_PASSWORD: &str = "cluster-secret";

const CLUSTER_NODE: &[&str] = &[
    "--appendonly",
    "no",
    "--cluster-enabled",
    "yes",
    "--cluster-node-timeout",
    "3000",
];
/// What a guarded cluster node adds to [`CLUSTER_NODE`].
const GUARD: &[&str] = &[
    "--user",
    "default",
    "off",
    "--user",
    GUARD_USER,
    "on",
    // `>` and GUARD_PASSWORD: the password the user signs in with.
    ">cluster-secret",
    "~*",
    "&*",
    "+@all",
    "--masteruser",
    GUARD_USER,
    "--masterauth",
    GUARD_PASSWORD,
];

/// How many times a server is started on other ports after it exited before serving (or,
/// for a one-node cluster, could not be given its slots).
const LAUNCH_ATTEMPTS: usize = 5;

impl Process {
    /// Starts a server on free ports. A port found free may be taken by another process
    /// before the server binds it: the server then exits, and it is started again on others.
    pub(crate) fn launch(mode: Mode) -> Self {
        let mut failures = Vec::new();
        for _ in 0..LAUNCH_ATTEMPTS {
            let port = free_port();
            // Two ports asked for in a row can be the same one: the server could not bind both.
            let bus_port =
                matches!(mode, Mode::OneNodeCluster | Mode::ClusterNode { .. }).then(|| {
                    std::iter::repeat_with(free_port)
                        .find(|&p| p != port)
                        .unwrap()
                });
            let dir = TempDir::new("redis");
            match spawn(port, bus_port, &dir, mode) {
                Ok(child) => {
                    return Self {
                        port,
                        bus_port,
                        child,
                        dir,
                        mode,
                    };
                }
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "redis-server did not start in {LAUNCH_ATTEMPTS} attempts: {}",
            failures.join("; ")
        );
    }

    /// Kills it at once (`SIGKILL`).
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it still runs.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Starts it again after it was killed, on its port and in its directory, as `mode`.
    ///
    /// # Panics
    /// When it cannot be started.
    pub(crate) fn restart_as(&mut self, mode: Mode) {
        self.child = spawn(self.port, self.bus_port, &self.dir, mode)
            .unwrap_or_else(|failure| panic!("redis-server did not start again: {failure}"));
        self.mode = mode;
    }
}

/// Starts `redis-server` on `port` (and a one-node cluster's bus on `bus_port`) in `dir` and
/// waits until it serves; says why when it exited first.
fn spawn(port: u16, bus_port: Option<u16>, dir: &TempDir, mode: Mode) -> Result<Child, String> {
    let mut server = Command::new("redis-server");
    if let Mode::Sentinel { monitors } = mode {
        // A Sentinel rewrites its configuration file: it gets one of its own.
        let config = dir.0.join("sentinel.conf");
        std::fs::write(
            &config,
            format!(
                "sentinel monitor herald 127.0.0.1 {monitors} 2\n\
                 sentinel down-after-milliseconds herald 3000\n\
                 sentinel failover-timeout herald 10000\n"
            ),
        )
        .expect("write a Sentinel's configuration");
        server.arg(&config).arg("--sentinel");
    }
    if mode == Mode::Tls {
        let files = write_certificates(dir);
        server
            .args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--tls-auth-clients", "no"])
            .arg("--tls-cert-file")
            .arg(&files.cert)
            .arg("--tls-key-file")
            .arg(&files.key)
            .arg("--tls-ca-cert-file")
            .arg(&files.ca);
    } else {
        server.args(["--port", &port.to_string()]);
    }
    server.args(["--bind", "127.0.0.1", "--protected-mode", "no"]);
    let replica_of;
    let settings: &[&str] = match mode {
        Mode::Durable => &["--appendonly", "yes", "--appendfsync", "always"],
        Mode::Plain => &["--appendonly", "no"],
        Mode::OneNodeCluster => &["--appendonly", "no", "--cluster-enabled", "yes"],
        Mode::ClusterNode { .. } => CLUSTER_NODE,
        Mode::Replica { of } => {
            replica_of = of.to_string();
            &[
                "--appendonly",
                "no",
                "--replicaof",
                "127.0.0.1",
                &replica_of,
            ]
        }
        Mode::Tls => &["--appendonly", "no"],
        Mode::Sentinel { .. } => &[],
    };
    if !matches!(mode, Mode::Sentinel { .. }) {
        server.args(["--save", ""]);
    }
    server.args(settings);
    if mode == (Mode::ClusterNode { guarded: true }) {
        server.args(GUARD);
    }
    if let Some(bus_port) = bus_port {
        server.args(["--cluster-port", &bus_port.to_string()]);
    }
    let mut child = server
        .arg("--dir")
        .arg(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "redis-server must be installed to run Herald's Redis tests (apt-get install redis-server)",
        );
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Err(format!(
                "it exited ({status}) before serving on port {port}"
            ));
        }
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    if mode == Mode::OneNodeCluster
        && let Err(error) = make_one_node_cluster(port, deadline)
    {
        // Giving the node its slots can fail: a node exits when its bus port was taken after
        // it opened its own, and CI once saw that connection reset by a node that stayed up.
        // Either way this node goes and another is started on other ports.
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "its cluster could not be set up on port {port}: {error}"
        ));
    }
    Ok(child)
}

/// Where a TLS server's certificate, its key and the CA that signed it are.
struct Certificates {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    ca: std::path::PathBuf,
}

/// Makes a CA and a certificate it signs for `localhost` and `127.0.0.1`, as PEM files in
/// `dir` (`ca.pem`, `server.pem`, `server.key`).
fn write_certificates(dir: &TempDir) -> Certificates {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "Herald test CA");
    let ca = ca_params.self_signed(&ca_key).expect("a CA certificate");
    let server_key = KeyPair::generate().expect("a server key");
    let server_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server parameters");
    let server = server_params
        .signed_by(&server_key, &ca, &ca_key)
        .expect("a server certificate");
    let files = Certificates {
        cert: dir.0.join("server.pem"),
        key: dir.0.join("server.key"),
        ca: dir.0.join("ca.pem"),
    };
    std::fs::write(&files.cert, server.pem()).expect("write the certificate");
    std::fs::write(&files.key, server_key.serialize_pem()).expect("write the key");
    std::fs::write(&files.ca, ca.pem()).expect("write the CA");
    files
}

/// Gives the one node every slot and waits until it serves them: once it finds its cluster's
/// state ok, about two seconds after it starts (Redis's own delay).
fn make_one_node_cluster(port: u16, deadline: Instant) -> std::io::Result<()> {
    let added = try_command(port, &["CLUSTER", "ADDSLOTSRANGE", "0", "16383"])?;
    assert_eq!(added, "+OK\r\n", "the one node could not take every slot");
    while !try_command(port, &["CLUSTER", "INFO"])?.contains("cluster_state:ok") {
        assert!(
            Instant::now() < deadline,
            "the one-node cluster on port {port} did not become ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Sends one command to the server on `port` and answers its raw reply (one read: the replies
/// read here are short).
fn command(port: u16, args: &[&str]) -> String {
    try_command(port, args).unwrap_or_else(|e| panic!("redis on port {port}: {e}"))
}

/// [`command`], with what went wrong on the connection as an error.
pub(crate) fn try_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    let mut connection = TcpStream::connect(("127.0.0.1", port))?;
    connection.write_all(request(args).as_bytes())?;
    let mut reply = vec![0; 4096];
    let read = connection.read(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply[..read]).into_owned())
}

/// [`try_command`] as `user` with `password` when given: `AUTH` first, on the same
/// connection; answers the command's reply (or the refusal of `AUTH`).
pub(crate) fn try_command_as(
    port: u16,
    credentials: Option<(&str, &str)>,
    args: &[&str],
) -> std::io::Result<String> {
    let Some((user, password)) = credentials else {
        return try_command(port, args);
    };
    let mut connection = TcpStream::connect(("127.0.0.1", port))?;
    let requests = request(&["AUTH", user, password]) + &request(args);
    connection.write_all(requests.as_bytes())?;
    let mut replies = String::new();
    let mut buffer = vec![0; 4096];
    loop {
        if let Some(rest) = replies.strip_prefix("+OK\r\n") {
            if !rest.is_empty() {
                return Ok(rest.to_owned());
            }
        } else if replies.ends_with("\r\n") {
            return Ok(replies);
        }
        let read = connection.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        replies.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
}

/// Sends `commands` on one connection, in order, and answers their replies, each an integer.
pub(crate) fn integer_commands(port: u16, commands: &[&[&str]]) -> std::io::Result<Vec<i64>> {
    let mut connection = TcpStream::connect(("127.0.0.1", port))?;
    let requests: String = commands.iter().map(|args| request(args)).collect();
    connection.write_all(requests.as_bytes())?;
    let mut replies = String::new();
    let mut buffer = [0; 1024];
    loop {
        let lines: Vec<&str> = replies.split_terminator("\r\n").collect();
        let complete = if replies.ends_with("\r\n") {
            lines.len()
        } else {
            lines.len().saturating_sub(1)
        };
        if complete >= commands.len() {
            return lines[..commands.len()]
                .iter()
                .map(|line| {
                    line.strip_prefix(':')
                        .and_then(|n| n.parse().ok())
                        .ok_or_else(|| std::io::Error::other(format!("not an integer: {line}")))
                })
                .collect();
        }
        let read = connection.read(&mut buffer)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        replies.push_str(&String::from_utf8_lossy(&buffer[..read]));
    }
}

/// One command as Redis reads it.
fn request(args: &[&str]) -> String {
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    request
}

impl Drop for Process {
    fn drop(&mut self) {
        // A frozen server must be thawed before it can die.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` this test started for itself alone, which it may therefore kill, freeze,
/// thaw, restart and flush. Everything else it offers as a [`RedisServer`].
pub struct PrivateRedis(RedisServer);

impl Deref for PrivateRedis {
    type Target = RedisServer;

    fn deref(&self) -> &RedisServer {
        &self.0
    }
}

impl PrivateRedis {
    fn process(&mut self) -> &mut Process {
        self.0
            .process
            .as_mut()
            .expect("a private server is always one this harness started")
    }

    /// Kills the server at once (`SIGKILL`): connections drop, the port refuses.
    pub fn kill(&mut self) {
        self.process().kill();
    }

    /// Starts the server again on its port, in its directory: a durable server comes back with
    /// its data; the others come back empty.
    ///
    /// # Panics
    /// When the server is still running.
    pub fn restart(&mut self) {
        let process = self.process();
        assert!(
            !process.is_running(),
            "restart() needs the server killed first"
        );
        let mode = process.mode;
        process.restart_as(mode);
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing answers, as with a
    /// Redis stuck or paused by its host.
    pub fn freeze(&mut self) {
        self.signal("STOP");
    }

    /// Thaws a frozen server (`SIGCONT`).
    pub fn thaw(&mut self) {
        self.signal("CONT");
    }

    fn signal(&mut self, name: &str) {
        let pid = self.process().child.id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Deletes every key of every database (`FLUSHALL`), as a Redis restarted without
    /// persistence would have lost them.
    ///
    /// # Panics
    /// When the server does not answer `+OK`.
    pub fn flush_all(&mut self) {
        let port = self.process().port;
        assert_eq!(command(port, &["FLUSHALL"]), "+OK\r\n", "FLUSHALL failed");
    }
}
