//! Reads that span partitions, merged: listings newest first, and feed pages.

use crate::feed::{FeedEntry, FeedPage};

/// Merges pages of a listing read from each partition with the same query, each newest first
/// with the cursor it would go on from (`None` when it has no more), into one page of at most
/// `limit`, newest first, and its cursor.
///
/// A partition that stopped early (its page ended at its cursor, having looked at every item
/// newer than it) has told nothing of what is older: the merged page holds only what every
/// partition has looked at, the items not older than the newest of those cursors, and goes
/// on from there.
pub(super) fn newest_first<T, I: Ord + Copy>(
    pages: Vec<(Vec<T>, Option<I>)>,
    id: impl Fn(&T) -> I,
    limit: usize,
) -> (Vec<T>, Option<I>) {
    let known = pages.iter().filter_map(|(_, next)| *next).max();
    let mut items: Vec<T> = pages
        .into_iter()
        .flat_map(|(items, _)| items)
        .filter(|item| known.is_none_or(|known| id(item) >= known))
        .collect();
    items.sort_by_key(|item| std::cmp::Reverse(id(item)));
    if items.len() > limit {
        items.truncate(limit);
        let next = items.last().map(&id);
        return (items, next);
    }
    (items, known)
}

/// Merges the pages of a tenant's feed read from each partition (partition `i` at index `i`,
/// each after the reader's position there) into one page of at most `limit` entries, by
/// position (the time it was appended), then partition.
///
/// A partition whose reader missed events says so once its entries are in the page, or when it
/// had none: when all of them were left out, the next read, from the same position there,
/// says it.
pub(super) fn feed(pages: Vec<FeedPage>, limit: usize) -> FeedPage {
    let mut entries: Vec<FeedEntry> = Vec::new();
    let mut missed = Vec::with_capacity(pages.len());
    for page in pages {
        missed.push(page.missed);
        entries.extend(page.entries);
    }
    entries.sort_by_key(|entry| (entry.position, entry.partition));
    let all: Vec<usize> = entries.iter().map(|entry| entry.partition).collect();
    entries.truncate(limit);
    let missed = missed.iter().enumerate().any(|(partition, &missed)| {
        missed
            && (entries.iter().any(|entry| entry.partition == partition)
                || !all.contains(&partition))
    });
    FeedPage { entries, missed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedPosition;

    #[test]
    fn a_merged_listing_holds_only_what_every_partition_looked_at() {
        // Partition 0 stopped at 8, having looked at everything newer; partition 1 is done.
        let pages = vec![(vec![10, 8], Some(8)), (vec![9, 5, 2], None)];
        assert_eq!(newest_first(pages, |n| *n, 10), (vec![10, 9, 8], Some(8)));
        // A full page goes on from its oldest item.
        let pages = vec![(vec![10, 8], None), (vec![9, 5, 2], None)];
        assert_eq!(newest_first(pages, |n| *n, 3), (vec![10, 9, 8], Some(8)));
        let pages = vec![(vec![10, 8], None), (vec![9], None)];
        assert_eq!(newest_first(pages, |n| *n, 3), (vec![10, 9, 8], None));
    }

    #[test]
    fn a_merged_feed_page_is_in_time_order_and_says_missed_with_its_partition() {
        let new = crate::testing::new_job("t");
        let (_, event) =
            crate::job::Job::create(crate::ids::JobId::generate(), &new, chrono::Utc::now());
        let entry = |partition, ms| FeedEntry {
            partition,
            position: FeedPosition { ms, n: 0 },
            event: event.clone(),
        };
        let page = |entries, missed| FeedPage { entries, missed };
        let merged = feed(
            vec![
                page(vec![entry(0, 1), entry(0, 4)], false),
                page(vec![entry(1, 2), entry(1, 3)], true),
            ],
            3,
        );
        let at: Vec<(usize, u64)> = merged
            .entries
            .iter()
            .map(|e| (e.partition, e.position.ms))
            .collect();
        assert_eq!(at, [(0, 1), (1, 2), (1, 3)]);
        assert!(merged.missed);
        // Partition 1's entries all left out: its miss is told by the next read.
        let merged = feed(
            vec![
                page(vec![entry(0, 1), entry(0, 2)], false),
                page(vec![entry(1, 5)], true),
            ],
            2,
        );
        assert!(!merged.missed);
        // A partition with nothing left after the reader's position tells at once.
        let merged = feed(vec![page(vec![entry(0, 1)], false), page(vec![], true)], 1);
        assert!(merged.missed);
    }
}
