//! Temporary harness (removed before hand-off) running redis_specific.rs outside main.rs.
#[allow(dead_code)]
#[path = "conformance/support.rs"]
mod support;
#[path = "conformance/redis_specific.rs"]
mod redis_specific;
