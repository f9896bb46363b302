//! The bare baseline: the least an actix-web service can do per accepted job, one JSON
//! parse and one Redis round trip (`INCR`), answered `202`. Herald's figures are divided by
//! this one, measured in the same run on the same box, so they survive a noisy machine.
//!
//! It runs as a child process of the tool (`herald-bench serve-baseline`), like Herald does,
//! so both are loaded the same way and neither shares the tool's process.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use redis::aio::ConnectionManager;

/// Serves the baseline until the process is signalled.
///
/// # Errors
/// When the address cannot be bound or Redis is unreachable at start-up.
pub fn serve(bind: SocketAddr, redis_url: &str, workers: Option<usize>) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url).context("invalid Redis URL")?;
    actix_web::rt::System::new().block_on(async move {
        // Fail fast on an unreachable Redis rather than answering 503 to every request.
        ConnectionManager::new(client.clone())
            .await
            .context("failed to connect to Redis")?;
        let mut server = HttpServer::new(move || {
            let client = client.clone();
            App::new()
                // One multiplexed connection per actix worker, created on that worker's
                // runtime, as a service with a connection manager would have.
                .data_factory(move || ConnectionManager::new(client.clone()))
                .route("/healthz", web::get().to(HttpResponse::Ok))
                .route("/v1/jobs", web::post().to(accept))
        });
        if let Some(workers) = workers {
            server = server.workers(workers);
        }
        server
            .bind(bind)
            .with_context(|| format!("failed to bind {bind}"))?
            .run()
            .await
            .context("the baseline server failed")
    })
}

/// Parses the body, takes one number from Redis, answers `202` with it.
async fn accept(
    redis: web::Data<ConnectionManager>,
    job: web::Json<serde_json::Value>,
) -> HttpResponse {
    let mut conn = redis.get_ref().clone();
    match redis::cmd("INCR")
        .arg("herald-bench:baseline")
        .query_async::<u64>(&mut conn)
        .await
    {
        Ok(id) => HttpResponse::Accepted()
            .insert_header(("Location", format!("/v1/jobs/{id}")))
            .json(serde_json::json!({
                "id": id,
                "type": job.get("type"),
                "status": "pending",
                "seq": 1,
            })),
        Err(_) => HttpResponse::ServiceUnavailable().finish(),
    }
}
