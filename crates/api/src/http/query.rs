//! Query parameters read one by one, each bad value noted as a field error, so that an answer
//! names every bad parameter at once.

use herald_core::FieldError;

/// Parses an optional query parameter (empty counts as absent), noting a bad value in `errors`.
pub(crate) fn query_field<T>(
    errors: &mut Vec<FieldError>,
    field: &str,
    raw: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let raw = raw.as_deref().filter(|raw| !raw.is_empty())?;
    parse(raw)
        .map_err(|message| errors.push(FieldError::new(field, message)))
        .ok()
}
