//! Dead-lettering: a message rejected, expired, dropped for length or over
//! its delivery limit is republished to the queue's `x-dead-letter-exchange`
//! with an `x-death` header exactly as RabbitMQ writes it, and cycles are
//! broken the way RabbitMQ breaks them.

use super::trace::TraceEvent;
use super::{queues, routing, State};
use crate::amqp::{FieldTable, FieldValue, PropertiesScan, ShortStr};
use crate::ids::QueueId;
use crate::message::{Message, MessageRef};
use crate::queue::QueueEntry;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    Rejected,
    Expired,
    MaxLen,
    DeliveryLimit,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Rejected => "rejected",
            Reason::Expired => "expired",
            Reason::MaxLen => "maxlen",
            Reason::DeliveryLimit => "delivery_limit",
        }
    }
}

/// A message on its way to a dead-letter exchange. It keeps its store
/// reference until it has been republished.
pub(crate) struct DeadLetter {
    message: MessageRef,
    vhost: String,
    queue: ShortStr,
    exchange: ShortStr,
    routing_key: Option<ShortStr>,
    reason: Reason,
    /// The message's trace id, when traced.
    trace: u64,
}

impl State {
    /// Takes `entry` out of `queue` for good: dead-letters it if the queue
    /// has a dead-letter exchange, else drops it.
    pub(crate) fn dead_letter(&mut self, queue: QueueId, entry: QueueEntry, reason: Reason) {
        self.note_removed(queue, &entry);
        let Some(q) = self.topology.queues.get(queue) else {
            self.topology.messages.release(entry.message);
            return;
        };
        match &q.config.dead_letter_exchange {
            Some(dlx) => self.pending.dead_letters.push(DeadLetter {
                message: entry.message,
                vhost: q.vhost.clone(),
                queue: q.name.clone(),
                exchange: dlx.clone(),
                routing_key: q.config.dead_letter_routing_key.clone(),
                reason,
                trace: self.topology.messages.trace_of(entry.message),
            }),
            None => self.topology.messages.release(entry.message),
        }
    }
}

/// Republishes every pending dead letter (which may produce more).
pub(crate) fn process(state: &mut State, now: u64) {
    // Bounded: each round moves messages forward and cycles are dropped.
    while !state.pending.dead_letters.is_empty() {
        for dl in core::mem::take(&mut state.pending.dead_letters) {
            republish(state, dl, now);
        }
    }
}

fn republish(state: &mut State, dl: DeadLetter, now: u64) {
    let Some(original) = state.topology.messages.get_loaded(dl.message).map(|m| m.into_owned()) else {
        state.topology.messages.release(dl.message);
        return;
    };
    state.topology.messages.release(dl.message);
    let exchange = if routing::is_default_exchange(&dl.exchange) {
        None
    } else {
        match state.topology.vhosts.get(&dl.vhost).and_then(|v| v.exchanges.get(&*dl.exchange)) {
            Some(x) => Some(*x),
            // A missing dead-letter exchange drops the message, as in RabbitMQ.
            None => return,
        }
    };
    let mut props = original.decode_properties();
    let mut headers = props.headers.take().unwrap_or_default();
    // Whatever the reason, the copy must not expire again on its own clock
    // in the next queue: RabbitMQ moves `expiration` into x-death.
    let original_expiration = props.expiration.take();
    // The CC keys count as routing keys in x-death; the header itself goes.
    let cc = match headers.remove("CC") {
        Some(FieldValue::Array(keys)) => keys,
        _ => Vec::new(),
    };
    record_death(&mut headers, &dl, &original, original_expiration, cc, now);
    props.headers = Some(headers);
    let properties = props.to_bytes();
    let Ok(scan) = PropertiesScan::scan(&properties) else { return };
    let message = Message {
        exchange: dl.exchange.clone(),
        routing_key: dl.routing_key.clone().unwrap_or_else(|| original.routing_key.clone()),
        properties,
        scan,
        body: original.body.clone(),
        expiration_ms: None,
        trace: if state.tracer.on() { state.tracer.next_id() } else { 0 },
    };
    let mut targets = Vec::new();
    routing::route(&mut state.topology, &mut state.scratch.route, &dl.vhost, exchange, &message, &mut targets);
    if dl.reason != Reason::Rejected {
        let deaths = props.headers.as_ref().and_then(|h| h.get("x-death"));
        targets.retain(|q| state.topology.queues.get(*q).is_none_or(|q| !is_cycle(&q.name, deaths)));
    }
    if state.tracer.on() {
        state.tracer.record(TraceEvent::DeadLettered {
            at: now,
            message: dl.trace,
            queue: dl.queue.to_string(),
            reason: dl.reason.as_str(),
            exchange: dl.exchange.to_string(),
            new_message: message.trace,
        });
        state.trace_publish(&message, message.trace, &dl.vhost, exchange, &targets, (0, 0), false);
    }
    queues::enqueue(state, &targets, message, now);
}

/// Adds this death to `x-death` as RabbitMQ 3.10 does, field order
/// included: the first death gets an entry in publish order (`count`,
/// `reason`, `queue`, `time`, `exchange`, `routing-keys`, then
/// `original-expiration`) and sets the `x-first-death-*` headers; a later
/// one counts up the entry for the same queue and reason, or adds a new
/// entry, either way sorted by key and moved first. An `x-death` that is
/// not an array is replaced. The headers end up sorted by key.
fn record_death(
    headers: &mut FieldTable,
    dl: &DeadLetter,
    msg: &Message,
    original_expiration: Option<ShortStr>,
    cc: Vec<FieldValue>,
    now: u64,
) {
    let mut death = FieldTable::from([
        ("count", FieldValue::I64(1)),
        ("reason", FieldValue::str(dl.reason.as_str())),
        ("queue", FieldValue::str(&dl.queue)),
        ("time", FieldValue::Timestamp(now / 1000)),
        ("exchange", FieldValue::str(&msg.exchange)),
        ("routing-keys", FieldValue::Array(core::iter::once(FieldValue::str(&msg.routing_key)).chain(cc).collect())),
    ]);
    if let Some(exp) = original_expiration {
        death.insert("original-expiration", FieldValue::str(&exp));
    }
    let deaths = match headers.remove("x-death") {
        None => {
            for (key, value) in [
                ("x-first-death-reason", dl.reason.as_str()),
                ("x-first-death-queue", &*dl.queue),
                ("x-first-death-exchange", &*msg.exchange),
            ] {
                headers.insert(key, FieldValue::str(value));
            }
            vec![FieldValue::Table(death)]
        }
        Some(FieldValue::Array(prior)) => {
            // Only tables count as entries; anything else in the array goes.
            let mut others: Vec<FieldTable> =
                prior.into_iter().filter_map(|d| if let FieldValue::Table(t) = d { Some(t) } else { None }).collect();
            let same = |t: &FieldTable| {
                t.get("queue").and_then(FieldValue::as_str) == Some(&*dl.queue)
                    && t.get("reason").and_then(FieldValue::as_str) == Some(dl.reason.as_str())
            };
            let mut entry = match others.iter().position(same) {
                Some(i) => {
                    let mut t = others.remove(i);
                    let count = t.get("count").and_then(FieldValue::as_i64).unwrap_or(0);
                    t.insert("count", FieldValue::I64(count + 1));
                    t
                }
                None => death,
            };
            sort_by_key(&mut entry);
            core::iter::once(entry).chain(others).map(FieldValue::Table).collect()
        }
        Some(_) => vec![FieldValue::Table(death)],
    };
    headers.insert("x-death", FieldValue::Array(deaths));
    sort_by_key(headers);
}

/// RabbitMQ keeps the tables it edits sorted by key (octet order).
fn sort_by_key(t: &mut FieldTable) {
    t.0.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
}

/// RabbitMQ's rule: dead-lettering to `queue` is a cycle if the message
/// already died in `queue` and none of the deaths since then (newest first,
/// up to and including that one) was a rejection.
fn is_cycle(queue: &str, deaths: Option<&FieldValue>) -> bool {
    let Some(FieldValue::Array(deaths)) = deaths else { return false };
    let field = |d: &FieldValue, k: &str| match d {
        FieldValue::Table(t) => t.get(k).and_then(FieldValue::as_str).map(str::to_string),
        _ => None,
    };
    for d in deaths {
        if field(d, "reason").as_deref() == Some("rejected") {
            return false;
        }
        if field(d, "queue").as_deref() == Some(queue) {
            return true;
        }
    }
    false
}
