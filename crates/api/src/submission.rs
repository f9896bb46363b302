//! A `POST /v1/jobs` body becomes a validated [`NewJob`], or a list of every field that is
//! wrong with it; then the target of the job's own webhook, if any, is checked.

use std::collections::HashSet;

use herald_core::webhook::WebhookSecret;
use herald_core::{FieldError, IdempotencyKey, JobLimits, JobRequest, JobType, NewJob, TenantId};
use serde_json::Value;

use crate::body::from_body;
use crate::error::ApiError;
use crate::webhooks::check_target;

/// A validated submission.
#[derive(Debug)]
pub struct Submission {
    pub new: NewJob,
    /// The secret Herald generated for the job's webhook because the request named none: the
    /// answer to this submission is the one place it is shown.
    pub generated_secret: Option<WebhookSecret>,
}

impl Submission {
    /// This submission, once its webhook's target (if any) is known not to be in a private,
    /// loopback or link-local range, unless `allow_private`. Resolves the target's host name.
    ///
    /// # Errors
    /// [`ApiError::Validation`] naming `webhook.url` for a refused target.
    pub async fn checked(self, allow_private: bool) -> Result<Self, ApiError> {
        if let Some(hook) = &self.new.webhook {
            check_target(&hook.url, "webhook.url", allow_private).await?;
        }
        Ok(self)
    }
}

/// Validates a submission: its shape, its fields against `limits`, and that some handler or
/// worker queue serves its type.
///
/// # Errors
/// [`ApiError::Validation`] naming every bad field.
pub fn parse_submission(
    tenant: TenantId,
    body: &Value,
    idempotency_key: Option<IdempotencyKey>,
    limits: &JobLimits,
    known_types: &HashSet<JobType>,
) -> Result<Submission, ApiError> {
    let request: JobRequest = from_body(body).map_err(ApiError::Validation)?;
    let unknown_type = request
        .job_type
        .as_deref()
        .and_then(|raw| JobType::parse(raw).ok())
        .filter(|job_type| !known_types.contains(job_type))
        .map(|job_type| {
            FieldError::new(
                "type",
                format!("no handler or worker queue is configured for job type `{job_type}`"),
            )
        });
    match (
        NewJob::parse(tenant, request, idempotency_key, limits),
        unknown_type,
    ) {
        (Ok(new), None) => {
            // `JobHook::parse` generates a secret when the request names none; only the raw
            // request can tell a generated secret from a given one.
            let named_secret = body
                .get("webhook")
                .and_then(|hook| hook.get("secret"))
                .is_some_and(|secret| !secret.is_null());
            let generated_secret = new
                .webhook
                .as_ref()
                .filter(|_| !named_secret)
                .map(|hook| hook.secret.clone());
            Ok(Submission {
                new,
                generated_secret,
            })
        }
        (Ok(_), Some(unknown)) => Err(ApiError::Validation(vec![unknown])),
        (Err(mut errors), unknown) => {
            // `type` comes first, as `NewJob::parse` lists it.
            errors.splice(0..0, unknown);
            Err(ApiError::Validation(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn known() -> HashSet<JobType> {
        HashSet::from([JobType::parse("demo.sleep").unwrap()])
    }

    fn fields(body: Value) -> Vec<String> {
        let tenant = TenantId::default_tenant();
        match parse_submission(tenant, &body, None, &JobLimits::default(), &known()) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_submission_of_a_known_type_is_accepted() {
        let tenant = TenantId::default_tenant();
        let body = json!({"type": "demo.sleep"});
        let submission =
            parse_submission(tenant, &body, None, &JobLimits::default(), &known()).unwrap();
        assert_eq!(submission.new.job_type.as_str(), "demo.sleep");
        assert!(submission.new.webhook.is_none());
        assert!(submission.generated_secret.is_none());
    }

    #[test]
    fn a_webhook_secret_is_reported_as_generated_only_when_the_request_named_none() {
        let parse = |hook: Value| {
            let body = json!({"type": "demo.sleep", "webhook": hook});
            let tenant = TenantId::default_tenant();
            parse_submission(tenant, &body, None, &JobLimits::default(), &known()).unwrap()
        };
        let generated = parse(json!({"url": "https://client.example/h"}));
        let hook = generated.new.webhook.as_ref().unwrap();
        assert_eq!(generated.generated_secret.as_ref(), Some(&hook.secret));
        assert!(hook.secret.expose().starts_with("whsec_"));

        let given =
            parse(json!({"url": "https://client.example/h", "secret": "a-long-enough-secret"}));
        assert!(given.generated_secret.is_none());
        assert_eq!(
            given.new.webhook.unwrap().secret.expose(),
            "a-long-enough-secret"
        );
    }

    #[test]
    fn bad_webhook_fields_are_named_under_webhook() {
        let body = json!({"type": "demo.sleep", "webhook": {"url": "ftp://x.example/", "events": ["job.nope"]}});
        assert_eq!(fields(body), ["webhook.url", "webhook.events"]);
    }

    #[test]
    fn an_unknown_type_is_refused_with_the_other_bad_fields() {
        assert_eq!(fields(json!({"type": "nope"})), ["type"]);
        assert_eq!(
            fields(json!({"type": "nope", "max_attempts": 0})),
            ["type", "max_attempts"]
        );
    }

    #[test]
    fn wrongly_typed_and_unknown_fields_are_named() {
        let body = json!({"type": "demo.sleep", "timeout_s": "soon", "colour": "red"});
        let mut named = fields(body);
        named.sort();
        assert_eq!(named, ["colour", "timeout_s"]);
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        assert_eq!(fields(json!([1, 2])), ["body"]);
    }
}
