//! Stopping the server through its shutdown token.

use std::time::{Duration, Instant};

use herald_testkit::eventually;
use reqwest::StatusCode;

use crate::helpers::{TestApp, id_of, spawn_app};
use herald_testkit::sse::Item;

#[tokio::test]
async fn a_waiting_long_poll_answers_at_once_when_the_server_shuts_down() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let poll = app.waiting_poll(&id, 60, 1).await;

    let started = Instant::now();
    app.shutdown.cancel();
    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it did not wait out its 60 s"
    );

    stopped(&app).await;
}

#[tokio::test]
async fn open_event_streams_end_at_once_when_the_server_shuts_down() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    // A stream the server cuts as it stops counts as ended, as one it finished does.
    let mut job = app.job_stream(&id, None).await.cut_is_end();
    job.next_event().await.expect("the current state");
    let mut feed = app.feed_stream("", None).await.cut_is_end();
    assert_eq!(feed.next().await, Some(Item::Retry(3000)));

    let started = Instant::now();
    app.shutdown.cancel();
    assert!(job.events_to_end().await.is_empty(), "the job stream ends");
    assert!(
        feed.events_to_end().await.is_empty(),
        "the feed stream ends"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "graceful shutdown does not wait for streams"
    );
    stopped(&app).await;
}

#[tokio::test]
async fn a_waiting_feed_long_poll_answers_at_once_when_the_server_shuts_down() {
    let app = spawn_app().await;
    let poll = {
        let (client, url) = (app.client.clone(), app.url("/v1/events?wait=60"));
        tokio::spawn(async move { client.get(url).send().await })
    };
    app.wait_for_long_polls(1).await;
    let started = Instant::now();
    app.shutdown.cancel();
    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// Waits until the server no longer answers.
async fn stopped(app: &TestApp) {
    eventually("the server to stop", Duration::from_secs(20), || async {
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
}
