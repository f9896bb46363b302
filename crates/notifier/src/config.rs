//! The notifier's settings, validated by the binary before the role starts.

use std::time::Duration;

use crate::schedule::RetrySchedule;

/// How the notifier delivers.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// Delays between attempts after the immediate first one; past the last, a delivery is
    /// dead.
    pub retry_schedule: RetrySchedule,
    /// How long one attempt may take, connection to last byte read.
    pub timeout: Duration,
    /// Permits loopback, private and link-local targets (development and tests).
    pub allow_private_targets: bool,
    /// How many attempts this process makes at once, across every endpoint.
    pub concurrency: usize,
    /// How many attempts this process makes at once to one endpoint (one URL): a slow endpoint
    /// holds at most this many slots, so it delays only its own deliveries.
    pub endpoint_concurrency: usize,
    /// A subscription whose deliveries fail for this long without one success is disabled.
    pub disable_after: Duration,
    /// How many deliveries one claim takes, at most.
    pub batch: usize,
    /// How often an idle sender looks for deliveries that came due (retries; deliveries
    /// expanded by another process). Its own expansions wake it at once.
    pub poll_interval: Duration,
}

impl NotifierConfig {
    /// How long a claimed delivery stays leased: long enough for one attempt and its record,
    /// short enough that a killed notifier's deliveries are soon sent by another.
    pub fn lease(&self) -> Duration {
        self.timeout * 2 + Duration::from_secs(10)
    }
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            retry_schedule: RetrySchedule::default(),
            timeout: Duration::from_secs(15),
            allow_private_targets: false,
            concurrency: 512,
            endpoint_concurrency: 32,
            disable_after: Duration::from_secs(5 * 24 * 3600),
            batch: 256,
            poll_interval: Duration::from_millis(200),
        }
    }
}
