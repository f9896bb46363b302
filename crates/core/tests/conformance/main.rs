//! The store conformance suite: every behaviour of the `Store`, `WebhookStore` and `KeyStore`
//! traits, run against the memory backend, against a real Redis (one `redis-server` the tests
//! share, each under a key prefix of its own) and against Redis reached through Sentinel (a
//! primary, a replica and three Sentinels the tests share); tests that stop or fail over a
//! server start their own.

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
mod replication;
mod retention;
mod wants;
mod webhooks;
