//! `http`: forwards each attempt's payload to an existing HTTP endpoint and completes the job
//! with its answer. Made for endpoints too slow to call from a client directly (a gateway
//! would time out): the only time limit is the job's own `timeout_s`.
//!
//! ```toml
//! [job_types."invoice.render"]
//! handler = "http"
//! url = "https://renderer.internal/v1/render"
//! method = "POST"                                  # POST, PUT or PATCH
//! headers = { Authorization = "Bearer …" }         # fixed headers
//! max_response_bytes = 16777216
//! connect_timeout = "10s"
//! forward = "original"                             # or "payload", the default
//! forward_headers = ["stripe-signature"]           # with forward = "original"
//! ```
//!
//! # The exchange
//! - **Request.** The payload as JSON (`content-type: application/json`), with
//!   `Herald-Job-Id`, `Herald-Job-Type`, `Herald-Attempt` (from 1) and
//!   `Idempotency-Key: <job id>`, the same on every attempt so the endpoint can tell a retry
//!   from a new job; then the fixed `headers`.
//! - **2xx.** The body (at most `max_response_bytes`, else the job fails) is the result, with
//!   the answer's content type (`application/octet-stream` if it names none); an empty body
//!   completes the job without a result.
//! - **5xx, 408, 429, or no answer** (connection refused, reset, a failed read): a retryable
//!   error naming the status and the start of the body.
//! - **Anything else** (4xx, 3xx: redirects are not followed): a permanent error.
//! - **Cancel** abandons the request; so does the runtime dropping the attempt, which closes
//!   the connection.
//!
//! Every answer is noted with its attempt ([`JobContext::note`]): the status and the first
//! KiB of the body, listed in the job's `attempts`.
//!
//! # Forwarding a captured request
//! With `forward = "original"` the job's payload is an inbound request as a source captured
//! it (`{"headers", "body" | "body_base64", …}`), and the handler sends it on as it came: the
//! body byte for byte with its captured `content-type`, the captured headers named in
//! `forward_headers` (by default the signature, id and topic headers of the providers Herald
//! verifies: see [`DEFAULT_FORWARD_HEADERS`]), `herald-job-id`, `herald-attempt`, then the
//! fixed `headers`. A receiver written for the provider needs no change. The answer is read
//! as above.

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_core::job::EXCERPT_BYTES;
use herald_core::{AttemptDetail, JobOutput};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url, redirect};
use serde::{Deserialize, Deserializer};

use super::{DEFAULT_MAX_RESULT_BYTES, SettingsError, check_result_bound, head};
use crate::handler::{Handler, HandlerError, JobContext};

/// The content type of a result whose answer named none.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

/// The longest `connect_timeout` accepted.
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(300);

/// How much of an error answer's body goes into the job's error message.
pub const SNIPPET_BYTES: usize = 200;

/// How long the start of an error answer's body is waited for: the status decides already,
/// the body only explains it.
const SNIPPET_WAIT: Duration = Duration::from_secs(5);

/// The captured headers forwarded by default with `forward = "original"`: the providers'
/// signature, id and topic headers, whichever the request carried.
pub const DEFAULT_FORWARD_HEADERS: [&str; 14] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-delivery",
    "x-github-event",
    "x-github-hook-id",
    "stripe-signature",
    "x-shopify-hmac-sha256",
    "x-shopify-webhook-id",
    "x-shopify-topic",
    "x-shopify-shop-domain",
    "x-shopify-api-version",
];

/// The methods accepted: the handler always sends the payload as a body.
const METHODS: [Method; 3] = [Method::POST, Method::PUT, Method::PATCH];

/// Headers the handler sets itself (or the HTTP stack does), which `headers` may not name.
const RESERVED_HEADERS: [&str; 9] = [
    "content-type",
    "content-length",
    "transfer-encoding",
    "host",
    "connection",
    "idempotency-key",
    "herald-job-id",
    "herald-job-type",
    "herald-attempt",
];

const USER_AGENT: &str = concat!("herald/", env!("CARGO_PKG_VERSION"));

/// The settings of one `http` job type: the keys of its `[job_types."name"]` table (less the
/// ones every job type shares).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// The endpoint, `http://` or `https://`. Required.
    pub url: String,
    /// `POST`, `PUT` or `PATCH` (any case). Default `POST`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Fixed headers sent with every request (an `Authorization`, say). Default none. Their
    /// values are kept out of logs.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The largest answer body accepted; a larger one fails the job. Default 16 MiB, at most
    /// [`super::MAX_RESULT_BYTES_CEILING`]. (The store's own result limit applies as well.)
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
    /// How long connecting may take, as a duration like `"10s"`; at most
    /// [`MAX_CONNECT_TIMEOUT`]. Default 10 s. The request itself has no timeout but the job's.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "connect_timeout"
    )]
    pub connect_timeout: Duration,
    /// What is sent: the payload as JSON (`payload`, the default), or the inbound request
    /// the payload captured, as it came (`original`).
    #[serde(default)]
    pub forward: Forward,
    /// With `forward = "original"`, the captured headers sent on (any case); by default
    /// [`DEFAULT_FORWARD_HEADERS`].
    #[serde(default)]
    pub forward_headers: Option<Vec<String>>,
}

/// What the `http` handler sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forward {
    /// The job's payload as JSON, with Herald's headers.
    #[default]
    Payload,
    /// The inbound request the payload captured: its body and chosen headers.
    Original,
}

fn default_method() -> String {
    "POST".to_owned()
}

fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESULT_BYTES
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `connect_timeout` from a duration like `"10s"` or `"1m 30s"`.
fn connect_timeout<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let raw = String::deserialize(deserializer)?;
    humantime::parse_duration(&raw).map_err(|e| {
        serde::de::Error::custom(format!(
            "`connect_timeout` must be a duration like \"10s\", not `{raw}`: {e}"
        ))
    })
}

impl HttpSettings {
    /// Settings that send to `url` with every other setting at its default.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            max_response_bytes: default_max_response_bytes(),
            connect_timeout: default_connect_timeout(),
            forward: Forward::default(),
            forward_headers: None,
        }
    }
}

impl fmt::Debug for HttpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Fixed headers often carry credentials: their names are shown, their values never.
        f.debug_struct("HttpSettings")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("max_response_bytes", &self.max_response_bytes)
            .field("connect_timeout", &self.connect_timeout)
            .field("forward", &self.forward)
            .field("forward_headers", &self.forward_headers)
            .finish()
    }
}

/// The `http` handler: one request per attempt over a connection pool of its own. See the
/// [module](self) for the exchange.
pub struct HttpHandler {
    client: reqwest::Client,
    url: Url,
    method: Method,
    headers: HeaderMap,
    max_response_bytes: usize,
    /// With `forward = "original"`: the captured headers sent on, lower-case.
    forwarded: Option<Vec<HeaderName>>,
}

impl HttpHandler {
    /// Checks `settings` and builds the handler's HTTP client.
    ///
    /// # Errors
    /// A [`SettingsError::Invalid`] naming the key that cannot work (a `url` that is not an
    /// http(s) URL with a host, another `method`, a header that is not one or that the
    /// handler sets itself, a bound out of range), or [`SettingsError::Client`] when the
    /// HTTP client cannot be built.
    pub fn new(settings: HttpSettings) -> Result<Self, SettingsError> {
        let url = Url::parse(&settings.url).map_err(|e| {
            SettingsError::invalid("url", format!("is not a URL (`{}`): {e}", settings.url))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(SettingsError::invalid(
                "url",
                format!("must be an http:// or https:// URL with a host, not `{url}`"),
            ));
        }
        let method = METHODS
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(settings.method.trim()))
            .ok_or_else(|| {
                SettingsError::invalid(
                    "method",
                    format!("must be POST, PUT or PATCH, not `{}`", settings.method),
                )
            })?;
        let mut headers = HeaderMap::new();
        for (name, value) in &settings.headers {
            let key = format!("headers.{name}");
            let parsed_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SettingsError::invalid(&key, "is not a valid header name"))?;
            if RESERVED_HEADERS.contains(&parsed_name.as_str()) {
                return Err(SettingsError::invalid(
                    key,
                    "is a header the handler sets itself",
                ));
            }
            let parsed_value = HeaderValue::from_str(value).map_err(|_| {
                SettingsError::invalid(&key, "must be visible ASCII text without line breaks")
            })?;
            headers.append(parsed_name, parsed_value);
        }
        check_result_bound("max_response_bytes", settings.max_response_bytes)?;
        let forwarded = match (settings.forward, settings.forward_headers) {
            (Forward::Payload, None) => None,
            (Forward::Payload, Some(_)) => {
                return Err(SettingsError::invalid(
                    "forward_headers",
                    "only goes with forward = \"original\"",
                ));
            }
            (Forward::Original, names) => Some(forwarded_headers(names)?),
        };
        if settings.connect_timeout.is_zero() || settings.connect_timeout > MAX_CONNECT_TIMEOUT {
            return Err(SettingsError::invalid(
                "connect_timeout",
                format!(
                    "must be more than 0s and at most {}",
                    humantime::format_duration(MAX_CONNECT_TIMEOUT)
                ),
            ));
        }
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(settings.connect_timeout)
            // No `timeout`: the job's timeout bounds the attempt (the runtime drops it), so an
            // endpoint may take minutes. Keep-alive probes keep such a quiet connection open
            // through NATs and load balancers.
            .tcp_keepalive(Duration::from_secs(30))
            .redirect(redirect::Policy::none())
            // The endpoint is the one configured, not whatever a proxy variable says.
            .no_proxy()
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| SettingsError::Client(error_chain(&e)))?;
        Ok(Self {
            client,
            url,
            method,
            headers,
            max_response_bytes: settings.max_response_bytes,
            forwarded,
        })
    }

    /// `scheme://host:port`, for messages: the path and query may carry secrets.
    fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    /// What the endpoint's answer means for the job; the answer is noted with the attempt.
    async fn conclude(
        &self,
        ctx: &JobContext,
        mut response: Response,
    ) -> Result<Option<JobOutput>, HandlerError> {
        let status = response.status();
        if status.is_success() {
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
                .unwrap_or(DEFAULT_CONTENT_TYPE)
                .to_owned();
            let read = read_bounded(&mut response, self.max_response_bytes).await;
            let start = read.as_deref().unwrap_or_default();
            ctx.note(AttemptDetail::answer(status.as_u16(), start));
            let body = read?;
            return Ok((!body.is_empty()).then_some(JobOutput { content_type, body }));
        }
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let start = tokio::time::timeout(SNIPPET_WAIT, read_start(&mut response))
            .await
            .unwrap_or_default();
        ctx.note(AttemptDetail::answer(status.as_u16(), &start));
        let snippet = snippet(&start);
        let mut message = format!("the endpoint answered {status}");
        if let Some(location) = location.filter(|_| status.is_redirection()) {
            message.push_str(&format!(
                " (redirects are not followed; Location: {location})"
            ));
        }
        if !snippet.is_empty() {
            message.push_str(": ");
            message.push_str(&snippet);
        }
        Err(if is_retryable(status) {
            HandlerError::retryable(message)
        } else {
            HandlerError::permanent(message)
        })
    }
}

impl fmt::Debug for HttpHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpHandler")
            .field("origin", &self.origin())
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Handler for HttpHandler {
    #[tracing::instrument(name = "http", skip_all, fields(origin = %self.origin()))]
    async fn run(&self, ctx: JobContext) -> Result<Option<JobOutput>, HandlerError> {
        let request = match &self.forwarded {
            None => self.payload_request(&ctx)?,
            Some(names) => self.original_request(&ctx, names)?,
        };
        let exchange = async {
            let response = request.send().await.map_err(|e| self.failed(&e))?;
            self.conclude(&ctx, response).await
        };
        tokio::select! {
            concluded = exchange => concluded,
            // Dropping `exchange` closes the connection: the endpoint sees the client go.
            () = ctx.cancelled() => Err(HandlerError::permanent(
                "the job was canceled; the request was abandoned",
            )),
        }
    }
}

impl HttpHandler {
    /// The request sending the job's payload as JSON.
    fn payload_request(&self, ctx: &JobContext) -> Result<RequestBuilder, HandlerError> {
        let job = ctx.job();
        let body = serde_json::to_vec(ctx.payload())
            .map_err(|e| HandlerError::permanent(format!("cannot encode the payload: {e}")))?;
        Ok(self
            .client
            .request(self.method.clone(), self.url.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("herald-job-id", job.id.to_string())
            .header("herald-job-type", job.job_type.as_str())
            .header("herald-attempt", job.attempt.to_string())
            .header("idempotency-key", job.id.to_string())
            .headers(self.headers.clone())
            .body(body))
    }

    /// The request sending on the inbound request the payload captured, as it came.
    fn original_request(
        &self,
        ctx: &JobContext,
        names: &[HeaderName],
    ) -> Result<RequestBuilder, HandlerError> {
        let job = ctx.job();
        let captured: Captured = ctx.payload_as()?;
        let body = captured.body().map_err(|e| ctx.invalid_payload(e))?;
        let mut request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .header("herald-job-id", job.id.to_string())
            .header("herald-attempt", job.attempt.to_string());
        if let Some(value) = captured.header(&CONTENT_TYPE) {
            request = request.header(CONTENT_TYPE, value);
        }
        for name in names {
            if let Some(value) = captured.header(name) {
                request = request.header(name, value);
            }
        }
        Ok(request.headers(self.headers.clone()).body(body))
    }

    /// The error of a request that got no answer: retryable, since the next attempt may
    /// reach the endpoint, unless the request could not even be built.
    fn failed(&self, error: &reqwest::Error) -> HandlerError {
        let message = format!(
            "the request to {} failed: {}",
            self.origin(),
            error_chain(error)
        );
        if error.is_builder() {
            HandlerError::permanent(message)
        } else {
            HandlerError::retryable(message)
        }
    }
}

/// Whether another attempt may get a better answer than `status`.
fn is_retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// The whole body, chunk by chunk, refusing one larger than `limit` as soon as it shows.
async fn read_bounded(response: &mut Response, limit: usize) -> Result<Vec<u8>, HandlerError> {
    let too_large = || {
        HandlerError::permanent(format!(
            "the endpoint's answer is larger than max_response_bytes ({limit} bytes)"
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| {
        HandlerError::retryable(format!(
            "reading the endpoint's answer failed: {}",
            error_chain(&e)
        ))
    })? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The first [`EXCERPT_BYTES`] of an error answer's body.
async fn read_start(response: &mut Response) -> Vec<u8> {
    let mut start = Vec::new();
    while start.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = EXCERPT_BYTES - start.len();
                start.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            // The status says what matters; a body that breaks off leaves what arrived.
            Ok(None) | Err(_) => break,
        }
    }
    start
}

/// Up to [`SNIPPET_BYTES`] of `bytes` as one line of text.
fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SNIPPET_BYTES + 4)]);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    head(&one_line, SNIPPET_BYTES).to_owned()
}

/// `forward_headers` as header names (the defaults without it).
///
/// # Errors
/// A name that is not a header name, or one the handler sets itself.
fn forwarded_headers(names: Option<Vec<String>>) -> Result<Vec<HeaderName>, SettingsError> {
    let Some(names) = names else {
        return Ok(DEFAULT_FORWARD_HEADERS
            .into_iter()
            .map(HeaderName::from_static)
            .collect());
    };
    let mut parsed: Vec<HeaderName> = Vec::with_capacity(names.len());
    for name in &names {
        let key = format!("forward_headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| SettingsError::invalid(&key, "is not a valid header name"))?;
        if RESERVED_HEADERS.contains(&header.as_str()) {
            return Err(SettingsError::invalid(
                key,
                "is a header the handler sets itself",
            ));
        }
        // Named twice (in two cases, say): sent once.
        if !parsed.contains(&header) {
            parsed.push(header);
        }
    }
    Ok(parsed)
}

/// An inbound request as a source captured it: the part of the payload forwarding reads. Its
/// `headers` must be there: a payload without them is not a captured request.
#[derive(Deserialize)]
struct Captured {
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
}

impl Captured {
    /// The body's bytes, as they came.
    fn body(&self) -> Result<Vec<u8>, String> {
        match (&self.body, &self.body_base64) {
            (Some(text), None) => Ok(text.clone().into_bytes()),
            (None, Some(encoded)) => BASE64
                .decode(encoded)
                .map_err(|e| format!("`body_base64` is not base64: {e}")),
            (None, None) => Ok(Vec::new()),
            (Some(_), Some(_)) => Err("holds both `body` and `body_base64`".to_owned()),
        }
    }

    /// The captured value of header `name`, when it is one a request can carry.
    fn header(&self, name: &HeaderName) -> Option<HeaderValue> {
        self.headers
            .get(name.as_str())
            .and_then(|value| HeaderValue::from_str(value).ok())
    }
}

/// An error and its causes, `: `-separated: reqwest's own message alone ("error sending
/// request") does not say what went wrong. The URL is left out (it may carry secrets).
fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "");
    }
    let mut cause = error.source();
    while let Some(current) = cause {
        text.push_str(": ");
        text.push_str(&current.to_string());
        cause = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn settings(value: Value) -> HttpSettings {
        HttpSettings::deserialize(value).unwrap()
    }

    fn rejected(value: Value) -> String {
        HttpHandler::new(settings(value)).unwrap_err().to_string()
    }

    #[test]
    fn settings_take_their_defaults() {
        let settings = settings(json!({"url": "http://127.0.0.1:9/render"}));
        assert_eq!(settings.method, "POST");
        assert!(settings.headers.is_empty());
        assert_eq!(settings.max_response_bytes, 16 * 1024 * 1024);
        assert_eq!(settings.connect_timeout, Duration::from_secs(10));
        let handler = HttpHandler::new(settings).unwrap();
        assert_eq!(handler.method, Method::POST);
    }

    #[test]
    fn the_connect_timeout_is_a_human_duration() {
        let settings = settings(json!({"url": "https://a.example", "connect_timeout": "1m 30s"}));
        assert_eq!(settings.connect_timeout, Duration::from_secs(90));
        let error = HttpSettings::deserialize(
            json!({"url": "https://a.example", "connect_timeout": "soon"}),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("connect_timeout"), "{error}");
        let error = HttpSettings::deserialize(json!({"url": "https://a.example", "timeout": "1s"}))
            .unwrap_err()
            .to_string();
        assert!(error.contains("timeout"), "{error}");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_key() {
        assert!(rejected(json!({"url": "not a url"})).starts_with("`url`"));
        assert!(rejected(json!({"url": "ftp://a.example/x"})).starts_with("`url`"));
        assert!(
            rejected(json!({"url": "https://a.example", "method": "GET"})).starts_with("`method`")
        );
        assert!(
            rejected(json!({"url": "https://a.example", "headers": {"Bad Name": "x"}}))
                .starts_with("`headers.Bad Name`")
        );
        assert!(
            rejected(json!({"url": "https://a.example", "headers": {"X-Token": "a\nb"}}))
                .starts_with("`headers.X-Token`")
        );
        assert!(
            rejected(json!({"url": "https://a.example", "headers": {"Idempotency-Key": "x"}}))
                .contains("sets itself")
        );
        assert!(
            rejected(json!({"url": "https://a.example", "max_response_bytes": 0}))
                .starts_with("`max_response_bytes`")
        );
        assert!(
            rejected(json!({"url": "https://a.example", "connect_timeout": "0s"}))
                .starts_with("`connect_timeout`")
        );
    }

    #[test]
    fn a_method_is_accepted_in_any_case() {
        let handler = HttpHandler::new(settings(
            json!({"url": "https://a.example", "method": "put"}),
        ))
        .unwrap();
        assert_eq!(handler.method, Method::PUT);
    }

    #[test]
    fn header_values_stay_out_of_debug_output() {
        let settings = settings(json!({
            "url": "https://a.example/x?key=k3y",
            "headers": {"Authorization": "Bearer s3cret"},
        }));
        assert!(!format!("{settings:?}").contains("s3cret"));
        let handler = HttpHandler::new(settings).unwrap();
        let printed = format!("{handler:?}");
        assert!(printed.contains("authorization"), "{printed}");
        assert!(
            !printed.contains("s3cret") && !printed.contains("k3y"),
            "{printed}"
        );
    }

    #[test]
    fn server_errors_timeouts_and_throttling_are_retryable_and_the_rest_is_not() {
        for status in [500, 502, 503, 504, 408, 429] {
            assert!(
                is_retryable(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 409, 422, 301, 302, 304] {
            assert!(
                !is_retryable(StatusCode::from_u16(status).unwrap()),
                "{status}"
            );
        }
    }

    #[test]
    fn a_snippet_is_one_short_line() {
        assert_eq!(snippet(b"  busy,\n  try\tlater \n"), "busy, try later");
        let long = "é".repeat(300);
        let cut = snippet(long.as_bytes());
        assert!(cut.len() <= SNIPPET_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
