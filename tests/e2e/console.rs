//! The web console (`/console`) in a real browser: headless Chromium driven by playwright-core
//! (`tests/e2e/console/console.test.mjs`, run by Node's test runner) against a `herald serve`
//! on the embedded backend (and a second one with no key: an open install). It signs in, follows a job's progress to completed without a
//! reload, cancels a job, retries a dead webhook delivery and replays a window, refuses a wrong
//! key, opens one job from a read-token link and nothing else, manages keys and reads a
//! source's request log — and checks that an idle console makes no request beyond its stream.
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`) and the pinned `playwright-core`
//! (`npm ci` in `tests/e2e/console`); `scripts/test` installs both. Without them the test fails:
//! a browser test that silently skips proves nothing.
//!
//! On success it refreshes the documentation's screenshots, `docs/images/console-jobs.png` and
//! `docs/images/console-job.png`; on a failure the page's screenshot is saved as
//! `target/console-failure-<scenario>.png` and its path printed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use herald_testkit::TempDir;
use tokio::process::Command;

use crate::support::{Herald, generate_key, run_to_success, tests_passed};

const CHROMIUM: &str = "/usr/bin/chromium";

/// The longest the browser suite may run: about a minute on an idle machine.
const SUITE_TIMEOUT: Duration = Duration::from_secs(900);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_works_in_a_real_browser_on_the_public_api_alone() {
    let suite = repo_root().join("tests/e2e/console");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the console test needs Debian's chromium package \
         (`apt-get install -y --no-install-recommends chromium`; scripts/test installs it)"
    );
    assert!(
        suite.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm ci` in tests/e2e/console (scripts/test does)"
    );

    let key = generate_key();
    // Embedded backend, every role. Deliveries go to the suite's loopback receiver and die
    // after two quick retries, so a dead delivery is seconds away.
    let herald = Herald::start_ready(&[
        "--bootstrap-admin-key",
        &key,
        "--webhook-allow-private-targets",
        "--webhook-retry-schedule",
        "1s,1s",
    ])
    .await;
    // A second server on which no key exists: an open development install.
    let open = Herald::start_ready(&[]).await;

    let failures = repo_root().join("target");
    std::fs::create_dir_all(&failures).expect("create target/");
    // The screenshots land in docs/images only once every scenario passed.
    let shots = TempDir::new("console-shots");

    let mut suite_run = Command::new("node");
    suite_run
        .args(["--test", "--test-reporter=tap", "console.test.mjs"])
        .current_dir(&suite)
        .env("HERALD_URL", &herald.base)
        .env("HERALD_KEY", &key)
        .env("HERALD_OPEN_URL", &open.base)
        .env("FAILURE_DIR", &failures)
        .env("DOCS_IMAGES_DIR", &shots.0);
    let output = run_to_success("the console suite", suite_run, SUITE_TIMEOUT).await;
    eprintln!("{output}");
    let passed = tests_passed("the console suite", &output);

    let images = repo_root().join("docs/images");
    std::fs::create_dir_all(&images).expect("create docs/images");
    for name in ["console-jobs.png", "console-job.png"] {
        let shot = shots.0.join(name);
        assert!(shot.exists(), "the suite did not take {name}");
        std::fs::copy(&shot, images.join(name))
            .unwrap_or_else(|e| panic!("cannot copy {name} to docs/images: {e}"));
    }
    eprintln!("console suite: {passed} scenarios passed; docs/images refreshed");
}
