//! Stopping the server through its shutdown token.

use std::time::{Duration, Instant};

use herald_testkit::eventually;
use reqwest::StatusCode;

use crate::helpers::{id_of, spawn_app};

#[tokio::test]
async fn a_waiting_long_poll_answers_at_once_when_the_server_shuts_down() {
    let app = spawn_app().await;
    let id = id_of(&app.submit("demo.sleep").await).to_owned();
    let poll = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/v1/jobs/{id}?wait=60")),
        );
        tokio::spawn(async move {
            client
                .get(url)
                .header("If-None-Match", "\"1\"")
                .send()
                .await
        })
    };
    eventually("the long poll to wait", Duration::from_secs(10), || async {
        app.metrics()
            .await
            .contains("herald_long_polls_waiting 1")
            .then_some(())
    })
    .await;

    let started = Instant::now();
    app.shutdown.cancel();
    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it did not wait out its 60 s"
    );

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
