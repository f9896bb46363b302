//! Reading a JSON request body into a request type, naming every field that is wrong with it.
//!
//! Handlers take the body as a [`serde_json::Value`] (so malformed JSON is a `400` from the
//! JSON extractor) and read it here into their typed request, so a well-formed body with bad
//! fields is a `422` whose `errors` say which fields, like every other validation error.

use herald_core::FieldError;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads `body` as a `T` (an object type, typically `deny_unknown_fields`).
///
/// # Errors
/// One [`FieldError`] per field that is of the wrong type or unknown; `body` itself when it
/// is not a JSON object, or when serde's complaint cannot be pinned on one field.
pub fn from_body<T: DeserializeOwned>(body: &Value) -> Result<T, Vec<FieldError>> {
    let Value::Object(fields) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    T::deserialize(body).map_err(|whole| {
        // serde names the bad field only in prose; trying each field alone attributes every
        // complaint to its field. This runs only for bodies already known to be bad.
        let errors: Vec<_> = fields
            .iter()
            .filter_map(|(name, value)| {
                let alone = Value::Object([(name.clone(), value.clone())].into_iter().collect());
                T::deserialize(&alone)
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
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Request {
        name: Option<String>,
        count: Option<u32>,
    }

    fn fields(body: Value) -> Vec<String> {
        let mut fields: Vec<_> = from_body::<Request>(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        fields
    }

    #[test]
    fn every_bad_or_unknown_field_is_named() {
        assert_eq!(
            fields(json!({"name": 1, "count": "x", "colour": "red"})),
            ["colour", "count", "name"]
        );
        assert!(from_body::<Request>(&json!({"name": "a", "count": 2})).is_ok());
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_as_a_whole() {
        assert_eq!(fields(json!([1])), ["body"]);
    }
}
