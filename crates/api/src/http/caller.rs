//! Who a request acts for, once [`crate::http::auth`] has authenticated it: the [`Caller`] it
//! leaves in the request's extensions, the extractors that read it back, the key the caller
//! acts with (watched while a stream or long poll outlives the request), and which paths need
//! a caller at all.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage as _, HttpRequest};
use herald_core::TenantId;
use herald_core::apikey::ApiKeyId;

use crate::http::error::ApiError;
use crate::http::token::ReadGrant;

pub(crate) const MISSING: &str = "this API needs a key: send `Authorization: Bearer <api key>`";
pub(crate) const INVALID: &str = "the API key is not valid: unknown or revoked";
pub(crate) const TOKEN_REVOKED: &str = "the read token (`token=`) is not valid: the API key it was issued \
     to has been revoked";

/// Who a request acts for, once authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    /// May manage keys (`/v1/admin/…`).
    pub admin: bool,
    /// The key presented; `None` for a request of an open (development) install or one made
    /// with a read token.
    pub key: Option<ApiKeyId>,
    /// The read token presented in place of a key: what it grants.
    pub read_token: Option<ReadGrant>,
}

impl Caller {
    /// The caller of an install that needs no key: the default tenant, with every right.
    pub(crate) fn open() -> Self {
        Self {
            tenant: TenantId::default_tenant(),
            admin: true,
            key: None,
            read_token: None,
        }
    }

    /// Whether the request proved who it is (a key or a read token), rather than being let
    /// in by an open install: the job links of its answers then carry read tokens.
    pub fn authenticated(&self) -> bool {
        self.key.is_some() || self.read_token.is_some()
    }

    /// The key this caller acts with — the one it presented, or the one that minted its read
    /// token — with the refusal it gets once that key is revoked; `None` on an open install.
    pub fn acting_key(&self) -> Option<ActingKey> {
        if let Some(id) = &self.key {
            return Some(ActingKey {
                id: id.clone(),
                refusal: INVALID,
            });
        }
        let id = self.read_token.as_ref()?.key.clone()?;
        Some(ActingKey {
            id,
            refusal: TOKEN_REVOKED,
        })
    }
}

/// The key a request acts with — the one it presented, or the one that minted its read token —
/// and the `401` detail a request waiting on it gets once the key is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActingKey {
    pub id: ApiKeyId,
    pub refusal: &'static str,
}

/// Whether a path needs authentication: the API (`/v1/…`) but its OpenAPI document.
pub(crate) fn guarded(path: &str) -> bool {
    (path == "/v1" || path.starts_with("/v1/")) && path != "/v1/openapi.json"
}

/// The caller found by [`crate::http::auth::authenticate`]. A route it did not guard has no caller: refused
/// rather than defaulted, so a route can never act for a tenant by accident.
pub(crate) fn caller(req: &HttpRequest) -> Result<Caller, ApiError> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or(ApiError::Unauthorized(MISSING))
}

/// An admin caller: the key's `admin` flag is set (or the install is open).
///
/// A non-admin key answers `403`, not `404`: the admin routes are documented for everyone,
/// so hiding them hides nothing, and `403` tells the operator which key lacks the flag. (The
/// `404` rule is for resources of other tenants, whose existence must not leak.)
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req).and_then(|caller| {
            if caller.admin {
                Ok(Self(caller))
            } else {
                Err(ApiError::Forbidden(
                    "this route needs an admin key (`herald keys create --admin`)",
                ))
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_is_guarded_but_its_document_and_the_operations_endpoints_are_not() {
        for path in [
            "/v1/jobs",
            "/v1/admin/keys",
            "/v1/events/stream",
            "/v1",
            "/v1/x",
        ] {
            assert!(guarded(path), "{path}");
        }
        for path in [
            "/v1/openapi.json",
            "/healthz",
            "/readyz",
            "/metrics",
            "/v10",
        ] {
            assert!(!guarded(path), "{path}");
        }
    }
}
