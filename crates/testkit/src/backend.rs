//! The backends of the store, opened for one test: the memory store, or a Redis store under a
//! fresh key prefix on the `redis-server` the suite's tests share, on the primary of the
//! Sentinel deployment they share, or on the Redis Cluster they share (in one partition, or
//! spread over [`PARTITIONS`]). With [`on_both_backends!`](crate::on_both_backends) a test
//! written once runs on memory and Redis; with [`on_every_backend!`](crate::on_every_backend)
//! on Sentinel and Cluster, partitioned or not, too.

use std::any::Any;
use std::sync::Arc;

use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::{RedisOptions, RedisStore};
use herald_core::store::{SharedKeyStore, SharedSourceStore, SharedWebhookStore};
use herald_core::{SharedStore, StoreConfig};

use crate::{Cluster, RedisServer, Sentinels};

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Redis,
    /// Redis reached through Sentinel (`redis+sentinel://`).
    Sentinel,
    /// A Redis Cluster of three shards (`redis+cluster://`).
    Cluster,
    /// The same Cluster, the store spread over [`PARTITIONS`] partitions.
    Partitioned,
}

/// How many partitions [`Backend::Partitioned`] spreads a store over: one per shard of the
/// test Cluster.
pub const PARTITIONS: usize = 3;

impl Backend {
    /// Whether the store is spread over partitions: then the feed orders the events of
    /// different jobs only by time (see `RedisStore`).
    pub fn partitioned(self) -> bool {
        matches!(self, Backend::Partitioned)
    }
}

/// One backend's store for one test, seen through each of its traits; it keeps the Redis
/// servers alive as long as the test holds it.
pub struct Stores {
    pub store: SharedStore,
    pub hooks: SharedWebhookStore,
    pub keys: SharedKeyStore,
    pub sources: SharedSourceStore,
    /// The shared Redis servers the store is on (a server, the Sentinels, the Cluster).
    _servers: Option<Arc<dyn Any + Send + Sync>>,
}

impl Backend {
    /// A fresh, empty store of this backend with `config`.
    ///
    /// # Panics
    /// When the Redis store cannot connect to the test's server.
    pub async fn open(self, config: StoreConfig) -> Stores {
        match self {
            Backend::Memory => {
                let store = Arc::new(MemoryStore::new(config));
                Stores {
                    store: Arc::clone(&store) as SharedStore,
                    hooks: Arc::clone(&store) as SharedWebhookStore,
                    keys: Arc::clone(&store) as SharedKeyStore,
                    sources: store,
                    _servers: None,
                }
            }
            Backend::Redis => {
                let redis = RedisServer::shared();
                let (store, _prefix) = connect(&redis, config).await;
                on_redis(store, redis)
            }
            Backend::Sentinel => {
                let sentinels = Sentinels::shared();
                let store =
                    RedisStore::connect(&sentinels.url(), &RedisServer::fresh_prefix(), config)
                        .await
                        .expect("connect through the test Sentinels");
                on_redis(store, sentinels)
            }
            Backend::Cluster => {
                let cluster = Cluster::shared();
                let store =
                    RedisStore::connect(&cluster.url(), &RedisServer::fresh_prefix(), config)
                        .await
                        .expect("connect to the test Redis Cluster");
                on_redis(store, cluster)
            }
            Backend::Partitioned => {
                let cluster = Cluster::shared();
                let options = RedisOptions {
                    partitions: Some(PARTITIONS),
                    ..RedisOptions::default()
                };
                let store = RedisStore::connect_with(
                    &cluster.url(),
                    &RedisServer::fresh_prefix(),
                    config,
                    options,
                )
                .await
                .expect("connect to the test Redis Cluster");
                on_redis(store, cluster)
            }
        }
    }
}

/// A Redis store's [`Stores`], keeping `servers` alive with it.
fn on_redis(store: RedisStore, servers: Arc<dyn Any + Send + Sync>) -> Stores {
    let store = Arc::new(store);
    Stores {
        store: Arc::clone(&store) as SharedStore,
        hooks: Arc::clone(&store) as SharedWebhookStore,
        keys: Arc::clone(&store) as SharedKeyStore,
        sources: store,
        _servers: Some(servers),
    }
}

/// A Redis store on `server` under a key prefix no other test uses, and that prefix.
///
/// # Panics
/// When the store cannot connect to `server`.
pub async fn connect(server: &RedisServer, config: StoreConfig) -> (RedisStore, String) {
    let prefix = RedisServer::fresh_prefix();
    let store = RedisStore::connect(server.url(), &prefix, config)
        .await
        .expect("connect to the test redis-server");
    (store, prefix)
}

/// Instantiates each named test once per backend, as `memory::name` and `redis::name`: each
/// named function takes the [`Backend`] to run on.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::backend::Backend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::backend::Backend::Redis).await
                }
            )*
        }
    };
}

/// [`on_both_backends!`], and once more on Redis through Sentinel, on a Redis Cluster and on
/// that Cluster spread over partitions, as `sentinel::name`, `cluster::name` and
/// `partitioned::name`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $crate::on_both_backends!($($name),*);
        mod sentinel {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::backend::Backend::Sentinel).await
                }
            )*
        }
        mod cluster {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::backend::Backend::Cluster).await
                }
            )*
        }
        mod partitioned {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::backend::Backend::Partitioned).await
                }
            )*
        }
    };
}
