//! The HTTP side of one delivery attempt: POST the signed body, read a bounded piece of the
//! answer, and say what happened in terms the retry logic and the delivery history use.
//!
//! One [`Sender`] (one connection pool) serves every delivery. Its client follows no
//! redirects (a 3xx is a failure, as Standard Webhooks recommends: the subscriber should fix
//! the URL), resolves names through the SSRF [`GuardedResolver`], ignores proxy environment
//! variables (a proxy would be resolved and checked instead of the target), speaks TLS
//! through rustls, and gives up after the configured timeout, which covers connecting,
//! the answer and its body.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use herald_core::webhook::address::{Refused, check_url_host};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url, redirect};

use crate::schedule::parse_retry_after;
use crate::ssrf::{GuardedResolver, ResolveError};

/// What Herald calls itself to receivers.
pub const USER_AGENT: &str = concat!("Herald-Webhooks/", env!("CARGO_PKG_VERSION"));

/// The Standard Webhooks headers, named once rather than parsed at every request.
const WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static("webhook-timestamp");
const WEBHOOK_SIGNATURE: HeaderName = HeaderName::from_static("webhook-signature");
/// The headers of a request: ours and the client's `user-agent` and `accept`.
const HEADERS: usize = 6;

/// How a [`Sender`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// The whole attempt, from connecting to the end of the (bounded) body.
    pub timeout: Duration,
    /// Permit loopback, private and link-local targets (development and tests).
    pub allow_private: bool,
    /// Read at most this much of a response body. A small body read to its end lets the
    /// connection go back to the pool; past the bound the connection is dropped instead of
    /// being drained, so a receiver cannot make us download without limit.
    pub max_response_bytes: usize,
    /// Keep at most this much of the body, as the attempt's `response_snippet`.
    pub snippet_bytes: usize,
    /// Close pooled connections idle for this long.
    pub pool_idle_timeout: Duration,
    /// Keep at most this many idle connections per receiver host.
    pub pool_max_idle_per_host: usize,
}

impl Default for SenderConfig {
    /// 15 s timeout (the contract's default), private targets refused, read 20 KiB, keep 1 KiB,
    /// idle connections kept 90 s, at most 8 per host.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            allow_private: false,
            max_response_bytes: 20 * 1024,
            snippet_bytes: 1024,
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 8,
        }
    }
}

/// One request to send: the target and the Standard Webhooks metadata. `signature` is the
/// full `webhook-signature` value (see [`crate::sign::signature_header`]) computed over
/// exactly `msg_id`, `timestamp` and `body`.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Where to POST.
    pub url: &'a Url,
    /// The `webhook-id`: the event id, the same on every retry.
    pub msg_id: &'a str,
    /// The `webhook-timestamp`: this attempt's Unix seconds.
    pub timestamp: i64,
    /// The JSON body, sent as is.
    pub body: Bytes,
    /// The `webhook-signature` header value.
    pub signature: String,
}

/// What the retry logic does next with a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx: done.
    Delivered,
    /// A 410: the receiver wants no more; the subscription is disabled.
    Gone,
    /// Anything else (other status, timeout, connection error, refused target): retry per
    /// the schedule.
    Failed,
}

/// The record of one attempt, for the retry logic and the delivery history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The response status, if a response arrived.
    pub status: Option<u16>,
    /// From the start of the attempt to the end of reading the (bounded) body.
    pub duration: Duration,
    /// A short human reason when not delivered: `HTTP 500 Internal Server Error`,
    /// `timed out after 15s`, `connection failed: …`, the SSRF refusal, …
    pub error: Option<String>,
    /// The start of the response body (lossy UTF-8, at most `snippet_bytes`), if any.
    pub response_snippet: Option<String>,
    /// The receiver's `Retry-After`, read only on a 429 or 503.
    pub retry_after: Option<Duration>,
    /// What to do next.
    pub verdict: Verdict,
}

/// The client could not be built (the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the webhook HTTP client")]
pub struct BuildError(#[source] reqwest::Error);

/// Sends delivery attempts over one shared connection pool. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    config: Arc<SenderConfig>,
}

impl Sender {
    /// A sender with its own HTTP client.
    ///
    /// # Errors
    /// [`BuildError`] when the HTTP client cannot be built.
    pub fn new(config: SenderConfig) -> Result<Self, BuildError> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(config.allow_private)))
            .timeout(config.timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .user_agent(USER_AGENT)
            .tcp_nodelay(true)
            .build()
            .map_err(BuildError)?;
        Ok(Self {
            client,
            config: Arc::new(config),
        })
    }

    /// The configuration this sender was built with.
    #[must_use]
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Makes one attempt. Never fails: every failure is an [`AttemptOutcome`] with
    /// [`Verdict::Failed`] and its reason.
    pub async fn send(&self, request: Outgoing<'_>) -> AttemptOutcome {
        let started = Instant::now();
        // An IP literal never reaches the guarded resolver, so it is checked here.
        if let Err(refused) = check_url_host(request.url, self.config.allow_private) {
            return AttemptOutcome::failed(started, refused.to_string());
        }
        // The request is built whole rather than through a builder, its headers in one map
        // sized for them and the client's own (`user-agent`, `accept`).
        let mut headers = HeaderMap::with_capacity(HEADERS);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match HeaderValue::from_str(request.msg_id) {
            Ok(id) => headers.insert(WEBHOOK_ID, id),
            Err(e) => return AttemptOutcome::failed(started, format!("request failed: {e}")),
        };
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(request.timestamp));
        match HeaderValue::try_from(request.signature) {
            Ok(signature) => headers.insert(WEBHOOK_SIGNATURE, signature),
            Err(e) => return AttemptOutcome::failed(started, format!("request failed: {e}")),
        };
        let mut outgoing = reqwest::Request::new(Method::POST, request.url.clone());
        *outgoing.headers_mut() = headers;
        *outgoing.body_mut() = Some(request.body.into());
        let sent = self.client.execute(outgoing).await;
        let mut response = match sent {
            Ok(response) => response,
            Err(error) => return AttemptOutcome::failed(started, self.describe(&error)),
        };

        let status = response.status();
        let retry_after = if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) {
            response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| parse_retry_after(value, SystemTime::now()))
        } else {
            None
        };
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        // A body that breaks off (or times out) midway still leaves the status, which is what
        // the receiver answered; the snippet is whatever arrived.
        let body = read_bounded(&mut response, self.config.max_response_bytes).await;
        drop(response);

        let (verdict, error) = judge(status, location.as_deref());
        AttemptOutcome {
            status: Some(status.as_u16()),
            duration: started.elapsed(),
            error,
            response_snippet: snippet(&body, self.config.snippet_bytes),
            retry_after,
            verdict,
        }
    }

    /// A short reason for a request that got no response.
    fn describe(&self, error: &reqwest::Error) -> String {
        // Our own refusal or lookup failure says it best, wherever it sits in the chain.
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        let mut innermost: &(dyn StdError + 'static) = error;
        while let Some(current) = cause {
            if let Some(refused) = current.downcast_ref::<Refused>() {
                return refused.to_string();
            }
            if let Some(lookup) = current.downcast_ref::<ResolveError>() {
                return lookup.to_string();
            }
            innermost = current;
            cause = current.source();
        }
        if error.is_timeout() {
            format!(
                "timed out after {}",
                humantime::format_duration(self.config.timeout)
            )
        } else if error.is_connect() {
            format!("connection failed: {innermost}")
        } else {
            format!("request failed: {innermost}")
        }
    }
}

impl AttemptOutcome {
    fn failed(started: Instant, error: String) -> Self {
        Self {
            status: None,
            duration: started.elapsed(),
            error: Some(error),
            response_snippet: None,
            retry_after: None,
            verdict: Verdict::Failed,
        }
    }
}

/// The verdict on a status, and the reason when it is not a delivery.
fn judge(status: StatusCode, location: Option<&str>) -> (Verdict, Option<String>) {
    if status.is_success() {
        return (Verdict::Delivered, None);
    }
    let code = status.as_u16();
    let text = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    if status == StatusCode::GONE {
        (Verdict::Gone, Some(text))
    } else if status.is_redirection() {
        let to = location
            .map(|l| format!(" to {}", truncate(l, 200)))
            .unwrap_or_default();
        (
            Verdict::Failed,
            Some(format!(
                "{text}: redirect{to} not followed; point the webhook at the final URL"
            )),
        )
    } else {
        (Verdict::Failed, Some(text))
    }
}

/// Reads at most `limit` bytes of the body, chunk by chunk, and stops there.
async fn read_bounded(response: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// The first `limit` bytes as lossy UTF-8, without a broken character at the cut.
fn snippet(body: &[u8], limit: usize) -> Option<String> {
    let mut cut = &body[..body.len().min(limit)];
    if cut.is_empty() {
        return None;
    }
    if let Err(e) = std::str::from_utf8(cut)
        && e.error_len().is_none()
    {
        cut = &cut[..e.valid_up_to()];
    }
    Some(String::from_utf8_lossy(cut).into_owned())
}

fn truncate(text: &str, max_chars: usize) -> &str {
    text.char_indices()
        .nth(max_chars)
        .map_or(text, |(end, _)| &text[..end])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::mpsc;

    use super::*;
    use crate::sign;

    /// One request as the receiver saw it.
    #[derive(Debug)]
    struct Received {
        head: String,
        headers: HashMap<String, String>,
        body: Vec<u8>,
    }

    /// How the canned receiver answers.
    #[derive(Clone)]
    enum Answer {
        /// Write these bytes and close.
        Raw(Vec<u8>),
        /// Read the request, then never answer.
        Silence,
        /// A 200 declaring `len` bytes of body, written until the client goes away; reports
        /// whether the whole body could be written.
        Endless {
            len: usize,
            wrote_all: mpsc::UnboundedSender<bool>,
        },
    }

    fn response(status_line: &str, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut text = format!(
            "HTTP/1.1 {status_line}\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("connection: close\r\n\r\n");
        text.push_str(body);
        Answer::Raw(text.into_bytes())
    }

    /// A receiver on 127.0.0.1 answering every request the same way.
    async fn receiver(answer: Answer) -> (Url, mpsc::UnboundedReceiver<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(serve(stream, answer.clone(), tx.clone()));
            }
        });
        (Url::parse(&format!("http://{addr}/hook")).unwrap(), rx)
    }

    async fn serve(mut stream: TcpStream, answer: Answer, tx: mpsc::UnboundedSender<Received>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let headers: HashMap<String, String> = head
            .lines()
            .skip(1)
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        while buf.len() < head_end + length {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "request body cut short");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + length].to_vec();
        tx.send(Received {
            head,
            headers,
            body,
        })
        .unwrap();
        match answer {
            Answer::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                let _ = stream.shutdown().await;
            }
            Answer::Silence => std::future::pending::<()>().await,
            Answer::Endless { len, wrote_all } => {
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                let mut ok = stream.write_all(head.as_bytes()).await.is_ok();
                let block = vec![b'a'; 64 * 1024];
                let mut left = len;
                while ok && left > 0 {
                    let n = left.min(block.len());
                    ok = stream.write_all(&block[..n]).await.is_ok();
                    left -= n;
                }
                let _ = wrote_all.send(ok);
            }
        }
    }

    fn sender(allow_private: bool) -> Sender {
        Sender::new(SenderConfig {
            timeout: Duration::from_millis(300),
            allow_private,
            ..SenderConfig::default()
        })
        .unwrap()
    }

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "evt_01J9Z8Q4D3";
    const TIMESTAMP: i64 = 1_700_000_000;
    const BODY: &str = r#"{"type":"job.completed","timestamp":"2023-11-14T22:13:20Z","data":{}}"#;

    async fn post(sender: &Sender, url: &Url) -> AttemptOutcome {
        let key = sign::decode_secret(SECRET);
        sender
            .send(Outgoing {
                url,
                msg_id: MSG_ID,
                timestamp: TIMESTAMP,
                body: Bytes::from_static(BODY.as_bytes()),
                signature: sign::signature_header(&[&key], MSG_ID, TIMESTAMP, BODY.as_bytes()),
            })
            .await
    }

    #[tokio::test]
    async fn a_2xx_is_delivered_with_its_status_and_snippet() {
        let (url, _rx) = receiver(response("200 OK", &[], "thanks")).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, Some(200));
        assert_eq!(outcome.verdict, Verdict::Delivered);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.response_snippet.as_deref(), Some("thanks"));
        assert_eq!(outcome.retry_after, None);
    }

    #[tokio::test]
    async fn the_receiver_gets_the_standard_webhooks_headers_and_a_verifiable_signature() {
        let (url, mut rx) = receiver(response("204 No Content", &[], "")).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.verdict, Verdict::Delivered);
        assert_eq!(outcome.response_snippet, None);

        let got = rx.recv().await.unwrap();
        assert!(
            got.head.starts_with("POST /hook HTTP/1.1\r\n"),
            "{}",
            got.head
        );
        assert_eq!(got.headers["content-type"], "application/json");
        assert_eq!(got.headers["webhook-id"], MSG_ID);
        assert_eq!(got.headers["webhook-timestamp"], TIMESTAMP.to_string());
        assert_eq!(got.headers["user-agent"], USER_AGENT);
        assert_eq!(got.body, BODY.as_bytes());
        let key = sign::decode_secret(SECRET);
        let signature = &got.headers["webhook-signature"];
        assert_eq!(
            signature,
            &sign::signature(&key, MSG_ID, TIMESTAMP, BODY.as_bytes())
        );
        assert!(sign::verify(
            &key,
            &got.headers["webhook-id"],
            TIMESTAMP,
            &got.body,
            signature
        ));
    }

    #[tokio::test]
    async fn a_500_fails_with_the_status_and_the_body_snippet() {
        let (url, _rx) = receiver(response("500 Internal Server Error", &[], "boom")).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, Some(500));
        assert_eq!(outcome.verdict, Verdict::Failed);
        assert_eq!(
            outcome.error.as_deref(),
            Some("HTTP 500 Internal Server Error")
        );
        assert_eq!(outcome.response_snippet.as_deref(), Some("boom"));
    }

    #[tokio::test]
    async fn a_410_means_the_receiver_is_gone() {
        let (url, _rx) = receiver(response("410 Gone", &[], "")).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, Some(410));
        assert_eq!(outcome.verdict, Verdict::Gone);
    }

    #[tokio::test]
    async fn a_429_carries_its_retry_after() {
        let (url, _rx) = receiver(response(
            "429 Too Many Requests",
            &[("retry-after", "7")],
            "",
        ))
        .await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, Some(429));
        assert_eq!(outcome.verdict, Verdict::Failed);
        assert_eq!(outcome.retry_after, Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn a_503_retry_after_date_is_read_relative_to_now() {
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let (url, _rx) = receiver(response(
            "503 Service Unavailable",
            &[("retry-after", &later)],
            "",
        ))
        .await;
        let outcome = post(&sender(true), &url).await;
        let wait = outcome.retry_after.unwrap();
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn retry_after_is_ignored_on_other_statuses() {
        let (url, _rx) = receiver(response(
            "500 Internal Server Error",
            &[("retry-after", "7")],
            "",
        ))
        .await;
        assert_eq!(post(&sender(true), &url).await.retry_after, None);
    }

    #[tokio::test]
    async fn a_redirect_is_a_failure_and_is_not_followed() {
        let (url, mut rx) =
            receiver(response("302 Found", &[("location", "/elsewhere")], "")).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, Some(302));
        assert_eq!(outcome.verdict, Verdict::Failed);
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with("HTTP 302 Found: redirect to /elsewhere not followed"),
            "{error}"
        );
        assert!(rx.recv().await.unwrap().head.starts_with("POST /hook "));
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "the redirect was followed");
    }

    #[tokio::test]
    async fn a_receiver_that_never_answers_times_out() {
        let (url, _rx) = receiver(Answer::Silence).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, None);
        assert_eq!(outcome.verdict, Verdict::Failed);
        assert_eq!(outcome.error.as_deref(), Some("timed out after 300ms"));
        assert!(
            outcome.duration >= Duration::from_millis(300)
                && outcome.duration < Duration::from_secs(3),
            "{:?}",
            outcome.duration
        );
    }

    #[tokio::test]
    async fn a_huge_body_is_cut_at_the_bound_and_not_downloaded() {
        let (wrote_all, mut wrote) = mpsc::unbounded_channel();
        let len = 64 * 1024 * 1024;
        let (url, _rx) = receiver(Answer::Endless { len, wrote_all }).await;
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.verdict, Verdict::Delivered);
        assert_eq!(outcome.response_snippet.unwrap(), "a".repeat(1024));
        assert_eq!(wrote.recv().await, Some(false), "the whole body was read");
    }

    #[tokio::test]
    async fn a_refused_connection_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        drop(listener);
        let url = Url::parse(&format!("http://{addr}/hook")).unwrap();
        let outcome = post(&sender(true), &url).await;
        assert_eq!(outcome.status, None);
        assert_eq!(outcome.verdict, Verdict::Failed);
        let error = outcome.error.unwrap();
        assert!(error.starts_with("connection failed: "), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
    }

    #[tokio::test]
    async fn a_private_ip_target_is_refused_without_connecting() {
        let (url, mut rx) = receiver(response("200 OK", &[], "")).await;
        let outcome = post(&sender(false), &url).await;
        assert_eq!(outcome.status, None);
        assert_eq!(outcome.verdict, Verdict::Failed);
        let error = outcome.error.unwrap();
        assert!(error.contains("private, loopback or link-local"), "{error}");
        assert!(error.contains("--webhook-allow-private-targets"), "{error}");
        assert!(rx.try_recv().is_err(), "a request reached the receiver");
    }

    #[tokio::test]
    async fn localhost_is_refused_at_send_time() {
        let (url, mut rx) = receiver(response("200 OK", &[], "")).await;
        let mut by_name = url.clone();
        by_name.set_host(Some("localhost")).unwrap();
        let outcome = post(&sender(false), &by_name).await;
        assert_eq!(outcome.verdict, Verdict::Failed);
        assert_eq!(
            outcome.error.as_deref(),
            Some(
                "localhost is a private, loopback or link-local address, which is refused \
                 (see --webhook-allow-private-targets)"
            ),
            "refused by name; other names resolving to loopback are dropped by the resolver \
             (ssrf tests)"
        );
        assert!(rx.try_recv().is_err(), "a request reached the receiver");

        // Allowed, the same name reaches the receiver.
        let outcome = post(&sender(true), &by_name).await;
        assert_eq!(outcome.verdict, Verdict::Delivered, "{:?}", outcome.error);
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_reported() {
        let url = Url::parse("http://no-such-host.invalid/hook").unwrap();
        let outcome = post(&sender(false), &url).await;
        assert_eq!(outcome.status, None);
        assert_eq!(outcome.verdict, Verdict::Failed);
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with("could not resolve no-such-host.invalid: "),
            "{error}"
        );
    }

    #[test]
    fn a_snippet_never_ends_in_a_broken_character() {
        let body = "é".repeat(10);
        assert_eq!(snippet(body.as_bytes(), 5).unwrap(), "éé");
        assert_eq!(snippet(b"\xff\xfeok", 10).unwrap(), "\u{fffd}\u{fffd}ok");
        assert_eq!(snippet(b"", 10), None);
    }

    #[test]
    fn the_default_config_matches_the_contract() {
        let config = SenderConfig::default();
        assert_eq!(config.timeout, Duration::from_secs(15));
        assert!(!config.allow_private);
        assert_eq!(config.max_response_bytes, 20 * 1024);
        assert_eq!(config.snippet_bytes, 1024);
    }
}
