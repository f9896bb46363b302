//! Signing secrets: [`WebhookSecret`] (generated from the operating system's random number
//! generator, or the client's own) and [`RetiredSecret`], a rotated-out one still signing
//! for a grace period.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{InvalidInput, string_conversions};

/// A signing secret. `whsec_<base64>` (the Standard Webhooks form, what Herald generates)
/// signs with the decoded bytes; any other string signs with its UTF-8 bytes. Never printed
/// by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookSecret(String);

impl WebhookSecret {
    const PREFIX: &'static str = "whsec_";
    const MAX_LEN: usize = 256;

    /// A fresh secret of 32 random bytes from the operating system (within the Standard
    /// Webhooks bounds of 24 to 64), `whsec_`-prefixed.
    pub fn generate() -> Self {
        let key = crate::random::bytes::<32>();
        Self(format!("{}{}", Self::PREFIX, BASE64.encode(key)))
    }

    /// Any non-empty string of at most 256 characters without control characters: as the
    /// contract says, `whsec_<base64>` signs with the decoded bytes and anything else
    /// (including a `whsec_` string whose rest is not base64) with its UTF-8 bytes.
    ///
    /// # Errors
    /// An empty or longer secret, or one holding control characters.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty()
            || raw.chars().count() > Self::MAX_LEN
            || raw.chars().any(char::is_control)
        {
            return Err(InvalidInput(format!(
                "must be 1 to {} characters without control characters (`whsec_` and base64 \
                 signs with the decoded bytes, anything else with its UTF-8 bytes)",
                Self::MAX_LEN
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The HMAC key this secret signs with.
    pub fn key(&self) -> Vec<u8> {
        self.0
            .strip_prefix(Self::PREFIX)
            .and_then(|encoded| BASE64.decode(encoded).ok())
            .filter(|key| !key.is_empty())
            .unwrap_or_else(|| self.0.as_bytes().to_vec())
    }

    /// The secret itself, for the one response that hands it out.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

string_conversions!(WebhookSecret, secret => secret.0);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

/// A signing secret replaced by a rotation, still signing until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: WebhookSecret,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whsec_secret_signs_with_its_decoded_bytes_and_any_other_with_its_text() {
        let generated = WebhookSecret::generate();
        assert!(generated.expose().starts_with("whsec_"));
        assert_eq!(generated.key().len(), 32);
        assert_eq!(WebhookSecret::parse(generated.expose()).unwrap(), generated);
        let plain = WebhookSecret::parse("hunter2").unwrap();
        assert_eq!(plain.key(), b"hunter2");
        let not_base64 = WebhookSecret::parse("whsec_not base64!").unwrap();
        assert_eq!(not_base64.key(), b"whsec_not base64!");
        assert_eq!(
            WebhookSecret::parse("whsec_dGVzdA==").unwrap().key(),
            b"test"
        );
        assert!(WebhookSecret::parse("").is_err());
        assert!(WebhookSecret::parse("tab\there").is_err());
        assert!(WebhookSecret::parse(&"x".repeat(257)).is_err());
        assert_eq!(format!("{generated:?}"), "WebhookSecret(..)");
    }
}
