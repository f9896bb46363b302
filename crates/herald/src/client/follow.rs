//! Following one job: its event stream (`GET /v1/jobs/{id}/events`) from the current state to
//! the terminal event, as a progress bar with the job's message and an ETA on a terminal, or as
//! one JSON line per event otherwise.
//!
//! A stream that drops (the connection cut, the server restarted, no byte for longer than
//! three heartbeats) is opened again with `Last-Event-ID`, after the server's `retry:` hint
//! (backing off while it keeps failing), so no event is shown twice or missed; the command
//! gives up after `--reconnect-for` without a stream. A `204` to a resumption says the terminal
//! event was already sent: the job is read once to learn how it ended.

use std::time::Duration;

use herald_core::sse::{Frame, Parser};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::header::{ACCEPT, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::Format;
use super::api::{Api, ClientError, refusal};
use super::output::Printer;

/// How a command ended: done, or how the job it followed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The command did what it was asked (nothing was followed).
    Done,
    Completed,
    Failed,
    Canceled,
}

/// The wait before reconnecting when the server gave no `retry:` hint.
const DEFAULT_RETRY: Duration = Duration::from_secs(3);

/// The longest wait between two attempts to reconnect.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// One event of the stream.
struct Event {
    seq: u64,
    kind: String,
    job: Value,
}

/// Follows job `id` until it ends, and says how it ended. With `start` (the job as a
/// submission answered it), that version is shown first and the stream resumes right after
/// it, so every change from the submission on is shown, even one made before the stream opened.
///
/// # Errors
/// [`ClientError::Connection`] when Herald cannot be reached at first, or the stream stays
/// lost for `patience`; [`ClientError::Refused`] when Herald refuses the stream (an unknown
/// job, a bad key).
pub async fn follow(
    api: &Api,
    printer: &Printer,
    id: &str,
    start: Option<&Value>,
    patience: Duration,
) -> Result<Outcome, ClientError> {
    let path = format!("/v1/jobs/{id}/events");
    let view = View::new(printer);
    let mut last_seq: Option<u64> = None;
    if let Some(job) = start
        && let Some(seq) = job["seq"].as_u64()
    {
        let event = Event {
            seq,
            kind: kind_of(job),
            job: job.clone(),
        };
        view.event(&event);
        if is_terminal(&event.kind) {
            return Ok(view.finish(job));
        }
        last_seq = Some(seq);
    }
    let mut retry = DEFAULT_RETRY;
    let mut failures: u32 = 0;
    let mut lost_since: Option<Instant> = None;
    loop {
        let mut request = api
            .request(Method::GET, &path)
            .header(ACCEPT, "text/event-stream");
        if let Some(seq) = last_seq {
            request = request.header("Last-Event-ID", seq.to_string());
        }
        let mut wait = None;
        match request.send().await {
            // Never connected: a wrong address or a server that is down is reported at once.
            Err(e) if lost_since.is_none() && last_seq.is_none() => {
                return Err(api.connection(&e));
            }
            Err(_) => {}
            Ok(answer) if answer.status() == StatusCode::NO_CONTENT => {
                // The terminal event was sent already: read how the job ended. A job retried
                // by hand since is followed on.
                let job = api.get(&format!("/v1/jobs/{id}")).await?;
                let seq = job["seq"].as_u64().unwrap_or_default();
                let event = Event {
                    seq,
                    kind: kind_of(&job),
                    job,
                };
                if last_seq.is_none_or(|last| seq > last) {
                    view.event(&event);
                    last_seq = Some(seq);
                }
                if is_terminal(&event.kind) {
                    return Ok(view.finish(&event.job));
                }
            }
            Ok(mut answer) if answer.status() == StatusCode::OK => {
                view.connected();
                if let Some(sent) = last_seq
                    && let Some(from) = resumed_after(&answer)
                    && from > sent
                {
                    view.note(&format!(
                        "events {} to {from} are no longer in the job's history: they were missed",
                        sent + 1
                    ));
                    last_seq = Some(from);
                }
                let mut parser = Parser::new();
                loop {
                    // The end of the stream, an error, or silence (the client's read timeout):
                    // resume.
                    let Ok(Some(chunk)) = answer.chunk().await else {
                        break;
                    };
                    // The stream is alive (an event or a heartbeat): it is not lost.
                    lost_since = None;
                    failures = 0;
                    for event in events(&mut parser, &chunk, &mut retry) {
                        if last_seq.is_some_and(|last| event.seq <= last) {
                            continue;
                        }
                        last_seq = Some(event.seq);
                        view.event(&event);
                        if is_terminal(&event.kind) {
                            return Ok(view.finish(&event.job));
                        }
                    }
                }
            }
            Ok(answer)
                if matches!(
                    answer.status(),
                    StatusCode::TOO_MANY_REQUESTS
                        | StatusCode::BAD_GATEWAY
                        | StatusCode::SERVICE_UNAVAILABLE
                        | StatusCode::GATEWAY_TIMEOUT
                ) =>
            {
                wait = answer
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.parse().ok())
                    .map(Duration::from_secs);
            }
            Ok(answer) => return Err(refusal(answer).await),
        }
        let lost = *lost_since.get_or_insert_with(Instant::now);
        let Some(left) = patience
            .checked_sub(lost.elapsed())
            .filter(|left| !left.is_zero())
        else {
            return Err(ClientError::Connection {
                url: api.url(&path),
                error: format!(
                    "the event stream was lost and did not come back within {}",
                    humantime::format_duration(patience)
                ),
            });
        };
        view.reconnecting();
        // Backing off while it keeps failing, spread by ±20 % so that the followers of a
        // restarted server do not all come back at the same instant.
        let backoff = retry.saturating_mul(1 << failures.min(4)).min(MAX_RETRY);
        failures += 1;
        let delay = wait.unwrap_or(backoff).mul_f64(0.8 + 0.4 * fastrand::f64());
        tokio::time::sleep(delay.min(left)).await;
    }
}

/// Where a resumed stream really starts: its `Last-Event-ID` answer header, larger than the
/// one sent when the job's history no longer reaches back that far.
fn resumed_after(answer: &reqwest::Response) -> Option<u64> {
    answer
        .headers()
        .get("last-event-id")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The events `chunk` completes; a `retry:` hint updates `retry`.
fn events(parser: &mut Parser, chunk: &[u8], retry: &mut Duration) -> Vec<Event> {
    let mut events = Vec::new();
    parser.feed(chunk, |frame| match frame {
        Frame::Event { id, event, data } => {
            // Herald's job events carry the job's seq as their id and the job as their data.
            let seq = id.and_then(|id| id.parse().ok());
            let job = serde_json::from_str(data).ok();
            if let (Some(seq), Some(job)) = (seq, job) {
                events.push(Event {
                    seq,
                    kind: event.to_owned(),
                    job,
                });
            }
        }
        Frame::Retry(millis) => *retry = Duration::from_millis(millis),
        Frame::Comment(_) | Frame::Ignored(_) => {}
    });
    events
}

/// The type of the event that made `job` what it is.
fn kind_of(job: &Value) -> String {
    match job["status"].as_str().unwrap_or_default() {
        "processing" if !job["progress"].is_null() => "job.progress".to_owned(),
        status => format!("job.{status}"),
    }
}

fn is_terminal(kind: &str) -> bool {
    matches!(kind, "job.completed" | "job.failed" | "job.canceled")
}

/// What the person or program following sees.
enum View<'a> {
    /// A progress bar on standard error; the job as a table at the end.
    Bar {
        bar: ProgressBar,
        printer: &'a Printer,
    },
    /// One JSON line per event on standard output.
    Lines { printer: &'a Printer },
}

impl<'a> View<'a> {
    fn new(printer: &'a Printer) -> Self {
        match printer.format() {
            Format::Json => Self::Lines { printer },
            Format::Table => {
                let bar = ProgressBar::new(100);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] [{wide_bar}] {pos:>3}% {msg} (ETA {eta})",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar.set_message("connecting");
                Self::Bar { bar, printer }
            }
        }
    }

    fn connected(&self) {
        if let Self::Bar { bar, .. } = self {
            bar.set_message("connected");
        }
    }

    fn reconnecting(&self) {
        match self {
            Self::Bar { bar, .. } => bar.set_message("connection lost, reconnecting"),
            Self::Lines { .. } => eprintln!("connection lost, reconnecting"),
        }
    }

    /// Something the person following should know, on standard error.
    fn note(&self, note: &str) {
        match self {
            Self::Bar { bar, .. } => bar.suspend(|| eprintln!("warning: {note}")),
            Self::Lines { .. } => eprintln!("warning: {note}"),
        }
    }

    fn event(&self, event: &Event) {
        match self {
            Self::Bar { bar, .. } => {
                let progress = &event.job["progress"];
                if let Some(percent) = progress["percent"].as_f64() {
                    // Whole percents: the bar's length is 100.
                    bar.set_position(percent.clamp(0.0, 100.0).round() as u64);
                }
                let status = event.job["status"].as_str().unwrap_or("?");
                let message = match progress["message"].as_str() {
                    Some(message) if status == "processing" => format!("{status}: {message}"),
                    _ => status.to_owned(),
                };
                bar.set_message(message);
            }
            Self::Lines { printer } => printer.line(&json!({
                "seq": event.seq,
                "type": event.kind,
                "timestamp": event.job["updated_at"],
                "data": event.job,
            })),
        }
    }

    /// The job has ended: close the display, and say how it ended.
    fn finish(&self, job: &Value) -> Outcome {
        let status = job["status"].as_str().unwrap_or_default();
        if let Self::Bar { bar, printer } = self {
            if status == "completed" {
                bar.set_position(100);
            }
            bar.finish_with_message(status.to_owned());
            // The bar leaves the cursor at the end of its line.
            if !bar.is_hidden() {
                eprintln!();
            }
            printer.job(job);
        }
        match status {
            "completed" => Outcome::Completed,
            "canceled" => Outcome::Canceled,
            _ => Outcome::Failed,
        }
    }
}
