//! The contract's built-in job types, run by a real worker.

use herald_core::{ErrorCode, EventType, JobStatus};
use serde_json::json;

use crate::support::{
    Backend, Harness, count_events, history, result, result_json, submit, submit_with,
    wait_for_status,
};

async fn demo_report_builds_a_csv_of_the_requested_rows_and_reports_progress(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let job = submit(
        &app.store,
        "demo.report",
        json!({"rows": 40, "rows_per_second": 100}),
    )
    .await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    let output = result(&app.store, job.id).await;
    assert_eq!(output.content_type, "text/csv");
    let csv = String::from_utf8(output.body).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 41, "a header and 40 rows");
    assert_eq!(lines[0], "row,value");
    assert_eq!(lines[1], "1,7919");
    assert!(lines[40].starts_with("40,"));
    let progress = done.progress.expect("a completed job shows its progress");
    assert_eq!(progress.percent, 100);
    assert_eq!(progress.message.as_deref(), Some("row 40 of 40"));
    let reports: Vec<String> = history(&app.store, job.id)
        .await
        .into_iter()
        .filter(|e| e.kind == EventType::Progress)
        .filter_map(|e| e.job.progress.and_then(|p| p.message))
        .collect();
    assert!(reports.len() >= 2, "progress along the way: {reports:?}");
    assert!(
        reports
            .iter()
            .all(|m| m.starts_with("row ") && m.ends_with(" of 40"))
    );
    app.stop().await.unwrap();
}

async fn demo_sleep_echoes_the_seconds_it_slept_as_given(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let cases = [
        (json!({"seconds": 0}), json!({"slept": 0})),
        (json!({"seconds": 0.05}), json!({"slept": 0.05})),
        (json!({}), json!({"slept": 1})),
    ];
    for (payload, expected) in cases {
        let job = submit(&app.store, "demo.sleep", payload).await;
        wait_for_status(&app.store, job.id, JobStatus::Completed).await;
        assert_eq!(result_json(&app.store, job.id).await, expected);
    }
    app.stop().await.unwrap();
}

async fn demo_fail_fails_at_once_with_its_message_and_code_handler_error(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let job = submit_with(
        &app.store,
        "demo.fail",
        json!({"message": "the printer is on fire"}),
        |r| r.max_attempts = Some(3),
    )
    .await;

    let failed = wait_for_status(&app.store, job.id, JobStatus::Failed).await;

    let error = failed.error.unwrap();
    assert_eq!(error.code, ErrorCode::HandlerError);
    assert_eq!(error.message, "the printer is on fire");
    assert_eq!(failed.attempt, 1, "a permanent error is not retried");
    assert_eq!(
        count_events(&app.store, job.id, EventType::Processing).await,
        1
    );
    app.stop().await.unwrap();
}

async fn bad_payloads_fail_at_once_saying_what_is_wrong(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let cases = [
        (
            "demo.report",
            json!({"rows": 2_000_000}),
            "`rows` must be at most 1000000",
        ),
        (
            "demo.report",
            json!({"rows_per_second": 0}),
            "`rows_per_second` must be between 1",
        ),
        (
            "demo.report",
            json!({"colour": "red"}),
            "unknown field `colour`",
        ),
        (
            "demo.sleep",
            json!({"seconds": -1}),
            "`seconds` must be between 0 and 3600",
        ),
        (
            "demo.sleep",
            json!({"seconds": "soon"}),
            "invalid payload for `demo.sleep`",
        ),
        (
            "demo.fail",
            json!({"message": 42}),
            "invalid payload for `demo.fail`",
        ),
    ];
    for (kind, payload, complaint) in cases {
        let job = submit_with(&app.store, kind, payload, |r| r.max_attempts = Some(3)).await;
        let failed = wait_for_status(&app.store, job.id, JobStatus::Failed).await;
        let error = failed.error.unwrap();
        assert_eq!(error.code, ErrorCode::HandlerError);
        assert!(
            error.message.contains(complaint),
            "{kind}: {}",
            error.message
        );
        assert_eq!(failed.attempt, 1, "{kind}: a bad payload is not retried");
    }
    app.stop().await.unwrap();
}

async fn finished_jobs_are_counted_in_the_metrics(backend: Backend) {
    let mut app = Harness::new(backend).start().await;
    let ok = submit(&app.store, "demo.sleep", json!({"seconds": 0})).await;
    let bad = submit(&app.store, "demo.fail", json!({})).await;
    wait_for_status(&app.store, ok.id, JobStatus::Completed).await;
    wait_for_status(&app.store, bad.id, JobStatus::Failed).await;

    let text = app.metrics_text();
    assert!(
        text.contains(
            r#"herald_worker_jobs_finished_total{job_type="demo.sleep",outcome="completed"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"herald_worker_jobs_finished_total{job_type="demo.fail",outcome="failed"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("herald_worker_jobs_in_flight 0"), "{text}");
    app.stop().await.unwrap();
}

herald_testkit::on_both_backends!(
    demo_report_builds_a_csv_of_the_requested_rows_and_reports_progress,
    demo_sleep_echoes_the_seconds_it_slept_as_given,
    demo_fail_fails_at_once_with_its_message_and_code_handler_error,
    bad_payloads_fail_at_once_saying_what_is_wrong,
    finished_jobs_are_counted_in_the_metrics,
);
