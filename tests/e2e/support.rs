//! Starting `herald` processes and talking to them.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub use herald_testkit::http_jobs::{is_terminal, sleep_job};
use herald_testkit::{RedisServer, eventually, free_port};
use reqwest::StatusCode;
use serde_json::Value;

/// The `herald` binary built next to this test binary (`cargo test --workspace` builds it).
pub fn herald_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("herald");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so the binary is built",
        bin.display()
    );
    bin
}

/// One `herald serve` process, killed when dropped.
pub struct Herald {
    child: Option<Child>,
    pub base: String,
}

impl Herald {
    /// Starts `herald serve` with `args` (plus `--bind` on a free port) and waits until it
    /// answers `/healthz`. Roles without the api still get a port, so the helper can wait.
    pub async fn start(args: &[&str]) -> Herald {
        Herald::start_with_env(args, &[]).await
    }

    /// [`Herald::start`] with environment variables set for the process.
    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Herald {
        Herald::start_at(&format!("127.0.0.1:{}", free_port()), args, env)
    }

    /// [`Herald::start_with_env`] on the address `bind` (to start a process again where its
    /// clients expect it).
    pub fn start_at(bind: &str, args: &[&str], env: &[(&str, &str)]) -> Herald {
        let child = Command::new(herald_binary())
            .arg("serve")
            .args(["--bind", bind])
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start herald");
        Herald {
            child: Some(child),
            base: format!("http://{bind}"),
        }
    }

    /// A handle on a process started elsewhere, for its address only.
    pub fn attach(base: String) -> Herald {
        Herald { child: None, base }
    }

    fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("a process this handle started")
    }

    /// Starts an api process and waits until it is ready.
    pub async fn start_ready(args: &[&str]) -> Herald {
        let herald = Herald::start(args).await;
        herald.wait_ready().await;
        herald
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base);
        eventually("herald to be ready", Duration::from_secs(60), || async {
            let answer = reqwest::get(&url).await.ok()?;
            answer.status().is_success().then_some(())
        })
        .await;
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("a process this handle started")
            .id()
    }

    /// Sends a signal (`KILL`, `TERM`, `STOP`, `CONT`) to the process.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let child = self.child();
        eventually("herald to exit", within, || {
            let exited = child.try_wait().expect("try_wait");
            async move { exited }
        })
        .await
        .code()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // A frozen process must be thawed before it can die.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `GET /v1/jobs/{id}/result`.
pub async fn get_result(api: &Herald, id: &str) -> reqwest::Response {
    client()
        .get(api.url(&format!("/v1/jobs/{id}/result")))
        .send()
        .await
        .expect("GET the result")
}

/// A plain HTTP client, as an acceptance check would use.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .expect("client")
}

/// `POST /v1/jobs` and the job resource of its `202`.
pub async fn submit(api: &Herald, body: Value) -> Value {
    let answer = client()
        .post(api.url("/v1/jobs"))
        .json(&body)
        .send()
        .await
        .expect("POST /v1/jobs");
    assert_eq!(answer.status(), StatusCode::ACCEPTED, "submitting {body}");
    answer.json().await.expect("job JSON")
}

/// `GET /v1/jobs/{id}`.
pub async fn get_job(api: &Herald, id: &str) -> Value {
    let answer = client()
        .get(api.url(&format!("/v1/jobs/{id}")))
        .send()
        .await
        .expect("GET job");
    assert_eq!(answer.status(), StatusCode::OK);
    answer.json().await.expect("job JSON")
}

/// Long-polls the job until `done` holds, checking on the way that `seq` never goes back.
/// Returns every distinct version seen.
pub async fn follow(
    api: &Herald,
    id: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen: Vec<Value> = Vec::new();
    let mut etag: Option<String> = None;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} did not get there in {within:?}; saw {seen:?}"
        );
        let mut request = client().get(api.url(&format!("/v1/jobs/{id}?wait=5")));
        if let Some(tag) = &etag {
            request = request.header("If-None-Match", tag);
        }
        let answer = request.send().await.expect("long poll");
        if answer.status() == StatusCode::NOT_MODIFIED {
            continue;
        }
        assert_eq!(answer.status(), StatusCode::OK);
        etag = answer
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let job: Value = answer.json().await.expect("job JSON");
        if let Some(last) = seen.last() {
            assert!(
                job["seq"].as_u64() > last["seq"].as_u64(),
                "seq went from {} to {}",
                last["seq"],
                job["seq"]
            );
        }
        seen.push(job.clone());
        if done(&job) {
            return seen;
        }
    }
}

/// `herald serve` arguments for a process with `roles` on `redis` (its URL and this test's
/// prefix), followed by `extra`.
pub fn on_redis<'a>(redis: &'a RedisServer, roles: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--redis-url",
        redis.url(),
        "--redis-prefix",
        redis.prefix(),
        "--roles",
        roles,
    ];
    args.extend_from_slice(extra);
    args
}

/// A plain connection to the test's Redis, to look at (or cut) what Herald holds there.
pub async fn redis_connection(redis: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis.url())
        .expect("a valid Redis URL")
        .get_multiplexed_async_connection()
        .await
        .expect("a connection to the test's Redis")
}

/// How many connections subscribe to this test's signals channel (`{<prefix>}:signals`): one per
/// running `herald` process on the prefix, however many streams and polls they serve.
pub async fn signal_subscribers(redis: &RedisServer) -> i64 {
    let mut conn = redis_connection(redis).await;
    let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(format!("{{{}}}:signals", redis.prefix()))
        .query_async(&mut conn)
        .await
        .expect("PUBSUB NUMSUB");
    subscribers
}

/// The Redis client ids of `herald`'s pub/sub connections: the `CLIENT LIST TYPE pubsub`
/// entries whose peer address is one of the process's own sockets. Matching by the process's
/// sockets (rather than killing every pub/sub client) keeps the tests safe on a Redis shared
/// through `HERALD_TEST_REDIS_URL`, and aims at exactly one process.
pub async fn pubsub_clients_of(redis: &RedisServer, herald: &Herald) -> Vec<u64> {
    let ports = local_tcp_ports(herald.pid());
    let mut conn = redis_connection(redis).await;
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut conn)
        .await
        .expect("CLIENT LIST");
    list.lines()
        .filter_map(|line| {
            let field = |name: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            };
            let port: u16 = field("addr")?.rsplit(':').next()?.parse().ok()?;
            let id: u64 = field("id")?.parse().ok()?;
            ports.contains(&port).then_some(id)
        })
        .collect()
}

/// Cuts `herald`'s pub/sub connections to Redis (`CLIENT KILL ID`), as a network blip or a
/// Redis failover would; returns how many were cut.
pub async fn kill_pubsub_of(redis: &RedisServer, herald: &Herald) -> usize {
    let mut conn = redis_connection(redis).await;
    let mut killed = 0;
    for id in pubsub_clients_of(redis, herald).await {
        let n: i64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(id)
            .query_async(&mut conn)
            .await
            .expect("CLIENT KILL");
        killed += usize::try_from(n).unwrap_or(0);
    }
    killed
}

/// The local ports of process `pid`'s TCP sockets, from Linux's `/proc`: the socket inodes
/// among its file descriptors, looked up in its network namespace's TCP tables.
fn local_tcp_ports(pid: u32) -> HashSet<u16> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list /proc/{pid}/fd: {e}"));
    let inodes: HashSet<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = HashSet::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...`
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() > 9 && inodes.contains(fields[9]) {
                let port = fields[1]
                    .rsplit(':')
                    .next()
                    .and_then(|hex| u16::from_str_radix(hex, 16).ok());
                ports.extend(port);
            }
        }
    }
    ports
}

/// `POST` `body` to `path`: the status and the answer's JSON (`Null` when it has none).
pub async fn post_json(api: &Herald, path: &str, body: Value) -> (StatusCode, Value) {
    let answer = client()
        .post(api.url(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = answer.status();
    let text = answer.text().await.expect("an answer body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, json)
}

/// `GET` `path`, which must answer `200` with JSON.
pub async fn get_json(api: &Herald, path: &str) -> Value {
    let answer = client()
        .get(api.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(answer.status(), StatusCode::OK, "GET {path}");
    answer.json().await.expect("JSON")
}

/// `POST /v1/webhooks` and the subscription of its `201` (with its `secret`).
pub async fn create_webhook(api: &Herald, body: Value) -> Value {
    let (status, created) = post_json(api, "/v1/webhooks", body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "creating {body}: {created}");
    created
}

/// `GET /v1/webhooks/{id}/deliveries{query}`: the deliveries of the page (`query` is empty or
/// starts with `?`).
pub async fn webhook_deliveries(api: &Herald, webhook_id: &str, query: &str) -> Vec<Value> {
    let page = get_json(api, &format!("/v1/webhooks/{webhook_id}/deliveries{query}")).await;
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("a page of deliveries: {page}"))
        .clone()
}

/// `GET /v1/deliveries/{id}`.
pub async fn get_delivery(api: &Herald, id: &str) -> Value {
    get_json(api, &format!("/v1/deliveries/{id}")).await
}

/// A fresh admin key, as `herald keys generate` prints it (for `--bootstrap-admin-key`).
pub fn generate_key() -> String {
    let out = Command::new(herald_binary())
        .args(["keys", "generate"])
        .output()
        .expect("run herald keys generate");
    assert!(out.status.success(), "herald keys generate failed: {out:?}");
    let key = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(key.starts_with("hk_"), "not a key: {key}");
    key
}

/// Runs `command` (a Node.js script or suite) to its end within `within`, and fails with its
/// output unless it succeeds; returns its standard output and error.
pub async fn run_to_success(
    what: &str,
    mut command: tokio::process::Command,
    within: Duration,
) -> String {
    let run = command
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(within, run)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {within:?}"))
        .unwrap_or_else(|e| panic!("cannot run {what} (scripts/test installs Node.js): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    format!("{stdout}{stderr}")
}

/// How many tests Node's test runner says passed (`# pass N` in TAP, `ℹ pass N` in its spec
/// reporter), failing when none did: a suite that ran nothing proves nothing.
pub fn tests_passed(what: &str, output: &str) -> u32 {
    let passed = output
        .lines()
        .find_map(|line| {
            line.strip_prefix("# pass ")
                .or_else(|| line.strip_prefix("ℹ pass "))
        })
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(passed > 0, "{what} ran no test:\n{output}");
    passed
}
