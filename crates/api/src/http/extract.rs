//! Extractors that parse what a request names into domain values at the edge, so handlers
//! only ever see valid ones and a bad value gets our problem+json rather than actix's text.

use std::fmt;
use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{FutureExt as _, LocalBoxFuture};
use herald_core::apikey::ApiKeyId;
use herald_core::{
    DeliveryId, FieldError, IdempotencyKey, JobId, SourceId, SubscriptionId, TenantId,
};
use serde::de::DeserializeOwned;

use crate::http::body::Body;
use crate::http::error::ApiError;
use crate::resource::JobResource;
use crate::state::AppState;

/// The tenant the request acts for: the tenant of its API key, as [`crate::http::auth`]
/// authenticated it (the default tenant on an open install).
///
/// Every store call is scoped by it, so another tenant's resource answers like a missing one.
#[derive(Debug, Clone)]
pub struct Tenant(pub TenantId);

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(crate::http::caller::caller(req).map(|caller| Self(caller.tenant)))
    }
}

/// Signs the job links of an answer with browser read tokens ([`crate::http::token`]) when the
/// request is authenticated (a key, or a token), so a browser can follow the links without
/// the key; on an open install (no key needed) links stay plain.
///
/// A request made with a read token gets links carrying a token with the same expiry, never a
/// later one: polling with a token does not keep it alive. Every token names the key that
/// minted it (the one presented, or the one behind the request's own token), so it dies with
/// that key.
pub struct LinkSigner {
    /// What to sign for, if links are signed at all.
    signing: Option<Signing>,
    state: Option<web::Data<AppState>>,
}

/// The tenant, the key and the expiry to keep of the tokens a [`LinkSigner`] issues.
struct Signing {
    tenant: TenantId,
    key: Option<ApiKeyId>,
    keep_expiry: Option<i64>,
}

impl LinkSigner {
    /// `resource` with `?token=` on its links when this request's answers carry them.
    pub fn sign<'a>(&self, resource: JobResource<'a>) -> JobResource<'a> {
        let (Some(signing), Some(state)) = (&self.signing, &self.state) else {
            return resource;
        };
        let Signing {
            tenant,
            key,
            keep_expiry,
        } = signing;
        let tokens = &state.config.tokens;
        let job = resource.view.id;
        let key = key.as_ref();
        let token = match keep_expiry {
            Some(expires) => tokens.issue_until(tenant, &job, key, *expires),
            None => tokens.issue(tenant, &job, key, chrono::Utc::now().timestamp()),
        };
        resource.with_token(&token)
    }
}

impl FromRequest for LinkSigner {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(crate::http::caller::caller(req).map(|caller| Self {
            signing: caller.authenticated().then(|| Signing {
                key: caller.acting_key().map(|key| key.id),
                keep_expiry: caller.read_token.as_ref().map(|grant| grant.expires),
                tenant: caller.tenant,
            }),
            state: req.app_data::<web::Data<AppState>>().cloned(),
        }))
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

/// The path's `{id}`, parsed with `parse`; a malformed id is `not_found` like a missing one.
fn path_id<T>(
    req: &HttpRequest,
    what: &'static str,
    parse: impl FnOnce(&str) -> Result<T, herald_core::InvalidInput>,
) -> Result<T, ApiError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    parse(raw).map_err(|_| ApiError::NotFound {
        what,
        id: raw.to_owned(),
    })
}

/// The subscription id of a `/v1/webhooks/{id}…` path; malformed answers `404`.
#[derive(Debug, Clone, Copy)]
pub struct WebhookPath(pub SubscriptionId);

impl FromRequest for WebhookPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "webhook", SubscriptionId::parse).map(Self))
    }
}

/// The source id of a `/v1/sources/{id}…` path; malformed answers `404`.
#[derive(Debug, Clone, Copy)]
pub struct SourcePath(pub SourceId);

impl FromRequest for SourcePath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "source", SourceId::parse).map(Self))
    }
}

/// The delivery id of a `/v1/deliveries/{id}…` path; malformed answers `404`.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPath(pub DeliveryId);

impl FromRequest for DeliveryPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(path_id(req, "delivery", DeliveryId::parse).map(Self))
    }
}

/// A JSON body that may be left out: `None` for a request without a body (no
/// `Content-Length`, or `0`, and no chunked body); otherwise read like a [`Body`], so a
/// malformed, oversized or non-JSON body, or one with bad fields, gets the same problem as
/// anywhere else.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        if length == Some(0) || (length.is_none() && !chunked) {
            return ready(Ok(Self(None))).boxed_local();
        }
        Body::<T>::from_request(req, payload)
            .map(|body| body.map(|Body(body)| Self(Some(body))))
            .boxed_local()
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
