//! The command-line client as a person or a script runs it: `herald jobs|webhooks|sources …`
//! as a process against a running `herald serve`, its exit code and its output read back.

use std::process::{Output, Stdio};
use std::time::Duration;

use herald_testkit::{Receiver, RedisServer, Script, TempDir, eventually, free_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Command;

use crate::support::{Herald, client, generate_key, herald_binary, on_redis};

/// How long any one command may take (a followed job takes a few seconds).
const PATIENCE: Duration = Duration::from_secs(120);

/// `herald <args>` against `api` with `key`, its output piped (so JSON unless told).
async fn herald(api: &Herald, key: &str, args: &[&str]) -> Output {
    let run = Command::new(herald_binary())
        .args(args)
        .env("HERALD_URL", &api.base)
        .env("HERALD_KEY", key)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(PATIENCE, run)
        .await
        .unwrap_or_else(|_| panic!("herald {args:?} did not finish in {PATIENCE:?}"))
        .expect("run herald")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("an exit code, not a signal")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one JSON document a command printed.
fn json_of(output: &Output) -> Value {
    assert_eq!(code(output), 0, "{output:?}");
    serde_json::from_str(stdout(output).trim()).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

/// Every line of `output` as an event, checked: JSON, one per line, `seq` rising by one.
fn events_of(output: &Output) -> Vec<Value> {
    let events: Vec<Value> = stdout(output)
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("a line not JSON ({e}): {line}"))
        })
        .collect();
    assert!(!events.is_empty(), "no event: {output:?}");
    for pair in events.windows(2) {
        assert_eq!(
            pair[1]["seq"].as_u64(),
            pair[0]["seq"].as_u64().map(|seq| seq + 1),
            "a gap or a repeat between {} and {}",
            pair[0],
            pair[1]
        );
    }
    for event in &events {
        assert_eq!(event["data"]["seq"], event["seq"], "{event}");
        let status = event["data"]["status"].as_str().expect("status");
        match event["type"].as_str().expect("type") {
            "job.progress" => assert_eq!(status, "processing", "{event}"),
            other => assert_eq!(other.strip_prefix("job."), Some(status), "{event}"),
        }
    }
    events
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_follow_exits_with_the_outcome_and_pipes_one_json_line_per_event() {
    let key = generate_key();
    let api = Herald::start_ready(&["--bootstrap-admin-key", &key]).await;

    let completed = herald(
        &api,
        &key,
        &[
            "jobs",
            "submit",
            "demo.report",
            "--payload",
            r#"{"rows": 40, "rows_per_second": 40}"#,
            "--follow",
        ],
    )
    .await;
    assert_eq!(code(&completed), 0, "{completed:?}");
    let events = events_of(&completed);
    let seen = types(&events);
    assert_eq!(seen.first(), Some(&"job.pending"), "{seen:?}");
    assert!(seen.contains(&"job.processing"), "{seen:?}");
    assert!(seen.contains(&"job.progress"), "{seen:?}");
    assert_eq!(seen.last(), Some(&"job.completed"), "{seen:?}");
    assert_eq!(
        events.last().expect("last")["data"]["progress"]["percent"],
        100
    );

    let failed = herald(
        &api,
        &key,
        &[
            "jobs",
            "submit",
            "demo.fail",
            "--payload",
            r#"{"message": "boom"}"#,
            "--follow",
        ],
    )
    .await;
    assert_eq!(code(&failed), 1, "{failed:?}");
    let events = events_of(&failed);
    let last = events.last().expect("last");
    assert_eq!(last["type"], "job.failed", "{failed:?}");
    assert_eq!(last["data"]["error"]["message"], "boom");

    // Canceled while followed: exit 2.
    let submitted = json_of(
        &herald(
            &api,
            &key,
            &[
                "jobs",
                "submit",
                "demo.sleep",
                "--payload",
                r#"{"seconds": 60}"#,
            ],
        )
        .await,
    );
    let id = submitted["id"].as_str().expect("id").to_owned();
    let follower = {
        let api_base = api.base.clone();
        let key = key.clone();
        let id = id.clone();
        tokio::spawn(async move {
            herald(&Herald::attach(api_base), &key, &["jobs", "follow", &id]).await
        })
    };
    eventually("the job to be processing", PATIENCE, || {
        let api = &api;
        let key = &key;
        let id = &id;
        async move {
            let job = json_of(&herald(api, key, &["jobs", "get", id]).await);
            (job["status"] == "processing").then_some(())
        }
    })
    .await;
    let canceled = json_of(&herald(&api, &key, &["jobs", "cancel", &id]).await);
    assert_eq!(canceled["id"], id.as_str());
    let followed = follower.await.expect("the follower");
    assert_eq!(code(&followed), 2, "{followed:?}");
    assert_eq!(
        types(&events_of(&followed)).last(),
        Some(&"job.canceled"),
        "{followed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_connection_and_refusals_exit_3_with_a_clear_message() {
    let key = generate_key();
    let api = Herald::start_ready(&["--bootstrap-admin-key", &key]).await;

    let wrong_key = herald(&api, "hk_0000000000000000_nope", &["jobs", "ls"]).await;
    assert_eq!(code(&wrong_key), 3, "{wrong_key:?}");
    assert!(stderr(&wrong_key).contains("401"), "{wrong_key:?}");

    let unknown = herald(
        &api,
        &key,
        &["jobs", "follow", "01930000-0000-7000-8000-000000000000"],
    )
    .await;
    assert_eq!(code(&unknown), 3, "{unknown:?}");
    assert!(stderr(&unknown).contains("404"), "{unknown:?}");

    let bad_payload = herald(
        &api,
        &key,
        &["jobs", "submit", "demo.report", "--payload", "{rows"],
    )
    .await;
    assert_eq!(code(&bad_payload), 3, "{bad_payload:?}");
    assert!(
        stderr(&bad_payload).contains("--payload"),
        "{bad_payload:?}"
    );

    let refused = herald(&api, &key, &["jobs", "submit", "no.such.type"]).await;
    assert_eq!(code(&refused), 3, "{refused:?}");
    assert!(stderr(&refused).contains("422"), "{refused:?}");

    let nobody = Herald::attach(format!("http://127.0.0.1:{}", free_port()));
    let unreachable = herald(&nobody, &key, &["jobs", "ls"]).await;
    assert_eq!(code(&unreachable), 3, "{unreachable:?}");
    assert!(
        stderr(&unreachable).contains("cannot reach Herald"),
        "{unreachable:?}"
    );

    let usage = herald(&api, &key, &["jobs", "submit"]).await;
    assert_eq!(code(&usage), 3, "{usage:?}");
    let help = herald(&api, &key, &["jobs", "--help"]).await;
    assert_eq!(code(&help), 0, "{help:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_resumes_where_it_was_after_the_api_restarts() {
    let redis = RedisServer::start();
    let _worker = Herald::start(&on_redis(&redis, "worker", &[])).await;
    let bind = format!("127.0.0.1:{}", free_port());
    let api_args = on_redis(&redis, "api", &[]);
    let mut api = Herald::start_at(&bind, &api_args, &[]);
    api.wait_ready().await;

    let submitted = json_of(
        &herald(
            &api,
            "",
            &[
                "jobs",
                "submit",
                "demo.report",
                "--payload",
                r#"{"rows": 200, "rows_per_second": 25}"#,
            ],
        )
        .await,
    );
    let id = submitted["id"].as_str().expect("id");
    let mut follow = Command::new(herald_binary())
        .args(["jobs", "follow", id, "--url", &api.base])
        .env_remove("HERALD_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("herald jobs follow");
    let mut lines = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let mut printed = Vec::new();
    // Wait until the job is under way, then take the api away and bring it back.
    while printed.len() < 4 {
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("an event in time")
            .expect("read stdout")
            .expect("a line before the end");
        printed.push(line);
    }
    api.signal("KILL");
    api.wait_exit(PATIENCE).await;
    drop(api);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let api = Herald::start_at(&bind, &api_args, &[]);
    api.wait_ready().await;

    while let Some(line) = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the follower to go on")
        .expect("read stdout")
    {
        printed.push(line);
    }
    let status = tokio::time::timeout(PATIENCE, follow.wait())
        .await
        .expect("the follower to exit")
        .expect("wait");
    let output = Output {
        status,
        stdout: printed.join("\n").into_bytes(),
        stderr: Vec::new(),
    };
    assert_eq!(status.code(), Some(0), "{}", stdout(&output));
    let events = events_of(&output);
    assert_eq!(
        types(&events).last(),
        Some(&"job.completed"),
        "{}",
        stdout(&output)
    );
    let mut stderr_text = String::new();
    tokio::io::AsyncReadExt::read_to_string(
        &mut follow.stderr.take().expect("stderr"),
        &mut stderr_text,
    )
    .await
    .expect("read stderr");
    assert!(stderr_text.contains("reconnecting"), "{stderr_text}");
    drop(api);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_webhooks_and_sources_commands_print_json_or_tables() {
    let key = generate_key();
    let api = Herald::start_ready(&[
        "--bootstrap-admin-key",
        &key,
        "--webhook-allow-private-targets",
        "--webhook-retry-schedule",
        "1s",
    ])
    .await;
    let receiver = Receiver::start().await;
    receiver.respond("/hooks", Script::status(500));
    let http = client();

    // Jobs: get, ls (filtered), result to a file, retry.
    let report = herald(
        &api,
        &key,
        &[
            "jobs",
            "submit",
            "demo.report",
            "--payload",
            r#"{"rows": 5, "rows_per_second": 100}"#,
            "--idempotency-key",
            "cli-report",
            "--follow",
        ],
    )
    .await;
    assert_eq!(code(&report), 0, "{report:?}");
    let id = events_of(&report)[0]["data"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let again = json_of(
        &herald(
            &api,
            &key,
            &[
                "jobs",
                "submit",
                "demo.report",
                "--payload",
                r#"{"rows": 5, "rows_per_second": 100}"#,
                "--idempotency-key",
                "cli-report",
            ],
        )
        .await,
    );
    assert_eq!(
        again["id"],
        id.as_str(),
        "the same key answers the same job"
    );
    let job = json_of(&herald(&api, &key, &["jobs", "get", &id]).await);
    assert_eq!(job["status"], "completed");
    let listed = json_of(
        &herald(
            &api,
            &key,
            &[
                "jobs",
                "ls",
                "--status",
                "completed",
                "--type",
                "demo.report",
            ],
        )
        .await,
    );
    assert_eq!(listed["data"][0]["id"], id.as_str(), "{listed}");
    let dir = TempDir::new("cli-result");
    let file = dir.0.join("report.csv");
    let saved = herald(
        &api,
        &key,
        &[
            "jobs",
            "result",
            &id,
            "-o",
            file.to_str().expect("a UTF-8 path"),
        ],
    )
    .await;
    assert_eq!(code(&saved), 0, "{saved:?}");
    let csv = std::fs::read_to_string(&file).expect("the result file");
    assert_eq!(csv.lines().count(), 6, "a header and 5 rows: {csv}");
    let to_stdout = herald(&api, &key, &["jobs", "result", &id]).await;
    assert_eq!(stdout(&to_stdout), csv);

    // Webhooks: a subscription whose endpoint fails, its deliveries, a retry, a replay.
    let created = http
        .post(api.url("/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url("/hooks"), "events": ["job.completed"]}))
        .send()
        .await
        .expect("POST /v1/webhooks");
    assert_eq!(created.status(), StatusCode::CREATED);
    let webhook: Value = created.json().await.expect("JSON");
    let webhook_id = webhook["id"].as_str().expect("id").to_owned();
    let since = chrono::Utc::now().to_rfc3339();
    let done = herald(
        &api,
        &key,
        &[
            "jobs",
            "submit",
            "demo.sleep",
            "--payload",
            r#"{"seconds": 0}"#,
            "--follow",
        ],
    )
    .await;
    assert_eq!(code(&done), 0, "{done:?}");
    let table = herald(
        &api,
        &key,
        &["jobs", "ls", "--output", "table", "--limit", "1"],
    )
    .await;
    assert_eq!(code(&table), 0, "{table:?}");
    let text = stdout(&table);
    assert!(
        text.contains("STATUS") && text.contains("demo.sleep"),
        "{text}"
    );
    assert!(stderr(&table).contains("more: --cursor"), "{table:?}");
    let listed = json_of(&herald(&api, &key, &["webhooks", "ls"]).await);
    assert_eq!(listed["data"][0]["id"], webhook_id.as_str(), "{listed}");
    let delivery = eventually("a failed attempt", PATIENCE, || {
        let api = &api;
        let key = &key;
        let webhook_id = &webhook_id;
        async move {
            let page = json_of(&herald(api, key, &["webhooks", "deliveries", webhook_id]).await);
            let delivery = page["data"][0].clone();
            (delivery["attempt_count"].as_u64() >= Some(1)).then_some(delivery)
        }
    })
    .await;
    let delivery_id = delivery["id"].as_str().expect("id").to_owned();
    receiver.respond("/hooks", Script::status(200));
    let retried = json_of(&herald(&api, &key, &["webhooks", "retry", &delivery_id]).await);
    assert_eq!(retried["id"], delivery_id.as_str(), "{retried}");
    eventually("the retried delivery to be delivered", PATIENCE, || {
        let api = &api;
        let key = &key;
        let webhook_id = &webhook_id;
        async move {
            let page = json_of(
                &herald(
                    api,
                    key,
                    &[
                        "webhooks",
                        "deliveries",
                        webhook_id,
                        "--status",
                        "delivered",
                    ],
                )
                .await,
            );
            (!page["data"].as_array()?.is_empty()).then_some(())
        }
    })
    .await;
    let deliveries = herald(
        &api,
        &key,
        &["webhooks", "deliveries", &webhook_id, "--output", "table"],
    )
    .await;
    assert!(stdout(&deliveries).contains(&delivery_id), "{deliveries:?}");
    let replayed = json_of(
        &herald(
            &api,
            &key,
            &["webhooks", "replay", &webhook_id, "--since", &since],
        )
        .await,
    );
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let relative = json_of(
        &herald(
            &api,
            &key,
            &["webhooks", "replay", &webhook_id, "--since", "1h"],
        )
        .await,
    );
    // From an hour ago: the report's completion too.
    assert_eq!(relative["replayed"], 2, "{relative}");

    // Sources: one request in, its log, a replay of its failed job.
    let created = http
        .post(api.url("/v1/sources"))
        .bearer_auth(&key)
        .json(&json!({"name": "cli", "job_type": "demo.fail", "verify": {"scheme": "none"}}))
        .send()
        .await
        .expect("POST /v1/sources");
    assert_eq!(created.status(), StatusCode::CREATED);
    let source: Value = created.json().await.expect("JSON");
    let source_id = source["id"].as_str().expect("id").to_owned();
    let since = chrono::Utc::now().to_rfc3339();
    let ingested = http
        .post(api.url(source["ingest_url"].as_str().expect("ingest_url")))
        .json(&json!({"event": "hello"}))
        .send()
        .await
        .expect("POST /in");
    assert!(ingested.status().is_success(), "{ingested:?}");
    let listed = json_of(&herald(&api, &key, &["sources", "ls"]).await);
    assert_eq!(listed["data"][0]["id"], source_id.as_str(), "{listed}");
    let requests = json_of(&herald(&api, &key, &["sources", "requests", &source_id]).await);
    assert_eq!(requests["data"][0]["outcome"], "accepted", "{requests}");
    let job_id = requests["data"][0]["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned();
    let failed = herald(&api, &key, &["jobs", "follow", &job_id]).await;
    assert_eq!(code(&failed), 1, "{failed:?}");
    let replayed = json_of(
        &herald(
            &api,
            &key,
            &[
                "sources", "replay", &source_id, "--since", &since, "--status", "failed",
            ],
        )
        .await,
    );
    assert_eq!(replayed["replayed"], 1, "{replayed}");
    let table = herald(
        &api,
        &key,
        &["sources", "requests", &source_id, "--output", "table"],
    )
    .await;
    assert!(stdout(&table).contains("accepted"), "{table:?}");

    // A finished job runs again.
    let retried = json_of(&herald(&api, &key, &["jobs", "retry", &id]).await);
    assert_eq!(retried["status"], "pending", "{retried}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_outlives_its_reader_and_gives_up_once_the_stream_stays_lost() {
    let mut api = Herald::start_ready(&[]).await;

    // `| head -1`: the reader goes after one line; the follower still exits with the outcome.
    let mut follow = Command::new(herald_binary())
        .args([
            "jobs",
            "submit",
            "demo.report",
            "--follow",
            "--url",
            &api.base,
        ])
        .args(["--payload", r#"{"rows": 30, "rows_per_second": 30}"#])
        .env_remove("HERALD_KEY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("herald jobs submit --follow");
    let mut lines = BufReader::new(follow.stdout.take().expect("stdout")).lines();
    let first = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("a line in time")
        .expect("read")
        .expect("a line");
    assert!(first.contains("job.pending"), "{first}");
    drop(lines);
    let status = tokio::time::timeout(PATIENCE, follow.wait())
        .await
        .expect("the follower to exit")
        .expect("wait");
    assert_eq!(status.code(), Some(0), "completed, though nobody read on");

    // The api goes away for good: past --reconnect-for, exit 3 saying so.
    let sleeping = json_of(
        &herald(
            &api,
            "",
            &[
                "jobs",
                "submit",
                "demo.sleep",
                "--payload",
                r#"{"seconds": 60}"#,
            ],
        )
        .await,
    );
    let id = sleeping["id"].as_str().expect("id").to_owned();
    let base = api.base.clone();
    let follower = tokio::spawn(async move {
        herald(
            &Herald::attach(base),
            "",
            &["jobs", "follow", &id, "--reconnect-for", "3s"],
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    api.signal("KILL");
    api.wait_exit(PATIENCE).await;
    let gave_up = follower.await.expect("the follower");
    assert_eq!(code(&gave_up), 3, "{gave_up:?}");
    assert!(
        stderr(&gave_up).contains("did not come back within 3s"),
        "{gave_up:?}"
    );
    // What it saw before the api went: the job as it was, one JSON line each.
    assert!(!types(&events_of(&gave_up)).is_empty(), "{gave_up:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_never_answers_is_a_connection_error_not_a_hang() {
    // Accepts connections, reads nothing, answers nothing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", silent.local_addr().expect("addr"));
    let held = tokio::spawn(async move {
        let mut connections = Vec::new();
        while let Ok((connection, _)) = silent.accept().await {
            connections.push(connection);
        }
    });
    let output = herald(&Herald::attach(base), "", &["jobs", "ls"]).await;
    assert_eq!(code(&output), 3, "{output:?}");
    assert!(
        stderr(&output).contains("cannot reach Herald"),
        "{output:?}"
    );
    held.abort();
}
