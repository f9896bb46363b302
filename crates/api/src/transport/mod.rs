//! How a job's changes reach the clients waiting for them, whichever way they wait.
//!
//! - [`poll`]: reading a job, optionally waiting (long poll) for it to change.
//! - [`sse`]: the event streams (one job, many jobs) and their `text/event-stream` answer.
//! - [`body`]: the bytes of a stream: the frames ready at once as one chunk, heartbeats.
//! - [`frame`]: one event as a stream carries it, built once for every stream that sends it.
//! - [`heartbeat`]: the one clock that makes every stream's heartbeat due.
//! - [`feed`]: the tenant's feed as served: filters, pages of events, their long poll.
//! - [`hub`]: the one per-process subscription to the store's signals, fanned out in memory
//!   to streams and long polls by job and by tenant, through bounded queues.
//! - [`revocation`]: the keys that open streams and long polls are watched, so that a
//!   revoked key ends what it opened.

pub mod body;
pub mod feed;
pub mod frame;
pub mod heartbeat;
pub mod hub;
pub mod poll;
pub mod revocation;
pub mod sse;
