//! A Redis Sentinel deployment for tests: a primary, a replica and three Sentinels (quorum
//! 2), every one a `redis-server` this process started on free loopback ports, stopped on
//! drop. The Sentinels monitor the primary as `herald`, call it down after three seconds of
//! silence (a loaded CI machine can keep a healthy server quiet for one) and promote the
//! replica.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::redis::{Mode, Process, integer_commands, shared, try_command};

/// The name the Sentinels monitor the primary by.
pub const MASTER_NAME: &str = "herald";

/// How long setting up or failing over may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(60);

/// A primary, its replica and three Sentinels.
pub struct Sentinels {
    /// The two data servers; which one is the primary changes with a failover.
    servers: Mutex<Vec<Process>>,
    sentinels: Vec<Process>,
}

/// The deployment the tests of this process share while any of them holds it.
static SHARED: Mutex<Weak<Sentinels>> = Mutex::new(Weak::new());

impl Sentinels {
    /// Starts the deployment and waits until the Sentinels know the replica and each other,
    /// so that a failover can happen.
    ///
    /// # Panics
    /// When a server cannot be started or the Sentinels do not get ready within a minute.
    pub fn start() -> Self {
        let primary = Process::launch(Mode::Plain);
        let replica = Process::launch(Mode::Replica { of: primary.port });
        wait_until("the replica to follow its primary", || {
            try_command(replica.port, &["INFO", "replication"])
                .is_ok_and(|info| info.contains("master_link_status:up"))
        });
        let sentinels: Vec<Process> = (0..3)
            .map(|_| {
                Process::launch(Mode::Sentinel {
                    monitors: primary.port,
                })
            })
            .collect();
        for sentinel in &sentinels {
            wait_until("the Sentinels to know the replica and each other", || {
                try_command(sentinel.port, &["SENTINEL", "MASTER", MASTER_NAME]).is_ok_and(
                    |master| {
                        master.contains("num-slaves\r\n$1\r\n1\r\n")
                            && master.contains("num-other-sentinels\r\n$1\r\n2\r\n")
                    },
                )
            });
        }
        Self {
            servers: Mutex::new(vec![primary, replica]),
            sentinels,
        }
    }

    /// The deployment of this test process, shared by every test that holds it at the same
    /// time and stopped once none does: for tests that only read and write under a key prefix
    /// of their own (see [`crate::RedisServer::fresh_prefix`]) and fail nothing over.
    ///
    /// # Panics
    /// As [`Sentinels::start`].
    pub fn shared() -> Arc<Self> {
        shared(&SHARED, Self::start)
    }

    /// `redis+sentinel://…/herald`, naming the three Sentinels.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","))
    }

    /// The port of the server the first Sentinel that answers names as the primary.
    ///
    /// # Panics
    /// When no Sentinel answers.
    pub fn primary_port(&self) -> u16 {
        self.named_primary().expect("no Sentinel named the primary")
    }

    /// The port of the primary the first Sentinel that answers names.
    fn named_primary(&self) -> Option<u16> {
        self.sentinels.iter().find_map(|s| {
            let reply = try_command(
                s.port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME],
            )
            .ok()?;
            reply.lines().nth(4)?.parse().ok()
        })
    }

    /// The port of the data server that is not the primary.
    ///
    /// # Panics
    /// When no Sentinel answers.
    pub fn replica_port(&self) -> u16 {
        let primary = self.primary_port();
        let servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        servers
            .iter()
            .map(|s| s.port)
            .find(|&port| port != primary)
            .expect("two data servers")
    }

    /// Waits until every write the primary has taken so far is on the replica too.
    ///
    /// # Panics
    /// When the replica does not confirm within a minute.
    pub fn replicate(&self) {
        // A write of this connection's own, then `WAIT` for it: the replica applies writes in
        // the primary's order, so it then has every earlier one as well.
        let wait = PATIENCE.as_millis().to_string();
        let replies = integer_commands(
            self.primary_port(),
            &[
                &["INCR", "herald-test-replication-mark"],
                &["WAIT", "1", &wait],
            ],
        )
        .expect("WAIT on the primary");
        let confirmed = replies[1];
        assert_eq!(confirmed, 1, "the replica did not confirm the writes");
    }

    /// Kills the primary at once (`SIGKILL`) and waits until the Sentinels name the other
    /// server; answers the new primary's port.
    ///
    /// # Panics
    /// When no failover happens within a minute.
    pub fn fail_over(&self) -> u16 {
        let old = self.primary_port();
        {
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            let primary = servers
                .iter_mut()
                .find(|s| s.port == old)
                .expect("the primary is one of the servers");
            primary.kill();
        }
        let mut new = old;
        wait_until("the Sentinels to promote the replica", || {
            new = self.named_primary().unwrap_or(old);
            new != old
                && try_command(new, &["ROLE"])
                    .is_ok_and(|role| role.starts_with("*3\r\n$6\r\nmaster\r\n"))
        });
        new
    }

    /// Starts the server [`Sentinels::fail_over`] killed again, as a replica of the new
    /// primary (as its supervisor and the Sentinels would make it), and waits until the
    /// deployment has a replica in step with its primary again — whichever server the
    /// Sentinels name by then: replicated acknowledgements need a replica.
    ///
    /// # Panics
    /// When no server was killed, or no replica follows the primary within a minute.
    pub fn rejoin(&self) {
        let primary = self.primary_port();
        let ports: Vec<u16> = {
            let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
            let killed = servers
                .iter_mut()
                .find_map(|s| (!s.is_running()).then_some(s))
                .expect("a server killed by a failover");
            killed.restart_as(Mode::Replica { of: primary });
            servers.iter().map(|s| s.port).collect()
        };
        wait_until("a replica to follow the primary again", || {
            let Some(primary) = self.named_primary() else {
                return false;
            };
            ports.iter().filter(|&&port| port != primary).any(|&port| {
                try_command(port, &["INFO", "replication"]).is_ok_and(|info| {
                    info.contains("master_link_status:up")
                        && info.contains(&format!("master_port:{primary}\r\n"))
                })
            })
        });
    }
}

/// Polls `check` every 50 ms until it holds, for up to [`PATIENCE`].
fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
