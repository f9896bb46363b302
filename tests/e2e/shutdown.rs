//! SIGTERM drains a worker: it stops claiming and hands its unfinished job back.

use std::time::Duration;

use herald_testkit::RedisServer;

use crate::support::{Herald, follow, is_terminal, on_redis, sleep_job, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_releases_the_in_flight_job_and_another_worker_finishes_it() {
    let redis = RedisServer::start();
    let api = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let worker_args = on_redis(
        &redis,
        "worker",
        &["--concurrency", "1", "--shutdown-timeout", "1s"],
    );
    let mut leaving = Herald::start(&worker_args).await;
    let job = submit(&api, sleep_job(5.0, 1)).await;
    let id = job["id"].as_str().expect("id");
    follow(&api, id, Duration::from_secs(60), |j| {
        j["status"] == "processing"
    })
    .await;

    leaving.signal("TERM");
    assert_eq!(leaving.wait_exit(Duration::from_secs(30)).await, Some(0));
    let released = crate::support::get_job(&api, id).await;
    assert_eq!(released["status"], "pending", "{released}");
    assert_eq!(
        released["attempt"], 0,
        "a released attempt does not count: {released}"
    );

    let _staying = Herald::start(&worker_args).await;
    let seen = follow(&api, id, Duration::from_secs(60), is_terminal).await;
    let last = seen.last().expect("a final version");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["attempt"], 1, "max_attempts 1 was enough: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_an_api_process_promptly_even_with_a_long_poll_open() {
    // The process also runs the worker role, whose 60 s job may drain for the shutdown timeout
    // (30 s by default, as long as the wait below): keep that short so only the long poll is
    // on trial here.
    let mut api = Herald::start_ready(&["--shutdown-timeout", "1s"]).await;
    let job = submit(&api, sleep_job(60.0, 1)).await;
    let url = api.url(&format!(
        "/v1/jobs/{}?wait=60",
        job["id"].as_str().expect("id")
    ));
    let etag = format!("\"{}\"", job["seq"]);
    let poll = tokio::spawn(async move {
        crate::support::client()
            .get(url)
            .header("If-None-Match", etag)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.signal("TERM");
    assert_eq!(api.wait_exit(Duration::from_secs(30)).await, Some(0));
    poll.abort();
}
