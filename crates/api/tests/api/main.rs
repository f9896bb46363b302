//! The API's integration tests: the real server on a loopback port over a memory store, driven
//! with a plain HTTP client (and the test kit's event-stream reader for SSE). "The worker" is
//! played through the store directly.

mod cancel;
mod connection;
mod console;
mod cors;
mod errors;
mod feed;
mod feed_stream;
mod health;
mod helpers;
mod hostile;
mod job_stream;
mod limits;
mod list;
mod openapi;
mod poll;
mod result;
mod revocation;
mod shutdown;
mod sources;
mod submit;
mod tenants;
mod tokens;
mod webhooks;
mod workers;
