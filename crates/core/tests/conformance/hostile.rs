//! Hostile input against every parser of the core, through their public APIs: whatever a
//! client sends, a parser answers a value or an error, never a panic; what it accepts
//! round-trips through its string form; and what it accepts is exactly what its rule says.
//! The case counts are bounded so the whole suite stays fast on a small machine.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use herald_core::webhook::{JobHook, WebhookSecret, WebhookUrl};
use herald_core::{
    EventType, FeedCursor, FeedPosition, IdempotencyKey, JobId, JobLimits, JobRequest, JobType,
    NewJob, TenantId,
};
use herald_testkit::props::{self, config};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Any text, biased towards the characters parsers care about.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9._:\\-]{0,110}",
        "[0-9a-fA-F\\-{}]{0,40}",
        "[ -~]{0,300}",
        "[\\x00-\\x1f\\x7f whsec_=+/0-9A-Za-z]{0,80}",
    ]
}

/// Any JSON value, a few levels deep, with the numbers and strings that break naive code.
fn json_value() -> impl Strategy<Value = Value> {
    props::json_value(text(), text(), 4, 32, 6)
}

/// A value for a field: usually of the right shape, sometimes anything.
fn sometimes<S: Strategy<Value = Value> + 'static>(right: S) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        3 => right.prop_map(Some),
        1 => json_value().prop_map(Some),
        1 => Just(None),
    ]
    .boxed()
}

fn event_name() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(EventType::ALL.map(EventType::as_str).to_vec()).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

/// A `webhook` object as a client might send one: the right keys with odd values, or anything.
fn hook_shaped() -> impl Strategy<Value = Value> {
    let url = prop_oneof![
        "(https?|ftp|javascript|file)://[a-z0-9.\\-@:\\[\\]]{0,30}(/[ -~]{0,20})?(#[a-z]{0,4})?"
            .prop_map(Value::from),
        Just(Value::from("https://client.example/hooks")),
        Just(Value::from("http://user:pw@example.com/")),
    ];
    let secret = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..70)
            .prop_map(|key| Value::from(format!("whsec_{}", BASE64.encode(key)))),
        text().prop_map(Value::from),
    ];
    let events = prop::collection::vec(event_name(), 0..8).prop_map(Value::from);
    (
        sometimes(url),
        sometimes(secret),
        sometimes(events),
        any::<bool>(),
    )
        .prop_map(|(url, secret, events, extra)| {
            let mut object = Map::new();
            for (key, value) in [("url", url), ("secret", secret), ("events", events)] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            if extra {
                object.insert("unexpected".to_owned(), Value::Null);
            }
            Value::Object(object)
        })
}

/// A `POST /v1/jobs` body as a client might send one: the right keys with odd values.
fn request_shaped() -> impl Strategy<Value = Value> {
    let job_type = prop_oneof![
        Just(Value::from("demo.report")),
        "[a-zA-Z0-9._:\\-]{0,110}".prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    let count = prop_oneof![
        (0u64..30).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ];
    let metadata = prop::collection::btree_map("[a-z]{1,8}", json_value(), 0..4)
        .prop_map(|map| Value::Object(map.into_iter().collect()));
    let hook = prop_oneof![hook_shaped(), Just(Value::Null)];
    (
        sometimes(job_type),
        sometimes(json_value()),
        sometimes(count.clone()),
        sometimes(count),
        sometimes(metadata),
        sometimes(hook),
    )
        .prop_map(
            |(job_type, payload, timeout_s, max_attempts, metadata, webhook)| {
                let mut object = Map::new();
                for (key, value) in [
                    ("type", job_type),
                    ("payload", payload),
                    ("timeout_s", timeout_s),
                    ("max_attempts", max_attempts),
                    ("metadata", metadata),
                    ("webhook", webhook),
                ] {
                    if let Some(value) = value {
                        object.insert(key.to_owned(), value);
                    }
                }
                Value::Object(object)
            },
        )
}

/// The rule of a machine name (job types, tenants), written out again independently.
fn is_name(raw: &str, max: usize) -> bool {
    !raw.is_empty()
        && raw.len() <= max
        && raw.as_bytes()[0].is_ascii_alphanumeric()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b))
}

/// The small limits a hostile payload meets quickly.
fn limits() -> JobLimits {
    JobLimits {
        max_payload_bytes: 2048,
        max_metadata_bytes: 512,
        ..JobLimits::default()
    }
}

/// A validated job written back as the request that would produce it.
fn as_request(job: &NewJob) -> Value {
    let mut request = json!({
        "type": job.job_type.as_str(),
        "payload": job.payload,
        "timeout_s": job.timeout.as_secs(),
        "max_attempts": job.max_attempts,
        "metadata": job.metadata,
    });
    if let Some(hook) = &job.webhook {
        request["webhook"] = json!({
            "url": hook.url.as_str(),
            "secret": hook.secret.expose(),
            "events": hook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        });
    }
    request
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_job_id_is_parsed_or_refused_and_round_trips(raw in text()) {
        if let Ok(id) = JobId::parse(&raw) {
            let shown = id.to_string();
            prop_assert_eq!(shown.len(), 36);
            prop_assert_eq!(JobId::parse(&shown), Ok(id));
        }
    }

    #[test]
    fn every_canonical_uuid_is_a_job_id(bits in any::<u128>()) {
        let raw = props::hyphenated_uuid(bits);
        let id = JobId::parse(&raw).expect("a canonical UUID");
        prop_assert_eq!(id.to_string(), raw.clone());
        prop_assert!(JobId::parse(&raw.to_uppercase()).is_ok());
        let mut cut = raw.clone();
        cut.pop();
        prop_assert!(JobId::parse(&cut).is_err());
    }

    #[test]
    fn a_job_type_is_accepted_exactly_when_it_is_a_name(raw in text()) {
        match JobType::parse(&raw) {
            Ok(job_type) => {
                prop_assert!(is_name(&raw, 100), "{raw:?} was accepted");
                prop_assert_eq!(job_type.as_str(), raw.as_str());
                prop_assert_eq!(JobType::parse(&job_type.to_string()), Ok(job_type));
            }
            Err(e) => {
                prop_assert!(!is_name(&raw, 100), "{raw:?} was refused: {e}");
                prop_assert!(!e.0.is_empty());
            }
        }
    }

    #[test]
    fn a_tenant_id_is_accepted_exactly_when_it_is_a_short_name(raw in text()) {
        match TenantId::parse(&raw) {
            Ok(tenant) => {
                prop_assert!(is_name(&raw, 64), "{raw:?} was accepted");
                prop_assert_eq!(TenantId::parse(&tenant.to_string()), Ok(tenant));
            }
            Err(_) => prop_assert!(!is_name(&raw, 64), "{raw:?} was refused"),
        }
    }

    #[test]
    fn an_idempotency_key_is_bounded_visible_ascii(raw in text()) {
        let rule = (1..=255).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        match IdempotencyKey::try_from(raw.as_str()) {
            Ok(key) => {
                prop_assert!(rule, "{raw:?} was accepted");
                prop_assert_eq!(key.as_str(), raw.as_str());
                prop_assert_eq!(IdempotencyKey::try_from(String::from(key.clone())), Ok(key));
            }
            Err(_) => prop_assert!(!rule, "{raw:?} was refused"),
        }
    }

    #[test]
    fn a_feed_cursor_is_parsed_or_refused_and_round_trips(
        raw in prop_oneof![
            text(),
            "[0-9]{0,25}(-[0-9]{0,25})?",
            "([0-9]{0,5}(-[0-9]{0,3})?\\.){0,70}[0-9]{0,5}",
            "[0-9\\-+. ]{0,12}",
        ],
    ) {
        if let Ok(cursor) = raw.parse::<FeedCursor>() {
            prop_assert!(
                raw.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.'),
                "{raw:?}"
            );
            prop_assert_eq!(cursor.to_string().parse::<FeedCursor>(), Ok(cursor));
        }
    }

    #[test]
    fn every_cursor_reads_back_what_it_shows(
        // Up to `MAX_PARTITIONS` (64) positions.
        positions in proptest::collection::vec((any::<u64>(), any::<u64>()), 0..=64),
        at in 0..80usize,
    ) {
        let positions: Vec<FeedPosition> =
            positions.into_iter().map(|(ms, n)| FeedPosition { ms, n }).collect();
        let cursor = FeedCursor::of(positions.clone());
        prop_assert_eq!(cursor.to_string().parse::<FeedCursor>(), Ok(cursor.clone()));
        // A partition past the positions is at the start.
        let expected = positions.get(at).copied().unwrap_or_default();
        prop_assert_eq!(cursor.position(at), expected);
        prop_assert!(cursor.position(at).next() >= cursor.position(at));
    }

    #[test]
    fn a_webhook_url_is_an_absolute_http_url_or_refused(
        raw in prop_oneof![
            text(),
            "(https?|ftp|javascript|file|HTTP)://[a-z0-9.\\-@:%\\[\\]]{0,40}(/[ -~]{0,30})?(#[a-z]{0,4})?",
        ],
    ) {
        if let Ok(url) = WebhookUrl::parse(&raw) {
            prop_assert!(matches!(url.url().scheme(), "http" | "https"), "{raw:?}");
            prop_assert!(url.url().host().is_some(), "{raw:?}");
            prop_assert!(url.url().username().is_empty() && url.url().password().is_none());
            prop_assert!(url.url().fragment().is_none());
            prop_assert_eq!(url.as_str(), raw.as_str());
            prop_assert_eq!(WebhookUrl::parse(&url.to_string()), Ok(url));
        }
    }

    #[test]
    fn a_webhook_secret_is_parsed_or_refused_and_always_has_a_key(raw in text()) {
        let rule = !raw.is_empty()
            && raw.chars().count() <= 256
            && !raw.chars().any(char::is_control);
        match WebhookSecret::parse(&raw) {
            Ok(secret) => {
                prop_assert!(rule, "{raw:?} was accepted");
                prop_assert_eq!(secret.expose(), raw.as_str());
                prop_assert!(!secret.key().is_empty());
                prop_assert_eq!(format!("{secret:?}"), "WebhookSecret(..)");
                prop_assert_eq!(WebhookSecret::parse(secret.expose()), Ok(secret));
            }
            Err(_) => prop_assert!(!rule, "{raw:?} was refused"),
        }
    }

    #[test]
    fn a_whsec_secret_signs_with_its_decoded_bytes(key in prop::collection::vec(any::<u8>(), 1..150)) {
        let raw = format!("whsec_{}", BASE64.encode(&key));
        match WebhookSecret::parse(&raw) {
            Ok(secret) => prop_assert_eq!(secret.key(), key),
            Err(_) => prop_assert!(raw.len() > 256, "{raw:?} was refused"),
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_json_as_a_job_webhook_is_parsed_or_refused_field_by_field(
        value in prop_oneof![json_value(), hook_shaped()],
    ) {
        match JobHook::parse(value.clone()) {
            Ok(hook) => {
                prop_assert!(!hook.events.is_empty());
                prop_assert!(WebhookUrl::parse(hook.url.as_str()).is_ok());
                let again = json!({
                    "url": hook.url.as_str(),
                    "secret": hook.secret.expose(),
                    "events": hook.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
                });
                prop_assert_eq!(JobHook::parse(again), Ok(hook));
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty(), "refused without a reason: {value}");
                for error in errors {
                    prop_assert!(error.field.starts_with("webhook"), "{error:?}");
                    prop_assert!(!error.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn any_json_as_a_submission_is_accepted_consistently_or_refused_field_by_field(
        value in prop_oneof![1 => json_value(), 4 => request_shaped()],
    ) {
        // What the api does first: a body that is not a JSON object is refused (422 naming
        // `body`), although serde's derive would read an array as the struct's fields in
        // order; and a body of the wrong shape never reaches `NewJob::parse`.
        if !value.is_object() {
            return Ok(());
        }
        let Ok(request) = serde_json::from_value::<JobRequest>(value.clone()) else {
            return Ok(());
        };
        let tenant = TenantId::default_tenant();
        match NewJob::parse(tenant.clone(), request, None, &limits()) {
            Ok(job) => {
                prop_assert_eq!(Some(job.job_type.as_str()), value["type"].as_str());
                prop_assert!(job.timeout >= Duration::from_secs(1));
                prop_assert!(job.timeout <= limits().max_timeout);
                prop_assert!((1..=limits().max_attempts).contains(&job.max_attempts));
                prop_assert!(serde_json::to_vec(&job.payload).unwrap().len() <= 2048);
                let again: JobRequest = serde_json::from_value(as_request(&job)).unwrap();
                prop_assert_eq!(NewJob::parse(tenant, again, None, &limits()), Ok(job));
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty(), "refused without a reason: {value}");
                for error in errors {
                    prop_assert!(!error.field.is_empty() && !error.message.is_empty());
                }
            }
        }
    }
}

#[test]
fn deeply_nested_json_in_a_submission_is_only_data() {
    let mut payload = Value::Null;
    for _ in 0..100 {
        payload = json!([payload]);
    }
    let request: JobRequest =
        serde_json::from_value(json!({"type": "demo.report", "payload": payload})).unwrap();
    let job = NewJob::parse(TenantId::default_tenant(), request, None, &limits()).unwrap();
    assert_eq!(job.job_type.as_str(), "demo.report");
}
