//! `GET /v1/jobs`: newest first, filters and cursor paging.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, error_fields, id_of, spawn_app};

async fn page(app: &TestApp, query: &str) -> Value {
    let response = app.list_jobs(query).await;
    assert_eq!(response.status(), StatusCode::OK, "GET /v1/jobs?{query}");
    response.json().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| id_of(job).to_owned())
        .collect()
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_filtered_by_status_and_type() {
    let app = spawn_app().await;
    let mut sleeps = Vec::new();
    for _ in 0..3 {
        sleeps.push(id_of(&app.submit("demo.sleep").await).to_owned());
    }
    let report = id_of(&app.submit("demo.report").await).to_owned();
    app.claim("demo.sleep").await; // the oldest sleep is processing now

    let all = page(&app, "").await;
    assert_eq!(ids(&all), [&*report, &sleeps[2], &sleeps[1], &sleeps[0]]);
    assert_eq!(all["next_cursor"], Value::Null);

    assert_eq!(
        ids(&page(&app, "type=demo.sleep").await),
        [&*sleeps[2], &sleeps[1], &sleeps[0]]
    );
    assert_eq!(ids(&page(&app, "status=processing").await), [&*sleeps[0]]);
    assert_eq!(
        ids(&page(&app, "status=pending&type=demo.sleep").await),
        [&*sleeps[2], &sleeps[1]]
    );
    assert!(ids(&page(&app, "status=failed").await).is_empty());
}

#[tokio::test]
async fn a_cursor_pages_through_every_job_exactly_once() {
    let app = spawn_app().await;
    let mut submitted = Vec::new();
    for _ in 0..5 {
        submitted.push(id_of(&app.submit("demo.sleep").await).to_owned());
    }
    submitted.reverse();

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    loop {
        let page = page(&app, &query).await;
        let batch = ids(&page);
        assert!(batch.len() <= 2);
        seen.extend(batch);
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, submitted);
}

#[tokio::test]
async fn bad_list_parameters_are_a_400_problem_naming_each_one() {
    let app = spawn_app().await;
    let response = app
        .list_jobs("status=done&type=has%20space&cursor=nope&limit=0")
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        error_fields(&problem),
        ["status", "type", "cursor", "limit"]
    );

    for limit in ["101", "many"] {
        let response = app.list_jobs(&format!("limit={limit}")).await;
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert_eq!(error_fields(&problem), ["limit"]);
    }
    assert_eq!(app.list_jobs("limit=100").await.status(), StatusCode::OK);
}
