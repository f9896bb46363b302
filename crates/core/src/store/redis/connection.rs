//! The connection to Redis: how long talking to it may take ([`RedisTimeouts`]), which server
//! is the primary and how it is found again after a Sentinel failover ([`Primary`]), the
//! shared connection with every command bounded ([`Bounded`]), how the client reconnects, and
//! which Redis errors mean that Redis cannot serve right now (see the backend's `# When Redis
//! is unreachable`).

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use ::redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use ::redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use ::redis::{
    Arg, AsyncConnectionConfig, Client, Cmd, ConnectionInfo, ErrorKind, Pipeline, ProtocolVersion,
    PushInfo, RedisError, RedisFuture, ServerError, ServerErrorKind, Value,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::address::{Address, SentinelAddress};
use crate::store::StoreError;

/// How many times in a row the client retries a lost connection before the command waiting
/// for it fails; the next command starts another round. Few and short, so that a Redis that
/// comes back is found within about [`MAX_RECONNECT_DELAY`].
const RECONNECT_RETRIES: usize = 3;
/// The longest pause between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// How many times the cluster client sends a command again after a redirection it cannot
/// follow at once, a `TRYAGAIN` (a slot migrating) or a lost node, within the command's
/// timeout.
const CLUSTER_RETRIES: u32 = 6;

/// How long talking to Redis may take before the store gives up and answers
/// [`StoreError::Unavailable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisTimeouts {
    /// Opening a connection: TCP (and TLS) and the handshake.
    pub connect: Duration,
    /// One command (or pipeline, or script) on the shared connection, from the moment it is
    /// issued: waiting for a lost connection to come back is included. Blocking reads are not
    /// bounded by it: they wait as long as asked, plus a margin.
    pub command: Duration,
}

impl Default for RedisTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(1),
            command: Duration::from_secs(1),
        }
    }
}

/// When a write counts as done, and is acknowledged to whoever asked for it (`--redis-ack`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisAck {
    /// Once the primary has it: Redis's own acknowledgement. Replication is asynchronous, so a
    /// failover may lose the writes of the moment before it.
    #[default]
    Local,
    /// Once a replica confirms it too (`WAIT 1`, on the connection that wrote). No replica
    /// within `timeout`: the write fails as unavailable (503) — it may still be on the
    /// primary, and a retry with the same idempotency key finds it.
    Replicated { timeout: Duration },
}

impl RedisAck {
    /// How long a write may wait for its confirmation beyond the command itself.
    fn wait(self) -> Duration {
        match self {
            Self::Local => Duration::ZERO,
            Self::Replicated { timeout } => timeout,
        }
    }
}

/// The shortest time between two rounds of asking the Sentinels where the primary is: a burst
/// of failed commands asks once.
const REDISCOVERY_INTERVAL: Duration = Duration::from_millis(250);

/// The Redis primary every command of a store goes to, and the shared connection to it.
///
/// On one server (`redis://`) that never changes. Behind Sentinel (`redis+sentinel://`) the
/// Sentinels say which server is the primary, at connection and again whenever a command
/// fails in a way that a failover explains (the primary unreachable, or answering that it is
/// a replica now, [`is_unavailable`]): a new primary gets a new connection, which every handle
/// ([`Bounded`]), blocking read and the signals subscription pick up. Commands that failed
/// meanwhile failed: the store answers [`StoreError::Unavailable`] and the caller tries again,
/// as during any outage.
///
/// On a Redis Cluster (`redis+cluster://`) the cluster client is the primary: it learns which
/// node serves each hash slot, sends every command to the slot's primary, follows `MOVED` and
/// `ASK` redirections, and learns the cluster's shape again after a failover or a slot
/// migration, on every connection made from it. Nothing is looked for here.
pub(super) struct Primary {
    /// How connections to the primary connect and how long they let a command take (the
    /// command timeout, plus the wait for a replica's confirmation under replicated acks).
    timeouts: RedisTimeouts,
    /// Asks the Sentinels; `None` on one server or a cluster. The lock lets one round ask at
    /// a time.
    sentinel: Option<tokio::sync::Mutex<Sentinel>>,
    current: RwLock<Connected>,
}

struct Sentinel {
    client: SentinelClient,
    /// When the Sentinels were last asked.
    asked_at: Option<Instant>,
}

/// The primary as last found and the shared connection to it. `generation` counts the
/// primaries found, so a connection opened to an earlier one can be told apart.
struct Connected {
    target: Target,
    link: Link,
    generation: u64,
}

/// What connections are made to.
#[derive(Clone)]
enum Target {
    /// One server: its address, speaking RESP2 (see `with_protocol`).
    Server(Box<ConnectionInfo>),
    /// A cluster, through the clients that know its seed nodes.
    Cluster(Arc<ClusterClients>),
}

impl Target {
    /// The server at `info`, spoken to in RESP2 whatever the URL asks for, so that replies
    /// have one shape.
    fn server(info: &ConnectionInfo) -> Self {
        Self::Server(Box::new(with_protocol(info, ProtocolVersion::RESP2)))
    }
}

/// The clients of a cluster: one speaking RESP2 for commands, one speaking RESP3 for the
/// subscription.
struct ClusterClients {
    commands: ClusterClient,
    pushes: ClusterClient,
}

/// The shared connection every command that does not block goes through, multiplexed: to
/// one server (reconnecting by itself), or to every primary of a cluster.
#[derive(Clone)]
pub(super) enum Link {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => Box::pin(cluster_pipeline(conn, pipeline, offset, count)),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

/// Sends a pipeline (or transaction) to the primary of its slot, following the slot when it
/// moved. The cluster client follows a redirection of a single command, or among the replies
/// of an ordinary pipeline, and learns the cluster's shape again from it; but a transaction
/// that a redirection aborted comes back as an error (`EXECABORT`) that it neither follows nor
/// learns from. After a `MOVED` there (or anywhere among the replies), one of the pipeline's
/// keys is read alone (`EXISTS`), which has the client learn where the slot went, and the
/// pipeline is sent again; after an `ASK` or `TRYAGAIN` (the slot half-way through a
/// migration) it is sent again after a pause — until the migration ends, the attempts run
/// out, or the caller's timeout does (see [`is_unavailable`]).
///
/// Sending again writes nothing twice: a pipeline's keys are all in one slot, so a `MOVED`
/// refuses every command of it, and a transaction with a redirection in it runs none; the
/// only writes the store pipelines outside a transaction (`ZREM` of listing entries gone)
/// can be repeated.
async fn cluster_pipeline(
    conn: &mut ClusterConnection,
    pipeline: &Pipeline,
    offset: usize,
    count: usize,
) -> Result<Vec<Value>, RedisError> {
    let mut result = conn.req_packed_commands(pipeline, offset, count).await;
    let mut pause = FIRST_MIGRATION_PAUSE;
    for _ in 0..CLUSTER_RETRIES {
        match redirection(&result) {
            None => return result,
            Some(Redirection::Moved) => {
                let Some(key) = first_key(pipeline) else {
                    return result;
                };
                // Its own outcome does not matter: the client has followed the slot.
                let _ = conn
                    .req_packed_command(::redis::cmd("EXISTS").arg(key))
                    .await;
            }
            Some(Redirection::Migrating) => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        result = conn.req_packed_commands(pipeline, offset, count).await;
    }
    result
}

/// The first pause before sending a pipeline again whose slot is being migrated.
const FIRST_MIGRATION_PAUSE: Duration = Duration::from_millis(20);

/// What a pipeline's replies say of its slot.
#[derive(Debug, PartialEq, Eq)]
enum Redirection {
    /// It moved to another primary.
    Moved,
    /// It is being migrated: some of its keys are here, some there.
    Migrating,
}

/// The redirection among a pipeline's replies, or among the errors that aborted its
/// transaction.
fn redirection(result: &Result<Vec<Value>, RedisError>) -> Option<Redirection> {
    let errors: Vec<ServerError> = match result {
        Ok(values) => values
            .iter()
            .filter_map(|value| match value {
                Value::ServerError(e) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        Err(e) => e
            .clone()
            .into_server_errors()
            .map(|errors| errors.iter().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default(),
    };
    errors.iter().find_map(|e| match e.kind()? {
        ServerErrorKind::Moved => Some(Redirection::Moved),
        ServerErrorKind::Ask | ServerErrorKind::TryAgain => Some(Redirection::Migrating),
        _ => None,
    })
}

/// The key of the first command of `pipeline` that has one: the store pipelines plain
/// commands on keys (`HGET key …`, `XRANGE key …`), their key first, around `MULTI`, `EXEC`
/// and `WAIT`, which have none.
fn first_key(pipeline: &Pipeline) -> Option<Vec<u8>> {
    pipeline.cmd_iter().find_map(|cmd| {
        let mut args = cmd.args_iter();
        let Some(Arg::Simple(name)) = args.next() else {
            return None;
        };
        if [&b"MULTI"[..], b"EXEC", b"WAIT"]
            .iter()
            .any(|keyless| name.eq_ignore_ascii_case(keyless))
        {
            return None;
        }
        match args.next()? {
            Arg::Simple(key) => Some(key.to_vec()),
            _ => None,
        }
    })
}

/// A connection of its own for blocking reads, which would hold up every command behind them
/// on the shared one.
pub(super) enum Dedicated {
    Server(MultiplexedConnection),
    /// A cluster connection of its own, made to let a read take as long as any may; each is
    /// bounded here instead.
    Cluster {
        conn: ClusterConnection,
        timeout: Duration,
    },
}

impl Dedicated {
    /// Lets the next reads take up to `timeout` each.
    pub(super) fn set_response_timeout(&mut self, timeout: Duration) {
        match self {
            Self::Server(conn) => conn.set_response_timeout(timeout),
            Self::Cluster { timeout: t, .. } => *t = timeout,
        }
    }
}

impl ConnectionLike for Dedicated {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(conn) => conn.req_packed_command(cmd),
            Self::Cluster { conn, timeout } => {
                Box::pin(Bounded::bound(*timeout, conn.req_packed_command(cmd)))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster { conn, timeout } => Box::pin(Bounded::bound(
                *timeout,
                conn.req_packed_commands(pipeline, offset, count),
            )),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(conn) => conn.get_db(),
            Self::Cluster { conn, .. } => conn.get_db(),
        }
    }
}

/// The connection the signals subscription rides on (RESP3, its messages going to a channel
/// of the caller's): to one server, subscribed with `SUBSCRIBE`, or to a cluster, subscribed
/// with `SSUBSCRIBE` (sharded pub/sub: a channel lives on the shard of its hash slot, which
/// the scripts publish to with `SPUBLISH`).
pub(super) enum Subscriber {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Subscriber {
    /// Subscribes to `channels` (again: harmless, and its confirmation proves the
    /// subscription is active).
    pub(super) async fn subscribe(&mut self, channels: &[String]) -> Result<(), RedisError> {
        match self {
            Self::Server(conn) => conn.subscribe(channels).await,
            Self::Cluster(conn) => conn.ssubscribe(channels).await,
        }
    }

    /// Waits for a working connection (on a cluster, re-subscribing is what proves it).
    pub(super) async fn ping(&mut self) -> Result<(), RedisError> {
        match self {
            Self::Server(conn) => ::redis::cmd("PING").query_async(conn).await,
            Self::Cluster(_) => Ok(()),
        }
    }
}

impl Primary {
    /// Finds the primary (asking the Sentinels, if any) and connects to it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it cannot be found or reached,
    /// [`StoreError::Backend`] when the Sentinels cannot be asked (a bad address).
    pub(super) async fn connect(
        address: Address,
        timeouts: RedisTimeouts,
        ack: RedisAck,
    ) -> Result<Arc<Self>, StoreError> {
        let timeouts = RedisTimeouts {
            command: timeouts.command + ack.wait(),
            ..timeouts
        };
        let (target, sentinel) = match address {
            Address::Server(info) => (Target::server(&info), None),
            Address::Sentinel(address) => {
                let mut sentinel = Sentinel {
                    client: sentinel_client(&address)?,
                    asked_at: None,
                };
                let info = sentinel.ask(timeouts).await?;
                (
                    Target::server(&info),
                    Some(tokio::sync::Mutex::new(sentinel)),
                )
            }
            Address::Cluster(nodes) => {
                let target = Target::Cluster(Arc::new(ClusterClients {
                    commands: cluster_client(&nodes, timeouts, ProtocolVersion::RESP2)?,
                    pushes: cluster_client(&nodes, timeouts, ProtocolVersion::RESP3)?,
                }));
                (target, None)
            }
        };
        let link = open_link(&target, timeouts).await?;
        Ok(Arc::new(Self {
            timeouts,
            sentinel,
            current: RwLock::new(Connected {
                target,
                link,
                generation: 0,
            }),
        }))
    }

    fn current(&self) -> RwLockReadGuard<'_, Connected> {
        self.current.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shared connection to the current primary.
    pub(super) fn link(&self) -> Link {
        self.current().link.clone()
    }

    /// Whether the store runs on a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.current().target, Target::Cluster(_))
    }

    /// Whether `generation` is still the current primary's.
    pub(super) fn is_current(&self, generation: u64) -> bool {
        self.current().generation == generation
    }

    /// A new connection of its own (for blocking reads) to the current primary, each read on
    /// it allowed `longest_read`, and which primary it goes to.
    pub(super) async fn dedicated(
        self: &Arc<Self>,
        longest_read: Duration,
    ) -> Result<(Dedicated, u64), StoreError> {
        let (target, generation) = {
            let current = self.current();
            (current.target.clone(), current.generation)
        };
        let opened = match target {
            Target::Server(info) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(self.timeouts.connect))
                    .set_response_timeout(Some(longest_read));
                match Client::open(*info) {
                    Ok(client) => client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await
                        .map(Dedicated::Server),
                    Err(e) => Err(e),
                }
            }
            Target::Cluster(clients) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(self.timeouts.connect)
                    .set_response_timeout(longest_read);
                clients
                    .commands
                    .get_async_connection_with_config(config)
                    .await
                    .map(|conn| Dedicated::Cluster {
                        conn,
                        timeout: longest_read,
                    })
            }
        };
        let conn = opened.map_err(|e| {
            self.failed(&e);
            backend("open a connection for blocking reads")(e)
        })?;
        Ok((conn, generation))
    }

    /// A new connection to the current primary carrying a subscription, whose messages (and
    /// disconnections) go to `pushes`, and which primary it goes to.
    pub(super) async fn subscriber(
        &self,
        pushes: mpsc::UnboundedSender<PushInfo>,
    ) -> Result<(Subscriber, u64), StoreError> {
        let (target, generation) = {
            let current = self.current();
            (current.target.clone(), current.generation)
        };
        let conn = match target {
            Target::Server(info) => {
                // Push messages (RESP3) are what lets a ConnectionManager carry a
                // subscription.
                let client = Client::open(with_protocol(&info, ProtocolVersion::RESP3))
                    .map_err(backend("open the Redis client for signals"))?;
                let config = manager_config(self.timeouts)
                    .set_push_sender(pushes)
                    .set_automatic_resubscription();
                let conn = ConnectionManager::new_with_config(client, config)
                    .await
                    .map_err(backend("connect to Redis for signals"))?;
                Subscriber::Server(conn)
            }
            Target::Cluster(clients) => {
                // The cluster connection resubscribes by itself, on whichever node serves the
                // channels' slot after a failover or a migration.
                let config = ClusterConfig::new()
                    .set_connection_timeout(self.timeouts.connect)
                    .set_response_timeout(self.timeouts.command)
                    .set_push_sender(pushes);
                let conn = clients
                    .pushes
                    .get_async_connection_with_config(config)
                    .await
                    .map_err(backend("connect to the Redis Cluster for signals"))?;
                Subscriber::Cluster(conn)
            }
        };
        Ok((conn, generation))
    }

    /// Notes that a command failed with `e`: behind Sentinel, an error a failover explains has
    /// the Sentinels asked again, in the background.
    pub(super) fn failed(self: &Arc<Self>, e: &RedisError) {
        if is_unavailable(e) {
            self.suspect();
        }
    }

    /// Has the Sentinels asked where the primary is, in the background, unless a round is
    /// under way or one ended within [`REDISCOVERY_INTERVAL`]. Nothing on one server or a
    /// cluster.
    pub(super) fn suspect(self: &Arc<Self>) {
        if self.sentinel.is_none() {
            return;
        }
        let primary = Arc::clone(self);
        tokio::spawn(async move { primary.rediscover().await });
    }

    async fn rediscover(&self) {
        let Some(sentinel) = &self.sentinel else {
            return;
        };
        let Ok(mut sentinel) = sentinel.try_lock() else {
            return;
        };
        if sentinel
            .asked_at
            .is_some_and(|at| at.elapsed() < REDISCOVERY_INTERVAL)
        {
            return;
        }
        let found = match sentinel.ask(self.timeouts).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "the Sentinels did not name a reachable primary yet");
                return;
            }
        };
        let (earlier, generation) = {
            let current = self.current();
            let Target::Server(earlier) = &current.target else {
                return;
            };
            (earlier.clone(), current.generation)
        };
        if found.addr() == earlier.addr() {
            // The same primary: its connection reconnects by itself.
            return;
        }
        let target = Target::server(&found);
        match open_link(&target, self.timeouts).await {
            Ok(link) => {
                let Target::Server(found) = &target else {
                    return;
                };
                tracing::warn!(
                    primary = %found.addr(),
                    earlier = %earlier.addr(),
                    "Redis has a new primary (Sentinel failover); commands go there now"
                );
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Connected {
                    target,
                    link,
                    generation: generation + 1,
                };
            }
            Err(e) => {
                tracing::debug!(error = %e, "the new primary cannot be reached yet");
            }
        }
    }
}

impl Sentinel {
    /// The address of the primary the Sentinels name now, checked to be a primary (`ROLE`),
    /// within a few connect timeouts.
    async fn ask(&mut self, timeouts: RedisTimeouts) -> Result<ConnectionInfo, StoreError> {
        self.asked_at = Some(Instant::now());
        // Boxed: the client's lookup is a deep future, and every future that connects a
        // store would carry its whole layout.
        let lookup = Box::pin(self.client.async_get_client());
        let asked = tokio::time::timeout(timeouts.connect * 3, lookup);
        match asked.await {
            Ok(Ok(client)) => Ok(client.get_connection_info().clone()),
            Ok(Err(e)) => Err(StoreError::Unavailable(format!(
                "failed to find the Redis primary through Sentinel: {e}"
            ))),
            Err(_) => Err(StoreError::Unavailable(format!(
                "no Sentinel named a reachable Redis primary within {:?}",
                timeouts.connect * 3
            ))),
        }
    }
}

fn sentinel_client(address: &SentinelAddress) -> Result<SentinelClient, StoreError> {
    let node =
        SentinelNodeConnectionInfo::default().set_redis_connection_info(address.node.clone());
    SentinelClient::build(
        address.sentinels.clone(),
        address.master.clone(),
        Some(node),
        SentinelServerType::Master,
    )
    .map_err(backend("set up the Sentinel client"))
}

/// The shared connection to `target`, connected.
async fn open_link(target: &Target, timeouts: RedisTimeouts) -> Result<Link, StoreError> {
    match target {
        Target::Server(info) => {
            let client = Client::open(ConnectionInfo::clone(info))
                .map_err(backend("open the Redis client"))?;
            ConnectionManager::new_with_config(client, manager_config(timeouts))
                .await
                .map(Link::Server)
                .map_err(backend("connect to Redis"))
        }
        Target::Cluster(clients) => clients
            .commands
            .get_async_connection()
            .await
            .map(Link::Cluster)
            .map_err(backend("connect to the Redis Cluster")),
    }
}

/// A client of the cluster the seed `nodes` belong to (they carry the credentials and whether
/// to use TLS), speaking `protocol`, its connections bounded by `timeouts`.
fn cluster_client(
    nodes: &[ConnectionInfo],
    timeouts: RedisTimeouts,
    protocol: ProtocolVersion,
) -> Result<ClusterClient, StoreError> {
    ClusterClientBuilder::new(nodes.to_vec())
        .use_protocol(protocol)
        .connection_timeout(timeouts.connect)
        .response_timeout(timeouts.command)
        // The command timeout bounds each attempt; the whole of a request is bounded by its
        // caller (`Bounded`, or a blocking read's own bound), which a blocking read's longer
        // attempts would otherwise be cut short by.
        .overall_response_timeout(None)
        .retries(CLUSTER_RETRIES)
        .build()
        .map_err(backend("set up the Redis Cluster client"))
}

/// A handle on the shared connection to the primary, with every command bounded. The
/// manager's own response timeout only bounds a command sent on a live connection: a command
/// issued while the manager reconnects waits for the whole round of reconnection attempts.
///
/// A handle for acknowledged writes under [`RedisAck::Replicated`] (`confirm`) sends each of
/// its commands (or pipelines) followed by `WAIT 1`, in one write on the same connection, so
/// the `WAIT` is sure to follow the write it confirms even if the connection is replaced.
#[derive(Clone)]
pub(super) struct Bounded {
    pub(super) primary: Arc<Primary>,
    pub(super) timeout: Duration,
    /// How long a replica may take to confirm each write; `None` for no confirmation.
    pub(super) confirm: Option<Duration>,
}

impl Bounded {
    pub(super) async fn bound<T>(
        timeout: Duration,
        command: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, RedisError> {
        tokio::time::timeout(timeout, command)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("Redis did not answer within {timeout:?}"),
                )
                .into())
            })
    }

    /// A command's outcome, noted: a failure a failover explains has the primary looked for
    /// again — an error of the connection, or the server's answer (a `READONLY` from a
    /// primary that came back as a replica, say), which arrives as a value.
    fn noted(&self, result: Result<Value, RedisError>) -> Result<Value, RedisError> {
        match &result {
            Err(e) => self.primary.failed(e),
            Ok(value) => self.note(value),
        }
        result
    }

    /// [`Bounded::noted`] for the replies of a pipeline.
    fn noted_all(&self, result: Result<Vec<Value>, RedisError>) -> Result<Vec<Value>, RedisError> {
        match &result {
            Err(e) => self.primary.failed(e),
            Ok(values) => values.iter().for_each(|value| self.note(value)),
        }
        result
    }

    fn note(&self, value: &Value) {
        if let Value::ServerError(error) = value {
            self.primary.failed(&error.clone().into());
        }
    }
}

impl ConnectionLike for Bounded {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.primary.link();
            let result = match self.confirm {
                None => Self::bound(self.timeout, conn.req_packed_command(cmd)).await,
                // Loading a script (Redis had not seen it, or lost it) writes no data.
                Some(_) if loads_a_script(cmd) => {
                    Self::bound(self.timeout, conn.req_packed_command(cmd)).await
                }
                Some(wait) => {
                    let mut pipeline = ::redis::pipe();
                    pipeline.add_command(cmd.clone());
                    Self::bound(self.timeout, confirmed(&mut conn, pipeline, 0, 1, wait))
                        .await
                        .and_then(|mut replies| {
                            replies.pop().ok_or_else(|| missing_reply("a command"))
                        })
                }
            };
            self.noted(result)
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let mut conn = self.primary.link();
            let result = match self.confirm {
                None => {
                    let replies = conn.req_packed_commands(pipeline, offset, count);
                    Self::bound(self.timeout, replies).await
                }
                Some(wait) => {
                    // A transaction is sent as its own MULTI … EXEC, so that WAIT follows the
                    // EXEC.
                    let plain = if pipeline.is_transaction() {
                        let mut plain = ::redis::pipe();
                        plain.cmd("MULTI");
                        for cmd in pipeline.cmd_iter() {
                            plain.add_command(cmd.clone());
                        }
                        plain.cmd("EXEC");
                        plain
                    } else {
                        pipeline.clone()
                    };
                    let replies = confirmed(&mut conn, plain, offset, count, wait);
                    Self::bound(self.timeout, replies).await
                }
            };
            self.noted_all(result)
        })
    }

    fn get_db(&self) -> i64 {
        self.primary.link().get_db()
    }
}

/// Sends `pipeline` (its replies from `offset`, `count` of them) and then `WAIT 1`: the
/// replies once a replica has the writes, an unavailable error if none confirms within `wait`.
/// A reply that is an error is answered as it is (a script Redis does not know yet, say): the
/// caller reads it, and nothing was written to confirm.
///
/// Every reply is read, those before `offset` too: in a transaction sent as `MULTI … EXEC`,
/// those are the commands' `QUEUED`, where a cluster says that the slot moved (`MOVED`, which
/// [`cluster_pipeline`] follows) — an error there is the outcome.
async fn confirmed(
    conn: &mut Link,
    mut pipeline: Pipeline,
    offset: usize,
    count: usize,
    wait: Duration,
) -> Result<Vec<Value>, RedisError> {
    pipeline
        .cmd("WAIT")
        .arg(1)
        .arg(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1));
    let mut replies = conn
        .req_packed_commands(&pipeline, 0, offset + count + 1)
        .await?;
    if replies.len() < offset {
        return Err(missing_reply("a queued command"));
    }
    let skipped: Vec<Value> = replies.drain(..offset).collect();
    if let Some(Value::ServerError(e)) = skipped
        .into_iter()
        .find(|r| matches!(r, Value::ServerError(_)))
    {
        return Err(e.into());
    }
    let replicas = replies.pop().ok_or_else(|| missing_reply("WAIT"))?;
    if replies.iter().any(|r| matches!(r, Value::ServerError(_))) {
        return Ok(replies);
    }
    match replicas {
        Value::Int(confirmed) if confirmed >= 1 => Ok(replies),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no replica confirmed the write within {wait:?} (--redis-ack replicated)"),
        )
        .into()),
    }
}

/// Whether `cmd` is `SCRIPT …` (the client loads a script Redis answered `NOSCRIPT` for).
fn loads_a_script(cmd: &Cmd) -> bool {
    matches!(cmd.args_iter().next(), Some(Arg::Simple(name)) if name.eq_ignore_ascii_case(b"SCRIPT"))
}

fn missing_reply(what: &str) -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "Redis answered fewer replies than sent",
        what.to_owned(),
    ))
}

/// Whether a Redis error means Redis cannot serve right now, rather than that the request
/// failed: the connection is down or timed out, or the server is loading its data, has no
/// primary to follow, is a replica refusing writes (a failover under way), is busy running a
/// script, or serves a cluster whose slot is moving or moved (`TRYAGAIN`, `ASK`, `MOVED`,
/// `CLUSTERDOWN`, also as the reasons a transaction was aborted).
pub(super) fn is_unavailable(e: &RedisError) -> bool {
    if e.kind() == ErrorKind::Server(ServerErrorKind::ExecAbort) {
        // A transaction aborted because its slot moved or is moving (`MOVED`, `ASK`,
        // `TRYAGAIN` queued in it), rather than because a command in it was wrong.
        return e.clone().into_server_errors().is_some_and(|errors| {
            errors.iter().any(|(_, e)| {
                matches!(
                    e.kind(),
                    Some(
                        ServerErrorKind::Moved
                            | ServerErrorKind::Ask
                            | ServerErrorKind::TryAgain
                            | ServerErrorKind::ClusterDown
                    )
                )
            })
        });
    }
    match e.kind() {
        ErrorKind::Io
        | ErrorKind::ClusterConnectionNotFound
        | ErrorKind::MasterNameNotFoundBySentinel
        | ErrorKind::NoValidReplicasFoundBySentinel
        | ErrorKind::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::MasterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::ReadOnly
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        ) => true,
        ErrorKind::Extension => matches!(e.code(), Some("BUSY")),
        // A script that reached for a key whose slot is half-way through a migration, on
        // the node it is leaving.
        ErrorKind::Server(ServerErrorKind::ResponseError) => e
            .detail()
            .is_some_and(|detail| detail.contains("non local key")),
        _ => false,
    }
}

/// Maps a Redis error to the store's, saying what was being done: [`StoreError::Unavailable`]
/// when Redis cannot serve right now ([`is_unavailable`]), else [`StoreError::Backend`].
pub(super) fn backend(context: &'static str) -> impl Fn(RedisError) -> StoreError {
    move |e| {
        let message = format!("failed to {context}: {e}");
        if is_unavailable(&e) {
            StoreError::Unavailable(message)
        } else {
            StoreError::Backend(message)
        }
    }
}

/// How a connection manager connects, times out and reconnects (see the module's `# When Redis
/// is unreachable`).
pub(super) fn manager_config(timeouts: RedisTimeouts) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeouts.connect))
        .set_response_timeout(Some(timeouts.command))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(MAX_RECONNECT_DELAY)
}

/// The same server, speaking `protocol`.
pub(super) fn with_protocol(info: &ConnectionInfo, protocol: ProtocolVersion) -> ConnectionInfo {
    let settings = info.redis_settings().clone().set_protocol(protocol);
    info.clone().set_redis_settings(settings)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// The error a Redis server's answer `-<line>` becomes.
    fn server_error(line: &str) -> RedisError {
        ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes())
            .and_then(Value::extract_error)
            .expect_err("an error answer")
    }

    fn io_error(kind: io::ErrorKind) -> RedisError {
        io::Error::new(kind, "test").into()
    }

    #[test]
    fn a_redis_that_cannot_serve_right_now_is_unavailable() {
        for e in [
            io_error(io::ErrorKind::ConnectionRefused),
            io_error(io::ErrorKind::ConnectionReset),
            io_error(io::ErrorKind::BrokenPipe),
            io_error(io::ErrorKind::UnexpectedEof),
            io_error(io::ErrorKind::TimedOut),
            RedisError::from((
                ErrorKind::Io,
                "Multiplexed connection driver unexpectedly terminated",
            )),
            server_error("LOADING Redis is loading the dataset in memory"),
            server_error(
                "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
            ),
            server_error("READONLY You can't write against a read only replica."),
            server_error("TRYAGAIN Multiple keys request during rehashing of slot"),
            server_error("CLUSTERDOWN The cluster is down"),
            server_error("BUSY Redis is busy running a script."),
            server_error("MOVED 3999 127.0.0.1:6381"),
            server_error("ASK 3999 127.0.0.1:6381"),
            server_error(
                "ERR Script attempted to access a non local key in a cluster node script: \
                 abc, on @user_script:20.",
            ),
        ] {
            assert!(is_unavailable(&e), "{e} should be unavailable");
            assert!(
                matches!(backend("test")(e), StoreError::Unavailable(_)),
                "mapped to Unavailable"
            );
        }
    }

    #[test]
    fn a_redis_that_answers_with_an_error_is_a_backend_failure() {
        for e in [
            server_error("ERR unknown command 'NOPE'"),
            server_error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            server_error("NOSCRIPT No matching script."),
            server_error("NOPERM this user has no permissions to run the 'eval' command"),
            server_error("OOM command not allowed when used memory > 'maxmemory'."),
            RedisError::from((ErrorKind::AuthenticationFailed, "invalid password")),
            RedisError::from((ErrorKind::UnexpectedReturnType, "not an integer")),
        ] {
            assert!(!is_unavailable(&e), "{e} should not be unavailable");
            assert!(
                matches!(backend("test")(e), StoreError::Backend(_)),
                "mapped to Backend"
            );
        }
    }

    /// A server's answer `-<line>` as it arrives among a pipeline's replies.
    fn reply(line: &str) -> Value {
        ::redis::parse_redis_value(format!("-{line}\r\n").as_bytes()).expect("an error reply")
    }

    #[test]
    fn a_pipeline_whose_slot_moved_or_is_moving_is_redirected() {
        let moved = Ok(vec![
            Value::Okay,
            reply("MOVED 3999 10.0.0.7:6381"),
            reply("MOVED 3999 10.0.0.7:6381"),
        ]);
        assert_eq!(redirection(&moved), Some(Redirection::Moved));
        for line in [
            "ASK 3999 10.0.0.7:6381",
            "TRYAGAIN Multiple keys request during rehashing of slot",
        ] {
            assert_eq!(
                redirection(&Ok(vec![reply(line)])),
                Some(Redirection::Migrating)
            );
        }
        assert!(redirection(&Ok(vec![Value::Okay, Value::Int(1)])).is_none());
        assert!(redirection(&Ok(vec![reply("WRONGTYPE Operation against a key")])).is_none());
        assert!(redirection(&Err(io_error(io::ErrorKind::ConnectionReset))).is_none());
    }

    #[test]
    fn the_key_a_moved_pipeline_is_followed_by_is_its_first_commands() {
        let mut transaction = ::redis::pipe();
        transaction
            .atomic()
            .cmd("XRANGE")
            .arg("{p}:feed:acme")
            .arg("-")
            .arg("+")
            .cmd("GET")
            .arg("{p}:feed-last:acme");
        assert_eq!(first_key(&transaction), Some(b"{p}:feed:acme".to_vec()));
        let mut confirmed = ::redis::pipe();
        confirmed
            .cmd("MULTI")
            .cmd("HSET")
            .arg("{p}:job:1")
            .arg("a")
            .arg("b");
        confirmed.cmd("EXEC").cmd("WAIT").arg(1).arg(1000);
        assert_eq!(first_key(&confirmed), Some(b"{p}:job:1".to_vec()));
        let mut keyless = ::redis::pipe();
        keyless.cmd("WAIT").arg(1).arg(1000);
        assert_eq!(first_key(&keyless), None);
    }

    #[tokio::test]
    async fn a_command_that_outlasts_its_timeout_fails_as_unavailable() {
        let stuck = std::future::pending::<Result<(), RedisError>>();
        let e = Bounded::bound(Duration::from_millis(10), stuck)
            .await
            .expect_err("timed out");
        assert!(e.is_timeout(), "{e}");
        assert!(matches!(backend("test")(e), StoreError::Unavailable(_)));
    }
}
