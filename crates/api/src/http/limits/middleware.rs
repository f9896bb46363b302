//! The limits as middlewares on the app: the request rate per caller, the size of headers and
//! the nesting depth of JSON bodies.

use actix_web::HttpMessage as _;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web;

use super::depth::{DepthLimited, DepthScan};
use super::{Subject, whole_seconds};
use crate::http::caller::{Caller, guarded};
use crate::http::error::{ApiError, refuse};
use crate::state::AppState;

/// The middleware: counts every authenticated `/v1` request against its caller's bucket.
///
/// Answers `429 rate-limited` with `Retry-After` when the bucket is empty.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let subject = req.extensions().get::<Caller>().and_then(Subject::of);
    let state = req.app_data::<web::Data<AppState>>();
    if let (Some(subject), Some(state)) = (subject, state)
        && let Err(wait) = state.rate_limiter.check(&subject)
    {
        let rate = state.config.rate_limit;
        let refusal = ApiError::RateLimited {
            detail: format!(
                "more than {} requests per second (bursts of {}) from this caller; retry after \
                 Retry-After",
                rate.per_second, rate.burst
            ),
            retry_after: whole_seconds(wait),
        };
        return Ok(refuse(req, refusal));
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The middleware refusing a request whose header fields (names and values) add up to more
/// than `max_header_bytes`, before anything reads them.
///
/// Answers `431 headers-too-large`.
///
/// # Errors
/// Only those of the services it wraps, passed through.
pub async fn limit_header_bytes(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>() {
        let limit = state.config.max_header_bytes;
        let size: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if size > limit {
            return Ok(refuse(req, ApiError::HeadersTooLarge { size, limit }));
        }
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// The middleware: bounds the nesting depth of every JSON body sent to `/v1`.
pub async fn limit_json_depth(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"json"))
        });
    let max = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.config.max_json_depth);
    if let (true, Some(max), true) = (is_json, max, guarded(req.path())) {
        let inner = req.take_payload();
        let limited = DepthLimited {
            inner,
            scan: DepthScan::default(),
            max,
        };
        req.set_payload(Payload::Stream {
            payload: Box::pin(limited),
        });
    }
    next.call(req).await
}
