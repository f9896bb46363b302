//! Extractors that parse what a request names into domain values at the edge, so handlers
//! only ever see valid ones and a bad value gets our problem+json rather than actix's text.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use herald_core::{FieldError, IdempotencyKey, JobId, TenantId};

use crate::error::ApiError;

/// The tenant the request acts for.
///
/// Every store call is scoped by it. Until authentication lands every request acts for
/// [`TenantId::default_tenant`]; this extractor is the single place that will change.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(_: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(TenantId::default_tenant())))
    }
}

/// The job id of a `/v1/jobs/{id}…` path. A malformed id answers `404` like a missing job: to
/// the client both name no job.
#[derive(Debug, Clone, Copy)]
pub struct JobPath(pub JobId);

impl fmt::Display for JobPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromRequest for JobPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("id").unwrap_or_default();
        ready(
            JobId::parse(raw)
                .map(Self)
                .map_err(|_| ApiError::JobNotFound(raw.to_owned())),
        )
    }
}

/// The request's optional `Idempotency-Key` header.
#[derive(Debug, Clone)]
pub struct IdempotencyKeyHeader(pub Option<IdempotencyKey>);

/// The header's name, as clients spell it.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

impl FromRequest for IdempotencyKeyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let key = req.headers().get(IDEMPOTENCY_KEY).map(|value| {
            value
                .to_str()
                .map_err(|_| "must be visible ASCII".to_owned())
                .and_then(|raw| IdempotencyKey::try_from(raw).map_err(|e| e.0))
                .map_err(|message| {
                    ApiError::InvalidParameters(vec![FieldError::new(IDEMPOTENCY_KEY, message)])
                })
        });
        ready(key.transpose().map(Self))
    }
}
