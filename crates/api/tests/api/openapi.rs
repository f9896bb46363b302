//! `GET /v1/openapi.json`: the document is served, covers exactly the routes the app serves
//! (with their methods), documents every error as a problem, and live answers match it.
//!
//! How drift is caught: registering a route puts its `#[utoipa::path]` operation in the
//! document by the same call (`routes::resource`), at the path and method it is served at.
//! Here the live app is asked which methods each documented path answers (a method without a
//! route answers `405` naming the others in `Allow`, a path without a resource our route-miss
//! `404`), and that must equal the document's (method, path) pairs.

use std::collections::{BTreeMap, BTreeSet};

use herald_core::TypePolicy;
use reqwest::header::{ALLOW, CONTENT_TYPE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, id_of, spawn_app};

/// The methods a route could be registered with.
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// A well-formed UUIDv7 that names nothing, for the `{id}` of every path.
const SOME_ID: &str = "01900000-0000-7000-8000-000000000000";

const PROBLEM_REF: &str = "#/components/schemas/Problem";

async fn document(app: &TestApp) -> Value {
    let response = app.request(Method::GET, "/v1/openapi.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    response.json().await.expect("the document is JSON")
}

/// The document's operations as (METHOD, path) pairs.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Whether an answer is our route-miss `404` (no resource matches the path), rather than a
/// handler's `404` about a missing job, webhook or delivery.
async fn is_route_miss(response: Response) -> bool {
    if response.status() != StatusCode::NOT_FOUND {
        return false;
    }
    let body: Value = response.json().await.unwrap_or_default();
    body["detail"]
        .as_str()
        .is_some_and(|detail| detail.starts_with("no route matches"))
}

#[tokio::test]
async fn the_document_is_served_as_openapi_3_1_json() {
    let app = spawn_app().await;

    let doc = document(&app).await;

    let version = doc["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(doc["info"]["title"], "Herald");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["description"].is_string());
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    // Every `/v1` operation but this document needs the key and documents its `401`; the
    // operations endpoints stay open, and so does the ingest endpoint (its token is the
    // credential: its `401` is a signature that does not verify).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let open = !path.starts_with("/v1/") || path == "/v1/openapi.json";
            let security = operation.get("security");
            let unauthorized = operation["responses"].get("401");
            if open {
                assert!(
                    security.is_none() && (unauthorized.is_none() || path.starts_with("/in/")),
                    "{method} {path}"
                );
            } else {
                assert_eq!(security, Some(&json!([{"bearer": []}])), "{method} {path}");
                assert!(unauthorized.is_some(), "{method} {path}");
            }
        }
    }
    // Operation ids are unique, as OpenAPI requires (generators of typed clients refuse a
    // document that repeats one).
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "{method} {path} repeats `{id}`");
        }
    }
}

#[tokio::test]
async fn every_route_served_is_documented_and_every_documented_route_is_served() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented = documented(&doc);

    // Ask the live app which methods each path answers.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    let mut served = BTreeSet::new();
    for path in paths {
        let concrete = path.replace("{id}", SOME_ID);
        let mut allowed = None;
        for method in METHODS {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let response = app.request(method.clone(), &concrete).await;
            if response.status() == StatusCode::METHOD_NOT_ALLOWED {
                allowed = Some(response.headers()[ALLOW].to_str().unwrap().to_owned());
                continue;
            }
            assert!(
                !is_route_miss(response).await,
                "{method} {path}: no route, yet documented"
            );
            served.insert((method.to_string(), path.clone()));
        }
        // The `405`'s `Allow` names the same methods.
        let allowed: BTreeSet<(String, String)> = allowed
            .expect("some method is not allowed")
            .split(',')
            .map(|method| (method.trim().to_owned(), path.clone()))
            .collect();
        let documented_here: BTreeSet<(String, String)> = documented
            .iter()
            .filter(|(_, p)| p == path)
            .cloned()
            .collect();
        assert_eq!(allowed, documented_here, "{path}: `Allow` differs");
    }
    let undocumented: Vec<_> = served.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "served, not documented: {undocumented:?}"
    );
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
}

#[tokio::test]
async fn problems_any_operation_can_answer_are_documented_on_every_operation() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let statuses = |path: &str, method: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} is documented"))
            .keys()
            .cloned()
            .collect()
    };
    // Every operation: the header bound and the opaque 500.
    for (path, method) in [("/healthz", "get"), ("/v1/jobs/{id}", "get")] {
        let documented = statuses(path, method);
        assert!(
            documented.contains("431") && documented.contains("500"),
            "{method} {path}: {documented:?}"
        );
    }
    // An operation with a JSON body: malformed, too large, not JSON — while its own wording
    // of one of them is kept.
    for (path, method) in [("/v1/workers/jobs/{id}/fail", "post"), ("/v1/jobs", "post")] {
        let documented = statuses(path, method);
        for status in ["400", "413", "415", "431", "500"] {
            assert!(
                documented.contains(status),
                "{method} {path}: {documented:?}"
            );
        }
    }
    let submit_400 = doc["paths"]["/v1/jobs"]["post"]["responses"]["400"]["description"]
        .as_str()
        .unwrap();
    assert!(submit_400.contains("Idempotency-Key"), "{submit_400}");
    assert!(!statuses("/v1/jobs/{id}", "get").contains("415"));
    // Every operation that reads the store: the backend unavailable, with `Retry-After`; an
    // operation's own 503 says so too. Not the operations endpoints, which answer without it.
    let get_job_503 = &doc["paths"]["/v1/jobs/{id}"]["get"]["responses"]["503"];
    assert!(
        get_job_503["description"]
            .as_str()
            .is_some_and(|d| d.contains("backend-unavailable")),
        "{get_job_503}"
    );
    assert!(
        get_job_503["headers"]["Retry-After"].is_object(),
        "{get_job_503}"
    );
    let submit_503 = doc["paths"]["/v1/jobs"]["post"]["responses"]["503"]["description"]
        .as_str()
        .unwrap();
    assert!(
        submit_503.contains("queue-full") && submit_503.contains("backend-unavailable"),
        "{submit_503}"
    );
    assert!(!statuses("/healthz", "get").contains("503"));
}

#[tokio::test]
async fn every_documented_error_is_a_problem_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;

    let problem = &doc["components"]["schemas"]["Problem"];
    let required: BTreeSet<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(
        required,
        BTreeSet::from(["type", "title", "status", "detail"])
    );
    assert_eq!(
        problem["properties"]["errors"]["items"]["$ref"],
        "#/components/schemas/FieldError"
    );
    let field_error = &doc["components"]["schemas"]["FieldError"];
    assert_eq!(field_error["required"], json!(["field", "message"]));

    let mut errors = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.is_empty(), "{method} {path}: no responses");
            for (status, response) in responses {
                let code: u16 = status.parse().expect("a numeric status");
                if code < 400 {
                    continue;
                }
                errors += 1;
                let content = response["content"].as_object().unwrap_or_else(|| {
                    panic!("{method} {path} {status}: no content");
                });
                let media: Vec<&String> = content.keys().collect();
                assert_eq!(
                    media,
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content["application/problem+json"]["schema"]["$ref"], PROBLEM_REF,
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(errors > 50, "only {errors} error answers documented");
}

#[tokio::test]
async fn live_answers_match_their_documented_schemas() {
    let app = TestApp::builder()
        .allow_private_targets()
        .external_type("video.transcode", TypePolicy::default())
        .spawn()
        .await;
    let doc = document(&app).await;
    let check = Checker { doc: &doc };

    // Jobs.
    let response = app
        .post_job(&json!({"type": "demo.sleep", "payload": {"seconds": 30},
                          "metadata": {"order": "42"},
                          "webhook": {"url": "http://127.0.0.1:9/hook"}}))
        .await;
    let job = check.answer("POST", "/v1/jobs", response).await;
    assert!(job["webhook"]["secret"].is_string(), "{job}");
    let id = id_of(&job).to_owned();
    let job = check
        .answer("GET", "/v1/jobs/{id}", app.get_job(&id).await)
        .await;
    assert!(job["webhook"].get("secret").is_none(), "{job}");
    check
        .answer("GET", "/v1/jobs", app.list_jobs("limit=5").await)
        .await;
    check
        .answer("GET", "/v1/jobs", app.list_jobs("status=nope").await)
        .await;
    check
        .answer("POST", "/v1/jobs", app.post_job(&json!({"typ": 1})).await)
        .await;
    check
        .answer("GET", "/v1/jobs/{id}/result", app.job_result(&id).await)
        .await;
    check
        .answer("POST", "/v1/jobs/{id}/cancel", app.cancel_job(&id).await)
        .await;
    check
        .answer("POST", "/v1/jobs/{id}/cancel", app.cancel_job(&id).await)
        .await;
    check
        .answer("GET", "/v1/jobs/{id}", app.get_job(SOME_ID).await)
        .await;

    // Events.
    check
        .answer("GET", "/v1/events", app.events_page("limit=10").await)
        .await;
    check
        .answer(
            "GET",
            "/v1/events/stream",
            app.events_request("/v1/events/stream", None).await,
        )
        .await;
    check
        .answer(
            "GET",
            "/v1/jobs/{id}/events",
            app.events_request(&format!("/v1/jobs/{id}/events"), Some("x"))
                .await,
        )
        .await;

    // Webhooks.
    let response = app
        .post_webhook(&json!({"url": "http://127.0.0.1:9/subscriber"}))
        .await;
    let sub = check.answer("POST", "/v1/webhooks", response).await;
    let sub_id = sub["id"].as_str().unwrap().to_owned();
    check
        .answer("GET", "/v1/webhooks", app.list_webhooks().await)
        .await;
    check
        .answer(
            "PATCH",
            "/v1/webhooks/{id}",
            app.patch_webhook(&sub_id, &json!({"enabled": false})).await,
        )
        .await;
    check
        .answer(
            "POST",
            "/v1/webhooks/{id}/rotate-secret",
            app.rotate_secret(&sub_id, None).await,
        )
        .await;
    // A replay while the subscription is disabled, and once it is enabled again.
    for enabled in [false, true] {
        if enabled {
            app.patch_webhook(&sub_id, &json!({"enabled": true})).await;
        }
        check
            .answer(
                "POST",
                "/v1/webhooks/{id}/replay",
                app.replay(&sub_id, &json!({"since": "2020-01-01T00:00:00Z"}))
                    .await,
            )
            .await;
    }
    let page = check
        .answer(
            "GET",
            "/v1/webhooks/{id}/deliveries",
            app.deliveries(&sub_id, "").await,
        )
        .await;
    let delivery = page["data"][0]["id"].as_str().expect("a replayed delivery");
    check
        .answer(
            "GET",
            "/v1/deliveries/{id}",
            app.get_delivery(delivery).await,
        )
        .await;
    check
        .answer(
            "DELETE",
            "/v1/webhooks/{id}",
            app.delete_webhook(&sub_id).await,
        )
        .await;
    check
        .answer("GET", "/v1/webhooks/{id}", app.get_webhook(&sub_id).await)
        .await;

    // Job retry, once the job above is canceled; and again, while it is pending.
    for _ in 0..2 {
        check
            .answer(
                "POST",
                "/v1/jobs/{id}/retry",
                app.request(Method::POST, &format!("/v1/jobs/{id}/retry"))
                    .await,
            )
            .await;
    }

    // Sources and their ingest endpoint.
    let body = json!({"name": "gh", "job_type": "demo.sleep", "verify": {"scheme": "github"}});
    let source = check
        .answer(
            "POST",
            "/v1/sources",
            app.send_json(Method::POST, "/v1/sources", &body).await,
        )
        .await;
    let source_id = source["id"].as_str().unwrap().to_owned();
    let secret = source["secret"].as_str().unwrap().to_owned();
    let ingest_url = source["ingest_url"].as_str().unwrap().to_owned();
    check
        .answer(
            "POST",
            "/v1/sources",
            app.send_json(Method::POST, "/v1/sources", &json!({"name": 1}))
                .await,
        )
        .await;
    check
        .answer(
            "GET",
            "/v1/sources",
            app.request(Method::GET, "/v1/sources").await,
        )
        .await;
    let one = format!("/v1/sources/{source_id}");
    check
        .answer(
            "GET",
            "/v1/sources/{id}",
            app.request(Method::GET, &one).await,
        )
        .await;
    check
        .answer(
            "PATCH",
            "/v1/sources/{id}",
            app.send_json(Method::PATCH, &one, &json!({"response": {"status": 200}}))
                .await,
        )
        .await;
    check
        .answer(
            "POST",
            "/v1/sources/{id}/rotate-secret",
            app.request(Method::POST, &format!("{one}/rotate-secret"))
                .await,
        )
        .await;
    let signed = |secret: &str| {
        use hmac::Mac as _;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(secret.as_bytes())
            .expect("any key length");
        mac.update(b"{}");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    };
    for signature in [signed(&secret), signed("wrong")] {
        let response = reqwest::Client::new()
            .post(app.url(&ingest_url))
            .header("x-hub-signature-256", signature)
            .body("{}")
            .send()
            .await
            .unwrap();
        check.answer("POST", "/in/{token}", response).await;
    }
    check
        .answer(
            "GET",
            "/v1/sources/{id}/requests",
            app.request(Method::GET, &format!("{one}/requests?limit=5"))
                .await,
        )
        .await;
    check
        .answer(
            "POST",
            "/v1/sources/{id}/replay",
            app.send_json(
                Method::POST,
                &format!("{one}/replay"),
                &json!({"since": "2020-01-01T00:00:00Z"}),
            )
            .await,
        )
        .await;
    check
        .answer(
            "DELETE",
            "/v1/sources/{id}",
            app.request(Method::DELETE, &one).await,
        )
        .await;

    // External workers.
    let response = app
        .post_job(&json!({"type": "video.transcode", "payload": {"source": "in.mp4"}}))
        .await;
    let job_id = id_of(&response.json::<Value>().await.unwrap()).to_owned();
    let claim = json!({"types": ["video.transcode"], "wait_s": 0});
    let claimed = check
        .answer("POST", "/v1/workers/claim", app.worker_claim(&claim).await)
        .await;
    let lease = claimed["lease"]["token"].as_str().unwrap().to_owned();
    let calls = [
        (
            "heartbeat",
            json!({"lease": lease, "progress": {"percent": 50}}),
        ),
        ("complete", json!({"lease": lease, "result": {"ok": true}})),
        ("fail", json!({"lease": lease, "message": "late"})),
    ];
    for (action, body) in calls {
        check
            .answer(
                "POST",
                &format!("/v1/workers/jobs/{{id}}/{action}"),
                app.worker_call(&job_id, action, &body).await,
            )
            .await;
    }
    check
        .answer("GET", "/v1/jobs/{id}/result", app.job_result(&job_id).await)
        .await;
    check
        .answer("POST", "/v1/workers/claim", app.worker_claim(&claim).await)
        .await;

    // Operations.
    for path in ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"] {
        check
            .answer("GET", path, app.request(Method::GET, path).await)
            .await;
    }
}

/// Checks live answers against the document: their status is documented for the operation,
/// their content type is one documented for that status, and a JSON body validates against
/// its schema (a small validator for the subset of JSON Schema the document uses).
struct Checker<'a> {
    doc: &'a Value,
}

impl Checker<'_> {
    /// Checks `response` to `method path` (a documented path template) and returns its JSON
    /// body (`null` when it has none or it is not JSON).
    async fn answer(&self, method: &str, path: &str, response: Response) -> Value {
        let status = response.status().as_u16().to_string();
        let operation = &self.doc["paths"][path][method.to_lowercase()];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let documented = &operation["responses"][&status];
        assert!(
            documented.is_object(),
            "{method} {path} answered {status}, which is not documented"
        );
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned());
        let Some(content) = documented.get("content").and_then(Value::as_object) else {
            let bytes = response.bytes().await.unwrap_or_default();
            assert!(
                bytes.is_empty(),
                "{method} {path} {status}: a body, documented without one"
            );
            return Value::Null;
        };
        let content_type = content_type.expect("a content type");
        let media = content
            .iter()
            .find(|(media, _)| *media == "*/*" || **media == content_type)
            .map(|(_, media)| media)
            .unwrap_or_else(|| {
                panic!("{method} {path} {status}: `{content_type}` is not documented")
            });
        // Event streams do not end: their body is not read.
        if !content_type.contains("json") {
            return Value::Null;
        }
        let bytes = response.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).expect("a JSON body");
        if let Some(schema) = media.get("schema") {
            let mut errors = Vec::new();
            self.validate(schema, &body, "$", &mut errors);
            assert!(
                errors.is_empty(),
                "{method} {path} {status}: the body does not match its schema:\n{}\n{body:#}",
                errors.join("\n")
            );
        }
        body
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> &'s Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/schemas/")
                    .expect("a local schema reference");
                let target = &self.doc["components"]["schemas"][name];
                assert!(target.is_object(), "`{reference}` is not in the document");
                self.resolve(target)
            }
            None => schema,
        }
    }

    fn validate(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for part in all {
                self.validate(part, value, at, errors);
            }
        }
        for keyword in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(keyword).and_then(Value::as_array) {
                let matching = options
                    .iter()
                    .filter(|option| {
                        let mut option_errors = Vec::new();
                        self.validate(option, value, at, &mut option_errors);
                        option_errors.is_empty()
                    })
                    .count();
                if matching == 0 || (keyword == "oneOf" && matching > 1) {
                    errors.push(format!("{at}: {matching} of the `{keyword}` options match"));
                }
            }
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
        if let Some(types) = schema.get("type") {
            let types: Vec<&str> = match types {
                Value::String(one) => vec![one.as_str()],
                Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let fits = |kind: &str| match kind {
                "null" => value.is_null(),
                "boolean" => value.is_boolean(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "string" => value.is_string(),
                "array" => value.is_array(),
                "object" => value.is_object(),
                _ => false,
            };
            if !types.iter().any(|kind| fits(kind)) {
                errors.push(format!("{at}: {value} is not of type {types:?}"));
                return;
            }
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                errors.push(format!("{at}: {n} is below {min}"));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                errors.push(format!("{at}: {n} is above {max}"));
            }
        }
        if let Some(text) = value.as_str() {
            let format = schema.get("format").and_then(Value::as_str);
            let fits = match format {
                Some("date-time") => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
                Some("uuid") => herald_core::JobId::parse(text).is_ok(),
                _ => true,
            };
            if !fits {
                errors.push(format!("{at}: `{text}` is not a {format:?}"));
            }
        }
        if let Some(object) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            for field in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(field) {
                    errors.push(format!("{at}: `{field}` is required"));
                }
            }
            for (field, field_value) in object {
                match properties.and_then(|p| p.get(field)) {
                    Some(field_schema) => {
                        self.validate(field_schema, field_value, &format!("{at}.{field}"), errors)
                    }
                    None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                        errors.push(format!("{at}: `{field}` is not allowed"))
                    }
                    None => {}
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.validate(items, item, &format!("{at}[{i}]"), errors);
            }
        }
    }
}

/// The checker itself: it must reject what does not match, or the test above proves nothing.
#[test]
fn the_schema_checker_rejects_bodies_that_do_not_match() {
    let doc = json!({"components": {"schemas": {
        "Job": {"type": "object", "required": ["id", "status"], "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"$ref": "#/components/schemas/Status"},
            "progress": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Progress"}]},
            "at": {"type": ["string", "null"], "format": "date-time"}}},
        "Status": {"type": "string", "enum": ["pending", "completed"]},
        "Progress": {"type": "object", "required": ["percent"],
                     "properties": {"percent": {"type": "integer", "maximum": 100}}}}}});
    let check = Checker { doc: &doc };
    let job = json!({"$ref": "#/components/schemas/Job"});
    let errors_of = |value: Value| {
        let mut errors = Vec::new();
        check.validate(&job, &value, "$", &mut errors);
        errors
    };
    assert_eq!(
        errors_of(json!({"id": SOME_ID, "status": "pending", "progress": null, "at": null})),
        Vec::<String>::new()
    );
    let mut bad: BTreeMap<&str, Value> = BTreeMap::new();
    bad.insert("missing field", json!({"id": SOME_ID}));
    bad.insert("not in the enum", json!({"id": SOME_ID, "status": "nope"}));
    bad.insert("wrong type", json!({"id": 7, "status": "pending"}));
    bad.insert("bad uuid", json!({"id": "x", "status": "pending"}));
    bad.insert(
        "bad time",
        json!({"id": SOME_ID, "status": "pending", "at": "noon"}),
    );
    bad.insert(
        "nested",
        json!({"id": SOME_ID, "status": "pending", "progress": {"percent": 101}}),
    );
    for (why, value) in bad {
        assert!(!errors_of(value).is_empty(), "{why} passed");
    }
}
