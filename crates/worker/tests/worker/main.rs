//! The worker runtime against the embedded memory store, with real timers: every assertion
//! waits for a state with a generous deadline (`eventually`), never a bare sleep.

mod builtins;
mod cancel;
mod exec;
mod failures;
mod http;
mod leases;
mod progress;
mod startup;
mod support;
mod types;
