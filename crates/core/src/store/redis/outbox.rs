//! The notifier's side of the webhook outbox: its consumer group, reading new entries and
//! reclaiming entries a notifier read but never expanded.
//!
//! The job scripts append an entry (`tenant`, `event`, and `hook` when the job has its own
//! webhook: its URL and events, never its secret) whenever some target wants the event. Notifiers read the stream as the consumer
//! group `notifier`; an entry stays in the group's pending list until `expand` acknowledges
//! and deletes it in the same script that stores its deliveries. Entries idle in the pending
//! list for longer than the lease timeout belong to a notifier that died: every process
//! takes them over with `XAUTOCLAIM`, at most every few seconds.
//!
//! A Redis restarted without persistence loses the group: reads then answer `NOGROUP`, and
//! the group is recreated after a pause that grows while it keeps going missing (never a
//! spin). It is created from id 0, so entries written before any notifier ran are read too.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ::redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use ::redis::{RedisError, Value};

use super::maintenance::CONSUMER_MAX_IDLE;
use super::queue::{BLOCK_MARGIN, MAX_BLOCK, group_backoff, lost_group};
use super::{Partition, backend, millis};
use crate::event::Event;
use crate::ids::TenantId;
use crate::store::StoreError;
use crate::store::webhooks::OutboxEntry;
use crate::webhook::JobHookEndpoint;

/// The outbox's consumer group.
pub(super) const NOTIFIER_GROUP: &str = "notifier";
/// The longest pause between two reclaims of idle entries by one process.
const RECLAIM_EVERY: Duration = Duration::from_secs(5);

/// An outbox entry as the notifier reads it, or why it cannot be read.
fn parse_entry(raw: &StreamId) -> Result<OutboxEntry, String> {
    let field = |name: &str| match raw.map.get(name) {
        None => Ok(None),
        Some(Value::BulkString(bytes)) => Ok(Some(bytes.as_slice())),
        Some(other) => Err(format!("its `{name}` is not a string: {other:?}")),
    };
    let tenant = field("tenant")?.ok_or("it names no tenant")?;
    let tenant = std::str::from_utf8(tenant)
        .ok()
        .and_then(|t| TenantId::parse(t).ok())
        .ok_or("its tenant is not a tenant id")?;
    let event = field("event")?.ok_or("it holds no event")?;
    let event: Event =
        serde_json::from_slice(event).map_err(|e| format!("its event is unreadable: {e}"))?;
    let hook = field("hook")?
        .map(serde_json::from_slice::<JobHookEndpoint>)
        .transpose()
        .map_err(|e| format!("its webhook is unreadable: {e}"))?;
    Ok(OutboxEntry {
        id: raw.id.clone(),
        tenant,
        event,
        hook,
    })
}

impl Partition {
    /// Makes sure the outbox has its consumer group (once per process, and again after a
    /// read found it missing).
    async fn ensure_outbox_group(&self) -> Result<(), StoreError> {
        if self.outbox_group.load(Ordering::Acquire) {
            return Ok(());
        }
        self.create_group(
            &self.keys.outbox(),
            NOTIFIER_GROUP,
            "create the outbox's consumer group",
        )
        .await?;
        self.outbox_group.store(true, Ordering::Release);
        Ok(())
    }

    /// Recreates the outbox's group after a read found it missing, pausing first.
    async fn recreate_outbox_group(&self) -> Result<(), StoreError> {
        let pause = group_backoff(self.missing_outbox_group.fetch_add(1, Ordering::Relaxed));
        tracing::warn!(
            ?pause,
            "the webhook outbox's consumer group is missing (Redis lost its data, or the stream is moving to another Cluster node); recreating it"
        );
        self.outbox_group.store(false, Ordering::Release);
        tokio::time::sleep(pause).await;
        self.ensure_outbox_group().await
    }

    /// Up to `max` entries for `consumer`: entries a dead notifier held (when this process has
    /// not looked for them lately), then new ones, waiting up to `wait` when there are none.
    pub(super) async fn read_outbox_entries(
        &self,
        consumer: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if max == 0 {
            tokio::time::sleep(wait).await;
            return Ok(Vec::new());
        }
        self.ensure_outbox_group().await?;
        let mut raw = self.reclaim_outbox(consumer, max).await?;
        if raw.len() < max {
            let count = max - raw.len();
            raw.extend(
                self.read_new(&mut self.conn(), consumer, count, None)
                    .await?,
            );
        }
        if raw.is_empty() && !wait.is_zero() {
            let (generation, mut conn) = self.blocking_connection().await?;
            conn.set_response_timeout(wait.min(MAX_BLOCK) + BLOCK_MARGIN);
            let read = self.read_new(&mut conn, consumer, max, Some(wait)).await;
            self.after_blocking(generation, conn, &read);
            raw = read?;
        }
        let mut entries = Vec::with_capacity(raw.len());
        for raw in &raw {
            match parse_entry(raw) {
                Ok(entry) => entries.push(entry),
                Err(reason) => {
                    // Another version of Herald, or a stranger writing to our stream: left in
                    // the pending list it would come back forever and hold up nothing, but
                    // fill the list; dropped, it cannot wedge anything.
                    tracing::warn!(entry = %raw.id, %reason, "dropping an unreadable outbox entry");
                    self.drop_outbox_entry(&raw.id).await?;
                }
            }
        }
        Ok(entries)
    }

    /// `XREADGROUP` of new entries, blocking up to `block` if given. A lost group is
    /// recreated once, after a pause, and the read tried again within what is left of `block`.
    async fn read_new(
        &self,
        conn: &mut impl ::redis::aio::ConnectionLike,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<StreamId>, StoreError> {
        let started = tokio::time::Instant::now();
        let outbox = self.keys.outbox();
        let read = |block: Option<Duration>| {
            let mut cmd = ::redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(NOTIFIER_GROUP)
                .arg(consumer)
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                // BLOCK 0 would mean forever.
                let block = block.clamp(Duration::from_millis(1), MAX_BLOCK);
                cmd.arg("BLOCK").arg(millis(block));
            }
            cmd.arg("STREAMS").arg(&outbox).arg(">");
            cmd
        };
        let mut reply: Result<Option<StreamReadReply>, RedisError> =
            read(block).query_async(conn).await;
        if let Err(e) = &reply
            && lost_group(e)
        {
            self.recreate_outbox_group().await?;
            let left = block.map(|block| block.saturating_sub(started.elapsed()));
            reply = read(left).query_async(conn).await;
        }
        let reply = reply.map_err(backend("read the webhook outbox"))?;
        self.missing_outbox_group.store(0, Ordering::Relaxed);
        Ok(reply
            .map(|r| r.keys)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|key| key.ids)
            .collect())
    }

    /// Takes over up to `max` entries idle in the pending list for longer than the lease
    /// timeout, unless this process did so less than a few seconds ago. Also deletes the
    /// group's consumers that have held nothing for long (every notifier process names one).
    async fn reclaim_outbox(
        &self,
        consumer: &str,
        max: usize,
    ) -> Result<Vec<StreamId>, StoreError> {
        let idle = self.config.lease_timeout;
        let every = (idle / 2).min(RECLAIM_EVERY);
        {
            let now = tokio::time::Instant::now();
            let mut last = self
                .outbox_reclaimed_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| now.duration_since(at) < every) {
                return Ok(Vec::new());
            }
            *last = Some(now);
        }
        let outbox = self.keys.outbox();
        let reply: Result<StreamAutoClaimReply, RedisError> = ::redis::cmd("XAUTOCLAIM")
            .arg(&outbox)
            .arg(NOTIFIER_GROUP)
            .arg(consumer)
            .arg(millis(idle))
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut self.conn())
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) if lost_group(&e) => {
                // A recreated group has no pending list: nothing to reclaim.
                self.recreate_outbox_group().await?;
                return Ok(Vec::new());
            }
            Err(e) => return Err(backend("reclaim idle outbox entries")(e)),
        };
        if !reply.claimed.is_empty() {
            tracing::warn!(
                entries = reply.claimed.len(),
                "took over webhook outbox entries a notifier left unexpanded"
            );
        }
        let _: i64 = self
            .scripts
            .prune_consumers
            .key(&outbox)
            .arg(NOTIFIER_GROUP)
            .arg(millis(CONSUMER_MAX_IDLE.max(idle.saturating_mul(10))))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend("prune idle notifier consumers"))?;
        Ok(reply.claimed)
    }

    /// Acknowledges and deletes an outbox entry nobody can use.
    async fn drop_outbox_entry(&self, id: &str) -> Result<(), StoreError> {
        let outbox = self.keys.outbox();
        ::redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(&outbox)
            .arg(NOTIFIER_GROUP)
            .arg(id)
            .ignore()
            .cmd("XDEL")
            .arg(&outbox)
            .arg(id)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(backend("drop an unreadable outbox entry"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn raw(fields: &[(&str, &str)]) -> StreamId {
        StreamId {
            id: "1-0".to_owned(),
            map: fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::BulkString(v.as_bytes().to_vec())))
                .collect::<HashMap<_, _>>(),
            ..Default::default()
        }
    }

    #[test]
    fn an_outbox_entry_needs_a_tenant_and_a_readable_event() {
        let new = crate::testing::new_job("demo.sleep");
        let (_, event) =
            crate::job::Job::create(crate::ids::JobId::generate(), &new, chrono::Utc::now());
        let event = serde_json::to_string(&event).unwrap();
        let hook =
            crate::webhook::JobHook::parse(serde_json::json!({"url": "https://client.example/h"}))
                .unwrap()
                .endpoint();
        let hook_json = serde_json::to_string(&hook).unwrap();

        let entry = parse_entry(&raw(&[("tenant", "default"), ("event", &event)])).unwrap();
        assert_eq!(entry.tenant, TenantId::default_tenant());
        assert!(entry.hook.is_none());
        let entry = parse_entry(&raw(&[
            ("tenant", "default"),
            ("event", &event),
            ("hook", &hook_json),
        ]))
        .unwrap();
        assert_eq!(entry.hook, Some(hook));

        assert!(parse_entry(&raw(&[("event", &event)])).is_err());
        assert!(parse_entry(&raw(&[("tenant", "default"), ("event", "{")])).is_err());
        assert!(parse_entry(&raw(&[("tenant", "no spaces"), ("event", &event)])).is_err());
        assert!(
            parse_entry(&raw(&[
                ("tenant", "default"),
                ("event", &event),
                ("hook", "{}")
            ]))
            .is_err()
        );
    }
}
