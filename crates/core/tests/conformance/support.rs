//! Opens a store of either backend for one test, and the helpers the tests share.

use std::sync::Arc;
use std::time::Duration;

use herald_core::store::memory::MemoryStore;
use herald_core::store::redis::RedisStore;
use herald_core::store::{Claimed, Lease, SharedKeyStore, SharedWebhookStore};
use herald_core::{
    IdempotencyKey, Job, JobLimits, JobRequest, JobType, JobTypes, NewJob, Runner, SharedStore,
    StoreConfig, TenantId, TypePolicy, WorkerId,
};
use herald_testkit::RedisServer;

/// Which backend a test runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Memory,
    Redis,
}

/// A store for one test; keeps its Redis server alive as long as the test runs. `store` and
/// `hooks` are the same backend seen through its two traits.
pub struct Harness {
    pub store: SharedStore,
    pub hooks: SharedWebhookStore,
    pub keys: SharedKeyStore,
    pub worker: WorkerId,
    _redis: Option<RedisServer>,
}

impl Backend {
    pub async fn open(self, config: StoreConfig) -> Harness {
        match self {
            Backend::Memory => {
                let store = Arc::new(MemoryStore::new(config));
                Harness {
                    store: Arc::clone(&store) as SharedStore,
                    hooks: Arc::clone(&store) as SharedWebhookStore,
                    keys: store,
                    worker: WorkerId::generate(),
                    _redis: None,
                }
            }
            Backend::Redis => {
                let redis = RedisServer::start();
                let store = RedisStore::connect(redis.url(), &RedisServer::fresh_prefix(), config)
                    .await
                    .expect("connect to the test redis-server");
                let store = Arc::new(store);
                Harness {
                    store: Arc::clone(&store) as SharedStore,
                    hooks: Arc::clone(&store) as SharedWebhookStore,
                    keys: store,
                    worker: WorkerId::generate(),
                    _redis: Some(redis),
                }
            }
        }
    }

    pub async fn open_default(self) -> Harness {
        self.open(StoreConfig::default()).await
    }
}

pub fn tenant() -> TenantId {
    TenantId::default_tenant()
}

pub fn other_tenant() -> TenantId {
    TenantId::parse("acme").expect("valid tenant")
}

pub fn job_type(name: &str) -> JobType {
    JobType::parse(name).expect("valid job type")
}

/// A valid submission of `type` with `payload`.
pub fn new_job(kind: &str, payload: serde_json::Value) -> NewJob {
    new_job_with(kind, payload, |_| {})
}

pub fn new_job_with(
    kind: &str,
    payload: serde_json::Value,
    tweak: impl FnOnce(&mut JobRequest),
) -> NewJob {
    let mut request = JobRequest {
        job_type: Some(kind.to_owned()),
        payload: Some(payload),
        ..Default::default()
    };
    tweak(&mut request);
    NewJob::parse(tenant(), request, None, &JobLimits::default()).expect("valid submission")
}

/// The job type external workers run in the suite's catalogs.
pub const EXTERNAL: &str = "video.transcode";

/// A catalog with [`EXTERNAL`] run by external workers and the `demo.*` types by Herald's.
pub fn external_types() -> JobTypes {
    let mut types = JobTypes::new();
    for name in ["demo.sleep", "demo.report", "demo.fail"] {
        types.insert(job_type(name), TypePolicy::default());
    }
    types.insert(
        job_type(EXTERNAL),
        TypePolicy {
            runner: Runner::External,
            ..TypePolicy::default()
        },
    );
    types
}

/// The default configuration with [`external_types`] as its catalog.
pub fn with_external_types() -> StoreConfig {
    StoreConfig {
        job_types: external_types(),
        ..StoreConfig::default()
    }
}

/// The same submission, for `tenant`.
pub fn for_tenant(mut new: NewJob, tenant: TenantId) -> NewJob {
    new.tenant = tenant;
    new
}

pub fn with_key(mut new: NewJob, key: &str) -> NewJob {
    new.idempotency_key = Some(IdempotencyKey::try_from(key).expect("valid key"));
    new
}

impl Harness {
    pub async fn create(&self, new: NewJob) -> Job {
        self.store.create(new).await.expect("create").job
    }

    /// Claims exactly one job of `kind`, waiting a generous while for it.
    pub async fn claim_one(&self, kind: &str) -> Claimed {
        self.claim_one_as(&self.worker, kind).await
    }

    pub async fn claim_one_as(&self, worker: &WorkerId, kind: &str) -> Claimed {
        let mut claimed = self
            .store
            .claim(worker, &[job_type(kind)], 1, Duration::from_secs(10))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1, "expected one job of type {kind} to claim");
        claimed.remove(0)
    }

    /// Claims without waiting; the jobs found, possibly none.
    pub async fn claim_now(&self, kind: &str, max: usize) -> Vec<Lease> {
        self.store
            .claim(
                &self.worker,
                &[job_type(kind)],
                max,
                Duration::from_millis(50),
            )
            .await
            .expect("claim")
            .into_iter()
            .map(|c| c.lease)
            .collect()
    }

    /// Claims exactly one of `tenant`'s jobs of the external `kind` as `worker`, waiting a
    /// generous while for it.
    pub async fn claim_external_as(
        &self,
        worker: &WorkerId,
        tenant: &TenantId,
        kind: &str,
    ) -> Claimed {
        let mut claimed = self
            .store
            .claim_external(
                worker,
                tenant,
                &[job_type(kind)],
                1,
                Duration::from_secs(10),
            )
            .await
            .expect("claim_external");
        assert_eq!(
            claimed.len(),
            1,
            "expected one job of type {kind} of tenant {tenant} to claim"
        );
        claimed.remove(0)
    }

    /// Claims `tenant`'s jobs of the external `kind` without waiting; those found, maybe none.
    pub async fn claim_external_now(
        &self,
        tenant: &TenantId,
        kind: &str,
        max: usize,
    ) -> Vec<Lease> {
        self.store
            .claim_external(
                &self.worker,
                tenant,
                &[job_type(kind)],
                max,
                Duration::from_millis(50),
            )
            .await
            .expect("claim_external")
            .into_iter()
            .map(|c| c.lease)
            .collect()
    }

    pub async fn get(&self, job: &Job) -> Job {
        self.store
            .get(&job.tenant, &job.id)
            .await
            .expect("get")
            .expect("the job exists")
    }
}

/// Instantiates each named test once per backend: `memory::name` and `redis::name`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Memory).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Redis).await
                }
            )*
        }
    };
}
