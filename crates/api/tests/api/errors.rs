//! Routes and methods the API does not have answer problem+json like everything else.

use reqwest::header::ALLOW;
use reqwest::{Method, StatusCode};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = spawn_app().await;
    for path in ["/v1/nothing-here", "/", "/v1/jobs/x/y/z"] {
        let problem =
            assert_problem(app.request(Method::GET, path).await, StatusCode::NOT_FOUND).await;
        assert_eq!(
            problem["type"], "https://herald.dev/problems/not-found",
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem_naming_the_allowed_ones() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::DELETE, "/v1/jobs", "GET, POST"),
        (
            Method::PUT,
            "/v1/jobs/0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d",
            "GET",
        ),
        (
            Method::GET,
            "/v1/jobs/0193c1a2-7c3e-7b6a-9f10-5d2f6a1b2c3d/cancel",
            "POST",
        ),
        (Method::POST, "/healthz", "GET"),
    ] {
        let response = app.request(method.clone(), path).await;
        assert_eq!(response.headers()[ALLOW], allow, "{method} {path}");
        let problem = assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
        assert_eq!(
            problem["type"],
            "https://herald.dev/problems/method-not-allowed"
        );
    }
}

#[tokio::test]
async fn a_query_string_that_cannot_be_read_is_a_400_problem() {
    let app = spawn_app().await;
    let response = app
        .request(Method::GET, "/v1/jobs?status=pending&status=failed")
        .await;
    assert_problem(response, StatusCode::BAD_REQUEST).await;
}
