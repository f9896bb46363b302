//! Browser read tokens: short-lived, job-scoped, signed credentials that a job resource's
//! `links.self`, `links.events` and `links.result` carry as `?token=…`, so a browser's
//! `EventSource` (which cannot send headers) and plain polling work without the API key.
//!
//! A token is `v2.<payload>.<signature>`, both parts base64url without padding. The payload
//! is `<signing key id>.<expiry, Unix seconds>.<job id>.<API key id>.<tenant>` (the tenant
//! last: it may itself hold dots); the signature is HMAC-SHA256 over `v2.<payload as sent>`
//! with the signing secret. Nothing in it is secret — it names the job and tenant the holder
//! may read, and the API key whose answer carried it — but nothing in it can be changed
//! without the secret, so a token can neither be widened to another job or tenant nor kept
//! past its expiry.
//!
//! The API key id ties the token to the key that minted it: [`crate::http::auth`] refuses the token
//! once that key is revoked, and the streams and long polls it opened end with the key. A
//! token without a key (the field empty) verifies as one that no revocation ends, so none is
//! minted: only answers to a key, or to a token of one, carry tokens. Tokens of the
//! first format (`v1.`, which named no key) are refused as outdated: honouring them would let
//! a token outlive the revocation of its key; they expired within a token lifetime anyway.
//!
//! Rotation: tokens are signed with the current secret only, and verified against it and the
//! previous one. Deploy the new secret as current with the old one as previous; tokens issued
//! under the old secret stay valid until they expire (at most one token lifetime), after which
//! the previous secret can be dropped. The key id in the payload picks the secret, so a token
//! is checked against one secret only.
//!
//! Which routes a token opens is [`crate::http::auth`]'s business; this module only makes and checks
//! tokens, with no HTTP.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use herald_core::apikey::ApiKeyId;
use herald_core::{JobId, TenantId};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The token format's version, its first field.
const VERSION: &str = "v2";
/// The version of tokens that named no API key, refused since.
const OUTDATED_VERSION: &str = "v1";

/// The shortest signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The longest token lifetime allowed: a leaked link should not read a job for days.
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// The default token lifetime.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A secret that signs read tokens. Its `Debug` never shows it.
#[derive(Clone)]
pub struct TokenSecret {
    bytes: Vec<u8>,
    /// A short public name of the secret (a prefix of its SHA-256), carried by each token so
    /// verification knows which secret to use.
    id: String,
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSecret")
            .field("id", &self.id)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// A signing secret that is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a token secret must be at least {MIN_SECRET_BYTES} bytes (make one with `openssl rand -base64 48`)"
)]
pub struct SecretTooShort;

impl TokenSecret {
    /// The secret of these bytes (the UTF-8 of the configured string).
    ///
    /// # Errors
    /// [`SecretTooShort`] under [`MIN_SECRET_BYTES`]. The error never repeats the secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretTooShort> {
        let bytes = bytes.into();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(SecretTooShort);
        }
        let digest = Sha256::digest(&bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self { bytes, id })
    }

    /// A fresh random secret (48 bytes): for a development process started without one.
    pub fn generate() -> Self {
        let bytes = herald_core::random::bytes::<48>().to_vec();
        let digest = Sha256::digest(&bytes);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { bytes, id }
    }

    /// The secret's public id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The HMAC of `message` under this secret.
    fn mac(&self, message: &[u8]) -> HmacSha256 {
        // `Mac::new_from_slice` never fails for HMAC but is typed as fallible; RFC 2104's key
        // preparation (hash a key longer than the block, zero-pad the rest) gives the same MAC
        // through the infallible `KeyInit::new`.
        let mut block = hmac::digest::Key::<HmacSha256>::default();
        if self.bytes.len() > block.len() {
            let digest = Sha256::digest(&self.bytes);
            block[..digest.len()].copy_from_slice(&digest);
        } else {
            block[..self.bytes.len()].copy_from_slice(&self.bytes);
        }
        let mut mac = <HmacSha256 as KeyInit>::new(&block);
        mac.update(message);
        mac
    }
}

/// What a valid token grants: reading one job of one tenant, for as long as the key that
/// minted it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGrant {
    pub tenant: TenantId,
    pub job: JobId,
    /// The API key whose answer carried the token; `None` only for a token signed without one,
    /// which Herald never mints.
    pub key: Option<ApiKeyId>,
    /// When the token expires (Unix seconds).
    pub expires: i64,
}

/// Why a token is refused. The messages are safe to show: they never repeat the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is of an outdated format")]
    Outdated,
}

/// The secrets and lifetime of read tokens: signs with `current`, verifies with `current`
/// and `previous`.
#[derive(Debug, Clone)]
pub struct ReadTokens {
    pub current: TokenSecret,
    /// The secret before the last rotation: its tokens verify until they expire.
    pub previous: Option<TokenSecret>,
    /// How long a token is valid; at most [`MAX_TOKEN_TTL`].
    pub ttl: Duration,
}

impl Default for ReadTokens {
    /// A random secret of this process only, with the default lifetime.
    fn default() -> Self {
        Self {
            current: TokenSecret::generate(),
            previous: None,
            ttl: DEFAULT_TOKEN_TTL,
        }
    }
}

impl ReadTokens {
    /// A token letting its holder read `job` of `tenant` until `now + ttl` (Unix seconds), or
    /// until `key` (the API key of the request it answers) is revoked.
    pub fn issue(
        &self,
        tenant: &TenantId,
        job: &JobId,
        key: Option<&ApiKeyId>,
        now: i64,
    ) -> String {
        let ttl = i64::try_from(self.ttl.min(MAX_TOKEN_TTL).as_secs()).unwrap_or(0);
        self.issue_until(tenant, job, key, now.saturating_add(ttl))
    }

    /// A token for `job` of `tenant`, minted by `key`, expiring at `expires` (Unix seconds):
    /// how an answer to a request made with a token carries it on without extending its life.
    pub fn issue_until(
        &self,
        tenant: &TenantId,
        job: &JobId,
        key: Option<&ApiKeyId>,
        expires: i64,
    ) -> String {
        sign(&self.current, tenant, job, key, expires)
    }

    /// What `token` grants at `now` (Unix seconds).
    ///
    /// # Errors
    /// [`TokenError`]: malformed, of the outdated format, signed with a secret neither
    /// current nor previous or tampered with, or expired. (Whether its key still exists is
    /// the caller's to check.)
    pub fn verify(&self, token: &str, now: i64) -> Result<ReadGrant, TokenError> {
        let mut parts = token.split('.');
        let (Some(version), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        match version {
            VERSION => {}
            OUTDATED_VERSION => return Err(TokenError::Outdated),
            _ => return Err(TokenError::Malformed),
        }
        let payload = BASE64URL
            .decode(payload_b64)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or(TokenError::Malformed)?;
        let signature = BASE64URL
            .decode(sig_b64)
            .map_err(|_| TokenError::Malformed)?;
        let mut fields = payload.splitn(5, '.');
        let (Some(key_id), Some(expires), Some(job), Some(api_key), Some(tenant)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(TokenError::Malformed);
        };
        let secret = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|secret| secret.id() == key_id)
            .ok_or(TokenError::BadSignature)?;
        secret
            .mac(signed_part(payload_b64).as_bytes())
            .verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        // Signed by us: the fields are ours, but parse them all the same.
        let expires: i64 = expires.parse().map_err(|_| TokenError::Malformed)?;
        let job = JobId::parse(job).map_err(|_| TokenError::Malformed)?;
        let tenant = TenantId::parse(tenant).map_err(|_| TokenError::Malformed)?;
        let key = match api_key {
            "" => None,
            id => Some(ApiKeyId::parse(id).map_err(|_| TokenError::Malformed)?),
        };
        if now >= expires {
            return Err(TokenError::Expired);
        }
        Ok(ReadGrant {
            tenant,
            job,
            key,
            expires,
        })
    }
}

/// What the signature covers: the version and the payload as sent.
fn signed_part(payload_b64: &str) -> String {
    format!("{VERSION}.{payload_b64}")
}

/// A token for `job` of `tenant`, minted by `key`, expiring at `expires`, signed with `secret`.
fn sign(
    secret: &TokenSecret,
    tenant: &TenantId,
    job: &JobId,
    key: Option<&ApiKeyId>,
    expires: i64,
) -> String {
    let key = key.map_or("", ApiKeyId::as_str);
    let payload = format!("{}.{expires}.{job}.{key}.{}", secret.id(), tenant.as_str());
    let payload_b64 = BASE64URL.encode(payload);
    let signed = signed_part(&payload_b64);
    let signature = BASE64URL.encode(secret.mac(signed.as_bytes()).finalize().into_bytes());
    format!("{signed}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn secret(fill: u8) -> TokenSecret {
        TokenSecret::new(vec![fill; 40]).unwrap()
    }

    fn tokens(current: u8, previous: Option<u8>) -> ReadTokens {
        ReadTokens {
            current: secret(current),
            previous: previous.map(secret),
            ttl: Duration::from_secs(60),
        }
    }

    fn acme() -> TenantId {
        TenantId::parse("acme.eu:prod").unwrap()
    }

    proptest::proptest! {
        #![proptest_config(herald_testkit::props::config(256))]

        /// Whatever arrives as `?token=` is refused with an error, never a panic, unless it
        /// is a token this server signed.
        #[test]
        fn any_string_is_refused_without_a_panic(raw in ".{0,200}") {
            let tokens = tokens(1, None);
            proptest::prop_assert!(tokens.verify(&raw, NOW).is_err());
        }

        /// Tokens made of the right parts but random bytes are refused too.
        #[test]
        fn random_parts_are_refused(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120),
            signature in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let tokens = tokens(1, None);
            let raw = format!("v2.{}.{}", BASE64URL.encode(payload), BASE64URL.encode(signature));
            proptest::prop_assert!(tokens.verify(&raw, NOW).is_err());
        }

        /// Every issued token verifies for exactly its tenant, job and key until it expires.
        #[test]
        fn issued_tokens_round_trip(
            tenant in "[a-z0-9][a-z0-9._:-]{0,40}",
            lifetime in 1i64..86_400,
            with_key in proptest::prelude::any::<bool>(),
        ) {
            let tenant = TenantId::parse(&tenant).unwrap();
            let job = JobId::generate();
            let key = with_key.then(ApiKeyId::generate);
            let tokens = tokens(1, None);
            let token = tokens.issue_until(&tenant, &job, key.as_ref(), NOW + lifetime);
            let grant = tokens.verify(&token, NOW).unwrap();
            proptest::prop_assert_eq!(&grant.tenant, &tenant);
            proptest::prop_assert_eq!(grant.job, job);
            proptest::prop_assert_eq!(grant.key, key);
            proptest::prop_assert_eq!(tokens.verify(&token, NOW + lifetime), Err(TokenError::Expired));
        }
    }

    #[test]
    fn a_token_grants_reading_its_job_of_its_tenant_until_it_expires() {
        let tokens = tokens(1, None);
        let job = JobId::generate();
        let key = ApiKeyId::generate();
        let token = tokens.issue(&acme(), &job, Some(&key), NOW);
        assert!(token.starts_with("v2."), "{token}");
        assert!(!token.contains('='), "no padding: {token}");
        let grant = tokens.verify(&token, NOW + 59).unwrap();
        assert_eq!(
            grant,
            ReadGrant {
                tenant: acme(),
                job,
                key: Some(key),
                expires: NOW + 60
            }
        );
        assert_eq!(tokens.verify(&token, NOW + 60), Err(TokenError::Expired));
    }

    #[test]
    fn a_changed_payload_or_signature_is_refused() {
        let tokens = tokens(1, None);
        let job = JobId::generate();
        let key = ApiKeyId::generate();
        let token = tokens.issue(&acme(), &job, Some(&key), NOW);
        let [version, payload, signature]: [&str; 3] =
            token.split('.').collect::<Vec<_>>().try_into().unwrap();
        // Another job, another tenant, a later expiry: re-encoded with the old signature.
        let decoded = String::from_utf8(BASE64URL.decode(payload).unwrap()).unwrap();
        let other = JobId::generate();
        for forged in [
            decoded.replace(&job.to_string(), &other.to_string()),
            decoded.replace("acme.eu:prod", "beta"),
            decoded.replace(&(NOW + 60).to_string(), &(NOW + 6000).to_string()),
            // Another key, or none: a token cannot be moved off the key that minted it.
            decoded.replace(key.as_str(), ApiKeyId::generate().as_str()),
            decoded.replace(key.as_str(), ""),
        ] {
            assert_ne!(forged, decoded);
            let forged = format!("{version}.{}.{signature}", BASE64URL.encode(forged));
            assert_eq!(
                tokens.verify(&forged, NOW),
                Err(TokenError::BadSignature),
                "{forged}"
            );
        }
        let mut bad_sig = BASE64URL.decode(signature).unwrap();
        bad_sig[0] ^= 1;
        let tampered = format!("{version}.{payload}.{}", BASE64URL.encode(bad_sig));
        assert_eq!(tokens.verify(&tampered, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let tokens = tokens(1, None);
        let token = tokens.issue(&acme(), &JobId::generate(), None, NOW);
        for bad in [
            "",
            "v2",
            "v2..",
            "v3.a.b",
            "v2.!!!.abc",
            &format!("{token}.extra"),
            &token.replacen("v2.", "v3.", 1),
        ] {
            assert_eq!(tokens.verify(bad, NOW), Err(TokenError::Malformed), "{bad}");
        }
    }

    #[test]
    fn tokens_of_the_format_that_named_no_key_are_refused_as_outdated() {
        let tokens = tokens(1, None);
        let job = JobId::generate();
        // A first-format token, correctly signed: `v1.` and no key id in the payload.
        let payload = format!("{}.{}.{job}.acme", tokens.current.id(), NOW + 60);
        let payload_b64 = BASE64URL.encode(payload);
        let signed = format!("v1.{payload_b64}");
        let signature = BASE64URL.encode(
            tokens
                .current
                .mac(signed.as_bytes())
                .finalize()
                .into_bytes(),
        );
        let old = format!("{signed}.{signature}");
        assert_eq!(tokens.verify(&old, NOW), Err(TokenError::Outdated));
    }

    #[test]
    fn after_a_rotation_the_previous_secrets_tokens_verify_and_unknown_ones_do_not() {
        let job = JobId::generate();
        let before = tokens(1, None).issue(&acme(), &job, None, NOW);
        let rotated = tokens(2, Some(1));
        assert_eq!(rotated.verify(&before, NOW).unwrap().job, job);
        let fresh = rotated.issue(&acme(), &job, None, NOW);
        assert_eq!(tokens(2, None).verify(&fresh, NOW).unwrap().job, job);
        let stranger = tokens(3, None).issue(&acme(), &job, None, NOW);
        assert_eq!(
            rotated.verify(&stranger, NOW),
            Err(TokenError::BadSignature)
        );
        // Once the previous secret is dropped, its tokens stop working.
        assert_eq!(
            tokens(2, None).verify(&before, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn short_secrets_are_refused_and_secrets_are_not_printed() {
        assert_eq!(TokenSecret::new(vec![7u8; 31]).unwrap_err(), SecretTooShort);
        let secret = TokenSecret::new("a-secret-of-at-least-32-bytes-long!!").unwrap();
        assert!(!format!("{secret:?}").contains("a-secret"));
        assert_ne!(TokenSecret::generate().id(), TokenSecret::generate().id());
    }

    #[test]
    fn the_lifetime_is_capped() {
        let mut tokens = tokens(1, None);
        tokens.ttl = Duration::from_secs(10 * 24 * 3600);
        let job = JobId::generate();
        let grant = tokens
            .verify(&tokens.issue(&acme(), &job, None, NOW), NOW)
            .unwrap();
        assert_eq!(grant.expires, NOW + 24 * 3600);
    }
}
