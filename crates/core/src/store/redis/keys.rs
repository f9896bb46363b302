//! The Redis key layout: every key and channel the backend uses, derived from one prefix.
//!
//! Braces are Redis hash tags. The keys of one job share the tag `{<job id>}`; the feed, the
//! listing indexes, the idempotency keys and the external workers' queues of one tenant the
//! tag `{<tenant>}`; the shared queue keys of one type the tag `{<type>}`; so a later move to
//! Redis Cluster keeps each group in one slot (a claim reads several of a tenant's queues at
//! once). They also delimit the names: tenants, types and ids cannot contain braces, so no two
//! keys can collide.
//!
//! ```text
//! <p>:job:{<id>}                          hash: doc (job JSON), seq, tenant, status, entry;
//!                                         with its own webhook also hook (JobHookEndpoint
//!                                         JSON: url, events), hook_secret (its secret, kept
//!                                         here only), hook_events (',job.completed,'), and
//!                                         once a delivery exists hook_state, hook_seq
//! <p>:job:{<id>}:payload                  string: the payload JSON
//! <p>:job:{<id>}:result                   hash: content_type, body
//! <p>:job:{<id>}:events                   stream: the job's history, entry id = <seq>-0
//! <p>:job:{<id>}:cancel                   string: set while a cancel request is pending
//! <p>:job:{<id>}:bodies                   hash: seq → the body every delivery of that event
//!                                         sends, for the events the history keeps (expires
//!                                         with the job)
//! <p>:feed:{<tenant>}                     stream: the tenant's feed (event, prev); id = cursor;
//!                                         expires when the tenant is quiet for the retention
//! <p>:feed:{<tenant>}:last                string: the id of the tenant's newest feed entry
//! <p>:signals                             pub/sub channel: events, cancel requests, revoked keys
//! <p>:queue:{<type>}                      stream + consumer group `workers`: the job queue
//! <p>:delayed:{<type>}                    zset: retries waiting for their delay, by due time
//! <p>:external-queue:{<tenant>}:<type>    stream + consumer group `workers`: one tenant's
//!                                         queue of a type run by external workers
//! <p>:external-delayed:{<tenant>}:<type>  zset: that queue's retries waiting for their delay
//! <p>:external-active                     set: '<tenant> <type>' of the external queues that
//!                                         may hold leases or delayed retries (what the
//!                                         external maintenance visits)
//! <p>:expiring                            zset: finished jobs by expiry time
//! <p>:idem:{<tenant>}:<key>               string: '<job id> <fingerprint>'
//! <p>:jobs:{<tenant>}                     zset: the tenant's jobs (all scores 0, by id)
//! <p>:jobs:{<tenant>}:status:<status>     zset: … with that status
//! <p>:jobs:{<tenant>}:type:<type>         zset: … of that type
//! <p>:jobs:{<tenant>}:status:<s>:type:<t> zset: … with both
//! <p>:outbox                              stream + consumer group `notifier`: events some
//!                                         target wants (tenant, event, hook)
//! <p>:subs:{<tenant>}                     hash: subscription id → Subscription JSON
//! <p>:subs:{<tenant>}:version             hash: subscription id → version (the CAS guard)
//! <p>:subs:{<tenant>}:wanted              hash: subscription id → its wants fields, space-
//!                                         separated ('' while disabled)
//! <p>:subs:{<tenant>}:wants               hash: wants field → how many enabled subscriptions
//!                                         want it
//! <p>:webhooks:failing                    hash: subscription id → failing since (ms)
//! <p>:delivery:{<id>}                     hash: doc (Delivery JSON, no secret), tenant, sub
//!                                         ('' for a job's own webhook), job (its id), seq,
//!                                         state, n (attempt count)
//! <p>:deliveries:{<subscription id>}      zset: the subscription's deliveries (scores 0, by id)
//! <p>:due                                 zset: scheduled deliveries by due time (ms); a
//!                                         claimed one by the end of its lease
//! <p>:apikey:{<key id>}                   hash: doc (ApiKey JSON: id, tenant, name, admin,
//!                                         created_at, last_four, SHA-256 digest of the
//!                                         secret; never the key)
//! <p>:apikeys                             set: the ids of every API key (listing, and whether
//!                                         any key exists)
//! ```
//!
//! A feed entry's id (`<ms>-<n>`, chosen by Redis) is the entry's `FeedCursor`. Besides the
//! event it holds `prev`, the id of the entry appended just before it (absent on the tenant's
//! first one), which `:last` keeps: once `MAXLEN ~` or `MINID ~` has trimmed the oldest entries,
//! or the whole stream expired, the oldest kept entry's `prev` is the newest one gone, which
//! tells a reader exactly whether it missed anything. `:last` holds a cursor and nothing of any
//! job, so it does not expire.
//!
//! A job type is either run by Herald's workers (its jobs wait in `queue:{<type>}`, whatever
//! their tenant) or by external workers (in `external-queue:{<tenant>}:<type>`), as the
//! catalog says; `RedisStore::queues_of` is the one place that decides. `external-active`
//! keeps the external maintenance from visiting every tenant: a pair joins it when one of its
//! jobs is claimed or waits for a retry (`transition.lua`; a claim adds its pairs before
//! reading too) and leaves it when its queue holds no lease and its delayed set is empty
//! (`forget_idle_queue.lua`).
//!
//! The listing indexes give every member the score 0 and are read by lexicographic range:
//! hyphenated lowercase UUIDv7 strings sort like the ids themselves, by creation time. The
//! deliveries index of a subscription works the same way.
//!
//! A *wants field* names what a subscription asks for, so the job scripts can tell with one
//! `HMGET` whether any enabled subscription of the tenant wants an event: `<event type>` for a
//! subscription to every job type, `<event type>/<job type>` for each type of one filtered by
//! job types (neither name can hold a `/` or a space). The counters are kept exact by the
//! subscription scripts, which know each subscription's previous fields from `:wanted`.

use crate::apikey::ApiKeyId;
use crate::event::EventType;
use crate::ids::{DeliveryId, IdempotencyKey, JobId, JobType, SubscriptionId, TenantId};
use crate::job::JobStatus;
use crate::webhook::{JobHookEndpoint, Subscription};

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

    /// The bodies of the job's webhook deliveries, by event `seq` (the claim script builds
    /// the same name from the job's).
    pub(super) fn bodies(&self, id: &JobId) -> String {
        format!("{}:bodies", self.job(id))
    }

    /// The tenant's feed: every event of its jobs, the entry id being the feed cursor.
    pub(super) fn feed(&self, tenant: &TenantId) -> String {
        format!("{}:feed:{{{tenant}}}", self.prefix)
    }

    /// The id of the tenant's newest feed entry: the `prev` of the next one, and the feed's
    /// head, also once the stream has expired.
    pub(super) fn feed_last(&self, tenant: &TenantId) -> String {
        format!("{}:last", self.feed(tenant))
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

    /// One tenant's queue of a type run by external workers.
    pub(super) fn external_queue(&self, tenant: &TenantId, job_type: &JobType) -> String {
        format!("{}:external-queue:{{{tenant}}}:{job_type}", self.prefix)
    }

    /// The retries of [`Keys::external_queue`] waiting for their delay.
    pub(super) fn external_delayed(&self, tenant: &TenantId, job_type: &JobType) -> String {
        format!("{}:external-delayed:{{{tenant}}}:{job_type}", self.prefix)
    }

    /// The external queues that may hold leases or delayed retries, as
    /// [`active_member`]s.
    pub(super) fn external_active(&self) -> String {
        format!("{}:external-active", self.prefix)
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

    /// The webhook outbox: events some target wants, for the notifier's consumer group.
    pub(super) fn outbox(&self) -> String {
        format!("{}:outbox", self.prefix)
    }

    pub(super) fn subscriptions(&self, tenant: &TenantId) -> String {
        format!("{}{tenant}}}", self.subscriptions_prefix())
    }

    /// What precedes a tenant in the name of its subscriptions hash: the delivery claim
    /// finds a delivery's tenant inside Redis and builds the name from it.
    pub(super) fn subscriptions_prefix(&self) -> String {
        format!("{}:subs:{{", self.prefix)
    }

    pub(super) fn subscription_versions(&self, tenant: &TenantId) -> String {
        format!("{}:version", self.subscriptions(tenant))
    }

    pub(super) fn subscription_wanted(&self, tenant: &TenantId) -> String {
        format!("{}:wanted", self.subscriptions(tenant))
    }

    /// The tenant's wants counters: wants field → enabled subscriptions wanting it.
    pub(super) fn wants(&self, tenant: &TenantId) -> String {
        format!("{}:wants", self.subscriptions(tenant))
    }

    pub(super) fn failing(&self) -> String {
        format!("{}:webhooks:failing", self.prefix)
    }

    pub(super) fn delivery(&self, id: &DeliveryId) -> String {
        format!("{}{id}}}", self.delivery_prefix())
    }

    /// What precedes a delivery id in its hash's name (the claim script builds names).
    pub(super) fn delivery_prefix(&self) -> String {
        format!("{}:delivery:{{", self.prefix)
    }

    /// The subscription's deliveries, by id.
    pub(super) fn deliveries(&self, subscription: &SubscriptionId) -> String {
        format!("{}:deliveries:{{{subscription}}}", self.prefix)
    }

    pub(super) fn due(&self) -> String {
        format!("{}:due", self.prefix)
    }

    /// An API key's record.
    pub(super) fn api_key(&self, id: &ApiKeyId) -> String {
        format!("{}:apikey:{{{id}}}", self.prefix)
    }

    /// The ids of every API key.
    pub(super) fn api_keys(&self) -> String {
        format!("{}:apikeys", self.prefix)
    }
}

/// The wants fields of a subscription (see the module docs): none while it is disabled.
pub(super) fn wants_fields(subscription: &Subscription) -> Vec<String> {
    if !subscription.enabled {
        return Vec::new();
    }
    let mut fields = Vec::new();
    for kind in &subscription.events {
        if subscription.job_types.is_empty() {
            fields.push(kind.as_str().to_owned());
        }
        for job_type in &subscription.job_types {
            fields.push(wants_field(*kind, job_type));
        }
    }
    fields.sort();
    fields.dedup();
    fields
}

/// The wants field of subscriptions to `kind` filtered to `job_type`.
pub(super) fn wants_field(kind: EventType, job_type: &JobType) -> String {
    format!("{kind}/{job_type}")
}

/// The event types a job's own webhook wants, as the job hash's `hook_events` holds them:
/// comma-delimited on both ends, so a script finds `,<type>,` without parsing anything.
pub(super) fn hook_events(hook: &JobHookEndpoint) -> String {
    let mut list = String::from(",");
    for kind in &hook.events {
        list.push_str(kind.as_str());
        list.push(',');
    }
    list
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

/// The member of the `external-active` set naming a tenant's queue of an external type. A
/// space separates them: neither can contain one.
pub(super) fn active_member(tenant: &TenantId, job_type: &JobType) -> String {
    format!("{tenant} {job_type}")
}

/// Reads an `external-active` member back.
pub(super) fn parse_active_member(member: &str) -> Option<(TenantId, JobType)> {
    let (tenant, job_type) = member.split_once(' ')?;
    Some((
        TenantId::parse(tenant).ok()?,
        JobType::parse(job_type).ok()?,
    ))
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
            keys.bodies(&id),
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
    fn wants_fields_name_event_types_or_pairs_of_event_and_job_type() {
        let request = |job_types: &[&str]| crate::webhook::SubscriptionRequest {
            url: Some("https://client.example/h".to_owned()),
            events: Some(vec!["job.failed".to_owned(), "job.completed".to_owned()]),
            job_types: Some(job_types.iter().map(|t| (*t).to_owned()).collect()),
            ..Default::default()
        };
        let tenant = TenantId::default_tenant();
        let now = chrono::Utc::now();
        let every = Subscription::create(tenant.clone(), request(&[]), now).unwrap();
        assert_eq!(wants_fields(&every), ["job.completed", "job.failed"]);
        let typed = Subscription::create(tenant, request(&["b.x", "a.y"]), now).unwrap();
        assert_eq!(
            wants_fields(&typed),
            [
                "job.completed/a.y",
                "job.completed/b.x",
                "job.failed/a.y",
                "job.failed/b.x"
            ]
        );
        assert!(wants_fields(&typed.disabled("gone", now)).is_empty());
        assert_eq!(
            wants_field(EventType::Failed, &JobType::parse("a.y").unwrap()),
            "job.failed/a.y"
        );
    }

    #[test]
    fn hook_events_are_comma_delimited_on_both_ends() {
        let hook =
            crate::webhook::JobHook::parse(serde_json::json!({"url": "https://client.example/h"}))
                .unwrap();
        assert_eq!(
            hook_events(&hook.endpoint()),
            ",job.completed,job.failed,job.canceled,"
        );
    }

    #[test]
    fn webhook_keys_are_built_from_their_prefixes() {
        let keys = Keys::new("p");
        let tenant = TenantId::parse("acme").unwrap();
        let delivery = DeliveryId::generate();
        assert_eq!(
            keys.subscriptions(&tenant),
            format!("{}acme}}", keys.subscriptions_prefix())
        );
        assert_eq!(
            keys.delivery(&delivery),
            format!("{}{delivery}}}", keys.delivery_prefix())
        );
        assert_eq!(keys.wants(&tenant), "p:subs:{acme}:wants");
    }

    #[test]
    fn external_queues_are_per_tenant_and_apart_from_the_shared_ones() {
        let keys = Keys::new("p");
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let video = JobType::parse("video.transcode").unwrap();
        assert_eq!(
            keys.external_queue(&acme, &video),
            "p:external-queue:{acme}:video.transcode"
        );
        assert_ne!(
            keys.external_queue(&acme, &video),
            keys.external_queue(&other, &video)
        );
        assert_ne!(keys.external_queue(&acme, &video), keys.queue(&video));
        assert!(keys.external_delayed(&acme, &video).contains("{acme}"));
        // A type named like another's suffix cannot make two keys collide.
        let odd = JobType::parse("x:delayed").unwrap();
        let x = JobType::parse("x").unwrap();
        assert_ne!(
            keys.external_queue(&acme, &odd),
            keys.external_delayed(&acme, &x)
        );
        let member = active_member(&acme, &video);
        assert_eq!(parse_active_member(&member), Some((acme, video)));
        assert_eq!(parse_active_member("nospace"), None);
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
