//! What the HTTP suites (the api's tests and the end-to-end tests) say to a running Herald
//! alike: job bodies, reading a job resource, and waiting for the server to count a long poll.

use std::time::Duration;

use serde_json::{Value, json};

use crate::eventually;

/// A `demo.sleep` submission: `seconds` of work, at most `max_attempts` attempts.
pub fn sleep_job(seconds: f64, max_attempts: u32) -> Value {
    json!({"type": "demo.sleep", "payload": {"seconds": seconds}, "max_attempts": max_attempts})
}

/// Whether a job resource is in a final state.
pub fn is_terminal(job: &Value) -> bool {
    matches!(
        job["status"].as_str(),
        Some("completed" | "failed" | "canceled")
    )
}

/// The id of a job resource.
///
/// # Panics
/// When it has none.
pub fn id_of(job: &Value) -> &str {
    job["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a resource without an id: {job}"))
}

/// Sends `request` and reads its answer as JSON, whatever the status.
///
/// # Panics
/// When the request fails or the answer is not JSON.
pub async fn answer_json(request: reqwest::RequestBuilder) -> Value {
    let answer = request.send().await.expect("the request is answered");
    answer.json().await.expect("a JSON answer")
}

/// Waits until the Herald at `base` (`http://host:port`) counts `n` long polls waiting, as its
/// `/metrics` says (`herald_long_polls_waiting`), asking with `client`.
///
/// # Panics
/// After `within`.
pub async fn wait_for_long_polls(client: &reqwest::Client, base: &str, n: usize, within: Duration) {
    let line = format!("herald_long_polls_waiting {n}");
    let url = format!("{base}/metrics");
    eventually(&format!("{n} long polls to wait"), within, || async {
        let metrics = client.get(&url).send().await.ok()?.text().await.ok()?;
        metrics.lines().any(|l| l == line).then_some(())
    })
    .await;
}
