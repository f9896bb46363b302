//! Herald on a Redis that speaks TLS only (`rediss://`): the server's certificate is checked
//! against the trusted roots — here the test's own CA, named by `SSL_CERT_FILE` as for any
//! program using the system's roots — and a server the roots do not vouch for is refused at
//! start-up.

use std::time::Duration;

use herald_testkit::RedisServer;

use crate::support::{Herald, follow, is_terminal, on_redis, sleep_job, submit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_runs_on_a_redis_that_speaks_tls_and_checks_its_certificate() {
    let redis = RedisServer::start_tls();
    assert!(redis.url().starts_with("rediss://"));
    let ca = redis.ca_file().expect("the server's CA");
    let args = on_redis(&redis, "api,worker", &[]);

    let herald = Herald::start_with_env(&args, &[("SSL_CERT_FILE", ca.to_str().unwrap())]).await;
    herald.wait_ready().await;
    let job = submit(&herald, sleep_job(0.1, 1)).await;
    let id = job["id"].as_str().expect("id");
    let seen = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    assert_eq!(seen.last().expect("a final version")["status"], "completed");

    // Trusting only the system's roots, the same server is an impostor.
    let mut untrusting = Herald::start(&args).await;
    let code = untrusting.wait_exit(Duration::from_secs(60)).await;
    assert_ne!(
        code,
        Some(0),
        "herald must not start on a Redis it cannot verify"
    );
}
