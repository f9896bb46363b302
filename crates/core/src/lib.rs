//! Herald's core: the job model and its state machine, events, the wire view of a job, and
//! the store with its two backends. Nothing here knows about HTTP.
//!
//! # Layout
//! - [`attempt`]: how an attempt ends (timeout, cancel, retry), for every kind of worker.
//! - [`backoff`]: the retry delays of a failed job, and the backoff of loops retrying a
//!   failing store.
//! - [`apikey`]: API keys as clients present them and as the store keeps them (digests).
//! - [`catalog`]: the job types an install serves and how each runs (`JobTypes`).
//! - [`ids`]: identifiers and names parsed at the edge (`JobId`, `JobType`, `TenantId`, …).
//! - [`job`]: the stored job, its statuses, errors, progress and every allowed transition.
//! - [`event`]: the event types and the event (a job snapshot after a change).
//! - [`feed`]: a tenant's event feed and its cursors.
//! - [`view`]: `JobView`, the job resource of the wire contract.
//! - [`webhook`]: webhook targets (a job's own, subscriptions), the address policy that guards
//!   them against server-side request forgery, secrets and deliveries.
//! - [`random`]: random bytes from the operating system, for secrets.
//! - [`store`]: the `Store`, `WebhookStore` and `KeyStore` traits, the memory backend and the
//!   Redis backend.

#![forbid(unsafe_code)]

pub mod apikey;
pub mod attempt;
pub mod backoff;
pub mod catalog;
pub mod event;
pub mod feed;
pub mod ids;
pub mod inbound;
pub mod job;
pub mod random;
pub mod sse;
pub mod store;
pub mod view;
pub mod webhook;

#[cfg(test)]
mod testing;

pub use catalog::{JobTypes, Runner, TypePolicy};
pub use event::{Event, EventType};
pub use feed::{FeedCursor, FeedEntry, FeedPage, FeedPosition};
pub use ids::{
    DeliveryId, IdempotencyKey, InvalidInput, JobId, JobType, RequestId, SourceId, SubscriptionId,
    TenantId, WorkerId,
};
pub use job::{
    AttemptDetail, AttemptOutcome, ErrorCode, FieldError, Job, JobAttempt, JobError, JobLimits,
    JobOutput, JobRequest, JobStatus, NewJob, Progress, QueueEffect, Step,
};
pub use store::{SharedStore, Store, StoreConfig, StoreError};
pub use view::{AttemptView, JobView};
