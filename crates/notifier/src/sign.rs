//! Standard Webhooks signatures: the `webhook-signature` header a receiver checks to know a
//! delivery came from us and was not altered or replayed.
//!
//! The signed content is `"{msg_id}.{timestamp}.{body}"`, the MAC is HMAC-SHA256 and the
//! header value is `v1,<standard base64 of the MAC>`. Several signatures are joined with a
//! single space so that, while a secret is being rotated, the old and the new key both sign
//! and the receiver accepts whichever it knows.
//!
//! ```
//! use herald_notifier::sign;
//!
//! let key = sign::decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
//! let body = br#"{"test": 2432232314}"#;
//! let header = sign::signature(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
//! assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//! assert!(sign::verify(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &header));
//! ```
//!
//! A secret that signs many deliveries is prepared once: a [`SigningKey`] holds the HMAC state
//! with the key absorbed, and [`SigningKeys`] keeps those of the secrets in use.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use herald_core::webhook::WebhookSecret;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The prefix of a secret in the Standard Webhooks serialisation (`whsec_<base64>`).
pub const SECRET_PREFIX: &str = "whsec_";

/// The version tag of a symmetric (HMAC-SHA256) signature.
const VERSION: &str = "v1";

/// The key bytes a secret signs with: the decoded bytes of a well-formed `whsec_<base64>`,
/// otherwise the secret's own UTF-8 bytes.
///
/// A `whsec_` prefix followed by something that is not standard (padded) base64, or by
/// nothing, is not a `whsec_<base64>` secret, so the whole string signs as text; the contract
/// says any other secret string signs with its UTF-8 bytes. Use [`decode_whsec`] to tell
/// the two apart (e.g. to reject a malformed `whsec_` secret at registration).
#[must_use]
pub fn decode_secret(secret: &str) -> Vec<u8> {
    decode_whsec(secret).unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The decoded key of a well-formed, non-empty `whsec_<base64>` secret; `None` for any other
/// string.
#[must_use]
pub fn decode_whsec(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().filter(|key| !key.is_empty())
}

/// One Standard Webhooks signature, `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`.
///
/// `body` must be exactly the bytes sent: the receiver verifies the raw body.
#[must_use]
pub fn signature(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    SigningKey::new(key).signature(msg_id, timestamp, body)
}

/// The `webhook-signature` header value: one signature per key, space separated, in the order
/// given. During a secret rotation pass both the new and the old key.
#[must_use]
pub fn signature_header(keys: &[&[u8]], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let keys: Vec<SigningKey> = keys.iter().map(|key| SigningKey::new(key)).collect();
    header_of(&keys, msg_id, timestamp, body)
}

/// [`signature_header`] with prepared keys.
#[must_use]
pub fn header_of(keys: &[SigningKey], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut header = String::with_capacity(keys.len() * SIGNATURE_LEN);
    for (index, key) in keys.iter().enumerate() {
        if index > 0 {
            header.push(' ');
        }
        key.append_signature(&mut header, msg_id, timestamp, body);
    }
    header
}

/// The length of one signature: `v1,` and the base64 of 32 bytes.
const SIGNATURE_LEN: usize = 3 + 44;

/// A key ready to sign: the HMAC-SHA256 state with the key absorbed. Preparing it costs the
/// key's decoding and two hash blocks; cloning it for each message costs a copy.
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

impl SigningKey {
    /// Prepares `key` (the bytes of [`decode_secret`]).
    #[must_use]
    pub fn new(key: &[u8]) -> Self {
        Self(keyed(key))
    }

    /// One signature of this message, as [`signature`] makes it.
    #[must_use]
    pub fn signature(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut out = String::with_capacity(SIGNATURE_LEN);
        self.append_signature(&mut out, msg_id, timestamp, body);
        out
    }

    fn append_signature(&self, out: &mut String, msg_id: &str, timestamp: i64, body: &[u8]) {
        let tag = self.mac(msg_id, timestamp, body).finalize().into_bytes();
        out.push_str(VERSION);
        out.push(',');
        STANDARD.encode_string(tag, out);
    }

    /// The MAC over `"{msg_id}.{timestamp}.{body}"`, fed piecewise so the body is not copied.
    fn mac(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(itoa::Buffer::new().format(timestamp).as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// The prepared keys of the secrets in use, by secret. A subscription's secret signs every one
/// of its deliveries, so it is prepared once rather than per delivery. Bounded: past
/// [`SigningKeys::MAX`] secrets (rotations leave old ones behind) it starts over.
#[derive(Default)]
pub struct SigningKeys(Mutex<HashMap<String, SigningKey>>);

impl SigningKeys {
    /// The most prepared keys kept.
    pub const MAX: usize = 4096;

    /// The prepared key of `secret`.
    pub fn get(&self, secret: &WebhookSecret) -> SigningKey {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Self::prepared(&mut keys, secret)
    }

    /// The prepared keys of `secrets`, in order, under one lock.
    pub fn of(&self, secrets: &[&WebhookSecret]) -> Vec<SigningKey> {
        let mut keys = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        secrets
            .iter()
            .map(|secret| Self::prepared(&mut keys, secret))
            .collect()
    }

    fn prepared(keys: &mut HashMap<String, SigningKey>, secret: &WebhookSecret) -> SigningKey {
        if let Some(key) = keys.get(secret.expose()) {
            return key.clone();
        }
        if keys.len() >= Self::MAX {
            keys.clear();
        }
        let key = SigningKey::new(&secret.key());
        keys.insert(secret.expose().to_owned(), key.clone());
        key
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.0.lock().unwrap_or_else(PoisonError::into_inner).len();
        write!(f, "SigningKeys({held} held)")
    }
}

/// Whether any `v1,` entry of a `webhook-signature` header is a valid signature of this
/// message under `key`, compared in constant time. Entries of other versions (`v1a`, …) and
/// malformed entries are skipped. The timestamp tolerance a receiver should also apply is
/// not checked here: this is the receiving half for tests and tools, not a receiver.
#[must_use]
pub fn verify(key: &[u8], msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = SigningKey::new(key).mac(msg_id, timestamp, body);
    header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == VERSION)
        .filter_map(|(_, encoded)| STANDARD.decode(encoded).ok())
        .any(|tag| expected.clone().verify_slice(&tag).is_ok())
}

/// An HMAC-SHA256 keyed with `key` of any length.
///
/// `Mac::new_from_slice` never fails for HMAC but is typed as fallible; doing RFC 2104's key
/// preparation here (hash a key longer than the 64-byte block, zero-pad the rest) yields the
/// fixed-size key that the infallible `KeyInit::new` takes, with the same result.
fn keyed(key: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From the Standard Webhooks reference JavaScript library's "sign function works" test
    /// (`libraries/javascript/src/webhook.test.ts`).
    const JS_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const JS_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const JS_TIMESTAMP: i64 = 1_614_265_330;
    const JS_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const JS_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    /// From the Standard Webhooks reference Rust library's `test_sign`
    /// (`libraries/rust/src/lib.rs`).
    const RUST_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const RUST_MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const RUST_TIMESTAMP: i64 = 1_649_367_553;
    const RUST_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const RUST_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    #[test]
    fn signing_matches_the_reference_javascript_test_vector() {
        let key = decode_secret(JS_SECRET);
        assert_eq!(
            signature(&key, JS_MSG_ID, JS_TIMESTAMP, JS_BODY),
            JS_SIGNATURE
        );
    }

    #[test]
    fn signing_matches_the_reference_rust_test_vector() {
        let key = decode_secret(RUST_SECRET);
        assert_eq!(
            signature(&key, RUST_MSG_ID, RUST_TIMESTAMP, RUST_BODY),
            RUST_SIGNATURE
        );
    }

    #[test]
    fn a_whsec_secret_signs_with_its_decoded_bytes() {
        let key = decode_secret(JS_SECRET);
        assert_eq!(key.len(), 24);
        assert_eq!(
            key,
            STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
        );
        assert_eq!(decode_whsec(JS_SECRET), Some(key));
    }

    #[test]
    fn any_other_secret_signs_with_its_utf8_bytes() {
        for secret in [
            "my shared secret",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_",
            "wh_sec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ] {
            assert_eq!(decode_secret(secret), secret.as_bytes(), "{secret}");
            assert_eq!(decode_whsec(secret), None, "{secret}");
        }
    }

    #[test]
    fn a_plain_text_secret_signs_as_hmac_over_its_bytes() {
        // Independent of our key handling: the same message through `new_from_slice`.
        let key = decode_secret("s3cr3t");
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"s3cr3t").unwrap();
        mac.update(b"msg_1.1700000000.{}");
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(signature(&key, "msg_1", 1_700_000_000, b"{}"), expected);
    }

    #[test]
    fn keys_of_every_length_match_the_fallible_hmac_constructor() {
        for len in [0, 1, 24, 63, 64, 65, 100, 200] {
            let key: Vec<u8> = (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect();
            let ours = keyed(&key).chain_update(b"payload").finalize().into_bytes();
            let theirs = <HmacSha256 as Mac>::new_from_slice(&key)
                .unwrap()
                .chain_update(b"payload")
                .finalize()
                .into_bytes();
            assert_eq!(ours, theirs, "key of {len} bytes");
        }
    }

    #[test]
    fn the_header_carries_one_signature_per_key_separated_by_a_space() {
        let old = decode_secret(JS_SECRET);
        let new = decode_secret(RUST_SECRET);
        let header = signature_header(&[&new, &old], JS_MSG_ID, JS_TIMESTAMP, JS_BODY);
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            signature(&new, JS_MSG_ID, JS_TIMESTAMP, JS_BODY)
        );
        assert_eq!(entries[1], JS_SIGNATURE);
        assert!(verify(&old, JS_MSG_ID, JS_TIMESTAMP, JS_BODY, &header));
        assert!(verify(&new, JS_MSG_ID, JS_TIMESTAMP, JS_BODY, &header));
    }

    #[test]
    fn prepared_keys_sign_as_the_secret_does_and_are_kept_once_per_secret() {
        let keys = SigningKeys::default();
        let secret = |raw: &str| WebhookSecret::parse(raw).unwrap();
        let header = header_of(
            &[keys.get(&secret(RUST_SECRET)), keys.get(&secret(JS_SECRET))],
            JS_MSG_ID,
            JS_TIMESTAMP,
            JS_BODY,
        );
        let old = decode_secret(JS_SECRET);
        let new = decode_secret(RUST_SECRET);
        assert_eq!(
            header,
            signature_header(&[&new, &old], JS_MSG_ID, JS_TIMESTAMP, JS_BODY)
        );
        assert!(header.ends_with(JS_SIGNATURE), "{header}");
        assert_eq!(
            keys.get(&secret(JS_SECRET))
                .signature(JS_MSG_ID, JS_TIMESTAMP, JS_BODY),
            JS_SIGNATURE,
            "a kept key signs each message afresh"
        );
        assert_eq!(
            keys.get(&secret("s3cr3t")).signature("msg_1", 1, b"{}"),
            signature(b"s3cr3t", "msg_1", 1, b"{}"),
            "a plain text secret signs with its bytes"
        );
        assert_eq!(format!("{keys:?}"), "SigningKeys(3 held)");
        assert_eq!(
            format!("{:?}", keys.get(&secret(JS_SECRET))),
            "SigningKey(..)"
        );
    }

    #[test]
    fn prepared_keys_are_bounded() {
        let keys = SigningKeys::default();
        let secret = |n: usize| WebhookSecret::parse(&format!("secret {n}")).unwrap();
        for n in 0..=SigningKeys::MAX {
            keys.get(&secret(n));
        }
        assert!(keys.0.lock().unwrap().len() <= SigningKeys::MAX);
        assert_eq!(
            keys.get(&secret(0)).signature("msg_1", 1, b"{}"),
            signature(b"secret 0", "msg_1", 1, b"{}")
        );
    }

    #[test]
    fn a_header_without_keys_is_empty() {
        assert_eq!(signature_header(&[], JS_MSG_ID, JS_TIMESTAMP, JS_BODY), "");
    }

    #[test]
    fn verification_accepts_a_valid_signature_among_others() {
        // The reference libraries' multi-signature test: decoys around the real one.
        let key = decode_secret(JS_SECRET);
        let header = format!(
            "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {JS_SIGNATURE} v1a,abc"
        );
        assert!(verify(&key, JS_MSG_ID, JS_TIMESTAMP, JS_BODY, &header));
    }

    #[test]
    fn verification_rejects_a_changed_body_id_timestamp_or_key() {
        let key = decode_secret(JS_SECRET);
        assert!(!verify(
            &key,
            JS_MSG_ID,
            JS_TIMESTAMP,
            br#"{"test": 2432232315}"#,
            JS_SIGNATURE
        ));
        assert!(!verify(
            &key,
            "msg_other",
            JS_TIMESTAMP,
            JS_BODY,
            JS_SIGNATURE
        ));
        assert!(!verify(
            &key,
            JS_MSG_ID,
            JS_TIMESTAMP + 1,
            JS_BODY,
            JS_SIGNATURE
        ));
        let other = decode_secret(RUST_SECRET);
        assert!(!verify(
            &other,
            JS_MSG_ID,
            JS_TIMESTAMP,
            JS_BODY,
            JS_SIGNATURE
        ));
    }

    #[test]
    fn verification_rejects_partial_malformed_and_wrong_version_signatures() {
        let key = decode_secret(JS_SECRET);
        let tag = JS_SIGNATURE.trim_start_matches("v1,");
        for header in [
            "",
            "v1,",
            &JS_SIGNATURE[..8],
            "v1,dawfeoifkpqwoekfpqoekf",
            &format!("v2,{tag}"),
            tag,
        ] {
            assert!(
                !verify(&key, JS_MSG_ID, JS_TIMESTAMP, JS_BODY, header),
                "{header:?}"
            );
        }
    }
}
