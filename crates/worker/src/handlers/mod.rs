//! Handlers an install configures rather than compiles: each is built from the keys of one
//! `[job_types."name"]` table of the configuration file (deserialized with serde, so this
//! crate needs no TOML parser) and checked once, at start-up, by its `new`.
//!
//! - [`exec`]: [`ExecHandler`] runs a configured command per attempt: the payload on its
//!   stdin, progress and result as JSON lines on its stdout, or a result file.
//! - [`http`]: [`HttpHandler`] forwards the payload to an existing (possibly slow) HTTP
//!   endpoint and completes with its answer.
//!
//! Both keep everything they read bounded (output lines, error tails, results), and both
//! leave nothing behind when the runtime drops them on a timeout, a lost lease or shutdown.

pub mod exec;
pub mod http;

pub use exec::{ExecHandler, ExecSettings};
pub use http::{HttpHandler, HttpSettings};

/// The largest result either handler may be configured to hold in memory. The store has a
/// limit of its own (`max_result_bytes`, 16 MiB by default) that applies on top of this.
pub const MAX_RESULT_BYTES_CEILING: usize = 256 * 1024 * 1024;

/// The default bound on a result a handler reads: the store's default result limit.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 16 * 1024 * 1024;

/// A setting that cannot work, found when the handler is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The key (as written in the job type's table, e.g. `command` or `headers.X-Token`)
    /// holds a value that cannot work.
    #[error("`{key}` {reason}")]
    Invalid {
        /// The key that is wrong.
        key: String,
        /// What is wrong with it, worded to follow the key.
        reason: String,
    },
    /// The HTTP client could not be built (its TLS backend failed to start).
    #[error("the HTTP client cannot be built: {0}")]
    Client(String),
}

impl SettingsError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Checks a result bound against the ceiling.
fn check_result_bound(key: &str, bytes: usize) -> Result<(), SettingsError> {
    if (1..=MAX_RESULT_BYTES_CEILING).contains(&bytes) {
        Ok(())
    } else {
        Err(SettingsError::invalid(
            key,
            format!("must be between 1 and {MAX_RESULT_BYTES_CEILING} bytes, not {bytes}"),
        ))
    }
}

/// Whether `raw` can be served as a `Content-Type` (`type/subtype`, optional parameters).
fn is_content_type(raw: &str) -> bool {
    let essence = raw.split(';').next().unwrap_or_default().trim();
    let well_formed = essence
        .split_once('/')
        .is_some_and(|(kind, sub)| !kind.is_empty() && !sub.is_empty());
    // Visible ASCII and spaces only: the API serves it as a header value.
    well_formed && raw.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn head(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The longest suffix of `s` of at most `max` bytes that starts on a character boundary.
fn tail(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_keep_whole_characters() {
        assert_eq!(head("héllo", 2), "h");
        assert_eq!(head("héllo", 3), "hé");
        assert_eq!(head("hi", 10), "hi");
        assert_eq!(tail("hélé", 2), "é");
        assert_eq!(tail("hélé", 3), "lé");
        assert_eq!(tail("hi", 10), "hi");
    }

    #[test]
    fn content_types_must_have_a_type_and_a_subtype() {
        assert!(is_content_type("text/csv"));
        assert!(is_content_type("text/csv; charset=utf-8"));
        assert!(!is_content_type("csv"));
        assert!(!is_content_type("text/"));
        assert!(!is_content_type("text/csv\r\nX-Evil: 1"));
    }

    #[test]
    fn settings_errors_name_the_key() {
        let error = SettingsError::invalid("command", "must not be empty");
        assert_eq!(error.to_string(), "`command` must not be empty");
    }
}
