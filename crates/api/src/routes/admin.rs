//! The admin API (`/v1/admin/keys`, admin keys only): create an API key for any tenant (the
//! whole key is in that one answer), list keys (never their secrets) and revoke them.
//!
//! Admin keys manage the install: they create and revoke keys of every tenant. The same can
//! be done from a shell with `herald keys …` on Redis.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use herald_core::apikey::{self, ApiKey, ApiKeyId, PlainKey};
use herald_core::{FieldError, TenantId};
use serde::{Deserialize, Serialize};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::body::Body;
use crate::http::caller::Admin;
use crate::http::error::{ApiError, Problem};
use crate::http::query::query_field;
use crate::routes::resource;
use crate::state::AppState;

/// Registers the `/v1/admin/keys` routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(
        resource("/v1/admin/keys", "GET, POST")
            .to(__path_create_key, create_key)
            .to(__path_list_keys, list_keys),
    )
    .service(resource("/v1/admin/keys/{id}", "DELETE").to(__path_revoke_key, revoke_key));
}

/// The body of `POST /v1/admin/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct KeyRequest {
    /// The tenant every request made with the key acts for.
    #[schema(example = "acme")]
    tenant: String,
    /// For people: what the key is for (up to 100 characters).
    #[serde(default)]
    #[schema(example = "ci")]
    name: Option<String>,
    /// Whether the key may manage keys (this API). Default `false`.
    #[serde(default)]
    admin: Option<bool>,
}

/// An API key as listed: everything but its secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyView {
    /// The key's public id (the part after `hk_`): names it in listings and revocations.
    id: ApiKeyId,
    #[schema(value_type = String)]
    tenant: TenantId,
    name: String,
    admin: bool,
    created_at: DateTime<Utc>,
    /// How the key starts and ends, to recognise it: `hk_<id>_…<last four>`.
    hint: String,
}

impl From<&ApiKey> for KeyView {
    fn from(key: &ApiKey) -> Self {
        Self {
            id: key.id.clone(),
            tenant: key.tenant.clone(),
            name: key.name.clone(),
            admin: key.admin,
            created_at: key.created_at,
            hint: key.display_hint(),
        }
    }
}

/// A key just created, with the whole key: shown this once, never again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CreatedKey {
    #[serde(flatten)]
    view: KeyView,
    /// The whole key, for `Authorization: Bearer <key>`. Store it now: Herald keeps only a
    /// digest of it.
    #[schema(example = "hk_3f9c2a7b1d4e8f60_…")]
    key: String,
}

/// Every key, oldest first (always one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct KeyList {
    data: Vec<KeyView>,
}

/// The query of `GET /v1/admin/keys`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct KeyListParams {
    /// Only this tenant's keys.
    #[param(value_type = Option<String>)]
    tenant: Option<String>,
}

fn no_store(mut response: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    response.insert_header(header::CacheControl(vec![header::CacheDirective::NoStore]));
    response
}

/// Reads a key request into its tenant, name and admin flag, naming every bad field.
fn parse_request(request: KeyRequest) -> Result<(TenantId, String, bool), ApiError> {
    let mut errors = Vec::new();
    let tenant = TenantId::parse(&request.tenant)
        .map_err(|e| errors.push(FieldError::new("tenant", e.0)))
        .ok();
    let name = apikey::parse_name(request.name.as_deref().unwrap_or_default())
        .map_err(|e| errors.push(FieldError::new("name", e.0)))
        .ok();
    match (tenant, name) {
        (Some(tenant), Some(name)) if errors.is_empty() => {
            Ok((tenant, name, request.admin.unwrap_or(false)))
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

/// Create an API key (admin keys only). The answer holds the whole key, this once.
#[utoipa::path(
    post,
    path = "/v1/admin/keys",
    tag = "admin",
    request_body(content = KeyRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The key, with its secret (shown this once)", body = CreatedKey),
        (status = 403, description = "The key is not an admin key (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad fields, each named in `errors` (`validation-error`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(key_id, tenant))]
async fn create_key(
    state: web::Data<AppState>,
    _admin: Admin,
    Body(request): Body<KeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let (tenant, name, admin) = parse_request(request)?;
    // Ids are 64 random bits: a collision is all but impossible, and harmless (try again).
    for _ in 0..3 {
        let plain = PlainKey::generate();
        let key = ApiKey::new(&plain, tenant.clone(), name.clone(), admin, Utc::now());
        if state.keys.create_key(&key).await? {
            let span = tracing::Span::current();
            span.record("key_id", tracing::field::display(&key.id));
            span.record("tenant", tracing::field::display(&key.tenant));
            tracing::info!(admin, "API key created");
            return Ok(no_store(HttpResponse::Created()).json(CreatedKey {
                view: KeyView::from(&key),
                key: plain.reveal(),
            }));
        }
    }
    Err(ApiError::Internal(
        "three fresh key ids were all taken".into(),
    ))
}

/// List API keys, oldest first, without their secrets (admin keys only).
#[utoipa::path(
    get,
    path = "/v1/admin/keys",
    tag = "admin",
    params(KeyListParams),
    responses(
        (status = 200, description = "The keys", body = KeyList),
        (status = 400, description = "A bad parameter, named in `errors` (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key is not an admin key (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_keys(
    state: web::Data<AppState>,
    _admin: Admin,
    params: web::Query<KeyListParams>,
) -> Result<HttpResponse, ApiError> {
    let mut errors = Vec::new();
    let tenant = query_field(&mut errors, "tenant", &params.tenant, |raw| {
        TenantId::parse(raw).map_err(|e| e.0)
    });
    if !errors.is_empty() {
        return Err(ApiError::InvalidParameters(errors));
    }
    let keys = state.keys.keys(tenant.as_ref()).await?;
    Ok(no_store(HttpResponse::Ok()).json(KeyList {
        data: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revoke an API key at once, on every api process (admin keys only).
#[utoipa::path(
    delete,
    path = "/v1/admin/keys/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked: the key is refused from now on"),
        (status = 403, description = "The key is not an admin key (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key, also a malformed id (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(key_id))]
async fn revoke_key(
    state: web::Data<AppState>,
    _admin: Admin,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let raw = req.match_info().get("id").unwrap_or_default();
    let not_found = || ApiError::NotFound {
        what: "API key",
        id: raw.to_owned(),
    };
    let id = ApiKeyId::parse(raw).map_err(|_| not_found())?;
    tracing::Span::current().record("key_id", tracing::field::display(&id));
    if !state.keys.revoke_key(&id).await? {
        return Err(not_found());
    }
    tracing::info!("API key revoked");
    Ok(HttpResponse::NoContent().finish())
}
