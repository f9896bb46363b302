//! Values as people write them in flags, `HERALD_…` variables and the configuration file:
//! durations like `30s`, bounded numbers, comma-separated lists, secrets that are never
//! echoed. Clap's value parsers and the settings' deserializers call the same functions, so a
//! value is refused in the same words wherever it was written.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use clap::ValueEnum;
use herald_api::{CorsOrigin, MAX_SSE_HEARTBEAT, TrustedProxy};
use herald_api::{MAX_TOKEN_TTL, TokenSecret};
use herald_core::apikey::PlainKey;
use serde::de::{Deserialize, Deserializer, Error as _};

use super::Role;

/// A Redis URL. It may carry a password (`redis://:secret@host`, `?password=`), so its
/// `Debug` and `Display` show it without one; only [`RedisUrl::expose`] gives it whole, to
/// the Redis client.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// The URL with its password, to connect with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedisUrl {
    /// `scheme://user:***@host:port/db`, without a query (which may carry a password too).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let without_query = self.0.split('?').next().unwrap_or_default();
        let Some((scheme, rest)) = without_query.split_once("://") else {
            return f.write_str("<a Redis URL>");
        };
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        let authority = match authority.rsplit_once('@') {
            Some((user_info, host)) => {
                let user = user_info.split(':').next().unwrap_or_default();
                format!("{user}:***@{host}")
            }
            None => authority.to_owned(),
        };
        let elided = if without_query.len() < self.0.len() {
            "?…"
        } else {
            ""
        };
        write!(f, "{scheme}://{authority}{path}{elided}")
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({self})")
    }
}

/// Any text is taken as a Redis URL: the Redis client reads it at connection time and says
/// what is wrong with it.
///
/// # Errors
/// Never; a `Result` for clap.
pub fn redis_url(raw: &str) -> Result<RedisUrl, String> {
    Ok(RedisUrl(raw.to_owned()))
}

/// A duration like `30s`, `5m` or `48h`, longer than zero.
///
/// # Errors
/// A message for text that is no duration or a zero one.
pub fn duration(raw: &str) -> Result<Duration, String> {
    let parsed = humantime::parse_duration(raw)
        .map_err(|e| format!("`{raw}` is not a duration like 30s, 5m or 48h: {e}"))?;
    if parsed.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(parsed)
}

/// A heartbeat interval: a duration of at most [`MAX_SSE_HEARTBEAT`], which the contract
/// promises.
///
/// # Errors
/// As [`duration`], and for a longer interval.
pub fn heartbeat(raw: &str) -> Result<Duration, String> {
    let parsed = duration(raw)?;
    if parsed > MAX_SSE_HEARTBEAT {
        return Err(format!(
            "must be at most {}: clients and proxies count on a comment at least that often",
            humantime::format_duration(MAX_SSE_HEARTBEAT)
        ));
    }
    Ok(parsed)
}

/// A read token lifetime: a duration of at most [`MAX_TOKEN_TTL`].
///
/// # Errors
/// As [`duration`], and for a longer lifetime.
pub fn token_ttl(raw: &str) -> Result<Duration, String> {
    let parsed = duration(raw)?;
    if parsed > MAX_TOKEN_TTL {
        return Err(format!(
            "must be at most {}: a leaked link should not read a job for longer",
            humantime::format_duration(MAX_TOKEN_TTL)
        ));
    }
    Ok(parsed)
}

/// A whole number within `range`.
fn bounded<T: TryFrom<u64>>(raw: &str, range: RangeInclusive<u64>) -> Result<T, String> {
    let number: u64 = raw
        .trim()
        .parse()
        .map_err(|e| format!("`{raw}` is not a whole number: {e}"))?;
    if !range.contains(&number) {
        return Err(format!(
            "{number} is not in {}..={}",
            range.start(),
            range.end()
        ));
    }
    T::try_from(number).map_err(|_| format!("{number} is too large"))
}

/// `--redis-partitions`: how many partitions a Redis deployment's keys are spread over.
///
/// # Errors
/// Outside 1 to 64.
pub fn redis_partitions(raw: &str) -> Result<usize, String> {
    bounded(raw, 1..=64)
}

/// `--concurrency`: jobs one worker process runs at once.
///
/// # Errors
/// Outside 1 to 10,000.
pub fn worker_concurrency(raw: &str) -> Result<u32, String> {
    bounded(raw, 1..=10_000)
}

/// `--webhook-concurrency`: webhook attempts one notifier process makes at once.
///
/// # Errors
/// Outside 1 to 100,000.
pub fn webhook_concurrency(raw: &str) -> Result<u32, String> {
    bounded(raw, 1..=100_000)
}

/// `--webhook-endpoint-concurrency`: webhook attempts at once to one endpoint.
///
/// # Errors
/// Outside 1 to 10,000.
pub fn webhook_endpoint_concurrency(raw: &str) -> Result<u32, String> {
    bounded(raw, 1..=10_000)
}

/// A rate limit's burst: the bucket holds at least one request.
///
/// # Errors
/// Zero, or more than a `u32` holds.
pub fn burst(raw: &str) -> Result<u32, String> {
    bounded(raw, 1..=u64::from(u32::MAX))
}

/// `--max-json-depth`: how deep a request body may nest.
///
/// # Errors
/// Outside 1 to 128.
pub fn json_depth(raw: &str) -> Result<u16, String> {
    bounded(raw, 1..=128)
}

/// `--max-header-bytes`: from 1 KiB to the 128 KiB actix-web itself allows.
///
/// # Errors
/// Outside 1,024 to 131,072.
pub fn header_bytes(raw: &str) -> Result<u32, String> {
    bounded(raw, 1024..=131_072)
}

/// `--bootstrap-admin-key`. A mistyped key is still a secret: the message does not repeat it.
///
/// # Errors
/// Text that is not an API key.
pub fn plain_key(raw: &str) -> Result<PlainKey, String> {
    PlainKey::parse(raw).map_err(|_| {
        "the bootstrap admin key is not an API key (`hk_<key id>_<secret>`; make one with \
         `herald keys generate`)"
            .to_owned()
    })
}

/// `--token-secret` and `--token-secret-previous`, never repeated in a message.
///
/// # Errors
/// Fewer than 32 bytes.
pub fn token_secret(raw: &str) -> Result<TokenSecret, String> {
    TokenSecret::new(raw.as_bytes()).map_err(|_| {
        "a token secret must be at least 32 bytes of UTF-8 (make one with \
         `openssl rand -base64 48`)"
            .to_owned()
    })
}

/// A role by its name, as `--roles` takes it.
fn role(raw: &str) -> Result<Role, String> {
    Role::from_str(raw.trim(), false)
}

/// Each item of a comma-separated list (how a list arrives from a variable, a flag or the
/// file), or none for an empty text.
fn list<T>(raw: &str, item: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    raw.split(',').map(item).collect()
}

/// Serde's side of the parsers above: every setting reaches the settings tree as the text a
/// flag would take, and is parsed by the flag's own function.
pub mod de {
    use super::*;

    fn parsed<'de, D, T>(d: D, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
    {
        let raw = String::deserialize(d)?;
        parse(&raw).map_err(D::Error::custom)
    }

    /// Anything with a `FromStr`: addresses, numbers, booleans, enums, the retry schedule.
    pub fn from_str<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: FromStr,
        T::Err: fmt::Display,
    {
        parsed(d, |raw| raw.parse().map_err(|e: T::Err| e.to_string()))
    }

    pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parsed(d, super::duration)
    }

    pub fn heartbeat<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parsed(d, super::heartbeat)
    }

    pub fn token_ttl<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parsed(d, super::token_ttl)
    }

    pub fn worker_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        parsed(d, super::worker_concurrency)
    }

    pub fn webhook_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        parsed(d, super::webhook_concurrency)
    }

    pub fn webhook_endpoint_concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        parsed(d, super::webhook_endpoint_concurrency)
    }

    pub fn burst<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        parsed(d, super::burst)
    }

    pub fn json_depth<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
        parsed(d, super::json_depth)
    }

    pub fn header_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        parsed(d, super::header_bytes)
    }

    pub fn redis_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RedisUrl>, D::Error> {
        parsed(d, super::redis_url).map(Some)
    }

    pub fn redis_partitions<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
        parsed(d, super::redis_partitions).map(Some)
    }

    pub fn plain_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PlainKey>, D::Error> {
        parsed(d, super::plain_key).map(Some)
    }

    pub fn token_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TokenSecret>, D::Error> {
        parsed(d, super::token_secret).map(Some)
    }

    pub fn roles<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Role>, D::Error> {
        parsed(d, |raw| list(raw, role))
    }

    pub fn cors_origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<CorsOrigin>, D::Error> {
        parsed(d, |raw| list(raw, CorsOrigin::parse))
    }

    pub fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TrustedProxy>, D::Error> {
        parsed(d, |raw| list(raw, TrustedProxy::parse))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_is_shown_without_its_password() {
        let shown = |raw: &str| redis_url(raw).unwrap().to_string();
        assert_eq!(
            shown("redis://:hunter2@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(
            shown("rediss://app:hunter2@cache:6380"),
            "rediss://app:***@cache:6380"
        );
        assert_eq!(shown("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            shown("redis+sentinel://app:hunter2@s1:26379,s2:26379/herald?sentinel_password=x"),
            "redis+sentinel://app:***@s1:26379,s2:26379/herald?…"
        );
        assert_eq!(
            shown("rediss+cluster://app:hunter2@n1:7000,n2:7000"),
            "rediss+cluster://app:***@n1:7000,n2:7000"
        );
        assert_eq!(
            shown("redis+unix:///run/redis.sock?pass=hunter2"),
            "redis+unix:///run/redis.sock?…"
        );
        assert_eq!(shown("hunter2"), "<a Redis URL>");
        let url = redis_url("redis://:hunter2@cache").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        assert_eq!(url.expose(), "redis://:hunter2@cache");
    }

    #[test]
    fn bounded_numbers_name_their_range() {
        assert_eq!(worker_concurrency("16"), Ok(16));
        assert_eq!(
            worker_concurrency("0").unwrap_err(),
            "0 is not in 1..=10000"
        );
        assert!(json_depth("129").is_err());
        assert!(header_bytes("ten").unwrap_err().contains("`ten`"));
    }
}
