//! The inbound side of the store: sources by id and by ingest token, and each source's
//! request log (the newest [`StoreConfig::source_requests_max`](crate::StoreConfig) requests
//! it received: accepted, duplicate and rejected).
//!
//! The jobs a source's requests become are ordinary jobs, stored by [`Store::create`]
//! (`crate::Store`) with the dedupe key as their idempotency key: a provider's retry is
//! answered with the job its first delivery created.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ids::{RequestId, SourceId, TenantId};
use crate::inbound::{Outcome, RequestRecord, Source};
use crate::store::StoreError;

/// A source store shared by every role of a process.
pub type SharedSourceStore = Arc<dyn SourceStore>;

/// Filters and paging of a request log (newest first).
#[derive(Debug, Clone)]
pub struct RequestQuery {
    pub outcome: Option<Outcome>,
    /// 1 to [`RequestQuery::MAX_LIMIT`].
    pub limit: usize,
    /// Only requests older than this one (the previous page's `next_cursor`).
    pub before: Option<RequestId>,
}

impl RequestQuery {
    pub const MAX_LIMIT: usize = 100;
    pub const DEFAULT_LIMIT: usize = 20;
}

/// One page of a request log; `next_cursor` is set while older matching requests may remain.
#[derive(Debug, Clone)]
pub struct RequestPage {
    pub requests: Vec<RequestRecord>,
    pub next_cursor: Option<RequestId>,
}

/// How many log entries one listing reads at most, looking for those of one outcome.
pub(crate) const SCAN_MAX: usize = 10_000;

/// Sources and their request logs.
///
/// # Errors
/// Every method answers [`StoreError::Unavailable`] when the backend cannot be reached and
/// [`StoreError::Backend`] when it fails otherwise; the others are named on each method.
#[async_trait]
pub trait SourceStore: Send + Sync + 'static {
    /// Stores a new source.
    ///
    /// # Errors
    /// [`StoreError::LimitReached`] when its tenant has
    /// [`MAX_SOURCES_PER_TENANT`](crate::inbound::source::MAX_SOURCES_PER_TENANT) already.
    async fn create_source(&self, source: &Source) -> Result<(), StoreError>;

    /// The tenant's source, or `None` (also when it belongs to another tenant).
    async fn source(&self, tenant: &TenantId, id: &SourceId) -> Result<Option<Source>, StoreError>;

    /// The tenant's sources, oldest first.
    async fn sources(&self, tenant: &TenantId) -> Result<Vec<Source>, StoreError>;

    /// The source an ingest token opens, or `None`.
    async fn source_by_token(&self, token: &str) -> Result<Option<Source>, StoreError>;

    /// Replaces the source with `source` if the stored one is the version before it;
    /// `false` (writing nothing) when it moved on or is gone.
    async fn update_source(&self, source: &Source) -> Result<bool, StoreError>;

    /// Deletes the tenant's source and its request log; its token opens nothing any more.
    /// `false` when there was none.
    async fn delete_source(&self, tenant: &TenantId, id: &SourceId) -> Result<bool, StoreError>;

    /// Adds a request to the source's log, dropping the oldest beyond the bound.
    async fn record_request(
        &self,
        source: &SourceId,
        record: &RequestRecord,
    ) -> Result<(), StoreError>;

    /// The source's log, newest first.
    async fn requests(
        &self,
        source: &SourceId,
        query: &RequestQuery,
    ) -> Result<RequestPage, StoreError>;

    /// The requests of the source's log received from `since` (included) to `until`
    /// (excluded), oldest first.
    async fn requests_between(
        &self,
        source: &SourceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>, StoreError>;
}

/// The page of `query` from log entries read newest first (`scanned`), `more` when the log
/// holds older entries than those read.
pub(crate) fn page_of(
    scanned: impl IntoIterator<Item = RequestRecord>,
    query: &RequestQuery,
) -> RequestPage {
    let mut requests = Vec::with_capacity(query.limit);
    let mut next_cursor = None;
    for record in scanned {
        if query
            .outcome
            .is_some_and(|outcome| outcome != record.outcome)
        {
            continue;
        }
        if requests.len() == query.limit {
            next_cursor = requests.last().map(|r: &RequestRecord| r.id);
            break;
        }
        requests.push(record);
    }
    RequestPage {
        requests,
        next_cursor,
    }
}
