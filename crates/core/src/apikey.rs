//! API keys: what a client presents (`hk_<key id>_<secret>`), and what the store keeps of it
//! (the key id, the tenant, a name, whether it is an admin key, and the SHA-256 digest of the
//! secret — never the key itself).
//!
//! The secret is 48 bytes from the operating system's CSPRNG ([`crate::random`], as webhook
//! secrets are made), so a fast hash is the right one: no dictionary can reach a 384-bit
//! secret, and verifying costs one SHA-256 per request. The digests are compared in constant
//! time. The key id (8 random bytes, in hex) is public (it names the key in listings, logs and
//! `herald keys revoke`); only the secret authenticates.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::{InvalidInput, TenantId, string_conversions};

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const KEY_PREFIX: &str = "hk_";

/// The longest key name.
pub const MAX_NAME_CHARS: usize = 100;

/// A key's public id: 16 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "3f9c2a7b1d4e8f60"))]
pub struct ApiKeyId(String);

impl ApiKeyId {
    const LEN: usize = 16;

    /// A fresh random id.
    pub fn generate() -> Self {
        let hex: String = crate::random::bytes::<{ Self::LEN / 2 }>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self(hex)
    }

    /// # Errors
    /// When `raw` is not 16 lowercase hex characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() == Self::LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput(format!(
                "`{raw}` is not a key id (16 lowercase hex characters)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(ApiKeyId, id => id.0);

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole key as a client presents it: `hk_<key id>_<secret>`. Never printed by `Debug` and
/// not `Display`, so it cannot slip into a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainKey {
    id: ApiKeyId,
    secret: String,
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlainKey({KEY_PREFIX}{}_…)", self.id)
    }
}

impl PlainKey {
    /// The fewest and most characters a secret may have: what Herald generates is 64; a
    /// shorter one (down to 32 base64url characters, 192 bits) is accepted for keys operators
    /// generate themselves.
    const SECRET_CHARS: std::ops::RangeInclusive<usize> = 32..=128;

    /// A fresh key: a random id and 48 random bytes of secret, base64url.
    pub fn generate() -> Self {
        Self {
            id: ApiKeyId::generate(),
            secret: BASE64URL.encode(crate::random::bytes::<48>()),
        }
    }

    /// # Errors
    /// When `raw` is not `hk_<16 hex>_<32 to 128 base64url characters>`. The message never
    /// repeats the input (it may be a mistyped secret).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let invalid = || {
            InvalidInput(format!(
                "an API key looks like `{KEY_PREFIX}<16 hex characters>_<secret>`"
            ))
        };
        let (id, secret) = raw
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
            .ok_or_else(invalid)?;
        let id = ApiKeyId::parse(id).map_err(|_| invalid())?;
        let well_formed = Self::SECRET_CHARS.contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(invalid());
        }
        Ok(Self {
            id,
            secret: secret.to_owned(),
        })
    }

    pub fn id(&self) -> &ApiKeyId {
        &self.id
    }

    /// The whole key, for the one answer that hands it out.
    pub fn reveal(&self) -> String {
        format!("{KEY_PREFIX}{}_{}", self.id, self.secret)
    }

    /// The SHA-256 digest of the secret, hex-encoded, as the store keeps it.
    fn digest(&self) -> String {
        hex(&Sha256::digest(self.secret.as_bytes()))
    }

    /// The secret's last four characters, shown in listings to tell keys apart.
    fn last_four(&self) -> String {
        let start = self.secret.len().saturating_sub(4);
        self.secret.get(start..).unwrap_or_default().to_owned()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A key's name, for people: up to 100 characters without control characters.
///
/// # Errors
/// A longer name or one holding control characters.
pub fn parse_name(raw: &str) -> Result<String, InvalidInput> {
    if raw.chars().count() > MAX_NAME_CHARS || raw.chars().any(char::is_control) {
        return Err(InvalidInput(format!(
            "must be at most {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(raw.to_owned())
}

/// A stored key: everything but the secret, whose SHA-256 digest stands in for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// The tenant every request made with the key acts for.
    pub tenant: TenantId,
    pub name: String,
    /// Whether the key may manage keys (`/v1/admin/…`).
    pub admin: bool,
    pub created_at: DateTime<Utc>,
    /// The secret's last four characters, for display.
    pub last_four: String,
    /// The SHA-256 digest of the secret, hex.
    digest: String,
}

impl ApiKey {
    /// The record of `key`: what the store keeps.
    pub fn new(
        key: &PlainKey,
        tenant: TenantId,
        name: String,
        admin: bool,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            id: key.id.clone(),
            tenant,
            name,
            admin,
            created_at,
            last_four: key.last_four(),
            digest: key.digest(),
        }
    }

    /// Whether `key` is this key: same id and same secret, the digests compared in constant
    /// time.
    pub fn verifies(&self, key: &PlainKey) -> bool {
        key.id == self.id && bool::from(self.digest.as_bytes().ct_eq(key.digest().as_bytes()))
    }

    /// How the key is shown once its secret is gone: `hk_<id>_…<last four>`.
    pub fn display_hint(&self) -> String {
        format!("{KEY_PREFIX}{}_…{}", self.id, self.last_four)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_and_verifies_against_its_record() {
        let key = PlainKey::generate();
        let revealed = key.reveal();
        assert!(revealed.starts_with("hk_"));
        assert_eq!(revealed.len(), 3 + 16 + 1 + 64);
        let parsed = PlainKey::parse(&revealed).unwrap();
        assert_eq!(parsed, key);
        let record = ApiKey::new(
            &key,
            TenantId::default_tenant(),
            "ci".into(),
            false,
            Utc::now(),
        );
        assert!(record.verifies(&parsed));
        assert!(
            record
                .display_hint()
                .ends_with(&revealed[revealed.len() - 4..])
        );
    }

    #[test]
    fn the_record_never_holds_the_secret() {
        let key = PlainKey::generate();
        let record = ApiKey::new(
            &key,
            TenantId::default_tenant(),
            String::new(),
            true,
            Utc::now(),
        );
        let json = serde_json::to_string(&record).unwrap();
        assert!(!json.contains(&key.secret));
        assert!(!format!("{record:?}").contains(&key.secret));
        assert!(!format!("{key:?}").contains(&key.secret));
    }

    #[test]
    fn another_secret_with_the_same_id_does_not_verify() {
        let key = PlainKey::generate();
        let record = ApiKey::new(
            &key,
            TenantId::default_tenant(),
            String::new(),
            false,
            Utc::now(),
        );
        let mut forged = PlainKey::generate();
        forged.id = key.id.clone();
        assert!(!record.verifies(&forged));
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        for raw in [
            "",
            "hk_",
            "sk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "hk_0123456789ABCDEF_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "hk_0123456789abcdef_short",
            "hk_0123456789abcdef_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa+",
        ] {
            let error = PlainKey::parse(raw).unwrap_err();
            assert!(raw.len() < 8 || !error.0.contains(raw), "{raw}");
        }
    }
}
