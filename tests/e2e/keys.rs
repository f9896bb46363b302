//! API keys end to end: a `herald` on Redis in production mode refuses to start without a
//! key; `herald keys create` makes one, after which it starts, answers a request with the key
//! and refuses one without; `herald keys revoke` shuts the key out of the running process.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use herald_testkit::{RedisServer, eventually, free_port};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Herald, client, herald_binary, on_redis};

/// Runs `herald keys …` against `redis` and waits for it.
fn keys(redis: &RedisServer, args: &[&str]) -> Output {
    Command::new(herald_binary())
        .arg("keys")
        .args(args)
        .args(["--redis-url", redis.url(), "--redis-prefix", redis.prefix()])
        .env_remove("HERALD_MODE")
        .env_remove("HERALD_BOOTSTRAP_ADMIN_KEY")
        .output()
        .expect("run herald keys")
}

/// The read token secret production mode needs (`--token-secret`), shared by the tests.
const TOKEN_SECRET: &str = "e2e-token-secret-of-at-least-32-bytes";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn production_mode_on_redis_starts_only_with_a_key_and_then_requires_it() {
    let redis = RedisServer::start();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut args = on_redis(
        &redis,
        "api,worker,notifier",
        &["--mode", "production", "--token-secret", TOKEN_SECRET],
    );

    // No key yet: it refuses to start, and says how to make one.
    let mut refused = Command::new(herald_binary())
        .arg("serve")
        .args(["--bind", &bind])
        .args(&args)
        .env_remove("HERALD_BOOTSTRAP_ADMIN_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start herald");
    let status = eventually("herald to refuse to start", Duration::from_secs(30), || {
        let exited = refused.try_wait().expect("try_wait");
        async move { exited }
    })
    .await;
    assert!(!status.success());
    let stderr = text(&refused.wait_with_output().expect("its output").stderr);
    assert!(
        stderr.contains("production mode needs an API key")
            && stderr.contains("herald keys create --tenant"),
        "{stderr}"
    );

    // Without --redis-url, `herald keys` explains where the embedded backend's keys live.
    let embedded = Command::new(herald_binary())
        .args(["keys", "list"])
        .env_remove("HERALD_REDIS_URL")
        .output()
        .expect("run herald keys");
    assert!(!embedded.status.success());
    assert!(
        text(&embedded.stderr).contains("--bootstrap-admin-key"),
        "{}",
        text(&embedded.stderr)
    );

    let created = keys(
        &redis,
        &["create", "--tenant", "acme", "--name", "ci", "--admin"],
    );
    assert!(created.status.success(), "{}", text(&created.stderr));
    let key = text(&created.stdout).trim().to_owned();
    assert!(key.starts_with("hk_"), "{key}");
    let id = key["hk_".len()..].split('_').next().unwrap().to_owned();
    let listed = keys(&redis, &["list", "--tenant", "acme"]);
    let listing = text(&listed.stdout);
    assert!(
        listed.status.success() && listing.contains(&id),
        "{listing}"
    );
    assert!(
        !listing.contains(&key[key.len() - 40..]),
        "never the secret"
    );

    args.push("--webhook-allow-private-targets");
    let herald = Herald::start_ready(&args).await;
    let http = client();
    let anonymous = http.get(herald.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let submitted = http
        .post(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .json(&json!({"type": "demo.sleep", "payload": {"seconds": 0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), StatusCode::ACCEPTED);
    let listed = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(
        http.get(herald.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // Revoked from another process: the running server refuses the key on its next request.
    let revoked = keys(&redis, &["revoke", &id]);
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let refused = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_embedded_backend_in_production_mode_starts_with_a_bootstrap_admin_key() {
    let generated = Command::new(herald_binary())
        .args(["keys", "generate"])
        .output()
        .expect("run herald keys generate");
    assert!(generated.status.success());
    let key = text(&generated.stdout).trim().to_owned();

    let herald = Herald::start_with_env(
        &["--mode", "production"],
        &[
            ("HERALD_BOOTSTRAP_ADMIN_KEY", key.as_str()),
            ("HERALD_TOKEN_SECRET", TOKEN_SECRET),
        ],
    )
    .await;
    herald.wait_ready().await;
    let http = client();
    let anonymous = http.get(herald.url("/v1/jobs")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let created = http
        .post(herald.url("/v1/admin/keys"))
        .bearer_auth(&key)
        .json(&json!({"tenant": "acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let acme: serde_json::Value = created.json().await.unwrap();
    let listed = http
        .get(herald.url("/v1/jobs"))
        .bearer_auth(acme["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
}
