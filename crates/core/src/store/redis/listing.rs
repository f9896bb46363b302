//! The one paged scan behind every listing (jobs, a subscription's deliveries): ids read from
//! listing indexes newest first, below a cursor, their records read a page at a time, and
//! those a filter keeps gathered until the page is full, the indexes end, or the scan has
//! looked at as many ids as it may (then the page may be short, and its cursor says where the
//! next one goes on).
//!
//! Several indexes (a job listing of every status: one index per status) are read in one
//! transaction and merged, so a job moving from one index to another between two reads is
//! neither missed nor listed twice within a page. Ids whose records expired before maintenance
//! swept them out of the indexes are dropped from the indexes as the scan meets them.

use std::future::Future;

use super::{Partition, backend};
use crate::store::StoreError;

/// The fewest ids a filtered listing may look at per request, however small its page.
const MIN_EXAMINED: usize = 500;
/// How many ids a filtered listing may look at per result asked for.
const EXAMINED_PER_RESULT: usize = 5;

/// What the record of one listed id turned out to be.
pub(super) enum Found<T> {
    /// Expired: the id goes from the indexes.
    Gone,
    /// Not what the listing asks for.
    Skip,
    /// Listed.
    Keep(T),
    /// The indexes are not the caller's to read (another tenant's): the listing is empty.
    Foreign,
}

/// One page of a scan.
pub(super) struct Scanned<T> {
    pub(super) items: Vec<T>,
    /// Where the next page starts (exclusive), when there may be one.
    pub(super) next: Option<String>,
}

impl<T> Scanned<T> {
    fn empty() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

impl Partition {
    /// Up to `limit` items from `indexes`, newest first, below `before`: `read` tells for each
    /// page of ids what it found. With `filtered`, more ids are read ahead per item wanted, and
    /// the scan stops after looking at `limit × 5` ids (at least 500).
    pub(super) async fn scan<T, F, Fut>(
        &self,
        indexes: &[String],
        before: Option<String>,
        limit: usize,
        filtered: bool,
        context: &'static str,
        mut read: F,
    ) -> Result<Scanned<T>, StoreError>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: Future<Output = Result<Vec<Found<T>>, StoreError>>,
    {
        if limit == 0 || indexes.is_empty() {
            return Ok(Scanned::empty());
        }
        let budget = if filtered {
            limit.saturating_mul(EXAMINED_PER_RESULT).max(MIN_EXAMINED)
        } else {
            usize::MAX
        };
        let ahead = if filtered { EXAMINED_PER_RESULT } else { 1 };
        let mut upper = before.map_or_else(|| "+".to_owned(), |id| format!("({id}"));
        let mut items = Vec::new();
        let mut examined = 0;
        let mut last_examined = None;
        let mut more = false;
        loop {
            if examined >= budget {
                more = true;
                break;
            }
            // One beyond the page tells whether another page follows.
            let count = ((limit - items.len()) * ahead + 1).min(budget - examined);
            let ids = self.merged_page(indexes, &upper, count, context).await?;
            let fetched = ids.len();
            if fetched == 0 {
                break;
            }
            let found = read(ids.clone()).await?;
            let mut gone = Vec::new();
            for (id, found) in ids.into_iter().zip(found) {
                match found {
                    Found::Foreign => return Ok(Scanned::empty()),
                    Found::Keep(_) if items.len() == limit => {
                        more = true;
                        break;
                    }
                    Found::Keep(item) => items.push(item),
                    Found::Skip => {}
                    Found::Gone => gone.push(id.clone()),
                }
                examined += 1;
                last_examined = Some(id);
            }
            self.forget_expired(indexes, &gone, context).await?;
            if more || fetched < count {
                break;
            }
            if let Some(last) = &last_examined {
                upper = format!("({last}");
            }
        }
        Ok(Scanned {
            items,
            next: if more { last_examined } else { None },
        })
    }

    /// Up to `count` ids below `upper` (a `ZRANGE … BYLEX` bound: `+` or `(<id>`) from
    /// `indexes` together, newest first.
    async fn merged_page(
        &self,
        indexes: &[String],
        upper: &str,
        count: usize,
        context: &'static str,
    ) -> Result<Vec<String>, StoreError> {
        let mut pipe = ::redis::pipe();
        if indexes.len() > 1 {
            pipe.atomic();
        }
        for index in indexes {
            pipe.cmd("ZRANGE")
                .arg(index)
                .arg(upper)
                .arg("-")
                .arg("BYLEX")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(count);
        }
        let pages: Vec<Vec<String>> = pipe
            .query_async(&mut self.conn())
            .await
            .map_err(backend(context))?;
        let mut ids: Vec<String> = pages.into_iter().flatten().collect();
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(count);
        Ok(ids)
    }

    /// Drops from listing indexes the ids whose records expired (maintenance has not swept
    /// them out yet): the indexes forget them as a listing meets them.
    async fn forget_expired(
        &self,
        indexes: &[String],
        gone: &[String],
        context: &'static str,
    ) -> Result<(), StoreError> {
        if gone.is_empty() {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        for index in indexes {
            pipe.cmd("ZREM").arg(index).arg(gone).ignore();
        }
        pipe.query_async::<()>(&mut self.conn())
            .await
            .map_err(backend(context))
    }
}
