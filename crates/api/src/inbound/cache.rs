//! The sources this process found by ingest token lately, kept for [`KEEP`]: a provider
//! sending many requests is served without a store read for each. A change made through this
//! process drops the source at once; one made through another api process (an update, a
//! rotation, a deletion) reaches this one within [`KEEP`]. A token that opens nothing is not
//! remembered, so a source just created works at once everywhere.

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
    entries: Mutex<HashMap<String, (Instant, Arc<Source>)>>,
}

impl SourceCache {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Source>)>> {
        // Every change is a single insert, remove or clear: a panic cannot leave it half-done.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The source `token` opened less than [`KEEP`] ago.
    pub fn get(&self, token: &str) -> Option<Arc<Source>> {
        let entries = self.entries();
        let (found_at, source) = entries.get(token)?;
        (found_at.elapsed() < KEEP).then(|| Arc::clone(source))
    }

    /// Remembers `source`, just read from the store.
    pub fn put(&self, source: Arc<Source>) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(source.token.clone(), (Instant::now(), source));
    }

    /// Forgets the source of `token`: it changed or went.
    pub fn forget(&self, token: &str) {
        self.entries().remove(token);
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
        cache.put(Arc::clone(&kept));
        assert_eq!(cache.get(&kept.token).as_deref(), Some(&*kept));
        assert!(cache.get("another token").is_none());
        tokio::time::advance(KEEP).await;
        assert!(cache.get(&kept.token).is_none());
        cache.put(Arc::clone(&kept));
        cache.forget(&kept.token);
        assert!(cache.get(&kept.token).is_none());
    }
}
