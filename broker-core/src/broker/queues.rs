//! What happens to messages inside queues over time and at the limits:
//! enqueueing with `x-max-length`/`x-overflow`, expiry at the head
//! (`x-message-ttl`, per-message `expiration`), unused-queue expiry
//! (`x-expires`), and returning messages with the quorum delivery limit.

use super::deadletter::Reason;
use super::trace::TraceEvent;
use super::{lifecycle, State, Timer};
use crate::ids::QueueId;
use crate::message::{Message, MessageRef};
use crate::queue::{Overflow, QueueEntry, QueueKind};

/// What became of a message offered to its queues.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Enqueued {
    /// Queues that took it.
    pub accepted: usize,
    /// A queue refused it (`reject-publish`): the publisher gets a nack.
    pub rejected: bool,
    /// The store ticket its confirm must wait for, if it was persisted.
    pub ticket: Option<u64>,
    /// The message's trace id (0 when untraced).
    pub trace: u64,
}

/// Stores `message` once and appends it to each queue that accepts it.
pub(crate) fn enqueue(state: &mut State, queues: &[QueueId], message: Message, now: u64) -> Enqueued {
    let size = message.body.len();
    let mut out = Enqueued { trace: message.trace, ..Enqueued::default() };
    let trace = message.trace;
    let mut taking = core::mem::take(&mut state.scratch.taking);
    taking.clear();
    let mut reject_dlx: Vec<QueueId> = Vec::new();
    for &q in queues {
        let Some(queue) = state.topology.queues.get(q) else { continue };
        if queue.config.overflow != Overflow::DropHead && queue.would_overflow(size) {
            out.rejected = true;
            if queue.config.overflow == Overflow::RejectPublishDlx {
                reject_dlx.push(q);
            }
            state.trace_queue(q, |queue, at| TraceEvent::Overflow { at, message: trace, queue, mode: "reject-publish" });
            continue;
        }
        taking.push(q);
    }
    let references = (taking.len() + reject_dlx.len()) as u32;
    if references == 0 {
        state.scratch.taking = taking;
        return out;
    }
    let priority = message.scan.priority;
    let ttl = message.expiration_ms;
    let id = state.topology.messages.insert(message, references);
    let resident = MessageRef::resident(id);
    for &q in &reject_dlx {
        // Refused for length, then dead-lettered as `maxlen`, as RabbitMQ does.
        let Some(queue) = state.topology.queues.get_mut(q) else { continue };
        let entry = queue.new_entry(resident, size, priority, ttl, now);
        state.dead_letter(q, entry, Reason::MaxLen);
    }
    out.ticket = state.persist_message(id, &taking);
    if state.persist.budget.is_some() {
        state.persist.resident.push(id);
    }
    for &q in &taking {
        let Some(queue) = state.topology.queues.get_mut(q) else { continue };
        let entry = queue.new_entry(resident, size, priority, ttl, now);
        queue.ready.push(entry);
        queue.stats.publish += 1;
        out.accepted += 1;
        if let Some(ticket) = out.ticket {
            state.note_offloadable(ticket, q, &entry);
        }
        let expires_at = (entry.expires_at != 0).then_some(entry.expires_at);
        state.trace_queue(q, |queue, at| TraceEvent::Enqueued { at, message: trace, queue, expires_at });
        // drop-head: the oldest messages make room, dead-lettered as `maxlen`.
        while let Some(queue) = state.topology.queues.get_mut(q) {
            if !queue.over_limit() {
                break;
            }
            let Some(head) = queue.ready.pop() else { break };
            let dropped = state.topology.messages.trace_of(head.message);
            state.trace_queue(q, |queue, at| TraceEvent::Overflow { at, message: dropped, queue, mode: "drop-head" });
            state.dead_letter(q, head, Reason::MaxLen);
        }
        if entry.expires_at != 0 {
            if entry.expires_at <= now {
                // TTL 0: gone unless a consumer takes it in this flush.
                state.pending.expire_soon.push(q);
            }
            arm_ttl_timer(state, q);
        }
        state.mark_dirty(q);
    }
    state.scratch.taking = taking;
    out
}

/// Makes sure a timer will expire the message at the head of `q`.
pub(crate) fn arm_ttl_timer(state: &mut State, q: QueueId) {
    let Some(queue) = state.topology.queues.get_mut(q) else { return };
    let Some(deadline) = queue.ready.front().map(|e| e.expires_at).filter(|d| *d != 0) else { return };
    let at = deadline;
    if queue.ttl_timer_at.is_none_or(|t| t > at) {
        queue.ttl_timer_at = Some(at);
        state.clock.schedule(at, Timer::QueueTtl(q));
    }
}

/// Removes expired messages from the head of `q` (dead-lettering them).
pub(crate) fn expire_head(state: &mut State, q: QueueId, now: u64) {
    loop {
        let Some(queue) = state.topology.queues.get_mut(q) else { return };
        if !queue.ready.front().is_some_and(|e: &QueueEntry| e.expired(now)) {
            break;
        }
        let Some(entry) = queue.ready.pop() else { break };
        let trace = state.topology.messages.trace_of(entry.message);
        state.trace_queue(q, |queue, at| TraceEvent::Expired { at, message: trace, queue });
        state.dead_letter(q, entry, Reason::Expired);
    }
    arm_ttl_timer(state, q);
}

/// The head-TTL timer of `q` fired.
pub(crate) fn ttl_timer(state: &mut State, q: QueueId, at: u64, now: u64) {
    let Some(queue) = state.topology.queues.get_mut(q) else { return };
    if queue.ttl_timer_at != Some(at) {
        return; // superseded by an earlier timer
    }
    queue.ttl_timer_at = None;
    expire_head(state, q, now);
}

/// Schedules the `x-expires` check for `q`, if it has one.
pub(crate) fn arm_expires_timer(state: &mut State, q: QueueId) {
    let Some(queue) = state.topology.queues.get(q) else { return };
    if let Some(expires) = queue.config.expires {
        let at = queue.last_used + expires;
        state.clock.schedule(at, Timer::QueueExpires(q));
    }
}

/// The `x-expires` timer of `q` fired: delete it if unused for the period.
pub(crate) fn expires_timer(state: &mut State, q: QueueId, now: u64) {
    let Some(queue) = state.topology.queues.get_mut(q) else { return };
    let Some(expires) = queue.config.expires else { return };
    if !queue.consumers.is_empty() {
        queue.last_used = now;
    } else if now >= queue.last_used + expires {
        lifecycle::delete_queue(state, q);
        return;
    }
    let at = queue.last_used + expires;
    state.clock.schedule(at.max(now + 1), Timer::QueueExpires(q));
}

/// Returns an unacknowledged message to its queue, marked redelivered. A
/// quorum queue counts the return and dead-letters past `x-delivery-limit`.
/// If the queue is gone, the reference is dropped.
pub(crate) fn requeue(state: &mut State, q: QueueId, mut entry: QueueEntry) {
    let Some(queue) = state.topology.queues.get_mut(q) else {
        state.topology.messages.release(entry.message);
        return;
    };
    queue.unacked = queue.unacked.saturating_sub(1);
    entry.redelivered = true;
    if queue.config.kind == QueueKind::Quorum {
        entry.delivery_count = entry.delivery_count.saturating_add(1);
        if queue.config.delivery_limit.is_some_and(|l| entry.delivery_count as u64 > l) {
            state.dead_letter(q, entry, Reason::DeliveryLimit);
            return;
        }
    }
    queue.ready.requeue(entry);
    if state.tracer.on() {
        let trace = state.topology.messages.trace_of(entry.message);
        state.trace_queue(q, |queue, at| TraceEvent::Requeued { at, message: trace, queue });
    }
    arm_ttl_timer(state, q);
    state.mark_dirty(q);
}
