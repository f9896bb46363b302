//! The command-line client: `herald jobs|webhooks|sources …` drive a running Herald over its
//! public HTTP API, as any other client would.
//!
//! - [`api`] sends the requests (the server and key from `--url`/`HERALD_URL` and
//!   `--key`/`HERALD_KEY`) and turns refusals into their problem details.
//! - [`follow`] follows one job's event stream, resuming by `Last-Event-ID` after a dropped
//!   connection, drawing a progress bar on a terminal or writing one JSON line per event.
//! - [`output`] prints answers: tables on a terminal, the API's JSON otherwise.
//!
//! Exit codes: `0` done (for `follow`, the job completed), `1` the followed job failed, `2` it
//! was canceled, `3` the command could not be carried out: a usage error, Herald unreachable,
//! or a request Herald refused.

pub mod api;
pub mod follow;
pub mod output;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

use self::api::{Api, ClientError};
use self::follow::Outcome;
use self::output::Printer;

/// The exit code of a command that could not be carried out.
pub const EXIT_ERROR: u8 = 3;

/// Where Herald is, and how to print: the options every client command takes.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// Herald's address.
    #[arg(
        long,
        env = "HERALD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,

    /// The API key, sent as `Authorization: Bearer` (none: an open development install).
    #[arg(long, env = "HERALD_KEY", global = true, hide_env_values = true)]
    pub key: Option<String>,

    /// How to print answers: tables for people, or the API's JSON (default: a table on a
    /// terminal, JSON otherwise).
    #[arg(long, value_enum, global = true)]
    pub output: Option<Format>,
}

/// How answers are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

/// `herald jobs …`.
#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub action: JobsAction,
}

/// What `herald jobs` does.
#[derive(Debug, Clone, Subcommand)]
pub enum JobsAction {
    /// Submits a job and prints it; with `--follow`, follows it to its end.
    Submit {
        /// The job type, like `demo.report`.
        #[arg(value_name = "TYPE")]
        job_type: String,
        /// The payload: JSON, `@file` to read it from a file, or `@-` from standard input.
        #[arg(long)]
        payload: Option<String>,
        /// Makes the submission safe to repeat: the same key answers the same job.
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Follows the job's progress live and exits with its outcome.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        patience: Patience,
    },
    /// Prints one job.
    Get { id: String },
    /// Lists jobs, newest first.
    Ls {
        /// Only jobs in this status (`pending`, `processing`, `completed`, `failed`, `canceled`).
        #[arg(long)]
        status: Option<String>,
        /// Only jobs of this type.
        #[arg(long = "type", value_name = "TYPE")]
        job_type: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Follows a job's progress live (a progress bar on a terminal, one JSON line per event
    /// otherwise) and exits with its outcome: 0 completed, 1 failed, 2 canceled.
    Follow {
        id: String,
        #[command(flatten)]
        patience: Patience,
    },
    /// Cancels a job.
    Cancel { id: String },
    /// Runs a finished job again.
    Retry { id: String },
    /// Writes a completed job's result to standard output, or to a file.
    Result {
        id: String,
        /// The file to write the result to.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// How long `follow` keeps trying to get its stream back.
#[derive(Debug, Clone, Copy, Args)]
pub struct Patience {
    /// How long to keep reconnecting after the stream is lost, before giving up (exit 3).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    pub reconnect_for: Duration,
}

/// A page of a list.
#[derive(Debug, Clone, Args)]
pub struct Page {
    /// How many to list (1 to 100).
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Where to go on from: the `next_cursor` of the previous page.
    #[arg(long)]
    pub cursor: Option<String>,
}

/// `herald webhooks …`.
#[derive(Debug, Clone, Args)]
pub struct WebhooksArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub action: WebhooksAction,
}

/// What `herald webhooks` does.
#[derive(Debug, Clone, Subcommand)]
pub enum WebhooksAction {
    /// Lists the webhook subscriptions.
    Ls,
    /// Lists a subscription's deliveries, newest first, with their attempts.
    Deliveries {
        /// The subscription.
        id: String,
        /// Only deliveries in this state (`pending`, `retrying`, `delivered`, `dead`).
        #[arg(long)]
        status: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Attempts a delivery again, now.
    Retry {
        /// The delivery.
        delivery: String,
    },
    /// Re-sends a window of past events to a subscription, as new deliveries.
    Replay {
        /// The subscription.
        id: String,
        #[command(flatten)]
        window: Window,
    },
}

/// A window of time: RFC 3339 instants, or how long ago (`90m`, `2h`, `1d`).
#[derive(Debug, Clone, Args)]
pub struct Window {
    /// The start: an RFC 3339 instant, or how long ago (`2h`).
    #[arg(long, value_parser = instant)]
    pub since: DateTime<Utc>,
    /// The end (default: now), the same way.
    #[arg(long, value_parser = instant)]
    pub until: Option<DateTime<Utc>>,
}

/// `herald sources …`.
#[derive(Debug, Clone, Args)]
pub struct SourcesArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    pub action: SourcesAction,
}

/// What `herald sources` does.
#[derive(Debug, Clone, Subcommand)]
pub enum SourcesAction {
    /// Lists the inbound webhook sources.
    Ls,
    /// Lists the requests a source received, newest first: accepted, duplicate or rejected.
    Requests {
        /// The source.
        id: String,
        /// Only requests with this outcome (`accepted`, `duplicate`, `rejected`).
        #[arg(long)]
        outcome: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Runs again the jobs of the requests a source received in a window.
    Replay {
        /// The source.
        id: String,
        #[command(flatten)]
        window: Window,
        /// Only the jobs now in this status (`completed`, `failed`, `canceled`).
        #[arg(long)]
        status: Option<String>,
    },
}

/// A client command.
#[derive(Debug, Clone)]
pub enum ClientCommand {
    Jobs(JobsArgs),
    Webhooks(WebhooksArgs),
    Sources(SourcesArgs),
}

/// Runs a client command, printing answers to standard output and everything else (errors,
/// the progress bar, hints) to standard error.
pub async fn run(command: ClientCommand) -> ExitCode {
    let connection = match &command {
        ClientCommand::Jobs(args) => &args.connection,
        ClientCommand::Webhooks(args) => &args.connection,
        ClientCommand::Sources(args) => &args.connection,
    };
    let format = connection
        .output
        .unwrap_or(if std::io::stdout().is_terminal() {
            Format::Table
        } else {
            Format::Json
        });
    let printer = Printer::new(format);
    let api = match Api::new(&connection.url, connection.key.as_deref()) {
        Ok(api) => api,
        Err(e) => return fail(&e),
    };
    let outcome = match command {
        ClientCommand::Jobs(args) => jobs(&api, &printer, args.action).await,
        ClientCommand::Webhooks(args) => webhooks(&api, &printer, args.action).await,
        ClientCommand::Sources(args) => sources(&api, &printer, args.action).await,
    };
    match outcome {
        Ok(Outcome::Done | Outcome::Completed) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Canceled) => ExitCode::from(2),
        Err(e) => fail(&e),
    }
}

fn fail(error: &ClientError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(EXIT_ERROR)
}

async fn jobs(api: &Api, printer: &Printer, action: JobsAction) -> Result<Outcome, ClientError> {
    match action {
        JobsAction::Submit {
            job_type,
            payload,
            idempotency_key,
            follow,
            patience,
        } => {
            let mut body = json!({"type": job_type});
            if let Some(payload) = payload {
                body["payload"] = read_payload(&payload)?;
            }
            let job = api.submit(&body, idempotency_key.as_deref()).await?;
            if !follow {
                printer.job(&job);
                return Ok(Outcome::Done);
            }
            let id = job["id"].as_str().unwrap_or_default();
            if printer.format() == Format::Table {
                eprintln!("submitted {id}");
            }
            follow::follow(api, printer, id, Some(&job), patience.reconnect_for).await
        }
        JobsAction::Get { id } => {
            printer.job(&api.get(&job_path(&id)?).await?);
            Ok(Outcome::Done)
        }
        JobsAction::Ls {
            status,
            job_type,
            page,
        } => {
            let query = page.query([("status", status), ("type", job_type)]);
            printer.jobs(&api.get_query("/v1/jobs", &query).await?);
            Ok(Outcome::Done)
        }
        JobsAction::Follow { id, patience } => {
            job_path(&id)?;
            follow::follow(api, printer, &id, None, patience.reconnect_for).await
        }
        JobsAction::Cancel { id } => {
            printer.job(
                &api.post(&format!("{}/cancel", job_path(&id)?), None)
                    .await?,
            );
            Ok(Outcome::Done)
        }
        JobsAction::Retry { id } => {
            printer.job(&api.post(&format!("{}/retry", job_path(&id)?), None).await?);
            Ok(Outcome::Done)
        }
        JobsAction::Result { id, out } => {
            let path = format!("{}/result", job_path(&id)?);
            api.download(&path, out.as_deref()).await?;
            Ok(Outcome::Done)
        }
    }
}

async fn webhooks(
    api: &Api,
    printer: &Printer,
    action: WebhooksAction,
) -> Result<Outcome, ClientError> {
    match action {
        WebhooksAction::Ls => printer.webhooks(&api.get("/v1/webhooks").await?),
        WebhooksAction::Deliveries { id, status, page } => {
            let path = format!("/v1/webhooks/{}/deliveries", segment(&id)?);
            let query = page.query([("status", status)]);
            printer.deliveries(&api.get_query(&path, &query).await?);
        }
        WebhooksAction::Retry { delivery } => {
            let path = format!("/v1/deliveries/{}/retry", segment(&delivery)?);
            printer.delivery(&api.post(&path, None).await?);
        }
        WebhooksAction::Replay { id, window } => {
            let path = format!("/v1/webhooks/{}/replay", segment(&id)?);
            printer.summary(&api.post(&path, Some(&window.body())).await?);
        }
    }
    Ok(Outcome::Done)
}

async fn sources(
    api: &Api,
    printer: &Printer,
    action: SourcesAction,
) -> Result<Outcome, ClientError> {
    match action {
        SourcesAction::Ls => printer.sources(&api.get("/v1/sources").await?),
        SourcesAction::Requests { id, outcome, page } => {
            let path = format!("/v1/sources/{}/requests", segment(&id)?);
            let query = page.query([("outcome", outcome)]);
            printer.requests(&api.get_query(&path, &query).await?);
        }
        SourcesAction::Replay { id, window, status } => {
            let path = format!("/v1/sources/{}/replay", segment(&id)?);
            let mut body = window.body();
            if let Some(status) = status {
                body["status"] = Value::String(status);
            }
            printer.summary(&api.post(&path, Some(&body)).await?);
        }
    }
    Ok(Outcome::Done)
}

impl Page {
    /// The page's query, with the filters that were given.
    fn query<const N: usize>(&self, filters: [(&str, Option<String>); N]) -> Vec<(String, String)> {
        let mut query: Vec<(String, String)> = filters
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), value?)))
            .collect();
        query.push(("limit".to_owned(), self.limit.to_string()));
        if let Some(cursor) = &self.cursor {
            query.push(("cursor".to_owned(), cursor.clone()));
        }
        query
    }
}

impl Window {
    fn body(&self) -> Value {
        let mut body = json!({"since": rfc3339(self.since)});
        if let Some(until) = self.until {
            body["until"] = Value::String(rfc3339(until));
        }
        body
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant: RFC 3339, or a duration before now.
fn instant(raw: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = humantime::parse_duration(raw).map_err(|_| {
        format!(
            "`{raw}` is neither an RFC 3339 instant (2025-01-01T12:00:00Z) nor a duration ago (2h)"
        )
    })?;
    chrono::Duration::from_std(ago)
        .ok()
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| format!("`{raw}` reaches too far back"))
}

/// The payload of `--payload`: JSON, `@file`, or `@-` (standard input).
fn read_payload(raw: &str) -> Result<Value, ClientError> {
    let text = match raw.strip_prefix('@') {
        Some("-") => std::io::read_to_string(std::io::stdin())
            .map_err(|e| ClientError::Usage(format!("cannot read the payload from stdin: {e}")))?,
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ClientError::Usage(format!("cannot read the payload from {path}: {e}")))?,
        None => raw.to_owned(),
    };
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Usage(format!("--payload is not valid JSON: {e}")))
}

/// `/v1/jobs/{id}`, for an id that can stand in a path.
fn job_path(id: &str) -> Result<String, ClientError> {
    Ok(format!("/v1/jobs/{}", segment(id)?))
}

/// An id as one path segment: Herald's ids are UUIDs, so anything that would need escaping
/// is a mistake worth naming.
fn segment(id: &str) -> Result<&str, ClientError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(id)
    } else {
        Err(ClientError::Usage(format!("`{id}` is not an id")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_is_rfc_3339_or_a_duration_ago() {
        let at = instant("2025-01-01T12:00:00+02:00").expect("RFC 3339");
        assert_eq!(rfc3339(at), "2025-01-01T10:00:00.000Z");
        let before = Utc::now() - chrono::Duration::hours(2);
        let ago = instant("2h").expect("a duration");
        assert!((ago - before).num_seconds().abs() < 5, "{ago} vs {before}");
        assert!(instant("yesterday-ish").is_err());
    }

    #[test]
    fn an_id_must_be_one_path_segment() {
        assert!(segment("0193a3b4-0000-7000-8000-000000000000").is_ok());
        for bad in ["", "../admin", "a/b", "a?b", "a b"] {
            assert!(segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_payload_is_json_or_a_file() {
        assert_eq!(
            read_payload(r#"{"rows": 3}"#).expect("json"),
            json!({"rows": 3})
        );
        let dir = std::env::temp_dir().join(format!("herald-payload-{}", std::process::id()));
        std::fs::write(&dir, r#"{"seconds": 1}"#).expect("write");
        let from_file = read_payload(&format!("@{}", dir.display()));
        std::fs::remove_file(&dir).expect("remove");
        assert_eq!(from_file.expect("file"), json!({"seconds": 1}));
        assert!(matches!(read_payload("{rows"), Err(ClientError::Usage(_))));
    }
}
