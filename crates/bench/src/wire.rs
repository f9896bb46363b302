//! The few fields of Herald's job resource and list page that the tool reads.

use serde::Deserialize;

/// A job resource, as much of it as the tool needs.
#[derive(Debug, Deserialize)]
pub struct JobBrief {
    pub id: String,
    pub status: String,
    pub seq: u64,
}

impl JobBrief {
    /// Whether the job will never change again.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "canceled")
    }
}

/// A page of `GET /v1/jobs`.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub data: Vec<JobBrief>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_resource_parses_with_fields_the_tool_ignores() {
        let job: JobBrief = serde_json::from_str(
            r#"{"id":"0193","type":"demo.sleep","status":"completed","seq":3,"progress":null}"#,
        )
        .unwrap();
        assert_eq!(job.seq, 3);
        assert!(job.is_terminal());
    }

    #[test]
    fn a_last_page_has_no_cursor() {
        let page: Page = serde_json::from_str(r#"{"data":[],"next_cursor":null}"#).unwrap();
        assert!(page.data.is_empty() && page.next_cursor.is_none());
    }
}
