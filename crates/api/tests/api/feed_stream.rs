//! `GET /v1/events/stream`: one stream for many jobs of the tenant — filters by job and type,
//! the named jobs' current state first, live events, resumption by cursor.

use std::time::Duration;

use herald_testkit::sse::{Event, Item, SseStream};
use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_problem, error_fields, id_of, pairs, spawn_app};

/// `(job id, event type)` of each event.
fn summary(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let job = e.json()["id"].as_str().unwrap().to_owned();
            (job, e.name().to_owned())
        })
        .collect()
}

/// A feed cursor `<ms>-<n>` as a pair that orders like the cursor.
fn cursor(id: &str) -> (u64, u64) {
    let (ms, n) = id.split_once('-').expect("a cursor <ms>-<n>");
    (ms.parse().unwrap(), n.parse().unwrap())
}

fn assert_rising(events: &[Event]) {
    for pair in events.windows(2) {
        assert!(
            cursor(pair[0].id()) < cursor(pair[1].id()),
            "cursors rise: {} then {}",
            pair[0].id(),
            pair[1].id()
        );
    }
}

#[tokio::test]
async fn a_feed_stream_follows_only_the_named_jobs_and_the_types_asked_for() {
    let app = spawn_app().await;
    let a = id_of(&app.submit("demo.sleep").await).to_owned();
    let b = id_of(&app.submit("demo.report").await).to_owned();
    let _c = id_of(&app.submit("demo.fail").await).to_owned();
    let query = format!("job={a}&job={b}&types=job.processing,job.completed");
    let mut stream = app.feed_stream(&query, None).await;
    assert_eq!(stream.header("x-accel-buffering"), Some("no"));
    assert_eq!(stream.next().await, Some(Item::Retry(3000)));

    // Their current state is pending, which was not asked for: nothing until they move.
    let job_a = app.claim("demo.sleep").await;
    let job_c = app.claim("demo.fail").await;
    let mut job_b = app.claim("demo.report").await;
    app.complete(job_a, None).await;
    app.complete(job_c, None).await;
    app.progress(&mut job_b, 50).await;
    app.complete(job_b, None).await;

    let events = stream.events(4).await;
    assert_eq!(
        summary(&events),
        pairs(&[
            (&a, "job.processing"),
            (&b, "job.processing"),
            (&a, "job.completed"),
            (&b, "job.completed"),
        ])
    );
    assert_rising(&events);
    for event in &events {
        assert_eq!(
            event.json()["status"],
            event.name().trim_start_matches("job.")
        );
    }
    stream.expect_no_event_for(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_feed_stream_starts_with_the_current_state_of_each_named_job() {
    let app = spawn_app().await;
    let a = id_of(&app.submit("demo.sleep").await).to_owned();
    let b = id_of(&app.submit("demo.report").await).to_owned();
    let mut lease = app.claim("demo.sleep").await;
    app.progress(&mut lease, 30).await;

    let mut stream = app.feed_stream(&format!("job={a}&job={b}"), None).await;
    let current = stream.events(2).await;
    assert_eq!(
        summary(&current),
        pairs(&[(&a, "job.progress"), (&b, "job.pending")])
    );
    assert_eq!(current[0].json()["seq"], 3);
    let head = current[0].id().to_owned();
    assert_eq!(current[1].id(), head, "both are as of the feed's end");

    app.complete(lease, None).await;
    let live = stream.events(1).await;
    assert_eq!(summary(&live), pairs(&[(&a, "job.completed")]));
    assert!(cursor(live[0].id()) > cursor(&head));

    // Resuming from the current states continues right after them.
    let mut resumed = app
        .feed_stream(&format!("job={a}&job={b}"), Some(&head))
        .await;
    assert_eq!(resumed.header("last-event-id"), Some(head.as_str()));
    let again = resumed.events(1).await;
    assert_eq!(again[0].id(), live[0].id());
    assert_eq!(summary(&again), summary(&live));
    resumed
        .expect_no_event_for(Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn a_feed_stream_without_jobs_is_live_from_now_and_resumes_after_a_cursor() {
    let app = spawn_app().await;
    let x = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut stream = app.feed_stream("", None).await;
    let lease = app.claim("demo.sleep").await;
    let y = id_of(&app.submit("demo.report").await).to_owned();
    app.complete(lease, None).await;
    let events = stream.events(3).await;
    assert_eq!(
        summary(&events),
        pairs(&[
            (&x, "job.processing"),
            (&y, "job.pending"),
            (&x, "job.completed")
        ]),
        "x's pending event came before the stream"
    );
    assert_rising(&events);
    drop(stream);

    let mut resumed = app.feed_stream("", Some(events[0].id())).await;
    let rest = resumed.events(2).await;
    assert_eq!(rest, events[1..], "the same events at the same cursors");
    resumed
        .expect_no_event_for(Duration::from_millis(300))
        .await;

    let path = format!("/v1/events/stream?last_event_id={}", events[1].id());
    let response = app.events_request(&path, None).await;
    let mut resumed = SseStream::new(response);
    assert_eq!(resumed.events(1).await, events[2..]);
}

#[tokio::test]
async fn a_feed_stream_resumed_from_a_trimmed_cursor_answers_earliest() {
    let app = TestApp::builder().feed_max(3).spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(id_of(&app.submit("demo.sleep").await).to_owned());
    }
    let mut stream = app.feed_stream("", Some("1-0")).await;
    assert_eq!(stream.header("last-event-id"), Some("earliest"));
    let kept = stream.events(3).await;
    let jobs: Vec<String> = kept
        .iter()
        .map(|e| e.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(jobs, ids[2..], "from the oldest event kept");
}

#[tokio::test]
async fn a_feed_stream_refuses_bad_filters_cursors_and_more_than_a_hundred_jobs() {
    let app = spawn_app().await;
    let many: Vec<String> = (0..101)
        .map(|_| format!("job={}", herald_core::JobId::generate()))
        .collect();
    for (query, last, field) in [
        ("job=nope".to_owned(), None, "job"),
        ("types=job.done".to_owned(), None, "types"),
        (many.join("&"), None, "job"),
        (String::new(), Some("not-a-cursor"), "Last-Event-ID"),
    ] {
        let path = format!("/v1/events/stream?{query}");
        let response = app.events_request(&path, last).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), [field], "{query} {last:?}");
    }
}

#[tokio::test]
async fn another_tenants_jobs_never_show_in_the_feed_stream() {
    let app = spawn_app().await;
    let theirs = app.submit_for_other_tenant("demo.sleep").await;
    let mut named = app.feed_stream(&format!("job={theirs}"), None).await;
    let mut all = app.feed_stream("", None).await;
    app.submit_for_other_tenant("demo.sleep").await;
    let mine = id_of(&app.submit("demo.report").await).to_owned();
    named.expect_no_event_for(Duration::from_millis(300)).await;
    assert_eq!(
        summary(&all.events(1).await),
        pairs(&[(&mine, "job.pending")])
    );
}
