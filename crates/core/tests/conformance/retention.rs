//! Retention: a finished job is kept for its type's own retention when the catalog names one,
//! else for the install's.

use std::time::Duration;

use herald_core::store::StoreConfig;
use herald_core::{Job, JobStatus, JobTypes, TypePolicy};
use serde_json::json;

use crate::support::{Backend, Harness, job_type, new_job, open};

herald_testkit::on_every_backend!(
    a_types_own_retention_decides_how_long_its_finished_jobs_are_kept,
    a_short_retention_is_not_held_up_by_longer_ones_that_finished_first,
);

/// `demo.sleep` kept for 300 ms, `demo.report` for the install's hour.
pub(crate) fn config() -> StoreConfig {
    let mut job_types = JobTypes::new();
    job_types.insert(
        job_type("demo.sleep"),
        TypePolicy {
            retention: Some(Duration::from_millis(300)),
            ..TypePolicy::default()
        },
    );
    job_types.insert(job_type("demo.report"), TypePolicy::default());
    StoreConfig {
        retention: Duration::from_secs(3600),
        job_types,
        ..StoreConfig::default()
    }
}

/// Runs one job of `kind` to completion and returns it.
async fn finish(h: &Harness, kind: &str) -> Job {
    h.create(new_job(kind, json!({}))).await;
    let lease = h.claim_one(kind).await.lease;
    let done = h.store.complete(lease, None).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    done
}

async fn a_types_own_retention_decides_how_long_its_finished_jobs_are_kept(backend: Backend) {
    let h = open(backend, config()).await;
    let short = finish(&h, "demo.sleep").await;
    let long = finish(&h, "demo.report").await;
    the_short_lived_job_expires_and_the_other_is_kept(&h, &short, &long).await;
}

/// Waits until `short` has expired, then checks that `long` is still there.
async fn the_short_lived_job_expires_and_the_other_is_kept(h: &Harness, short: &Job, long: &Job) {
    let types = [job_type("demo.sleep"), job_type("demo.report")];
    herald_testkit::eventually(
        "the job of the short-lived type to expire",
        Duration::from_secs(10),
        || async {
            // Maintenance is what sweeps the memory backend; Redis expires the keys itself.
            h.store.maintain(&h.worker, &types).await.unwrap();
            let gone = h
                .store
                .get(&short.tenant, &short.id)
                .await
                .unwrap()
                .is_none();
            gone.then_some(())
        },
    )
    .await;
    assert!(
        h.store.get(&long.tenant, &long.id).await.unwrap().is_some(),
        "a job of a type without a retention of its own is kept for the install's"
    );
}

async fn a_short_retention_is_not_held_up_by_longer_ones_that_finished_first(backend: Backend) {
    let h = open(backend, config()).await;
    // The hour-long one first: a store expiring jobs in the order they finished would keep
    // the short-lived one behind it for an hour.
    let long = finish(&h, "demo.report").await;
    let short = finish(&h, "demo.sleep").await;
    the_short_lived_job_expires_and_the_other_is_kept(&h, &short, &long).await;
}
