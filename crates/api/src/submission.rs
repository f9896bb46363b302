//! A `POST /v1/jobs` request becomes a validated [`NewJob`], or a list of every field that is
//! wrong with it; then the target of the job's own webhook, if any, is checked.

use herald_core::webhook::WebhookSecret;
use herald_core::{
    FieldError, IdempotencyKey, JobLimits, JobRequest, JobType, JobTypes, NewJob, TenantId,
};

use crate::http::error::ApiError;
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

/// Validates a submission: that the install serves its type, and its fields against
/// `limits` with the type's own defaults and payload bound in place.
///
/// # Errors
/// [`ApiError::Validation`] naming every bad field.
pub fn parse_submission(
    tenant: TenantId,
    request: JobRequest,
    idempotency_key: Option<IdempotencyKey>,
    limits: &JobLimits,
    job_types: &JobTypes,
) -> Result<Submission, ApiError> {
    // `JobHook::parse` generates a secret when the request names none; only the request can
    // tell a generated secret from a given one.
    let named_secret = request
        .webhook
        .as_ref()
        .and_then(|hook| hook.get("secret"))
        .is_some_and(|secret| !secret.is_null());
    let job_type = request
        .job_type
        .as_deref()
        .and_then(|raw| JobType::parse(raw).ok());
    let limits = match &job_type {
        Some(job_type) => job_types.limits(job_type, limits),
        None => *limits,
    };
    let unknown_type = job_type
        .filter(|job_type| !job_types.contains(job_type))
        .map(|job_type| {
            FieldError::new(
                "type",
                format!("no handler or worker queue is configured for job type `{job_type}`"),
            )
        });
    match (
        NewJob::parse(tenant, request, idempotency_key, &limits),
        unknown_type,
    ) {
        (Ok(new), None) => {
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
    use serde_json::{Value, json};

    use super::*;
    use crate::http::body::from_body;

    /// Reads `body` as the handler does: into a request, then into a submission.
    fn parse(
        tenant: TenantId,
        body: &Value,
        limits: &JobLimits,
        types: &JobTypes,
    ) -> Result<Submission, ApiError> {
        let request = from_body(body).map_err(ApiError::Validation)?;
        parse_submission(tenant, request, None, limits, types)
    }

    fn known() -> JobTypes {
        let mut types = JobTypes::new();
        types.insert(JobType::parse("demo.sleep").unwrap(), Default::default());
        types.insert(
            JobType::parse("tiny.payload").unwrap(),
            herald_core::TypePolicy {
                max_payload_bytes: Some(16),
                timeout: Some(std::time::Duration::from_secs(7)),
                max_attempts: Some(9),
                ..Default::default()
            },
        );
        types
    }

    fn fields(body: Value) -> Vec<String> {
        let tenant = TenantId::default_tenant();
        match parse(tenant, &body, &JobLimits::default(), &known()) {
            Err(ApiError::Validation(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_submission_of_a_known_type_is_accepted() {
        let tenant = TenantId::default_tenant();
        let body = json!({"type": "demo.sleep"});
        let submission = parse(tenant, &body, &JobLimits::default(), &known()).unwrap();
        assert_eq!(submission.new.job_type.as_str(), "demo.sleep");
        assert!(submission.new.webhook.is_none());
        assert!(submission.generated_secret.is_none());
    }

    #[test]
    fn a_types_own_limits_and_defaults_apply_to_its_jobs() {
        let tenant = TenantId::default_tenant();
        let body = json!({"type": "tiny.payload"});
        let new = parse(tenant, &body, &JobLimits::default(), &known())
            .unwrap()
            .new;
        assert_eq!(new.timeout.as_secs(), 7);
        assert_eq!(new.max_attempts, 9);
        assert_eq!(
            fields(
                json!({"type": "tiny.payload", "payload": {"text": "far more than sixteen bytes"}})
            ),
            ["payload"]
        );
        // The same payload is fine for a type without a bound of its own.
        let roomy =
            json!({"type": "demo.sleep", "payload": {"text": "far more than sixteen bytes"}});
        assert!(
            parse(
                TenantId::default_tenant(),
                &roomy,
                &JobLimits::default(),
                &known()
            )
            .is_ok()
        );
    }

    #[test]
    fn a_webhook_secret_is_reported_as_generated_only_when_the_request_named_none() {
        let parse = |hook: Value| {
            let body = json!({"type": "demo.sleep", "webhook": hook});
            let tenant = TenantId::default_tenant();
            parse(tenant, &body, &JobLimits::default(), &known()).unwrap()
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
