//! A tenant's event feed: every event of every job of the tenant, in the order they happened,
//! each at a [`FeedCursor`]. It backs `/v1/events` and `/v1/events/stream` (one stream or poll
//! for many jobs) and their resumption.

use std::fmt;
use std::str::FromStr;

use crate::event::Event;
use crate::ids::InvalidInput;

/// A position in a tenant's feed, `<ms>-<n>` like a Redis stream id: the Unix time in
/// milliseconds when the event was appended and a counter within that millisecond. Cursors
/// only grow. Clients treat them as opaque strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedCursor {
    pub ms: u64,
    pub n: u64,
}

impl FeedCursor {
    /// Before every event: reading after it starts at the oldest event kept.
    pub const START: FeedCursor = FeedCursor { ms: 0, n: 0 };

    /// The smallest cursor after `self` (the largest cursor is its own successor).
    pub fn next(self) -> FeedCursor {
        match (self.n.checked_add(1), self.ms.checked_add(1)) {
            (Some(n), _) => FeedCursor { ms: self.ms, n },
            (None, Some(ms)) => FeedCursor { ms, n: 0 },
            (None, None) => self,
        }
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

impl FromStr for FeedCursor {
    type Err = InvalidInput;

    /// Parses `<ms>-<n>` (or `<ms>`, meaning `<ms>-0`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidInput(format!("`{raw}` is not an event cursor"));
        let (ms, n) = raw.split_once('-').unwrap_or((raw, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(n) {
            return Err(invalid());
        }
        Ok(FeedCursor {
            ms: ms.parse().map_err(|_| invalid())?,
            n: n.parse().map_err(|_| invalid())?,
        })
    }
}

/// One event in a tenant's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    pub cursor: FeedCursor,
    pub event: Event,
}

/// A read of the feed after a cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// Oldest first.
    pub entries: Vec<FeedEntry>,
    /// True when events after the cursor asked for were trimmed before they could be read:
    /// the reader has missed some (the page starts at the oldest event kept).
    pub missed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_like_stream_ids() {
        let c: FeedCursor = "1700000000000-3".parse().unwrap();
        assert_eq!(
            c,
            FeedCursor {
                ms: 1_700_000_000_000,
                n: 3
            }
        );
        assert_eq!(c.to_string(), "1700000000000-3");
        assert_eq!(
            "42".parse::<FeedCursor>().unwrap(),
            FeedCursor { ms: 42, n: 0 }
        );
        assert!(FeedCursor { ms: 1, n: 9 } < FeedCursor { ms: 2, n: 0 });
        assert_eq!(
            FeedCursor { ms: 1, n: u64::MAX }.next(),
            FeedCursor { ms: 2, n: 0 }
        );
        let last = FeedCursor {
            ms: u64::MAX,
            n: u64::MAX,
        };
        assert_eq!(last.next(), last);
        for bad in ["", "-", "a-1", "1-", "1-2-3", "+", "1.5"] {
            assert!(bad.parse::<FeedCursor>().is_err(), "{bad:?}");
        }
    }
}
