//! Submitting jobs, reading them back, idempotency, histories, results and signals.

use herald_core::store::StoreError;
use herald_core::{EventType, JobOutput, JobStatus, Progress};
use serde_json::json;

use crate::support::{Backend, new_job, open_default, open_with, other_tenant, tenant, with_key};

herald_testkit::on_every_backend!(
    a_new_job_is_pending_with_seq_one_and_its_event_in_history,
    a_job_of_another_tenant_reads_as_missing,
    the_same_idempotency_key_returns_the_same_job,
    an_idempotency_key_reused_for_a_different_request_is_refused,
    idempotency_keys_are_scoped_by_tenant,
    a_job_walks_to_completed_with_every_event_in_history_in_order,
    history_after_a_seq_returns_only_later_events,
    history_is_capped,
    a_result_is_readable_once_completed,
    a_result_over_the_limit_is_refused,
    a_full_queue_refuses_new_jobs,
    concurrent_submissions_each_get_their_own_answer,
    running_jobs_leave_room_in_the_queue_for_submissions_sent_together,
    concurrent_changes_of_one_job_are_applied_once,
    signals_announce_every_event_of_a_job_in_order,
);

async fn a_new_job_is_pending_with_seq_one_and_its_event_in_history(backend: Backend) {
    let h = open_default(backend).await;
    let created = h
        .store
        .create(new_job("demo.sleep", json!({"seconds": 0})))
        .await
        .unwrap();
    assert!(!created.replayed);
    let job = created.job;
    assert_eq!(
        (job.status, job.seq, job.attempt),
        (JobStatus::Pending, 1, 0)
    );
    assert_eq!(h.get(&job).await, job);
    let history = h.store.history(&tenant(), &job.id, 0).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!((history[0].kind, history[0].seq()), (EventType::Pending, 1));
    assert_eq!(history[0].job, job);
}

async fn a_job_of_another_tenant_reads_as_missing(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let (other, id) = (other_tenant(), &job.id);
    assert!(h.store.get(&other, id).await.unwrap().is_none());
    assert!(h.store.history(&other, id, 0).await.unwrap().is_empty());
    assert!(h.store.cancel(&other, id).await.unwrap().is_none());
    assert!(h.store.result(&other, id).await.unwrap().is_none());
}

async fn the_same_idempotency_key_returns_the_same_job(backend: Backend) {
    let h = open_default(backend).await;
    let submit = || {
        h.store.create(with_key(
            new_job("demo.sleep", json!({"seconds": 1})),
            "order-42",
        ))
    };
    let first = submit().await.unwrap();
    let second = submit().await.unwrap();
    assert!(!first.replayed);
    assert!(second.replayed);
    assert_eq!(first.job.id, second.job.id);
    // Only one job was queued.
    assert_eq!(h.claim_now("demo.sleep", 10).await.len(), 1);
}

async fn an_idempotency_key_reused_for_a_different_request_is_refused(backend: Backend) {
    let h = open_default(backend).await;
    h.create(with_key(new_job("demo.sleep", json!({"seconds": 1})), "k1"))
        .await;
    let err = h
        .store
        .create(with_key(new_job("demo.sleep", json!({"seconds": 2})), "k1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IdempotencyMismatch), "{err:?}");
}

async fn idempotency_keys_are_scoped_by_tenant(backend: Backend) {
    let h = open_default(backend).await;
    let mine = h
        .create(with_key(new_job("demo.sleep", json!({})), "shared"))
        .await;
    let mut theirs = with_key(new_job("demo.sleep", json!({})), "shared");
    theirs.tenant = other_tenant();
    let theirs = h.store.create(theirs).await.unwrap();
    assert!(!theirs.replayed);
    assert_ne!(mine.id, theirs.job.id);
}

async fn a_job_walks_to_completed_with_every_event_in_history_in_order(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.report", json!({"rows": 3}))).await;
    let claimed = h.claim_one("demo.report").await;
    assert_eq!(claimed.payload, json!({"rows": 3}));
    let mut lease = claimed.lease;
    assert_eq!(
        (lease.job.status, lease.job.seq, lease.job.attempt),
        (JobStatus::Processing, 2, 1)
    );
    assert!(lease.job.started_at.is_some());
    h.store
        .progress(&mut lease, Progress::new(50, Some("half".into())))
        .await
        .unwrap();
    assert_eq!(lease.job.seq, 3);
    let done = h.store.complete(lease, None).await.unwrap();
    assert_eq!((done.status, done.seq), (JobStatus::Completed, 4));
    assert_eq!(h.get(&job).await, done);
    let kinds: Vec<_> = h
        .store
        .history(&tenant(), &job.id, 0)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.seq(), e.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            (1, EventType::Pending),
            (2, EventType::Processing),
            (3, EventType::Progress),
            (4, EventType::Completed)
        ]
    );
}

async fn history_after_a_seq_returns_only_later_events(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    let later: Vec<_> = h
        .store
        .history(&tenant(), &job.id, 2)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq())
        .collect();
    assert_eq!(later, [3]);
    assert!(
        h.store
            .history(&tenant(), &job.id, 3)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn history_is_capped(backend: Backend) {
    let h = open_with(backend, |c| c.history_max = 10).await;
    let job = h.create(new_job("demo.report", json!({}))).await;
    let mut lease = h.claim_one("demo.report").await.lease;
    for percent in 0..100 {
        h.store
            .progress(&mut lease, Progress::new(percent, None))
            .await
            .unwrap();
    }
    let history = h.store.history(&tenant(), &job.id, 0).await.unwrap();
    // Redis trims approximately (MAXLEN ~); either way the newest events are kept.
    assert!(
        history.len() >= 10 && history.len() <= 110,
        "{}",
        history.len()
    );
    assert!(
        history.len() < 102,
        "history was not trimmed: {}",
        history.len()
    );
    assert_eq!(history.last().map(|e| e.seq()), Some(lease.job.seq));
}

async fn a_result_is_readable_once_completed(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.report", json!({}))).await;
    assert!(h.store.result(&tenant(), &job.id).await.unwrap().is_none());
    let lease = h.claim_one("demo.report").await.lease;
    let output = JobOutput {
        content_type: "text/csv".into(),
        body: b"id,value\n1,2\n".to_vec(),
    };
    let done = h.store.complete(lease, Some(output.clone())).await.unwrap();
    assert!(done.has_result);
    assert_eq!(
        h.store.result(&tenant(), &job.id).await.unwrap(),
        Some(output)
    );
}

async fn a_result_over_the_limit_is_refused(backend: Backend) {
    let h = open_with(backend, |c| c.max_result_bytes = 10).await;
    let job = h.create(new_job("demo.report", json!({}))).await;
    let lease = h.claim_one("demo.report").await.lease;
    let output = JobOutput {
        content_type: "text/plain".into(),
        body: vec![b'x'; 11],
    };
    let err = h.store.complete(lease, Some(output)).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::ResultTooLarge {
                size: 11,
                limit: 10
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.get(&job).await.status, JobStatus::Processing);
}

async fn a_full_queue_refuses_new_jobs(backend: Backend) {
    let h = open_with(backend, |c| c.max_queue_len = 2).await;
    for _ in 0..h.bound_of(2) {
        h.create(new_job("demo.sleep", json!({}))).await;
    }
    let err = h
        .store
        .create(new_job("demo.sleep", json!({})))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::QueueFull(_)), "{err:?}");
    // Other types have queues of their own.
    h.create(new_job("demo.fail", json!({}))).await;
}

/// Submissions sent together (which Redis writes in shared script calls) are each decided on
/// their own: a queue fills up exactly at its bound, and one idempotency key gives one job.
async fn concurrent_submissions_each_get_their_own_answer(backend: Backend) {
    let h = open_with(backend, |c| c.max_queue_len = 40).await;
    let outcomes = futures_util::future::join_all(
        (0..64).map(|_| h.store.create(new_job("demo.sleep", json!({})))),
    )
    .await;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let full = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::QueueFull(_))))
        .count();
    let bound = h.bound_of(40);
    assert_eq!((created, full), (bound, 64 - bound));
    let keyed = futures_util::future::join_all((0..16).map(|_| {
        h.store
            .create(with_key(new_job("demo.fail", json!({"n": 1})), "together"))
    }))
    .await;
    let keyed: Vec<_> = keyed.into_iter().map(Result::unwrap).collect();
    assert_eq!(keyed.iter().filter(|c| !c.replayed).count(), 1);
    assert!(keyed.iter().all(|c| c.job.id == keyed[0].job.id));
    assert_eq!(h.claim_now("demo.fail", 20).await.len(), 1);
}

/// The bound counts jobs waiting in line, not running ones, also for submissions written in
/// one shared call.
async fn running_jobs_leave_room_in_the_queue_for_submissions_sent_together(backend: Backend) {
    let h = open_with(backend, |c| c.max_queue_len = 4).await;
    for _ in 0..3 {
        h.create(new_job("demo.sleep", json!({}))).await;
    }
    assert_eq!(h.claim_now("demo.sleep", 2).await.len(), 2);
    let outcomes = futures_util::future::join_all(
        (0..4).map(|_| h.store.create(new_job("demo.sleep", json!({})))),
    )
    .await;
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    if h.backend.partitioned() {
        // Shares of two in three partitions, one job waiting in one of them: room for five.
        assert_eq!(created, 4, "every partition has room left");
    } else {
        assert_eq!(
            created, 3,
            "one job waits, so three more fit under a bound of four"
        );
    }
}

/// Changes computed from the same version and written together: the first applies, the others
/// find the job moved on.
async fn concurrent_changes_of_one_job_are_applied_once(backend: Backend) {
    let h = open_default(backend).await;
    let job = h.create(new_job("demo.sleep", json!({}))).await;
    let owner = tenant();
    let outcomes =
        futures_util::future::join_all((0..8).map(|_| h.store.cancel(&owner, &job.id))).await;
    let canceled = outcomes
        .into_iter()
        .map(|o| o.unwrap().unwrap())
        .filter(|o| matches!(o, herald_core::store::CancelOutcome::Canceled(_)))
        .count();
    assert_eq!(canceled, 1);
    let history = h.store.history(&tenant(), &job.id, 0).await.unwrap();
    assert_eq!(history.len(), 2, "one job.canceled event, not several");
}

async fn signals_announce_every_event_of_a_job_in_order(backend: Backend) {
    let h = open_default(backend).await;
    let seqs: Vec<_> = h
        .announced_entries_of_one_finished_job()
        .await
        .iter()
        .map(|entry| (entry.event.seq(), entry.event.kind))
        .collect();
    assert_eq!(
        seqs,
        [
            (1, EventType::Pending),
            (2, EventType::Processing),
            (3, EventType::Completed)
        ]
    );
}
