//! A tenant's event feed: every event of every job of the tenant, in the order they happened,
//! each at a [`FeedPosition`] in one partition of the feed. It backs `/v1/events` and
//! `/v1/events/stream` (one stream or poll for many jobs) and their resumption.
//!
//! A deployment's feed is one ordered log per partition (one on the memory store and on an
//! unpartitioned Redis; see the Redis store's `partitioned`): the events of one job are all in
//! its partition, in order. A reader's place is a [`FeedCursor`], one position per partition,
//! which clients treat as an opaque string.

use std::fmt;
use std::str::FromStr;

use crate::event::Event;
use crate::ids::InvalidInput;

/// A position in one partition of a tenant's feed, `<ms>-<n>` like a Redis stream id: the
/// Unix time in milliseconds when the event was appended and a counter within that
/// millisecond. Positions only grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeedPosition {
    pub ms: u64,
    pub n: u64,
}

impl FeedPosition {
    /// Before every event: reading after it starts at the oldest event kept.
    pub const START: FeedPosition = FeedPosition { ms: 0, n: 0 };

    /// The largest position before `self` (the start is its own predecessor).
    pub fn prev(self) -> FeedPosition {
        match (self.n.checked_sub(1), self.ms.checked_sub(1)) {
            (Some(n), _) => FeedPosition { ms: self.ms, n },
            (None, Some(ms)) => FeedPosition { ms, n: u64::MAX },
            (None, None) => self,
        }
    }

    /// The smallest position after `self` (the largest position is its own successor).
    pub fn next(self) -> FeedPosition {
        match (self.n.checked_add(1), self.ms.checked_add(1)) {
            (Some(n), _) => FeedPosition { ms: self.ms, n },
            (None, Some(ms)) => FeedPosition { ms, n: 0 },
            (None, None) => self,
        }
    }
}

impl fmt::Display for FeedPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.n)
    }
}

impl FromStr for FeedPosition {
    type Err = InvalidInput;

    /// Parses `<ms>-<n>` (or `<ms>`, meaning `<ms>-0`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidInput(format!("`{raw}` is not an event cursor"));
        let (ms, n) = raw.split_once('-').unwrap_or((raw, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(n) {
            return Err(invalid());
        }
        Ok(FeedPosition {
            ms: ms.parse().map_err(|_| invalid())?,
            n: n.parse().map_err(|_| invalid())?,
        })
    }
}

/// The most partitions a cursor names (and a deployment has).
pub const MAX_PARTITIONS: usize = 64;

/// How far a reader has read a tenant's feed: a [`FeedPosition`] per partition.
///
/// It is written as the positions of partitions 0, 1, … joined by `.`, where a partition
/// past the last one written is at the start: `5-0` is partition 0 at `5-0` (so the cursor
/// of a feed with one partition is its position), `5-0.7-2` is partition 0 at `5-0`,
/// partition 1 at `7-2` and every other at the start. Trailing positions at the start are
/// left out (`0-0` is the start of every partition), so a cursor has one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FeedCursor {
    /// Never ends with [`FeedPosition::START`]; empty is every partition at the start.
    parts: Vec<FeedPosition>,
}

impl FeedCursor {
    /// Before every event in every partition.
    pub const START: FeedCursor = FeedCursor { parts: Vec::new() };

    /// Partition 0 at `position`, every other at the start: a feed of one partition.
    pub fn at(position: FeedPosition) -> FeedCursor {
        FeedCursor::of([position])
    }

    /// Every partition at `position`.
    pub fn everywhere(position: FeedPosition) -> FeedCursor {
        FeedCursor::of(std::iter::repeat_n(position, MAX_PARTITIONS))
    }

    /// The cursor at `positions`, the one of partition `i` at index `i` (the partitions past
    /// them at the start).
    pub fn of(positions: impl IntoIterator<Item = FeedPosition>) -> FeedCursor {
        let mut cursor = FeedCursor {
            parts: positions.into_iter().collect(),
        };
        cursor.normalize();
        cursor
    }

    /// Where the reader is in `partition`.
    pub fn position(&self, partition: usize) -> FeedPosition {
        self.parts
            .get(partition)
            .copied()
            .unwrap_or(FeedPosition::START)
    }

    /// Whether this is [`FeedCursor::at`] `position` (the cursor of a feed of one partition,
    /// once an entry at `position` is read).
    pub fn is_at(&self, position: FeedPosition) -> bool {
        match &self.parts[..] {
            [] => position == FeedPosition::START,
            [only] => *only == position,
            _ => false,
        }
    }

    /// Whether the reader has read (or passed over) `entry`.
    pub fn covers(&self, entry: &FeedEntry) -> bool {
        entry.position <= self.position(entry.partition)
    }

    /// The cursor once `entry` is read too: its partition moves to it (never back).
    pub fn advance(&mut self, entry: &FeedEntry) {
        self.pass(entry.partition, entry.position);
    }

    /// The cursor once `partition` is read up to `position` (never back).
    pub fn pass(&mut self, partition: usize, position: FeedPosition) {
        if position <= self.position(partition) {
            return;
        }
        if self.parts.len() <= partition {
            self.parts.resize(partition + 1, FeedPosition::START);
        }
        self.parts[partition] = position;
        self.normalize();
    }

    /// The cursor after every entry of `page` and what the read passed over.
    #[must_use]
    pub fn after_page(self, page: &FeedPage) -> FeedCursor {
        let mut cursor = self.after(&page.entries);
        for &(partition, position) in &page.passed {
            cursor.pass(partition, position);
        }
        cursor
    }

    /// The cursor after every entry of `entries`.
    #[must_use]
    pub fn after<'a>(mut self, entries: impl IntoIterator<Item = &'a FeedEntry>) -> FeedCursor {
        for entry in entries {
            self.advance(entry);
        }
        self
    }

    fn normalize(&mut self) {
        while self.parts.last() == Some(&FeedPosition::START) {
            self.parts.pop();
        }
    }
}

impl From<FeedPosition> for FeedCursor {
    fn from(position: FeedPosition) -> Self {
        FeedCursor::at(position)
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((first, rest)) = self.parts.split_first() else {
            return write!(f, "{}", FeedPosition::START);
        };
        write!(f, "{first}")?;
        for part in rest {
            write!(f, ".{part}")?;
        }
        Ok(())
    }
}

impl FromStr for FeedCursor {
    type Err = InvalidInput;

    /// Parses positions joined by `.`, at most [`MAX_PARTITIONS`] of them.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let parts = raw
            .split('.')
            .map(str::parse)
            .collect::<Result<Vec<FeedPosition>, _>>()
            .map_err(|_| InvalidInput(format!("`{raw}` is not an event cursor")))?;
        if parts.len() > MAX_PARTITIONS {
            return Err(InvalidInput(format!(
                "an event cursor names at most {MAX_PARTITIONS} positions"
            )));
        }
        let mut cursor = FeedCursor { parts };
        cursor.normalize();
        Ok(cursor)
    }
}

/// One event in a tenant's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedEntry {
    /// The partition of the feed it is in: its job's.
    pub partition: usize,
    pub position: FeedPosition,
    pub event: Event,
}

/// A read of the feed after a cursor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FeedPage {
    /// Oldest first within each partition.
    pub entries: Vec<FeedEntry>,
    /// True when events after the cursor asked for were trimmed before they could be read:
    /// the reader has missed some (the page starts at the oldest event kept).
    pub missed: bool,
    /// How far the read went, in the partitions where it passed over events it does not
    /// return (trimmed, or no longer served): a reader that takes the whole page goes on from
    /// there ([`FeedCursor::after_page`]), so it is told once of what it missed.
    pub passed: Vec<(usize, FeedPosition)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64, n: u64) -> FeedPosition {
        FeedPosition { ms, n }
    }

    fn entry(partition: usize, position: FeedPosition) -> FeedEntry {
        let new = crate::testing::new_job("t");
        let (_, event) =
            crate::job::Job::create(crate::ids::JobId::generate(), &new, chrono::Utc::now());
        FeedEntry {
            partition,
            position,
            event,
        }
    }

    #[test]
    fn positions_round_trip_and_order_like_stream_ids() {
        let c: FeedPosition = "1700000000000-3".parse().unwrap();
        assert_eq!(c, at(1_700_000_000_000, 3));
        assert_eq!(c.to_string(), "1700000000000-3");
        assert_eq!("42".parse::<FeedPosition>().unwrap(), at(42, 0));
        assert!(at(1, 9) < at(2, 0));
        assert_eq!(at(1, u64::MAX).next(), at(2, 0));
        assert_eq!(at(2, 0).prev(), at(1, u64::MAX));
        assert_eq!(at(2, 5).prev().next(), at(2, 5));
        assert_eq!(FeedPosition::START.prev(), FeedPosition::START);
        let last = at(u64::MAX, u64::MAX);
        assert_eq!(last.next(), last);
        for bad in ["", "-", "a-1", "1-", "1-2-3", "+", "1.5"] {
            assert!(bad.parse::<FeedPosition>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_of_one_partition_is_its_position() {
        let cursor: FeedCursor = "1700000000000-3".parse().unwrap();
        assert_eq!(cursor, FeedCursor::at(at(1_700_000_000_000, 3)));
        assert_eq!(cursor.to_string(), "1700000000000-3");
        assert_eq!(FeedCursor::START.to_string(), "0-0");
        assert_eq!("0".parse::<FeedCursor>().unwrap(), FeedCursor::START);
        let mut read = FeedCursor::START;
        read.advance(&entry(0, at(5, 1)));
        assert_eq!(read.to_string(), "5-1");
        assert!(read.covers(&entry(0, at(5, 1))));
        assert!(!read.covers(&entry(0, at(5, 2))));
        for bad in ["", ".", "1-0.", "a", "1-2-3"] {
            assert!(bad.parse::<FeedCursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_keeps_a_position_per_partition_and_one_spelling() {
        let mut read = FeedCursor::START;
        read.advance(&entry(2, at(7, 0)));
        assert_eq!(read.to_string(), "0-0.0-0.7-0");
        assert_eq!(read.position(1), FeedPosition::START);
        assert_eq!(read.position(2), at(7, 0));
        assert_eq!(read.position(9), FeedPosition::START);
        read.advance(&entry(0, at(3, 0)));
        read.advance(&entry(1, at(4, 0)));
        read.advance(&entry(3, at(8, 0)));
        assert_eq!(read.to_string(), "3-0.4-0.7-0.8-0");
        // Never back.
        read.advance(&entry(2, at(6, 0)));
        assert_eq!(read.position(2), at(7, 0));
        // What a read passed over moves the cursor too.
        let page = FeedPage {
            entries: vec![entry(1, at(5, 0))],
            missed: true,
            passed: vec![(4, at(9, 0)), (2, at(1, 0))],
        };
        let moved = read.clone().after_page(&page);
        assert_eq!(moved.to_string(), "3-0.5-0.7-0.8-0.9-0");
        let parsed: FeedCursor = read.to_string().parse().unwrap();
        assert_eq!(parsed, read);
        // Trailing positions at the start are left out.
        let short: FeedCursor = "5-0.0-0.0".parse().unwrap();
        assert_eq!(short.to_string(), "5-0");
        assert_eq!(short, FeedCursor::at(at(5, 0)));
        assert_eq!(FeedCursor::of([]), FeedCursor::START);
        let everywhere = FeedCursor::everywhere(at(5, 0));
        assert_eq!(everywhere.position(MAX_PARTITIONS - 1), at(5, 0));
        let too_many = vec!["1-0"; MAX_PARTITIONS + 1].join(".");
        assert!(too_many.parse::<FeedCursor>().is_err());
    }
}
