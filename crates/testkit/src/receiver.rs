//! A real HTTP/1.1 server on loopback that records every request and answers as a test
//! scripts it: the far end of a webhook, able to fail, throttle or hang on cue (svix's
//! `TestReceiver`).
//!
//! Each connection is served by hyper on a task of its own, with keep-alive, so a client
//! that pools connections (reqwest does) and sends requests concurrently is served the way a
//! production endpoint would serve it. Every task belongs to the receiver: dropping the
//! [`Receiver`] closes the listener and every open connection, which is also how a hanging
//! answer finally ends, unless [`Receiver::release_hangs`] answers it first.
//!
//! A load test uses the same server through [`Receiver::builder`]: it keeps no requests
//! (they would pile up by the million) and hands each to a callback as it arrives.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// One request the receiver got, as it arrived.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    pub query: Option<String>,
    /// Header names are lower-case (HTTP/1.1 names are case-insensitive; hyper keeps them so).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When its head was read (the body follows).
    pub received_at: Instant,
    /// The status the receiver answered (or will, after a scripted delay); `None` for a
    /// request it leaves hanging.
    pub answered: Option<u16>,
}

impl Request {
    /// The first value of header `name`, if it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    ///
    /// # Panics
    /// When the body is not JSON: a test asking for JSON expects it.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} {} is not the JSON expected ({e}): {}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &self.headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("answered", &self.answered)
            .finish_non_exhaustive()
    }
}

/// One answer to one request.
#[derive(Debug, Clone)]
pub struct Answer {
    kind: AnswerKind,
}

#[derive(Debug, Clone)]
enum AnswerKind {
    Respond {
        status: StatusCode,
        headers: Vec<(String, String)>,
        body: Bytes,
        delay: Duration,
    },
    Hang,
}

impl Answer {
    /// Answers `status` with an empty body.
    ///
    /// # Panics
    /// When `status` is not a valid HTTP status code.
    pub fn status(status: u16) -> Self {
        Self {
            kind: AnswerKind::Respond {
                status: StatusCode::from_u16(status).expect("a valid HTTP status code"),
                headers: Vec::new(),
                body: Bytes::new(),
                delay: Duration::ZERO,
            },
        }
    }

    /// Never answers: the request stays open until the client gives up or the receiver is
    /// dropped.
    pub fn hang() -> Self {
        Self {
            kind: AnswerKind::Hang,
        }
    }

    /// This answer with header `name: value` as well (`Retry-After`, say).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let AnswerKind::Respond { headers, .. } = &mut self.kind {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// This answer with `body`.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        if let AnswerKind::Respond { body: b, .. } = &mut self.kind {
            *b = body.into();
        }
        self
    }

    /// This answer, sent only after `delay`: a slow endpoint.
    pub fn after(mut self, delay: Duration) -> Self {
        if let AnswerKind::Respond { delay: d, .. } = &mut self.kind {
            *d = delay;
        }
        self
    }
}

impl Default for Answer {
    /// `200 ok`.
    fn default() -> Self {
        Self::status(200).body("ok")
    }
}

/// How the receiver answers the requests to one path.
#[derive(Debug, Clone)]
pub enum Script {
    /// The same answer every time.
    Always(Answer),
    /// The answers in turn, one per request; after the last, the last again.
    Sequence(Vec<Answer>),
    /// Never answers, until the receiver is dropped.
    Hang,
}

impl Script {
    /// Always `status`, with an empty body.
    pub fn status(status: u16) -> Self {
        Self::Always(Answer::status(status))
    }

    /// `statuses` in turn, then the last one again and again: `[500, 500, 200]` fails twice.
    pub fn statuses(statuses: impl IntoIterator<Item = u16>) -> Self {
        Self::Sequence(statuses.into_iter().map(Answer::status).collect())
    }

    fn answer(&self, nth: usize) -> Answer {
        match self {
            Self::Always(answer) => answer.clone(),
            Self::Sequence(answers) => answers
                .get(nth)
                .or(answers.last())
                .cloned()
                .unwrap_or_default(),
            Self::Hang => Answer::hang(),
        }
    }
}

/// What the connection tasks share with the test.
#[derive(Default)]
struct Shared {
    requests: Vec<Request>,
    /// Per path: the script, and how many requests it has answered.
    scripts: HashMap<String, (Script, usize)>,
}

/// What the receiver calls with every request as it arrives.
type OnRequest = Arc<dyn Fn(&Request) + Send + Sync>;

struct State {
    shared: Mutex<Shared>,
    /// How many requests were recorded, for [`Receiver::wait_for`] to wake on.
    count: watch::Sender<usize>,
    /// Whether requests are kept for [`Receiver::requests`].
    keep: bool,
    on_request: Option<OnRequest>,
    /// The answer hanging requests get once [`Receiver::release_hangs`] is called.
    released: watch::Sender<Option<Answer>>,
    connections: AtomicU64,
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A test that panicked while holding the lock has failed already; the record is
        // still worth reading.
        self.shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An HTTP/1.1 server on `127.0.0.1:<free port>`, recording every request and answering
/// `200 ok` unless told otherwise with [`Receiver::respond`]. Stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    state: Arc<State>,
    server: JoinHandle<()>,
}

/// A receiver to be started: what it keeps and whom it tells.
#[must_use]
pub struct ReceiverBuilder {
    keep: bool,
    on_request: Option<OnRequest>,
}

impl ReceiverBuilder {
    /// Keeps no requests: [`Receiver::requests`] and the waits see none. For load, where the
    /// callback counts what it needs.
    pub fn keep_nothing(mut self) -> Self {
        self.keep = false;
        self
    }

    /// Calls `on_request` with every request as it arrives, before it is answered: one call
    /// at a time, in the order the requests are recorded (so it must not wait on anything).
    pub fn on_request(mut self, on_request: impl Fn(&Request) + Send + Sync + 'static) -> Self {
        self.on_request = Some(Arc::new(on_request));
        self
    }

    /// Binds a free loopback port and starts serving.
    ///
    /// # Panics
    /// When no loopback port can be bound, or outside a tokio runtime.
    pub async fn start(self) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the receiver");
        let addr = listener.local_addr().expect("the receiver's address");
        let state = Arc::new(State {
            shared: Mutex::new(Shared::default()),
            count: watch::channel(0).0,
            keep: self.keep,
            on_request: self.on_request,
            released: watch::channel(None).0,
            connections: AtomicU64::new(0),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&state)));
        Receiver {
            addr,
            state,
            server,
        }
    }
}

impl Receiver {
    /// Binds a free loopback port and starts serving, keeping every request.
    ///
    /// # Panics
    /// When no loopback port can be bound, or outside a tokio runtime.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A receiver with options: keeping nothing, a callback per request.
    pub fn builder() -> ReceiverBuilder {
        ReceiverBuilder {
            keep: true,
            on_request: None,
        }
    }

    /// Answers every hanging request with `answer` now, and every later one at once: the
    /// client's attempts in flight end without waiting for its timeout.
    pub fn release_hangs(&self, answer: Answer) {
        self.state.released.send_replace(Some(answer));
    }

    /// How many connections the receiver accepted.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// The receiver's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// From now on, requests to `path` are answered by `script` (from its first answer).
    pub fn respond(&self, path: &str, script: Script) {
        self.state
            .lock()
            .scripts
            .insert(path.to_owned(), (script, 0));
    }

    /// Every request so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().requests.clone()
    }

    /// Every request to `path` so far, in the order they arrived.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.state
            .lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` requests arrived, and returns them all.
    ///
    /// # Panics
    /// After `within`, naming what did arrive.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Request> {
        self.wait_until(&format!("{n} requests"), within, |all| all.len() >= n)
            .await
    }

    /// Waits until at least `n` requests to `path` arrived, and returns those.
    ///
    /// # Panics
    /// After `within`, naming what did arrive.
    pub async fn wait_for_to(&self, path: &str, n: usize, within: Duration) -> Vec<Request> {
        self.wait_until(&format!("{n} requests to {path}"), within, |all| {
            all.iter().filter(|r| r.path == path).count() >= n
        })
        .await;
        self.requests_to(path)
    }

    /// Waits until `done` holds of the requests so far, and returns them all.
    ///
    /// # Panics
    /// After `within`, naming `what` and what did arrive.
    pub async fn wait_until(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(&[Request]) -> bool,
    ) -> Vec<Request> {
        let mut count = self.state.count.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            count.borrow_and_update();
            let all = self.requests();
            if done(&all) {
                return all;
            }
            let changed = tokio::time::timeout_at(deadline, count.changed()).await;
            if changed.is_err() {
                let all = self.requests();
                let seen: Vec<String> = all
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                panic!(
                    "timed out after {within:?} waiting for {what} at the receiver; got {}: {seen:?}",
                    all.len()
                );
            }
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // The accept task owns every connection task (a `JoinSet`): aborting it closes the
        // listener and every connection, hanging ones included.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // Small answers go out at once rather than waiting for more to send.
                let _ = stream.set_nodelay(true);
                state.connections.fetch_add(1, Ordering::Relaxed);
                let state = Arc::clone(&state);
                connections.spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    // A client closing mid-request is the client's business, not the test's.
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            // Reap finished connections so a long test does not pile them up.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn answer(
    state: Arc<State>,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let received_at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        // The client went away mid-body: nothing to record or answer.
        Err(_) => return Ok(hyper::Response::new(Full::new(Bytes::new()))),
    };
    let path = parts.uri.path().to_owned();
    let answer = {
        let mut shared = state.lock();
        let answer = match shared.scripts.get_mut(&path) {
            Some((script, answered)) => {
                *answered += 1;
                script.answer(*answered - 1)
            }
            None => Answer::default(),
        };
        let answered = match &answer.kind {
            AnswerKind::Respond { status, .. } => Some(status.as_u16()),
            AnswerKind::Hang => None,
        };
        let request = Request {
            method: parts.method,
            query: parts.uri.query().map(str::to_owned),
            path,
            headers: parts.headers,
            body,
            received_at,
            answered,
        };
        if let Some(on_request) = &state.on_request {
            on_request(&request);
        }
        if state.keep {
            shared.requests.push(request);
        }
        state.count.send_modify(|count| *count += 1);
        answer
    };
    let answer = match answer.kind {
        AnswerKind::Hang => released(&state).await,
        AnswerKind::Respond { .. } => answer,
    };
    match answer.kind {
        // Released with `Answer::hang()`, or the receiver is gone (and this task with it).
        AnswerKind::Hang => std::future::pending().await,
        AnswerKind::Respond {
            status,
            headers,
            body,
            delay,
        } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let mut response = hyper::Response::new(Full::new(body));
            *response.status_mut() = status;
            for (name, value) in headers {
                let name = hyper::header::HeaderName::from_bytes(name.as_bytes())
                    .expect("a valid header name in the script");
                let value = hyper::header::HeaderValue::from_str(&value)
                    .expect("a valid header value in the script");
                response.headers_mut().append(name, value);
            }
            Ok(response)
        }
    }
}

/// The answer [`Receiver::release_hangs`] gives; never, until it is called.
async fn released(state: &State) -> Answer {
    let mut released = state.released.subscribe();
    let answer = released
        .wait_for(Option::is_some)
        .await
        .map(|answer| answer.clone().unwrap_or_default());
    // An error: the receiver is gone, and the connection task about to be aborted.
    answer.unwrap_or_else(|_| Answer::hang())
}

#[cfg(test)]
mod tests {
    use super::*;

    const WITHIN: Duration = Duration::from_secs(10);

    fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn it_records_every_request_and_answers_200_ok_by_default() {
        let receiver = Receiver::start().await;
        let answer = client()
            .post(receiver.url("/hooks?x=1"))
            .header("Webhook-Id", "msg_1")
            .body("{\"a\":1}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text().await.unwrap(), "ok");

        let requests = receiver.wait_for(1, WITHIN).await;
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/hooks");
        assert_eq!(request.query.as_deref(), Some("x=1"));
        assert_eq!(request.header("webhook-id"), Some("msg_1"));
        assert_eq!(request.json::<serde_json::Value>()["a"], 1);
        assert_eq!(request.answered, Some(200));
        assert_eq!(receiver.requests_to("/hooks").len(), 1);
        assert!(receiver.requests_to("/other").is_empty());
    }

    #[tokio::test]
    async fn a_sequence_is_answered_in_turn_and_then_repeats_its_last_answer() {
        let receiver = Receiver::start().await;
        receiver.respond(
            "/flaky",
            Script::Sequence(vec![
                Answer::status(500),
                Answer::status(429).header("Retry-After", "3"),
                Answer::status(200).body("fine"),
            ]),
        );
        let client = client();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let answer = client.post(receiver.url("/flaky")).send().await.unwrap();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.push((answer.status().as_u16(), retry_after));
        }
        assert_eq!(
            seen,
            [
                (500, None),
                (429, Some("3".to_owned())),
                (200, None),
                (200, None)
            ]
        );
        // Other paths keep the default.
        let other = client.post(receiver.url("/other")).send().await.unwrap();
        assert_eq!(other.status(), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hanging_path_does_not_hold_up_requests_on_other_connections() {
        let receiver = Receiver::start().await;
        receiver.respond("/hang", Script::Hang);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap();
        let hanging = tokio::spawn({
            let client = client.clone();
            let url = receiver.url("/hang");
            async move { client.post(url).send().await }
        });
        receiver.wait_for_to("/hang", 1, WITHIN).await;
        // Concurrent requests on the pool's other connections are answered meanwhile.
        let healthy: Vec<_> = (0..8)
            .map(|_| tokio::spawn(client.post(receiver.url("/ok")).send()))
            .collect();
        for request in healthy {
            assert_eq!(request.await.unwrap().unwrap().status(), 200);
        }
        let timed_out = hanging.await.unwrap().unwrap_err();
        assert!(timed_out.is_timeout(), "{timed_out}");
        assert_eq!(receiver.requests_to("/ok").len(), 8);
        assert_eq!(receiver.requests_to("/hang")[0].answered, None);
    }

    #[tokio::test]
    async fn a_keep_alive_connection_carries_many_requests() {
        let receiver = Receiver::start().await;
        let client = client();
        for _ in 0..5 {
            let answer = client.get(receiver.url("/again")).send().await.unwrap();
            assert_eq!(answer.status(), 200);
        }
        assert_eq!(receiver.wait_for(5, WITHIN).await.len(), 5);
    }

    #[tokio::test]
    async fn dropping_the_receiver_ends_a_hanging_request_and_closes_the_port() {
        let receiver = Receiver::start().await;
        receiver.respond("/hang", Script::Hang);
        let url = receiver.url("/hang");
        let hanging = tokio::spawn(client().post(url.clone()).send());
        receiver.wait_for(1, WITHIN).await;
        drop(receiver);
        let ended = tokio::time::timeout(WITHIN, hanging)
            .await
            .expect("the hanging request to end when the receiver is dropped")
            .unwrap();
        let error = ended.unwrap_err();
        assert!(!error.is_timeout(), "{error}");
        let refused = crate::eventually("the port to close", WITHIN, || async {
            client().post(&url).send().await.err()
        })
        .await;
        assert!(refused.is_connect(), "{refused}");
    }

    #[tokio::test]
    async fn wait_for_gives_up_after_its_bound() {
        let receiver = Receiver::start().await;
        let waited = tokio::spawn(async move {
            receiver.wait_for(1, Duration::from_millis(100)).await;
        })
        .await;
        let panic = waited.unwrap_err().into_panic();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("timed out"), "{message}");
    }

    #[tokio::test]
    async fn a_slow_answer_comes_after_its_delay() {
        let receiver = Receiver::start().await;
        receiver.respond(
            "/slow",
            Script::Always(Answer::status(202).after(Duration::from_millis(200))),
        );
        let started = Instant::now();
        let answer = client().post(receiver.url("/slow")).send().await.unwrap();
        assert_eq!(answer.status(), 202);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn released_hangs_answer_at_once_and_a_receiver_keeping_nothing_tells_its_callback() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let receiver = Receiver::builder()
            .keep_nothing()
            .on_request({
                let seen = Arc::clone(&seen);
                move |request| seen.lock().unwrap().push(request.answered)
            })
            .start()
            .await;
        receiver.respond("/hang", Script::Hang);
        let hanging = tokio::spawn(client().post(receiver.url("/hang")).send());
        crate::eventually("the hanging request", WITHIN, || async {
            (seen.lock().unwrap().len() == 1).then_some(())
        })
        .await;
        assert!(!hanging.is_finished());
        receiver.release_hangs(Answer::status(503));
        assert_eq!(hanging.await.unwrap().unwrap().status(), 503);
        let later = client().post(receiver.url("/hang")).send().await.unwrap();
        assert_eq!(
            later.status(),
            503,
            "a hang after the release is answered at once"
        );
        let ok = client().post(receiver.url("/ok")).send().await.unwrap();
        assert_eq!(ok.status(), 200);

        assert_eq!(*seen.lock().unwrap(), [None, None, Some(200)]);
        assert!(receiver.requests().is_empty(), "it kept nothing");
        assert!(receiver.connections() >= 1);
    }
}
