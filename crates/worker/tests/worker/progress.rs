//! Progress reports: coalesced for chatty handlers, and never losing the last one.

use std::time::Duration;

use herald_core::{EventType, JobStatus};
use serde_json::json;

use crate::support::{Backend, Chatty, Harness, count_events, submit, wait_for_status};

async fn a_chatty_handler_is_coalesced_and_its_last_report_is_kept(backend: Backend) {
    let mut app = Harness::new(backend)
        .worker_config(|c| c.progress_interval = Duration::from_millis(250))
        .handler(
            "test.chatty",
            Chatty {
                steps: 200,
                pause: Duration::from_millis(5),
            },
        )
        .start()
        .await;
    let job = submit(&app.store, "test.chatty", json!({})).await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    // 200 reports over about a second, written at most every 250 ms, plus the final flush.
    let written = count_events(&app.store, job.id, EventType::Progress).await;
    assert!((1..=10).contains(&written), "{written} progress events");
    let progress = done.progress.unwrap();
    assert_eq!(progress.message.as_deref(), Some("step 200"));
    app.stop().await.unwrap();
}

async fn a_single_report_just_before_returning_still_lands(backend: Backend) {
    let mut app = Harness::new(backend)
        .worker_config(|c| c.progress_interval = Duration::from_secs(60))
        .handler(
            "test.chatty",
            Chatty {
                steps: 3,
                pause: Duration::ZERO,
            },
        )
        .start()
        .await;
    let job = submit(&app.store, "test.chatty", json!({})).await;

    let done = wait_for_status(&app.store, job.id, JobStatus::Completed).await;

    assert_eq!(done.progress.unwrap().message.as_deref(), Some("step 3"));
    app.stop().await.unwrap();
}

herald_testkit::on_both_backends!(
    a_chatty_handler_is_coalesced_and_its_last_report_is_kept,
    a_single_report_just_before_returning_still_lands,
);
