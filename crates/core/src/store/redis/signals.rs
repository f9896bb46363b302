//! The process's one pub/sub subscription, and the envelope the scripts publish on it: on
//! the signals channel cancel requests and revoked keys, which every process hears, and on the
//! events channel job events, which only a store opened with
//! [`RedisOptions::events`](super::RedisOptions) hears.
//!
//! Pub/sub only makes things fast: every event is also in the job's history and the tenant's
//! feed, so a lost message costs latency, never data. The subscription runs on its own RESP3
//! connection, which resubscribes by itself after a reconnect (a `ConnectionManager` on one
//! server; on a Redis Cluster a cluster connection with sharded pub/sub, `SSUBSCRIBE`, on the
//! node serving the channels' slot, see `Subscriber`), and feeds a bounded broadcast channel
//! that every listener in the process shares. After each reconnection (and after the
//! channels' slot moved) it emits [`Signal::Resync`], once the subscription is active again,
//! so that listeners re-read what they may have missed.

use std::sync::Arc;
use std::time::Duration;

use ::redis::{Msg, PushInfo, PushKind};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::connection::{Primary, Subscriber};
use super::{Bounded, RedisTimeouts, backend};
use crate::apikey::ApiKeyId;
use crate::event::Event;
use crate::feed::{FeedEntry, FeedPosition};
use crate::ids::{JobId, TenantId};
use crate::store::{Announced, Signal, Signals, StoreError};

/// What travels on the channels:
/// - on the events channel, `{"entries": [{"cursor": "<ms>-<n>", "event": <Event>}, …]}`:
///   events at their places in their tenants' feeds, in the order they were written. The
///   scripts publish them (`publish_events` in `scripts/lib.lua`), one message per call, since
///   only they know the cursors, once the events are appended; they splice it from the cursors
///   and the event JSON they stored, without encoding anything.
/// - on the signals channel, `{"cancel": "<job id>"}`: a cancel request for a processing job;
/// - and `{"revoked": "<key id>"}`: an API key was revoked (`revoke_key.lua`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Envelope {
    Entries(Vec<PublishedEntry>),
    Cancel(JobId),
    Revoked(ApiKeyId),
}

#[derive(Debug, Deserialize)]
struct PublishedEntry {
    cursor: String,
    event: Event,
}

/// The envelope of a cancel request.
pub(super) fn cancel_envelope(id: &JobId) -> Result<String, StoreError> {
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum CancelOnly<'a> {
        Cancel(&'a JobId),
    }
    serde_json::to_string(&CancelOnly::Cancel(id))
        .map_err(|e| StoreError::Backend(format!("failed to encode a cancel request: {e}")))
}

/// The envelope of a revoked key.
pub(super) fn revoked_envelope(id: &ApiKeyId) -> Result<String, StoreError> {
    #[derive(Serialize)]
    #[serde(rename_all = "snake_case")]
    enum RevokedOnly<'a> {
        Revoked(&'a ApiKeyId),
    }
    serde_json::to_string(&RevokedOnly::Revoked(id))
        .map_err(|e| StoreError::Backend(format!("failed to encode a key revocation: {e}")))
}

/// What an event's JSON is read for at once: the job it concerns. The rest is decoded only if
/// someone in the process follows that job or its tenant ([`Announced::entry`]).
#[derive(Debug, Deserialize)]
struct EventHead {
    job: JobHead,
}

#[derive(Debug, Deserialize)]
struct JobHead {
    id: JobId,
    tenant: TenantId,
}

/// The events of a message exactly as `publish_events` splices it, each read only as far as
/// its job and tenant; `None` when the message is shaped otherwise.
fn announced(payload: &[u8], partition: usize) -> Option<Vec<Signal>> {
    let mut rest = payload.strip_prefix(br#"{"entries":["#)?;
    let mut signals = Vec::new();
    loop {
        rest = rest.strip_prefix(br#"{"cursor":""#)?;
        let end = rest.iter().position(|&b| b == b'"')?;
        let position = std::str::from_utf8(&rest[..end])
            .ok()?
            .parse::<FeedPosition>()
            .ok()?;
        rest = rest[end..].strip_prefix(br#"","event":"#)?;
        let mut events = serde_json::Deserializer::from_slice(rest).into_iter::<EventHead>();
        let head = events.next()?.ok()?;
        let (event, after) = rest.split_at(events.byte_offset());
        signals.push(Signal::Event(Arc::new(Announced::published(
            (partition, position),
            head.job.id,
            head.job.tenant,
            event,
        ))));
        rest = after.strip_prefix(b"}")?;
        if rest == b"]}" {
            return Some(signals);
        }
        rest = rest.strip_prefix(b",")?;
    }
}

/// The signals a message on the channels of `partition` carries, in order; none when it is
/// unreadable.
fn decode(payload: &[u8], partition: usize) -> Vec<Signal> {
    if let Some(signals) = announced(payload, partition) {
        return signals;
    }
    // Another version of Herald, or a stranger publishing on our channel: not fatal.
    let unreadable = |error: &dyn std::fmt::Display| {
        tracing::warn!(%error, "ignoring an unreadable message on the signals channel");
        Vec::new()
    };
    match serde_json::from_slice::<Envelope>(payload) {
        Ok(Envelope::Entries(entries)) => {
            let mut signals = Vec::with_capacity(entries.len());
            for entry in entries {
                match entry.cursor.parse::<FeedPosition>() {
                    Ok(position) => signals.push(Signal::Event(Arc::new(
                        Arc::new(FeedEntry {
                            partition,
                            position,
                            event: entry.event,
                        })
                        .into(),
                    ))),
                    Err(e) => return unreadable(&e),
                }
            }
            signals
        }
        Ok(Envelope::Cancel(id)) => vec![Signal::CancelRequested(id)],
        Ok(Envelope::Revoked(id)) => vec![Signal::KeyRevoked(id)],
        Err(e) => unreadable(&e),
    }
}

/// The running subscription; dropping it (with its store) ends it.
pub(super) struct Subscription {
    task: JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The first wait before checking on a dropped subscription, and the longest.
/// How a message carrying events starts (see [`Envelope`]).
const EVENTS: &[u8] = br#"{"entries":"#;

const RESTORE_MIN_DELAY: Duration = Duration::from_millis(100);
const RESTORE_MAX_DELAY: Duration = Duration::from_secs(1);

/// Subscribes to `channels` (those of `partition`) on the primary and forwards what arrives
/// to `signals` until dropped.
///
/// # Errors
/// When the first subscription cannot be made: a store that cannot hear cancel requests or
/// wake its listeners should not start.
pub(super) async fn subscribe(
    primary: Arc<Primary>,
    channels: Vec<String>,
    partition: usize,
    signals: Signals,
    timeouts: RedisTimeouts,
) -> Result<Subscription, StoreError> {
    let (pushes_tx, pushes) = mpsc::unbounded_channel();
    let connection = Connection {
        primary,
        pushes_tx,
        timeouts,
    };
    let (mut conn, generation) = connection.open().await?;
    conn.subscribe(&channels)
        .await
        .map_err(backend("subscribe to the signals channels"))?;
    let task = tokio::spawn(listen(
        connection,
        conn,
        generation,
        (channels, partition),
        pushes,
        signals,
    ));
    Ok(Subscription { task })
}

/// How the subscription's connection is made, again after a failover.
struct Connection {
    primary: Arc<Primary>,
    /// Where the connection's messages go, whichever connection it is.
    pushes_tx: mpsc::UnboundedSender<PushInfo>,
    timeouts: RedisTimeouts,
}

impl Connection {
    /// A connection to the current primary that carries a subscription, and which primary.
    async fn open(&self) -> Result<(Subscriber, u64), StoreError> {
        self.primary.subscriber(self.pushes_tx.clone()).await
    }

    /// Makes sure the subscription is active again: on the same connection while the
    /// primary is the same, on a new one to the new primary after a failover.
    async fn restore(
        &self,
        conn: &mut Subscriber,
        generation: &mut u64,
        channels: &[String],
    ) -> Result<(), StoreError> {
        if !self.primary.is_current(*generation) {
            (*conn, *generation) = self.open().await?;
        }
        let restored = Bounded::bound(self.timeouts.command, restore(conn, channels)).await;
        restored.map_err(|e| {
            self.primary.failed(&e);
            backend("subscribe to the signals channels again")(e)
        })
    }
}

/// Forwards messages; after a disconnection, makes sure the subscription comes back.
async fn listen(
    connection: Connection,
    mut conn: Subscriber,
    mut generation: u64,
    (channels, partition): (Vec<String>, usize),
    mut pushes: mpsc::UnboundedReceiver<PushInfo>,
    signals: Signals,
) {
    let mut connected = true;
    let mut delay = RESTORE_MIN_DELAY;
    loop {
        let push = if connected {
            pushes.recv().await
        } else {
            tokio::select! {
                push = pushes.recv() => push,
                () = tokio::time::sleep(delay) => {
                    // The manager reconnects (and resubscribes) by itself after a drop, but
                    // gives up after a few attempts and only tries again when used: this
                    // keeps using it, with backoff, until the subscription is confirmed.
                    match connection.restore(&mut conn, &mut generation, &channels).await {
                        Ok(()) => {
                            tracing::info!("the signals subscription is back; listeners resync");
                            connected = true;
                            delay = RESTORE_MIN_DELAY;
                            signals.send(Signal::Resync);
                        }
                        Err(e) => {
                            // Said once when it dropped; every attempt is only a debug line.
                            tracing::debug!(error = %e, "the signals subscription is still down");
                            delay = (delay * 2).min(RESTORE_MAX_DELAY);
                        }
                    }
                    continue;
                }
            }
        };
        // The channel stays open while this task runs (its `connection` holds a sender).
        let Some(push) = push else { return };
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                let Some(msg) = Msg::from_push_info(push) else {
                    continue;
                };
                let payload = msg.get_payload_bytes();
                // Events are most of the traffic: a process where nobody receives them (a
                // worker's) does not decode them.
                if payload.starts_with(EVENTS) && !signals.wants_events() {
                    continue;
                }
                for signal in decode(payload, partition) {
                    signals.send(signal);
                }
            }
            PushKind::Disconnection => {
                if connected {
                    tracing::warn!("the signals subscription dropped; restoring it");
                    connection.primary.suspect();
                }
                connected = false;
                delay = RESTORE_MIN_DELAY;
            }
            // On a cluster, the node a slot migrates away from unsubscribes the sharded
            // channels of that slot: the subscription is made again where the slot went.
            PushKind::SUnsubscribe => {
                if connected {
                    tracing::warn!("the signals channels moved to another node; following them");
                }
                connected = false;
                delay = RESTORE_MIN_DELAY;
            }
            _ => {}
        }
    }
}

/// Waits for a working connection and (re)subscribes; subscribing again to a channel is
/// harmless, and its confirmation is the proof that messages flow again.
async fn restore(conn: &mut Subscriber, channels: &[String]) -> Result<(), ::redis::RedisError> {
    conn.ping().await?;
    conn.subscribe(channels).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Job;

    /// What `publish_events` in `scripts/lib.lua` publishes (the conformance test
    /// `signals_carry_the_cursor_of_their_feed_entry` checks the script itself).
    fn published(entries: &[(&str, &str)]) -> String {
        let entries: Vec<String> = entries
            .iter()
            .map(|(cursor, event)| format!(r#"{{"cursor":"{cursor}","event":{event}}}"#))
            .collect();
        format!(r#"{{"entries":[{}]}}"#, entries.join(","))
    }

    #[test]
    fn an_event_is_read_only_as_far_as_its_job_until_it_is_asked_for() {
        let new = crate::testing::new_job("demo.sleep");
        let (job, event) = Job::create(JobId::generate(), &new, chrono::Utc::now());
        let json = serde_json::to_string(&event).unwrap();
        let spliced = published(&[("5-1", &json)]);
        // Shaped otherwise than the scripts splice it, a message is decoded at once.
        let spaced = format!(r#"{{ "entries": [{{"cursor": "5-1", "event": {json}}}] }}"#);
        for (message, lazy) in [(spliced, true), (spaced, false)] {
            let signals = decode(message.as_bytes(), 2);
            let [Signal::Event(announced)] = &signals[..] else {
                panic!("expected one event, got {signals:?}");
            };
            assert_eq!(announced.job_id(), &job.id);
            assert_eq!(announced.tenant(), &job.tenant);
            assert_eq!(announced.entry.get().is_none(), lazy, "{message}");
            let entry = announced.entry().expect("decodes");
            assert_eq!(entry.event, event);
            assert_eq!(
                (entry.partition, entry.position),
                (2, FeedPosition { ms: 5, n: 1 })
            );
        }
    }

    #[test]
    fn envelopes_round_trip() {
        let new = crate::testing::new_job("demo.sleep");
        let (_, event) = Job::create(JobId::generate(), &new, chrono::Utc::now());
        let json = serde_json::to_string(&event).unwrap();
        let signals = decode(
            published(&[("1700000000000-3", &json), ("1700000000000-4", &json)]).as_bytes(),
            0,
        );
        let positions: Vec<FeedPosition> = signals
            .iter()
            .map(|signal| match signal {
                Signal::Event(announced) => {
                    let decoded = announced.entry().expect("the event decodes");
                    assert_eq!(decoded.event, event);
                    decoded.position
                }
                other => panic!("expected an event, got {other:?}"),
            })
            .collect();
        assert_eq!(
            positions,
            [
                FeedPosition {
                    ms: 1_700_000_000_000,
                    n: 3
                },
                FeedPosition {
                    ms: 1_700_000_000_000,
                    n: 4
                }
            ]
        );
        // An event without its cursor is not a feed entry, and one bad entry spoils the
        // message (it was not written by Herald).
        assert!(
            decode(
                format!(r#"{{"entries":[{{"event":{json}}}]}}"#).as_bytes(),
                0
            )
            .is_empty()
        );
        assert!(decode(published(&[("1-0", &json), ("soon", &json)]).as_bytes(), 0).is_empty());
        let id = JobId::generate();
        match &decode(cancel_envelope(&id).unwrap().as_bytes(), 0)[..] {
            [Signal::CancelRequested(decoded)] => assert_eq!(*decoded, id),
            other => panic!("expected a cancel request, got {other:?}"),
        }
        let key = ApiKeyId::generate();
        match &decode(revoked_envelope(&key).unwrap().as_bytes(), 0)[..] {
            [Signal::KeyRevoked(decoded)] => assert_eq!(*decoded, key),
            other => panic!("expected a revoked key, got {other:?}"),
        }
        assert!(decode(br#"{"revoked":"not-a-key-id"}"#, 0).is_empty());
        assert!(decode(b"{\"other\":1}", 0).is_empty());
    }
}
