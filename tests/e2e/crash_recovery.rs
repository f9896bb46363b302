//! A worker killed or frozen mid-job: another worker finishes the job as the next attempt, and
//! the frozen one's late write is refused.

use std::time::Duration;

use herald_testkit::RedisServer;

use crate::support::{Herald, follow, is_terminal, on_redis, sleep_job, submit};

fn worker_args(redis: &RedisServer) -> Vec<&str> {
    on_redis(
        redis,
        "worker",
        &["--concurrency", "1", "--lease-timeout", "2s"],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_is_killed_is_finished_by_the_other_worker_as_attempt_two() {
    let redis = RedisServer::start();
    let api = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let doomed = Herald::start(&worker_args(&redis)).await;
    let job = submit(&api, sleep_job(3.0, 3)).await;
    let id = job["id"].as_str().expect("id");
    follow(&api, id, Duration::from_secs(60), |j| {
        j["status"] == "processing"
    })
    .await;

    let _rescuer = Herald::start(&worker_args(&redis)).await;
    doomed.signal("KILL");

    let seen = follow(&api, id, Duration::from_secs(90), is_terminal).await;
    let last = seen.last().expect("a final version");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(last["attempt"], 2, "{last}");
    assert_eq!(last["result_url"], format!("/v1/jobs/{id}/result"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_workers_late_write_is_refused_and_the_job_completes_once() {
    let redis = RedisServer::start();
    let api = Herald::start_ready(&on_redis(&redis, "api", &[])).await;
    let zombie = Herald::start(&worker_args(&redis)).await;
    let job = submit(&api, sleep_job(4.0, 3)).await;
    let id = job["id"].as_str().expect("id");
    follow(&api, id, Duration::from_secs(60), |j| {
        j["status"] == "processing"
    })
    .await;

    // Freeze the worker mid-job: its lease runs out and another worker takes over.
    zombie.signal("STOP");
    let _rescuer = Herald::start(&worker_args(&redis)).await;
    follow(&api, id, Duration::from_secs(60), |j| {
        j["status"] == "processing" && j["attempt"] == 2
    })
    .await;

    // Thaw it: its attempt-1 sleep is long over, so it tries to write at once — and must lose.
    zombie.signal("CONT");
    let seen = follow(&api, id, Duration::from_secs(90), is_terminal).await;
    let last = seen.last().expect("a final version");
    assert_eq!(last["status"], "completed", "{last}");
    assert_eq!(
        last["attempt"], 2,
        "the zombie's attempt-1 write won: {last}"
    );

    // Terminal states never change again, whatever the zombie does next.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = crate::support::get_job(&api, id).await;
    assert_eq!(after["seq"], last["seq"]);
    assert_eq!(after["attempt"], 2);
}
