//! [`SourceStore`] in memory: sources by id, their tokens, and each one's request log
//! ordered by request id (UUIDv7: the order they were received in).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MemoryStore;
use crate::ids::{RequestId, SourceId, TenantId};
use crate::inbound::source::MAX_SOURCES_PER_TENANT;
use crate::inbound::{RequestRecord, Source};
use crate::store::StoreError;
use crate::store::sources::{RequestPage, RequestQuery, SCAN_MAX, SourceStore, page_of};

/// What the sources' mutex guards.
#[derive(Default)]
pub(super) struct Sources {
    by_id: HashMap<SourceId, Source>,
    by_token: HashMap<String, SourceId>,
    logs: HashMap<SourceId, BTreeMap<RequestId, RequestRecord>>,
}

#[async_trait]
impl SourceStore for MemoryStore {
    async fn create_source(&self, source: &Source) -> Result<(), StoreError> {
        let mut sources = self.inbound();
        let owned = sources
            .by_id
            .values()
            .filter(|s| s.tenant == source.tenant)
            .count();
        if owned >= MAX_SOURCES_PER_TENANT {
            return Err(StoreError::LimitReached(format!(
                "a tenant has at most {MAX_SOURCES_PER_TENANT} sources"
            )));
        }
        sources.by_token.insert(source.token.clone(), source.id);
        sources.by_id.insert(source.id, source.clone());
        Ok(())
    }

    async fn source(&self, tenant: &TenantId, id: &SourceId) -> Result<Option<Source>, StoreError> {
        Ok(self
            .inbound()
            .by_id
            .get(id)
            .filter(|s| &s.tenant == tenant)
            .cloned())
    }

    async fn sources(&self, tenant: &TenantId) -> Result<Vec<Source>, StoreError> {
        let mut listed: Vec<Source> = self
            .inbound()
            .by_id
            .values()
            .filter(|s| &s.tenant == tenant)
            .cloned()
            .collect();
        listed.sort_by_key(|s| s.id);
        Ok(listed)
    }

    async fn source_by_token(&self, token: &str) -> Result<Option<Source>, StoreError> {
        let sources = self.inbound();
        Ok(sources
            .by_token
            .get(token)
            .and_then(|id| sources.by_id.get(id))
            .cloned())
    }

    async fn update_source(&self, source: &Source) -> Result<bool, StoreError> {
        let mut sources = self.inbound();
        match sources.by_id.get_mut(&source.id) {
            Some(stored) if stored.version + 1 == source.version => {
                *stored = source.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_source(&self, tenant: &TenantId, id: &SourceId) -> Result<bool, StoreError> {
        let mut sources = self.inbound();
        if sources.by_id.get(id).is_none_or(|s| &s.tenant != tenant) {
            return Ok(false);
        }
        if let Some(source) = sources.by_id.remove(id) {
            sources.by_token.remove(&source.token);
        }
        sources.logs.remove(id);
        Ok(true)
    }

    async fn record_request(
        &self,
        source: &SourceId,
        record: &RequestRecord,
    ) -> Result<(), StoreError> {
        let mut sources = self.inbound();
        if !sources.by_id.contains_key(source) {
            return Ok(());
        }
        let log = sources.logs.entry(*source).or_default();
        log.insert(record.id, record.clone());
        while log.len() > self.config.source_requests_max.max(1) {
            log.pop_first();
        }
        Ok(())
    }

    async fn requests(
        &self,
        source: &SourceId,
        query: &RequestQuery,
    ) -> Result<RequestPage, StoreError> {
        let sources = self.inbound();
        let Some(log) = sources.logs.get(source) else {
            return Ok(page_of([], query));
        };
        let before = query.before.unwrap_or(RequestId::MAX);
        let scanned = log
            .range(..before)
            .rev()
            .take(SCAN_MAX)
            .map(|(_, record)| record.clone());
        Ok(page_of(scanned, query))
    }

    async fn requests_between(
        &self,
        source: &SourceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let sources = self.inbound();
        Ok(sources
            .logs
            .get(source)
            .into_iter()
            .flat_map(BTreeMap::values)
            .filter(|r| r.received_at >= since && r.received_at < until)
            .cloned()
            .collect())
    }
}
