//! Where Redis is, as `--redis-url` says: one server (`redis://`, `rediss://`, `unix://`…,
//! read by the Redis client), the primary that a set of Sentinels names
//! (`redis+sentinel://[user:pass@]HOST:PORT[,HOST:PORT…]/MASTER_NAME`), or a Redis Cluster
//! found from seed nodes (`redis+cluster://[user:pass@]HOST:PORT[,HOST:PORT…]`, or
//! `rediss+cluster://` for TLS to every node).
//!
//! In a Sentinel URL the user and password are those of the Redis servers; the Sentinels are
//! asked without credentials unless the query names theirs (`?sentinel_username=…&
//! sentinel_password=…`, percent-encoded). A port left out is Sentinel's own, 26379.

use ::redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::backend;
use crate::store::StoreError;

const SENTINEL_SCHEME: &str = "redis+sentinel://";
const CLUSTER_SCHEME: &str = "redis+cluster://";
const CLUSTER_TLS_SCHEME: &str = "rediss+cluster://";
/// The port a Sentinel listens on unless told otherwise.
const SENTINEL_PORT: u16 = 26379;

/// Where the store finds its Redis.
#[derive(Debug, Clone)]
pub(super) enum Address {
    /// One server, always the same.
    Server(ConnectionInfo),
    /// The primary the Sentinels name, found again after a failover.
    Sentinel(SentinelAddress),
    /// A Redis Cluster: the seed nodes the client learns the cluster's shape from, each with
    /// the credentials every node takes.
    Cluster(Vec<ConnectionInfo>),
}

#[derive(Debug, Clone)]
pub(super) struct SentinelAddress {
    /// The Sentinels to ask, with their credentials.
    pub(super) sentinels: Vec<ConnectionInfo>,
    /// The name they monitor the primary by.
    pub(super) master: String,
    /// The credentials (and database) of the Redis servers themselves.
    pub(super) node: RedisConnectionInfo,
}

impl Address {
    /// Reads a Redis URL.
    ///
    /// # Errors
    /// [`StoreError::Backend`] saying what is wrong with it (never the password).
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix(SENTINEL_SCHEME) {
            return parse_sentinel(rest).map(Self::Sentinel);
        }
        if let Some(rest) = url.strip_prefix(CLUSTER_SCHEME) {
            return parse_cluster(rest, "redis").map(Self::Cluster);
        }
        if let Some(rest) = url.strip_prefix(CLUSTER_TLS_SCHEME) {
            return parse_cluster(rest, "rediss").map(Self::Cluster);
        }
        url.into_connection_info()
            .map(Self::Server)
            .map_err(backend("read the Redis URL"))
    }
}

fn invalid(why: &str) -> StoreError {
    StoreError::Backend(format!("invalid Redis URL: {why}"))
}

/// `[user:pass@]HOST:PORT[,HOST:PORT…]/MASTER_NAME[?query]`, after the scheme.
fn parse_sentinel(rest: &str) -> Result<SentinelAddress, StoreError> {
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let Some((authority, master)) = rest.split_once('/') else {
        return Err(invalid(
            "a Sentinel URL names the primary after the hosts: \
             redis+sentinel://HOST:PORT[,HOST:PORT…]/MASTER_NAME",
        ));
    };
    let master = master.strip_suffix('/').unwrap_or(master);
    if master.is_empty() || master.contains('/') {
        return Err(invalid(
            "a Sentinel URL ends with the name the Sentinels monitor the primary by \
             (redis+sentinel://HOST:PORT/MASTER_NAME)",
        ));
    }
    let (node, hosts) = split_credentials(authority)?;
    let sentinel_credentials = sentinel_credentials(query)?;
    let mut sentinels = Vec::new();
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(invalid(
                "a Sentinel URL lists HOST:PORT pairs separated by commas",
            ));
        }
        let info = format!("redis://{host}")
            .into_connection_info()
            .map_err(|_| invalid("a Sentinel's host is not HOST or HOST:PORT"))?;
        let addr = match info.addr() {
            // The client's default port is Redis's; a Sentinel's is its own.
            ConnectionAddr::Tcp(name, port) if !has_port(host) => {
                ConnectionAddr::Tcp(name.clone(), SENTINEL_PORT)
            }
            addr => addr.clone(),
        };
        sentinels.push(
            info.set_addr(addr)
                .set_redis_settings(sentinel_credentials.clone()),
        );
    }
    Ok(SentinelAddress {
        sentinels,
        master: master.to_owned(),
        node,
    })
}

/// `[user:pass@]HOST:PORT[,HOST:PORT…][/]`, after the scheme: each seed node as a URL of
/// `scheme` with the URL's credentials.
fn parse_cluster(rest: &str, scheme: &str) -> Result<Vec<ConnectionInfo>, StoreError> {
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?']) {
        return Err(invalid(
            "a Cluster URL lists its seed nodes and nothing else (a cluster has no database \
             to select): redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT…]",
        ));
    }
    let (node, hosts) = split_credentials(authority)?;
    let mut nodes = Vec::new();
    for host in hosts.split(',') {
        if host.is_empty() {
            return Err(invalid(
                "a Cluster URL lists HOST:PORT pairs separated by commas",
            ));
        }
        let info = format!("{scheme}://{host}")
            .into_connection_info()
            .map_err(|_| invalid("a Cluster node's host is not HOST or HOST:PORT"))?;
        nodes.push(info.set_redis_settings(node.clone()));
    }
    Ok(nodes)
}

/// The credentials of `[user:pass@]HOSTS` (none without an `@`), and the hosts.
fn split_credentials(authority: &str) -> Result<(RedisConnectionInfo, &str), StoreError> {
    match authority.rsplit_once('@') {
        // The Redis client reads (and percent-decodes) the credentials of a URL of its own.
        Some((user_info, hosts)) => Ok((
            credentials(&format!("redis://{user_info}@localhost"))?,
            hosts,
        )),
        None => Ok((RedisConnectionInfo::default(), authority)),
    }
}

/// Whether `host` (`name`, `name:port`, `[v6]` or `[v6]:port`) says its port.
fn has_port(host: &str) -> bool {
    match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    }
}

/// The user and password of a `redis://` URL.
fn credentials(url: &str) -> Result<RedisConnectionInfo, StoreError> {
    url.into_connection_info()
        .map(|info| info.redis_settings().clone())
        .map_err(|_| invalid("the user and password are not percent-encoded"))
}

/// The Sentinels' own credentials, from `sentinel_username` and `sentinel_password` in the
/// query; any other parameter is refused rather than ignored.
fn sentinel_credentials(query: &str) -> Result<RedisConnectionInfo, StoreError> {
    let mut user = String::new();
    let mut password = String::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            "sentinel_username" => user = value.to_owned(),
            "sentinel_password" => password = value.to_owned(),
            _ => {
                return Err(invalid(&format!(
                    "a Sentinel URL takes `sentinel_username` and `sentinel_password` in its \
                     query, not `{name}`"
                )));
            }
        }
    }
    if user.is_empty() && password.is_empty() {
        return Ok(RedisConnectionInfo::default());
    }
    credentials(&format!("redis://{user}:{password}@localhost"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(url: &str) -> SentinelAddress {
        match Address::parse(url) {
            Ok(Address::Sentinel(address)) => address,
            other => panic!("{url}: expected a Sentinel address, got {other:?}"),
        }
    }

    fn message(url: &str) -> String {
        match Address::parse(url) {
            Err(StoreError::Backend(message)) => message,
            other => panic!("{url}: expected an error, got {other:?}"),
        }
    }

    #[test]
    fn a_sentinel_url_names_the_sentinels_the_primary_and_the_servers_credentials() {
        let address =
            sentinel("redis+sentinel://app:p%40ss@10.0.0.1:26380,sentinel-b,[::1]:5000/herald");
        assert_eq!(address.master, "herald");
        let addrs: Vec<_> = address.sentinels.iter().map(|s| s.addr().clone()).collect();
        assert_eq!(
            addrs,
            [
                ConnectionAddr::Tcp("10.0.0.1".into(), 26380),
                ConnectionAddr::Tcp("sentinel-b".into(), 26379),
                ConnectionAddr::Tcp("::1".into(), 5000),
            ]
        );
        assert_eq!(address.node.username(), Some("app"));
        assert_eq!(address.node.password(), Some("p@ss"));
        // The servers' credentials are not the Sentinels'.
        for s in &address.sentinels {
            assert_eq!(s.redis_settings().password(), None);
        }
    }

    #[test]
    fn the_sentinels_credentials_come_from_the_query() {
        let address = sentinel(
            "redis+sentinel://127.0.0.1:26379/herald/?sentinel_username=s&sentinel_password=a%26b",
        );
        assert_eq!(address.master, "herald");
        let settings = address.sentinels[0].redis_settings();
        assert_eq!(settings.username(), Some("s"));
        assert_eq!(settings.password(), Some("a&b"));
        assert_eq!(address.node.password(), None);
    }

    #[test]
    fn a_bad_sentinel_url_says_what_is_wrong_and_never_the_password() {
        for (url, says) in [
            ("redis+sentinel://h:26379", "MASTER_NAME"),
            ("redis+sentinel://h:26379/", "monitor the primary by"),
            ("redis+sentinel://h:26379/a/b", "monitor the primary by"),
            ("redis+sentinel://h1,,h2/m", "separated by commas"),
            ("redis+sentinel://h:port/m", "HOST:PORT"),
            ("redis+sentinel://u:secret@h/m?db=2", "not `db`"),
            ("redis+cluster://u:secret@h:7000/2", "no database"),
            ("redis+cluster://u:secret@h:7000?x=1", "nothing else"),
            ("redis+cluster://u:secret@h1,,h2", "separated by commas"),
            ("redis+cluster://u:secret@h:port", "HOST:PORT"),
        ] {
            let message = message(url);
            assert!(message.contains(says), "{url}: {message}");
            assert!(!message.contains("secret"), "{url}: {message}");
        }
    }

    #[test]
    fn a_cluster_url_names_the_seed_nodes_each_with_the_credentials() {
        for (url, tls) in [
            (
                "redis+cluster://app:p%40ss@10.0.0.1:7000,node-b:7001/",
                false,
            ),
            (
                "rediss+cluster://app:p%40ss@10.0.0.1:7000,node-b:7001",
                true,
            ),
        ] {
            let Ok(Address::Cluster(nodes)) = Address::parse(url) else {
                panic!("{url}: expected a Cluster address");
            };
            let addrs: Vec<_> = nodes.iter().map(|n| n.addr().clone()).collect();
            let expected = if tls {
                [
                    ConnectionAddr::TcpTls {
                        host: "10.0.0.1".into(),
                        port: 7000,
                        insecure: false,
                        tls_params: None,
                    },
                    ConnectionAddr::TcpTls {
                        host: "node-b".into(),
                        port: 7001,
                        insecure: false,
                        tls_params: None,
                    },
                ]
            } else {
                [
                    ConnectionAddr::Tcp("10.0.0.1".into(), 7000),
                    ConnectionAddr::Tcp("node-b".into(), 7001),
                ]
            };
            assert_eq!(addrs, expected, "{url}");
            for node in &nodes {
                assert_eq!(node.redis_settings().username(), Some("app"));
                assert_eq!(node.redis_settings().password(), Some("p@ss"));
            }
        }
    }

    #[test]
    fn any_other_url_is_one_server() {
        assert!(matches!(
            Address::parse("redis://:pw@127.0.0.1:6380/2"),
            Ok(Address::Server(_))
        ));
        assert!(Address::parse("http://127.0.0.1").is_err());
    }
}
