//! Events: one job's Server-Sent Events (`GET /v1/jobs/{id}/events`), the tenant's feed as one
//! stream for many jobs (`GET /v1/events/stream`) and as JSON pages (`GET /v1/events`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use herald_core::{FeedCursor, FieldError};

use crate::error::{ApiError, resource};
use crate::extract::{JobPath, Tenant};
use crate::feed::{EventPage, EventQuery, FeedReader};
use crate::sse::{self, FeedStream, JobOpening, JobStream, LAST_EVENT_ID};
use crate::startup::AppState;

/// Registers the event routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/v1/jobs/{id}/events", "GET").route(web::get().to(job_events)))
        .service(resource("/v1/events/stream", "GET").route(web::get().to(event_stream)))
        .service(resource("/v1/events", "GET").route(web::get().to(list_events)));
}

/// A `Last-Event-ID` that is not one of ours.
fn bad_last_event_id(message: &str) -> ApiError {
    ApiError::InvalidParameters(vec![FieldError::new(LAST_EVENT_ID, message)])
}

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
    match JobStream::open(state.stream_context(), tenant, id, last).await? {
        JobOpening::Finished => Ok(HttpResponse::NoContent()
            .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
            .finish()),
        JobOpening::Stream {
            stream,
            resumed_after,
        } => Ok(sse::respond(
            &req,
            &state.config,
            stream.into_events(),
            resumed_after.map(|seq| seq.to_string()),
        )),
    }
}

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
    let opening = FeedStream::open(state.stream_context(), tenant, filter, after).await?;
    Ok(sse::respond(
        &req,
        &state.config,
        opening.stream.into_events(),
        opening.resumed_after,
    ))
}

#[tracing::instrument(skip_all)]
async fn list_events(
    state: web::Data<AppState>,
    Tenant(tenant): Tenant,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = EventQuery::parse(req.query_string())?.page_params(state.config.max_wait)?;
    let reader = FeedReader {
        store: &state.store,
        hub: &state.hub,
        metrics: &state.metrics,
    };
    let read = reader.page(&tenant, &params).await?;
    Ok(HttpResponse::Ok()
        .insert_header(header::CacheControl(vec![header::CacheDirective::NoCache]))
        .json(EventPage::from(read)))
}
