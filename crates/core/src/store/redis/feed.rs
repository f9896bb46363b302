//! Tenants' feeds on Redis: reading a page after a cursor, and where a feed ends.
//!
//! Each tenant's feed is a stream capped with `MAXLEN ~` (at least `event_log_max` entries
//! are kept) and trimmed by age with `MINID ~` (nothing older than the retention is kept, give
//! or take one stream node), and it expires once the tenant has been quiet for the retention;
//! an entry's id is its [`FeedPosition`] in the store's partition. A read serves an event only while it is younger than
//! its job type's retention (or the install's, when shorter: see
//! [`StoreConfig::feed_keep_of`]), by the server's clock, so nothing of an expired job is read
//! from a feed. Each entry names the entry before it (`prev`, kept across an expiry by the
//! feed's `feed-last` key), so the oldest entry kept names the newest one gone: a reader after
//! cursor `c` missed events exactly when that one is newer than `c`, or when an entry after
//! `c` is no longer served. (`XINFO STREAM`'s `max-deleted-entry-id` cannot tell: trimming
//! does not move it, only `XDEL` does.)

use ::redis::Value;
use ::redis::streams::{StreamId, StreamRangeReply};

use super::{Partition, backend};
use crate::feed::{FeedEntry, FeedPage, FeedPosition};
use crate::ids::TenantId;
use crate::store::StoreError;

/// How many feed entries a read asks for at once after it had to pass over entries the feed no
/// longer serves (see `feed`).
const FEED_SKIP_BATCH: usize = 256;

/// What one read of a feed found.
struct FeedBatch {
    /// The server's clock, in Unix milliseconds: the clock the cursors are taken from.
    now_ms: u64,
    /// The newest entry trimmed, or expired with the whole stream, if any.
    newest_gone: Option<FeedPosition>,
    entries: Vec<FeedEntry>,
}

impl Partition {
    /// One read of a tenant's feed, in one transaction: the server's clock, the newest entry
    /// gone (the oldest entry's `prev`, see `# Feeds`, or the last one appended when none is
    /// left) and up to `count` entries after `from`.
    async fn read_feed(
        &self,
        tenant: &TenantId,
        from: FeedPosition,
        count: usize,
    ) -> Result<FeedBatch, StoreError> {
        let feed = self.keys.feed(tenant);
        // One transaction: the oldest entry, the clock and the page must come from the same
        // moment, or a trim in between could report as missed an entry the page holds.
        let ((secs, micros), last, oldest, page): (
            (u64, u64),
            Option<String>,
            StreamRangeReply,
            StreamRangeReply,
        ) = ::redis::pipe()
            .atomic()
            .cmd("TIME")
            .cmd("GET")
            .arg(self.keys.feed_last(tenant))
            .cmd("XRANGE")
            .arg(&feed)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XRANGE")
            .arg(&feed)
            .arg(format!("({from}"))
            .arg("+")
            .arg("COUNT")
            .arg(count.min(i64::MAX as usize))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read a tenant's feed"))?;
        // With no entry left at all (trimmed, or the stream expired), the newest one gone is
        // the last one appended.
        let newest_gone = match oldest.ids.first() {
            Some(entry) => prev_of(tenant, entry)?,
            None => last.map(|last| parse_last(tenant, &last)).transpose()?,
        };
        let entries = page
            .ids
            .iter()
            .map(|entry| feed_entry(self.index, tenant, entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FeedBatch {
            now_ms: secs.saturating_mul(1000).saturating_add(micros / 1000),
            newest_gone,
            entries,
        })
    }

    /// Up to `limit` events of the tenant's feed after `after`, and whether the reader missed
    /// some (see the module's `# Feeds`).
    pub(super) async fn feed_page(
        &self,
        tenant: &TenantId,
        after: FeedPosition,
        limit: usize,
    ) -> Result<FeedPage, StoreError> {
        let mut page = FeedPage::default();
        // How far the read passed over events it does not return, before the page filled.
        let mut passed = after;
        // Nothing follows the largest cursor (and Redis refuses it as an exclusive start).
        let last_possible = FeedPosition {
            ms: u64::MAX,
            n: u64::MAX,
        };
        let mut from = after;
        let mut first = true;
        while from != last_possible {
            // One entry at least, even for a limit of 0: whether the first one after `after`
            // is still served says whether the reader missed something. Once entries were
            // passed over (no longer served), more may follow: read on in batches of at least
            // `FEED_SKIP_BATCH`, so a page among many of them costs few round trips.
            let wanted = limit.saturating_sub(page.entries.len()).max(1);
            let count = if page.missed {
                wanted.max(FEED_SKIP_BATCH)
            } else {
                wanted
            };
            let batch = self.read_feed(tenant, from, count).await?;
            if first {
                if let Some(gone) = batch.newest_gone.filter(|gone| *gone > after) {
                    page.missed = true;
                    passed = gone;
                }
                first = false;
            }
            let full = batch.entries.len() == count;
            let oldest_kept = FeedPosition {
                ms: batch.now_ms.saturating_sub(self.feed_keep()),
                n: 0,
            };
            let mut jumped = false;
            for entry in batch.entries {
                if entry.position <= oldest_kept {
                    // Older than the feed keeps anything (`MINID ~` trims whole nodes): the
                    // rest of the window lies past these, where the read goes on.
                    page.missed = true;
                    from = from.max(oldest_kept);
                    passed = passed.max(from);
                    jumped = true;
                    break;
                }
                from = entry.position;
                let full = page.entries.len() >= limit;
                if !self.config.feed_serves(&entry, batch.now_ms) {
                    page.missed = true;
                    if !full {
                        passed = passed.max(from);
                    }
                } else if !full {
                    page.entries.push(entry);
                }
            }
            if !jumped && (!full || page.entries.len() >= limit) {
                break;
            }
        }
        if passed > after {
            page.passed.push((self.index, passed));
        }
        Ok(page)
    }

    /// The position of the newest event of the tenant's feed ([`FeedPosition::START`] for
    /// none).
    pub(super) async fn feed_end(&self, tenant: &TenantId) -> Result<FeedPosition, StoreError> {
        // `feed-last` outlives the stream: a feed that expired still ends where it did.
        let last: Option<String> = ::redis::cmd("GET")
            .arg(self.keys.feed_last(tenant))
            .query_async(&mut self.conn())
            .await
            .map_err(backend("read the end of a tenant's feed"))?;
        last.map_or(Ok(FeedPosition::START), |last| parse_last(tenant, &last))
    }
}

/// The id `feed-last` holds.
fn parse_last(tenant: &TenantId, id: &str) -> Result<FeedPosition, StoreError> {
    id.parse().map_err(|_| {
        StoreError::Corrupt(format!(
            "the feed of tenant {tenant} ends at an id `{id}` that is not a position"
        ))
    })
}

/// A feed entry of `partition` as stored: its id is the position, its `event` field the
/// event.
fn feed_entry(
    partition: usize,
    tenant: &TenantId,
    entry: &StreamId,
) -> Result<FeedEntry, StoreError> {
    let position = entry.id.parse().map_err(|_| {
        StoreError::Corrupt(format!(
            "an entry of the feed of tenant {tenant} has the id `{}`",
            entry.id
        ))
    })?;
    let event = match entry.map.get("event") {
        Some(Value::BulkString(bytes)) => serde_json::from_slice(bytes).map_err(|e| {
            StoreError::Corrupt(format!(
                "the event at {position} in the feed of tenant {tenant}: {e}"
            ))
        })?,
        other => {
            return Err(StoreError::Corrupt(format!(
                "the entry {position} of the feed of tenant {tenant} holds no event: {other:?}"
            )));
        }
    };
    Ok(FeedEntry {
        partition,
        position,
        event,
    })
}

/// The `prev` of a feed entry: the id of the entry appended before it (`None` on the first).
fn prev_of(tenant: &TenantId, entry: &StreamId) -> Result<Option<FeedPosition>, StoreError> {
    let raw = match entry.map.get("prev") {
        None => return Ok(None),
        Some(Value::BulkString(bytes)) => std::str::from_utf8(bytes).ok(),
        Some(_) => None,
    };
    raw.and_then(|raw| raw.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the entry {} of the feed of tenant {tenant} names no readable `prev`",
                entry.id
            ))
        })
}
