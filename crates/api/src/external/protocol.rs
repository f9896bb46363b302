//! The external workers' protocol on the wire: what a claim, a heartbeat, a completion, a
//! failure and a release carry, each request checked into a value with every bad field named,
//! and the answers a worker reads.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeDelta, Utc};
use herald_core::attempt;
use herald_core::store::Lease;
use herald_core::view::format_time;
use herald_core::{FieldError, JobOutput, JobType, JobTypes, Progress};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::body::from_body;
use crate::http::error::ApiError;
use crate::resource::JobResource;

/// How long a claim waits for a job when it names no `wait_s`.
pub const DEFAULT_CLAIM_WAIT: Duration = Duration::from_secs(30);
/// How many job types one claim may name.
const MAX_CLAIM_TYPES: usize = 32;
/// The longest lease token and worker name accepted.
const MAX_TOKEN_LEN: usize = 256;
const MAX_WORKER_NAME_LEN: usize = 128;
/// The lease as a worker sees it: its token, when it runs out without a heartbeat, and when
/// the attempt itself times out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeaseView {
    /// Names the lease in every later call about the job.
    pub token: String,
    /// When the lease runs out unless a heartbeat renews it.
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// How long a heartbeat keeps the lease (the store's lease timeout), in seconds.
    pub timeout_s: f64,
    /// How often to heartbeat: a third of `timeout_s`.
    pub heartbeat_s: f64,
    /// When the attempt times out (`started_at` + the job's `timeout_s`): a heartbeat after it
    /// fails the attempt with code `timeout` (or cancels the job, when a cancel was requested).
    #[schema(required = true, format = DateTime)]
    pub deadline: Option<String>,
}

impl LeaseView {
    pub(super) fn new(lease: &Lease, timeout: Duration, now: DateTime<Utc>) -> Self {
        let expires = TimeDelta::from_std(timeout).unwrap_or(TimeDelta::MAX);
        Self {
            token: lease.token().to_owned(),
            expires_at: format_time(&now.checked_add_signed(expires).unwrap_or(now)),
            timeout_s: timeout.as_secs_f64(),
            heartbeat_s: (timeout / 3).as_secs_f64(),
            deadline: attempt::deadline(&lease.job).map(|at| format_time(&at)),
        }
    }
}

/// A job handed to a worker.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClaimedJob {
    pub job: JobResource<'static>,
    /// The job's payload, as submitted (any JSON value).
    pub payload: Value,
    pub lease: LeaseView,
}

/// What a heartbeat answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HeartbeatAnswer {
    /// A client asked for the job to be canceled: stop, then send any final call (the job
    /// ends canceled).
    pub cancel_requested: bool,
    pub lease: LeaseView,
    pub job: JobResource<'static>,
}

/// What a final call (complete, fail, release) answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Finished {
    pub job: JobResource<'static>,
}

/// `POST /v1/workers/claim`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {
    /// 1 to 32 job types, each run by external workers.
    #[schema(value_type = Vec<JobType>, min_items = 1, max_items = 32)]
    types: Option<Vec<String>>,
    /// How long to wait for a job when none is waiting (0 to 60 seconds, default 30).
    #[schema(maximum = 60)]
    wait_s: Option<u64>,
    /// The worker's name, for the server's logs (1 to 128 visible ASCII characters).
    #[schema(min_length = 1, max_length = 128)]
    worker_id: Option<String>,
}

/// A valid claim.
#[derive(Debug)]
pub struct Claim {
    pub types: Vec<JobType>,
    pub wait: Duration,
    /// The worker's own name for itself, for the logs.
    pub worker_name: Option<String>,
}

impl Claim {
    /// Reads a claim: `types` (required, each a type the catalog gives to external workers),
    /// `wait_s` (0 to `max_wait`, default 30) and `worker_id` (optional).
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(
        request: ClaimRequest,
        job_types: &JobTypes,
        max_wait: Duration,
    ) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let types = match request.types {
            None => {
                errors.push(FieldError::new("types", "is required"));
                Vec::new()
            }
            Some(raw) => parse_types(&raw, job_types)
                .map_err(|message| errors.push(FieldError::new("types", message)))
                .unwrap_or_default(),
        };
        let wait = match request.wait_s {
            None => DEFAULT_CLAIM_WAIT.min(max_wait),
            Some(s) if Duration::from_secs(s) > max_wait => {
                errors.push(FieldError::new(
                    "wait_s",
                    format!("must be between 0 and {}", max_wait.as_secs()),
                ));
                Duration::ZERO
            }
            Some(s) => Duration::from_secs(s),
        };
        let worker_name = request.worker_id.filter(|name| {
            let ok = !name.is_empty()
                && name.len() <= MAX_WORKER_NAME_LEN
                && name.bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                errors.push(FieldError::new(
                    "worker_id",
                    format!("must be 1 to {MAX_WORKER_NAME_LEN} visible ASCII characters"),
                ));
            }
            ok
        });
        if errors.is_empty() {
            Ok(Self {
                types,
                wait,
                worker_name,
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// The job types of a claim: at least one, each run by external workers; duplicates dropped.
fn parse_types(raw: &[String], job_types: &JobTypes) -> Result<Vec<JobType>, String> {
    if raw.is_empty() {
        return Err("must name at least one job type".to_owned());
    }
    if raw.len() > MAX_CLAIM_TYPES {
        return Err(format!("may name at most {MAX_CLAIM_TYPES} job types"));
    }
    let mut types: Vec<JobType> = Vec::with_capacity(raw.len());
    let mut refused = Vec::new();
    for name in raw {
        match JobType::parse(name) {
            Ok(job_type) if job_types.is_external(&job_type) => {
                if !types.contains(&job_type) {
                    types.push(job_type);
                }
            }
            _ => refused.push(format!("`{name}`")),
        }
    }
    if refused.is_empty() {
        Ok(types)
    } else {
        Err(format!(
            "{} {} not run by external workers (the catalog marks no such type as external)",
            refused.join(", "),
            if refused.len() == 1 { "is" } else { "are" }
        ))
    }
}

/// The lease token every call about a claimed job carries.
fn parse_token(raw: Option<String>, errors: &mut Vec<FieldError>) -> String {
    match raw {
        None => {
            errors.push(FieldError::new("lease", "is required"));
            String::new()
        }
        Some(token) if token.is_empty() || token.len() > MAX_TOKEN_LEN => {
            errors.push(FieldError::new(
                "lease",
                format!("must be the token of the claim's lease (1 to {MAX_TOKEN_LEN} characters)"),
            ));
            String::new()
        }
        Some(token) => token,
    }
}

/// `{"percent": 0-100, "message": "..."}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressRequest {
    #[schema(value_type = u8, maximum = 100)]
    percent: Option<u64>,
    /// Cut to 1 KiB.
    message: Option<String>,
}

/// The heartbeat's `progress`, read on its own so that its bad fields are named under it and
/// listed with the rest of the body's (and so that only an object is one).
fn parse_progress(raw: &Value, errors: &mut Vec<FieldError>) -> Option<Progress> {
    let request: ProgressRequest = match from_body(raw) {
        Ok(request) => request,
        Err(bad) => {
            errors.extend(bad.into_iter().map(|e| {
                let field = if e.field == "body" {
                    "progress".to_owned()
                } else {
                    format!("progress.{}", e.field)
                };
                FieldError {
                    field,
                    message: e.message,
                }
            }));
            return None;
        }
    };
    match request.percent.map(u8::try_from) {
        Some(Ok(percent)) if percent <= 100 => Some(Progress::new(percent, request.message)),
        None => {
            errors.push(FieldError::new("progress.percent", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(
                "progress.percent",
                "must be between 0 and 100",
            ));
            None
        }
    }
}

/// `POST /v1/workers/jobs/{id}/heartbeat`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// Recorded like any job's progress; the same progress sent again is not recorded twice.
    #[schema(value_type = Option<ProgressRequest>)]
    progress: Option<Value>,
}

/// A valid heartbeat.
#[derive(Debug)]
pub struct Heartbeat {
    pub token: String,
    pub progress: Option<Progress>,
}

impl Heartbeat {
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(request: HeartbeatRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let progress = request
            .progress
            .filter(|p| !p.is_null())
            .and_then(|p| parse_progress(&p, &mut errors));
        if errors.is_empty() {
            Ok(Self { token, progress })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /v1/workers/jobs/{id}/complete`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// The result as any JSON value (served as `application/json`).
    result: Option<Value>,
    /// Or the result as bytes, standard base64; not with `result`.
    #[schema(format = Byte)]
    result_base64: Option<String>,
    /// The media type of `result_base64` (default `application/octet-stream`).
    content_type: Option<String>,
}

/// A valid completion.
#[derive(Debug)]
pub struct Completion {
    pub token: String,
    pub output: Option<JobOutput>,
}

impl Completion {
    /// Reads a completion: `lease`, and the result as JSON (`result`, stored as
    /// `application/json`) or as bytes (`result_base64` with an optional `content_type`,
    /// `application/octet-stream` by default); neither means no result.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(request: CompleteRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let json = request.result.filter(|r| !r.is_null());
        let output = match (json, request.result_base64, request.content_type) {
            (Some(_), Some(_), _) => {
                errors.push(FieldError::new(
                    "result_base64",
                    "cannot be sent with `result`: send the result one way",
                ));
                None
            }
            (Some(_), None, Some(_)) => {
                errors.push(FieldError::new(
                    "content_type",
                    "goes with `result_base64`; a `result` is always application/json",
                ));
                None
            }
            (Some(value), None, None) => Some(JobOutput::json(&value)),
            (None, Some(encoded), content_type) => {
                let body = BASE64
                    .decode(encoded.trim())
                    .map_err(|e| {
                        errors.push(FieldError::new(
                            "result_base64",
                            format!("is not standard base64: {e}"),
                        ))
                    })
                    .ok();
                let content_type = match content_type {
                    None => Some("application/octet-stream".to_owned()),
                    Some(raw) if is_media_type(&raw) => Some(raw),
                    Some(_) => {
                        errors.push(FieldError::new(
                            "content_type",
                            "must be a media type such as `text/csv` or \
                             `text/csv; charset=utf-8`",
                        ));
                        None
                    }
                };
                body.zip(content_type)
                    .map(|(body, content_type)| JobOutput { content_type, body })
            }
            (None, None, Some(_)) => {
                errors.push(FieldError::new(
                    "content_type",
                    "goes with `result_base64`, which is missing",
                ));
                None
            }
            (None, None, None) => None,
        };
        if errors.is_empty() {
            Ok(Self { token, output })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// Whether `raw` reads as a media type (`type/subtype`, optional parameters), safe to send
/// back as a `Content-Type`.
fn is_media_type(raw: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let essence = raw.split(';').next().unwrap_or_default().trim();
    raw.len() <= 255
        && raw.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && essence
            .split_once('/')
            .is_some_and(|(kind, sub)| token(kind) && token(sub))
}

/// `POST /v1/workers/jobs/{id}/fail`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
    /// What went wrong (cut to 1 KiB).
    #[schema(value_type = String)]
    message: Option<String>,
    /// Retry per the type's policy while attempts remain (default `true`), or fail for good.
    retryable: Option<bool>,
}

/// A valid failure report.
#[derive(Debug)]
pub struct Failure {
    pub token: String,
    pub message: String,
    /// Retry per the type's policy while attempts remain (the default), or fail for good.
    pub retryable: bool,
}

impl Failure {
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field.
    pub fn parse(request: FailRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let token = parse_token(request.lease, &mut errors);
        let message = match request.message {
            None => {
                errors.push(FieldError::new("message", "is required"));
                String::new()
            }
            Some(message) if message.trim().is_empty() => {
                errors.push(FieldError::new("message", "must say what went wrong"));
                String::new()
            }
            Some(message) => message,
        };
        if errors.is_empty() {
            Ok(Self {
                token,
                message,
                retryable: request.retryable.unwrap_or(true),
            })
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

/// `POST /v1/workers/jobs/{id}/release`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The lease's token.
    #[schema(value_type = String)]
    lease: Option<String>,
}

/// Reads the lease token of a release.
///
/// # Errors
/// [`ApiError::Validation`] naming every bad field.
pub fn parse_release(request: ReleaseRequest) -> Result<String, ApiError> {
    let mut errors = Vec::new();
    let token = parse_token(request.lease, &mut errors);
    if errors.is_empty() {
        Ok(token)
    } else {
        Err(ApiError::Validation(errors))
    }
}
#[cfg(test)]
mod tests {
    use herald_core::{Runner, TypePolicy};
    use serde::de::DeserializeOwned;
    use serde_json::json;

    use super::*;
    use crate::http::body::from_body;

    /// `body` read as a request, as the handlers' extractor reads it.
    fn read<T: DeserializeOwned>(body: &Value) -> Result<T, ApiError> {
        from_body(body).map_err(ApiError::Validation)
    }

    fn catalog() -> JobTypes {
        let mut types = JobTypes::new();
        types.insert(JobType::parse("demo.sleep").unwrap(), TypePolicy::default());
        types.insert(
            JobType::parse("video.transcode").unwrap(),
            TypePolicy {
                runner: Runner::External,
                ..TypePolicy::default()
            },
        );
        types
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_claim_names_external_types_and_waits_thirty_seconds_by_default() {
        let max = Duration::from_secs(60);
        let claim = read(&json!({"types": ["video.transcode", "video.transcode"]}))
            .and_then(|r| Claim::parse(r, &catalog(), max))
            .unwrap();
        assert_eq!(claim.types, [JobType::parse("video.transcode").unwrap()]);
        assert_eq!(claim.wait, DEFAULT_CLAIM_WAIT);
        for body in [
            json!({"types": ["demo.sleep"]}),
            json!({"types": ["nope"]}),
            json!({"types": []}),
            json!({"types": ["bad name"]}),
            json!({}),
        ] {
            let err = read(&body)
                .and_then(|r| Claim::parse(r, &catalog(), max))
                .unwrap_err();
            assert_eq!(fields(err), ["types"], "{body}");
        }
        let err = read(&json!({"types": ["video.transcode"], "wait_s": 61, "worker_id": ""}))
            .and_then(|r| Claim::parse(r, &catalog(), max))
            .unwrap_err();
        assert_eq!(fields(err), ["wait_s", "worker_id"]);
    }

    #[test]
    fn a_completion_carries_json_or_bytes_with_their_media_type() {
        let json_result = read(&json!({"lease": "t", "result": {"ok": 1}}))
            .and_then(Completion::parse)
            .unwrap();
        let output = json_result.output.unwrap();
        assert_eq!(output.content_type, "application/json");
        assert_eq!(output.body, br#"{"ok":1}"#);

        let bytes = read(
            &json!({"lease": "t", "result_base64": "YSxiCjEsMgo=", "content_type": "text/csv"}),
        )
        .and_then(Completion::parse)
        .unwrap()
        .output
        .unwrap();
        assert_eq!(
            (bytes.content_type.as_str(), &bytes.body[..]),
            ("text/csv", &b"a,b\n1,2\n"[..])
        );

        let none = read(&json!({"lease": "t"}))
            .and_then(Completion::parse)
            .unwrap();
        assert!(none.output.is_none());

        for (body, bad) in [
            (json!({"result": 1}), vec!["lease"]),
            (
                json!({"lease": "t", "result": 1, "result_base64": "AA=="}),
                vec!["result_base64"],
            ),
            (
                json!({"lease": "t", "result_base64": "***"}),
                vec!["result_base64"],
            ),
            (
                json!({"lease": "t", "result_base64": "AA==", "content_type": "csv"}),
                vec!["content_type"],
            ),
            (
                json!({"lease": "t", "content_type": "text/csv"}),
                vec!["content_type"],
            ),
            (json!({"lease": "t", "colour": "red"}), vec!["colour"]),
        ] {
            assert_eq!(
                fields(read(&body).and_then(Completion::parse).unwrap_err()),
                bad,
                "{body}"
            );
        }
    }

    #[test]
    fn progress_is_a_percentage_with_an_optional_message() {
        let beat = read(&json!({"lease": "t", "progress": {"percent": 40, "message": "m"}}))
            .and_then(Heartbeat::parse)
            .unwrap();
        assert_eq!(beat.progress, Some(Progress::new(40, Some("m".to_owned()))));
        for (progress, field) in [
            (json!({"percent": 101}), "progress.percent"),
            (json!({"percent": -1}), "progress.percent"),
            (json!({"message": "m"}), "progress.percent"),
            (json!({"percent": 1, "eta": 3}), "progress.eta"),
            (json!(7), "progress"),
            // An array is no object, though serde would read one as the fields in order.
            (json!([40, "m"]), "progress"),
        ] {
            let err = read(&json!({"lease": "t", "progress": progress}))
                .and_then(Heartbeat::parse)
                .unwrap_err();
            assert_eq!(fields(err), [field], "{progress}");
        }
        // A bad progress is listed with the body's other bad fields.
        let err = read(&json!({"progress": {"eta": 1}}))
            .and_then(Heartbeat::parse)
            .unwrap_err();
        assert_eq!(fields(err), ["lease", "progress.eta"]);
    }

    #[test]
    fn a_failure_says_what_went_wrong_and_is_retryable_by_default() {
        let failure = read(&json!({"lease": "t", "message": "disk full"}))
            .and_then(Failure::parse)
            .unwrap();
        assert!(failure.retryable);
        let err = read(&json!({"lease": "t", "message": " "}))
            .and_then(Failure::parse)
            .unwrap_err();
        assert_eq!(fields(err), ["message"]);
    }

    #[test]
    fn media_types_are_checked_before_they_become_headers() {
        assert!(is_media_type("text/csv"));
        assert!(is_media_type("text/csv; charset=utf-8"));
        assert!(is_media_type("application/vnd.api+json"));
        for bad in ["csv", "text/", "/csv", "text/csv\r\nX-Evil: 1", "te xt/csv"] {
            assert!(!is_media_type(bad), "{bad:?}");
        }
    }
}
