//! A tenant's feed as the API serves it: the query of the event endpoints (cursors, filters by
//! job and event type), pages of matching events for `GET /v1/events` and their long poll, the
//! event as JSON, and where the feed ends right now.
//!
//! The store's feed holds every event of every job of the tenant, oldest first, each at a
//! [`FeedCursor`]. Filters are applied here, while reading: a page reads the feed in batches
//! until it has `limit` matching events, the feed ends, or [`MAX_SCAN`] entries were looked at,
//! and its `next_cursor` is how far the feed was read — past non-matching events too, so a
//! filtered poll never reads the same entries twice.

use std::collections::HashSet;
use std::time::Duration;

use actix_web::web;
use herald_core::view::format_time;
use herald_core::{
    Event, EventType, FeedCursor, FeedEntry, FieldError, Job, JobId, JobStatus, JobView,
    SharedStore, StoreError, TenantId,
};
use serde::Serialize;

use crate::http::caller::ActingKey;
use crate::http::error::ApiError;
use crate::http::metrics::ApiMetrics;
use crate::transport::hub::{Hub, Listener, Notice};

/// The most jobs one stream or poll may name with `job=`.
pub const MAX_JOB_FILTERS: usize = 100;
/// The most events in one page of `GET /v1/events`.
pub const MAX_PAGE_LIMIT: usize = 1000;
/// Events in a page of `GET /v1/events` unless `limit` says otherwise.
pub const DEFAULT_PAGE_LIMIT: usize = 100;
/// The most feed entries one read looks at while looking for matching ones; a page that stops
/// here is answered with what it found and a `next_cursor` past what it looked at.
pub const MAX_SCAN: usize = 10_000;
/// How many entries one read of the store asks for while scanning.
pub(crate) const READ_BATCH: usize = 500;
/// Which events a reader wants: those of some jobs (all without `job=`) and of some types (all
/// without `types=`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// The jobs named, in the order given, without repeats.
    jobs: Vec<JobId>,
    job_set: HashSet<JobId>,
    types: HashSet<EventType>,
}

impl FeedFilter {
    /// A filter on `jobs` (all when empty) and `types` (all when empty).
    pub fn new(
        jobs: impl IntoIterator<Item = JobId>,
        types: impl IntoIterator<Item = EventType>,
    ) -> Self {
        let mut filter = Self {
            types: types.into_iter().collect(),
            ..Self::default()
        };
        for id in jobs {
            if filter.job_set.insert(id) {
                filter.jobs.push(id);
            }
        }
        filter
    }

    /// Whether the reader wants `event`.
    pub fn matches(&self, event: &Event) -> bool {
        (self.job_set.is_empty() || self.job_set.contains(&event.job.id)) && self.wants(event.kind)
    }

    /// Whether the reader wants events of this type.
    pub fn wants(&self, kind: EventType) -> bool {
        self.types.is_empty() || self.types.contains(&kind)
    }

    /// The jobs named with `job=`, in order; empty for all of the tenant's jobs.
    pub fn jobs(&self) -> &[JobId] {
        &self.jobs
    }
}

/// The query of the event endpoints, as sent: `job` and `types` may repeat, and each value may
/// be a comma-separated list.
#[derive(Debug, Default)]
pub struct EventQuery {
    after: Option<String>,
    wait: Option<String>,
    limit: Option<String>,
    last_event_id: Option<String>,
    jobs: Vec<String>,
    types: Vec<String>,
}

/// What `GET /v1/events` asks for.
#[derive(Debug)]
pub struct PageParams {
    pub after: FeedCursor,
    pub wait: Option<Duration>,
    pub limit: usize,
    pub filter: FeedFilter,
}

impl EventQuery {
    /// Reads a query string; unknown parameters are ignored, like everywhere in the API.
    ///
    /// # Errors
    /// [`ApiError::InvalidParameters`] when the query string cannot be decoded.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
            .map_err(|e| {
                ApiError::InvalidParameters(vec![FieldError::new("query", e.to_string())])
            })?
            .into_inner();
        let mut parsed = Self::default();
        for (name, value) in pairs {
            let lists = |value: &str| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            let value_if_set = Some(value.clone()).filter(|v| !v.is_empty());
            match name.as_str() {
                "after" => parsed.after = value_if_set,
                "wait" => parsed.wait = value_if_set,
                "limit" => parsed.limit = value_if_set,
                "last_event_id" => parsed.last_event_id = value_if_set,
                "job" => parsed.jobs.extend(lists(&value)),
                "types" | "type" => parsed.types.extend(lists(&value)),
                _ => {}
            }
        }
        Ok(parsed)
    }

    /// The `last_event_id` parameter: where a first connection resumes (like Mercure's
    /// `lastEventID`), for clients that cannot send the `Last-Event-ID` header.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The `job=` and `types=` filter.
    ///
    /// # Errors
    /// [`ApiError::InvalidParameters`] naming each bad field.
    pub fn filter(&self) -> Result<FeedFilter, ApiError> {
        let mut errors = Vec::new();
        let filter = self.filter_into(&mut errors);
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(ApiError::InvalidParameters(errors))
        }
    }

    fn filter_into(&self, errors: &mut Vec<FieldError>) -> FeedFilter {
        let mut jobs = Vec::new();
        for raw in &self.jobs {
            match JobId::parse(raw) {
                Ok(id) => jobs.push(id),
                Err(e) => errors.push(FieldError::new("job", e.0)),
            }
        }
        let mut types = Vec::new();
        for raw in &self.types {
            match raw.parse::<EventType>() {
                Ok(kind) => types.push(kind),
                Err(e) => errors.push(FieldError::new(
                    "types",
                    format!(
                        "{e}: job.pending, job.processing, job.progress, job.completed, \
                         job.failed or job.canceled"
                    ),
                )),
            }
        }
        let filter = FeedFilter::new(jobs, types);
        if filter.jobs.len() > MAX_JOB_FILTERS {
            errors.push(FieldError::new(
                "job",
                format!(
                    "at most {MAX_JOB_FILTERS} jobs may be named; {} were",
                    filter.jobs.len()
                ),
            ));
        }
        filter
    }

    /// The parameters of `GET /v1/events`: `after` (from the oldest event kept without it),
    /// `wait` (0 to `max_wait` seconds), `limit`, and the filter.
    ///
    /// # Errors
    /// [`ApiError::InvalidParameters`] naming each bad field.
    pub fn page_params(&self, max_wait: Duration) -> Result<PageParams, ApiError> {
        let mut errors = Vec::new();
        let after = match self.after.as_deref().map(str::parse::<FeedCursor>) {
            None => FeedCursor::START,
            Some(Ok(cursor)) => cursor,
            Some(Err(e)) => {
                errors.push(FieldError::new(
                    "after",
                    format!("{e}: pass back a `next_cursor` or an event's `id`"),
                ));
                FeedCursor::START
            }
        };
        let wait = match self.wait.as_deref().map(str::parse::<u64>) {
            None => None,
            Some(Ok(seconds)) if seconds <= max_wait.as_secs() => {
                Some(Duration::from_secs(seconds))
            }
            Some(_) => {
                errors.push(FieldError::new(
                    "wait",
                    format!(
                        "must be a whole number of seconds from 0 to {}",
                        max_wait.as_secs()
                    ),
                ));
                None
            }
        };
        let limit = match self.limit.as_deref().map(str::parse::<usize>) {
            None => DEFAULT_PAGE_LIMIT,
            Some(Ok(n)) if (1..=MAX_PAGE_LIMIT).contains(&n) => n,
            Some(_) => {
                errors.push(FieldError::new(
                    "limit",
                    format!("must be a number from 1 to {MAX_PAGE_LIMIT}"),
                ));
                DEFAULT_PAGE_LIMIT
            }
        };
        let filter = self.filter_into(&mut errors);
        if !errors.is_empty() {
            return Err(ApiError::InvalidParameters(errors));
        }
        Ok(PageParams {
            after,
            wait,
            limit,
            filter,
        })
    }
}

/// The kind of the change that made `job` what it is now: the type of its latest event.
///
/// Every transition of the state machine leaves a status (and, while processing, a progress)
/// that names it: `start` clears progress and `report` sets it.
pub fn current_kind(job: &Job) -> EventType {
    match job.status {
        JobStatus::Pending => EventType::Pending,
        JobStatus::Processing if job.progress.is_some() => EventType::Progress,
        JobStatus::Processing => EventType::Processing,
        JobStatus::Completed => EventType::Completed,
        JobStatus::Failed => EventType::Failed,
        JobStatus::Canceled => EventType::Canceled,
    }
}

/// An event as `GET /v1/events` serves it: the body a webhook carries, plus its cursor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventResource {
    /// The event's cursor in the tenant's feed.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// When the change happened (the job's `updated_at` after it).
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The job resource as it was right after the change.
    pub data: JobView,
}

impl From<&(FeedCursor, FeedEntry)> for EventResource {
    /// The entry read, with the reader's cursor once it is read.
    fn from((cursor, entry): &(FeedCursor, FeedEntry)) -> Self {
        Self {
            id: cursor.to_string(),
            kind: entry.event.kind,
            timestamp: format_time(&entry.event.job.updated_at),
            data: JobView::from(&entry.event.job),
        }
    }
}

/// A page of `GET /v1/events`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub data: Vec<EventResource>,
    /// Where to continue: pass it back as `after`. Never null.
    pub next_cursor: String,
    /// True when events after `after` were trimmed from the feed before they could be read:
    /// the page starts at the oldest event kept.
    pub missed: bool,
}

/// What a read of the feed found.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRead {
    /// The matching events, oldest first, each with the cursor of a reader that read up to
    /// it.
    pub entries: Vec<(FeedCursor, FeedEntry)>,
    /// How far the feed was read: the last returned event's cursor when the page is full,
    /// else the last entry looked at (or where the read started, when there was none).
    pub next: FeedCursor,
    /// Some events after the starting cursor were trimmed before they could be read.
    pub missed: bool,
    /// The read reached the end of the feed (it did not stop at `limit` or [`MAX_SCAN`]).
    pub at_end: bool,
}

impl From<FeedRead> for EventPage {
    fn from(read: FeedRead) -> Self {
        Self {
            data: read.entries.iter().map(EventResource::from).collect(),
            next_cursor: read.next.to_string(),
            missed: read.missed,
        }
    }
}

/// Reads up to `limit` events of `tenant` after `after` that `filter` wants.
///
/// # Errors
/// Store failures.
pub async fn read_matching(
    store: &SharedStore,
    tenant: &TenantId,
    after: FeedCursor,
    filter: &FeedFilter,
    limit: usize,
) -> Result<FeedRead, StoreError> {
    let mut read = FeedRead {
        entries: Vec::new(),
        next: after,
        missed: false,
        at_end: false,
    };
    let mut scanned = 0;
    while read.entries.len() < limit && scanned < MAX_SCAN {
        // Unfiltered, every entry counts: ask for exactly what is missing.
        let unfiltered = filter.jobs.is_empty() && filter.types.is_empty();
        let wanted = if unfiltered {
            limit - read.entries.len()
        } else {
            READ_BATCH
        }
        .min(MAX_SCAN - scanned);
        let page = store.feed(tenant, &read.next, wanted).await?;
        read.missed |= page.missed;
        let got = page.entries.len();
        let mut whole = true;
        for entry in page.entries {
            read.next.advance(&entry);
            scanned += 1;
            if filter.matches(&entry.event) {
                read.entries.push((read.next.clone(), entry));
                if read.entries.len() == limit {
                    whole = false;
                    break;
                }
            }
        }
        // Past what the read passed over, once every entry of the page is taken.
        if whole {
            for &(partition, position) in &page.passed {
                read.next.pass(partition, position);
            }
        }
        if got < wanted {
            read.at_end = true;
            break;
        }
    }
    Ok(read)
}

/// What a page read needs from the process.
pub struct FeedReader<'a> {
    pub store: &'a SharedStore,
    pub hub: &'a Hub,
    pub metrics: &'a ApiMetrics,
}

impl FeedReader<'_> {
    /// A page of `GET /v1/events`; with `wait`, waits up to that long for a matching event when
    /// there is none yet (the tenant's subscription on the hub wakes it; nothing polls), for as
    /// long as `key` is not revoked.
    ///
    /// # Errors
    /// `401` when `key` is revoked before or while the poll waits; store failures.
    pub async fn page(
        &self,
        tenant: &TenantId,
        params: &PageParams,
        key: Option<ActingKey>,
    ) -> Result<FeedRead, ApiError> {
        let PageParams {
            after,
            wait,
            limit,
            filter,
        } = params;
        let Some(wait) = wait.filter(|w| !w.is_zero()) else {
            return Ok(read_matching(self.store, tenant, after.clone(), filter, *limit).await?);
        };
        let deadline = tokio::time::Instant::now() + wait;
        let watch = self.hub.revocations().watch(key).await?;
        // Subscribe first, then read: an event appended after the read still wakes the wait.
        let mut subscription = self
            .hub
            .subscribe_tenant(tenant.clone(), Listener::LongPoll)
            .until_revoked(&watch);
        let mut read = read_matching(self.store, tenant, after.clone(), filter, *limit).await?;
        // Found something, or stopped short of the end: the client has a page to take.
        if !read.entries.is_empty() || !read.at_end {
            return Ok(read);
        }
        let _waiting = self.metrics.long_poll_waiting();
        loop {
            let notice = tokio::select! {
                notice = subscription.recv() => notice,
                () = tokio::time::sleep_until(deadline) => return Ok(read),
            };
            match notice {
                // Shutting down: answer what there is; the client continues elsewhere.
                None => return Ok(read),
                Some(Notice::Revoked) => return Err(watch.refusal()),
                Some(Notice::Event(entry))
                    if read.next.covers(&entry) || !filter.matches(&entry.event) =>
                {
                    continue;
                }
                Some(Notice::Event(_) | Notice::Resync) => {}
                Some(Notice::Lagged) => {
                    subscription = self
                        .hub
                        .subscribe_tenant(tenant.clone(), Listener::LongPoll)
                        .until_revoked(&watch);
                }
            }
            // The notice is a hint; the page comes from the store, in feed order.
            let again =
                read_matching(self.store, tenant, read.next.clone(), filter, *limit).await?;
            let missed = read.missed || again.missed;
            read = FeedRead { missed, ..again };
            if !read.entries.is_empty() || !read.at_end {
                return Ok(read);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use herald_core::{ErrorCode, JobError, JobLimits, JobRequest, NewJob, Progress, Step};

    use super::*;

    fn query(raw: &str) -> EventQuery {
        EventQuery::parse(raw).unwrap()
    }

    fn fields(err: ApiError) -> Vec<String> {
        match err {
            ApiError::InvalidParameters(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid parameters, got {other:?}"),
        }
    }

    #[test]
    fn jobs_and_types_may_repeat_or_be_listed_with_commas() {
        let a = JobId::generate();
        let b = JobId::generate();
        let filter = query(&format!(
            "job={a}&job={b},{a}&types=job.completed,job.failed&types=job.canceled"
        ))
        .filter()
        .unwrap();
        assert_eq!(filter.jobs(), [a, b]);
        assert!(filter.wants(EventType::Canceled));
        assert!(filter.wants(EventType::Failed));
        assert!(!filter.wants(EventType::Progress));
        let everything = query("").filter().unwrap();
        assert!(everything.jobs().is_empty());
        assert!(everything.wants(EventType::Progress));
    }

    #[test]
    fn bad_jobs_types_cursors_waits_and_limits_are_named() {
        let err = query("job=nope&types=error&after=x&wait=61&limit=0")
            .page_params(Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(fields(err), ["after", "wait", "limit", "job", "types"]);
        let err = query("limit=1001")
            .page_params(Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(fields(err), ["limit"]);
    }

    #[test]
    fn more_than_a_hundred_jobs_are_refused() {
        let many: Vec<String> = (0..=MAX_JOB_FILTERS)
            .map(|_| format!("job={}", JobId::generate()))
            .collect();
        let err = query(&many.join("&")).filter().unwrap_err();
        assert_eq!(fields(err), ["job"]);
        let enough = many[..MAX_JOB_FILTERS].join("&");
        assert_eq!(
            query(&enough).filter().unwrap().jobs().len(),
            MAX_JOB_FILTERS
        );
    }

    #[test]
    fn a_page_defaults_to_the_oldest_event_and_a_hundred_events() {
        let params = query("").page_params(Duration::from_secs(60)).unwrap();
        assert_eq!(params.after, FeedCursor::START);
        assert_eq!(params.limit, DEFAULT_PAGE_LIMIT);
        assert_eq!(params.wait, None);
        let params = query("after=17-2&wait=5&limit=3")
            .page_params(Duration::from_secs(60))
            .unwrap();
        assert_eq!(params.after.to_string(), "17-2");
        assert_eq!(params.wait, Some(Duration::from_secs(5)));
        assert_eq!(params.limit, 3);
    }

    #[test]
    fn the_current_kind_of_a_job_is_the_type_of_its_latest_event() {
        let request = JobRequest {
            job_type: Some("demo.sleep".into()),
            max_attempts: Some(2),
            ..Default::default()
        };
        let new = NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .unwrap();
        let now = Utc::now();
        let error = || JobError::new(ErrorCode::HandlerError, "boom");
        let (job, event) = Job::create(JobId::generate(), &new, now);
        let mut steps = vec![(job.clone(), event)];
        let mut push = |step: Step| {
            steps.push((step.job.clone(), step.event));
            step.job
        };
        let job = push(job.start(now).unwrap());
        let job = push(job.report(Progress::new(50, None), now).unwrap());
        let job = push(job.fail(error(), Some(Duration::ZERO), now).unwrap());
        let job = push(job.start(now).unwrap());
        let job = push(job.release(now).unwrap());
        let job = push(job.start(now).unwrap());
        let job = push(job.report(Progress::new(10, None), now).unwrap());
        let done = job.complete(false, now).unwrap();
        let failed = job.fail(error(), None, now).unwrap();
        let canceled = job.cancel(now).unwrap();
        let ends = [done, failed, canceled].map(|step| (step.job, step.event));
        for (job, event) in steps.into_iter().chain(ends) {
            assert_eq!(current_kind(&job), event.kind, "{:?}", job.status);
        }
    }
}
