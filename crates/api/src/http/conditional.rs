//! Entity tags and `If-None-Match`: a job's tag is its `seq`, so a client that sends back the
//! tag it holds learns with a `304` that nothing changed.

use actix_web::HttpRequest;
use actix_web::http::header;

/// The entity tag of a job version: its `seq`, quoted (`"4"`).
pub fn etag(seq: u64) -> String {
    format!("\"{seq}\"")
}

/// A parsed `If-None-Match` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfNoneMatch {
    /// `*`: any current version.
    Any,
    /// The versions the client holds (weak tags compare like strong ones, as RFC 9110 asks of
    /// `If-None-Match`).
    Seqs(Vec<u64>),
}

impl IfNoneMatch {
    /// Reads every `If-None-Match` header of `req`; `None` when there is none.
    pub fn from_request(req: &HttpRequest) -> Option<Self> {
        let mut seqs = Vec::new();
        let mut present = false;
        for value in req.headers().get_all(header::IF_NONE_MATCH) {
            present = true;
            // A header that is not text names no tag we issued: it matches nothing.
            let Ok(value) = value.to_str() else { continue };
            match Self::parse(value) {
                Self::Any => return Some(Self::Any),
                Self::Seqs(more) => seqs.extend(more),
            }
        }
        present.then_some(Self::Seqs(seqs))
    }

    /// Parses one header value: `*`, or a comma-separated list of `"n"`, `W/"n"` (and, leniently,
    /// a bare `n`). Tags that are not ours are ignored: they match no version.
    pub fn parse(value: &str) -> Self {
        let mut seqs = Vec::new();
        for tag in value.split(',').map(str::trim) {
            if tag == "*" {
                return Self::Any;
            }
            let tag = tag.strip_prefix("W/").unwrap_or(tag);
            let opaque = tag
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(tag);
            if let Ok(seq) = opaque.parse() {
                seqs.push(seq);
            }
        }
        Self::Seqs(seqs)
    }

    /// Whether the version `seq` is one the client already holds.
    pub fn matches(&self, seq: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Seqs(seqs) => seqs.contains(&seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_weak_and_listed_tags_match_their_seq() {
        assert!(IfNoneMatch::parse("\"4\"").matches(4));
        assert!(IfNoneMatch::parse("W/\"4\"").matches(4));
        assert!(IfNoneMatch::parse("\"2\", W/\"4\"").matches(4));
        assert!(IfNoneMatch::parse("4").matches(4));
        assert!(!IfNoneMatch::parse("\"3\"").matches(4));
    }

    #[test]
    fn a_star_matches_any_version() {
        assert_eq!(IfNoneMatch::parse("*"), IfNoneMatch::Any);
        assert!(IfNoneMatch::parse("*").matches(17));
    }

    #[test]
    fn foreign_or_broken_tags_match_nothing() {
        for value in ["\"abc\"", "\"4", "", "W/", "\"4,5\""] {
            assert!(!IfNoneMatch::parse(value).matches(4), "{value:?}");
        }
    }

    #[test]
    fn the_tag_of_a_version_is_its_quoted_seq() {
        assert_eq!(etag(4), "\"4\"");
        assert!(IfNoneMatch::parse(&etag(9)).matches(9));
    }
}
