//! The store conformance suite: every behaviour of the `Store`, `WebhookStore` and `KeyStore`
//! traits, run against the memory backend and against a real Redis (a private `redis-server`
//! per test).

mod support;

mod cancel;
mod claims;
mod external;
mod feed;
mod hostile;
mod jobs;
mod keys;
mod leases;
mod listing;
mod redis_specific;
mod retention;
mod wants;
mod webhooks;
