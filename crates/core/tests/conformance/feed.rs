//! Tenants' feeds: every change of every job of a tenant, in order, at growing cursors; paging
//! after a cursor; telling a reader exactly whether trimming made it miss events; and the
//! signals that announce each entry with its cursor.

use std::time::Duration;

use herald_core::store::StoreError;
use herald_core::{
    ErrorCode, EventType, FeedCursor, FeedEntry, FeedPage, FeedPosition, JobError, JobId, Progress,
    TenantId,
};
use herald_testkit::eventually;
use serde_json::json;

use crate::support::{
    Backend, Harness, job_type, new_job, open, open_default, open_with, other_tenant, tenant,
};

herald_testkit::on_every_backend!(
    every_change_of_every_job_of_a_tenant_is_in_its_feed_in_order,
    the_feed_is_scoped_by_tenant,
    reading_after_a_cursor_returns_only_later_entries,
    a_limit_pages_through_everything_exactly_once,
    a_refused_change_leaves_no_trace_in_the_feed,
    a_reader_behind_a_trimmed_feed_is_told_it_missed_events_and_no_one_else,
    signals_carry_the_cursor_of_their_feed_entry,
    the_feed_head_is_the_newest_entry_and_nothing_follows_it,
    an_expired_jobs_events_are_no_longer_served_by_its_tenants_feed,
    the_feed_serves_no_event_older_than_the_retention_and_says_so,
    a_quiet_tenants_feed_still_ends_where_it_did_and_tells_who_missed_what,
);

/// Far more than any test writes: one read returns the whole feed.
const ALL: usize = 10_000;

impl Harness {
    async fn feed(&self, tenant: &TenantId, after: &FeedCursor, limit: usize) -> FeedPage {
        self.store.feed(tenant, after, limit).await.expect("feed")
    }

    /// The tenant's whole feed, which must not have been trimmed.
    async fn whole_feed(&self, tenant: &TenantId) -> Vec<FeedEntry> {
        let page = self.feed(tenant, &FeedCursor::START, ALL).await;
        assert!(!page.missed, "nothing was trimmed, nothing can be missed");
        page.entries
    }
}

fn summary(entries: &[FeedEntry]) -> Vec<(JobId, u64, EventType)> {
    entries
        .iter()
        .map(|e| (e.event.job.id, e.event.seq(), e.event.kind))
        .collect()
}

/// The cursor of a reader that read `entries` from the start.
fn after(entries: &[FeedEntry]) -> FeedCursor {
    FeedCursor::START.after(entries)
}

/// Checks the entries are in each partition's order: positions grow.
fn assert_strictly_increasing(entries: &[FeedEntry]) {
    for (i, entry) in entries.iter().enumerate() {
        let same = |e: &&FeedEntry| e.partition == entry.partition;
        if let Some(last) = entries[..i].iter().rev().find(same) {
            assert!(
                last.position < entry.position,
                "positions must grow: {} then {}",
                last.position,
                entry.position
            );
        }
    }
}

/// Checks the feed holds `expected` (job, seq, type) in that order: on a store spread over
/// partitions, only the order of each job's own events (the events of different jobs are
/// ordered by time alone, and events in the same millisecond may come either way).
fn assert_feed_order(h: &Harness, entries: &[FeedEntry], expected: &[(JobId, u64, EventType)]) {
    let got = summary(entries);
    if !h.backend.partitioned() {
        assert_eq!(got, expected);
        return;
    }
    let mut jobs: Vec<JobId> = expected.iter().map(|e| e.0).collect();
    jobs.dedup();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for job in jobs {
        let of = |all: &[(JobId, u64, EventType)]| -> Vec<(JobId, u64, EventType)> {
            all.iter().filter(|e| e.0 == job).cloned().collect()
        };
        assert_eq!(of(&got), of(expected), "the events of job {job}");
    }
}

async fn every_change_of_every_job_of_a_tenant_is_in_its_feed_in_order(backend: Backend) {
    let h = open_default(backend).await;
    let a = h.create(new_job("demo.report", json!({}))).await;
    let b = h.create(new_job("demo.sleep", json!({}))).await;
    let mut report = h.claim_one("demo.report").await.lease;
    h.store
        .progress(&mut report, Progress::new(50, None))
        .await
        .unwrap();
    let sleep = h.claim_one("demo.sleep").await.lease;
    let error = JobError::new(ErrorCode::HandlerError, "try again");
    h.store
        .fail(sleep, error, Some(Duration::ZERO))
        .await
        .unwrap();
    h.store.complete(report, None).await.unwrap();
    h.store.cancel(&tenant(), &b.id).await.unwrap();

    let feed = h.whole_feed(&tenant()).await;
    assert_feed_order(
        &h,
        &feed,
        &[
            (a.id, 1, EventType::Pending),
            (b.id, 1, EventType::Pending),
            (a.id, 2, EventType::Processing),
            (a.id, 3, EventType::Progress),
            (b.id, 2, EventType::Processing),
            (b.id, 3, EventType::Pending),
            (a.id, 4, EventType::Completed),
            (b.id, 4, EventType::Canceled),
        ],
    );
    assert_strictly_increasing(&feed);
    // The feed never disagrees with the jobs: the same events as their histories, ending at
    // their current state.
    for job in [&a, &b] {
        let history = h.store.history(&tenant(), &job.id, 0).await.unwrap();
        let in_feed: Vec<_> = feed
            .iter()
            .filter(|e| e.event.job.id == job.id)
            .map(|e| e.event.clone())
            .collect();
        assert_eq!(in_feed, history);
        assert_eq!(in_feed.last().map(|e| &e.job), Some(&h.get(job).await));
    }
}

async fn the_feed_is_scoped_by_tenant(backend: Backend) {
    let h = open_default(backend).await;
    let mine = h.create(new_job("demo.sleep", json!({}))).await;
    let mut theirs = new_job("demo.sleep", json!({}));
    theirs.tenant = other_tenant();
    let theirs = h.create(theirs).await;

    let ids = |entries: Vec<FeedEntry>| -> Vec<JobId> {
        entries.iter().map(|e| e.event.job.id).collect()
    };
    assert_eq!(ids(h.whole_feed(&tenant()).await), [mine.id]);
    assert_eq!(ids(h.whole_feed(&other_tenant()).await), [theirs.id]);
    let nobody = TenantId::parse("nobody").unwrap();
    assert_eq!(
        h.feed(&nobody, &FeedCursor::START, ALL).await,
        FeedPage::default()
    );
}

async fn reading_after_a_cursor_returns_only_later_entries(backend: Backend) {
    let h = open_default(backend).await;
    for _ in 0..3 {
        h.create(new_job("demo.sleep", json!({}))).await;
    }
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    let feed = h.whole_feed(&tenant()).await;
    assert_eq!(feed.len(), 5);
    for i in 0..feed.len() {
        let page = h.feed(&tenant(), &after(&feed[..=i]), ALL).await;
        assert_eq!(page.entries, feed[i + 1..], "after entry {i}");
        assert!(!page.missed);
    }
    // A cursor that is no entry's works as well (reading starts with the first entry above).
    let mut between = after(&feed[..=1]);
    between.advance(&FeedEntry {
        position: feed[1].position.next(),
        ..feed[1].clone()
    });
    let page = h.feed(&tenant(), &between, ALL).await;
    let above: Vec<_> = feed
        .iter()
        .filter(|e| !between.covers(e))
        .cloned()
        .collect();
    assert_eq!(page.entries, above);
    assert!(page.entries.len() >= 2);
    // Nothing follows the newest entry, or the largest cursor there is.
    let last = FeedCursor::everywhere(FeedPosition {
        ms: u64::MAX,
        n: u64::MAX,
    });
    assert!(h.feed(&tenant(), &last, ALL).await.entries.is_empty());
}

async fn a_limit_pages_through_everything_exactly_once(backend: Backend) {
    let h = open_default(backend).await;
    for _ in 0..7 {
        h.create(new_job("demo.sleep", json!({}))).await;
    }
    for _ in 0..3 {
        let lease = h.claim_one("demo.sleep").await.lease;
        h.store.complete(lease, None).await.unwrap();
    }
    let feed = h.whole_feed(&tenant()).await;
    assert_eq!(feed.len(), 13);

    let mut paged = Vec::new();
    let mut sizes = Vec::new();
    let mut read = FeedCursor::START;
    loop {
        let page = h.feed(&tenant(), &read, 3).await;
        assert!(!page.missed);
        sizes.push(page.entries.len());
        if page.entries.is_empty() {
            break;
        }
        read = read.after(&page.entries);
        paged.extend(page.entries);
    }
    assert_eq!(sizes, [3, 3, 3, 3, 1, 0]);
    assert_eq!(paged, feed);
    // A limit of 0 reads nothing, but still says whether anything was missed.
    assert_eq!(
        h.feed(&tenant(), &FeedCursor::START, 0).await,
        FeedPage::default()
    );
}

async fn a_refused_change_leaves_no_trace_in_the_feed(backend: Backend) {
    let h = open_default(backend).await;
    h.create(new_job("demo.sleep", json!({}))).await;
    let stale = h.claim_one("demo.sleep").await.lease;
    let mut current = stale.clone();
    h.store
        .progress(&mut current, Progress::new(10, None))
        .await
        .unwrap();
    let before = h.whole_feed(&tenant()).await;
    let err = h.store.complete(stale, None).await.unwrap_err();
    assert!(matches!(err, StoreError::LeaseLost), "{err:?}");
    assert_eq!(h.whole_feed(&tenant()).await, before);
}

async fn a_reader_behind_a_trimmed_feed_is_told_it_missed_events_and_no_one_else(backend: Backend) {
    let h = open_with(backend, |c| c.event_log_max = 5).await;
    // A reader that keeps up reads every entry right after it is written: trimming never
    // makes it miss anything. It notes every cursor on the way.
    let mut cursors = Vec::new();
    let follow = async |cursors: &mut Vec<FeedCursor>| {
        let read = cursors.last().cloned().unwrap_or(FeedCursor::START);
        let page = h.feed(&tenant(), &read, ALL).await;
        assert!(!page.missed, "a reader that kept up missed nothing");
        assert_eq!(page.entries.len(), 1, "one change, one entry");
        cursors.push(read.after(&page.entries));
    };
    h.create(new_job("demo.report", json!({}))).await;
    follow(&mut cursors).await;
    let mut lease = h.claim_one("demo.report").await.lease;
    follow(&mut cursors).await;
    // Enough for Redis, which trims whole nodes of entries (`MAXLEN ~`), to trim for sure.
    for percent in 0..300u16 {
        let progress = Progress::new((percent % 100) as u8, None);
        h.store.progress(&mut lease, progress).await.unwrap();
        follow(&mut cursors).await;
    }

    // From the start: the page begins at the oldest event kept, and says events were lost.
    let from_start = h.feed(&tenant(), &FeedCursor::START, ALL).await;
    assert!(from_start.missed, "the oldest events were trimmed");
    let kept = &from_start.entries;
    assert!(kept.len() >= 5 && kept.len() < 302, "{} kept", kept.len());
    let seqs: Vec<u64> = kept.iter().map(|e| e.event.seq()).collect();
    let last = lease.job.seq;
    let expected: Vec<u64> = (last + 1 - kept.len() as u64..=last).collect();
    assert_eq!(seqs, expected, "the newest events are kept, without gaps");

    let oldest = cursors
        .iter()
        .position(|c| *c == after(&kept[..1]))
        .expect("the oldest kept entry is one the reader saw");
    assert!(oldest >= 2, "at least two entries were trimmed");
    // A reader whose own last entry was trimmed, but nothing after it, missed nothing...
    let just_behind = h.feed(&tenant(), &cursors[oldest - 1], ALL).await;
    assert!(!just_behind.missed, "nothing after its cursor was trimmed");
    assert_eq!(just_behind.entries, *kept);
    // ...one entry further behind, it did.
    let behind = h.feed(&tenant(), &cursors[oldest - 2], ALL).await;
    assert!(behind.missed, "the entry after its cursor was trimmed");
    assert_eq!(behind.entries, *kept);
    // Readers inside the kept range, or past its end, missed nothing.
    let inside = h.feed(&tenant(), &after(&kept[..1]), ALL).await;
    assert!(!inside.missed);
    assert_eq!(inside.entries, kept[1..]);
    let done = h.feed(&tenant(), cursors.last().unwrap(), ALL).await;
    assert!(!done.missed && done.entries.is_empty());
    // A reader told once goes on from the page, and is not told again.
    let read = FeedCursor::START.after_page(&from_start);
    let next = h.feed(&tenant(), &read, ALL).await;
    assert!(!next.missed && next.entries.is_empty());
    // A limit does not change the verdict.
    assert!(h.feed(&tenant(), &cursors[0], 1).await.missed);
    assert!(h.feed(&tenant(), &cursors[0], 0).await.missed);
    // Another tenant's feed is not affected by this one's trimming.
    assert!(
        !h.feed(&other_tenant(), &FeedCursor::START, ALL)
            .await
            .missed
    );
}

async fn signals_carry_the_cursor_of_their_feed_entry(backend: Backend) {
    let h = open_default(backend).await;
    let announced = h.announced_entries_of_one_finished_job().await;
    assert_eq!(announced, h.whole_feed(&tenant()).await);
}

async fn the_feed_head_is_the_newest_entry_and_nothing_follows_it(backend: Backend) {
    let h = open_default(backend).await;
    let head = h.store.feed_head(&tenant()).await.expect("feed head");
    assert_eq!(head, FeedCursor::START, "an empty feed ends at the start");
    h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    let head = h.store.feed_head(&tenant()).await.expect("feed head");
    let whole = h.whole_feed(&tenant()).await;
    assert_eq!(head, after(&whole));
    assert!(h.feed(&tenant(), &head, ALL).await.entries.is_empty());
    h.store.complete(lease, None).await.expect("complete");
    let later = h.feed(&tenant(), &head, ALL).await.entries;
    assert_eq!(
        later.iter().map(|e| e.event.kind).collect::<Vec<_>>(),
        [EventType::Completed]
    );
    assert_eq!(
        h.store.feed_head(&other_tenant()).await.expect("feed head"),
        FeedCursor::START
    );
}

async fn an_expired_jobs_events_are_no_longer_served_by_its_tenants_feed(backend: Backend) {
    let h = open(backend, crate::retention::config()).await;
    let kept = h.create(new_job("demo.report", json!({}))).await;
    let gone = h.create(new_job("demo.sleep", json!({}))).await;
    let lease = h.claim_one("demo.sleep").await.lease;
    h.store.complete(lease, None).await.unwrap();
    let before = h.whole_feed(&tenant()).await;
    assert_eq!(
        before.len(),
        4,
        "both jobs' events, while the short-lived one lives"
    );
    let types = [job_type("demo.sleep"), job_type("demo.report")];
    eventually(
        "the short-lived job to expire",
        Duration::from_secs(10),
        || async {
            h.store.maintain(&h.worker, &types).await.unwrap();
            let expired = h.store.get(&tenant(), &gone.id).await.unwrap().is_none();
            expired.then_some(())
        },
    )
    .await;

    // From the start, after any of its events, with or without a limit: never its events.
    let from_start = h.feed(&tenant(), &FeedCursor::START, ALL).await;
    let ids: Vec<JobId> = from_start.entries.iter().map(|e| e.event.job.id).collect();
    assert_eq!(ids, [kept.id], "only the job still kept");
    assert!(
        from_start.missed,
        "events after the start are no longer served"
    );
    for i in 0..before.len() {
        for limit in [0, 1, ALL] {
            let page = h.feed(&tenant(), &after(&before[..=i]), limit).await;
            assert!(page.entries.iter().all(|e| e.event.job.id != gone.id));
        }
    }
    // A reader past the expired job's last event missed nothing.
    let last = after(&before);
    let caught_up = h.feed(&tenant(), &last, ALL).await;
    assert!(caught_up.entries.is_empty() && !caught_up.missed);
    // The job kept for an hour keeps its events in the feed.
    let later = h.create(new_job("demo.report", json!({}))).await;
    let page = h.feed(&tenant(), &last, ALL).await;
    assert_eq!(summary(&page.entries), [(later.id, 1, EventType::Pending)]);
}

async fn the_feed_serves_no_event_older_than_the_retention_and_says_so(backend: Backend) {
    let h = open_with(backend, |c| c.retention = Duration::from_secs(2)).await;
    let old = h.create(new_job("demo.report", json!({}))).await;
    let first = h.whole_feed(&tenant()).await;
    assert_eq!(first.len(), 1);
    eventually("the event to age out", Duration::from_secs(10), || async {
        let page = h.feed(&tenant(), &FeedCursor::START, ALL).await;
        page.entries.is_empty().then_some(page)
    })
    .await;
    // The job has not finished: it is kept, but its old event is not served any more.
    assert!(h.store.get(&tenant(), &old.id).await.unwrap().is_some());
    let fresh = h.create(new_job("demo.report", json!({}))).await;
    let page = h.feed(&tenant(), &FeedCursor::START, ALL).await;
    assert_eq!(summary(&page.entries), [(fresh.id, 1, EventType::Pending)]);
    assert!(
        page.missed,
        "a reader from the start missed the aged-out event"
    );
    let after_it = h.feed(&tenant(), &after(&first), ALL).await;
    assert!(!after_it.missed, "nothing after its cursor is gone");
    assert_eq!(after_it.entries, page.entries);
}

async fn a_quiet_tenants_feed_still_ends_where_it_did_and_tells_who_missed_what(backend: Backend) {
    let h = open_with(backend, |c| c.retention = Duration::from_millis(500)).await;
    let types = [job_type("demo.report")];
    h.create(new_job("demo.report", json!({}))).await;
    h.create(new_job("demo.report", json!({}))).await;
    let head = h.store.feed_head(&tenant()).await.unwrap();
    let entries = h.whole_feed(&tenant()).await;
    assert_eq!(head, after(&entries));
    eventually(
        "the quiet feed to age out",
        Duration::from_secs(10),
        || async {
            h.store.maintain(&h.worker, &types).await.unwrap();
            let page = h.feed(&tenant(), &FeedCursor::START, ALL).await;
            page.entries.is_empty().then_some(())
        },
    )
    .await;
    assert_eq!(h.store.feed_head(&tenant()).await.unwrap(), head);

    let next = h.create(new_job("demo.report", json!({}))).await;
    let caught_up = h.feed(&tenant(), &head, ALL).await;
    assert!(!caught_up.missed, "a reader at the head missed nothing");
    assert_eq!(
        summary(&caught_up.entries),
        [(next.id, 1, EventType::Pending)]
    );
    let behind = h.feed(&tenant(), &after(&entries[..1]), ALL).await;
    assert!(
        behind.missed,
        "a reader before the last aged-out event missed it"
    );
    assert_eq!(behind.entries, caught_up.entries);
    let read = after(&entries[..1]).after_page(&behind);
    assert!(!h.feed(&tenant(), &read, ALL).await.missed, "told once");
    // A reader behind a feed with nothing left at all is told too, once.
    let quiet = other_tenant();
    h.create(herald_testkit::jobs::for_tenant(
        new_job("demo.report", json!({})),
        quiet.clone(),
    ))
    .await;
    let theirs = h.store.feed_head(&quiet).await.unwrap();
    eventually("their feed to age out", Duration::from_secs(10), || async {
        h.store.maintain(&h.worker, &types).await.unwrap();
        let page = h.feed(&quiet, &FeedCursor::START, ALL).await;
        page.entries.is_empty().then_some(page)
    })
    .await;
    let gone = h.feed(&quiet, &FeedCursor::START, ALL).await;
    assert!(gone.missed && gone.entries.is_empty());
    let read = FeedCursor::START.after_page(&gone);
    assert_eq!(read, theirs, "past everything gone");
    assert!(!h.feed(&quiet, &read, ALL).await.missed);
}
