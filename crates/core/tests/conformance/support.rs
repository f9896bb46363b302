//! Opens a store of either backend for one test, and the helpers the tests share.

use std::ops::Deref;
use std::time::Duration;

use herald_core::store::{Claimed, Lease, Signal};
use herald_core::{
    FeedEntry, Job, JobTypes, NewJob, Runner, StoreConfig, TenantId, TypePolicy, WorkerId,
};
pub use herald_testkit::backend::Backend;
use herald_testkit::backend::Stores;
pub use herald_testkit::jobs::{
    for_tenant, job_type, new_job, new_job_with, other_tenant, tenant, with_key,
};
use serde_json::json;
use tokio::sync::broadcast;

/// A store for one test (`store`, `hooks` and `keys`: the same backend seen through its three
/// traits) and a worker id to claim with.
pub struct Harness {
    stores: Stores,
    pub worker: WorkerId,
    pub backend: Backend,
}

impl Deref for Harness {
    type Target = Stores;

    fn deref(&self) -> &Stores {
        &self.stores
    }
}

impl Harness {
    /// How many jobs of a type fit in line under a bound of `max`: on a store spread over
    /// partitions, each partition holds its share of the bound (rounded up), and submissions
    /// without a key go round them, so it fills up at the shares' sum.
    pub fn bound_of(&self, max: usize) -> usize {
        if self.backend.partitioned() {
            max.div_ceil(herald_testkit::backend::PARTITIONS) * herald_testkit::backend::PARTITIONS
        } else {
            max
        }
    }
}

/// A fresh store of `backend` with `config`.
pub async fn open(backend: Backend, config: StoreConfig) -> Harness {
    Harness {
        stores: backend.open(config).await,
        worker: WorkerId::generate(),
        backend,
    }
}

/// A fresh store of `backend` with the default configuration tweaked.
pub async fn open_with(backend: Backend, tweak: impl FnOnce(&mut StoreConfig)) -> Harness {
    let mut config = StoreConfig::default();
    tweak(&mut config);
    open(backend, config).await
}

/// A fresh store of `backend` with the default configuration.
pub async fn open_default(backend: Backend) -> Harness {
    open(backend, StoreConfig::default()).await
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

    /// The lease of the default tenant's one job of type [`EXTERNAL`], claimed by this harness's
    /// worker, waiting a generous while for it.
    pub async fn claim_external_lease(&self) -> Lease {
        self.claim_external_as(&self.worker, &tenant(), EXTERNAL)
            .await
            .lease
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

    /// Runs one `demo.sleep` job to completion and answers the feed entries its three events
    /// were announced with, as the signals brought them. The store subscribes when it is
    /// opened, so nothing published from then on is missed.
    pub async fn announced_entries_of_one_finished_job(&self) -> Vec<FeedEntry> {
        let mut signals = self.store.signals();
        let job = self.create(new_job("demo.sleep", json!({}))).await;
        let lease = self.claim_one("demo.sleep").await.lease;
        self.store.complete(lease, None).await.unwrap();
        let mut announced = Vec::new();
        while announced.len() < 3 {
            let signal = tokio::time::timeout(Duration::from_secs(10), signals.recv())
                .await
                .expect("a signal within 10 s")
                .expect("the signal channel is open");
            if let Signal::Event(announced_event) = signal
                && announced_event.job_id() == &job.id
            {
                let entry = announced_event.entry().expect("an announced event decodes");
                announced.push(FeedEntry::clone(entry));
            }
        }
        announced
    }

    /// Asserts that `tenant` has no job of the external `kind` to claim right now.
    pub async fn assert_no_external_job(&self, tenant: &TenantId, kind: &str) {
        let found = self.claim_external_now(tenant, kind, 5).await;
        assert!(
            found.is_empty(),
            "{tenant} had {} job(s) of type {kind} to claim",
            found.len()
        );
    }

    pub async fn get(&self, job: &Job) -> Job {
        self.store
            .get(&job.tenant, &job.id)
            .await
            .expect("get")
            .expect("the job exists")
    }
}

/// The next signal that satisfies `wanted`, within a minute; what a lagging receiver missed is
/// skipped.
pub async fn next_signal(
    signals: &mut broadcast::Receiver<Signal>,
    what: &str,
    wanted: impl Fn(&Signal) -> bool,
) -> Signal {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let signal = tokio::time::timeout_at(deadline, signals.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within a minute"));
        match signal {
            Ok(signal) if wanted(&signal) => return signal,
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the signal channel closed"),
        }
    }
}
