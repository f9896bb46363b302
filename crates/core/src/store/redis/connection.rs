//! The connection to Redis: how long talking to it may take ([`RedisTimeouts`]), the shared
//! connection with every command bounded ([`Bounded`]), how the client reconnects, and which
//! Redis errors mean that Redis cannot serve right now (see the backend's `# When Redis is
//! unreachable`).

use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::{
    Cmd, ConnectionInfo, ErrorKind, Pipeline, ProtocolVersion, RedisError, RedisFuture,
    ServerErrorKind, Value,
};

use crate::store::StoreError;

/// How many times in a row the client retries a lost connection before the command waiting
/// for it fails; the next command starts another round. Few and short, so that a Redis that
/// comes back is found within about [`MAX_RECONNECT_DELAY`].
const RECONNECT_RETRIES: usize = 3;
/// The longest pause between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

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

/// The shared connection with every command bounded by the command timeout. The manager's own
/// response timeout only bounds a command sent on a live connection: a command issued while
/// the manager reconnects waits for the whole round of reconnection attempts.
#[derive(Clone)]
pub(super) struct Bounded {
    pub(super) conn: ConnectionManager,
    pub(super) timeout: Duration,
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
}

impl ConnectionLike for Bounded {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(Self::bound(self.timeout, self.conn.req_packed_command(cmd)))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(Self::bound(
            self.timeout,
            self.conn.req_packed_commands(pipeline, offset, count),
        ))
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

/// Whether a Redis error means Redis cannot serve right now, rather than that the request
/// failed: the connection is down or timed out, or the server is loading its data, has no
/// primary to follow, is a replica refusing writes (a failover under way) or is busy running a
/// script.
pub(super) fn is_unavailable(e: &RedisError) -> bool {
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
            | ServerErrorKind::ReadOnly,
        ) => true,
        ErrorKind::Extension => matches!(e.code(), Some("BUSY")),
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
