//! Events: one job's Server-Sent Events (`GET /v1/jobs/{id}/events`), the tenant's feed as one
//! stream for many jobs (`GET /v1/events/stream`) and as JSON pages (`GET /v1/events`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::{Stream, StreamExt as _};
use herald_core::{EventType, FeedCursor, FieldError, JobId};
use utoipa_actix_web::service_config::ServiceConfig;

use crate::http::caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{JobPath, Tenant};
use crate::http::limits::{self, Slot};
use crate::routes::resource;
use crate::state::AppState;
use crate::transport::feed::{EventPage, EventQuery, FeedReader};
use crate::transport::sse::{self, FeedStream, JobOpening, JobStream, LAST_EVENT_ID, NextEvent};

/// Registers the event routes.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(resource("/v1/jobs/{id}/events", "GET").to(__path_job_events, job_events))
        .service(resource("/v1/events/stream", "GET").to(__path_event_stream, event_stream))
        .service(resource("/v1/events", "GET").to(__path_list_events, list_events));
}

/// A `Last-Event-ID` that is not one of ours.
fn bad_last_event_id(message: &str) -> ApiError {
    ApiError::InvalidParameters(vec![FieldError::new(LAST_EVENT_ID, message)])
}

/// Follow one job as Server-Sent Events.
///
/// A `retry:` line first, then each event as `id: <seq>`, `event: <type>` (`job.pending`,
/// `job.processing`, `job.progress`, `job.completed`, `job.failed`, `job.canceled`) and
/// `data: <the job resource, one line of JSON>` (a `JobView`). Without `Last-Event-ID`: the
/// job's current state as one event, then every change; with it, every event after it from the
/// job's history, then every change. The stream ends after the terminal event, or when the
/// key it was opened with (directly or through its read token) is revoked; a comment
/// (`: keep-alive`) at least every 15 s.
#[utoipa::path(
    get,
    path = "/v1/jobs/{id}/events",
    tag = "events",
    params(
        ("id" = JobId, Path, description = "The job's id"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event (the job's `seq`)"),
        ("last_event_id" = Option<u64>, Query, description = "As the header, for a first connection that cannot send it; the header wins"),
        ("token" = Option<String>, Query,
            description = "A browser read token of this job (as in the job's `links.events`), for an EventSource, which cannot send headers: stands in for the API key, read-only"),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream",
            headers(
                ("Cache-Control" = String, description = "`no-cache`"),
                ("X-Accel-Buffering" = String, description = "`no`: proxies pass events on at once"),
                ("Last-Event-ID" = String, description = "On a resumed stream: the id replay really starts after; larger than the client's when the history no longer reaches back that far"),
            )),
        (status = 204, description = "The job already finished and the client has its terminal event: stop reconnecting"),
        (status = 400, description = "A `Last-Event-ID` that is not a number (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job (`not-found`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all, fields(job_id = %id))]
async fn job_events(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    JobPath(id): JobPath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = EventQuery::parse(req.query_string())?;
    let last = sse::last_event_id(&req, &query)?
        .map(|raw| {
            raw.parse::<u64>()
                .map_err(|_| bad_last_event_id("must be the id of an event of this job (its seq)"))
        })
        .transpose()?;
    let slot = limits::acquire(&state.streams, &req)?;
    let key = caller::caller(&req)?.acting_key();
    match JobStream::open(state.stream_context(), tenant, id, last, key).await? {
        JobOpening::Finished => Ok(HttpResponse::NoContent()
            .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
            .finish()),
        JobOpening::Stream {
            stream,
            resumed_after,
        } => Ok(sse::respond(
            &req,
            &state.config,
            holding(slot, stream.into_events()),
            resumed_after.map(|seq| seq.to_string()),
        )),
    }
}

/// `events`, holding `slot` for as long as they flow: the slot is given back when the stream
/// is dropped (the client left, the job finished, the process stops).
fn holding(
    slot: Slot,
    events: impl Stream<Item = web::Bytes> + 'static,
) -> impl Stream<Item = web::Bytes> + 'static {
    events.map(move |event| {
        let _held = &slot;
        event
    })
}

/// Follow many jobs of the tenant (or all) as one Server-Sent Events stream.
///
/// Events look like a job stream's, but their `id` is the event's cursor in the tenant's
/// feed. With `job=`, first the current state of each named job; then live events. With
/// `Last-Event-ID`, every matching event of the feed after it, then live ones. The stream
/// does not end by itself, only when the key it was opened with is revoked (or the server
/// stops).
#[utoipa::path(
    get,
    path = "/v1/events/stream",
    tag = "events",
    params(
        ("job" = Option<Vec<JobId>>, Query, explode = true,
            description = "Only these jobs (repeat it, or separate ids with commas; at most 100)"),
        ("types" = Option<Vec<EventType>>, Query, style = Form, explode = false,
            description = "Only these event types, comma-separated"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this cursor"),
        ("last_event_id" = Option<String>, Query, description = "As the header; the header wins"),
    ),
    responses(
        (status = 200, description = "The event stream", body = String, content_type = "text/event-stream",
            headers(
                ("Cache-Control" = String, description = "`no-cache`"),
                ("X-Accel-Buffering" = String, description = "`no`: proxies pass events on at once"),
                ("Last-Event-ID" = String, description = "On a resumed stream: the id replay really starts after; `earliest` when the feed no longer reaches back to the cursor"),
            )),
        (status = 400, description = "A malformed `job`, more than 100 jobs, an unknown type, or a `Last-Event-ID` that is not a cursor (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn event_stream(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = EventQuery::parse(req.query_string())?;
    let filter = query.filter()?;
    let after = sse::last_event_id(&req, &query)?
        .map(|raw| {
            raw.parse::<FeedCursor>()
                .map_err(|_| bad_last_event_id("must be the id of an event of this stream"))
        })
        .transpose()?;
    let slot = limits::acquire(&state.streams, &req)?;
    let key = caller::caller(&req)?.acting_key();
    let opening = FeedStream::open(state.stream_context(), tenant, filter, after, key).await?;
    Ok(sse::respond(
        &req,
        &state.config,
        holding(slot, opening.stream.into_events()),
        opening.resumed_after,
    ))
}

/// Read the tenant's feed as JSON pages, optionally waiting for the next event (long poll).
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(
        ("after" = Option<String>, Query,
            description = "A cursor: a previous page's `next_cursor`, or an event's `id`. Without it, from the oldest event kept"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "At most this many events (default 100)"),
        ("wait" = Option<u64>, Query, minimum = 0, maximum = 60,
            description = "Long poll: when nothing matching follows `after`, wait up to this many seconds for it"),
        ("job" = Option<Vec<JobId>>, Query, explode = true,
            description = "Only these jobs (repeat it, or separate ids with commas; at most 100)"),
        ("types" = Option<Vec<EventType>>, Query, style = Form, explode = false,
            description = "Only these event types, comma-separated"),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventPage,
            headers(("Cache-Control" = String, description = "`no-cache`"))),
        (status = 400, description = "A bad `after`, `limit`, `wait`, `job` or `types`, each named in `errors` (`invalid-parameters`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[tracing::instrument(skip_all)]
async fn list_events(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = EventQuery::parse(req.query_string())?.page_params(state.config.max_wait)?;
    // Only a poll that may wait holds a slot.
    let _slot = match params.wait {
        Some(wait) if !wait.is_zero() => Some(limits::acquire(&state.waiters, &req)?),
        _ => None,
    };
    let reader = FeedReader {
        store: &state.store,
        hub: &state.hub,
        metrics: &state.metrics,
    };
    let key = caller::caller(&req)?.acting_key();
    let read = reader.page(&tenant, &params, key).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
        .json(EventPage::from(read)))
}
