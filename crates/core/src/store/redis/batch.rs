//! Group commit: concurrent writes of one kind share one script call.
//!
//! A [`Batcher`] stands for one script whose KEYS and ARGV are a fixed head followed by the
//! same number of keys and arguments per item (`create.lua`, `transition.lua`,
//! `record_delivery.lua`, `record_requests.lua`). Callers hand
//! it an item and wait for the item's own reply; a task gathers what is waiting into one call
//! of at most [`MAX_BATCH`] items, with at most [`IN_FLIGHT`] calls outstanding. Nothing waits
//! for company: a lone write goes out at once, and writes that arrive while calls are out
//! ride together in the next one. The script answers one reply per item, in order, so every
//! caller learns exactly what became of its own write; a call that fails fails each of its
//! items with the same error, and none of them was acknowledged.
//!
//! What batching saves: per call, Redis pays the script's fixed cost once (reading a feed's
//! newest id, trimming and expiring the feed, the tenant's wants counters, one `PUBLISH`), and
//! the client one round trip.

use std::sync::Arc;

use ::redis::{RedisError, Script, Value};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::backend;
use super::connection::Bounded;
use super::scripts::Scripts;
use crate::store::StoreError;

/// The most items one call carries: a call runs in Redis's one thread, and other clients wait
/// for it.
const MAX_BATCH: usize = 32;
/// How many calls of one batcher may be outstanding at once.
const IN_FLIGHT: usize = 2;
/// How many items may wait for a call before callers wait to hand theirs over.
const QUEUE: usize = 4096;

/// One item of a call: its keys and arguments, in the script's order.
#[derive(Debug, Default)]
pub(super) struct Item {
    keys: Vec<String>,
    args: Vec<Vec<u8>>,
}

impl Item {
    pub(super) fn key(&mut self, key: impl Into<String>) -> &mut Self {
        self.keys.push(key.into());
        self
    }

    pub(super) fn arg(&mut self, arg: impl ::redis::ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }
}

struct Pending {
    item: Item,
    reply: oneshot::Sender<Result<Value, StoreError>>,
}

/// The calls of one script, batched (see the module).
pub(super) struct Batcher {
    queue: mpsc::Sender<Pending>,
    context: &'static str,
}

impl Batcher {
    /// Starts the task that calls `script` with `head` before the items; it ends when the
    /// batcher is dropped.
    pub(super) fn start(
        script: &'static Script,
        head: Item,
        conn: Bounded,
        context: &'static str,
    ) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(script, Arc::new(head), conn, context, waiting));
        Self { queue, context }
    }

    /// Writes `item` with whatever else is waiting, and answers its own reply.
    pub(super) async fn call(&self, item: Item) -> Result<Value, StoreError> {
        let (reply, answer) = oneshot::channel();
        let gone =
            || StoreError::Backend(format!("failed to {}: the store is closing", self.context));
        self.queue
            .send(Pending { item, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn run(
    script: &'static Script,
    head: Arc<Item>,
    conn: Bounded,
    context: &'static str,
    mut waiting: mpsc::Receiver<Pending>,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // A slot first, so what arrives while every call is out gathers into the next one.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        if waiting.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let items = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let (head, mut conn) = (head.clone(), conn.clone());
        tokio::spawn(async move {
            let replies = invoke(script, &head, &items, &mut conn).await;
            answer(items, replies, context);
            drop(slot);
        });
    }
}

async fn invoke(
    script: &Script,
    head: &Item,
    items: &[Pending],
    conn: &mut Bounded,
) -> Result<Vec<Value>, RedisError> {
    let mut call = script.prepare_invoke();
    for item in std::iter::once(head).chain(items.iter().map(|p| &p.item)) {
        for key in &item.keys {
            call.key(key);
        }
        for arg in &item.args {
            call.arg(&arg[..]);
        }
    }
    call.invoke_async(conn).await
}

fn answer(items: Vec<Pending>, replies: Result<Vec<Value>, RedisError>, context: &'static str) {
    match replies {
        Ok(replies) if replies.len() == items.len() => {
            for (pending, reply) in items.into_iter().zip(replies) {
                // A caller that stopped waiting does not need its answer.
                let _ = pending.reply.send(Ok(reply));
            }
        }
        Ok(replies) => {
            let message = format!(
                "failed to {context}: {} replies to {} writes",
                replies.len(),
                items.len()
            );
            for pending in items {
                let _ = pending
                    .reply
                    .send(Err(StoreError::Backend(message.clone())));
            }
        }
        Err(e) => {
            for pending in items {
                let _ = pending.reply.send(Err(backend(context)(e.clone())));
            }
        }
    }
}

/// The batchers of a store: one per batched script.
pub(super) struct Batchers {
    pub(super) create: Batcher,
    pub(super) transition: Batcher,
    pub(super) record: Batcher,
    pub(super) requests: Batcher,
}

/// The fixed heads of the batched scripts' calls.
pub(super) struct Heads {
    pub(super) create: Item,
    pub(super) transition: Item,
    pub(super) record: Item,
    pub(super) requests: Item,
}

impl Batchers {
    pub(super) fn start(scripts: &'static Scripts, conn: &Bounded, heads: Heads) -> Self {
        Self {
            create: Batcher::start(&scripts.create, heads.create, conn.clone(), "create a job"),
            transition: Batcher::start(
                &scripts.transition,
                heads.transition,
                conn.clone(),
                "write a job transition",
            ),
            record: Batcher::start(
                &scripts.record_delivery,
                heads.record,
                conn.clone(),
                "record a webhook delivery",
            ),
            requests: Batcher::start(
                &scripts.record_requests,
                heads.requests,
                conn.clone(),
                "record an inbound request",
            ),
        }
    }
}
