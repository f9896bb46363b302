//! End-to-end tests: real `herald` processes, talking plain HTTP on loopback, sharing a private
//! `redis-server` (or running alone on the embedded backend).

mod support;

mod browser;
mod cli;
mod cluster;
mod console;
mod crash_recovery;
mod embedded;
mod failover;
mod fuzz;
mod health;
mod inbound;
mod job_types;
mod keys;
mod outage;
mod polling;
mod shutdown;
mod sse;
mod tls;
mod typescript;
mod webhooks;
