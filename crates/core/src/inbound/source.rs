//! Sources: a tenant's front doors for providers. Each has an unguessable ingest token (the
//! credential a provider holds instead of an API key), a verification scheme with its secret,
//! the job type a captured request becomes, a dedupe rule and the answer the provider gets.
//! Sources are created, patched and rotated as values (every change bumps the version the
//! store compares-and-sets on), like webhook subscriptions.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::verify::{self, Algorithm, Encoding, Headers, Rejected};
use crate::ids::{IdempotencyKey, JobType, SourceId, TenantId};
use crate::job::{FieldError, JobLimits, NewJob};
use crate::webhook::{RetiredSecret, WebhookSecret};

/// How far a signed timestamp may be from now, by default (Stripe's and Standard Webhooks').
pub const DEFAULT_TOLERANCE_S: u64 = 300;

/// The longest tolerance accepted: a day.
pub const MAX_TOLERANCE_S: u64 = 24 * 3600;

/// The longest name.
pub const MAX_NAME_CHARS: usize = 100;

/// The most sources one tenant has.
pub const MAX_SOURCES_PER_TENANT: usize = 1000;

/// Headers never captured into a job nor used as a dedupe key: credentials.
pub const NOT_CAPTURED: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// The longest dedupe key kept (a longer value is hashed into the job's key all the same,
/// and shown cut).
const MAX_DEDUPE_KEY_CHARS: usize = 256;

/// How a source verifies a request, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verify {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks).
    StandardWebhooks { tolerance_s: u64 },
    /// `X-Hub-Signature-256: sha256=<hex>`.
    Github,
    /// `Stripe-Signature: t=<unix>,v1=<hex>`.
    Stripe { tolerance_s: u64 },
    /// `X-Shopify-Hmac-Sha256: <base64>`.
    Shopify,
    /// A header holding `prefix` and the body's HMAC.
    Hmac {
        header: String,
        algorithm: Algorithm,
        encoding: Encoding,
        prefix: String,
    },
    /// HTTP Basic authentication; the password is the source's secret.
    Basic { username: String },
    /// Nothing is verified: development only.
    None,
}

impl Verify {
    /// The scheme's name, as requests and answers spell it.
    pub fn scheme(&self) -> &'static str {
        match self {
            Self::StandardWebhooks { .. } => "standard-webhooks",
            Self::Github => "github",
            Self::Stripe { .. } => "stripe",
            Self::Shopify => "shopify",
            Self::Hmac { .. } => "hmac",
            Self::Basic { .. } => "basic",
            Self::None => "none",
        }
    }

    /// `request` with the parameters it leaves out taken from this scheme's: what a `PATCH`
    /// changes is only what it names.
    fn filled_in(&self, mut request: VerifyRequest) -> VerifyRequest {
        match self {
            Self::StandardWebhooks { tolerance_s } | Self::Stripe { tolerance_s } => {
                request.tolerance_s.get_or_insert(*tolerance_s);
            }
            Self::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
            } => {
                request.header.get_or_insert_with(|| header.clone());
                request.algorithm.get_or_insert(*algorithm);
                request.encoding.get_or_insert(*encoding);
                request.prefix.get_or_insert_with(|| prefix.clone());
            }
            Self::Basic { username } => {
                request.username.get_or_insert_with(|| username.clone());
            }
            Self::Github | Self::Shopify | Self::None => {}
        }
        request
    }

    /// The dedupe rule a source of this scheme has unless it names one: the provider's own
    /// event id.
    pub fn default_dedupe(&self) -> Option<Dedupe> {
        match self {
            Self::StandardWebhooks { .. } => Some(Dedupe::Header("webhook-id".to_owned())),
            Self::Github => Some(Dedupe::Header("x-github-delivery".to_owned())),
            Self::Stripe { .. } => Some(Dedupe::JsonPointer("/id".to_owned())),
            Self::Shopify => Some(Dedupe::Header("x-shopify-webhook-id".to_owned())),
            Self::Hmac { .. } | Self::Basic { .. } | Self::None => None,
        }
    }
}

/// Which part of a request names the provider's event, so its retries are recognised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Dedupe {
    /// A header (lower-case).
    Header(String),
    /// A JSON pointer into the body (RFC 6901).
    JsonPointer(String),
}

/// A tenant's front door for one provider. `Debug` leaves its ingest token out (the secrets
/// print themselves as `..`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: SourceId,
    pub tenant: TenantId,
    pub name: String,
    pub job_type: JobType,
    pub verify: Verify,
    /// `None` only with [`Verify::None`].
    pub secret: Option<WebhookSecret>,
    /// The secret replaced by the last rotation, still accepted until it expires.
    pub retired_secret: Option<RetiredSecret>,
    /// `None`: every request is a new event.
    pub dedupe: Option<Dedupe>,
    /// The status a verified request is answered with: 200, 201, 202 or 204.
    pub response_status: u16,
    /// The ingest token: `/in/<token>`.
    pub token: String,
    /// Bumped by every change: writes compare-and-set on it.
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("id", &self.id)
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .field("job_type", &self.job_type)
            .field("verify", &self.verify)
            .field("secret", &self.secret)
            .field("retired_secret", &self.retired_secret)
            .field("dedupe", &self.dedupe)
            .field("response_status", &self.response_status)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A source as the client sent it (`POST`) or the fields it changes (`PATCH`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewSource))]
pub struct SourceRequest {
    pub name: Option<String>,
    pub job_type: Option<String>,
    pub verify: Option<VerifyRequest>,
    /// `{"header": NAME}` or `{"json_pointer": "/path"}`; `null` for the scheme's default
    /// (also in a `PATCH`, where leaving it out changes nothing).
    #[serde(default, deserialize_with = "given")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub dedupe: Option<serde_json::Value>,
    pub response: Option<ResponseRequest>,
}

/// A field that was sent, `null` included (`Some(Value::Null)`); `None` only when left out.
fn given<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(deserializer).map(Some)
}

/// The `verify` object of a request: the scheme, its secret and its parameters.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyRequest {
    /// `standard-webhooks`, `github`, `stripe`, `shopify`, `hmac`, `basic` or `none`.
    pub scheme: Option<String>,
    /// The signing secret; generated when absent (Stripe and Shopify issue their own: pass
    /// theirs).
    pub secret: Option<String>,
    /// `stripe`, `standard-webhooks`: how far the signed timestamp may be from now (s).
    pub tolerance_s: Option<u64>,
    /// `hmac`: the header holding the signature.
    pub header: Option<String>,
    /// `hmac`: `sha256` (default), `sha1` or `sha512`.
    pub algorithm: Option<Algorithm>,
    /// `hmac`: `hex` (default) or `base64`.
    pub encoding: Option<Encoding>,
    /// `hmac`: what precedes the signature in the header (`sha256=`, say).
    pub prefix: Option<String>,
    /// `basic`: the user name.
    pub username: Option<String>,
    /// `basic`: the password (the source's secret; generated when absent).
    pub password: Option<String>,
}

/// The `response` object of a request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResponseRequest {
    /// 200, 201, 202 (the default) or 204.
    pub status: Option<u16>,
}

/// A fresh ingest token: 32 random bytes, URL-safe base64 (256 bits).
fn generate_token() -> String {
    URL_SAFE_NO_PAD.encode(crate::random::bytes::<32>())
}

/// A generated secret for `verify`: `whsec_<base64>` for Standard Webhooks and Stripe (the
/// form their secrets take), 32 random bytes as hex for the others.
fn generate_secret(verify: &Verify) -> WebhookSecret {
    if matches!(
        verify,
        Verify::StandardWebhooks { .. } | Verify::Stripe { .. }
    ) {
        return WebhookSecret::generate();
    }
    let hex: String = crate::random::bytes::<32>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // 64 hex digits are a valid secret.
    WebhookSecret::parse(&hex).unwrap_or_else(|_| WebhookSecret::generate())
}

/// Parses `verify`, reporting every bad field under `verify.`; `secret` is the secret the
/// request named (for `basic`, its `password`).
fn parse_verify(
    request: &VerifyRequest,
    errors: &mut Vec<FieldError>,
) -> Option<(Verify, Option<String>)> {
    let scheme = request.scheme.as_deref().unwrap_or_default();
    let unexpected = |errors: &mut Vec<FieldError>, field: &str, given: bool| {
        if given {
            errors.push(FieldError::new(
                &format!("verify.{field}"),
                format!("does not go with scheme `{scheme}`"),
            ));
        }
    };
    let tolerance = |errors: &mut Vec<FieldError>| match request.tolerance_s {
        None => DEFAULT_TOLERANCE_S,
        Some(s) if (1..=MAX_TOLERANCE_S).contains(&s) => s,
        Some(_) => {
            errors.push(FieldError::new(
                "verify.tolerance_s",
                format!("must be between 1 and {MAX_TOLERANCE_S}"),
            ));
            DEFAULT_TOLERANCE_S
        }
    };
    let hmac_fields = request.header.is_some()
        || request.algorithm.is_some()
        || request.encoding.is_some()
        || request.prefix.is_some();
    let basic_fields = request.username.is_some() || request.password.is_some();
    let verify = match scheme {
        "standard-webhooks" | "stripe" => {
            unexpected(errors, "header", hmac_fields);
            unexpected(errors, "username", basic_fields);
            let tolerance_s = tolerance(errors);
            if scheme == "stripe" {
                Verify::Stripe { tolerance_s }
            } else {
                Verify::StandardWebhooks { tolerance_s }
            }
        }
        "github" | "shopify" | "none" => {
            unexpected(errors, "tolerance_s", request.tolerance_s.is_some());
            unexpected(errors, "header", hmac_fields);
            unexpected(errors, "username", basic_fields);
            match scheme {
                "github" => Verify::Github,
                "shopify" => Verify::Shopify,
                _ => Verify::None,
            }
        }
        "hmac" => {
            unexpected(errors, "tolerance_s", request.tolerance_s.is_some());
            unexpected(errors, "username", basic_fields);
            let header = request
                .header
                .as_deref()
                .map(|h| h.trim().to_ascii_lowercase());
            match &header {
                None => errors.push(FieldError::new("verify.header", "is required")),
                Some(h) if !is_header_name(h) => {
                    errors.push(FieldError::new("verify.header", "is not a header name"));
                }
                Some(_) => {}
            }
            let prefix = request.prefix.clone().unwrap_or_default();
            if prefix.len() > 64 || prefix.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    "verify.prefix",
                    "must be at most 64 characters without control characters",
                ));
            }
            Verify::Hmac {
                header: header.unwrap_or_default(),
                algorithm: request.algorithm.unwrap_or(Algorithm::Sha256),
                encoding: request.encoding.unwrap_or(Encoding::Hex),
                prefix,
            }
        }
        "basic" => {
            unexpected(errors, "tolerance_s", request.tolerance_s.is_some());
            unexpected(errors, "header", hmac_fields);
            unexpected(errors, "secret", request.secret.is_some());
            let username = request.username.clone().unwrap_or_default();
            if username.is_empty() || username.len() > 256 || username.contains(':') {
                errors.push(FieldError::new(
                    "verify.username",
                    "is required: 1 to 256 characters without `:`",
                ));
            }
            return Some((Verify::Basic { username }, request.password.clone()));
        }
        "" => {
            errors.push(FieldError::new("verify.scheme", "is required"));
            return None;
        }
        other => {
            errors.push(FieldError::new(
                "verify.scheme",
                format!(
                    "`{other}` is not a scheme: standard-webhooks, github, stripe, shopify, hmac, \
                     basic or none"
                ),
            ));
            return None;
        }
    };
    if matches!(verify, Verify::None) {
        unexpected(errors, "secret", request.secret.is_some());
    }
    Some((verify, request.secret.clone()))
}

/// Whether `name` is a lower-case HTTP header name (RFC 9110 token).
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses a `dedupe` value: `null` for the default of `verify`.
fn parse_dedupe(
    raw: Option<&serde_json::Value>,
    verify: &Verify,
    errors: &mut Vec<FieldError>,
) -> Option<Dedupe> {
    let Some(raw) = raw.filter(|raw| !raw.is_null()) else {
        return verify.default_dedupe();
    };
    let invalid = |errors: &mut Vec<FieldError>| {
        errors.push(FieldError::new(
            "dedupe",
            "must be {\"header\": NAME} or {\"json_pointer\": \"/path\"}, or null for the \
             scheme's event id",
        ));
        None
    };
    let Some(object) = raw.as_object().filter(|o| o.len() == 1) else {
        return invalid(errors);
    };
    match (object.get("header"), object.get("json_pointer")) {
        (Some(serde_json::Value::String(name)), None) => {
            let name = name.trim().to_ascii_lowercase();
            if !is_header_name(&name) {
                errors.push(FieldError::new("dedupe.header", "is not a header name"));
                None
            } else if NOT_CAPTURED.contains(&name.as_str()) {
                errors.push(FieldError::new(
                    "dedupe.header",
                    "carries credentials, which are never captured nor logged",
                ));
                None
            } else {
                Some(Dedupe::Header(name))
            }
        }
        (None, Some(serde_json::Value::String(pointer))) => {
            if pointer.starts_with('/') && pointer.len() <= 256 {
                Some(Dedupe::JsonPointer(pointer.clone()))
            } else {
                errors.push(FieldError::new(
                    "dedupe.json_pointer",
                    "must be a JSON pointer starting with `/`, at most 256 characters",
                ));
                None
            }
        }
        _ => invalid(errors),
    }
}

/// Parses `response.status`.
fn parse_status(request: Option<&ResponseRequest>, errors: &mut Vec<FieldError>) -> u16 {
    match request.and_then(|r| r.status) {
        None => 202,
        Some(status @ (200 | 201 | 202 | 204)) => status,
        Some(_) => {
            errors.push(FieldError::new(
                "response.status",
                "must be 200, 201, 202 or 204",
            ));
            202
        }
    }
}

/// Parses `name`: 1 to [`MAX_NAME_CHARS`] characters without control characters.
fn parse_name(raw: &str, errors: &mut Vec<FieldError>) -> String {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        errors.push(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters without control characters"),
        ));
    }
    name.to_owned()
}

impl Source {
    /// A new source from a `POST /v1/sources` body. The secret it generated, if any, is its
    /// `secret`: shown in the answer this once.
    ///
    /// # Errors
    /// Every bad field.
    pub fn create(
        tenant: TenantId,
        request: SourceRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = match request.name.as_deref() {
            None => {
                errors.push(FieldError::new("name", "is required"));
                String::new()
            }
            Some(raw) => parse_name(raw, &mut errors),
        };
        let job_type = match request.job_type.as_deref() {
            None => {
                errors.push(FieldError::new("job_type", "is required"));
                None
            }
            Some(raw) => JobType::parse(raw)
                .map_err(|e| errors.push(FieldError::new("job_type", e.0)))
                .ok(),
        };
        let parsed = match &request.verify {
            None => {
                errors.push(FieldError::new("verify", "is required"));
                None
            }
            Some(verify) => parse_verify(verify, &mut errors),
        };
        let (verify, secret) = match parsed {
            Some((verify, secret)) => {
                let secret = match (secret, &verify) {
                    (_, Verify::None) => None,
                    (Some(raw), _) => WebhookSecret::parse(&raw)
                        .map_err(|e| {
                            let field = if matches!(verify, Verify::Basic { .. }) {
                                "verify.password"
                            } else {
                                "verify.secret"
                            };
                            errors.push(FieldError::new(field, e.0));
                        })
                        .ok(),
                    // Stripe and Shopify issue their own: a generated one suits a sender the
                    // tenant controls.
                    (None, verify) => Some(generate_secret(verify)),
                };
                (Some(verify), secret)
            }
            None => (None, None),
        };
        let dedupe = verify
            .as_ref()
            .and_then(|verify| parse_dedupe(request.dedupe.as_ref(), verify, &mut errors));
        let response_status = parse_status(request.response.as_ref(), &mut errors);
        match (job_type, verify) {
            (Some(job_type), Some(verify)) if errors.is_empty() => Ok(Self {
                id: SourceId::generate(),
                tenant,
                name,
                job_type,
                verify,
                secret,
                retired_secret: None,
                dedupe,
                response_status,
                token: generate_token(),
                version: 1,
                created_at: now,
                updated_at: now,
            }),
            _ => Err(errors),
        }
    }

    /// This source with the fields of a `PATCH` body changed. `verify` may change the
    /// scheme's parameters but not the scheme, nor the secret (rotated instead).
    ///
    /// # Errors
    /// Every bad field.
    pub fn patched(
        &self,
        request: SourceRequest,
        now: DateTime<Utc>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut next = self.clone();
        if let Some(raw) = request.name.as_deref() {
            next.name = parse_name(raw, &mut errors);
        }
        if let Some(raw) = request.job_type.as_deref() {
            match JobType::parse(raw) {
                Ok(job_type) => next.job_type = job_type,
                Err(e) => errors.push(FieldError::new("job_type", e.0)),
            }
        }
        if let Some(verify) = &request.verify {
            if verify.secret.is_some() || verify.password.is_some() {
                errors.push(FieldError::new(
                    "verify.secret",
                    "cannot be changed by PATCH; rotate it with POST /v1/sources/{id}/rotate-secret",
                ));
            }
            let mut verify = verify.clone();
            let scheme = verify
                .scheme
                .get_or_insert_with(|| self.verify.scheme().to_owned());
            if scheme != self.verify.scheme() {
                errors.push(FieldError::new(
                    "verify.scheme",
                    "cannot be changed; create a source for the other scheme",
                ));
            } else if let Some((parsed, _)) =
                parse_verify(&self.verify.filled_in(verify), &mut errors)
            {
                next.verify = parsed;
            }
        }
        if request.dedupe.is_some() {
            next.dedupe = parse_dedupe(request.dedupe.as_ref(), &next.verify, &mut errors);
        }
        if request.response.is_some() {
            next.response_status = parse_status(request.response.as_ref(), &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        next.version += 1;
        next.updated_at = now;
        Ok(next)
    }

    /// This source verifying with `secret` from now on; the current secret is accepted too
    /// for `grace`.
    pub fn rotated(&self, secret: WebhookSecret, grace: Duration, now: DateTime<Utc>) -> Self {
        let mut next = self.clone();
        let previous = next.secret.replace(secret);
        next.retired_secret = previous.map(|secret| RetiredSecret {
            secret,
            expires_at: now + grace,
        });
        next.version += 1;
        next.updated_at = now;
        next
    }

    /// A secret for this source's scheme, to rotate to when the client names none.
    pub fn new_secret(&self) -> WebhookSecret {
        generate_secret(&self.verify)
    }

    /// The secrets a request may be signed with at `now`: the current one, then the retired
    /// one while its grace lasts.
    fn secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        let retired = self
            .retired_secret
            .as_ref()
            .filter(|r| r.expires_at > now)
            .map(|r| r.secret.expose());
        self.secret
            .iter()
            .map(WebhookSecret::expose)
            .chain(retired)
            .collect()
    }

    /// Verifies a request on its raw body.
    ///
    /// # Errors
    /// Why it is not verified.
    pub fn verify(
        &self,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), Rejected> {
        let secrets = self.secrets(now);
        let tolerance = |s: u64| Duration::from_secs(s);
        match &self.verify {
            Verify::StandardWebhooks { tolerance_s } => {
                verify::standard_webhooks(&secrets, headers, body, now, tolerance(*tolerance_s))
            }
            Verify::Github => verify::github(&secrets, headers, body),
            Verify::Stripe { tolerance_s } => {
                verify::stripe(&secrets, headers, body, now, tolerance(*tolerance_s))
            }
            Verify::Shopify => verify::shopify(&secrets, headers, body),
            Verify::Hmac {
                header,
                algorithm,
                encoding,
                prefix,
            } => verify::hmac(
                &secrets, headers, body, header, *algorithm, *encoding, prefix,
            ),
            Verify::Basic { username } => verify::basic(username, &secrets, headers),
            Verify::None => Ok(()),
        }
    }

    /// What names the request's event under the dedupe rule, if the rule finds it.
    pub fn dedupe_key(&self, headers: &Headers, body: &[u8]) -> Option<String> {
        let value = match self.dedupe.as_ref()? {
            Dedupe::Header(name) => headers.get(name)?.trim().to_owned(),
            Dedupe::JsonPointer(pointer) => {
                let document: serde_json::Value = serde_json::from_slice(body).ok()?;
                match document.pointer(pointer)? {
                    serde_json::Value::String(text) => text.clone(),
                    serde_json::Value::Null => return None,
                    other => other.to_string(),
                }
            }
        };
        (!value.is_empty()).then_some(value)
    }

    /// The job a verified request becomes: the source's job type, the request captured in
    /// its payload, the dedupe key as its idempotency key.
    pub fn capture(&self, request: &Received, limits: &JobLimits) -> NewJob {
        let mut payload = serde_json::Map::new();
        payload.insert("source".into(), self.id.to_string().into());
        payload.insert(
            "received_at".into(),
            crate::view::format_time(&request.received_at).into(),
        );
        payload.insert("method".into(), request.method.clone().into());
        payload.insert(
            "headers".into(),
            serde_json::to_value(&request.headers).unwrap_or_default(),
        );
        match std::str::from_utf8(&request.body) {
            Ok(text) => payload.insert("body".into(), text.into()),
            Err(_) => payload.insert("body_base64".into(), BASE64.encode(&request.body).into()),
        };
        let mut metadata = serde_json::Map::new();
        metadata.insert("source".into(), self.id.to_string().into());
        NewJob {
            tenant: self.tenant.clone(),
            job_type: self.job_type.clone(),
            payload: serde_json::Value::Object(payload),
            timeout: limits.default_timeout,
            max_attempts: limits.default_max_attempts,
            metadata,
            idempotency_key: request
                .dedupe_key
                .as_deref()
                .map(|key| IdempotencyKey::of_event(&self.id, key)),
            webhook: None,
        }
    }

    /// A dedupe key as the request log shows it: cut to a bounded length.
    pub fn shown_key(key: &str) -> String {
        key.chars().take(MAX_DEDUPE_KEY_CHARS).collect()
    }
}

/// A request as the ingest endpoint received it, before it is verified.
#[derive(Debug, Clone)]
pub struct Received {
    pub received_at: DateTime<Utc>,
    pub method: String,
    pub headers: Headers,
    pub body: bytes::Bytes,
    /// What the source's dedupe rule found in it.
    pub dedupe_key: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(value: serde_json::Value) -> SourceRequest {
        serde_json::from_value(value).unwrap()
    }

    fn created(value: serde_json::Value) -> Source {
        Source::create(TenantId::default_tenant(), request(value), Utc::now()).unwrap()
    }

    fn refused(value: serde_json::Value) -> Vec<String> {
        Source::create(TenantId::default_tenant(), request(value), Utc::now())
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn a_source_takes_its_schemes_defaults() {
        let stripe = created(json!({
            "name": "stripe-live", "job_type": "stripe.event",
            "verify": {"scheme": "stripe", "secret": "whsec_abc"},
        }));
        assert_eq!(stripe.verify, Verify::Stripe { tolerance_s: 300 });
        assert_eq!(stripe.dedupe, Some(Dedupe::JsonPointer("/id".into())));
        assert_eq!(stripe.response_status, 202);
        assert_eq!(stripe.secret.as_ref().unwrap().expose(), "whsec_abc");
        assert!(stripe.token.len() >= 43);
        let github = created(json!({
            "name": "gh", "job_type": "gh.push", "verify": {"scheme": "github"},
            "response": {"status": 204},
        }));
        assert_eq!(github.secret.as_ref().unwrap().expose().len(), 64);
        assert_eq!(
            github.dedupe,
            Some(Dedupe::Header("x-github-delivery".into()))
        );
        assert_eq!(github.response_status, 204);
        let standard = created(json!({
            "name": "sw", "job_type": "sw.event", "verify": {"scheme": "standard-webhooks"},
            "dedupe": {"header": "X-Event-Id"},
        }));
        assert!(
            standard
                .secret
                .as_ref()
                .unwrap()
                .expose()
                .starts_with("whsec_")
        );
        assert_eq!(standard.dedupe, Some(Dedupe::Header("x-event-id".into())));
        assert_ne!(standard.token, github.token);
    }

    #[test]
    fn a_bad_source_is_refused_naming_every_field() {
        assert_eq!(refused(json!({})), ["name", "job_type", "verify"]);
        assert_eq!(
            refused(json!({"name": "s", "job_type": "t",
                "verify": {"scheme": "stripe", "secret": ""}})),
            ["verify.secret"]
        );
        assert_eq!(
            refused(json!({"name": "s", "job_type": "t", "verify": {"scheme": "rot13"}})),
            ["verify.scheme"]
        );
        assert_eq!(
            refused(
                json!({"name": "s", "job_type": "t", "verify": {"scheme": "hmac"},
                "response": {"status": 500}, "dedupe": {"cookie": "x"}})
            ),
            ["verify.header", "dedupe", "response.status"]
        );
        assert_eq!(
            refused(json!({"name": "s", "job_type": "t",
                "verify": {"scheme": "github", "tolerance_s": 5}})),
            ["verify.tolerance_s"]
        );
        assert_eq!(
            refused(json!({"name": "s", "job_type": "t",
                "verify": {"scheme": "basic", "password": "p"}})),
            ["verify.username"]
        );
    }

    #[test]
    fn a_patch_changes_parameters_but_not_the_scheme_or_secret() {
        let source = created(json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "stripe", "secret": "whsec_x"},
        }));
        let patched = source
            .patched(
                request(json!({"name": "renamed", "verify": {"tolerance_s": 60}})),
                Utc::now(),
            )
            .unwrap();
        assert_eq!(patched.verify, Verify::Stripe { tolerance_s: 60 });
        assert_eq!((patched.name.as_str(), patched.version), ("renamed", 2));
        assert_eq!(patched.token, source.token);
        let errors = source
            .patched(
                request(json!({"verify": {"scheme": "github", "secret": "s"}})),
                Utc::now(),
            )
            .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["verify.secret", "verify.scheme"]);
    }

    #[test]
    fn a_patch_of_verify_keeps_the_parameters_it_leaves_out() {
        let source = created(json!({
            "name": "s", "job_type": "t",
            "verify": {"scheme": "hmac", "header": "x-sig", "algorithm": "sha512",
                "encoding": "base64", "prefix": "v1="},
        }));
        let patched = source
            .patched(request(json!({"verify": {"prefix": "v2="}})), Utc::now())
            .unwrap();
        assert_eq!(
            patched.verify,
            Verify::Hmac {
                header: "x-sig".into(),
                algorithm: Algorithm::Sha512,
                encoding: Encoding::Base64,
                prefix: "v2=".into(),
            }
        );
        assert!(!format!("{source:?}").contains(&source.token));
    }

    #[test]
    fn credentials_are_no_dedupe_key() {
        assert_eq!(
            refused(
                json!({"name": "s", "job_type": "t", "verify": {"scheme": "github"},
                "dedupe": {"header": "Authorization"}})
            ),
            ["dedupe.header"]
        );
    }

    #[test]
    fn a_patch_with_a_null_dedupe_goes_back_to_the_schemes_default() {
        let source = created(json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "github"},
            "dedupe": {"header": "x-request-id"},
        }));
        let kept = source
            .patched(request(json!({"name": "n"})), Utc::now())
            .unwrap();
        assert_eq!(kept.dedupe, source.dedupe);
        let reset = source
            .patched(request(json!({"dedupe": null})), Utc::now())
            .unwrap();
        assert_eq!(
            reset.dedupe,
            Some(Dedupe::Header("x-github-delivery".into()))
        );
    }

    #[test]
    fn a_rotated_secret_is_accepted_until_its_grace_ends() {
        let now = Utc::now();
        let source = created(json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "github", "secret": "old"},
        }));
        let rotated = source.rotated(
            WebhookSecret::parse("new").unwrap(),
            Duration::from_secs(60),
            now,
        );
        assert_eq!(rotated.secrets(now), ["new", "old"]);
        assert_eq!(
            rotated.secrets(now + chrono::TimeDelta::seconds(61)),
            ["new"]
        );
    }

    #[test]
    fn the_dedupe_key_comes_from_a_header_or_the_body() {
        let stripe = created(json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "stripe", "secret": "x"},
        }));
        let headers = Headers::new();
        assert_eq!(
            stripe.dedupe_key(&headers, br#"{"id": "evt_1", "type": "charge.succeeded"}"#),
            Some("evt_1".into())
        );
        assert_eq!(stripe.dedupe_key(&headers, b"not json"), None);
        let numbered = created(json!({
            "name": "s", "job_type": "t", "verify": {"scheme": "none"},
            "dedupe": {"json_pointer": "/event/n"},
        }));
        assert_eq!(
            numbered.dedupe_key(&headers, br#"{"event": {"n": 42}}"#),
            Some("42".into())
        );
        let github = created(json!({"name": "g", "job_type": "t", "verify": {"scheme": "github"}}));
        let headers = Headers::from([("x-github-delivery".to_owned(), " d-1 ".to_owned())]);
        assert_eq!(github.dedupe_key(&headers, b""), Some("d-1".into()));
    }

    #[test]
    fn a_capture_keeps_the_body_byte_for_byte() {
        let source = created(json!({"name": "s", "job_type": "t", "verify": {"scheme": "none"}}));
        let received = |body: &'static [u8]| Received {
            received_at: Utc::now(),
            method: "POST".into(),
            headers: Headers::from([("content-type".to_owned(), "text/plain".to_owned())]),
            body: bytes::Bytes::from_static(body),
            dedupe_key: Some("k".into()),
        };
        let text = source.capture(&received("héllo".as_bytes()), &JobLimits::default());
        assert_eq!(text.payload["body"], "héllo");
        assert_eq!(text.payload["headers"]["content-type"], "text/plain");
        assert!(text.idempotency_key.unwrap().names_event());
        let binary = source.capture(&received(&[0xff, 0x00, 0xfe]), &JobLimits::default());
        assert_eq!(binary.payload["body_base64"], "/wD+");
        assert!(binary.payload.get("body").is_none());
    }
}
