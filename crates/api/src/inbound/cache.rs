//! The sources this process found by ingest token lately, kept for [`KEEP`]: a provider
//! sending many requests is served without a store read for each. A change made through this
//! process drops the source at once (and a read that started before the change is not kept);
//! one made through another api process (an update, a rotation, a deletion) reaches this one
//! within [`KEEP`]. A token that opens nothing is not remembered, so a source just created
//! works at once everywhere.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use herald_core::inbound::Source;
use tokio::time::Instant;

/// How long a source found is used without reading it again.
pub const KEEP: Duration = Duration::from_secs(1);

/// The most sources kept; past it, the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Sources by ingest token (see the module).
#[derive(Default)]
pub struct SourceCache {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    found: HashMap<String, (Instant, Arc<Source>)>,
    /// When each token's source last changed through this process: a read that started
    /// before is stale. Entries older than [`KEEP`] are dropped when it fills up.
    changed: HashMap<String, Instant>,
}

impl SourceCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        // Every change is a few inserts, removes or clears: a panic leaves at worst a source
        // read again.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The time a read starts at, to hand to [`SourceCache::put`].
    pub fn now(&self) -> Instant {
        Instant::now()
    }

    /// The source `token` opened less than [`KEEP`] ago.
    pub fn get(&self, token: &str) -> Option<Arc<Source>> {
        let entries = self.entries();
        let (found_at, source) = entries.found.get(token)?;
        (found_at.elapsed() < KEEP).then(|| Arc::clone(source))
    }

    /// Remembers `source`, read from the store by a read that started at `read_at`, unless
    /// it changed through this process since.
    pub fn put(&self, source: Arc<Source>, read_at: Instant) {
        let mut entries = self.entries();
        if entries
            .changed
            .get(&source.token)
            .is_some_and(|changed| *changed >= read_at)
        {
            return;
        }
        if entries.found.len() >= MAX_ENTRIES {
            entries.found.clear();
        }
        entries
            .found
            .insert(source.token.clone(), (read_at, source));
    }

    /// Forgets the source of `token`: it changed or went.
    pub fn forget(&self, token: &str) {
        let mut entries = self.entries();
        let now = Instant::now();
        entries.found.remove(token);
        if entries.changed.len() >= MAX_ENTRIES {
            entries
                .changed
                .retain(|_, at| now.duration_since(*at) < KEEP);
        }
        entries.changed.insert(token.to_owned(), now);
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use herald_core::TenantId;

    use super::*;

    fn source() -> Arc<Source> {
        let request = serde_json::from_value(serde_json::json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "github"},
        }))
        .unwrap();
        Arc::new(Source::create(TenantId::default_tenant(), request, Utc::now()).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_is_kept_for_a_moment_and_forgotten_on_a_change() {
        let cache = SourceCache::default();
        let kept = source();
        cache.put(Arc::clone(&kept), cache.now());
        assert_eq!(cache.get(&kept.token).as_deref(), Some(&*kept));
        assert!(cache.get("another token").is_none());
        tokio::time::advance(KEEP).await;
        assert!(cache.get(&kept.token).is_none());
        cache.put(Arc::clone(&kept), cache.now());
        cache.forget(&kept.token);
        assert!(cache.get(&kept.token).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_started_before_a_change_is_not_kept() {
        let cache = SourceCache::default();
        let stale = source();
        let read_at = cache.now();
        tokio::time::advance(Duration::from_millis(1)).await;
        cache.forget(&stale.token);
        cache.put(Arc::clone(&stale), read_at);
        assert!(cache.get(&stale.token).is_none());
        tokio::time::advance(Duration::from_millis(1)).await;
        cache.put(Arc::clone(&stale), cache.now());
        assert!(cache.get(&stale.token).is_some());
    }
}
