//! A schema-driven fuzz run: Schemathesis reads the OpenAPI document a real `herald` serves
//! (`/v1/openapi.json`) and sends every operation generated requests, valid and invalid,
//! checking each answer: no 5xx, the status code and content type documented for the
//! operation, and a body that matches the documented schema (every error a problem+json).
//!
//! The run is bounded (a fixed seed, 20 examples per operation, a request timeout) so it
//! takes well under a minute. The SSE streams, which stay open while a job lives, are left to
//! the API tests (`crates/api/tests/api/hostile.rs`), and long polls have their `wait` pinned
//! to `0`.

use std::time::{Duration, Instant};

use crate::job_types::Scratch;
use crate::support::Herald;

/// The Schemathesis release `scripts/test` installs.
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// Left out: the streams, which stay open as long as their job or tenant lives, and the
/// admin routes, where a created key would end the open development mode and leave the rest of
/// the run answering `401` (those routes are fuzzed by the API tests).
const EXCLUDED: &str = r"/events/stream$|/jobs/\{id\}/events$|^/v1/admin/";

/// Pins long polls to answer at once (the streams are excluded by path).
const CONFIG: &str = r#"
[parameters]
"query.wait" = "0"
"#;

/// The checks that hold for every operation: nothing is a server error, and every answer
/// (status, content type, body) is the one the document promises.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// The longest the whole run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

fn installed_version() -> Option<String> {
    let out = std::process::Command::new("schemathesis")
        .arg("--version")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_that_disagrees_with_the_openapi_document()
{
    let Some(version) = installed_version() else {
        panic!(
            "schemathesis is missing: this test runs it against a live herald. Install it with \
             `python3 -m pip install schemathesis=={SCHEMATHESIS_VERSION}` (scripts/test does)"
        );
    };
    eprintln!("{version}");
    // The api and a worker, so jobs move on; no notifier, so no webhook the fuzzer invents is
    // ever sent anywhere.
    let herald = Herald::start_ready(&["--roles", "api,worker"]).await;
    let scratch = Scratch::new("fuzz");
    let config = scratch.write("schemathesis.toml", CONFIG);
    let dir = std::path::Path::new(&config).parent().unwrap().to_owned();

    let started = Instant::now();
    let run = tokio::process::Command::new("schemathesis")
        .args(["--no-color", "--config-file", &config, "run"])
        .arg(herald.url("/v1/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--max-examples", "20", "--seed", "1"])
        .args(["--request-timeout", "10", "--max-failures", "10"])
        .args(["--exclude-path-regex", EXCLUDED])
        // Hypothesis keeps its example database in the working directory: the scratch one.
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {RUN_TIMEOUT:?}"))
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("schemathesis ran for {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "schemathesis found answers that disagree with the OpenAPI document ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("passed"),
        "schemathesis ran no test:\n{stdout}\n{stderr}"
    );
}
