//! Recovery: after the driver has re-declared the durable definitions, it
//! hands back each durable queue's surviving messages, in their original
//! order. A message kept for several queues comes back once per queue and
//! is stored once again.

use bytes::Bytes;

use super::Broker;
use crate::amqp::{PropertiesScan, ShortStr};
use crate::ids::QueueId;
use crate::message::{Message, MessageRef};

/// A message read back from the store.
#[derive(Debug, Clone)]
pub struct RestoredMessage {
    /// The key it was appended under.
    pub key: u64,
    pub exchange: ShortStr,
    pub routing_key: ShortStr,
    pub properties: Bytes,
    /// The body, or `None` to leave the message on disk: the queue then
    /// keeps only its key and reads it back whole through the
    /// `BodyLoader` when it is delivered.
    pub body: Option<Bytes>,
    pub body_len: usize,
    /// It had been delivered before the restart.
    pub redelivered: bool,
}

impl Broker {
    /// Appends a recovered message to a durable queue. Call before serving
    /// clients, per queue in the original order, then [`Broker::finish_restore`].
    pub fn restore_message(&mut self, vhost: &str, queue: &str, m: RestoredMessage) -> Result<(), String> {
        let qid = self.restore_target(vhost, queue).ok_or_else(|| format!("no queue '{queue}' in vhost '{vhost}'"))?;
        self.restore_message_into(qid, m)
    }

    /// The queue recovered messages for `vhost`/`queue` go to, looked up
    /// once for [`restore_message_into`](Self::restore_message_into).
    pub fn restore_target(&self, vhost: &str, queue: &str) -> Option<QueueId> {
        self.state.topology.queue_id(vhost, queue)
    }

    /// As [`restore_message`](Self::restore_message), into a queue found
    /// with [`restore_target`](Self::restore_target).
    pub fn restore_message_into(&mut self, qid: QueueId, m: RestoredMessage) -> Result<(), String> {
        let now = self.state.clock.now;
        let (topology, persist) = (&mut self.state.topology, &mut self.state.persist);
        let Some(q) = topology.queues.get_mut(qid) else { return Err(format!("queue {qid:?} is gone")) };
        persist.next_key = persist.next_key.max(m.key + 1);
        let scan = PropertiesScan::scan(&m.properties).map_err(|e| format!("message {}: bad properties: {e}", m.key))?;
        let expiration_ms = PropertiesScan::text(&m.properties, scan.expiration).and_then(|t| t.parse().ok());
        let message = match m.body {
            // Left on disk: the entry is all the memory it takes.
            None => MessageRef::in_store(m.key),
            Some(body) => match persist.restored.get(&m.key) {
                Some(&id) if topology.messages.get(id).is_some() => {
                    topology.messages.retain(id);
                    MessageRef::resident(id)
                }
                _ => {
                    let message = Message {
                        exchange: m.exchange,
                        routing_key: m.routing_key,
                        properties: m.properties,
                        scan,
                        body,
                        expiration_ms,
                        trace: 0,
                    };
                    let id = topology.messages.insert(message, 1);
                    topology.messages.set_persist_key(id, m.key);
                    if persist.budget.is_some() {
                        persist.resident.push(id);
                    }
                    persist.restored.insert(m.key, id);
                    MessageRef::resident(id)
                }
            },
        };
        let mut entry = q.new_entry(message, m.body_len, scan.priority, expiration_ms, now);
        entry.redelivered = m.redelivered;
        q.ready.push(entry);
        Ok(())
    }

    /// Recovery is over: arm the queues' timers and start delivering.
    pub fn finish_restore(&mut self) {
        self.state.persist.restored = Default::default();
        for id in self.state.topology.queues.ids() {
            super::queues::arm_ttl_timer(&mut self.state, id);
            self.state.mark_dirty(id);
        }
        self.state.relieve_memory();
        self.flush();
    }
}
