//! Delivery: moves ready messages from queues to consumers, round-robin,
//! as far as each consumer's prefetch, its channel's prefetch and flow, and
//! its connection's output buffer allow. Deliveries are encoded straight
//! into the consumer connection's output buffer.

use super::{queue_transmit, Config, State};
use crate::connection::channel::Unacked;
use crate::connection::Connection;
use crate::ids::{ConnectionId, QueueId, Slab};

/// Delivers from every queue marked dirty until none can make progress.
pub(super) fn run(state: &mut State, conns: &mut Slab<ConnectionId, Connection>, config: &Config) {
    while let Some(qid) = state.dirty_queues.pop() {
        deliver_from(state, conns, config, qid);
    }
}

fn deliver_from(state: &mut State, conns: &mut Slab<ConnectionId, Connection>, config: &Config, qid: QueueId) {
    let State { queues, consumers, messages, transmit, .. } = state;
    let Some(q) = queues.get_mut(qid) else { return };
    q.dispatch_queued = false;
    // Consumers passed over in a row for lack of credit; all of them = stop.
    let mut skipped = 0;
    while q.ready_count() > 0 && !q.consumers.is_empty() && skipped < q.consumers.len() {
        if q.next_consumer >= q.consumers.len() {
            q.next_consumer = 0;
        }
        let cid = q.consumers[q.next_consumer];
        q.next_consumer += 1;
        let Some(consumer) = consumers.get_mut(cid) else {
            skipped += 1;
            continue;
        };
        let Some(conn) = conns.get_mut(consumer.connection) else {
            skipped += 1;
            continue;
        };
        if conn.pending_output() >= config.output_high_watermark {
            conn.output_blocked = true;
            skipped += 1;
            continue;
        }
        let Some(ch) = conn.channel_mut(consumer.channel) else {
            skipped += 1;
            continue;
        };
        if !consumer.has_credit() || (!consumer.no_ack && !ch.has_credit()) || !ch.flow_active {
            skipped += 1;
            continue;
        }
        skipped = 0;
        let Some(entry) = q.pop(|m| messages.get(m).map_or(0, |m| m.size())) else { break };
        let tag = ch.next_tag();
        if !consumer.no_ack {
            ch.unacked.push_back(Unacked { tag, queue: qid, entry, consumer: Some(cid) });
            ch.prefetched += 1;
            consumer.unacked += 1;
            q.unacked += 1;
        }
        let channel = ch.id;
        if let Some(message) = messages.get(entry.message) {
            conn.send_delivery(channel, &consumer.tag, tag, entry.redelivered, message);
        }
        if consumer.no_ack {
            messages.release(entry.message);
        }
        if !conn.transmit_queued {
            conn.transmit_queued = true;
            transmit.push_back(conn.id);
        }
    }
}

/// Output drained below the low watermark: every queue this connection
/// consumes from may deliver again.
pub(super) fn wake_consumers_of(state: &mut State, conn: &mut Connection) {
    let queues: Vec<QueueId> = conn
        .channels()
        .flat_map(|ch| ch.consumers.iter().map(|(_, c)| *c))
        .filter_map(|c| state.consumers.get(c).map(|c| c.queue))
        .collect();
    for q in queues {
        state.mark_dirty(q);
    }
    queue_transmit(state, conn);
}
