//! The webhook receiver the webhook phases deliver to: the test kit's receiver, one per
//! endpoint (each endpoint is a distinct receiver on a loopback port of its own, as distinct
//! customers' URLs would be), on a multi-threaded runtime of the tool's own, keeping no
//! requests and counting them as they arrive.
//!
//! An *answering* endpoint answers `200` with an empty body at once; it notes the first
//! receipt of every `webhook-id` (a second one is a duplicate: at-least-once delivery allows
//! them, the figures count them) and, while recording, the receipt time minus the job's
//! `updated_at` in the body. A *hanging* endpoint never answers until it is released (at the
//! end of a phase, so the notifier's attempts in flight end at once and it stops quickly);
//! until then only the notifier's own timeout ends an attempt.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use hdrhistogram::Histogram;
use herald_testkit::{Answer, Request, Script};

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

    /// One request at any endpoint: a hanging one is left unanswered (`answered` is `None`).
    fn take(&self, request: &Request) {
        if request.answered.is_none() {
            self.hung.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let latency = if self.recording.load(Ordering::Relaxed) {
            // The wall clock when the request's head was read.
            let wall = chrono::Utc::now()
                - chrono::TimeDelta::from_std(request.received_at.elapsed()).unwrap_or_default();
            match crate::sse::updated_at(&request.body) {
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
        let Some(id) = request.header("webhook-id") else {
            self.without_id.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut state = self.state();
        if !state.ids.insert(id.into()) {
            state.duplicates += 1;
            return;
        }
        if state.times.len() < MAX_TIMES {
            state.times.push(request.received_at);
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
    endpoints: Vec<(herald_testkit::Receiver, Behaviour)>,
}

impl Receiver {
    /// Starts one loopback listener per endpoint on a runtime with `threads` threads.
    ///
    /// # Errors
    /// When the runtime cannot be built or a port cannot be bound.
    pub async fn start(behaviours: &[Behaviour], threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("webhook-receiver")
            .enable_all()
            .build()
            .context("failed to build the receiver's runtime")?;
        let shared = Arc::new(Shared {
            recording: AtomicBool::new(false),
            hung: AtomicU64::new(0),
            unparsed: AtomicU64::new(0),
            without_id: AtomicU64::new(0),
            state: Mutex::new(State {
                ids: HashSet::new(),
                duplicates: 0,
                times: Vec::new(),
                latency: stats::histogram()?,
            }),
        });
        let mut endpoints = Vec::with_capacity(behaviours.len());
        for (index, &behaviour) in behaviours.iter().enumerate() {
            let shared = Arc::clone(&shared);
            // Started on the receiver's runtime, so its connections are served there.
            let receiver = runtime
                .spawn(
                    herald_testkit::Receiver::builder()
                        .keep_nothing()
                        .on_request(move |request| shared.take(request))
                        .start(),
                )
                .await
                .context("failed to start a receiver port")?;
            let script = match behaviour {
                Behaviour::Answer => Script::Always(Answer::status(200)),
                Behaviour::Hang => Script::Hang,
            };
            receiver.respond(&path(index, behaviour), script);
            endpoints.push((receiver, behaviour));
        }
        Ok(Self {
            runtime: Some(runtime),
            shared,
            endpoints,
        })
    }

    /// The URL of endpoint `index` (in the order given to [`Receiver::start`]).
    pub fn url(&self, index: usize) -> String {
        let (receiver, behaviour) = &self.endpoints[index];
        receiver.url(&path(index, *behaviour))
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
            connections: self.endpoints.iter().map(|(r, _)| r.connections()).sum(),
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
        for (receiver, _) in &self.endpoints {
            receiver.release_hangs(Answer::status(503));
        }
    }

    /// Closes every port and connection.
    pub fn stop(mut self) {
        self.release_hangs();
        self.endpoints.clear();
        if let Some(runtime) = self.runtime.take() {
            // Does not block: safe inside the tool's own runtime.
            runtime.shutdown_background();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.endpoints.clear();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Endpoint `index`'s path: what it does, and which it is.
fn path(index: usize, behaviour: Behaviour) -> String {
    match behaviour {
        Behaviour::Answer => format!("/hook/{index}"),
        Behaviour::Hang => format!("/hang/{index}"),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::StatusCode;

    use super::*;
    use crate::http::{Conn, Target};

    fn delivery(
        target: &Target,
        path: &str,
        id: &str,
        updated_at: &str,
    ) -> hyper::Request<Full<Bytes>> {
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
        let receiver = Receiver::start(&[Behaviour::Answer, Behaviour::Hang], 1)
            .await
            .unwrap();
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
