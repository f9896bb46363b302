//! Revocation of what a key opened: the event streams and waiting long polls of a key (or of a
//! read token the key minted) end when the key is revoked, on every api process.
//!
//! Authentication alone cannot do it: a request is checked once, when it arrives, and a
//! stream or a long poll goes on long after. So whatever waits for a key first *watches* it
//! here ([`Revocations::watch`]), then checks the key still exists (a revocation that landed
//! between the request's authentication and the watch is seen by that read; one that lands
//! after it reaches the watch), and ends when the watch fires ([`KeyWatch::revoked`]).
//!
//! Watches fire on [`Signal::KeyRevoked`](herald_core::store::Signal::KeyRevoked), which
//! [`KeyStore::revoke_key`](herald_core::store::KeyStore::revoke_key) publishes on the signals every process already hears; the hub hands
//! it to [`Revocations::revoke`]. Signals are best effort, so when some may have been lost (the
//! hub resyncs) [`Revocations::recheck`] reads every watched key back from the store and fires
//! the watches of those gone.
//!
//! The registry holds one entry per watched key: its cancellation token and how many watches
//! hold it. The last watch to go removes the entry, so it holds nothing for keys nobody uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::StreamExt as _;
use herald_core::apikey::ApiKeyId;
use herald_core::store::SharedKeyStore;
use tokio_util::sync::CancellationToken;

use crate::http::caller::ActingKey;
use crate::http::error::ApiError;

/// How many keys a re-check reads from the store at once.
const RECHECK_CONCURRENCY: usize = 16;

/// The watched keys of this process. Cheap to clone; every clone is the same registry.
#[derive(Clone)]
pub struct Revocations {
    watched: Arc<Mutex<Watched>>,
    keys: SharedKeyStore,
}

#[derive(Default)]
struct Watched {
    by_key: HashMap<ApiKeyId, WatchedKey>,
    /// Numbers the entries, so that a watch outliving its entry (the key was revoked, and the
    /// entry removed) never counts itself out of a later entry of the same id.
    next_generation: u64,
}

struct WatchedKey {
    revoked: CancellationToken,
    holders: usize,
    generation: u64,
}

impl Revocations {
    pub fn new(keys: SharedKeyStore) -> Self {
        Self {
            watched: Arc::new(Mutex::new(Watched::default())),
            keys,
        }
    }

    /// Watches `key` (nothing, for a request that acts with no key: an open install), then
    /// checks it still exists.
    ///
    /// # Errors
    /// `401` with the key's refusal when it is gone already; store failures.
    pub async fn watch(&self, key: Option<ActingKey>) -> Result<KeyWatch, ApiError> {
        let Some(key) = key else {
            return Ok(KeyWatch::default());
        };
        let watch = self.hold(key);
        if let Some(held) = &watch.held
            && self.keys.key(&held.key.id).await?.is_none()
        {
            self.revoke(&held.key.id);
            return Err(watch.refusal());
        }
        Ok(watch)
    }

    fn hold(&self, key: ActingKey) -> KeyWatch {
        let mut watched = self.watched();
        let generation = watched.next_generation;
        let entry = watched
            .by_key
            .entry(key.id.clone())
            .or_insert_with(|| WatchedKey {
                revoked: CancellationToken::new(),
                holders: 0,
                generation,
            });
        entry.holders += 1;
        let (revoked, generation) = (entry.revoked.clone(), entry.generation);
        watched.next_generation += 1;
        KeyWatch {
            held: Some(Arc::new(Held {
                key,
                generation,
                revoked,
                watched: Arc::clone(&self.watched),
            })),
        }
    }

    /// Fires every watch of `key`.
    pub fn revoke(&self, key: &ApiKeyId) {
        if let Some(entry) = self.watched().by_key.remove(key) {
            tracing::info!(key_id = %key, "a revoked key's streams and long polls end");
            entry.revoked.cancel();
        }
    }

    /// Reads every watched key back from the store and fires the watches of those that are
    /// gone: what a lost revocation signal would have done. A key that cannot be read is left
    /// alone; answers whether every key was read, so the caller tries again soon when not.
    pub async fn recheck(&self) -> bool {
        let ids: Vec<ApiKeyId> = self.watched().by_key.keys().cloned().collect();
        let reads = futures_util::stream::iter(ids)
            .map(|id| async move {
                let exists = self.keys.key(&id).await.map(|key| key.is_some());
                (id, exists)
            })
            .buffer_unordered(RECHECK_CONCURRENCY);
        futures_util::pin_mut!(reads);
        let mut unread = 0;
        while let Some((id, exists)) = reads.next().await {
            match exists {
                Ok(true) => {}
                Ok(false) => self.revoke(&id),
                Err(error) => {
                    tracing::debug!(key_id = %id, %error, "a watched key could not be re-checked");
                    unread += 1;
                }
            }
        }
        if unread > 0 {
            tracing::warn!(
                unread,
                "watched keys could not be re-checked; trying again soon"
            );
        }
        unread == 0
    }

    /// How many keys are watched right now.
    pub fn watched_keys(&self) -> usize {
        self.watched().by_key.len()
    }

    fn watched(&self) -> MutexGuard<'_, Watched> {
        lock(&self.watched)
    }
}

/// Every critical section leaves the map consistent (no await, no call out), so a poisoned
/// lock is still usable.
fn lock(watched: &Mutex<Watched>) -> MutexGuard<'_, Watched> {
    watched.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A watch on the key a stream or long poll was opened with; the default one watches nothing
/// and never fires. Clones share the watch; the last one dropped lets go of the key.
#[derive(Clone, Default)]
pub struct KeyWatch {
    held: Option<Arc<Held>>,
}

struct Held {
    key: ActingKey,
    generation: u64,
    revoked: CancellationToken,
    watched: Arc<Mutex<Watched>>,
}

impl KeyWatch {
    /// Completes once the key is revoked; never without a key.
    pub async fn revoked(&self) {
        match &self.held {
            Some(held) => held.revoked.cancelled().await,
            None => std::future::pending().await,
        }
    }

    /// Whether the key has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.held
            .as_ref()
            .is_some_and(|held| held.revoked.is_cancelled())
    }

    /// The answer to a request that was waiting when the key was revoked: `401`, as the key
    /// (or its read token) now gets.
    pub fn refusal(&self) -> ApiError {
        ApiError::Unauthorized(
            self.held
                .as_ref()
                .map_or(crate::http::caller::INVALID, |held| held.key.refusal),
        )
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut watched = lock(&self.watched);
        if let Some(entry) = watched.by_key.get_mut(&self.key.id)
            && entry.generation == self.generation
        {
            entry.holders -= 1;
            if entry.holders == 0 {
                watched.by_key.remove(&self.key.id);
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use herald_core::StoreConfig;
    use herald_core::apikey::{ApiKey, PlainKey};
    use herald_core::store::memory::MemoryStore;

    use super::*;

    /// A key stored in `keys`, as a request acting with it names it.
    pub(crate) async fn stored_key(keys: &SharedKeyStore) -> ActingKey {
        let plain = PlainKey::generate();
        let tenant = herald_core::TenantId::default_tenant();
        let key = ApiKey::new(&plain, tenant, "test".into(), false, Utc::now());
        assert!(keys.create_key(&key).await.unwrap());
        ActingKey {
            id: plain.id().clone(),
            refusal: "revoked",
        }
    }

    async fn registry_with_key() -> (Revocations, SharedKeyStore, ActingKey) {
        let keys: SharedKeyStore = Arc::new(MemoryStore::new(StoreConfig::default()));
        let key = stored_key(&keys).await;
        (Revocations::new(Arc::clone(&keys)), keys, key)
    }

    async fn fires(watch: &KeyWatch) -> bool {
        tokio::time::timeout(Duration::from_secs(5), watch.revoked())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_revocation_fires_every_watch_of_its_key_and_frees_the_entry() {
        let (revocations, _, key) = registry_with_key().await;
        let first = revocations.watch(Some(key.clone())).await.unwrap();
        let second = revocations.watch(Some(key.clone())).await.unwrap();
        assert_eq!(revocations.watched_keys(), 1);
        assert!(!first.is_revoked());

        revocations.revoke(&key.id);

        assert!(fires(&first).await && fires(&second).await);
        assert_eq!(revocations.watched_keys(), 0);
        let refusal = first.refusal();
        assert!(
            matches!(refusal, ApiError::Unauthorized("revoked")),
            "{refusal:?}"
        );
    }

    #[tokio::test]
    async fn the_last_watch_to_go_lets_go_of_the_key() {
        let (revocations, _, key) = registry_with_key().await;
        let first = revocations.watch(Some(key.clone())).await.unwrap();
        let clone = first.clone();
        let second = revocations.watch(Some(key)).await.unwrap();
        drop(first);
        drop(second);
        assert_eq!(revocations.watched_keys(), 1, "a clone still holds it");
        drop(clone);
        assert_eq!(revocations.watched_keys(), 0);
    }

    #[tokio::test]
    async fn a_watch_of_a_key_already_gone_is_refused() {
        let (revocations, keys, key) = registry_with_key().await;
        keys.revoke_key(&key.id).await.unwrap();
        let refused = revocations.watch(Some(key)).await;
        assert!(matches!(refused, Err(ApiError::Unauthorized("revoked"))));
        assert_eq!(revocations.watched_keys(), 0);
    }

    #[tokio::test]
    async fn a_recheck_fires_the_watches_of_keys_gone_from_the_store_only() {
        let (revocations, keys, gone) = registry_with_key().await;
        let kept = stored_key(&keys).await;
        let gone_watch = revocations.watch(Some(gone.clone())).await.unwrap();
        let kept_watch = revocations.watch(Some(kept)).await.unwrap();
        // Deleted without the registry hearing of it: a revocation signal lost on the way.
        keys.revoke_key(&gone.id).await.unwrap();
        assert!(!gone_watch.is_revoked());

        revocations.recheck().await;

        assert!(gone_watch.is_revoked());
        assert!(!kept_watch.is_revoked());
        assert_eq!(revocations.watched_keys(), 1);
    }

    #[tokio::test]
    async fn a_watch_that_outlives_its_revoked_entry_leaves_a_new_one_alone() {
        let (revocations, _, key) = registry_with_key().await;
        let old = revocations.watch(Some(key.clone())).await.unwrap();
        revocations.revoke(&key.id);
        // The same id watched again (a key created again with a fixed id, say).
        let new = revocations.hold(key);
        drop(old);
        assert_eq!(revocations.watched_keys(), 1);
        assert!(!new.is_revoked());
    }

    #[tokio::test]
    async fn without_a_key_nothing_is_watched_and_nothing_fires() {
        let (revocations, _, _) = registry_with_key().await;
        let watch = revocations.watch(None).await.unwrap();
        assert_eq!(revocations.watched_keys(), 0);
        assert!(!watch.is_revoked());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), watch.revoked())
                .await
                .is_err()
        );
    }
}
