//! Many Server-Sent Events streams held open at once, on one or two load threads with a
//! current-thread runtime each (hyper's HTTP/1.1 connection API, one connection per stream).
//!
//! Each stream is read by the test kit's SSE parser, whose buffers are reused from event to
//! event; while recording, the job resource's `updated_at` is read out of an event's data by
//! substring search (no JSON parse), so that 10,000 streams cost the shared CPU as little as
//! possible. A stream counts as *established* once its first line (`retry:`, an event or a
//! comment) arrives.
//!
//! A connection is named by its source and destination address and port, and one source
//! address has fewer than 30,000 ephemeral ports, some of them still in `TIME_WAIT` after an
//! earlier phase: so towards an IPv4 loopback target the streams are spread over
//! [`LOOPBACK_SOURCES`] source addresses (127.0.0.1, 127.0.0.2, …), which lets one tool
//! process hold 19,000 streams and more (up to its open-files limit) phase after phase.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use herald_testkit::sse::{Frame, Parser};
use http_body_util::BodyExt;
use hyper::StatusCode;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{self, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, sleep, timeout};

use crate::http::Target;
use crate::stats;

/// Loopback source addresses the streams to an IPv4 loopback target are spread over.
const LOOPBACK_SOURCES: u8 = 8;

/// File descriptors kept free besides one per stream (Redis, logs, the tool's other sockets).
const FD_MARGIN: u64 = 512;

/// Raises the tool's own open-files limit to its hard limit, and fails when even that cannot
/// hold `streams` connections.
///
/// # Errors
/// When the limit cannot be read or raised, or the hard limit is too low.
pub fn raise_open_files(streams: usize) -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } != 0 {
        return Err(std::io::Error::last_os_error()).context("failed to read RLIMIT_NOFILE");
    }
    let needed = streams as u64 + FD_MARGIN;
    if limit.rlim_max != libc::RLIM_INFINITY && limit.rlim_max < needed {
        bail!(
            "{streams} streams need about {needed} open files, but this shell's hard limit is {}: \
             raise it (`ulimit -Hn`, /etc/security/limits.conf, or LimitNOFILE= for a service) \
             or ask for fewer streams",
            limit.rlim_max
        );
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit(2) only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raw const limit) } != 0 {
            return Err(std::io::Error::last_os_error())
                .context("failed to raise RLIMIT_NOFILE to its hard limit");
        }
    }
    Ok(limit.rlim_cur)
}

/// What to open.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub target: Arc<Target>,
    /// One request path per stream.
    pub paths: Vec<String>,
    /// Load threads (one current-thread runtime each).
    pub threads: usize,
    /// Streams being opened at once: more would overflow the server's listen backlog and
    /// turn into SYN retries a second apart.
    pub opening_at_once: usize,
    /// Longest a stream may take to connect and read its first block.
    pub open_timeout: Duration,
}

/// Counters shared by every load thread; the orchestration reads them while streams run.
#[derive(Debug, Default)]
struct Shared {
    established: AtomicU64,
    /// Streams that could not be opened (connection, status, timeout).
    failed: AtomicU64,
    /// Streams the server ended (or whose connection broke) after they were established.
    ended: AtomicU64,
    /// Events (blocks with `data:`) received on all streams.
    events: AtomicU64,
    /// Events received by the first stream alone: how many events were published to each.
    probe_events: AtomicU64,
    /// Events whose `updated_at` could not be read while recording.
    unparsed: AtomicU64,
    /// Latencies are recorded only while this is set.
    recording: AtomicBool,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn note_error(&self, error: String) {
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        first.get_or_insert(error);
    }
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    pub established: u64,
    pub failed: u64,
    pub ended: u64,
    pub events: u64,
    pub probe_events: u64,
    pub unparsed: u64,
}

/// Streams being held open by the load threads.
pub struct Streams {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    threads: Vec<tokio::sync::oneshot::Receiver<anyhow::Result<Histogram<u64>>>>,
    total: usize,
}

impl Streams {
    /// Starts the load threads, which start opening the streams at once.
    ///
    /// # Errors
    /// When a load thread cannot be started.
    pub fn start(spec: &StreamSpec) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = watch::channel(false);
        let threads = spec.threads.clamp(1, spec.paths.len().max(1));
        let mut waiting = Vec::with_capacity(threads);
        for index in 0..threads {
            // Stream i goes to thread i % threads, so stream 0 (the probe) is on thread 0.
            let paths: Vec<(usize, String)> = spec
                .paths
                .iter()
                .enumerate()
                .filter(|(i, _)| i % threads == index)
                .map(|(i, p)| (i, p.clone()))
                .collect();
            let thread = ThreadSpec {
                target: Arc::clone(&spec.target),
                paths,
                opening_at_once: (spec.opening_at_once / threads).max(1),
                open_timeout: spec.open_timeout,
            };
            let shared = Arc::clone(&shared);
            let stopped = stopped.clone();
            let (done, result) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name(format!("sse-{index}"))
                .spawn(move || {
                    let outcome = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .context("failed to build a load runtime")
                        .and_then(|runtime| {
                            let local = tokio::task::LocalSet::new();
                            local.block_on(&runtime, load_thread(thread, shared, stopped))
                        });
                    let _ = done.send(outcome);
                })
                .context("failed to start a load thread")?;
            waiting.push(result);
        }
        Ok(Self {
            shared,
            stop,
            threads: waiting,
            total: spec.paths.len(),
        })
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        let s = &self.shared;
        Counts {
            established: s.established.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            ended: s.ended.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            probe_events: s.probe_events.load(Ordering::Relaxed),
            unparsed: s.unparsed.load(Ordering::Relaxed),
        }
    }

    /// The first error any stream met.
    pub fn first_error(&self) -> Option<String> {
        self.shared
            .first_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until every stream is established (or has failed), at most `limit`; returns how
    /// long it took.
    ///
    /// # Errors
    /// When some streams are neither established nor failed after `limit`.
    pub async fn wait_established(&self, limit: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            let c = self.counts();
            if c.established + c.failed >= self.total as u64 {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= limit {
                bail!(
                    "only {} of {} streams were established after {limit:?} ({} failed; first error: {})",
                    c.established,
                    self.total,
                    c.failed,
                    self.first_error().unwrap_or_else(|| "none".to_owned())
                );
            }
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts or stops recording latencies.
    pub fn record(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// Closes every stream and returns the latencies recorded.
    ///
    /// # Errors
    /// When a load thread failed.
    pub async fn stop(self) -> anyhow::Result<Histogram<u64>> {
        let _ = self.stop.send(true);
        let mut latency = stats::histogram()?;
        for thread in self.threads {
            let recorded = thread.await.context("a load thread died")??;
            stats::merge(&mut latency, &recorded)?;
        }
        Ok(latency)
    }
}

struct ThreadSpec {
    target: Arc<Target>,
    paths: Vec<(usize, String)>,
    opening_at_once: usize,
    open_timeout: Duration,
}

/// One load thread: a task per stream, until told to stop (dropping the `LocalSet` then closes
/// every connection).
async fn load_thread(
    spec: ThreadSpec,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) -> anyhow::Result<Histogram<u64>> {
    let latency = Rc::new(RefCell::new(stats::histogram()?));
    let gate = Rc::new(Semaphore::new(spec.opening_at_once));
    let mut tasks = Vec::with_capacity(spec.paths.len());
    for (index, path) in spec.paths {
        let stream = Follower {
            target: Arc::clone(&spec.target),
            index,
            shared: Arc::clone(&shared),
            latency: Rc::clone(&latency),
            probe: index == 0,
        };
        let gate = Rc::clone(&gate);
        let open_timeout = spec.open_timeout;
        tasks.push(tokio::task::spawn_local(async move {
            stream.follow(&path, &gate, open_timeout).await;
        }));
    }
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            break;
        }
    }
    for task in &tasks {
        task.abort();
    }
    let recorded = latency.borrow().clone();
    Ok(recorded)
}

/// One stream's reader.
struct Follower {
    target: Arc<Target>,
    /// The stream's number among all the load threads' streams.
    index: usize,
    shared: Arc<Shared>,
    latency: Rc<RefCell<Histogram<u64>>>,
    probe: bool,
}

impl Follower {
    async fn follow(self, path: &str, gate: &Semaphore, open_timeout: Duration) {
        let Ok(permit) = gate.acquire().await else {
            return;
        };
        let mut permit = Some(permit);
        let opened = timeout(open_timeout, open(&self.target, self.index, path)).await;
        let mut body = match opened {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return self.fail(format!("{error:#}")),
            Err(_) => return self.fail(format!("no answer within {open_timeout:?}")),
        };
        let mut parser = Parser::new();
        let mut established = false;
        let deadline = Instant::now() + open_timeout;
        loop {
            let frame = if established {
                body.frame().await
            } else {
                match tokio::time::timeout_at(deadline, body.frame()).await {
                    Ok(frame) => frame,
                    Err(_) => return self.fail(format!("no first event within {open_timeout:?}")),
                }
            };
            let chunk = match frame {
                None => break self.end(established, "the server ended the stream".to_owned()),
                Some(Err(error)) => break self.end(established, format!("stream broke: {error}")),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue,
                },
            };
            let received = chrono::Utc::now();
            let mut any = false;
            parser.feed(&chunk, |frame| {
                any = true;
                if let Frame::Event { data, .. } = frame {
                    self.take(data.as_bytes(), received);
                }
            });
            if any && !established {
                established = true;
                permit = None;
                self.shared.established.fetch_add(1, Ordering::Relaxed);
            }
        }
        drop(permit);
    }

    /// One event of the stream, its data as received.
    fn take(&self, data: &[u8], received: chrono::DateTime<chrono::Utc>) {
        self.shared.events.fetch_add(1, Ordering::Relaxed);
        if self.probe {
            self.shared.probe_events.fetch_add(1, Ordering::Relaxed);
        }
        if !self.shared.recording.load(Ordering::Relaxed) {
            return;
        }
        match updated_at(data) {
            Some(at) => {
                let micros = (received - at).num_microseconds().unwrap_or(i64::MAX);
                // A negative latency (clock reading inside the same millisecond) counts as 0.
                let latency = Duration::from_micros(u64::try_from(micros).unwrap_or(0));
                stats::record(&mut self.latency.borrow_mut(), latency);
            }
            None => {
                self.shared.unparsed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn fail(&self, error: String) {
        self.shared.failed.fetch_add(1, Ordering::Relaxed);
        self.shared.note_error(error);
    }

    fn end(&self, established: bool, error: String) {
        if established {
            self.shared.ended.fetch_add(1, Ordering::Relaxed);
            self.shared.note_error(error);
        } else {
            self.fail(error);
        }
    }
}

/// Connects (stream `index`), sends `GET path` and returns the body of a `200` answer.
async fn open(target: &Target, index: usize, path: &str) -> anyhow::Result<Incoming> {
    let stream = connect(target.addr(), index)
        .await
        .with_context(|| format!("failed to connect to {}", target.addr()))?;
    stream
        .set_nodelay(true)
        .context("failed to set TCP_NODELAY")?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .context("failed the HTTP/1.1 handshake")?;
    tokio::task::spawn_local(async move {
        let _ = connection.await;
    });
    let mut request = target.get(path, None)?;
    request.headers_mut().insert(
        header::ACCEPT,
        HeaderValue::from_static("text/event-stream"),
    );
    let response = sender
        .send_request(request)
        .await
        .context("the request failed")?;
    if response.status() != StatusCode::OK {
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        bail!(
            "GET {path}: {status}: {}",
            crate::accept::truncate(&String::from_utf8_lossy(&body))
        );
    }
    Ok(response.into_body())
}

/// A connection to `addr` for stream `index`: from one of [`LOOPBACK_SOURCES`] loopback
/// addresses, in turn, when `addr` is IPv4 loopback.
async fn connect(addr: SocketAddr, index: usize) -> std::io::Result<TcpStream> {
    let IpAddr::V4(ip) = addr.ip() else {
        return TcpStream::connect(addr).await;
    };
    if !ip.is_loopback() {
        return TcpStream::connect(addr).await;
    }
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::V4(loopback_source(index)), 0))?;
    socket.connect(addr).await
}

/// The loopback source address of stream `index`.
fn loopback_source(index: usize) -> Ipv4Addr {
    let offset = u8::try_from(index % usize::from(LOOPBACK_SOURCES)).unwrap_or(0);
    Ipv4Addr::new(127, 0, 0, 1 + offset)
}

/// The job resource's `updated_at`, found by substring search (also used on webhook bodies).
pub(crate) fn updated_at(data: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    const KEY: &[u8] = b"\"updated_at\":\"";
    let start = data.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = data[start..].iter().position(|&b| b == b'"')?;
    let text = std::str::from_utf8(&data[start..start + len]).ok()?;
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// The resident set size of process `pid`, KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updated_at_is_read_without_parsing_the_json() {
        let data = br#"{"id":"x","seq":3,"updated_at":"2026-11-25T11:02:03.456Z","links":{}}"#;
        let at = updated_at(data).unwrap();
        assert_eq!(at.timestamp_subsec_millis(), 456);
        assert_eq!(updated_at(br#"{"id":"x"}"#), None);
    }

    #[test]
    fn streams_take_the_loopback_source_addresses_in_turn() {
        let sources: Vec<Ipv4Addr> = (0..9).map(loopback_source).collect();
        assert_eq!(sources[0], Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(sources[7], Ipv4Addr::new(127, 0, 0, 8));
        assert_eq!(sources[8], sources[0]);
    }

    #[test]
    fn the_tools_own_rss_can_be_read() {
        assert!(rss_kib(std::process::id()).unwrap() > 0);
    }
}
