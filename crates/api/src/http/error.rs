//! Every way a request can fail, and the one mapping of failures to RFC 9457
//! `application/problem+json`.
//!
//! Handlers, extractors and actix's own fallbacks (bad JSON, bad query strings, unknown routes,
//! wrong methods) all end in [`ApiError`], so every error a client sees has the same shape and a
//! stable `type` URI per kind. Unexpected failures answer an opaque `500`; their cause is
//! logged once, by the telemetry middleware.

use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PayloadError, QueryPayloadError};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use herald_core::{FieldError, JobStatus, JobType, StoreError};
use serde::Serialize;

/// A body nested deeper than the bound: the payload error that carries it to the JSON
/// extractor, whose error handler turns it into a `422` naming the body.
#[derive(Debug, thiserror::Error)]
#[error("the body nests arrays and objects deeper than {max} levels")]
pub(crate) struct TooDeep {
    pub max: usize,
}

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where the problem types are documented; each kind's `type` is this plus its slug.
const PROBLEM_BASE: &str = "https://herald.dev/problems/";

/// How long a client should wait before resubmitting to a full queue.
const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(5);

/// How long a worker should wait before claiming again when the process holds as many waiting
/// claims as it allows.
const CLAIMS_BUSY_RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long a client should wait before retrying while the store backend cannot be reached:
/// an outage that ends within it costs the client one retry.
const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The challenge of every `401` (RFC 6750): the API takes bearer tokens.
const WWW_AUTHENTICATE: &str = "Bearer realm=\"herald\"";

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is JSON but some of its fields are not acceptable.
    #[error("some fields of the request body are not valid")]
    Validation(Vec<FieldError>),
    /// Query parameters or headers are not acceptable.
    #[error("some query parameters or headers are not valid")]
    InvalidParameters(Vec<FieldError>),
    /// The body could not be read as JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is not declared as JSON.
    #[error("the request body must be JSON, sent with `Content-Type: application/json`")]
    UnsupportedMediaType,
    /// The body is larger than the configured limit.
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// No such job for this tenant (also a malformed id, or another tenant's job).
    #[error("there is no job `{0}`")]
    JobNotFound(String),
    /// No such webhook subscription or delivery for this tenant (also a malformed id, or
    /// another tenant's). `what` names the kind of resource.
    #[error("there is no {what} `{id}`")]
    NotFound { what: &'static str, id: String },
    /// The job exists but has no result to serve (yet).
    #[error("{0}")]
    ResultNotAvailable(String),
    /// No route matches the path.
    #[error("no route matches {method} {path}")]
    RouteNotFound { method: String, path: String },
    /// A cross-origin preflight from an origin, or asking for a method or headers, that is not
    /// allowed.
    #[error("{0}")]
    CorsRefused(String),
    /// The route exists but not with this method.
    #[error("this route does not accept the method; it accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    /// The job's status does not allow the change.
    #[error("{0}")]
    Conflict(String),
    /// The webhook subscription's state does not allow the request (it is disabled, or it kept
    /// changing under a concurrent writer).
    #[error("{0}")]
    WebhookConflict(String),
    /// An inbound source kept changing under concurrent writers.
    #[error("{0}")]
    SourceConflict(String),
    /// A bounded collection is full (a tenant's webhook subscriptions).
    #[error("{0}")]
    LimitReached(String),
    /// The `Idempotency-Key` was used before with a different request.
    #[error("this Idempotency-Key was already used with a different request")]
    IdempotencyMismatch,
    /// The job type's queue is full.
    #[error("the queue for job type `{0}` is full; retry later")]
    QueueFull(JobType),
    /// An external worker wrote through a lease it no longer holds: the token is not the
    /// job's current lease (the job was handed out again), or the job moved on (finished,
    /// reclaimed, timed out). The detail says which.
    #[error("{0}")]
    LeaseLost(String),
    /// A result larger than the store accepts.
    #[error("{0}")]
    ResultTooLarge(String),
    /// The process holds as many waiting worker claims as it allows.
    #[error("this server holds {limit} waiting claims already; claim again after Retry-After")]
    ClaimsBusy { limit: usize },
    /// The request carries no API key where one is needed, or one that is malformed, unknown
    /// or revoked (answered with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// An inbound request whose signature (or credentials) its source does not accept.
    #[error("{0}")]
    NotVerified(String),
    /// The key is valid but may not do this (a non-admin key on an admin route).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller sent too many requests, or holds as many event streams or long polls open as
    /// it may (see [`crate::http::limits`]).
    #[error("{detail}")]
    RateLimited {
        detail: String,
        retry_after: Duration,
    },
    /// The request's header fields add up to more than `ApiConfig::max_header_bytes`.
    #[error("the request's headers are {size} bytes, more than the limit of {limit} bytes")]
    HeadersTooLarge { size: usize, limit: usize },
    /// The backend does not answer (`/readyz`).
    #[error("the store backend is not reachable: {0}")]
    NotReady(#[source] StoreError),
    /// The store backend cannot be reached right now (down, not answering within its timeout,
    /// or not ready to serve): the request may succeed when retried after `Retry-After`.
    #[error("{0}")]
    Unavailable(#[source] StoreError),
    /// Anything unexpected: answered opaquely, logged with its cause.
    #[error("unexpected error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// A job that is not `completed`, asked for its result.
    pub fn result_not_available(id: impl std::fmt::Display, status: JobStatus) -> Self {
        Self::ResultNotAvailable(if status == JobStatus::Completed {
            format!("job {id} completed without a result")
        } else {
            format!("job {id} is {status}, not completed: it has no result yet")
        })
    }

    /// A terminal job, asked to cancel.
    pub fn already_finished(id: impl std::fmt::Display, status: JobStatus) -> Self {
        Self::Conflict(format!(
            "job {id} is already {status}; only pending or processing jobs can be canceled"
        ))
    }

    /// The problem's slug (its `type` after [`PROBLEM_BASE`]) and title.
    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            Self::Validation(_) => ("validation-error", "The request body is not valid"),
            Self::InvalidParameters(_) => {
                ("invalid-parameters", "Invalid query parameters or headers")
            }
            Self::MalformedJson(_) => ("malformed-json", "Malformed JSON"),
            Self::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            Self::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            Self::JobNotFound(_) | Self::NotFound { .. } | Self::RouteNotFound { .. } => {
                ("not-found", "Not found")
            }
            Self::ResultNotAvailable(_) => ("result-not-available", "Result not available"),
            Self::CorsRefused(_) => ("cors-refused", "Cross-origin request refused"),
            Self::MethodNotAllowed { .. } => ("method-not-allowed", "Method not allowed"),
            Self::Conflict(_) => ("job-state-conflict", "The job's status does not allow this"),
            Self::WebhookConflict(_) => (
                "webhook-state-conflict",
                "The webhook's state does not allow this",
            ),
            Self::SourceConflict(_) => ("source-state-conflict", "The source kept changing"),
            Self::LimitReached(_) => ("limit-reached", "Limit reached"),
            Self::IdempotencyMismatch => ("idempotency-key-reused", "Idempotency-Key reused"),
            Self::QueueFull(_) => ("queue-full", "Queue full"),
            Self::LeaseLost(_) => ("lease-lost", "The lease on this job was lost"),
            Self::ResultTooLarge(_) => ("result-too-large", "Result too large"),
            Self::ClaimsBusy { .. } => ("too-many-claims", "Too many waiting claims"),
            Self::Unauthorized(_) => ("unauthorized", "Missing or invalid API key"),
            Self::NotVerified(_) => ("signature-invalid", "The request could not be verified"),
            Self::Forbidden(_) => ("forbidden", "Not allowed for this API key"),
            Self::RateLimited { .. } => ("rate-limited", "Too many requests"),
            Self::HeadersTooLarge { .. } => {
                ("headers-too-large", "Request header fields too large")
            }
            Self::NotReady(_) => ("not-ready", "Not ready"),
            Self::Unavailable(_) => ("backend-unavailable", "Backend unavailable"),
            Self::Internal(_) => ("internal-error", "Internal server error"),
        }
    }

    /// What the client is told; never the cause of an unexpected error.
    fn detail(&self) -> String {
        match self {
            Self::Internal(_) => "an unexpected error occurred; it has been logged".to_owned(),
            Self::NotReady(_) => "the store backend is not reachable".to_owned(),
            Self::Unavailable(_) => {
                "the store backend cannot be reached right now; retry after Retry-After".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// An RFC 9457 problem document, the body of every error (`application/problem+json`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Problem<'a> {
    /// Stable: `https://herald.dev/problems/` and the kind of problem (`not-found`,
    /// `validation-error`, …).
    #[serde(rename = "type")]
    #[schema(
        format = "uri",
        example = "https://herald.dev/problems/validation-error"
    )]
    type_: String,
    /// Short and stable per `type`.
    #[schema(value_type = String)]
    title: &'a str,
    /// The HTTP status.
    status: u16,
    /// For people: what went wrong this time.
    detail: String,
    /// On `validation-error` and `invalid-parameters` only: every bad field, query parameter
    /// or header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<FieldError>)]
    errors: Option<&'a [FieldError]>,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidParameters(_) | Self::MalformedJson(_) | Self::CorsRefused(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::JobNotFound(_)
            | Self::NotFound { .. }
            | Self::RouteNotFound { .. }
            | Self::ResultNotAvailable(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized(_) | Self::NotVerified(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict(_)
            | Self::WebhookConflict(_)
            | Self::SourceConflict(_)
            | Self::LimitReached(_)
            | Self::LeaseLost(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } | Self::ResultTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) | Self::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::QueueFull(_)
            | Self::NotReady(_)
            | Self::Unavailable(_)
            | Self::ClaimsBusy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let (slug, title) = self.kind();
        let errors = match self {
            Self::Validation(errors) | Self::InvalidParameters(errors) => Some(errors.as_slice()),
            _ => None,
        };
        let problem = Problem {
            type_: format!("{PROBLEM_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        let mut response = HttpResponse::build(status);
        response.content_type(PROBLEM_JSON);
        match self {
            Self::QueueFull(_) => {
                response.insert_header((header::RETRY_AFTER, QUEUE_FULL_RETRY_AFTER.as_secs()));
            }
            Self::ClaimsBusy { .. } => {
                response.insert_header((header::RETRY_AFTER, CLAIMS_BUSY_RETRY_AFTER.as_secs()));
            }
            Self::NotReady(_) | Self::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER.as_secs()));
            }
            Self::RateLimited { retry_after, .. } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
            }
            Self::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            Self::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, WWW_AUTHENTICATE));
            }
            _ => {}
        }
        // A problem of plain strings and numbers always serializes.
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::QueueFull(job_type) => Self::QueueFull(job_type),
            StoreError::IdempotencyMismatch => Self::IdempotencyMismatch,
            StoreError::Transition(e) => Self::Conflict(e.to_string()),
            StoreError::LimitReached(limit) => Self::LimitReached(limit),
            StoreError::LeaseLost => Self::LeaseLost(err.to_string()),
            too_large @ StoreError::ResultTooLarge { .. } => {
                Self::ResultTooLarge(too_large.to_string())
            }
            unavailable @ StoreError::Unavailable(_) => Self::Unavailable(unavailable),
            other => Self::Internal(Box::new(other)),
        }
    }
}

impl From<JsonPayloadError> for ApiError {
    fn from(err: JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::OverflowKnownLength { limit, .. }
            | JsonPayloadError::Overflow { limit } => Self::PayloadTooLarge { limit },
            JsonPayloadError::ContentType => Self::UnsupportedMediaType,
            JsonPayloadError::Deserialize(e) => Self::MalformedJson(e.to_string()),
            JsonPayloadError::Payload(PayloadError::Io(e))
                if e.get_ref()
                    .is_some_and(|inner| inner.downcast_ref::<TooDeep>().is_some()) =>
            {
                Self::Validation(vec![FieldError::new("body", e.to_string())])
            }
            JsonPayloadError::Payload(e) => {
                Self::MalformedJson(format!("the body could not be read: {e}"))
            }
            other => Self::Internal(Box::new(other)),
        }
    }
}

/// A middleware's refusal of `req`, as its answer.
///
/// A middleware that refuses answers with a response rather than failing with an error: an
/// error would travel out past the telemetry middleware, which records and logs responses
/// (it cannot answer for the request itself, which the inner layers took). The response
/// keeps `error`, so a `5xx` is logged with its cause.
pub(crate) fn refuse<B>(req: ServiceRequest, error: ApiError) -> ServiceResponse<EitherBody<B>> {
    req.error_response(error).map_into_right_body()
}

/// Routes actix's JSON extractor errors through [`ApiError`] (`JsonConfig::error_handler`).
pub(crate) fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::from(err).into()
}

/// Routes actix's query-string extractor errors through [`ApiError`]
/// (`QueryConfig::error_handler`).
pub(crate) fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let message = match err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::InvalidParameters(vec![FieldError::new("query", message)]).into()
}

/// The app's default service: no route matches.
pub(crate) async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound {
        method: req.method().to_string(),
        path: req.path().to_owned(),
    })
}

/// A resource at `path` whose methods without a route answer `405` with `Allow: allow`.
pub(crate) fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow })
    }))
}

#[cfg(test)]
mod tests {
    use actix_web::body::MessageBody;

    use super::*;

    fn body_of(err: &ApiError) -> serde_json::Value {
        let bytes = err.error_response().into_body().try_into_bytes().unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn validation_problems_list_their_fields() {
        let err = ApiError::Validation(vec![FieldError::new("type", "is required")]);
        let body = body_of(&err);
        assert_eq!(body["type"], "https://herald.dev/problems/validation-error");
        assert_eq!(body["status"], 422);
        assert_eq!(body["errors"][0]["field"], "type");
        let response = err.error_response();
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
    }

    #[test]
    fn unexpected_errors_hide_their_cause() {
        let err = ApiError::from(StoreError::Backend("connection refused to 10.0.0.7".into()));
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(&err);
        assert!(!body["detail"].as_str().unwrap().contains("10.0.0.7"));
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn a_full_collection_is_a_409_limit_reached_problem() {
        let err = ApiError::from(StoreError::LimitReached("at most 256 webhooks".into()));
        assert_eq!(err.status_code(), StatusCode::CONFLICT);
        let body = body_of(&err);
        assert_eq!(body["type"], "https://herald.dev/problems/limit-reached");
        assert_eq!(body["detail"], "at most 256 webhooks");
    }

    #[test]
    fn a_lost_lease_is_a_409_lease_lost_problem() {
        let err = ApiError::from(StoreError::LeaseLost);
        assert_eq!(err.status_code(), StatusCode::CONFLICT);
        assert_eq!(
            body_of(&err)["type"],
            "https://herald.dev/problems/lease-lost"
        );
        let err = ApiError::from(StoreError::ResultTooLarge { size: 9, limit: 8 });
        assert_eq!(err.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn too_many_claims_says_when_to_claim_again() {
        let response = ApiError::ClaimsBusy { limit: 1 }.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn too_many_requests_is_a_429_that_says_when_to_come_back() {
        let err = ApiError::RateLimited {
            detail: "slow down".into(),
            retry_after: Duration::from_secs(3),
        };
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "3");
        assert_eq!(
            body_of(&err)["type"],
            "https://herald.dev/problems/rate-limited"
        );
    }

    #[test]
    fn an_unreachable_backend_is_a_503_that_says_when_to_retry() {
        let err = ApiError::from(StoreError::Unavailable(
            "failed to read a job: connection refused to 10.0.0.7".into(),
        ));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let body = body_of(&err);
        assert_eq!(
            body["type"],
            "https://herald.dev/problems/backend-unavailable"
        );
        assert!(!body["detail"].as_str().unwrap().contains("10.0.0.7"));
        // Other backend failures stay opaque 500s.
        let err = ApiError::from(StoreError::Backend("WRONGTYPE".into()));
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn not_ready_says_when_to_ask_again() {
        let response = ApiError::NotReady(StoreError::Unavailable("down".into())).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn a_full_queue_says_when_to_retry() {
        let err = ApiError::from(StoreError::QueueFull(JobType::parse("demo.sleep").unwrap()));
        let response = err.error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key(header::RETRY_AFTER));
    }
}
