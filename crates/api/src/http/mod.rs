//! What every request goes through, whatever resource it asks for: where it comes from, who
//! makes it, whether it is allowed, how its body and path are read, how a failure is answered,
//! and how it is counted.
//!
//! - [`address`]: where a request comes from (the TCP peer, or behind trusted proxies the
//!   client they name).
//! - [`auth`]: API keys and read tokens: the middleware that authenticates `/v1`.
//! - [`caller`]: who a request acts for, as authentication found it, and the extractors that
//!   read it.
//! - [`token`]: browser read tokens: short-lived, job-scoped, signed (`?token=` in job links).
//! - [`error`]: [`ApiError`](error::ApiError), the one mapping of every failure to
//!   `application/problem+json`.
//! - [`extract`]: extractors parsed at the edge (tenant, job id in the path, idempotency key).
//! - [`body`]: a JSON body read into a request type, every bad field named.
//! - [`query`]: query parameters read one by one, every bad one named.
//! - [`conditional`]: entity tags and `If-None-Match`.
//! - [`limits`]: abuse limits per caller: the request rate, open event streams and long
//!   polls, the size of headers and the nesting depth of JSON bodies; failed authentications
//!   per client address, and the short memory of unknown key ids and of keys existing.
//! - [`cors`]: the browser origins allowed to call the API.
//! - [`metrics`]: Prometheus metrics and their exposition (OpenMetrics, or the Prometheus text
//!   format for a scraper that asks for it).
//! - [`telemetry`]: a span per request with its request id (echoed as `X-Request-Id`), and the
//!   middleware that counts and logs every answer.

pub mod address;
pub mod auth;
pub mod body;
pub mod caller;
pub mod conditional;
pub mod cors;
pub mod error;
pub mod extract;
pub mod limits;
pub mod metrics;
pub mod query;
pub mod telemetry;
pub mod token;
