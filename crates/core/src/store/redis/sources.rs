//! [`SourceStore`] on Redis. A source is one hash (`source:<id>`: its JSON `doc`, `version`
//! and `token`); `source-token:<token>` holds the id its ingest token opens, and
//! `sources:<tenant>` the tenant's ids. Writes are scripts (`put_source.lua`,
//! `delete_source.lua`); the ingest path finds a source by token in one script call
//! (`source_by_token.lua`).
//!
//! A source's request log is a sorted set whose members all score 0 and read
//! `<request id> <record JSON>`: ordered by the request id (a UUIDv7, whose text sorts by the
//! millisecond it was received), so pages and time windows are ranges by `ZRANGEBYLEX`.
//! Concurrent records share one call (`record_requests.lua`, see `batch`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::batch::Item;
use super::{Partition, backend, to_json};
use crate::ids::{SourceId, TenantId};
use crate::inbound::source::MAX_SOURCES_PER_TENANT;
use crate::inbound::{RequestRecord, Source};
use crate::store::StoreError;
use crate::store::sources::{RequestPage, RequestQuery, SCAN_MAX, SourceStore, page_of};

/// How many log entries one read takes.
const CHUNK: usize = 200;

fn parse_source(doc: &[u8]) -> Result<Source, StoreError> {
    serde_json::from_slice(doc).map_err(|e| StoreError::Corrupt(format!("a source: {e}")))
}

/// A log member's record: what follows the id.
fn parse_record(member: &[u8]) -> Result<RequestRecord, StoreError> {
    let json = member
        .iter()
        .position(|&b| b == b' ')
        .map_or(member, |at| &member[at + 1..]);
    serde_json::from_slice(json)
        .map_err(|e| StoreError::Corrupt(format!("a request log entry: {e}")))
}

/// The start of the text of every request id generated in millisecond `ms` or later: the
/// 48-bit Unix milliseconds a UUIDv7's text begins with (`xxxxxxxx-xxxx`).
fn id_prefix(at: DateTime<Utc>) -> String {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    format!("{:08x}-{:04x}", ms >> 16, ms & 0xffff)
}

impl Partition {
    async fn put_source(&self, source: &Source, expected: u64) -> Result<i64, StoreError> {
        self.scripts
            .put_source
            .key(self.keys.source(&source.id))
            .key(self.keys.sources(&source.tenant))
            .key(format!(
                "{}{}",
                self.keys.source_token_prefix(),
                source.token
            ))
            .arg(expected)
            .arg(to_json(source)?)
            .arg(source.version)
            .arg(source.id.to_string())
            .arg(&source.token)
            .arg(MAX_SOURCES_PER_TENANT)
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("store a source"))
    }
}

#[async_trait]
impl SourceStore for Partition {
    async fn create_source(&self, source: &Source) -> Result<(), StoreError> {
        match self.put_source(source, 0).await? {
            1 => Ok(()),
            -1 => Err(StoreError::LimitReached(format!(
                "a tenant has at most {MAX_SOURCES_PER_TENANT} sources"
            ))),
            _ => Err(StoreError::Backend(format!(
                "source {} exists already",
                source.id
            ))),
        }
    }

    async fn source(&self, tenant: &TenantId, id: &SourceId) -> Result<Option<Source>, StoreError> {
        let doc: Option<Vec<u8>> = ::redis::cmd("HGET")
            .arg(self.keys.source(id))
            .arg("doc")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a source"))?;
        Ok(doc
            .map(|doc| parse_source(&doc))
            .transpose()?
            .filter(|s| &s.tenant == tenant))
    }

    async fn sources(&self, tenant: &TenantId) -> Result<Vec<Source>, StoreError> {
        let ids: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.keys.sources(tenant))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("list sources"))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.cmd("HGET")
                .arg(format!("{}{id}", self.keys.source_prefix()))
                .arg("doc");
        }
        let docs: Vec<Option<Vec<u8>>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("list sources"))?;
        let mut listed = docs
            .iter()
            .flatten()
            .map(|doc| parse_source(doc))
            .collect::<Result<Vec<_>, _>>()?;
        listed.retain(|s| &s.tenant == tenant);
        listed.sort_by_key(|s| s.id);
        Ok(listed)
    }

    async fn source_by_token(&self, token: &str) -> Result<Option<Source>, StoreError> {
        let doc: Option<Vec<u8>> = self
            .scripts
            .source_by_token
            .key(format!("{}{token}", self.keys.source_token_prefix()))
            .arg(self.keys.source_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("find a source by its token"))?;
        doc.map(|doc| parse_source(&doc)).transpose()
    }

    async fn update_source(&self, source: &Source) -> Result<bool, StoreError> {
        let expected = source.version.saturating_sub(1).max(1);
        Ok(self.put_source(source, expected).await? == 1)
    }

    async fn delete_source(&self, tenant: &TenantId, id: &SourceId) -> Result<bool, StoreError> {
        if self.source(tenant, id).await?.is_none() {
            return Ok(false);
        }
        let deleted: i64 = self
            .scripts
            .delete_source
            .key(self.keys.source(id))
            .key(self.keys.sources(tenant))
            .key(self.keys.source_requests(id))
            .arg(self.keys.source_token_prefix())
            .arg(id.to_string())
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("delete a source"))?;
        Ok(deleted == 1)
    }

    async fn record_request(
        &self,
        source: &SourceId,
        record: &RequestRecord,
    ) -> Result<(), StoreError> {
        let mut item = Item::default();
        item.key(self.keys.source(source))
            .key(self.keys.source_requests(source))
            .arg(format!("{} {}", record.id, to_json(record)?));
        self.batchers.requests.call(item).await.map(drop)
    }

    async fn requests(
        &self,
        source: &SourceId,
        query: &RequestQuery,
    ) -> Result<RequestPage, StoreError> {
        let log = self.keys.source_requests(source);
        let mut upper = query
            .before
            .map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let mut scanned = Vec::new();
        let mut matching = 0;
        while scanned.len() < SCAN_MAX && matching <= query.limit {
            let members: Vec<Vec<u8>> = ::redis::cmd("ZREVRANGEBYLEX")
                .arg(&log)
                .arg(&upper)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(CHUNK)
                .query_async(&mut self.conn())
                .await
                .map_err(backend("read a request log"))?;
            let Some(last) = members.last() else {
                break;
            };
            let last = parse_record(last)?;
            upper = format!("({}", last.id);
            let read = members.len();
            for member in &members {
                let record = parse_record(member)?;
                if query
                    .outcome
                    .is_none_or(|outcome| outcome == record.outcome)
                {
                    matching += 1;
                }
                scanned.push(record);
            }
            if read < CHUNK {
                break;
            }
        }
        Ok(page_of(scanned, query))
    }

    async fn requests_between(
        &self,
        source: &SourceId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let members: Vec<Vec<u8>> = ::redis::cmd("ZRANGEBYLEX")
            .arg(self.keys.source_requests(source))
            .arg(format!("[{}", id_prefix(since)))
            .arg(format!("({}", id_prefix(until)))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a request log"))?;
        let mut records = members
            .iter()
            .map(|member| parse_record(member))
            .collect::<Result<Vec<_>, _>>()?;
        // The id's millisecond and the recorded time may differ by a clock tick.
        records.retain(|r| r.received_at >= since && r.received_at < until);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::RequestId;

    #[test]
    fn a_request_ids_text_starts_with_its_milliseconds() {
        let id = RequestId::generate();
        let now = Utc::now();
        let before = id_prefix(now - chrono::TimeDelta::seconds(1));
        let after = id_prefix(now + chrono::TimeDelta::seconds(1));
        let text = id.to_string();
        assert!(before.as_str() <= text.as_str() && text.as_str() < after.as_str());
        assert_eq!(id_prefix(now).len(), 13);
    }
}
