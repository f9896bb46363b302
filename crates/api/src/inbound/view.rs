//! Sources and their request logs as the API shows them. A source's secret is shown once,
//! in the answer that created or rotated it ([`RevealedSource`]); never again.

use chrono::Utc;
use herald_core::inbound::{Dedupe, RequestRecord, Source, Verify};
use herald_core::{RequestId, SourceId};
use serde::Serialize;

use super::shown;

/// A source, without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceView<'a> {
    pub id: SourceId,
    pub name: &'a str,
    pub job_type: &'a str,
    /// The scheme and its parameters: `{"scheme": "stripe", "tolerance_s": 300}`.
    #[schema(value_type = Verify)]
    pub verify: &'a Verify,
    /// What names a provider's event; `null`: every request is a new event.
    #[schema(value_type = Option<Dedupe>)]
    pub dedupe: Option<&'a Dedupe>,
    pub response: ResponseView,
    /// Where the provider posts: the token in it is the credential, keep it secret.
    pub ingest_url: String,
    /// While a rotated-out secret is still accepted: until when.
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub links: SourceLinks,
}

/// The answer a verified request gets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseView {
    pub status: u16,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SourceLinks {
    #[serde(rename = "self")]
    pub self_: String,
    pub requests: String,
}

impl<'a> From<&'a Source> for SourceView<'a> {
    fn from(source: &'a Source) -> Self {
        let self_ = format!("/v1/sources/{}", source.id);
        Self {
            id: source.id,
            name: &source.name,
            job_type: source.job_type.as_str(),
            verify: &source.verify,
            dedupe: source.dedupe.as_ref(),
            response: ResponseView {
                status: source.response_status,
            },
            ingest_url: format!("/in/{}", source.token),
            previous_secret_expires_at: source
                .retired_secret
                .as_ref()
                .filter(|retired| retired.expires_at > Utc::now())
                .map(|retired| shown(&retired.expires_at)),
            created_at: shown(&source.created_at),
            updated_at: shown(&source.updated_at),
            links: SourceLinks {
                requests: format!("{self_}/requests"),
                self_,
            },
        }
    }
}

/// A source with its secret: the answer to its creation and to a rotation, the only ones
/// that show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevealedSource<'a> {
    #[serde(flatten)]
    pub source: SourceView<'a>,
    /// The secret (for `basic`, the password); `null` for scheme `none`.
    pub secret: Option<&'a str>,
}

impl<'a> From<&'a Source> for RevealedSource<'a> {
    fn from(source: &'a Source) -> Self {
        Self {
            source: SourceView::from(source),
            secret: source.secret.as_ref().map(|s| s.expose()),
        }
    }
}

/// The tenant's sources (always one page).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SourceList<'a> {
    pub data: Vec<SourceView<'a>>,
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page of a source's request log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RequestList {
    pub data: Vec<RequestRecord>,
    #[schema(required = true)]
    pub next_cursor: Option<RequestId>,
}
