//! Requests to Herald's API, and what can go wrong with them.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request (not a stream, not a download) may take in all.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long Herald may stay silent, waiting for an answer or between two reads of one. Its
/// event streams send a heartbeat at least every 15 seconds.
pub const SILENCE: Duration = Duration::from_secs(45);

/// How much of an answer that is not a problem document (a proxy's error page) is shown.
const EXCERPT: usize = 200;

/// Why a command could not be carried out.
#[derive(Debug)]
pub enum ClientError {
    /// The command line asks for something impossible.
    Usage(String),
    /// Herald could not be reached, or its answer could not be read.
    Connection { url: String, error: String },
    /// Herald refused the request: its status and problem details.
    Refused { status: StatusCode, problem: Value },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(message) => write!(f, "{message}"),
            Self::Connection { url, error } => write!(f, "cannot reach Herald at {url}: {error}"),
            Self::Refused { status, problem } => {
                let title = problem["title"]
                    .as_str()
                    .or_else(|| status.canonical_reason())
                    .unwrap_or("refused");
                write!(f, "{} {title}", status.as_u16())?;
                if let Some(detail) = problem["detail"].as_str() {
                    write!(f, ": {detail}")?;
                }
                for field in problem["errors"].as_array().into_iter().flatten() {
                    let name = field["field"].as_str().unwrap_or("?");
                    let message = field["message"].as_str().unwrap_or("");
                    write!(f, "\n  {name}: {message}")?;
                }
                Ok(())
            }
        }
    }
}

/// A running Herald: its address and the key requests carry.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    /// A client of the Herald at `url` that sends `key` (when given) as a Bearer token.
    ///
    /// # Errors
    /// [`ClientError::Usage`] for a URL that is not `http(s)://…`, or a key that cannot be a
    /// header value.
    pub fn new(url: &str, key: Option<&str>) -> Result<Self, ClientError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Usage(format!(
                "--url `{url}` must start with http:// or https://"
            )));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = key.filter(|key| !key.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                ClientError::Usage("--key holds characters a header cannot carry".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("herald-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(SILENCE)
            .build()
            .map_err(|e| ClientError::Usage(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Self { base, client })
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request to `path`, without the overall timeout (for streams and downloads).
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// `POST /v1/jobs` with `body`.
    pub async fn submit(
        &self,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        let mut request = self.request(Method::POST, "/v1/jobs").json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.json(request).await
    }

    /// `GET path`, its JSON.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.json(self.request(Method::GET, path)).await
    }

    /// `GET path?query`, its JSON.
    pub async fn get_query(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ClientError> {
        self.json(self.request(Method::GET, path).query(query))
            .await
    }

    /// `POST path` with a JSON body (or none), its JSON.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let mut request = self.request(Method::POST, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.json(request).await
    }

    /// `GET path`, its body streamed to `out` (standard output when `None`). A file is written
    /// beside it as `FILE.part` and renamed once whole, so a download cut short leaves no
    /// truncated `FILE`.
    pub async fn download(&self, path: &str, out: Option<&Path>) -> Result<(), ClientError> {
        use tokio::io::AsyncWriteExt as _;

        let mut answer = self.send(self.request(Method::GET, path)).await?;
        let write_error = |e: std::io::Error| ClientError::Usage(format!("cannot write: {e}"));
        let Some(file) = out else {
            let mut stdout = tokio::io::stdout();
            while let Some(chunk) = answer.chunk().await.map_err(|e| self.connection(&e))? {
                stdout.write_all(&chunk).await.map_err(write_error)?;
            }
            return stdout.flush().await.map_err(write_error);
        };
        let mut part = file.as_os_str().to_owned();
        part.push(".part");
        let part = std::path::PathBuf::from(part);
        let mut sink = tokio::fs::File::create(&part)
            .await
            .map_err(|e| ClientError::Usage(format!("cannot create {}: {e}", part.display())))?;
        let written = async {
            while let Some(chunk) = answer.chunk().await.map_err(|e| self.connection(&e))? {
                sink.write_all(&chunk).await.map_err(write_error)?;
            }
            sink.sync_all().await.map_err(write_error)
        }
        .await;
        match written {
            Ok(()) => tokio::fs::rename(&part, file).await.map_err(|e| {
                ClientError::Usage(format!(
                    "cannot rename {} to {}: {e}",
                    part.display(),
                    file.display()
                ))
            }),
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    /// Sends `request` (bounded by [`REQUEST_TIMEOUT`]) and reads its JSON answer.
    async fn json(&self, request: RequestBuilder) -> Result<Value, ClientError> {
        let answer = self.send(request.timeout(REQUEST_TIMEOUT)).await?;
        answer.json().await.map_err(|e| self.connection(&e))
    }

    /// Sends `request`; a refusal becomes [`ClientError::Refused`] with its problem details.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let answer = request.send().await.map_err(|e| self.connection(&e))?;
        if answer.status().is_success() {
            return Ok(answer);
        }
        Err(refusal(answer).await)
    }

    /// A failure to reach Herald or read its answer.
    pub fn connection(&self, error: &reqwest::Error) -> ClientError {
        // reqwest's own message is terse ("error sending request"): its sources say why.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ClientError::Connection {
            url: self.base.clone(),
            error: message,
        }
    }
}

/// A refused answer as [`ClientError::Refused`]: its problem details, or, when the body is
/// not JSON (a proxy's error page), its start as the detail.
pub async fn refusal(answer: Response) -> ClientError {
    let status = answer.status();
    let body = answer.bytes().await.unwrap_or_default();
    let problem = serde_json::from_slice(&body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(&body);
        let text = text.trim();
        let excerpt: String = text.chars().take(EXCERPT).collect();
        if excerpt.is_empty() {
            Value::Null
        } else {
            serde_json::json!({ "detail": excerpt })
        }
    });
    ClientError::Refused { status, problem }
}
