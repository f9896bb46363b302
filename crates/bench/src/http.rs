//! A lean HTTP/1.1 client over hyper's connection API: one keep-alive connection per load
//! task, no pool machinery in the hot path. The load tool shares two cores with the server
//! and Redis, so every microsecond it spends per request is a microsecond the server loses.
//!
//! Targets are loopback only: [`Target::parse`] refuses any other address.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// The server under test: a loopback address, its `Host` header and optional API key.
#[derive(Debug, Clone)]
pub struct Target {
    addr: SocketAddr,
    host: HeaderValue,
    authorization: Option<HeaderValue>,
}

impl Target {
    /// Parses `http://host:port` (a path, if any, is ignored) and checks that it is loopback.
    ///
    /// # Errors
    /// When the URL is not plain `http://`, does not resolve, or resolves outside loopback.
    pub fn parse(url: &str, api_key: Option<&str>) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("`{url}` is not an http:// URL (no TLS, loopback only)"))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .with_context(|| format!("failed to resolve `{authority}`"))?
            .next()
            .with_context(|| format!("`{authority}` resolves to no address"))?;
        Self::new(addr, api_key)
    }

    /// A target at a known loopback address.
    ///
    /// # Errors
    /// When `addr` is not loopback or the API key is not a valid header value.
    pub fn new(addr: SocketAddr, api_key: Option<&str>) -> anyhow::Result<Self> {
        if !addr.ip().is_loopback() {
            bail!("{addr} is not a loopback address: herald-bench only loads this machine");
        }
        let host = HeaderValue::from_str(&addr.to_string()).context("invalid host")?;
        let authorization = api_key
            .map(|key| HeaderValue::from_str(&format!("Bearer {key}")))
            .transpose()
            .context("the API key is not a valid header value")?;
        Ok(Self {
            addr,
            host,
            authorization,
        })
    }

    /// Its socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A `POST` of a JSON body.
    ///
    /// # Errors
    /// When `path` is not a valid request target.
    pub fn post_json(&self, path: &str, body: Bytes) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut request = self.request(Method::POST, path, body)?;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(request)
    }

    /// A `GET`, conditional on `if_none_match` when given.
    ///
    /// # Errors
    /// When `path` or the entity tag is not valid in a request.
    pub fn get(
        &self,
        path: &str,
        if_none_match: Option<&str>,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut request = self.request(Method::GET, path, Bytes::new())?;
        if let Some(tag) = if_none_match {
            request.headers_mut().insert(
                header::IF_NONE_MATCH,
                HeaderValue::from_str(tag).context("invalid entity tag")?,
            );
        }
        Ok(request)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.clone())
            .body(Full::new(body))
            .with_context(|| format!("invalid request target `{path}`"))?;
        if let Some(authorization) = &self.authorization {
            request
                .headers_mut()
                .insert(header::AUTHORIZATION, authorization.clone());
        }
        Ok(request)
    }
}

/// A response read in full, so its connection is free for the next request.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

/// One keep-alive HTTP/1.1 connection. Its driver runs as a task on the current runtime.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    /// Connects (with `TCP_NODELAY`, as any latency-minded client does) and handshakes.
    ///
    /// # Errors
    /// When the server cannot be reached.
    pub async fn open(target: &Target) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("failed to connect to {}", target.addr))?;
        stream
            .set_nodelay(true)
            .context("failed to set TCP_NODELAY")?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .context("failed the HTTP/1.1 handshake")?;
        // The driver ends when the server closes the connection or the sender is dropped;
        // the next `send` then reports the error, so nothing is lost by ignoring it here.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Whether the server closed this connection (a new one is needed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends one request and reads the whole answer.
    ///
    /// # Errors
    /// When the connection fails or closes before the answer is read.
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        self.sender
            .ready()
            .await
            .context("the connection is closed")?;
        let response = self
            .sender
            .send_request(request)
            .await
            .context("the request failed")?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .context("failed to read the response body")?
            .to_bytes();
        Ok(Reply {
            status: parts.status,
            body,
        })
    }
}

/// Connections for tasks that come and go (a long poll holds one for its wait): idle ones
/// are reused, new ones opened on demand up to a cap, past which requests queue.
pub struct Pool {
    target: Arc<Target>,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    opened: AtomicUsize,
}

impl Pool {
    /// A pool of at most `max_connections` connections to `target`.
    pub fn new(target: Arc<Target>, max_connections: usize) -> Self {
        Self {
            target,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(max_connections),
            opened: AtomicUsize::new(0),
        }
    }

    /// The target of this pool.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// How many connections were opened in all.
    pub fn opened(&self) -> usize {
        self.opened.load(Ordering::Relaxed)
    }

    /// Sends one request on an idle connection or a new one.
    ///
    /// # Errors
    /// When no connection can be opened or the request fails.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> anyhow::Result<Reply> {
        let _permit = self.permits.acquire().await.context("the pool is closed")?;
        let reused = loop {
            let popped = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop();
            match popped {
                Some(conn) if conn.is_closed() => continue,
                other => break other,
            }
        };
        let mut conn = match reused {
            Some(conn) => conn,
            None => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                Conn::open(&self.target).await?
            }
        };
        let reply = conn.send(request).await?;
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        Ok(reply)
    }
}

/// Percent-encodes a query value (cursors are opaque to the client).
pub fn query_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_are_accepted() {
        let target = Target::parse("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(target.addr.port(), 8080);
        assert!(Target::parse("http://localhost:9000/v1", None).is_ok());
    }

    #[test]
    fn other_addresses_are_refused() {
        assert!(Target::parse("http://10.0.0.1:8080", None).is_err());
        assert!(Target::parse("http://192.168.1.2:80", None).is_err());
        assert!(Target::parse("https://127.0.0.1:8443", None).is_err());
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(query_escape("a b/c=d"), "a%20b%2Fc%3Dd");
        assert_eq!(query_escape("0193-AZ_.~"), "0193-AZ_.~");
    }
}
