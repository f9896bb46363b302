//! `GET /v1/events`: the tenant's feed as JSON pages — cursors, filters, the long poll.

use std::time::{Duration, Instant};

use chrono::DateTime;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, error_fields, id_of, pairs, spawn_app};

async fn page(app: &TestApp, query: &str) -> Value {
    let response = app.events_page(query).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

/// `(job id, type)` of each event of a page.
fn summary(page: &Value) -> Vec<(String, String)> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let job = e["data"]["id"].as_str().unwrap().to_owned();
            (job, e["type"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn next_cursor(page: &Value) -> String {
    page["next_cursor"]
        .as_str()
        .expect("a next_cursor")
        .to_owned()
}

#[tokio::test]
async fn the_feed_pages_every_event_with_its_cursor_type_timestamp_and_job() {
    let app = spawn_app().await;
    let a = id_of(&app.submit("demo.sleep").await).to_owned();
    let b = id_of(&app.submit("demo.report").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    app.complete(lease, None).await;

    let first = page(&app, "limit=3").await;
    assert_eq!(
        summary(&first),
        pairs(&[
            (&a, "job.pending"),
            (&b, "job.pending"),
            (&a, "job.processing")
        ])
    );
    assert_eq!(first["missed"], false);
    let events = first["data"].as_array().unwrap();
    for event in events {
        let id = event["id"].as_str().unwrap();
        assert!(id.split_once('-').is_some(), "a cursor: {id}");
        let timestamp = event["timestamp"].as_str().unwrap();
        assert!(
            DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
        assert_eq!(event["timestamp"], event["data"]["updated_at"]);
    }
    assert_eq!(next_cursor(&first), events[2]["id"].as_str().unwrap());

    let second = page(&app, &format!("after={}&limit=3", next_cursor(&first))).await;
    assert_eq!(summary(&second), pairs(&[(&a, "job.completed")]));
    let polled: Value = app.get_job(&a).await.json().await.unwrap();
    assert_eq!(
        second["data"][0]["data"], polled,
        "data is the job resource"
    );

    let after = next_cursor(&second);
    let empty = page(&app, &format!("after={after}")).await;
    assert_eq!(empty["data"], Value::Array(vec![]));
    assert_eq!(next_cursor(&empty), after, "an empty page keeps the cursor");
}

#[tokio::test]
async fn the_feed_filters_by_job_and_type_and_moves_past_what_it_skipped() {
    let app = spawn_app().await;
    let a = id_of(&app.submit("demo.sleep").await).to_owned();
    let _b = id_of(&app.submit("demo.report").await).to_owned();
    let lease = app.claim("demo.sleep").await;
    app.complete(lease, None).await;

    let completed = page(&app, &format!("job={a}&types=job.completed")).await;
    assert_eq!(summary(&completed), pairs(&[(&a, "job.completed")]));
    let everything = page(&app, "").await;
    assert_eq!(everything["data"].as_array().unwrap().len(), 4);
    assert_eq!(next_cursor(&completed), next_cursor(&everything));

    let nothing = page(&app, "types=job.failed").await;
    assert_eq!(nothing["data"], Value::Array(vec![]));
    assert_eq!(
        next_cursor(&nothing),
        next_cursor(&everything),
        "the cursor moves past the events looked at"
    );
}

#[tokio::test]
async fn a_feed_long_poll_answers_as_soon_as_a_matching_event_arrives() {
    let app = spawn_app().await;
    let a = id_of(&app.submit("demo.sleep").await).to_owned();
    let after = next_cursor(&page(&app, "").await);
    let started = Instant::now();
    let poll = {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!(
                "/v1/events?after={after}&wait=30&types=job.completed"
            )),
        );
        tokio::spawn(async move { client.get(url).send().await })
    };
    app.wait_for_long_polls(1).await;

    let lease = app.claim("demo.sleep").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !poll.is_finished(),
        "job.processing is not what it waits for"
    );
    app.complete(lease, None).await;

    let response = poll.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let found: Value = response.json().await.unwrap();
    assert_eq!(summary(&found), pairs(&[(&a, "job.completed")]));
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn a_feed_long_poll_without_news_answers_an_empty_page_after_its_wait() {
    let app = spawn_app().await;
    app.submit("demo.sleep").await;
    let after = next_cursor(&page(&app, "").await);
    let started = Instant::now();
    let empty = page(&app, &format!("after={after}&wait=1")).await;
    let elapsed = started.elapsed();
    assert_eq!(empty["data"], Value::Array(vec![]));
    assert_eq!(next_cursor(&empty), after);
    assert!(
        elapsed >= Duration::from_millis(900),
        "waited only {elapsed:?}"
    );
    assert_eq!(app.metric("herald_long_polls_waiting").await, Some(0.0));
    assert_eq!(
        app.metric("herald_hub_subscribers{key=\"tenant\"}").await,
        Some(0.0)
    );
}

#[tokio::test]
async fn a_page_after_trimmed_events_says_some_were_missed() {
    let app = TestApp::builder().feed_max(2).spawn().await;
    for _ in 0..4 {
        app.submit("demo.sleep").await;
    }
    let trimmed = page(&app, "").await;
    assert_eq!(trimmed["missed"], true);
    assert_eq!(trimmed["data"].as_array().unwrap().len(), 2);
    let onwards = page(&app, &format!("after={}", next_cursor(&trimmed))).await;
    assert_eq!(onwards["missed"], false);
}

#[tokio::test]
async fn bad_cursors_limits_waits_and_types_are_400_problems() {
    let app = spawn_app().await;
    for (query, field) in [
        ("after=yesterday", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("wait=61", "wait"),
        ("wait=soon", "wait"),
        ("types=job.done", "types"),
        ("job=42", "job"),
    ] {
        let problem = assert_problem(app.events_page(query).await, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), [field], "{query}");
    }
}

#[tokio::test]
async fn another_tenants_events_never_show_in_the_feed() {
    let app = spawn_app().await;
    app.submit_for_other_tenant("demo.sleep").await;
    let mine = id_of(&app.submit("demo.sleep").await).to_owned();
    assert_eq!(
        summary(&page(&app, "").await),
        pairs(&[(&mine, "job.pending")])
    );
}
