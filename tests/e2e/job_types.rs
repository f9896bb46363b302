//! Job types from a configuration file: an `exec` command with progress and a downloadable
//! result, a failing one, environment overrides of a type's settings, and an external worker
//! in Python served by an api process alone.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Herald, follow, get_result, is_terminal, post_json, submit};

/// A private directory for one test's configuration file and scripts, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "herald-e2e-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to the file `name` in the directory and answers its path.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A report script in Python: reads its payload on stdin, reports progress as JSON lines and
/// writes a CSV to the path Herald gives it.
const REPORT_PY: &str = r#"
import json, os, sys, time
payload = json.load(sys.stdin)
rows = int(payload.get("rows", 10))
with open(os.environ["HERALD_RESULT_PATH"], "w") as out:
    out.write("n,square\n")
    for n in range(1, rows + 1):
        out.write(f"{n},{n * n}\n")
        if n % max(rows // 5, 1) == 0:
            print(json.dumps({"progress": n * 100 // rows, "message": f"row {n} of {rows}"}), flush=True)
            time.sleep(0.2)
print("done", file=sys.stderr)
"#;

fn config(scratch: &Scratch) -> String {
    let report = scratch.write("report.py", REPORT_PY);
    scratch.write(
        "herald.toml",
        &format!(
            r#"
[server]
concurrency = 4

[job_types."report.script"]
handler = "exec"
command = ["python3", "{report}"]
result_content_type = "text/csv"
timeout = "1m"

[job_types."broken.script"]
handler = "exec"
command = ["sh", "-c", "echo 'disk full' >&2; exit 3"]
max_attempts = 1
"#
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_job_reports_progress_and_its_result_file_can_be_downloaded() {
    let scratch = Scratch::new("exec");
    let config = config(&scratch);
    let herald = Herald::start_ready(&["--config", &config]).await;
    let job = submit(
        &herald,
        json!({"type": "report.script", "payload": {"rows": 50}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    // The type's `timeout` is the default of its jobs.
    assert_eq!(job["timeout_s"], 60);

    let seen = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "completed", "{last}");
    assert!(
        seen.iter().any(|j| j["progress"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("row "))),
        "no progress line reached the job: {seen:?}"
    );
    let result = get_result(&herald, id).await;
    assert_eq!(result.status(), StatusCode::OK);
    assert_eq!(result.headers()["content-type"], "text/csv");
    let csv = result.text().await.unwrap();
    assert!(csv.starts_with("n,square\n1,1\n"), "{csv}");
    assert_eq!(csv.lines().count(), 51);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_fails_its_job_with_the_tail_of_its_stderr() {
    let scratch = Scratch::new("fail");
    let config = config(&scratch);
    let herald = Herald::start_ready(&["--config", &config]).await;
    let job = submit(&herald, json!({"type": "broken.script"})).await;
    assert_eq!(job["max_attempts"], 1);
    let id = job["id"].as_str().unwrap();
    let seen = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert_eq!(last["error"]["code"], "handler_error");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("disk full") && message.contains('3'),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_are_refused_and_environment_overrides_apply() {
    let scratch = Scratch::new("env");
    let config = config(&scratch);
    let herald = Herald::start_with_env(
        &["--config", &config],
        &[
            ("HERALD_JOB_TYPES__REPORT_SCRIPT__MAX_PAYLOAD_BYTES", "32"),
            ("HERALD_JOB_TYPES__REPORT_SCRIPT__TIMEOUT", "2m"),
        ],
    )
    .await;
    herald.wait_ready().await;

    let (status, problem) = post_json(&herald, "/v1/jobs", json!({"type": "report.scirpt"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "type");

    let big = json!({"type": "report.script", "payload": {"rows": 10, "note": "more than thirty-two bytes"}});
    let (status, problem) = post_json(&herald, "/v1/jobs", big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "payload");

    let (status, job) = post_json(
        &herald,
        "/v1/jobs",
        json!({"type": "report.script", "payload": {"rows": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["timeout_s"], 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_worker_runs_an_external_job_through_an_api_process_on_redis() {
    let redis = herald_testkit::RedisServer::start();
    let scratch = Scratch::new("external");
    let config = scratch.write(
        "herald.toml",
        "[job_types.\"video.transcode\"]\nhandler = \"external\"\ntimeout = \"5m\"\n",
    );
    // No worker role at all: the api process alone serves external workers.
    let args = crate::support::on_redis(&redis, "api", &["--config", &config]);
    let herald = Herald::start_ready(&args).await;
    let job = submit(
        &herald,
        json!({"type": "video.transcode", "payload": {"words": ["slow", "work"]}}),
    )
    .await;
    let id = job["id"].as_str().unwrap();
    assert_eq!(job["timeout_s"], 300);

    let worker = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/external_worker.py"
    );
    let run = tokio::process::Command::new("python3")
        .args([worker, &herald.base, "video.transcode", "--once"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the worker finishes")
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let seen = follow(&herald, id, Duration::from_secs(60), is_terminal).await;
    assert_eq!(seen.last().unwrap()["status"], "completed");
    let result: serde_json::Value = get_result(&herald, id).await.json().await.unwrap();
    assert_eq!(
        result,
        json!({"upper": ["SLOW", "WORK"], "worker": "python"})
    );
}
