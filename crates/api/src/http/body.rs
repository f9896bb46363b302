//! Reading a JSON request body into a request type, naming every field that is wrong with it.
//!
//! Handlers take their typed request as a [`Body`]: the body is read as JSON first (so
//! malformed JSON, a body over the limit or one not sent as JSON get the JSON extractor's
//! problems), then into the request type here, so a well-formed body with bad fields is a
//! `422` whose `errors` name each field by its path (`progress.percent`), like every other
//! validation error.
//!
//! A good body is parsed once, straight from its text into the request type; only a body that
//! does not fit is read again as a [`Value`] to name what is wrong with it ([`from_body`]), so
//! it gets the same answer as if it had been read that way from the start.

use actix_web::dev::Payload;
use actix_web::error::JsonPayloadError;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::{FutureExt as _, LocalBoxFuture};
use herald_core::FieldError;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use serde_path_to_error::Segment;

use crate::http::error::ApiError;

/// A request body read as a `T` (an object type, typically `deny_unknown_fields`).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // The extractor checks the JSON (and the limit and the media type) without building
        // anything but the text.
        web::Json::<Box<RawValue>>::from_request(req, payload)
            .map(|json| {
                from_text(json?.get())
                    .map(Self)
                    .map_err(actix_web::Error::from)
            })
            .boxed_local()
    }
}

/// Reads well-formed JSON `text` as a `T`, as [`from_body`] reads it once parsed.
///
/// # Errors
/// [`ApiError::Validation`] as [`from_body`] names it.
fn from_text<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    // A struct reads a JSON array too (its fields in order): only an object takes the short way.
    if text.starts_with('{')
        && let Ok(request) = serde_json::from_str(text)
    {
        return Ok(request);
    }
    // Whatever the short way refused (a bad field, a duplicate key — which a `Value` forgives,
    // keeping the last) gets the answer of the `Value` it is.
    let body: Value =
        serde_json::from_str(text).map_err(|e| ApiError::from(JsonPayloadError::Deserialize(e)))?;
    from_body(&body).map_err(ApiError::Validation)
}

/// Reads `body` as a `T`.
///
/// # Errors
/// One [`FieldError`] per field that is of the wrong type or unknown, named by its path;
/// `body` itself when it is not a JSON object, or when serde's complaint cannot be pinned on
/// one field.
pub fn from_body<T: DeserializeOwned>(body: &Value) -> Result<T, Vec<FieldError>> {
    let Value::Object(fields) = body else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    serde_path_to_error::deserialize(body).map_err(|whole| {
        // serde stops at the first bad field; reading each field alone names every one. This
        // runs only for bodies already known to be bad.
        let errors: Vec<_> = fields
            .iter()
            .filter_map(|(name, value)| {
                let alone = Value::Object([(name.clone(), value.clone())].into_iter().collect());
                serde_path_to_error::deserialize::<_, T>(&alone)
                    .err()
                    .map(|e| field_error(e, name))
            })
            .collect();
        if errors.is_empty() {
            vec![field_error(whole, "body")]
        } else {
            errors
        }
    })
}

/// `error` named by the object keys on its path (`progress.percent`; an array's items are
/// named by their array), or `otherwise` when it is about no key (a missing field).
fn field_error(
    error: serde_path_to_error::Error<serde_json::Error>,
    otherwise: &str,
) -> FieldError {
    let keys: Vec<_> = error
        .path()
        .iter()
        .map_while(|segment| match segment {
            Segment::Map { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let field = if keys.is_empty() {
        otherwise.to_owned()
    } else {
        keys.join(".")
    };
    FieldError::new(&field, error.into_inner().to_string())
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
        inner: Option<Inner>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        percent: Option<u8>,
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
    fn a_nested_field_is_named_by_its_path_and_an_item_by_its_array() {
        assert_eq!(
            fields(json!({"inner": {"percent": 300}, "tags": ["a", 1]})),
            ["inner.percent", "tags"]
        );
        assert_eq!(fields(json!({"inner": {"eta": 1}})), ["inner.eta"]);
        assert_eq!(fields(json!({"inner": 7})), ["inner"]);
    }

    fn text_fields(text: &str) -> Vec<String> {
        match from_text::<Request>(text) {
            Err(ApiError::Validation(errors)) => {
                let mut fields: Vec<_> = errors.into_iter().map(|e| e.field).collect();
                fields.sort();
                fields
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn text_reads_as_its_value_does() {
        let request: Request = from_text(r#"{"name": "a", "inner": {"percent": 5}}"#).unwrap();
        assert_eq!(request.name.as_deref(), Some("a"));
        assert_eq!(
            text_fields(r#"{"name": 1, "count": "x", "colour": "red"}"#),
            ["colour", "count", "name"]
        );
        // A struct would read an array's items as its fields; a body must be an object.
        assert_eq!(text_fields(r#"["a", 2]"#), ["body"]);
        // A repeated key is read as the value reads it: the last one stands.
        let repeated: Request = from_text(r#"{"count": 1, "count": 2}"#).unwrap();
        assert_eq!(repeated.count, Some(2));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused_as_a_whole() {
        assert_eq!(fields(json!([1])), ["body"]);
    }
}
