//! What every handler and middleware shares: [`AppState`], built once per server by
//! [`crate::startup`] and handed to actix as `web::Data`. It holds the components themselves
//! (stores, hub, limiters, external-worker claims) and lends short-lived views of them to the
//! domain code (`poller`, `webhooks`, `workers`, `stream_context`), so those modules never need
//! the state itself.

use std::sync::Arc;

use herald_core::SharedStore;
use herald_core::store::{SharedKeyStore, SharedSourceStore, SharedWebhookStore};
use prometheus_client::registry::Registry;

use crate::ApiConfig;
use crate::external::{ExternalWorkers, Workers};
use crate::http::limits::{FailureLimiter, KeysExist, RateLimiter, Slots, UnknownKeys};
use crate::http::metrics::ApiMetrics;
use crate::inbound::Inbound;
use crate::inbound::cache::SourceCache;
use crate::transport::hub::Hub;
use crate::transport::poll::Poller;
use crate::transport::sse::StreamContext;
use crate::webhooks::Webhooks;

/// What every handler shares.
pub(crate) struct AppState {
    pub store: SharedStore,
    pub webhooks: SharedWebhookStore,
    pub keys: SharedKeyStore,
    pub sources: SharedSourceStore,
    /// Sources found by ingest token lately.
    pub source_cache: SourceCache,
    pub config: ApiConfig,
    pub hub: Hub,
    pub metrics: ApiMetrics,
    pub registry: Arc<Registry>,
    /// The external workers' claims and this process's name in their queues.
    pub external: ExternalWorkers,
    /// Per-caller request buckets ([`crate::http::limits`]).
    pub rate_limiter: RateLimiter,
    /// Failed authentications per client address.
    pub auth_failures: FailureLimiter,
    /// Key ids recently found unknown, not looked up again for a while.
    pub unknown_keys: UnknownKeys,
    /// Whether keys were found to exist recently, not counted again for a while.
    pub keys_exist: KeysExist,
    /// Open event streams per caller.
    pub streams: Slots,
    /// Waiting long polls per caller.
    pub waiters: Slots,
}

impl AppState {
    pub fn poller(&self) -> Poller<'_> {
        Poller {
            store: &self.store,
            hub: &self.hub,
            metrics: &self.metrics,
        }
    }

    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks {
            store: &self.store,
            webhooks: &self.webhooks,
            allow_private_targets: self.config.allow_private_targets,
        }
    }

    pub fn workers(&self) -> Workers<'_> {
        Workers {
            store: &self.store,
            job_types: &self.config.job_types,
            metrics: &self.metrics,
            gate: &self.external,
            revocations: self.hub.revocations(),
        }
    }

    pub fn inbound(&self) -> Inbound<'_> {
        Inbound {
            store: &self.store,
            sources: &*self.sources,
            cache: &self.source_cache,
            job_types: &self.config.job_types,
            limits: &self.config.limits,
            metrics: &self.metrics,
            require_keys: self.config.require_keys,
        }
    }

    pub fn stream_context(&self) -> StreamContext {
        StreamContext {
            store: SharedStore::clone(&self.store),
            hub: self.hub.clone(),
            metrics: self.metrics.clone(),
        }
    }
}
