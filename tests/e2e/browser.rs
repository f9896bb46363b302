//! A real browser follows a job: headless Chromium loads a page from another origin (the test
//! kit's receiver, on its own loopback port, serving the page), and the page's `EventSource`
//! streams the job from Herald across origins (so Herald's CORS allow-list is exercised), then
//! posts what it saw back to the page server.
//!
//! Needs Debian's `chromium` package (`/usr/bin/chromium`); `scripts/test` installs it. Without it
//! the test fails: a browser test that silently skips proves nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use herald_testkit::sse::header;
use herald_testkit::{Answer, Receiver, RedisServer, Script, TempDir};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::{Herald, get_job, on_redis, submit};

const CHROMIUM: &str = "/usr/bin/chromium";

/// How long the page may take to say hello, and then to report the whole job.
const PAGE_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_on_another_origin_follows_a_job_with_event_source_to_completed() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the browser test needs Debian's chromium package \
         (`apt-get install -y --no-install-recommends chromium`; scripts/test installs it)"
    );
    // The page server: the page at `/`, and every POST from it handed to `received`.
    let (reports, mut received) = mpsc::unbounded_channel();
    let server = Receiver::builder()
        .on_request(move |request| {
            if request.method == "POST" {
                let json = serde_json::from_slice(&request.body).unwrap_or_else(
                    |e| json!({"error": format!("the page posted something not JSON: {e}")}),
                );
                let _ = reports.send((request.path.clone(), json));
            }
        })
        .start()
        .await;
    let page_origin = format!("http://{}", server.addr());

    let redis = RedisServer::start();
    let api =
        Herald::start_ready(&on_redis(&redis, "api", &["--cors-origins", &page_origin])).await;
    let job = submit(
        &api,
        json!({"type": "demo.report", "payload": {"rows": 40, "rows_per_second": 20}}),
    )
    .await;
    let id = job["id"].as_str().expect("id").to_owned();
    let events_url = api.url(&format!("/v1/jobs/{id}/events"));

    // Herald allows the page's origin, and only it.
    for (origin, allowed) in [(page_origin.as_str(), true), ("http://127.0.0.1:9", false)] {
        let answer = herald_testkit::sse::stream_client()
            .get(&events_url)
            .header("Origin", origin)
            .send()
            .await
            .expect("GET events");
        let allow = header(&answer, "access-control-allow-origin");
        if allowed {
            assert!(
                allow == origin || allow == "*",
                "Access-Control-Allow-Origin {allow:?} for the allowed origin {origin}"
            );
        } else {
            assert!(
                allow != origin && allow != "*",
                "Access-Control-Allow-Origin {allow:?} for the unlisted origin {origin}"
            );
        }
    }

    let page = Answer::status(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .header("Cache-Control", "no-store")
        .body(page_html(&api.base, &id));
    server.respond("/", Script::Always(page));
    for path in ["/hello", "/report"] {
        server.respond(path, Script::status(204));
    }
    let browser = Browser::launch(&format!("{page_origin}/"));

    // The page connects while the job waits for a worker, so its first event is known.
    let current = get_job(&api, &id).await;
    let (path, hello) = browser.next_report(&mut received).await;
    assert_eq!(path, "/hello", "{hello}");
    assert!(hello["error"].is_null(), "the page failed: {hello}");

    let _worker = Herald::start(&on_redis(&redis, "worker", &[])).await;
    let (path, report) = browser.next_report(&mut received).await;
    assert_eq!(path, "/report", "{report}");
    assert!(report["error"].is_null(), "the page failed: {report}");

    let events = report["events"].as_array().expect("events");
    let first = &events[0];
    assert_eq!(first["type"], "job.pending", "{report}");
    assert_eq!(first["seq"], current["seq"], "{report}");
    for (i, event) in events.iter().enumerate() {
        let seq = event["seq"].as_u64().expect("seq");
        assert_eq!(
            seq,
            current["seq"].as_u64().expect("seq") + i as u64,
            "a gap or a duplicate at event {i}: {report}"
        );
        assert_eq!(event["lastEventId"], seq.to_string(), "{report}");
        assert_eq!(event["origin"], api.base.as_str(), "{report}");
        let status = match event["type"].as_str().expect("type") {
            "job.progress" => "processing",
            other => other.strip_prefix("job.").expect("a job.* event"),
        };
        assert_eq!(event["status"], status, "{report}");
    }
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"job.processing"), "{report}");
    assert!(types.contains(&"job.progress"), "{report}");
    assert_eq!(types.last(), Some(&"job.completed"), "{report}");
    assert_eq!(
        report["errors"], 0,
        "the EventSource dropped and reconnected mid-job: {report}"
    );

    drop(browser);
}

/// The page: subscribes with `EventSource`, says hello on its first event, records every event
/// and posts the record on the terminal one (or on a failure, with the reason).
fn page_html(herald: &str, id: &str) -> String {
    const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Herald EventSource</title>
<script>
const herald = "HERALD";
const id = "JOB";
const seen = [];
let errors = 0;
let hello = false;
let reported = false;
function post(path, body) {
  return fetch(path, {method: "POST", headers: {"Content-Type": "application/json"},
                      body: JSON.stringify(body)});
}
function report(body) {
  if (reported) return;
  reported = true;
  post("/report", Object.assign({events: seen, errors: errors}, body));
}
const source = new EventSource(herald + "/v1/jobs/" + id + "/events");
const types = ["job.pending", "job.processing", "job.progress",
               "job.completed", "job.failed", "job.canceled"];
for (const type of types) {
  source.addEventListener(type, (e) => {
    let job;
    try { job = JSON.parse(e.data); } catch (err) { report({error: "bad JSON: " + e.data}); return; }
    seen.push({type: e.type, lastEventId: e.lastEventId, origin: e.origin,
               status: job.status, seq: job.seq});
    if (!hello) { hello = true; post("/hello", {first: seen[0]}); }
    if (type === "job.completed" || type === "job.failed" || type === "job.canceled") {
      source.close();
      report({});
    }
  });
}
source.onmessage = (e) => report({error: "an event without a type: " + e.data});
source.onerror = () => {
  // CONNECTING: the browser reconnects with Last-Event-ID by itself. CLOSED: it gave up
  // (CORS refused, or an answer that was not an event stream).
  errors += 1;
  if (source.readyState === EventSource.CLOSED) {
    if (!hello) post("/hello", {error: "EventSource closed before any event"});
    report({error: "EventSource closed before the terminal event"});
  }
};
window.onerror = (message) => report({error: String(message)});
</script>
<p>Following a Herald job.</p>
"#;
    PAGE.replace("HERALD", herald).replace("JOB", id)
}

/// Headless Chromium showing one page, in a process group of its own with a fresh profile;
/// stopped (the whole group) when dropped, also when the test panics.
struct Browser {
    child: Child,
    log: PathBuf,
    _profile: TempDir,
}

impl Browser {
    fn launch(url: &str) -> Browser {
        use std::os::unix::process::CommandExt;

        let profile = TempDir::new("chromium");
        let log = profile.0.join("chromium.log");
        let stderr = std::fs::File::create(&log).expect("create the browser's log");
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                // Root has no user namespace sandbox here; the page is our own.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-breakpad",
                "--no-proxy-server",
            ])
            .arg(format!("--user-data-dir={}", profile.0.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMIUM}: {e}"));
        Browser {
            child,
            log,
            _profile: profile,
        }
    }

    /// The page's next post, or a panic with the browser's log after [`PAGE_TIMEOUT`].
    async fn next_report(
        &self,
        received: &mut mpsc::UnboundedReceiver<(String, Value)>,
    ) -> (String, Value) {
        match tokio::time::timeout(PAGE_TIMEOUT, received.recv()).await {
            Ok(Some(report)) => report,
            _ => {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "the page posted nothing within {PAGE_TIMEOUT:?}; the browser's log ends:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        // TERM first: Chromium then ends its renderers and reaps them itself.
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Then whatever is left of its process group (the group's id is the browser's pid).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}
