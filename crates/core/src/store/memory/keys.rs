//! The memory backend's API keys: a map by id under a mutex of its own (keys are read on
//! every request and never written together with a job). A revocation is announced on the
//! store's own signals, the ones every listener of the process shares.

use async_trait::async_trait;

use super::MemoryStore;
use crate::apikey::{ApiKey, ApiKeyId};
use crate::ids::TenantId;
use crate::store::keys::{KeyStore, sort_oldest_first};
use crate::store::{Signal, StoreError};

#[async_trait]
impl KeyStore for MemoryStore {
    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError> {
        let mut keys = self.api_keys();
        if keys.contains_key(&key.id) {
            return Ok(false);
        }
        keys.insert(key.id.clone(), key.clone());
        Ok(true)
    }

    async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError> {
        Ok(self.api_keys().get(id).cloned())
    }

    async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError> {
        let mut keys: Vec<ApiKey> = self
            .api_keys()
            .values()
            .filter(|key| tenant.is_none_or(|tenant| &key.tenant == tenant))
            .cloned()
            .collect();
        sort_oldest_first(&mut keys);
        Ok(keys)
    }

    async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError> {
        let revoked = self.api_keys().remove(id).is_some();
        if revoked {
            // Nobody listening is fine: the key is gone from the map either way.
            self.signals.send(Signal::KeyRevoked(id.clone()));
        }
        Ok(revoked)
    }

    async fn has_keys(&self) -> Result<bool, StoreError> {
        Ok(!self.api_keys().is_empty())
    }
}
