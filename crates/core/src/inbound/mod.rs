//! Inbound webhooks: sources that providers post to ([`source`]), how their requests are
//! verified ([`verify`]), and what is recorded of each request ([`RequestRecord`]).

pub mod source;
pub mod verify;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{JobId, RequestId};
use crate::view::format_time;

pub use source::{Dedupe, Received, Source, SourceRequest, Verify};

/// What became of a request a source received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Outcome {
    /// Verified and stored as a new job.
    Accepted,
    /// Verified, and an event captured before: answered with that job.
    Duplicate,
    /// Not verified: no job.
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 3] = [Self::Accepted, Self::Duplicate, Self::Rejected];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Duplicate => "duplicate",
            Self::Rejected => "rejected",
        }
    }
}

impl std::str::FromStr for Outcome {
    type Err = crate::ids::InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == s)
            .ok_or_else(|| {
                crate::ids::InvalidInput(format!(
                    "`{s}` is not an outcome: accepted, duplicate or rejected"
                ))
            })
    }
}

/// One request a source received, as its request log lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RequestRecord {
    pub id: RequestId,
    #[serde(with = "rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub received_at: DateTime<Utc>,
    pub outcome: Outcome,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// The job it became (the first one, for a duplicate).
    pub job_id: Option<JobId>,
    /// What the source's dedupe rule found in it.
    pub dedupe_key: Option<String>,
}

/// Timestamps written as the contract writes them (RFC 3339, milliseconds, UTC).
mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_time(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}
