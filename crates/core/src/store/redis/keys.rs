//! The Redis key layout: every key and channel the backend uses, derived from one prefix, and
//! the only place their names are built (the scripts build the few names they must find inside
//! Redis from prefixes given here, as each script's header says).
//!
//! **One hash slot a partition.** Every key of a partition carries the same hash tag, so it
//! hashes to one Redis Cluster slot: each script, and each multi-key command, touches keys of
//! one slot, as Cluster requires. A deployment of one partition (the default) has the prefix
//! in braces as its tag (`{herald}`), and one shard serves all of it; a deployment spread over
//! `n` partitions gives each its own tag, `{<prefix>/<i>.<k>}`, chosen so that the partitions'
//! slots lie in the middles of `n` equal ranges of the slot space ([`partition_tag`]), and so
//! on as many shards (see `partitioned`). The pub/sub channels carry the tag too, so that on a
//! Cluster they are sharded channels of the partition's slot. Below, `{p}` is a partition's
//! tag; the deployment's own tag (`{<prefix>}`) also holds `layout` and `partitions`, which
//! say how the data under the prefix is laid out. After the tag comes the kind of key, a fixed
//! word, then what it is of; tenants and job types are letters, digits, `.`, `_`, `-` and `:`,
//! never `/`, so `/` separates two such parts and no two keys can collide.
//!
//! ```text
//! {p}:job:<id>                          hash: everything of one job, which expires with it —
//!                                       last (its latest event JSON, whose snapshot is the
//!                                       job's record), seq, tenant, status, entry (its queue
//!                                       entry, '' when it has none), payload (JSON),
//!                                       event:<seq> (its history: the event JSON of each seq
//!                                       kept), result_type and result (once completed with a
//!                                       result), cancel (set while a cancel request is
//!                                       pending); with its own webhook also hook
//!                                       (JobHookEndpoint JSON: url, events), hook_secret (its
//!                                       secret, kept here only), hook_events
//!                                       (',job.completed,'), and once a delivery exists
//!                                       hook_state, hook_seq; body:<seq>, the body every
//!                                       webhook delivery of that event sends
//! {p}:feed:<tenant>                     stream: the tenant's feed (event, prev); id = cursor;
//!                                       expires when the tenant is quiet for the retention
//! {p}:feed-last:<tenant>                string: the id of the tenant's newest feed entry
//! {p}:signals                           pub/sub channel: cancel requests, revoked keys
//! {p}:events                            pub/sub channel: job events
//! {p}:queue:<type>                      stream + consumer group `workers`: the job queue
//! {p}:delayed:<type>                    zset: retries waiting for their delay, by due time
//! {p}:external-queue:<tenant>/<type>    stream + consumer group `workers`: one tenant's queue
//!                                       of a type run by external workers
//! {p}:external-delayed:<tenant>/<type>  zset: that queue's retries waiting for their delay
//! {p}:external-active                   set: '<tenant> <type>' of the external queues that may
//!                                       hold leases or delayed retries (what the external
//!                                       maintenance visits)
//! {p}:expiring                          zset: finished jobs by expiry time
//! {p}:idem:<tenant>/<key>               string: '<job id> <fingerprint>'
//! {p}:jobs:<tenant>/active              zset: the tenant's jobs not finished yet, pending or
//!                                       processing (scores 0, by id)
//! {p}:jobs:<tenant>/<final status>      zset: the tenant's jobs that ended so (completed,
//!                                       failed, canceled; scores 0, by id)
//! {p}:outbox                            stream + consumer group `notifier`: events some target
//!                                       wants (tenant, event, hook)
//! {p}:subs:<tenant>                     hash: subscription id → Subscription JSON
//! {p}:subs-version:<tenant>             hash: subscription id → version (the CAS guard;
//!                                       `d<version>` once deleted, in a deployment of
//!                                       several partitions)
//! {p}:subs-wanted:<tenant>              hash: subscription id → its wants fields, space-
//!                                       separated ('' while disabled)
//! {p}:wants:<tenant>                    hash: wants field → how many enabled subscriptions
//!                                       want it
//! {p}:webhooks-failing                  hash: subscription id → failing since (ms)
//! {p}:delivery:<id>                     hash: doc (Delivery JSON, no secret), tenant, sub ('' for
//!                                       a job's own webhook), job (its id), seq, state, n
//!                                       (attempt count)
//! {p}:deliveries:<subscription id>      zset: the subscription's deliveries (scores 0, by id)
//! {p}:due                               zset: scheduled deliveries by due time (ms); a claimed
//!                                       one by the end of its lease
//! {p}:apikey:<key id>                   hash: doc (ApiKey JSON: id, tenant, name, admin,
//!                                       created_at, last_four, SHA-256 digest of the secret;
//!                                       never the key)
//! {p}:layout                            string: the layout version of the keys under the
//!                                       prefix, written by the first store to start on it
//!                                       (under the deployment's own tag)
//! {p}:partitions                        string: how many partitions the deployment has,
//!                                       written likewise (absent before partitions existed:
//!                                       one)
//! {p}:subs-unmirrored                   hash, partition 0's: '<tenant> <subscription id>' →
//!                                       how many writes marked it: subscriptions whose copies
//!                                       in the other partitions may be behind
//! {p}:apikeys                           set: the ids of every API key (listing, and whether any
//!                                       key exists)
//! ```
//!
//! A job is one hash, so a finished job's expiry is one `PEXPIRE`, and a transition writes its
//! record, its history entry and its result in one `HSET`. The history keeps the newest
//! `history_max` events: the transition that writes event `n` drops `event:<n - max>` and
//! `body:<n - max>`.
//!
//! A feed entry's id (`<ms>-<n>`, chosen by Redis) is the entry's `FeedCursor`. Besides the
//! event it holds `prev`, the id of the entry appended just before it (absent on the tenant's
//! first one), which `feed-last` keeps: once `MAXLEN ~` or `MINID ~` has trimmed the oldest
//! entries, or the whole stream expired, the oldest kept entry's `prev` is the newest one gone,
//! which tells a reader exactly whether it missed anything. `feed-last` holds a cursor and
//! nothing of any job, so it does not expire.
//!
//! A job type is either run by Herald's workers (its jobs wait in `queue:<type>`, whatever
//! their tenant) or by external workers (in `external-queue:<tenant>/<type>`), as the catalog
//! says; `Partition::queues_of` is the one place that decides. `external-active` keeps the
//! external maintenance from visiting every tenant: a pair joins it when one of its jobs is
//! claimed or waits for a retry (`transition.lua`; a claim adds its pairs before reading too)
//! and leaves it when its queue holds no lease and its delayed set is empty
//! (`forget_idle_queue.lua`).
//!
//! The listing indexes give every member the score 0 and are read by lexicographic range:
//! hyphenated lowercase UUIDv7 strings sort like the ids themselves, by creation time. A job
//! sits in the index of its status only; a listing of every status merges them, and a listing
//! by type filters while it reads (see `jobs`). The deliveries index of a subscription works the
//! same way.
//!
//! A *wants field* names what a subscription asks for, so the job scripts can tell with one
//! `HMGET` whether any enabled subscription of the tenant wants an event: `<event type>` for a
//! subscription to every job type, `<event type>/<job type>` for each type of one filtered by
//! job types (neither name can hold a `/` or a space). The counters are kept exact by the
//! subscription scripts, which know each subscription's previous fields from `subs-wanted`.

use crate::apikey::ApiKeyId;
use crate::event::EventType;
use crate::ids::{DeliveryId, IdempotencyKey, JobId, JobType, SourceId, SubscriptionId, TenantId};
use crate::job::JobStatus;
use crate::store::StoreError;
use crate::webhook::{JobHookEndpoint, Subscription};

/// The job hash's field holding the event of `seq` (its history).
pub(super) fn event_field(seq: u64) -> String {
    format!("event:{seq}")
}

/// Names every key of one partition, all of them in its hash slot.
#[derive(Debug, Clone)]
pub(super) struct Keys {
    /// `{<prefix>}`: the hash tag every key starts with.
    tag: String,
}

impl Keys {
    /// The keys under `prefix`, which must not be empty nor hold a brace (it becomes the hash
    /// tag).
    pub(super) fn new(prefix: &str) -> Result<Self, StoreError> {
        if prefix.is_empty() || prefix.contains(['{', '}']) {
            return Err(StoreError::Backend(format!(
                "the Redis key prefix `{prefix}` must be non-empty and hold no brace"
            )));
        }
        Ok(Self {
            tag: format!("{{{prefix}}}"),
        })
    }

    /// The keys of partition `index` of a deployment spread over `count` (more than one)
    /// partitions under `prefix`, under [`partition_tag`]. A cluster whose shards serve equal
    /// ranges of slots (as `redis-cli --cluster create` makes them) then serves `count`
    /// partitions from as many shards as it can, whatever the prefix.
    pub(super) fn partition(prefix: &str, index: usize, count: usize) -> Result<Self, StoreError> {
        Ok(Self {
            tag: format!("{{{}}}", partition_tag(prefix, index, count)?),
        })
    }

    /// The hash tag every key of the partition starts with, braces and all.
    pub(super) fn tag(&self) -> &str {
        &self.tag
    }

    /// How many partitions the deployment under the prefix is spread over, as the first store
    /// to start on it recorded (absent before partitions existed: then it has one).
    pub(super) fn partitions(&self) -> String {
        format!("{}:partitions", self.tag)
    }

    /// The subscriptions whose copies in other partitions may be behind partition 0's
    /// (hash: `<tenant> <subscription id>` → how many writes marked it).
    pub(super) fn unmirrored(&self) -> String {
        format!("{}:subs-unmirrored", self.tag)
    }

    fn name(&self, kind: &str, of: impl std::fmt::Display) -> String {
        format!("{}:{kind}:{of}", self.tag)
    }

    pub(super) fn job(&self, id: &JobId) -> String {
        self.name("job", id)
    }

    /// [`Keys::job`] of an id as a listing index holds it.
    pub(super) fn listed_job(&self, id: &str) -> String {
        self.name("job", id)
    }

    /// What precedes a job id in its hash's name: scripts that find job ids inside Redis
    /// (promotion of due retries, idempotent replays, delivery claims) build the name from it.
    pub(super) fn job_prefix(&self) -> String {
        self.name("job", "")
    }

    /// The tenant's feed: every event of its jobs, the entry id being the feed cursor.
    pub(super) fn feed(&self, tenant: &TenantId) -> String {
        self.name("feed", tenant)
    }

    /// The id of the tenant's newest feed entry: the `prev` of the next one, and the feed's
    /// head, also once the stream has expired.
    pub(super) fn feed_last(&self, tenant: &TenantId) -> String {
        self.name("feed-last", tenant)
    }

    /// The channel of cancel requests and revoked keys, which every process hears.
    pub(super) fn signals(&self) -> String {
        format!("{}:signals", self.tag)
    }

    /// The channel of job events, which only processes that serve streams and polls hear.
    pub(super) fn events(&self) -> String {
        format!("{}:events", self.tag)
    }

    pub(super) fn queue(&self, job_type: &JobType) -> String {
        self.name("queue", job_type)
    }

    pub(super) fn delayed(&self, job_type: &JobType) -> String {
        self.name("delayed", job_type)
    }

    /// One tenant's queue of a type run by external workers.
    pub(super) fn external_queue(&self, tenant: &TenantId, job_type: &JobType) -> String {
        self.name("external-queue", format_args!("{tenant}/{job_type}"))
    }

    /// The retries of [`Keys::external_queue`] waiting for their delay.
    pub(super) fn external_delayed(&self, tenant: &TenantId, job_type: &JobType) -> String {
        self.name("external-delayed", format_args!("{tenant}/{job_type}"))
    }

    /// The external queues that may hold leases or delayed retries, as
    /// [`active_member`]s.
    pub(super) fn external_active(&self) -> String {
        format!("{}:external-active", self.tag)
    }

    /// The layout the data under the prefix is written in (see the store's `check_layout`).
    pub(super) fn layout(&self) -> String {
        format!("{}:layout", self.tag)
    }

    pub(super) fn expiring(&self) -> String {
        format!("{}:expiring", self.tag)
    }

    pub(super) fn idempotency(&self, tenant: &TenantId, key: &IdempotencyKey) -> String {
        self.name("idem", format_args!("{tenant}/{}", key.as_str()))
    }

    /// The listing index a tenant's job with `status` sits in: one for the jobs not finished
    /// yet (pending and processing alike, so a start moves no index), and one per final
    /// status.
    pub(super) fn index(&self, tenant: &TenantId, status: JobStatus) -> String {
        if status.is_terminal() {
            self.name("jobs", format_args!("{tenant}/{status}"))
        } else {
            self.name("jobs", format_args!("{tenant}/active"))
        }
    }

    /// The webhook outbox: events some target wants, for the notifier's consumer group.
    pub(super) fn outbox(&self) -> String {
        format!("{}:outbox", self.tag)
    }

    pub(super) fn subscriptions(&self, tenant: &TenantId) -> String {
        self.name("subs", tenant)
    }

    /// What precedes a tenant in the name of its subscriptions hash: the delivery claim
    /// finds a delivery's tenant inside Redis and builds the name from it.
    pub(super) fn subscriptions_prefix(&self) -> String {
        self.name("subs", "")
    }

    pub(super) fn subscription_versions(&self, tenant: &TenantId) -> String {
        self.name("subs-version", tenant)
    }

    pub(super) fn subscription_wanted(&self, tenant: &TenantId) -> String {
        self.name("subs-wanted", tenant)
    }

    /// The tenant's wants counters: wants field → enabled subscriptions wanting it.
    pub(super) fn wants(&self, tenant: &TenantId) -> String {
        self.name("wants", tenant)
    }

    pub(super) fn failing(&self) -> String {
        format!("{}:webhooks-failing", self.tag)
    }

    pub(super) fn delivery(&self, id: &DeliveryId) -> String {
        self.name("delivery", id)
    }

    /// [`Keys::delivery`] of an id as a listing index holds it.
    pub(super) fn listed_delivery(&self, id: &str) -> String {
        self.name("delivery", id)
    }

    /// What precedes a delivery id in its hash's name (the claim script builds names).
    pub(super) fn delivery_prefix(&self) -> String {
        self.name("delivery", "")
    }

    /// The subscription's deliveries, by id.
    pub(super) fn deliveries(&self, subscription: &SubscriptionId) -> String {
        self.name("deliveries", subscription)
    }

    pub(super) fn due(&self) -> String {
        format!("{}:due", self.tag)
    }

    /// An API key's record.
    pub(super) fn api_key(&self, id: &ApiKeyId) -> String {
        self.name("apikey", id)
    }

    /// The ids of every API key.
    pub(super) fn api_keys(&self) -> String {
        format!("{}:apikeys", self.tag)
    }

    /// An inbound source's record.
    pub(super) fn source(&self, id: &SourceId) -> String {
        self.name("source", id)
    }

    /// What precedes a source's id in its record's name.
    pub(super) fn source_prefix(&self) -> String {
        format!("{}:source:", self.tag)
    }

    /// The ids of a tenant's sources.
    pub(super) fn sources(&self, tenant: &TenantId) -> String {
        self.name("sources", tenant)
    }

    /// What precedes an ingest token in the name of the key holding its source's id.
    pub(super) fn source_token_prefix(&self) -> String {
        format!("{}:source-token:", self.tag)
    }

    /// A source's request log.
    pub(super) fn source_requests(&self, id: &SourceId) -> String {
        self.name("source-requests", id)
    }
}

/// The hash tag (without its braces) of partition `index` of a deployment spread over
/// `count` (more than one) partitions under `prefix`: `<prefix>/<index>.<k>`, with the
/// smallest `k` whose slot lies in the middle half of the `index`-th of `count` equal ranges
/// of Redis Cluster's 16,384 slots. Every key of the partition carries it, so `CLUSTER KEYSLOT` of `{<tag>}` is
/// the partition's slot.
///
/// # Errors
/// [`StoreError::Backend`] for a prefix that is empty or holds a brace or a `/`.
pub fn partition_tag(prefix: &str, index: usize, count: usize) -> Result<String, StoreError> {
    check_partitioned_prefix(prefix)?;
    // The middle half of the range: a cluster whose shards split the slots a slot or two
    // otherwise than this (`redis-cli` rounds its own way) still serves it from the shard
    // of that range.
    let (low, high) = (index * SLOTS / count, (index + 1) * SLOTS / count);
    let quarter = (high - low) / 4;
    let (low, high) = (low + quarter, high - quarter);
    (0..u32::MAX)
        .map(|k| format!("{prefix}/{index}.{k}"))
        .find(|tag| (low..high).contains(&slot_of(tag)))
        .ok_or_else(|| StoreError::Backend(format!("no hash tag of partition {index} of {count}")))
}

/// Refuses a prefix that a deployment spread over partitions cannot have: one [`Keys::new`]
/// refuses, or one holding a `/`.
pub(super) fn check_partitioned_prefix(prefix: &str) -> Result<(), StoreError> {
    Keys::new(prefix)?;
    if prefix.contains('/') {
        return Err(StoreError::Backend(format!(
            "the Redis key prefix `{prefix}` of a deployment spread over partitions must hold \
             no `/`: its partitions' names would overlap other prefixes'"
        )));
    }
    Ok(())
}

/// How many hash slots a Redis Cluster has.
const SLOTS: usize = 16_384;

/// The Redis Cluster slot of a hash tag (what CRC16 of the key's tag gives, as the cluster
/// computes it).
fn slot_of(tag: &str) -> usize {
    usize::from(crc16::State::<crc16::XMODEM>::calculate(tag.as_bytes())) % SLOTS
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

/// The member of the expiring set naming a finished job and the index it sits in. Spaces
/// separate the parts: none of them can contain one.
pub(super) fn expiring_member(tenant: &TenantId, status: JobStatus, id: &JobId) -> String {
    format!("{tenant} {status} {id}")
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
pub(super) fn parse_expiring_member(member: &str) -> Option<(TenantId, JobStatus, JobId)> {
    let mut parts = member.split(' ');
    let tenant = TenantId::parse(parts.next()?).ok()?;
    let status = parts.next()?.parse().ok()?;
    let id = JobId::parse(parts.next()?).ok()?;
    parts.next().is_none().then_some((tenant, status, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(prefix: &str) -> Keys {
        Keys::new(prefix).unwrap()
    }

    /// The slot Redis Cluster gives a key: its hash tag's, when it has one.
    fn tag_of(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn every_key_shares_the_prefix_hash_tag() {
        let keys = keys("herald");
        let tenant = TenantId::parse("acme:eu").unwrap();
        let job_type = JobType::parse("demo.report").unwrap();
        let id = JobId::generate();
        let all = [
            keys.job(&id),
            keys.feed(&tenant),
            keys.feed_last(&tenant),
            keys.queue(&job_type),
            keys.delayed(&job_type),
            keys.external_queue(&tenant, &job_type),
            keys.external_delayed(&tenant, &job_type),
            keys.external_active(),
            keys.expiring(),
            keys.idempotency(&tenant, &IdempotencyKey::try_from("k/1").unwrap()),
            keys.index(&tenant, JobStatus::Pending),
            keys.outbox(),
            keys.subscriptions(&tenant),
            keys.subscription_versions(&tenant),
            keys.subscription_wanted(&tenant),
            keys.wants(&tenant),
            keys.failing(),
            keys.delivery(&DeliveryId::generate()),
            keys.due(),
            keys.api_keys(),
        ];
        for key in &all {
            assert!(key.starts_with("{herald}:"), "{key}");
            assert_eq!(tag_of(key), "herald", "{key}");
        }
        let mut unique = all.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), all.len());
        assert_eq!(keys.job(&id), format!("{}{id}", keys.job_prefix()));
    }

    #[test]
    fn partitions_have_tags_of_their_own_spread_over_the_slots() {
        let count = 3;
        let tags: Vec<String> = (0..count)
            .map(|index| {
                let keys = Keys::partition("herald", index, count).unwrap();
                let tag = tag_of(&keys.outbox()).to_owned();
                assert!(tag.starts_with(&format!("herald/{index}.")), "{tag}");
                // The slot Redis computes (the well-known CRC16 of `123456789` is 0x31C3).
                let slot = slot_of(&tag);
                let (low, high) = (index * SLOTS / count, (index + 1) * SLOTS / count);
                let quarter = (high - low) / 4;
                assert!(
                    (low + quarter..high - quarter).contains(&slot),
                    "{tag} in slot {slot}"
                );
                tag
            })
            .collect();
        assert_eq!(slot_of("123456789"), 0x31C3);
        assert_eq!(tags, [tags[0].clone(), tags[1].clone(), tags[2].clone()]);
        assert_ne!(tags[0], tags[1]);
        // The same prefix and count give the same tags in every process.
        assert_eq!(
            Keys::partition("herald", 1, count).unwrap().outbox(),
            format!("{{{}}}:outbox", tags[1])
        );
        assert!(Keys::partition("a/b", 0, 2).is_err());
    }

    #[test]
    fn a_prefix_with_a_brace_or_none_is_refused() {
        assert!(Keys::new("").is_err());
        assert!(Keys::new("a{b").is_err());
        assert!(Keys::new("a}").is_err());
    }

    #[test]
    fn expiring_members_round_trip() {
        let tenant = TenantId::parse("acme:eu").unwrap();
        let id = JobId::generate();
        let member = expiring_member(&tenant, JobStatus::Failed, &id);
        assert_eq!(
            parse_expiring_member(&member),
            Some((tenant, JobStatus::Failed, id))
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
    fn names_found_inside_redis_are_built_from_their_prefixes() {
        let keys = keys("p");
        let tenant = TenantId::parse("acme").unwrap();
        let delivery = DeliveryId::generate();
        assert_eq!(
            keys.subscriptions(&tenant),
            format!("{}acme", keys.subscriptions_prefix())
        );
        assert_eq!(
            keys.delivery(&delivery),
            format!("{}{delivery}", keys.delivery_prefix())
        );
        assert_eq!(keys.wants(&tenant), "{p}:wants:acme");
    }

    #[test]
    fn names_with_two_parts_cannot_collide() {
        let keys = keys("p");
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        let video = JobType::parse("video.transcode").unwrap();
        assert_eq!(
            keys.external_queue(&acme, &video),
            "{p}:external-queue:acme/video.transcode"
        );
        assert_ne!(
            keys.external_queue(&acme, &video),
            keys.external_queue(&other, &video)
        );
        assert_ne!(keys.external_queue(&acme, &video), keys.queue(&video));
        // A tenant or type holding `:` cannot make two keys collide: `/` parts them.
        let a_b = TenantId::parse("a:b").unwrap();
        let a = TenantId::parse("a").unwrap();
        let c = JobType::parse("c").unwrap();
        let b_c = JobType::parse("b:c").unwrap();
        assert_ne!(keys.external_queue(&a_b, &c), keys.external_queue(&a, &b_c));
        assert_ne!(
            keys.feed_last(&a),
            keys.feed(&TenantId::parse("a:last").unwrap())
        );
        let member = active_member(&acme, &video);
        assert_eq!(parse_active_member(&member), Some((acme.clone(), video)));
        assert_eq!(parse_active_member("nospace"), None);
        assert_eq!(
            keys.index(&acme, JobStatus::Pending),
            "{p}:jobs:acme/active"
        );
        assert_eq!(
            keys.index(&acme, JobStatus::Processing),
            keys.index(&acme, JobStatus::Pending)
        );
        assert_eq!(keys.index(&acme, JobStatus::Failed), "{p}:jobs:acme/failed");
    }
}
