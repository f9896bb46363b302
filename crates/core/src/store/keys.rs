//! The API key side of the store: the keys clients authenticate with, by id.
//!
//! A key is stored by its public id with its tenant, name, admin flag and the digest of its
//! secret (see [`crate::apikey`]); never the key. Revoking deletes the record, so the very
//! next request that presents the key, on any api process, is refused: the api reads the
//! store on every request (one lookup by id) and never caches a key it found (only, for a few
//! seconds, that an id was not there). Revoking also announces the key on the store's signals,
//! so every process ends the streams and long polls the key opened.

use std::sync::Arc;

use async_trait::async_trait;

use crate::apikey::{ApiKey, ApiKeyId, PlainKey};
use crate::ids::TenantId;
use crate::store::StoreError;

/// A key store shared by every role of a process.
pub type SharedKeyStore = Arc<dyn KeyStore>;

/// API keys by id.
///
/// # Errors
/// Every method answers [`StoreError::Unavailable`] when the backend cannot be reached and
/// [`StoreError::Backend`] when it fails otherwise.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key; `false` (writing nothing) when a key with its id exists already.
    async fn create_key(&self, key: &ApiKey) -> Result<bool, StoreError>;

    /// The key with this id, or `None` (never created, or revoked).
    async fn key(&self, id: &ApiKeyId) -> Result<Option<ApiKey>, StoreError>;

    /// Every key, or only the tenant's, oldest first.
    async fn keys(&self, tenant: Option<&TenantId>) -> Result<Vec<ApiKey>, StoreError>;

    /// Revokes (deletes) the key and, when there was one, announces it to every process
    /// ([`Signal::KeyRevoked`](crate::store::Signal::KeyRevoked), in the same atomic write)
    /// so that what it opened ends; `false` when there was none.
    async fn revoke_key(&self, id: &ApiKeyId) -> Result<bool, StoreError>;

    /// Whether any key exists.
    async fn has_keys(&self) -> Result<bool, StoreError>;
}

/// The stored key that `key` is, or `None` when no key has its id or its secret is not the
/// stored one's (both answer alike, so a caller learns nothing about which ids exist).
///
/// # Errors
/// [`StoreError::Unavailable`], [`StoreError::Backend`].
pub async fn verify(store: &dyn KeyStore, key: &PlainKey) -> Result<Option<ApiKey>, StoreError> {
    Ok(store
        .key(key.id())
        .await?
        .filter(|stored| stored.verifies(key)))
}

/// Sorts keys oldest first (by id for keys created in the same instant), as listings answer.
pub(crate) fn sort_oldest_first(keys: &mut [ApiKey]) {
    keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
}
