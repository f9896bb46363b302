//! The job resource as the API's job endpoints answer it (submit, poll, list, cancel): the
//! contract's [`JobView`] plus, when the job has its own webhook, that webhook's delivery
//! status — `"webhook": {"state", "attempts", "next_attempt_at"}` — so a poller can see that
//! the webhook is retrying and when.
//!
//! When the request is authenticated, the answer's links carry a browser read token
//! (`?token=`, see [`crate::http::token`] and [`crate::http::extract::LinkSigner`]).
//!
//! Events (SSE, the feed, webhook bodies) carry the plain [`JobView`] of their snapshot: the
//! webhook status is not part of the job's versioned record (the notifier updates it without
//! moving `seq`), so it is read with the job, never replayed with its history.

use herald_core::webhook::{HookStatus, WebhookSecret};
use herald_core::{Job, JobView};
use serde::Serialize;

/// The job resource of the job endpoints.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobResource<'a> {
    #[serde(flatten)]
    pub view: JobView,
    /// The job's own webhook's latest delivery. Absent for a job without a webhook of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = WebhookStatusView)]
    pub webhook: Option<WebhookStatusView<'a>>,
}

/// The job's own webhook, at a glance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookStatusView<'a> {
    #[serde(flatten)]
    pub status: HookStatus,
    /// The secret Herald generated for the webhook: only in the answer to the submission that
    /// created the job, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub secret: Option<&'a str>,
}

impl<'a> JobResource<'a> {
    /// The resource of `job`, without any secret.
    pub fn new(job: &Job) -> Self {
        Self {
            view: JobView::from(job),
            webhook: job.webhook.map(|status| WebhookStatusView {
                status,
                secret: None,
            }),
        }
    }

    /// The resource of a job just created, showing the webhook secret Herald generated for it.
    pub fn revealing(job: &Job, generated: Option<&'a WebhookSecret>) -> Self {
        let mut resource = Self::new(job);
        if let (Some(hook), Some(secret)) = (resource.webhook.as_mut(), generated) {
            hook.secret = Some(secret.expose());
        }
        resource
    }
}

impl JobResource<'_> {
    /// The resource with `?token=<token>` on `links.self`, `links.events`, `links.result` (and
    /// `result_url`, the same link): a browser can follow them without the API key.
    pub fn with_token(mut self, token: &str) -> Self {
        let append = |link: &mut String| {
            link.push_str("?token=");
            link.push_str(token);
        };
        let links = &mut self.view.links;
        append(&mut links.self_);
        append(&mut links.events);
        append(&mut links.result);
        if let Some(url) = self.view.result_url.as_mut() {
            append(url);
        }
        self
    }
}

impl From<&Job> for JobResource<'static> {
    fn from(job: &Job) -> Self {
        Self::new(job)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::Utc;
    use herald_core::webhook::JobHook;
    use herald_core::{JobId, JobType, NewJob, TenantId};
    use serde_json::json;

    use super::*;

    fn job(webhook: Option<JobHook>) -> Job {
        let new = NewJob {
            tenant: TenantId::default_tenant(),
            job_type: JobType::parse("demo.sleep").unwrap(),
            payload: json!({}),
            timeout: Duration::from_secs(1),
            max_attempts: 1,
            metadata: Default::default(),
            idempotency_key: None,
            webhook,
        };
        Job::create(JobId::generate(), &new, Utc::now()).0
    }

    #[test]
    fn a_job_without_a_webhook_has_no_webhook_field() {
        let value = serde_json::to_value(JobResource::new(&job(None))).unwrap();
        assert!(value.get("webhook").is_none(), "{value}");
        assert_eq!(value["status"], "pending");
        assert_eq!(
            value["links"]["self"],
            format!("/v1/jobs/{}", value["id"].as_str().unwrap())
        );
    }

    #[test]
    fn a_job_with_a_webhook_shows_its_status_and_only_a_revealed_secret() {
        let hook = JobHook::parse(json!({"url": "https://client.example/h"})).unwrap();
        let secret = hook.secret.clone();
        let job = job(Some(hook));
        let value = serde_json::to_value(JobResource::new(&job)).unwrap();
        assert_eq!(
            value["webhook"],
            json!({"state": "pending", "attempts": 0, "next_attempt_at": null})
        );
        let revealed = serde_json::to_value(JobResource::revealing(&job, Some(&secret))).unwrap();
        assert_eq!(revealed["webhook"]["secret"], secret.expose());
        assert_eq!(revealed["id"], value["id"]);
    }
}
