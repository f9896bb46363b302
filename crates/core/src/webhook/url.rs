//! [`WebhookUrl`]: where a webhook's deliveries go, parsed at the edge. Which addresses it
//! may point at is the guard's business ([`super::address`]).

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use url::Url;

use crate::ids::{InvalidInput, string_conversions};

/// Where deliveries go: an absolute `http` or `https` URL with a host and no credentials.
/// Shown as the client wrote it; requests go to its parsed form.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct WebhookUrl {
    raw: String,
    url: Url,
}

impl WebhookUrl {
    pub const MAX_LEN: usize = 2048;

    /// # Errors
    /// When `raw` is not an absolute http(s) URL with a host, carries credentials or a
    /// fragment, or is longer than [`WebhookUrl::MAX_LEN`].
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput(format!(
                "must be at most {} characters",
                Self::MAX_LEN
            )));
        }
        let url = Url::parse(raw).map_err(|e| InvalidInput(format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(InvalidInput("must be an http or https URL".to_owned()));
        }
        if url.host().is_none() {
            return Err(InvalidInput("must name a host".to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(InvalidInput(
                "must not carry credentials; authenticate deliveries by their signature".to_owned(),
            ));
        }
        if url.fragment().is_some() {
            return Err(InvalidInput("must not have a fragment".to_owned()));
        }
        Ok(Self {
            raw: raw.to_owned(),
            url,
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The URL as the client wrote it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }
}

string_conversions!(WebhookUrl, url => url.raw);

/// Written as the client wrote it, borrowed: every delivery record holds one, and `into =
/// "String"` would copy it (and its parsed form) at each write.
impl Serialize for WebhookUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_url_must_be_absolute_http_without_credentials() {
        assert!(WebhookUrl::parse("https://client.example/hooks?x=1").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/").is_ok());
        let bare = WebhookUrl::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(bare.as_str(), "http://127.0.0.1:9000", "shown as written");
        assert_eq!(bare.url().as_str(), "http://127.0.0.1:9000/");
        for bad in [
            "ftp://client.example/",
            "/relative",
            "https://user:pw@client.example/",
            "https://client.example/#frag",
            "not a url",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://client.example/{}", "a".repeat(2048));
        assert!(WebhookUrl::parse(&long).is_err());
    }
}
