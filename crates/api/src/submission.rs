//! A `POST /v1/jobs` body becomes a validated [`NewJob`], or a list of every field that is
//! wrong with it.

use std::collections::HashSet;

use herald_core::{FieldError, IdempotencyKey, JobLimits, JobRequest, JobType, NewJob, TenantId};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

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
) -> Result<NewJob, ApiError> {
    let request = job_request(body).map_err(ApiError::Validation)?;
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
        (Ok(new), None) => Ok(new),
        (Ok(_), Some(unknown)) => Err(ApiError::Validation(vec![unknown])),
        (Err(mut errors), unknown) => {
            // `type` comes first, as `NewJob::parse` lists it.
            errors.splice(0..0, unknown);
            Err(ApiError::Validation(errors))
        }
    }
}

/// Reads the body's fields; on failure, tells which fields are of the wrong type or unknown.
fn job_request(body: &Value) -> Result<JobRequest, Vec<FieldError>> {
    let Value::Object(fields) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    JobRequest::deserialize(body).map_err(|whole| {
        // serde names the bad field only in prose; trying each field alone attributes every
        // complaint to its field. This runs only for bodies already known to be bad.
        let errors: Vec<_> = fields
            .iter()
            .filter_map(|(name, value)| {
                let alone = Value::Object([(name.clone(), value.clone())].into_iter().collect());
                JobRequest::deserialize(&alone)
                    .err()
                    .map(|e| FieldError::new(name, e.to_string()))
            })
            .collect();
        if errors.is_empty() {
            vec![FieldError::new("body", whole.to_string())]
        } else {
            errors
        }
    })
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
        let new = parse_submission(tenant, &body, None, &JobLimits::default(), &known()).unwrap();
        assert_eq!(new.job_type.as_str(), "demo.sleep");
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
