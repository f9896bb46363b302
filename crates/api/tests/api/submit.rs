//! `POST /v1/jobs`: acceptance, idempotency and every way a submission is refused.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, ETAG, LOCATION};
use serde_json::json;

use crate::helpers::{assert_problem, error_fields, id_of, spawn_app};

#[tokio::test]
async fn a_submission_is_accepted_with_202_a_location_and_the_job_resource() {
    let app = spawn_app().await;
    let response = app
        .post_job(
            &json!({"type": "demo.report", "payload": {"rows": 20}, "metadata": {"order": "42"}}),
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()[ETAG], "\"1\"");
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let job: serde_json::Value = response.json().await.unwrap();
    let id = id_of(&job);
    assert_eq!(location, format!("/v1/jobs/{id}"));
    for field in [
        "id",
        "type",
        "status",
        "seq",
        "progress",
        "attempt",
        "max_attempts",
        "metadata",
        "error",
        "result_url",
        "created_at",
        "started_at",
        "updated_at",
        "finished_at",
        "links",
    ] {
        assert!(
            job.get(field).is_some(),
            "the job resource lacks `{field}`: {job}"
        );
    }
    assert_eq!(job["type"], "demo.report");
    assert_eq!(job["status"], "pending");
    assert_eq!(job["seq"], 1);
    assert_eq!(job["metadata"], json!({"order": "42"}));
    assert_eq!(job["error"], serde_json::Value::Null);
    assert_eq!(job["finished_at"], serde_json::Value::Null);
    assert!(job["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(job["links"]["self"], location);
    assert_eq!(job["links"]["events"], format!("{location}/events"));
    assert_eq!(job["links"]["result"], format!("{location}/result"));
    assert!(
        !job.to_string().contains("\"payload\""),
        "the resource never carries the payload"
    );

    let fetched = app.get_job(id).await;
    assert_eq!(
        fetched.status(),
        StatusCode::OK,
        "the location serves the job"
    );
}

#[tokio::test]
async fn a_resubmission_with_the_same_idempotency_key_replays_the_same_job() {
    let app = spawn_app().await;
    let body = json!({"type": "demo.sleep", "payload": {"seconds": 1}});

    let first = app.post_job_with_key(&body, Some("order-42")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let first: serde_json::Value = first.json().await.unwrap();

    let second = app.post_job_with_key(&body, Some("order-42")).await;
    assert_eq!(second.status(), StatusCode::ACCEPTED);
    assert_eq!(second.headers()["Idempotent-Replayed"], "true");
    let second: serde_json::Value = second.json().await.unwrap();
    assert_eq!(id_of(&first), id_of(&second));

    let page: serde_json::Value = app.list_jobs("").await.json().await.unwrap();
    assert_eq!(
        page["data"].as_array().unwrap().len(),
        1,
        "one job, not two"
    );
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_a_different_request_is_a_422_problem() {
    let app = spawn_app().await;
    let key = Some("order-43");
    let first = app
        .post_job_with_key(&json!({"type": "demo.sleep"}), key)
        .await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);

    let other = json!({"type": "demo.sleep", "payload": {"seconds": 5}});
    let problem = assert_problem(
        app.post_job_with_key(&other, key).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/idempotency-key-reused"
    );
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_a_400_problem() {
    let app = spawn_app().await;
    let long = "k".repeat(256);
    let response = app
        .post_job_with_key(&json!({"type": "demo.sleep"}), Some(&long))
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(error_fields(&problem), ["Idempotency-Key"]);
}

#[tokio::test]
async fn invalid_fields_are_all_listed_in_one_validation_problem() {
    let app = spawn_app().await;
    let response = app
        .post_job(&json!({"timeout_s": 0, "max_attempts": 0, "metadata": [1]}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/validation-error"
    );
    assert_eq!(
        error_fields(&problem),
        ["type", "timeout_s", "max_attempts", "metadata"]
    );
    assert_eq!(problem["errors"][0]["message"], "is required");
}

#[tokio::test]
async fn wrongly_typed_and_unknown_fields_are_named_in_a_validation_problem() {
    let app = spawn_app().await;
    let response = app
        .post_job(&json!({"type": "demo.sleep", "timeout_s": "soon"}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["timeout_s"]);

    let response = app
        .post_job(&json!({"type": "demo.sleep", "colour": "red"}))
        .await;
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(error_fields(&problem), ["colour"]);
}

#[tokio::test]
async fn an_unknown_job_type_is_a_422_problem_on_the_type_field() {
    let app = spawn_app().await;
    let problem = assert_problem(
        app.post_job(&json!({"type": "billing.invoice"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        problem["errors"],
        json!([{
            "field": "type",
            "message": "no handler or worker queue is configured for job type `billing.invoice`"
        }])
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app
        .post_job_raw("{\"type\": \"demo.sleep\"", "application/json")
        .await;
    let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/malformed-json"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = spawn_app().await;
    let filler = "x".repeat(1024 * 1024 + 1);
    let body = json!({"type": "demo.sleep", "metadata": {"filler": filler}}).to_string();
    let response = app.post_job_raw(body, "application/json").await;
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(
        problem["type"],
        "https://herald.dev/problems/payload-too-large"
    );
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_a_415_problem() {
    let app = spawn_app().await;
    let response = app
        .post_job_raw("{\"type\": \"demo.sleep\"}", "text/plain")
        .await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = app
        .post_job_raw("type=demo.sleep", "application/x-www-form-urlencoded")
        .await;
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}
