//! The Lua scripts behind every atomic write, loaded once per process and invoked by hash
//! (`EVALSHA`; `redis::Script` loads a script again when the server answers `NOSCRIPT`, as
//! it does after a restart).
//!
//! Each script is its own file under `scripts/`, with its KEYS and ARGV documented at the
//! top; `lib.lua` holds helpers prepended to every script. The scripts come in two sets: as
//! written, for one server, and for a Redis Cluster, where the one place that publishes
//! (`publish` in `lib.lua`) says `SPUBLISH`: sharded pub/sub, so that a message goes to the
//! shard serving its channel's slot instead of to every node of the cluster.

use std::sync::LazyLock;

use ::redis::Script;

/// Every script, in the variant for one kind of Redis.
pub(super) struct Scripts {
    pub(super) create: Script,
    pub(super) transition: Script,
    pub(super) heartbeat: Script,
    pub(super) cancel_request: Script,
    pub(super) requeue: Script,
    pub(super) promote: Script,
    pub(super) sweep: Script,
    pub(super) prune_consumers: Script,
    pub(super) forget_idle_queue: Script,
    pub(super) put_subscription: Script,
    pub(super) delete_subscription: Script,
    pub(super) mirror_subscription: Script,
    pub(super) forget_mirrored: Script,
    pub(super) store_deliveries: Script,
    pub(super) claim_due: Script,
    pub(super) record_delivery: Script,
    pub(super) revoke_key: Script,
    pub(super) put_source: Script,
    pub(super) source_by_token: Script,
    pub(super) delete_source: Script,
    pub(super) record_requests: Script,
}

/// The helpers' publishing line, and what it says on a cluster.
const PUBLISH: &str = "redis.call('PUBLISH', channel, message)";
const SPUBLISH: &str = "redis.call('SPUBLISH', channel, message)";

macro_rules! source {
    ($file:literal) => {
        concat!(include_str!("scripts/lib.lua"), include_str!($file))
    };
}

impl Scripts {
    /// The scripts with `edit` applied to each one's source.
    fn build(edit: impl Fn(&'static str) -> String) -> Self {
        let script = |source: &'static str| Script::new(&edit(source));
        Self {
            create: script(source!("scripts/create.lua")),
            transition: script(source!("scripts/transition.lua")),
            heartbeat: script(source!("scripts/heartbeat.lua")),
            cancel_request: script(source!("scripts/cancel_request.lua")),
            requeue: script(source!("scripts/requeue.lua")),
            promote: script(source!("scripts/promote.lua")),
            sweep: script(source!("scripts/sweep.lua")),
            prune_consumers: script(source!("scripts/prune_consumers.lua")),
            forget_idle_queue: script(source!("scripts/forget_idle_queue.lua")),
            put_subscription: script(source!("scripts/put_subscription.lua")),
            delete_subscription: script(source!("scripts/delete_subscription.lua")),
            mirror_subscription: script(source!("scripts/mirror_subscription.lua")),
            forget_mirrored: script(source!("scripts/forget_mirrored.lua")),
            store_deliveries: script(source!("scripts/store_deliveries.lua")),
            claim_due: script(source!("scripts/claim_due.lua")),
            record_delivery: script(source!("scripts/record_delivery.lua")),
            revoke_key: script(source!("scripts/revoke_key.lua")),
            put_source: script(source!("scripts/put_source.lua")),
            source_by_token: script(source!("scripts/source_by_token.lua")),
            delete_source: script(source!("scripts/delete_source.lua")),
            record_requests: script(source!("scripts/record_requests.lua")),
        }
    }

    /// The scripts for one server (`sharded` false) or for a Redis Cluster.
    pub(super) fn of(sharded: bool) -> &'static Self {
        static SERVER: LazyLock<Scripts> = LazyLock::new(|| Scripts::build(str::to_owned));
        static CLUSTER: LazyLock<Scripts> =
            LazyLock::new(|| Scripts::build(|source| source.replacen(PUBLISH, SPUBLISH, 1)));
        if sharded { &CLUSTER } else { &SERVER }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_publish_in_one_place_which_says_spublish_on_a_cluster() {
        let lib = include_str!("scripts/lib.lua");
        assert_eq!(lib.matches(PUBLISH).count(), 1);
        for file in [
            include_str!("scripts/create.lua"),
            include_str!("scripts/transition.lua"),
            include_str!("scripts/cancel_request.lua"),
            include_str!("scripts/revoke_key.lua"),
        ] {
            assert!(
                !file.contains("'PUBLISH'"),
                "publishes other than by `publish`"
            );
        }
        let (server, cluster) = (Scripts::of(false), Scripts::of(true));
        assert_ne!(server.create.get_hash(), cluster.create.get_hash());
        assert_eq!(
            server.create.get_hash(),
            Script::new(source!("scripts/create.lua")).get_hash()
        );
    }
}
