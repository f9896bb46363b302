//! The TypeScript client (`clients/typescript`) against a real `herald`: its drift check
//! (`npm run check`: the generated types match the OpenAPI document this server serves, and the
//! committed `dist/` — which the console embeds — matches a fresh build of `src/`) and its
//! test suite (`npm test`: Node's test runner driving the client over loopback, through
//! proxies that cut or block its streams, and verifying real webhook deliveries).
//!
//! Needs Node.js and the client's pinned dev dependencies (`npm ci` in `clients/typescript`;
//! `scripts/test` runs it). Without them the test fails: a client test that silently skips
//! proves nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::{Herald, generate_key, run_to_success, tests_passed};

/// The longest one npm script may run: the suite takes about a minute on an idle machine.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/typescript")
}

/// Panics, saying how to install it, when something the client's scripts need is missing.
fn require_toolchain(dir: &Path) {
    for tool in ["node", "npm"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            found,
            "`{tool}` is missing: the TypeScript client's tests need Node.js 20+ and npm \
             (scripts/test installs them)"
        );
    }
    for module in ["typescript", "openapi-typescript", "eventsource"] {
        let path = dir.join("node_modules").join(module);
        assert!(
            path.exists(),
            "{} is missing: run `npm ci` in clients/typescript (scripts/test does)",
            path.display()
        );
    }
}

/// `npm run <script>` in the client's directory against `herald`.
fn npm_run(script: &str, dir: &Path, herald: &Herald, key: &str) -> Command {
    let mut command = Command::new("npm");
    command
        .args(["run", "--silent", script])
        .current_dir(dir)
        .env("HERALD_URL", &herald.base)
        .env("HERALD_KEY", key);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_matches_the_api_and_passes_its_tests_against_a_live_server() {
    let dir = client_dir();
    require_toolchain(&dir);
    let key = generate_key();
    // Embedded backend, all roles. Webhooks go to the tests' loopback receivers and retry
    // soon; the tests' proxies are loopback clients too.
    let herald = Herald::start_ready(&[
        "--bootstrap-admin-key",
        &key,
        "--webhook-allow-private-targets",
        "--webhook-retry-schedule",
        "1s,1s,1s",
    ])
    .await;

    let checked = run_to_success(
        "`npm run check`",
        npm_run("check", &dir, &herald, &key),
        SCRIPT_TIMEOUT,
    )
    .await;
    eprintln!("{checked}");

    let tested = run_to_success(
        "`npm test`",
        npm_run("test", &dir, &herald, &key),
        SCRIPT_TIMEOUT,
    )
    .await;
    let passed = tests_passed("`npm test`", &tested);
    eprintln!("npm test: {passed} tests passed");
}
