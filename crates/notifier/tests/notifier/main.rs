//! The notifier role run in-process against a real receiver on loopback, on both backends:
//! the behaviours that need its settings rather than the binary's flags (a subscription
//! disabled after failing for longer than `disable_after`) and its metrics. The end-to-end
//! suite (`tests/e2e/webhooks.rs`) covers the rest on real processes.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::RedisStore;
use herald_core::store::{SharedWebhookStore, WebhookStore};
use herald_core::webhook::{DeliveryState, JobHook, Subscription, SubscriptionRequest};
use herald_core::{
    DeliveryId, JobType, JobTypes, NewJob, SharedStore, StoreConfig, SubscriptionId, TenantId,
    TypePolicy, WorkerId,
};
use herald_notifier::{NotifierConfig, NotifierDeps, NotifierMetrics};
use herald_testkit::{Receiver, RedisServer, Script, eventually};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(30);

struct Harness {
    store: SharedStore,
    hooks: SharedWebhookStore,
    registry: Registry,
    _redis: Option<RedisServer>,
}

impl Harness {
    /// Starts the notifier role with `config` on the harness's stores, its metrics in the
    /// harness's registry.
    fn run_notifier(&mut self, config: NotifierConfig) -> Notifier {
        let metrics = NotifierMetrics::register(&mut self.registry);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(herald_notifier::run(
            NotifierDeps {
                store: Arc::clone(&self.hooks),
                config,
                metrics,
            },
            shutdown.clone(),
        ));
        Notifier { shutdown, task }
    }
}

/// A running notifier role.
struct Notifier {
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), herald_notifier::send::BuildError>>,
}

impl Notifier {
    /// Tells it to stop and checks it does, cleanly.
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the notifier stops when told")
            .unwrap()
            .unwrap();
    }
}

async fn memory() -> Harness {
    memory_with(StoreConfig::default()).await
}

async fn memory_with(config: StoreConfig) -> Harness {
    let store = Arc::new(MemoryStore::new(config));
    Harness {
        store: store.clone(),
        hooks: store,
        registry: Registry::default(),
        _redis: None,
    }
}

async fn redis() -> Harness {
    redis_with(StoreConfig::default()).await
}

async fn redis_with(config: StoreConfig) -> Harness {
    let redis = RedisServer::start();
    let store = Arc::new(
        RedisStore::connect(redis.url(), redis.prefix(), config)
            .await
            .expect("connect to the test's Redis"),
    );
    Harness {
        store: store.clone(),
        hooks: store,
        registry: Registry::default(),
        _redis: Some(redis),
    }
}

fn new_job(tenant: &TenantId) -> NewJob {
    NewJob {
        tenant: tenant.clone(),
        job_type: JobType::parse("demo.sleep").unwrap(),
        payload: serde_json::json!({}),
        timeout: Duration::from_secs(60),
        max_attempts: 1,
        metadata: Default::default(),
        idempotency_key: None,
        webhook: None,
    }
}

async fn subscribe(hooks: &dyn WebhookStore, url: String) -> SubscriptionId {
    let request = SubscriptionRequest {
        url: Some(url),
        events: Some(vec!["job.pending".to_owned()]),
        ..Default::default()
    };
    let sub = Subscription::create(TenantId::default_tenant(), request, Utc::now()).unwrap();
    assert!(hooks.put_subscription(&sub, None).await.unwrap());
    sub.id
}

async fn a_subscription_failing_for_longer_than_the_limit_is_disabled(mut h: Harness) {
    let receiver = Receiver::start().await;
    receiver.respond("/down", Script::status(500));
    let id = subscribe(h.hooks.as_ref(), receiver.url("/down")).await;
    let config = NotifierConfig {
        retry_schedule: "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms"
            .parse()
            .unwrap(),
        timeout: Duration::from_secs(5),
        allow_private_targets: true,
        disable_after: Duration::from_secs(1),
        ..NotifierConfig::default()
    };
    let notifier = h.run_notifier(config);
    let tenant = TenantId::default_tenant();
    h.store.create(new_job(&tenant)).await.unwrap();

    let disabled = eventually(
        "the failing subscription to be disabled",
        PATIENCE,
        || async {
            let sub = h.hooks.subscription(&tenant, &id).await.unwrap().unwrap();
            (!sub.enabled).then_some(sub)
        },
    )
    .await;
    let reason = disabled.disabled_reason.unwrap_or_default();
    assert!(reason.contains("failed for 1s"), "{reason}");
    assert!(
        receiver.requests_to("/down").len() >= 2,
        "it was disabled after failing attempts, not before"
    );

    let mut text = String::new();
    encode(&mut text, &h.registry).unwrap();
    assert!(
        text.contains(r#"notifier_deliveries_total{outcome="retrying"}"#),
        "{text}"
    );
    assert!(
        text.contains("notifier_attempt_duration_seconds_count"),
        "{text}"
    );

    notifier.stop().await;
}

#[tokio::test]
async fn on_memory_a_subscription_failing_for_longer_than_the_limit_is_disabled() {
    a_subscription_failing_for_longer_than_the_limit_is_disabled(memory().await).await;
}

#[tokio::test]
async fn on_redis_a_subscription_failing_for_longer_than_the_limit_is_disabled() {
    a_subscription_failing_for_longer_than_the_limit_is_disabled(redis().await).await;
}

/// Finished `demo.sleep` jobs kept for 300 ms only.
fn short_lived_jobs() -> StoreConfig {
    let mut job_types = JobTypes::new();
    job_types.insert(
        JobType::parse("demo.sleep").unwrap(),
        TypePolicy {
            retention: Some(Duration::from_millis(300)),
            ..TypePolicy::default()
        },
    );
    StoreConfig {
        job_types,
        ..StoreConfig::default()
    }
}

async fn a_jobs_webhook_is_signed_with_its_secret_while_the_job_lives_and_dies_with_it(
    mut h: Harness,
) {
    let receiver = Receiver::start().await;
    receiver.respond("/hook", Script::status(500));
    let config = NotifierConfig {
        // Long enough for the job to expire before the second attempt.
        retry_schedule: "2s,2s".parse().unwrap(),
        timeout: Duration::from_secs(5),
        allow_private_targets: true,
        ..NotifierConfig::default()
    };
    let notifier = h.run_notifier(config);
    let tenant = TenantId::default_tenant();
    let mut new = new_job(&tenant);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    new.webhook = Some(
        JobHook::parse(serde_json::json!({"url": receiver.url("/hook"), "secret": secret}))
            .unwrap(),
    );
    let kind = new.job_type.clone();
    let job = h.store.create(new).await.unwrap().job;
    let worker = WorkerId::generate();
    let mut claimed = h
        .store
        .claim(&worker, std::slice::from_ref(&kind), 1, PATIENCE)
        .await
        .unwrap();
    h.store
        .complete(claimed.remove(0).lease, None)
        .await
        .unwrap();

    // Signed with the secret read from the job.
    let first = receiver.wait_for_to("/hook", 1, PATIENCE).await.remove(0);
    let id = first.header("webhook-id").unwrap().to_owned();
    let timestamp: i64 = first.header("webhook-timestamp").unwrap().parse().unwrap();
    let key = herald_notifier::sign::decode_secret(secret);
    let signature = first.header("webhook-signature").unwrap();
    assert!(herald_notifier::sign::verify(
        &key,
        &id,
        timestamp,
        &first.body,
        signature
    ));
    let body: serde_json::Value = first.json();
    assert_eq!(body["data"]["id"], job.id.to_string());

    // The job expires before the next attempt: the delivery dies, saying why, unsent.
    let delivery_id = DeliveryId::parse(&id).unwrap();
    let dead = eventually("the delivery to die", PATIENCE, || async {
        // Maintenance is what sweeps the memory backend's expired jobs.
        h.store
            .maintain(&worker, std::slice::from_ref(&kind))
            .await
            .unwrap();
        let delivery = h.hooks.delivery(&tenant, &delivery_id).await.unwrap()?;
        (delivery.state == DeliveryState::Dead).then_some(delivery)
    })
    .await;
    let reason = dead.attempts.last().and_then(|a| a.error.clone());
    assert!(
        reason.as_deref().unwrap_or_default().contains("expired"),
        "{reason:?}"
    );
    assert_eq!(receiver.requests_to("/hook").len(), 1, "never sent again");

    notifier.stop().await;
}

#[tokio::test]
async fn on_memory_a_jobs_webhook_is_signed_with_its_secret_while_the_job_lives_and_dies_with_it() {
    a_jobs_webhook_is_signed_with_its_secret_while_the_job_lives_and_dies_with_it(
        memory_with(short_lived_jobs()).await,
    )
    .await;
}

#[tokio::test]
async fn on_redis_a_jobs_webhook_is_signed_with_its_secret_while_the_job_lives_and_dies_with_it() {
    a_jobs_webhook_is_signed_with_its_secret_while_the_job_lives_and_dies_with_it(
        redis_with(short_lived_jobs()).await,
    )
    .await;
}
