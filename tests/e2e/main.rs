//! End-to-end tests: real `herald` processes, talking plain HTTP on loopback, sharing a private
//! `redis-server` (or running alone on the embedded backend).

mod support;

mod crash_recovery;
mod embedded;
mod polling;
mod shutdown;
