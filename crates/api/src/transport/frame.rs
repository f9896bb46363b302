//! One event as an event stream carries it: its `id:`, `event:` and `data:` lines, ready to be
//! written. A live event's frame is built once and shared by every stream that sends it
//! ([`super::hub::Published`]); an event read from the store is framed by the stream that read
//! it.

use std::fmt::{Display, Write as _};

use actix_web::web::{BufMut as _, Bytes, BytesMut};
use herald_core::{EventType, Job, JobView};

/// Room for the `id:` and `event:` lines and the line breaks around the data.
const HEAD_ROOM: usize = 96;

/// The job resource of `job` as one line of JSON; `None` (logged) if it cannot be serialized.
pub fn render(job: &Job) -> Option<String> {
    match serde_json::to_string(&JobView::from(job)) {
        Ok(json) => Some(json),
        Err(error) => {
            tracing::error!(job_id = %job.id, %error, "a job resource could not be serialized");
            None
        }
    }
}

/// The frame of the event `kind` with `id` whose data is `data`, one `data:` line per line of
/// it (JSON rendered by [`render`] is a single line).
pub fn frame(id: impl Display, kind: EventType, data: &str) -> Bytes {
    let mut frame = BytesMut::with_capacity(data.len() + HEAD_ROOM);
    head(&mut frame, id, kind);
    for line in data.split('\n') {
        frame.put_slice(b"data: ");
        frame.put_slice(line.as_bytes());
        frame.put_u8(b'\n');
    }
    frame.put_u8(b'\n');
    frame.freeze()
}

/// The frame of the event `kind` with `id` carrying `job`'s resource, serialized straight into
/// it; `None` (logged) if the resource cannot be serialized.
pub fn job_frame(id: impl Display, kind: EventType, job: &Job) -> Option<Bytes> {
    let mut frame = BytesMut::with_capacity(1024);
    head(&mut frame, id, kind);
    frame.put_slice(b"data: ");
    let mut writer = frame.writer();
    // The compact JSON of serde_json escapes every line break inside strings: one line.
    if let Err(error) = serde_json::to_writer(&mut writer, &JobView::from(job)) {
        tracing::error!(job_id = %job.id, %error, "a job resource could not be serialized");
        return None;
    }
    let mut frame = writer.into_inner();
    frame.put_slice(b"\n\n");
    Some(frame.freeze())
}

fn head(frame: &mut BytesMut, id: impl Display, kind: EventType) {
    // Writing into memory cannot fail.
    let _ = write!(frame, "id: {id}\nevent: {kind}\n");
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use herald_core::{JobId, JobLimits, JobRequest, NewJob, TenantId};

    use super::*;

    fn job() -> Job {
        let request = JobRequest {
            job_type: Some("demo.sleep".into()),
            ..Default::default()
        };
        let new = NewJob::parse(
            TenantId::default_tenant(),
            request,
            None,
            &JobLimits::default(),
        )
        .unwrap();
        Job::create(JobId::generate(), &new, Utc::now()).0
    }

    #[test]
    fn frames_are_what_the_sse_format_says() {
        assert_eq!(
            frame(7, EventType::Pending, "{\"a\":1}"),
            "id: 7\nevent: job.pending\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            frame("12-3", EventType::Progress, "two\nlines"),
            "id: 12-3\nevent: job.progress\ndata: two\ndata: lines\n\n"
        );
        assert_eq!(
            frame("9-1", EventType::Failed, ""),
            "id: 9-1\nevent: job.failed\ndata: \n\n"
        );
    }

    #[test]
    fn a_stored_event_is_framed_as_a_live_one() {
        let job = job();
        let json = render(&job).expect("renders");
        assert_eq!(
            job_frame(job.seq, EventType::Pending, &job),
            Some(frame(job.seq, EventType::Pending, &json))
        );
        assert!(!json.contains('\n'));
    }
}
