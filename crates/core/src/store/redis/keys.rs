//! The Redis key layout: every key and channel the backend uses, derived from one prefix.
//!
//! Braces are Redis hash tags. The keys of one job share the tag `{<job id>}`; the feed, the
//! listing indexes and the idempotency keys of one tenant the tag `{<tenant>}`; the queue keys
//! of one type the tag `{<type>}`; so a later move to Redis Cluster keeps each group in one
//! slot. They also delimit the names: tenants, types and ids cannot contain braces, so no two
//! keys can collide.
//!
//! ```text
//! <p>:job:{<id>}                          hash: doc (job JSON), seq, tenant, status, entry
//! <p>:job:{<id>}:payload                  string: the payload JSON
//! <p>:job:{<id>}:result                   hash: content_type, body
//! <p>:job:{<id>}:events                   stream: the job's history, entry id = <seq>-0
//! <p>:job:{<id>}:cancel                   string: set while a cancel request is pending
//! <p>:feed:{<tenant>}                     stream: the tenant's feed (event, prev); id = cursor
//! <p>:signals                             pub/sub channel: events and cancel requests
//! <p>:queue:{<type>}                      stream + consumer group `workers`: the job queue
//! <p>:delayed:{<type>}                    zset: retries waiting for their delay, by due time
//! <p>:expiring                            zset: finished jobs by expiry time
//! <p>:idem:{<tenant>}:<key>               string: '<job id> <fingerprint>'
//! <p>:jobs:{<tenant>}                     zset: the tenant's jobs (all scores 0, by id)
//! <p>:jobs:{<tenant>}:status:<status>     zset: … with that status
//! <p>:jobs:{<tenant>}:type:<type>         zset: … of that type
//! <p>:jobs:{<tenant>}:status:<s>:type:<t> zset: … with both
//! ```
//!
//! A feed entry's id (`<ms>-<n>`, chosen by Redis) is the entry's `FeedCursor`. Besides the
//! event it holds `prev`, the id of the entry appended just before it (absent on the first
//! one): once `MAXLEN ~` has trimmed the oldest entries, the oldest kept entry's `prev` is the
//! newest trimmed one, which tells a reader exactly whether it missed anything.
//!
//! The listing indexes give every member the score 0 and are read by lexicographic range:
//! hyphenated lowercase UUIDv7 strings sort like the ids themselves, by creation time.

use crate::ids::{IdempotencyKey, JobId, JobType, TenantId};
use crate::job::JobStatus;

/// Names every key under one prefix.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(super) fn job(&self, id: &JobId) -> String {
        format!("{}{id}}}", self.job_prefix())
    }

    /// What precedes a job id in its hash's name: scripts that find job ids inside Redis
    /// (promotion of due retries, idempotent replays) build the name from it.
    pub(super) fn job_prefix(&self) -> String {
        format!("{}:job:{{", self.prefix)
    }

    pub(super) fn payload(&self, id: &JobId) -> String {
        format!("{}:payload", self.job(id))
    }

    pub(super) fn result(&self, id: &JobId) -> String {
        format!("{}:result", self.job(id))
    }

    pub(super) fn history(&self, id: &JobId) -> String {
        format!("{}:events", self.job(id))
    }

    pub(super) fn cancel(&self, id: &JobId) -> String {
        format!("{}:cancel", self.job(id))
    }

    /// The tenant's feed: every event of its jobs, the entry id being the feed cursor.
    pub(super) fn feed(&self, tenant: &TenantId) -> String {
        format!("{}:feed:{{{tenant}}}", self.prefix)
    }

    pub(super) fn signals(&self) -> String {
        format!("{}:signals", self.prefix)
    }

    pub(super) fn queue(&self, job_type: &JobType) -> String {
        format!("{}:queue:{{{job_type}}}", self.prefix)
    }

    pub(super) fn delayed(&self, job_type: &JobType) -> String {
        format!("{}:delayed:{{{job_type}}}", self.prefix)
    }

    pub(super) fn expiring(&self) -> String {
        format!("{}:expiring", self.prefix)
    }

    pub(super) fn idempotency(&self, tenant: &TenantId, key: &IdempotencyKey) -> String {
        format!("{}:idem:{{{tenant}}}:{}", self.prefix, key.as_str())
    }

    /// The listing index of the tenant's jobs, narrowed by status and type when given.
    pub(super) fn index(
        &self,
        tenant: &TenantId,
        status: Option<JobStatus>,
        job_type: Option<&JobType>,
    ) -> String {
        let mut key = format!("{}:jobs:{{{tenant}}}", self.prefix);
        if let Some(status) = status {
            key.push_str(":status:");
            key.push_str(status.as_str());
        }
        if let Some(job_type) = job_type {
            key.push_str(":type:");
            key.push_str(job_type.as_str());
        }
        key
    }
}

/// The member of the expiring set naming a finished job and the indexes it sits in. Spaces
/// separate the parts: none of them can contain one.
pub(super) fn expiring_member(
    tenant: &TenantId,
    job_type: &JobType,
    status: JobStatus,
    id: &JobId,
) -> String {
    format!("{tenant} {job_type} {status} {id}")
}

/// Reads an expiring set member back.
pub(super) fn parse_expiring_member(member: &str) -> Option<(TenantId, JobType, JobStatus, JobId)> {
    let mut parts = member.split(' ');
    let tenant = TenantId::parse(parts.next()?).ok()?;
    let job_type = JobType::parse(parts.next()?).ok()?;
    let status = parts.next()?.parse().ok()?;
    let id = JobId::parse(parts.next()?).ok()?;
    parts
        .next()
        .is_none()
        .then_some((tenant, job_type, status, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_one_job_share_its_hash_tag() {
        let keys = Keys::new("herald");
        let id = JobId::generate();
        let tag = format!("{{{id}}}");
        for key in [
            keys.job(&id),
            keys.payload(&id),
            keys.result(&id),
            keys.history(&id),
            keys.cancel(&id),
        ] {
            assert!(key.starts_with("herald:job:"), "{key}");
            assert_eq!(key.matches(&tag).count(), 1, "{key}");
        }
        assert_eq!(keys.job(&id), format!("{}{id}}}", keys.job_prefix()));
    }

    #[test]
    fn a_tenants_feed_shares_its_hash_tag_with_its_indexes() {
        let keys = Keys::new("herald");
        let tenant = TenantId::parse("acme:eu").unwrap();
        assert_eq!(keys.feed(&tenant), "herald:feed:{acme:eu}");
        let tag = "{acme:eu}";
        assert!(keys.index(&tenant, None, None).contains(tag));
        assert_ne!(
            keys.feed(&tenant),
            keys.feed(&TenantId::parse("acme").unwrap())
        );
    }

    #[test]
    fn expiring_members_round_trip() {
        let tenant = TenantId::parse("acme:eu").unwrap();
        let job_type = JobType::parse("demo.report").unwrap();
        let id = JobId::generate();
        let member = expiring_member(&tenant, &job_type, JobStatus::Failed, &id);
        assert_eq!(
            parse_expiring_member(&member),
            Some((tenant, job_type, JobStatus::Failed, id))
        );
        assert_eq!(parse_expiring_member("a b"), None);
    }

    #[test]
    fn index_names_are_unambiguous() {
        let keys = Keys::new("p");
        let tenant = TenantId::parse("t").unwrap();
        let odd_type = JobType::parse("x:status:pending").unwrap();
        assert_ne!(
            keys.index(&tenant, None, Some(&odd_type)),
            keys.index(&tenant, Some(JobStatus::Pending), None),
        );
        assert_eq!(keys.index(&tenant, None, None), "p:jobs:{t}");
    }
}
