//! The `exec` handler with real commands (`/bin/sh` scripts): progress and results, failures,
//! and no process outliving its job on a timeout or a cancel. The handler never touches the
//! store, so these run on the memory backend only.

use std::path::Path;
use std::time::Duration;

use herald_core::{ErrorCode, EventType, JobStatus};
use herald_testkit::{TempDir, eventually};
use herald_worker::{ExecHandler, ExecSettings};
use serde_json::json;

use crate::support::{
    Backend, Harness, PATIENCE, fails_at_once, history, result, result_json, run_one_until,
    start_with_job, submit, tenant, wait_for, wait_for_status,
};

/// A handler running `script` with `sh -c`, with `DIR` set to `dir`.
fn script(dir: &Path, script: &str) -> ExecSettings {
    let mut settings = ExecSettings::new(["/bin/sh", "-c", script]);
    settings
        .set_env
        .insert("DIR".to_owned(), dir.display().to_string());
    settings
}

fn handler(settings: ExecSettings) -> ExecHandler {
    ExecHandler::new(settings).expect("valid exec settings")
}

/// The pid a script wrote to `dir/name`, once it is there.
async fn pid_in(dir: &Path, name: &str) -> u32 {
    let path = dir.join(name);
    eventually(&format!("the script to write {name}"), PATIENCE, || async {
        // Written with `echo`: complete once it ends with a newline.
        let text = std::fs::read_to_string(&path).ok()?;
        text.strip_suffix('\n')?.trim().parse().ok()
    })
    .await
}

/// The pids [`HANG`] wrote to `dir`: its shell, the group's leader, and the child it started.
async fn hanging_pids(dir: &Path) -> [u32; 2] {
    [
        pid_in(dir, "leader.pid").await,
        pid_in(dir, "child.pid").await,
    ]
}

/// Whether `pid` still runs: a zombie (state `Z`) does not, since it only waits to be reaped
/// (and the machine's PID 1 may never reap it).
fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) state …`: the command name may hold spaces and parentheses.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

async fn wait_until_gone(pids: &[u32]) {
    eventually(
        &format!("processes {pids:?} to be gone"),
        PATIENCE,
        || async { pids.iter().all(|&pid| !is_running(pid)).then_some(()) },
    )
    .await;
}

/// Starts a child that sleeps in the background and a foreground sleep, writing both pids.
const HANG: &str = r#"
sleep 300 &
echo $! > "$DIR/child.pid"
echo $$ > "$DIR/leader.pid"
sleep 300
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_job_reports_progress_and_completes_with_its_result_file() {
    let dir = TempDir::new("exec-progress");
    // The script waits for the test to have seen its first report, so the report cannot be
    // coalesced away by the one after it.
    let mut settings = script(
        &dir.0,
        r#"
        echo '{"progress": 50, "message": "half way"}'
        while [ ! -e "$DIR/go" ]; do sleep 0.05; done
        echo 'a log line, not JSON'
        printf 'row,value\n1,one\n' > "$HERALD_RESULT_PATH"
        echo '{"ignored": "the result file wins"}'
        echo '{"progress": 100, "message": "done"}'
        "#,
    );
    settings.result_content_type = "text/csv".to_owned();
    let mut app = Harness::new(Backend::Memory)
        .handler("test.exec", handler(settings))
        .start()
        .await;
    let job = submit(&app.store, "test.exec", json!({})).await;

    wait_for(&app.store, job.id, "the first progress report", |job| {
        job.progress
            .as_ref()
            .is_some_and(|p| p.percent == 50 && p.message.as_deref() == Some("half way"))
    })
    .await;
    std::fs::write(dir.0.join("go"), "").unwrap();

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;
    let progress = done.progress.unwrap();
    assert_eq!(
        (progress.percent, progress.message.as_deref()),
        (100, Some("done"))
    );
    let reports: Vec<_> = history(&app.store, job.id)
        .await
        .into_iter()
        .filter(|e| e.kind == EventType::Progress)
        .filter_map(|e| e.job.progress)
        .collect();
    assert!(
        reports
            .iter()
            .any(|p| p.percent == 50 && p.message.as_deref() == Some("half way")),
        "{reports:?}"
    );
    let output = result(&app.store, job.id).await;
    assert_eq!(output.content_type, "text/csv");
    assert_eq!(output.body, b"row,value\n1,one\n");
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_job_completes_with_its_last_json_line_and_gets_a_clean_environment() {
    let dir = TempDir::new("exec-json");
    let mut settings = script(
        &dir.0,
        r#"
        read -r payload
        echo '{"first": "candidate"}'
        echo '{"progress": 100}'
        has_path=$([ -n "$HERALD_RESULT_PATH" ] && echo true || echo false)
        printf '{"payload": %s, "job": "%s", "type": "%s", "attempt": "%s",' \
          "$payload" "$HERALD_JOB_ID" "$HERALD_JOB_TYPE" "$HERALD_ATTEMPT"
        printf ' "fixed": "%s", "home": "%s", "result_path_set": %s}\n' \
          "$FIXED" "${HOME:-unset}" "$has_path"
        echo 'trailing log line'
        "#,
    );
    settings
        .set_env
        .insert("FIXED".to_owned(), "from settings".to_owned());
    let mut app = Harness::new(Backend::Memory)
        .handler("test.exec", handler(settings))
        .start()
        .await;
    let job = submit(&app.store, "test.exec", json!({"rows": [1, 2, 3]})).await;

    wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    assert_eq!(
        result_json(&app.store, job.id).await,
        json!({
            "payload": {"rows": [1, 2, 3]},
            "job": job.id.to_string(),
            "type": "test.exec",
            "attempt": "1",
            "fixed": "from settings",
            "home": "unset",
            "result_path_set": true,
        })
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_ignores_its_stdin_still_completes() {
    let mut app = Harness::new(Backend::Memory)
        .handler("test.exec", handler(ExecSettings::new(["true"])))
        .start()
        .await;
    // Far more than a pipe holds: writing it fails once `true` has exited.
    let big = "x".repeat(200 * 1024);
    let job = submit(&app.store, "test.exec", json!({"big": big})).await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    assert!(!done.has_result);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_command_fails_the_job_with_its_status_and_the_end_of_its_stderr() {
    let dir = TempDir::new("exec-fail");
    let settings = script(
        &dir.0,
        r#"
        i=0
        while [ $i -lt 200 ]; do echo "noise line $i" >&2; i=$((i + 1)); done
        echo "disk full on /dev/sda" >&2
        exit 3
        "#,
    );
    let (mut app, failed) = run_one_until(
        "test.exec",
        handler(settings),
        |r| r.max_attempts = Some(1),
        JobStatus::Failed,
    )
    .await;

    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::HandlerError);
    assert!(
        error.message.starts_with("command exited with status 3: "),
        "{}",
        error.message
    );
    assert!(
        error.message.ends_with("disk full on /dev/sda"),
        "{}",
        error.message
    );
    assert!(error.message.len() <= herald_core::job::MAX_MESSAGE_BYTES);
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_does_not_exist_fails_the_job_at_once() {
    let (mut app, message) = fails_at_once(
        "test.exec",
        handler(ExecSettings::new(["/nonexistent/herald-no-such-program"])),
    )
    .await;
    assert!(
        message.contains("cannot start `/nonexistent/herald-no-such-program`"),
        "{message}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_file_over_the_limit_fails_the_job_naming_its_size() {
    let dir = TempDir::new("exec-large");
    let mut settings = script(&dir.0, r#"printf '0123456789' > "$HERALD_RESULT_PATH""#);
    settings.max_result_bytes = 4;
    let (mut app, message) = fails_at_once("test.exec", handler(settings)).await;
    assert!(
        message.contains("10 bytes") && message.contains("max_result_bytes (4 bytes)"),
        "{message}"
    );
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_command_times_out_and_leaves_no_process_behind() {
    let dir = TempDir::new("exec-timeout");
    let (mut app, job) =
        start_with_job("test.exec", handler(script(&dir.0, HANG)), json!({}), |r| {
            r.timeout_s = Some(2);
            r.max_attempts = Some(1);
        })
        .await;
    let [leader, child] = hanging_pids(&dir.0).await;

    let failed = wait_for_status(&app.store, job.id, JobStatus::Failed).await;

    assert_eq!(failed.error.unwrap().code, ErrorCode::Timeout);
    wait_until_gone(&[leader, child]).await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canceling_an_exec_job_stops_the_command_and_everything_it_started() {
    let dir = TempDir::new("exec-cancel");
    let mut app = Harness::new(Backend::Memory)
        .handler("test.exec", handler(script(&dir.0, HANG)))
        .start()
        .await;
    let job = submit(&app.store, "test.exec", json!({})).await;
    let [leader, child] = hanging_pids(&dir.0).await;
    // Not canceled yet, so both must run: the pids are the right ones.
    assert!(is_running(leader) && is_running(child));

    app.store.cancel(&tenant(), &job.id).await.unwrap();

    let canceled = wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    assert_eq!(canceled.error.unwrap().code, ErrorCode::Canceled);
    wait_until_gone(&[leader, child]).await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_ignores_sigterm_is_killed_once_the_cancel_grace_is_spent() {
    let dir = TempDir::new("exec-stubborn");
    // An ignored signal stays ignored in the children: only SIGKILL stops any of them.
    let stubborn = format!("trap '' TERM\n{HANG}");
    let mut app = Harness::new(Backend::Memory)
        .worker_config(|c| c.cancel_grace = Duration::from_millis(300))
        .handler("test.exec", handler(script(&dir.0, &stubborn)))
        .start()
        .await;
    let job = submit(&app.store, "test.exec", json!({})).await;
    let [leader, child] = hanging_pids(&dir.0).await;

    app.store.cancel(&tenant(), &job.id).await.unwrap();

    wait_for_status(&app.store, job.id, JobStatus::Canceled).await;
    wait_until_gone(&[leader, child]).await;
    app.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_child_does_not_outlive_a_command_that_exits() {
    let dir = TempDir::new("exec-orphan");
    let settings = script(
        &dir.0,
        r#"
        sleep 300 &
        echo $! > "$DIR/child.pid"
        echo '{"started": true}'
        "#,
    );
    let mut app = Harness::new(Backend::Memory)
        .handler("test.exec", handler(settings))
        .start()
        .await;
    let job = submit(&app.store, "test.exec", json!({})).await;

    // The background child holds stdout open until the group is killed.
    wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    let child = pid_in(&dir.0, "child.pid").await;
    wait_until_gone(&[child]).await;
    assert_eq!(
        result_json(&app.store, job.id).await,
        json!({"started": true})
    );
    app.stop().await.unwrap();
}
