//! The queues of external workers: a queue per tenant for each type the catalog gives to
//! workers outside Herald, claimed only by that tenant's claims, maintained by
//! `maintain_external` (never by the workers' `maintain`), and leases resumed by job id.

use std::sync::Arc;
use std::time::Duration;

use herald_core::store::{StoreConfig, StoreError};
use herald_core::{ErrorCode, JobError, JobStatus, Progress, WorkerId};
use serde_json::json;

use crate::support::{
    Backend, EXTERNAL, for_tenant, job_type, new_job, new_job_with, open, other_tenant, tenant,
    with_external_types,
};

herald_testkit::on_every_backend!(
    an_external_job_is_claimed_only_by_its_tenants_claim,
    the_external_claim_takes_no_job_of_a_type_run_by_herald,
    a_waiting_external_claim_wakes_for_its_tenants_job,
    a_lease_not_renewed_is_reclaimed_and_the_job_offered_again,
    a_lost_external_lease_on_the_last_attempt_fails_the_job_with_worker_lost,
    the_workers_maintenance_leaves_external_leases_alone,
    lease_answers_the_current_lease_of_a_processing_job_only,
    writes_through_a_resumed_lease_are_fenced_like_any_other,
    a_retry_of_an_external_job_waits_in_its_tenants_queue,
    an_immediate_retry_and_a_release_go_back_to_the_tenants_queue,
    an_external_queue_is_bounded_per_tenant,
);

fn short_leases() -> StoreConfig {
    StoreConfig {
        lease_timeout: Duration::from_millis(300),
        ..with_external_types()
    }
}

async fn an_external_job_is_claimed_only_by_its_tenants_claim(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let mine = h.create(new_job(EXTERNAL, json!({"n": 1}))).await;
    let theirs = h
        .create(for_tenant(
            new_job(EXTERNAL, json!({"n": 2})),
            other_tenant(),
        ))
        .await;

    // Herald's workers never see them: they wait in their tenants' queues.
    assert!(h.claim_now(EXTERNAL, 5).await.is_empty());

    let claimed = h.claim_external_now(&other_tenant(), EXTERNAL, 5).await;
    let ids: Vec<_> = claimed.iter().map(|l| l.job.id).collect();
    assert_eq!(ids, [theirs.id]);
    let claimed = h.claim_external_as(&h.worker, &tenant(), EXTERNAL).await;
    assert_eq!(claimed.lease.job.id, mine.id);
    assert_eq!(claimed.lease.job.status, JobStatus::Processing);
    assert_eq!(claimed.payload, json!({"n": 1}));
    h.assert_no_external_job(&tenant(), EXTERNAL).await;
    h.assert_no_external_job(&other_tenant(), EXTERNAL).await;
}

async fn the_external_claim_takes_no_job_of_a_type_run_by_herald(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    h.assert_no_external_job(&tenant(), "demo.sleep").await;
    assert_eq!(h.claim_now("demo.sleep", 5).await.len(), 1);
}

async fn a_waiting_external_claim_wakes_for_its_tenants_job(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let store = Arc::clone(&h.store);
    let worker = h.worker.clone();
    let waiting = tokio::spawn(async move {
        store
            .claim_external(
                &worker,
                &tenant(),
                &[job_type(EXTERNAL)],
                1,
                Duration::from_secs(30),
            )
            .await
            .expect("claim_external")
    });
    // Another tenant's job first: whenever the claim starts waiting, it must not take it.
    h.create(for_tenant(new_job(EXTERNAL, json!({})), other_tenant()))
        .await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    let claimed = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("the waiting claim woke up before its 30 s wait ran out")
        .unwrap();
    let ids: Vec<_> = claimed.iter().map(|c| c.lease.job.id).collect();
    assert_eq!(ids, [job.id]);
}

async fn a_lease_not_renewed_is_reclaimed_and_the_job_offered_again(backend: Backend) {
    let h = open(backend, short_leases()).await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    let zombie = WorkerId::generate();
    let stale = h
        .claim_external_as(&zombie, &tenant(), EXTERNAL)
        .await
        .lease;
    let rescuer = WorkerId::generate();
    herald_testkit::eventually(
        "the expired lease to be reclaimed",
        Duration::from_secs(10),
        || async {
            let report = h.store.maintain_external(&rescuer).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let pending = h.get(&job).await;
    assert_eq!((pending.status, pending.attempt), (JobStatus::Pending, 1));
    assert!(
        h.store.lease(&tenant(), &job.id).await.unwrap().is_none(),
        "a job waiting to be offered again has no lease"
    );

    let fresh = h
        .claim_external_as(&rescuer, &tenant(), EXTERNAL)
        .await
        .lease;
    assert_eq!((fresh.job.id, fresh.job.attempt), (job.id, 2));
    assert_ne!(fresh.token(), stale.token(), "a new hand-out, a new token");
    let current = h.store.lease(&tenant(), &job.id).await.unwrap().unwrap();
    assert_eq!(current.token(), fresh.token());

    // The silent worker comes back: every write through its old lease is refused.
    assert!(matches!(
        h.store.heartbeat(&zombie, &stale).await,
        Err(StoreError::LeaseLost)
    ));
    let err = h.store.complete(stale, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");

    let done = h.store.complete(fresh, None).await.unwrap();
    assert_eq!((done.status, done.attempt), (JobStatus::Completed, 2));
}

async fn a_lost_external_lease_on_the_last_attempt_fails_the_job_with_worker_lost(
    backend: Backend,
) {
    let h = open(backend, short_leases()).await;
    let job = h
        .create(new_job_with(EXTERNAL, json!({}), |r| {
            r.max_attempts = Some(1)
        }))
        .await;
    let _abandoned = h.claim_external_as(&h.worker, &tenant(), EXTERNAL).await;
    herald_testkit::eventually(
        "the expired lease to be reclaimed",
        Duration::from_secs(10),
        || async {
            let report = h.store.maintain_external(&h.worker).await.unwrap();
            (report.reclaimed == 1).then_some(())
        },
    )
    .await;
    let failed = h.get(&job).await;
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.map(|e| e.code), Some(ErrorCode::WorkerLost));
    h.assert_no_external_job(&tenant(), EXTERNAL).await;
}

async fn the_workers_maintenance_leaves_external_leases_alone(backend: Backend) {
    let h = open(backend, short_leases()).await;
    h.create(new_job(EXTERNAL, json!({}))).await;
    let lease = h.claim_external_lease().await;
    // Long enough for the lease to expire three times over: no synchronisation, only time.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let types = [job_type(EXTERNAL), job_type("demo.sleep")];
    let report = h
        .store
        .maintain(&WorkerId::generate(), &types)
        .await
        .unwrap();
    assert_eq!(
        report.reclaimed, 0,
        "the workers' maintenance took an external lease"
    );
    assert!(
        h.store
            .lease(&tenant(), &lease.job.id)
            .await
            .unwrap()
            .is_some(),
        "the lease is still there"
    );
    let report = h
        .store
        .maintain_external(&WorkerId::generate())
        .await
        .unwrap();
    assert_eq!(report.reclaimed, 1);
}

async fn lease_answers_the_current_lease_of_a_processing_job_only(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    assert!(
        h.store.lease(&tenant(), &job.id).await.unwrap().is_none(),
        "pending: no lease yet"
    );
    let mut claimed = h.claim_external_lease().await;

    let lease = h.store.lease(&tenant(), &job.id).await.unwrap().unwrap();
    assert_eq!(lease.token(), claimed.token());
    assert_eq!((lease.job.id, lease.job.seq), (job.id, claimed.job.seq));
    assert!(
        h.store
            .lease(&other_tenant(), &job.id)
            .await
            .unwrap()
            .is_none(),
        "another tenant's job reads as missing"
    );
    assert!(
        h.store
            .lease(&tenant(), &herald_core::JobId::generate())
            .await
            .unwrap()
            .is_none()
    );

    // It follows the job's latest write.
    h.store
        .progress(&mut claimed, Progress::new(30, None))
        .await
        .unwrap();
    let lease = h.store.lease(&tenant(), &job.id).await.unwrap().unwrap();
    assert_eq!(lease.job.seq, claimed.job.seq);
    assert_eq!(lease.job.progress.map(|p| p.percent), Some(30));

    h.store.complete(claimed, None).await.unwrap();
    assert!(
        h.store.lease(&tenant(), &job.id).await.unwrap().is_none(),
        "finished: the lease is gone"
    );
}

async fn writes_through_a_resumed_lease_are_fenced_like_any_other(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    let claimed = h.claim_external_lease().await;
    let mut resumed = h.store.lease(&tenant(), &job.id).await.unwrap().unwrap();
    h.store
        .heartbeat(&h.worker, &resumed)
        .await
        .expect("a resumed lease keeps the job alive");
    h.store
        .progress(&mut resumed, Progress::new(50, Some("half".to_owned())))
        .await
        .unwrap();
    // The lease as claimed is one version behind now.
    let err = h
        .store
        .progress(&mut claimed.clone(), Progress::new(60, None))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
    let again = h.store.lease(&tenant(), &job.id).await.unwrap().unwrap();
    let done = h.store.complete(again, None).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(
        done.progress.and_then(|p| p.message),
        Some("half".to_owned())
    );
}

async fn a_retry_of_an_external_job_waits_in_its_tenants_queue(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    let lease = h.claim_external_lease().await;
    let error = JobError::new(ErrorCode::HandlerError, "later");
    let retried = h
        .store
        .fail(lease, error, Some(Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(retried.status, JobStatus::Pending);
    // Only the external maintenance promotes it.
    let types = [job_type(EXTERNAL)];
    herald_testkit::eventually(
        "the retry to be promoted",
        Duration::from_secs(10),
        || async {
            let workers = h.store.maintain(&h.worker, &types).await.unwrap();
            assert_eq!(workers.promoted, 0, "the workers' maintenance promoted it");
            let report = h.store.maintain_external(&h.worker).await.unwrap();
            (report.promoted == 1).then_some(())
        },
    )
    .await;
    assert!(h.claim_now(EXTERNAL, 1).await.is_empty());
    h.assert_no_external_job(&other_tenant(), EXTERNAL).await;
    let again = h.claim_external_lease().await;
    assert_eq!((again.job.id, again.job.attempt), (job.id, 2));
}

async fn an_immediate_retry_and_a_release_go_back_to_the_tenants_queue(backend: Backend) {
    let h = open(backend, with_external_types()).await;
    let job = h.create(new_job(EXTERNAL, json!({}))).await;
    let lease = h.claim_external_lease().await;
    let error = JobError::new(ErrorCode::HandlerError, "again");
    h.store
        .fail(lease, error, Some(Duration::ZERO))
        .await
        .unwrap();
    assert!(h.claim_now(EXTERNAL, 1).await.is_empty());
    let lease = h.claim_external_lease().await;
    assert_eq!((lease.job.id, lease.job.attempt), (job.id, 2));

    let released = h.store.release(lease).await.unwrap();
    assert_eq!((released.status, released.attempt), (JobStatus::Pending, 1));
    assert!(h.claim_now(EXTERNAL, 1).await.is_empty());
    let lease = h.claim_external_lease().await;
    assert_eq!((lease.job.id, lease.job.attempt), (job.id, 2));
}

async fn an_external_queue_is_bounded_per_tenant(backend: Backend) {
    let h = open(
        backend,
        StoreConfig {
            max_queue_len: 1,
            ..with_external_types()
        },
    )
    .await;
    for _ in 0..h.bound_of(1) {
        h.create(new_job(EXTERNAL, json!({}))).await;
    }
    let err = h
        .store
        .create(new_job(EXTERNAL, json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QueueFull(_)), "{err:?}");
    // Another tenant's queue is its own: one tenant filling its queue holds nobody else up.
    h.create(for_tenant(new_job(EXTERNAL, json!({})), other_tenant()))
        .await;
}
