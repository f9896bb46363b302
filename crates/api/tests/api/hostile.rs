//! Hostile requests to every route of the running server: arbitrary path ids, query strings,
//! headers (`Last-Event-ID`, `If-None-Match`, `Idempotency-Key`, `Content-Type`, …) and bodies
//! (random bytes, JSON nested 10,000 deep, huge numbers, wrong types). Whatever arrives, the
//! answer is never a 5xx, and every 4xx is an RFC 9457 problem with `type`, `title`, `status`
//! and `detail`.
//!
//! The requests come from proptest strategies drawn from the seed every property test uses
//! (fixed on CI, printed with the command to draw the same requests again), so a failure names
//! a request that fails again with its seed; the counts are bounded so the file runs in seconds.

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt as _;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Every route the API serves, with its methods; `{id}` is replaced by a generated segment.
const ROUTES: [(&str, &str); 30] = [
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/v1/openapi.json"),
    ("GET", "/v1/jobs"),
    ("POST", "/v1/jobs"),
    ("GET", "/v1/jobs/{id}"),
    ("POST", "/v1/jobs/{id}/cancel"),
    ("GET", "/v1/jobs/{id}/result"),
    ("GET", "/v1/jobs/{id}/events"),
    ("GET", "/v1/events/stream"),
    ("GET", "/v1/events"),
    ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"),
    ("GET", "/v1/webhooks/{id}"),
    ("PATCH", "/v1/webhooks/{id}"),
    ("DELETE", "/v1/webhooks/{id}"),
    ("POST", "/v1/webhooks/{id}/rotate-secret"),
    ("GET", "/v1/webhooks/{id}/deliveries"),
    ("POST", "/v1/webhooks/{id}/replay"),
    ("GET", "/v1/deliveries/{id}"),
    ("POST", "/v1/deliveries/{id}/retry"),
    ("POST", "/v1/workers/claim"),
    ("POST", "/v1/workers/jobs/{id}/heartbeat"),
    ("POST", "/v1/workers/jobs/{id}/complete"),
    ("POST", "/v1/workers/jobs/{id}/fail"),
    ("POST", "/v1/workers/jobs/{id}/release"),
    ("GET", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys"),
    ("DELETE", "/v1/admin/keys/{id}"),
];

/// How many requests are in flight at once: enough to overlap the odd one-second long poll.
const IN_FLIGHT: usize = 8;

/// One generated request.
#[derive(Clone)]
struct Hostile {
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

impl fmt::Debug for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = |bytes: &[u8]| {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            format!("{shown:?} ({} bytes)", bytes.len())
        };
        write!(f, "{} {}", self.method, cut(self.path.as_bytes()))?;
        for (name, value) in &self.headers {
            write!(f, "\n  {name}: {}", cut(value))?;
        }
        if let Some(body) = &self.body {
            write!(f, "\n  body: {}", cut(body))?;
        }
        Ok(())
    }
}

/// Ids that exist in the app, so hostile input also reaches past the lookups.
struct Fixtures {
    pending: String,
    done: String,
    subscription: String,
}

async fn fixtures(app: &TestApp) -> Fixtures {
    let pending = app.submit("demo.report").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = app.submit("demo.sleep").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.run_to_completion("demo.sleep").await;
    let subscription = app.subscribe("https://client.example/hooks").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixtures {
        pending,
        done,
        subscription,
    }
}

/// Percent-encodes everything but the unreserved characters.
fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn uuid_text() -> impl Strategy<Value = String> {
    any::<u128>().prop_map(herald_testkit::props::hyphenated_uuid)
}

/// A path segment where an id goes.
fn segment(known: &Fixtures) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        3 => prop::sample::select(vec![
            known.pending.clone(),
            known.done.clone(),
            known.subscription.clone(),
        ]),
        2 => uuid_text(),
        2 => any::<String>().prop_map(|s| encode(&s)),
        1 => "[%0-9a-fA-FzZ.\\-{}]{0,40}",
        1 => prop::sample::select(vec![
            "..".to_owned(),
            "%00".to_owned(),
            "%2F".to_owned(),
            "%ZZ".to_owned(),
            "%".to_owned(),
            "a".repeat(5000),
            "00000000-0000-0000-0000-000000000000".to_owned(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff".to_owned(),
        ]),
    ]
}

/// Any text but a long wait: `wait` from 2 to 60 seconds would make the run slow, not wrong.
fn short_wait(raw: &str) -> bool {
    !matches!(raw.trim().parse::<u64>(), Ok(2..=60))
}

/// A query-string value, biased towards what the parameters parse.
fn query_value(known: &Fixtures) -> impl Strategy<Value = String> + use<> {
    prop_oneof![
        Just("0".to_owned()),
        Just("1".to_owned()),
        Just("-1".to_owned()),
        Just("1.5".to_owned()),
        Just("1e3".to_owned()),
        Just("99999999999999999999999999".to_owned()),
        Just("job.completed,job.failed".to_owned()),
        Just("job.nothing,,".to_owned()),
        Just("pending".to_owned()),
        Just("demo.report".to_owned()),
        "[0-9]{1,25}(-[0-9]{0,25})?",
        uuid_text(),
        prop::sample::select(vec![known.pending.clone(), known.done.clone()]),
        any::<String>(),
    ]
    .prop_filter("a short wait", |v| short_wait(v))
}

/// A query string: mostly well-formed pairs with hostile values, sometimes not even that.
fn query(known: &Fixtures) -> impl Strategy<Value = String> + use<> {
    let name = prop::sample::select(vec![
        "wait",
        "limit",
        "cursor",
        "after",
        "types",
        "type",
        "job",
        "status",
        "token",
        "last_event_id",
        "since",
        "until",
        "x",
    ]);
    let pairs = prop::collection::vec((name, query_value(known)), 0..5).prop_map(|pairs| {
        pairs
            .iter()
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    });
    prop_oneof![
        6 => pairs,
        1 => "[a-z=&%0-9+;]{0,40}".prop_filter("a short wait", |q| !q.contains("wait")),
        1 => Just("wait=1&wait=2&limit=%FF%FE".to_owned()),
    ]
}

/// A header value as bytes that can travel (no control characters), with the values each
/// header parses.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::sample::select(vec![
            "\"1\"",
            "W/\"1\"",
            "\"1\", \"2\"",
            "*",
            "\"",
            "1",
            "0",
            "-1",
            "99999999999999999999999999",
            "1700000000000-3",
            "0-0",
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=latin1",
            "text/plain",
            "application/problem+json",
            "multipart/form-data; boundary=x",
            "text/event-stream",
            "Bearer x",
            "https://evil.example",
            "",
        ])
        .prop_map(|v| v.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..300),
        "[ -~]{0,300}".prop_map(String::into_bytes),
    ]
    .prop_filter("a header value", |v| HeaderValue::from_bytes(v).is_ok())
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "Last-Event-ID",
        "If-None-Match",
        "Idempotency-Key",
        "Content-Type",
        "Accept",
        "Authorization",
        "Origin",
    ]);
    prop::collection::vec((name, header_value()), 0..4)
}

/// A JSON value a few levels deep, numbers and strings included.
fn json_value() -> impl Strategy<Value = Value> {
    herald_testkit::props::json_value(any::<String>(), "[a-z_]{0,10}", 3, 24, 5)
}

/// The fields the API's bodies take, for objects of the right keys with the wrong values.
const FIELDS: [&str; 20] = [
    "type",
    "payload",
    "timeout_s",
    "max_attempts",
    "metadata",
    "webhook",
    "url",
    "secret",
    "events",
    "job_types",
    "enabled",
    "since",
    "until",
    "types",
    "wait_s",
    "worker_id",
    "token",
    "percent",
    "message",
    "error",
];

/// A request body: random bytes, or JSON of the right keys with wrong values, or anything.
fn body() -> impl Strategy<Value = Option<Vec<u8>>> {
    let shaped =
        prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), json_value(), 0..5)
            .prop_map(|m| serde_json::to_vec(&m).unwrap());
    prop_oneof![
        2 => Just(None),
        2 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Some),
        3 => shaped.prop_map(Some),
        2 => json_value().prop_map(|v| Some(serde_json::to_vec(&v).unwrap())),
        1 => prop::sample::select(nasty_bodies()),
    ]
}

/// Bodies that break naive parsers.
fn nasty_bodies() -> Vec<Option<Vec<u8>>> {
    let deep_arrays = "[".repeat(10_000);
    let deep_objects = "{\"a\":".repeat(10_000);
    let closed = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    [
        deep_arrays.as_str(),
        deep_objects.as_str(),
        closed.as_str(),
        "{\"type\": \"demo.report\", \"timeout_s\": 1e999999}",
        "{\"type\": \"demo.report\", \"max_attempts\": 123456789012345678901234567890}",
        "{\"type\": \"demo.report\", \"timeout_s\": -1, \"max_attempts\": 1.5}",
        "{\"type\": \"demo.report\", \"payload\": {\"rows\": 1e308}}",
        "{\"url\": 12, \"events\": \"job.completed\", \"secret\": []}",
        "{\"since\": \"yesterday\", \"until\": 99999999999999999999}",
        "{\"types\": \"demo.report\", \"wait_s\": -5}",
        "{\"type\": \"demo.report\"",
        "{\"type\": \"\\ud800\"}",
        "\u{feff}{\"type\": \"demo.report\"}",
        "null",
        "[]",
        "\"demo.report\"",
        "",
    ]
    .map(|b| Some(b.as_bytes().to_vec()))
    .into_iter()
    .chain([Some(vec![0xff, 0xfe, 0x00, 0x7b])])
    .collect()
}

fn request(known: &Fixtures) -> impl Strategy<Value = Hostile> + use<> {
    let method = prop_oneof![
        8 => Just(None),
        1 => prop::sample::select(vec![
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
            Method::OPTIONS,
        ])
        .prop_map(Some),
    ];
    (
        prop::sample::select(ROUTES.to_vec()),
        method,
        segment(known),
        query(known),
        headers(),
        body(),
    )
        .prop_map(
            |((route_method, template), method, id, query, headers, body)| {
                let method = method.unwrap_or_else(|| route_method.parse().unwrap());
                let mut path = template.replace("{id}", &id);
                if !query.is_empty() {
                    path = format!("{path}?{query}");
                }
                Hostile {
                    method,
                    path,
                    headers,
                    body,
                }
            },
        )
}

/// Draws `count` values of `strategy` from a runner seeded as every property test is (the seed
/// is printed, to draw the same requests again).
fn draw<T>(strategy: impl Strategy<Value = T>, count: usize) -> Vec<T> {
    let cases = u32::try_from(count).expect("a count of cases");
    let mut runner = TestRunner::new(herald_testkit::props::config(cases));
    (0..count)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

/// Sends `request`, with `Content-Type: application/json` for a body unless it sets its own.
async fn send(app: &TestApp, request: &Hostile) -> Response {
    let mut headers = HeaderMap::new();
    if request.body.is_some() && !request.headers.iter().any(|(n, _)| *n == "Content-Type") {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    for (name, value) in &request.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let mut builder = app
        .client
        .request(request.method.clone(), app.url(&request.path))
        .headers(headers)
        .timeout(Duration::from_secs(20));
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("no answer to {request:?}: {e}"))
}

/// The rule of this file: no 5xx; every 4xx an RFC 9457 problem.
async fn check(request: &Hostile, response: Response) {
    let status = response.status();
    assert!(
        !status.is_server_error(),
        "{status} for {request:?}: {}",
        response.text().await.unwrap_or_default()
    );
    if !status.is_client_error() {
        return;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    let is_head = request.method == Method::HEAD;
    let text = response.text().await.unwrap_or_default();
    assert_eq!(
        content_type.as_deref(),
        Some("application/problem+json"),
        "{status} for {request:?} is not a problem: {text}"
    );
    if is_head {
        return;
    }
    let problem: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{status} for {request:?}: not JSON ({e}): {text}"));
    for field in ["type", "title", "detail"] {
        assert!(
            problem[field].is_string(),
            "{status} for {request:?}: no `{field}` in {problem}"
        );
    }
    assert_eq!(
        problem["status"],
        json!(status.as_u16()),
        "for {request:?}: {problem}"
    );
}

/// Sends every request, a few at a time, and checks every answer.
async fn run_all(app: &TestApp, requests: Vec<Hostile>) {
    futures_util::stream::iter(requests)
        .map(|request| async move {
            let response = send(app, &request).await;
            check(&request, response).await;
        })
        .buffer_unordered(IN_FLIGHT)
        .collect::<()>()
        .await;
}

#[tokio::test]
async fn arbitrary_requests_to_every_route_get_no_5xx_and_every_4xx_is_a_problem() {
    let app = spawn_app().await;
    let known = fixtures(&app).await;
    run_all(&app, draw(request(&known), 600)).await;
}

#[tokio::test]
async fn hostile_bodies_to_every_route_that_takes_one_get_problems() {
    let app = spawn_app().await;
    let known = fixtures(&app).await;
    let too_large = Some(vec![b' '; 2 * 1024 * 1024]);
    let mut requests = Vec::new();
    for (method, template) in ROUTES
        .iter()
        .filter(|(m, _)| matches!(*m, "POST" | "PATCH"))
    {
        for id in [&known.pending, &known.subscription] {
            for body in nasty_bodies().into_iter().chain([too_large.clone()]) {
                requests.push(Hostile {
                    method: method.parse().unwrap(),
                    path: template.replace("{id}", id),
                    headers: Vec::new(),
                    body,
                });
            }
        }
    }
    run_all(&app, requests).await;
}

#[tokio::test]
async fn hostile_headers_on_polls_streams_and_submissions_get_no_5xx() {
    let app = spawn_app().await;
    let known = fixtures(&app).await;
    let targets = [
        (Method::GET, format!("/v1/jobs/{}", known.pending)),
        (Method::GET, format!("/v1/jobs/{}?wait=1", known.done)),
        (Method::GET, format!("/v1/jobs/{}/events", known.pending)),
        (Method::GET, format!("/v1/jobs/{}/events", known.done)),
        (Method::GET, "/v1/events/stream".to_owned()),
        (Method::GET, format!("/v1/events/stream?job={}", known.done)),
        (Method::GET, "/v1/events?wait=0".to_owned()),
        (Method::POST, "/v1/jobs".to_owned()),
    ];
    let cases = draw(headers(), 40);
    let mut requests = Vec::new();
    for (method, path) in &targets {
        for headers in &cases {
            requests.push(Hostile {
                method: method.clone(),
                path: path.clone(),
                headers: headers.clone(),
                body: (*method == Method::POST).then(|| br#"{"type": "demo.sleep"}"#.to_vec()),
            });
        }
    }
    run_all(&app, requests).await;
}

#[tokio::test]
async fn a_valid_submission_with_a_hostile_idempotency_key_is_accepted_or_a_problem() {
    let app = spawn_app().await;
    for key in draw(header_value(), 64) {
        let request = Hostile {
            method: Method::POST,
            path: "/v1/jobs".to_owned(),
            headers: vec![("Idempotency-Key", key)],
            body: Some(br#"{"type": "demo.sleep"}"#.to_vec()),
        };
        let response = send(&app, &request).await;
        assert!(
            matches!(
                response.status(),
                StatusCode::ACCEPTED | StatusCode::OK | StatusCode::BAD_REQUEST
            ),
            "{} for {request:?}",
            response.status()
        );
        check(&request, response).await;
    }
}
