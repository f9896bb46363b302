//! A short memory of what the store said about keys: ids it did not hold, and that it held
//! any, so that repeating them costs no store read each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use herald_core::apikey::ApiKeyId;
use tokio::time::Instant;

use super::lock;

/// How long a key id the store did not hold is remembered as unknown.
const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(5);

/// The most unknown key ids remembered at once.
const MAX_UNKNOWN_KEYS: usize = 10_000;

/// Key ids the store did not hold (never created, or revoked), each remembered for
/// [`UNKNOWN_KEY_TTL`]: a client that repeats one is refused without a store read each time.
///
/// Only absence is remembered, never a key found, so a revocation still takes effect on the
/// very next request. The one cost: a key tried before it was created (only possible for an
/// id known in advance, like a bootstrap key registered by another process) is refused for up
/// to [`UNKNOWN_KEY_TTL`] after it appears. At most [`MAX_UNKNOWN_KEYS`] ids: when full, the
/// expired ones go, and if none has expired, all of them (a flood of distinct ids then costs
/// what it would without this memory, and the memory stays bounded).
#[derive(Debug, Default)]
pub(crate) struct UnknownKeys {
    seen: Mutex<HashMap<ApiKeyId, Instant>>,
}

impl UnknownKeys {
    /// Whether `id` was found unknown less than the memory's lifetime before `now`.
    pub(crate) fn contains(&self, id: &ApiKeyId, now: Instant) -> bool {
        let mut seen = lock(&self.seen);
        match seen.get(id) {
            Some(&since) if now.saturating_duration_since(since) < UNKNOWN_KEY_TTL => true,
            Some(_) => {
                seen.remove(id);
                false
            }
            None => false,
        }
    }

    /// Remembers that the store did not hold `id` at `now`.
    pub(crate) fn insert(&self, id: &ApiKeyId, now: Instant) {
        let mut seen = lock(&self.seen);
        if seen.len() >= MAX_UNKNOWN_KEYS && !seen.contains_key(id) {
            seen.retain(|_, since| now.saturating_duration_since(*since) < UNKNOWN_KEY_TTL);
            if seen.len() >= MAX_UNKNOWN_KEYS {
                seen.clear();
            }
        }
        seen.insert(id.clone(), now);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.seen).len()
    }
}

/// That the store held keys, remembered for [`UNKNOWN_KEY_TTL`]: while it is, a request
/// without a key on a development install (open only while no key exists) is refused without
/// counting the keys each time. Only the closed state is remembered: the first key closes the
/// install at once; revoking the last one opens it again within that delay.
#[derive(Debug, Default)]
pub(crate) struct KeysExist {
    seen: Mutex<Option<Instant>>,
}

impl KeysExist {
    /// Whether keys were seen less than the memory's lifetime before `now`.
    pub(crate) fn known(&self, now: Instant) -> bool {
        lock(&self.seen).is_some_and(|since| now.saturating_duration_since(since) < UNKNOWN_KEY_TTL)
    }

    /// Remembers that the store held keys at `now`.
    pub(crate) fn remember(&self, now: Instant) {
        *lock(&self.seen) = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unknown_key_ids_are_remembered_for_a_while_and_the_memory_is_bounded() {
        let unknown = UnknownKeys::default();
        let id = ApiKeyId::generate();
        assert!(!unknown.contains(&id, Instant::now()));
        unknown.insert(&id, Instant::now());
        assert!(unknown.contains(&id, Instant::now()));
        assert!(!unknown.contains(&ApiKeyId::generate(), Instant::now()));
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        assert!(!unknown.contains(&id, Instant::now()), "forgotten in time");
        assert_eq!(unknown.len(), 0);

        // Full, with expired ids among them: those go.
        for _ in 0..MAX_UNKNOWN_KEYS - 1 {
            unknown.insert(&ApiKeyId::generate(), Instant::now());
        }
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        let recent = ApiKeyId::generate();
        unknown.insert(&recent, Instant::now());
        assert_eq!(unknown.len(), MAX_UNKNOWN_KEYS);
        let fresh = ApiKeyId::generate();
        unknown.insert(&fresh, Instant::now());
        assert_eq!(unknown.len(), 2);
        assert!(unknown.contains(&recent, Instant::now()));
        // Full of ids all still remembered: they all go, rather than the memory growing.
        for _ in 0..MAX_UNKNOWN_KEYS - 2 {
            unknown.insert(&ApiKeyId::generate(), Instant::now());
        }
        assert_eq!(unknown.len(), MAX_UNKNOWN_KEYS);
        unknown.insert(&ApiKeyId::generate(), Instant::now());
        assert_eq!(unknown.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn that_keys_exist_is_remembered_for_a_while() {
        let keys = KeysExist::default();
        assert!(!keys.known(Instant::now()));
        keys.remember(Instant::now());
        assert!(keys.known(Instant::now()));
        tokio::time::advance(UNKNOWN_KEY_TTL).await;
        assert!(!keys.known(Instant::now()));
    }
}
