//! Printing answers: a table for people, or the API's JSON, one document per line, for
//! programs. Hints (the next page's cursor) go to standard error, so standard output stays
//! one thing.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

use super::Format;

/// Prints answers in one [`Format`].
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    format: Format,
}

impl Printer {
    pub fn new(format: Format) -> Self {
        Self { format }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// One job: its fields, then its attempts.
    pub fn job(&self, job: &Value) {
        self.print(job, || {
            let progress = match (
                job["progress"]["percent"].as_f64(),
                job["progress"]["message"].as_str(),
            ) {
                (Some(percent), Some(message)) => format!("{percent}% {message}"),
                (Some(percent), None) => format!("{percent}%"),
                _ => String::new(),
            };
            let mut out = fields(&[
                ("id", text(&job["id"])),
                ("type", text(&job["type"])),
                ("status", text(&job["status"])),
                ("seq", text(&job["seq"])),
                ("progress", progress),
                (
                    "attempt",
                    format!(
                        "{} of {}",
                        text(&job["attempt"]),
                        text(&job["max_attempts"])
                    ),
                ),
                ("error", error(&job["error"])),
                ("created", time(&job["created_at"])),
                ("started", time(&job["started_at"])),
                ("finished", time(&job["finished_at"])),
                ("result", text(&job["result_url"])),
                ("webhook", webhook_state(&job["webhook"])),
            ]);
            let attempts = job["attempts"].as_array().map_or(&[][..], Vec::as_slice);
            if !attempts.is_empty() {
                let rows = attempts.iter().map(|a| {
                    vec![
                        text(&a["attempt"]),
                        time(&a["started_at"]),
                        duration(&a["duration_ms"]),
                        text(&a["outcome"]),
                        text(&a["http_status"]),
                        error(&a["error"]),
                    ]
                });
                out.push('\n');
                out.push_str(&table(
                    &["ATTEMPT", "STARTED", "TOOK", "OUTCOME", "HTTP", "ERROR"],
                    rows,
                ));
            }
            out
        });
    }

    /// A page of jobs.
    pub fn jobs(&self, page: &Value) {
        self.page(
            page,
            &[
                "ID", "TYPE", "STATUS", "PROGRESS", "ATTEMPT", "CREATED", "UPDATED",
            ],
            |job| {
                vec![
                    text(&job["id"]),
                    text(&job["type"]),
                    text(&job["status"]),
                    job["progress"]["percent"]
                        .as_f64()
                        .map(|p| format!("{p}%"))
                        .unwrap_or_default(),
                    format!("{}/{}", text(&job["attempt"]), text(&job["max_attempts"])),
                    time(&job["created_at"]),
                    time(&job["updated_at"]),
                ]
            },
        );
    }

    /// The webhook subscriptions.
    pub fn webhooks(&self, page: &Value) {
        self.page(
            page,
            &["ID", "URL", "EVENTS", "JOB TYPES", "ENABLED", "CREATED"],
            |hook| {
                let enabled = match (hook["enabled"].as_bool(), hook["disabled_reason"].as_str()) {
                    (Some(false), Some(reason)) => format!("no: {reason}"),
                    (Some(false), None) => "no".to_owned(),
                    _ => "yes".to_owned(),
                };
                vec![
                    text(&hook["id"]),
                    text(&hook["url"]),
                    list(&hook["events"], "all"),
                    list(&hook["job_types"], "all"),
                    enabled,
                    time(&hook["created_at"]),
                ]
            },
        );
    }

    /// A page of deliveries.
    pub fn deliveries(&self, page: &Value) {
        self.page(
            page,
            &[
                "ID",
                "EVENT",
                "JOB",
                "STATE",
                "ATTEMPTS",
                "LAST",
                "NEXT ATTEMPT",
            ],
            |delivery| {
                let attempts = delivery["attempts"].as_array();
                let last = attempts
                    .and_then(|a| a.last())
                    .map(|a| match (a["status_code"].as_u64(), a["error"].as_str()) {
                        (Some(code), _) => format!("HTTP {code}"),
                        (None, Some(error)) => error.to_owned(),
                        (None, None) => String::new(),
                    })
                    .unwrap_or_default();
                vec![
                    text(&delivery["id"]),
                    format!(
                        "{} #{}",
                        text(&delivery["event_type"]),
                        text(&delivery["seq"])
                    ),
                    text(&delivery["job_id"]),
                    text(&delivery["state"]),
                    text(&delivery["attempt_count"]),
                    last,
                    time(&delivery["next_attempt_at"]),
                ]
            },
        );
    }

    /// One delivery, with every attempt.
    pub fn delivery(&self, delivery: &Value) {
        self.print(delivery, || {
            let mut out = fields(&[
                ("id", text(&delivery["id"])),
                ("webhook", text(&delivery["webhook_id"])),
                ("job", text(&delivery["job_id"])),
                (
                    "event",
                    format!(
                        "{} #{}",
                        text(&delivery["event_type"]),
                        text(&delivery["seq"])
                    ),
                ),
                ("url", text(&delivery["url"])),
                ("state", text(&delivery["state"])),
                ("attempts", text(&delivery["attempt_count"])),
                ("next attempt", time(&delivery["next_attempt_at"])),
            ]);
            let attempts = delivery["attempts"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            if !attempts.is_empty() {
                let rows = attempts.iter().map(|a| {
                    vec![
                        time(&a["at"]),
                        text(&a["status_code"]),
                        duration(&a["duration_ms"]),
                        text(&a["error"]),
                        text(&a["response"]),
                    ]
                });
                out.push('\n');
                out.push_str(&table(&["AT", "STATUS", "TOOK", "ERROR", "RESPONSE"], rows));
            }
            out
        });
    }

    /// The inbound sources.
    pub fn sources(&self, page: &Value) {
        self.page(
            page,
            &["ID", "NAME", "JOB TYPE", "VERIFY", "INGEST URL", "CREATED"],
            |source| {
                vec![
                    text(&source["id"]),
                    text(&source["name"]),
                    text(&source["job_type"]),
                    text(&source["verify"]["scheme"]),
                    text(&source["ingest_url"]),
                    time(&source["created_at"]),
                ]
            },
        );
    }

    /// A page of a source's request log.
    pub fn requests(&self, page: &Value) {
        self.page(
            page,
            &["ID", "RECEIVED", "OUTCOME", "REASON", "JOB", "DEDUPE KEY"],
            |request| {
                vec![
                    text(&request["id"]),
                    time(&request["received_at"]),
                    text(&request["outcome"]),
                    text(&request["reason"]),
                    text(&request["job_id"]),
                    text(&request["dedupe_key"]),
                ]
            },
        );
    }

    /// An answer of a few fields (a replay's counts).
    pub fn summary(&self, answer: &Value) {
        self.print(answer, || {
            let pairs: Vec<(&str, String)> = answer
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str(), text(value)))
                .collect();
            fields(&pairs)
        });
    }

    /// A page (`{"data": [...], "next_cursor": …}`) as a table of `columns`, one row per item.
    fn page(&self, page: &Value, columns: &[&str], row: impl Fn(&Value) -> Vec<String>) {
        self.print(page, || {
            let items = page["data"].as_array().map_or(&[][..], Vec::as_slice);
            if items.is_empty() {
                return "(none)".to_owned();
            }
            table(columns, items.iter().map(row))
        });
        if self.format == Format::Table
            && let Some(cursor) = page["next_cursor"].as_str()
        {
            eprintln!("more: --cursor {cursor}");
        }
    }

    /// `answer` as one line of JSON, or as `table` draws it.
    fn print(&self, answer: &Value, table: impl FnOnce() -> String) {
        match self.format {
            Format::Json => self.line(answer),
            Format::Table => write_out(&table()),
        }
    }

    /// One line on standard output.
    pub fn line(&self, line: &impl std::fmt::Display) {
        write_out(line);
    }
}

/// Writes `text` and a line end to standard output. A reader that went away (`| head -1`)
/// is no error: the command goes on, so that following a job still ends with its outcome.
fn write_out(text: &impl std::fmt::Display) {
    use std::io::Write as _;

    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("error: cannot write to standard output: {e}");
    }
}

fn table(columns: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(columns.iter().copied());
    for row in rows {
        table.add_row(row);
    }
    table.to_string()
}

/// Name–value lines, the names aligned; empty values left out.
fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    pairs
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name:width$}  {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A value as text: strings bare, `null` empty, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 instant, shorter: `2025-01-01 12:00:05`.
fn time(value: &Value) -> String {
    let text = text(value);
    match text.get(..19) {
        Some(head) if text.ends_with('Z') => head.replacen('T', " ", 1),
        _ => text,
    }
}

fn duration(value: &Value) -> String {
    value
        .as_u64()
        .map(|ms| {
            if ms < 1000 {
                format!("{ms} ms")
            } else {
                format!("{:.1} s", ms as f64 / 1000.0)
            }
        })
        .unwrap_or_default()
}

/// A `{"code", "message"}` error as `code: message`.
fn error(value: &Value) -> String {
    match (value["code"].as_str(), value["message"].as_str()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => text(value),
    }
}

fn list(value: &Value, empty: &str) -> String {
    match value.as_array() {
        Some(items) if !items.is_empty() => items.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => empty.to_owned(),
    }
}

fn webhook_state(value: &Value) -> String {
    if value.is_null() {
        return String::new();
    }
    let mut state = format!(
        "{} ({} attempts)",
        text(&value["state"]),
        text(&value["attempts"])
    );
    if let Some(next) = value["next_attempt_at"].as_str() {
        state.push_str(&format!(
            ", next at {}",
            time(&Value::String(next.to_owned()))
        ));
    }
    state
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_read_as_people_expect() {
        assert_eq!(
            time(&json!("2025-01-01T12:00:05.123Z")),
            "2025-01-01 12:00:05"
        );
        assert_eq!(time(&Value::Null), "");
        assert_eq!(duration(&json!(41)), "41 ms");
        assert_eq!(duration(&json!(15000)), "15.0 s");
        assert_eq!(
            error(&json!({"code": "handler_error", "message": "boom"})),
            "handler_error: boom"
        );
        assert_eq!(list(&json!([]), "all"), "all");
        assert_eq!(
            list(&json!(["job.completed", "job.failed"]), "all"),
            "job.completed, job.failed"
        );
    }

    #[test]
    fn fields_align_and_skip_empty_values() {
        let out = fields(&[
            ("id", "a".into()),
            ("error", String::new()),
            ("status", "done".into()),
        ]);
        assert_eq!(out, "id      a\nstatus  done");
    }
}
