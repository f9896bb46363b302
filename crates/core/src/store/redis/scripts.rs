//! The Lua scripts behind every atomic write, loaded once per process and invoked by hash
//! (`EVALSHA`; `redis::Script` loads a script again when the server answers `NOSCRIPT`, as
//! it does after a restart).
//!
//! Each script is its own file under `scripts/`, with its KEYS and ARGV documented at the
//! top; `lib.lua` holds helpers prepended to the scripts that use them.

use std::sync::LazyLock;

use ::redis::Script;

macro_rules! script {
    ($name:ident, $file:literal) => {
        pub(super) static $name: LazyLock<Script> = LazyLock::new(|| {
            Script::new(concat!(
                include_str!("scripts/lib.lua"),
                include_str!($file)
            ))
        });
    };
}

script!(CREATE, "scripts/create.lua");
script!(TRANSITION, "scripts/transition.lua");
script!(HEARTBEAT, "scripts/heartbeat.lua");
script!(CANCEL_REQUEST, "scripts/cancel_request.lua");
script!(REQUEUE, "scripts/requeue.lua");
script!(PROMOTE, "scripts/promote.lua");
script!(SWEEP, "scripts/sweep.lua");
script!(PRUNE_CONSUMERS, "scripts/prune_consumers.lua");
script!(FORGET_IDLE_QUEUE, "scripts/forget_idle_queue.lua");
script!(PUT_SUBSCRIPTION, "scripts/put_subscription.lua");
script!(DELETE_SUBSCRIPTION, "scripts/delete_subscription.lua");
script!(STORE_DELIVERIES, "scripts/store_deliveries.lua");
script!(CLAIM_DUE, "scripts/claim_due.lua");
script!(RECORD_DELIVERY, "scripts/record_delivery.lua");
script!(REVOKE_KEY, "scripts/revoke_key.lua");
