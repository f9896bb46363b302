//! [`KeyStore`] on Redis: one hash per key (`apikey:{<id>}`, field `doc`) and the set of
//! every key's id (`apikeys`). Authenticating a request is one `HGET`; creating writes both
//! keys in one `MULTI`; revoking deletes both and announces the revocation on the signals
//! channel in one script (`revoke_key.lua`).

use async_trait::async_trait;

use super::{Partition, backend, signals, to_json};
use crate::apikey::{ApiKey, ApiKeyId};
use crate::ids::TenantId;
use crate::store::StoreError;
use crate::store::keys::{KeyStore, sort_oldest_first};

fn parse_key(id: &str, doc: &[u8]) -> Result<ApiKey, StoreError> {
    serde_json::from_slice(doc).map_err(|e| StoreError::Corrupt(format!("API key {id}: {e}")))
}

#[async_trait]
impl KeyStore for Partition {
    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        // HSETNX refuses an id in use; adding that id to the set again changes nothing.
        let (created, _): (bool, i64) = ::redis::pipe()
            .atomic()
            .cmd("HSETNX")
            .arg(self.keys.api_key(&key.id))
            .arg("doc")
            .arg(to_json(key)?)
            .cmd("SADD")
            .arg(self.keys.api_keys())
            .arg(key.id.as_str())
            .query_async(&mut self.acked())
            .await
            .map_err(backend("store an API key"))?;
        Ok(created)
    }

    async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        let doc: Option<Vec<u8>> = ::redis::cmd("HGET")
            .arg(self.keys.api_key(id))
            .arg("doc")
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read an API key"))?;
        doc.map(|doc| parse_key(id.as_str(), &doc)).transpose()
    }

    async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        let ids: Vec<String> = ::redis::cmd("SMEMBERS")
            .arg(self.keys.api_keys())
            .query_async(&mut self.conn())
            .await
            .map_err(backend("list API keys"))?;
        let mut keys = Vec::with_capacity(ids.len());
        // A set member is always a valid id (only `create_key` adds them); skip anything else.
        let ids: Vec<ApiKeyId> = ids
            .iter()
            .filter_map(|id| ApiKeyId::parse(id).ok())
            .collect();
        if ids.is_empty() {
            return Ok(keys);
        }
        let mut pipe = ::redis::pipe();
        for id in &ids {
            pipe.cmd("HGET").arg(self.keys.api_key(id)).arg("doc");
        }
        let docs: Vec<Option<Vec<u8>>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read API keys"))?;
        for (id, doc) in ids.iter().zip(docs) {
            // A key revoked between the two reads is simply not listed.
            if let Some(doc) = doc {
                keys.push(parse_key(id.as_str(), &doc)?);
            }
        }
        keys.retain(|key| tenant.is_none_or(|tenant| &key.tenant == tenant));
        sort_oldest_first(&mut keys);
        Ok(keys)
    }

    async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
        let revoked: i64 = self
            .scripts
            .revoke_key
            .key(self.keys.api_key(id))
            .key(self.keys.api_keys())
            .arg(id.as_str())
            .arg(self.keys.signals())
            .arg(signals::revoked_envelope(id)?)
            .invoke_async(&mut self.acked())
            .await
            .map_err(backend("revoke an API key"))?;
        Ok(revoked == 1)
    }

    async fn has_keys(&self) -> Result<bool, StoreError> {
        let count: u64 = ::redis::cmd("SCARD")
            .arg(self.keys.api_keys())
            .query_async(&mut self.conn())
            .await
            .map_err(backend("count API keys"))?;
        Ok(count > 0)
    }
}
