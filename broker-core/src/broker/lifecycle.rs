//! Endings: closing channels and connections (on request or on error),
//! and deleting queues and exchanges with everything that hangs off them.

use super::{queues, Ctx, State, Timer};
use crate::amqp::method::{ChannelClose, ConnectionClose, ConnectionCloseOk};
use crate::connection::{Channel, ConnState, Connection};
use crate::error::AmqpError;
use crate::exchange::Destination;
use crate::ids::{ConsumerId, ExchangeId, QueueId};

/// How long we wait for connection.close-ok after sending connection.close.
const CLOSE_OK_TIMEOUT_MS: u64 = 3_000;

/// A hard error: send connection.close and wait for close-ok. Channels are
/// cleaned up at once.
pub(crate) fn connection_error(ctx: &mut Ctx, err: AmqpError) {
    let close = ConnectionClose {
        reply_code: err.code.into(),
        reply_text: err.text.as_str().into(),
        class_id: err.class_id,
        method_id: err.method_id,
    };
    ctx.conn.send_method(0, &close.into());
    cleanup_channels(ctx.state, ctx.conn);
    let deadline = ctx.now + CLOSE_OK_TIMEOUT_MS;
    ctx.conn.state = ConnState::Closing { deadline };
    ctx.state.clock.schedule(deadline, Timer::CloseWait(ctx.conn.id));
    ctx.state.pending.queue_transmit(ctx.conn);
}

/// A soft error: send channel.close; the channel's consumers and
/// deliveries are released now, and it waits for close-ok.
pub(crate) fn channel_error(ctx: &mut Ctx, channel: u16, err: AmqpError) {
    let Some(ch) = ctx.conn.channel_mut(channel) else { return };
    let mut old = core::mem::replace(ch, Channel::new(channel));
    ch.closing = true;
    let close = ChannelClose {
        reply_code: err.code.into(),
        reply_text: err.text.as_str().into(),
        class_id: err.class_id,
        method_id: err.method_id,
    };
    ctx.conn.send_method(channel, &close.into());
    cleanup_channel(ctx.state, &mut old);
}

/// The peer sent connection.close: answer close-ok and finish. As RabbitMQ
/// does, the socket stays open until the peer closes it, for at most the
/// heartbeat timeout or 30 s, with whatever it still sends discarded.
pub(crate) fn close_ok(state: &mut State, conn: &mut Connection, reason: &str) {
    conn.send_method(0, &ConnectionCloseOk {}.into());
    conn.linger_ms = match conn.heartbeat {
        1..30 => u64::from(conn.heartbeat) * 1000,
        _ => MAX_LINGER_MS,
    };
    finish(state, conn, reason.into());
}

/// The longest a finished connection waits for its peer to close.
const MAX_LINGER_MS: u64 = 30_000;

/// The connection is over: clean up and have the driver close the socket
/// once the output is written.
pub(crate) fn finish(state: &mut State, conn: &mut Connection, reason: String) {
    if conn.state == ConnState::Closed {
        return;
    }
    conn.close_reason = reason;
    cleanup_connection(state, conn);
    conn.state = ConnState::Closed;
    state.pending.queue_transmit(conn);
}

pub(crate) fn cleanup_connection(state: &mut State, conn: &mut Connection) {
    cleanup_channels(state, conn);
    if !conn.vhost.is_empty() {
        state.access.count_connection(&conn.user, &conn.vhost, false);
        conn.vhost.clear();
    }
    for q in core::mem::take(&mut conn.exclusive_queues) {
        delete_queue(state, q);
    }
}

fn cleanup_channels(state: &mut State, conn: &mut Connection) {
    for mut ch in conn.take_all_channels() {
        state.access.count_channel(&conn.user, false);
        cleanup_channel(state, &mut ch);
    }
}

/// Releases what a closing channel holds: its consumers are cancelled and
/// its unacknowledged deliveries go back to their queues, redelivered.
pub(crate) fn cleanup_channel(state: &mut State, ch: &mut Channel) {
    for (_, consumer) in core::mem::take(&mut ch.consumers) {
        remove_consumer(state, consumer, state.clock.now);
    }
    // Requeue newest first so each lands before the ones already back.
    while let Some(u) = ch.unacked.pop_back() {
        queues::requeue(state, u.queue, u.entry);
    }
    if let Some(ops) = ch.tx.take() {
        drop(ops);
    }
    ch.publish = None;
}

/// Removes a consumer from its queue; an auto-delete queue goes with its
/// last consumer.
pub(crate) fn remove_consumer(state: &mut State, id: ConsumerId, now: u64) {
    let Some(c) = state.topology.consumers.remove(id) else { return };
    let Some(q) = state.topology.queues.get_mut(c.queue) else { return };
    q.remove_consumer(id);
    q.last_used = now;
    // Without consumers there is nothing to wait for.
    let waiters = if q.consumers.is_empty() { core::mem::take(&mut q.flow_waiters) } else { Vec::new() };
    let auto_delete = q.consumers.is_empty() && q.auto_delete && q.had_consumer;
    state.pending.release_flow(waiters);
    if auto_delete {
        delete_queue(state, c.queue);
    } else {
        state.mark_dirty(c.queue);
    }
}

/// Deletes a queue: unbinds it, cancels its consumers (telling clients that
/// asked for consumer_cancel_notify), and drops its ready messages.
/// Returns how many ready messages it held.
pub(crate) fn delete_queue(state: &mut State, id: QueueId) -> usize {
    let Some(mut q) = state.topology.queues.remove(id) else { return 0 };
    if q.durable {
        state.definitions_changed();
    }
    if let Some(vh) = state.topology.vhosts.get_mut(&q.vhost) {
        vh.queues.remove(&q.name);
    }
    for b in core::mem::take(&mut q.bindings) {
        if let Some(x) = state.topology.exchanges.get_mut(b.exchange) {
            x.unbind(Destination::Queue(id), &b.key, &b.args);
        }
        maybe_auto_delete_exchange(state, b.exchange, &q.vhost);
    }
    for (_, cid) in core::mem::take(&mut q.consumers) {
        if let Some(c) = state.topology.consumers.remove(cid) {
            state.pending.consumer_cancelled(c.connection, c.channel, c.tag);
        }
    }
    state.persist.note_queue_deleted(&q);
    state.pending.release_flow(core::mem::take(&mut q.flow_waiters));
    let ready = q.ready.drain();
    let n = ready.len();
    for e in ready {
        state.topology.messages.release(e.message);
    }
    n
}

/// Deletes an auto-delete exchange once it is no longer the source of any binding.
pub(crate) fn maybe_auto_delete_exchange(state: &mut State, id: ExchangeId, vhost: &str) {
    let Some(x) = state.topology.exchanges.get(id) else { return };
    if x.auto_delete && !x.has_bindings() {
        delete_exchange(state, id, vhost);
    }
}

/// Deletes an exchange and every binding from or to it.
pub(crate) fn delete_exchange(state: &mut State, id: ExchangeId, vhost: &str) {
    let Some(x) = state.topology.exchanges.remove(id) else { return };
    if x.durable {
        state.definitions_changed();
    }
    if let Some(vh) = state.topology.vhosts.get_mut(vhost) {
        vh.exchanges.remove(&x.name);
    }
    for (dest, key, args) in x.bindings() {
        if let Destination::Queue(q) = dest {
            if let Some(q) = state.topology.queues.get_mut(q) {
                if let Some(i) = q.bindings.iter().position(|b| b.exchange == id && b.key == *key && b.args == *args) {
                    q.bindings.remove(i);
                }
            }
        }
    }
    // Exchange-to-exchange bindings that end here.
    let sources: Vec<ExchangeId> = state.topology.vhosts.get(vhost).map(|vh| vh.exchanges.values().copied().collect()).unwrap_or_default();
    for src in sources {
        let removed = state.topology.exchanges.get_mut(src).map_or(0, |s| s.unbind_destination(Destination::Exchange(id)));
        if removed > 0 {
            maybe_auto_delete_exchange(state, src, vhost);
        }
    }
}
