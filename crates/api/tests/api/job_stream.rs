//! `GET /v1/jobs/{id}/events`: one job's Server-Sent Events — the opening, the exact sequence
//! of a job driven through the store, resumption with `Last-Event-ID`, the end of the stream,
//! heartbeats, slow clients and the hub's bookkeeping.

use std::time::Duration;

use herald_testkit::eventually;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{TestApp, assert_problem, error_fields, id_of, spawn_app};
use herald_testkit::sse::{Event, Item, SseStream};

/// The names and ids of `events`, for comparing sequences at a glance.
fn summary(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| (e.id().to_owned(), e.name().to_owned()))
        .collect()
}

fn expected(sequence: &[(u64, &str)]) -> Vec<(String, String)> {
    sequence
        .iter()
        .map(|(seq, name)| (seq.to_string(), (*name).to_owned()))
        .collect()
}

/// Submits a `demo.sleep` and drives it through pending (1), processing (2), progress (3, 4)
/// and completed (5). Returns its id.
async fn finished_job(app: &TestApp) -> String {
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut lease = app.claim("demo.sleep").await;
    app.progress_to(&mut lease, 2).await;
    app.complete(lease, None).await;
    id
}

#[tokio::test]
async fn a_job_stream_opens_with_a_retry_hint_and_headers_that_keep_proxies_from_buffering() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut stream = app.job_stream(&id, None).await;
    assert!(
        stream
            .header(CONTENT_TYPE.as_str())
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(stream.header(CACHE_CONTROL.as_str()), Some("no-cache"));
    assert_eq!(stream.header("x-accel-buffering"), Some("no"));
    assert_eq!(stream.header("last-event-id"), None, "nothing was resumed");
    assert_eq!(stream.next().await, Some(Item::Retry(3000)));
}

#[tokio::test]
async fn a_job_stream_sends_the_current_state_then_every_change_and_ends_after_the_terminal_event()
{
    let app = spawn_app().await;
    let submitted = app.submit("demo.sleep").await;
    let id = id_of(&submitted).to_owned();
    let mut stream = app.job_stream(&id, None).await;
    let first = stream.next_event().await.expect("the current state");
    assert_eq!((first.id(), first.name()), ("1", "job.pending"));
    assert_eq!(first.json(), submitted, "data is the job resource");
    assert!(!first.data.contains('\n'), "data is one line of JSON");

    let mut lease = app.claim("demo.sleep").await;
    app.progress(&mut lease, 40).await;
    app.progress(&mut lease, 80).await;
    app.complete(lease, None).await;

    let rest = stream.events_to_end().await;
    assert_eq!(
        summary(&rest),
        expected(&[
            (2, "job.processing"),
            (3, "job.progress"),
            (4, "job.progress"),
            (5, "job.completed"),
        ]),
        "and then the server ends the stream"
    );
    for event in &rest {
        let job = event.json();
        assert_eq!(job["id"], id.as_str());
        assert_eq!(job["seq"], event.seq());
    }
    assert_eq!(rest[1].json()["progress"]["percent"], 40);
    assert_eq!(rest[2].json()["status"], "processing");
    let polled: Value = app.get_job(&id).await.json().await.unwrap();
    assert_eq!(
        rest[3].json(),
        polled,
        "the last event is what a poll shows"
    );
}

#[tokio::test]
async fn resuming_from_the_middle_sends_exactly_the_rest_and_says_where_replay_starts() {
    let app = spawn_app().await;
    let id = finished_job(&app).await;
    let rest = [
        (3, "job.progress"),
        (4, "job.progress"),
        (5, "job.completed"),
    ];

    let mut stream = app.job_stream(&id, Some("2")).await;
    assert_eq!(stream.header("last-event-id"), Some("2"));
    assert_eq!(summary(&stream.events_to_end().await), expected(&rest));

    // A first connection that cannot send headers names it in the query.
    let path = format!("/v1/jobs/{id}/events?last_event_id=2");
    let mut stream = SseStream::new(app.events_request(&path, None).await);
    assert_eq!(summary(&stream.events_to_end().await), expected(&rest));

    // A reconnecting EventSource still carries its first URL: the header wins.
    let path = format!("/v1/jobs/{id}/events?last_event_id=1");
    let response = app.events_request(&path, Some("3")).await;
    let mut stream = SseStream::new(response);
    assert_eq!(summary(&stream.events_to_end().await), expected(&rest[1..]));
}

#[tokio::test]
async fn a_resumed_stream_replays_the_history_then_goes_on_live() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut lease = app.claim("demo.sleep").await;
    app.progress(&mut lease, 10).await;

    let mut stream = app.job_stream(&id, Some("1")).await;
    let replayed = stream.events(2).await;
    assert_eq!(
        summary(&replayed),
        expected(&[(2, "job.processing"), (3, "job.progress")])
    );
    app.progress(&mut lease, 20).await;
    app.fail(lease, "out of paper").await;
    let live = stream.events_to_end().await;
    assert_eq!(
        summary(&live),
        expected(&[(4, "job.progress"), (5, "job.failed")])
    );
    assert_eq!(
        live[1].json()["error"],
        json!({"code": "handler_error", "message": "out of paper"})
    );
}

#[tokio::test]
async fn a_resume_from_beyond_the_kept_history_says_where_replay_really_starts() {
    let app = TestApp::builder().history_max(3).spawn().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut lease = app.claim("demo.sleep").await;
    app.progress_to(&mut lease, 3).await;

    // Events 1 and 2 are gone: replay starts after 2, not after 1.
    let mut stream = app.job_stream(&id, Some("1")).await;
    assert_eq!(stream.header("last-event-id"), Some("2"));
    let replayed = stream.events(3).await;
    let ids: Vec<u64> = replayed.iter().map(Event::seq).collect();
    assert_eq!(ids, [3, 4, 5]);
    stream.expect_no_event_for(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn a_reconnect_after_the_terminal_event_answers_204() {
    let app = spawn_app().await;
    let id = finished_job(&app).await;
    for last in ["5", "9"] {
        let response = app.job_events(&id, Some(last)).await;
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "Last-Event-ID {last}"
        );
        assert!(response.bytes().await.unwrap().is_empty());
    }
    let mut stream = app.job_stream(&id, Some("4")).await;
    assert_eq!(
        summary(&stream.events_to_end().await),
        expected(&[(5, "job.completed")])
    );
}

#[tokio::test]
async fn the_stream_of_a_finished_job_sends_its_final_state_and_ends() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    app.cancel_job(&id).await;
    let mut stream = app.job_stream(&id, None).await;
    let events = stream.events_to_end().await;
    assert_eq!(summary(&events), expected(&[(2, "job.canceled")]));
    assert_eq!(events[0].json()["error"]["code"], "canceled");
}

#[tokio::test]
async fn unknown_malformed_and_other_tenants_jobs_are_404_problems_before_any_streaming() {
    let app = spawn_app().await;
    let theirs = app.submit_for_other_tenant("demo.sleep").await;
    for id in [
        theirs.as_str(),
        "0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d",
        "not-a-job-id",
    ] {
        for last in [None, Some("1")] {
            let problem =
                assert_problem(app.job_events(id, last).await, StatusCode::NOT_FOUND).await;
            assert_eq!(problem["type"], "https://herald.dev/problems/not-found");
        }
    }
    assert_eq!(
        app.metric("herald_hub_subscribers{key=\"job\"}").await,
        Some(0.0),
        "refused streams leave nothing in the hub"
    );
}

#[tokio::test]
async fn a_last_event_id_that_is_not_a_seq_is_a_400_problem() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let problem = assert_problem(
        app.job_events(&id, Some("yesterday")).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error_fields(&problem), ["Last-Event-ID"]);
}

#[tokio::test]
async fn heartbeat_comments_keep_a_quiet_stream_alive() {
    let app = TestApp::builder()
        .sse_heartbeat(Duration::from_millis(100))
        .spawn()
        .await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let mut stream = app.job_stream(&id, None).await;
    let mut comments = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while comments < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {comments} heartbeats in 5 s at 100 ms"
        );
        match stream.next().await.expect("the stream stays open") {
            Item::Comment(_) => comments += 1,
            Item::Event(event) => assert_eq!(event.name(), "job.pending"),
            Item::Retry(_) => {}
        }
    }
}

#[tokio::test]
async fn a_client_that_never_reads_is_dropped_without_holding_up_another_stream_of_the_same_job() {
    let app = TestApp::builder().subscriber_buffer(4).spawn().await;
    // Big events fill the slow client's socket buffers quickly.
    let padding = "x".repeat(15_000);
    let response = app
        .post_job(&json!({"type": "demo.sleep", "metadata": {"padding": padding}}))
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = id_of(&response.json::<Value>().await.unwrap()).to_owned();
    let mut lease = app.claim("demo.sleep").await;

    // The slow client asks for the stream with a tiny receive window and never reads a byte.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let mut slow = socket.connect(address).await.unwrap();
    let request = format!("GET /v1/jobs/{id}/events HTTP/1.1\r\nHost: test\r\n\r\n");
    slow.write_all(request.as_bytes()).await.unwrap();
    eventually(
        "the slow stream to open",
        Duration::from_secs(10),
        || async {
            (app.metric("herald_hub_subscribers{key=\"job\"}").await == Some(1.0)).then_some(())
        },
    )
    .await;

    let mut fast = app.job_stream(&id, None).await;
    assert_eq!(fast.next_event().await.unwrap().seq(), 2);
    let lagged = "herald_sse_streams_lagged_total{kind=\"job\"}";
    let mut seq = 2;
    while app.metric(lagged).await != Some(1.0) {
        assert!(seq < 2_000, "the slow client was never dropped");
        // In lock step with the fast reader, which therefore never falls behind.
        for _ in 0..20 {
            app.progress(&mut lease, u8::try_from(seq % 100).unwrap())
                .await;
            seq += 1;
            let event = fast.next_event().await.expect("the fast stream goes on");
            assert_eq!(event.seq(), seq, "no gap, no duplicate");
        }
    }
    assert_eq!(
        app.metric("herald_hub_subscribers{key=\"job\"}").await,
        Some(1.0),
        "the hub let the slow one go and kept the fast one"
    );
    app.complete(lease, None).await;
    let last = fast.events_to_end().await;
    assert_eq!(summary(&last), expected(&[(seq + 1, "job.completed")]));
    drop(slow);
}

#[tokio::test]
async fn the_hub_forgets_streams_and_long_polls_once_their_clients_leave() {
    let app = TestApp::builder()
        .sse_heartbeat(Duration::from_millis(100))
        .spawn()
        .await;
    let mut streams = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = id_of(&app.submit("demo.sleep").await).to_owned();
        let mut stream = app.job_stream(&id, None).await;
        stream.next_event().await.expect("the current state");
        streams.push(stream);
        ids.push(id);
    }
    for query in [String::new(), format!("job={}", ids[0])] {
        let mut stream = app.feed_stream(&query, None).await;
        assert_eq!(stream.next().await, Some(Item::Retry(3000)));
        streams.push(stream);
    }
    let poll = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/v1/jobs/{}?wait=30", ids[0])),
        );
        tokio::spawn(async move {
            client
                .get(url)
                .header("If-None-Match", "\"1\"")
                .send()
                .await
        })
    };
    eventually(
        "every client to be counted",
        Duration::from_secs(10),
        || async { (bookkeeping(&app).await == [4.0, 2.0, 3.0, 2.0, 1.0]).then_some(()) },
    )
    .await;

    // The long poll, woken through the hub, answers; the streams' clients leave.
    app.claim("demo.sleep").await;
    let answer = poll.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    drop(streams);
    // The server notices the departed clients as their connections close.
    eventually(
        "the hub to be empty again",
        Duration::from_secs(10),
        || async { (bookkeeping(&app).await == [0.0; 5]).then_some(()) },
    )
    .await;
}

/// The hub's subscriptions by job and by tenant, the open job and feed streams, and the
/// waiting long polls.
async fn bookkeeping(app: &TestApp) -> [f64; 5] {
    let mut values = [0.0; 5];
    for (value, series) in values.iter_mut().zip([
        "herald_hub_subscribers{key=\"job\"}",
        "herald_hub_subscribers{key=\"tenant\"}",
        "herald_sse_streams_open{kind=\"job\"}",
        "herald_sse_streams_open{kind=\"feed\"}",
        "herald_long_polls_waiting",
    ]) {
        *value = app.metric(series).await.expect(series);
    }
    values
}
