//! The store conformance suite: every behaviour of the `Store`, `WebhookStore`, `KeyStore` and
//! `SourceStore` traits, run against the memory backend, against a real Redis (one `redis-server` the tests
//! share, each under a key prefix of its own), against Redis reached through Sentinel (a
//! primary, a replica and three Sentinels the tests share) and against a Redis Cluster (three
//! primaries with a replica each, which the tests share); tests that stop, fail over or
//! reshard start their own.

mod support;

mod cancel;
mod claims;
mod cluster;
mod external;
mod feed;
mod hostile;
mod jobs;
mod keys;
mod leases;
mod listing;
mod partitions;
mod redis_specific;
mod replication;
mod retention;
mod retry;
mod sources;
mod wants;
mod webhooks;
