//! Cross-origin requests from browsers: the origins allowed to call the API (an explicit list,
//! none by default) and the CORS middleware built from them.
//!
//! A dashboard served from another origin submits jobs and follows them with `EventSource`; the
//! browser lets it only when the API answers with the CORS headers for that origin. Requests
//! from other origins are served as before but without those headers (so the browser withholds
//! the answer from the page); their preflights are refused, with a problem document like every
//! other error.

use std::fmt;
use std::str::FromStr;

use actix_cors::{Cors, CorsError};
use actix_web::ResponseError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;

use crate::http::error::ApiError;

/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: usize = 3600;

/// A browser origin, `scheme://host[:port]` as browsers send it in `Origin` (lowercase, no
/// path, no trailing slash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsOrigin(String);

impl CorsOrigin {
    /// Parses an origin such as `https://app.example` or `http://localhost:5173`.
    ///
    /// # Errors
    /// When `raw` is not an `http` or `https` origin without path, query or wildcard.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let origin = raw.trim().to_ascii_lowercase();
        let invalid = |why: &str| {
            format!(
                "`{raw}` is not an origin like https://app.example or http://localhost:5173: {why}"
            )
        };
        let host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| invalid("it must start with http:// or https://"))?;
        if host.is_empty() {
            return Err(invalid("the host is missing"));
        }
        if let Some(bad) = host
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
        {
            return Err(invalid(&format!(
                "`{bad}` has no place in an origin (no path, query, wildcard or trailing slash)"
            )));
        }
        Ok(Self(origin))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CorsOrigin {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse(raw)
    }
}

impl fmt::Display for CorsOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The CORS middleware for `origins`: with none, no cross-origin request is allowed.
pub(crate) fn middleware(origins: &[CorsOrigin]) -> Cors {
    let cors = origins.iter().fold(Cors::default(), |cors, origin| {
        cors.allowed_origin(origin.as_str())
    });
    cors.allowed_methods([
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ])
    .allowed_headers([
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_NONE_MATCH,
        header::HeaderName::from_static("idempotency-key"),
        header::HeaderName::from_static("last-event-id"),
    ])
    .expose_headers([
        header::ETAG,
        header::LOCATION,
        header::RETRY_AFTER,
        header::HeaderName::from_static("last-event-id"),
        header::HeaderName::from_static("idempotent-replayed"),
        crate::http::telemetry::X_REQUEST_ID,
    ])
    .max_age(PREFLIGHT_MAX_AGE)
}

/// Middleware, around [`middleware`]: a refused preflight answers `application/problem+json`
/// (`cors-refused`) rather than actix-cors's plain text.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub(crate) async fn refusals_as_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let response = next.call(req).await?;
    let refusal = response
        .response()
        .error()
        .and_then(|error| error.as_error::<CorsError>())
        .map(ToString::to_string);
    Ok(match refusal {
        Some(detail) => {
            let problem = ApiError::CorsRefused(detail).error_response();
            response.into_response(problem).map_into_right_body()
        }
        None => response.map_into_left_body(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::IDEMPOTENCY_KEY;
    use crate::routes::jobs::IDEMPOTENT_REPLAYED;
    use crate::transport::sse::LAST_EVENT_ID;

    /// `HeaderName::from_static` wants lowercase names; these must stay the handlers' headers.
    #[test]
    fn the_static_header_names_are_the_ones_the_handlers_use() {
        assert_eq!(IDEMPOTENCY_KEY.to_ascii_lowercase(), "idempotency-key");
        assert_eq!(
            IDEMPOTENT_REPLAYED.to_ascii_lowercase(),
            "idempotent-replayed"
        );
        assert_eq!(LAST_EVENT_ID.to_ascii_lowercase(), "last-event-id");
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in [
            "https://app.example",
            "http://localhost:5173",
            "HTTPS://App.Example",
            "http://[::1]:8080",
        ] {
            let origin = CorsOrigin::parse(good).unwrap();
            assert_eq!(origin.as_str(), good.to_ascii_lowercase());
        }
        for bad in [
            "app.example",
            "https://",
            "https://app.example/",
            "https://app.example/path",
            "*",
            "https://*.example",
            "ftp://app.example",
            "https://app.example?x=1",
        ] {
            assert!(CorsOrigin::parse(bad).is_err(), "{bad}");
        }
    }
}
