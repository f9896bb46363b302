//! A Redis Cluster for tests: three primaries with one replica each, every one a
//! `redis-server` this process started on free loopback ports, joined by
//! `redis-cli --cluster create` and stopped on drop. A node is called down after three
//! seconds of silence (a loaded CI machine can keep a healthy one quiet for a second).

use std::process::Command;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::redis::{GUARD_PASSWORD, GUARD_USER, Mode, Process, shared, try_command_as};

/// How long setting up or resharding may take before a test gives up.
const PATIENCE: Duration = Duration::from_secs(90);

/// The primaries and the replicas of a cluster.
const NODES: usize = 6;

/// Six cluster nodes: three primaries, each with a replica.
pub struct Cluster {
    /// Every node, by the port it was started on; which are primaries changes with failovers
    /// and which slots each serves with resharding.
    nodes: Mutex<Vec<Process>>,
    /// Whether the nodes let in only [`GUARD_USER`] with [`GUARD_PASSWORD`].
    guarded: bool,
}

/// The cluster the tests of this process share while any of them holds it.
static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());

/// A node as `CLUSTER NODES` describes it.
#[derive(Debug, Clone)]
struct Node {
    id: String,
    port: u16,
    primary: bool,
    /// The slots it serves, as inclusive ranges.
    slots: Vec<(u16, u16)>,
}

impl Cluster {
    /// Starts the nodes, makes them a cluster and waits until every node finds it serving
    /// all slots and every replica follows its primary.
    ///
    /// # Panics
    /// When a node cannot be started or the cluster does not get ready within the patience.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// [`Cluster::start`] with nodes that let in only the user [`GUARD_USER`] with the
    /// password [`GUARD_PASSWORD`] (the default user is off); [`Cluster::url`] carries them.
    ///
    /// # Panics
    /// As [`Cluster::start`].
    pub fn start_guarded() -> Self {
        Self::launch(true)
    }

    fn launch(guarded: bool) -> Self {
        let nodes: Vec<Process> = (0..NODES)
            .map(|_| Process::launch(Mode::ClusterNode { guarded }))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let cluster = Self {
            nodes: Mutex::new(nodes),
            guarded,
        };
        let created = cluster
            .redis_cli()
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed to run Herald's Cluster tests");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_settled();
        cluster
    }

    /// `redis-cli`, signing in as the nodes require.
    fn redis_cli(&self) -> Command {
        let mut cli = Command::new("redis-cli");
        if self.guarded {
            cli.args([
                "--user",
                GUARD_USER,
                "--pass",
                GUARD_PASSWORD,
                "--no-auth-warning",
            ]);
        }
        cli
    }

    /// [`try_command_as`] the user the nodes require.
    fn try_command(&self, port: u16, args: &[&str]) -> std::io::Result<String> {
        let credentials = self.guarded.then_some((GUARD_USER, GUARD_PASSWORD));
        try_command_as(port, credentials, args)
    }

    /// The cluster of this test process, shared by every test that holds it at the same time
    /// and stopped once none does: for tests that only read and write under a key prefix of
    /// their own (see [`crate::RedisServer::fresh_prefix`]) and reshard nothing.
    ///
    /// # Panics
    /// As [`Cluster::start`].
    pub fn shared() -> Arc<Self> {
        shared(&SHARED, Self::start)
    }

    /// `redis+cluster://…` naming three of the nodes as seeds (and, on a guarded cluster, the
    /// user and password).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports()
            .iter()
            .take(3)
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let credentials = if self.guarded {
            format!("{GUARD_USER}:{GUARD_PASSWORD}@")
        } else {
            String::new()
        };
        format!("redis+cluster://{credentials}{}", seeds.join(","))
    }

    /// The hash slot of `key`.
    ///
    /// # Panics
    /// When no node answers.
    pub fn slot_of(&self, key: &str) -> u16 {
        let reply = self.ask(&["CLUSTER", "KEYSLOT", key]);
        reply
            .trim()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT answered {reply}"))
    }

    /// The port of the primary serving `slot`.
    ///
    /// # Panics
    /// When no node answers or none serves the slot.
    pub fn owner_of(&self, slot: u16) -> u16 {
        self.owner(slot).port
    }

    /// The ports of the primaries holding at least one key that matches `pattern` (a `SCAN`
    /// pattern), lowest first.
    ///
    /// # Panics
    /// When no node answers or `redis-cli` fails.
    pub fn primaries_holding(&self, pattern: &str) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .nodes()
            .into_iter()
            .filter(|node| node.primary)
            .filter(|node| {
                let scan = self
                    .redis_cli()
                    .args(["-p", &node.port.to_string(), "--scan", "--pattern", pattern])
                    .output()
                    .expect("run redis-cli --scan");
                assert!(scan.status.success(), "redis-cli --scan failed");
                !scan.stdout.is_empty()
            })
            .map(|node| node.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// Moves `slot` to another primary with `redis-cli --cluster reshard`, keys and all, while
    /// the cluster serves: `redis-cli` moves the source's lowest slots first, so every slot of
    /// the source up to this one moves. Answers the port of the primary that serves it after.
    ///
    /// # Panics
    /// When `redis-cli` fails or the cluster does not settle within the patience.
    pub fn reshard(&self, slot: u16) -> u16 {
        let source = self.owner(slot);
        let target = self
            .nodes()
            .into_iter()
            .find(|n| n.primary && n.id != source.id)
            .expect("another primary");
        let count: u32 = source
            .slots
            .iter()
            .filter(|(start, _)| *start <= slot)
            .map(|&(start, end)| u32::from(end.min(slot) - start) + 1)
            .sum();
        let moved = self
            .redis_cli()
            .args([
                "--cluster",
                "reshard",
                &format!("127.0.0.1:{}", source.port),
            ])
            .args(["--cluster-from", &source.id, "--cluster-to", &target.id])
            .args(["--cluster-slots", &count.to_string(), "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster reshard");
        assert!(
            moved.status.success(),
            "redis-cli --cluster reshard failed: {}",
            String::from_utf8_lossy(&moved.stdout)
        );
        self.wait_until_settled();
        let owner = self.owner(slot);
        assert_eq!(owner.id, target.id, "slot {slot} did not move");
        owner.port
    }

    /// Kills the primary serving `slot` at once (`SIGKILL`) and waits until its replica
    /// serves the slot instead and the cluster is ok again; answers the new primary's port.
    ///
    /// # Panics
    /// When no replica takes over within the patience.
    pub fn fail_over(&self, slot: u16) -> u16 {
        let old = self.owner(slot).port;
        {
            let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
            let primary = nodes
                .iter_mut()
                .find(|n| n.port == old)
                .expect("the primary is one of the nodes");
            primary.kill();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let taken_over = self.try_owner(slot).is_some_and(|owner| {
                owner.port != old
                    && self
                        .try_command(owner.port, &["CLUSTER", "INFO"])
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
            });
            if taken_over {
                return self.owner(slot).port;
            }
            assert!(
                Instant::now() < deadline,
                "no replica took slot {slot} over within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts the node [`Cluster::fail_over`] killed again, on its port and with its cluster
    /// state (as its supervisor would): it rejoins as a replica of the primary that took its
    /// place. Waits until the cluster has settled, every replica in step.
    ///
    /// # Panics
    /// When no node was killed, or the cluster does not settle within the patience.
    pub fn rejoin(&self) {
        {
            let mut nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
            let killed = nodes
                .iter_mut()
                .find_map(|n| (!n.is_running()).then_some(n))
                .expect("a node killed by a failover");
            killed.restart_as(Mode::ClusterNode {
                guarded: self.guarded,
            });
        }
        self.wait_until_settled();
    }

    /// The ports the nodes were started on.
    fn ports(&self) -> Vec<u16> {
        let nodes = self.nodes.lock().unwrap_or_else(|p| p.into_inner());
        nodes.iter().map(|n| n.port).collect()
    }

    /// Waits until every node finds the cluster serving every slot, knows every node, agrees
    /// on who serves what, and every replica follows its primary.
    fn wait_until_settled(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.is_settled() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not settle within {PATIENCE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn is_settled(&self) -> bool {
        let mut views = Vec::new();
        for port in self.ports() {
            let Ok(info) = self.try_command(port, &["CLUSTER", "INFO"]) else {
                return false;
            };
            if !info.contains("cluster_state:ok")
                || !info.contains(&format!("cluster_known_nodes:{NODES}\r\n"))
            {
                return false;
            }
            let Ok(nodes) = self.try_command(port, &["CLUSTER", "NODES"]) else {
                return false;
            };
            let mut view: Vec<(String, Vec<(u16, u16)>)> = parse_nodes(&nodes)
                .into_iter()
                .filter(|n| n.primary)
                .map(|n| (n.id, n.slots))
                .collect();
            view.sort();
            if nodes.contains("->-") || nodes.contains("-<-") || nodes.contains("fail") {
                return false;
            }
            views.push(view);
            let Ok(replication) = self.try_command(port, &["INFO", "replication"]) else {
                return false;
            };
            if replication.contains("role:slave") && !replication.contains("master_link_status:up")
            {
                return false;
            }
        }
        views.windows(2).all(|pair| pair[0] == pair[1])
    }

    /// The nodes as the first one that answers describes them.
    fn nodes(&self) -> Vec<Node> {
        parse_nodes(&self.ask(&["CLUSTER", "NODES"]))
    }

    fn owner(&self, slot: u16) -> Node {
        self.try_owner(slot)
            .unwrap_or_else(|| panic!("no primary serves slot {slot}"))
    }

    /// The primary serving `slot` as the first node that answers sees it, unless it sees that
    /// primary failed or none serving it.
    fn try_owner(&self, slot: u16) -> Option<Node> {
        self.nodes().into_iter().find(|n| {
            n.primary
                && n.slots
                    .iter()
                    .any(|&(start, end)| (start..=end).contains(&slot))
        })
    }

    /// The reply of the first node that answers `args`.
    fn ask(&self, args: &[&str]) -> String {
        self.ports()
            .into_iter()
            .find_map(|port| self.try_command(port, args).ok())
            .expect("no cluster node answered")
    }
}

/// The nodes of a `CLUSTER NODES` reply (a bulk string: one line a node).
fn parse_nodes(reply: &str) -> Vec<Node> {
    reply
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 8 {
                return None;
            }
            let address = fields[1].split('@').next()?;
            let port = address.rsplit_once(':')?.1.parse().ok()?;
            let flags: Vec<&str> = fields[2].split(',').collect();
            let primary = flags.contains(&"master") && !flags.contains(&"fail");
            let slots = fields[8..]
                .iter()
                .filter(|range| !range.starts_with('['))
                .filter_map(|range| match range.split_once('-') {
                    Some((start, end)) => Some((start.parse().ok()?, end.parse().ok()?)),
                    None => {
                        let slot = range.parse().ok()?;
                        Some((slot, slot))
                    }
                })
                .collect();
            Some(Node {
                id: fields[0].to_owned(),
                port,
                primary,
                slots,
            })
        })
        .collect()
}
