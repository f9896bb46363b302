//! Authentication: who a request acts for.
//!
//! Every `/v1` route but the OpenAPI document (`/v1/openapi.json`) goes through
//! [`authenticate`], a middleware that reads `Authorization: Bearer <key>`, looks the key up
//! by its id in the store (one read per request, no key found is cached: a revoked key is
//! refused by every api process on its next request) and compares the digests of the secrets
//! in constant time. An id the store did not hold is remembered as unknown for a few seconds
//! (`UnknownKeys`): a client repeating it is refused without a read each time. The caller
//! it finds travels in the request's extensions to the [`crate::http::extract::Tenant`] and
//! [`Admin`](crate::http::caller::Admin) extractors. `/healthz`, `/readyz` and `/metrics`
//! stay open for probes and scrapers.
//!
//! When no key is needed (development mode while the store holds no key) a request without
//! a header acts for the default tenant with every right, admin included, so the first key can
//! be created over the API; as soon as a key exists, or in production mode, a request needs
//! one. (That keys exist is remembered a few seconds: revoking the last key opens the install
//! again after that delay.) A request that presents a key is always checked, even when none is needed: a wrong
//! key is a mistake worth reporting.
//!
//! On the routes that read one job (`GET /v1/jobs/{id}`, its `/events` and `/result`), a
//! browser read token (`?token=`, see [`crate::http::token`]) of that very job stands in for a key:
//! the request acts for the token's tenant, read-only. A token anywhere else — another job,
//! another route, a write — is refused like a bad key. A Bearer key, when sent, wins. A token
//! minted by a key lives no longer than the key: verifying it reads the key (one lookup by id)
//! and refuses the token once the key is revoked.
//!
//! What a request opens that outlives its authentication — an event stream, a waiting long
//! poll — watches the key it acts with ([`Caller::acting_key`](crate::http::caller::Caller::acting_key)) and ends when the key is
//! revoked ([`crate::transport::revocation`]).
//!
//! Every refusal draws from the client address's bucket of failed authentications
//! (`FailureLimiter`): once it is empty, the address's failures answer `429` with
//! `Retry-After` instead of `401`. A request that authenticates is never counted there.
//!
//! A key never reaches a log: the header is read here only, errors never repeat it, and the
//! spans name the key by its public id.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage as _, web};
use herald_core::JobId;
use herald_core::apikey::{ApiKey, PlainKey};
use tokio::time::Instant;

use crate::http::address::ClientAddress;
use crate::http::caller::{Caller, INVALID, MISSING, TOKEN_REVOKED, guarded};
use crate::http::error::{ApiError, refuse};
#[cfg(doc)]
use crate::http::limits::{FailureLimiter, KeysExist, UnknownKeys};
use crate::http::token::TokenError;
use crate::state::AppState;

const MALFORMED: &str =
    "the Authorization header must be `Bearer hk_<key id>_<secret>` (an API key)";
const TOKEN_SCOPE: &str = "a read token opens only GET /v1/jobs/{id}, /v1/jobs/{id}/events and \
     /v1/jobs/{id}/result of the job it was issued for; use an API key for anything else";
const TOKEN_MALFORMED: &str = "the read token (`token=`) is malformed";
const TOKEN_INVALID: &str = "the read token (`token=`) is not valid: tampered with, or signed \
     with a secret this server no longer holds";
const TOKEN_EXPIRED: &str = "the read token (`token=`) has expired: fetch the job again with \
     the API key for a fresh link";
const TOKEN_OUTDATED: &str = "the read token (`token=`) is of a format this server no longer \
     accepts: fetch the job again with the API key for a fresh link";

/// The query's `token`, if any. A query that does not parse has none (the handler will say
/// what is wrong with it).
fn query_token(req: &ServiceRequest) -> Option<String> {
    let query = req.query_string();
    if !query.contains("token=") {
        return None;
    }
    web::Query::<Vec<(String, String)>>::from_query(query)
        .ok()?
        .into_inner()
        .into_iter()
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value)
}

/// The job a read token may open this request for: a `GET` of `/v1/jobs/{id}`, its
/// `/events` or its `/result`; `None` on any other route or method.
fn readable_job(req: &ServiceRequest) -> Option<JobId> {
    if req.method() != actix_web::http::Method::GET {
        return None;
    }
    let rest = req.path().strip_prefix("/v1/jobs/")?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    matches!(tail, "" | "events" | "result")
        .then(|| JobId::parse(id).ok())
        .flatten()
}

/// The caller of a request made with read token `token`: its tenant, reading its job only, as
/// long as the key that minted the token exists.
async fn token_caller(
    state: &AppState,
    req: &ServiceRequest,
    token: &str,
) -> Result<Caller, ApiError> {
    let now = chrono::Utc::now().timestamp();
    let grant = state.config.tokens.verify(token, now).map_err(|e| {
        ApiError::Unauthorized(match e {
            TokenError::Malformed => TOKEN_MALFORMED,
            TokenError::BadSignature => TOKEN_INVALID,
            TokenError::Expired => TOKEN_EXPIRED,
            TokenError::Outdated => TOKEN_OUTDATED,
        })
    })?;
    if readable_job(req) != Some(grant.job) {
        return Err(ApiError::Unauthorized(TOKEN_SCOPE));
    }
    if let Some(key) = &grant.key
        && state.keys.key(key).await?.is_none()
    {
        return Err(ApiError::Unauthorized(TOKEN_REVOKED));
    }
    Ok(Caller {
        tenant: grant.tenant.clone(),
        admin: false,
        key: None,
        read_token: Some(grant),
    })
}

/// The bearer key of `Authorization`, if any (`Ok(None)` without the header).
fn bearer(req: &ServiceRequest) -> Result<Option<PlainKey>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized(MALFORMED))?;
    let (scheme, token) = value
        .trim()
        .split_once(' ')
        .ok_or(ApiError::Unauthorized(MALFORMED))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthorized(MALFORMED));
    }
    PlainKey::parse(token.trim())
        .map(Some)
        .map_err(|_| ApiError::Unauthorized(MALFORMED))
}

/// The stored key that `key` is, or `None` when no key has its id (recently found unknown,
/// or not in the store) or its secret is not the stored one's.
async fn stored_key(state: &AppState, key: &PlainKey) -> Result<Option<ApiKey>, ApiError> {
    if state.unknown_keys.contains(key.id(), Instant::now()) {
        return Ok(None);
    }
    let Some(stored) = state.keys.key(key.id()).await? else {
        state.unknown_keys.insert(key.id(), Instant::now());
        return Ok(None);
    };
    Ok(Some(stored).filter(|stored| stored.verifies(key)))
}

/// Whether requests need a key: in production mode always, in development mode once any key
/// exists. That keys exist is remembered for a few seconds ([`KeysExist`]), so requests without
/// a key cost no store read each.
async fn keys_needed(state: &AppState) -> Result<bool, ApiError> {
    if state.config.require_keys || state.keys_exist.known(Instant::now()) {
        return Ok(true);
    }
    let exist = state.keys.has_keys().await?;
    if exist {
        state.keys_exist.remember(Instant::now());
    }
    Ok(exist)
}

/// Who the request acts for, or why it may not.
async fn caller_of(state: &AppState, req: &ServiceRequest) -> Result<Caller, ApiError> {
    if let Some(key) = bearer(req)? {
        let stored = stored_key(state, &key)
            .await?
            .ok_or(ApiError::Unauthorized(INVALID))?;
        return Ok(Caller {
            tenant: stored.tenant,
            admin: stored.admin,
            key: Some(stored.id),
            read_token: None,
        });
    }
    if let Some(token) = query_token(req) {
        // Checked even on an open install, like a key: a bad token is a mistake worth
        // reporting, and a good one must not read more than its job.
        return token_caller(state, req, &token).await;
    }
    if keys_needed(state).await? {
        return Err(ApiError::Unauthorized(MISSING));
    }
    Ok(Caller::open())
}

/// The middleware: authenticates every guarded request (see the module docs) before any
/// extractor or handler runs.
///
/// Answers `401` for a missing (where needed), malformed, unknown or revoked key (`429`
/// instead once the client's address has failed too often), and the store's failure when it
/// cannot be read.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if guarded(req.path()) {
        let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
            return Ok(refuse(
                req,
                ApiError::Internal("the app state is missing".into()),
            ));
        };
        let caller = match caller_of(&state, &req).await {
            Ok(caller) => caller,
            Err(refusal @ ApiError::Unauthorized(_)) => {
                let address = ClientAddress::of_request(&req, &state.config.trusted_proxies);
                return Ok(refuse(req, state.auth_failures.charge(address, refusal)));
            }
            Err(refusal) => return Ok(refuse(req, refusal)),
        };
        if let Some(key) = &caller.key {
            tracing::debug!(key_id = %key, tenant = %caller.tenant, "authenticated");
        } else if let Some(grant) = &caller.read_token {
            tracing::debug!(job_id = %grant.job, tenant = %caller.tenant, "read token");
        }
        req.extensions_mut().insert(caller);
    }
    Ok(next.call(req).await?.map_into_left_body())
}
