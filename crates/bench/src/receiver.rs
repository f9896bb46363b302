//! The webhook receiver the webhook phases deliver to: a hyper HTTP/1.1 server inside the
//! tool, on a multi-threaded runtime of its own, with one loopback listener per endpoint (each
//! endpoint is a distinct receiver, as distinct customers' URLs would be).
//!
//! An *answering* endpoint answers `200` with an empty body at once; it notes the first
//! receipt of every `webhook-id` (a second one is a duplicate: at-least-once delivery allows
//! them, the figures count them) and, while recording, the receipt time minus the job's
//! `updated_at` in the body. A *hanging* endpoint never answers until it is released (at the
//! end of a phase, so the notifier's attempts in flight end at once and it stops quickly);
//! until then only the notifier's own timeout ends an attempt.

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::stats;

/// Most receipt times a receiver keeps (far above any phase's deliveries).
const MAX_TIMES: usize = 10_000_000;

/// What an endpoint does with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// `200` at once.
    Answer,
    /// No answer until released.
    Hang,
}

/// Counters, read while the phase runs.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    /// Distinct deliveries (`webhook-id`s) at answering endpoints.
    pub unique: u64,
    /// Second and later receipts of a `webhook-id` at answering endpoints.
    pub duplicates: u64,
    /// Requests without a `webhook-id` header.
    pub without_id: u64,
    /// Requests that reached a hanging endpoint.
    pub hung: u64,
    /// Connections accepted, by all endpoints.
    pub connections: u64,
    /// Deliveries received while recording whose `updated_at` could not be read.
    pub unparsed: u64,
}

#[derive(Debug)]
struct Shared {
    recording: AtomicBool,
    hung: AtomicU64,
    connections: AtomicU64,
    unparsed: AtomicU64,
    without_id: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    ids: HashSet<Box<str>>,
    duplicates: u64,
    /// First receipt of each delivery, in arrival order.
    times: Vec<Instant>,
    latency: Histogram<u64>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One delivery at an answering endpoint.
    fn take(
        &self,
        id: Option<&str>,
        body: &[u8],
        at: Instant,
        wall: chrono::DateTime<chrono::Utc>,
    ) {
        let latency = if self.recording.load(Ordering::Relaxed) {
            match crate::sse::updated_at(body) {
                Some(changed) => {
                    let micros = (wall - changed).num_microseconds().unwrap_or(i64::MAX);
                    // Negative (the change and the receipt within one millisecond): 0.
                    Some(Duration::from_micros(u64::try_from(micros).unwrap_or(0)))
                }
                None => {
                    self.unparsed.fetch_add(1, Ordering::Relaxed);
                    None
                }
            }
        } else {
            None
        };
        let Some(id) = id else {
            self.without_id.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut state = self.state();
        if !state.ids.insert(id.into()) {
            state.duplicates += 1;
            return;
        }
        if state.times.len() < MAX_TIMES {
            state.times.push(at);
        }
        if let Some(latency) = latency {
            stats::record(&mut state.latency, latency);
        }
    }
}

/// A running receiver; [`Receiver::stop`] ends it (dropping it does too).
pub struct Receiver {
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    release: watch::Sender<bool>,
    addrs: Vec<(SocketAddr, Behaviour)>,
}

impl Receiver {
    /// Starts one loopback listener per endpoint on a runtime with `threads` threads.
    ///
    /// # Errors
    /// When the runtime cannot be built or a port cannot be bound.
    pub fn start(endpoints: &[Behaviour], threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("webhook-receiver")
            .enable_all()
            .build()
            .context("failed to build the receiver's runtime")?;
        let shared = Arc::new(Shared {
            recording: AtomicBool::new(false),
            hung: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            unparsed: AtomicU64::new(0),
            without_id: AtomicU64::new(0),
            state: Mutex::new(State {
                ids: HashSet::new(),
                duplicates: 0,
                times: Vec::new(),
                latency: stats::histogram()?,
            }),
        });
        let (release, released) = watch::channel(false);
        let mut addrs = Vec::with_capacity(endpoints.len());
        for &behaviour in endpoints {
            // Bound here, so the port accepts connections (into its backlog) from now on.
            let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0))
                .context("failed to bind a receiver port")?;
            listener
                .set_nonblocking(true)
                .context("failed to make a receiver port non-blocking")?;
            addrs.push((
                listener.local_addr().context("failed to read a port")?,
                behaviour,
            ));
            let (shared, released) = (Arc::clone(&shared), released.clone());
            runtime.spawn(async move {
                match TcpListener::from_std(listener) {
                    Ok(listener) => accept(listener, behaviour, shared, released).await,
                    Err(error) => eprintln!("webhook receiver: a port failed: {error}"),
                }
            });
        }
        Ok(Self {
            runtime: Some(runtime),
            shared,
            release,
            addrs,
        })
    }

    /// The URL of endpoint `index` (in the order given to [`Receiver::start`]).
    pub fn url(&self, index: usize) -> String {
        let (addr, behaviour) = self.addrs[index];
        let path = match behaviour {
            Behaviour::Answer => "hook",
            Behaviour::Hang => "hang",
        };
        format!("http://{addr}/{path}/{index}")
    }

    /// Latencies are recorded only while this is set.
    pub fn record(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        let state = self.shared.state();
        Counts {
            unique: state.ids.len() as u64,
            duplicates: state.duplicates,
            without_id: self.shared.without_id.load(Ordering::Relaxed),
            hung: self.shared.hung.load(Ordering::Relaxed),
            connections: self.shared.connections.load(Ordering::Relaxed),
            unparsed: self.shared.unparsed.load(Ordering::Relaxed),
        }
    }

    /// The first receipt of every delivery so far, in arrival order.
    pub fn times(&self) -> Vec<Instant> {
        self.shared.state().times.clone()
    }

    /// Receipt minus `updated_at` of the deliveries received while recording.
    pub fn latency(&self) -> Histogram<u64> {
        self.shared.state().latency.clone()
    }

    /// Answers every hanging request (`503`) and every later one, so the notifier's
    /// attempts in flight end now.
    pub fn release_hangs(&self) {
        let _ = self.release.send(true);
    }

    /// Closes every port and connection.
    pub fn stop(mut self) {
        self.release_hangs();
        if let Some(runtime) = self.runtime.take() {
            // Does not block: safe inside the tool's own runtime.
            runtime.shutdown_background();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(
    listener: TcpListener,
    behaviour: Behaviour,
    shared: Arc<Shared>,
    released: watch::Receiver<bool>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("webhook receiver: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let (shared, released) = (Arc::clone(&shared), released.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                handle(request, behaviour, Arc::clone(&shared), released.clone())
            });
            // A connection the notifier closes (or cuts at its timeout) just ends.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    behaviour: Behaviour,
    shared: Arc<Shared>,
    mut released: watch::Receiver<bool>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // The receipt: the request's head has been read (its small body is in the same packets).
    let at = Instant::now();
    let wall = chrono::Utc::now();
    let status = match behaviour {
        Behaviour::Answer => {
            let id = request
                .headers()
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = match request.into_body().collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => Bytes::new(),
            };
            shared.take(id.as_deref(), &body, at, wall);
            StatusCode::OK
        }
        Behaviour::Hang => {
            shared.hung.fetch_add(1, Ordering::Relaxed);
            let _ = released.wait_for(|released| *released).await;
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Conn, Target};

    fn delivery(target: &Target, path: &str, id: &str, updated_at: &str) -> Request<Full<Bytes>> {
        let body = format!(
            r#"{{"type":"job.completed","timestamp":"{updated_at}","data":{{"id":"j","seq":3,"updated_at":"{updated_at}"}}}}"#
        );
        let mut request = target.post_json(path, Bytes::from(body)).unwrap();
        request
            .headers_mut()
            .insert("webhook-id", id.parse().unwrap());
        request
    }

    #[tokio::test]
    async fn deliveries_are_counted_once_and_timed() {
        let receiver = Receiver::start(&[Behaviour::Answer, Behaviour::Hang], 1).unwrap();
        let url = receiver.url(0);
        assert!(url.ends_with("/hook/0"), "{url}");
        let target = Target::parse(&url, None).unwrap();
        let mut conn = Conn::open(&target).await.unwrap();
        receiver.record(true);
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for id in ["a", "b", "a"] {
            let reply = conn
                .send(delivery(&target, "/hook/0", id, &now))
                .await
                .unwrap();
            assert_eq!(reply.status, StatusCode::OK);
        }
        let counts = receiver.counts();
        assert_eq!((counts.unique, counts.duplicates), (2, 1));
        assert_eq!(receiver.times().len(), 2);
        let latency = stats::Summary::of(&receiver.latency());
        assert_eq!(latency.count, 2);
        assert!(latency.max_ms < 1000.0, "{latency:?}");

        // A hanging endpoint answers only once released.
        let hang = Target::parse(&receiver.url(1), None).unwrap();
        let mut conn = Conn::open(&hang).await.unwrap();
        let request = delivery(&hang, "/hang/1", "c", &now);
        let waiting = tokio::spawn(async move { conn.send(request).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished());
        assert_eq!(receiver.counts().hung, 1);
        receiver.release_hangs();
        let reply = waiting.await.unwrap().unwrap();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        receiver.stop();
    }
}
