//! Inbound sources: stored by id and found by ingest token, changed by compare-and-set,
//! bounded per tenant, deleted with their token and log; each source's request log newest
//! first, filtered, paged, bounded and read by time window; and a provider's event stored
//! once whatever its retries carry.

use chrono::{SubsecRound as _, TimeDelta, Utc};
use herald_core::inbound::source::MAX_SOURCES_PER_TENANT;
use herald_core::inbound::{Outcome, RequestRecord, Source, SourceRequest};
use herald_core::store::sources::RequestQuery;
use herald_core::{IdempotencyKey, JobId, RequestId, SourceId, StoreError, TenantId};
use serde_json::json;

use crate::support::{Backend, new_job, open_default, open_with, other_tenant, tenant};

herald_testkit::on_every_backend!(
    a_source_is_found_by_id_and_by_token_and_only_by_its_tenant,
    a_source_changes_only_from_the_version_it_was_read_at,
    a_deleted_source_takes_its_token_and_log_with_it,
    a_tenant_holds_a_bounded_number_of_sources,
    the_request_log_lists_newest_first_by_outcome_and_page,
    the_request_log_keeps_the_newest_and_reads_a_time_window,
    a_providers_event_is_stored_once_whatever_its_retries_carry,
);

fn source_of(tenant: TenantId, name: &str) -> Source {
    let request: SourceRequest = serde_json::from_value(json!({
        "name": name, "job_type": "demo.sleep", "verify": {"scheme": "github"},
    }))
    .unwrap();
    Source::create(tenant, request, Utc::now()).unwrap()
}

fn record(outcome: Outcome, received_at: chrono::DateTime<Utc>) -> RequestRecord {
    RequestRecord {
        id: RequestId::generate(),
        // As stored: to the millisecond.
        received_at: received_at.trunc_subsecs(3),
        outcome,
        reason: (outcome == Outcome::Rejected).then(|| "the signature does not match".into()),
        job_id: (outcome != Outcome::Rejected).then(JobId::generate),
        dedupe_key: None,
    }
}

async fn a_source_is_found_by_id_and_by_token_and_only_by_its_tenant(backend: Backend) {
    let h = open_default(backend).await;
    let first = source_of(tenant(), "first");
    let second = source_of(tenant(), "second");
    h.sources.create_source(&first).await.unwrap();
    h.sources.create_source(&second).await.unwrap();
    assert_eq!(
        h.sources.source(&tenant(), &first.id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        h.sources.source(&other_tenant(), &first.id).await.unwrap(),
        None
    );
    assert_eq!(
        h.sources.source_by_token(&second.token).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        h.sources.source_by_token("not-a-token").await.unwrap(),
        None
    );
    assert_eq!(h.sources.sources(&tenant()).await.unwrap(), [first, second]);
    assert!(h.sources.sources(&other_tenant()).await.unwrap().is_empty());
}

async fn a_source_changes_only_from_the_version_it_was_read_at(backend: Backend) {
    let h = open_default(backend).await;
    let source = source_of(tenant(), "s");
    h.sources.create_source(&source).await.unwrap();
    let renamed = source
        .patched(
            serde_json::from_value(json!({"name": "renamed"})).unwrap(),
            Utc::now(),
        )
        .unwrap();
    let rotated = source.rotated(
        source.new_secret(),
        std::time::Duration::from_secs(60),
        Utc::now(),
    );
    assert!(h.sources.update_source(&renamed).await.unwrap());
    // Computed from version 1 as well: it lost.
    assert!(!h.sources.update_source(&rotated).await.unwrap());
    let stored = h
        .sources
        .source(&tenant(), &source.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.name.as_str(), stored.version), ("renamed", 2));
    assert_eq!(
        h.sources.source_by_token(&source.token).await.unwrap(),
        Some(stored)
    );
    assert!(
        !h.sources
            .update_source(
                &source_of(tenant(), "never created")
                    .patched(
                        serde_json::from_value(json!({"name": "x"})).unwrap(),
                        Utc::now()
                    )
                    .unwrap()
            )
            .await
            .unwrap()
    );
}

async fn a_deleted_source_takes_its_token_and_log_with_it(backend: Backend) {
    let h = open_default(backend).await;
    let source = source_of(tenant(), "s");
    h.sources.create_source(&source).await.unwrap();
    h.sources
        .record_request(&source.id, &record(Outcome::Accepted, Utc::now()))
        .await
        .unwrap();
    assert!(
        !h.sources
            .delete_source(&other_tenant(), &source.id)
            .await
            .unwrap()
    );
    assert!(
        h.sources
            .delete_source(&tenant(), &source.id)
            .await
            .unwrap()
    );
    assert!(
        !h.sources
            .delete_source(&tenant(), &source.id)
            .await
            .unwrap()
    );
    assert_eq!(
        h.sources.source_by_token(&source.token).await.unwrap(),
        None
    );
    assert_eq!(h.sources.source(&tenant(), &source.id).await.unwrap(), None);
    let query = RequestQuery {
        outcome: None,
        limit: 10,
        before: None,
    };
    assert!(
        h.sources
            .requests(&source.id, &query)
            .await
            .unwrap()
            .requests
            .is_empty()
    );
    assert!(h.sources.sources(&tenant()).await.unwrap().is_empty());
    // A request served while the source was deleted leaves no log behind.
    h.sources
        .record_request(&source.id, &record(Outcome::Accepted, Utc::now()))
        .await
        .unwrap();
    let query = RequestQuery {
        outcome: None,
        limit: 10,
        before: None,
    };
    assert!(
        h.sources
            .requests(&source.id, &query)
            .await
            .unwrap()
            .requests
            .is_empty()
    );
}

async fn a_tenant_holds_a_bounded_number_of_sources(backend: Backend) {
    let h = open_default(backend).await;
    for n in 0..MAX_SOURCES_PER_TENANT {
        h.sources
            .create_source(&source_of(tenant(), &format!("s{n}")))
            .await
            .unwrap();
    }
    let refused = h
        .sources
        .create_source(&source_of(tenant(), "one more"))
        .await;
    assert!(
        matches!(refused, Err(StoreError::LimitReached(_))),
        "{refused:?}"
    );
    h.sources
        .create_source(&source_of(other_tenant(), "another tenant's"))
        .await
        .unwrap();
}

async fn the_request_log_lists_newest_first_by_outcome_and_page(backend: Backend) {
    let h = open_default(backend).await;
    let source = source_of(tenant(), "s");
    h.sources.create_source(&source).await.unwrap();
    let outcomes = [
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Duplicate,
        Outcome::Accepted,
        Outcome::Rejected,
        Outcome::Accepted,
    ];
    let mut records = Vec::new();
    for outcome in outcomes {
        let r = record(outcome, Utc::now());
        h.sources.record_request(&source.id, &r).await.unwrap();
        records.push(r);
    }
    let newest_first: Vec<RequestRecord> = records.iter().rev().cloned().collect();
    let query = |outcome, limit, before| RequestQuery {
        outcome,
        limit,
        before,
    };
    let all = h
        .sources
        .requests(&source.id, &query(None, 10, None))
        .await
        .unwrap();
    assert_eq!(all.requests, newest_first);
    assert_eq!(all.next_cursor, None);

    let first = h
        .sources
        .requests(&source.id, &query(None, 4, None))
        .await
        .unwrap();
    assert_eq!(first.requests, newest_first[..4]);
    let cursor = first
        .next_cursor
        .expect("a cursor while older requests remain");
    let rest = h
        .sources
        .requests(&source.id, &query(None, 4, Some(cursor)))
        .await
        .unwrap();
    assert_eq!(rest.requests, newest_first[4..]);
    assert_eq!(rest.next_cursor, None);

    let accepted = h
        .sources
        .requests(&source.id, &query(Some(Outcome::Accepted), 2, None))
        .await
        .unwrap();
    let expected: Vec<RequestRecord> = newest_first
        .iter()
        .filter(|r| r.outcome == Outcome::Accepted)
        .cloned()
        .collect();
    assert_eq!(accepted.requests, expected[..2]);
    let older = h
        .sources
        .requests(
            &source.id,
            &query(Some(Outcome::Accepted), 2, accepted.next_cursor),
        )
        .await
        .unwrap();
    assert_eq!(older.requests, expected[2..]);
    assert!(
        h.sources
            .requests(&SourceId::generate(), &query(None, 10, None))
            .await
            .unwrap()
            .requests
            .is_empty()
    );
}

async fn the_request_log_keeps_the_newest_and_reads_a_time_window(backend: Backend) {
    let h = open_with(backend, |config| config.source_requests_max = 5).await;
    let source = source_of(tenant(), "s");
    h.sources.create_source(&source).await.unwrap();
    let start = Utc::now();
    let mut records = Vec::new();
    for _ in 0..8 {
        let r = record(Outcome::Accepted, Utc::now());
        h.sources.record_request(&source.id, &r).await.unwrap();
        records.push(r);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let query = RequestQuery {
        outcome: None,
        limit: 100,
        before: None,
    };
    let kept = h
        .sources
        .requests(&source.id, &query)
        .await
        .unwrap()
        .requests;
    let newest: Vec<RequestRecord> = records[3..].iter().rev().cloned().collect();
    assert_eq!(kept, newest);

    let window = h
        .sources
        .requests_between(&source.id, records[4].received_at, records[6].received_at)
        .await
        .unwrap();
    assert_eq!(window, records[4..6]);
    let everything = h
        .sources
        .requests_between(
            &source.id,
            start - TimeDelta::hours(1),
            Utc::now() + TimeDelta::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(everything, records[3..]);
}

async fn a_providers_event_is_stored_once_whatever_its_retries_carry(backend: Backend) {
    let h = open_default(backend).await;
    let source = SourceId::generate();
    let key = IdempotencyKey::of_event(&source, "evt_1");
    let mut first = new_job("demo.sleep", json!({"headers": {"t": "1"}}));
    first.idempotency_key = Some(key.clone());
    let mut retry = new_job("demo.sleep", json!({"headers": {"t": "2"}}));
    retry.idempotency_key = Some(key);
    let created = h.store.create(first).await.unwrap();
    let again = h.store.create(retry).await.unwrap();
    assert!(!created.replayed && again.replayed);
    assert_eq!(again.job.id, created.job.id);
    let mut other = new_job("demo.sleep", json!({}));
    other.idempotency_key = Some(IdempotencyKey::of_event(&SourceId::generate(), "evt_1"));
    let other = h.store.create(other).await.unwrap();
    assert!(!other.replayed);
    assert_eq!(h.claim_now("demo.sleep", 10).await.len(), 2);
}
