//! External workers: processes outside Herald, in any language, that run the jobs of the types
//! the catalog marks as external, speaking plain HTTP (`/v1/workers/...`, the routes in
//! `routes`). The protocol is the one Faktory and Temporal activities use: claim a job
//! (long poll), heartbeat while it runs (with progress), then complete, fail or release it.
//!
//! A claimed job's lease lives in the store like any worker's; the remote worker holds only its
//! **token** ([`Lease::token`](herald_core::store::Lease::token), new on every hand-out of the job). Each call names the job and
//! the token; this process looks the lease up by id ([`Store::lease`](herald_core::Store::lease)), checks the token is
//! still the job's current one, and writes through it — so every write stays a compare-and-set
//! on the job's `seq`, and any api process can serve any call. A token that no longer names
//! the job's lease (the job was reclaimed and handed out again, finished, canceled, timed out)
//! answers `409 lease-lost`; the worker then drops the job.
//!
//! Claims long-poll the store (a blocking read on Redis, a wake-up on the memory backend), so
//! each holds resources while it waits: a semaphore bounds them per process
//! (`ApiConfig::max_worker_claims`), and a claim beyond answers `503` with `Retry-After`. A
//! waiting claim answers `401` as soon as the key it was made with is revoked.
//!
//! Leases of remote workers that go silent must be reclaimed even when nobody claims: every
//! process with the api role runs `maintain_until`, a pass of
//! [`Store::maintain_external`](herald_core::Store::maintain_external) every `ApiConfig::external_maintenance_interval`, over every
//! tenant's external queues that hold leases or waiting retries. (The workers' own maintenance
//! covers only the shared queues.)

mod maintenance;
mod protocol;
pub(crate) mod routes;
mod service;

pub(crate) use maintenance::maintain_until;
pub use protocol::*;
pub use service::DEFAULT_MAX_CLAIMS;
pub(crate) use service::{ExternalWorkers, Workers};
