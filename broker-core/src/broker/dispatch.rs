//! Delivery: moves ready messages from queues to consumers — highest
//! consumer priority first, round robin among equals, only the active one
//! with single-active-consumer — as far as each consumer's prefetch, its
//! channel's prefetch and its connection's output buffer allow. Expired
//! messages met at the head are dead-lettered instead. Deliveries are
//! encoded straight into the consumer connection's output buffer.

use super::deadletter::Reason;
use super::trace::TraceEvent;
use super::{flow, queues, Config, State, Timer};
use crate::amqp::FieldValue;
use crate::connection::channel::Unacked;
use crate::connection::Connection;
use crate::ids::{ConnectionId, QueueId, Slab};
use crate::message::Message;
use crate::queue::{QueueEntry, QueueKind};

/// Delivers from every queue marked dirty.
pub(super) fn run(state: &mut State, conns: &mut Slab<ConnectionId, Connection>, config: &Config, now: u64) {
    while let Some(qid) = state.pending.dirty_queues.pop() {
        let taken = |s: &State| s.topology.queues.get(qid).map_or(0, |q| q.stats.deliver + q.stats.deliver_no_ack);
        let before = taken(state);
        deliver_from(state, conns, config, qid, now);
        let n = taken(state) - before;
        if let Some(q) = state.topology.queues.get_mut(qid) {
            q.drain.taken(now, n);
        }
        flow::drained(state, qid, config.flow_backlog);
        queues::arm_ttl_timer(state, qid);
    }
}

fn deliver_from(state: &mut State, conns: &mut Slab<ConnectionId, Connection>, config: &Config, qid: QueueId, now: u64) {
    loop {
        let topology = &mut state.topology;
        let Some(q) = topology.queues.get_mut(qid) else { return };
        q.dispatch_queued = false;
        let Some(head) = q.ready.front() else { return };
        if head.undeliverable(now) {
            if let Some(entry) = q.ready.pop() {
                state.dead_letter(qid, entry, Reason::Expired);
            }
            continue;
        }
        let chosen = q.pick_consumer(|cid| {
            let Some(c) = topology.consumers.get(cid) else { return false };
            let Some(conn) = conns.get_mut(c.connection) else { return false };
            if conn.pending_output() >= config.output_high_watermark {
                conn.backpressure.deliveries_held = true;
                return false;
            }
            conn.channel(c.channel).is_some_and(|ch| ch.flow_active && !ch.closing && (c.no_ack || ch.has_credit())) && c.has_credit()
        });
        let Some(cid) = chosen else { return };
        q.next_consumer = q.next_consumer.wrapping_add(1);
        let quorum = q.config.kind == QueueKind::Quorum;
        let Some(entry) = q.ready.pop() else { return };
        let (Some(consumer), Some(message)) = (topology.consumers.get_mut(cid), topology.messages.get_loaded(entry.message)) else {
            return;
        };
        let Some(conn) = conns.get_mut(consumer.connection) else { return };
        let Some(ch) = conn.channel_mut(consumer.channel) else { return };
        let tag = ch.next_tag();
        let channel = ch.id;
        let totals = &mut state.stats.totals;
        let counted = if consumer.no_ack { &mut totals.deliver_no_ack } else { &mut totals.deliver };
        *counted += 1;
        let counted = if consumer.no_ack { &mut q.stats.deliver_no_ack } else { &mut q.stats.deliver };
        *counted += 1;
        let counted = if consumer.no_ack { &mut ch.stats.deliver_no_ack } else { &mut ch.stats.deliver };
        *counted += 1;
        if entry.redelivered {
            totals.redeliver += 1;
            q.stats.redeliver += 1;
            ch.stats.redeliver += 1;
        }
        if !consumer.no_ack {
            ch.unacked.push_back(Unacked { tag, queue: qid, entry, consumer: Some(cid), delivered_at: now });
            ch.prefetched += 1;
            consumer.unacked += 1;
            q.unacked += 1;
            if let (false, Some(timeout)) = (ch.timeout_armed, config.consumer_timeout_ms) {
                ch.timeout_armed = true;
                state.clock.schedule(now + timeout, Timer::ConsumerTimeout(conn.id, channel));
            }
        }
        // RabbitMQ 3.10 adds x-delivery-count to consumer deliveries only
        // once the message has been returned (basic.get always has it).
        if quorum && entry.delivery_count > 0 {
            let with_count = delivery_count_header(&message, &entry);
            conn.send_delivery(channel, &consumer.tag, tag, entry.redelivered, &with_count);
        } else {
            conn.send_delivery(channel, &consumer.tag, tag, entry.redelivered, &message);
        }
        state.pending.queue_transmit(conn);
        let no_ack = consumer.no_ack;
        if state.tracer.on() {
            let (trace, consumer, connection) = (message.trace, consumer.tag.to_string(), conn.id.as_u64());
            state.trace_queue(qid, |queue, at| TraceEvent::Delivered {
                at,
                message: trace,
                queue,
                consumer,
                connection,
                channel,
                delivery_tag: tag,
                redelivered: entry.redelivered,
            });
        }
        if no_ack {
            state.forget(qid, entry);
        } else {
            state.note_delivered(qid, &entry);
        }
    }
}

/// A quorum queue's delivery carries `x-delivery-count`: how many times the
/// message was returned before (RabbitMQ 3.10 includes it from the first
/// delivery, as 0).
pub(crate) fn delivery_count_header(message: &Message, entry: &QueueEntry) -> Message {
    let mut props = message.decode_properties();
    props.headers.get_or_insert_with(Default::default).insert("x-delivery-count", FieldValue::I64(entry.delivery_count as i64));
    Message { properties: props.to_bytes(), ..message.clone() }
}

/// Output drained below the low watermark: every queue this connection
/// consumes from may deliver again.
pub(super) fn wake_consumers_of(state: &mut State, conn: &mut Connection) {
    let queues: Vec<QueueId> = conn
        .channels()
        .flat_map(|ch| ch.consumers.iter().map(|(_, c)| *c))
        .filter_map(|c| state.topology.consumers.get(c).map(|c| c.queue))
        .collect();
    for q in queues {
        state.mark_dirty(q);
    }
    state.pending.queue_transmit(conn);
}
