//! The API's resources, one module each. Every module exports `configure`, which
//! `create_app` composes; handlers unpack their extractors, make one domain call and answer.
//!
//! Routes are registered through [`resource`]: each handler is served at the path and method
//! its `#[utoipa::path]` documents, and its operation goes into the OpenAPI document
//! ([`openapi`]) by the same call, so the document lists exactly the routes served.

pub mod admin;
pub mod events;
pub mod health;
pub mod jobs;
pub mod openapi;
pub mod sources;
pub mod webhooks;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::http::Method;
use actix_web::{FromRequest, Handler, Responder, web};
use utoipa::openapi::path::{HttpMethod, Paths};
use utoipa::openapi::{RefOr, Schema};
use utoipa_actix_web::OpenApiFactory;

/// A resource of the API: its routes, and the OpenAPI operations that document them.
pub struct Resource {
    path: String,
    resource: actix_web::Resource,
    paths: Paths,
    schemas: Vec<(String, RefOr<Schema>)>,
}

/// A resource at `path`, whose methods without a route answer `405` with `Allow: allow`.
pub fn resource(path: &str, allow: &'static str) -> Resource {
    Resource {
        path: path.to_owned(),
        resource: crate::http::error::resource(path, allow),
        paths: Paths::new(),
        schemas: Vec::new(),
    }
}

impl Resource {
    /// Serves `handler` as `operation` (the `__path_<handler>` that its `#[utoipa::path]`
    /// generates), with the method it documents.
    ///
    /// # Panics
    /// When `operation` documents another path than this resource's: a slip in the code, which
    /// any test that builds the app catches.
    pub fn to<O, F, Args>(mut self, operation: O, handler: F) -> Self
    where
        O: utoipa::Path + OpenApiFactory,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        assert_eq!(O::path(), self.path, "a handler documented at another path");
        for method in O::methods() {
            let route = web::method(method_of(&method)).to(handler.clone());
            self.resource = self.resource.route(route);
        }
        self.paths.merge(operation.paths());
        operation.schemas(&mut self.schemas);
        self
    }

    /// Adds data that this resource's handlers and extractors read, like
    /// [`actix_web::Resource::app_data`].
    pub fn app_data<U: 'static>(mut self, data: U) -> Self {
        self.resource = self.resource.app_data(data);
        self
    }
}

impl HttpServiceFactory for Resource {
    fn register(self, config: &mut AppService) {
        self.resource.register(config);
    }
}

impl OpenApiFactory for Resource {
    fn paths(&self) -> Paths {
        self.paths.clone()
    }

    fn schemas(&self, schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(self.schemas.iter().cloned());
    }
}

/// The HTTP method an OpenAPI operation names.
fn method_of(method: &HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// Answers that describe a resource that may change at any time.
pub(crate) fn no_cache(
    mut response: actix_web::HttpResponseBuilder,
) -> actix_web::HttpResponseBuilder {
    response.insert_header(actix_web::http::header::CacheControl(vec![
        actix_web::http::header::CacheDirective::NoCache,
    ]));
    response
}
