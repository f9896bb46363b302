//! Inbound webhooks: the sources a tenant manages (`/v1/sources`) and the ingest endpoint
//! providers post to (`POST /in/{token}`).
//!
//! # Capture before the answer
//! An ingest request is read whole (bounded by `max_body_bytes`: larger answers `413`), its
//! signature verified on the raw bytes in constant time ([`herald_core::inbound::verify`]),
//! then it becomes a job of the source's type — the request's method, headers and body in
//! its payload — in the same atomic write as any `202` ([`herald_core::Store::create`]), and
//! only then is the provider answered. A provider that gets no answer (Herald down, Redis
//! unreachable: `503`) retries, so nothing it sent is lost.
//!
//! # Duplicates
//! The source's dedupe rule names the provider's event (its id header, or a field of the
//! body): the event's key becomes the job's idempotency key
//! ([`herald_core::IdempotencyKey::of_event`]), kept 24 hours, so a provider's retry is
//! answered with the first job (`Idempotent-Replayed: true`) and never runs twice.
//!
//! # The request log
//! Every request that reached a source is recorded after the answer is decided: accepted,
//! duplicate, or rejected with the reason. A rejected request creates no job. The log keeps
//! the newest `source_requests_max` per source.

pub mod cache;
pub mod view;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpRequest, web};
use chrono::{DateTime, SubsecRound as _, TimeDelta, Utc};
use herald_core::inbound::source::{NOT_CAPTURED, Received};
use herald_core::inbound::{Outcome, RequestRecord, Source, SourceRequest, Verify};
use herald_core::job::json_len;
use herald_core::store::SourceStore;
use herald_core::store::sources::{RequestPage, RequestQuery};
use herald_core::webhook::WebhookSecret;
use herald_core::{
    FieldError, JobId, JobLimits, JobStatus, JobTypes, RequestId, SharedStore, SourceId, TenantId,
};
use serde::Deserialize;

use crate::http::error::ApiError;
use crate::http::metrics::ApiMetrics;
use crate::inbound::cache::SourceCache;
use crate::webhooks::replay::ReplayWindow;

/// How long a rotated-out secret is still accepted, by default.
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);

/// The longest grace a rotation may give the previous secret.
pub const MAX_ROTATION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// How many times a change of a source is computed again while concurrent writers win.
const UPDATE_ATTEMPTS: usize = 16;

/// The most jobs one replay request runs again.
pub const MAX_REPLAY: usize = 10_000;

/// What the inbound domain needs from the process.
pub struct Inbound<'a> {
    pub store: &'a SharedStore,
    pub sources: &'a dyn SourceStore,
    pub cache: &'a SourceCache,
    pub job_types: &'a JobTypes,
    pub limits: &'a JobLimits,
    pub metrics: &'a ApiMetrics,
    /// Production mode: scheme `none` is refused.
    pub require_keys: bool,
}

/// The body of `POST /v1/sources/{id}/rotate-secret`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = SourceRotateRequest)]
#[serde(deny_unknown_fields)]
pub struct RotateRequest {
    /// The new secret (for `basic`, the new password); generated when left out (Stripe and
    /// Shopify issue their own: pass theirs).
    secret: Option<String>,
    /// How long the previous secret is still accepted, in seconds (0 to 604800); default
    /// 86400.
    grace_s: Option<u64>,
}

/// The body of `POST /v1/sources/{id}/replay`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SourceReplayRequest)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Run again the jobs of the requests received from this time on.
    #[schema(value_type = String, format = DateTime)]
    since: Option<String>,
    /// Up to this time, included; defaults to now.
    #[schema(format = DateTime)]
    until: Option<String>,
    /// Only the jobs now in this status: `completed`, `failed` or `canceled`; by default
    /// every finished one.
    status: Option<String>,
}

/// What a replay did.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = SourceReplayed)]
pub struct Replayed {
    /// Jobs run again.
    pub replayed: usize,
    /// Jobs of the window left as they are: still pending or processing, of another status
    /// than asked, or expired.
    pub skipped: usize,
    /// The window holds more than [`MAX_REPLAY`] jobs: the oldest were gone through; send
    /// the request again to go on (with a `status`, those run again are left out).
    pub truncated: bool,
}

/// An ingest request as the endpoint read it.
pub struct Ingest {
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: web::Bytes,
}

impl Ingest {
    /// The request's method and headers (lower-case names; repeated headers joined with
    /// `, `), with `body`.
    pub fn of(request: &HttpRequest, body: web::Bytes) -> Self {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in request.headers() {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert(value);
        }
        Self {
            method: request.method().as_str().to_owned(),
            headers,
            body,
        }
    }
}

/// How an ingest request was answered.
pub struct Answered {
    pub status: u16,
    pub job: JobId,
    /// An event captured before: the job is the first one.
    pub duplicate: bool,
}

impl Inbound<'_> {
    /// Refuses a job type the install does not serve, naming `field`.
    fn check_type(&self, source: &Source, errors: &mut Vec<FieldError>) {
        if !self.job_types.contains(&source.job_type) {
            errors.push(FieldError::new(
                "job_type",
                format!(
                    "no handler or worker queue is configured for job type `{}`",
                    source.job_type
                ),
            ));
        }
    }

    /// Refuses scheme `none` in production mode.
    fn check_scheme(&self, source: &Source, errors: &mut Vec<FieldError>) {
        if self.require_keys && source.verify == Verify::None {
            errors.push(FieldError::new(
                "verify.scheme",
                "`none` is for development only; this server runs in production mode",
            ));
        }
    }

    /// Creates a source from a `POST /v1/sources` request.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming every bad field; [`ApiError::LimitReached`].
    pub async fn create(
        &self,
        tenant: TenantId,
        request: SourceRequest,
    ) -> Result<Source, ApiError> {
        let source = Source::create(tenant, request, Utc::now()).map_err(ApiError::Validation)?;
        let mut errors = Vec::new();
        self.check_type(&source, &mut errors);
        self.check_scheme(&source, &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        self.sources.create_source(&source).await?;
        Ok(source)
    }

    /// The tenant's source.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub async fn get(&self, tenant: &TenantId, id: &SourceId) -> Result<Source, ApiError> {
        self.sources
            .source(tenant, id)
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The tenant's sources, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Source>, ApiError> {
        Ok(self.sources.sources(tenant).await?)
    }

    /// Applies `change` to the tenant's source, computing it again while concurrent writers
    /// win.
    async fn change(
        &self,
        tenant: &TenantId,
        id: &SourceId,
        change: impl Fn(&Source) -> Result<Source, ApiError>,
    ) -> Result<Source, ApiError> {
        for _ in 0..UPDATE_ATTEMPTS {
            let current = self.get(tenant, id).await?;
            let next = change(&current)?;
            if self.sources.update_source(&next).await? {
                self.cache.forget(&next.token);
                return Ok(next);
            }
        }
        Err(ApiError::SourceConflict(format!(
            "source {id} kept changing during {UPDATE_ATTEMPTS} attempts; try again"
        )))
    }

    /// Changes the fields a `PATCH` names.
    ///
    /// # Errors
    /// [`ApiError::Validation`], [`ApiError::NotFound`], [`ApiError::SourceConflict`].
    pub async fn update(
        &self,
        tenant: &TenantId,
        id: &SourceId,
        request: SourceRequest,
    ) -> Result<Source, ApiError> {
        self.change(tenant, id, |current| {
            let next = current
                .patched(request.clone(), Utc::now())
                .map_err(ApiError::Validation)?;
            let mut errors = Vec::new();
            if next.job_type != current.job_type {
                self.check_type(&next, &mut errors);
            }
            if errors.is_empty() {
                Ok(next)
            } else {
                Err(ApiError::Validation(errors))
            }
        })
        .await
    }

    /// Rotates the source's secret; the previous one is still accepted for the grace.
    ///
    /// # Errors
    /// [`ApiError::Validation`], [`ApiError::NotFound`], [`ApiError::SourceConflict`].
    pub async fn rotate_secret(
        &self,
        tenant: &TenantId,
        id: &SourceId,
        request: RotateRequest,
    ) -> Result<Source, ApiError> {
        let mut errors = Vec::new();
        let secret = request
            .secret
            .as_deref()
            .map(WebhookSecret::parse)
            .transpose()
            .map_err(|e| errors.push(FieldError::new("secret", e.0)))
            .ok()
            .flatten();
        let grace = match request.grace_s.map(Duration::from_secs) {
            None => DEFAULT_ROTATION_GRACE,
            Some(grace) if grace <= MAX_ROTATION_GRACE => grace,
            Some(_) => {
                errors.push(FieldError::new(
                    "grace_s",
                    format!("must be at most {}", MAX_ROTATION_GRACE.as_secs()),
                ));
                DEFAULT_ROTATION_GRACE
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        self.change(tenant, id, |current| {
            let secret = match (&secret, &current.verify) {
                (_, Verify::None) => {
                    return Err(ApiError::Validation(vec![FieldError::new(
                        "secret",
                        "a source of scheme `none` has no secret",
                    )]));
                }
                (Some(secret), _) => secret.clone(),
                (None, _) => current.new_secret(),
            };
            Ok(current.rotated(secret, grace, Utc::now()))
        })
        .await
    }

    /// Deletes the source: its ingest URL answers `404` from now on.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub async fn delete(&self, tenant: &TenantId, id: &SourceId) -> Result<(), ApiError> {
        let source = self.get(tenant, id).await?;
        if self.sources.delete_source(tenant, id).await? {
            self.cache.forget(&source.token);
            self.metrics.forget_source(source.id);
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// A page of the source's request log.
    ///
    /// # Errors
    /// [`ApiError::NotFound`].
    pub async fn requests(
        &self,
        tenant: &TenantId,
        id: &SourceId,
        query: &RequestQuery,
    ) -> Result<RequestPage, ApiError> {
        self.get(tenant, id).await?;
        Ok(self.sources.requests(id, query).await?)
    }

    /// Runs again, as by `POST /v1/jobs/{id}/retry`, the finished jobs of the requests the
    /// source received in a window (of one status, if asked).
    ///
    /// # Errors
    /// [`ApiError::Validation`], [`ApiError::NotFound`].
    pub async fn replay(
        &self,
        tenant: &TenantId,
        id: &SourceId,
        request: ReplayRequest,
    ) -> Result<Replayed, ApiError> {
        let mut errors = Vec::new();
        let window = ReplayWindow::read(request.since, request.until, Utc::now(), &mut errors);
        let status = match request.status.as_deref().map(str::parse::<JobStatus>) {
            None => None,
            Some(Ok(status)) if status.is_terminal() => Some(status),
            Some(_) => {
                errors.push(FieldError::new(
                    "status",
                    "must be completed, failed or canceled",
                ));
                None
            }
        };
        let window = match window {
            Some(window) if errors.is_empty() => window,
            _ => return Err(ApiError::Validation(errors)),
        };
        self.get(tenant, id).await?;
        // Requests are timed to the millisecond; the window includes `until`'s, the store's
        // end is excluded.
        let since = window.since.trunc_subsecs(3);
        let until = window.until.trunc_subsecs(3) + TimeDelta::milliseconds(1);
        let records = self.sources.requests_between(id, since, until).await?;
        let mut seen = HashSet::new();
        let (mut replayed, mut skipped, mut truncated) = (0, 0, false);
        for job_id in records.iter().filter_map(|r| r.job_id) {
            if seen.contains(&job_id) {
                continue;
            }
            if seen.len() == MAX_REPLAY {
                truncated = true;
                break;
            }
            seen.insert(job_id);
            let wanted = match self.store.get(tenant, &job_id).await? {
                Some(job) => match status {
                    Some(status) => job.status == status,
                    None => job.status.is_terminal(),
                },
                None => false,
            };
            if !wanted {
                skipped += 1;
                continue;
            }
            match self.store.retry(tenant, &job_id).await {
                Ok(Some(_)) => replayed += 1,
                // It moved on meanwhile (retried by someone else) or expired.
                Ok(None) | Err(herald_core::StoreError::Transition(_)) => skipped += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Replayed {
            replayed,
            skipped,
            truncated,
        })
    }

    /// Verifies, captures and stores an ingest request for the source `token` opens, then
    /// records it in the source's log.
    ///
    /// # Errors
    /// [`ApiError::NotFound`] for a token that opens nothing; [`ApiError::NotVerified`] for
    /// a request the source does not accept (recorded as rejected); [`ApiError::Unavailable`]
    /// and [`ApiError::QueueFull`] when the job cannot be stored (nothing is recorded: the
    /// provider retries).
    pub async fn ingest(&self, token: &str, request: Ingest) -> Result<Answered, ApiError> {
        let unknown = || ApiError::NotFound {
            what: "source for this ingest URL",
            id: String::new(),
        };
        // Every token is 32 random bytes in URL-safe base64: anything else opens nothing, and
        // is not looked up.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(unknown());
        }
        let source = match self.cache.get(token) {
            Some(source) => source,
            None => {
                let read_at = self.cache.now();
                let source = self
                    .sources
                    .source_by_token(token)
                    .await?
                    .map(Arc::new)
                    .ok_or_else(unknown)?;
                self.cache.put(Arc::clone(&source), read_at);
                source
            }
        };
        let id = RequestId::generate();
        // The id's millisecond: the log is ordered, and read by time window, by id.
        let received_at = id.received_at();
        let verdict = if self.require_keys && source.verify == Verify::None {
            Err("scheme `none` is refused in production mode".to_owned())
        } else {
            source
                .verify(&request.headers, &request.body, received_at)
                .map_err(|rejected| rejected.0)
        };
        if let Err(reason) = verdict {
            self.record(
                &source,
                RequestRecord {
                    id,
                    received_at,
                    outcome: Outcome::Rejected,
                    reason: Some(reason.clone()),
                    job_id: None,
                    dedupe_key: None,
                },
            )
            .await;
            return Err(ApiError::NotVerified(reason));
        }
        let dedupe_key = source.dedupe_key(&request.headers, &request.body);
        let mut headers = request.headers;
        headers.retain(|name, _| !NOT_CAPTURED.contains(&name.as_str()));
        let received = Received {
            received_at,
            method: request.method,
            headers,
            body: request.body,
            dedupe_key,
        };
        let limits = self.job_types.limits(&source.job_type, self.limits);
        let new = source.capture(&received, &limits);
        // The captured request is the job's payload, bounded like any: its type's
        // `max_payload_bytes` (a body not in UTF-8 grows by a third in base64).
        if json_len(&new.payload) > limits.max_payload_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: limits.max_payload_bytes,
            });
        }
        let created = self.store.create(new).await?;
        let outcome = if created.replayed {
            Outcome::Duplicate
        } else {
            self.metrics.job_accepted(source.job_type.as_str());
            Outcome::Accepted
        };
        self.record(
            &source,
            RequestRecord {
                id,
                received_at,
                outcome,
                reason: None,
                job_id: Some(created.job.id),
                dedupe_key: received.dedupe_key.as_deref().map(Source::shown_key),
            },
        )
        .await;
        Ok(Answered {
            status: source.response_status,
            job: created.job.id,
            duplicate: created.replayed,
        })
    }

    /// Records a request in the source's log and counts it. A log that cannot be written
    /// does not change the answer (the job, if any, is stored): it is logged.
    async fn record(&self, source: &Source, record: RequestRecord) {
        self.metrics
            .inbound_request(source.id, record.outcome.as_str());
        if let Err(error) = self.sources.record_request(&source.id, &record).await {
            tracing::warn!(source_id = %source.id, request_id = %record.id, %error,
                "could not record an inbound request in its source's log");
        }
    }
}

/// The problem of a source that is not the tenant's (or does not exist).
fn not_found(id: &SourceId) -> ApiError {
    ApiError::NotFound {
        what: "source",
        id: id.to_string(),
    }
}

/// The query of `GET /v1/sources/{id}/requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestParams {
    /// Only requests with this outcome: `accepted`, `duplicate` or `rejected`.
    outcome: Option<String>,
    /// 1 to 100; default 20.
    #[param(value_type = Option<u64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The previous page's `next_cursor`.
    cursor: Option<String>,
}

impl RequestParams {
    /// The query these parameters ask for.
    ///
    /// # Errors
    /// [`ApiError::InvalidParameters`] naming every bad parameter.
    pub fn parse(&self) -> Result<RequestQuery, ApiError> {
        let mut errors = Vec::new();
        let outcome = self
            .outcome
            .as_deref()
            .map(str::parse::<Outcome>)
            .transpose()
            .map_err(|e| errors.push(FieldError::new("outcome", e.0)))
            .ok()
            .flatten();
        let limit = match self.limit.as_deref().map(str::parse::<usize>) {
            None => RequestQuery::DEFAULT_LIMIT,
            Some(Ok(limit)) if (1..=RequestQuery::MAX_LIMIT).contains(&limit) => limit,
            Some(_) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a number from 1 to {}", RequestQuery::MAX_LIMIT),
                ));
                RequestQuery::DEFAULT_LIMIT
            }
        };
        let before = self
            .cursor
            .as_deref()
            .map(RequestId::parse)
            .transpose()
            .map_err(|_| errors.push(FieldError::new("cursor", "is not a cursor of this list")))
            .ok()
            .flatten();
        if errors.is_empty() {
            Ok(RequestQuery {
                outcome,
                limit,
                before,
            })
        } else {
            Err(ApiError::InvalidParameters(errors))
        }
    }
}

/// The time an answer shows.
pub(crate) fn shown(t: &DateTime<Utc>) -> String {
    herald_core::view::format_time(t)
}
