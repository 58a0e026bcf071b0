//! The core explains itself: with tracing on, each step of a message's life
//! — published, routed by which binding, sent to an alternate exchange,
//! returned, enqueued, dropped by overflow, expired, dead-lettered,
//! delivered, acked, rejected, requeued — becomes a [`TraceEvent`] the
//! driver polls. Off (the default), each site costs one branch. A filter
//! limits tracing to one queue, so a live broker can be debugged cheaply.

use std::collections::VecDeque;

use super::{Broker, State, Topology};
use crate::amqp::FieldTable;
use crate::exchange::{Destination, ExchangeKind};
use crate::ids::{ExchangeId, QueueId};
use crate::message::Message;

/// Events kept before the oldest are dropped (bounded memory when the
/// driver polls slowly).
const MAX_EVENTS: usize = 100_000;

/// One step in a message's life. `message` identifies a message for its
/// whole stay in the broker (a dead-lettered copy gets a new one; the
/// `DeadLettered` event links the two). Times are the broker's clock (ms).
#[derive(Debug, Clone, PartialEq)]
pub enum TraceEvent {
    Published {
        at: u64,
        message: u64,
        vhost: String,
        exchange: String,
        routing_key: String,
        connection: u64,
        channel: u16,
    },
    /// A binding matched: `key` is the binding key, `arguments` its
    /// arguments (a headers exchange matches on them).
    Routed {
        at: u64,
        message: u64,
        exchange: String,
        destination: String,
        to_exchange: bool,
        key: String,
        arguments: FieldTable,
    },
    AlternateExchange {
        at: u64,
        message: u64,
        from: String,
        to: String,
    },
    /// Reached no queue; `returned` if sent back to a mandatory publisher.
    Unroutable {
        at: u64,
        message: u64,
        exchange: String,
        returned: bool,
    },
    Enqueued {
        at: u64,
        message: u64,
        queue: String,
        expires_at: Option<u64>,
    },
    /// Refused by a full queue (`reject-publish`) or pushed out of it
    /// (`drop-head`).
    Overflow {
        at: u64,
        message: u64,
        queue: String,
        mode: &'static str,
    },
    Expired {
        at: u64,
        message: u64,
        queue: String,
    },
    DeadLettered {
        at: u64,
        message: u64,
        queue: String,
        reason: &'static str,
        exchange: String,
        new_message: u64,
    },
    /// To a consumer, or to basic.get when `consumer` is empty.
    Delivered {
        at: u64,
        message: u64,
        queue: String,
        consumer: String,
        connection: u64,
        channel: u16,
        delivery_tag: u64,
        redelivered: bool,
    },
    Acked {
        at: u64,
        message: u64,
        queue: String,
    },
    Rejected {
        at: u64,
        message: u64,
        queue: String,
        requeue: bool,
    },
    Requeued {
        at: u64,
        message: u64,
        queue: String,
    },
    /// The publisher's confirm: ack, or nack when a queue refused it.
    Confirmed {
        at: u64,
        message: u64,
        acked: bool,
    },
}

impl TraceEvent {
    pub fn message(&self) -> u64 {
        match self {
            TraceEvent::Published { message, .. }
            | TraceEvent::Routed { message, .. }
            | TraceEvent::AlternateExchange { message, .. }
            | TraceEvent::Unroutable { message, .. }
            | TraceEvent::Enqueued { message, .. }
            | TraceEvent::Overflow { message, .. }
            | TraceEvent::Expired { message, .. }
            | TraceEvent::DeadLettered { message, .. }
            | TraceEvent::Delivered { message, .. }
            | TraceEvent::Acked { message, .. }
            | TraceEvent::Rejected { message, .. }
            | TraceEvent::Requeued { message, .. }
            | TraceEvent::Confirmed { message, .. } => *message,
        }
    }
}

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceFilter {
    All,
    /// Only what concerns one queue: messages routed to it and their fate there.
    Queue {
        vhost: String,
        queue: String,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Tracer {
    pub filter: Option<TraceFilter>,
    pub events: VecDeque<TraceEvent>,
    pub dropped: u64,
    /// The last trace id given to a message.
    last_id: u64,
}

impl Tracer {
    pub fn on(&self) -> bool {
        self.filter.is_some()
    }

    /// A new message trace id.
    pub fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    fn wants_queue(&self, vhost: &str, queue: &str) -> bool {
        match &self.filter {
            Some(TraceFilter::All) => true,
            Some(TraceFilter::Queue { vhost: v, queue: q }) => v == vhost && q == queue,
            None => false,
        }
    }

    /// Records an event if tracing is on.
    pub fn record(&mut self, e: TraceEvent) {
        if self.on() {
            self.push(e);
        }
    }

    fn push(&mut self, e: TraceEvent) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(e);
    }
}

impl State {
    /// Records an event about a message in a queue, if the filter wants it.
    pub(crate) fn trace_queue(&mut self, queue: QueueId, make: impl FnOnce(String, u64) -> TraceEvent) {
        if !self.tracer.on() {
            return;
        }
        let Some(q) = self.topology.queues.get(queue) else { return };
        if self.tracer.wants_queue(&q.vhost, &q.name) {
            let e = make(q.name.to_string(), self.clock.now);
            self.tracer.push(e);
        }
    }

    /// Records how a published message was routed: the publish, each
    /// binding that matched (replaying the route with explanations),
    /// alternate exchanges, and whether it was unroutable. Only called with
    /// tracing on; `targets` is what routing chose.
    #[allow(clippy::too_many_arguments)] // one call site; the fields of one publish
    pub(crate) fn trace_publish(
        &mut self,
        message: &Message,
        trace_id: u64,
        vhost: &str,
        start: Option<ExchangeId>,
        targets: &[QueueId],
        origin: (u64, u16),
        returned: bool,
    ) {
        let at = self.clock.now;
        let wanted = match &self.tracer.filter {
            Some(TraceFilter::All) => true,
            Some(TraceFilter::Queue { vhost: v, queue }) => {
                v == vhost && targets.iter().any(|t| self.topology.queues.get(*t).is_some_and(|q| &*q.name == queue))
            }
            None => false,
        };
        if !wanted {
            return;
        }
        let mut events = vec![TraceEvent::Published {
            at,
            message: trace_id,
            vhost: vhost.to_string(),
            exchange: message.exchange.to_string(),
            routing_key: message.routing_key.to_string(),
            connection: origin.0,
            channel: origin.1,
        }];
        match start {
            None => {
                for t in targets {
                    if let Some(q) = self.topology.queues.get(*t) {
                        events.push(TraceEvent::Routed {
                            at,
                            message: trace_id,
                            exchange: String::new(),
                            destination: q.name.to_string(),
                            to_exchange: false,
                            key: q.name.to_string(),
                            arguments: FieldTable::new(),
                        });
                    }
                }
            }
            Some(start) => explain_route(&self.topology, at, message, trace_id, vhost, start, &mut events),
        }
        if targets.is_empty() {
            events.push(TraceEvent::Unroutable { at, message: trace_id, exchange: message.exchange.to_string(), returned });
        }
        for e in events {
            self.tracer.push(e);
        }
    }
}

/// Replays the route of a message from `start`, explaining each binding
/// that matched and each alternate exchange taken.
fn explain_route(
    topology: &Topology,
    at: u64,
    message: &Message,
    trace_id: u64,
    vhost: &str,
    start: ExchangeId,
    events: &mut Vec<TraceEvent>,
) {
    let headers = if message.scan.has_headers { message.decode_properties().headers } else { None };
    let mut visited = vec![start];
    let mut pending = vec![start];
    while let Some(xid) = pending.pop() {
        let Some(x) = topology.exchanges.get(xid) else { continue };
        let mut matched = false;
        for (dest, key, args) in x.bindings() {
            if !x.binding_matches(key, args, &message.routing_key, headers.as_ref()) {
                continue;
            }
            matched = true;
            let (destination, to_exchange) = match dest {
                Destination::Queue(q) => (topology.queues.get(q).map(|q| q.name.to_string()), false),
                Destination::Exchange(e) => {
                    if !visited.contains(&e) {
                        visited.push(e);
                        pending.push(e);
                    }
                    (topology.exchanges.get(e).map(|e| e.name.to_string()), true)
                }
            };
            let Some(destination) = destination else { continue };
            let arguments = if x.kind == ExchangeKind::Headers { args.clone() } else { FieldTable::new() };
            events.push(TraceEvent::Routed {
                at,
                message: trace_id,
                exchange: x.name.to_string(),
                destination,
                to_exchange,
                key: key.to_string(),
                arguments,
            });
        }
        if !matched {
            let ae = x.alternate_exchange.as_ref().and_then(|n| topology.vhosts.get(vhost)?.exchanges.get(&**n).copied());
            if let Some(ae) = ae.filter(|ae| !visited.contains(ae)) {
                visited.push(ae);
                pending.push(ae);
                let to = topology.exchanges.get(ae).map(|e| e.name.to_string()).unwrap_or_default();
                events.push(TraceEvent::AlternateExchange { at, message: trace_id, from: x.name.to_string(), to });
            }
        }
    }
}

impl Broker {
    /// Turns tracing on (for everything or one queue) or off (`None`).
    pub fn set_tracing(&mut self, filter: Option<TraceFilter>) {
        self.state.tracer.filter = filter;
        if self.state.tracer.filter.is_none() {
            self.state.tracer.events.clear();
        }
    }

    pub fn poll_trace(&mut self) -> Option<TraceEvent> {
        self.state.tracer.events.pop_front()
    }

    /// Events dropped because nobody polled them in time.
    pub fn trace_dropped(&self) -> u64 {
        self.state.tracer.dropped
    }
}
