//! The OpenAPI 3.1 document of the API (`GET /v1/openapi.json`), generated from the code: each
//! handler's `#[utoipa::path]` says its parameters, body and answers, the wire types derive
//! their schemas, and registering a route puts its operation in the document
//! ([`super::resource`]), so the document changes with the code. The api's integration tests
//! check that live answers match it.

use actix_web::{HttpResponse, web};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::error::{ApiError, Problem};
use crate::routes::resource;

/// The document's description, shown by any OpenAPI tool.
const DESCRIPTION: &str = "Herald runs jobs asynchronously: submit one (`202 Accepted`), then \
follow it by polling (plain, conditional or long poll), by Server-Sent Events (one job, or many \
through the tenant's feed), through the feed as JSON pages, or by webhooks. External workers in \
any language claim and run jobs over HTTP. Every error is an RFC 9457 problem document \
(`application/problem+json`). The prose reference is `docs/api.md`.";

/// The document but its operations, which the routes bring as they are registered.
#[derive(OpenApi)]
#[openapi(
    info(title = "Herald", description = DESCRIPTION),
    components(schemas(Problem)),
    tags(
        (name = "jobs", description = "Submit, poll, list and cancel jobs; fetch their results"),
        (name = "events", description = "Job events as Server-Sent Events and as JSON pages"),
        (name = "webhooks", description = "Webhook subscriptions, their deliveries, retries and replays"),
        (name = "sources", description = "Inbound webhooks: sources providers post to, their request logs and replays"),
        (name = "workers", description = "External workers: claim, heartbeat, complete, fail, release"),
        (name = "admin", description = "API keys: create, list, revoke (admin keys only)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
pub(crate) struct ApiDoc;

/// The name of the security scheme in the document.
const BEARER: &str = "bearer";

/// Every operation of the document, with the path it answers on.
fn operations_mut(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&String, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        .map(move |operation| (path, operation))
    })
}

/// Declares the API key scheme (`Authorization: Bearer hk_…`) and, on every operation the
/// authentication middleware guards (see [`crate::http::auth`]), requires it and documents its `401`
/// and the `429` of the per-caller limits behind it (see [`crate::http::limits`]).
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("hk_<key id>_<secret>")
            .description(Some(
                "An API key. In development mode, while no key exists, requests without one \
                 act for the default tenant.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(scheme));
        let unauthorized = ResponseBuilder::new()
            .description(
                "No API key where one is needed, or a malformed, unknown or revoked one \
                 (`unauthorized`; with `WWW-Authenticate: Bearer`)",
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        let too_many = ResponseBuilder::new()
            .description(
                "Too many requests from this API key, too many failed authentications from this \
                 client address, or as many event streams or long polls open as the key may \
                 hold (`rate-limited`; with `Retry-After`)",
            )
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(ObjectBuilder::new().schema_type(Type::Integer))
                    .description(Some("Seconds to wait before trying again (at least 1)"))
                    .build(),
            )
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build();
        for (path, operation) in operations_mut(openapi) {
            if !crate::http::caller::guarded(path) {
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            operation
                .responses
                .responses
                .insert("401".to_owned(), unauthorized.clone().into());
            operation
                .responses
                .responses
                .insert("429".to_owned(), too_many.clone().into());
        }
    }
}

/// Documents the problems any operation can answer, in one place rather than on each handler:
/// `431` (the header bound wraps the whole app) and `500` everywhere, `503` with `Retry-After`
/// on every `/v1` operation (each reads the store, if only to check the API key), and for an
/// operation with a JSON body, `400` malformed JSON, `413` over the body limit and `415` not
/// JSON. An operation that documents one of these in its own words keeps its own; its own
/// `503` is told that the backend may be unavailable too.
struct CommonProblems;

impl CommonProblems {
    const UNAVAILABLE: &str = "The store backend cannot be reached right now \
                               (`backend-unavailable`); retry after `Retry-After` seconds";

    fn problem(description: &str) -> utoipa::openapi::Response {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    }
}

impl Modify for CommonProblems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let everywhere = [
            (
                "431",
                Self::problem(
                    "The request's header names and values add up to more than \
                     `--max-header-bytes` (`headers-too-large`)",
                ),
            ),
            ("500", Self::problem("Unexpected (`internal-error`)")),
        ];
        let with_a_body = [
            ("400", Self::problem("Malformed JSON (`malformed-json`)")),
            (
                "413",
                Self::problem("The body is over the limit (`payload-too-large`)"),
            ),
            (
                "415",
                Self::problem("The body is not sent as JSON (`unsupported-media-type`)"),
            ),
        ];
        let mut unavailable = Self::problem(Self::UNAVAILABLE);
        unavailable.headers.insert(
            "Retry-After".to_owned(),
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds before retrying"))
                .build(),
        );
        for (path, operation) in operations_mut(openapi) {
            let reads_the_store = crate::http::caller::guarded(path);
            let has_body = operation.request_body.is_some();
            let responses = &mut operation.responses.responses;
            let common = everywhere
                .iter()
                .chain(with_a_body.iter().filter(|_| has_body));
            for (status, problem) in common {
                responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| problem.clone().into());
            }
            if reads_the_store {
                match responses.entry("503".to_owned()) {
                    std::collections::btree_map::Entry::Vacant(entry) => {
                        entry.insert(unavailable.clone().into());
                    }
                    std::collections::btree_map::Entry::Occupied(mut entry) => {
                        if let utoipa::openapi::RefOr::T(own) = entry.get_mut() {
                            own.description = format!(
                                "{}; or the store backend cannot be reached right now \
                                 (`backend-unavailable`)",
                                own.description
                            );
                        }
                    }
                }
            }
        }
    }
}

/// The document as served, serialized once per app.
pub(crate) struct Document(Result<web::Bytes, String>);

impl Document {
    /// The document of the routes in `operations` (what registering them collected), with the
    /// security and the problems every operation shares, and the crate's version.
    pub(crate) fn new(operations: utoipa::openapi::OpenApi) -> web::Data<Self> {
        let mut doc = operations;
        BearerAuth.modify(&mut doc);
        CommonProblems.modify(&mut doc);
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        web::Data::new(Self(
            doc.to_json()
                .map(web::Bytes::from)
                .map_err(|e| e.to_string()),
        ))
    }
}

/// Registers `/v1/openapi.json`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/v1/openapi.json", "GET").to(__path_openapi_json, openapi_json));
}

/// This document: the API's OpenAPI 3.1 description, generated from the code.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object, content_type = "application/json"),
    ),
)]
async fn openapi_json(document: web::Data<Document>) -> Result<HttpResponse, ApiError> {
    match &document.0 {
        Ok(json) => Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(json.clone())),
        Err(e) => Err(ApiError::Internal(e.clone().into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_serializes_with_the_crate_version() {
        let document = Document::new(ApiDoc::openapi());
        let json = document.0.as_ref().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(doc["info"]["title"], "Herald");
    }
}
