//! Events: every change of a job, as stored in its history and its tenant's feed and as
//! published.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::InvalidInput;
use crate::job::Job;

/// The kind of change. The names are the contract's SSE event types and webhook `type`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    #[serde(rename = "job.pending")]
    Pending,
    #[serde(rename = "job.processing")]
    Processing,
    #[serde(rename = "job.progress")]
    Progress,
    #[serde(rename = "job.completed")]
    Completed,
    #[serde(rename = "job.failed")]
    Failed,
    #[serde(rename = "job.canceled")]
    Canceled,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        Self::Pending,
        Self::Processing,
        Self::Progress,
        Self::Completed,
        Self::Failed,
        Self::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "job.pending",
            Self::Processing => "job.processing",
            Self::Progress => "job.progress",
            Self::Completed => "job.completed",
            Self::Failed => "job.failed",
            Self::Canceled => "job.canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Canceled)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| InvalidInput(format!("`{s}` is not an event type")))
    }
}

/// One change of one job: its kind and the job as it was right after (a full snapshot, so any
/// single event is enough to render the job). `job.seq` is the event's id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub job: Job,
}

impl Event {
    /// The event of `job`'s latest change. Its snapshot leaves out the webhook status, which
    /// is not part of the job's versioned record.
    pub fn new(kind: EventType, job: &Job) -> Self {
        let mut job = job.clone();
        job.webhook = None;
        Self { kind, job }
    }

    pub fn seq(&self) -> u64 {
        self.job.seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_contract_names() {
        for kind in EventType::ALL {
            assert_eq!(kind.as_str().parse::<EventType>(), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert!("error".parse::<EventType>().is_err());
    }
}
