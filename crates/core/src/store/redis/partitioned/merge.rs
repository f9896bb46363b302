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

/// Merges the pages of a tenant's feed read from each partition (each after the reader's
/// position there) into one page of at most `limit` entries, by position (the time it was
/// appended), then partition.
///
/// Whether the reader missed events is said at once, whatever the page holds. How far each
/// partition's read passed over events it does not return goes with the page, but never past
/// an entry of that partition left out of it: the reader reads that entry next, and is not
/// told again of what it missed before it.
pub(super) fn feed(pages: Vec<FeedPage>, limit: usize) -> FeedPage {
    let mut entries: Vec<FeedEntry> = Vec::new();
    let mut merged = FeedPage::default();
    for page in pages {
        merged.missed |= page.missed;
        entries.extend(page.entries);
        merged.passed.extend(page.passed);
    }
    entries.sort_by_key(|entry| (entry.position, entry.partition));
    let left_out = entries.split_off(limit.min(entries.len()));
    for (partition, position) in &mut merged.passed {
        if let Some(first) = left_out.iter().find(|entry| entry.partition == *partition) {
            *position = (*position).min(first.position.prev());
        }
    }
    merged.entries = entries;
    merged
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
    fn a_merged_feed_page_is_in_time_order_and_passes_nothing_it_left_out() {
        let new = crate::testing::new_job("t");
        let (_, event) =
            crate::job::Job::create(crate::ids::JobId::generate(), &new, chrono::Utc::now());
        let at = |ms| FeedPosition { ms, n: 0 };
        let entry = |partition, ms| FeedEntry {
            partition,
            position: at(ms),
            event: event.clone(),
        };
        let page = |entries, passed: Vec<(usize, FeedPosition)>| FeedPage {
            missed: !passed.is_empty(),
            entries,
            passed,
        };
        let merged = feed(
            vec![
                page(vec![entry(0, 1), entry(0, 4)], vec![]),
                page(vec![entry(1, 2), entry(1, 3)], vec![(1, at(1))]),
            ],
            3,
        );
        let at_of = |page: &FeedPage| -> Vec<(usize, u64)> {
            page.entries
                .iter()
                .map(|e| (e.partition, e.position.ms))
                .collect()
        };
        assert_eq!(at_of(&merged), [(0, 1), (1, 2), (1, 3)]);
        assert!(merged.missed);
        assert_eq!(merged.passed, [(1, at(1))]);
        // Partition 1's entry left out: it says what it missed now, and goes on from just
        // before that entry, which the next read returns.
        let merged = feed(
            vec![
                page(vec![entry(0, 1), entry(0, 2)], vec![]),
                page(vec![entry(1, 5)], vec![(1, at(4))]),
            ],
            2,
        );
        assert!(merged.missed);
        assert_eq!(merged.passed, [(1, at(4))]);
        let merged = feed(
            vec![
                page(vec![entry(0, 1)], vec![]),
                page(vec![entry(1, 2)], vec![(1, at(3))]),
            ],
            1,
        );
        assert_eq!(merged.passed, [(1, at(2).prev())]);
        // A partition with nothing left after the reader's position passes what is gone.
        let merged = feed(
            vec![
                page(vec![entry(0, 1)], vec![]),
                page(vec![], vec![(1, at(9))]),
            ],
            1,
        );
        assert!(merged.missed);
        assert_eq!(merged.passed, [(1, at(9))]);
    }
}
