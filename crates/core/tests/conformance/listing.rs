//! Listing a tenant's jobs: newest first, filters, cursor paging.

use std::collections::HashSet;

use herald_core::store::ListQuery;
use herald_core::{JobId, JobStatus, TenantId};
use serde_json::json;

use crate::support::{Backend, job_type, new_job, open_default, other_tenant, tenant};

herald_testkit::on_every_backend!(
    jobs_are_listed_newest_first_and_only_the_tenants_own,
    listing_filters_by_status_and_type,
    paging_with_the_cursor_visits_every_job_once,
);

fn query(limit: usize) -> ListQuery {
    ListQuery {
        status: None,
        job_type: None,
        limit,
        before: None,
    }
}

async fn jobs_are_listed_newest_first_and_only_the_tenants_own(backend: Backend) {
    let h = open_default(backend).await;
    let a = h.create(new_job("demo.sleep", json!({}))).await;
    let b = h.create(new_job("demo.fail", json!({}))).await;
    // Tenants whose names sort before and after ours.
    for other in [other_tenant(), TenantId::parse("zeta").unwrap()] {
        let mut foreign = new_job("demo.sleep", json!({}));
        foreign.tenant = other;
        h.store.create(foreign).await.unwrap();
    }
    let page = h.store.list(&tenant(), &query(10)).await.unwrap();
    let ids: Vec<JobId> = page.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, [b.id, a.id]);
    assert!(page.next_cursor.is_none());
}

async fn listing_filters_by_status_and_type(backend: Backend) {
    let h = open_default(backend).await;
    let sleeping = h.create(new_job("demo.sleep", json!({}))).await;
    let failing = h.create(new_job("demo.fail", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    let running = h.create(new_job("demo.sleep", json!({}))).await;
    h.claim_one("demo.sleep").await;

    let completed = ListQuery {
        status: Some(JobStatus::Completed),
        ..query(10)
    };
    let page = h.store.list(&tenant(), &completed).await.unwrap();
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [sleeping.id]
    );

    let pending = ListQuery {
        status: Some(JobStatus::Pending),
        ..query(10)
    };
    let page = h.store.list(&tenant(), &pending).await.unwrap();
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [failing.id]
    );

    let processing = ListQuery {
        status: Some(JobStatus::Processing),
        ..query(10)
    };
    let page = h.store.list(&tenant(), &processing).await.unwrap();
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [running.id]
    );

    let every = h.store.list(&tenant(), &query(10)).await.unwrap();
    assert_eq!(
        every.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [running.id, failing.id, sleeping.id]
    );

    let of_type = ListQuery {
        job_type: Some(job_type("demo.fail")),
        ..query(10)
    };
    let page = h.store.list(&tenant(), &of_type).await.unwrap();
    assert_eq!(
        page.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [failing.id]
    );

    let none = ListQuery {
        job_type: Some(job_type("demo.fail")),
        status: Some(JobStatus::Completed),
        ..query(10)
    };
    assert!(
        h.store
            .list(&tenant(), &none)
            .await
            .unwrap()
            .jobs
            .is_empty()
    );
}

async fn paging_with_the_cursor_visits_every_job_once(backend: Backend) {
    let h = open_default(backend).await;
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(h.create(new_job("demo.sleep", json!({}))).await.id);
    }
    created.reverse();
    let mut seen = Vec::new();
    let mut q = query(3);
    for _ in 0..10 {
        let page = h.store.list(&tenant(), &q).await.unwrap();
        assert!(page.jobs.len() <= 3);
        seen.extend(page.jobs.iter().map(|j| j.id));
        match page.next_cursor {
            Some(cursor) => q.before = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, created, "pages in order, newest first, each job once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 7);
}
