//! The inbound-webhooks phases (`herald-bench inbound`): how fast Herald takes in a provider's
//! webhooks at `POST /in/{token}` beside how fast it accepts jobs at `POST /v1/jobs`, in the
//! same run, on each backend.
//!
//! Each phase gets a fresh Herald, one process with every role, started with `--config` a
//! file declaring the job type `bench.inbound` as `handler = "external"`: its jobs wait for
//! external workers and nobody claims them, so a phase measures acceptance alone. Before the
//! load, the tool creates one source over HTTP: scheme `github` with a known secret, the
//! scheme's dedupe rule (the `x-github-delivery` header), answering `202`.
//!
//! 1. **Accept**: the closed loop of `herald-bench accept` (64 connections, one load thread,
//!    2 s warm-up, 10 s window) of `POST /v1/jobs` `{"type":"bench.inbound"}`.
//! 2. **Ingest**: the same closed loop of `POST /in/{token}` with a GitHub `push` event of
//!    about 2 KiB, its `x-hub-signature-256` (computed once: the body does not change) and
//!    GitHub's other headers, and a new `x-github-delivery` in every request, so each is a new
//!    event: verified, its dedupe key written with the job, recorded in the source's log.
//! 3. **Ingest latency**: the same requests open loop at a fixed rate (1,000/s), each one's
//!    time from when it was due to its `202`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hmac::{Hmac, Mac};
use hyper::StatusCode;
use hyper::header::{HeaderName, HeaderValue};
use serde::Serialize;
use sha2::Sha256;

use crate::accept::{self, AcceptReport, AcceptSpec, HeaderMaker, truncate};
use crate::http::{Conn, Pool, Target};
use crate::machine::{self, Machine};
use crate::open_loop::{self, OpenLoopReport, OpenLoopSpec};
use crate::procs::{self, Proc};
use crate::run_all::{Backend, Measured, Plan, RunFacts, RunStart, Runner, open_run};

/// The job type every phase submits or ingests into.
pub const JOB_TYPE: &str = "bench.inbound";

/// The body of the accept phase.
pub const ACCEPT_JOB: &str = r#"{"type":"bench.inbound"}"#;

/// The source's GitHub secret (any string of 16 characters or more).
const SECRET: &str = "herald-bench-inbound-github-secret";

/// The configuration file every Herald of these phases reads.
const CONFIG: &str = "# Written by herald-bench inbound: a job type that Herald's own workers never run.\n\
                      [job_types.\"bench.inbound\"]\nhandler = \"external\"\n";

/// Connections of the open-loop phase's pool, at most.
const OPEN_LOOP_CONNECTIONS: usize = 256;

/// One backend's phases.
#[derive(Debug, Clone, Serialize)]
pub struct InboundBackendFigures {
    pub backend: Backend,
    pub topology: String,
    /// `POST /v1/jobs`, closed loop.
    pub accept: Measured<AcceptReport>,
    /// `POST /v1/jobs` whose payload is what an ingest captures (the event's headers and
    /// body), closed loop: a submission as large as an ingest's job.
    pub accept_captured: Measured<AcceptReport>,
    /// `POST /in/{token}`, closed loop.
    pub ingest: Measured<AcceptReport>,
    /// `POST /in/{token}`, open loop at the plan's rate.
    pub latency: Measured<OpenLoopReport>,
}

impl InboundBackendFigures {
    /// Ingested requests/s ÷ accepted jobs/s.
    pub fn ratio(&self) -> f64 {
        ratio(
            self.ingest.figures.per_second(),
            self.accept.figures.per_second(),
        )
    }

    /// Ingested requests/s ÷ accepted jobs/s of submissions carrying the same capture.
    pub fn ratio_to_captured(&self) -> f64 {
        ratio(
            self.ingest.figures.per_second(),
            self.accept_captured.figures.per_second(),
        )
    }
}

/// What one closed loop sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// `POST /v1/jobs` [`ACCEPT_JOB`].
    Accept,
    /// `POST /v1/jobs` with the capture of the GitHub event as its payload.
    AcceptCaptured,
    /// `POST /in/{token}` with the GitHub event.
    Ingest,
}

/// The inbound run.
#[derive(Debug, Clone, Serialize)]
pub struct InboundFigures {
    #[serde(flatten)]
    pub run: RunFacts,
    pub connections: usize,
    pub threads: usize,
    pub warmup_seconds: f64,
    pub duration_seconds: f64,
    pub rate: f64,
    /// Bytes of the GitHub event's body, and the headers each ingest request carries.
    pub body_bytes: usize,
    pub headers: Vec<String>,
    pub backends: Vec<InboundBackendFigures>,
    pub load_at_end: String,
}

/// Runs the inbound phases on a private Redis of their own.
///
/// # Errors
/// When a process cannot be started or a phase cannot run at all.
pub async fn run(plan: &Plan) -> anyhow::Result<InboundFigures> {
    let started = RunStart::now();
    let (machine, redis) = open_run(plan, "inbound").await?;
    let config = plan.log_dir.join("inbound.toml");
    let outcome = match std::fs::write(&config, CONFIG) {
        Ok(()) => {
            let mut runner = Runner {
                plan,
                redis: &redis,
                phase: 0,
            };
            run_phases(&mut runner, &config).await
        }
        Err(error) => Err(error).with_context(|| format!("failed to write {}", config.display())),
    };
    redis.proc.stop().await?;
    Ok(figures(plan, started, machine, outcome?))
}

fn figures(
    plan: &Plan,
    started: RunStart,
    machine: Machine,
    backends: Vec<InboundBackendFigures>,
) -> InboundFigures {
    let github = GithubEvent::new(0);
    InboundFigures {
        run: started.facts(machine, &plan.herald_bin),
        connections: plan.connections,
        threads: plan.threads,
        warmup_seconds: plan.warmup.as_secs_f64(),
        duration_seconds: plan.duration.as_secs_f64(),
        rate: plan.rate,
        body_bytes: github.body.len(),
        headers: github.header_names(),
        backends,
        load_at_end: machine::load_average(),
    }
}

async fn run_phases(
    runner: &mut Runner<'_>,
    config: &Path,
) -> anyhow::Result<Vec<InboundBackendFigures>> {
    let plan = runner.plan;
    let mut backends = Vec::new();
    for &backend in &plan.backends {
        let name = match backend {
            Backend::Embedded => "embedded",
            Backend::Redis => "redis",
        };
        let topology = "one process, all roles".to_owned();

        eprintln!(
            "\n== {name}: accept, POST /v1/jobs {ACCEPT_JOB} ({} connections, {topology})",
            plan.connections
        );
        let accept = closed_loop(runner, config, backend, Load::Accept).await?;
        eprintln!("   {}", crate::run_all::describe_accept(&accept.figures));

        eprintln!(
            "\n== {name}: accept, POST /v1/jobs with a GitHub push event's capture as payload ({} connections)",
            plan.connections
        );
        let accept_captured = closed_loop(runner, config, backend, Load::AcceptCaptured).await?;
        eprintln!(
            "   {}",
            crate::run_all::describe_accept(&accept_captured.figures)
        );

        eprintln!(
            "\n== {name}: ingest, POST /in/{{token}}, a signed GitHub push event each ({} connections)",
            plan.connections
        );
        let ingest = closed_loop(runner, config, backend, Load::Ingest).await?;
        eprintln!(
            "   {}; ingest ÷ accept {:.2}",
            crate::run_all::describe_accept(&ingest.figures).replacen("jobs/s", "requests/s", 1),
            ratio(ingest.figures.per_second(), accept.figures.per_second())
        );

        eprintln!(
            "\n== {name}: ingest latency, open loop at {} requests/s",
            plan.rate
        );
        let latency = ingest_latency(runner, config, backend).await?;
        eprintln!("   {}", describe_open_loop(&latency.figures));

        backends.push(InboundBackendFigures {
            backend,
            topology,
            accept,
            accept_captured,
            ingest,
            latency,
        });
    }
    Ok(backends)
}

fn ratio(value: f64, base: f64) -> f64 {
    if base > 0.0 { value / base } else { 0.0 }
}

/// A fresh Herald for one phase, its source created.
struct Deployed {
    proc: Proc,
    target: Arc<Target>,
    uses_redis: bool,
    /// `/in/<token>`.
    ingest_path: String,
    /// The phase's event, its delivery ids distinct from every other phase's.
    github: GithubEvent,
}

async fn deploy(
    runner: &mut Runner<'_>,
    config: &Path,
    backend: Backend,
) -> anyhow::Result<Deployed> {
    let (proc, target) = start(runner, config, backend).await?;
    match create_source(&target).await {
        Ok(ingest_path) => Ok(Deployed {
            proc,
            target,
            uses_redis: backend == Backend::Redis,
            ingest_path,
            github: GithubEvent::new(u32::try_from(runner.phase).unwrap_or(u32::MAX)),
        }),
        Err(error) => {
            proc.stop().await?;
            Err(error)
        }
    }
}

/// The closed loop of `load`, on a fresh Herald.
async fn closed_loop(
    runner: &mut Runner<'_>,
    config: &Path,
    backend: Backend,
    load: Load,
) -> anyhow::Result<Measured<AcceptReport>> {
    let d = deploy(runner, config, backend).await?;
    let (path, body, headers) = match load {
        Load::Ingest => (
            d.ingest_path,
            d.github.body.clone(),
            Some(d.github.header_maker()),
        ),
        Load::Accept => (
            "/v1/jobs".to_owned(),
            Bytes::from_static(ACCEPT_JOB.as_bytes()),
            None,
        ),
        Load::AcceptCaptured => ("/v1/jobs".to_owned(), d.github.captured_job(), None),
    };
    let plan = runner.plan;
    let spec = AcceptSpec {
        target: d.target,
        path,
        body,
        headers,
        connections: plan.connections,
        threads: plan.threads,
        warmup: plan.warmup,
        duration: plan.duration,
    };
    runner
        .measure_procs(vec![d.proc], d.uses_redis, async move {
            accept::run(&spec).await
        })
        .await
}

/// `POST /in/{token}` open loop at the plan's rate, on a fresh Herald.
async fn ingest_latency(
    runner: &mut Runner<'_>,
    config: &Path,
    backend: Backend,
) -> anyhow::Result<Measured<OpenLoopReport>> {
    let d = deploy(runner, config, backend).await?;
    let plan = runner.plan;
    let spec = OpenLoopSpec {
        path: d.ingest_path,
        body: d.github.body.clone(),
        headers: Some(d.github.header_maker()),
        expect: StatusCode::ACCEPTED,
        rate: plan.rate,
        warmup: plan.warmup,
        duration: plan.duration,
        request_timeout: Duration::from_secs(10),
    };
    let pool = Arc::new(Pool::new(d.target, OPEN_LOOP_CONNECTIONS));
    runner
        .measure_procs(vec![d.proc], d.uses_redis, async move {
            open_loop::run(pool, &spec).await
        })
        .await
}

/// Starts Herald for one phase: one process, every role, reading `config`; on Redis under a
/// key prefix of the phase's own.
async fn start(
    runner: &mut Runner<'_>,
    config: &Path,
    backend: Backend,
) -> anyhow::Result<(Proc, Arc<Target>)> {
    runner.phase += 1;
    let (plan, phase) = (runner.plan, runner.phase);
    let addr = procs::free_addr()?;
    let target = Arc::new(Target::new(addr, None)?);
    let mut args = vec![
        "serve".to_owned(),
        "--bind".to_owned(),
        addr.to_string(),
        "--config".to_owned(),
        config.display().to_string(),
    ];
    let name = match backend {
        Backend::Embedded => format!("{phase:02}-herald-embedded"),
        Backend::Redis => {
            args.extend([
                "--redis-url".to_owned(),
                runner.redis.url.clone(),
                "--redis-prefix".to_owned(),
                format!("herald-bench-{}-inbound-{phase}", std::process::id()),
            ]);
            format!("{phase:02}-herald")
        }
    };
    let mut envs = vec![("NO_COLOR".to_owned(), "1".to_owned())];
    if let Some(filter) = &plan.herald_log {
        envs.push(("RUST_LOG".to_owned(), filter.clone()));
    }
    let mut proc = Proc::spawn(&name, &plan.herald_bin, args, &envs, &plan.log_dir)?;
    proc.wait_http_ready(&target, "/readyz").await?;
    Ok((proc, target))
}

/// Creates the phase's GitHub source and returns its ingest path (`/in/<token>`).
async fn create_source(target: &Target) -> anyhow::Result<String> {
    let body = serde_json::json!({
        "name": "herald-bench github",
        "job_type": JOB_TYPE,
        "verify": {"scheme": "github", "secret": SECRET},
        "dedupe": null,
        "response": {"status": 202},
    });
    let body = Bytes::from(serde_json::to_vec(&body).context("failed to encode a source")?);
    let mut conn = Conn::open(target).await?;
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        conn.send(target.post_json("/v1/sources", body)?),
    )
    .await
    .context("no answer to POST /v1/sources within 10 s")??;
    if reply.status != StatusCode::CREATED {
        bail!(
            "POST /v1/sources: {}: {}",
            reply.status,
            truncate(&String::from_utf8_lossy(&reply.body))
        );
    }
    let created: CreatedSource =
        serde_json::from_slice(&reply.body).context("the 201 did not carry a source")?;
    let dedupe = created.dedupe.as_ref().and_then(|d| d.get("header"));
    if dedupe.and_then(|h| h.as_str()) != Some("x-github-delivery") {
        bail!(
            "the source dedupes by {:?}, not the `x-github-delivery` header",
            created.dedupe
        );
    }
    if !created.ingest_url.starts_with("/in/") {
        bail!("unexpected ingest URL `{}`", created.ingest_url);
    }
    Ok(created.ingest_url)
}

/// The fields of a created source the tool reads.
#[derive(Debug, serde::Deserialize)]
struct CreatedSource {
    ingest_url: String,
    dedupe: Option<serde_json::Value>,
}

/// A GitHub `push` delivery: its body and signature, fixed, and the headers GitHub sends with
/// it, with a new delivery id in each request.
#[derive(Debug, Clone)]
pub struct GithubEvent {
    pub body: Bytes,
    /// Every header but the delivery id, set as is on each request.
    fixed: Vec<(HeaderName, HeaderValue)>,
    /// Sets the delivery ids of one phase apart from another's.
    tag: u32,
}

impl GithubEvent {
    /// The event with its fixed headers; `tag` goes into each delivery id.
    pub fn new(tag: u32) -> Self {
        let body = Bytes::from(push_event());
        let signature = format!("sha256={}", hex_hmac_sha256(SECRET.as_bytes(), &body));
        let fixed = [
            ("accept", "*/*".to_owned()),
            ("user-agent", "GitHub-Hookshot/8e03811".to_owned()),
            ("x-github-event", "push".to_owned()),
            ("x-github-hook-id", "292430182".to_owned()),
            (
                "x-github-hook-installation-target-id",
                "79929171".to_owned(),
            ),
            (
                "x-github-hook-installation-target-type",
                "repository".to_owned(),
            ),
            ("x-hub-signature-256", signature),
        ]
        .into_iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("")),
            )
        })
        .collect();
        Self { body, fixed, tag }
    }

    /// The names of the headers each request carries besides `host` and `content-length`.
    pub fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.fixed.iter().map(|(n, _)| n.to_string()).collect();
        names.extend(["content-type".to_owned(), "x-github-delivery".to_owned()]);
        names.sort();
        names
    }

    /// Request `number` of stream `stream`'s delivery id, shaped like GitHub's (a UUID).
    pub fn delivery_id(tag: u32, stream: usize, number: u64) -> String {
        format!(
            "{tag:08x}-{:04x}-4000-8000-{:012x}",
            stream & 0xffff,
            number & 0xffff_ffff_ffff
        )
    }

    /// A `POST /v1/jobs` body whose payload is what an ingest of this event captures: the
    /// shape and size of an ingested job's payload.
    pub fn captured_job(&self) -> Bytes {
        let mut headers: serde_json::Map<String, serde_json::Value> = self
            .fixed
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes())
                        .into_owned()
                        .into(),
                )
            })
            .collect();
        headers.insert("content-type".into(), "application/json".into());
        headers.insert(
            "x-github-delivery".into(),
            Self::delivery_id(self.tag, 0, 0).into(),
        );
        let job = serde_json::json!({
            "type": JOB_TYPE,
            "payload": {
                "source": "00000000-0000-7000-8000-000000000000",
                "received_at": "2026-01-01T00:00:00.000Z",
                "method": "POST",
                "headers": headers,
                "body": String::from_utf8_lossy(&self.body),
            },
        });
        Bytes::from(job.to_string())
    }

    /// The headers of every request: the fixed ones, and a new delivery id each.
    pub fn header_maker(&self) -> HeaderMaker {
        let (fixed, tag) = (self.fixed.clone(), self.tag);
        HeaderMaker::new(move |headers, stream, number| {
            for (name, value) in &fixed {
                headers.insert(name.clone(), value.clone());
            }
            if let Ok(id) = HeaderValue::from_str(&Self::delivery_id(tag, stream, number)) {
                headers.insert(HeaderName::from_static("x-github-delivery"), id);
            }
        })
    }
}

/// `HMAC-SHA256(key, body)` as lower-case hex, as GitHub signs.
fn hex_hmac_sha256(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A GitHub `push` event's body, about 2 KiB: one commit, as GitHub sends it (with its
/// repository, pusher and sender trimmed of URLs the example does not need).
fn push_event() -> String {
    let user = |login: &str, id: u64| {
        serde_json::json!({
            "login": login,
            "id": id,
            "url": format!("https://api.github.com/users/{login}"),
            "html_url": format!("https://github.com/{login}"),
            "type": "User",
        })
    };
    let commit = serde_json::json!({
        "id": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "distinct": true,
        "message": "Fix the retry of failed deliveries\n\nA delivery whose endpoint answered 503 was retried at once.",
        "timestamp": "2026-12-07T10:15:42+01:00",
        "url": "https://github.com/octo-org/herald-demo/commit/6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "author": {"name": "Mona Octocat", "email": "mona@github.com", "username": "octocat"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": [],
        "removed": [],
        "modified": ["crates/notifier/src/retry.rs"],
    });
    let body = serde_json::json!({
        "ref": "refs/heads/main",
        "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b",
        "after": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "repository": {
            "id": 79929171,
            "name": "herald-demo",
            "full_name": "octo-org/herald-demo",
            "private": false,
            "owner": user("octo-org", 6811672),
            "html_url": "https://github.com/octo-org/herald-demo",
            "description": "A demo of Herald's inbound webhooks",
            "fork": false,
            "url": "https://github.com/octo-org/herald-demo",
            "created_at": 1485963110,
            "updated_at": "2026-12-07T09:11:04Z",
            "pushed_at": 1765098942,
            "default_branch": "main",
        },
        "pusher": {"name": "octocat", "email": "mona@github.com"},
        "sender": user("octocat", 583231),
        "created": false,
        "deleted": false,
        "forced": false,
        "base_ref": null,
        "compare": "https://github.com/octo-org/herald-demo/compare/9049f1265b7d...6dcb09b5b578",
        "commits": [commit.clone()],
        "head_commit": commit,
    });
    body.to_string()
}

/// One line about an open loop, for progress output.
pub fn describe_open_loop(r: &OpenLoopReport) -> String {
    format!(
        "due → 202 p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.1} ms over {} requests (sent → 202 p99 {:.2} ms); non-202 {}, errors {}; max lag {:.1} ms{}",
        r.latency.p50_ms,
        r.latency.p90_ms,
        r.latency.p99_ms,
        r.latency.max_ms,
        r.succeeded,
        r.sent_latency.p99_ms,
        r.other_statuses.values().sum::<u64>(),
        r.errors,
        r.max_schedule_lag_ms,
        r.first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_push_event_is_about_two_kib_of_json() {
        let body = push_event();
        assert!((1900..=2200).contains(&body.len()), "{} bytes", body.len());
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["ref"], "refs/heads/main");
    }

    #[test]
    fn the_signature_is_githubs() {
        // GitHub's documented example: secret "It's a Secret to Everybody", body
        // "Hello, World!".
        assert_eq!(
            hex_hmac_sha256(b"It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn every_request_gets_a_new_delivery_id() {
        let github = GithubEvent::new(3);
        let maker = github.header_maker();
        let mut seen = std::collections::HashSet::new();
        for stream in 0..4 {
            for number in 0..100 {
                let mut headers = hyper::HeaderMap::new();
                maker.apply(&mut headers, stream, number);
                assert!(
                    headers["x-hub-signature-256"]
                        .to_str()
                        .unwrap()
                        .starts_with("sha256=")
                );
                assert_eq!(headers["x-github-event"], "push");
                let id = headers["x-github-delivery"].to_str().unwrap().to_owned();
                assert_eq!(id.len(), 36, "{id}");
                assert!(seen.insert(id));
            }
        }
        assert_ne!(
            GithubEvent::delivery_id(3, 0, 0),
            GithubEvent::delivery_id(4, 0, 0)
        );
    }
}
