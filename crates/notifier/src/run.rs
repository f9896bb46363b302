//! The notifier role: [`run`] expands outbox events into deliveries and sends them until the
//! shutdown token is cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::Utc;
use herald_core::SubscriptionId;
use herald_core::store::SharedWebhookStore;
use herald_core::store::webhooks::DueDelivery;
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::NotifierConfig;
use crate::endpoints::Endpoints;
use crate::metrics::NotifierMetrics;
use crate::send::{BuildError, Sender, SenderConfig};
use crate::sign::SigningKeys;
use crate::{deliver, expand};

/// How often the queue metrics are refreshed from the store.
const STATS_INTERVAL: Duration = Duration::from_secs(5);

/// Everything the notifier needs from the process that runs it.
#[derive(Clone)]
pub struct NotifierDeps {
    pub store: SharedWebhookStore,
    pub config: NotifierConfig,
    /// Registered in the process's registry by [`NotifierMetrics::register`].
    pub metrics: NotifierMetrics,
}

/// What the expander, the sender and every attempt share.
pub(crate) struct Context {
    pub store: SharedWebhookStore,
    pub config: NotifierConfig,
    pub metrics: NotifierMetrics,
    pub sender: Sender,
    /// Each endpoint's slots, and the deliveries (with their permits) queued for them.
    pub endpoints: Arc<Endpoints<(DueDelivery, OwnedSemaphorePermit)>>,
    /// This process's name in the outbox's consumer group.
    pub consumer: String,
    /// Woken when this process expanded deliveries, which are due at once.
    pub due: Notify,
    /// Subscriptions whose latest attempt here succeeded, and when that was recorded.
    pub healthy: HealthMemo,
    /// The subscriptions' secrets, prepared for signing.
    pub keys: SigningKeys,
}

/// How long a recorded success stands for the ones after it.
const HEALTH_MEMO: Duration = Duration::from_secs(1);

/// Which subscriptions this process recorded a success for lately, so that a stream of
/// successes costs one store call a second rather than one per delivery. Bounded by the
/// number of subscriptions (entries go on the next failure, or are overwritten).
#[derive(Default)]
pub(crate) struct HealthMemo(Mutex<HashMap<SubscriptionId, Instant>>);

impl HealthMemo {
    /// Whether a success should be recorded now (none was in the last [`HEALTH_MEMO`]); if
    /// so, remembers it.
    pub fn note_success(&self, id: SubscriptionId) -> bool {
        let now = Instant::now();
        let mut recorded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match recorded.get(&id) {
            Some(at) if now.duration_since(*at) < HEALTH_MEMO => false,
            _ => {
                recorded.insert(id, now);
                true
            }
        }
    }

    /// Forgets a subscription's success: its next one must be recorded.
    pub fn forget(&self, id: SubscriptionId) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
    }
}

/// Runs the notifier until `shutdown` is cancelled; attempts in flight then get up to one
/// attempt timeout to finish.
///
/// # Errors
/// When the HTTP client cannot be built.
pub async fn run(deps: NotifierDeps, shutdown: CancellationToken) -> Result<(), BuildError> {
    let NotifierDeps {
        store,
        config,
        metrics,
    } = deps;
    let sender = Sender::new(SenderConfig {
        timeout: config.timeout,
        allow_private: config.allow_private_targets,
        // As many idle connections per host as attempts to one endpoint may run at once: fewer,
        // and a busy endpoint's connections are closed and opened again all the time.
        pool_max_idle_per_host: config.endpoint_concurrency,
        ..SenderConfig::default()
    })?;
    let consumer = format!("notifier-{}", uuid::Uuid::now_v7().simple());
    info!(
        consumer,
        retry_schedule = %config.retry_schedule,
        timeout = ?config.timeout,
        allow_private_targets = config.allow_private_targets,
        "notifier started"
    );
    let ctx = Arc::new(Context {
        endpoints: Endpoints::new(config.endpoint_concurrency, config.timeout),
        store,
        config,
        metrics,
        sender,
        consumer,
        due: Notify::new(),
        healthy: HealthMemo::default(),
        keys: SigningKeys::default(),
    });
    tokio::join!(
        expand::expand_until(Arc::clone(&ctx), shutdown.clone()),
        deliver::deliver_until(Arc::clone(&ctx), shutdown.clone()),
        watch_queue(&ctx, &shutdown),
    );
    info!("notifier stopped");
    Ok(())
}

/// Keeps the queue metrics current.
async fn watch_queue(ctx: &Context, shutdown: &CancellationToken) {
    loop {
        match ctx.store.delivery_stats().await {
            Ok(stats) => {
                let overdue = stats
                    .oldest_due
                    .and_then(|due| (Utc::now() - due).to_std().ok())
                    .unwrap_or_default();
                ctx.metrics.queue(stats.scheduled, overdue);
            }
            Err(e) => warn!(error = %e, "reading the webhook delivery queue failed"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(STATS_INTERVAL) => {}
        }
    }
}
