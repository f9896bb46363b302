//! Server-Sent Events across real processes on one Redis: jobs submitted to one api process,
//! run by worker processes, streamed from another api process; streams cut and resumed on the
//! other process, streams whose process loses its Redis subscription, heartbeats, and the
//! stream and JSON feed of many jobs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_testkit::sse::{Event, Item, SseStream};
use herald_testkit::{RedisServer, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Herald, client, follow, get_job, is_terminal, kill_pubsub_of, on_redis, pubsub_clients_of,
    signal_subscribers, sleep_job, submit,
};

/// How long any one event may take to arrive: generous, the tests assert order, not speed.
const EACH: Duration = Duration::from_secs(60);

/// Opens the event stream at `url`, each read waiting up to [`EACH`].
async fn open(url: &str, last_event_id: Option<&str>) -> SseStream {
    SseStream::open(url, last_event_id).await.patience(EACH)
}

/// Two api processes (A takes submissions, B serves streams) on `redis`, ready.
async fn two_apis(redis: &RedisServer, extra: &[&str]) -> (Herald, Herald) {
    let a = Herald::start_ready(&on_redis(redis, "api", extra)).await;
    let b = Herald::start_ready(&on_redis(redis, "api", extra)).await;
    (a, b)
}

/// Two worker processes on `redis`.
async fn two_workers(redis: &RedisServer) -> (Herald, Herald) {
    let w1 = Herald::start(&on_redis(redis, "worker", &[])).await;
    let w2 = Herald::start(&on_redis(redis, "worker", &[])).await;
    (w1, w2)
}

fn job_events_url(api: &Herald, id: &str) -> String {
    api.url(&format!("/v1/jobs/{id}/events"))
}

fn id_of(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// A `demo.report` that reports progress for about `rows / 20` seconds.
fn report_job(rows: u64) -> Value {
    json!({"type": "demo.report", "payload": {"rows": rows, "rows_per_second": 20}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_on_another_api_shows_the_current_state_then_every_change_to_completed() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    let job = submit(&a, report_job(20)).await;
    let id = id_of(&job);
    // No worker yet: the job waits, so its current state is known exactly.
    let current = get_job(&b, &id).await;
    assert_eq!(current["status"], "pending");

    let url = job_events_url(&b, &id);
    let mut stream = open(&url, None).await;
    let headers = stream.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        header("cache-control").contains("no-cache"),
        "Cache-Control: {:?}",
        header("cache-control")
    );
    assert_eq!(header("x-accel-buffering"), "no");
    let first = stream.next().await.expect("a first line");
    assert!(
        matches!(first, Item::Retry(millis) if millis > 0),
        "the stream must open with a retry: hint, got {first:?}"
    );
    let first = stream.next_event().await.expect("the current state");
    assert_eq!(first.event, "job.pending", "{first:?}");
    assert_eq!(first.seq(), current["seq"].as_u64().expect("seq"));
    assert_eq!(first.json()["id"], id.as_str());

    let _workers = two_workers(&redis).await;
    let mut events = vec![first];
    events.extend(stream.events_to_end().await);
    assert_consecutive(&events, "job.completed");
    let types: HashSet<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert!(
        types.contains("job.processing") && types.contains("job.progress"),
        "{:?}",
        summary(&events)
    );
    let last = events.last().expect("events");
    assert_eq!(
        last.json()["result_url"],
        format!("/v1/jobs/{id}/result"),
        "{last:?}"
    );
    // The stream and polling agree on the final state.
    assert_eq!(get_job(&a, &id).await["seq"], last.seq());

    // A reconnect after the terminal event answers 204 on either process, which stops an
    // EventSource from reconnecting again.
    for api in [&a, &b] {
        for after in [last.seq(), last.seq() + 5] {
            let answer =
                herald_testkit::sse::request(&job_events_url(api, &id), Some(&after.to_string()))
                    .await;
            assert_eq!(
                answer.status(),
                StatusCode::NO_CONTENT,
                "Last-Event-ID {after} on {}",
                api.base
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_mid_job_resumes_on_the_other_api_without_gap_or_duplicate() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    let _workers = two_workers(&redis).await;
    let job = submit(&a, report_job(60)).await;
    let id = id_of(&job);

    // Take a few events from one process, hang up, resume from the last id on the other one,
    // and again, until the job is done.
    let mut seen: Vec<Event> = Vec::new();
    let mut connections = 0;
    let mut resumed_mid_job = 0;
    'connections: for api in [&a, &b].into_iter().cycle() {
        let last_id = seen.last().map(|e| e.id().to_owned());
        if let Some(last) = seen.last() {
            // While the client is away the job moves on by at least two events, so the
            // resumed stream must replay them from history (the current state alone would
            // leave a gap).
            let after = last.seq() + 2;
            follow(&a, &id, EACH, |job| {
                job["seq"].as_u64() >= Some(after) || is_terminal(job)
            })
            .await;
        }
        let mut stream = open(&job_events_url(api, &id), last_id.as_deref()).await;
        connections += 1;
        if last_id.is_some() {
            resumed_mid_job += 1;
        }
        for _ in 0..3 {
            let event = stream.next_event().await.unwrap_or_else(|| {
                panic!(
                    "the stream on {} ended before the terminal event; so far {:?}",
                    api.base,
                    summary(&seen)
                )
            });
            let terminal = event.event == "job.completed";
            seen.push(event);
            if terminal {
                stream.expect_end_within(EACH).await;
                break 'connections;
            }
        }
        assert!(
            connections < 100,
            "too many reconnections: {:?}",
            summary(&seen)
        );
    }
    assert!(
        resumed_mid_job >= 2,
        "the job was too short to resume mid-job: {:?}",
        summary(&seen)
    );
    // Every seq from the first seen to the terminal one, exactly once, across all
    // connections.
    assert_consecutive(&seen, "job.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_delivers_every_event_while_its_process_loses_its_redis_subscription() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    let _workers = two_workers(&redis).await;
    assert_eq!(
        pubsub_clients_of(&redis, &b).await.len(),
        1,
        "an api process holds one pub/sub connection"
    );
    let job = submit(&a, report_job(160)).await;
    let id = id_of(&job);
    let mut stream = open(&job_events_url(&b, &id), None).await;
    let first = stream.next_event().await.expect("the current state");

    // First B is frozen while its subscription is cut, and stays frozen for a second while
    // the job moves on: the events of that second are certainly lost to B's pub/sub, and the
    // stream can only get them from the job's history (twice). Then the subscription is cut
    // again and again while B runs, which races the resubscription itself.
    let done = AtomicBool::new(false);
    let read = async {
        let mut events = vec![first];
        events.extend(stream.events_to_end().await);
        done.store(true, Ordering::Relaxed);
        events
    };
    let cut = async {
        let mut cuts = 0;
        for _ in 0..2 {
            b.signal("STOP");
            cuts += kill_pubsub_of(&redis, &b).await;
            tokio::time::sleep(Duration::from_secs(1)).await;
            b.signal("CONT");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        while !done.load(Ordering::Relaxed) {
            cuts += kill_pubsub_of(&redis, &b).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        cuts
    };
    let (events, cuts) = tokio::join!(read, cut);

    assert_consecutive(&events, "job.completed");
    assert!(cuts >= 2, "B's subscription was cut only {cuts} times");

    // The hub came back, as one subscription again, and live events flow through it.
    eventually(
        "B to hold exactly one pub/sub connection again",
        EACH,
        || async { (pubsub_clients_of(&redis, &b).await.len() == 1).then_some(()) },
    )
    .await;
    let job = submit(&a, report_job(10)).await;
    let id = id_of(&job);
    let events = open(&job_events_url(&b, &id), None)
        .await
        .events_to_end()
        .await;
    assert_consecutive(&events, "job.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_open_streams_share_one_redis_subscription_per_process() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    let before = signal_subscribers(&redis).await;
    assert_eq!(before, 2, "one subscription per api process");

    // No worker: the jobs stay pending and their streams stay open.
    let mut streams = Vec::new();
    for _ in 0..10 {
        let id = id_of(&submit(&a, sleep_job(1.0, 1)).await);
        for api in [&a, &b] {
            let mut stream = open(&job_events_url(api, &id), None).await;
            let event = stream.next_event().await.expect("the current state");
            assert_eq!(event.event, "job.pending");
            streams.push(stream);
        }
    }
    assert_eq!(
        signal_subscribers(&redis).await,
        before,
        "20 open streams must not open Redis subscriptions of their own"
    );

    // And they are all live: once a worker runs the jobs, every stream ends on completion.
    let _workers = two_workers(&redis).await;
    for mut stream in streams {
        let events = stream.events_to_end().await;
        assert_eq!(
            events.last().map(|e| e.event.as_str()),
            Some("job.completed"),
            "{:?}",
            summary(&events)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_a_quiet_stream_alive() {
    let redis = RedisServer::start();
    let api = Herald::start_ready(&on_redis(&redis, "api", &["--sse-heartbeat", "1s"])).await;
    let _worker = Herald::start(&on_redis(&redis, "worker", &[])).await;
    let job = submit(&api, sleep_job(120.0, 1)).await;
    let id = id_of(&job);

    let mut stream = open(&job_events_url(&api, &id), None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut heartbeats = Vec::new();
    while heartbeats.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(
            !left.is_zero(),
            "only {heartbeats:?} in 60 s with --sse-heartbeat 1s"
        );
        match stream
            .next_within(left)
            .await
            .expect("the stream of a running job stays open")
        {
            Item::Comment(text) => heartbeats.push(text),
            Item::Event(event) => assert!(!is_terminal(&event.json()), "{event:?}"),
            Item::Retry(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_also_end_after_a_failure_or_a_cancel() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;

    // Canceled while pending, with no worker around.
    let pending = id_of(&submit(&a, sleep_job(1.0, 1)).await);
    let mut stream = open(&job_events_url(&b, &pending), None).await;
    let first = stream.next_event().await.expect("the current state");
    let answer = client()
        .post(a.url(&format!("/v1/jobs/{pending}/cancel")))
        .send()
        .await
        .expect("cancel");
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
    let mut events = vec![first];
    events.extend(stream.events_to_end().await);
    assert_consecutive(&events, "job.canceled");

    // A handler failure.
    let _workers = two_workers(&redis).await;
    let failing = submit(
        &a,
        json!({"type": "demo.fail", "payload": {"message": "out of paper"}, "max_attempts": 1}),
    )
    .await;
    let failing = id_of(&failing);
    let events = open(&job_events_url(&b, &failing), None)
        .await
        .events_to_end()
        .await;
    assert_consecutive(&events, "job.failed");
    assert_eq!(
        events.last().expect("events").json()["error"],
        json!({"code": "handler_error", "message": "out of paper"})
    );
}

/// `?job=<id>&...&types=<types>` for the many-job stream.
fn feed_query(ids: &[String], types: &str) -> String {
    let jobs: Vec<String> = ids.iter().map(|id| format!("job={id}")).collect();
    format!("{}&types={types}", jobs.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_many_job_stream_delivers_exactly_the_completions_it_follows_and_resumes_elsewhere() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    // Submitted before any worker runs, so no completion can slip past the stream.
    let followed: Vec<String> = submit_sleeps(&a, 5).await;
    let others: Vec<String> = submit_sleeps(&a, 2).await;
    let query = feed_query(&followed, "job.completed");
    let url = b.url(&format!("/v1/events/stream?{query}"));
    let mut stream = open(&url, None).await;

    let _workers = two_workers(&redis).await;
    let mut completions = Vec::new();
    while completions.len() < followed.len() {
        let event = stream
            .next_event()
            .await
            .expect("the many-job stream stays open");
        completions.push(event);
    }
    let mut jobs = HashSet::new();
    for event in &completions {
        assert_eq!(event.event, "job.completed", "{event:?}");
        let job = event.json();
        assert_eq!(job["status"], "completed", "{event:?}");
        let id = job["id"].as_str().expect("id").to_owned();
        assert!(followed.contains(&id), "a job not followed: {event:?}");
        assert!(
            jobs.insert(id),
            "a job completed twice: {:?}",
            summary(&completions)
        );
    }
    let cursors: HashSet<&str> = completions.iter().map(Event::id).collect();
    assert_eq!(
        cursors.len(),
        completions.len(),
        "{:?}",
        summary(&completions)
    );

    // The jobs not followed finish too, and nothing more arrives.
    for id in &others {
        follow(&a, id, EACH, is_terminal).await;
    }
    stream.expect_no_event_for(Duration::from_secs(2)).await;

    // Resumed after the second completion on the other process: the last three again, same
    // cursors, same order.
    let url = a.url(&format!("/v1/events/stream?{query}"));
    let mut resumed = open(&url, Some(completions[1].id())).await;
    for expected in &completions[2..] {
        let event = resumed.next_event().await.expect("a resumed event");
        assert_eq!(
            (event.id(), event.event.as_str(), event.json()["id"].clone()),
            (
                expected.id(),
                expected.event.as_str(),
                expected.json()["id"].clone()
            )
        );
    }
    resumed.expect_no_event_for(Duration::from_secs(2)).await;
}

/// Submits `n` short sleeps and returns their ids.
async fn submit_sleeps(api: &Herald, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(id_of(&submit(api, sleep_job(0.3, 1)).await));
    }
    ids
}

/// Pages `GET /v1/events?after=<cursor>` until a page comes back empty; returns the events
/// and the cursor to wait after.
async fn read_feed(api: &Herald, after: &str) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after.to_owned();
    loop {
        let answer = client()
            .get(api.url(&format!("/v1/events?after={cursor}")))
            .send()
            .await
            .expect("GET /v1/events");
        assert_eq!(answer.status(), StatusCode::OK);
        let page: Value = answer.json().await.expect("a JSON page");
        let data = page["data"].as_array().expect("data").clone();
        let last_id = data.last().and_then(|e| e["id"].as_str());
        match (page["next_cursor"].as_str(), last_id) {
            (Some(next), _) | (None, Some(next)) => cursor = next.to_owned(),
            (None, None) => {}
        }
        if data.is_empty() {
            return (events, cursor);
        }
        events.extend(data);
        assert!(events.len() < 10_000, "the feed does not end");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_feed_pages_the_streams_events_and_long_polls_for_the_next() {
    let redis = RedisServer::start();
    let (a, b) = two_apis(&redis, &[]).await;
    let ids = submit_sleeps(&a, 3).await;
    let url = b.url(&format!(
        "/v1/events/stream?{}",
        feed_query(&ids, "job.completed")
    ));
    let mut stream = open(&url, None).await;
    let _workers = two_workers(&redis).await;
    let mut completions = Vec::new();
    for _ in 0..ids.len() {
        completions.push(stream.next_event().await.expect("a completion"));
    }

    // The feed after the first completion holds the other two at the same cursors, with
    // every event's fields, and each job's seq only grows.
    let (events, cursor) = read_feed(&a, completions[0].id()).await;
    for event in &events {
        for field in ["id", "type", "timestamp", "data"] {
            assert!(!event[field].is_null(), "no {field} in {event}");
        }
    }
    for expected in &completions[1..] {
        let found: Vec<&Value> = events.iter().filter(|e| e["id"] == expected.id()).collect();
        assert_eq!(found.len(), 1, "{expected:?} in {events:#?}");
        assert_eq!(found[0]["type"], "job.completed");
        assert_eq!(found[0]["data"]["id"], expected.json()["id"]);
        assert_eq!(found[0]["data"]["seq"], expected.json()["seq"]);
    }
    let mut last_seq = std::collections::HashMap::new();
    for event in &events {
        let job = event["data"]["id"].as_str().expect("job id").to_owned();
        let seq = event["data"]["seq"].as_u64().expect("seq");
        if let Some(previous) = last_seq.insert(job, seq) {
            assert!(seq > previous, "{events:#?}");
        }
    }

    // A long poll after the end answers once something new happens.
    let poll = {
        let url = a.url(&format!("/v1/events?after={cursor}&wait=30"));
        tokio::spawn(async move { client().get(url).send().await })
    };
    // Give the poll a moment to be waiting, so the wake-up path is the one exercised (were it
    // late, it would still find the event in the feed's history).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fresh = id_of(&submit(&b, sleep_job(0.1, 1)).await);
    let answer = poll.await.expect("poll task").expect("long poll");
    assert_eq!(answer.status(), StatusCode::OK);
    let page: Value = answer.json().await.expect("a JSON page");
    let data = page["data"].as_array().expect("data");
    assert!(
        data.iter().any(|e| e["data"]["id"] == fresh.as_str()),
        "the long poll answered without the new job: {page}"
    );
}

/// Asserts that `events` are one job's history without a gap: ids count up by one from the
/// first, each event's data is the job at that seq with the status its type names, and the
/// last is `terminal`.
pub fn assert_consecutive(events: &[Event], terminal: &str) {
    assert!(!events.is_empty(), "no events");
    let first = events[0].seq();
    for (i, event) in events.iter().enumerate() {
        let job = event.json();
        assert_eq!(
            event.seq(),
            first + i as u64,
            "a gap or a duplicate at event {i}: {:#?}",
            summary(events)
        );
        assert_eq!(
            job["seq"],
            event.seq(),
            "data.seq differs from the id: {event:?}"
        );
        let status = event
            .event
            .strip_prefix("job.")
            .unwrap_or_else(|| panic!("an event type outside job.*: {event:?}"));
        if status == "progress" {
            assert_eq!(job["status"], "processing", "{event:?}");
        } else {
            assert_eq!(job["status"], status, "{event:?}");
        }
    }
    let last = events.last().expect("events");
    assert_eq!(last.event, terminal, "{:#?}", summary(events));
}

/// `(id, type)` of each event, for assertion messages.
pub fn summary(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.id.clone().unwrap_or_default(), e.event.clone()))
        .collect()
}
