//! Identifiers and names parsed at the edge: once built, a value of these types is valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw input could not become a domain value; the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

/// `TryFrom<String>` through the type's `parse`, and `String` back out of `$value` by
/// `$into`: the conversions `#[serde(try_from = "String", into = "String")]` asks of a string
/// parsed at the edge.
macro_rules! string_conversions {
    ($name:ident, $value:ident => $into:expr) => {
        impl TryFrom<String> for $name {
            type Error = $crate::ids::InvalidInput;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from($value: $name) -> Self {
                $into
            }
        }
    };
}
pub(crate) use string_conversions;

/// Declares an id type over a UUIDv7, so ids sort by creation time; `$what` names it in the
/// error a client sees for a malformed one.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, format = Uuid))]
        pub struct $name(Uuid);

        impl $name {
            /// The smallest id, below every generated one (a lower bound for ranges).
            pub const MIN: $name = $name(Uuid::nil());
            /// The largest id, above every generated one (an upper bound for ranges).
            pub const MAX: $name = $name(Uuid::max());

            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses an id as it appears in a path or a stored record.
            ///
            /// # Errors
            /// When `raw` is not a hyphenated UUID.
            pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
                Uuid::try_parse(raw)
                    .map(Self)
                    .map_err(|_| InvalidInput(format!(concat!("`{}` is not ", $what, " (a UUID)"), raw)))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidInput;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

uuid_id!(
    /// A job's id.
    JobId,
    "a job id"
);
uuid_id!(
    /// A webhook subscription's id.
    SubscriptionId,
    "a webhook id"
);
uuid_id!(
    /// An inbound webhook source's id.
    SourceId,
    "a source id"
);

uuid_id!(
    /// The id of one request a source received.
    RequestId,
    "a request id"
);

impl RequestId {
    /// When the request was received: the millisecond its id was made in (a UUIDv7 begins
    /// with it), so a log ordered by id is ordered by time too.
    pub fn received_at(&self) -> chrono::DateTime<chrono::Utc> {
        let ms = self
            .0
            .get_timestamp()
            .map(|t| {
                let (seconds, nanos) = t.to_unix();
                seconds.saturating_mul(1000) + u64::from(nanos / 1_000_000)
            })
            .unwrap_or(0);
        chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
            .unwrap_or_default()
    }
}

uuid_id!(
    /// A webhook delivery's id: one event to one target. It is the `webhook-id` header of every
    /// attempt, so receivers can drop duplicates.
    DeliveryId,
    "a delivery id"
);

/// A fresh UUIDv7 whose last byte is `tag`: that byte is random in a UUIDv7, and the last to
/// count in its order, so the id stays unique and time-ordered.
fn tagged_v7(tag: u8) -> Uuid {
    let mut bytes = *Uuid::now_v7().as_bytes();
    bytes[15] = tag;
    Uuid::from_bytes(bytes)
}

impl JobId {
    /// A fresh id that names `partition` (see [`JobId::partition`]): a store spread over
    /// partitions finds the job's partition from its id alone.
    pub fn generate_in(partition: u8) -> Self {
        Self(tagged_v7(partition))
    }

    /// The partition the id names: its last byte.
    pub fn partition(&self) -> u8 {
        self.0.as_bytes()[15]
    }
}

impl DeliveryId {
    /// A fresh id for a delivery of `job`'s event, naming the job's partition: a delivery is
    /// stored in its job's partition.
    pub fn of_job(job: &JobId) -> Self {
        Self(tagged_v7(job.partition()))
    }

    /// The partition the id names: its job's.
    pub fn partition(&self) -> u8 {
        self.0.as_bytes()[15]
    }
}

/// Checks a short machine name: ASCII letters, digits and `.`, `_`, `-`, `:`, starting with a
/// letter or digit.
fn check_name(kind: &str, raw: &str, max: usize) -> Result<(), InvalidInput> {
    let ok_first = raw
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = raw
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':'));
    if raw.is_empty() || raw.len() > max || !ok_first || !ok_rest {
        return Err(InvalidInput(format!(
            "{kind} must be 1 to {max} characters of letters, digits, `.`, `_`, `-` or `:`, \
             starting with a letter or digit"
        )));
    }
    Ok(())
}

/// The tenant a job belongs to. Every read is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
pub struct TenantId(String);

impl TenantId {
    /// The tenant of an install without tenants of its own.
    pub fn default_tenant() -> Self {
        Self("default".to_owned())
    }

    /// # Errors
    /// When `raw` is not a short machine name.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        check_name("a tenant id", raw, 64)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(TenantId, t => t.0);

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job type such as `demo.report`: the name a handler or worker queue is registered under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, example = "demo.report"))]
pub struct JobType(String);

impl JobType {
    /// # Errors
    /// When `raw` is not 1 to 100 characters of letters, digits, `.`, `_`, `-` or `:`.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        check_name("a job type", raw, 100)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_conversions!(JobType, t => t.0);

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client's `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IdempotencyKey {
    /// The key of an event a provider sent to `source`, named by `value` (its id, or what the
    /// source's dedupe rule picks). A space separates its parts, which no client's key can
    /// hold, and the value is hashed, so any value makes a key of bounded size.
    pub fn of_event(source: &SourceId, value: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(value.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("event {source} {hex}"))
    }

    /// Whether this key names a provider's event ([`IdempotencyKey::of_event`]): any
    /// submission under it is that event again, whatever it carries.
    pub fn names_event(&self) -> bool {
        self.0.starts_with("event ")
    }
}

impl TryFrom<&str> for IdempotencyKey {
    type Error = InvalidInput;
    fn try_from(raw: &str) -> Result<Self, Self::Error> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidInput(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".to_owned(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::try_from(raw.as_str())
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

/// The name a worker process claims jobs under; unique per process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// A fresh worker name: host-independent, unique per call.
    pub fn generate() -> Self {
        Self(format!("worker-{}", Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_round_trip_and_reject_garbage() {
        let id = JobId::generate();
        assert_eq!(JobId::parse(&id.to_string()), Ok(id));
        assert!(JobId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn job_types_accept_dotted_names_and_reject_others() {
        assert!(JobType::parse("demo.report").is_ok());
        assert!(JobType::parse("billing:invoice-2").is_ok());
        for bad in ["", ".hidden", "has space", "ünï", &"x".repeat(101)] {
            assert!(JobType::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn idempotency_keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::try_from("order-42").is_ok());
        assert!(IdempotencyKey::try_from("").is_err());
        assert!(IdempotencyKey::try_from("a b").is_err());
        assert!(IdempotencyKey::try_from("k".repeat(256).as_str()).is_err());
    }
}
