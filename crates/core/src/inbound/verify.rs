//! Signature verification for inbound webhook requests.
//!
//! Each function checks one provider's scheme (Stripe, GitHub, Shopify, Standard Webhooks, a
//! generic HMAC header, or HTTP Basic auth) against the raw body bytes and the request's headers.
//! They are pure: no I/O, the clock is passed in. Signatures are decoded first and then compared
//! with the expected MAC in constant time. A secret list holds the current secret and, during a
//! rotation's overlap, the previous one; a request is verified if any secret matches any of the
//! signatures it carries. The MAC is computed once per secret, and at most 16 listed signatures
//! are considered, so a hostile header cannot make the work unbounded.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};

/// Lower-case header name → value.
pub type Headers = BTreeMap<String, String>;

/// How many signatures of one header's list are considered; the rest are ignored.
const MAX_SIGNATURES: usize = 16;

/// Why a request was not verified: a short reason recorded with the rejected request and
/// shown in the 401 problem's detail, e.g. "missing header x-hub-signature-256",
/// "the signature does not match", "the timestamp is 412 s in the past (tolerance 300 s)".
/// It never contains a secret or an expected signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

/// The hash function of an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Algorithm {
    /// HMAC-SHA1.
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Encoding {
    /// Hexadecimal, in either case.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

const STANDARD_WEBHOOKS_ID: &str = "webhook-id";
const STANDARD_WEBHOOKS_TIMESTAMP: &str = "webhook-timestamp";
const STANDARD_WEBHOOKS_SIGNATURE: &str = "webhook-signature";
const STANDARD_WEBHOOKS_SECRET_PREFIX: &str = "whsec_";
const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
const GITHUB_PREFIX: &str = "sha256=";
const STRIPE_SIGNATURE: &str = "stripe-signature";
const SHOPIFY_SIGNATURE: &str = "x-shopify-hmac-sha256";
const AUTHORIZATION: &str = "authorization";

/// Standard Webhooks: headers `webhook-id`, `webhook-timestamp` (Unix seconds),
/// `webhook-signature` (space-separated list of `v1,<base64 HMAC-SHA256>`; entries with other
/// version prefixes are ignored). Signed content: `{id}.{timestamp}.{body}`. The key: a secret
/// `whsec_<base64>` signs with the base64-decoded bytes after the prefix; any other secret
/// (or a whsec_ whose rest is not valid base64) with its UTF-8 bytes. Timestamp must be within
/// `tolerance` of `now` in either direction.
pub fn standard_webhooks(
    secrets: &[&str],
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), Rejected> {
    require_secrets(secrets)?;
    let id = header(headers, STANDARD_WEBHOOKS_ID)?;
    let timestamp_text = header(headers, STANDARD_WEBHOOKS_TIMESTAMP)?;
    let signature_list = header(headers, STANDARD_WEBHOOKS_SIGNATURE)?;

    let timestamp = parse_unix_seconds(timestamp_text)
        .ok_or_else(|| malformed(STANDARD_WEBHOOKS_TIMESTAMP, "not a Unix time in seconds"))?;
    let mut versioned = 0;
    let mut signatures = Vec::new();
    for entry in signature_list.split_ascii_whitespace().take(MAX_SIGNATURES) {
        if let Some(encoded) = entry.strip_prefix("v1,") {
            versioned += 1;
            if let Ok(signature) = BASE64.decode(encoded) {
                signatures.push(signature);
            }
        }
    }
    if versioned == 0 {
        return Err(malformed(STANDARD_WEBHOOKS_SIGNATURE, "no v1 signature"));
    }
    check_timestamp(timestamp, now, tolerance)?;

    verify_any(secrets, &signatures, |secret| {
        let key = standard_webhooks_key(secret);
        compute_mac(
            Algorithm::Sha256,
            &key,
            &[id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body],
        )
    })
}

/// GitHub: `x-hub-signature-256: sha256=<hex HMAC-SHA256 of the body>`, key = the secret's UTF-8 bytes.
pub fn github(secrets: &[&str], headers: &Headers, body: &[u8]) -> Result<(), Rejected> {
    require_secrets(secrets)?;
    let value = header(headers, GITHUB_SIGNATURE)?;
    let signature = value
        .strip_prefix(GITHUB_PREFIX)
        .and_then(decode_hex)
        .ok_or_else(|| malformed(GITHUB_SIGNATURE, "expected sha256=<hex>"))?;
    verify_any(secrets, &[signature], |secret| {
        compute_mac(Algorithm::Sha256, secret.as_bytes(), &[body])
    })
}

/// Stripe: `stripe-signature: t=<unix>,v1=<hex>,v1=<hex>,v0=...` (any order, several v1 allowed,
/// other schemes ignored). Signed payload: `{t}.{body}`, HMAC-SHA256, key = the secret's UTF-8
/// bytes as is (Stripe's `whsec_...` is used raw, not base64-decoded). `t` must be within
/// `tolerance` of `now`, both in the past and in the future.
pub fn stripe(
    secrets: &[&str],
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), Rejected> {
    require_secrets(secrets)?;
    let value = header(headers, STRIPE_SIGNATURE)?;

    let mut timestamp_text = None;
    let mut versioned = 0;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let Some((scheme, content)) = item.trim().split_once('=') else {
            continue;
        };
        match scheme {
            "t" => timestamp_text = Some(content),
            "v1" if versioned < MAX_SIGNATURES => {
                versioned += 1;
                if let Some(signature) = decode_hex(content) {
                    signatures.push(signature);
                }
            }
            _ => {}
        }
    }
    let timestamp_text =
        timestamp_text.ok_or_else(|| malformed(STRIPE_SIGNATURE, "no timestamp t="))?;
    let timestamp = parse_unix_seconds(timestamp_text)
        .ok_or_else(|| malformed(STRIPE_SIGNATURE, "t= is not a Unix time in seconds"))?;
    if versioned == 0 {
        return Err(malformed(STRIPE_SIGNATURE, "no v1 signature"));
    }
    check_timestamp(timestamp, now, tolerance)?;

    verify_any(secrets, &signatures, |secret| {
        compute_mac(
            Algorithm::Sha256,
            secret.as_bytes(),
            &[timestamp_text.as_bytes(), b".", body],
        )
    })
}

/// Shopify: `x-shopify-hmac-sha256: <base64 HMAC-SHA256 of the body>`, key = the secret's UTF-8 bytes.
pub fn shopify(secrets: &[&str], headers: &Headers, body: &[u8]) -> Result<(), Rejected> {
    require_secrets(secrets)?;
    let value = header(headers, SHOPIFY_SIGNATURE)?;
    let signature = BASE64
        .decode(value)
        .map_err(|_| malformed(SHOPIFY_SIGNATURE, "not base64"))?;
    verify_any(secrets, &[signature], |secret| {
        compute_mac(Algorithm::Sha256, secret.as_bytes(), &[body])
    })
}

/// Generic HMAC: the header `header` (given in any case; looked up lower-cased) holds
/// `prefix` followed by the HMAC of the body with `algorithm`, encoded with `encoding`
/// (hex accepted in either case). Key = the secret's UTF-8 bytes.
pub fn hmac(
    secrets: &[&str],
    headers: &Headers,
    body: &[u8],
    header: &str,
    algorithm: Algorithm,
    encoding: Encoding,
    prefix: &str,
) -> Result<(), Rejected> {
    require_secrets(secrets)?;
    let name = header.to_ascii_lowercase();
    let value = self::header(headers, &name)?;
    let encoded = value
        .strip_prefix(prefix)
        .ok_or_else(|| malformed(&name, &format!("expected the prefix {prefix:?}")))?;
    let signature = match encoding {
        Encoding::Hex => decode_hex(encoded).ok_or_else(|| malformed(&name, "not hex")),
        Encoding::Base64 => BASE64
            .decode(encoded)
            .map_err(|_| malformed(&name, "not base64")),
    }?;
    verify_any(secrets, &[signature], |secret| {
        compute_mac(algorithm, secret.as_bytes(), &[body])
    })
}

/// HTTP Basic: `authorization: Basic <base64(username:password)>` (scheme word case-insensitive);
/// username and password compared in constant time; any of `passwords` matches.
pub fn basic(username: &str, passwords: &[&str], headers: &Headers) -> Result<(), Rejected> {
    if passwords.is_empty() {
        return Err(Rejected("no password is configured".to_owned()));
    }
    let value = header(headers, AUTHORIZATION)?;
    let (scheme, credentials) = value
        .split_once(' ')
        .ok_or_else(|| malformed(AUTHORIZATION, "expected Basic credentials"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed(AUTHORIZATION, "expected Basic credentials"));
    }
    let decoded = BASE64
        .decode(credentials.trim())
        .map_err(|_| malformed(AUTHORIZATION, "the credentials are not base64"))?;
    let colon = decoded
        .iter()
        .position(|&byte| byte == b':')
        .ok_or_else(|| malformed(AUTHORIZATION, "the credentials have no ':'"))?;
    let (given_username, given_password) = (&decoded[..colon], &decoded[colon + 1..]);

    let username_matches = digest_eq(given_username, username.as_bytes());
    let password_matches = passwords.iter().fold(Choice::from(0), |matched, password| {
        matched | digest_eq(given_password, password.as_bytes())
    });
    if bool::from(username_matches & password_matches) {
        Ok(())
    } else {
        Err(Rejected(
            "the username or password does not match".to_owned(),
        ))
    }
}

fn require_secrets(secrets: &[&str]) -> Result<(), Rejected> {
    if secrets.is_empty() {
        Err(Rejected("no secret is configured".to_owned()))
    } else {
        Ok(())
    }
}

/// The trimmed value of header `name`, which must be lower-case.
fn header<'a>(headers: &'a Headers, name: &str) -> Result<&'a str, Rejected> {
    headers
        .get(name)
        .map(|value| value.trim())
        .ok_or_else(|| Rejected(format!("missing header {name}")))
}

fn malformed(name: &str, why: &str) -> Rejected {
    Rejected(format!("malformed header {name}: {why}"))
}

fn no_match() -> Rejected {
    Rejected("the signature does not match".to_owned())
}

/// Ok if the MAC `sign` computes for any secret equals any of `signatures`. Each secret's MAC
/// is computed once and compared in constant time.
fn verify_any(
    secrets: &[&str],
    signatures: &[Vec<u8>],
    sign: impl Fn(&str) -> Vec<u8>,
) -> Result<(), Rejected> {
    let matched = secrets.iter().any(|secret| {
        let expected = sign(secret);
        signatures
            .iter()
            .any(|signature| bool::from(expected.as_slice().ct_eq(signature.as_slice())))
    });
    if matched { Ok(()) } else { Err(no_match()) }
}

fn compute_mac(algorithm: Algorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algorithm {
        Algorithm::Sha1 => mac_of::<Hmac<Sha1>>(key, parts),
        Algorithm::Sha256 => mac_of::<Hmac<Sha256>>(key, parts),
        Algorithm::Sha512 => mac_of::<Hmac<Sha512>>(key, parts),
    }
}

fn mac_of<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The key of a Standard Webhooks secret: the base64-decoded rest of a `whsec_` secret, or
/// else the secret's UTF-8 bytes.
fn standard_webhooks_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(STANDARD_WEBHOOKS_SECRET_PREFIX)
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// Compares two byte strings in constant time, hiding their lengths too by comparing digests.
fn digest_eq(given: &[u8], expected: &[u8]) -> Choice {
    Sha256::digest(given).ct_eq(&Sha256::digest(expected))
}

/// Decimal Unix seconds: ASCII digits only, no sign.
fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn check_timestamp(
    timestamp: i64,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), Rejected> {
    let age = i128::from(now.timestamp()) - i128::from(timestamp);
    let distance = age.unsigned_abs();
    let allowed = tolerance.as_secs();
    if distance <= u128::from(allowed) {
        return Ok(());
    }
    let direction = if age > 0 {
        "in the past"
    } else {
        "in the future"
    };
    Err(Rejected(format!(
        "the timestamp is {distance} s {direction} (tolerance {allowed} s)"
    )))
}

/// Decodes hex in either case; `None` if empty, of odd length or not hex.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((hex_digit(pair[0])? << 4) | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TOLERANCE: Duration = Duration::from_secs(300);

    fn header_map(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn at(unix: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(unix, 0).unwrap()
    }

    fn to_hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn reason(result: Result<(), Rejected>) -> String {
        result.unwrap_err().0
    }

    // Standard Webhooks

    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TIMESTAMP: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn sw_headers(timestamp: i64, signature: &str) -> Headers {
        header_map(&[
            ("webhook-id", SW_ID),
            ("webhook-timestamp", &timestamp.to_string()),
            ("webhook-signature", signature),
        ])
    }

    fn sw_sign(secret_key: &[u8], timestamp: i64, body: &[u8]) -> String {
        let mut content = format!("{SW_ID}.{timestamp}.").into_bytes();
        content.extend_from_slice(body);
        format!("v1,{}", BASE64.encode(hmac_sha256(secret_key, &content)))
    }

    fn sw_verify(secrets: &[&str], headers: &Headers, body: &[u8]) -> Result<(), Rejected> {
        standard_webhooks(secrets, headers, body, at(SW_TIMESTAMP), TOLERANCE)
    }

    #[test]
    fn standard_webhooks_accepts_the_published_vector() {
        let headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        assert_eq!(sw_verify(&[SW_SECRET], &headers, SW_BODY), Ok(()));
    }

    #[test]
    fn standard_webhooks_accepts_a_computed_signature() {
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = sw_sign(&key, SW_TIMESTAMP, b"other body");
        assert_eq!(signature.len(), SW_SIGNATURE.len());
        let headers = sw_headers(SW_TIMESTAMP, &signature);
        assert_eq!(sw_verify(&[SW_SECRET], &headers, b"other body"), Ok(()));
    }

    #[test]
    fn standard_webhooks_uses_a_plain_secret_as_utf8_bytes() {
        let signature = sw_sign(b"plain-secret", SW_TIMESTAMP, SW_BODY);
        let headers = sw_headers(SW_TIMESTAMP, &signature);
        assert_eq!(sw_verify(&["plain-secret"], &headers, SW_BODY), Ok(()));

        let signature = sw_sign(b"whsec_not base64!", SW_TIMESTAMP, SW_BODY);
        let headers = sw_headers(SW_TIMESTAMP, &signature);
        assert_eq!(sw_verify(&["whsec_not base64!"], &headers, SW_BODY), Ok(()));
    }

    #[test]
    fn standard_webhooks_rejects_a_wrong_secret_and_a_tampered_body() {
        let headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        let wrong = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(
            reason(sw_verify(&[wrong], &headers, SW_BODY)),
            "the signature does not match"
        );
        assert_eq!(
            reason(sw_verify(
                &[SW_SECRET],
                &headers,
                br#"{"test": 2432232315}"#
            )),
            "the signature does not match"
        );
    }

    #[test]
    fn standard_webhooks_signs_the_id_and_timestamp() {
        let mut headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        headers.insert("webhook-id".into(), "msg_other".into());
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "the signature does not match"
        );
        let headers = sw_headers(SW_TIMESTAMP + 1, SW_SIGNATURE);
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn standard_webhooks_names_a_missing_header() {
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
            headers.remove(name);
            assert_eq!(
                reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
                format!("missing header {name}")
            );
        }
    }

    #[test]
    fn standard_webhooks_rejects_malformed_headers() {
        let mut headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        headers.insert("webhook-timestamp".into(), "yesterday".into());
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "malformed header webhook-timestamp: not a Unix time in seconds"
        );

        let headers = sw_headers(SW_TIMESTAMP, "v2,abc g0hM9SsE");
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "malformed header webhook-signature: no v1 signature"
        );

        let headers = sw_headers(SW_TIMESTAMP, "v1,not*base64");
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn standard_webhooks_rejects_a_timestamp_too_old_or_too_far_ahead() {
        let key = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let now = at(SW_TIMESTAMP);

        let old = SW_TIMESTAMP - 412;
        let headers = sw_headers(old, &sw_sign(&key, old, SW_BODY));
        assert_eq!(
            reason(standard_webhooks(
                &[SW_SECRET],
                &headers,
                SW_BODY,
                now,
                TOLERANCE
            )),
            "the timestamp is 412 s in the past (tolerance 300 s)"
        );

        let ahead = SW_TIMESTAMP + 301;
        let headers = sw_headers(ahead, &sw_sign(&key, ahead, SW_BODY));
        assert_eq!(
            reason(standard_webhooks(
                &[SW_SECRET],
                &headers,
                SW_BODY,
                now,
                TOLERANCE
            )),
            "the timestamp is 301 s in the future (tolerance 300 s)"
        );

        let edge = SW_TIMESTAMP - 300;
        let headers = sw_headers(edge, &sw_sign(&key, edge, SW_BODY));
        assert_eq!(
            standard_webhooks(&[SW_SECRET], &headers, SW_BODY, now, TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn standard_webhooks_accepts_one_matching_signature_among_several() {
        let list = format!("v1,Zm9vYmFy v2,whatever v1a,x v1,not*base64 {SW_SIGNATURE}");
        let headers = sw_headers(SW_TIMESTAMP, &list);
        assert_eq!(sw_verify(&[SW_SECRET], &headers, SW_BODY), Ok(()));
    }

    #[test]
    fn standard_webhooks_ignores_signatures_beyond_the_sixteenth() {
        let mut list = vec!["v1,Zm9vYmFy"; MAX_SIGNATURES];
        list.push(SW_SIGNATURE);
        let headers = sw_headers(SW_TIMESTAMP, &list.join(" "));
        assert_eq!(
            reason(sw_verify(&[SW_SECRET], &headers, SW_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn standard_webhooks_accepts_the_previous_secret_during_rotation() {
        let headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        let current = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(sw_verify(&[current, SW_SECRET], &headers, SW_BODY), Ok(()));
    }

    #[test]
    fn standard_webhooks_needs_a_secret() {
        let headers = sw_headers(SW_TIMESTAMP, SW_SIGNATURE);
        assert_eq!(
            reason(sw_verify(&[], &headers, SW_BODY)),
            "no secret is configured"
        );
    }

    // GitHub

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_BODY: &[u8] = b"Hello, World!";
    const GITHUB_VECTOR: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn github_headers(value: &str) -> Headers {
        header_map(&[("x-hub-signature-256", value)])
    }

    #[test]
    fn github_accepts_the_documented_vector() {
        let headers = github_headers(GITHUB_VECTOR);
        assert_eq!(github(&[GITHUB_SECRET], &headers, GITHUB_BODY), Ok(()));
        let computed = format!(
            "sha256={}",
            to_hex(&hmac_sha256(GITHUB_SECRET.as_bytes(), GITHUB_BODY))
        );
        assert_eq!(computed, GITHUB_VECTOR);
    }

    #[test]
    fn github_accepts_upper_case_hex() {
        let upper = format!("sha256={}", GITHUB_VECTOR["sha256=".len()..].to_uppercase());
        let headers = github_headers(&upper);
        assert_eq!(github(&[GITHUB_SECRET], &headers, GITHUB_BODY), Ok(()));
    }

    #[test]
    fn github_rejects_a_wrong_secret_and_a_tampered_body() {
        let headers = github_headers(GITHUB_VECTOR);
        assert_eq!(
            reason(github(&["It's a Secret to Nobody"], &headers, GITHUB_BODY)),
            "the signature does not match"
        );
        assert_eq!(
            reason(github(&[GITHUB_SECRET], &headers, b"Hello, World?")),
            "the signature does not match"
        );
    }

    #[test]
    fn github_rejects_missing_and_malformed_headers() {
        assert_eq!(
            reason(github(&[GITHUB_SECRET], &Headers::new(), GITHUB_BODY)),
            "missing header x-hub-signature-256"
        );
        for value in [
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
            "sha256=not-hex",
            "sha256=",
        ] {
            assert_eq!(
                reason(github(
                    &[GITHUB_SECRET],
                    &github_headers(value),
                    GITHUB_BODY
                )),
                "malformed header x-hub-signature-256: expected sha256=<hex>"
            );
        }
    }

    #[test]
    fn github_accepts_the_previous_secret_during_rotation() {
        let headers = github_headers(GITHUB_VECTOR);
        assert_eq!(
            github(&["new secret", GITHUB_SECRET], &headers, GITHUB_BODY),
            Ok(())
        );
    }

    #[test]
    fn github_needs_a_secret() {
        let headers = github_headers(GITHUB_VECTOR);
        assert_eq!(
            reason(github(&[], &headers, GITHUB_BODY)),
            "no secret is configured"
        );
    }

    // Stripe

    const STRIPE_SECRET: &str = "whsec_test_secret";
    const STRIPE_BODY: &[u8] = br#"{"id": "evt_test_webhook", "object": "event"}"#;
    const STRIPE_NOW: i64 = 1_700_000_000;

    fn stripe_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
        let mut payload = format!("{timestamp}.").into_bytes();
        payload.extend_from_slice(body);
        to_hex(&hmac_sha256(secret.as_bytes(), &payload))
    }

    fn stripe_headers(value: &str) -> Headers {
        header_map(&[("stripe-signature", value)])
    }

    fn stripe_verify(secrets: &[&str], headers: &Headers, body: &[u8]) -> Result<(), Rejected> {
        stripe(secrets, headers, body, at(STRIPE_NOW), TOLERANCE)
    }

    #[test]
    fn stripe_accepts_a_valid_signature_with_the_raw_secret_as_key() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={signature}"));
        assert_eq!(
            stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY),
            Ok(())
        );
    }

    #[test]
    fn stripe_accepts_one_matching_signature_among_several_in_any_order() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let other = stripe_signature("other", STRIPE_NOW, STRIPE_BODY);
        let value = format!("v1={other}, v0={signature}, v1=zz, t={STRIPE_NOW}, v1={signature}");
        let headers = stripe_headers(&value);
        assert_eq!(
            stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY),
            Ok(())
        );
    }

    #[test]
    fn stripe_does_not_accept_a_v0_signature() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let other = stripe_signature("other", STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={other},v0={signature}"));
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn stripe_ignores_signatures_beyond_the_sixteenth() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let other = stripe_signature("other", STRIPE_NOW, STRIPE_BODY);
        let mut items = vec![format!("t={STRIPE_NOW}")];
        items.extend(std::iter::repeat_n(format!("v1={other}"), MAX_SIGNATURES));
        items.push(format!("v1={signature}"));
        let headers = stripe_headers(&items.join(","));
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn stripe_rejects_a_wrong_secret_and_a_tampered_body() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={signature}"));
        assert_eq!(
            reason(stripe_verify(&["whsec_wrong"], &headers, STRIPE_BODY)),
            "the signature does not match"
        );
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, b"{}")),
            "the signature does not match"
        );
    }

    #[test]
    fn stripe_signs_the_timestamp() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={},v1={signature}", STRIPE_NOW - 1));
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn stripe_does_not_base64_decode_a_whsec_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let decoded = BASE64.decode(&secret["whsec_".len()..]).unwrap();
        let mut payload = format!("{STRIPE_NOW}.").into_bytes();
        payload.extend_from_slice(STRIPE_BODY);
        let decoded_signature = to_hex(&hmac_sha256(&decoded, &payload));
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={decoded_signature}"));
        assert_eq!(
            reason(stripe_verify(&[secret], &headers, STRIPE_BODY)),
            "the signature does not match"
        );
    }

    #[test]
    fn stripe_rejects_missing_and_malformed_headers() {
        assert_eq!(
            reason(stripe_verify(
                &[STRIPE_SECRET],
                &Headers::new(),
                STRIPE_BODY
            )),
            "missing header stripe-signature"
        );
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let cases = [
            (
                format!("v1={signature}"),
                "malformed header stripe-signature: no timestamp t=",
            ),
            (
                format!("t=soon,v1={signature}"),
                "malformed header stripe-signature: t= is not a Unix time in seconds",
            ),
            (
                format!("t={STRIPE_NOW},v0={signature}"),
                "malformed header stripe-signature: no v1 signature",
            ),
            (
                "garbage".to_owned(),
                "malformed header stripe-signature: no timestamp t=",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                reason(stripe_verify(
                    &[STRIPE_SECRET],
                    &stripe_headers(&value),
                    STRIPE_BODY
                )),
                expected
            );
        }
    }

    #[test]
    fn stripe_rejects_a_timestamp_too_old_or_too_far_ahead() {
        let old = STRIPE_NOW - 412;
        let signature = stripe_signature(STRIPE_SECRET, old, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={old},v1={signature}"));
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY)),
            "the timestamp is 412 s in the past (tolerance 300 s)"
        );

        let ahead = STRIPE_NOW + 600;
        let signature = stripe_signature(STRIPE_SECRET, ahead, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={ahead},v1={signature}"));
        assert_eq!(
            reason(stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY)),
            "the timestamp is 600 s in the future (tolerance 300 s)"
        );

        let near = STRIPE_NOW + 300;
        let signature = stripe_signature(STRIPE_SECRET, near, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={near},v1={signature}"));
        assert_eq!(
            stripe_verify(&[STRIPE_SECRET], &headers, STRIPE_BODY),
            Ok(())
        );
    }

    #[test]
    fn stripe_accepts_the_previous_secret_during_rotation() {
        let signature = stripe_signature("whsec_previous", STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={signature}"));
        assert_eq!(
            stripe_verify(&[STRIPE_SECRET, "whsec_previous"], &headers, STRIPE_BODY),
            Ok(())
        );
    }

    #[test]
    fn stripe_needs_a_secret() {
        let signature = stripe_signature(STRIPE_SECRET, STRIPE_NOW, STRIPE_BODY);
        let headers = stripe_headers(&format!("t={STRIPE_NOW},v1={signature}"));
        assert_eq!(
            reason(stripe_verify(&[], &headers, STRIPE_BODY)),
            "no secret is configured"
        );
    }

    // Shopify

    const SHOPIFY_SECRET: &str = "shpss_secret";
    const SHOPIFY_BODY: &[u8] = br#"{"id": 820982911946154508}"#;

    fn shopify_headers(secret: &str, body: &[u8]) -> Headers {
        let signature = BASE64.encode(hmac_sha256(secret.as_bytes(), body));
        header_map(&[("x-shopify-hmac-sha256", &signature)])
    }

    #[test]
    fn shopify_accepts_a_valid_signature() {
        let headers = shopify_headers(SHOPIFY_SECRET, SHOPIFY_BODY);
        assert_eq!(shopify(&[SHOPIFY_SECRET], &headers, SHOPIFY_BODY), Ok(()));
    }

    #[test]
    fn shopify_rejects_a_wrong_secret_and_a_tampered_body() {
        let headers = shopify_headers(SHOPIFY_SECRET, SHOPIFY_BODY);
        assert_eq!(
            reason(shopify(&["shpss_other"], &headers, SHOPIFY_BODY)),
            "the signature does not match"
        );
        assert_eq!(
            reason(shopify(&[SHOPIFY_SECRET], &headers, b"{}")),
            "the signature does not match"
        );
    }

    #[test]
    fn shopify_rejects_missing_and_malformed_headers() {
        assert_eq!(
            reason(shopify(&[SHOPIFY_SECRET], &Headers::new(), SHOPIFY_BODY)),
            "missing header x-shopify-hmac-sha256"
        );
        let headers = header_map(&[("x-shopify-hmac-sha256", "not base64!")]);
        assert_eq!(
            reason(shopify(&[SHOPIFY_SECRET], &headers, SHOPIFY_BODY)),
            "malformed header x-shopify-hmac-sha256: not base64"
        );
    }

    #[test]
    fn shopify_accepts_the_previous_secret_during_rotation() {
        let headers = shopify_headers("shpss_previous", SHOPIFY_BODY);
        assert_eq!(
            shopify(&[SHOPIFY_SECRET, "shpss_previous"], &headers, SHOPIFY_BODY),
            Ok(())
        );
    }

    #[test]
    fn shopify_needs_a_secret() {
        let headers = shopify_headers(SHOPIFY_SECRET, SHOPIFY_BODY);
        assert_eq!(
            reason(shopify(&[], &headers, SHOPIFY_BODY)),
            "no secret is configured"
        );
    }

    // Generic HMAC

    const HMAC_SECRET: &str = "generic secret";
    const HMAC_BODY: &[u8] = b"event=created&id=42";

    fn hmac_sha1(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    fn hmac_sha512(key: &[u8], message: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }

    #[test]
    fn hmac_accepts_sha1_hex_with_a_prefix() {
        let signature = format!(
            "sha1={}",
            to_hex(&hmac_sha1(HMAC_SECRET.as_bytes(), HMAC_BODY))
        );
        let headers = header_map(&[("x-signature", &signature)]);
        let result = hmac(
            &[HMAC_SECRET],
            &headers,
            HMAC_BODY,
            "X-Signature",
            Algorithm::Sha1,
            Encoding::Hex,
            "sha1=",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn hmac_accepts_sha1_of_a_known_vector() {
        // RFC 2202 test case 2.
        let headers = header_map(&[("x-sig", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")]);
        let result = hmac(
            &["Jefe"],
            &headers,
            b"what do ya want for nothing?",
            "x-sig",
            Algorithm::Sha1,
            Encoding::Hex,
            "",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn hmac_accepts_sha512_base64_with_a_prefix() {
        let signature = format!(
            "v1:{}",
            BASE64.encode(hmac_sha512(HMAC_SECRET.as_bytes(), HMAC_BODY))
        );
        let headers = header_map(&[("x-webhook-signature", &signature)]);
        let result = hmac(
            &[HMAC_SECRET],
            &headers,
            HMAC_BODY,
            "x-webhook-signature",
            Algorithm::Sha512,
            Encoding::Base64,
            "v1:",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn hmac_accepts_sha512_and_sha256_upper_case_hex() {
        let sha512 = to_hex(&hmac_sha512(HMAC_SECRET.as_bytes(), HMAC_BODY)).to_uppercase();
        let headers = header_map(&[("x-sig", &sha512)]);
        let result = hmac(
            &[HMAC_SECRET],
            &headers,
            HMAC_BODY,
            "x-sig",
            Algorithm::Sha512,
            Encoding::Hex,
            "",
        );
        assert_eq!(result, Ok(()));

        let sha256 = to_hex(&hmac_sha256(HMAC_SECRET.as_bytes(), HMAC_BODY)).to_uppercase();
        let headers = header_map(&[("x-sig", &sha256)]);
        let result = hmac(
            &[HMAC_SECRET],
            &headers,
            HMAC_BODY,
            "x-sig",
            Algorithm::Sha256,
            Encoding::Hex,
            "",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn hmac_rejects_the_wrong_algorithm_secret_or_body() {
        let signature = to_hex(&hmac_sha256(HMAC_SECRET.as_bytes(), HMAC_BODY));
        let headers = header_map(&[("x-sig", &signature)]);
        let verify = |secret: &str, body: &[u8], algorithm| {
            hmac(
                &[secret],
                &headers,
                body,
                "x-sig",
                algorithm,
                Encoding::Hex,
                "",
            )
        };
        assert_eq!(verify(HMAC_SECRET, HMAC_BODY, Algorithm::Sha256), Ok(()));
        for result in [
            verify(HMAC_SECRET, HMAC_BODY, Algorithm::Sha512),
            verify("other secret", HMAC_BODY, Algorithm::Sha256),
            verify(HMAC_SECRET, b"event=deleted&id=42", Algorithm::Sha256),
        ] {
            assert_eq!(reason(result), "the signature does not match");
        }
    }

    #[test]
    fn hmac_rejects_missing_and_malformed_headers() {
        let verify = |headers: &Headers, encoding| {
            hmac(
                &[HMAC_SECRET],
                headers,
                HMAC_BODY,
                "X-Sig",
                Algorithm::Sha256,
                encoding,
                "sha256=",
            )
        };
        assert_eq!(
            reason(verify(&Headers::new(), Encoding::Hex)),
            "missing header x-sig"
        );
        let signature = to_hex(&hmac_sha256(HMAC_SECRET.as_bytes(), HMAC_BODY));
        assert_eq!(
            reason(verify(&header_map(&[("x-sig", &signature)]), Encoding::Hex)),
            "malformed header x-sig: expected the prefix \"sha256=\""
        );
        assert_eq!(
            reason(verify(
                &header_map(&[("x-sig", "sha256=xyz")]),
                Encoding::Hex
            )),
            "malformed header x-sig: not hex"
        );
        assert_eq!(
            reason(verify(
                &header_map(&[("x-sig", "sha256=@@")]),
                Encoding::Base64
            )),
            "malformed header x-sig: not base64"
        );
    }

    #[test]
    fn hmac_accepts_the_previous_secret_during_rotation() {
        let signature = BASE64.encode(hmac_sha256(b"previous", HMAC_BODY));
        let headers = header_map(&[("x-sig", &signature)]);
        let result = hmac(
            &[HMAC_SECRET, "previous"],
            &headers,
            HMAC_BODY,
            "x-sig",
            Algorithm::Sha256,
            Encoding::Base64,
            "",
        );
        assert_eq!(result, Ok(()));
    }

    #[test]
    fn hmac_needs_a_secret() {
        let headers = header_map(&[("x-sig", "00")]);
        let result = hmac(
            &[],
            &headers,
            HMAC_BODY,
            "x-sig",
            Algorithm::Sha256,
            Encoding::Hex,
            "",
        );
        assert_eq!(reason(result), "no secret is configured");
    }

    // HTTP Basic

    fn basic_headers(scheme: &str, credentials: &str) -> Headers {
        let value = format!("{scheme} {}", BASE64.encode(credentials));
        header_map(&[("authorization", &value)])
    }

    #[test]
    fn basic_accepts_the_right_credentials() {
        let headers = basic_headers("Basic", "hook:s3cret:with:colons");
        assert_eq!(basic("hook", &["s3cret:with:colons"], &headers), Ok(()));
        // "Aladdin:open sesame", RFC 7617.
        let headers = header_map(&[("authorization", "basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")]);
        assert_eq!(basic("Aladdin", &["open sesame"], &headers), Ok(()));
    }

    #[test]
    fn basic_accepts_any_configured_password() {
        let headers = basic_headers("BASIC", "hook:previous");
        assert_eq!(basic("hook", &["current", "previous"], &headers), Ok(()));
    }

    #[test]
    fn basic_rejects_a_wrong_password_or_user() {
        let mismatch = "the username or password does not match";
        let headers = basic_headers("Basic", "hook:wrong");
        assert_eq!(reason(basic("hook", &["s3cret"], &headers)), mismatch);
        let headers = basic_headers("Basic", "intruder:s3cret");
        assert_eq!(reason(basic("hook", &["s3cret"], &headers)), mismatch);
        let headers = basic_headers("Basic", "hook:");
        assert_eq!(reason(basic("hook", &["s3cret"], &headers)), mismatch);
    }

    #[test]
    fn basic_rejects_a_missing_or_malformed_header() {
        assert_eq!(
            reason(basic("hook", &["s3cret"], &Headers::new())),
            "missing header authorization"
        );
        let headers = basic_headers("Bearer", "hook:s3cret");
        assert_eq!(
            reason(basic("hook", &["s3cret"], &headers)),
            "malformed header authorization: expected Basic credentials"
        );
        let headers = header_map(&[("authorization", "Basic")]);
        assert_eq!(
            reason(basic("hook", &["s3cret"], &headers)),
            "malformed header authorization: expected Basic credentials"
        );
        let headers = header_map(&[("authorization", "Basic !!!")]);
        assert_eq!(
            reason(basic("hook", &["s3cret"], &headers)),
            "malformed header authorization: the credentials are not base64"
        );
        let headers = basic_headers("Basic", "hook");
        assert_eq!(
            reason(basic("hook", &["s3cret"], &headers)),
            "malformed header authorization: the credentials have no ':'"
        );
    }

    #[test]
    fn basic_needs_a_password() {
        let headers = basic_headers("Basic", "hook:s3cret");
        assert_eq!(
            reason(basic("hook", &[], &headers)),
            "no password is configured"
        );
    }

    // Helpers

    #[test]
    fn decode_hex_accepts_either_case_and_rejects_the_rest() {
        assert_eq!(decode_hex("00ffAB"), Some(vec![0x00, 0xff, 0xab]));
        assert_eq!(decode_hex(""), None);
        assert_eq!(decode_hex("abc"), None);
        assert_eq!(decode_hex("zz"), None);
        assert_eq!(decode_hex("+1"), None);
    }

    #[test]
    fn reasons_never_contain_the_secret() {
        let secret = "top-secret-value";
        let headers = github_headers("sha256=00");
        let rejected = github(&[secret], &headers, b"body").unwrap_err();
        assert!(!rejected.to_string().contains(secret));
    }
}
