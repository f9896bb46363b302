//! The API's integration tests: the real server on a loopback port over a memory store, driven
//! with a plain HTTP client. "The worker" is played through the store directly.

mod cancel;
mod errors;
mod health;
mod helpers;
mod list;
mod poll;
mod result;
mod shutdown;
mod submit;
