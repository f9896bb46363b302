//! The event streams: one job (`GET /v1/jobs/{id}/events`) or many jobs of a tenant
//! (`GET /v1/events/stream`), and their `text/event-stream` answer.
//!
//! Every stream **subscribes to the hub first** (so nothing that happens while it starts is
//! missed), then reads the store (the job and its history, or the tenant's feed), then sends
//! each event at most once — a job stream drops anything with a `seq` it has sent, a feed
//! stream anything at or before the last cursor it read. A job stream also notices a `seq` that
//! skips ahead (a notice lost on the way) and fills the gap from the job's history; on
//! [`Notice::Resync`] both catch up from the store. No gaps, no duplicates, whichever process the client lands on.
//!
//! When the store no longer holds what a stream would need (a history or feed trimmed past the
//! client's position), the stream says so rather than skip silently: a resumed stream answers
//! `Last-Event-ID` with where replay really starts; a running stream ends, so the client's
//! reconnection learns it that way.
//!
//! A stream ends when its job reaches a terminal state (job streams), when its subscriber falls
//! behind and the hub lets it go ([`Notice::Lagged`]: the client resumes with
//! `Last-Event-ID`), when the process shuts down, when the key it was opened with (directly or
//! through a read token) is revoked ([`Notice::Revoked`]: at once, even with events queued;
//! the client's reconnection gets `401`), or when actix drops it because the client left —
//! noticed as soon as the client closes its connection (the server refuses half-closed
//! connections, see [`crate::startup`]), or else when a heartbeat fails to write. Dropping a
//! stream drops its hub subscription.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{
    CacheControl, CacheDirective, ContentEncoding, HeaderName, HeaderValue,
};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::Stream;
use herald_core::{
    Event, FeedCursor, FeedPage, FieldError, Job, JobId, SharedStore, StoreError, TenantId,
};
use prometheus_client::metrics::counter::Counter;

use crate::ApiConfig;
use crate::http::caller::ActingKey;
use crate::http::error::ApiError;
use crate::http::metrics::{ApiMetrics, StreamGuard, StreamKind};
use crate::state::AppState;
use crate::transport::body::EventBody;
use crate::transport::feed::{EventQuery, FeedFilter, READ_BATCH, current_kind};
use crate::transport::frame::job_frame;
use crate::transport::hub::{Hub, Listener, Notice, Published, Subscription};

/// The header (request and answer) naming where a stream resumes.
pub const LAST_EVENT_ID: &str = "Last-Event-ID";

/// The media type of an event stream.
const EVENT_STREAM: &str = "text/event-stream";

/// The answer's `Last-Event-ID` when a feed stream resumes from the oldest event kept because
/// the feed no longer reaches back to the client's cursor (Mercure's word for it).
pub const EARLIEST: &str = "earliest";

/// Where a client resumes: the `Last-Event-ID` header (an `EventSource` reconnecting), else
/// the `last_event_id` query parameter (a first connection that cannot send headers). The
/// header wins: a reconnecting `EventSource` still carries its first URL's parameter.
///
/// # Errors
/// [`ApiError::InvalidParameters`] when the header is not text.
pub fn last_event_id(req: &HttpRequest, query: &EventQuery) -> Result<Option<String>, ApiError> {
    let header = req
        .headers()
        .get(LAST_EVENT_ID)
        .map(|value| {
            value.to_str().map(str::trim).map_err(|_| {
                ApiError::InvalidParameters(vec![FieldError::new(
                    LAST_EVENT_ID,
                    "must be visible ASCII",
                )])
            })
        })
        .transpose()?
        .filter(|value| !value.is_empty());
    Ok(header.or_else(|| query.last_event_id()).map(str::to_owned))
}

/// How often a silent stream sends a comment: four fifths of the longest silence allowed
/// (12 s for the 15 s bound), so that a timer that fires late, a busy process or a slow
/// network does not let a silence reach the bound that proxies and clients count on.
pub fn heartbeat_interval(longest_silence: Duration) -> Duration {
    longest_silence * 4 / 5
}

/// The `text/event-stream` answer for `events` (each one frame, see [`super::frame`]): a
/// `retry:` hint first, then the events (those ready at once as one chunk), with a comment every [`heartbeat_interval`] from the server's
/// one clock, so no silence reaches `sse_heartbeat`; `Cache-Control: no-cache` and
/// `X-Accel-Buffering: no` so neither caches nor proxies such as nginx hold events back; and,
/// for a resumed stream, `Last-Event-ID` naming the event replay starts after.
pub fn respond(
    req: &HttpRequest,
    config: &ApiConfig,
    events: impl Stream<Item = Bytes> + 'static,
    resumed_after: Option<String>,
) -> HttpResponse {
    // Every server of this crate holds its state; the hub in it keeps the heartbeat clock.
    let heartbeat = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.hub.heartbeats().join());
    let mut response = HttpResponse::Ok()
        .content_type(EVENT_STREAM)
        .insert_header(ContentEncoding::Identity)
        .insert_header(CacheControl(vec![CacheDirective::NoCache]))
        .insert_header((
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        ))
        .body(EventBody::new(config.sse_retry, events, heartbeat));
    if let Some(value) = resumed_after.and_then(|v| HeaderValue::try_from(v).ok()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("last-event-id"), value);
    }
    response
}

/// How long a running stream keeps trying to read a store that is unavailable before it gives
/// up and ends: long enough to outlast a failover of Redis (a Sentinel or a Cluster calling the
/// primary down, then promoting its replica).
const READ_PATIENCE: Duration = Duration::from_secs(60);
/// How long it keeps trying after any other failure, which is unlikely to pass.
const BRIEF_PATIENCE: Duration = Duration::from_secs(3);
/// The pause after the first failed read; it doubles after each further one, up to
/// [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Runs `read` until it succeeds, with backoff, for up to [`READ_PATIENCE`] while the store
/// is unavailable and [`BRIEF_PATIENCE`] after another failure; `None` when it kept failing,
/// the process is shutting down or the stream's key was revoked.
///
/// A running stream catches up after the backend came back (that is when a resync arrives),
/// so a failure is likely brief: retrying keeps the stream, whereas ending it would send the
/// `EventSource` to reconnect while the backend may still fail — and an `EventSource` whose
/// connection is answered with an error gives up for good. Heartbeats go on meanwhile.
async fn read_with_retries<T, F>(
    subscription: &Subscription,
    mut read: impl FnMut() -> F,
) -> Option<T>
where
    F: Future<Output = Result<T, StoreError>>,
{
    let started = tokio::time::Instant::now();
    let mut delay = FIRST_RETRY;
    let mut attempt = 0_u32;
    loop {
        attempt += 1;
        match read().await {
            Ok(value) => return Some(value),
            Err(error) if started.elapsed() + delay < patience(&error) => {
                tracing::debug!(%error, attempt, "a stream could not read the store; retrying");
                tokio::select! {
                    () = subscription.ended() => return None,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(MAX_RETRY);
            }
            Err(error) => {
                tracing::warn!(%error, "a stream could not read the store; it ends");
                return None;
            }
        }
    }
}

/// How long a stream keeps trying to read the store after `error`.
fn patience(error: &StoreError) -> Duration {
    if matches!(error, StoreError::Unavailable(_)) {
        READ_PATIENCE
    } else {
        BRIEF_PATIENCE
    }
}

/// A stream that makes its events one at a time: a job stream or a feed stream.
pub trait NextEvent: Sized + 'static {
    /// The next event to send, framed; `None` ends the stream.
    fn next_event(&mut self) -> impl Future<Output = Option<Bytes>>;

    /// The stream's events, for [`respond`].
    fn into_events(self) -> impl Stream<Item = Bytes> + 'static {
        futures_util::stream::unfold(self, |mut stream| async move {
            let event = stream.next_event().await?;
            Some((event, stream))
        })
    }
}

/// What a stream needs from the process; owned, since a stream outlives its handler.
#[derive(Clone)]
pub struct StreamContext {
    pub store: SharedStore,
    pub hub: Hub,
    pub metrics: ApiMetrics,
}

/// An event waiting to be sent: read from the store, or shared with every other stream that
/// was handed the same notice.
enum Queued {
    Stored(Box<Event>),
    Live(Arc<Published>),
}

impl Queued {
    fn event(&self) -> &Event {
        match self {
            Self::Stored(event) => event.as_ref(),
            Self::Live(entry) => &entry.event,
        }
    }

    /// The event's frame on a job stream: a live event's is shared with every other stream.
    fn job_frame(&self) -> Option<Bytes> {
        match self {
            Self::Stored(event) => job_frame(event.seq(), event.kind, &event.job),
            Self::Live(entry) => entry.job_frame(),
        }
    }

    /// The event's frame on a feed stream, where its id is `cursor`.
    fn feed_frame(&self, cursor: &FeedCursor) -> Option<Bytes> {
        match self {
            Self::Stored(event) => job_frame(cursor, event.kind, &event.job),
            Self::Live(entry) => entry.feed_frame(cursor),
        }
    }
}

/// What a stream keeps of the process once open: few bytes, since ten thousand idle streams
/// each hold one.
struct Held {
    store: SharedStore,
    /// The count of events sent by streams of this kind.
    sent: Counter,
    _open: StreamGuard,
}

impl Held {
    fn new(ctx: StreamContext, kind: StreamKind) -> Self {
        Self {
            sent: ctx.metrics.stream_events_sent(kind),
            _open: ctx.metrics.stream_opened(kind),
            store: ctx.store,
        }
    }
}

/// The stream of one job's events.
pub struct JobStream {
    held: Held,
    tenant: TenantId,
    id: JobId,
    subscription: Subscription,
    queue: VecDeque<Queued>,
    /// The highest `seq` queued or sent. A live event right after it is queued as it is; one
    /// further ahead means notices were lost, and the history fills the gap.
    last_seen: u64,
    /// The client has every event up to this `seq`.
    last_sent: u64,
    /// Nothing is to follow the queue: the terminal event is out, or the store cannot fill a
    /// gap.
    closing: bool,
}

/// How a job stream opens.
pub enum JobOpening {
    /// Stream it; `resumed_after` is the answer's `Last-Event-ID` when the client resumed.
    Stream {
        stream: Box<JobStream>,
        resumed_after: Option<u64>,
    },
    /// The client has seen the job's terminal event already: `204`, and the `EventSource`
    /// stops reconnecting.
    Finished,
}

impl JobStream {
    /// Opens the stream of job `id` for a client that has seen everything up to `seq`
    /// `last_event_id` (nothing, without it), ending when `key` is revoked.
    ///
    /// Without `last_event_id` the stream starts with the job's current state. With it, with
    /// every event after it the history still holds — `resumed_after` then says where that
    /// really starts — or with the current state when the job never reached that id.
    ///
    /// # Errors
    /// [`ApiError::JobNotFound`] when the tenant has no such job; `401` when `key` is revoked
    /// already; store failures.
    pub async fn open(
        ctx: StreamContext,
        tenant: TenantId,
        id: JobId,
        last_event_id: Option<u64>,
        key: Option<ActingKey>,
    ) -> Result<JobOpening, ApiError> {
        let watch = ctx.hub.revocations().watch(key).await?;
        // Subscribe first, then read: whatever changes after the read is in the subscription.
        let subscription = ctx
            .hub
            .subscribe_job(id, Listener::Stream(StreamKind::Job))
            .until_revoked(&watch);
        let job = ctx
            .store
            .get(&tenant, &id)
            .await?
            .ok_or_else(|| ApiError::JobNotFound(id.to_string()))?;
        let seq = job.seq;
        let current = |job: Job| {
            Queued::Stored(Box::new(Event {
                kind: current_kind(&job),
                job,
            }))
        };
        let mut queue = VecDeque::new();
        let resumed_after = match last_event_id {
            None => {
                queue.push_back(current(job));
                None
            }
            Some(n) if n >= seq && job.status.is_terminal() => return Ok(JobOpening::Finished),
            Some(n) if n == seq => Some(n),
            // An id this job never reached (a client mixing up jobs, or a backend that lost
            // its data): start over from the job's current state.
            Some(n) if n > seq => {
                queue.push_back(current(job));
                Some(seq - 1)
            }
            Some(n) => {
                let history = ctx.store.history(&tenant, &id, n).await?;
                match history.first().map(Event::seq) {
                    Some(first) => {
                        queue.extend(history.into_iter().map(|e| Queued::Stored(Box::new(e))));
                        Some(first.saturating_sub(1).max(n))
                    }
                    // Nothing kept after `n` (expired history): the current state is all there is.
                    None => {
                        queue.push_back(current(job));
                        Some(seq - 1)
                    }
                }
            }
        };
        let last_sent = resumed_after.unwrap_or(0);
        let last_seen = queue.back().map_or(last_sent, |q| q.event().seq());
        Ok(JobOpening::Stream {
            stream: Box::new(Self {
                held: Held::new(ctx, StreamKind::Job),
                tenant,
                id,
                subscription,
                queue,
                last_seen,
                last_sent,
                closing: false,
            }),
            resumed_after,
        })
    }

    /// A live event: queued when it is the next one. Answers whether it skipped ahead (notices
    /// were lost): then the history must fill the gap first.
    fn take(&mut self, entry: Arc<Published>) -> bool {
        let event = &entry.event;
        if event.job.id != self.id || event.job.tenant != self.tenant {
            return false;
        }
        let seq = event.seq();
        if seq <= self.last_seen {
            return false;
        }
        if seq == self.last_seen + 1 {
            self.last_seen = seq;
            self.queue.push_back(Queued::Live(entry));
            return false;
        }
        true
    }

    /// Reads the history after the last event seen. If it no longer reaches back that far, the
    /// stream ends after what it has: the client reconnects and learns where replay starts.
    async fn catch_up(&mut self) {
        let after = self.last_seen;
        let read = || self.held.store.history(&self.tenant, &self.id, after);
        let Some(history) = read_with_retries(&self.subscription, read).await else {
            self.closing = true;
            return;
        };
        if history
            .first()
            .is_some_and(|first| first.seq() > self.last_seen + 1)
        {
            tracing::info!(job_id = %self.id, "the job's history no longer reaches back; the stream ends");
            self.closing = true;
            return;
        }
        for event in history {
            if event.seq() > self.last_seen {
                self.last_seen = event.seq();
                self.queue.push_back(Queued::Stored(Box::new(event)));
            }
        }
    }
}

impl NextEvent for JobStream {
    /// The next event to send; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if self.subscription.is_shutting_down() || self.subscription.is_revoked() {
                return None;
            }
            if let Some(queued) = self.queue.pop_front() {
                let event = queued.event();
                if event.seq() <= self.last_sent {
                    continue;
                }
                self.last_sent = event.seq();
                if event.kind.is_terminal() {
                    // A terminal state never changes: this is the stream's last event.
                    self.closing = true;
                    self.queue.clear();
                }
                self.held.sent.inc();
                return queued.job_frame();
            }
            if self.closing {
                return None;
            }
            match self.subscription.recv().await {
                None => return None,
                Some(Notice::Lagged) => {
                    tracing::debug!(job_id = %self.id, "a job stream fell behind and ends");
                    return None;
                }
                Some(Notice::Revoked) => return None,
                // Reading the store is rare: its state is boxed, so that the state of every
                // waiting stream stays small.
                Some(Notice::Resync) => Box::pin(self.catch_up()).await,
                Some(Notice::Event(entry)) => {
                    if self.take(entry) {
                        Box::pin(self.catch_up()).await;
                    }
                }
            }
        }
    }
}

/// The stream of a tenant's feed: every event of its jobs, or of some (`job=`), of some types
/// (`types=`), each with its feed cursor as id.
pub struct FeedStream {
    held: Held,
    tenant: TenantId,
    subscription: Subscription,
    filter: FeedFilter,
    queue: VecDeque<(FeedCursor, Queued)>,
    /// The feed has been read (or passed over) up to here: only later entries are news.
    read_through: FeedCursor,
    /// The store holds entries after `read_through` that have not been read yet.
    catching_up: bool,
    /// The `seq` of each job's snapshot sent first: older events of that job are not news.
    snapshot_seqs: HashMap<JobId, u64>,
    /// Nothing is to follow the queue: the feed was trimmed past `read_through`.
    closing: bool,
}

/// How a feed stream opens.
pub struct FeedOpening {
    pub stream: FeedStream,
    /// The answer's `Last-Event-ID` when the client resumed: its cursor, or [`EARLIEST`] when
    /// the feed no longer reaches back to it.
    pub resumed_after: Option<String>,
}

impl FeedStream {
    /// Opens the feed stream of `tenant` for a client that has read up to `after` (nothing,
    /// without it), ending when `key` is revoked.
    ///
    /// With `after`, the stream replays the feed after it, then goes on live. Without it, it
    /// starts with the current state of each job named in the filter (all with the id of the
    /// feed's end right now, so resuming from them continues after it), then goes on live;
    /// without named jobs, it is live from now on.
    ///
    /// # Errors
    /// `401` when `key` is revoked already; store failures.
    pub async fn open(
        ctx: StreamContext,
        tenant: TenantId,
        filter: FeedFilter,
        after: Option<FeedCursor>,
        key: Option<ActingKey>,
    ) -> Result<FeedOpening, ApiError> {
        let watch = ctx.hub.revocations().watch(key).await?;
        // Subscribe first, then read: whatever is appended after the read is in the
        // subscription.
        let subscription = ctx
            .hub
            .subscribe_tenant(tenant.clone(), Listener::Stream(StreamKind::Feed))
            .until_revoked(&watch);
        let mut stream = Self {
            held: Held::new(ctx, StreamKind::Feed),
            tenant,
            subscription,
            filter,
            queue: VecDeque::new(),
            read_through: FeedCursor::START,
            catching_up: false,
            snapshot_seqs: HashMap::new(),
            closing: false,
        };
        let resumed_after = match after {
            Some(after) => {
                stream.read_through = after.clone();
                let page = stream
                    .held
                    .store
                    .feed(&stream.tenant, &after, READ_BATCH)
                    .await?;
                let label = if page.missed {
                    EARLIEST.to_owned()
                } else {
                    after.to_string()
                };
                stream.take_page(page);
                Some(label)
            }
            None => {
                let head = stream.held.store.feed_head(&stream.tenant).await?;
                stream.read_through = head.clone();
                stream.queue_snapshots(head).await?;
                None
            }
        };
        Ok(FeedOpening {
            stream,
            resumed_after,
        })
    }

    /// Queues the current state of each named job, read after `head` was found.
    async fn queue_snapshots(&mut self, head: FeedCursor) -> Result<(), ApiError> {
        let reads = self
            .filter
            .jobs()
            .iter()
            .map(|id| self.held.store.get(&self.tenant, id));
        let jobs = futures_util::future::try_join_all(reads).await?;
        // Unknown jobs and other tenants' jobs are simply absent: nothing to follow.
        for job in jobs.into_iter().flatten() {
            self.snapshot_seqs.insert(job.id, job.seq);
            let kind = current_kind(&job);
            if self.filter.wants(kind) {
                self.queue
                    .push_back((head.clone(), Queued::Stored(Box::new(Event { kind, job }))));
            }
        }
        Ok(())
    }

    /// Reads the next batch of the feed after `read_through`. `false` ends the stream.
    async fn read_more(&mut self) -> bool {
        // Notices waiting now are for entries the read below covers: drop them, so the
        // subscription's queue does not fill up while the stream reads the store.
        while let Some(notice) = self.subscription.try_recv() {
            if matches!(notice, Notice::Lagged) {
                return false;
            }
        }
        let after = self.read_through.clone();
        let read = || self.held.store.feed(&self.tenant, &after, READ_BATCH);
        match read_with_retries(&self.subscription, read).await {
            None => false,
            // Trimmed past where this stream had read: end, and the client's reconnection
            // learns it (`Last-Event-ID: earliest`).
            Some(page) if page.missed => {
                tracing::info!(tenant = %self.tenant, "the feed no longer reaches back; the stream ends");
                self.closing = true;
                true
            }
            Some(page) => {
                self.take_page(page);
                true
            }
        }
    }

    /// Queues the wanted entries of a page read after `read_through`, and reads on after
    /// what the read passed over.
    fn take_page(&mut self, page: FeedPage) {
        self.catching_up = page.entries.len() >= READ_BATCH;
        for entry in page.entries {
            if self.read_through.covers(&entry) {
                continue;
            }
            self.read_through.advance(&entry);
            if self.wants(&entry.event) {
                self.queue.push_back((
                    self.read_through.clone(),
                    Queued::Stored(Box::new(entry.event)),
                ));
            }
        }
        for &(partition, position) in &page.passed {
            self.read_through.pass(partition, position);
        }
    }

    fn wants(&self, event: &Event) -> bool {
        self.filter.matches(event)
            && self
                .snapshot_seqs
                .get(&event.job.id)
                .is_none_or(|&seen| event.seq() > seen)
    }
}

impl NextEvent for FeedStream {
    /// The next event to send; `None` ends the stream.
    async fn next_event(&mut self) -> Option<Bytes> {
        loop {
            if self.subscription.is_shutting_down() || self.subscription.is_revoked() {
                return None;
            }
            if let Some((cursor, queued)) = self.queue.pop_front() {
                self.held.sent.inc();
                return queued.feed_frame(&cursor);
            }
            if self.closing {
                return None;
            }
            if self.catching_up {
                // Boxed, as a job stream's catch-up: waiting streams stay small.
                if !Box::pin(self.read_more()).await {
                    return None;
                }
                continue;
            }
            match self.subscription.recv().await {
                None => return None,
                Some(Notice::Lagged) => {
                    tracing::debug!(tenant = %self.tenant, "a feed stream fell behind and ends");
                    return None;
                }
                Some(Notice::Revoked) => return None,
                Some(Notice::Resync) => self.catching_up = true,
                Some(Notice::Event(entry)) => {
                    if !self.read_through.covers(&entry) {
                        self.read_through.advance(&entry);
                        if self.wants(&entry.event) {
                            self.queue
                                .push_back((self.read_through.clone(), Queued::Live(entry)));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use herald_core::StoreConfig;
    use herald_core::store::memory::MemoryStore;
    use prometheus_client::registry::Registry;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::tasks::Tasks;

    /// A subscription to a running hub, and the hub's tasks (dropping them stops the hub).
    fn subscription(shutdown: &CancellationToken) -> (Subscription, Tasks) {
        let store: SharedStore = Arc::new(MemoryStore::new(StoreConfig::default()));
        let metrics = ApiMetrics::register(&mut Registry::default());
        let keys = Arc::new(MemoryStore::new(StoreConfig::default()));
        let mut tasks = Tasks::new(shutdown.clone());
        let hub = Hub::start(
            &store,
            keys,
            8,
            Duration::from_secs(12),
            metrics,
            &mut tasks,
            shutdown.clone(),
        );
        let subscription = hub.subscribe_job(JobId::generate(), Listener::Stream(StreamKind::Job));
        (subscription, tasks)
    }

    #[test]
    fn heartbeats_come_with_a_margin_under_the_longest_silence() {
        assert_eq!(
            heartbeat_interval(crate::MAX_SSE_HEARTBEAT),
            Duration::from_secs(12)
        );
        assert_eq!(
            heartbeat_interval(Duration::from_millis(500)),
            Duration::from_millis(400)
        );
    }

    #[tokio::test]
    async fn a_failed_read_of_the_store_is_retried_before_a_stream_gives_up() {
        let shutdown = CancellationToken::new();
        let (subscription, _tasks) = subscription(&shutdown);
        let calls = Cell::new(0);
        let read = || {
            calls.set(calls.get() + 1);
            let outcome = if calls.get() < 3 {
                Err(StoreError::Backend("connection refused".into()))
            } else {
                Ok(calls.get())
            };
            async move { outcome }
        };
        assert_eq!(read_with_retries(&subscription, read).await, Some(3));
    }

    #[tokio::test]
    async fn retries_stop_when_the_process_shuts_down() {
        let shutdown = CancellationToken::new();
        let (subscription, _tasks) = subscription(&shutdown);
        shutdown.cancel();
        let read = || async { Err::<(), _>(StoreError::Backend("down".into())) };
        let outcome = tokio::time::timeout(
            Duration::from_secs(1),
            read_with_retries(&subscription, read),
        )
        .await;
        assert_eq!(outcome, Ok(None));
    }
}
